//! The one JSON line each run prints, which `scripts/bench-blob` tabulates.

use serde::Serialize;

use crate::driver::Samples;

#[derive(Debug, Serialize)]
pub struct Report {
    pub workload: &'static str,
    /// Name of the server under test (`--label`).
    pub target: String,
    pub concurrency: usize,
    /// Requests in the measured phase, successful or not (setup requests excluded).
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Payload bytes moved by successful measured requests.
    pub bytes: u64,
    /// Decimal megabytes (10^6 bytes) per second.
    pub throughput_mb_s: f64,
    pub req_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Cores' worth of CPU the load generator itself used while measuring (of `nproc`).
    pub client_cpu_cores: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob_size_bytes: Option<u64>,
    /// Separately written ranges in the blob (snapshot and diff workloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_ranges: Option<u64>,
    /// Ranges rewritten between the two snapshots (diff workload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_ranges: Option<u64>,
    /// `PageRange` plus `ClearRange` elements the diff returned: equal to `changed_ranges` for
    /// a real diff, to `written_ranges` for a server that ignores `prevsnapshot`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_ranges_returned: Option<u64>,
    /// Time spent preparing the blob before measuring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_seconds: Option<f64>,
    /// The earliest measured request that failed: status and `x-ms-error-code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Report {
    /// Summarises `samples`, in which every successful request carried `bytes_per_request`.
    pub fn new(
        workload: &'static str,
        target: &str,
        concurrency: usize,
        samples: &Samples,
        bytes_per_request: u64,
    ) -> Self {
        let mut latencies = samples.latencies_us.clone();
        latencies.sort_unstable();
        let seconds = samples.elapsed.as_secs_f64();
        let bytes = samples.succeeded() * bytes_per_request;
        Self {
            workload,
            target: target.to_owned(),
            concurrency,
            requests: samples.succeeded() + samples.errors,
            errors: samples.errors,
            seconds: round3(seconds),
            bytes,
            throughput_mb_s: round3(bytes as f64 / seconds / 1e6),
            req_per_s: round3(samples.succeeded() as f64 / seconds),
            p50_us: percentile(&latencies, 50.0),
            p99_us: percentile(&latencies, 99.0),
            max_us: latencies.last().copied().unwrap_or(0),
            client_cpu_cores: round3(samples.client_cpu.as_secs_f64() / seconds),
            blob_size_bytes: None,
            written_ranges: None,
            changed_ranges: None,
            diff_ranges_returned: None,
            setup_seconds: None,
            first_error: samples.first_error().map(ToString::to_string),
        }
    }
}

/// Nearest-rank percentile of an ascending slice; 0 when there are no samples.
pub fn percentile(sorted: &[u64], pct: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn round3(value: f64) -> f64 {
    if value.is_finite() {
        (value * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), 50);
        assert_eq!(percentile(&sorted, 99.0), 99);
        assert_eq!(percentile(&sorted, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
