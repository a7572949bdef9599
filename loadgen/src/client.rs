//! A thin page-blob client over hyper's pooled HTTP/1.1 client (plain, or TLS verified
//! against `--ca-file`): it builds the requests the workloads send and turns every reply
//! into success or a [`Failure`].

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use chrono::Utc;
use http::header::{AUTHORIZATION, CONTENT_LENGTH};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::auth::{self, Account, API_VERSION};
use crate::cli::TargetArgs;

/// How long the SAS minted at start-up stays valid; far longer than any bounded run.
const SAS_LIFETIME: chrono::Duration = chrono::Duration::hours(6);

pub type Body = Full<Bytes>;

/// The client's TLS settings: trust only the CA in `ca_file` (none: no https endpoint can
/// be verified, which the first request reports).
fn tls_config(ca_file: Option<&std::path::Path>) -> anyhow::Result<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca_file {
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading the CA file {}", path.display()))?
        {
            let cert = cert.with_context(|| format!("a certificate in {}", path.display()))?;
            roots.add(cert).context("adding the CA certificate")?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The `ring` provider, as the service uses it (see `vaultsim::tls`: rustls deprecates it
/// for lacking post-quantum key exchange, which only `aws-lc-rs` has, a long C build).
#[allow(deprecated)]
fn ring_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// Why one request did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with a non-2xx status.
    Status {
        status: StatusCode,
        error_code: Option<String>,
    },
    /// No complete reply: connection error or timeout.
    Transport(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status, error_code } => write!(
                f,
                "HTTP {status}, x-ms-error-code: {}",
                error_code.as_deref().unwrap_or("(none)")
            ),
            Self::Transport(reason) => write!(f, "no reply: {reason}"),
        }
    }
}

impl std::error::Error for Failure {}

/// A successful (2xx) reply with its body fully read.
pub struct Reply {
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct BlobClient {
    http: Client<HttpsConnector<HttpConnector>, Body>,
    account_url: String,
    account: Account,
    container: String,
    /// Container SAS query string, minted once so no request pays for signing.
    sas: String,
    request_timeout: Duration,
}

impl BlobClient {
    pub fn new(target: &TargetArgs) -> anyhow::Result<Self> {
        let account_url = target.endpoint.trim_end_matches('/').to_owned();
        ensure_loopback(&account_url)?;
        let account =
            Account::new(&target.account, &target.key).context("--key is not valid Base64")?;
        let sas = account.container_sas(&target.container, Utc::now() + SAS_LIFETIME);

        let mut connector = HttpConnector::new();
        // Small requests must not wait for Nagle's algorithm to coalesce them.
        connector.set_nodelay(true);
        // An https endpoint needs its CA; http needs none (and takes none).
        connector.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(target.ca_file.as_deref())?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(target.concurrency)
            .build(connector);

        Ok(Self {
            http,
            account_url,
            account,
            container: target.container.clone(),
            sas,
            request_timeout: Duration::from_secs(target.request_timeout_secs),
        })
    }

    /// URI of `blob` in the container with the operation's `query` (may be empty) and the SAS.
    fn blob_uri(&self, blob: &str, query: &str) -> anyhow::Result<Uri> {
        let separator = if query.is_empty() { "" } else { "&" };
        let uri = format!(
            "{}/{}/{blob}?{query}{separator}{}",
            self.account_url, self.container, self.sas
        );
        uri.parse()
            .with_context(|| format!("invalid request URI {uri}"))
    }

