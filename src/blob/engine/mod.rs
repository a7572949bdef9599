//! The blob storage engine: containers, block blobs and page blobs with copy-on-write
//! snapshots and page-range diffs, persisted in a journal plus data segments.
//!
//! It knows nothing of HTTP. Every change is validated under the store lock, written to
//! the journal, then applied in memory: the journal write is the commit point, so an
//! acknowledged change survives the process being killed, and nothing half-done is seen.

mod blobs;
mod block_blob;
mod checkpoint;
mod conditions;
mod containers;
mod gc;
mod journal;
mod listing;
mod model;
mod page_blob;
mod pagemap;
mod pins;
mod read;
mod record;
mod segments;
mod watch;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

pub use conditions::{Access, Conditions, SequenceConditions};
pub use journal::JournalError;
pub use model::{
    BlobBody, BlobProperties, BlobVersion, ContentProperties, ETag, Metadata, PublicAccess,
    SignedIdentifier, Timestamp,
};
pub use pagemap::{DiffSpan, PageSpan, PAGE_SIZE};
pub use read::{BlobRead, ByteRange};

use crate::clock::Clock;
use journal::Journal;
use model::Container;
use pagemap::MAX_PAGES;
use pins::ReadPins;
use record::{apply, count_blobs, Containers, Record, Stamp};
use segments::{Extent, Segments};
pub use watch::BlobWritten;
use watch::WriteWatchers;

/// Largest page blob Azure allows: 8 TiB.
pub const MAX_PAGE_BLOB_SIZE: u64 = MAX_PAGES * PAGE_SIZE;
/// Most uncommitted blocks a blob may have.
const MAX_UNCOMMITTED_BLOCKS: usize = 100_000;
/// Most blocks a committed block blob may have.
const MAX_COMMITTED_BLOCKS: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("The specified container does not exist.")]
    ContainerNotFound,
    #[error("The specified container already exists.")]
    ContainerAlreadyExists,
    #[error("The specified blob does not exist.")]
    BlobNotFound,
    #[error("The specified blob already exists.")]
    BlobAlreadyExists,
    #[error("The blob type is invalid for this operation.")]
    InvalidBlobType,
    #[error("This operation is not permitted because the blob has snapshots.")]
    SnapshotsPresent,
    #[error("The page range specified is invalid.")]
    InvalidPageRange,
    /// A page blob size that is not a multiple of 512 or exceeds 8 TiB.
    #[error("A page blob size must be a multiple of 512 and at most 8 TiB.")]
    InvalidBlobSize(u64),
    #[error("The condition specified using HTTP conditional header(s) is not met.")]
    ConditionNotMet,
    #[error("The resource has not been modified.")]
    NotModified,
    #[error("The sequence number condition specified was not met.")]
    SequenceNumberConditionNotMet,
    #[error("The previous snapshot is not found.")]
    PreviousSnapshotNotFound,
    #[error("The prevsnapshot query parameter value cannot be newer than snapshot query parameter value.")]
    PreviousSnapshotCannotBeNewer,
    #[error("The specified block list is invalid.")]
    InvalidBlockList,
    #[error("The specified blob or block content is invalid.")]
    InvalidBlobOrBlock,
    #[error("The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.")]
    BlockCountExceedsLimit,
    #[error("storage I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A container's properties as returned to clients.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub name: String,
    pub metadata: Metadata,
    pub modified: Timestamp,
    pub etag: ETag,
    pub public_access: Option<PublicAccess>,
    pub identifiers: Vec<SignedIdentifier>,
}

impl ContainerInfo {
    fn of(name: &str, c: &Container) -> Self {
        Self {
            name: name.to_owned(),
            metadata: c.metadata.clone(),
            modified: c.modified,
            etag: c.etag,
            public_access: c.public_access,
            identifiers: c.identifiers.clone(),
        }
    }
}

/// What a write acknowledges.
#[derive(Debug, Clone, Copy)]
pub struct WriteAck {
    pub etag: ETag,
    pub modified: Timestamp,
    pub sequence_number: Option<u64>,
}

impl WriteAck {
    fn of(version: &BlobVersion) -> Self {
        Self {
            etag: version.etag,
            modified: version.modified,
            sequence_number: match version.body {
                BlobBody::Page {
                    sequence_number, ..
                } => Some(sequence_number),
                BlobBody::Block { .. } => None,
            },
        }
    }
}

