//! What a vault's backup tasks tell about their jobs beyond the ARM job: the instant each
//! run was scheduled for (a job starts when the engine gets to it, which may be later), why
//! it ran, how many attempts it took, and the recovery point it made with the expiries
//! retention will apply. Read-only, for the dashboard's job timeline.

use chrono::{DateTime, Utc};

use super::tasks::{TaskState, Trigger};
use super::EngineError;
use crate::store::{columns, Db};

/// Most runs answered per vault, newest first: a timeline shows the recent ones.
const RUNS_MAX: i64 = 1000;

/// A Backup job as its tasks recorded it (its latest attempt).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackupRun {
    pub job_id: String,
    pub attempt: i64,
    #[sqlx(rename = "trigger_kind", try_from = "String")]
    pub trigger: Trigger,
    #[sqlx(try_from = "columns::Instant")]
    pub scheduled_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub state: TaskState,
    pub bytes_transferred: i64,
    /// The recovery point the run made, while it exists.
    pub recovery_point_id: Option<String>,
    /// When retention deletes that recovery point (`None`: never, or no point).
    #[sqlx(try_from = "columns::OptionalInstant")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When its instant snapshots go (`None` once they have).
    #[sqlx(try_from = "columns::OptionalInstant")]
    pub instant_expires_at: Option<DateTime<Utc>>,
}

/// The runs of the vault `vault_id` (the stored key), newest scheduled first, one per job.
pub async fn of_vault(db: &Db, vault_id: &str) -> Result<Vec<BackupRun>, EngineError> {
    let rows: Vec<BackupRun> = sqlx::query_as(
        "select t.job_id, t.attempt, t.trigger_kind, t.scheduled_at, t.state, \
         t.bytes_transferred, rp.recovery_point_id, rp.expires_at, rp.instant_expires_at \
         from backup_task t left join recovery_point rp on rp.task_id = t.task_id \
         where t.vault_id = $1 \
         order by t.scheduled_at desc, t.job_id, t.attempt desc limit $2",
    )
    .bind(vault_id)
    .bind(RUNS_MAX)
    .fetch_all(db.pool())
    .await?;
    let mut runs: Vec<BackupRun> = Vec::with_capacity(rows.len());
    for row in rows {
        // Rows of one job are adjacent, its latest attempt first.
        if runs.last().is_none_or(|last| last.job_id != row.job_id) {
            runs.push(row);
        }
    }
    Ok(runs)
}
