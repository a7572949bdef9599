//! The job bookkeeping of every phase: what a Backup or Restore job shows while it runs
//! (its tasks list, `Take Snapshot`, `Transfer data to vault`..., and its property bag),
//! how it ends, and the Azure error it ends with. Each step's own moves (what a status
//! does to its times) are [`JobTask::move_to`]'s.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::EngineError;
use crate::resources::jobs::{
    self, JobErrorDetail, JobExtendedInfo, JobOutcome, JobStatus, JobTask, JobTaskName,
    JobTaskStatus,
};
use vaultsim_protocol::extension::codes::AzureBackupError;

/// Changes to a job's steps: each named step moves to its status.
pub type TaskChanges<'a> = &'a [(JobTaskName, JobTaskStatus)];

/// Moves job tasks to new statuses (their start or end times as the status implies), and
/// sets any property bag entries.
pub async fn set_task_status(
    tx: &mut AnyConnection,
    vault_id: &str,
    job_id: &str,
    changes: TaskChanges<'_>,
    properties: &[(&str, String)],
    now: DateTime<Utc>,
) -> Result<JobExtendedInfo, EngineError> {
    // Read on the transaction's own connection: a second one from the pool while this
    // one is held can starve the pool under load.
    let job = jobs::get_in(tx, vault_id, job_id).await?;
    let mut info = job.extended_info;
    apply(&mut info, changes, properties, now);
    jobs::update(
        tx,
        job_id,
        jobs::JobUpdate {
            status: None,
            extended_info: Some(info.clone()),
        },
    )
    .await?;
    Ok(info)
}

/// Ends a job: its open tasks take `task_status` (Completed, Failed, or Cancelled for
/// tasks never started when the job failed).
#[allow(clippy::too_many_arguments)]
pub async fn finish_job(
    tx: &mut AnyConnection,
    vault_id: &str,
    job_id: &str,
    status: JobStatus,
    changes: TaskChanges<'_>,
    properties: &[(&str, String)],
    error_details: Vec<JobErrorDetail>,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    // Read on the transaction's own connection: a second one from the pool while this
    // one is held can starve the pool under load.
    let job = jobs::get_in(tx, vault_id, job_id).await?;
    if job.status.is_terminal() {
        return Ok(());
    }
    let mut info = job.extended_info;
    apply(&mut info, changes, properties, now);
    info.progress_percentage = Some(100.0);
    jobs::finish(
        tx,
        job_id,
        JobOutcome {
            status,
            end_time: now,
            error_details,
            extended_info: Some(info),
        },
    )
    .await?;
    Ok(())
}

fn apply(
    info: &mut JobExtendedInfo,
    changes: TaskChanges<'_>,
    properties: &[(&str, String)],
    now: DateTime<Utc>,
) {
    for (name, status) in changes {
        if let Some(task) = info.tasks_list.iter_mut().find(|t| t.task_id == *name) {
            task.move_to(*status, now);
        }
    }
    for (key, value) in properties {
        info.property_bag.insert((*key).to_owned(), value.clone());
    }
}

/// The tasks of a new Backup job: its snapshot is being taken, its transfer waits.
pub fn backup_job_tasks(now: DateTime<Utc>) -> Vec<JobTask> {
    vec![
        JobTask::new(JobTaskName::TakeSnapshot, JobTaskStatus::InProgress, now),
        JobTask::new(JobTaskName::TransferToVault, JobTaskStatus::NotStarted, now),
    ]
}

/// Fails a Backup job in its snapshot phase (the task never reached the VM, or the
/// extension reported no snapshot): the snapshot Failed, the transfer never started and
/// Cancelled, so neither is left InProgress with a growing duration.
pub async fn fail_backup_before_transfer(
    tx: &mut AnyConnection,
    vault_id: &str,
    job_id: &str,
    error: &AzureBackupError,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    finish_job(
        tx,
        vault_id,
        job_id,
        JobStatus::Failed,
        &[
            (JobTaskName::TakeSnapshot, JobTaskStatus::Failed),
            (JobTaskName::TransferToVault, JobTaskStatus::Cancelled),
        ],
        &[],
        vec![error_detail(error, detail)],
        now,
    )
    .await
}

/// Azure's `errorDetails` entry for an error, with the extension's own words when known.
pub fn error_detail(error: &AzureBackupError, detail: Option<&str>) -> JobErrorDetail {
    JobErrorDetail {
        error_code: error.numeric_code(),
        error_string: match detail {
            Some(detail) => format!("{} {detail}", error.message),
            None => error.message.to_owned(),
        },
        error_title: error.code.to_owned(),
        recommendations: error
            .recommendations
            .iter()
            .map(|r| (*r).to_owned())
            .collect(),
    }
}
