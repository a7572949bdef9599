//! The storage seam over the Blob REST API, for an account a connection string names: a
//! vaultsim blob node, Azurite, or Azure Storage. Shared Key on every call, one pooled
//! HTTP/1.1 client, page data carried as `Bytes` end to end.

mod client;
mod connection_string;
mod pages;
mod request;
mod wire;

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::OnceCell;

pub use client::ConnectError;
pub use connection_string::{ConnectionString, ConnectionStringError};
use pages::DiffSupport;
use request::{Call, Retry, Target};

use super::{
    AccountAccess, BlobContent, BlobKind, BlobPath, BlobProperties, BlobStorage, BlobWrite,
    ByteRange, Metadata, PageDiff, PageSpan, SnapshotListing, StorageError, Timestamp,
};

/// Blob storage in an account reached over the Blob REST API.
#[derive(Debug)]
pub struct RemoteStorage {
    http: reqwest::Client,
    /// The blob endpoint this process calls, without a trailing `/`.
    endpoint: String,
    /// What SAS URIs are built from; its endpoint is the one VMs reach.
    account: AccountAccess,
    /// Whether the account answers `prevsnapshot` with a real diff, found out once.
    diffs: OnceCell<DiffSupport>,
}

impl RemoteStorage {
    /// A client for the account `conn` names. `vm_endpoint` is the blob endpoint as VMs
    /// reach it, when that differs from the connection string's; `tls_ca` is a PEM file of
    /// extra CA certificates to trust (a vaultsim blob node's `<data>/tls/ca.pem`), on top
    /// of the system's roots.
    pub fn connect(
        conn: &ConnectionString,
        vm_endpoint: Option<String>,
        tls_ca: Option<&Path>,
    ) -> Result<Self, ConnectError> {
        let http = client::http_client(tls_ca)?;
        let endpoint = conn.blob_endpoint().to_owned();
        Ok(Self {
            http,
            account: AccountAccess {
                name: conn.account().to_owned(),
                endpoint: vm_endpoint
                    .map(|e| e.trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| endpoint.clone()),
                key: conn.key().clone(),
            },
            endpoint,
            diffs: OnceCell::new(),
        })
    }
}

fn base<'a>(container: &'a str, blob: &'a str) -> Target<'a> {
    Target::Blob(BlobPath::base(container, blob))
}

/// `x-ms-range: bytes=start-end`.
fn byte_range(range: ByteRange) -> String {
    format!("bytes={}-{}", range.start, range.end)
}

#[async_trait]
impl BlobStorage for RemoteStorage {
    fn account(&self) -> &AccountAccess {
        &self.account
    }

    async fn create_container(&self, name: &str) -> Result<bool, StorageError> {
        let call = Call::new(Method::PUT, Target::Container(name), Retry::Never)
            .query("restype", "container");
        match self.send(call).await {
            Ok(_) => Ok(true),
            Err(StorageError::ContainerAlreadyExists) => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn delete_container(&self, name: &str) -> Result<(), StorageError> {
        let call = Call::new(Method::DELETE, Target::Container(name), Retry::Never)
            .query("restype", "container");
        self.send(call).await?;
        Ok(())
    }

    async fn create_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
        metadata: Metadata,
        if_none_match_any: bool,
    ) -> Result<String, StorageError> {
        let retry = if if_none_match_any {
            Retry::Never
        } else {
            Retry::Idempotent
        };
        let call = Call::new(Method::PUT, base(container, blob), retry)
            .header("x-ms-blob-type", "PageBlob")
            .header("x-ms-blob-content-length", size.to_string())
            .header_if("if-none-match", if_none_match_any.then_some("*"))
            .metadata(&metadata);
        match self.send(call).await {
            Ok(response) => wire::etag(response.headers()),
            // The only condition sent was "no blob there" (Azurite answers 412, Azure 409).
            Err(StorageError::ConditionNotMet) if if_none_match_any => {
                Err(StorageError::BlobAlreadyExists)
            }
            Err(error) => Err(error),
        }
    }

    async fn resize_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
        if_match: Option<&str>,
    ) -> Result<String, StorageError> {
        let retry = match if_match {
            Some(_) => Retry::Never,
            None => Retry::Idempotent,
        };
        let call = Call::new(Method::PUT, base(container, blob), retry)
            .query("comp", "properties")
            .header("x-ms-blob-content-length", size.to_string())
            .header_if("if-match", if_match);
        let response = self.send(call).await?;
        wire::etag(response.headers())
    }

