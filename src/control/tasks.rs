//! Backup tasks: one attempt of a Backup job, from minting to the recovery point. Every
//! state change is written before the engine acts on it, so a restarted service picks up
//! each task where it was.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use super::EngineError;
use crate::store::{columns, placeholders, to_micros, value_rows, Backend, Db};
use vaultsim_protocol::extension::status::SnapshotConsistency;

/// Where a task is. `AwaitingSnapshot` → `Transferring` → `Completed`, or `Failed`; or
/// `Cancelled` while awaiting its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum TaskState {
    AwaitingSnapshot,
    Transferring,
    Completed,
    Failed,
    Cancelled,
}

impl TaskState {
    /// The stored name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Reading the stored name (`FromRow`).
impl TryFrom<String> for TaskState {
    type Error = strum::ParseError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// Why a backup runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum Trigger {
    /// A policy's scheduled run.
    Scheduled,
    /// `POST .../protectedItems/{item}/backup`.
    OnDemand,
}

impl Trigger {
    /// The stored name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Reading the stored name (`FromRow`).
impl TryFrom<String> for Trigger {
    type Error = strum::ParseError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// The per-vault container the extension's status and log blobs live in (the collector
/// watches containers by this prefix).
pub fn status_container_name(vault_id: &str) -> String {
    format!("{STATUS_CONTAINER_PREFIX}{}", vault_id.to_ascii_lowercase())
}

/// The blob the task's extension writes its status to.
pub fn status_blob_name(task_id: &str) -> String {
    format!("{task_id}.status")
}

/// The blob the task's extension writes its log to.
pub fn logs_blob_name(task_id: &str) -> String {
    format!("{task_id}.log")
}

/// What every vault's status container name starts with.
pub const STATUS_CONTAINER_PREFIX: &str = "bcdrextensionlogs-";

/// One disk's snapshot, as the extension reported it and the engine verified it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDisk {
    pub lun: i64,
    pub container: String,
    pub blob: String,
    /// The blob store's snapshot stamp (`Timestamp.0`).
    pub snapshot: i64,
    /// The disk's storage account; `None`: the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// What the status blob reported once the snapshot was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectedSnapshot {
    /// `AppConsistent`, `FileSystemConsistent` or `CrashConsistent`.
    pub consistency: String,
    pub disks: Vec<SnapshotDisk>,
    /// When the snapshots were taken (the newest of them).
    pub taken_at: DateTime<Utc>,
}

/// The disks of each of `vm_ids`' VMs (a VM without disks, or gone, is absent), by LUN,
/// with no snapshot yet.
pub async fn disks_of_vms(
    conn: &mut AnyConnection,
    vm_ids: &[&str],
) -> Result<HashMap<String, Vec<SnapshotDisk>>, EngineError> {
    let mut disks: HashMap<String, Vec<SnapshotDisk>> = HashMap::new();
    let backend = Backend::of(conn);
    for chunk in vm_ids.chunks(200) {
        let sql = backend.bulk_statement(format!(
            "select vm_id, lun, blob_container, blob_name, storage_account from vm_disk \
             where vm_id in ({}) order by vm_id, lun",
            placeholders(1, chunk.len())
        ));
        let mut query = sqlx::query_as::<_, (String, i64, String, String, Option<String>)>(&sql);
        for vm_id in chunk {
            query = query.bind(*vm_id);
        }
        for (vm_id, lun, container, blob, account) in query.fetch_all(&mut *conn).await? {
            disks.entry(vm_id).or_default().push(SnapshotDisk {
                lun,
                container,
                blob,
                snapshot: 0,
                account,
            });
        }
    }
    Ok(disks)
}

/// The recovery point type Azure shows for a consistency ([`CollectedSnapshot::consistency`]).
pub fn recovery_point_type(consistency: SnapshotConsistency) -> &'static str {
    match consistency {
        SnapshotConsistency::ApplicationConsistent => "AppConsistent",
        SnapshotConsistency::FileSystemConsistent => "FileSystemConsistent",
        SnapshotConsistency::CrashConsistent => "CrashConsistent",
    }
}

/// A `backup_task` row, read by column name (the names of [`TASK_COLUMNS`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackupTask {
    pub task_id: String,
    pub job_id: String,
    pub attempt: i64,
    pub vault_id: String,
    pub item_key: String,
    pub vm_id: String,
    #[sqlx(rename = "trigger_kind", try_from = "String")]
    pub trigger: Trigger,
    #[sqlx(try_from = "columns::Instant")]
    pub scheduled_at: DateTime<Utc>,
    /// The expiry an on-demand backup asked for.
    #[sqlx(try_from = "columns::OptionalInstant")]
    pub rp_expires_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "String")]
    pub state: TaskState,
    #[sqlx(try_from = "columns::Instant")]
    pub deadline_at: DateTime<Utc>,
    pub status_container: String,
    pub status_blob: String,
    pub logs_blob: String,
    /// The ETag of the status blob content last read, so a write is read once.
    pub status_etag: Option<String>,
    #[sqlx(try_from = "columns::OptionalJson<CollectedSnapshot>")]
    pub snapshot: Option<CollectedSnapshot>,
    pub bytes_transferred: i64,
    #[sqlx(try_from = "columns::Instant")]
    pub created_at: DateTime<Utc>,
    /// The account's time less the service clock's at dispatch, in whole seconds: the
    /// task's SAS windows were signed and its snapshots are judged by it (see
    /// [`Engine::account_skew`](super::engine::Engine::account_skew)).
    pub account_skew_seconds: i64,
    /// The SHA-256 (hex) of the `snapshotTaskToken` the host snapshot calls must present;
    /// `None` for tasks minted before there was one.
    pub snapshot_task_token_sha256: Option<String>,
}