/// The name of one blob (base or snapshot) in a container.
#[derive(Debug, Clone, Copy)]
pub struct BlobAddress<'a> {
    pub container: &'a str,
    pub blob: &'a str,
    pub snapshot: Option<Timestamp>,
}

/// A new page blob.
#[derive(Debug, Clone)]
pub struct NewPageBlob {
    pub size: u64,
    pub sequence_number: u64,
    pub content: ContentProperties,
    pub metadata: Metadata,
}

/// How a Put Block List names a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockRef {
    Committed(String),
    Uncommitted(String),
    Latest(String),
}

/// Which blocks Get Block List returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockListType {
    Committed,
    Uncommitted,
    All,
}

/// Blocks of a block blob: id and size.
#[derive(Debug, Clone, Default)]
pub struct BlockList {
    pub committed: Vec<(String, u64)>,
    pub uncommitted: Vec<(String, u64)>,
}

/// Which page map Get Page Ranges reports.
#[derive(Debug, Clone)]
pub enum PageRangesReport {
    Ranges(Vec<PageSpan>),
    Diff(Vec<DiffSpan>),
}

#[derive(Debug, Clone)]
pub struct PageRanges {
    pub properties: BlobProperties,
    pub report: PageRangesReport,
}

/// A List Blobs request.
#[derive(Debug, Clone, Default)]
pub struct ListBlobsQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Continue after this item (from a previous page's `next_marker`).
    pub marker: Option<ListMarker>,
    pub max_results: usize,
    pub include_snapshots: bool,
}

/// Where a listing continues: a blob name, and a snapshot of it when paging stopped
/// inside its snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMarker {
    pub name: String,
    pub snapshot: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub enum ListItem {
    Blob {
        name: String,
        snapshot: Option<Timestamp>,
        properties: Box<BlobProperties>,
    },
    Prefix(String),
}

#[derive(Debug, Clone)]
pub struct ListBlobsPage {
    pub items: Vec<ListItem>,
    pub next_marker: Option<ListMarker>,
}

/// Data written to segments but not yet committed by a journal record. While it is alive
/// the collector treats its extent as live.
#[derive(Debug)]
pub struct Upload {
    extent: Extent,
    written: u64,
    segments: Arc<Segments>,
    inflight: Arc<Inflight>,
    id: u64,
}

#[derive(Debug, Default)]
struct Inflight {
    next_id: AtomicU64,
    extents: Mutex<HashMap<u64, Extent>>,
}

impl Upload {
    /// Appends the next bytes of the upload (blocking file I/O).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = bytes.len() as u64;
        if self.written + len > self.extent.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more data than announced",
            ));
        }
        let at = pagemap::DataLocation {
            segment: self.extent.at.segment,
            offset: self.extent.at.offset + self.written,
        };
        self.segments.write_at(at, bytes)?;
        self.written += len;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn is_complete(&self) -> bool {
        self.written == self.extent.len
    }

    pub fn reserved(&self) -> u64 {
        self.extent.len
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.inflight.extents.lock().remove(&self.id);
    }
}

#[derive(Debug)]
struct State {
    containers: Containers,
    journal: Journal,
    /// The journal's generation: the newest checkpoint is at most this one.
    generation: u64,
    /// The last stamp handed out; stamps and snapshot ids strictly increase.
    last_stamp: i64,
    /// Journal size that calls for a checkpoint.
    checkpoint_after: u64,
    checkpoint_due: Arc<Notify>,
    /// Base blobs in `containers`, kept as records apply so that reading it is O(1).
    blobs: u64,
}

#[derive(Debug)]
pub struct BlobStore {
    dir: PathBuf,
    state: Mutex<State>,
    segments: Arc<Segments>,
    inflight: Arc<Inflight>,
    pins: Arc<ReadPins>,
    clock: Clock,
    /// Signalled when something may have become garbage.
    garbage: Notify,
    checkpoint_due: Arc<Notify>,
    /// One checkpoint at a time.
    checkpointing: tokio::sync::Mutex<()>,
    /// Live bytes per sealed segment at the last collection, to skip unchanged ones.
    collected: Mutex<HashMap<u32, u64>>,
    watchers: WriteWatchers,
}

/// Tuning of the store.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Take a checkpoint once the journal has grown by this many bytes.
    pub checkpoint_after: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            checkpoint_after: 64 << 20,
        }
    }
}

/// How big the store is (see [`BlobStore::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreUsage {
    pub blobs: u64,
    pub bytes: u64,
}

