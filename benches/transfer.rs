//! Incremental transfer into the vault: a 1 GiB disk, fully written, with 1 % or 10 % of
//! it rewritten as scattered 64 KiB blocks between recovery points. Measures the transfer
//! alone (not the disk writes), as throughput of changed bytes, and checks that the bytes
//! moved equal the bytes changed. Compare mode (previous snapshot deleted) reads the whole
//! disk on both sides and is measured for contrast.
//!
//! Run: `cargo bench --bench transfer`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use rand::rngs::StdRng;
use rand::SeedableRng;
use vaultsim::blob::engine::{
    BlobStore, ByteRange, Conditions, ContentProperties, NewPageBlob, StoreOptions, Timestamp,
    PAGE_SIZE,
};
use vaultsim::clock::Clock;
use vaultsim::control::vault_storage::{
    delete_snapshot, transfer_disk, vault_disk, CopyProgress, DiskSnapshotRef, TransferMode,
    VaultDisk,
};
use vaultsim::storage::{AccountAccess, EmbeddedStorage};

const DISK_SIZE: u64 = 1 << 30;
const BLOCK: u64 = 64 << 10;
const FILL_PIECE: u64 = 4 << 20;

/// A store holding a fully written 1 GiB disk already copied to the vault once.
struct Bench {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    store: Arc<BlobStore>,
    /// The same store as the engine reaches it: through the storage seam.
    storage: EmbeddedStorage,
    vault: VaultDisk,
    previous: DiskSnapshotRef,
    previous_vault: Timestamp,
    /// Stamped into every page written, so that every rewrite changes every page.
    generation: u64,
    rng: StdRng,
}

impl Bench {
    fn new() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _context = runtime.enter();
        let dir = tempfile::tempdir().unwrap();
        let (store, _) =
            BlobStore::open(dir.path(), Clock::default(), StoreOptions::default()).unwrap();
        let store = Arc::new(store);
        store.create_container("disks", Vec::new(), None).unwrap();
        let new = NewPageBlob {
            size: DISK_SIZE,
            sequence_number: 0,
            content: ContentProperties::default(),
            metadata: Vec::new(),
        };
        store
            .create_page_blob("disks", "os", new, &Conditions::default())
            .unwrap();
        let account = AccountAccess {
            name: "devstoreaccount1".to_owned(),
            endpoint: "http://127.0.0.1:10000/devstoreaccount1".to_owned(),
            key: vec![7; 64].into(),
        };
        let mut bench = Bench {
            _dir: dir,
            storage: EmbeddedStorage::new(store.clone(), Clock::default(), account),
            store,
            vault: vault_disk("bench-vault", "VM;iaasvmcontainerv2;rg;vm", -1),
            previous: DiskSnapshotRef {
                container: String::new(),
                blob: String::new(),
                snapshot: Timestamp(0),
            },
            previous_vault: Timestamp(0),
            generation: 0,
            rng: StdRng::seed_from_u64(7),
            runtime,
        };
        for offset in (0..DISK_SIZE).step_by(FILL_PIECE as usize) {
            bench.write(offset, FILL_PIECE);
        }
        bench.previous = bench.snapshot();
        let started = Instant::now();
        let report = bench
            .runtime
            .block_on(transfer_disk(
                &bench.storage,
                &bench.storage,
                &bench.previous,
                None,
                &bench.vault,
                &CopyProgress::default(),
            ))
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(report.bytes_transferred, DISK_SIZE);
        eprintln!(
            "full transfer of 1 GiB: {:.0} MB/s ({elapsed:?})",
            DISK_SIZE as f64 / 1e6 / elapsed.as_secs_f64()
        );
        bench.previous_vault = report.vault_snapshot;
        bench
    }

    fn write(&mut self, offset: u64, len: u64) {
        self.generation += 1;
        let mut bytes = vec![0x5a; len as usize];
        for page in bytes.chunks_mut(PAGE_SIZE as usize) {
            page[..8].copy_from_slice(&self.generation.to_le_bytes());
        }
        let mut upload = self.store.begin_upload(len);
        upload.write(&bytes).unwrap();
        let range = ByteRange {
            start: offset,
            end: offset + len - 1,
        };
        self.store
            .write_pages(
                "disks",
                "os",
                range,
                Some(upload),
                &Conditions::default(),
                Default::default(),
            )
            .unwrap();
    }

    fn snapshot(&self) -> DiskSnapshotRef {
        let (snapshot, _) = self
            .store
            .snapshot("disks", "os", None, &Conditions::default())
            .unwrap();
        DiskSnapshotRef {
            container: "disks".to_owned(),
            blob: "os".to_owned(),
            snapshot,
        }
    }

    /// Rewrites `blocks` distinct 64 KiB blocks at random and snapshots the disk.
    fn churn(&mut self, blocks: usize) -> DiskSnapshotRef {
        let chosen = rand::seq::index::sample(&mut self.rng, (DISK_SIZE / BLOCK) as usize, blocks);
        for block in chosen {
            self.write(block as u64 * BLOCK, BLOCK);
        }
        self.snapshot()
    }

    /// One recovery point: churn, then the timed transfer; old snapshots are expired and
    /// their space collected outside the timing. Returns the transfer's time and the
    /// bytes it moved over the bytes changed.
    fn recovery_point(&mut self, blocks: usize, mode: TransferMode) -> (Duration, f64) {
        let _context = self.runtime.enter();
        let disk = self.churn(blocks);
        let previous = match mode {
            TransferMode::Incremental => Some(&self.previous),
            _ => {
                self.runtime
                    .block_on(delete_snapshot(
                        &self.storage,
                        "disks",
                        "os",
                        self.previous.snapshot,
                    ))
                    .unwrap();
                None
            }
        };
        let started = Instant::now();
        let report = self
            .runtime
            .block_on(transfer_disk(
                &self.storage,
                &self.storage,
                &disk,
                previous,
                &self.vault,
                &CopyProgress::default(),
            ))
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(report.mode, mode);
        let ratio = report.bytes_transferred as f64 / (blocks as u64 * BLOCK) as f64;
        let vault = &self.vault;
        self.runtime
            .block_on(async {
                delete_snapshot(&self.storage, "disks", "os", self.previous.snapshot).await?;
                delete_snapshot(
                    &self.storage,
                    &vault.container,
                    &vault.blob,
                    self.previous_vault,
                )
                .await
            })
            .unwrap();
        self.runtime.block_on(self.store.collect_garbage()).unwrap();
        self.previous = disk;
        self.previous_vault = report.vault_snapshot;
        (elapsed, ratio)
    }
}

fn transfer(c: &mut Criterion) {
    let mut bench = Bench::new();
    let mut group = c.benchmark_group("transfer of a 1 GiB disk");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    let cases = [
        ("incremental, 1% changed", 0.01, TransferMode::Incremental),
        ("incremental, 10% changed", 0.10, TransferMode::Incremental),
        ("compare, 1% changed", 0.01, TransferMode::Compare),
    ];
    for (name, share, mode) in cases {
        let blocks = ((DISK_SIZE / BLOCK) as f64 * share) as usize;
        group.throughput(Throughput::Bytes(blocks as u64 * BLOCK));
        let (mut lowest, mut highest) = (f64::MAX, 0f64);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (elapsed, ratio) = bench.recovery_point(blocks, mode);
                    total += elapsed;
                    lowest = lowest.min(ratio);
                    highest = highest.max(ratio);
                }
                total
            })
        });
        eprintln!("{name}: bytes moved / bytes changed = {lowest:.3} .. {highest:.3}");
    }
    group.finish();
}

criterion_group!(benches, transfer);
criterion_main!(benches);
