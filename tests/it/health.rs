//! `/healthz` and `/readyz` on every listener, over the wire against `vaultsim serve`:
//! unauthenticated JSON, readiness from the database, the blob store and the engine's
//! loop; readiness fails (503, naming the check) when the database goes, while liveness
//! holds. `/metrics` counts requests, and after real backups the engine's and the blob
//! store's families.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::backup::e2e::{disk_container, protected_vm, wait_for_job, GROUP, VAULT, VM};
use crate::helpers::ServiceProcess;
use crate::management::app::{Backend, ManagementApp, PostgresDatabase};

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

/// One sample of `/metrics`' text: the value of the series named exactly `series` (its
/// name and labels as rendered), if there is one.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

/// After backups through the service, one completed and one expired, `/metrics` shows the
/// engine's tasks, the agent's frozen time and the blob store's size and operations.
#[tokio::test]
async fn metrics_show_tasks_frozen_time_and_the_blob_store_after_backups() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let mut vm = protected_vm(&app, "2026-03-01T10:00:00Z").await;
    let container = disk_container(&vm);
    app.write_disk(&container, "osdisk.vhd", 0, vec![0x3C; 64 << 10])
        .await;
    let completed = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = vm.next_task(Duration::from_secs(20)).await.unwrap();
    let snapshots = task.snapshot_disks().await;
    task.write_status(&task.app_consistent_status(&snapshots))
        .await
        .unwrap();
    let job = wait_for_job(&app, &completed).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    // The next backup's extension never answers: its task expires at the deadline.
    let expired = app.backup_now(GROUP, VAULT, VM).await;
    vm.next_task(Duration::from_secs(20)).await.unwrap();
    app.advance_by("PT3H", 0.0).await;
    let job = wait_for_job(&app, &expired).await;
    assert_eq!(job["properties"]["status"], "Failed", "{job}");

    let scraped = reqwest::get(format!("http://{}/metrics", app.addr))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    let at_least = |series: &str, least: f64| {
        let value = sample(&text, series).unwrap_or_else(|| panic!("{series} not in:\n{text}"));
        assert!(value >= least, "{series} {value} < {least}");
    };
    at_least("vaultsim_tasks_dispatched_total", 2.0);
    at_least(r#"vaultsim_tasks_collected_total{outcome="snapshot"}"#, 1.0);
    at_least("vaultsim_tasks_expired_total", 1.0);
    at_least("vaultsim_agent_frozen_seconds_count", 1.0);
    // The stand-in froze for 125 ms.
    at_least(r#"vaultsim_agent_frozen_seconds_bucket{le="0.25"}"#, 1.0);
    at_least("vaultsim_agent_frozen_seconds_sum", 0.125);
    // Two disks, a vault copy of each, the task's status and log blobs.
    at_least("vaultsim_blob_store_blobs", 6.0);
    at_least("vaultsim_blob_store_bytes", (64 << 10) as f64);
    for operation in ["CreatePageBlob", "WritePages", "Snapshot", "PutBlockBlob"] {
        at_least(
            &format!(r#"vaultsim_blob_store_operations_total{{operation="{operation}"}}"#),
            1.0,
        );
    }
    at_least("vaultsim_db_pool_connections", 1.0);
    for line in text
        .lines()
        .filter(|l| l.starts_with("vaultsim_blob_store_operations_total"))
    {
        assert!(!line.contains(&container), "a blob name in a label: {line}");
    }
}
