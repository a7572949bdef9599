//! One item's broken backup stays that item's: a VM whose certificate the service cannot
//! encrypt to, whose disks were deleted behind the service's back, or which was deleted
//! itself, gets a Failed job, while another tenant's VM due at the same instant still gets
//! its backup and the clock advance succeeds. And one backup per item at a time: a
//! scheduled run does not start beside a running backup.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::e2e::{
    backup_jobs, daily_policy, disk_container, protected_vm, register_in, serve_tasks,
    wait_for_job, Behaviour, ServedTask, GROUP, POLICY, VAULT, VM,
};
use super::standin::VmStandIn;
use crate::management::app::ManagementApp;
use crate::on_both_backends;

const START: &str = "2026-03-01T10:00:00Z";
const OTHER_GROUP: &str = "rg2";
const OTHER_VAULT: &str = "vault2";
const OTHER_VM: &str = "healthy";

/// An EC P-256 certificate: X.509 like any other, but nothing can be encrypted to it with
/// RSA key transport.
const EC_CERTIFICATE: &str = include_str!("../../../src/guest/testdata/ec-certificate.pem");

/// Two tenants with the same daily 02:00 policy: `vm1` in `rg`/`vault`, to be poisoned, and
/// a healthy VM in `rg2`/`vault2` whose stand-in runs every task it receives. Answers the
/// poisoned VM and the healthy VM's snapshots.
async fn two_tenants(app: &ManagementApp) -> (VmStandIn, UnboundedReceiver<ServedTask>) {
    let poisoned = protected_vm(app, START).await;
    app.protection_setup(OTHER_GROUP, OTHER_VAULT, &[]).await;
    let policy = app
        .put_policy(OTHER_GROUP, OTHER_VAULT, POLICY, daily_policy("UTC"))
        .await;
    assert_eq!(policy.status, 200, "{:?}", policy.body);
    let healthy = register_in(app, OTHER_GROUP, OTHER_VM).await;
    app.protect(OTHER_GROUP, OTHER_VAULT, OTHER_VM, POLICY)
        .await;
    let snapshots = serve_tasks(healthy, Behaviour::AppConsistent, Duration::from_secs(60));
    (poisoned, snapshots)
}

