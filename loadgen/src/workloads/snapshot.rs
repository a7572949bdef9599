//! Snapshot Blob latency on a large sparse page blob. Snapshots are taken one at a time so
//! each sample is the service time of one snapshot, not queueing behind others.

use std::sync::Arc;

use super::sparse_blob::SparseBlob;
use crate::cli::{SparseBlobArgs, TargetArgs};
use crate::client::BlobClient;
use crate::driver::{self, Bounds};
use crate::report::Report;

pub async fn run(
    client: &Arc<BlobClient>,
    target: &TargetArgs,
    shape: &SparseBlobArgs,
    samples: u64,
) -> anyhow::Result<Report> {
    let (blob, setup) = SparseBlob::prepare(client, "snapshot", shape, target.concurrency).await?;

    let uri = client.snapshot_uri(&blob.name)?;
    let sender = Arc::clone(client);
    let measured = driver::run(client, 1, Bounds::count(samples), move |_| {
        sender.snapshot_request(&uri)
    })
    .await;

    let mut report = Report::new("snapshot", &target.label, 1, &measured, 0);
    report.blob_size_bytes = Some(blob.size);
    report.written_ranges = Some(blob.ranges);
    report.setup_seconds = Some(setup.as_secs_f64());
    Ok(report)
}
