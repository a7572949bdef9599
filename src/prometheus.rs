//! Metrics in Prometheus's text format (`/metrics` on every listener): requests by
//! listener, route and status with their latency, jobs by operation and outcome with their
//! duration, backup tasks dispatched, collected and expired, the time agents kept file
//! systems frozen, bytes moved into and out of the vault, the blob store's size and
//! operations, and the database pool. One recorder per process (tests start several
//! services in one process; they share it).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds: sub-millisecond blob calls to multi-second ARM waits.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Job durations, in seconds of the service's clock.
const JOB_BUCKETS: &[f64] = &[1.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4.0 * 3600.0];
/// Frozen time, in seconds: a snapshot of a few milliseconds up to the freeze limit (the
/// extension's helper thaws after 60 s by default).
const FROZEN_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("vaultsim_http_request_duration_seconds".to_owned()),
                LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("vaultsim_job_duration_seconds".to_owned()),
                    JOB_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("vaultsim_agent_frozen_seconds".to_owned()),
                    FROZEN_BUCKETS,
                )
            })
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics stays empty");
        }
        handle
    })
}

/// The route a response was served under: the matched path of an axum route, an ARM
/// operation id, a blob operation name. Set on the response; the request metrics read it.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Arc<str>);

impl RouteLabel {
    pub fn of(name: &'static str) -> Self {
        RouteLabel(Arc::from(name))
    }
}

/// Inner middleware (`route_layer`): the matched path as the response's route label.
pub async fn label_matched_route(request: Request, next: Next) -> Response {
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| RouteLabel(Arc::from(path.as_str())));
    let mut response = next.run(request).await;
    if let Some(label) = matched {
        response.extensions_mut().insert(label);
    }
    response
}

/// Outer middleware of each listener: counts the request by route and status and records
/// its latency.
pub async fn track_requests(
    State(listener): State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or_else(|| "unmatched".to_owned(), |label| label.0.to_string());
    let status = response.status().as_u16().to_string();
    metrics::counter!("vaultsim_http_requests_total",
        "listener" => listener, "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("vaultsim_http_request_duration_seconds",
        "listener" => listener, "route" => route)
    .record(started.elapsed().as_secs_f64());
    response
}