    /// Sends `request` and reads the whole reply; anything but 2xx is a [`Failure`].
    pub async fn send(&self, request: Request<Body>) -> Result<Reply, Failure> {
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| Failure::Transport(format!("{e:?}")))?;
            let (parts, body) = response.into_parts();
            // Read the body even for errors so the connection goes back to the pool.
            let body = body
                .collect()
                .await
                .map_err(|e| Failure::Transport(format!("reading body: {e}")))?
                .to_bytes();
            if !parts.status.is_success() {
                let error_code = parts
                    .headers
                    .get("x-ms-error-code")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                return Err(Failure::Status {
                    status: parts.status,
                    error_code,
                });
            }
            Ok(Reply {
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.request_timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Failure::Transport(format!(
                    "timed out after {:?}",
                    self.request_timeout
                )))
            })
    }

    /// Creates the container with Shared Key (a service SAS cannot); an existing one is fine.
    pub async fn ensure_container(&self) -> anyhow::Result<()> {
        let uri: Uri = format!("{}/{}?restype=container", self.account_url, self.container)
            .parse()
            .context("invalid container URL")?;
        let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let headers = [
            ("x-ms-date", date.as_str()),
            ("x-ms-version", API_VERSION),
            ("content-length", "0"),
        ];
        let authorization = self.account.shared_key_authorization("PUT", &uri, &headers);
        let request = headers
            .into_iter()
            .fold(Request::put(uri), |request, (name, value)| {
                request.header(name, value)
            })
            .header(AUTHORIZATION, authorization)
            .body(Body::default())?;
        match self.send(request).await {
            Ok(_) => Ok(()),
            Err(Failure::Status {
                error_code: Some(code),
                ..
            }) if code == "ContainerAlreadyExists" => Ok(()),
            Err(failure) => bail!("Create Container {} failed: {failure}", self.container),
        }
    }

    /// Creates (or replaces) an empty page blob of `size` bytes.
    pub async fn create_page_blob(&self, blob: &str, size: u64) -> anyhow::Result<()> {
        let request = Request::put(self.blob_uri(blob, "")?)
            .header("x-ms-version", API_VERSION)
            .header("x-ms-blob-type", "PageBlob")
            .header("x-ms-blob-content-length", size)
            .header(CONTENT_LENGTH, 0)
            .body(Body::default())?;
        self.send(request)
            .await
            .with_context(|| format!("Put Blob (page blob {blob}, {size} bytes)"))?;
        Ok(())
    }

    /// Takes a snapshot of `blob` and returns its id (`x-ms-snapshot`).
    pub async fn snapshot(&self, blob: &str) -> anyhow::Result<String> {
        let reply = self
            .send(self.snapshot_request(&self.snapshot_uri(blob)?))
            .await
            .with_context(|| format!("Snapshot Blob {blob}"))?;
        let id = reply
            .headers
            .get("x-ms-snapshot")
            .context("Snapshot Blob reply has no x-ms-snapshot header")?
            .to_str()?;
        Ok(id.to_owned())
    }

    pub fn snapshot_uri(&self, blob: &str) -> anyhow::Result<Uri> {
        self.blob_uri(blob, "comp=snapshot")
    }

    /// `uri` comes from [`Self::snapshot_uri`], built once per workload.
    pub fn snapshot_request(&self, uri: &Uri) -> Request<Body> {
        self.request(Method::PUT, uri)
            .header(CONTENT_LENGTH, 0)
            .body(Body::default())
            .expect("static headers are valid")
    }

    pub fn put_page_uri(&self, blob: &str) -> anyhow::Result<Uri> {
        self.blob_uri(blob, "comp=page")
    }

    /// Put Page (update) of `data` at `offset`; `uri` comes from [`Self::put_page_uri`].
    /// Cloning `data` only bumps a reference count, so the payload is never copied.
    pub fn put_page_request(&self, uri: &Uri, offset: u64, data: &Bytes) -> Request<Body> {
        let end = offset + data.len() as u64 - 1;
        self.request(Method::PUT, uri)
            .header("x-ms-page-write", "update")
            .header("x-ms-range", format!("bytes={offset}-{end}"))
            .header(CONTENT_LENGTH, data.len())
            .body(Body::new(data.clone()))
            .expect("numeric headers are valid")
    }

    /// URI of Get Page Ranges for `snapshot` relative to `previous` (a diff), authorised by
    /// a SAS for that snapshot.
    pub fn page_ranges_diff_uri(
        &self,
        blob: &str,
        snapshot: &str,
        previous: &str,
    ) -> anyhow::Result<Uri> {
        let sas = self.account.blob_snapshot_sas(
            &self.container,
            blob,
            snapshot,
            Utc::now() + SAS_LIFETIME,
        );
        let uri = format!(
            "{}/{}/{blob}?comp=pagelist&snapshot={}&prevsnapshot={}&{sas}",
            self.account_url,
            self.container,
            auth::encode_query_value(snapshot),
            auth::encode_query_value(previous),
        );
        uri.parse()
            .with_context(|| format!("invalid request URI {uri}"))
    }

    pub fn blob_read_uri(&self, blob: &str) -> anyhow::Result<Uri> {
        self.blob_uri(blob, "")
    }

    /// Get Blob of `len` bytes at `offset`, as SDK downloads read in chunks; `uri` comes from
    /// [`Self::blob_read_uri`].
    pub fn get_range_request(&self, uri: &Uri, offset: u64, len: u64) -> Request<Body> {
        let end = offset + len - 1;
        self.request(Method::GET, uri)
            .header("x-ms-range", format!("bytes={offset}-{end}"))
            .body(Body::default())
            .expect("numeric headers are valid")
    }

    pub fn get_request(&self, uri: &Uri) -> Request<Body> {
        self.request(Method::GET, uri)
            .body(Body::default())
            .expect("static headers are valid")
    }

    fn request(&self, method: Method, uri: &Uri) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri.clone())
            .header("x-ms-version", HeaderValue::from_static(API_VERSION))
    }
}

/// The benchmark may only ever load this machine: refuse any host outside loopback.
fn ensure_loopback(account_url: &str) -> anyhow::Result<()> {
    let uri: Uri = account_url
        .parse()
        .with_context(|| format!("--endpoint {account_url} is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        bail!("--endpoint must be http:// or https:// (got {account_url})");
    }
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--endpoint host {host} is not a loopback address; this tool only loads 127.0.0.0/8 or ::1");
    }
    Ok(())
}
