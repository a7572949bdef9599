//! Sequential read throughput: a page blob written front to back (untimed), then read back
//! with 4 MiB ranged Get Blob requests, several in flight, as SDK downloads read.

use std::sync::Arc;

use super::seq_write::{fill, CHUNK};
use crate::cli::TargetArgs;
use crate::client::BlobClient;
use crate::driver::{self, Bounds};
use crate::report::Report;

pub async fn run(
    client: &Arc<BlobClient>,
    target: &TargetArgs,
    size_mib: u64,
) -> anyhow::Result<Report> {
    let (blob, size, writes) = fill(client, target, "seq-read", size_mib).await?;
    let writes = writes.into_result("writing the blob to read")?;

    let uri = client.blob_read_uri(&blob)?;
    let reader = Arc::clone(client);
    let samples = driver::run(
        client,
        target.concurrency,
        Bounds::count(size / CHUNK),
        move |index| reader.get_range_request(&uri, index * CHUNK, CHUNK),
    )
    .await;

    let mut report = Report::new(
        "seq-read",
        &target.label,
        target.concurrency,
        &samples,
        CHUNK,
    );
    report.blob_size_bytes = Some(size);
    report.setup_seconds = Some(writes.elapsed.as_secs_f64());
    Ok(report)
}