/// Runs both tenants' 02:00 run (and the poisoned task's deadline, 150 minutes on): the
/// advance succeeds and the healthy VM's backup completes.
async fn run_the_schedule(app: &ManagementApp, healthy: &mut UnboundedReceiver<ServedTask>) {
    let advanced = app
        .advance_clock(json!({"by": "PT20H", "settleSeconds": 5}))
        .await;
    assert_eq!(advanced.status, 200, "{:?}", advanced.body);
    // The stand-in reports its handler status after the job completed.
    tokio::time::timeout(Duration::from_secs(20), healthy.recv())
        .await
        .expect("the healthy VM received its task")
        .expect("the stand-in ran it");
    let listed = app
        .list_jobs(OTHER_GROUP, OTHER_VAULT, Some("operation eq 'Backup'"))
        .await;
    let jobs = listed.body["value"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{:?}", listed.body);
    assert_eq!(jobs[0]["properties"]["status"], "Completed", "{}", jobs[0]);
}

/// The poisoned item's one Backup job: Failed, every task ended, with `code`.
async fn the_poisoned_job_failed(app: &ManagementApp, code: &str) -> Value {
    let jobs = backup_jobs(app).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = wait_for_job(app, jobs[0]["name"].as_str().unwrap()).await;
    assert_failed(&job, code);
    job
}

fn assert_failed(job: &Value, code: &str) {
    let properties = &job["properties"];
    assert_eq!(properties["status"], "Failed", "{job}");
    assert_eq!(properties["errorDetails"][0]["errorTitle"], code, "{job}");
    for task in properties["extendedInfo"]["tasksList"].as_array().unwrap() {
        assert_ne!(task["status"], "InProgress", "{job}");
    }
}

/// Puts `certificate` in place of the VM's registered one, as a registration of old did.
async fn replace_certificate(app: &ManagementApp, vm: &VmStandIn, certificate: &str) {
    let db = app.db().await;
    let updated = sqlx::query("update vm_guest set certificate_pem = $1 where vm_id = $2")
        .bind(certificate)
        .bind(&vm.vm_id)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
}

async fn a_certificate_the_service_cannot_encrypt_to_fails_that_job_alone(app: ManagementApp) {
    let (poisoned, mut healthy) = two_tenants(&app).await;
    replace_certificate(&app, &poisoned, EC_CERTIFICATE).await;
    run_the_schedule(&app, &mut healthy).await;
    let job = the_poisoned_job_failed(&app, "ExtensionConfigParsingFailure").await;
    let message = job["properties"]["errorDetails"][0]["errorString"]
        .as_str()
        .unwrap();
    assert!(message.contains("RSA"), "{message}");
}

async fn an_on_demand_backup_to_a_bad_certificate_is_accepted_and_fails(app: ManagementApp) {
    let vm = protected_vm(&app, START).await;
    replace_certificate(&app, &vm, EC_CERTIFICATE).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let job = wait_for_job(&app, &job_id).await;
    assert_failed(&job, "ExtensionConfigParsingFailure");
}

async fn deleted_disks_fail_that_job_alone(app: ManagementApp) {
    let (poisoned, mut healthy) = two_tenants(&app).await;
    let container = disk_container(&poisoned);
    for blob in ["osdisk.vhd", "datadisk-0.vhd"] {
        let deleted = app
            .blobs()
            .send(
                Method::DELETE,
                &format!("/{container}/{blob}"),
                "",
                &[],
                vec![],
            )
            .await;
        assert_eq!(deleted.status(), 202, "{blob}");
    }
    run_the_schedule(&app, &mut healthy).await;
    the_poisoned_job_failed(&app, "UserErrorGuestAgentStatusUnavailable").await;
}

async fn a_deleted_vm_fails_that_job_alone(app: ManagementApp) {
    let (_poisoned, mut healthy) = two_tenants(&app).await;
    let deleted = app.delete_vm(GROUP, VM).await;
    assert!(deleted.status.is_success(), "{deleted:?}");
    run_the_schedule(&app, &mut healthy).await;
    let job = the_poisoned_job_failed(&app, "BCMV2VMNotFound").await;
    assert_eq!(job["properties"]["errorDetails"][0]["errorCode"], 400094);
}

async fn a_vm_deleted_while_its_backup_runs_fails_that_job_alone(app: ManagementApp) {
    let (mut poisoned, mut healthy) = two_tenants(&app).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = poisoned
        .next_task(Duration::from_secs(20))
        .await
        .expect("the VM received the task");
    let snapshots = task.snapshot_disks().await;
    let deleted = app.delete_vm(GROUP, VM).await;
    assert!(deleted.status.is_success(), "{deleted:?}");
    let done = task.app_consistent_status(&snapshots);
    task.write_status(&done).await.unwrap();
    // The snapshots went with the VM's disks.
    let job = wait_for_job(&app, &job_id).await;
    assert_failed(&job, "GuestAgentSnapshotTaskStatusError");
    run_the_schedule(&app, &mut healthy).await;
    let jobs = backup_jobs(&app).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_failed(&jobs[0], "BCMV2VMNotFound");
}

/// A scheduled run while the item's previous backup still waits for its snapshot fails at
/// once, as Azure's does, and leaves the running backup alone.
async fn a_scheduled_run_while_a_backup_runs_fails_with_backup_in_progress(app: ManagementApp) {
    let mut vm = protected_vm(&app, "2026-03-01T01:00:00Z").await;
    let running = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = vm
        .next_task(Duration::from_secs(20))
        .await
        .expect("the VM received the task");
    // Past the policy's 02:00 run, before the running task's deadline (03:30).
    app.advance_by("PT1H30M", 0.0).await;
    let jobs = backup_jobs(&app).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let scheduled = &jobs[0];
    assert_eq!(scheduled["properties"]["isUserTriggered"], false);
    assert_failed(scheduled, "UserErrorBackupOperationInProgress");
    assert!(
        vm.next_task(Duration::from_millis(500)).await.is_none(),
        "the scheduled run reached the VM"
    );
    let snapshots = task.snapshot_disks().await;
    let done = task.app_consistent_status(&snapshots);
    task.write_status(&done).await.unwrap();
    let job = wait_for_job(&app, &running).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
}

on_both_backends!(
    a_scheduled_run_while_a_backup_runs_fails_with_backup_in_progress,
    a_vm_deleted_while_its_backup_runs_fails_that_job_alone,
    a_certificate_the_service_cannot_encrypt_to_fails_that_job_alone,
    an_on_demand_backup_to_a_bad_certificate_is_accepted_and_fails,
    deleted_disks_fail_that_job_alone,
    a_deleted_vm_fails_that_job_alone,
);
