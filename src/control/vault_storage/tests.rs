//! Transfers, restores and deletions against a real store in a temporary directory. Every
//! restore is checked by reading both blobs whole and comparing bytes.

use tokio::runtime::Runtime;

use super::pages::byte_range;
use super::transfer::{mark, PENDING_KEY, SYNCED_KEY};
use super::*;
use crate::blob::engine::{
    BlobAddress, BlobStore, Conditions, ContentProperties, NewPageBlob, PageRangesReport, PageSpan,
    StoreOptions, PAGE_SIZE,
};
use crate::clock::Clock;
use crate::resources::compute::OS_DISK_LUN;

const MIB: u64 = 1 << 20;
const DISKS: &str = "disks";
const DISK: &str = "vm1-os";

/// A store in a temporary directory, used inside a runtime context as the engine's
/// `spawn_blocking` threads would.
fn with_store(test: impl FnOnce(&BlobStore)) {
    let runtime = Runtime::new().unwrap();
    let _context = runtime.enter();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) =
        BlobStore::open(dir.path(), Clock::default(), StoreOptions::default()).unwrap();
    test(&store);
}

fn vault() -> VaultDisk {
    vault_disk(
        "1f2e3d4c-0000-4000-8000-00000000abcd",
        "VM;iaasvmcontainerv2;rg;vm1",
        OS_DISK_LUN,
    )
}

fn create_disk(store: &BlobStore, size: u64) {
    store.create_container(DISKS, Vec::new(), None).unwrap();
    let new = NewPageBlob {
        size,
        sequence_number: 0,
        content: ContentProperties::default(),
        metadata: Vec::new(),
    };
    store
        .create_page_blob(DISKS, DISK, new, &Conditions::default())
        .unwrap();
}

/// Writes `count` pages from `first`, each page's bytes depending on its index and `seed`.
fn write_disk(store: &BlobStore, first: u64, count: u64, seed: u8) {
    let span = PageSpan { first, count };
    for piece in pages::pieces(span, pages::PIECE_PAGES) {
        let bytes: Vec<u8> = (0..piece.count * PAGE_SIZE)
            .map(|i| ((piece.first * PAGE_SIZE + i) / 7) as u8 ^ seed)
            .collect();
        let mut upload = store.begin_upload(bytes.len() as u64);
        upload.write(&bytes).unwrap();
        store
            .write_pages(
                DISKS,
                DISK,
                byte_range(piece),
                Some(upload),
                &Conditions::default(),
                Default::default(),
            )
            .unwrap();
    }
}

fn clear_disk(store: &BlobStore, first: u64, count: u64) {
    store
        .write_pages(
            DISKS,
            DISK,
            byte_range(PageSpan { first, count }),
            None,
            &Conditions::default(),
            Default::default(),
        )
        .unwrap();
}

fn snapshot_disk(store: &BlobStore) -> DiskSnapshotRef {
    let (snapshot, _) = store
        .snapshot(DISKS, DISK, None, &Conditions::default())
        .unwrap();
    DiskSnapshotRef {
        container: DISKS.to_owned(),
        blob: DISK.to_owned(),
        snapshot,
    }
}

fn disk_at(snapshot: &DiskSnapshotRef) -> BlobAddress<'_> {
    BlobAddress {
        container: &snapshot.container,
        blob: &snapshot.blob,
        snapshot: Some(snapshot.snapshot),
    }
}

fn vault_at(vault: &VaultDisk, snapshot: Timestamp) -> BlobAddress<'_> {
    BlobAddress {
        container: &vault.container,
        blob: &vault.blob,
        snapshot: Some(snapshot),
    }
}

/// The whole content of a page blob version.
fn read_all(store: &BlobStore, at: BlobAddress<'_>) -> Vec<u8> {
    let size = transfer::page_blob_size(store, at).unwrap();
    let mut all = Vec::new();
    let mut piece = Vec::new();
    for span in pages::pieces(
        PageSpan {
            first: 0,
            count: size / PAGE_SIZE,
        },
        pages::PIECE_PAGES,
    ) {
        pages::read_span(store, at, span, &mut piece).unwrap();
        all.extend_from_slice(&piece);
    }
    all
}

