//! The storage seam: everything the control plane (resources, guest, backup engine) needs
//! from blob storage, as one trait. Two implementations: [`EmbeddedStorage`], the
//! in-process blob engine (with its write announcements), and [`RemoteStorage`], a Blob
//! REST client for any account a connection string names (a vaultsim blob node, Azurite,
//! Azure Storage).
//!
//! Nothing outside `blob/` and `startup` names the embedded engine: a control replica
//! that keeps its blobs in another process works unchanged.
//!
//! [`EmbeddedStorage`]: crate::storage::EmbeddedStorage
//! [`RemoteStorage`]: crate::storage::RemoteStorage

mod accounts;
mod embedded;
mod error;
mod remote;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use secrecy::SecretSlice;
use tokio::sync::mpsc::UnboundedReceiver;

/// A write to a watched container, announced by a store that can (the embedded one, whose
/// announcements are passed on as they are).
pub use crate::blob::engine::BlobWritten as BlobWrite;
pub use crate::blob::engine::{ByteRange, DiffSpan, PageSpan, Timestamp, PAGE_SIZE};
pub use accounts::{Placement, StorageAccounts};
#[cfg(test)]
pub use embedded::open_for_tests;
pub use embedded::EmbeddedStorage;
pub use error::StorageError;
pub use remote::{ConnectError, ConnectionString, ConnectionStringError, RemoteStorage};

/// Name/value pairs of blob metadata, in order.
pub type Metadata = Vec<(String, String)>;

/// A blob or one of its snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobPath<'a> {
    pub container: &'a str,
    pub blob: &'a str,
    pub snapshot: Option<Timestamp>,
}

impl<'a> BlobPath<'a> {
    /// The base blob (not a snapshot).
    pub fn base(container: &'a str, blob: &'a str) -> Self {
        Self {
            container,
            blob,
            snapshot: None,
        }
    }
}

/// What kind of blob a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    Page,
    Block,
}

/// A blob version's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobProperties {
    pub kind: BlobKind,
    /// Content length: a page blob's size.
    pub size: u64,
    /// The ETag as the service sends it (quoted where Azure quotes it).
    pub etag: String,
    pub metadata: Metadata,
}

/// A blob's content read whole (status and log blobs), with the ETag it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobContent {
    pub etag: String,
    pub content: Bytes,
}

/// One snapshot of a blob, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotListing {
    pub snapshot: Timestamp,
    pub metadata: Metadata,
}

/// The page-range diff of a blob version against an earlier snapshot of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageDiff {
    /// Written and cleared spans, in order.
    Spans(Vec<DiffSpan>),
    /// The account answers diffs with the whole written range list instead of a real
    /// diff (Azurite does): the caller compares pages.
    Unsupported,
}

/// The account a storage keeps its blobs in: what SAS URIs handed to VMs are built from.
#[derive(Clone)]
pub struct AccountAccess {
    pub name: String,
    /// The account's base URL as VMs reach it, e.g. `https://127.0.0.1:10443/devstoreaccount1`.
    pub endpoint: String,
    /// The decoded account key that signs SAS URIs.
    pub key: SecretSlice<u8>,
}

