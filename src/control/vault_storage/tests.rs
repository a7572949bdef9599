//! Transfers, restores and deletions against a real store in a temporary directory,
//! through the storage seam. Every restore is checked by reading both blobs whole and
//! comparing bytes.

use bytes::Bytes;

use super::pages::byte_range;
use super::transfer::{mark, PENDING_KEY, SYNCED_KEY};
use super::*;
use crate::clock::Clock;
use crate::resources::compute::OS_DISK_LUN;
use crate::storage::{
    open_for_tests, BlobPath, BlobStorage, ByteRange, EmbeddedStorage, PageSpan, PAGE_SIZE,
};

const MIB: u64 = 1 << 20;
const DISKS: &str = "disks";
const DISK: &str = "vm1-os";

/// An embedded store in a temporary directory (kept as long as the directory is).
fn temporary_store() -> (tempfile::TempDir, EmbeddedStorage) {
    let dir = tempfile::tempdir().unwrap();
    let (_, storage) = open_for_tests(dir.path(), Clock::default());
    (dir, storage)
}

fn vault() -> VaultDisk {
    vault_disk(
        "1f2e3d4c-0000-4000-8000-00000000abcd",
        "VM;iaasvmcontainerv2;rg;vm1",
        OS_DISK_LUN,
    )
}

/// [`transfer_disk`] from `store` into its own [`vault`], nobody watching the progress.
async fn transfer_into_vault(
    store: &EmbeddedStorage,
    source: &DiskSnapshotRef,
    previous: Option<&DiskSnapshotRef>,
) -> Result<TransferReport, VaultStorageError> {
    transfer_disk(
        store,
        store,
        source,
        previous,
        &vault(),
        &CopyProgress::default(),
    )
    .await
}

async fn create_disk(store: &EmbeddedStorage, size: u64) {
    store.create_container(DISKS).await.unwrap();
    store
        .create_page_blob(DISKS, DISK, size, Vec::new(), false)
        .await
        .unwrap();
}

/// Writes `count` pages from `first`, each page's bytes depending on its index and `seed`.
async fn write_disk(store: &EmbeddedStorage, first: u64, count: u64, seed: u8) {
    let span = PageSpan { first, count };
    for piece in pages::pieces(span, pages::PIECE_PAGES) {
        let bytes: Vec<u8> = (0..piece.count * PAGE_SIZE)
            .map(|i| ((piece.first * PAGE_SIZE + i) / 7) as u8 ^ seed)
            .collect();
        store
            .write_pages(DISKS, DISK, piece.first * PAGE_SIZE, Bytes::from(bytes))
            .await
            .unwrap();
    }
}

async fn clear_disk(store: &EmbeddedStorage, first: u64, count: u64) {
    store
        .clear_pages(DISKS, DISK, byte_range(PageSpan { first, count }))
        .await
        .unwrap();
}

async fn snapshot_disk(store: &EmbeddedStorage) -> DiskSnapshotRef {
    let snapshot = store.snapshot(DISKS, DISK, None).await.unwrap();
    DiskSnapshotRef {
        container: DISKS.to_owned(),
        blob: DISK.to_owned(),
        snapshot,
    }
}

fn disk_at(snapshot: &DiskSnapshotRef) -> BlobPath<'_> {
    BlobPath {
        container: &snapshot.container,
        blob: &snapshot.blob,
        snapshot: Some(snapshot.snapshot),
    }
}

fn vault_at(vault: &VaultDisk, snapshot: Timestamp) -> BlobPath<'_> {
    BlobPath {
        container: &vault.container,
        blob: &vault.blob,
        snapshot: Some(snapshot),
    }
}

/// The whole content of a page blob version.
async fn read_all(store: &EmbeddedStorage, at: BlobPath<'_>) -> Vec<u8> {
    let size = transfer::page_blob_size(store, at).await.unwrap();
    let mut all = Vec::new();
    for span in pages::pieces(
        PageSpan {
            first: 0,
            count: size / PAGE_SIZE,
        },
        pages::PIECE_PAGES,
    ) {
        all.extend_from_slice(&store.read_range(at, byte_range(span)).await.unwrap());
    }
    all
}