/// What opening the store found, for the start-up log.
#[derive(Debug, Clone, Copy)]
pub struct OpenReport {
    pub checkpoint_generation: Option<u64>,
    pub records: u64,
    pub discarded_bytes: u64,
    pub containers: usize,
}

impl BlobStore {
    /// Opens the store in `dir` (created if missing): loads the newest whole checkpoint and
    /// replays the journals written since.
    pub fn open(
        dir: &Path,
        clock: Clock,
        options: StoreOptions,
    ) -> Result<(Self, OpenReport), StoreError> {
        std::fs::create_dir_all(dir)?;
        let segments = Arc::new(Segments::open(&dir.join("segments"))?);
        let (checkpoints, journals) = checkpoint::generations(dir)?;
        let restored = checkpoints
            .iter()
            .rev()
            .find_map(|&g| checkpoint::read(dir, g).map(|(c, stamp)| (g, c, stamp)));
        if restored.is_none() && !checkpoints.is_empty() {
            return Err(damaged("no checkpoint is readable"));
        }
        let checkpoint_generation = restored.as_ref().map(|(g, _, _)| *g);
        let (base, mut containers, mut last_stamp) = restored.unwrap_or((0, Containers::new(), 0));
        let replay: Vec<u64> = journals.into_iter().filter(|&g| g >= base).collect();
        if replay
            .iter()
            .enumerate()
            .any(|(i, &g)| g != base + i as u64)
        {
            return Err(damaged("a journal generation is missing"));
        }
        let mut records = 0;
        let mut discarded_bytes = 0;
        let mut active = None;
        for &generation in replay.iter().chain((replay.is_empty()).then_some(&base)) {
            let (journal, stats) = Journal::open(
                &checkpoint::journal_path(dir, generation),
                |record: Record| {
                    last_stamp = last_stamp.max(record_time(&record));
                    apply(&mut containers, record);
                },
            )?;
            records += stats.records;
            discarded_bytes += stats.discarded_bytes;
            active = Some((generation, journal));
        }
        let (generation, journal) = active.expect("at least one journal is opened");
        checkpoint::remove_generations_before(dir, base);
        let report = OpenReport {
            checkpoint_generation,
            records,
            discarded_bytes,
            containers: containers.len(),
        };
        let checkpoint_due = Arc::new(Notify::new());
        let store = Self {
            dir: dir.to_owned(),
            state: Mutex::new(State {
                blobs: count_blobs(&containers),
                containers,
                journal,
                generation,
                last_stamp,
                checkpoint_after: options.checkpoint_after,
                checkpoint_due: checkpoint_due.clone(),
            }),
            segments,
            inflight: Arc::default(),
            pins: Arc::default(),
            clock,
            garbage: Notify::new(),
            checkpoint_due,
            checkpointing: tokio::sync::Mutex::new(()),
            collected: Mutex::default(),
            watchers: WriteWatchers::default(),
        };
        // Whatever a crash left unreferenced is garbage now.
        store.garbage.notify_one();
        Ok((store, report))
    }

    /// Runs the background upkeep forever: reclaiming space and taking checkpoints.
    pub async fn run_maintenance(self: Arc<Self>) {
        let checkpoints = async {
            loop {
                self.checkpoint_due.notified().await;
                if let Err(error) = self.checkpoint().await {
                    tracing::warn!(%error, "blob store checkpoint failed; the journal keeps growing");
                }
            }
        };
        tokio::join!(self.run_collector(), checkpoints);
    }

