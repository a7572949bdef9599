//! The large sparse page blob that the snapshot and diff workloads measure against: many
//! separate 4 KiB ranges spread evenly over a huge, mostly unwritten blob.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use bytes::Bytes;

use super::{payload, unique_blob_name, GIB, KIB};
use crate::cli::SparseBlobArgs;
use crate::client::BlobClient;
use crate::driver::{self, Bounds};

const RANGE: u64 = 4 * KIB;

pub struct SparseBlob {
    pub name: String,
    pub size: u64,
    pub ranges: u64,
    /// Distance between the starts of neighbouring ranges; larger than a range, so no two
    /// ranges touch and a server cannot merge them into one.
    stride: u64,
}

impl SparseBlob {
    /// Creates the blob and writes all its ranges, using `concurrency` requests in flight.
    /// Returns it with the time the preparation took.
    pub async fn prepare(
        client: &Arc<BlobClient>,
        workload: &str,
        shape: &SparseBlobArgs,
        concurrency: usize,
    ) -> anyhow::Result<(Self, Duration)> {
        let started = Instant::now();
        let size = shape.blob_size_gib * GIB;
        ensure!(shape.ranges > 0, "--ranges must be positive");
        let stride = size / shape.ranges / RANGE * RANGE;
        ensure!(
            stride > RANGE,
            "--blob-size-gib is too small to hold --ranges separate 4 KiB ranges"
        );
        let blob = Self {
            name: unique_blob_name(workload),
            size,
            ranges: shape.ranges,
            stride,
        };
        client.create_page_blob(&blob.name, size).await?;
        blob.write(client, concurrency, shape.ranges, 1, payload(RANGE, 0))
            .await?;
        Ok((blob, started.elapsed()))
    }

    /// Rewrites `count` of the ranges, spread evenly, with new content, so that any diff from a
    /// snapshot taken before must report exactly those ranges.
    pub async fn rewrite(
        &self,
        client: &Arc<BlobClient>,
        concurrency: usize,
        count: u64,
    ) -> anyhow::Result<()> {
        ensure!(
            (1..=self.ranges).contains(&count),
            "cannot rewrite {count} of {} ranges",
            self.ranges
        );
        let step = self.ranges / count;
        self.write(client, concurrency, count, step, payload(RANGE, 1))
            .await
    }

    /// Writes `data` to `count` of the ranges: every `step`-th one, starting from the first.
    async fn write(
        &self,
        client: &Arc<BlobClient>,
        concurrency: usize,
        count: u64,
        step: u64,
        data: Bytes,
    ) -> anyhow::Result<()> {
        let uri = client.put_page_uri(&self.name)?;
        let stride = self.stride;
        let sender = Arc::clone(client);
        driver::run(client, concurrency, Bounds::count(count), move |index| {
            sender.put_page_request(&uri, index * step * stride, &data)
        })
        .await
        .into_result(&format!("writing ranges of {}", self.name))?;
        Ok(())
    }
}
