//! The HTTP surface of the blob endpoint (path-style Azure Blob REST). It parses each
//! request into a target and an operation, authenticates and authorizes it, and hands a
//! typed call to the storage engine; it never holds storage logic of its own.

mod auth;
mod blob;
mod container;
mod error;
mod header_case;
mod headers;
mod page;
mod router;
mod serve;
mod upload;
mod xml;

use crate::prometheus::RouteLabel;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, Utc};
use vaultsim_protocol::blob_xml;

pub use auth::Account;
pub use serve::serve;

use crate::blob::engine::{BlobAddress, BlobStore, Timestamp};
use crate::clock::Clock;
use crate::faults::{BlobCall, FaultAction, Faults};
use crate::server::{ListenerScheme, Scheme};
use error::BlobApiError;
use router::{Operation, Query, Target};

/// The storage API version vaultsim answers with when a request names none.
pub const SERVICE_VERSION: &str = "2026-10-06";
/// The oldest `x-ms-version` Azure Storage knows.
const OLDEST_VERSION: &str = "2009-09-19";

#[derive(Clone, Debug)]
pub struct BlobState {
    pub store: Arc<BlobStore>,
    pub account: Arc<Account>,
    pub clock: Clock,
    /// The process's faults, consulted before each operation and for each SAS.
    pub faults: Arc<Faults>,
}

/// The endpoint's routes. Serve them with [`serve`], which adds what the handlers read
/// from each connection: the client's address (SAS `sip`) and metadata name spelling.
pub fn router(state: BlobState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// One parsed, authorized request, handed to the operation handlers.
pub struct BlobRequest {
    pub parts: Parts,
    pub body: Body,
    pub target: Target,
    pub query: Query,
    pub store: Arc<BlobStore>,
}

impl BlobRequest {
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    pub fn container(&self) -> &str {
        self.target.container.as_deref().unwrap_or_default()
    }

    pub fn blob(&self) -> &str {
        self.target.blob.as_deref().unwrap_or_default()
    }

    /// The request's `x-ms-meta-*` metadata, names as the client spelled them.
    pub fn metadata(&self) -> Result<crate::blob::engine::Metadata, BlobApiError> {
        let names = self
            .parts
            .extensions
            .get::<header_case::RequestMetadataNames>()
            .cloned()
            .unwrap_or_default();
        headers::metadata(self.headers(), &names)
    }

    /// The `snapshot` query parameter, parsed.
    pub fn snapshot(&self) -> Result<Option<Timestamp>, BlobApiError> {
        timestamp_param(&self.query, "snapshot")
    }

    pub fn address(&self) -> Result<BlobAddress<'_>, BlobApiError> {
        Ok(BlobAddress {
            container: self.container(),
            blob: self.blob(),
            snapshot: self.snapshot()?,
        })
    }

    /// Refuses a write addressed at a snapshot: snapshots are read-only.
    pub fn base_only(&self) -> Result<(), BlobApiError> {
        match self.query.get("snapshot") {
            Some(value) => Err(BlobApiError::invalid_query(
                "snapshot",
                value,
                "A snapshot is read-only; this operation needs the base blob.",
            )),
            None => Ok(()),
        }
    }
}

pub fn timestamp_param(query: &Query, name: &str) -> Result<Option<Timestamp>, BlobApiError> {
    query
        .get(name)
        .map(|value| {
            Timestamp::parse_snapshot_id(value).ok_or_else(|| {
                BlobApiError::invalid_query(
                    name,
                    value,
                    "A snapshot time such as 2024-05-06T07:08:09.1234567Z is expected.",
                )
            })
        })
        .transpose()
}

