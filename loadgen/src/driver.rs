//! Closed-loop load driver: a fixed number of workers each keep one request in flight until a
//! request budget or a deadline runs out, whichever comes first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use rustix::time::{clock_gettime, ClockId};

use crate::client::{BlobClient, Body, Failure};

/// Every run is bounded in count, and optionally also in time.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub requests: u64,
    pub duration: Option<Duration>,
}

impl Bounds {
    pub fn count(requests: u64) -> Self {
        Self {
            requests,
            duration: None,
        }
    }
}

/// What one run observed.
#[derive(Debug, Default)]
pub struct Samples {
    /// Latency of every successful request, send to last body byte, in microseconds.
    pub latencies_us: Vec<u64>,
    pub errors: u64,
    /// The earliest failure seen, with when it happened.
    first_error: Option<(Instant, Failure)>,
    pub elapsed: Duration,
    /// CPU time this whole process (the load generator) used during the run: shows whether
    /// the client, which shares the machine with the server, could have been the bottleneck.
    pub client_cpu: Duration,
}

impl Samples {
    pub fn succeeded(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    pub fn first_error(&self) -> Option<&Failure> {
        self.first_error.as_ref().map(|(_, failure)| failure)
    }

    /// Turns any failure into an error: for setup phases, where nothing may fail.
    pub fn into_result(self, phase: &str) -> anyhow::Result<Self> {
        match self.first_error() {
            Some(failure) => Err(anyhow::anyhow!(
                "{phase}: {} of {} requests failed, first: {failure}",
                self.errors,
                self.errors + self.succeeded()
            )),
            None => Ok(self),
        }
    }

    fn record_failure(&mut self, failure: Failure) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some((Instant::now(), failure));
        }
    }

    fn merge(&mut self, other: Samples) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        if let Some((at, failure)) = other.first_error {
            if self.first_error.as_ref().is_none_or(|(seen, _)| at < *seen) {
                self.first_error = Some((at, failure));
            }
        }
    }
}

/// Sends `build(0)`, `build(1)`, … with `concurrency` requests in flight until `bounds` stop it.
/// `build` should only assemble headers around pre-built bodies, so it stays cheap.
pub async fn run<F>(
    client: &Arc<BlobClient>,
    concurrency: usize,
    bounds: Bounds,
    build: F,
) -> Samples
where
    F: Fn(u64) -> Request<Body> + Send + Sync + 'static,
{
    let build = Arc::new(build);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let cpu_at_start = process_cpu_time();
    let deadline = bounds.duration.map(|d| started + d);
    let workers = (concurrency.max(1) as u64).min(bounds.requests);

    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (client, build, next) = (Arc::clone(client), Arc::clone(&build), Arc::clone(&next));
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while deadline.is_none_or(|d| Instant::now() < d) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= bounds.requests {
                        break;
                    }
                    let request = build(index);
                    let sent = Instant::now();
                    match client.send(request).await {
                        Ok(_) => samples.latencies_us.push(sent.elapsed().as_micros() as u64),
                        Err(failure) => samples.record_failure(failure),
                    }
                }
                samples
            })
        })
        .collect();

    let mut total = Samples::default();
    for handle in handles {
        total.merge(handle.await.expect("load worker panicked"));
    }
    total.elapsed = started.elapsed();
    total.client_cpu = process_cpu_time().saturating_sub(cpu_at_start);
    total
}

/// CPU time consumed so far by all threads of this process.
fn process_cpu_time() -> Duration {
    let now = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}
