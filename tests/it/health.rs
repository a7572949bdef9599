//! `/healthz` and `/readyz` on every listener, over the wire against `vaultsim serve`:
//! unauthenticated JSON, readiness from the database, the blob store and the engine's
//! loop; readiness fails (503, naming the check) when the database goes, while liveness
//! holds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::ServiceProcess;
use crate::management::app::PostgresDatabase;

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{path}: {content_type}"
    );
    (status, response.json().await.unwrap())
}

/// Polls `/readyz` until it answers `status`; its body.
async fn readiness(addr: SocketAddr, status: u16, service: &ServiceProcess) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (found, body) = get(addr, "/readyz").await;
        if found == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never answered {status}: {found} {body}\n{}",
            service.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_listener_answers_liveness_and_readiness_without_a_token() {
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(data.path(), "info");
    let listeners = [
        service.listening("management API"),
        service.addr,
        service.listening("guest API"),
    ];
    for addr in listeners {
        let (status, live) = get(addr, "/healthz").await;
        assert_eq!(status, 200, "{addr}: {live}");
        assert_eq!(live["status"], "ok");
        assert_eq!(live["version"], env!("CARGO_PKG_VERSION"));
        let ready = readiness(addr, 200, &service).await;
        assert_eq!(ready["status"], "ready", "{ready}");
        for check in ["database", "blobStore", "engine"] {
            assert_eq!(ready["checks"][check]["status"], "ok", "{check}: {ready}");
        }
    }
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_and_liveness_holds() {
    let database = PostgresDatabase::create().await;
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_with(
        data.path(),
        "info",
        &[("VAULTSIM_DATABASE_URL", database.url())],
    );
    let management = service.listening("management API");
    readiness(management, 200, &service).await;
    drop(database);
    let failed = readiness(management, 503, &service).await;
    assert_eq!(failed["status"], "notReady", "{failed}");
    assert_eq!(failed["checks"]["database"]["status"], "failed", "{failed}");
    assert_eq!(failed["checks"]["blobStore"]["status"], "ok", "{failed}");
    let (status, live) = get(management, "/healthz").await;
    assert_eq!((status, live["status"].as_str()), (200, Some("ok")));
}

/// `/metrics` in Prometheus's text format: requests by listener, route (an axum route's
/// template, a blob operation, an ARM operation id) and status, their latency, the pool.
#[tokio::test]
async fn metrics_count_requests_by_listener_route_and_status() {
    let data = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(data.path(), "info");
    let management = service.listening("management API");
    assert_eq!(
        service.client().create_container("metered").await.status(),
        201
    );
    get(management, "/healthz").await;
    let endpoints = reqwest::get(format!(
        "http://{management}/metadata/endpoints?api-version=2022-09-01"
    ))
    .await
    .unwrap();
    assert_eq!(endpoints.status(), 200);
    let scraped = reqwest::get(format!("http://{management}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = scraped.text().await.unwrap();
    for wanted in [
        r#"vaultsim_http_requests_total{listener="blob",route="CreateContainer",status="201"} 1"#,
        r#"vaultsim_http_requests_total{listener="management",route="/healthz",status="200"} 1"#,
        r#"vaultsim_http_requests_total{listener="management",route="Metadata_GetEndpoints",status="200"} 1"#,
        r#"vaultsim_http_request_duration_seconds_bucket{listener="blob",route="CreateContainer",le="+Inf"} 1"#,
        "vaultsim_db_pool_connections ",
    ] {
        assert!(text.contains(wanted), "{wanted} not in:\n{text}");
    }
}
