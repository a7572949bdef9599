//! "Transfer data to vault": for each disk, copy what changed since the previous recovery
//! point's snapshot into vault storage, then record the recovery point, update the item and
//! complete the job in one transaction (shared with the other transfers that finished
//! meanwhile, see [`super::recorder`]) keyed by the task id, so a transfer re-run after a
//! crash never records a second point.

use super::copy_progress::{reporting, CopyingStep};
use super::engine::Engine;
use super::lease::{self, Work};
use super::progress::{error_detail, finish_job, JobEnding};
use super::recorder::PointToRecord;
use super::recovery_point_disks::{PreviousPointOf, RecoveryPointDisk};
use super::tasks::{self, BackupTask, CollectedSnapshot, SnapshotDisk, TaskChange, TaskState};
use super::vault_storage::{
    snapshot_size, transfer_disk, vault_disk, CopyProgress, DiskSnapshotRef, VaultDisk,
};
use super::EngineError;
use crate::resources::jobs::{Copied, JobStatus, JobTaskName, JobTaskStatus};
use crate::storage::Timestamp;
use vaultsim_protocol::extension::codes::INTERNAL_ERROR;

/// Starts the transfer of a task whose snapshot was collected, unless it already runs here
/// or another engine holds its lease.
pub fn spawn(engine: &Engine, task_id: &str) {
    if !engine.start_locally(Work::Transfer, task_id) {
        return;
    }
    let engine = engine.clone();
    let task_id = task_id.to_owned();
    tokio::spawn(async move {
        let permit = engine.transfer_permit().await;
        // Boxed once the permit is held: a spawned task is as large as its future, and the
        // transfer's is about 6 KB, which 100,000 transfers queued behind the permits
        // (a burst's worth) held for nothing: 600 MB.
        Box::pin(claim_and_run(&engine, &task_id)).await;
        drop(permit);
        engine.end_locally(Work::Transfer, &task_id);
    });
}

/// Runs the transfer of `task_id` if this engine can claim its lease, for as long as it
/// keeps it.
async fn claim_and_run(engine: &Engine, task_id: &str) {
    let owner = &engine.config().instance_id;
    match engine.transfer_claims().submit(task_id.to_owned()).await {
        Ok(Some(task)) => {
            tokio::select! {
                result = run(engine, task) => {
                    if let Err(error) = result {
                        tracing::error!(error = %error.report(), task_id, "transfer to vault failed");
                        if let Err(error) = fail(engine, task_id, &error.report()).await {
                            tracing::error!(error = %error.report(), task_id, "recording the failed transfer failed");
                        }
                    }
                }
                () = lease::keep(engine.db(), Work::Transfer, task_id, owner) => {
                    tracing::warn!(task_id, "another engine took the transfer over");
                }
            }
        }
        Ok(None) => {}
        Err(error) => tracing::error!(%error, task_id, "claiming the transfer failed"),
    }
}

/// Most transfers adopted per tick.
const ADOPT_BATCH: i64 = 500;

/// Starts the transfers no engine holds (this one's before a restart, a dead one's).
pub async fn adopt_unowned(engine: &Engine) -> Result<(), EngineError> {
    let owner = &engine.config().instance_id;
    for task_id in lease::unowned(engine.db(), Work::Transfer, owner, ADOPT_BATCH).await? {
        spawn(engine, &task_id);
    }
    Ok(())
}

/// Runs the transfer of `task`, as read once claimed.
async fn run(engine: &Engine, mut task: BackupTask) -> Result<(), EngineError> {
    if task.state != TaskState::Transferring {
        return Ok(());
    }
    let _item = engine
        .item_transfer_lock(&format!("{}/{}", task.vault_id, task.item_key))
        .await;
    // Taken out of the task, so that the recorder gets each once.
    let snapshot = task
        .snapshot
        .take()
        .ok_or_else(|| EngineError::corrupt("task", "a transferring task has no snapshot"))?;
    let previous = engine
        .previous_points()
        .submit(PreviousPointOf {
            vault_id: task.vault_id.clone(),
            item_key: task.item_key.clone(),
            task_id: task.task_id.clone(),
        })
        .await?;
    let mut total = 0;
    for disk in &snapshot.disks {
        let disk_storage = engine.storage_of(disk.account.as_deref())?;
        total += snapshot_size(disk_storage.as_ref(), &source_of(disk)).await?;
    }
    let progress = CopyProgress::default();
    let step = CopyingStep {
        vault_id: &task.vault_id,
        job_id: &task.job_id,
        task: JobTaskName::TransferToVault,
    };
    let copying = engine.copy_permit().await;
    let copy = copy_disks(engine, &task, &snapshot, &previous, &progress);
    let disks = reporting(engine, step, total, &progress, copy).await?;
    drop(copying);
    record(engine, task, snapshot, disks, Copied { done: total, total }).await
}