fn ranges(store: &BlobStore, at: BlobAddress<'_>) -> Vec<PageSpan> {
    match store
        .page_ranges(at, None, None, &Conditions::default())
        .unwrap()
        .report
    {
        PageRangesReport::Ranges(spans) => spans,
        PageRangesReport::Diff(_) => unreachable!(),
    }
}

/// Restores `rp` to a new blob and checks it equals `disk` byte for byte, holes included.
fn assert_restores(store: &BlobStore, rp: &TransferReport, disk: &DiskSnapshotRef, target: &str) {
    let copied = restore_disk(store, &vault(), rp.vault_snapshot, "restored", target).unwrap();
    let restored = BlobAddress {
        container: "restored",
        blob: target,
        snapshot: None,
    };
    let written: u64 = ranges(store, disk_at(disk))
        .iter()
        .map(|s| s.count * PAGE_SIZE)
        .sum();
    assert_eq!(copied, written, "a restore copies the written ranges only");
    assert_eq!(ranges(store, restored), ranges(store, disk_at(disk)));
    assert!(
        read_all(store, restored) == read_all(store, disk_at(disk)),
        "restored bytes differ"
    );
}

#[test]
fn the_first_transfer_copies_exactly_the_written_bytes() {
    with_store(|store| {
        create_disk(store, 16 * MIB);
        write_disk(store, 0, 8, 1);
        // Longer than one Put Page: copied in pieces.
        write_disk(store, 4000, (5 * MIB) / PAGE_SIZE, 2);
        write_disk(store, 30_000, 3, 3);
        let disk = snapshot_disk(store);
        let rp = transfer_disk(store, &disk, None, &vault()).unwrap();
        assert_eq!(rp.mode, TransferMode::Full);
        assert_eq!(rp.bytes_transferred, (8 + 3) * PAGE_SIZE + 5 * MIB);
        assert_eq!(rp.bytes_cleared, 0);
        assert_eq!(
            ranges(store, vault_at(&vault(), rp.vault_snapshot)),
            ranges(store, disk_at(&disk))
        );
        assert_restores(store, &rp, &disk, "r1");
    });
}

#[test]
fn an_incremental_transfer_copies_exactly_the_changed_pages_and_clears_cleared_ones() {
    with_store(|store| {
        create_disk(store, 8 * MIB);
        write_disk(store, 0, 2048, 1);
        let first = snapshot_disk(store);
        transfer_disk(store, &first, None, &vault()).unwrap();
        // 7 changed pages: two adjacent, one over old data, one in a hole.
        for page in [3, 4, 100, 2047, 5000, 9000, 16_000] {
            write_disk(store, page, 1, 9);
        }
        clear_disk(store, 1000, 24);
        let second = snapshot_disk(store);
        let rp = transfer_disk(store, &second, Some(&first), &vault()).unwrap();
        assert_eq!(rp.mode, TransferMode::Incremental);
        assert_eq!(rp.bytes_transferred, 7 * PAGE_SIZE);
        assert_eq!(rp.bytes_cleared, 24 * PAGE_SIZE);
        assert_restores(store, &rp, &second, "r2");
    });
}

#[test]
fn compare_mode_writes_only_differing_pages_when_the_previous_snapshot_is_gone() {
    with_store(|store| {
        create_disk(store, 8 * MIB);
        write_disk(store, 0, 4096, 1);
        let first = snapshot_disk(store);
        transfer_disk(store, &first, None, &vault()).unwrap();
        // Rewriting the same bytes is in the diff but changes nothing: Compare skips it.
        write_disk(store, 0, 512, 1);
        write_disk(store, 600, 5, 7);
        write_disk(store, 9000, 2, 7);
        clear_disk(store, 2000, 16);
        let second = snapshot_disk(store);
        delete_snapshot(store, DISKS, DISK, first.snapshot).unwrap();

        let rp = transfer_disk(store, &second, Some(&first), &vault()).unwrap();
        assert_eq!(rp.mode, TransferMode::Compare);
        assert_eq!(rp.bytes_transferred, 7 * PAGE_SIZE);
        assert_eq!(rp.bytes_cleared, 16 * PAGE_SIZE);
        assert_restores(store, &rp, &second, "r2");

        write_disk(store, 10, 1, 5);
        let third = snapshot_disk(store);
        delete_snapshot(store, DISKS, DISK, second.snapshot).unwrap();
        let rp = transfer_disk(store, &third, None, &vault()).unwrap();
        assert_eq!(rp.mode, TransferMode::Compare);
        assert_eq!(rp.bytes_transferred, PAGE_SIZE);
        assert_restores(store, &rp, &third, "r3");
    });
}

