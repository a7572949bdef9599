//! What the service does when a backup goes wrong: no status by the deadline, an error
//! status, a stale or forged status, a VM without an agent; and the limits on-demand
//! backups obey.

use std::time::Duration;

use serde_json::{json, Value};
use vaultsim_protocol::extension::codes::azure_error_for_extension_code;

use super::e2e::{backup_jobs, protected_vm, recovery_points, wait_for_job, GROUP, VAULT, VM};
use super::standin::{nonexistent_snapshot, ReceivedTask, VmStandIn};
use crate::management::app::{Backend, ManagementApp};

const START: &str = "2026-03-01T10:00:00Z";

async fn app() -> ManagementApp {
    ManagementApp::spawn(Backend::Sqlite).await
}

async fn next_task(vm: &mut VmStandIn) -> ReceivedTask {
    vm.next_task(Duration::from_secs(20))
        .await
        .expect("the VM received the task")
}

fn first_error(job: &Value) -> &Value {
    &job["properties"]["errorDetails"][0]
}

#[tokio::test]
async fn a_task_with_no_final_status_fails_at_its_deadline() {
    let app = app().await;
    let mut vm = protected_vm(&app, START).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = next_task(&mut vm).await;
    // The extension starts, then goes silent.
    let transitioning = task.transitioning_status();
    task.write_status(&transitioning).await.unwrap();
    app.advance_by("PT1H", 0.0).await;
    let job = app.get_job(GROUP, VAULT, &job_id).await.body;
    assert_eq!(
        job["properties"]["status"], "InProgress",
        "not yet at the deadline"
    );
    app.advance_by("PT2H", 0.0).await;
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Failed", "{job}");
    assert_eq!(
        first_error(&job)["errorTitle"],
        "UserErrorGuestAgentStatusUnavailable"
    );
    let item = app
        .get_protected_item(
            GROUP,
            VAULT,
            &crate::management::protection::container_name(GROUP, VM),
            &crate::management::protection::item_name(GROUP, VM),
        )
        .await;
    assert_eq!(item.body["properties"]["lastBackupStatus"], "Failed");
    assert!(recovery_points(&app).await.is_empty());
}

#[tokio::test]
async fn an_error_status_fails_the_job_with_the_mapped_azure_error() {
    let app = app().await;
    let mut vm = protected_vm(&app, START).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = next_task(&mut vm).await;
    let failed = task.error_status(121, "Freeze failed on /data");
    task.write_status(&failed).await.unwrap();
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Failed", "{job}");
    let expected = azure_error_for_extension_code(121);
    assert_eq!(first_error(&job)["errorTitle"], expected.code);
    assert!(
        first_error(&job)["errorString"]
            .as_str()
            .unwrap()
            .contains("Freeze failed on /data"),
        "{job}"
    );
    assert!(recovery_points(&app).await.is_empty());
}

#[tokio::test]
async fn a_stale_status_for_another_task_is_refused() {
    let app = app().await;
    let mut vm = protected_vm(&app, START).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = next_task(&mut vm).await;
    let snapshots = task.snapshot_disks().await;
    let stale = task
        .status(0)
        .snapshots(&snapshots)
        .task_id("0b7a2f57-3c1d-4e5f-8a9b-0c1d2e3f4a5b_1")
        .build();
    task.write_status(&stale).await.unwrap();
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Failed");
    assert_eq!(
        first_error(&job)["errorTitle"],
        "GuestAgentSnapshotTaskStatusError"
    );
    assert!(
        first_error(&job)["errorString"]
            .as_str()
            .unwrap()
            .contains("stale"),
        "{job}"
    );
}

#[tokio::test]
async fn a_status_naming_snapshots_never_taken_is_refused() {
    let app = app().await;
    let mut vm = protected_vm(&app, START).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = next_task(&mut vm).await;
    let snapshots: Vec<_> = task
        .snapshot_disks()
        .await
        .iter()
        .map(nonexistent_snapshot)
        .collect();
    let forged = task.app_consistent_status(&snapshots);
    task.write_status(&forged).await.unwrap();
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Failed");
    assert_eq!(
        first_error(&job)["errorTitle"],
        "GuestAgentSnapshotTaskStatusError"
    );
    assert!(recovery_points(&app).await.is_empty());
}

