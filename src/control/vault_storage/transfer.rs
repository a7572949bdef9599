//! Transfer of a disk snapshot into the vault, and what makes it safe to re-run.
//!
//! The vault blob's metadata records which disk snapshot its content equals (`synced`)
//! and which one a transfer has started to copy (`pending`). A diff from the previous
//! disk snapshot is only right when the vault holds exactly that snapshot, or that
//! snapshot plus part of this same diff (a crashed run being repeated); in any other
//! state the transfer compares instead of trusting the diff.

use super::pages::{byte_range, clear_span, copy_span, copy_written, windows, Cursor, Target};
use super::{
    compare, CopyProgress, DiskSnapshotRef, TransferMode, TransferReport, VaultDisk,
    VaultStorageError,
};
use crate::storage::{
    BlobKind, BlobPath, BlobStorage, DiffSpan, Metadata, PageDiff, StorageError, Timestamp,
};

/// The disk snapshot the vault blob's content equals.
pub(super) const SYNCED_KEY: &str = "vaultsim_synced_from";
/// The disk snapshot a transfer has started copying into the vault blob.
pub(super) const PENDING_KEY: &str = "vaultsim_pending";
/// How the last finished transfer ran, so that a repeated call reports the same.
const MODE_KEY: &str = "vaultsim_transfer_mode";

/// Bytes a transfer wrote and cleared.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Moved {
    pub transferred: u64,
    pub cleared: u64,
}

/// Copies the disk snapshot `source` (in `disks`) into `vault` (in `vaults`, perhaps
/// another account) and snapshots the vault blob (that
/// snapshot is the HardenedRP tier of the recovery point).
///
/// `previous`: the disk snapshot of the previous recovery point, when it still exists;
/// only the page-range diff between the two is copied (changed pages written, cleared
/// pages cleared). Without it: Full when the vault blob does not exist yet, else Compare.
/// Creates the container and blob as needed and resizes the vault blob to the disk.
///
/// Re-running after a crash is safe and gives the same content; re-running after success
/// copies nothing and returns the vault snapshot already taken.
///
/// `progress` grows by the disk's size ([`snapshot_size`]) as the transfer goes through it.
pub async fn transfer_disk(
    disks: &dyn BlobStorage,
    vaults: &dyn BlobStorage,
    source: &DiskSnapshotRef,
    previous: Option<&DiskSnapshotRef>,
    vault: &VaultDisk,
    progress: &CopyProgress,
) -> Result<TransferReport, VaultStorageError> {
    let source_at = address(source);
    let size = snapshot_size(disks, source).await?;
    let mut cursor = Cursor::new(progress);
    let target = Target {
        container: &vault.container,
        blob: &vault.blob,
    };
    let source_mark = mark(source);
    ensure_container(vaults, &vault.container).await?;
    let existing = vault_metadata(vaults, vault).await?;
    if let Some(metadata) = &existing {
        if value(metadata, SYNCED_KEY) == Some(&source_mark)
            && value(metadata, PENDING_KEY).is_none()
        {
            let report = finished_report(vaults, vault, &source_mark, metadata).await?;
            cursor.reach(size);
            return Ok(report);
        }
    }
    let mut mode = choose_mode(existing.as_ref(), source, previous);
    match &existing {
        None => create_vault_blob(vaults, vault, size, &source_mark).await?,
        Some(metadata) => {
            vaults
                .resize_page_blob(&vault.container, &vault.blob, size, None)
                .await?;
            let mut metadata = without(metadata, PENDING_KEY);
            metadata.push((PENDING_KEY.to_owned(), source_mark.clone()));
            vaults
                .set_metadata(&vault.container, &vault.blob, metadata)
                .await?;
        }
    }
    let moved = match (mode, previous) {
        (TransferMode::Incremental, Some(previous)) => {
            let diff = apply_diff(
                disks,
                source_at,
                previous.snapshot,
                vaults,
                target,
                size,
                &mut cursor,
            );
            match diff.await? {
                Some(moved) => moved,
                None => {
                    // The previous snapshot went away meanwhile, or the account answers
                    // no real diffs; comparing is right whatever part of the diff was
                    // applied. The cursor stays where the diff left it: the comparison
                    // goes through the disk again, and counts from there.
                    mode = TransferMode::Compare;
                    compare::make_equal(disks, source_at, vaults, target, size, &mut cursor).await?
                }
            }
        }
        (TransferMode::Full, _) => Moved {
            transferred: copy_written(disks, source_at, vaults, target, size, &mut cursor).await?,
            cleared: 0,
        },
        _ => compare::make_equal(disks, source_at, vaults, target, size, &mut cursor).await?,
    };
    let metadata = vec![
        (SYNCED_KEY.to_owned(), source_mark),
        (MODE_KEY.to_owned(), mode_name(mode).to_owned()),
    ];
    vaults
        .set_metadata(&vault.container, &vault.blob, metadata)
        .await?;
    // The snapshot inherits the metadata just set: a repeated call finds it by `synced`.
    let vault_snapshot = vaults.snapshot(&vault.container, &vault.blob, None).await?;
    cursor.reach(size);
    Ok(TransferReport {
        bytes_transferred: moved.transferred,
        bytes_cleared: moved.cleared,
        mode,
        vault_snapshot,
    })
}

