//! On-demand backups of one item requested at once: one starts, the others are told a
//! backup is in progress, as they would be one after another.

use futures_util::future::join_all;
use serde_json::json;

use super::e2e::{backup_jobs, protected_vm, GROUP, VAULT, VM};
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

crate::on_both_backends!(on_demand_backups_at_once_start_one);