#[test]
fn an_older_recovery_point_restores_after_later_writes_and_deletions() {
    with_store(|store| {
        create_disk(store, 8 * MIB);
        let mut points = Vec::new();
        let mut previous: Option<DiskSnapshotRef> = None;
        for round in 0..4u8 {
            write_disk(store, u64::from(round) * 700, 900, round + 1);
            if round == 2 {
                clear_disk(store, 100, 50);
            }
            let disk = snapshot_disk(store);
            let rp = transfer_disk(store, &disk, previous.as_ref(), &vault()).unwrap();
            points.push((disk.clone(), rp));
            previous = Some(disk);
        }
        assert_restores(store, &points[1].1, &points[1].0, "second");
        assert_restores(store, &points[0].1, &points[0].0, "first");
        assert!(read_all(store, disk_at(&points[0].0)) != read_all(store, disk_at(&points[3].0)));

        // Expire the two oldest recovery points, both tiers, twice (cleanup is repeated
        // after a crash): the newer ones still restore.
        for _ in 0..2 {
            for (disk, rp) in &points[..2] {
                delete_snapshot(store, DISKS, DISK, disk.snapshot).unwrap();
                delete_snapshot(store, &vault().container, &vault().blob, rp.vault_snapshot)
                    .unwrap();
            }
        }
        assert!(matches!(
            restore_disk(
                store,
                &vault(),
                points[0].1.vault_snapshot,
                "restored",
                "gone"
            ),
            Err(VaultStorageError::VaultSnapshotNotFound { .. })
        ));
        assert_restores(store, &points[2].1, &points[2].0, "third");
        assert_restores(store, &points[3].1, &points[3].0, "fourth");
    });
}

#[test]
fn repeating_a_finished_transfer_copies_nothing_and_returns_the_same_recovery_point() {
    with_store(|store| {
        create_disk(store, 4 * MIB);
        write_disk(store, 0, 100, 1);
        let first = snapshot_disk(store);
        let rp1 = transfer_disk(store, &first, None, &vault()).unwrap();
        write_disk(store, 50, 10, 2);
        let second = snapshot_disk(store);
        let rp2 = transfer_disk(store, &second, Some(&first), &vault()).unwrap();
        let again = transfer_disk(store, &second, Some(&first), &vault()).unwrap();
        assert_eq!(again.vault_snapshot, rp2.vault_snapshot);
        assert_eq!(
            (again.bytes_transferred, again.mode),
            (0, TransferMode::Incremental)
        );
        assert_ne!(rp1.vault_snapshot, rp2.vault_snapshot);
        assert_restores(store, &again, &second, "again");
    });
}

/// Puts the vault blob in the state a transfer of `pending` leaves when killed after
/// writing `written`'s pages: data half copied, completion not recorded.
fn crash_midway(
    store: &BlobStore,
    synced: &DiskSnapshotRef,
    pending: &DiskSnapshotRef,
    written: PageSpan,
) {
    let vault = vault();
    let target = pages::Target {
        container: &vault.container,
        blob: &vault.blob,
    };
    pages::copy_span(store, disk_at(pending), target, written).unwrap();
    let metadata = vec![
        (SYNCED_KEY.to_owned(), mark(synced)),
        (PENDING_KEY.to_owned(), mark(pending)),
    ];
    store
        .set_blob_metadata(
            &vault.container,
            &vault.blob,
            metadata,
            &Conditions::default(),
        )
        .unwrap();
}

#[test]
fn a_transfer_rerun_after_a_crash_midway_still_gives_the_disk_content() {
    with_store(|store| {
        create_disk(store, 4 * MIB);
        write_disk(store, 0, 1000, 1);
        let first = snapshot_disk(store);
        transfer_disk(store, &first, None, &vault()).unwrap();
        write_disk(store, 0, 40, 2);
        clear_disk(store, 500, 10);
        let second = snapshot_disk(store);
        crash_midway(
            store,
            &first,
            &second,
            PageSpan {
                first: 0,
                count: 20,
            },
        );

        let rp = transfer_disk(store, &second, Some(&first), &vault()).unwrap();
        assert_eq!(rp.mode, TransferMode::Incremental);
        assert_eq!(rp.bytes_transferred, 40 * PAGE_SIZE);
        assert_restores(store, &rp, &second, "rerun");
    });
}

