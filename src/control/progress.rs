//! What a Backup or Restore job shows while it runs: its tasks list (`Take Snapshot`,
//! `Transfer data to vault`...), its property bag, and how it ends.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::EngineError;
use crate::resources::jobs::{self, JobErrorDetail, JobExtendedInfo, JobOutcome, JobStatus};

/// Sets the status of the job task `name` (and its start or end time as the status
/// implies), plus any property bag entries.
pub async fn set_task_status(
    tx: &mut AnyConnection,
    vault_id: &str,
    job_id: &str,
    changes: &[(&str, &str)],
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
    changes: &[(&str, &str)],
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
    changes: &[(&str, &str)],
    properties: &[(&str, String)],
    now: DateTime<Utc>,
) {
    for (name, status) in changes {
        if let Some(task) = info.tasks_list.iter_mut().find(|t| t.task_id == *name) {
            task.status = (*status).to_owned();
            match *status {
                "InProgress" => {
                    task.start_time.get_or_insert(now);
                }
                "Completed" | "Failed" | "Cancelled" => {
                    task.start_time.get_or_insert(now);
                    task.end_time = Some(now);
                    if *status == "Completed" {
                        task.progress_percentage = 100.0;
                    }
                }
                _ => {}
            }
        }
    }
    for (key, value) in properties {
        info.property_bag.insert((*key).to_owned(), value.clone());
    }
}
