//! Checkpoints: the whole metadata state in one file, so that a restart replays only the
//! journal written since, not the store's entire history.
//!
//! Files come in generations: `checkpoint-G` is the state at the start of `journal-G`.
//! Taking checkpoint G+1 first switches appends to `journal-G+1` (under the store lock,
//! with a cheap clone of the state: page maps clone in O(1)), then writes the checkpoint
//! outside the lock to a temporary file, syncs and renames it. A crash at any point leaves
//! either the new checkpoint, or the old one plus both journals: opening replays every
//! journal from the newest whole checkpoint's generation on.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::journal::{decode_frame, encode_frame};
use super::model::{
    BlobBody, BlobEntry, BlobVersion, CommittedBlock, Container, ContentProperties, ETag, Metadata,
    PublicAccess, SignedIdentifier, Timestamp,
};
use super::pagemap::{import_nodes, NodeExporter, NodeImage, PageMap};
use super::record::Containers;
use super::segments::Extent;

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointImage {
    last_stamp: i64,
    nodes: Vec<NodeImage>,
    containers: Vec<ContainerImage>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ContainerImage {
    name: String,
    metadata: Metadata,
    modified: Timestamp,
    etag: ETag,
    public_access: Option<PublicAccess>,
    identifiers: Vec<SignedIdentifier>,
    blobs: Vec<BlobImage>,
    staged: Vec<(String, Vec<(String, Extent)>)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct BlobImage {
    name: String,
    current: VersionImage,
    snapshots: Vec<(Timestamp, VersionImage)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct VersionImage {
    body: BodyImage,
    content: ContentProperties,
    metadata: Metadata,
    created: Timestamp,
    modified: Timestamp,
    etag: ETag,
}

#[derive(Debug, Serialize, Deserialize)]
enum BodyImage {
    Page {
        size: u64,
        root: Option<u32>,
        sequence_number: u64,
    },
    Block {
        blocks: Vec<CommittedBlock>,
    },
}

pub fn checkpoint_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("checkpoint-{generation:08}"))
}

pub fn journal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal-{generation:08}"))
}

/// The generations of the checkpoints and journals in `dir`, each list ascending.
pub fn generations(dir: &Path) -> io::Result<(Vec<u64>, Vec<u64>)> {
    let mut checkpoints = Vec::new();
    let mut journals = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(g) = name
            .strip_prefix("checkpoint-")
            .and_then(|g| g.parse().ok())
        {
            checkpoints.push(g);
        } else if let Some(g) = name.strip_prefix("journal-").and_then(|g| g.parse().ok()) {
            journals.push(g);
        }
    }
    checkpoints.sort_unstable();
    journals.sort_unstable();
    Ok((checkpoints, journals))
}

/// Removes checkpoints and journals older than `generation`, and unfinished checkpoints:
/// the checkpoint of `generation` covers them. Best effort; leftovers are removed later.
pub fn remove_generations_before(dir: &Path, generation: u64) {
    let Ok((checkpoints, journals)) = generations(dir) else {
        return;
    };
    for g in checkpoints.into_iter().filter(|&g| g < generation) {
        let _ = std::fs::remove_file(checkpoint_path(dir, g));
    }
    for g in journals.into_iter().filter(|&g| g < generation) {
        let _ = std::fs::remove_file(journal_path(dir, g));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Writes the state as checkpoint `generation`: temporary file, fsync, rename, fsync dir.
pub fn write(
    dir: &Path,
    generation: u64,
    containers: &Containers,
    last_stamp: i64,
) -> io::Result<()> {
    let payload =
        postcard::to_allocvec(&image(containers, last_stamp)).map_err(io::Error::other)?;
    let final_path = checkpoint_path(dir, generation);
    let temporary = final_path.with_extension("tmp");
    let mut file = File::create(&temporary)?;
    file.write_all(&encode_frame(&payload))?;
    file.sync_all()?;
    std::fs::rename(&temporary, &final_path)?;
    File::open(dir)?.sync_all()
}

/// Reads checkpoint `generation`; `None` if it is missing, torn or inconsistent.
pub fn read(dir: &Path, generation: u64) -> Option<(Containers, i64)> {
    let bytes = std::fs::read(checkpoint_path(dir, generation)).ok()?;
    let (payload, _) = decode_frame(&bytes, 0, u32::MAX as usize)?;
    let image: CheckpointImage = postcard::from_bytes(payload).ok()?;
    restore(image)
}

fn image(containers: &Containers, last_stamp: i64) -> CheckpointImage {
    let mut nodes = NodeExporter::default();
    let mut version_image = |v: &BlobVersion| VersionImage {
        body: match &v.body {
            BlobBody::Page {
                size,
                pages,
                sequence_number,
            } => BodyImage::Page {
                size: *size,
                root: pages.export(&mut nodes),
                sequence_number: *sequence_number,
            },
            BlobBody::Block { blocks } => BodyImage::Block {
                blocks: blocks.clone(),
            },
        },
        content: (*v.content).clone(),
        metadata: v.metadata.clone(),
        created: v.created,
        modified: v.modified,
        etag: v.etag,
    };
    let containers = containers
        .iter()
        .map(|(name, c)| ContainerImage {
            name: name.clone(),
            metadata: c.metadata.clone(),
            modified: c.modified,
            etag: c.etag,
            public_access: c.public_access,
            identifiers: c.identifiers.clone(),
            blobs: c
                .blobs
                .iter()
                .map(|(blob, entry)| {
                    let snapshots = entry
                        .snapshots
                        .iter()
                        .map(|(at, v)| (*at, version_image(v)))
                        .collect();
                    BlobImage {
                        name: blob.clone(),
                        current: version_image(&entry.current),
                        snapshots,
                    }
                })
                .collect(),
            staged: c
                .staged
                .iter()
                .map(|(blob, blocks)| {
                    let blocks = blocks.iter().map(|(id, e)| (id.clone(), *e)).collect();
                    (blob.clone(), blocks)
                })
                .collect(),
        })
        .collect();
    CheckpointImage {
        last_stamp,
        nodes: nodes.images,
        containers,
    }
}

fn restore(image: CheckpointImage) -> Option<(Containers, i64)> {
    let nodes = import_nodes(image.nodes)?;
    let version = |v: VersionImage| -> Option<BlobVersion> {
        Some(BlobVersion {
            body: match v.body {
                BodyImage::Page {
                    size,
                    root,
                    sequence_number,
                } => BlobBody::Page {
                    size,
                    pages: PageMap::import(root, &nodes)?,
                    sequence_number,
                },
                BodyImage::Block { blocks } => BlobBody::Block { blocks },
            },
            content: v.content.into(),
            metadata: v.metadata,
            created: v.created,
            modified: v.modified,
            etag: v.etag,
        })
    };
    let mut containers = Containers::new();
    for c in image.containers {
        let mut blobs = std::collections::BTreeMap::new();
        for blob in c.blobs {
            let snapshots = blob
                .snapshots
                .into_iter()
                .map(|(at, v)| Some((at, Box::new(version(v)?))))
                .collect::<Option<_>>()?;
            let current = version(blob.current)?;
            blobs.insert(blob.name, Box::new(BlobEntry { current, snapshots }));
        }
        let staged = c
            .staged
            .into_iter()
            .map(|(blob, blocks)| (blob, blocks.into_iter().collect()))
            .collect();
        containers.insert(
            c.name,
            Container {
                metadata: c.metadata,
                modified: c.modified,
                etag: c.etag,
                public_access: c.public_access,
                identifiers: c.identifiers,
                blobs,
                staged,
            },
        );
    }
    Some((containers, image.last_stamp))
}
