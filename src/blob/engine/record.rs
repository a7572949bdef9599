//! Journal records and how each one changes the in-memory state.
//!
//! Records carry every value the change needs (timestamps, ETags, data locations), so
//! applying them is deterministic: replaying the journal rebuilds the same state, and the
//! same structure sharing between blobs and their snapshots.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{
    BlobBody, BlobEntry, BlobVersion, CommittedBlock, Container, ContentProperties, ETag, Metadata,
    PublicAccess, SignedIdentifier, Timestamp,
};
use super::pagemap::{DataLocation, PageMap, PAGE_SIZE};
use super::segments::Extent;

/// When and under which ETag a change happened.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Stamp {
    pub at: Timestamp,
    pub etag: ETag,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum DeleteTarget {
    /// The base blob and all its snapshots.
    BlobAndSnapshots,
    /// Every snapshot, keeping the base blob.
    SnapshotsOnly,
    Snapshot(Timestamp),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Record {
    CreateContainer {
        name: String,
        metadata: Metadata,
        public_access: Option<PublicAccess>,
        stamp: Stamp,
    },
    DeleteContainer {
        name: String,
    },
    SetContainerMetadata {
        name: String,
        metadata: Metadata,
        stamp: Stamp,
    },
    SetContainerAcl {
        name: String,
        public_access: Option<PublicAccess>,
        identifiers: Vec<SignedIdentifier>,
        stamp: Stamp,
    },
    PutBlockBlob {
        container: String,
        blob: String,
        blocks: Vec<CommittedBlock>,
        content: ContentProperties,
        metadata: Metadata,
        stamp: Stamp,
    },
    StageBlock {
        container: String,
        blob: String,
        block_id: String,
        extent: Extent,
    },
    CreatePageBlob {
        container: String,
        blob: String,
        size: u64,
        sequence_number: u64,
        content: ContentProperties,
        metadata: Metadata,
        stamp: Stamp,
    },
    /// Put Page: `data` is where the pages now live, or `None` for a clear.
    WritePages {
        container: String,
        blob: String,
        first_page: u64,
        pages: u64,
        data: Option<DataLocation>,
        stamp: Stamp,
    },
    Snapshot {
        container: String,
        blob: String,
        snapshot: Timestamp,
        metadata: Option<Metadata>,
    },
    DeleteBlob {
        container: String,
        blob: String,
        target: DeleteTarget,
    },
    SetBlobProperties {
        container: String,
        blob: String,
        content: ContentProperties,
        stamp: Stamp,
    },
    SetBlobMetadata {
        container: String,
        blob: String,
        metadata: Metadata,
        stamp: Stamp,
    },
    ResizePageBlob {
        container: String,
        blob: String,
        size: u64,
        stamp: Stamp,
    },
    SetSequenceNumber {
        container: String,
        blob: String,
        sequence_number: u64,
        stamp: Stamp,
    },
}

/// All containers, by name.
pub type Containers = BTreeMap<String, Container>;

impl Record {
    /// What kind of change this is, as the store's operation metrics name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::CreateContainer { .. } => "CreateContainer",
            Record::DeleteContainer { .. } => "DeleteContainer",
            Record::SetContainerMetadata { .. } => "SetContainerMetadata",
            Record::SetContainerAcl { .. } => "SetContainerAcl",
            Record::PutBlockBlob { .. } => "PutBlockBlob",
            Record::StageBlock { .. } => "StageBlock",
            Record::CreatePageBlob { .. } => "CreatePageBlob",
            Record::WritePages { data: Some(_), .. } => "WritePages",
            Record::WritePages { data: None, .. } => "ClearPages",
            Record::Snapshot { .. } => "Snapshot",
            Record::DeleteBlob { .. } => "DeleteBlob",
            Record::SetBlobProperties { .. } => "SetBlobProperties",
            Record::SetBlobMetadata { .. } => "SetBlobMetadata",
            Record::ResizePageBlob { .. } => "ResizePageBlob",
            Record::SetSequenceNumber { .. } => "SetSequenceNumber",
        }
    }

    /// How many base blobs applying this record to `containers` adds (negative: removes).
    /// Looks up one blob at most, or counts one container's blobs when it is deleted.
    pub fn blob_count_change(&self, containers: &Containers) -> i64 {
        let exists = |container: &str, blob: &str| {
            containers
                .get(container)
                .is_some_and(|c| c.blobs.contains_key(blob))
        };
        match self {
            Record::PutBlockBlob {
                container, blob, ..
            }
            | Record::CreatePageBlob {
                container, blob, ..
            } if containers.contains_key(container) && !exists(container, blob) => 1,
            Record::DeleteBlob {
                container,
                blob,
                target: DeleteTarget::BlobAndSnapshots,
            } if exists(container, blob) => -1,
            Record::DeleteContainer { name } => {
                -containers.get(name).map_or(0, |c| c.blobs.len() as i64)
            }
            _ => 0,
        }
    }
}

/// Base blobs in `containers` (snapshots are versions of them, not counted).
pub fn count_blobs(containers: &Containers) -> u64 {
    containers.values().map(|c| c.blobs.len() as u64).sum()
}

