//! One signed Blob REST call: the URL (path-style when the endpoint has a path), Shared Key
//! signing through `vaultsim_protocol::shared_key`, one retry of an idempotent call whose
//! connection was reset; error responses become [`StorageError`]s (read by `wire`).

use std::error::Error as _;

use bytes::Bytes;
use chrono::Utc;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, Response, StatusCode, Url};
use secrecy::ExposeSecret;
use vaultsim_protocol::shared_key::{authorization_header, SignedRequest};

use super::wire;
use super::RemoteStorage;
use crate::storage::{BlobPath, StorageError, Timestamp};

/// The storage service version sent in `x-ms-version`: the one the agent and the load
/// generator send, which Azurite 3.37 and vaultsim's endpoint accept.
const API_VERSION: &str = "2025-11-05";

/// Everything but RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Blob names keep `/`, the virtual directory separator, as Azure's clients send it.
const BLOB_NAME: &AsciiSet = &COMPONENT.remove(b'/');

/// What a call addresses.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target<'a> {
    Account,
    Container(&'a str),
    Blob(BlobPath<'a>),
}

/// Whether repeating a call after its connection was reset is safe: the same state and
/// the same answer. A snapshot, a delete, a create that reports "already there", and a
/// conditional write are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    Idempotent,
    Never,
}

/// One call, built up and then sent with [`RemoteStorage::send`].
#[derive(Debug)]
pub(super) struct Call<'a> {
    method: Method,
    target: Target<'a>,
    query: Vec<(&'static str, String)>,
    headers: Vec<(String, String)>,
    body: Bytes,
    retry: Retry,
}

impl<'a> Call<'a> {
    pub(super) fn new(method: Method, target: Target<'a>, retry: Retry) -> Self {
        let query = match target {
            Target::Blob(BlobPath {
                snapshot: Some(snapshot),
                ..
            }) => vec![("snapshot", snapshot.to_snapshot_id())],
            _ => Vec::new(),
        };
        Self {
            method,
            target,
            query,
            headers: Vec::new(),
            body: Bytes::new(),
            retry,
        }
    }

    pub(super) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub(super) fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The header when there is a value for it.
    pub(super) fn header_if(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.header(name, value),
            None => self,
        }
    }

    pub(super) fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }

    /// `x-ms-meta-{name}` for each pair.
    pub(super) fn metadata(self, metadata: &[(String, String)]) -> Self {
        metadata.iter().fold(self, |call, (name, value)| {
            call.header(format!("x-ms-meta-{name}"), value.clone())
        })
    }
}