fn choose_mode(
    vault: Option<&Metadata>,
    source: &DiskSnapshotRef,
    previous: Option<&DiskSnapshotRef>,
) -> TransferMode {
    let Some(metadata) = vault else {
        return TransferMode::Full;
    };
    // A diff exists only between snapshots of one blob (a replaced disk has none).
    let previous = previous.filter(|p| p.container == source.container && p.blob == source.blob);
    let diff_applies = previous.is_some_and(|p| {
        value(metadata, SYNCED_KEY) == Some(&mark(p))
            && value(metadata, PENDING_KEY).is_none_or(|pending| *pending == mark(source))
    });
    if diff_applies {
        TransferMode::Incremental
    } else {
        TransferMode::Compare
    }
}

/// Applies the diff from `previous` to `source` to the vault. `None` when `previous` no
/// longer exists or the account answers no real diffs.
async fn apply_diff(
    disks: &dyn BlobStorage,
    source: BlobPath<'_>,
    previous: Timestamp,
    vaults: &dyn BlobStorage,
    vault: Target<'_>,
    size: u64,
    cursor: &mut Cursor<'_>,
) -> Result<Option<Moved>, VaultStorageError> {
    let mut moved = Moved::default();
    for window in windows(size) {
        let spans = match disks.page_ranges_since(source, previous, window).await {
            Ok(PageDiff::Spans(spans)) => spans,
            Ok(PageDiff::Unsupported) | Err(StorageError::PreviousSnapshotNotFound) => {
                return Ok(None)
            }
            Err(other) => return Err(other.into()),
        };
        for span in spans {
            match span {
                DiffSpan::Written(span) => {
                    moved.transferred +=
                        copy_span(disks, source, vaults, vault, span, cursor).await?
                }
                DiffSpan::Cleared(span) => {
                    moved.cleared += clear_span(vaults, vault, span).await?;
                    cursor.reach(byte_range(span).end + 1);
                }
            }
        }
        cursor.reach(window.end + 1);
    }
    Ok(Some(moved))
}

/// The report of a transfer that already finished: its vault snapshot, or a new one if
/// the crash came between recording the copy and snapshotting it.
async fn finished_report(
    store: &dyn BlobStorage,
    vault: &VaultDisk,
    source_mark: &str,
    metadata: &Metadata,
) -> Result<TransferReport, VaultStorageError> {
    let vault_snapshot = match snapshot_synced_to(store, vault, source_mark).await? {
        Some(snapshot) => snapshot,
        None => store.snapshot(&vault.container, &vault.blob, None).await?,
    };
    let mode = match value(metadata, MODE_KEY).map(String::as_str) {
        Some("full") => TransferMode::Full,
        Some("compare") => TransferMode::Compare,
        _ => TransferMode::Incremental,
    };
    Ok(TransferReport {
        bytes_transferred: 0,
        bytes_cleared: 0,
        mode,
        vault_snapshot,
    })
}

