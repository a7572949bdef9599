//! Backups of VMs that are not running: `az vm deallocate` or `az vm stop`, then a backup.
//! No agent can take the snapshot, so the service takes it host-side, crash-consistent,
//! and the data moves into the vault (incrementally) like any other point. Started
//! again, the VM's backups go back to its agent.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use vaultsim::resources::compute::container_name;

use super::e2e::{
    backup_jobs, bytes_transferred, protected_vm, recovery_points, wait_for_job, GROUP, VAULT, VM,
};
use crate::management::app::{Backend, ManagementApp};
use crate::on_both_backends;

const START: &str = "2026-03-01T10:00:00Z";

/// Changes the VM's power as az does: a 202 whose operation has succeeded and whose
/// `Location` ends in an empty 200.
async fn power(app: &ManagementApp, action: &str) {
    let changed = app.power_vm(GROUP, VM, action).await;
    assert_eq!(
        changed.status,
        StatusCode::ACCEPTED,
        "{action}: {:?}",
        changed.body
    );
    let operation = app.follow(changed.header("azure-asyncoperation")).await;
    assert_eq!(
        operation.body["status"], "Succeeded",
        "{:?}",
        operation.body
    );
    let location = app.follow(changed.header("location")).await;
    assert_eq!(location.status, StatusCode::OK);
    assert_eq!(location.body, Value::Null);
}

/// The `PowerState/...` status of the VM's instance view, and its agent's status.
async fn power_state(app: &ManagementApp) -> (String, String) {
    let view = app.get_vm_instance_view(GROUP, VM).await;
    assert_eq!(view.status, StatusCode::OK, "{:?}", view.body);
    let code = view.body["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["code"].as_str())
        .find(|code| code.starts_with("PowerState/"))
        .unwrap()
        .to_owned();
    let agent = view.body["vmAgent"]["statuses"][0]["displayStatus"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (code, agent)
}

async fn completed_backup(app: &ManagementApp) -> Value {
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let job = wait_for_job(app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    job
}

async fn a_deallocated_vm_is_backed_up_host_side_and_incrementally(app: ManagementApp) {
    app.pin_clock(START).await;
    // Created over ARM: no agent has ever registered for it.
    app.protection_setup(GROUP, VAULT, &[VM]).await;
    app.protect(GROUP, VAULT, VM, "DefaultPolicy").await;
    let vm_id = app.get_vm(GROUP, VM).await.body["properties"]["vmId"]
        .as_str()
        .unwrap()
        .to_owned();
    let container = container_name(&vm_id);
    app.write_disk(&container, "osdisk.vhd", 0, vec![0xA1; 1 << 20])
        .await;

    power(&app, "deallocate").await;
    assert_eq!(power_state(&app).await.0, "PowerState/deallocated");
    let first = completed_backup(&app).await;
    assert_eq!(bytes_transferred(&first), 1 << 20);
    let points = recovery_points(&app).await;
    assert_eq!(points.len(), 1);
    assert_eq!(
        points[0]["properties"]["recoveryPointType"],
        "CrashConsistent"
    );
    // Nothing was installed on the VM: no extension took part.
    let extensions = app.list_vm_extensions(GROUP, VM).await;
    assert_eq!(extensions.body["value"], serde_json::json!([]));

    // The next point moves only what changed since the previous one's snapshot (the
    // day's scheduled run, host-side too, may have taken one meanwhile).
    app.advance_by("PT1H", 0.0).await;
    let before = recovery_points(&app).await.len();
    app.write_disk(&container, "osdisk.vhd", 8 << 20, vec![0xC3; 4096])
        .await;
    let second = completed_backup(&app).await;
    assert_eq!(bytes_transferred(&second), 4096);
    assert_eq!(recovery_points(&app).await.len(), before + 1);

    // A restart needs a running VM; started, it is again one without an agent.
    let restarted = app.power_vm(GROUP, VM, "restart").await;
    assert_eq!(
        restarted.status,
        StatusCode::CONFLICT,
        "{:?}",
        restarted.body
    );
    assert_eq!(restarted.error_code(), "OperationNotAllowed");
    power(&app, "start").await;
    assert_eq!(power_state(&app).await.0, "PowerState/running");
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Failed", "{job}");
    assert_eq!(
        job["properties"]["errorDetails"][0]["errorTitle"],
        "AzureVmOffline"
    );
}

on_both_backends!(a_deallocated_vm_is_backed_up_host_side_and_incrementally);

#[tokio::test]
async fn a_stopped_vm_gets_no_task_until_it_starts_again() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let mut vm = protected_vm(&app, START).await;
    power(&app, "powerOff").await;
    assert_eq!(
        power_state(&app).await,
        ("PowerState/stopped".to_owned(), "Not Ready".to_owned())
    );
    completed_backup(&app).await;
    assert!(
        vm.next_task(Duration::from_secs(1)).await.is_none(),
        "a stopped VM's agent received a task"
    );
    assert_eq!(
        recovery_points(&app).await[0]["properties"]["recoveryPointType"],
        "CrashConsistent"
    );

    power(&app, "start").await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let task = vm
        .next_task(Duration::from_secs(20))
        .await
        .expect("the running VM's agent received the task");
    let task_id = task
        .public_object
        .backup_metadata
        .iter()
        .find(|entry| entry.key == "TaskId")
        .map(|entry| entry.value.clone());
    assert_eq!(task_id, Some(format!("{job_id}_1")));
    assert_eq!(backup_jobs(&app).await.len(), 2);
}
