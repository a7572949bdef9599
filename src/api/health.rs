//! `/healthz` and `/readyz` on every listener (management API, blob endpoint, guest API),
//! unauthenticated, for orchestrators and load balancers: liveness answers 200 while the
//! process serves; readiness 200 when every check of `health` passes, 503 otherwise, with
//! each check's outcome.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::health::Health;

/// The health routes' part of the OpenAPI document (the management API's listeners serve
/// them as the blob endpoint's and the guest API's do).
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub struct HealthApi;

/// The two routes, to merge into a listener's router.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
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