#[test]
fn a_transfer_after_an_abandoned_one_compares_instead_of_trusting_the_diff() {
    with_store(|store| {
        create_disk(store, 4 * MIB);
        write_disk(store, 0, 1000, 1);
        let first = snapshot_disk(store);
        transfer_disk(store, &first, None, &vault()).unwrap();
        write_disk(store, 0, 40, 2);
        let abandoned = snapshot_disk(store);
        crash_midway(
            store,
            &first,
            &abandoned,
            PageSpan {
                first: 0,
                count: 40,
            },
        );
        // Pages 0..40 go back to their first content: the diff from `first` to `third`
        // names none of them, yet the vault holds the abandoned bytes there.
        write_disk(store, 0, 40, 1);
        write_disk(store, 900, 1, 3);
        let third = snapshot_disk(store);

        let rp = transfer_disk(store, &third, Some(&first), &vault()).unwrap();
        assert_eq!(rp.mode, TransferMode::Compare);
        assert_eq!(rp.bytes_transferred, 41 * PAGE_SIZE);
        assert_restores(store, &rp, &third, "after-abandoned");
    });
}

#[test]
fn a_grown_disk_grows_the_vault_copy() {
    with_store(|store| {
        create_disk(store, 4 * MIB);
        write_disk(store, 0, 10, 1);
        let first = snapshot_disk(store);
        transfer_disk(store, &first, None, &vault()).unwrap();
        store
            .resize_page_blob(DISKS, DISK, 12 * MIB, &Conditions::default())
            .unwrap();
        write_disk(store, (10 * MIB) / PAGE_SIZE, 30, 2);
        let second = snapshot_disk(store);
        let rp = transfer_disk(store, &second, Some(&first), &vault()).unwrap();
        assert_eq!(rp.bytes_transferred, 30 * PAGE_SIZE);
        assert_eq!(
            transfer::page_blob_size(store, vault_at(&vault(), rp.vault_snapshot)).unwrap(),
            12 * MIB
        );
        assert_restores(store, &rp, &second, "grown");
    });
}

#[test]
fn a_sparse_tebibyte_disk_moves_only_its_written_pages() {
    with_store(|store| {
        create_disk(store, 1 << 40);
        write_disk(store, 0, 8, 1);
        write_disk(store, ((1 << 40) - MIB) / PAGE_SIZE, 8, 2);
        let first = snapshot_disk(store);
        let rp = transfer_disk(store, &first, None, &vault()).unwrap();
        assert_eq!(rp.bytes_transferred, 16 * PAGE_SIZE);
        write_disk(store, 1 << 30, 1, 3);
        let second = snapshot_disk(store);
        let rp = transfer_disk(store, &second, Some(&first), &vault()).unwrap();
        assert_eq!(rp.bytes_transferred, PAGE_SIZE);
        let vault = vault();
        let copy = vault_at(&vault, rp.vault_snapshot);
        assert_eq!(ranges(store, copy), ranges(store, disk_at(&second)));
    });
}

#[test]
fn a_missing_disk_snapshot_is_named_in_the_error_and_deleting_it_is_fine() {
    with_store(|store| {
        create_disk(store, MIB);
        let disk = snapshot_disk(store);
        delete_snapshot(store, DISKS, DISK, disk.snapshot).unwrap();
        delete_snapshot(store, DISKS, DISK, disk.snapshot).unwrap();
        delete_snapshot(store, "no-such-container", DISK, disk.snapshot).unwrap();
        assert!(matches!(
            transfer_disk(store, &disk, None, &vault()),
            Err(VaultStorageError::DiskSnapshotNotFound { snapshot, .. }) if snapshot == disk.snapshot
        ));
    });
}

#[test]
fn reading_data_outside_a_runtime_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) =
        BlobStore::open(dir.path(), Clock::default(), StoreOptions::default()).unwrap();
    create_disk(&store, MIB);
    write_disk(&store, 0, 1, 1);
    let disk = snapshot_disk(&store);
    assert!(matches!(
        transfer_disk(&store, &disk, None, &vault()),
        Err(VaultStorageError::NoRuntime)
    ));
}
