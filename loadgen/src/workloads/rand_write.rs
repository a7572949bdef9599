//! Small random writes: 4 KiB Put Page requests at uniformly random 4 KiB-aligned offsets,
//! bounded by a request budget and a deadline.

use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;

use super::{payload, splitmix64, unique_blob_name, KIB, MIB};
use crate::cli::TargetArgs;
use crate::client::BlobClient;
use crate::driver::{self, Bounds};
use crate::report::Report;

const WRITE: u64 = 4 * KIB;

pub async fn run(
    client: &Arc<BlobClient>,
    target: &TargetArgs,
    blob_size_mib: u64,
    seconds: u64,
    requests: u64,
) -> anyhow::Result<Report> {
    ensure!(blob_size_mib > 0, "--blob-size-mib must be positive");
    ensure!(
        seconds > 0 && requests > 0,
        "--seconds and --requests must be positive"
    );
    let size = blob_size_mib * MIB;
    let blob = unique_blob_name("rand-write");
    client.create_page_blob(&blob, size).await?;

    let slots = size / WRITE;
    let uri = client.put_page_uri(&blob)?;
    let data = payload(WRITE, 0);
    let sender = Arc::clone(client);
    let bounds = Bounds {
        requests,
        duration: Some(Duration::from_secs(seconds)),
    };
    let samples = driver::run(client, target.concurrency, bounds, move |index| {
        let offset = splitmix64(index) % slots * WRITE;
        sender.put_page_request(&uri, offset, &data)
    })
    .await;

    let mut report = Report::new(
        "rand-write",
        &target.label,
        target.concurrency,
        &samples,
        WRITE,
    );
    report.blob_size_bytes = Some(size);
    Ok(report)
}
