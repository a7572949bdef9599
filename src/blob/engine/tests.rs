//! Store-level tests: restart replays to the same state, and deleting frees space.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use super::*;

const MIB: u64 = 1 << 20;

fn open(dir: &Path) -> Arc<BlobStore> {
    Arc::new(
        BlobStore::open(dir, Clock::default(), StoreOptions::default())
            .unwrap()
            .0,
    )
}

fn page_blob(store: &BlobStore, size: u64) {
    store.create_container("c", Vec::new(), None).unwrap();
    let new = NewPageBlob {
        size,
        sequence_number: 0,
        content: ContentProperties::default(),
        metadata: Vec::new(),
    };
    store
        .create_page_blob("c", "b", new, &Conditions::default())
        .unwrap();
}

fn write(store: &BlobStore, offset: u64, len: u64, byte: u8) {
    let range = ByteRange {
        start: offset,
        end: offset + len - 1,
    };
    let mut upload = store.begin_upload(len);
    upload.write(&vec![byte; len as usize]).unwrap();
    store
        .write_pages(
            "c",
            "b",
            range,
            Some(upload),
            &Conditions::default(),
            Default::default(),
        )
        .unwrap();
}

fn take_snapshot(store: &BlobStore) -> Timestamp {
    store
        .snapshot("c", "b", None, &Conditions::default())
        .unwrap()
        .0
}

fn at(snapshot: Option<Timestamp>) -> BlobAddress<'static> {
    BlobAddress {
        container: "c",
        blob: "b",
        snapshot,
    }
}

/// Bytes the segment files occupy on disk (holes excluded).
fn allocated(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().blocks() * 512)
        .sum()
}

#[tokio::test]
async fn a_reopened_store_has_the_same_blobs_snapshots_and_diffs() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = {
        let store = open(dir.path());
        page_blob(&store, 8 * MIB);
        write(&store, 0, MIB, 1);
        let snapshot = take_snapshot(&store);
        write(&store, 512, 1024, 2);
        snapshot
    };
    let store = open(dir.path());
    assert_eq!(
        diff_since(&store, snapshot),
        vec![DiffSpan::Written(PageSpan { first: 1, count: 2 })]
    );
    let next = take_snapshot(&store);
    assert!(
        next > snapshot,
        "snapshot ids keep increasing after a restart"
    );
}

/// The store's size: base blobs counted as they come and go (a replaced blob, a snapshot
/// or a blob in a deleted container counted right), the same after a reopen; bytes as the
/// segments take them on disk.
#[tokio::test]
async fn the_store_counts_its_blobs_as_they_come_and_go_and_its_bytes_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = |store: &BlobStore| store.usage().unwrap().blobs;
    {
        let store = open(dir.path());
        page_blob(&store, 8 * MIB);
        write(&store, 0, MIB, 1);
        take_snapshot(&store);
        assert_eq!(blobs(&store), 1, "a snapshot is a version, not a blob");
        let again = NewPageBlob {
            size: MIB,
            sequence_number: 0,
            content: ContentProperties::default(),
            metadata: Vec::new(),
        };
        let replace = Conditions::default();
        store.create_page_blob("c", "b", again, &replace).unwrap();
        assert_eq!(blobs(&store), 1, "replaced, not added");
        store.create_container("d", Vec::new(), None).unwrap();
        for name in ["x", "y"] {
            let new = NewPageBlob {
                size: MIB,
                sequence_number: 0,
                content: ContentProperties::default(),
                metadata: Vec::new(),
            };
            store.create_page_blob("d", name, new, &replace).unwrap();
        }
        assert_eq!(blobs(&store), 3);
        store
            .delete_blob(
                BlobAddress {
                    container: "d",
                    blob: "x",
                    snapshot: None,
                },
                Some(true),
                &replace,
            )
            .unwrap();
        assert_eq!(blobs(&store), 2);
        assert_eq!(store.usage().unwrap().bytes, allocated(dir.path()));
        assert!(store.usage().unwrap().bytes >= MIB);
    }
    let store = open(dir.path());
    assert_eq!(blobs(&store), 2, "the same after a reopen");
    store.delete_container("d", &Conditions::default()).unwrap();
    assert_eq!(blobs(&store), 1);
}

#[tokio::test]
async fn deleting_a_snapshot_frees_the_data_only_it_used() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    page_blob(&store, 64 * MIB);
    for i in 0..8 {
        write(&store, i * 4 * MIB, 4 * MIB, 1);
    }
    let snapshot = take_snapshot(&store);
    for i in 0..8 {
        write(&store, i * 4 * MIB, 4 * MIB, 2);
    }
    store.collect_garbage().await.unwrap();
    let with_snapshot = allocated(dir.path());
    assert!(
        with_snapshot >= 64 * MIB,
        "both versions are kept: {with_snapshot}"
    );

    store
        .delete_blob(at(Some(snapshot)), None, &Conditions::default())
        .unwrap();
    store.collect_garbage().await.unwrap();
    let after = allocated(dir.path());
    assert!(
        after <= 33 * MIB,
        "the snapshot's 32 MiB are freed, the live 32 MiB kept: {after}"
    );
    let read = store.read_blob(at(None), &Conditions::default()).unwrap();
    let mut stream = Box::pin(read.into_stream(ByteRange {
        start: 0,
        end: 32 * MIB - 1,
    }));
    use futures_util::StreamExt;
    while let Some(chunk) = stream.next().await {
        assert!(chunk.unwrap().iter().all(|&b| b == 2));
    }
}