    async fn write_pages(
        &self,
        container: &str,
        blob: &str,
        offset: u64,
        data: Bytes,
    ) -> Result<(), StorageError> {
        if data.is_empty() {
            return Ok(());
        }
        let range = ByteRange {
            start: offset,
            end: offset + data.len() as u64 - 1,
        };
        let call = Call::new(Method::PUT, base(container, blob), Retry::Idempotent)
            .query("comp", "page")
            .header("x-ms-page-write", "update")
            .header("x-ms-range", byte_range(range))
            .body(data);
        self.send(call).await?;
        Ok(())
    }

    async fn clear_pages(
        &self,
        container: &str,
        blob: &str,
        range: ByteRange,
    ) -> Result<(), StorageError> {
        let call = Call::new(Method::PUT, base(container, blob), Retry::Idempotent)
            .query("comp", "page")
            .header("x-ms-page-write", "clear")
            .header("x-ms-range", byte_range(range));
        self.send(call).await?;
        Ok(())
    }

    async fn read_range(&self, at: BlobPath<'_>, range: ByteRange) -> Result<Bytes, StorageError> {
        let call = Call::new(Method::GET, Target::Blob(at), Retry::Idempotent)
            .header("x-ms-range", byte_range(range));
        let response = self.send(call).await?;
        response.bytes().await.map_err(|e| request::transport(&e))
    }

    async fn page_ranges(
        &self,
        at: BlobPath<'_>,
        window: ByteRange,
    ) -> Result<Vec<PageSpan>, StorageError> {
        self.written_ranges(at, window).await
    }

    async fn page_ranges_since(
        &self,
        at: BlobPath<'_>,
        previous: Timestamp,
        window: ByteRange,
    ) -> Result<PageDiff, StorageError> {
        self.diff(at, previous, window).await
    }

    async fn snapshot(
        &self,
        container: &str,
        blob: &str,
        metadata: Option<Metadata>,
    ) -> Result<Timestamp, StorageError> {
        let call = Call::new(Method::PUT, base(container, blob), Retry::Never)
            .query("comp", "snapshot")
            .metadata(metadata.as_deref().unwrap_or_default());
        let response = self.send(call).await?;
        wire::snapshot(response.headers())
    }

    async fn delete_blob(&self, at: BlobPath<'_>) -> Result<(), StorageError> {
        // A base blob goes with its snapshots (Azure refuses to delete it otherwise).
        let call = Call::new(Method::DELETE, Target::Blob(at), Retry::Never).header_if(
            "x-ms-delete-snapshots",
            at.snapshot.is_none().then_some("include"),
        );
        self.send(call).await?;
        Ok(())
    }

    async fn properties(&self, at: BlobPath<'_>) -> Result<BlobProperties, StorageError> {
        let call = Call::new(Method::HEAD, Target::Blob(at), Retry::Idempotent);
        let response = self.send(call).await?;
        let headers = response.headers();
        let kind = match wire::required(headers, "x-ms-blob-type")? {
            "PageBlob" => BlobKind::Page,
            "BlockBlob" => BlobKind::Block,
            other => {
                return Err(StorageError::Transport(format!(
                    "the blob is of a type the seam does not handle: {other}"
                )))
            }
        };
        Ok(BlobProperties {
            kind,
            size: wire::number(headers, "content-length")?,
            etag: wire::etag(headers)?,
            metadata: wire::metadata(headers),
        })
    }