async fn ranges(store: &EmbeddedStorage, at: BlobPath<'_>) -> Vec<PageSpan> {
    let size = transfer::page_blob_size(store, at).await.unwrap();
    let whole = ByteRange {
        start: 0,
        end: size - 1,
    };
    store.page_ranges(at, whole).await.unwrap()
}

/// Restores `rp` to a new blob and checks it equals `disk` byte for byte, holes included.
async fn assert_restores(
    store: &EmbeddedStorage,
    rp: &TransferReport,
    disk: &DiskSnapshotRef,
    target: &str,
) {
    let progress = CopyProgress::default();
    let copied = restore_disk(
        store,
        &vault(),
        rp.vault_snapshot,
        store,
        "restored",
        target,
        &progress,
    )
    .await
    .unwrap();
    let size = transfer::page_blob_size(store, disk_at(disk))
        .await
        .unwrap();
    assert_eq!(
        progress.bytes(),
        size,
        "a restore goes through the whole disk"
    );
    let restored = BlobPath::base("restored", target);
    let written: u64 = ranges(store, disk_at(disk))
        .await
        .iter()
        .map(|s| s.count * PAGE_SIZE)
        .sum();
    assert_eq!(copied, written, "a restore copies the written ranges only");
    assert_eq!(
        ranges(store, restored).await,
        ranges(store, disk_at(disk)).await
    );
    assert!(
        read_all(store, restored).await == read_all(store, disk_at(disk)).await,
        "restored bytes differ"
    );
}

#[tokio::test]
async fn the_first_transfer_copies_exactly_the_written_bytes() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 16 * MIB).await;
    write_disk(store, 0, 8, 1).await;
    // Longer than one Put Page: copied in pieces.
    write_disk(store, 4000, (5 * MIB) / PAGE_SIZE, 2).await;
    write_disk(store, 30_000, 3, 3).await;
    let disk = snapshot_disk(store).await;
    let rp = transfer_into_vault(store, &disk, None).await.unwrap();
    assert_eq!(rp.mode, TransferMode::Full);
    assert_eq!(rp.bytes_transferred, (8 + 3) * PAGE_SIZE + 5 * MIB);
    assert_eq!(rp.bytes_cleared, 0);
    assert_eq!(
        ranges(store, vault_at(&vault(), rp.vault_snapshot)).await,
        ranges(store, disk_at(&disk)).await
    );
    assert_restores(store, &rp, &disk, "r1").await;
}

#[tokio::test]
async fn an_incremental_transfer_copies_exactly_the_changed_pages_and_clears_cleared_ones() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 8 * MIB).await;
    write_disk(store, 0, 2048, 1).await;
    let first = snapshot_disk(store).await;
    transfer_into_vault(store, &first, None).await.unwrap();
    // 7 changed pages: two adjacent, one over old data, one in a hole.
    for page in [3, 4, 100, 2047, 5000, 9000, 16_000] {
        write_disk(store, page, 1, 9).await;
    }
    clear_disk(store, 1000, 24).await;
    let second = snapshot_disk(store).await;
    let rp = transfer_into_vault(store, &second, Some(&first))
        .await
        .unwrap();
    assert_eq!(rp.mode, TransferMode::Incremental);
    assert_eq!(rp.bytes_transferred, 7 * PAGE_SIZE);
    assert_eq!(rp.bytes_cleared, 24 * PAGE_SIZE);
    assert_restores(store, &rp, &second, "r2").await;
}

#[tokio::test]
async fn compare_mode_writes_only_differing_pages_when_the_previous_snapshot_is_gone() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 8 * MIB).await;
    write_disk(store, 0, 4096, 1).await;
    let first = snapshot_disk(store).await;
    transfer_into_vault(store, &first, None).await.unwrap();
    // Rewriting the same bytes is in the diff but changes nothing: Compare skips it.
    write_disk(store, 0, 512, 1).await;
    write_disk(store, 600, 5, 7).await;
    write_disk(store, 9000, 2, 7).await;
    clear_disk(store, 2000, 16).await;
    let second = snapshot_disk(store).await;
    delete_snapshot(store, DISKS, DISK, first.snapshot)
        .await
        .unwrap();

    let rp = transfer_into_vault(store, &second, Some(&first))
        .await
        .unwrap();
    assert_eq!(rp.mode, TransferMode::Compare);
    assert_eq!(rp.bytes_transferred, 7 * PAGE_SIZE);
    assert_eq!(rp.bytes_cleared, 16 * PAGE_SIZE);
    assert_restores(store, &rp, &second, "r2").await;

    write_disk(store, 10, 1, 5).await;
    let third = snapshot_disk(store).await;
    delete_snapshot(store, DISKS, DISK, second.snapshot)
        .await
        .unwrap();
    let rp = transfer_into_vault(store, &third, None).await.unwrap();
    assert_eq!(rp.mode, TransferMode::Compare);
    assert_eq!(rp.bytes_transferred, PAGE_SIZE);
    assert_restores(store, &rp, &third, "r3").await;
}

