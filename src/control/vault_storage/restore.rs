//! Restoring a recovery point to a new disk blob, and deleting snapshots of either tier.

use super::pages::{copy_written, Cursor, Target};
use super::transfer::{ensure_container, page_blob_size};
use super::{CopyProgress, VaultDisk, VaultStorageError};
use crate::storage::{BlobPath, BlobStorage, StorageError, Timestamp};

/// Writes a new page blob `target_container/target_blob` in `target` (container created
/// if missing) whose bytes equal the vault snapshot (in `vault_store`); only written
/// ranges are copied, holes stay holes. Returns bytes copied. Re-running replaces the
/// target, so a crashed restore can simply be repeated.
///
/// `progress` grows by the disk's size ([`vault_snapshot_size`]) as the restore goes
/// through it.
pub async fn restore_disk(
    vault_store: &dyn BlobStorage,
    vault: &VaultDisk,
    vault_snapshot: Timestamp,
    target: &dyn BlobStorage,
    target_container: &str,
    target_blob: &str,
    progress: &CopyProgress,
) -> Result<u64, VaultStorageError> {
    let from = vault_snapshot_path(vault, vault_snapshot);
    let size = vault_snapshot_size(vault_store, vault, vault_snapshot).await?;
    ensure_container(target, target_container).await?;
    target
        .create_page_blob(target_container, target_blob, size, Vec::new(), false)
        .await?;
    let to = Target {
        container: target_container,
        blob: target_blob,
    };
    let mut cursor = Cursor::new(progress);
    let copied = copy_written(vault_store, from, target, to, size, &mut cursor).await?;
    cursor.reach(size);
    Ok(copied)
}

/// The size of a vault snapshot: what a restore of it goes through.
pub async fn vault_snapshot_size(
    vault_store: &dyn BlobStorage,
    vault: &VaultDisk,
    vault_snapshot: Timestamp,
) -> Result<u64, VaultStorageError> {
    let at = vault_snapshot_path(vault, vault_snapshot);
    page_blob_size(vault_store, at).await.map_err(|e| {
        if e.is_not_found() {
            VaultStorageError::VaultSnapshotNotFound {
                container: vault.container.clone(),
                blob: vault.blob.clone(),
                snapshot: vault_snapshot,
            }
        } else {
            e.into()
        }
    })
}

fn vault_snapshot_path(vault: &VaultDisk, snapshot: Timestamp) -> BlobPath<'_> {
    BlobPath {
        container: &vault.container,
        blob: &vault.blob,
        snapshot: Some(snapshot),
    }
}

/// Deletes a snapshot: an instant-tier disk snapshot or a vault snapshot. One already
/// gone (or whose blob or container is gone) is fine, so that cleanup can be repeated.
pub async fn delete_snapshot(
    store: &dyn BlobStorage,
    container: &str,
    blob: &str,
    snapshot: Timestamp,
) -> Result<(), VaultStorageError> {
    let at = BlobPath {
        container,
        blob,
        snapshot: Some(snapshot),
    };
    match store.delete_blob(at).await {
        Ok(()) => Ok(()),
        Err(error) if error.is_not_found() => Ok(()),
        Err(StorageError::Remote { status: 404, .. }) => Ok(()),
        Err(other) => Err(other.into()),
    }
}