    async fn set_metadata(
        &self,
        container: &str,
        blob: &str,
        metadata: Metadata,
    ) -> Result<(), StorageError> {
        let call = Call::new(Method::PUT, base(container, blob), Retry::Idempotent)
            .query("comp", "metadata")
            .metadata(&metadata);
        self.send(call).await?;
        Ok(())
    }

    async fn list_snapshots(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<Vec<SnapshotListing>, StorageError> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut call = Call::new(Method::GET, Target::Container(container), Retry::Idempotent)
                .query("restype", "container")
                .query("comp", "list")
                .query("include", "snapshots,metadata")
                .query("prefix", blob);
            if let Some(marker) = marker.take() {
                call = call.query("marker", marker);
            }
            let body = self.send_for_text(call).await?;
            let listing = wire::blob_listing(&body)?;
            for item in listing.blobs.items {
                if item.name != blob {
                    continue;
                }
                let Some(snapshot) = item.snapshot else {
                    continue;
                };
                let snapshot = Timestamp::parse_snapshot_id(&snapshot).ok_or_else(|| {
                    StorageError::Transport(format!(
                        "the listing has a snapshot id {snapshot:?} that does not parse"
                    ))
                })?;
                found.push(SnapshotListing {
                    snapshot,
                    metadata: item.metadata.0,
                });
            }
            match listing.next_marker.filter(|m| !m.is_empty()) {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        // Azure lists snapshots oldest first; Azurite newest first.
        found.sort_by_key(|listed| listed.snapshot);
        Ok(found)
    }

    async fn put_block_blob(
        &self,
        container: &str,
        blob: &str,
        content: Bytes,
    ) -> Result<String, StorageError> {
        let call = Call::new(Method::PUT, base(container, blob), Retry::Idempotent)
            .header("x-ms-blob-type", "BlockBlob")
            .body(content);
        let response = self.send(call).await?;
        wire::etag(response.headers())
    }

    async fn read_if_changed(
        &self,
        at: BlobPath<'_>,
        known_etag: Option<&str>,
        max_bytes: u64,
    ) -> Result<Option<BlobContent>, StorageError> {
        let ranged = || {
            Call::new(Method::GET, Target::Blob(at), Retry::Idempotent)
                .header("x-ms-range", format!("bytes=0-{max_bytes}"))
                .header_if("if-none-match", known_etag)
        };
        let response = match self.send(ranged()).await {
            // An empty blob has no byte 0 for a range to start at: its ETag comes from a HEAD.
            Err(StorageError::Remote { status: 416, .. }) => {
                let head = Call::new(Method::HEAD, Target::Blob(at), Retry::Idempotent)
                    .header_if("if-none-match", known_etag);
                let head = self.send(head).await?;
                if head.status() == StatusCode::NOT_MODIFIED {
                    return Ok(None);
                }
                if wire::number(head.headers(), "content-length")? == 0 {
                    return Ok(Some(BlobContent {
                        etag: wire::etag(head.headers())?,
                        content: Bytes::new(),
                    }));
                }
                // Written between the two calls.
                self.send(ranged()).await?
            }
            answer => answer?,
        };
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let etag = wire::etag(response.headers())?;
        let mut content = response.bytes().await.map_err(|e| request::transport(&e))?;
        content.truncate(usize::try_from(max_bytes.saturating_add(1)).unwrap_or(usize::MAX));
        Ok(Some(BlobContent { etag, content }))
    }

    fn watch_writes(&self, _prefix: &str) -> Option<UnboundedReceiver<BlobWrite>> {
        None
    }

    async fn account_time(&self) -> Result<DateTime<Utc>, StorageError> {
        // Get Account Information: the cheapest signed call; any answer carries a Date.
        let call = Call::new(Method::HEAD, Target::Account, Retry::Idempotent)
            .query("restype", "account")
            .query("comp", "properties");
        let response = self.exchange(&call).await?;
        wire::date(response.headers())
    }
}
