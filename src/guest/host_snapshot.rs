//! The wire server's host snapshot path (spec §3.5 "Host calls"): `presnapshot` answers
//! the host's time, by which the extension judges a task's age, and `dosnapshot`
//! snapshots the task's disks host-side, through the storage seam, as Azure's backup host
//! service does. Then an extension whose `takeSnapshotFrom` asks for the host (Azure's
//! default, `firstHostThenGuest`) works.
//!
//! The real extension sends no credential: Azure's host knows the VM by its address. Here
//! a call names its task by `taskId` and proves it is the task's extension by the task's
//! `snapshotTaskToken` (minted per task, in the public objectStr); a caller that also
//! sends the VM's guest API credential must be the task's VM.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::GuestError;
use crate::auth::directory::secret_matches;
use crate::control::minting::blob_url;
use crate::control::tasks::TaskState;
use crate::storage::{Metadata, StorageAccounts, StorageError, Timestamp};
use crate::store::{columns, Db};

/// Who a host call says it is.
#[derive(Debug)]
pub struct HostCaller {
    /// `taskId` (the extension sends `customSettings.backupTaskId` instead when set).
    pub task_id: String,
    /// `snapshotTaskToken` as presented; `Debug` shows nothing of it.
    pub token: Option<SecretString>,
    /// The VM whose guest API credential came with the call, if one did.
    pub vm_id: Option<String>,
}

/// A task a host call may act on: known, its token presented, still awaiting its snapshot.
#[derive(Debug)]
pub struct ActiveTask {
    pub task_id: String,
    pub vm_id: String,
}

#[derive(sqlx::FromRow)]
struct TaskRow {
    vm_id: String,
    #[sqlx(try_from = "String")]
    state: TaskState,
    #[sqlx(try_from = "columns::Instant")]
    deadline_at: DateTime<Utc>,
    snapshot_task_token_sha256: Option<String>,
}

/// The task `caller` names, if it may act on it at `now`: 404 for an unknown task, 403
/// for a wrong or missing token (or another VM's credential), 409 for a task that no
/// longer awaits its snapshot (completed, failed, cancelled, or past its deadline), as
/// Azure's host refuses calls for a task it no longer runs.
pub async fn active_task(
    db: &Db,
    caller: &HostCaller,
    now: DateTime<Utc>,
) -> Result<ActiveTask, GuestError> {
    let row: Option<TaskRow> = sqlx::query_as(
        "select vm_id, state, deadline_at, snapshot_task_token_sha256 from backup_task \
         where task_id = $1",
    )
    .bind(&caller.task_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(task) = row else {
        return Err(GuestError::NotFound {
            code: "TaskNotFound",
            message: format!("No backup task has the taskId '{}'.", caller.task_id),
        });
    };
    let token_ok = match &task.snapshot_task_token_sha256 {
        Some(digest) => caller
            .token
            .as_ref()
            .is_some_and(|token| secret_matches(token.expose_secret(), digest)),
        None => true,
    };
    let vm_ok = caller.vm_id.as_ref().is_none_or(|vm| *vm == task.vm_id);
    if !token_ok || !vm_ok {
        return Err(GuestError::Forbidden {
            code: "InvalidSnapshotTaskToken",
            message: "The snapshotTaskToken is not the task's, or the credential is not its \
                      VM's."
                .to_owned(),
        });
    }
    if task.state != TaskState::AwaitingSnapshot {
        return Err(GuestError::Conflict {
            code: "TaskNotInProgress",
            message: format!(
                "The task '{}' is {}: it takes no more snapshots.",
                caller.task_id,
                task.state.as_str()
            ),
        });
    }
    if now >= task.deadline_at {
        return Err(GuestError::Conflict {
            code: "TaskNotInProgress",
            message: format!(
                "The task '{}' passed its deadline: it takes no more snapshots.",
                caller.task_id
            ),
        });
    }
    Ok(ActiveTask {
        task_id: caller.task_id.clone(),
        vm_id: task.vm_id,
    })
}

/// One disk's host snapshot.
#[derive(Debug)]
pub struct HostDiskSnapshot {
    pub lun: i64,
    pub outcome: Result<TakenSnapshot, FailedSnapshot>,
}

/// A snapshot the host took.
#[derive(Debug)]
pub struct TakenSnapshot {
    /// `<blob URL>?snapshot=<snapshot id>`, as the guest path reports it.
    pub snapshot_uri: String,
}

/// Why the host could not snapshot a disk: what the blob service answered.
#[derive(Debug)]
pub struct FailedSnapshot {
    /// The blob service's HTTP status (404 for a LUN the VM does not have).
    pub status: u16,
    pub message: String,
}

/// Snapshots the task's disks named by `luns` (every disk of the VM when empty), in that
/// order, each with `metadata` as its snapshot's metadata. A disk that fails does not stop
/// the others: its entry says why.
pub async fn snapshot_disks(
    db: &Db,
    accounts: &StorageAccounts,
    task: &ActiveTask,
    luns: &[i64],
    metadata: Metadata,
) -> Result<Vec<HostDiskSnapshot>, GuestError> {
    let disks: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "select lun, blob_container, blob_name, storage_account from vm_disk \
         where vm_id = $1 order by lun",
    )
    .bind(&task.vm_id)
    .fetch_all(db.pool())
    .await?;
    let luns: Vec<i64> = if luns.is_empty() {
        disks.iter().map(|disk| disk.0).collect()
    } else {
        luns.to_vec()
    };
    let mut taken = Vec::with_capacity(luns.len());
    for lun in luns {
        let Some((_, container, blob, account)) = disks.iter().find(|disk| disk.0 == lun) else {
            taken.push(HostDiskSnapshot {
                lun,
                outcome: Err(FailedSnapshot {
                    status: 404,
                    message: format!("The VM has no disk at LUN {lun}."),
                }),
            });
            continue;
        };
        let outcome = match accounts.named(account.as_deref()) {
            Ok(storage) => storage
                .snapshot(container, blob, Some(metadata.clone()))
                .await
                .map(|snapshot| TakenSnapshot {
                    snapshot_uri: snapshot_uri(
                        &blob_url(&storage.account().endpoint, container, blob),
                        snapshot,
                    ),
                }),
            Err(error) => Err(error),
        }
        .map_err(|error| failed(&error));
        if let Err(failure) = &outcome {
            tracing::warn!(task_id = %task.task_id, lun, status = failure.status,
                message = %failure.message, "host snapshot of a disk failed");
        }
        taken.push(HostDiskSnapshot { lun, outcome });
    }
    Ok(taken)
}

fn snapshot_uri(blob_url: &str, snapshot: Timestamp) -> String {
    format!("{blob_url}?snapshot={}", snapshot.to_snapshot_id())
}

/// The status and message a Snapshot Blob call would have answered.
fn failed(error: &StorageError) -> FailedSnapshot {
    let status = match error {
        StorageError::Remote { status, .. } => *status,
        error if error.is_not_found() => 404,
        _ => 500,
    };
    FailedSnapshot {
        status,
        message: error.to_string(),
    }
}