#[tokio::test]
async fn an_older_recovery_point_restores_after_later_writes_and_deletions() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 8 * MIB).await;
    let mut points = Vec::new();
    let mut previous: Option<DiskSnapshotRef> = None;
    for round in 0..4u8 {
        write_disk(store, u64::from(round) * 700, 900, round + 1).await;
        if round == 2 {
            clear_disk(store, 100, 50).await;
        }
        let disk = snapshot_disk(store).await;
        let rp = transfer_into_vault(store, &disk, previous.as_ref())
            .await
            .unwrap();
        points.push((disk.clone(), rp));
        previous = Some(disk);
    }
    assert_restores(store, &points[1].1, &points[1].0, "second").await;
    assert_restores(store, &points[0].1, &points[0].0, "first").await;
    assert!(
        read_all(store, disk_at(&points[0].0)).await
            != read_all(store, disk_at(&points[3].0)).await
    );

    // Expire the two oldest recovery points, both tiers, twice (cleanup is repeated
    // after a crash): the newer ones still restore.
    for _ in 0..2 {
        for (disk, rp) in &points[..2] {
            delete_snapshot(store, DISKS, DISK, disk.snapshot)
                .await
                .unwrap();
            delete_snapshot(store, &vault().container, &vault().blob, rp.vault_snapshot)
                .await
                .unwrap();
        }
    }
    assert!(matches!(
        restore_disk(
            store,
            &vault(),
            points[0].1.vault_snapshot,
            store,
            "restored",
            "gone",
            &CopyProgress::default(),
        )
        .await,
        Err(VaultStorageError::VaultSnapshotNotFound { .. })
    ));
    assert_restores(store, &points[2].1, &points[2].0, "third").await;
    assert_restores(store, &points[3].1, &points[3].0, "fourth").await;
}

#[tokio::test]
async fn repeating_a_finished_transfer_copies_nothing_and_returns_the_same_recovery_point() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 4 * MIB).await;
    write_disk(store, 0, 100, 1).await;
    let first = snapshot_disk(store).await;
    let rp1 = transfer_into_vault(store, &first, None).await.unwrap();
    write_disk(store, 50, 10, 2).await;
    let second = snapshot_disk(store).await;
    let rp2 = transfer_into_vault(store, &second, Some(&first))
        .await
        .unwrap();
    let again = transfer_into_vault(store, &second, Some(&first))
        .await
        .unwrap();
    assert_eq!(again.vault_snapshot, rp2.vault_snapshot);
    assert_eq!(
        (again.bytes_transferred, again.mode),
        (0, TransferMode::Incremental)
    );
    assert_ne!(rp1.vault_snapshot, rp2.vault_snapshot);
    assert_restores(store, &again, &second, "again").await;
}

