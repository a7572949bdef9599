//! Building and running the service: open the stores, bind the listeners (port 0 works),
//! serve until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::Request;
use axum::Router;
use base64::Engine as _;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::api::guest::GuestState;
use crate::api::{self, ApiState};
use crate::auth::Auth;
use crate::blob::engine::{BlobStore, StoreOptions};
use crate::blob::http::{self as blob_http, Account, BlobState};
use crate::clock::Clock;
use crate::config::ServeConfig;
use crate::control::engine::DEFAULT_SNAPSHOT_TIMEOUT;
use crate::control::{sim_clock, Engine, EngineConfig};
use crate::guest::{self, GoalStateNotifier};
use crate::store::Db;
use crate::telemetry::redacted_uri;

pub struct Application {
    blob_listener: TcpListener,
    blob_state: BlobState,
    http_listener: TcpListener,
    api_state: ApiState,
    guest_listener: TcpListener,
    guest_state: GuestState,
    engine: Engine,
}

impl Application {
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        let clock = Clock::default();
        let account = Account {
            name: config.account_name.clone(),
            keys: [Some(&config.account_key), config.account_key2.as_ref()]
                .into_iter()
                .flatten()
                .map(|k| {
                    base64::engine::general_purpose::STANDARD
                        .decode(k.trim())
                        .context("an account key is not valid base64")
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let data_dir = &config.database.data_dir;
        let blob_dir = data_dir.join("blob");
        let options = StoreOptions {
            checkpoint_after: config.blob_checkpoint_bytes,
        };
        let (store, report) = BlobStore::open(&blob_dir, clock.clone(), options)
            .with_context(|| format!("opening the blob store in {}", blob_dir.display()))?;
        tracing::info!(
            dir = %blob_dir.display(),
            checkpoint = ?report.checkpoint_generation,
            records = report.records,
            containers = report.containers,
            discarded_bytes = report.discarded_bytes,
            "blob store opened"
        );
        let db = Db::connect(config.database.database_url.as_deref(), data_dir).await?;
        db.migrate().await?;
        // Simulated time set before a restart (or by another replica) holds.
        clock.set(sim_clock::load(&db).await?);
        let auth = Auth::open(data_dir, &db, &clock, !config.no_auth).await?;
        let blob_listener = TcpListener::bind(config.blob_addr)
            .await
            .with_context(|| format!("binding the blob endpoint to {}", config.blob_addr))?;
        let http_listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding the management API to {}", config.http_addr))?;
        let guest_listener = TcpListener::bind(config.guest_addr)
            .await
            .with_context(|| format!("binding the guest API to {}", config.guest_addr))?;
        let store = Arc::new(store);
        let auth = Arc::new(auth);
        let notifier = GoalStateNotifier::default();
        let engine = Engine::new(
            db.clone(),
            store.clone(),
            clock.clone(),
            notifier.clone(),
            EngineConfig {
                blob_endpoint: match &config.blob_public_url {
                    Some(url) => url.trim_end_matches('/').to_owned(),
                    None => blob_endpoint_url(blob_listener.local_addr()?, &account.name),
                },
                account_name: account.name.clone(),
                account_key: account.keys[0].clone(),
                snapshot_timeout: DEFAULT_SNAPSHOT_TIMEOUT,
            },
        );
        Ok(Self {
            blob_listener,
            blob_state: BlobState {
                store: store.clone(),
                account: Arc::new(account),
                clock: clock.clone(),
            },
            http_listener,
            guest_listener,
            guest_state: GuestState {
                db: db.clone(),
                blobs: store.clone(),
                clock: clock.clone(),
                auth: auth.clone(),
                notifier,
            },
            api_state: ApiState {
                db,
                blobs: store,
                clock,
                auth,
                engine: engine.clone(),
                in_flight: Arc::new(tokio::sync::Semaphore::new(api::arm::MAX_IN_FLIGHT)),
            },
            engine,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn blob_addr(&self) -> SocketAddr {
        self.blob_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn guest_addr(&self) -> SocketAddr {
        self.guest_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The notifier goal-state polls wait on: whoever publishes goal states in this
    /// process (the backup engine) must notify through this one.
    pub fn goal_state_notifier(&self) -> &GoalStateNotifier {
        &self.guest_state.notifier
    }

    /// The backup engine (tests drive its ticks directly).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.blob_addr();
        tracing::info!(%addr, "blob endpoint listening");
        let addr = self.http_addr();
        tracing::info!(%addr, "management API listening");
        let addr = self.guest_addr();
        tracing::info!(%addr, "guest API listening");
        let store = self.blob_state.store.clone();
        let maintenance = tokio::spawn(store.run_maintenance());
        let goal_state_watch = tokio::spawn(guest::watch_database(
            self.guest_state.db.clone(),
            self.guest_state.notifier.clone(),
        ));
        // All servers drain when the one shutdown signal fires.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let engine = tokio::spawn(self.engine.clone().run(stop_rx.clone()));
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let notifier = self.guest_state.notifier.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            notifier.stop();
        });
        let blob_app = with_request_logging(blob_http::router(self.blob_state));
        let api_app = with_request_logging(api::router(self.api_state));
        let blob = blob_http::serve(self.blob_listener, blob_app, stopped());
        let management = async {
            axum::serve(self.http_listener, api_app)
                .with_graceful_shutdown(stopped())
                .await
        };
        let guest_app = with_request_logging(api::guest::router(self.guest_state));
        let guest = async {
            axum::serve(self.guest_listener, guest_app)
                .with_graceful_shutdown(stopped())
                .await
        };
        let (blob, management, guest) = tokio::join!(blob, management, guest);
        maintenance.abort();
        goal_state_watch.abort();
        engine.abort();
        blob.context("the blob endpoint failed")?;
        management.context("the management API failed")?;
        guest.context("the guest API failed")
    }
}

/// The account's base URL as a VM reaches it: the bound address, with an unspecified IP
/// (listening on all interfaces) replaced by loopback.
fn blob_endpoint_url(addr: SocketAddr, account: &str) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}/{account}", SocketAddr::new(ip, addr.port()))
}

fn with_request_logging(router: Router) -> Router {
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    uri = %redacted_uri(request.uri()),
                )
            })
            .on_response(
                |response: &axum::http::Response<_>, latency: Duration, _: &tracing::Span| {
                    tracing::debug!(status = response.status().as_u16(), ?latency, "response");
                },
            ),
    )
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining");
}
