//! The job bookkeeping of every phase: what a Backup or Restore job shows while it runs
//! (its tasks list, `Take Snapshot`, `Transfer data to vault`..., and its property bag),
//! how it ends, and the Azure error it ends with. Each step's own moves (what a status
//! does to its times) are [`JobTask::move_to`]'s.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::EngineError;
use crate::resources::jobs::{
    self, Copied, JobErrorDetail, JobExtendedInfo, JobOperation, JobOutcome, JobStatus, JobTask,
    JobTaskName, JobTaskStatus,
};
use crate::store::Db;
use vaultsim_protocol::extension::codes::AzureBackupError;

/// Changes to a job's steps: each named step moves to its status.
pub type TaskChanges<'a> = &'a [(JobTaskName, JobTaskStatus)];

/// A task's snapshot is taken (by the extension, or host-side): the transfer runs next.
pub const SNAPSHOT_TAKEN: TaskChanges<'static> = &[
    (JobTaskName::TakeSnapshot, JobTaskStatus::Completed),
    (JobTaskName::TransferToVault, JobTaskStatus::InProgress),
];

/// Moves the tasks of each job of `jobs` (vault and job ids) to new statuses, their
/// start or end times as the status implies: one read and one write per hundred jobs.
pub async fn set_task_status(
    tx: &mut AnyConnection,
    jobs: &[(&str, &str)],
    changes: TaskChanges<'_>,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    // Read on the transaction's own connection: a second one from the pool while this
    // one is held can starve the pool under load.
    let ids: Vec<&str> = jobs.iter().map(|(_, job_id)| *job_id).collect();
    let mut found = jobs::get_many_in(tx, &ids).await?;
    let mut updates = Vec::with_capacity(jobs.len());
    for (vault_id, job_id) in jobs {
        let job = take_job(&mut found, vault_id, job_id)?;
        let mut info = job.extended_info;
        apply(&mut info, changes, &[], now);
        let update = jobs::JobUpdate {
            status: None,
            extended_info: Some(info),
        };
        updates.push((job.job_id, update));
    }
    jobs::update_many(tx, updates).await?;
    Ok(())
}

/// The job `job_id` of `vault_id` out of jobs read by id ([`jobs::get_many_in`]), as
/// [`jobs::get_in`] would find it: any case of the id, in that vault only.
fn take_job(
    read: &mut HashMap<String, jobs::Job>,
    vault_id: &str,
    job_id: &str,
) -> Result<jobs::Job, EngineError> {
    read.remove(&job_id.to_ascii_lowercase())
        .filter(|job| job.vault_id == vault_id)
        .ok_or_else(|| jobs::not_found(job_id).into())
}

/// How a job ends.
#[derive(Debug)]
pub struct JobEnding<'a> {
    /// A terminal status.
    pub status: JobStatus,
    /// Its open steps' last moves: Completed, Failed, or Cancelled for steps never started
    /// when the job failed.
    pub changes: TaskChanges<'a>,
    /// Property bag entries to set.
    pub properties: &'a [(&'a str, String)],
    pub error_details: Vec<JobErrorDetail>,
    /// How far its copy step went, when it copied, recorded before the step's move (so a
    /// step that completes shows the whole copy done even if no progress was reported).
    pub copied: Option<(JobTaskName, Copied)>,
}

impl<'a> JobEnding<'a> {
    /// An ending with `status` and the steps' last moves, nothing else to record.
    pub fn new(status: JobStatus, changes: TaskChanges<'a>) -> Self {
        Self {
            status,
            changes,
            properties: &[],
            error_details: Vec::new(),
            copied: None,
        }
    }
}

/// Ends a job as `ending` says, unless it has ended already.
pub async fn finish_job(
    tx: &mut AnyConnection,
    vault_id: &str,
    job_id: &str,
    ending: JobEnding<'_>,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    finish_jobs(
        tx,
        vec![JobToFinish {
            vault_id,
            job_id,
            ending,
            now,
        }],
    )
    .await
}

/// A job to end, and how.
#[derive(Debug)]
pub struct JobToFinish<'a> {
    pub vault_id: &'a str,
    pub job_id: &'a str,
    pub ending: JobEnding<'a>,
    pub now: DateTime<Utc>,
}

/// [`finish_job`] for many jobs: one read and one write per hundred jobs.
pub async fn finish_jobs(
    tx: &mut AnyConnection,
    endings: Vec<JobToFinish<'_>>,
) -> Result<(), EngineError> {
    // Read on the transaction's own connection: a second one from the pool while this
    // one is held can starve the pool under load.
    let ids: Vec<&str> = endings.iter().map(|e| e.job_id).collect();
    let mut jobs = jobs::get_many_in(tx, &ids).await?;
    let mut outcomes = Vec::with_capacity(endings.len());
    for JobToFinish {
        vault_id,
        job_id,
        ending,
        now,
    } in endings
    {
        let job = take_job(&mut jobs, vault_id, job_id)?;
        if job.status.is_terminal() {
            continue;
        }
        let JobEnding {
            status,
            changes,
            properties,
            error_details,
            copied,
        } = ending;
        log_end(&job, status, &error_details, now);
        let mut info = job.extended_info;
        if let Some((task, copied)) = copied {
            info.record_copied(task, copied);
        }
        apply(&mut info, changes, properties, now);
        info.progress_percentage = Some(100.0);
        outcomes.push((
            job.job_id,
            JobOutcome {
                status,
                end_time: now,
                error_details,
                extended_info: Some(info),
            },
        ));
    }
    if !outcomes.is_empty() {
        jobs::finish_many(tx, outcomes).await?;
    }
    Ok(())
}

