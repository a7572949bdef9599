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
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::api::guest::GuestState;
use crate::api::request_ids::RequestIds;
use crate::api::{self, ApiState};
use crate::auth::Auth;
use crate::blob::engine::{BlobStore, StoreOptions};
use crate::blob::http::{self as blob_http, Account, BlobState};
use crate::clock::Clock;
use crate::config::{Component, ServeConfig};
use crate::control::engine::DEFAULT_SNAPSHOT_TIMEOUT;
use crate::control::{sim_clock, Engine, EngineConfig};
use crate::data_dir::DataDirLock;
use crate::faults::Faults;
use crate::guest::{self, GoalStateNotifier};
use crate::health::Health;
use crate::origin::PublicUrl;
use crate::prometheus::track_requests;
use crate::server::{self, Listener, Scheme};
use crate::storage::{
    AccountAccess, ConnectionString, EmbeddedStorage, RemoteStorage, Storage, StorageAccounts,
};
use crate::store::Db;
use crate::telemetry::redacted_uri;
use crate::tls::{self, ServerTls};

/// The blob endpoint of a process that runs the `blob` component.
struct BlobNode {
    listener: TcpListener,
    https_listener: Option<Listener>,
    state: BlobState,
}

/// The management API of a process that runs the `api` component.
struct Management {
    listener: TcpListener,
    https_listener: Option<Listener>,
    state: ApiState,
}

/// The guest API of a process that runs the `guest` component.
struct GuestNode {
    listener: TcpListener,
    state: GuestState,
}

/// One process of the service: every component by default, or the ones
/// `--components` names.
pub struct Application {
    /// This process's hold on the data directory, for as long as the application lives.
    data_dir_lock: DataDirLock,
    blob: Option<BlobNode>,
    management: Option<Management>,
    guest: Option<GuestNode>,
    /// The engine's handle, when any control component runs here.
    engine: Option<Engine>,
    /// Whether this process runs the engine's loop (the `engine` component).
    runs_engine: bool,
    /// A blob node given the database follows the simulated clock kept there.
    clock_source: Option<(Db, Clock)>,
    /// The CA clients trust, when the service generated its chain.
    tls_ca_file: Option<PathBuf>,
    /// What `/readyz` checks on every listener.
    health: Health,
}

