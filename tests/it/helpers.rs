//! `TestApp`: a vaultsim blob endpoint for one test, with one helper per endpoint, and
//! `ServiceProcess` for tests that need the real binary (kill -9, log capture).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use reqwest::{Method, Response};
use vaultsim::config::{ServeConfig, DEV_ACCOUNT_KEY};
use vaultsim::startup::Application;
use vaultsim_protocol::shared_key::{authorization_header, SignedRequest};

pub const ACCOUNT: &str = "devstoreaccount1";
pub const VERSION: &str = "2026-10-06";

/// An HTTP client that also trusts the CA in `ca_file` (a service's generated `ca.pem`).
pub fn client_trusting(ca_file: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca_file).expect("the service wrote its CA certificate");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
        .build()
        .expect("an HTTP client")
}

/// A signed-request client for one blob endpoint.
#[derive(Clone)]
pub struct BlobClient {
    pub addr: SocketAddr,
    http: reqwest::Client,
    key: Vec<u8>,
}

impl BlobClient {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            http: reqwest::Client::new(),
            key: base64::engine::general_purpose::STANDARD
                .decode(DEV_ACCOUNT_KEY)
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{ACCOUNT}{path}", self.addr)
    }

    /// Sends a Shared Key request. `path` is below the account (`/container/blob`),
    /// `query` without `?`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        self.try_send(method, path, query, headers, body)
            .await
            .expect("the service answers")
    }

    /// Like `send`, but a connection failure is an `Err` (the service may be gone).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, reqwest::Error> {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let length = body.len().to_string();
        let mut all: Vec<(&str, &str)> = vec![
            ("x-ms-date", &date),
            ("x-ms-version", VERSION),
            ("content-length", &length),
        ];
        all.extend_from_slice(headers);
        let full_path = format!("/{ACCOUNT}{path}");
        let authorization = authorization_header(
            ACCOUNT,
            &self.key,
            &SignedRequest {
                method: method.as_str(),
                headers: &all,
                path: &full_path,
                query,
            },
        );
        let mut url = self.url(path);
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", authorization)
            .body(body);
        for (name, value) in all {
            request = request.header(name, value);
        }
        request.send().await
    }

    pub async fn create_container(&self, name: &str) -> Response {
        self.send(
            Method::PUT,
            &format!("/{name}"),
            "restype=container",
            &[],
            vec![],
        )
        .await
    }

    pub async fn create_page_blob(&self, path: &str, size: u64) -> Response {
        let size = size.to_string();
        self.send(
            Method::PUT,
            path,
            "",
            &[
                ("x-ms-blob-type", "PageBlob"),
                ("x-ms-blob-content-length", &size),
            ],
            vec![],
        )
        .await
    }

    pub async fn try_put_page(
        &self,
        path: &str,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Response, reqwest::Error> {
        let range = format!("bytes={}-{}", offset, offset + data.len() as u64 - 1);
        self.try_send(
            Method::PUT,
            path,
            "comp=page",
            &[("x-ms-page-write", "update"), ("x-ms-range", &range)],
            data,
        )
        .await
    }

    pub async fn put_block_blob(&self, path: &str, data: Vec<u8>) -> Response {
        self.send(
            Method::PUT,
            path,
            "",
            &[("x-ms-blob-type", "BlockBlob")],
            data,
        )
        .await
    }

    pub async fn try_snapshot(&self, path: &str) -> Result<Response, reqwest::Error> {
        self.try_send(Method::PUT, path, "comp=snapshot", &[], vec![])
            .await
    }

    pub async fn get_blob(&self, path: &str) -> Response {
        self.send(Method::GET, path, "", &[], vec![]).await
    }

    pub async fn list_blobs_with_snapshots(&self, container: &str) -> Response {
        self.send(
            Method::GET,
            &format!("/{container}"),
            "comp=list&include=snapshots&restype=container",
            &[],
            vec![],
        )
        .await
    }
}

/// The service in-process on port 0 with its own data directory.
pub struct TestApp {
    pub client: BlobClient,
    /// The blob endpoint's HTTPS address, served with the generated chain.
    pub blob_https_addr: SocketAddr,
    /// The generated CA that HTTPS clients trust (`<data>/tls/ca.pem`).
    pub ca_file: std::path::PathBuf,
    _data: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let data = tempfile::tempdir().unwrap();
        let config = ServeConfig::ephemeral(data.path(), None);
        let app = Application::build(&config).await.unwrap();
        let addr = app.blob_addr();
        let blob_https_addr = app.blob_https_addr().expect("HTTPS is on");
        let ca_file = app
            .tls_ca_file()
            .expect("the chain is generated")
            .to_owned();
        let server = tokio::spawn(async move {
            app.run_until_stopped(std::future::pending()).await.unwrap();
        });
        Self {
            client: BlobClient::new(addr),
            blob_https_addr,
            ca_file,
            _data: data,
            _server: server,
        }
    }
}

impl TestApp {
    /// A service holding container `disks` with an empty 4 KiB page blob `d.vhd`.
    pub async fn spawn_with_disk() -> Self {
        let app = Self::spawn().await;
        assert_eq!(app.client.create_container("disks").await.status(), 201);
        let created = app.client.create_page_blob("/disks/d.vhd", 4096).await;
        assert_eq!(created.status(), 201);
        app
    }
}

/// The real `vaultsim` binary, with its stderr captured.
pub struct ServiceProcess {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl ServiceProcess {
    pub fn start(data_dir: &Path, rust_log: &str) -> Self {
        Self::start_with(data_dir, rust_log, &[])
    }

    /// Starts the binary with extra environment (`VAULTSIM_*` settings).
    pub fn start_with(data_dir: &Path, rust_log: &str, env: &[(&str, &str)]) -> Self {
        let mut command = serve_command(data_dir, rust_log);
        command.envs(env.iter().copied());
        Self::spawn(command)
    }

    /// Starts `command` (a [`serve_command`], changed) and waits until it logs the blob
    /// endpoint's address, in the text or the JSON log format.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.spawn().expect("the vaultsim binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Logged first, so that the log holds the line once the address is known.
                {
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(addr) = blob_endpoint_address(&line) {
                    let _ = addr_tx.send(addr);
                }
            }
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the service logs its address");
        Self { child, addr, log }
    }

    pub fn client(&self) -> BlobClient {
        BlobClient::new(self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The address the "<what> listening addr=" line of the log names, once it is there.
    pub fn listening(&self, what: &str) -> SocketAddr {
        let marker = format!("{what} listening addr=");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let log = self.log();
            if let Some(addr) = log
                .lines()
                .find_map(|line| line.split(&marker).nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|addr| addr.parse().ok())
            {
                return addr;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no '{marker}' in the log:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// The address in the blob endpoint's "listening" line, text or JSON.
fn blob_endpoint_address(line: &str) -> Option<SocketAddr> {
    if let Some(text) = line.split("blob endpoint listening addr=").nth(1) {
        return text.trim().parse().ok();
    }
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    (event["message"] == "blob endpoint listening")
        .then(|| event["addr"].as_str()?.parse().ok())
        .flatten()
}

/// `vaultsim serve` on `data_dir` with every port picked by the system, its stderr piped.
pub fn serve_command(data_dir: &Path, rust_log: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vaultsim"));
    command
        .args([
            "serve",
            "--blob-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--guest-addr",
            "127.0.0.1:0",
            "--https-addr",
            "127.0.0.1:0",
            "--blob-https-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