/// Records how far the copy of a running job's step `task` has gone, in its own
/// transaction. A job that has ended meanwhile is left as it ended: the write is
/// conditional on the job being in progress still, so a late report never overwrites
/// the ending.
pub async fn record_copied(
    db: &Db,
    vault_id: &str,
    job_id: &str,
    task: JobTaskName,
    copied: Copied,
) -> Result<(), EngineError> {
    let mut tx = db.begin_write().await?;
    let mut info = jobs::get_in(&mut tx, vault_id, job_id).await?.extended_info;
    info.record_copied(task, copied);
    if jobs::update_running(&mut tx, job_id, &info).await? {
        tx.commit().await?;
    }
    Ok(())
}

/// Counts every job's end by operation and outcome, with its duration; and one line for an
/// operator: every job that fails (warn), and every restore (info), with its ids and
/// outcome. Done as the ending is written, before the caller's transaction commits.
fn log_end(job: &jobs::Job, status: JobStatus, errors: &[JobErrorDetail], now: DateTime<Utc>) {
    let seconds = (now - job.start_time).num_seconds();
    metrics::counter!("vaultsim_jobs_ended_total",
        "operation" => job.operation.as_str(), "status" => status.as_str())
    .increment(1);
    metrics::histogram!("vaultsim_job_duration_seconds", "operation" => job.operation.as_str())
        .record(seconds.max(0) as f64);
    let failed = status == JobStatus::Failed;
    if !failed && job.operation != JobOperation::Restore {
        return;
    }
    let error = errors.first();
    let (code, title) = error.map_or((0, ""), |e| (e.error_code, e.error_title.as_str()));
    if failed {
        tracing::warn!(
            job_id = %job.job_id, operation = job.operation.as_str(), vm = %job.entity_friendly_name,
            vault_id = %job.vault_id, error_code = code, error = title, seconds, "job failed"
        );
    } else {
        tracing::info!(
            job_id = %job.job_id, operation = job.operation.as_str(), vm = %job.entity_friendly_name,
            vault_id = %job.vault_id, status = status.as_str(), seconds, "restore ended"
        );
    }
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
    let ending = JobEnding {
        error_details: vec![error_detail(error, detail)],
        ..JobEnding::new(
            JobStatus::Failed,
            &[
                (JobTaskName::TakeSnapshot, JobTaskStatus::Failed),
                (JobTaskName::TransferToVault, JobTaskStatus::Cancelled),
            ],
        )
    };
    finish_job(tx, vault_id, job_id, ending, now).await
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What `log_end` writes for `job` ending `status`, as the service's text log shows it.
    fn logged(job: &jobs::Job, status: JobStatus, errors: &[JobErrorDetail]) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            log_end(
                job,
                status,
                errors,
                job.start_time + chrono::TimeDelta::seconds(42),
            )
        });
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn job(operation: JobOperation) -> jobs::Job {
        jobs::Job {
            job_id: "0f6d3c2a-job".to_owned(),
            vault_id: "vault-1".to_owned(),
            item_key: None,
            entity_friendly_name: "vm1".to_owned(),
            container_name: "iaasvmcontainerv2;rg;vm1".to_owned(),
            operation,
            status: JobStatus::InProgress,
            start_time: Utc::now(),
            end_time: None,
            is_user_triggered: true,
            activity_id: "activity".to_owned(),
            error_details: Vec::new(),
            extended_info: JobExtendedInfo::default(),
            revision: 0,
        }
    }

    #[test]
    fn failed_jobs_and_every_restore_log_one_line_and_other_endings_none() {
        let error = JobErrorDetail {
            error_code: 400_002,
            error_string: "Snapshot operation failed".to_owned(),
            error_title: "ExtensionSnapshotFailedNoNetwork".to_owned(),
            recommendations: Vec::new(),
        };
        let failed = logged(&job(JobOperation::Backup), JobStatus::Failed, &[error]);
        assert_eq!(failed.lines().count(), 1, "{failed}");
        for part in [
            "WARN",
            "job failed",
            "job_id=0f6d3c2a-job",
            "operation=\"Backup\"",
            "vm=vm1",
            "error=\"ExtensionSnapshotFailedNoNetwork\"",
            "seconds=42",
        ] {
            assert!(failed.contains(part), "{part}: {failed}");
        }
        let restored = logged(&job(JobOperation::Restore), JobStatus::Completed, &[]);
        assert!(
            restored.contains("INFO") && restored.contains("restore ended"),
            "{restored}"
        );
        assert!(restored.contains("status=\"Completed\""), "{restored}");
        assert_eq!(
            logged(&job(JobOperation::Backup), JobStatus::Completed, &[]),
            ""
        );
    }
}
