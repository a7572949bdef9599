//! Transfer of a disk snapshot into the vault, and what makes it safe to re-run.
//!
//! The vault blob's metadata records which disk snapshot its content equals (`synced`)
//! and which one a transfer has started to copy (`pending`). A diff from the previous
//! disk snapshot is only right when the vault holds exactly that snapshot, or that
//! snapshot plus part of this same diff (a crashed run being repeated); in any other
//! state the transfer compares instead of trusting the diff.

use super::pages::{changed_ranges, clear_span, copy_span, copy_written, windows, Target};
use super::{compare, DiskSnapshotRef, TransferMode, TransferReport, VaultDisk, VaultStorageError};
use crate::blob::engine::{
    BlobAddress, BlobBody, BlobStore, Conditions, ContentProperties, DiffSpan, ListBlobsQuery,
    ListItem, Metadata, NewPageBlob, StoreError, Timestamp,
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

/// Copies the disk snapshot `source` into `vault` and snapshots the vault blob (that
/// snapshot is the HardenedRP tier of the recovery point).
///
/// `previous`: the disk snapshot of the previous recovery point, when it still exists;
/// only the page-range diff between the two is copied (changed pages written, cleared
/// pages cleared). Without it: Full when the vault blob does not exist yet, else Compare.
/// Creates the container and blob as needed and resizes the vault blob to the disk.
///
/// Re-running after a crash is safe and gives the same content; re-running after success
/// copies nothing and returns the vault snapshot already taken.
pub fn transfer_disk(
    store: &BlobStore,
    source: &DiskSnapshotRef,
    previous: Option<&DiskSnapshotRef>,
    vault: &VaultDisk,
) -> Result<TransferReport, VaultStorageError> {
    let source_at = address(source);
    let size = page_blob_size(store, source_at).map_err(|e| match e {
        StoreError::BlobNotFound | StoreError::ContainerNotFound => {
            VaultStorageError::DiskSnapshotNotFound {
                container: source.container.clone(),
                blob: source.blob.clone(),
                snapshot: source.snapshot,
            }
        }
        other => other.into(),
    })?;
    let target = Target {
        container: &vault.container,
        blob: &vault.blob,
    };
    let source_mark = mark(source);
    ensure_container(store, &vault.container)?;
    let existing = vault_metadata(store, vault)?;
    if let Some(metadata) = &existing {
        if value(metadata, SYNCED_KEY) == Some(&source_mark)
            && value(metadata, PENDING_KEY).is_none()
        {
            return finished_report(store, vault, &source_mark, metadata);
        }
    }
    let mut mode = choose_mode(existing.as_ref(), source, previous);
    match &existing {
        None => create_vault_blob(store, vault, size, &source_mark)?,
        Some(metadata) => {
            store.resize_page_blob(&vault.container, &vault.blob, size, &Conditions::default())?;
            let mut metadata = without(metadata, PENDING_KEY);
            metadata.push((PENDING_KEY.to_owned(), source_mark.clone()));
            store.set_blob_metadata(
                &vault.container,
                &vault.blob,
                metadata,
                &Conditions::default(),
            )?;
        }
    }
    let moved = match (mode, previous) {
        (TransferMode::Incremental, Some(previous)) => {
            match apply_diff(store, source_at, previous.snapshot, target, size)? {
                Some(moved) => moved,
                None => {
                    // The previous snapshot went away meanwhile; comparing is right
                    // whatever part of the diff was applied.
                    mode = TransferMode::Compare;
                    compare::make_equal(store, source_at, target, size)?
                }
            }
        }
        (TransferMode::Full, _) => Moved {
            transferred: copy_written(store, source_at, target, size)?,
            cleared: 0,
        },
        _ => compare::make_equal(store, source_at, target, size)?,
    };
    let metadata = vec![
        (SYNCED_KEY.to_owned(), source_mark),
        (MODE_KEY.to_owned(), mode_name(mode).to_owned()),
    ];
    store.set_blob_metadata(
        &vault.container,
        &vault.blob,
        metadata,
        &Conditions::default(),
    )?;
    // The snapshot inherits the metadata just set: a repeated call finds it by `synced`.
    let (vault_snapshot, _) =
        store.snapshot(&vault.container, &vault.blob, None, &Conditions::default())?;
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
/// longer exists.
fn apply_diff(
    store: &BlobStore,
    source: BlobAddress<'_>,
    previous: Timestamp,
    vault: Target<'_>,
    size: u64,
) -> Result<Option<Moved>, VaultStorageError> {
    let mut moved = Moved::default();
    for window in windows(size) {
        let spans = match changed_ranges(store, source, previous, window) {
            Ok(spans) => spans,
            Err(StoreError::PreviousSnapshotNotFound) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        for span in spans {
            match span {
                DiffSpan::Written(span) => {
                    moved.transferred += copy_span(store, source, vault, span)?
                }
                DiffSpan::Cleared(span) => moved.cleared += clear_span(store, vault, span)?,
            }
        }
    }
    Ok(Some(moved))
}

/// The report of a transfer that already finished: its vault snapshot, or a new one if
/// the crash came between recording the copy and snapshotting it.
fn finished_report(
    store: &BlobStore,
    vault: &VaultDisk,
    source_mark: &str,
    metadata: &Metadata,
) -> Result<TransferReport, VaultStorageError> {
    let vault_snapshot = match snapshot_synced_to(store, vault, source_mark)? {
        Some(snapshot) => snapshot,
        None => {
            store
                .snapshot(&vault.container, &vault.blob, None, &Conditions::default())?
                .0
        }
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
fn snapshot_synced_to(
    store: &BlobStore,
    vault: &VaultDisk,
    source_mark: &str,
) -> Result<Option<Timestamp>, VaultStorageError> {
    let mut query = ListBlobsQuery {
        prefix: vault.blob.clone(),
        include_snapshots: true,
        max_results: 1000,
        ..Default::default()
    };
    let mut found = None;
    loop {
        let page = store.list_blobs(&vault.container, &query)?;
        for item in page.items {
            if let ListItem::Blob {
                name,
                snapshot: Some(snapshot),
                properties,
            } = item
            {
                if name == vault.blob
                    && value(&properties.metadata, SYNCED_KEY).map(String::as_str)
                        == Some(source_mark)
                {
                    found = Some(snapshot);
                }
            }
        }
        match page.next_marker {
            Some(marker) => query.marker = Some(marker),
            None => return Ok(found),
        }
    }
}

fn create_vault_blob(
    store: &BlobStore,
    vault: &VaultDisk,
    size: u64,
    pending: &str,
) -> Result<(), VaultStorageError> {
    let new = NewPageBlob {
        size,
        sequence_number: 0,
        content: ContentProperties::default(),
        metadata: vec![(PENDING_KEY.to_owned(), pending.to_owned())],
    };
    store.create_page_blob(&vault.container, &vault.blob, new, &Conditions::default())?;
    Ok(())
}

/// Creates `container` unless it exists (another transfer may create it meanwhile).
pub(super) fn ensure_container(
    store: &BlobStore,
    container: &str,
) -> Result<(), VaultStorageError> {
    match store.create_container(container, Vec::new(), None) {
        Ok(_) | Err(StoreError::ContainerAlreadyExists) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// The vault blob's metadata, `None` when the blob does not exist yet.
fn vault_metadata(
    store: &BlobStore,
    vault: &VaultDisk,
) -> Result<Option<Metadata>, VaultStorageError> {
    let at = BlobAddress {
        container: &vault.container,
        blob: &vault.blob,
        snapshot: None,
    };
    match store.read_blob(at, &Conditions::default()) {
        Ok(read) => Ok(Some(read.version.metadata)),
        Err(StoreError::BlobNotFound) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The size of a page blob version.
pub(super) fn page_blob_size(store: &BlobStore, at: BlobAddress<'_>) -> Result<u64, StoreError> {
    match store.read_blob(at, &Conditions::default())?.version.body {
        BlobBody::Page { size, .. } => Ok(size),
        BlobBody::Block { .. } => Err(StoreError::InvalidBlobType),
    }
}

pub(super) fn address(snapshot: &DiskSnapshotRef) -> BlobAddress<'_> {
    BlobAddress {
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