/// Whatever a transfer finds to do (everything, a diff, a comparison, nothing), its
/// progress ends at the disk's size: holes and unchanged pages count as gone through.
#[tokio::test]
async fn every_kind_of_transfer_goes_through_the_whole_disk_once() {
    let (_dir, store) = temporary_store();
    let store = &store;
    let size = 12 * MIB;
    create_disk(store, size).await;
    write_disk(store, 0, 300, 1).await;
    write_disk(store, 20_000, 40, 2).await;
    let transfer = |source: DiskSnapshotRef, previous: Option<DiskSnapshotRef>| async move {
        let progress = CopyProgress::default();
        let rp = transfer_disk(
            store,
            store,
            &source,
            previous.as_ref(),
            &vault(),
            &progress,
        )
        .await
        .unwrap();
        (rp.mode, progress.bytes())
    };
    let first = snapshot_disk(store).await;
    assert_eq!(
        transfer(first.clone(), None).await,
        (TransferMode::Full, size)
    );
    write_disk(store, 10, 5, 3).await;
    clear_disk(store, 20_010, 4).await;
    let second = snapshot_disk(store).await;
    let incremental = transfer(second.clone(), Some(first.clone())).await;
    assert_eq!(incremental, (TransferMode::Incremental, size));
    assert_eq!(
        transfer(second.clone(), Some(first)).await,
        (TransferMode::Incremental, size),
        "a repeated transfer, which copies nothing"
    );
    write_disk(store, 7, 1, 4).await;
    let third = snapshot_disk(store).await;
    delete_snapshot(store, DISKS, DISK, second.snapshot)
        .await
        .unwrap();
    assert_eq!(
        transfer(third, Some(second)).await,
        (TransferMode::Compare, size)
    );
}

/// Puts the vault blob in the state a transfer of `pending` leaves when killed after
/// writing `written`'s pages: data half copied, completion not recorded.
async fn crash_midway(
    store: &EmbeddedStorage,
    synced: &DiskSnapshotRef,
    pending: &DiskSnapshotRef,
    written: PageSpan,
) {
    let vault = vault();
    let target = pages::Target {
        container: &vault.container,
        blob: &vault.blob,
    };
    let progress = CopyProgress::default();
    let mut cursor = pages::Cursor::new(&progress);
    pages::copy_span(store, disk_at(pending), store, target, written, &mut cursor)
        .await
        .unwrap();
    let metadata = vec![
        (SYNCED_KEY.to_owned(), mark(synced)),
        (PENDING_KEY.to_owned(), mark(pending)),
    ];
    store
        .set_metadata(&vault.container, &vault.blob, metadata)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_transfer_rerun_after_a_crash_midway_still_gives_the_disk_content() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 4 * MIB).await;
    write_disk(store, 0, 1000, 1).await;
    let first = snapshot_disk(store).await;
    transfer_into_vault(store, &first, None).await.unwrap();
    write_disk(store, 0, 40, 2).await;
    clear_disk(store, 500, 10).await;
    let second = snapshot_disk(store).await;
    crash_midway(
        store,
        &first,
        &second,
        PageSpan {
            first: 0,
            count: 20,
        },
    )
    .await;

    let rp = transfer_into_vault(store, &second, Some(&first))
        .await
        .unwrap();
    assert_eq!(rp.mode, TransferMode::Incremental);
    assert_eq!(rp.bytes_transferred, 40 * PAGE_SIZE);
    assert_restores(store, &rp, &second, "rerun").await;
}

#[tokio::test]
async fn a_transfer_after_an_abandoned_one_compares_instead_of_trusting_the_diff() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 4 * MIB).await;
    write_disk(store, 0, 1000, 1).await;
    let first = snapshot_disk(store).await;
    transfer_into_vault(store, &first, None).await.unwrap();
    write_disk(store, 0, 40, 2).await;
    let abandoned = snapshot_disk(store).await;
    crash_midway(
        store,
        &first,
        &abandoned,
        PageSpan {
            first: 0,
            count: 40,
        },
    )
    .await;
    // Pages 0..40 go back to their first content: the diff from `first` to `third`
    // names none of them, yet the vault holds the abandoned bytes there.
    write_disk(store, 0, 40, 1).await;
    write_disk(store, 900, 1, 3).await;
    let third = snapshot_disk(store).await;

    let rp = transfer_into_vault(store, &third, Some(&first))
        .await
        .unwrap();
    assert_eq!(rp.mode, TransferMode::Compare);
    assert_eq!(rp.bytes_transferred, 41 * PAGE_SIZE);
    assert_restores(store, &rp, &third, "after-abandoned").await;
}

#[tokio::test]
async fn a_grown_disk_grows_the_vault_copy() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 4 * MIB).await;
    write_disk(store, 0, 10, 1).await;
    let first = snapshot_disk(store).await;
    transfer_into_vault(store, &first, None).await.unwrap();
    store
        .resize_page_blob(DISKS, DISK, 12 * MIB, None)
        .await
        .unwrap();
    write_disk(store, (10 * MIB) / PAGE_SIZE, 30, 2).await;
    let second = snapshot_disk(store).await;
    let rp = transfer_into_vault(store, &second, Some(&first))
        .await
        .unwrap();
    assert_eq!(rp.bytes_transferred, 30 * PAGE_SIZE);
    assert_eq!(
        transfer::page_blob_size(store, vault_at(&vault(), rp.vault_snapshot))
            .await
            .unwrap(),
        12 * MIB
    );
    assert_restores(store, &rp, &second, "grown").await;
}

