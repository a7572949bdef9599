//! `ManagementApp`: the service in-process on port 0 with its own data directory and its own
//! metadata database (a SQLite file, or a fresh PostgreSQL database dropped afterwards),
//! signed in with the bootstrap client's credentials. Each area's test file adds one method
//! per endpoint in its own `impl ManagementApp` block.

use std::net::SocketAddr;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use vaultsim::config::{Component, ServeConfig};
use vaultsim::guest::GoalStateNotifier;
use vaultsim::startup::Application;
use vaultsim_protocol::credentials::{self, ClientCredentials};

use crate::helpers::client_trusting;

/// Which metadata database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A management API response: status, headers and the JSON body (`Null` when empty).
#[derive(Debug)]
pub struct ArmResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl ArmResponse {
    /// The ARM error code of an error response.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

pub struct ManagementApp {
    pub addr: SocketAddr,
    /// The management API's HTTPS listener.
    pub https_addr: SocketAddr,
    /// The blob endpoint the service keeps its blobs in: its own, or the external
    /// account's (path style, `http://{blob_addr}/devstoreaccount1`).
    pub blob_addr: SocketAddr,
    /// The own blob endpoint's HTTPS listener, which backup tasks' SAS URIs name; `None`
    /// with an external account.
    pub blob_https_addr: Option<SocketAddr>,
    pub guest_addr: SocketAddr,
    /// The service's goal-state notifier, for tests that publish as the engine does.
    pub notifier: GoalStateNotifier,
    /// The service's backup engine, for tests that drive its ticks.
    pub engine: vaultsim::control::Engine,
    pub credentials: ClientCredentials,
    /// The bootstrap client's bearer token.
    pub token: String,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    /// The metadata database URL (`None`: the SQLite file in `data_dir`).
    pub database_url: Option<String>,
    _database: Option<PostgresDatabase>,
    config: ServeConfig,
    server: Server,
}

/// The service on a runtime of its own, so that a test can crash it: shutting the runtime
/// down drops every task at once, as killing the process would.
struct Server {
    runtime: Option<tokio::runtime::Runtime>,
}

/// What a started service answers with.
struct Started {
    server: Server,
    addr: SocketAddr,
    https_addr: SocketAddr,
    /// The own blob endpoint's plain and HTTPS addresses, when it runs.
    blob: Option<(SocketAddr, SocketAddr)>,
    guest_addr: SocketAddr,
    notifier: GoalStateNotifier,
    engine: vaultsim::control::Engine,
}

impl Server {
    async fn start(config: ServeConfig) -> Started {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (handles, started) = tokio::sync::oneshot::channel();
        let runs_blob = config.runs(Component::Blob);
        runtime.spawn(async move {
            let app = Application::build(&config).await.unwrap();
            let _ = handles.send((
                (app.http_addr(), app.https_addr().expect("HTTPS is on")),
                runs_blob.then(|| (app.blob_addr(), app.blob_https_addr().expect("HTTPS is on"))),
                app.guest_addr(),
                app.goal_state_notifier().clone(),
                app.engine().clone(),
            ));
            app.run_until_stopped(std::future::pending()).await.unwrap();
        });
        let ((addr, https_addr), blob, guest_addr, notifier, engine) =
            started.await.expect("the service starts");
        Started {
            server: Server {
                runtime: Some(runtime),
            },
            addr,
            https_addr,
            blob,
            guest_addr,
            notifier,
            engine,
        }
    }

