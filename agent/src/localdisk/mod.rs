//! Local-disk VMs: a disk that is a local image file (often an ext4 image on a loop device),
//! mirrored to its page blob so that a snapshot of the blob is the disk.
//!
//! The mirror keeps a shadow of what the blob holds (an XXH3-128 hash per 64 KiB block, or
//! "zero", or "unknown"). `LocalDisk::sync` reads only the parts of the image that may hold
//! data (SEEK_DATA/SEEK_HOLE), hashes them on every core, and uploads only the blocks that
//! differ from the shadow, several requests in flight while the scan goes on. A backup syncs
//! once before the freeze (the bulk) and once while frozen (only the last delta), then
//! snapshots the blob.

mod loopdev;
mod scan;
mod shadow;
mod target;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use vaultsim_protocol::page_blob::PAGE_SIZE;

pub use loopdev::{loop_mount_of, own_mount_of, LoopMount, NotMounted};
pub use target::PageBlobTarget;

use scan::{PageWrite, BLOCK_SIZE};
use shadow::{BlockState, ShadowFile};

/// Put Page requests in flight at once: enough to keep a local service and the network
/// busy while the scan goes on, few enough to bound memory (each holds up to 4 MiB).
const MAX_REQUESTS_IN_FLIGHT: usize = 8;

