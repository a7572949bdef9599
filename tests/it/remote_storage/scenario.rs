//! One fixed run of every seam operation, recorded step by step without what legitimately
//! differs between stores (ETags, snapshot times), so that two storages' runs compare.

use std::borrow::Borrow;
use std::fmt::Debug;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use vaultsim::storage::{BlobPath, BlobStorage, ByteRange, PageDiff, StorageError, Timestamp};

const MIB: u64 = 1 << 20;
pub const CONTAINER: &str = "remote-scenario";
/// A name with the characters a URL must escape, and the `/` it must not.
const DISK: &str = "disks/vm 1/os disk+ü%.vhd";
const STATUS: &str = "status/vm 1/task.status";

/// The steps in order: what was done, and what came back.
pub type Transcript = Vec<(String, String)>;

/// The step labels of diffs, which a store without real diffs answers `Unsupported`.
pub const DIFF_STEP: &str = "diff";

fn error_name(error: &StorageError) -> String {
    match error {
        StorageError::Remote { status, code, .. } => format!("Remote({status} {code})"),
        StorageError::Transport(_) => "Transport".into(),
        named => format!("{named:?}"),
    }
}

struct Recorder {
    transcript: Transcript,
}

impl Recorder {
    fn note<T: Debug, E: Borrow<StorageError>>(
        &mut self,
        step: impl Into<String>,
        result: &Result<T, E>,
    ) {
        let shown = match result {
            Ok(value) => format!("Ok({value:?})"),
            Err(error) => format!("Err({})", error_name(error.borrow())),
        };
        self.transcript.push((step.into(), shown));
    }

    /// Notes the outcome without its value (an ETag, a snapshot time) and hands it back.
    fn note_done<T>(&mut self, step: &str, result: Result<T, StorageError>) -> Option<T> {
        self.note(step, &result.as_ref().map(|_| ()));
        result.ok()
    }
}

/// Bytes that differ from page to page and from run to run of `seed`.
fn pattern(len: u64, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i / 512) as u8 ^ (i as u8).wrapping_mul(31) ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

/// Short enough to read in a failure, long enough to tell contents apart.
fn digest(bytes: &Bytes) -> String {
    let hash = Sha256::digest(bytes);
    format!(
        "{} bytes {:02x}{:02x}{:02x}{:02x}",
        bytes.len(),
        hash[0],
        hash[1],
        hash[2],
        hash[3]
    )
}

fn range(start: u64, len: u64) -> ByteRange {
    ByteRange {
        start,
        end: start + len - 1,
    }
}

fn at(snapshot: Option<Timestamp>) -> BlobPath<'static> {
    BlobPath {
        container: CONTAINER,
        blob: DISK,
        snapshot,
    }
}