async fn dispatch(
    State(state): State<BlobState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let now = state.clock.now();
    let version = request
        .headers()
        .get("x-ms-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client_request_id = request.headers().get("x-ms-client-request-id").cloned();
    let mut operation = None;
    let mut response = match handle(
        &state,
        request,
        peer,
        now,
        version.as_deref(),
        &mut operation,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => {
            error.into_response_for(&request_id, &Timestamp::from_datetime(now).to_snapshot_id())
        }
    };
    let headers = response.headers_mut();
    headers::put(headers, "x-ms-request-id", &request_id);
    headers::put(
        headers,
        "x-ms-version",
        version
            .as_deref()
            .filter(|v| valid_version(v))
            .unwrap_or(SERVICE_VERSION),
    );
    headers::put(
        headers,
        "date",
        Timestamp::from_datetime(now).to_http_date(),
    );
    headers::put(
        headers,
        "server",
        "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
    );
    if let Some(id) = client_request_id {
        headers.insert("x-ms-client-request-id", id);
    }
    response
        .extensions_mut()
        .insert(RouteLabel::of(operation.unwrap_or("Unparsed")));
    response
}

/// A service version is a date, `YYYY-MM-DD`, no older than the oldest one. Checked by hand:
/// it runs on every request, and chrono's format parsing showed in profiles.
fn valid_version(version: &str) -> bool {
    let b = version.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    let month = version.get(5..7).and_then(|m| m.parse::<u8>().ok());
    let day = version.get(8..10).and_then(|d| d.parse::<u8>().ok());
    shape
        && month.is_some_and(|m| (1..=12).contains(&m))
        && day.is_some_and(|d| (1..=31).contains(&d))
        && version >= OLDEST_VERSION
}

async fn handle(
    state: &BlobState,
    request: Request,
    peer: SocketAddr,
    now: DateTime<Utc>,
    version: Option<&str>,
    // The operation's analytics name once parsed, for the request metrics.
    operation: &mut Option<&'static str>,
) -> Result<Response, BlobApiError> {
    if let Some(version) = version.filter(|v| !valid_version(v)) {
        return Err(BlobApiError::invalid_header(
            "x-ms-version",
            version,
            "The version must be a storage service version date such as 2026-10-06.",
        ));
    }
    let (parts, body) = request.into_parts();
    let target = router::parse_target(parts.uri.path())?;
    let query = Query::parse(parts.uri.query().unwrap_or_default());
    let op = router::parse_operation(&parts.method, &target, &query)?;
    *operation = Some(op.analytics_name(&query, &parts.headers));
    let https = parts
        .extensions
        .get::<ListenerScheme>()
        .is_some_and(|ListenerScheme(scheme)| *scheme == Scheme::Https);
    let client = auth::Client {
        ip: peer.ip(),
        https,
        now,
    };
    let principal = auth::authenticate(
        &state.account,
        &parts,
        &target,
        &query,
        &state.store,
        client,
        &state.faults,
    )?;
    auth::authorize(&principal, op, &target, &state.store, || {
        state.store.blob_exists(
            target.container.as_deref().unwrap_or_default(),
            target.blob.as_deref().unwrap_or_default(),
        )
    })?;
    // After authorization, so that a fault stands for the service failing a request it
    // would have served, and before the operation, so that nothing is applied.
    let call = || BlobCall {
        operation: op.analytics_name(&query, &parts.headers),
        account: &target.account,
        container: target.container.as_deref(),
        blob: target.blob.as_deref(),
    };
    match state.faults.blob(call) {
        None => {}
        Some(FaultAction::Latency(latency)) => tokio::time::sleep(latency).await,
        Some(FaultAction::Error {
            status,
            code,
            message,
        }) => return Err(BlobApiError::injected(status, &code, message.as_deref())),
        Some(FaultAction::Reset) => return Ok(serve::reset_connection()),
        Some(other @ (FaultAction::Drop | FaultAction::ExpireSas { .. })) => {
            // `NewFault` refuses these for blob faults.
            tracing::error!(action = other.kind(), "a blob fault with a non-blob action");
        }
    }
    let request = BlobRequest {
        parts,
        body,
        target,
        query,
        store: state.store.clone(),
    };
    use Operation as Op;
    match op {
        Op::ListContainers => container::list_containers(request),
        Op::GetAccountInfo => Ok(container::account_info()),
        Op::CreateContainer => container::create(request),
        Op::DeleteContainer => container::delete(request),
        Op::GetContainerProperties => container::properties(request),
        Op::SetContainerMetadata => container::set_metadata(request),
        Op::GetContainerAcl => container::get_acl(request),
        Op::SetContainerAcl => container::set_acl(request).await,
        Op::ListBlobs => container::list_blobs(request),
        Op::PutBlob => blob::put_blob(request).await,
        Op::PutBlock => blob::put_block(request).await,
        Op::PutBlockList => blob::put_block_list(request).await,
        Op::GetBlockList => blob::get_block_list(request),
        Op::PutPage => page::put_page(request).await,
        Op::GetPageRanges => page::get_page_ranges(request),
        Op::SnapshotBlob => blob::snapshot(request),
        Op::SetBlobProperties => blob::set_properties(request),
        Op::SetBlobMetadata => blob::set_metadata(request),
        Op::GetBlobMetadata => blob::get_metadata(request),
        Op::GetBlob => blob::get(request, true).await,
        Op::GetBlobProperties => blob::get(request, false).await,
        Op::DeleteBlob => blob::delete(request),
        Op::LeaseBlob => Err(BlobApiError::not_implemented("Lease Blob")),
        Op::IncrementalCopy => Err(BlobApiError::not_implemented("Incremental Copy Blob")),
    }
}

/// An empty response with a status.
pub fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// An XML response: `document` serialized with its declaration.
pub fn xml_response(document: &impl serde::Serialize) -> Result<Response, BlobApiError> {
    let body = blob_xml::to_xml(document).map_err(|error| {
        // Element names are fixed or checked metadata names, so this is a bug.
        tracing::error!(%error, "blob response not serializable as XML");
        BlobApiError::internal()
    })?;
    let mut response = Response::new(Body::from(body));
    headers::put(response.headers_mut(), "content-type", "application/xml");
    Ok(response)
}

/// Reads a whole (small) request body, refusing more than `limit` bytes.
pub async fn small_body(body: Body, limit: usize) -> Result<bytes::Bytes, BlobApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            BlobApiError::body_too_large(limit as u64)
        } else {
            BlobApiError::invalid_input(
                "The request body could not be read completely: it is shorter than announced or the connection broke.",
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::valid_version;

    #[test]
    fn service_versions_are_dates_from_2009_on() {
        for good in ["2009-09-19", "2014-02-14", "2026-10-06"] {
            assert!(valid_version(good), "{good}");
        }
        for bad in [
            "2008-01-01",
            "2026-13-01",
            "2026-1-06",
            "latest",
            "2026-10-06x",
            "",
        ] {
            assert!(!valid_version(bad), "{bad}");
        }
    }
}