impl fmt::Debug for AccountAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountAccess")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Everything the control plane needs from blob storage.
///
/// Conditional writes take the ETag as [`BlobProperties::etag`] gave it. Errors that a
/// caller acts on (not found, already exists, condition not met, previous snapshot
/// gone) are [`StorageError`] variants of their own on every implementation.
#[async_trait]
pub trait BlobStorage: Send + Sync + fmt::Debug + 'static {
    /// The account, for SAS URIs and for naming where a disk lives.
    fn account(&self) -> &AccountAccess;

    /// Creates a container; `Ok(false)` when it already existed.
    async fn create_container(&self, name: &str) -> Result<bool, StorageError>;
    /// Deletes a container and every blob in it.
    async fn delete_container(&self, name: &str) -> Result<(), StorageError>;

    /// Creates (or replaces, unless `if_none_match_any`) a zeroed page blob of `size`
    /// bytes. Answers its ETag.
    async fn create_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
        metadata: Metadata,
        if_none_match_any: bool,
    ) -> Result<String, StorageError>;
    /// Resizes a page blob, only if its ETag is still `if_match` when given. Answers the
    /// new ETag.
    async fn resize_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
        if_match: Option<&str>,
    ) -> Result<String, StorageError>;
    /// Writes whole pages at byte `offset` (a multiple of 512; at most 4 MiB).
    async fn write_pages(
        &self,
        container: &str,
        blob: &str,
        offset: u64,
        data: Bytes,
    ) -> Result<(), StorageError>;
    /// Clears whole pages (they read as zeros and are no longer written ranges).
    async fn clear_pages(
        &self,
        container: &str,
        blob: &str,
        range: ByteRange,
    ) -> Result<(), StorageError>;
    /// Reads `range` of a blob version; holes read as zeros.
    async fn read_range(&self, at: BlobPath<'_>, range: ByteRange) -> Result<Bytes, StorageError>;
    /// The written page ranges of a page blob version within `window`.
    async fn page_ranges(
        &self,
        at: BlobPath<'_>,
        window: ByteRange,
    ) -> Result<Vec<PageSpan>, StorageError>;
    /// What changed in `at` since its earlier snapshot `previous`, within `window`.
    /// Fails with [`StorageError::PreviousSnapshotNotFound`] when `previous` is gone.
    async fn page_ranges_since(
        &self,
        at: BlobPath<'_>,
        previous: Timestamp,
        window: ByteRange,
    ) -> Result<PageDiff, StorageError>;
    /// Snapshots a blob. The snapshot carries `metadata` when given (as Snapshot Blob's
    /// `x-ms-meta-*` headers do), else inherits the blob's.
    async fn snapshot(
        &self,
        container: &str,
        blob: &str,
        metadata: Option<Metadata>,
    ) -> Result<Timestamp, StorageError>;
    /// Deletes a snapshot, or a base blob together with its snapshots.
    async fn delete_blob(&self, at: BlobPath<'_>) -> Result<(), StorageError>;
    /// A blob version's properties and metadata.
    async fn properties(&self, at: BlobPath<'_>) -> Result<BlobProperties, StorageError>;
    /// Replaces a blob's metadata.
    async fn set_metadata(
        &self,
        container: &str,
        blob: &str,
        metadata: Metadata,
    ) -> Result<(), StorageError>;
    /// The snapshots of one blob, oldest first.
    async fn list_snapshots(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<Vec<SnapshotListing>, StorageError>;

    /// Writes a block blob in one call. Answers its ETag.
    async fn put_block_blob(
        &self,
        container: &str,
        blob: &str,
        content: Bytes,
    ) -> Result<String, StorageError>;
    /// Reads a whole blob (status and log blobs) unless its ETag is still `known_etag`
    /// (`Ok(None)`: not modified). Reads at most `max_bytes`; a longer blob comes back
    /// cut at `max_bytes + 1` so the caller can tell.
    async fn read_if_changed(
        &self,
        at: BlobPath<'_>,
        known_etag: Option<&str>,
        max_bytes: u64,
    ) -> Result<Option<BlobContent>, StorageError>;

    /// Announcements of writes to containers whose names start with `prefix`, when this
    /// storage can make them (the embedded store). `None`: the caller polls.
    fn watch_writes(&self, prefix: &str) -> Option<UnboundedReceiver<BlobWrite>>;

    /// The account's own time, what it stamps snapshots and checks SAS windows by: the
    /// service clock for the embedded store and for a vaultsim blob node that follows the
    /// shared clock; real time for Azurite or Azure Storage (from their `Date` header).
    async fn account_time(&self) -> Result<DateTime<Utc>, StorageError>;
}

/// A shared handle to a storage.
pub type Storage = Arc<dyn BlobStorage>;