impl Application {
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        let runs_control = [Component::Api, Component::Guest, Component::Engine]
            .into_iter()
            .any(|c| config.runs(c));
        if config.components.is_empty() {
            anyhow::bail!("--components names nothing to run");
        }
        if runs_control
            && !config.runs(Component::Blob)
            && config.storage_connection_string.is_empty()
        {
            anyhow::bail!(
                "the control components ({}) keep their blobs somewhere: run the blob component \
                 in this process too, or give --storage-connection-string",
                config
                    .components
                    .iter()
                    .map(Component::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        let account = Account {
            name: config.account_name.clone(),
            keys: [Some(&config.account_key), config.account_key2.as_ref()]
                .into_iter()
                .flatten()
                .map(|k| {
                    let key = base64::engine::general_purpose::STANDARD
                        .decode(k.expose_secret().trim())
                        .context(
                            "an account key (--account-key, --account-key2) is not valid base64",
                        )?;
                    // An empty key would sign nothing any client could match.
                    anyhow::ensure!(
                        !key.is_empty(),
                        "an account key (--account-key, --account-key2) is empty: give a base64 \
                         key, or leave --account-key unset for Azurite's well-known one"
                    );
                    Ok(key)
                })
                .map(|key| key.map(SecretSlice::from))
                .collect::<anyhow::Result<_>>()?,
        };
        // Installed before anything is counted: what is recorded without it is lost.
        crate::prometheus::handle();
        // A port in use stops the start before anything in the data directory is written.
        let mut ports = Ports::bind(config).await?;
        let data_dir_lock = DataDirLock::acquire(&config.database.data_dir)?;
        let clock = Clock::default();
        // Per process: with the components split, a fault applies where `/_sim` is served.
        let faults = Arc::new(Faults::default());
        let data_dir = &config.database.data_dir;
        let store = if config.runs(Component::Blob) {
            Some(Arc::new(open_blob_store(config, &clock)?))
        } else {
            None
        };
        // A blob node alone needs no database; given one, it follows the simulated clock.
        let db = if runs_control || config.database.database_url.is_some() {
            let db = Db::connect(config.database.database_url.as_deref(), data_dir).await?;
            db.migrate().await?;
            // Simulated time set before a restart (or by another replica) holds.
            clock.set(sim_clock::load(&db).await?);
            Some(db)
        } else {
            None
        };
        let tls = if config.https_addr.is_some() || config.blob_https_addr.is_some() {
            Some(tls::load_or_generate(data_dir, &config.tls_settings())?)
        } else {
            None
        };
        let blob = match &store {
            Some(store) => Some(BlobNode {
                listener: ports.blob.take().expect("bound: the blob component runs"),
                https_listener: with_tls(ports.blob_https.take(), tls.as_ref()),
                state: BlobState {
                    store: store.clone(),
                    account: Arc::new(account.clone()),
                    clock: clock.clone(),
                    faults: faults.clone(),
                },
            }),
            None => None,
        };
        let tls_ca_file = tls.as_ref().and_then(|tls| tls.ca_file.clone());
        let health = Health::new(db.clone(), store.clone(), None);
        let mut app = Self {
            data_dir_lock,
            blob,
            management: None,
            guest: None,
            engine: None,
            runs_engine: config.runs(Component::Engine),
            clock_source: None,
            tls_ca_file,
            health,
        };
        let Some(db) = db else {
            return Ok(app);
        };
        if !runs_control {
            app.clock_source = Some((db, clock));
            return Ok(app);
        }
        let accounts = match (config.storage_connection_string.as_slice(), &store) {
            ([], Some(store)) => {
                let endpoint = match &config.blob_public_url {
                    Some(url) => url.trim_end_matches('/').to_owned(),
                    None => app.embedded_blob_url(&account.name)?,
                };
                StorageAccounts::single(Arc::new(EmbeddedStorage::new(
                    store.clone(),
                    clock.clone(),
                    AccountAccess {
                        name: account.name.clone(),
                        endpoint,
                        key: account.keys[0].clone(),
                    },
                )))
            }
            ([], None) => unreachable!("checked above: control components have storage"),
            (connections, _) => StorageAccounts::new(
                connections
                    .iter()
                    .enumerate()
                    // `--blob-public-url` is how VMs reach the first (primary) account.
                    .map(|(i, connection)| {
                        let public = config.blob_public_url.as_deref().filter(|_| i == 0);
                        connect_remote_storage(connection, public)
                    })
                    .collect::<anyhow::Result<_>>()?,
                config.storage_placement,
            )?,
        };
        let accounts = Arc::new(accounts);
        let auth = Arc::new(Auth::open(data_dir, &db, &clock, !config.no_auth).await?);
        // The recipe names the port actually bound (port 0 picks one); a process without
        // the management API names the default.
        let issuer = ports
            .management
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
            .map_or_else(
                || "http://${VAULTSIM_HOST:-127.0.0.1:8080}".to_owned(),
                |addr| format!("http://{addr}"),
            );
        auth.log_token_recipe(data_dir, &issuer);
        let notifier = GoalStateNotifier::default();
        let engine = Engine::new(
            db.clone(),
            accounts.clone(),
            clock.clone(),
            notifier.clone(),
            EngineConfig {
                instance_id: engine_instance_id(data_dir)?,
                snapshot_timeout: DEFAULT_SNAPSHOT_TIMEOUT,
                snapshot_method: config.snapshot_method,
            },
        );
        if config.runs(Component::Guest) {
            app.guest = Some(GuestNode {
                listener: ports.guest.take().expect("bound: the guest component runs"),
                state: GuestState {
                    db: db.clone(),
                    accounts: accounts.clone(),
                    clock: clock.clone(),
                    auth: auth.clone(),
                    notifier: notifier.clone(),
                    faults: faults.clone(),
                    delivered: Default::default(),
                },
            });
        }
        if config.runs(Component::Api) {
            app.management = Some(Management {
                listener: ports
                    .management
                    .take()
                    .expect("bound: the api component runs"),
                https_listener: with_tls(ports.management_https.take(), tls.as_ref()),
                state: ApiState {
                    db,
                    accounts,
                    clock,
                    auth,
                    public_url: config
                        .public_url
                        .as_deref()
                        .map(PublicUrl::parse)
                        .transpose()?,
                    engine: engine.clone(),
                    in_flight: Arc::new(tokio::sync::Semaphore::new(api::arm::MAX_IN_FLIGHT)),
                    faults,
                    job_bodies: Arc::default(),
                },
            });
        }
        if app.runs_engine {
            app.health.watch_engine(engine.ticks().clone());
        }
        app.engine = Some(engine);
        Ok(app)
    }

    /// The embedded blob endpoint's account URL as VMs reach it: HTTPS when it serves it.
    fn embedded_blob_url(&self, account: &str) -> anyhow::Result<String> {
        let blob = self.blob.as_ref().expect("the blob component runs here");
        Ok(match &blob.https_listener {
            Some(https) => blob_endpoint_url(Scheme::Https, https.local_addr(), account),
            None => blob_endpoint_url(Scheme::Http, blob.listener.local_addr()?, account),
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.management
            .as_ref()
            .expect("the api component runs in this process")
            .listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The management API's HTTPS address, when it serves HTTPS.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.management
            .as_ref()?
            .https_listener
            .as_ref()
            .map(Listener::local_addr)
    }

    /// The blob endpoint's HTTPS address, when it serves HTTPS.
    pub fn blob_https_addr(&self) -> Option<SocketAddr> {
        self.blob
            .as_ref()?
            .https_listener
            .as_ref()
            .map(Listener::local_addr)
    }

    /// The CA certificate clients trust, when the service generated its chain.
    pub fn tls_ca_file(&self) -> Option<&Path> {
        self.tls_ca_file.as_deref()
    }

    pub fn blob_addr(&self) -> SocketAddr {
        self.blob
            .as_ref()
            .expect("the blob component runs in this process")
            .listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn guest_addr(&self) -> SocketAddr {
        self.guest
            .as_ref()
            .expect("the guest component runs in this process")
            .listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The notifier goal-state polls wait on: whoever publishes goal states in this
    /// process (the backup engine) must notify through this one.
    pub fn goal_state_notifier(&self) -> &GoalStateNotifier {
        self.engine().notifier()
    }

    /// The backup engine (tests drive its ticks directly).
    pub fn engine(&self) -> &Engine {
        self.engine
            .as_ref()
            .expect("a control component runs in this process")
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut background = Vec::new();
        // All servers drain when the one shutdown signal fires.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped_receiver = stop_rx.clone();
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let notifier = self.engine.as_ref().map(|e| e.notifier().clone());
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            if let Some(notifier) = notifier {
                notifier.stop();
            }
        });
        if let Some(engine) = &self.engine {
            background.push(tokio::spawn(guest::watch_database(
                engine.db().clone(),
                engine.notifier().clone(),
            )));
            if self.runs_engine {
                background.push(tokio::spawn(engine.clone().run(stopped_receiver.clone())));
            }
        }
        if let Some((db, clock)) = self.clock_source {
            background.push(tokio::spawn(sim_clock::follow(
                db,
                clock,
                stopped_receiver.clone(),
            )));
        }
        if let Some(node) = &self.blob {
            background.push(tokio::spawn(node.state.store.clone().run_maintenance()));
        }
        let blob = async {
            let Some(node) = self.blob else {
                return Ok(());
            };
            tracing::info!(addr = %node.listener.local_addr()?, "blob endpoint listening");
            let app = listener_app("blob", &self.health, blob_http::router(node.state));
            let https = async {
                match node.https_listener {
                    Some(listener) => {
                        tracing::info!(addr = %listener.local_addr(), "blob endpoint over HTTPS listening");
                        blob_http::serve(listener, app.clone(), stopped())
                            .await
                            .context("the blob endpoint's HTTPS listener failed")
                    }
                    None => Ok(()),
                }
            };
            let plain = async {
                blob_http::serve(Listener::plain(node.listener), app.clone(), stopped())
                    .await
                    .context("the blob endpoint failed")
            };
            let (plain, https) = tokio::join!(plain, https);
            plain.and(https)
        };
        let management = async {
            let Some(node) = self.management else {
                return Ok(());
            };
            tracing::info!(addr = %node.listener.local_addr()?, "management API listening");
            // ARM's request ids are given before the request is logged, which names them.
            let app = listener_app("management", &self.health, api::router(node.state))
                .layer(axum::middleware::from_fn(api::request_ids::stamp));
            let https = async {
                match node.https_listener {
                    Some(listener) => {
                        tracing::info!(addr = %listener.local_addr(), "management API over HTTPS listening");
                        server::serve_router(listener, app.clone(), stopped())
                            .await
                            .context("the management API's HTTPS listener failed")
                    }
                    None => Ok(()),
                }
            };
            let plain = async {
                server::serve_router(Listener::plain(node.listener), app.clone(), stopped())
                    .await
                    .context("the management API failed")
            };
            let (plain, https) = tokio::join!(plain, https);
            plain.and(https)
        };
        let guest = async {
            let Some(node) = self.guest else {
                return Ok(());
            };
            tracing::info!(addr = %node.listener.local_addr()?, "guest API listening");
            let app = listener_app("guest", &self.health, api::guest::router(node.state));
            axum::serve(node.listener, app)
                .with_graceful_shutdown(stopped())
                .await
                .context("the guest API failed")
        };
        let (blob, management, guest) = tokio::join!(blob, management, guest);
        for task in &background {
            task.abort();
        }
        // The directory is released once nothing of this process writes to it any more.
        for task in background {
            let _ = task.await;
        }
        drop(self.data_dir_lock);
        blob.and(management).and(guest)
    }
}

/// The engine's lease owner id, kept in `<data dir>/engine-id` so that a restarted
/// engine resumes its own transfers at once instead of waiting for their leases to lapse.
fn engine_instance_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("engine-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) => write_instance_id(&path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => write_instance_id(&path),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_instance_id(path: &Path) -> anyhow::Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// Opens the embedded blob store in `<data dir>/blob`.
fn open_blob_store(config: &ServeConfig, clock: &Clock) -> anyhow::Result<BlobStore> {
    let blob_dir = config.database.data_dir.join("blob");
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
    Ok(store)
}

/// An external account `--storage-connection-string` names, reached by VMs at
/// `vm_endpoint` when given, else at the connection string's endpoint. The account's
/// certificate is checked against the system store or `SSL_CERT_FILE`.
fn connect_remote_storage(
    connection: &SecretString,
    vm_endpoint: Option<&str>,
) -> anyhow::Result<Storage> {
    let parsed = ConnectionString::parse(connection.expose_secret())
        .context("--storage-connection-string is not a storage connection string")?;
    let vm_endpoint = vm_endpoint.map(|url| url.trim_end_matches('/').to_owned());
    let storage = RemoteStorage::connect(&parsed, vm_endpoint, None)
        .context("connecting to the storage account")?;
    Ok(Arc::new(storage))
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
/// Every port this process serves, bound first: each `None` when the process does not
/// serve it.
struct Ports {
    management: Option<TcpListener>,
    management_https: Option<TcpListener>,
    blob: Option<TcpListener>,
    blob_https: Option<TcpListener>,
    guest: Option<TcpListener>,
}

impl Ports {
    async fn bind(config: &ServeConfig) -> anyhow::Result<Self> {
        let api = config.runs(Component::Api);
        let blob = config.runs(Component::Blob);
        Ok(Ports {
            management: bind(
                api.then_some(config.http_addr),
                "management API",
                "--http-addr",
            )
            .await?,
            management_https: bind(
                config.https_addr.filter(|_| api),
                "management API over HTTPS",
                "--https-addr",
            )
            .await?,
            blob: bind(
                blob.then_some(config.blob_addr),
                "blob endpoint",
                "--blob-addr",
            )
            .await?,
            blob_https: bind(
                config.blob_https_addr.filter(|_| blob),
                "blob endpoint over HTTPS",
                "--blob-https-addr",
            )
            .await?,
            guest: bind(
                config.runs(Component::Guest).then_some(config.guest_addr),
                "guest API",
                "--guest-addr",
            )
            .await?,
        })
    }
}

async fn bind(
    addr: Option<SocketAddr>,
    what: &str,
    flag: &str,
) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(Some(listener)),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "the {what}'s address {addr} is in use (another vaultsim?): choose another with \
             {flag}, or port 0 for a free one"
        ),
        Err(error) => Err(error).with_context(|| format!("binding the {what} to {addr}")),
    }
}

/// A bound port served over TLS when the process has a certificate.
fn with_tls(tcp: Option<TcpListener>, tls: Option<&ServerTls>) -> Option<Listener> {
    Some(Listener {
        tcp: tcp?,
        tls: Some(tls?.acceptor.clone()),
    })
}

/// What a listener serves: its routes beside the health and metrics routes, every request
/// logged (at debug) and counted under `listener`.
fn listener_app(listener: &'static str, health: &Health, routes: Router) -> Router {
    with_request_logging(api::health::router(health.clone()).merge(routes)).layer(
        axum::middleware::from_fn_with_state(listener, track_requests),
    )
}

fn with_request_logging(router: Router) -> Router {
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request| {
                let ids = request.extensions().get::<RequestIds>();
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    uri = %redacted_uri(request.uri()),
                    request_id = ids.map(|ids| tracing::field::display(&ids.request_id)),
                    correlation_id = ids.map(|ids| tracing::field::display(&ids.correlation_id)),
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