impl BackupTask {
    /// [`Self::account_skew_seconds`] as a duration.
    pub fn account_skew(&self) -> TimeDelta {
        TimeDelta::seconds(self.account_skew_seconds)
    }
}

/// A task's columns, in the order [`insert_many`] binds them; [`BackupTask`] reads them by name.
const TASK_COLUMNS: &str = "task_id, job_id, attempt, vault_id, item_key, vm_id, trigger_kind, \
     scheduled_at, rp_expires_at, state, deadline_at, status_container, status_blob, \
     logs_blob, status_etag, snapshot, bytes_transferred, created_at, account_skew_seconds, \
     snapshot_task_token_sha256";

/// Tasks inserted per statement: 21 parameters each.
const TASKS_PER_STATEMENT: usize = 20;

/// Records tasks in bulk, a few statements for many tasks.
pub async fn insert_many(tx: &mut AnyConnection, tasks: &[BackupTask]) -> Result<(), EngineError> {
    let backend = Backend::of(tx);
    for chunk in tasks.chunks(TASKS_PER_STATEMENT) {
        let sql = backend.bulk_statement(format!(
            "insert into backup_task ({TASK_COLUMNS}, updated_at) values {}",
            value_rows(chunk.len(), 21)
        ));
        let mut query = sqlx::query(&sql);
        for task in chunk {
            query = query
                .bind(task.task_id.clone())
                .bind(task.job_id.clone())
                .bind(task.attempt)
                .bind(task.vault_id.clone())
                .bind(task.item_key.clone())
                .bind(task.vm_id.clone())
                .bind(task.trigger.as_str())
                .bind(to_micros(task.scheduled_at))
                .bind(task.rp_expires_at.map(to_micros))
                .bind(task.state.as_str())
                .bind(to_micros(task.deadline_at))
                .bind(task.status_container.clone())
                .bind(task.status_blob.clone())
                .bind(task.logs_blob.clone())
                .bind(task.status_etag.clone())
                .bind(task.snapshot.as_ref().map(snapshot_json))
                .bind(task.bytes_transferred)
                .bind(to_micros(task.created_at))
                .bind(task.account_skew_seconds)
                .bind(task.snapshot_task_token_sha256.clone())
                // updated_at: created_at.
                .bind(to_micros(task.created_at));
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

pub async fn get(db: &Db, task_id: &str) -> Result<Option<BackupTask>, EngineError> {
    let task = sqlx::query_as(&format!(
        "select {TASK_COLUMNS} from backup_task where task_id = $1"
    ))
    .bind(task_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(task)
}

/// The tasks with these ids (unknown ids are skipped).
pub async fn get_many(db: &Db, task_ids: &[String]) -> Result<Vec<BackupTask>, EngineError> {
    let mut found = Vec::with_capacity(task_ids.len());
    for chunk in task_ids.chunks(200) {
        let sql = db.backend().bulk_statement(format!(
            "select {TASK_COLUMNS} from backup_task where task_id in ({})",
            placeholders(1, chunk.len())
        ));
        let mut query = sqlx::query_as(&sql);
        for id in chunk {
            query = query.bind(id.clone());
        }
        found.extend(query.fetch_all(db.pool()).await?);
    }
    Ok(found)
}

/// Tasks in `state`, oldest deadline first.
pub async fn in_state(
    db: &Db,
    state: TaskState,
    limit: i64,
) -> Result<Vec<BackupTask>, EngineError> {
    let tasks = sqlx::query_as(&format!(
        "select {TASK_COLUMNS} from backup_task where state = $1 \
         order by deadline_at, task_id limit $2"
    ))
    .bind(state.as_str())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(tasks)
}

/// Tasks still waiting for their snapshot whose deadline has passed.
pub async fn overdue(
    db: &Db,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<BackupTask>, EngineError> {
    let tasks = sqlx::query_as(&format!(
        "select {TASK_COLUMNS} from backup_task where state = $1 and deadline_at <= $2 \
         order by deadline_at, task_id limit $3"
    ))
    .bind(TaskState::AwaitingSnapshot.as_str())
    .bind(to_micros(now))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(tasks)
}

/// Items asked about per statement.
const ITEMS_PER_STATEMENT: usize = 200;

/// Which of `items` (vault id, item key) have a backup running: a task awaiting its
/// snapshot or transferring. Azure runs one backup of an item at a time.
pub async fn items_backing_up(
    conn: &mut AnyConnection,
    items: &[(&str, &str)],
) -> Result<HashSet<(String, String)>, EngineError> {
    let mut by_vault: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (vault_id, item_key) in items {
        by_vault.entry(vault_id).or_default().push(item_key);
    }
    let mut running = HashSet::new();
    let backend = Backend::of(conn);
    for (vault_id, item_keys) in by_vault {
        for chunk in item_keys.chunks(ITEMS_PER_STATEMENT) {
            let sql = backend.bulk_statement(format!(
                "select distinct item_key from backup_task where vault_id = $1 \
                 and state in ($2, $3) and item_key in ({})",
                placeholders(4, chunk.len())
            ));
            let mut query = sqlx::query_scalar::<_, String>(&sql)
                .bind(vault_id)
                .bind(TaskState::AwaitingSnapshot.as_str())
                .bind(TaskState::Transferring.as_str());
            for item_key in chunk {
                query = query.bind(*item_key);
            }
            for item_key in query.fetch_all(&mut *conn).await? {
                running.insert((vault_id.to_owned(), item_key));
            }
        }
    }
    Ok(running)
}

/// How many tasks are in `state`.
pub async fn count_in_state(db: &Db, state: TaskState) -> Result<i64, EngineError> {
    Ok(
        sqlx::query_scalar("select count(*) from backup_task where state = $1")
            .bind(state.as_str())
            .fetch_one(db.pool())
            .await?,
    )
}

/// Whether any task is in `state`: what waiting for a state to empty needs, without
/// counting the tens of thousands of tasks a burst leaves in it (a count took PostgreSQL
/// tens of milliseconds each, polled every 20 ms).
pub async fn any_in_state(db: &Db, state: TaskState) -> Result<bool, EngineError> {
    let found: i64 = sqlx::query_scalar(
        "select count(*) from (select 1 from backup_task where state = $1 limit 1) as any_task",
    )
    .bind(state.as_str())
    .fetch_one(db.pool())
    .await?;
    Ok(found > 0)
}

/// Moves a task from `from` to `to`, recording what it learned. False when the task was
/// no longer in `from` (another replica, or an earlier event, moved it first).
pub async fn transition(
    tx: &mut AnyConnection,
    task_id: &str,
    from: TaskState,
    to: TaskState,
    change: TaskChange<'_>,
    now: DateTime<Utc>,
) -> Result<bool, EngineError> {
    Ok(transition_many(tx, from, to, &[(task_id, change)], now)
        .await?
        .contains(task_id))
}

/// Tasks moved per statement (5 parameters each).
const TRANSITIONS_PER_STATEMENT: usize = 100;

/// [`transition`] for many tasks (ids with their changes), one statement per hundred,
/// answering the ids of those that moved (a task that moved on meanwhile is left as it
/// is).
pub async fn transition_many(
    tx: &mut AnyConnection,
    from: TaskState,
    to: TaskState,
    changes: &[(&str, TaskChange<'_>)],
    now: DateTime<Utc>,
) -> Result<HashSet<String>, EngineError> {
    let backend = Backend::of(tx);
    let mut moved = HashSet::with_capacity(changes.len());
    for chunk in changes.chunks(TRANSITIONS_PER_STATEMENT) {
        // One row of values per task (`column1`... are the names both SQLite and
        // PostgreSQL give a `values` list's columns). `state || ''` keeps planners off
        // the index by state: statistics from before a burst (every task still awaiting
        // its snapshot) made PostgreSQL read every transferring task through it and hash
        // them, 93 ms per hundred tasks recorded at 67,000 transferring; the primary key
        // finds exactly these rows.
        let sql = backend.bulk_statement(format!(
            "update backup_task set state = '{}', updated_at = v.column5, \
             status_etag = coalesce(v.column2, backup_task.status_etag), \
             snapshot = coalesce(v.column3, backup_task.snapshot), \
             bytes_transferred = coalesce(v.column4, backup_task.bytes_transferred) \
             from (values {}) as v where backup_task.task_id = v.column1 \
             and backup_task.state || '' = '{}' returning backup_task.task_id",
            to.as_str(),
            value_rows(chunk.len(), 5),
            from.as_str(),
        ));
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for (task_id, change) in chunk {
            query = query
                .bind(*task_id)
                .bind(change.status_etag)
                .bind(change.snapshot.map(snapshot_json))
                .bind(change.bytes_transferred)
                .bind(to_micros(now));
        }
        moved.extend(query.fetch_all(&mut *tx).await?);
    }
    Ok(moved)
}

/// Cancels a job's task still waiting for its snapshot: the collector then ignores its
/// status blob and the item may back up again. False when no task of the job was waiting
/// (it moved on to the transfer first).
pub async fn cancel_awaiting(
    tx: &mut AnyConnection,
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, EngineError> {
    let done = sqlx::query(
        "update backup_task set state = $3, updated_at = $4 where job_id = $1 and state = $2",
    )
    .bind(job_id)
    .bind(TaskState::AwaitingSnapshot.as_str())
    .bind(TaskState::Cancelled.as_str())
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// What a transition records besides the state.
#[derive(Debug, Default)]
pub struct TaskChange<'a> {
    pub status_etag: Option<&'a str>,
    pub snapshot: Option<&'a CollectedSnapshot>,
    pub bytes_transferred: Option<i64>,
}

fn snapshot_json(snapshot: &CollectedSnapshot) -> String {
    serde_json::to_string(snapshot).expect("a collected snapshot serializes")
}