fn source_of(disk: &SnapshotDisk) -> DiskSnapshotRef {
    DiskSnapshotRef {
        container: disk.container.clone(),
        blob: disk.blob.clone(),
        snapshot: Timestamp(disk.snapshot),
    }
}

/// Copies each disk of the snapshot into the vault, counting what it goes through in
/// `progress`: the recovery point's disks.
async fn copy_disks(
    engine: &Engine,
    task: &BackupTask,
    snapshot: &CollectedSnapshot,
    previous: &[RecoveryPointDisk],
    progress: &CopyProgress,
) -> Result<Vec<RecoveryPointDisk>, EngineError> {
    let mut disks = Vec::with_capacity(snapshot.disks.len());
    for disk in &snapshot.disks {
        let source = source_of(disk);
        let earlier = previous
            .iter()
            .find(|p| p.lun == disk.lun && p.container == disk.container && p.blob == disk.blob)
            .and_then(|p| {
                p.snapshot.map(|s| DiskSnapshotRef {
                    container: p.container.clone(),
                    blob: p.blob.clone(),
                    snapshot: Timestamp(s),
                })
            });
        let vault = vault_disk(&task.vault_id, &task.item_key, disk.lun);
        let disk_storage = engine.storage_of(disk.account.as_deref())?;
        let report = transfer_disk(
            disk_storage.as_ref(),
            engine.storage().as_ref(),
            &source,
            earlier.as_ref(),
            &vault,
            progress,
        )
        .await?;
        let VaultDisk {
            container: vault_container,
            blob: vault_blob,
        } = vault;
        disks.push(RecoveryPointDisk {
            lun: disk.lun,
            container: disk.container.clone(),
            blob: disk.blob.clone(),
            snapshot: Some(disk.snapshot),
            vault_container,
            vault_blob,
            vault_snapshot: report.vault_snapshot.0,
            bytes_transferred: report.bytes_transferred,
            account: disk.account.clone(),
        });
    }
    Ok(disks)
}

/// Records the recovery point of a finished copy (`copied`: the disks gone through) and
/// completes the job, with whatever other transfers finished meanwhile.
async fn record(
    engine: &Engine,
    task: BackupTask,
    snapshot: CollectedSnapshot,
    disks: Vec<RecoveryPointDisk>,
    copied: Copied,
) -> Result<(), EngineError> {
    let task_id = task.task_id.clone();
    let point = PointToRecord {
        task,
        snapshot,
        disks,
        copied,
        now: engine.clock().now(),
    };
    let bytes_transferred = point.bytes_transferred();
    if engine.recorder().submit(point).await? {
        metrics::counter!("vaultsim_backup_bytes_transferred_total").increment(bytes_transferred);
        tracing::info!(task_id, bytes_transferred, "recovery point recorded");
    }
    Ok(())
}

/// A transfer that cannot complete fails its job; the snapshot stays for the next run.
async fn fail(engine: &Engine, task_id: &str, detail: &str) -> Result<(), EngineError> {
    let Some(task) = tasks::get(engine.db(), task_id).await? else {
        return Ok(());
    };
    let now = engine.clock().now();
    let mut tx = engine.db().begin_write().await?;
    if !tasks::transition(
        &mut tx,
        task_id,
        TaskState::Transferring,
        TaskState::Failed,
        TaskChange::default(),
        now,
    )
    .await?
    {
        return Ok(());
    }
    let ending = JobEnding {
        error_details: vec![error_detail(&INTERNAL_ERROR, Some(detail))],
        ..JobEnding::new(
            JobStatus::Failed,
            &[(JobTaskName::TransferToVault, JobTaskStatus::Failed)],
        )
    };
    finish_job(&mut tx, &task.vault_id, &task.job_id, ending, now).await?;
    tx.commit().await?;
    Ok(())
}
