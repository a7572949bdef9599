//! Durability: a backup in flight when the service crashes completes after the restart,
//! and a transfer cut short is redone without a second recovery point.

use std::time::Duration;

use super::e2e::{protected_vm, recovery_points, wait_for_job, GROUP, VAULT, VM};
use crate::management::app::{Backend, ManagementApp};

const START: &str = "2026-03-01T10:00:00Z";

#[tokio::test]
async fn a_backup_waiting_for_its_snapshot_completes_after_a_crash() {
    let mut app = ManagementApp::spawn(Backend::Sqlite).await;
    let mut vm = protected_vm(&app, START).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = vm
        .next_task(Duration::from_secs(20))
        .await
        .expect("the VM received the task");
    app.crash_and_restart().await;
    // The extension carries on against the restarted service.
    let snapshots = task.snapshot_disks().await;
    let done = task.app_consistent_status(&snapshots);
    task.write_status(&done).await.unwrap();
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    assert_eq!(recovery_points(&app).await.len(), 1);
}

#[tokio::test]
async fn a_transfer_cut_short_by_a_crash_is_redone_and_recorded_once() {
    let mut app = ManagementApp::spawn(Backend::Sqlite).await;
    let mut vm = protected_vm(&app, START).await;
    let container = super::e2e::disk_container(&vm);
    app.write_disk(&container, "osdisk.vhd", 0, vec![7; 8192])
        .await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = vm.next_task(Duration::from_secs(20)).await.unwrap();
    let snapshots = task.snapshot_disks().await;
    let done = task.app_consistent_status(&snapshots);
    task.write_status(&done).await.unwrap();
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Completed");
    let task_id = format!("{job_id}_1");

    // Put the database back where a crash between copying the data and recording the
    // point would leave it: the task transferring, the job running, no point.
    let db = app.db().await;
    for (sql, bind) in [
        ("delete from recovery_point where task_id = $1", &task_id),
        (
            "update backup_task set state = 'Transferring' where task_id = $1",
            &task_id,
        ),
        (
            "update backup_job set status = 'InProgress', end_time = null where job_id = $1",
            &job_id,
        ),
    ] {
        let done = sqlx::query(sql)
            .bind(bind)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1, "{sql}");
    }
    app.crash_and_restart().await;
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    let points = recovery_points(&app).await;
    assert_eq!(points.len(), 1);
    let recorded: i64 =
        sqlx::query_scalar("select count(*) from recovery_point where task_id = $1")
            .bind(&task_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(recorded, 1);
    // The redone transfer found the vault already holding the data.
    assert_eq!(
        job["properties"]["extendedInfo"]["propertyBag"]["Bytes Transferred"],
        "0"
    );
}