    /// Writes a checkpoint of the whole state and drops the journals it covers.
    pub async fn checkpoint(&self) -> Result<u64, StoreError> {
        let _one_at_a_time = self.checkpointing.lock().await;
        let (containers, last_stamp, generation) = self.switch_journal()?;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            checkpoint::write(&dir, generation, &containers, last_stamp)?;
            checkpoint::remove_generations_before(&dir, generation);
            Ok::<_, io::Error>(())
        })
        .await
        .map_err(io::Error::other)??;
        tracing::debug!(generation, "blob store checkpoint written");
        Ok(generation)
    }

    /// The first half of a checkpoint: appends go to a new journal from here on, and the
    /// state they start from is returned (an O(blobs) clone; page maps are shared).
    fn switch_journal(&self) -> Result<(Containers, i64, u64), StoreError> {
        let mut state = self.state.lock();
        let generation = state.generation + 1;
        let (journal, _) =
            Journal::open::<Record>(&checkpoint::journal_path(&self.dir, generation), |_| {})?;
        state.journal = journal;
        state.generation = generation;
        Ok((state.containers.clone(), state.last_stamp, generation))
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How big the store is: its base blobs (O(1), kept as changes commit) and the space
    /// its data segments take on disk (one `stat` per segment, holes punched by the
    /// collector not counted; data not yet collected is).
    pub fn usage(&self) -> Result<StoreUsage, StoreError> {
        let blobs = self.state.lock().blobs;
        let bytes = self.segments.allocated_bytes()?;
        Ok(StoreUsage { blobs, bytes })
    }

    /// Reserves space for `len` bytes of upload data.
    pub fn begin_upload(&self, len: u64) -> Upload {
        let extent = self.segments.reserve(len);
        let id = self.inflight.next_id.fetch_add(1, Ordering::Relaxed);
        self.inflight.extents.lock().insert(id, extent);
        Upload {
            extent,
            written: 0,
            segments: self.segments.clone(),
            inflight: self.inflight.clone(),
            id,
        }
    }

    /// A fresh stamp: now, or just after the previous one, so that snapshot ids and ETags
    /// strictly increase even within one clock tick.
    fn stamp(&self, state: &mut State) -> Stamp {
        let now = Timestamp::from_datetime(self.clock.now()).0;
        state.last_stamp = now.max(state.last_stamp + 1);
        Stamp {
            at: Timestamp(state.last_stamp),
            etag: ETag(state.last_stamp as u64),
        }
    }
}

/// `x-ms-sequence-number-action`.
#[derive(Debug, Clone, Copy)]
pub enum SequenceNumberAction {
    Max(u64),
    Update(u64),
    Increment,
}

impl State {
    /// The acknowledgement of a base blob's current version (after a commit).
    fn ack(&self, container: &str, blob: &str) -> WriteAck {
        WriteAck::of(&self.containers[container].blobs[blob].current)
    }

    /// Checks the conditions of a create that may replace an existing base blob.
    fn check_replace(
        &self,
        container: &str,
        blob: &str,
        conditions: &Conditions,
    ) -> Result<(), StoreError> {
        let existing = self
            .container(container)?
            .blobs
            .get(blob)
            .map(|e| &e.current);
        conditions.check(existing.map(|v| (v.etag, v.modified)), Access::Write)
    }

    fn commit(&mut self, record: Record) -> Result<(), StoreError> {
        self.journal.append(&record)?;
        let kind = record.kind();
        self.blobs = self
            .blobs
            .saturating_add_signed(record.blob_count_change(&self.containers));
        apply(&mut self.containers, record);
        metrics::counter!("vaultsim_blob_store_operations_total", "operation" => kind).increment(1);
        if self.journal.bytes_written() >= self.checkpoint_after {
            self.checkpoint_due.notify_one();
        }
        Ok(())
    }

    fn container(&self, name: &str) -> Result<&Container, StoreError> {
        self.containers
            .get(name)
            .ok_or(StoreError::ContainerNotFound)
    }

    fn version(&self, at: BlobAddress<'_>) -> Result<&BlobVersion, StoreError> {
        let entry = self
            .container(at.container)?
            .blobs
            .get(at.blob)
            .ok_or(StoreError::BlobNotFound)?;
        match at.snapshot {
            None => Ok(&entry.current),
            Some(s) => entry
                .snapshots
                .get(&s)
                .map(|v| &**v)
                .ok_or(StoreError::BlobNotFound),
        }
    }
}

fn damaged(why: &str) -> StoreError {
    StoreError::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the blob store metadata is damaged: {why}"),
    ))
}

/// The time a record carries, so that stamps after a restart keep increasing.
fn record_time(record: &Record) -> i64 {
    match record {
        Record::CreateContainer { stamp, .. }
        | Record::SetContainerMetadata { stamp, .. }
        | Record::SetContainerAcl { stamp, .. }
        | Record::PutBlockBlob { stamp, .. }
        | Record::CreatePageBlob { stamp, .. }
        | Record::WritePages { stamp, .. }
        | Record::SetBlobProperties { stamp, .. }
        | Record::SetBlobMetadata { stamp, .. }
        | Record::ResizePageBlob { stamp, .. }
        | Record::SetSequenceNumber { stamp, .. } => stamp.at.0,
        Record::Snapshot { snapshot, .. } => snapshot.0,
        Record::DeleteContainer { .. } | Record::StageBlock { .. } | Record::DeleteBlob { .. } => 0,
    }
}

#[cfg(test)]
mod tests;