fn diff_since(store: &BlobStore, snapshot: Timestamp) -> Vec<DiffSpan> {
    let ranges = store
        .page_ranges(at(None), Some(snapshot), None, &Conditions::default())
        .unwrap();
    match ranges.report {
        PageRangesReport::Diff(diff) => diff,
        PageRangesReport::Ranges(_) => panic!("a diff was asked for"),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "segments")
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_checkpoint_plus_the_journal_after_it_restores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, expected_diff) = {
        let store = open(dir.path());
        page_blob(&store, 8 * MIB);
        write(&store, 0, MIB, 1);
        let snapshot = take_snapshot(&store);
        assert_eq!(store.checkpoint().await.unwrap(), 1);
        write(&store, 4096, 512, 2);
        store.create_container("after", Vec::new(), None).unwrap();
        (snapshot, diff_since(&store, snapshot))
    };
    assert_eq!(
        files(dir.path()),
        vec!["checkpoint-00000001", "journal-00000001"]
    );
    let (store, report) =
        BlobStore::open(dir.path(), Clock::default(), StoreOptions::default()).unwrap();
    assert_eq!(report.checkpoint_generation, Some(1));
    assert_eq!(
        report.records, 2,
        "only the records after the checkpoint are replayed"
    );
    assert_eq!(diff_since(&store, snapshot), expected_diff);
    assert!(store.container("after").is_ok());
}

#[tokio::test]
async fn a_checkpoint_cut_short_by_a_crash_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        page_blob(&store, 8 * MIB);
        write(&store, 0, MIB, 1);
        // The journal switches, then the process dies before the checkpoint is written.
        store.switch_journal().unwrap();
        write(&store, MIB, MIB, 2);
    }
    assert_eq!(
        files(dir.path()),
        vec!["journal-00000000", "journal-00000001"]
    );
    let store = open(dir.path());
    let ranges = store
        .page_ranges(at(None), None, None, &Conditions::default())
        .unwrap();
    let PageRangesReport::Ranges(spans) = ranges.report else {
        panic!("plain ranges were asked for");
    };
    assert_eq!(
        spans,
        vec![PageSpan {
            first: 0,
            count: 2 * MIB / PAGE_SIZE
        }]
    );
}

#[tokio::test]
async fn a_store_with_a_missing_journal_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        page_blob(&store, 8 * MIB);
        store.switch_journal().unwrap();
        store.switch_journal().unwrap();
    }
    std::fs::remove_file(dir.path().join("journal-00000001")).unwrap();
    let error = BlobStore::open(dir.path(), Clock::default(), StoreOptions::default()).unwrap_err();
    assert!(error.to_string().contains("damaged"), "{error}");
}

#[tokio::test]
async fn listing_with_a_delimiter_pages_through_groups_and_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_container("c", Vec::new(), None).unwrap();
    for name in ["a/1", "a/2", "b", "c/1", "c/2/x"] {
        let upload = store.begin_upload(0);
        store
            .put_block_blob(
                "c",
                name,
                upload,
                ContentProperties::default(),
                Vec::new(),
                &Conditions::default(),
            )
            .unwrap();
    }
    let mut query = ListBlobsQuery {
        delimiter: Some("/".into()),
        max_results: 1,
        ..Default::default()
    };
    let mut listed = Vec::new();
    loop {
        let page = store.list_blobs("c", &query).unwrap();
        assert!(page.items.len() <= 1);
        listed.extend(page.items.into_iter().map(|item| match item {
            ListItem::Prefix(p) => p,
            ListItem::Blob { name, .. } => name,
        }));
        match page.next_marker {
            Some(marker) => query.marker = Some(marker),
            None => break,
        }
    }
    assert_eq!(listed, vec!["a/", "b", "c/"]);
}

#[test]
fn write_watchers_hear_committed_writes_in_their_containers_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut watching = store.watch_writes("c");
    let mut elsewhere = store.watch_writes("other");
    page_blob(&store, 4096);
    write(&store, 0, 512, 7);
    let heard = watching.try_recv().expect("the page write is announced");
    assert_eq!((heard.container.as_str(), heard.blob.as_str()), ("c", "b"));
    let current = store.read_blob(at(None), &Conditions::default()).unwrap();
    assert_eq!(heard.etag, current.version.etag);
    assert!(
        watching.try_recv().is_err(),
        "creating the blob is no content write"
    );
    assert!(elsewhere.try_recv().is_err());
}