/// Applies one record. Records are validated before they are journaled, so a record that
/// no longer fits (only possible with a hand-edited journal) is ignored rather than fatal.
pub fn apply(containers: &mut Containers, record: Record) {
    match record {
        Record::CreateContainer {
            name,
            metadata,
            public_access,
            stamp,
        } => {
            containers.insert(
                name,
                Container {
                    metadata,
                    modified: stamp.at,
                    etag: stamp.etag,
                    public_access,
                    identifiers: Vec::new(),
                    blobs: BTreeMap::new(),
                    staged: Default::default(),
                },
            );
        }
        Record::DeleteContainer { name } => {
            containers.remove(&name);
        }
        Record::SetContainerMetadata {
            name,
            metadata,
            stamp,
        } => {
            if let Some(c) = containers.get_mut(&name) {
                c.metadata = metadata;
                touch_container(c, stamp);
            }
        }
        Record::SetContainerAcl {
            name,
            public_access,
            identifiers,
            stamp,
        } => {
            if let Some(c) = containers.get_mut(&name) {
                c.public_access = public_access;
                c.identifiers = identifiers;
                touch_container(c, stamp);
            }
        }
        Record::PutBlockBlob {
            container,
            blob,
            blocks,
            content,
            metadata,
            stamp,
        } => {
            if let Some(c) = containers.get_mut(&container) {
                c.staged.remove(&blob);
                put_version(
                    c,
                    blob,
                    BlobBody::Block { blocks },
                    content,
                    metadata,
                    stamp,
                );
            }
        }
        Record::StageBlock {
            container,
            blob,
            block_id,
            extent,
        } => {
            if let Some(c) = containers.get_mut(&container) {
                c.staged.entry(blob).or_default().insert(block_id, extent);
            }
        }
        Record::CreatePageBlob {
            container,
            blob,
            size,
            sequence_number,
            content,
            metadata,
            stamp,
        } => {
            if let Some(c) = containers.get_mut(&container) {
                let body = BlobBody::Page {
                    size,
                    pages: PageMap::default(),
                    sequence_number,
                };
                put_version(c, blob, body, content, metadata, stamp);
            }
        }
        Record::WritePages {
            container,
            blob,
            first_page,
            pages: count,
            data,
            stamp,
        } => {
            if let Some(v) = current_mut(containers, &container, &blob) {
                if let BlobBody::Page { pages, .. } = &mut v.body {
                    match data {
                        Some(at) => pages.write(first_page, count, at),
                        None => pages.clear(first_page, count),
                    }
                    touch(v, stamp);
                }
            }
        }
        Record::Snapshot {
            container,
            blob,
            snapshot,
            metadata,
        } => {
            if let Some(entry) = containers
                .get_mut(&container)
                .and_then(|c| c.blobs.get_mut(&blob))
            {
                let mut version = entry.current.clone();
                if let Some(metadata) = metadata {
                    version.metadata = metadata;
                }
                entry.snapshots.insert(snapshot, Box::new(version));
            }
        }
        Record::DeleteBlob {
            container,
            blob,
            target,
        } => {
            if let Some(c) = containers.get_mut(&container) {
                match target {
                    DeleteTarget::BlobAndSnapshots => {
                        c.blobs.remove(&blob);
                    }
                    DeleteTarget::SnapshotsOnly => {
                        if let Some(entry) = c.blobs.get_mut(&blob) {
                            entry.snapshots.clear();
                        }
                    }
                    DeleteTarget::Snapshot(at) => {
                        if let Some(entry) = c.blobs.get_mut(&blob) {
                            entry.snapshots.remove(&at);
                        }
                    }
                }
            }
        }
        Record::SetBlobProperties {
            container,
            blob,
            content,
            stamp,
        } => {
            if let Some(v) = current_mut(containers, &container, &blob) {
                v.content = content.into();
                touch(v, stamp);
            }
        }
        Record::SetBlobMetadata {
            container,
            blob,
            metadata,
            stamp,
        } => {
            if let Some(v) = current_mut(containers, &container, &blob) {
                v.metadata = metadata;
                touch(v, stamp);
            }
        }
        Record::ResizePageBlob {
            container,
            blob,
            size: new_size,
            stamp,
        } => {
            if let Some(v) = current_mut(containers, &container, &blob) {
                if let BlobBody::Page { size, pages, .. } = &mut v.body {
                    if new_size < *size {
                        pages.truncate(new_size / PAGE_SIZE);
                    }
                    *size = new_size;
                    touch(v, stamp);
                }
            }
        }
        Record::SetSequenceNumber {
            container,
            blob,
            sequence_number: new,
            stamp,
        } => {
            if let Some(v) = current_mut(containers, &container, &blob) {
                if let BlobBody::Page {
                    sequence_number, ..
                } = &mut v.body
                {
                    *sequence_number = new;
                    touch(v, stamp);
                }
            }
        }
    }
}

fn current_mut<'a>(
    containers: &'a mut Containers,
    container: &str,
    blob: &str,
) -> Option<&'a mut BlobVersion> {
    containers
        .get_mut(container)?
        .blobs
        .get_mut(blob)
        .map(|e| &mut e.current)
}

fn touch(version: &mut BlobVersion, stamp: Stamp) {
    version.modified = stamp.at;
    version.etag = stamp.etag;
}

fn touch_container(container: &mut Container, stamp: Stamp) {
    container.modified = stamp.at;
    container.etag = stamp.etag;
}

/// Creates or replaces the base blob. Replacing keeps its snapshots, as Azure does.
fn put_version(
    container: &mut Container,
    blob: String,
    body: BlobBody,
    content: ContentProperties,
    metadata: Metadata,
    stamp: Stamp,
) {
    let created = container
        .blobs
        .get(&blob)
        .map_or(stamp.at, |e| e.current.created);
    let current = BlobVersion {
        body,
        content: content.into(),
        metadata,
        created,
        modified: stamp.at,
        etag: stamp.etag,
    };
    match container.blobs.get_mut(&blob) {
        Some(entry) => entry.current = current,
        None => {
            container.blobs.insert(
                blob,
                Box::new(BlobEntry {
                    current,
                    snapshots: BTreeMap::new(),
                }),
            );
        }
    }
}