fn mode_name(mode: TransferMode) -> &'static str {
    match mode {
        TransferMode::Full => "full",
        TransferMode::Incremental => "incremental",
        TransferMode::Compare => "compare",
    }
}

/// The newest snapshot of the vault blob whose content is the disk snapshot `source_mark`
/// names.
async fn snapshot_synced_to(
    store: &dyn BlobStorage,
    vault: &VaultDisk,
    source_mark: &str,
) -> Result<Option<Timestamp>, VaultStorageError> {
    let snapshots = store.list_snapshots(&vault.container, &vault.blob).await?;
    Ok(snapshots
        .into_iter()
        .filter(|s| value(&s.metadata, SYNCED_KEY).map(String::as_str) == Some(source_mark))
        .map(|s| s.snapshot)
        .max())
}

async fn create_vault_blob(
    store: &dyn BlobStorage,
    vault: &VaultDisk,
    size: u64,
    pending: &str,
) -> Result<(), VaultStorageError> {
    let metadata = vec![(PENDING_KEY.to_owned(), pending.to_owned())];
    store
        .create_page_blob(&vault.container, &vault.blob, size, metadata, false)
        .await?;
    Ok(())
}

/// Creates `container` unless it exists (another transfer may create it meanwhile).
pub(super) async fn ensure_container(
    store: &dyn BlobStorage,
    container: &str,
) -> Result<(), VaultStorageError> {
    store.create_container(container).await?;
    Ok(())
}

/// The vault blob's metadata, `None` when the blob does not exist yet.
async fn vault_metadata(
    store: &dyn BlobStorage,
    vault: &VaultDisk,
) -> Result<Option<Metadata>, VaultStorageError> {
    match store
        .properties(BlobPath::base(&vault.container, &vault.blob))
        .await
    {
        Ok(properties) => Ok(Some(properties.metadata)),
        Err(StorageError::BlobNotFound) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The size of a disk snapshot: what a transfer of it goes through.
pub async fn snapshot_size(
    disks: &dyn BlobStorage,
    source: &DiskSnapshotRef,
) -> Result<u64, VaultStorageError> {
    page_blob_size(disks, address(source)).await.map_err(|e| {
        if e.is_not_found() {
            VaultStorageError::DiskSnapshotNotFound {
                container: source.container.clone(),
                blob: source.blob.clone(),
                snapshot: source.snapshot,
            }
        } else {
            e.into()
        }
    })
}

/// The size of a page blob version.
pub(super) async fn page_blob_size(
    store: &dyn BlobStorage,
    at: BlobPath<'_>,
) -> Result<u64, StorageError> {
    let properties = store.properties(at).await?;
    match properties.kind {
        BlobKind::Page => Ok(properties.size),
        BlobKind::Block => Err(StorageError::InvalidBlobType),
    }
}

pub(super) fn address(snapshot: &DiskSnapshotRef) -> BlobPath<'_> {
    BlobPath {
        container: &snapshot.container,
        blob: &snapshot.blob,
        snapshot: Some(snapshot.snapshot),
    }
}

/// How a disk snapshot is named in the vault blob's metadata.
pub(super) fn mark(snapshot: &DiskSnapshotRef) -> String {
    format!(
        "{}/{}@{}",
        snapshot.container,
        snapshot.blob,
        snapshot.snapshot.to_snapshot_id()
    )
}

fn value<'m>(metadata: &'m Metadata, key: &str) -> Option<&'m String> {
    metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn without(metadata: &Metadata, key: &str) -> Metadata {
    metadata.iter().filter(|(k, _)| k != key).cloned().collect()
}