#[tokio::test]
async fn a_sparse_tebibyte_disk_moves_only_its_written_pages() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, 1 << 40).await;
    write_disk(store, 0, 8, 1).await;
    write_disk(store, ((1 << 40) - MIB) / PAGE_SIZE, 8, 2).await;
    let first = snapshot_disk(store).await;
    let rp = transfer_into_vault(store, &first, None).await.unwrap();
    assert_eq!(rp.bytes_transferred, 16 * PAGE_SIZE);
    write_disk(store, 1 << 30, 1, 3).await;
    let second = snapshot_disk(store).await;
    let rp = transfer_into_vault(store, &second, Some(&first))
        .await
        .unwrap();
    assert_eq!(rp.bytes_transferred, PAGE_SIZE);
    let vault = vault();
    let copy = vault_at(&vault, rp.vault_snapshot);
    assert_eq!(
        ranges(store, copy).await,
        ranges(store, disk_at(&second)).await
    );
}

#[tokio::test]
async fn a_missing_disk_snapshot_is_named_in_the_error_and_deleting_it_is_fine() {
    let (_dir, store) = temporary_store();
    let store = &store;
    create_disk(store, MIB).await;
    let disk = snapshot_disk(store).await;
    delete_snapshot(store, DISKS, DISK, disk.snapshot)
        .await
        .unwrap();
    delete_snapshot(store, DISKS, DISK, disk.snapshot)
        .await
        .unwrap();
    delete_snapshot(store, "no-such-container", DISK, disk.snapshot)
        .await
        .unwrap();
    assert!(matches!(
        transfer_disk(store, store, &disk, None, &vault(), &CopyProgress::default()).await,
        Err(VaultStorageError::DiskSnapshotNotFound { snapshot, .. }) if snapshot == disk.snapshot
    ));
}

#[tokio::test]
async fn a_disk_in_one_account_moves_to_a_vault_in_another_and_restores_to_a_third() {
    let (_disks_dir, disks) = temporary_store();
    let (_vault_dir, vaults) = temporary_store();
    let (_target_dir, targets) = temporary_store();
    create_disk(&disks, 4 * MIB).await;
    write_disk(&disks, 0, 100, 1).await;
    let first = snapshot_disk(&disks).await;
    let rp = transfer_disk(
        &disks,
        &vaults,
        &first,
        None,
        &vault(),
        &CopyProgress::default(),
    )
    .await
    .unwrap();
    assert_eq!(rp.mode, TransferMode::Full);
    write_disk(&disks, 10, 5, 2).await;
    clear_disk(&disks, 50, 3).await;
    let second = snapshot_disk(&disks).await;
    let rp = transfer_disk(
        &disks,
        &vaults,
        &second,
        Some(&first),
        &vault(),
        &CopyProgress::default(),
    )
    .await
    .unwrap();
    assert_eq!(rp.mode, TransferMode::Incremental);
    assert_eq!(
        (rp.bytes_transferred, rp.bytes_cleared),
        (5 * PAGE_SIZE, 3 * PAGE_SIZE)
    );
    let vault_disk = vault();
    let vault_at = BlobPath::base(&vault_disk.container, &vault_disk.blob);
    assert!(vaults.properties(vault_at).await.is_ok());
    assert!(
        disks.properties(vault_at).await.is_err(),
        "the vault copy is not in the disks' account"
    );
    restore_disk(
        &vaults,
        &vault(),
        rp.vault_snapshot,
        &targets,
        "restored",
        "r",
        &CopyProgress::default(),
    )
    .await
    .unwrap();
    let restored = BlobPath::base("restored", "r");
    assert_eq!(
        ranges(&targets, restored).await,
        ranges(&disks, disk_at(&second)).await
    );
    assert!(read_all(&targets, restored).await == read_all(&disks, disk_at(&second)).await);
}
