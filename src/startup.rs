//! Building and running the service: open the stores, bind the listeners (port 0 works),
//! serve until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::Request;
use axum::Router;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretSlice};
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
use crate::data_dir::DataDirLock;
use crate::guest::{self, GoalStateNotifier};
use crate::origin::PublicUrl;
use crate::server::{self, Listener, Scheme};
use crate::store::Db;
use crate::telemetry::redacted_uri;
use crate::tls::{self, ServerTls};

pub struct Application {
    /// This process's hold on the data directory, for as long as the application lives.
    data_dir_lock: DataDirLock,
    blob_listener: TcpListener,
    blob_https_listener: Option<Listener>,
    blob_state: BlobState,
    http_listener: TcpListener,
    https_listener: Option<Listener>,
    /// The CA clients trust, when the service generated its chain.
    tls_ca_file: Option<PathBuf>,
    api_state: ApiState,
    guest_listener: TcpListener,
    guest_state: GuestState,
    engine: Engine,
}

impl Application {
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        // Before anything in the data directory is opened or written.
        let data_dir_lock = DataDirLock::acquire(&config.database.data_dir)?;
        let clock = Clock::default();
        let account = Account {
            name: config.account_name.clone(),
            keys: [Some(&config.account_key), config.account_key2.as_ref()]
                .into_iter()
                .flatten()
                .map(|k| {
                    base64::engine::general_purpose::STANDARD
                        .decode(k.expose_secret().trim())
                        .context("an account key is not valid base64")
                })
                .map(|key| key.map(SecretSlice::from))
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
        let tls = if config.https_addr.is_some() || config.blob_https_addr.is_some() {
            Some(tls::load_or_generate(data_dir, &config.tls_settings())?)
        } else {
            None
        };
        let https_listener = bind_https(config.https_addr, tls.as_ref(), "management API").await?;
        let blob_https_listener =
            bind_https(config.blob_https_addr, tls.as_ref(), "blob endpoint").await?;
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
                    None => match &blob_https_listener {
                        Some(https) => {
                            blob_endpoint_url(Scheme::Https, https.local_addr(), &account.name)
                        }
                        None => blob_endpoint_url(
                            Scheme::Http,
                            blob_listener.local_addr()?,
                            &account.name,
                        ),
                    },
                },
                account_name: account.name.clone(),
                account_key: account.keys[0].clone(),
                snapshot_timeout: DEFAULT_SNAPSHOT_TIMEOUT,
            },
        );
        Ok(Self {
            data_dir_lock,
            blob_listener,
            blob_https_listener,
            https_listener,
            tls_ca_file: tls.and_then(|tls| tls.ca_file),
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
                public_url: config
                    .public_url
                    .as_deref()
                    .map(PublicUrl::parse)
                    .transpose()?,
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

    /// The management API's HTTPS address, when it serves HTTPS.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_listener.as_ref().map(Listener::local_addr)
    }

    /// The blob endpoint's HTTPS address, when it serves HTTPS.
    pub fn blob_https_addr(&self) -> Option<SocketAddr> {
        self.blob_https_listener.as_ref().map(Listener::local_addr)
    }

    /// The CA certificate clients trust, when the service generated its chain.
    pub fn tls_ca_file(&self) -> Option<&Path> {
        self.tls_ca_file.as_deref()
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
        if let Some(addr) = self.blob_https_addr() {
            tracing::info!(%addr, "blob endpoint over HTTPS listening");
        }
        let addr = self.http_addr();
        tracing::info!(%addr, "management API listening");
        if let Some(addr) = self.https_addr() {
            tracing::info!(%addr, "management API over HTTPS listening");
        }
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
        let blob = blob_http::serve(
            Listener::plain(self.blob_listener),
            blob_app.clone(),
            stopped(),
        );
        let blob_https = async {
            match self.blob_https_listener {
                Some(listener) => blob_http::serve(listener, blob_app, stopped()).await,
                None => Ok(()),
            }
        };
        let management = server::serve_router(
            Listener::plain(self.http_listener),
            api_app.clone(),
            stopped(),
        );
        let management_https = async {
            match self.https_listener {
                Some(listener) => server::serve_router(listener, api_app, stopped()).await,
                None => Ok(()),
            }
        };
        let guest_app = with_request_logging(api::guest::router(self.guest_state));
        let guest = async {
            axum::serve(self.guest_listener, guest_app)
                .with_graceful_shutdown(stopped())
                .await
        };
        let (blob, blob_https, management, management_https, guest) =
            tokio::join!(blob, blob_https, management, management_https, guest);
        maintenance.abort();
        goal_state_watch.abort();
        engine.abort();
        // The directory is released once nothing of this process writes to it any more.
        let _ = tokio::join!(maintenance, goal_state_watch, engine);
        drop(self.data_dir_lock);
        blob.context("the blob endpoint failed")?;
        blob_https.context("the blob endpoint's HTTPS listener failed")?;
        management.context("the management API failed")?;
        management_https.context("the management API's HTTPS listener failed")?;
        guest.context("the guest API failed")
    }
}

/// The account's base URL as a VM reaches it: the bound address, with an unspecified IP
/// (listening on all interfaces) replaced by loopback.
fn blob_endpoint_url(scheme: Scheme, addr: SocketAddr, account: &str) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    let scheme = scheme.as_str();
    format!("{scheme}://{}/{account}", SocketAddr::new(ip, addr.port()))
}

/// Binds an HTTPS listener when an address is configured.
async fn bind_https(
    addr: Option<SocketAddr>,
    tls: Option<&ServerTls>,
    what: &str,
) -> anyhow::Result<Option<Listener>> {
    let (Some(addr), Some(tls)) = (addr, tls) else {
        return Ok(None);
    };
    let tcp = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what}'s HTTPS listener to {addr}"))?;
    Ok(Some(Listener {
        tcp,
        tls: Some(tls.acceptor.clone()),
    }))
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