    fn crash(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.crash();
    }
}

impl ManagementApp {
    pub async fn spawn(backend: Backend) -> Self {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PostgresDatabase::create().await),
        };
        Self::spawn_in(tempfile::tempdir().unwrap(), database).await
    }

    /// Another replica of this service: a data directory (and blob store) of its own, on
    /// the same PostgreSQL database, signed in with the credentials it wrote.
    pub async fn replica(&self) -> Self {
        let url = self
            .database_url
            .clone()
            .expect("replicas share a PostgreSQL database");
        Self::start(tempfile::tempdir().unwrap(), Some(url), None, None).await
    }

    /// The control components alone (api, guest, engine, on SQLite), keeping every blob in
    /// the external account `connection_string` names, whose blob endpoint listens on
    /// `account_addr` (path style, as Azurite's).
    pub async fn on_external_account(connection_string: &str, account_addr: SocketAddr) -> Self {
        let account = ExternalAccount {
            connection_string: SecretString::from(connection_string.to_owned()),
            addr: account_addr,
        };
        Self::start(tempfile::tempdir().unwrap(), None, None, Some(account)).await
    }

    /// The service on `data_dir` as it is, and on `database` (`None`: SQLite there), which
    /// the app drops when it is done.
    pub async fn spawn_in(data_dir: tempfile::TempDir, database: Option<PostgresDatabase>) -> Self {
        let url = database.as_ref().map(|d| d.url.clone());
        Self::start(data_dir, url, database, None).await
    }

    async fn start(
        data_dir: tempfile::TempDir,
        database_url: Option<String>,
        database: Option<PostgresDatabase>,
        external: Option<ExternalAccount>,
    ) -> Self {
        let mut config = ServeConfig::ephemeral(data_dir.path(), database_url.clone());
        if let Some(account) = &external {
            config.components = vec![Component::Api, Component::Guest, Component::Engine];
            config.storage_connection_string = vec![account.connection_string.clone()];
        }
        let started = Server::start(config.clone()).await;
        let (blob_addr, blob_https_addr) = match (started.blob, &external) {
            (Some((plain, https)), _) => (plain, Some(https)),
            (None, Some(account)) => (account.addr, None),
            (None, None) => unreachable!("without an external account the blob component runs"),
        };
        let credentials: ClientCredentials = serde_json::from_slice(
            &std::fs::read(data_dir.path().join(credentials::FILE_NAME)).unwrap(),
        )
        .unwrap();
        let http = client_trusting(&data_dir.path().join("tls").join("ca.pem"));
        let mut app = Self {
            addr: started.addr,
            https_addr: started.https_addr,
            blob_addr,
            blob_https_addr,
            guest_addr: started.guest_addr,
            notifier: started.notifier,
            engine: started.engine,
            credentials: credentials.clone(),
            token: String::new(),
            http,
            database_url,
            data_dir,
            _database: database,
            config,
            server: started.server,
        };
        app.token = app
            .client_credentials_token(&credentials.client_id, &credentials.client_secret)
            .await;
        app
    }

    /// Crashes the service (every task stops at once, nothing is flushed or drained) and
    /// starts it again on the same data directory, database and addresses.
    pub async fn crash_and_restart(&mut self) {
        self.crash_and_restart_with(|_| {}).await;
    }

    /// Crashes the service and starts it again as `crash_and_restart` does, with `change`
    /// made to its settings.
    pub async fn crash_and_restart_with(&mut self, change: impl FnOnce(&mut ServeConfig)) {
        self.server.crash();
        // Let blocking work of the crashed runtime (file I/O) wind down.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let mut config = self.config.clone();
        change(&mut config);
        config.http_addr = self.addr;
        config.https_addr = Some(self.https_addr);
        if config.runs(Component::Blob) {
            config.blob_addr = self.blob_addr;
            config.blob_https_addr = self.blob_https_addr;
        }
        config.guest_addr = self.guest_addr;
        // The crashed runtime lets go of its listeners in its own time (longer on a busy
        // machine): wait until each port is free again rather than fail to bind it.
        let mut ports = vec![self.addr, self.https_addr, self.guest_addr];
        if config.runs(Component::Blob) {
            ports.push(self.blob_addr);
            ports.extend(self.blob_https_addr);
        }
        for addr in ports {
            wait_until_free(addr).await;
        }
        let started = Server::start(config).await;
        self.server = started.server;
        self.notifier = started.notifier;
        self.engine = started.engine;
    }

    /// A second connection pool to the service's metadata database, for tests that put
    /// in place what a later stage (the backup engine) would write.
    pub async fn db(&self) -> vaultsim::store::Db {
        vaultsim::store::Db::connect(self.database_url.as_deref(), self.data_dir.path())
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The bootstrap subscription's id path, `/subscriptions/{id}`.
    pub fn subscription_path(&self) -> String {
        format!("/subscriptions/{}", self.credentials.subscription_id)
    }

    /// Gets a token with the OAuth 2.0 client-credentials grant (v2 endpoint).
    pub async fn client_credentials_token(&self, client_id: &str, secret: &str) -> String {
        let response = self
            .http
            .post(self.url(&format!(
                "/{}/oauth2/v2.0/token",
                self.credentials.tenant_id
            )))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", "https://management.core.windows.net//.default"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "token request refused");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends a management request with the bootstrap token. `path_and_query` may omit
    /// `api-version`; one is added.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> ArmResponse {
        self.send_as(Some(&self.token), method, path_and_query, body)
            .await
    }

    /// Sends a management request with `token` (`None`: no `Authorization` header).
    pub async fn send_as(
        &self,
        token: Option<&str>,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> ArmResponse {
        let separator = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = if path_and_query.contains("api-version=") {
            self.url(path_and_query)
        } else {
            self.url(&format!(
                "{path_and_query}{separator}api-version=2026-07-01"
            ))
        };
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the service answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        ArmResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> ArmResponse {
        self.send(Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> ArmResponse {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> ArmResponse {
        self.send(Method::POST, path, body).await
    }

    pub async fn delete(&self, path: &str) -> ArmResponse {
        self.send(Method::DELETE, path, None).await
    }

    /// GETs an absolute URL the service handed out (`Azure-AsyncOperation`, `Location`,
    /// `nextLink`).
    pub async fn follow(&self, url: &str) -> ArmResponse {
        let base = self.url("");
        let path = url
            .strip_prefix(&base)
            .unwrap_or_else(|| panic!("{url} is not under {base}"));
        self.get(path).await
    }
}

/// An account the service keeps its blobs in instead of its own blob endpoint.
struct ExternalAccount {
    connection_string: SecretString,
    addr: SocketAddr,
}

/// A PostgreSQL database made for one test and dropped after it. The server is the one
/// `VAULTSIM_TEST_POSTGRES_URL` names (default: the local one, trust auth).
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    pub async fn create() -> Self {
        let admin_url = std::env::var("VAULTSIM_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("vaultsim_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = connect_admin(&admin_url).await;
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

async fn connect_admin(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is needed for the PostgreSQL half of the suite and is not reachable at \
             {url} ({e}); set VAULTSIM_TEST_POSTGRES_URL"
        )
    })
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread with
        // its own runtime drops the database (forcing out the server's connections).
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = connect_admin(&admin_url).await;
                let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut admin)
                    .await;
            });
        })
        .join();
    }
}

/// Runs each named `async fn(ManagementApp)` once on SQLite and once on PostgreSQL, as
/// `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::management::app::ManagementApp::spawn(
                        $crate::management::app::Backend::Sqlite,
                    ).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::management::app::ManagementApp::spawn(
                        $crate::management::app::Backend::Postgres,
                    ).await).await;
                }
            )*
        }
    };
}

/// Paths of the resources tests create, in the bootstrap subscription.
impl ManagementApp {
    pub fn group_path(&self, group: &str) -> String {
        format!("{}/resourceGroups/{group}", self.subscription_path())
    }

    pub fn vm_path(&self, group: &str, vm: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{vm}",
            self.group_path(group)
        )
    }

    pub fn vault_path(&self, group: &str, vault: &str) -> String {
        format!(
            "{}/providers/Microsoft.RecoveryServices/vaults/{vault}",
            self.group_path(group)
        )
    }
}

/// Waits (up to 10 s) until `addr` can be bound.
async fn wait_until_free(addr: SocketAddr) {
    for _ in 0..200 {
        if std::net::TcpListener::bind(addr).is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{addr} is still in use 10 s after the crash");
}
