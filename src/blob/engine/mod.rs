//! The blob storage engine: containers, block blobs and page blobs with copy-on-write
//! snapshots and page-range diffs, persisted in a journal plus data segments.
//!
//! It knows nothing of HTTP. Every change is validated under the store lock, written to
//! the journal, then applied in memory: the journal write is the commit point, so an
//! acknowledged change survives the process being killed, and nothing half-done is seen.

mod checkpoint;
mod conditions;
mod gc;
mod journal;
mod model;
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
use model::{CommittedBlock, Container};
use pagemap::{PageMap, MAX_PAGES};
use pins::ReadPins;
use record::{apply, Containers, DeleteTarget, Record, Stamp};
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

    // ---- containers ----

    pub fn create_container(
        &self,
        name: &str,
        metadata: Metadata,
        public_access: Option<PublicAccess>,
    ) -> Result<ContainerInfo, StoreError> {
        let mut state = self.state.lock();
        if state.containers.contains_key(name) {
            return Err(StoreError::ContainerAlreadyExists);
        }
        let stamp = self.stamp(&mut state);
        state.commit(Record::CreateContainer {
            name: name.to_owned(),
            metadata,
            public_access,
            stamp,
        })?;
        Ok(ContainerInfo::of(name, &state.containers[name]))
    }

    pub fn delete_container(&self, name: &str, conditions: &Conditions) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let c = state.container(name)?;
        conditions.check(Some((c.etag, c.modified)), Access::Write)?;
        state.commit(Record::DeleteContainer {
            name: name.to_owned(),
        })?;
        self.garbage.notify_one();
        Ok(())
    }

    pub fn container(&self, name: &str) -> Result<ContainerInfo, StoreError> {
        let state = self.state.lock();
        Ok(ContainerInfo::of(name, state.container(name)?))
    }

    pub fn set_container_metadata(
        &self,
        name: &str,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<ContainerInfo, StoreError> {
        let mut state = self.state.lock();
        let c = state.container(name)?;
        conditions.check(Some((c.etag, c.modified)), Access::Write)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::SetContainerMetadata {
            name: name.to_owned(),
            metadata,
            stamp,
        })?;
        Ok(ContainerInfo::of(name, &state.containers[name]))
    }

    pub fn set_container_acl(
        &self,
        name: &str,
        public_access: Option<PublicAccess>,
        identifiers: Vec<SignedIdentifier>,
        conditions: &Conditions,
    ) -> Result<ContainerInfo, StoreError> {
        let mut state = self.state.lock();
        let c = state.container(name)?;
        conditions.check(Some((c.etag, c.modified)), Access::Write)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::SetContainerAcl {
            name: name.to_owned(),
            public_access,
            identifiers,
            stamp,
        })?;
        Ok(ContainerInfo::of(name, &state.containers[name]))
    }

    /// Containers whose name starts with `prefix`, after `marker`, at most `max`.
    pub fn list_containers(
        &self,
        prefix: &str,
        marker: Option<&str>,
        max: usize,
    ) -> (Vec<ContainerInfo>, Option<String>) {
        let state = self.state.lock();
        let mut names = state
            .containers
            .range::<str, _>((
                marker.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Included),
                std::ops::Bound::Unbounded,
            ))
            .filter(|(name, _)| name.starts_with(prefix));
        let page: Vec<ContainerInfo> = names
            .by_ref()
            .take(max)
            .map(|(name, c)| ContainerInfo::of(name, c))
            .collect();
        let next = names.next().map(|(name, _)| name.clone());
        (page, next)
    }

    // ---- blobs: listing and reading ----

    pub fn blob_exists(&self, container: &str, blob: &str) -> bool {
        let state = self.state.lock();
        state
            .containers
            .get(container)
            .is_some_and(|c| c.blobs.contains_key(blob))
    }

    pub fn list_blobs(
        &self,
        container: &str,
        query: &ListBlobsQuery,
    ) -> Result<ListBlobsPage, StoreError> {
        let state = self.state.lock();
        let c = state.container(container)?;
        let start = query
            .marker
            .as_ref()
            .map_or(query.prefix.as_str(), |m| m.name.as_str());
        let mut items = Vec::new();
        let mut last_prefix: Option<String> = None;
        let max = query.max_results.max(1);
        for (name, entry) in c
            .blobs
            .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
        {
            if !name.starts_with(&query.prefix) {
                break;
            }
            if let Some(delimiter) = query.delimiter.as_deref().filter(|d| !d.is_empty()) {
                let rest = &name[query.prefix.len()..];
                if let Some(cut) = rest.find(delimiter) {
                    let prefix = format!("{}{}", query.prefix, &rest[..cut + delimiter.len()]);
                    // A page never ends inside a group: a marker names the first blob of
                    // the next item, so a group met here has not been listed yet.
                    if last_prefix.as_deref() != Some(prefix.as_str()) {
                        if items.len() == max {
                            return Ok(ListBlobsPage {
                                items,
                                next_marker: Some(ListMarker {
                                    name: name.clone(),
                                    snapshot: None,
                                }),
                            });
                        }
                        items.push(ListItem::Prefix(prefix.clone()));
                        last_prefix = Some(prefix);
                    }
                    continue;
                }
            }
            // Snapshots first, oldest to newest, then the base blob.
            let snapshots = query
                .include_snapshots
                .then_some(&entry.snapshots)
                .into_iter()
                .flatten()
                .map(|(at, v)| (Some(*at), v));
            for (snapshot, version) in snapshots.chain([(None, &entry.current)]) {
                if let Some(m) = &query.marker {
                    if m.name == *name && !marker_reached(m.snapshot, snapshot) {
                        continue;
                    }
                }
                if items.len() == max {
                    return Ok(ListBlobsPage {
                        items,
                        next_marker: Some(ListMarker {
                            name: name.clone(),
                            snapshot,
                        }),
                    });
                }
                items.push(ListItem::Blob {
                    name: name.clone(),
                    snapshot,
                    properties: Box::new(version.properties()),
                });
            }
        }
        Ok(ListBlobsPage {
            items,
            next_marker: None,
        })
    }

    /// A blob version and a pin that keeps its data readable while it is streamed.
    pub fn read_blob(
        &self,
        at: BlobAddress<'_>,
        conditions: &Conditions,
    ) -> Result<BlobRead, StoreError> {
        let pin = self.pins.pin();
        let state = self.state.lock();
        let version = state.version(at)?;
        conditions.check(Some((version.etag, version.modified)), Access::Read)?;
        Ok(BlobRead::new(version.clone(), self.segments.clone(), pin))
    }

    pub fn block_list(
        &self,
        at: BlobAddress<'_>,
        which: BlockListType,
    ) -> Result<(Option<BlobVersion>, BlockList), StoreError> {
        let state = self.state.lock();
        let c = state.container(at.container)?;
        let version = state.version(at).ok();
        let staged = c.staged.get(at.blob);
        if version.is_none() && staged.is_none() {
            return Err(StoreError::BlobNotFound);
        }
        let mut list = BlockList::default();
        if which != BlockListType::Uncommitted {
            match version.map(|v| &v.body) {
                Some(BlobBody::Block { blocks }) => {
                    list.committed = blocks
                        .iter()
                        .map(|b| (b.id.clone(), b.extent.len))
                        .collect()
                }
                Some(BlobBody::Page { .. }) => return Err(StoreError::InvalidBlobType),
                None => {}
            }
        }
        if which != BlockListType::Committed && at.snapshot.is_none() {
            let mut uncommitted: Vec<(String, u64)> = staged
                .into_iter()
                .flatten()
                .map(|(id, e)| (id.clone(), e.len))
                .collect();
            uncommitted.sort();
            list.uncommitted = uncommitted;
        }
        Ok((version.cloned(), list))
    }

    /// Get Page Ranges, or the diff against `previous`. Only cloning the page maps (O(1))
    /// happens under the store lock; walking them does not hold up other requests.
    pub fn page_ranges(
        &self,
        at: BlobAddress<'_>,
        previous: Option<Timestamp>,
        window: Option<ByteRange>,
        conditions: &Conditions,
    ) -> Result<PageRanges, StoreError> {
        let (size, pages, properties, older) = {
            let state = self.state.lock();
            let version = state.version(at)?;
            conditions.check(Some((version.etag, version.modified)), Access::Read)?;
            let (size, pages) = page_map(version)?;
            let older = match previous {
                None => None,
                Some(prev) => {
                    if at.snapshot.is_some_and(|s| prev > s) {
                        return Err(StoreError::PreviousSnapshotCannotBeNewer);
                    }
                    let older = state
                        .version(BlobAddress {
                            snapshot: Some(prev),
                            ..at
                        })
                        .map_err(|_| StoreError::PreviousSnapshotNotFound)?;
                    Some(page_map(older)?.1)
                }
            };
            (size, pages, version.properties(), older)
        };
        let (first, count) = match window {
            Some(w) => page_window(w, size)?,
            None => (0, size / PAGE_SIZE),
        };
        let report = match older {
            None => PageRangesReport::Ranges(pages.ranges(first, count)),
            Some(older) => PageRangesReport::Diff(pages.diff(&older, first, count)),
        };
        Ok(PageRanges { properties, report })
    }

    // ---- blobs: writing ----

    /// Put Blob for a block blob: `upload` holds the whole content, already written.
    pub fn put_block_blob(
        &self,
        container: &str,
        blob: &str,
        upload: Upload,
        content: ContentProperties,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        let blocks = if upload.reserved() == 0 {
            Vec::new()
        } else {
            vec![CommittedBlock {
                id: String::new(),
                extent: upload.extent,
            }]
        };
        self.commit_block_blob(container, blob, blocks, content, metadata, conditions)
    }

    pub fn stage_block(
        &self,
        container: &str,
        blob: &str,
        block_id: &str,
        upload: Upload,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let c = state.container(container)?;
        if let Some(v) = c.blobs.get(blob) {
            if !matches!(v.current.body, BlobBody::Block { .. }) {
                return Err(StoreError::InvalidBlobType);
            }
        }
        if let Some(staged) = c.staged.get(blob) {
            if staged.len() >= MAX_UNCOMMITTED_BLOCKS && !staged.contains_key(block_id) {
                return Err(StoreError::BlockCountExceedsLimit);
            }
            // Azure requires every block id of a blob to have the same length.
            if staged
                .keys()
                .next()
                .is_some_and(|id| id.len() != block_id.len())
            {
                return Err(StoreError::InvalidBlobOrBlock);
            }
        }
        state.commit(Record::StageBlock {
            container: container.to_owned(),
            blob: blob.to_owned(),
            block_id: block_id.to_owned(),
            extent: upload.extent,
        })?;
        self.garbage.notify_one();
        Ok(())
    }

    pub fn put_block_list(
        &self,
        container: &str,
        blob: &str,
        list: &[BlockRef],
        content: ContentProperties,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        let blocks = {
            let state = self.state.lock();
            let c = state.container(container)?;
            let committed: HashMap<&str, Extent> = match c.blobs.get(blob).map(|e| &e.current.body)
            {
                Some(BlobBody::Block { blocks }) => {
                    blocks.iter().map(|b| (b.id.as_str(), b.extent)).collect()
                }
                Some(BlobBody::Page { .. }) => return Err(StoreError::InvalidBlobType),
                None => HashMap::new(),
            };
            let staged = c.staged.get(blob);
            let uncommitted = |id: &str| staged.and_then(|s| s.get(id)).copied();
            if list.len() > MAX_COMMITTED_BLOCKS {
                return Err(StoreError::InvalidBlockList);
            }
            list.iter()
                .map(|r| {
                    let (id, extent) = match r {
                        BlockRef::Committed(id) => (id, committed.get(id.as_str()).copied()),
                        BlockRef::Uncommitted(id) => (id, uncommitted(id)),
                        BlockRef::Latest(id) => (
                            id,
                            uncommitted(id).or_else(|| committed.get(id.as_str()).copied()),
                        ),
                    };
                    extent
                        .map(|extent| CommittedBlock {
                            id: id.clone(),
                            extent,
                        })
                        .ok_or(StoreError::InvalidBlockList)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        self.commit_block_blob(container, blob, blocks, content, metadata, conditions)
    }

    fn commit_block_blob(
        &self,
        container: &str,
        blob: &str,
        blocks: Vec<CommittedBlock>,
        content: ContentProperties,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        let mut state = self.state.lock();
        state.check_replace(container, blob, conditions)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::PutBlockBlob {
            container: container.to_owned(),
            blob: blob.to_owned(),
            blocks,
            content,
            metadata,
            stamp,
        })?;
        self.garbage.notify_one();
        let ack = state.ack(container, blob);
        drop(state);
        self.watchers.announce(container, blob, ack.etag);
        Ok(ack)
    }

    pub fn create_page_blob(
        &self,
        container: &str,
        blob: &str,
        new: NewPageBlob,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        if new.size % PAGE_SIZE != 0 || new.size > MAX_PAGE_BLOB_SIZE {
            return Err(StoreError::InvalidBlobSize(new.size));
        }
        let mut state = self.state.lock();
        state.check_replace(container, blob, conditions)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::CreatePageBlob {
            container: container.to_owned(),
            blob: blob.to_owned(),
            size: new.size,
            sequence_number: new.sequence_number,
            content: new.content,
            metadata: new.metadata,
            stamp,
        })?;
        self.garbage.notify_one();
        Ok(state.ack(container, blob))
    }

    /// Whether a Put Page of `range` would be accepted now; asked before the body is
    /// received, so that a refused write costs no I/O.
    pub fn check_page_write(
        &self,
        container: &str,
        blob: &str,
        range: ByteRange,
        conditions: &Conditions,
        sequence: SequenceConditions,
    ) -> Result<(), StoreError> {
        let state = self.state.lock();
        check_page_write(
            &state,
            container,
            blob,
            page_span(range)?,
            conditions,
            sequence,
        )
    }

    /// Put Page: maps the pages of `range` to `data` (an upload of exactly that many
    /// bytes), or clears them when `data` is `None`. Checked again at commit, since the
    /// blob may have changed while the data was written.
    pub fn write_pages(
        &self,
        container: &str,
        blob: &str,
        range: ByteRange,
        data: Option<Upload>,
        conditions: &Conditions,
        sequence: SequenceConditions,
    ) -> Result<WriteAck, StoreError> {
        let span = page_span(range)?;
        if data
            .as_ref()
            .is_some_and(|u| !u.is_complete() || u.reserved() != span.count * PAGE_SIZE)
        {
            return Err(StoreError::InvalidPageRange);
        }
        let mut state = self.state.lock();
        check_page_write(&state, container, blob, span, conditions, sequence)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::WritePages {
            container: container.to_owned(),
            blob: blob.to_owned(),
            first_page: span.first,
            pages: span.count,
            data: data.as_ref().map(|u| u.extent.at),
            stamp,
        })?;
        self.garbage.notify_one();
        let ack = state.ack(container, blob);
        drop(state);
        self.watchers.announce(container, blob, ack.etag);
        Ok(ack)
    }

    /// Hears of every later write to a blob in a container whose name starts with
    /// `container_prefix` (after the write is committed).
    pub fn watch_writes(
        &self,
        container_prefix: &str,
    ) -> tokio::sync::mpsc::UnboundedReceiver<BlobWritten> {
        self.watchers.subscribe(container_prefix)
    }

    pub fn snapshot(
        &self,
        container: &str,
        blob: &str,
        metadata: Option<Metadata>,
        conditions: &Conditions,
    ) -> Result<(Timestamp, WriteAck), StoreError> {
        let mut state = self.state.lock();
        let version = state.version(BlobAddress {
            container,
            blob,
            snapshot: None,
        })?;
        conditions.check(Some((version.etag, version.modified)), Access::Write)?;
        let ack = WriteAck::of(version);
        let snapshot = self.stamp(&mut state).at;
        state.commit(Record::Snapshot {
            container: container.to_owned(),
            blob: blob.to_owned(),
            snapshot,
            metadata,
        })?;
        Ok((snapshot, ack))
    }

    /// Delete Blob. `snapshots` is `x-ms-delete-snapshots`: `Some(true)` = include,
    /// `Some(false)` = only.
    pub fn delete_blob(
        &self,
        at: BlobAddress<'_>,
        snapshots: Option<bool>,
        conditions: &Conditions,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let version = state.version(at)?;
        conditions.check(Some((version.etag, version.modified)), Access::Write)?;
        let has_snapshots = !state.containers[at.container].blobs[at.blob]
            .snapshots
            .is_empty();
        let target = match (at.snapshot, snapshots) {
            (Some(snapshot), _) => DeleteTarget::Snapshot(snapshot),
            (None, Some(true)) => DeleteTarget::BlobAndSnapshots,
            (None, Some(false)) => DeleteTarget::SnapshotsOnly,
            (None, None) if has_snapshots => return Err(StoreError::SnapshotsPresent),
            (None, None) => DeleteTarget::BlobAndSnapshots,
        };
        state.commit(Record::DeleteBlob {
            container: at.container.to_owned(),
            blob: at.blob.to_owned(),
            target,
        })?;
        self.garbage.notify_one();
        Ok(())
    }

    pub fn set_blob_content_properties(
        &self,
        container: &str,
        blob: &str,
        content: ContentProperties,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        self.update_blob(container, blob, conditions, |_, stamp| {
            Ok(Record::SetBlobProperties {
                container: container.to_owned(),
                blob: blob.to_owned(),
                content,
                stamp,
            })
        })
    }

    pub fn set_blob_metadata(
        &self,
        container: &str,
        blob: &str,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        self.update_blob(container, blob, conditions, |_, stamp| {
            Ok(Record::SetBlobMetadata {
                container: container.to_owned(),
                blob: blob.to_owned(),
                metadata,
                stamp,
            })
        })
    }

    pub fn resize_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        if size % PAGE_SIZE != 0 || size > MAX_PAGE_BLOB_SIZE {
            return Err(StoreError::InvalidBlobSize(size));
        }
        let ack = self.update_blob(
            container,
            blob,
            conditions,
            |version, stamp| match version.body {
                BlobBody::Page { .. } => Ok(Record::ResizePageBlob {
                    container: container.to_owned(),
                    blob: blob.to_owned(),
                    size,
                    stamp,
                }),
                BlobBody::Block { .. } => Err(StoreError::InvalidBlobType),
            },
        )?;
        self.garbage.notify_one();
        Ok(ack)
    }

    pub fn set_sequence_number(
        &self,
        container: &str,
        blob: &str,
        action: SequenceNumberAction,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        self.update_blob(container, blob, conditions, |version, stamp| {
            let BlobBody::Page {
                sequence_number, ..
            } = version.body
            else {
                return Err(StoreError::InvalidBlobType);
            };
            Ok(Record::SetSequenceNumber {
                container: container.to_owned(),
                blob: blob.to_owned(),
                sequence_number: action.apply(sequence_number),
                stamp,
            })
        })
    }

    /// Shared shape of the single-record updates of a base blob.
    fn update_blob(
        &self,
        container: &str,
        blob: &str,
        conditions: &Conditions,
        record: impl FnOnce(&BlobVersion, Stamp) -> Result<Record, StoreError>,
    ) -> Result<WriteAck, StoreError> {
        let mut state = self.state.lock();
        let at = BlobAddress {
            container,
            blob,
            snapshot: None,
        };
        let version = state.version(at)?;
        conditions.check(Some((version.etag, version.modified)), Access::Write)?;
        let version = version.clone();
        let stamp = self.stamp(&mut state);
        state.commit(record(&version, stamp)?)?;
        Ok(state.ack(container, blob))
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

impl SequenceNumberAction {
    fn apply(self, current: u64) -> u64 {
        match self {
            SequenceNumberAction::Max(n) => current.max(n),
            SequenceNumberAction::Update(n) => n,
            SequenceNumberAction::Increment => current.saturating_add(1),
        }
    }
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
        apply(&mut self.containers, record);
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
            Some(s) => entry.snapshots.get(&s).ok_or(StoreError::BlobNotFound),
        }
    }
}