#[tokio::test]
async fn a_status_blob_that_is_not_a_status_is_refused() {
    let app = app().await;
    let mut vm = protected_vm(&app, START).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let task = next_task(&mut vm).await;
    // Whoever holds the SAS can write anything; the service must not trust it.
    let written = app
        .http
        .put(&task.protected.status_blob_uri)
        .header("x-ms-blob-type", "BlockBlob")
        .body(r#"[{"version":"1.0","status":{"code":"0"}}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), 201);
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Failed");
    assert_eq!(
        first_error(&job)["errorTitle"],
        "GuestAgentSnapshotTaskStatusError"
    );
}

#[tokio::test]
async fn a_vm_without_an_agent_fails_at_once() {
    let app = app().await;
    app.pin_clock(START).await;
    app.protection_setup(GROUP, VAULT, &[VM]).await;
    app.protect(GROUP, VAULT, VM, "DefaultPolicy").await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Failed");
    assert_eq!(first_error(&job)["errorTitle"], "AzureVmOffline");
    assert_eq!(first_error(&job)["errorCode"], 380008);
}

#[tokio::test]
async fn on_demand_backups_wait_for_the_running_one_and_obey_the_daily_limit() {
    let app = app().await;
    let mut vm = protected_vm(&app, START).await;
    for n in 0..9 {
        let job_id = app.backup_now(GROUP, VAULT, VM).await;
        if n == 0 {
            let again = app
                .trigger_backup(
                    GROUP,
                    VAULT,
                    VM,
                    json!({"properties": {"objectType": "IaasVMBackupRequest"}}),
                )
                .await;
            assert_eq!(again.status, 400);
            assert_eq!(again.error_code(), "UserErrorBackupOperationInProgress");
        }
        let mut task = next_task(&mut vm).await;
        let snapshots = task.snapshot_disks().await;
        let done = task.file_system_consistent_status(&snapshots);
        task.write_status(&done).await.unwrap();
        let job = wait_for_job(&app, &job_id).await;
        assert_eq!(job["properties"]["status"], "Completed", "{job}");
    }
    let points = recovery_points(&app).await;
    assert_eq!(points.len(), 9);
    assert!(points
        .iter()
        .all(|p| p["properties"]["recoveryPointType"] == "FileSystemConsistent"));
    let tenth = app
        .trigger_backup(
            GROUP,
            VAULT,
            VM,
            json!({"properties": {"objectType": "IaasVMBackupRequest"}}),
        )
        .await;
    assert_eq!(tenth.status, 400);
    assert_eq!(
        tenth.error_code(),
        "UserErrorDailyOnDemandBackupLimitReached"
    );
    // The next UTC day allows more (the day also brings the policy's scheduled run).
    app.advance_by("P1D", 0.0).await;
    app.backup_now(GROUP, VAULT, VM).await;
    let jobs = backup_jobs(&app).await;
    let on_demand = |j: &&Value| j["properties"]["isUserTriggered"] == true;
    assert_eq!(jobs.iter().filter(on_demand).count(), 10);
    assert_eq!(jobs.len(), 11);
}

#[tokio::test]
async fn bad_backup_and_clock_requests_are_refused_and_change_nothing() {
    let app = app().await;
    protected_vm(&app, START).await;
    for (body, code) in [
        (json!({}), "BMSUserErrorInvalidInput"),
        (
            json!({"properties": {"objectType": "AzureFileShareBackupRequest"}}),
            "BMSUserErrorInvalidInput",
        ),
        (
            json!({"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": "tomorrow"}}),
            "BMSUserErrorInvalidInput",
        ),
        (
            json!({"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": "2020-01-01T00:00:00Z"}}),
            "BMSUserErrorInvalidInput",
        ),
    ] {
        let refused = app.trigger_backup(GROUP, VAULT, VM, body.clone()).await;
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(refused.error_code(), code, "{body}");
    }
    assert!(backup_jobs(&app).await.is_empty());
    for body in [
        json!({"by": "P1X"}),
        json!({"by": "P1D", "to": "2027-01-01T00:00:00Z"}),
        json!({"to": "2020-01-01T00:00:00Z"}),
        json!({"by": "P1D", "settleSeconds": -1}),
    ] {
        let refused = app.advance_clock(body.clone()).await;
        assert_eq!(refused.status, 400, "{body}");
    }
    let clock = app.get_clock().await;
    assert_eq!(clock.body["now"], "2026-03-01T10:00:00.000000Z");
    assert_eq!(clock.body["mode"], "pinned");
}

