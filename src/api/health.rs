//! `/healthz`, `/readyz` and `/metrics` on every listener (management API, blob endpoint,
//! guest API), unauthenticated, for orchestrators, load balancers and Prometheus: liveness
//! answers 200 while the process serves; readiness 200 when every check of `health`
//! passes, 503 otherwise, with each check's outcome; metrics in Prometheus's text format.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::health::Health;
use crate::prometheus;

/// The health routes' part of the OpenAPI document (the management API's listeners serve
/// them as the blob endpoint's and the guest API's do).
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub struct HealthApi;

/// The two routes, to merge into a listener's router.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn(prometheus::label_matched_route))
        .with_state(health)
}

/// The process's metrics, the database pool's and the blob store's gauges read now.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "Health_Metrics",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Prometheus text format: `vaultsim_http_requests_total` and `vaultsim_http_request_duration_seconds` by listener, route and status; `vaultsim_jobs_ended_total` and `vaultsim_job_duration_seconds` by operation (and status); `vaultsim_tasks_dispatched_total` (`snapshot=\"host\"` for stopped VMs' host-side snapshots), `vaultsim_tasks_collected_total` by outcome, `vaultsim_tasks_expired_total`; `vaultsim_agent_frozen_seconds`; `vaultsim_backup_bytes_transferred_total`, `vaultsim_restore_bytes_total`; `vaultsim_blob_store_blobs`, `vaultsim_blob_store_bytes`, `vaultsim_blob_store_operations_total` by operation; `vaultsim_db_pool_connections`, `vaultsim_db_pool_idle_connections`"),
    )
)]
async fn metrics(State(health): State<Health>) -> Response {
    if let Some((size, idle)) = health.pool_use() {
        ::metrics::gauge!("vaultsim_db_pool_connections").set(f64::from(size));
        ::metrics::gauge!("vaultsim_db_pool_idle_connections").set(idle as f64);
    }
    match health.blob_store_usage() {
        Some(Ok(usage)) => {
            ::metrics::gauge!("vaultsim_blob_store_blobs").set(usage.blobs as f64);
            ::metrics::gauge!("vaultsim_blob_store_bytes").set(usage.bytes as f64);
        }
        Some(Err(error)) => tracing::warn!(%error, "reading the blob store's size failed"),
        None => {}
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus::handle().render(),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "Health_Liveness",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "The process serves: `{\"status\":\"ok\",\"version\",\"uptimeSeconds\"}`"),
    )
)]
async fn healthz(State(health): State<Health>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": health.uptime().as_secs(),
    }))
}

#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "Health_Readiness",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Every check of what this process runs passed (`database`, `blobStore`, `engine`): `{\"status\":\"ready\",\"checks\":{name:{\"status\":\"ok\",\"detail\"}}}`"),
        (status = 503, description = "A check failed: `{\"status\":\"notReady\",\"checks\":{…}}`, the failed ones with `\"status\":\"failed\"` and why"),
    )
)]
async fn readyz(State(health): State<Health>) -> Response {
    let checks = health.readiness().await;
    let ready = checks.iter().all(|c| c.ok);
    let by_name: Map<String, Value> = checks
        .into_iter()
        .map(|check| {
            (
                check.name.to_owned(),
                json!({
                    "status": if check.ok { "ok" } else { "failed" },
                    "detail": check.detail,
                }),
            )
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "notReady" },
        "checks": by_name,
    });
    (status, Json(body)).into_response()
}
