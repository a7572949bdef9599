//! Sequential throughput: fill a page blob front to back with 4 MiB Put Page requests (the
//! largest a Put Page may carry), several in flight at once.

use std::sync::Arc;

use anyhow::ensure;
use vaultsim_protocol::page_blob::MAX_PUT_PAGE_BYTES;

use super::{payload, unique_blob_name, MIB};
use crate::cli::TargetArgs;
use crate::client::BlobClient;
use crate::driver::{self, Bounds, Samples};
use crate::report::Report;

/// The largest a Put Page may carry, and the chunk SDK downloads read.
pub const CHUNK: u64 = MAX_PUT_PAGE_BYTES;

pub async fn run(
    client: &Arc<BlobClient>,
    target: &TargetArgs,
    size_mib: u64,
) -> anyhow::Result<Report> {
    let (_, size, samples) = fill(client, target, "seq-write", size_mib).await?;

    let mut report = Report::new(
        "seq-write",
        &target.label,
        target.concurrency,
        &samples,
        CHUNK,
    );
    report.blob_size_bytes = Some(size);
    Ok(report)
}

/// Creates a fresh page blob of `size_mib` and fills it front to back: the blob's name,
/// its size, and the timings of the writes.
pub async fn fill(
    client: &Arc<BlobClient>,
    target: &TargetArgs,
    workload: &str,
    size_mib: u64,
) -> anyhow::Result<(String, u64, Samples)> {
    ensure!(
        size_mib > 0 && size_mib.is_multiple_of(4),
        "--size-mib must be a positive multiple of 4"
    );
    let size = size_mib * MIB;
    let blob = unique_blob_name(workload);
    client.create_page_blob(&blob, size).await?;

    let uri = client.put_page_uri(&blob)?;
    let data = payload(CHUNK, 0);
    let sender = Arc::clone(client);
    let samples = driver::run(
        client,
        target.concurrency,
        Bounds::count(size / CHUNK),
        move |index| sender.put_page_request(&uri, index * CHUNK, &data),
    )
    .await;
    Ok((blob, size, samples))
}