impl RemoteStorage {
    /// Sends `call` and answers its response when the status is a success (or 304, which
    /// only a conditional read asks for); any other status becomes its [`StorageError`].
    pub(super) async fn send(&self, call: Call<'_>) -> Result<Response, StorageError> {
        let response = self.exchange(&call).await?;
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            Ok(response)
        } else {
            Err(wire::error_from(response).await)
        }
    }

    /// [`Self::send`], answering the response's body as text (the XML documents).
    pub(super) async fn send_for_text(&self, call: Call<'_>) -> Result<String, StorageError> {
        self.send(call)
            .await?
            .text()
            .await
            .map_err(|error| transport(&error))
    }

    /// Sends `call` and answers whatever response came back; only a call that got no
    /// response fails.
    pub(super) async fn exchange(&self, call: &Call<'_>) -> Result<Response, StorageError> {
        let url = self.url(call)?;
        let mut reset_once = false;
        loop {
            match self.http.execute(self.signed(call, &url)?).await {
                Ok(response) => return Ok(response),
                Err(error)
                    if call.retry == Retry::Idempotent
                        && !reset_once
                        && connection_reset(&error) =>
                {
                    tracing::debug!(%url, "connection reset; sending the request again");
                    reset_once = true;
                }
                Err(error) => return Err(transport(&error)),
            }
        }
    }

    fn url(&self, call: &Call<'_>) -> Result<Url, StorageError> {
        let mut url = self.endpoint.clone();
        match call.target {
            Target::Account => {}
            Target::Container(container) => {
                url.push('/');
                url.extend(utf8_percent_encode(container, COMPONENT));
            }
            Target::Blob(at) => {
                url.push('/');
                url.extend(utf8_percent_encode(at.container, COMPONENT));
                url.push('/');
                url.extend(utf8_percent_encode(at.blob, BLOB_NAME));
            }
        }
        for (index, (name, value)) in call.query.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, COMPONENT));
        }
        Url::parse(&url).map_err(|error| {
            StorageError::Transport(format!("the URL {url} is not valid: {error}"))
        })
    }

    /// The request with its `x-ms-date`, `x-ms-version` and Shared Key `Authorization`,
    /// signed over the path and query exactly as they are sent.
    fn signed(&self, call: &Call<'_>, url: &Url) -> Result<reqwest::Request, StorageError> {
        let date = Timestamp::from_datetime(Utc::now()).to_http_date();
        let length = call.body.len().to_string();
        let mut headers: Vec<(&str, &str)> =
            vec![("x-ms-date", &date), ("x-ms-version", API_VERSION)];
        // Azure and Azurite require a length on every PUT, an empty one too, which the
        // client library does not send for an empty body by itself.
        let with_body = call.method == Method::PUT;
        if with_body {
            headers.push(("content-length", &length));
        }
        headers.extend(call.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let authorization = authorization_header(
            &self.account.name,
            self.account.key.expose_secret(),
            &SignedRequest {
                method: call.method.as_str(),
                headers: &headers,
                path: url.path(),
                query: url.query().unwrap_or_default(),
            },
        );
        let mut request = self
            .http
            .request(call.method.clone(), url.clone())
            .header("authorization", authorization);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if with_body {
            request = request.body(call.body.clone());
        }
        request.build().map_err(|error| transport(&error))
    }
}

/// A reset of the connection the request went out on: the peer dropped it (RST), or closed
/// it before answering, as a server does to an idle keep-alive connection the pool reused.
fn connection_reset(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionReset {
                return true;
            }
        }
        if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return true;
            }
        }
        cause = error.source();
    }
    false
}

/// The error and its causes, one after the other (reqwest's own message names only the
/// URL, which carries no secret under Shared Key).
pub(super) fn transport(error: &reqwest::Error) -> StorageError {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        message.push_str(": ");
        message.push_str(&error.to_string());
        cause = error.source();
    }
    StorageError::Transport(message)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::super::{ConnectionString, RemoteStorage};
    use crate::storage::{BlobStorage, StorageError};

    /// A server that resets the first connection once it has read a request (RST, no
    /// answer) and answers every later request with a 201 carrying what the calls read.
    /// Counts the requests it read.
    async fn resetting_server() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(stream, counted.clone()));
            }
        });
        (addr, requests)
    }

    async fn serve(mut stream: TcpStream, requests: Arc<AtomicUsize>) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            buffer.clear();
            if requests.fetch_add(1, Ordering::SeqCst) == 0 {
                stream.set_zero_linger().unwrap();
                return;
            }
            let answer = "HTTP/1.1 201 Created\r\nDate: Sun, 06 Dec 2026 07:08:07 GMT\r\n\
                          ETag: \"0x1\"\r\nx-ms-snapshot: 2026-12-06T07:08:07.0000000Z\r\n\
                          Content-Length: 0\r\n\r\n";
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn storage(addr: SocketAddr) -> RemoteStorage {
        let conn = ConnectionString::parse(&format!(
            "AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://{addr}/acct"
        ))
        .unwrap();
        RemoteStorage::connect(&conn, None, None).unwrap()
    }

    #[tokio::test]
    async fn an_idempotent_call_is_sent_again_once_after_a_reset() {
        let (addr, requests) = resetting_server().await;
        let at = storage(addr).account_time().await.unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-06T07:08:07+00:00");
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_snapshot_is_not_sent_again_after_a_reset() {
        let (addr, requests) = resetting_server().await;
        let error = storage(addr).snapshot("c", "b", None).await.unwrap_err();
        assert!(matches!(error, StorageError::Transport(_)), "{error:?}");
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }
}
