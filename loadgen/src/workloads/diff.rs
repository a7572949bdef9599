//! Page-range diff latency: Get Page Ranges with `prevsnapshot` between two snapshots of a
//! large sparse blob, between which a known number of ranges were rewritten. Requests go one
//! at a time so each sample is the service time of one diff.

use std::sync::Arc;

use anyhow::{ensure, Context};
use vaultsim_protocol::blob_xml::{self, PageList};

use super::sparse_blob::SparseBlob;
use crate::cli::{SparseBlobArgs, TargetArgs};
use crate::client::BlobClient;
use crate::driver::{self, Bounds};
use crate::report::Report;

pub async fn run(
    client: &Arc<BlobClient>,
    target: &TargetArgs,
    shape: &SparseBlobArgs,
    changed: u64,
    samples: u64,
) -> anyhow::Result<Report> {
    // Checked before the long setup rather than after it.
    ensure!(
        (1..=shape.ranges).contains(&changed),
        "--changed must be between 1 and --ranges"
    );
    let (blob, setup) = SparseBlob::prepare(client, "diff", shape, target.concurrency).await?;
    let before = client.snapshot(&blob.name).await?;
    blob.rewrite(client, target.concurrency, changed).await?;
    let after = client.snapshot(&blob.name).await?;

    let uri = client.page_ranges_diff_uri(&blob.name, &after, &before)?;
    // One unmeasured request to see what the server returns: the changed ranges for a real
    // diff, every written range for a server that ignores `prevsnapshot`.
    let reply = client
        .send(client.get_request(&uri))
        .await
        .context("Get Page Ranges diff")?;
    let returned = count_ranges(&reply.body)?;

    let sender = Arc::clone(client);
    let measured = driver::run(client, 1, Bounds::count(samples), move |_| {
        sender.get_request(&uri)
    })
    .await;

    let mut report = Report::new("diff", &target.label, 1, &measured, 0);
    report.blob_size_bytes = Some(blob.size);
    report.written_ranges = Some(blob.ranges);
    report.changed_ranges = Some(changed);
    report.diff_ranges_returned = Some(returned);
    report.setup_seconds = Some(setup.as_secs_f64());
    Ok(report)
}

/// Number of `PageRange` and `ClearRange` elements in a PageList document.
fn count_ranges(page_list: &[u8]) -> anyhow::Result<u64> {
    let text = std::str::from_utf8(page_list).context("a PageList document in UTF-8")?;
    let list: PageList = blob_xml::from_xml(text).context("a PageList document")?;
    Ok(list.ranges.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::count_ranges;

    #[test]
    fn counts_both_kinds_of_range() {
        let xml = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>\
            <PageRange><Start>0</Start><End>511</End></PageRange>\
            <ClearRange><Start>512</Start><End>1023</End></ClearRange>\
            <PageRange><Start>4096</Start><End>8191</End></PageRange></PageList>";
        assert_eq!(count_ranges(xml).unwrap(), 3);
        assert_eq!(count_ranges(b"<PageList></PageList>").unwrap(), 0);
    }
}
