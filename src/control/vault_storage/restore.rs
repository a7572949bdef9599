//! Restoring a recovery point to a new disk blob, and deleting snapshots of either tier.

use super::pages::{copy_written, Target};
use super::transfer::{ensure_container, page_blob_size};
use super::{VaultDisk, VaultStorageError};
use crate::blob::engine::{
    BlobAddress, BlobStore, Conditions, ContentProperties, NewPageBlob, StoreError, Timestamp,
};

/// Writes a new page blob `target_container/target_blob` (container created if missing)
/// whose bytes equal the vault snapshot; only written ranges are copied, holes stay
/// holes. Returns bytes copied. Re-running replaces the target, so a crashed restore can
/// simply be repeated.
pub fn restore_disk(
    store: &BlobStore,
    vault: &VaultDisk,
    vault_snapshot: Timestamp,
    target_container: &str,
    target_blob: &str,
) -> Result<u64, VaultStorageError> {
    let from = BlobAddress {
        container: &vault.container,
        blob: &vault.blob,
        snapshot: Some(vault_snapshot),
    };
    let size = page_blob_size(store, from).map_err(|e| match e {
        StoreError::BlobNotFound | StoreError::ContainerNotFound => {
            VaultStorageError::VaultSnapshotNotFound {
                container: vault.container.clone(),
                blob: vault.blob.clone(),
                snapshot: vault_snapshot,
            }
        }
        other => other.into(),
    })?;
    ensure_container(store, target_container)?;
    let new = NewPageBlob {
        size,
        sequence_number: 0,
        content: ContentProperties::default(),
        metadata: Vec::new(),
    };
    store.create_page_blob(target_container, target_blob, new, &Conditions::default())?;
    let target = Target {
        container: target_container,
        blob: target_blob,
    };
    copy_written(store, from, target, size)
}

/// Deletes a snapshot: an instant-tier disk snapshot or a vault snapshot. One already
/// gone (or whose blob or container is gone) is fine, so that cleanup can be repeated.
pub fn delete_snapshot(
    store: &BlobStore,
    container: &str,
    blob: &str,
    snapshot: Timestamp,
) -> Result<(), VaultStorageError> {
    let at = BlobAddress {
        container,
        blob,
        snapshot: Some(snapshot),
    };
    match store.delete_blob(at, None, &Conditions::default()) {
        Ok(()) | Err(StoreError::BlobNotFound | StoreError::ContainerNotFound) => Ok(()),
        Err(other) => Err(other.into()),
    }
}
