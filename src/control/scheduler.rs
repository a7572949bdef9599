//! Turning policies into Backup jobs. Each protected item carries the instant its policy
//! next runs (`next_backup_at`); a run is claimed by moving that instant forward with a
//! compare-and-set in the transaction that creates the run's job, so however many replicas
//! share the database, each run makes exactly one job.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};
use tokio::task::JoinSet;

use super::backup::{prepare_backups, write_backups, BackupRequest, BackupTarget, PreparedBackups};
use super::engine::{Engine, StartTransfer};
use super::policies::PolicyCache;
use super::schedule::next_run_after;
use super::tasks::Trigger;
use super::EngineError;
use crate::resources::policy::IaasVmPolicy;
use crate::resources::protection::names::VmName;
use crate::store::statistics::GrowingTable;
use crate::store::{from_micros, placeholders, to_micros, Backend};

/// `next_backup_at` of an item whose policy never runs.
const NEVER: i64 = i64::MAX;
/// Items planned or started per transaction: bounds how long one replica holds the
/// database's write lock (SQLite) or row locks (PostgreSQL).
const BATCH: i64 = 500;
/// Most missed runs skipped over to reach the latest one after downtime.
const MAX_CATCH_UP: usize = 100_000;

/// Gives every scheduled item without a planned run its next run after `now`.
pub async fn plan(engine: &Engine, now: DateTime<Utc>) -> Result<(), EngineError> {
    let mut policies = PolicyCache::default();
    loop {
        let rows = sqlx::query(
            "select vault_id, item_key, policy_key from protected_item \
             where next_backup_at is null and policy_key is not null limit $1",
        )
        .bind(BATCH * 5)
        .fetch_all(engine.db().pool())
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut next_runs = Vec::with_capacity(rows.len());
        for row in &rows {
            let vault_id: String = row.try_get("vault_id")?;
            let policy_key: String = row.try_get("policy_key")?;
            let policy = policies.get(engine.db(), &vault_id, &policy_key).await?;
            next_runs.push(
                policy
                    .and_then(|p| next_run_after(&p, now))
                    .map_or(NEVER, to_micros),
            );
        }
        let mut tx = engine.db().begin_write().await?;
        for (row, next) in rows.iter().zip(next_runs) {
            let vault_id: String = row.try_get("vault_id")?;
            sqlx::query(
                "update protected_item set next_backup_at = $3 \
                 where vault_id = $1 and item_key = $2 and next_backup_at is null",
            )
            .bind(&vault_id)
            .bind(row.try_get::<String, _>("item_key")?)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
}

/// Starts a Backup job for every item whose run is due at `now`. After downtime an item
/// that missed several runs gets one job, for the latest (an older one would reach the
/// extension too late to run). Answers how many jobs it started.
///
/// Batches go through two stages at once: while one is written (claimed, its jobs and
/// tasks inserted, its goal states published), the next is read and its tasks minted. On
/// PostgreSQL two batches are written at once (see [`Backend::writers_at_once`]): their
/// rows are disjoint (each item is one VM's, and a batch holds items the walk read once).
/// The transfers of host-side snapshots (VMs not running) start with `start_transfer` as
/// each batch commits.
pub async fn start_due(
    engine: &Engine,
    now: DateTime<Utc>,
    start_transfer: StartTransfer,
) -> Result<u64, EngineError> {
    let tasks_added = Arc::new(GrowingTable::new("backup_task"));
    let writers = engine.db().backend().writers_at_once();
    let mut started = 0;
    let mut after = None;
    // In sets, so that a read or write still in flight stops when the dispatch does.
    let mut reading = JoinSet::new();
    let mut writing = JoinSet::new();
    reading.spawn(read_due(engine.clone(), now, None, PolicyCache::default()));
    loop {
        let (batch, policies) = reading.join_next().await.expect("a read is in flight")??;
        let Some(batch) = batch else {
            // The walk reached the end: every batch it read is written before looking again.
            while let Some(written) = writing.join_next().await {
                started += written??;
            }
            if after.is_none() {
                return Ok(started);
            }
            // One more read from the start finds any run that came due behind the walk (a
            // claim that lost to another replica's change of the run).
            after = None;
            reading.spawn(read_due(engine.clone(), now, None, policies));
            continue;
        };
        after = batch.planned.last().map(|run| run.key.clone());
        reading.spawn(read_due(engine.clone(), now, after.clone(), policies));
        while writing.len() >= writers {
            started += writing.join_next().await.expect("a write is in flight")??;
        }
        let (engine, tasks_added) = (engine.clone(), Arc::clone(&tasks_added));
        writing.spawn(async move {
            let backups = write_due(&engine, batch, now, start_transfer).await?;
            tasks_added.added(engine.db(), backups).await;
            Ok::<_, EngineError>(backups)
        });
    }
}

/// Where a due run sits in the order the scheduler walks them: due time, vault, item.
#[derive(Debug, Clone)]
struct DueKey {
    due: i64,
    vault_id: String,
    item_key: String,
}

/// Due runs read and their backups prepared, not yet claimed.
struct DueBatch {
    planned: Vec<PlannedRun>,
    prepared: PreparedBackups,
}

/// The next batch of runs due at `now` after `after` (from the first without it), their
/// backups prepared; none when no run is left. Gives `policies` back for the next read.
async fn read_due(
    engine: Engine,
    now: DateTime<Utc>,
    after: Option<DueKey>,
    mut policies: PolicyCache,
) -> Result<(Option<DueBatch>, PolicyCache), EngineError> {
    // Batches in flight are not yet claimed: the walk goes on past the last one read.
    let past_the_last_read = if after.is_some() {
        "and (next_backup_at, vault_id, item_key) > ($3, $4, $5)"
    } else {
        ""
    };
    let sql = format!(
        "select vault_id, item_key, vm_id, vm_name, vm_resource_group, policy_key, \
         next_backup_at from protected_item where next_backup_at <= $1 {past_the_last_read} \
         order by next_backup_at, vault_id, item_key limit $2"
    );
    let mut query = sqlx::query(&sql).bind(to_micros(now)).bind(BATCH);
    if let Some(key) = &after {
        query = query
            .bind(key.due)
            .bind(key.vault_id.clone())
            .bind(key.item_key.clone());
    }
    let rows = query.fetch_all(engine.db().pool()).await?;
    if rows.is_empty() {
        return Ok((None, policies));
    }
    let mut planned = Vec::with_capacity(rows.len());
    for row in &rows {
        let vault_id: String = row.try_get("vault_id")?;
        let policy = match row.try_get::<Option<String>, _>("policy_key")? {
            Some(key) => policies.get(engine.db(), &vault_id, &key).await?,
            None => None,
        };
        let due: i64 = row.try_get("next_backup_at")?;
        let (scheduled_at, next) = match &policy {
            Some(policy) => latest_due_run(policy, from_micros(due), now),
            None => (from_micros(due), None),
        };
        let item_key: String = row.try_get("item_key")?;
        planned.push(PlannedRun {
            key: DueKey {
                due,
                vault_id: vault_id.clone(),
                item_key: item_key.clone(),
            },
            request: BackupRequest {
                target: BackupTarget {
                    vault_id,
                    item_key,
                    vm_id: row.try_get("vm_id")?,
                    vm: VmName::new(
                        row.try_get::<String, _>("vm_resource_group")?,
                        row.try_get::<String, _>("vm_name")?,
                    ),
                },
                trigger: Trigger::Scheduled,
                scheduled_at,
                rp_expires_at: None,
            },
            next: next.map_or(NEVER, to_micros),
            // Protection stopped meanwhile: the claim only retires the run.
            runs: policy.is_some(),
        });
    }
    let requests = planned
        .iter()
        .filter(|run| run.runs)
        .map(|run| run.request.clone())
        .collect();
    let mut reader = engine.db().pool().acquire().await?;
    let prepared = prepare_backups(&engine, &mut reader, requests, now).await?;
    Ok((Some(DueBatch { planned, prepared }), policies))
}

/// Claims the batch's runs and starts the backups of those claimed, in one transaction;
/// answers how many it started.
async fn write_due(
    engine: &Engine,
    batch: DueBatch,
    now: DateTime<Utc>,
    start_transfer: StartTransfer,
) -> Result<u64, EngineError> {
    let DueBatch {
        planned,
        mut prepared,
    } = batch;
    let mut tx = engine.db().begin_write().await?;
    let claimed = claim(&mut tx, &planned).await?;
    prepared.retain(|request| {
        claimed.contains(&(
            request.target.vault_id.clone(),
            request.target.item_key.clone(),
        ))
    });
    let backups = write_backups(engine, &mut tx, prepared, now).await?;
    tx.commit().await?;
    for backup in &backups {
        if let Some(vm_id) = &backup.notify_vm {
            engine.notifier().notify(vm_id);
        }
        if let Some(task_id) = &backup.transfer_task {
            start_transfer(engine, task_id);
        }
    }
    Ok(backups.len() as u64)
}

/// A due run of one item, before it is claimed.
struct PlannedRun {
    /// The item's place in the walk; `due` is its `next_backup_at` as read, the claim's
    /// expected value.
    key: DueKey,
    request: BackupRequest,
    /// What the claim sets it to.
    next: i64,
    runs: bool,
}

/// Items claimed per statement.
const CLAIMS_PER_STATEMENT: usize = 200;

/// Claims the runs: moves each item's `next_backup_at` from the value read to the next
/// run, if no other replica moved it first. Answers the (vault, item) pairs claimed.
async fn claim(
    tx: &mut AnyConnection,
    planned: &[PlannedRun],
) -> Result<HashSet<(String, String)>, EngineError> {
    // Runs due together share the expected and the new value: one statement claims them.
    // Groups go in a fixed order so that replicas lock rows in the same order (no deadlock).
    let mut groups: BTreeMap<(&str, i64, i64), Vec<&str>> = BTreeMap::new();
    for run in planned {
        groups
            .entry((run.key.vault_id.as_str(), run.key.due, run.next))
            .or_default()
            .push(run.key.item_key.as_str());
    }
    let mut claimed = HashSet::with_capacity(planned.len());
    let backend = Backend::of(tx);
    for ((vault_id, due, next), items) in groups {
        for chunk in items.chunks(CLAIMS_PER_STATEMENT) {
            // `next_backup_at + 0` keeps planners off the due-run index: every row of a
            // burst shares that value, so the index would walk all of them per statement
            // (PostgreSQL did, taking minutes for 100,000 items); the primary key finds
            // exactly these rows.
            let sql = backend.bulk_statement(format!(
                "update protected_item set next_backup_at = $1 where vault_id = $2 \
                 and next_backup_at + 0 = $3 and item_key in ({}) returning item_key",
                placeholders(4, chunk.len())
            ));
            let mut query = sqlx::query_scalar::<_, String>(&sql)
                .bind(next)
                .bind(vault_id)
                .bind(due);
            for item in chunk {
                query = query.bind(*item);
            }
            for item in query.fetch_all(&mut *tx).await? {
                claimed.insert((vault_id.to_owned(), item));
            }
        }
    }
    Ok(claimed)
}

/// The latest run due by `now`, starting from the due run `due`, and the run after it.
fn latest_due_run(
    policy: &IaasVmPolicy,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    let mut scheduled = due;
    let mut next = next_run_after(policy, due);
    for _ in 0..MAX_CATCH_UP {
        match next {
            Some(at) if at <= now => {
                scheduled = at;
                next = next_run_after(policy, at);
            }
            _ => break,
        }
    }
    (scheduled, next)
}

/// The first instant after `now` at which something is due: a scheduled run, a snapshot
/// deadline, an expiry.
pub async fn next_event_after(
    engine: &Engine,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, EngineError> {
    let now = to_micros(now);
    let mut next: Option<i64> = None;
    for query in [
        "select min(next_backup_at) from protected_item where next_backup_at > $1 \
         and next_backup_at < $2",
        "select min(deadline_at) from backup_task where state = 'AwaitingSnapshot' \
         and deadline_at > $1 and deadline_at < $2",
        "select min(expires_at) from recovery_point where expires_at > $1 and expires_at < $2",
        "select min(instant_expires_at) from recovery_point where instant_expires_at > $1 \
         and instant_expires_at < $2",
    ] {
        let candidate: Option<i64> = sqlx::query_scalar(query)
            .bind(now)
            .bind(NEVER)
            .fetch_one(engine.db().pool())
            .await?;
        next = match (next, candidate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(next.map(from_micros))
}
