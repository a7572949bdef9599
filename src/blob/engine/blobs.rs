//! Operations on any blob, block or page: existence, reads, snapshots, deletes, content
//! properties and metadata, and the watch on writes.

use super::conditions::{Access, Conditions};
use super::model::{BlobVersion, ContentProperties, Metadata, Timestamp};
use super::read::BlobRead;
use super::record::{DeleteTarget, Record, Stamp};
use super::watch::BlobWritten;
use super::{BlobAddress, BlobStore, StoreError, WriteAck};

impl BlobStore {
    pub fn blob_exists(&self, container: &str, blob: &str) -> bool {
        let state = self.state.lock();
        state
            .containers
            .get(container)
            .is_some_and(|c| c.blobs.contains_key(blob))
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

    /// Shared shape of the single-record updates of a base blob.
    pub(super) fn update_blob(
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
}
