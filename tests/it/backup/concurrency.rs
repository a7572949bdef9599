//! On-demand backups of one item requested at once: one starts, the others are told a
//! backup is in progress, as they would be one after another.

use futures_util::future::join_all;
use serde_json::json;

use vaultsim::clock::ClockSetting;
use vaultsim::control::sim_clock;

use super::e2e::{
    backup_jobs, protected_vm, register, vault_with_daily_policy, GROUP, POLICY, VAULT, VM,
};
use crate::management::app::ManagementApp;

async fn on_demand_backups_at_once_start_one(app: ManagementApp) {
    // The VM receives the task and never answers: the backup stays in progress.
    let _vm = protected_vm(&app, "2026-03-01T10:00:00Z").await;
    let body = json!({"properties": {"objectType": "IaasVMBackupRequest"}});
    let triggered =
        join_all((0..16).map(|_| app.trigger_backup(GROUP, VAULT, VM, body.clone()))).await;
    let started = triggered.iter().filter(|t| t.status == 202).count();
    assert_eq!(started, 1, "{triggered:?}");
    for refused in triggered.iter().filter(|t| t.status != 202) {
        assert_eq!(refused.status, 400, "{refused:?}");
        assert_eq!(refused.error_code(), "UserErrorBackupOperationInProgress");
    }
    assert_eq!(backup_jobs(&app).await.len(), 1);
}

/// Items whose scheduled run and an on-demand request meet at the same instant.
const ITEMS: usize = 8;

/// The scheduler's claim locks each item's row (its update of `next_backup_at`) before
/// it looks for backups in progress, as the on-demand path does with `items::lock`: on
/// PostgreSQL, without either lock both start (seen failing with the on-demand lock
/// removed); on SQLite `begin immediate` serialises them anyway.
async fn a_scheduled_run_and_an_on_demand_backup_at_once_start_one(app: ManagementApp) {
    vault_with_daily_policy(&app, "2026-03-01T00:00:00Z").await;
    let vms: Vec<String> = (0..ITEMS).map(|n| format!("vm{n}")).collect();
    // The VMs receive their tasks and never answer: every backup stays in progress.
    let mut stand_ins = Vec::new();
    for vm in &vms {
        stand_ins.push(register(&app, vm).await);
        app.protect(GROUP, VAULT, vm, POLICY).await;
    }
    // Plan the 02:00 runs, then move the clock there without running them.
    app.engine.tick().await.unwrap();
    let due = ClockSetting::Pinned("2026-03-01T02:00:00Z".parse().unwrap());
    app.engine.clock().set(due);
    sim_clock::save(&app.db().await, app.engine.clock())
        .await
        .unwrap();
    let body = json!({"properties": {"objectType": "IaasVMBackupRequest"}});
    let (scheduled, triggered) = tokio::join!(
        app.engine.tick(),
        join_all(
            vms.iter()
                .map(|vm| app.trigger_backup(GROUP, VAULT, vm, body.clone()))
        )
    );
    scheduled.unwrap();
    for refused in triggered.iter().filter(|t| t.status != 202) {
        assert_eq!(refused.status, 400, "{refused:?}");
        assert_eq!(refused.error_code(), "UserErrorBackupOperationInProgress");
    }
    // One backup in progress per item, whichever came first; the other's job failed.
    let db = app.db().await;
    let running: Vec<i64> = sqlx::query_scalar(
        "select count(*) from backup_task where state in ('AwaitingSnapshot', 'Transferring') \
         group by vault_id, item_key order by vault_id, item_key",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(running, vec![1; ITEMS], "{triggered:?}");
    drop(stand_ins);
}

crate::on_both_backends!(
    on_demand_backups_at_once_start_one,
    a_scheduled_run_and_an_on_demand_backup_at_once_start_one,
);
