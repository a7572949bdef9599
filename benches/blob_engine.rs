//! Server-side cost of the storage engine's operations, without HTTP or the client:
//! what "a snapshot is O(1)" and "a diff costs what changed" mean in time.
//!
//! Run: `cargo bench --bench blob_engine`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use vaultsim::blob::engine::{
    BlobAddress, BlobStore, ByteRange, Conditions, ContentProperties, NewPageBlob, StoreOptions,
    PAGE_SIZE,
};
use vaultsim::clock::Clock;

const TIB: u64 = 1 << 40;
const RANGES: u64 = 10_000;
const RANGE_BYTES: u64 = 4096;
/// Distance between written ranges: 10,000 of them spread over the whole 1 TiB.
const STRIDE: u64 = TIB / RANGES / PAGE_SIZE * PAGE_SIZE;

fn store_with_sparse_blob() -> (tempfile::TempDir, Arc<BlobStore>) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) =
        BlobStore::open(dir.path(), Clock::default(), StoreOptions::default()).unwrap();
    store.create_container("bench", Vec::new(), None).unwrap();
    let blob = NewPageBlob {
        size: TIB,
        sequence_number: 0,
        content: ContentProperties::default(),
        metadata: Vec::new(),
    };
    store
        .create_page_blob("bench", "disk", blob, &Conditions::default())
        .unwrap();
    for i in 0..RANGES {
        write(&store, i * STRIDE, 1);
    }
    (dir, Arc::new(store))
}

fn write(store: &BlobStore, offset: u64, byte: u8) {
    let mut upload = store.begin_upload(RANGE_BYTES);
    upload.write(&[byte; RANGE_BYTES as usize]).unwrap();
    let range = ByteRange {
        start: offset,
        end: offset + RANGE_BYTES - 1,
    };
    store
        .write_pages(
            "bench",
            "disk",
            range,
            Some(upload),
            &Conditions::default(),
            Default::default(),
        )
        .unwrap();
}

fn snapshot(c: &mut Criterion) {
    let (_dir, store) = store_with_sparse_blob();
    c.bench_function("snapshot of a 1 TiB page blob with 10,000 ranges", |b| {
        b.iter(|| {
            store
                .snapshot("bench", "disk", None, &Conditions::default())
                .unwrap()
        })
    });
}

/// The same 1 TiB, 10,000-range blob with 10, 100 or 1,000 of its ranges rewritten between
/// two snapshots: the diff's cost should follow the number changed.
fn diff(c: &mut Criterion) {
    let mut group = c.benchmark_group("diff between snapshots of a 1 TiB blob with 10,000 ranges");
    for changed in [10u64, 100, 1000] {
        let (_dir, store) = store_with_sparse_blob();
        let (older, _) = store
            .snapshot("bench", "disk", None, &Conditions::default())
            .unwrap();
        for i in 0..changed {
            write(&store, (i * 7919 % RANGES) * STRIDE, 2);
        }
        let (newer, _) = store
            .snapshot("bench", "disk", None, &Conditions::default())
            .unwrap();
        let at = BlobAddress {
            container: "bench",
            blob: "disk",
            snapshot: Some(newer),
        };
        group.bench_function(format!("{changed} ranges changed"), |b| {
            b.iter(|| {
                store
                    .page_ranges(at, Some(older), None, &Conditions::default())
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn small_write(c: &mut Criterion) {
    small_write_named(c, "4 KiB Put Page into the 1 TiB blob (data and journal)");
}

/// The same write with the service's Prometheus recorder installed, so that the store's
/// operation counter costs what it costs in `vaultsim serve` (without a recorder it is a
/// no-op). Runs last: a recorder, once installed, stays.
fn small_write_counted(c: &mut Criterion) {
    vaultsim::prometheus::handle();
    small_write_named(
        c,
        "4 KiB Put Page into the 1 TiB blob, operations counted by the Prometheus recorder",
    );
}

fn small_write_named(c: &mut Criterion, name: &str) {
    let (_dir, store) = store_with_sparse_blob();
    let mut offset = 0;
    c.bench_function(name, |b| {
        b.iter_batched(
            || {
                offset = (offset + 7 * STRIDE + RANGE_BYTES) % (TIB - RANGE_BYTES);
                offset / PAGE_SIZE * PAGE_SIZE
            },
            |at| write(&store, at, 3),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, snapshot, diff, small_write, small_write_counted);
criterion_main!(benches);