/// Durations and instants too large for the calendar are refused as bad input (400 in
/// the ARM JSON shape), never a panic, and the clock does not move.
#[tokio::test]
async fn clock_moves_beyond_the_calendar_are_refused() {
    let app = app().await;
    app.pin_clock(START).await;
    for body in [
        json!({"by": "P99999999999999999999D"}),
        json!({"by": "P99999999999999999999DT99999999999999999999H"}),
        json!({"by": "P200000YT1H"}),
        json!({"by": "PT99999999999999999999S"}),
        json!({"by": "P9999999999999W"}),
        json!({"by": "P1000000Y"}),
        json!({"by": "P100000000D"}),
        json!({"by": "P1E300D"}),
        json!({"to": "9999-12-31T23:59:59Z"}),
        json!({"to": "+262142-01-01T00:00:00Z"}),
    ] {
        let refused = app.advance_clock(body.clone()).await;
        assert_eq!(refused.status, 400, "{body}: {:?}", refused.body);
        assert_eq!(refused.error_code(), "InvalidRequestContent", "{body}");
        let clock = app.get_clock().await;
        assert_eq!(clock.body["now"], "2026-03-01T10:00:00.000000Z", "{body}");
    }
    for body in [
        json!({"mode": "pinned", "now": "9999-12-31T23:59:59Z"}),
        json!({"mode": "running", "now": "9999-12-31T23:59:59Z"}),
    ] {
        let refused = app.set_clock(body.clone()).await;
        assert_eq!(refused.status, 400, "{body}: {:?}", refused.body);
        assert_eq!(refused.error_code(), "InvalidRequestContent", "{body}");
    }
    let clock = app.get_clock().await;
    assert_eq!(clock.body["now"], "2026-03-01T10:00:00.000000Z");
}

/// Pinning the clock before the newest job is refused (409 `ClockWouldGoBackwards`, the
/// clock unchanged) unless `allowBackwards` says so; moving back before any job is not.
#[tokio::test]
async fn the_clock_does_not_move_back_before_recorded_jobs_unless_allowed() {
    let app = app().await;
    // No job yet: back and forth freely.
    app.pin_clock("2026-06-01T00:00:00Z").await;
    app.pin_clock("2026-01-01T00:00:00Z").await;
    let _vm = protected_vm(&app, "2026-03-01T10:00:00Z").await;
    let back = json!({"mode": "pinned", "now": "2025-06-01T00:00:00Z"});
    let refused = app.set_clock(back.clone()).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.error_code(), "ClockWouldGoBackwards");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("2025-06-01T00:00:00Z") && message.contains("allowBackwards"),
        "{message}"
    );
    assert_eq!(
        app.get_clock().await.body["now"],
        "2026-03-01T10:00:00.000000Z"
    );
    let refused = app.set_clock(json!({"mode": "system"})).await;
    assert_eq!(
        refused.status, 200,
        "real time is after the jobs: {:?}",
        refused.body
    );
    let mut allowed = back;
    allowed["allowBackwards"] = json!(true);
    let moved = app.set_clock(allowed).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(
        app.get_clock().await.body["now"],
        "2025-06-01T00:00:00.000000Z"
    );
}
