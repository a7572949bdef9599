//! Cancelling a Backup job (`POST .../backupJobs/{job}/cancel`, `az backup job stop`).
//! Azure cancels a backup during its snapshot phase, not once the transfer to the vault has
//! begun (spec/domain.md §2.1). A cancelled job ends `Cancelled` at once with its tasks;
//! its backup task stops counting as running, so the collector ignores a status the
//! extension still writes and the item may back up again.

use super::engine::Engine;
use super::progress::{finish_job, JobEnding};
use super::tasks;
use crate::resources::jobs::{self, JobOperation, JobStatus, JobTaskName, JobTaskStatus};
use crate::resources::lookup::VaultRecord;
use crate::resources::protection::operations::{
    self, NewOperation, OperationKind, OperationStatus,
};
use crate::resources::ResourceError;

/// The code is ours: Azure documents when a job cannot be cancelled, not the error it
/// answers with.
const NOT_CANCELLABLE: &str = "UserErrorJobNotCancellable";

/// A cancellation done: the operation a client polls, and the cancelled job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub operation_id: String,
    pub job_id: String,
}

/// Cancels a running Backup job of `vault` in its snapshot phase. 404
/// `BMSUserErrorJobNotFound`; 400 when the job has ended, is not a backup, or is
/// transferring to the vault.
pub async fn cancel_job(
    engine: &Engine,
    vault: &VaultRecord,
    job_id: &str,
) -> Result<Cancelled, ResourceError> {
    let now = engine.clock().now();
    let mut tx = engine.db().begin_write().await?;
    let job = jobs::get_in(&mut tx, &vault.vault_id, job_id).await?;
    let refuse = |why: String| {
        Err(ResourceError::invalid(
            NOT_CANCELLABLE,
            format!("Job '{}' cannot be cancelled: {why}", job.job_id),
        ))
    };
    if job.status.is_terminal() {
        return refuse(format!(
            "it has already ended ({}); only a job in progress can be cancelled.",
            job.status.as_str()
        ));
    }
    if job.operation != JobOperation::Backup {
        return refuse(format!(
            "it is a {} job; only backup jobs can be cancelled.",
            job.operation.as_str()
        ));
    }
    if !tasks::cancel_awaiting(&mut tx, &job.job_id, now).await? {
        return refuse(
            "its snapshot is taken and the data is being transferred to the vault; a backup \
             can be cancelled only during its snapshot phase."
                .to_owned(),
        );
    }
    let ending = JobEnding::new(
        JobStatus::Cancelled,
        &[
            (JobTaskName::TakeSnapshot, JobTaskStatus::Cancelled),
            (JobTaskName::TransferToVault, JobTaskStatus::Cancelled),
        ],
    );
    finish_job(&mut tx, &vault.vault_id, &job.job_id, ending, now).await?;
    let operation_id = operations::create(
        &mut tx,
        NewOperation {
            vault_id: vault.vault_id.clone(),
            item_key: job.item_key.clone(),
            kind: OperationKind::CancelJob,
            status: OperationStatus::Succeeded,
            job_id: Some(job.job_id.clone()),
            start_time: now,
            end_time: Some(now),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(job_id = job.job_id, "backup job cancelled");
    Ok(Cancelled {
        operation_id,
        job_id: job.job_id,
    })
}
