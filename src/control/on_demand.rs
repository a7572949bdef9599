//! On-demand backup (`POST .../protectedItems/{item}/backup`): checks Azure's limits, then
//! starts a Backup job like a scheduled run, kept until the requested expiry.

use chrono::{DateTime, Duration, Utc};

use super::backup::{start_backup, BackupRequest, BackupTarget};
use super::engine::Engine;
use super::retention::ON_DEMAND_BACKUPS_PER_DAY;
use super::tasks::{self, Trigger};
use crate::resources::lookup::VaultRecord;
use crate::resources::protection::items::{self, ProtectedItem, Submitted};
use crate::resources::protection::operations::{
    self, NewOperation, OperationKind, OperationStatus,
};
use crate::resources::ResourceError;
use crate::store::to_micros;
use vaultsim_protocol::extension::codes::BACKUP_IN_PROGRESS;

/// How long an on-demand point is kept when the request names no expiry (the CLI's
/// default for `--retain-until`).
const DEFAULT_RETENTION: Duration = Duration::days(30);
/// The longest Azure keeps a recovery point.
const MAX_RETENTION: Duration = Duration::days(99 * 366);

pub async fn request_backup(
    engine: &Engine,
    vault: &VaultRecord,
    item: &ProtectedItem,
    expiry: Option<DateTime<Utc>>,
) -> Result<Submitted, ResourceError> {
    let now = engine.clock().now();
    if item.policy.is_none() {
        return Err(ResourceError::invalid(
            "UserErrorBcmDatasourceNotPresent",
            format!(
                "Protection of '{}' is stopped: resume protection before taking a backup.",
                item.name.vm
            ),
        ));
    }
    let expiry = expiry.unwrap_or(now + DEFAULT_RETENTION);
    if expiry <= now || expiry > now + MAX_RETENTION {
        return Err(ResourceError::invalid(
            "BMSUserErrorInvalidInput",
            "properties.recoveryPointExpiryTimeInUTC must be in the future and at most 99 years \
             away.",
        ));
    }
    // Both limits are checked in the transaction that starts the backup, with the item
    // locked: requests at once then see each other's backups, as they would one by one.
    let mut tx = engine.db().begin_write().await?;
    if !items::lock(&mut tx, &item.vault_id, &item.item_key).await? {
        return Err(items::item_not_found(&item.name.vm));
    }
    let running = tasks::items_backing_up(&mut tx, &[(&item.vault_id, &item.item_key)]).await?;
    if !running.is_empty() {
        return Err(ResourceError::invalid(
            BACKUP_IN_PROGRESS.code,
            format!(
                "Another backup of '{}' is in progress: wait for it to finish.",
                item.name.vm
            ),
        ));
    }
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let today: i64 = sqlx::query_scalar(
        "select count(*) from backup_task where vault_id = $1 and item_key = $2 \
         and trigger_kind = 'OnDemand' and created_at >= $3",
    )
    .bind(&item.vault_id)
    .bind(&item.item_key)
    .bind(to_micros(day_start))
    .fetch_one(&mut *tx)
    .await?;
    if today >= i64::from(ON_DEMAND_BACKUPS_PER_DAY) {
        // The code is ours: Azure documents the limit, not the error it answers with.
        return Err(ResourceError::invalid(
            "UserErrorDailyOnDemandBackupLimitReached",
            format!(
                "'{}' already had {ON_DEMAND_BACKUPS_PER_DAY} on-demand backups today (UTC), \
                 the most Azure allows.",
                item.name.vm
            ),
        ));
    }
    let started = start_backup(
        engine,
        &mut tx,
        &BackupRequest {
            target: BackupTarget {
                vault_id: item.vault_id.clone(),
                item_key: item.item_key.clone(),
                vm_id: item.vm_id.clone(),
                vm: item.name.clone(),
            },
            trigger: Trigger::OnDemand,
            scheduled_at: now,
            rp_expires_at: Some(expiry),
        },
        now,
    )
    .await?;
    let operation_id = operations::create(
        &mut tx,
        NewOperation {
            vault_id: vault.vault_id.clone(),
            item_key: Some(item.item_key.clone()),
            kind: OperationKind::Backup,
            status: OperationStatus::Succeeded,
            job_id: Some(started.job_id.clone()),
            start_time: now,
            end_time: Some(now),
        },
    )
    .await?;
    tx.commit().await?;
    // A host-side snapshot's transfer (a VM not running) is adopted by the next tick: the
    // run loop alone starts transfers.
    if let Some(vm_id) = &started.notify_vm {
        engine.notifier().notify(vm_id);
    }
    Ok(Submitted {
        operation_id,
        job_id: started.job_id,
        name: item.name.clone(),
    })
}