/// Runs the scenario on `storage` (whose account must not hold [`CONTAINER`]).
pub async fn run(storage: &dyn BlobStorage) -> Transcript {
    let mut r = Recorder {
        transcript: Vec::new(),
    };
    let whole = range(0, 8 * MIB);
    let base = at(None);

    r.note(
        "create container",
        &storage.create_container(CONTAINER).await,
    );
    r.note(
        "create it again",
        &storage.create_container(CONTAINER).await,
    );
    let metadata = vec![
        ("a_first".to_owned(), "1".to_owned()),
        ("b_second".to_owned(), "two".to_owned()),
    ];
    let created = storage
        .create_page_blob(CONTAINER, DISK, 8 * MIB, metadata.clone(), true)
        .await;
    r.note_done("create page blob if none", created);
    let again = storage
        .create_page_blob(CONTAINER, DISK, 8 * MIB, metadata, true)
        .await;
    r.note_done("create it again if none", again);
    r.note("properties", &properties(storage, base).await);

    let full_write = storage
        .write_pages(CONTAINER, DISK, 0, pattern(4 * MIB, 1))
        .await;
    r.note("write 4 MiB at 0", &full_write);
    let small = storage
        .write_pages(CONTAINER, DISK, 6 * MIB, pattern(1024, 2))
        .await;
    r.note("write 1 KiB at 6 MiB", &small);
    let apart = storage
        .write_pages(CONTAINER, DISK, 6 * MIB + 4096, pattern(512, 3))
        .await;
    r.note("write a page at 6 MiB + 4 KiB", &apart);
    let cleared = storage.clear_pages(CONTAINER, DISK, range(MIB, MIB)).await;
    r.note("clear the second MiB", &cleared);
    r.note("page ranges", &storage.page_ranges(base, whole).await);
    r.note(
        "page ranges in a window",
        &storage.page_ranges(base, range(6 * MIB, 8192)).await,
    );
    let read = storage.read_range(base, range(4 * MIB - 512, 1024)).await;
    r.note(
        "the hole after the data reads as zeros",
        &read.as_ref().map(|b| b[512..].iter().all(|&x| x == 0)),
    );
    r.note("read across data and hole", &read.map(|b| digest(&b)));
    r.note(
        "read all 8 MiB",
        &storage.read_range(base, whole).await.map(|b| digest(&b)),
    );

    let s1 = r.note_done("snapshot s1", storage.snapshot(CONTAINER, DISK, None).await);
    let after_s1 = [
        storage
            .write_pages(CONTAINER, DISK, 512, pattern(512, 4))
            .await,
        storage
            .clear_pages(CONTAINER, DISK, range(6 * MIB, 512))
            .await,
        storage
            .write_pages(CONTAINER, DISK, 7 * MIB, pattern(1536, 5))
            .await,
    ];
    r.note(
        "write, clear, write",
        &after_s1.into_iter().collect::<Result<Vec<()>, _>>(),
    );
    let s2 = r.note_done("snapshot s2", storage.snapshot(CONTAINER, DISK, None).await);
    let after_s2 = storage
        .write_pages(CONTAINER, DISK, 0, pattern(512, 6))
        .await;
    r.note("write after s2", &after_s2);
    let (s1, s2) = (s1.expect("snapshot s1"), s2.expect("snapshot s2"));
    r.note(
        format!("{DIFF_STEP}: s2 since s1"),
        &storage.page_ranges_since(at(Some(s2)), s1, whole).await,
    );
    r.note(
        format!("{DIFF_STEP}: base since s1"),
        &storage.page_ranges_since(base, s1, whole).await,
    );
    r.note(
        format!("{DIFF_STEP}: s2 since s1 in a window"),
        &storage
            .page_ranges_since(at(Some(s2)), s1, range(6 * MIB, MIB + 4096))
            .await,
    );
    r.note(
        "page ranges of s1",
        &storage.page_ranges(at(Some(s1)), whole).await,
    );
    r.note(
        "read s1",
        &storage
            .read_range(at(Some(s1)), range(0, 2048))
            .await
            .map(|b| digest(&b)),
    );

    let grown = storage
        .resize_page_blob(CONTAINER, DISK, 12 * MIB, None)
        .await;
    r.note_done("grow to 12 MiB", grown);
    r.note("properties after growing", &properties(storage, base).await);
    r.note(
        "the grown part reads as zeros",
        &storage
            .read_range(base, range(11 * MIB, 4096))
            .await
            .map(|b| b.iter().all(|&x| x == 0)),
    );
    let stale = storage
        .resize_page_blob(CONTAINER, DISK, 8 * MIB, Some("\"0x8DEADBEEF\""))
        .await;
    r.note_done("shrink under a stale ETag", stale);
    let etag = storage.properties(base).await.map(|p| p.etag);
    let current = match &etag {
        Ok(etag) => {
            storage
                .resize_page_blob(CONTAINER, DISK, 8 * MIB, Some(etag))
                .await
        }
        Err(_) => Err(StorageError::Transport("no ETag".into())),
    };
    r.note(
        "shrink under the current ETag gives a new ETag",
        &current.map(|new| Some(new) != etag.ok()),
    );
    let replaced = storage
        .set_metadata(CONTAINER, DISK, vec![("a_first".into(), "changed".into())])
        .await;
    r.note("set metadata", &replaced);
    r.note(
        "properties after set metadata",
        &properties(storage, base).await,
    );
    let s3 = r.note_done("snapshot s3", storage.snapshot(CONTAINER, DISK, None).await);
    r.note("properties of s3", &properties(storage, at(s3)).await);

    let taken: Vec<Timestamp> = [Some(s1), Some(s2), s3].into_iter().flatten().collect();
    let listed = storage.list_snapshots(CONTAINER, DISK).await;
    r.note(
        "list snapshots: their metadata",
        &listed
            .as_ref()
            .map(|l| l.iter().map(|s| s.metadata.clone()).collect::<Vec<_>>()),
    );
    r.note(
        "list snapshots: the ids snapshot gave, oldest first",
        &listed.map(|l| l.iter().map(|s| s.snapshot).collect::<Vec<_>>() == taken),
    );
    r.note("delete s2", &storage.delete_blob(at(Some(s2))).await);
    r.note(
        "properties of deleted s2",
        &properties(storage, at(Some(s2))).await,
    );
    r.note(
        "read deleted s2",
        &storage
            .read_range(at(Some(s2)), range(0, 512))
            .await
            .map(|b| digest(&b)),
    );
    r.note(
        format!("{DIFF_STEP}: base since deleted s2"),
        &storage.page_ranges_since(base, s2, whole).await,
    );
    r.note(
        "list snapshots after deleting s2",
        &storage
            .list_snapshots(CONTAINER, DISK)
            .await
            .map(|l| l.len()),
    );
    r.note("delete the base blob", &storage.delete_blob(base).await);
    r.note("properties of base", &properties(storage, base).await);
    r.note("properties of s1", &properties(storage, at(Some(s1))).await);
    r.note(
        "list snapshots after deleting the base",
        &storage
            .list_snapshots(CONTAINER, DISK)
            .await
            .map(|l| l.len()),
    );
    r.note(
        "write to the deleted blob",
        &storage
            .write_pages(CONTAINER, DISK, 0, pattern(512, 7))
            .await,
    );

    let status = storage
        .put_block_blob(
            CONTAINER,
            STATUS,
            Bytes::from_static(b"{\"status\":\"ok\"}"),
        )
        .await;
    r.note_done("put block blob", status);
    let status_at = BlobPath::base(CONTAINER, STATUS);
    r.note(
        "properties of the block blob",
        &properties(storage, status_at).await,
    );
    r.note(
        "write pages to the block blob",
        &storage
            .write_pages(CONTAINER, STATUS, 0, pattern(512, 8))
            .await,
    );
    r.note(
        "page ranges of the block blob",
        &storage.page_ranges(status_at, range(0, 512)).await,
    );

    r.note(
        "delete container",
        &storage.delete_container(CONTAINER).await,
    );
    r.note(
        "delete it again",
        &storage.delete_container(CONTAINER).await,
    );
    let orphan = storage
        .create_page_blob(CONTAINER, DISK, MIB, Vec::new(), false)
        .await;
    r.note_done("create a page blob in the deleted container", orphan);
    r.note(
        "list snapshots in the deleted container",
        &storage.list_snapshots(CONTAINER, DISK).await,
    );
    r.transcript
}

/// Properties without the ETag.
async fn properties(storage: &dyn BlobStorage, at: BlobPath<'_>) -> Result<String, StorageError> {
    let properties = storage.properties(at).await?;
    Ok(format!(
        "{:?} {} bytes {:?}",
        properties.kind, properties.size, properties.metadata
    ))
}

/// Whether a diff answer is a real one.
pub fn is_spans(answer: &str) -> bool {
    answer.starts_with("Ok(Spans(")
}

/// The answer a store without real diffs gives.
pub fn unsupported() -> String {
    format!("Ok({:?})", PageDiff::Unsupported)
}
