//! Vault storage: moves disk snapshots into a vault's own container as recovery points,
//! incrementally, and restores them. A vault holds one page blob per protected disk; each
//! recovery point is a snapshot of that blob (the HardenedRP tier), so unchanged pages are
//! shared between recovery points by the store's copy-on-write snapshots.
//!
//! It reaches blobs only through the storage seam, so the vault can live in the embedded
//! store or in any account over Blob REST.

mod compare;
mod naming;
mod pages;
mod restore;
mod transfer;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::storage::{StorageError, Timestamp};

pub use naming::vault_disk;
pub use restore::{delete_snapshot, restore_disk, vault_snapshot_size};
pub use transfer::{snapshot_size, transfer_disk};

/// How far a transfer or restore has gone through its disks, in bytes of disk: written
/// pages count as they are copied (or compared), holes and unchanged pages as they are
/// passed, so a disk counts its whole size once it is done. The copy adds to it as it
/// goes; whoever reports the job's progress reads it meanwhile.
#[derive(Debug, Default)]
pub struct CopyProgress(AtomicU64);

impl CopyProgress {
    /// Bytes of disk gone through so far.
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// A snapshot of a VM disk blob (the InstantRP tier of a recovery point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSnapshotRef {
    pub container: String,
    pub blob: String,
    pub snapshot: Timestamp,
}

/// The vault's copy of one protected item's disk: a page blob whose snapshots are the
/// recovery points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultDisk {
    pub container: String,
    pub blob: String,
}

/// How a transfer found what to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    /// The vault had no copy yet: every written range was copied.
    Full,
    /// The page-range diff against the previous recovery point's disk snapshot.
    Incremental,
    /// The previous disk snapshot was gone: both sides were read and only differing pages
    /// written (Azure's checksum-comparison fallback).
    Compare,
}

/// What one transfer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferReport {
    pub bytes_transferred: u64,
    pub bytes_cleared: u64,
    pub mode: TransferMode,
    /// The vault blob's snapshot: the HardenedRP tier of the recovery point.
    pub vault_snapshot: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultStorageError {
    /// The instant tier was deleted (or never existed) before its data reached the vault.
    #[error("the disk snapshot {container}/{blob}@{} does not exist", .snapshot.to_snapshot_id())]
    DiskSnapshotNotFound {
        container: String,
        blob: String,
        snapshot: Timestamp,
    },
    #[error("the vault snapshot {container}/{blob}@{} does not exist", .snapshot.to_snapshot_id())]
    VaultSnapshotNotFound {
        container: String,
        blob: String,
        snapshot: Timestamp,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}
