//! Backups of VMs that are not running (stopped or deallocated). No guest agent runs to
//! receive a task, so the service snapshots the disks itself, as Azure Backup does for a
//! shut-down VM: a crash-consistent point, no extension, no status blob. The task is
//! written straight into `Transferring` with its snapshot; its transfer starts once the
//! dispatch commits (scheduled runs), or at the next tick's adoption of unowned transfers
//! (on-demand ones), and moves the data into the vault like any other.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sqlx::AnyConnection;

use super::{snapshot_deadline, snapshot_metadata, task_id, BackupRequest, StartedBackup, ATTEMPT};
use crate::control::engine::Engine;
use crate::control::progress::{fail_backup_before_transfer, set_task_status, SNAPSHOT_TAKEN};
use crate::control::tasks::{
    self, logs_blob_name, status_blob_name, status_container_name, BackupTask, CollectedSnapshot,
    SnapshotDisk, TaskState,
};
use crate::control::EngineError;
use crate::storage::StorageError;
use vaultsim_protocol::extension::codes::INTERNAL_ERROR;
use vaultsim_protocol::extension::status::SnapshotConsistency;

/// VMs whose disks are snapshotted at once (each snapshot a round trip to a remote account).
const CONCURRENT_VMS: usize = 32;

/// Snapshots the disks of each backup's VM and writes its task, ready for transfer, in
/// `tx`; a backup whose snapshots fail fails its job alone.
pub(super) async fn back_up(
    engine: &Engine,
    tx: &mut AnyConnection,
    backups: Vec<(BackupRequest, String)>,
    now: DateTime<Utc>,
) -> Result<Vec<StartedBackup>, EngineError> {
    if backups.is_empty() {
        return Ok(Vec::new());
    }
    let vm_ids: Vec<&str> = backups
        .iter()
        .map(|(request, _)| request.target.vm_id.as_str())
        .collect();
    let mut disks = tasks::disks_of_vms(tx, &vm_ids).await?;
    let snapshots: Vec<_> = backups
        .iter()
        .map(|(request, job_id)| {
            let vm_disks = disks.remove(&request.target.vm_id).unwrap_or_default();
            snapshot_disks(engine, request, job_id, vm_disks)
        })
        .collect();
    let snapshots: Vec<Result<Vec<SnapshotDisk>, StorageError>> =
        futures_util::stream::iter(snapshots)
            .buffered(CONCURRENT_VMS)
            .collect()
            .await;
    let mut started = Vec::with_capacity(backups.len());
    let mut ready = Vec::with_capacity(backups.len());
    for ((request, job_id), snapshot) in backups.into_iter().zip(snapshots) {
        let target = &request.target;
        let mut transfer_task = None;
        match snapshot {
            Ok(disks) => {
                let task = task(engine, &request, &job_id, disks, now);
                transfer_task = Some(task.task_id.clone());
                ready.push(task);
            }
            Err(error) => {
                tracing::warn!(%job_id, vm_id = %target.vm_id, %error,
                    "the host-side snapshot of a stopped VM failed; its job fails");
                let detail = format!("The VM's disks could not be snapshotted: {error}.");
                fail_backup_before_transfer(
                    tx,
                    &target.vault_id,
                    &job_id,
                    &INTERNAL_ERROR,
                    Some(&detail),
                    now,
                )
                .await?;
            }
        }
        started.push(StartedBackup {
            job_id,
            notify_vm: None,
            transfer_task,
        });
    }
    tasks::insert_many(tx, &ready).await?;
    let jobs: Vec<(&str, &str)> = ready
        .iter()
        .map(|task| (task.vault_id.as_str(), task.job_id.as_str()))
        .collect();
    if !jobs.is_empty() {
        set_task_status(tx, &jobs, SNAPSHOT_TAKEN, now).await?;
    }
    metrics::counter!("vaultsim_tasks_dispatched_total", "snapshot" => "host")
        .increment(ready.len() as u64);
    Ok(started)
}

/// Snapshots each disk, in LUN order, with the metadata the extension gives its snapshots.
async fn snapshot_disks(
    engine: &Engine,
    request: &BackupRequest,
    job_id: &str,
    mut disks: Vec<SnapshotDisk>,
) -> Result<Vec<SnapshotDisk>, StorageError> {
    let metadata = snapshot_metadata(&task_id(job_id), &request.target);
    for disk in &mut disks {
        let storage = engine.storage_of(disk.account.as_deref())?;
        let taken = storage
            .snapshot(&disk.container, &disk.blob, Some(metadata.clone()))
            .await?;
        disk.snapshot = taken.0;
    }
    Ok(disks)
}

/// The task of a backup whose snapshot is taken: `Transferring`, with no status blob to
/// read (its names are the ones an extension would have had) and no snapshot token.
fn task(
    engine: &Engine,
    request: &BackupRequest,
    job_id: &str,
    disks: Vec<SnapshotDisk>,
    now: DateTime<Utc>,
) -> BackupTask {
    let target = &request.target;
    let task_id = task_id(job_id);
    BackupTask {
        status_container: status_container_name(&target.vault_id),
        status_blob: status_blob_name(&task_id),
        logs_blob: logs_blob_name(&task_id),
        task_id,
        job_id: job_id.to_owned(),
        attempt: i64::from(ATTEMPT),
        vault_id: target.vault_id.clone(),
        item_key: target.item_key.clone(),
        vm_id: target.vm_id.clone(),
        trigger: request.trigger,
        scheduled_at: request.scheduled_at,
        rp_expires_at: request.rp_expires_at,
        state: TaskState::Transferring,
        deadline_at: snapshot_deadline(engine, request, now),
        status_etag: None,
        // Taken now by the service's clock: no account skew to undo.
        snapshot: Some(CollectedSnapshot {
            // No guest took part.
            consistency: tasks::recovery_point_type(SnapshotConsistency::CrashConsistent)
                .to_owned(),
            disks,
            taken_at: now,
        }),
        bytes_transferred: 0,
        created_at: now,
        account_skew_seconds: 0,
        snapshot_task_token_sha256: None,
    }
}
