//! Restore (`POST .../recoveryPoints/{rp}/restore`, `RestoreDisks`): a Restore job writes
//! each disk of the recovery point, from its vault copy, as a new page blob in the staging
//! storage account, in a container named after the job (Azure picks the container too, and
//! reports it in the job). The request is stored before the work starts, so a restarted
//! service finishes it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::copy_progress::{reporting, CopyingStep};
use super::engine::Engine;
use super::lease::{self, Work};
use super::progress::{error_detail, finish_job, JobEnding};
use super::recovery_point_disks::RecoveryPointDisk;
use super::vault_storage::{restore_disk, vault_snapshot_size, CopyProgress, VaultDisk};
use super::EngineError;
use crate::resources::jobs::{
    self, Copied, JobExtendedInfo, JobOperation, JobStatus, JobTask, JobTaskName, JobTaskStatus,
    NewJob,
};
use crate::resources::lookup::VaultRecord;
use crate::resources::protection::items::{ProtectedItem, Submitted};
use crate::resources::protection::operations::{
    self, NewOperation, OperationKind, OperationStatus,
};
use crate::resources::ResourceError;
use crate::storage::{BlobStorage, Timestamp};
use crate::store::to_micros;
use vaultsim_protocol::extension::codes::INTERNAL_ERROR;

/// A validated `RestoreDisks` request.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The staging storage account's name (the last segment of `storageAccountId`).
    pub storage_account: String,
    /// `restoreDiskLunList`: only these disks; all when `None`.
    pub luns: Option<Vec<i64>>,
}

/// What a restore task stores: where each disk goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestorePlan {
    /// The account the disks are restored to (any the service keeps blobs in); `None`
    /// in plans recorded before there was a choice: the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_account: Option<String>,
    target_container: String,
    disks: Vec<PlannedDisk>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlannedDisk {
    lun: i64,
    vault_container: String,
    vault_blob: String,
    vault_snapshot: i64,
    target_blob: String,
}

