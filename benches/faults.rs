//! What fault injection costs a blob request: `Faults::blob` as the blob endpoint calls it
//! for every request, with no fault registered, with one and with sixteen blob faults that
//! do not match the request (as when a harness scenario targets status blobs while disk
//! traffic flows), and the glob match alone.
//!
//! Run: `cargo bench --bench faults`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use vaultsim::faults::{BlobCall, BlobMatch, FaultAction, FaultScope, Faults, NewFault};

fn page_write() -> BlobCall<'static> {
    BlobCall {
        operation: "PutPage",
        account: "devstoreaccount1",
        container: Some("vhds"),
        blob: Some("vm-0042-disk-0003-3f0c2a9e.vhd"),
    }
}

/// `count` blob faults on status blobs of other tasks: none matches a page write.
fn faults_on_status_blobs(count: usize) -> Faults {
    let faults = Faults::default();
    for i in 0..count {
        let blob_match = BlobMatch::parse(
            Some("PutPage"),
            None,
            None,
            Some(format!("task-{i}-*.status")),
        )
        .unwrap();
        let action = FaultAction::parse("latency", None, None, None, Some(1000)).unwrap();
        faults.add(
            NewFault::new(FaultScope::Blob, Some(blob_match), action, None, None, None).unwrap(),
        );
    }
    faults
}

fn fault_checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("faults");
    for count in [0, 1, 16] {
        let faults = faults_on_status_blobs(count);
        group.bench_function(format!("blob request, {count} non-matching faults"), |b| {
            b.iter(|| black_box(faults.blob(|| black_box(page_write()))))
        });
    }
    group.finish();
}

criterion_group!(benches, fault_checks);
criterion_main!(benches);