/// Why a local disk could not be opened or synced. Account keys never appear in these.
#[derive(Debug, thiserror::Error)]
pub enum LocalDiskError {
    #[error("the blob URL {url} is not usable: {reason}")]
    InvalidBlobUrl { url: String, reason: String },
    #[error("the account key is not valid base64")]
    InvalidAccountKey,
    #[error("the HTTP client could not be built")]
    HttpClient {
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot open the disk image {path}")]
    ImageOpen {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write back the filesystem mounted at {path}")]
    WriteBack {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the disk image {path} is {size_bytes} bytes, not a multiple of 512 (a page blob's page)"
    )]
    ImageSizeNotPageAligned { path: PathBuf, size_bytes: u64 },
    #[error(
        "the disk image {path} changed size from {expected} to {found} bytes since it was opened"
    )]
    ImageResized {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("reading the disk image {path} failed")]
    ImageRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the disk image {path} ({image_bytes} bytes) is larger than its page blob {blob_url} ({blob_bytes} bytes)")]
    ImageLargerThanBlob {
        path: PathBuf,
        image_bytes: u64,
        blob_url: String,
        blob_bytes: u64,
    },
    #[error("{operation} on {blob_url} failed with HTTP {status} {error_code}")]
    BlobRequestRefused {
        operation: &'static str,
        blob_url: String,
        status: u16,
        error_code: String,
    },
    #[error("{operation} on {blob_url} did not get an answer")]
    BlobUnreachable {
        operation: &'static str,
        blob_url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{operation} on {blob_url} answered without a readable {what}")]
    MalformedBlobResponse {
        operation: &'static str,
        blob_url: String,
        what: &'static str,
    },
    #[error("cannot write the shadow state file {path}")]
    ShadowWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the system table {path}")]
    SystemTable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What one sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncStats {
    /// Bytes read from the image (holes are skipped, not read).
    pub scanned_bytes: u64,
    /// Bytes sent with Put Page update.
    pub uploaded_bytes: u64,
    /// Bytes cleared with Put Page clear.
    pub cleared_bytes: u64,
    /// Put Page requests sent.
    pub requests: u64,
    /// Whether the shadow was not trusted (first sync, or the blob changed behind the
    /// agent's back) and was rebuilt from the blob's page ranges.
    pub full_resync: bool,
    pub elapsed: Duration,
}

/// A disk image mirrored to a page blob.
#[derive(Debug)]
pub struct LocalDisk {
    image_path: PathBuf,
    image: Arc<File>,
    size_bytes: u64,
    target: PageBlobTarget,
    shadow_path: PathBuf,
    /// What the blob holds, block by block (the last block may be short).
    shadow: Vec<BlockState>,
    /// The blob's ETag when `shadow` was last known to describe it; `None` when it is not.
    trusted_etag: Option<String>,
}

impl LocalDisk {
    /// Opens `image` for mirroring to `target`, with the shadow state kept in `state_dir`
    /// (which must not be on a filesystem that a backup freezes). A shadow left there by an
    /// earlier agent is used if it is for the same blob and image size; whether the blob
    /// still matches it is checked by the next sync.
    pub fn open(
        image: &Path,
        target: PageBlobTarget,
        state_dir: &Path,
    ) -> Result<Self, LocalDiskError> {
        let open_error = |source| LocalDiskError::ImageOpen {
            path: image.to_owned(),
            source,
        };
        let file = File::open(image).map_err(open_error)?;
        let size_bytes = file.metadata().map_err(open_error)?.len();
        if size_bytes % PAGE_SIZE != 0 {
            return Err(LocalDiskError::ImageSizeNotPageAligned {
                path: image.to_owned(),
                size_bytes,
            });
        }
        let shadow_path = shadow::shadow_path(state_dir, image);
        let block_count = size_bytes.div_ceil(BLOCK_SIZE) as usize;
        let saved = ShadowFile::load(&shadow_path).filter(|saved| {
            saved.block_size as u64 == BLOCK_SIZE
                && saved.image_size == size_bytes
                && saved.blob_url == target.blob_url()
                && saved.blocks.len() == block_count
        });
        let (shadow, trusted_etag) = match saved {
            Some(saved) => (saved.blocks, Some(saved.blob_etag)),
            None => (vec![BlockState::Unknown; block_count], None),
        };
        Ok(Self {
            image_path: image.to_owned(),
            image: Arc::new(file),
            size_bytes,
            target,
            shadow_path,
            shadow,
            trusted_etag,
        })
    }

    /// Writes back what the guest still holds dirty for the image's filesystem
    /// (`syncfs` on its loop mount), so that a sync that follows sees it. Before the freeze
    /// this moves the bulk of the changes while the guest still runs; otherwise the freeze
    /// itself would flush them and they would all move while frozen. `false` when the image
    /// is not loop-mounted.
    pub fn write_back_guest_changes(&self) -> Result<bool, LocalDiskError> {
        let mount_point = match own_mount_of(&self.image_path) {
            Ok(mount_point) => mount_point,
            Err(NotMounted::Unreadable(error)) => return Err(error),
            Err(_) => return Ok(false),
        };
        let directory = File::open(&mount_point).map_err(|source| LocalDiskError::WriteBack {
            path: mount_point.clone(),
            source,
        })?;
        rustix::fs::syncfs(&directory).map_err(|errno| LocalDiskError::WriteBack {
            path: mount_point,
            source: errno.into(),
        })?;
        Ok(true)
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Brings the blob's first `size_bytes` to the image's current bytes, uploading only
    /// blocks that differ from the shadow, then records the shadow in the state file. The
    /// agent is assumed to be the blob's only writer while a sync runs; a write by anyone
    /// else between syncs changes the ETag and makes the next sync a full one.
    ///
    /// While the image changes under it, every block ends up in the blob as it was when it
    /// was read; a sync while the filesystem is frozen therefore makes the blob equal the
    /// frozen image.
    pub async fn sync(&mut self) -> Result<SyncStats, LocalDiskError> {
        let started = Instant::now();
        self.check_image_size()?;
        let blob = self.target.properties().await?;
        if blob.size_bytes < self.size_bytes {
            return Err(LocalDiskError::ImageLargerThanBlob {
                path: self.image_path.clone(),
                image_bytes: self.size_bytes,
                blob_url: self.target.blob_url().to_owned(),
                blob_bytes: blob.size_bytes,
            });
        }
        let full_resync = self.trusted_etag.as_deref() != Some(blob.etag.as_str());
        if full_resync {
            self.rebuild_shadow_from_blob().await?;
        }
        // Until the sync completes the blob is between two states: trust nothing.
        self.trusted_etag = None;
        let mut stats = self.write_differences().await?;
        stats.full_resync = full_resync;
        let etag = if stats.requests == 0 {
            blob.etag
        } else {
            self.target.properties().await?.etag
        };
        if stats.requests > 0 || full_resync {
            ShadowFile {
                block_size: BLOCK_SIZE as u32,
                image_size: self.size_bytes,
                blob_url: self.target.blob_url().to_owned(),
                blob_etag: etag.clone(),
                blocks: self.shadow.clone(),
            }
            .save(&self.shadow_path)?;
        }
        self.trusted_etag = Some(etag);
        stats.elapsed = started.elapsed();
        Ok(stats)
    }

    fn check_image_size(&self) -> Result<(), LocalDiskError> {
        let found = self
            .image
            .metadata()
            .map_err(|source| LocalDiskError::ImageRead {
                path: self.image_path.clone(),
                source,
            })?
            .len();
        if found != self.size_bytes {
            return Err(LocalDiskError::ImageResized {
                path: self.image_path.clone(),
                expected: self.size_bytes,
                found,
            });
        }
        Ok(())
    }

    /// Forgets every hash: blocks the blob has no pages in are zero, the rest unknown (and
    /// so rewritten or cleared by this sync).
    async fn rebuild_shadow_from_blob(&mut self) -> Result<(), LocalDiskError> {
        self.shadow.fill(BlockState::Zero);
        if self.size_bytes == 0 {
            return Ok(());
        }
        for (start, end) in self.target.written_ranges(self.size_bytes).await? {
            let first = (start / BLOCK_SIZE) as usize;
            let last =
                (end.min(self.size_bytes).div_ceil(BLOCK_SIZE) as usize).min(self.shadow.len());
            if first < last {
                self.shadow[first..last].fill(BlockState::Unknown);
            }
        }
        Ok(())
    }

    /// Scans the image on blocking threads and sends the page writes as they come; the
    /// shadow takes the new states of the writes that succeeded once scan and writes end.
    async fn write_differences(&mut self) -> Result<SyncStats, LocalDiskError> {
        let image = Arc::clone(&self.image);
        let size = self.size_bytes;
        let shadow = Arc::new(std::mem::take(&mut self.shadow));
        let (writes_tx, mut writes_rx) = tokio::sync::mpsc::channel(2 * MAX_REQUESTS_IN_FLIGHT);
        let scan_shadow = Arc::clone(&shadow);
        let scanner = tokio::task::spawn_blocking(move || {
            let extents = scan::data_extents(&image, size)?;
            let units = scan::read_units(&extents);
            for clear in scan::hole_clears(&units, &scan_shadow) {
                if writes_tx.blocking_send(clear).is_err() {
                    return Ok(0);
                }
            }
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            scan::scan(&image, size, &units, &scan_shadow, workers, &writes_tx)
        });

        let mut stats = SyncStats::default();
        let mut in_flight = JoinSet::new();
        let mut completed = Vec::new();
        let mut failure = None;
        let mut scan_open = true;
        while scan_open || !in_flight.is_empty() {
            tokio::select! {
                write = writes_rx.recv(), if scan_open && in_flight.len() < MAX_REQUESTS_IN_FLIGHT => {
                    let Some(write) = write else {
                        scan_open = false;
                        continue;
                    };
                    stats.requests += 1;
                    match &write {
                        PageWrite::Update { data, .. } => stats.uploaded_bytes += data.len() as u64,
                        PageWrite::Clear { first_block, block_count } => {
                            let start = first_block * BLOCK_SIZE;
                            stats.cleared_bytes += (block_count * BLOCK_SIZE).min(size - start);
                        }
                    }
                    in_flight.spawn(send_page_write(self.target.clone(), size, write));
                }
                Some(done) = in_flight.join_next() => {
                    match done.unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic())) {
                        Ok(applied) => completed.push(applied),
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
            }
        }
        // On failure, dropping the receiver stops the scan at its next send.
        drop(writes_rx);
        in_flight.shutdown().await;
        let scanned = scanner
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
        // The scanner has returned, so this is the only reference left.
        let mut shadow = Arc::try_unwrap(shadow).unwrap_or_else(|shared| (*shared).clone());
        for (first_block, states) in completed {
            let first = first_block as usize;
            shadow[first..first + states.len()].copy_from_slice(&states);
        }
        self.shadow = shadow;
        // After a failure some writes may have landed unrecorded: the caller leaves the
        // shadow untrusted, so the next sync starts from the blob's page ranges.
        if let Some(error) = failure {
            return Err(error);
        }
        stats.scanned_bytes = scanned.map_err(|source| LocalDiskError::ImageRead {
            path: self.image_path.clone(),
            source,
        })?;
        Ok(stats)
    }
}

/// Sends one page write; on success, the blocks it covers and their new shadow entries.
async fn send_page_write(
    target: PageBlobTarget,
    image_size: u64,
    write: PageWrite,
) -> Result<(u64, Vec<BlockState>), LocalDiskError> {
    match write {
        PageWrite::Update {
            first_block,
            data,
            states,
        } => {
            target.write_pages(first_block * BLOCK_SIZE, data).await?;
            Ok((first_block, states))
        }
        PageWrite::Clear {
            first_block,
            block_count,
        } => {
            let start = first_block * BLOCK_SIZE;
            let length = (block_count * BLOCK_SIZE).min(image_size - start);
            target.clear_pages(start, length).await?;
            Ok((first_block, vec![BlockState::Zero; block_count as usize]))
        }
    }
}