/// A page blob version's size and page map (an O(1) clone).
fn page_map(version: &BlobVersion) -> Result<(u64, PageMap), StoreError> {
    match &version.body {
        BlobBody::Page { size, pages, .. } => Ok((*size, pages.clone())),
        BlobBody::Block { .. } => Err(StoreError::InvalidBlobType),
    }
}

fn check_page_write(
    state: &State,
    container: &str,
    blob: &str,
    span: PageSpan,
    conditions: &Conditions,
    sequence: SequenceConditions,
) -> Result<(), StoreError> {
    let version = state.version(BlobAddress {
        container,
        blob,
        snapshot: None,
    })?;
    let BlobBody::Page {
        size,
        sequence_number,
        ..
    } = &version.body
    else {
        return Err(StoreError::InvalidBlobType);
    };
    conditions.check(Some((version.etag, version.modified)), Access::Write)?;
    sequence.check(*sequence_number)?;
    if span.end() * PAGE_SIZE > *size {
        return Err(StoreError::InvalidPageRange);
    }
    Ok(())
}

/// Whether a listing that stopped at `marker` (a snapshot of a blob, or its base) has
/// reached `item` of the same blob. Snapshots come first, base last.
fn marker_reached(marker: Option<Timestamp>, item: Option<Timestamp>) -> bool {
    match (marker, item) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(_), None) => true,
        (Some(m), Some(i)) => i >= m,
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

/// The pages of a Put Page range: 512-aligned start, inclusive end one before a page
/// boundary, at most 4 MiB.
fn page_span(range: ByteRange) -> Result<PageSpan, StoreError> {
    if range.start % PAGE_SIZE != 0 || (range.end + 1) % PAGE_SIZE != 0 || range.end < range.start {
        return Err(StoreError::InvalidPageRange);
    }
    Ok(PageSpan {
        first: range.start / PAGE_SIZE,
        count: (range.end + 1 - range.start) / PAGE_SIZE,
    })
}

/// The pages a Get Page Ranges `x-ms-range` asks about, within the blob.
fn page_window(range: ByteRange, size: u64) -> Result<(u64, u64), StoreError> {
    let span = page_span(range)?;
    let end = span.end().min(size / PAGE_SIZE);
    Ok((span.first, end.saturating_sub(span.first)))
}

#[cfg(test)]
mod tests;