/// Accepts a restore: records the Restore job and its plan, then starts it.
pub async fn request_restore(
    engine: &Engine,
    vault: &VaultRecord,
    item: &ProtectedItem,
    recovery_point_id: &str,
    request: RestoreRequest,
) -> Result<Submitted, ResourceError> {
    let now = engine.clock().now();
    let Ok(target) = engine.storage_of(Some(&request.storage_account)) else {
        let served: Vec<&str> = engine
            .accounts()
            .all()
            .iter()
            .map(|s| s.account().name.as_str())
            .collect();
        return Err(ResourceError::invalid(
            "UserErrorStorageAccountNotFound",
            format!(
                "Storage account '{}' is not served here; restore to one of: {}.",
                request.storage_account,
                served.join(", ")
            ),
        ));
    };
    let target_account = target.account().name.clone();
    let row = sqlx::query(
        "select disks, recovery_point_time from recovery_point where vault_id = $1 \
         and item_key = $2 and recovery_point_id = $3",
    )
    .bind(&item.vault_id)
    .bind(&item.item_key)
    .bind(recovery_point_id)
    .fetch_optional(engine.db().pool())
    .await?
    .ok_or_else(|| {
        ResourceError::not_found(
            "BMSUserErrorRecoveryPointNotFound",
            format!("Recovery point '{recovery_point_id}' was not found for this item."),
        )
    })?;
    let Some(disks) = row.try_get::<Option<String>, _>("disks")? else {
        return Err(ResourceError::invalid(
            "UserErrorRestoreNotPossible",
            format!("Recovery point '{recovery_point_id}' holds no disk data to restore."),
        ));
    };
    let disks = RecoveryPointDisk::parse_list(Some(&disks))?;
    if let Some(luns) = &request.luns {
        if let Some(missing) = luns.iter().find(|l| !disks.iter().any(|d| d.lun == **l)) {
            return Err(ResourceError::invalid(
                "BMSUserErrorInvalidInput",
                format!("properties.restoreDiskLunList names LUN {missing}, which the recovery point does not hold."),
            ));
        }
    }
    let mut tx = engine.db().begin_write().await?;
    let job_id = jobs::create_job(
        &mut tx,
        NewJob {
            vault_id: vault.vault_id.clone(),
            item_key: Some(item.item_key.clone()),
            entity_friendly_name: item.name.vm.clone(),
            container_name: item.name.native_container_name(),
            operation: JobOperation::Restore,
            status: JobStatus::InProgress,
            start_time: now,
            end_time: None,
            is_user_triggered: true,
            extended_info: JobExtendedInfo::default(),
        },
    )
    .await?;
    let target_container = format!("vhd{}", job_id.replace('-', ""));
    let planned: Vec<PlannedDisk> = disks
        .iter()
        .filter(|d| request.luns.as_ref().is_none_or(|l| l.contains(&d.lun)))
        .map(|d| PlannedDisk {
            lun: d.lun,
            vault_container: d.vault_container.clone(),
            vault_blob: d.vault_blob.clone(),
            vault_snapshot: d.vault_snapshot,
            target_blob: restored_blob_name(&item.name.vm, d.lun, recovery_point_id),
        })
        .collect();
    let point_time: i64 = row.try_get("recovery_point_time")?;
    let property_bag = BTreeMap::from([
        ("VM Name".to_owned(), item.name.vm.clone()),
        ("Recovery point ID".to_owned(), recovery_point_id.to_owned()),
        (
            "Recovery point time".to_owned(),
            crate::store::from_micros(point_time).to_rfc3339(),
        ),
        (
            "Target Storage Account Name".to_owned(),
            target_account.clone(),
        ),
        (
            "Config Blob Container Name".to_owned(),
            target_container.clone(),
        ),
        (
            "Restored Disks".to_owned(),
            planned
                .iter()
                .map(|d| d.target_blob.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]);
    jobs::update(
        &mut tx,
        &job_id,
        jobs::JobUpdate {
            status: None,
            extended_info: Some(JobExtendedInfo {
                tasks_list: vec![JobTask::new(
                    JobTaskName::TransferFromVault,
                    JobTaskStatus::InProgress,
                    now,
                )],
                property_bag,
                ..JobExtendedInfo::default()
            }),
        },
    )
    .await?;
    let plan = RestorePlan {
        target_account: Some(target_account),
        target_container,
        disks: planned,
    };
    sqlx::query(
        "insert into restore_task (job_id, vault_id, item_key, recovery_point_id, request, \
         state, created_at, updated_at) values ($1, $2, $3, $4, $5, 'InProgress', $6, $6)",
    )
    .bind(&job_id)
    .bind(&item.vault_id)
    .bind(&item.item_key)
    .bind(recovery_point_id)
    .bind(serde_json::to_string(&plan).expect("a restore plan serializes"))
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    let operation_id = operations::create(
        &mut tx,
        NewOperation {
            vault_id: vault.vault_id.clone(),
            item_key: Some(item.item_key.clone()),
            kind: OperationKind::Restore,
            status: OperationStatus::Succeeded,
            job_id: Some(job_id.clone()),
            start_time: now,
            end_time: Some(now),
        },
    )
    .await?;
    tx.commit().await?;
    spawn(engine, job_id.clone());
    Ok(Submitted {
        operation_id,
        job_id,
        name: item.name.clone(),
    })
}

/// `<vm>-osdisk-<rp>.vhd` or `<vm>-datadisk-<lun>-<rp>.vhd`.
fn restored_blob_name(vm: &str, lun: i64, recovery_point_id: &str) -> String {
    if lun < 0 {
        format!("{vm}-osdisk-{recovery_point_id}.vhd")
    } else {
        format!("{vm}-datadisk-{lun}-{recovery_point_id}.vhd")
    }
}

/// Restores still in progress (for `advance`, which waits for them).
pub async fn count_in_progress(db: &crate::store::Db) -> Result<i64, EngineError> {
    Ok(
        sqlx::query_scalar("select count(*) from restore_task where state = 'InProgress'")
            .fetch_one(db.pool())
            .await?,
    )
}

/// Most restores adopted per tick.
const ADOPT_BATCH: i64 = 100;

/// Runs the restores no engine holds: this one's before a restart, a dead engine's.
pub async fn adopt_unowned(engine: &Engine) -> Result<(), EngineError> {
    let owner = &engine.config().instance_id;
    for job_id in lease::unowned(engine.db(), Work::Restore, owner, ADOPT_BATCH).await? {
        spawn(engine, job_id);
    }
    Ok(())
}

/// Runs a restore here, unless it already runs here or another engine holds its lease.
fn spawn(engine: &Engine, job_id: String) {
    if !engine.start_locally(Work::Restore, &job_id) {
        return;
    }
    let engine = engine.clone();
    tokio::spawn(async move {
        let owner = &engine.config().instance_id;
        match lease::claim(engine.db(), Work::Restore, &job_id, owner).await {
            Ok(true) => {
                tokio::select! {
                    result = run(&engine, &job_id) => {
                        if let Err(error) = result {
                            tracing::error!(error = %error.report(), job_id, "restore failed");
                            let now = engine.clock().now();
                            if let Err(error) = end(&engine, &job_id, Err(error.report()), now).await {
                                tracing::error!(error = %error.report(), job_id, "recording the failed restore failed");
                            }
                        }
                    }
                    () = lease::keep(engine.db(), Work::Restore, &job_id, owner) => {
                        tracing::warn!(job_id, "another engine took the restore over");
                    }
                }
            }
            Ok(false) => {}
            Err(error) => tracing::error!(%error, job_id, "claiming the restore failed"),
        }
        engine.end_locally(Work::Restore, &job_id);
    });
}

async fn run(engine: &Engine, job_id: &str) -> Result<(), EngineError> {
    let row = sqlx::query(
        "select vault_id, request from restore_task where job_id = $1 and state = 'InProgress'",
    )
    .bind(job_id)
    .fetch_optional(engine.db().pool())
    .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let vault_id: String = row.try_get("vault_id")?;
    let plan: String = row.try_get("request")?;
    let plan: RestorePlan =
        serde_json::from_str(&plan).map_err(|e| EngineError::corrupt("restore plan", e))?;
    let target = engine.storage_of(plan.target_account.as_deref())?;
    engine
        .ensure_container(target, &plan.target_container)
        .await?;
    let mut total = 0;
    for disk in &plan.disks {
        let snapshot = Timestamp(disk.vault_snapshot);
        total += vault_snapshot_size(engine.storage().as_ref(), &vault_of(disk), snapshot).await?;
    }
    let progress = CopyProgress::default();
    let step = CopyingStep {
        vault_id: &vault_id,
        job_id,
        task: JobTaskName::TransferFromVault,
    };
    let copy = restore_disks(engine, &plan, target.as_ref(), &progress);
    let bytes = reporting(engine, step, total, &progress, copy).await?;
    let now = engine.clock().now();
    let restored = Restored {
        bytes,
        copied: Copied { done: total, total },
    };
    end(engine, job_id, Ok(restored), now).await
}

fn vault_of(disk: &PlannedDisk) -> VaultDisk {
    VaultDisk {
        container: disk.vault_container.clone(),
        blob: disk.vault_blob.clone(),
    }
}

/// Writes each disk of the plan to `target`, counting what it goes through in
/// `progress`: the bytes written.
async fn restore_disks(
    engine: &Engine,
    plan: &RestorePlan,
    target: &dyn BlobStorage,
    progress: &CopyProgress,
) -> Result<u64, EngineError> {
    let mut bytes = 0u64;
    for disk in &plan.disks {
        bytes += restore_disk(
            engine.storage().as_ref(),
            &vault_of(disk),
            Timestamp(disk.vault_snapshot),
            target,
            &plan.target_container,
            &disk.target_blob,
            progress,
        )
        .await?;
    }
    Ok(bytes)
}

/// What a finished restore wrote: its bytes, and the disks it went through.
#[derive(Debug, Clone, Copy)]
struct Restored {
    bytes: u64,
    copied: Copied,
}

/// Ends the Restore job and its task, with the bytes written or the reason it failed.
async fn end(
    engine: &Engine,
    job_id: &str,
    outcome: Result<Restored, String>,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    let vault_id: String =
        sqlx::query_scalar("select vault_id from restore_task where job_id = $1")
            .bind(job_id)
            .fetch_one(engine.db().pool())
            .await?;
    let mut tx = engine.db().begin_write().await?;
    let state = if outcome.is_ok() {
        "Completed"
    } else {
        "Failed"
    };
    let moved = sqlx::query(
        "update restore_task set state = $2, updated_at = $3 \
         where job_id = $1 and state = 'InProgress'",
    )
    .bind(job_id)
    .bind(state)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(());
    }
    match outcome {
        Ok(Restored { bytes, copied }) => {
            metrics::counter!("vaultsim_restore_bytes_total").increment(bytes);
            let properties = [("Bytes Restored", bytes.to_string())];
            let ending = JobEnding {
                properties: &properties,
                copied: Some((JobTaskName::TransferFromVault, copied)),
                ..JobEnding::new(
                    JobStatus::Completed,
                    &[(JobTaskName::TransferFromVault, JobTaskStatus::Completed)],
                )
            };
            finish_job(&mut tx, &vault_id, job_id, ending, now).await?
        }
        Err(detail) => {
            let ending = JobEnding {
                error_details: vec![error_detail(&INTERNAL_ERROR, Some(&detail))],
                ..JobEnding::new(
                    JobStatus::Failed,
                    &[(JobTaskName::TransferFromVault, JobTaskStatus::Failed)],
                )
            };
            finish_job(&mut tx, &vault_id, job_id, ending, now).await?
        }
    }
    tx.commit().await?;
    Ok(())
}
