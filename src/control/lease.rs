//! Work leases: which engine process runs a transfer or a restore, until when. Several
//! engines may share one database; the one that starts a piece of work holds its lease and
//! renews it while the work runs. When an engine dies, its leases lapse and another takes
//! the work over; two never run it at once (a claim is one conditional update).
//!
//! Leases are in real time, not simulated time: the simulated clock can jump by months.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;

use super::group_commit::Batched;
use super::tasks::{self, BackupTask};
use super::EngineError;
use crate::store::{placeholders, to_micros, Db};

/// How long a lease holds without renewal: how long work of a dead engine waits.
pub const LEASE: Duration = Duration::from_secs(20);
/// How often a running piece of work renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// The kinds of leased work, each a table of rows with `lease_owner` and `lease_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Work {
    /// A backup task's transfer to the vault (`backup_task` rows in `Transferring`).
    Transfer,
    /// A restore job (`restore_task` rows in progress).
    Restore,
}

impl Work {
    /// The table, its key column, and the `state` (an SQL literal) of rows whose work is
    /// still to do.
    fn table(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Work::Transfer => ("backup_task", "task_id", "'Transferring'"),
            Work::Restore => ("restore_task", "job_id", "'InProgress'"),
        }
    }
}

fn lease_until() -> i64 {
    to_micros(Utc::now()) + LEASE.as_micros() as i64
}

/// Takes the lease of `key` for `owner` when no other engine holds it (none ever did,
/// it lapsed, or `owner` held it before a restart). False when the work is done or
/// another live engine runs it.
pub async fn claim(db: &Db, work: Work, key: &str, owner: &str) -> Result<bool, sqlx::Error> {
    Ok(claim_many(db, work, &[key.to_owned()], owner)
        .await?
        .contains(key))
}

/// Keys claimed per statement.
const CLAIMS_PER_STATEMENT: usize = 200;

/// [`claim`] for many pieces of work at once, answering the keys now held: one statement
/// per two hundred.
pub async fn claim_many(
    db: &Db,
    work: Work,
    keys: &[String],
    owner: &str,
) -> Result<HashSet<String>, sqlx::Error> {
    let backend = db.backend();
    let mut claimed = HashSet::with_capacity(keys.len());
    for chunk in keys.chunks(CLAIMS_PER_STATEMENT) {
        let sql = backend.bulk_statement(claim_statement(work, chunk.len()));
        let mut query = sqlx::query_scalar::<_, String>(&sql)
            .bind(owner)
            .bind(lease_until())
            .bind(owner)
            .bind(to_micros(Utc::now()));
        for key in chunk {
            query = query.bind(key.clone());
        }
        claimed.extend(query.fetch_all(db.writer()).await?);
    }
    Ok(claimed)
}

/// The claim of `keys` pieces of `work`: owner $1, lease end $2, owner $3 again, now $4,
/// then the keys.
fn claim_statement(work: Work, keys: usize) -> String {
    let (table, key_column, to_do) = work.table();
    // `state || ''` keeps planners off the index by state, which SQLite chose: it walked
    // every transferring task (100,000 in a burst) and read its row, for each statement,
    // to find the few named; the key finds exactly those.
    format!(
        "update {table} set lease_owner = $1, lease_until = $2 \
         where state || '' = {to_do} \
         and (lease_owner is null or lease_owner = $3 or lease_until < $4) \
         and {key_column} in ({}) returning {key_column}",
        placeholders(5, keys)
    )
}

/// Claims of one engine's transfers, made together (see [`super::group_commit`]), each
/// answered with its task as it stands once claimed (`None`: another engine holds it, or
/// it is no longer transferring): the tasks of a batch are read in one statement.
#[derive(Debug)]
pub struct TransferClaims {
    pub owner: String,
}

impl Batched for TransferClaims {
    type Request = String;
    type Answer = Option<BackupTask>;
    const MAX_BATCH: usize = CLAIMS_PER_STATEMENT;

    async fn execute(
        &self,
        db: &Db,
        task_ids: &[String],
    ) -> Result<Vec<Option<BackupTask>>, EngineError> {
        let claimed = claim_many(db, Work::Transfer, task_ids, &self.owner).await?;
        let claimed: Vec<String> = claimed.into_iter().collect();
        let mut tasks: HashMap<String, BackupTask> = tasks::get_many(db, &claimed)
            .await?
            .into_iter()
            .map(|task| (task.task_id.clone(), task))
            .collect();
        Ok(task_ids.iter().map(|id| tasks.remove(id)).collect())
    }
}

/// Renews `owner`'s lease of `key` every few seconds while the work runs. Returns only
/// when another engine took the work over (after a lapse); once the work is done it
/// waits forever, so that the work's own future ends the race.
pub async fn keep(db: &Db, work: Work, key: &str, owner: &str) {
    let (table, key_column, to_do) = work.table();
    let renew = format!(
        "update {table} set lease_until = $3 \
         where {key_column} = $1 and state = {to_do} and lease_owner = $2"
    );
    let holder =
        format!("select lease_owner from {table} where {key_column} = $1 and state = {to_do}");
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match sqlx::query(&renew)
            .bind(key)
            .bind(owner)
            .bind(lease_until())
            .execute(db.writer())
            .await
        {
            Ok(renewed) if renewed.rows_affected() == 1 => {}
            Ok(_) => {
                let held_by: Result<Option<Option<String>>, _> = sqlx::query_scalar(&holder)
                    .bind(key)
                    .fetch_optional(db.pool())
                    .await;
                match held_by {
                    Ok(Some(Some(other))) if other != owner => return,
                    Ok(_) => std::future::pending::<()>().await,
                    Err(error) => tracing::warn!(%error, key, "reading a work lease failed"),
                }
            }
            // A database that fails now may answer at the next renewal, before the lapse.
            Err(error) => tracing::warn!(%error, key, "renewing a work lease failed"),
        }
    }
}

/// Work still to do whose lease no engine holds: never taken, lapsed, or `owner`'s own
/// from before a restart.
pub async fn unowned(
    db: &Db,
    work: Work,
    owner: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let (table, key_column, to_do) = work.table();
    sqlx::query_scalar(&format!(
        "select {key_column} from {table} where state = {to_do} \
         and (lease_owner is null or lease_owner = $1 or lease_until < $2) limit $3"
    ))
    .bind(owner)
    .bind(to_micros(Utc::now()))
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database_with_a_transfer(dir: &std::path::Path) -> Db {
        let db = Db::connect(None, dir).await.unwrap();
        db.migrate().await.unwrap();
        sqlx::query(
            "insert into backup_task (task_id, job_id, attempt, vault_id, item_key, vm_id, \
             trigger_kind, scheduled_at, state, deadline_at, status_container, status_blob, \
             logs_blob, created_at, updated_at) values ('t1', 'j1', 1, 'v', 'i', 'vm', \
             'OnDemand', 0, 'Transferring', 0, 'c', 's', 'l', 0, 0)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        db
    }

    /// How SQLite would run `sql`: the details of its query plan.
    async fn query_plan(db: &Db, sql: &str) -> Vec<String> {
        sqlx::query(&format!("explain query plan {sql}"))
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, "detail"))
            .collect()
    }

    #[tokio::test]
    async fn a_grouped_claim_finds_its_tasks_by_key_not_by_walking_every_transferring_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = database_with_a_transfer(dir.path()).await;
        let sql = db
            .backend()
            .bulk_statement(claim_statement(Work::Transfer, 3));
        let plan = query_plan(&db, &sql).await;
        assert!(
            plan.iter()
                .any(|step| step.contains("sqlite_autoindex_backup_task_1 (task_id=?)")),
            "the claim should look its tasks up by id: {plan:?}"
        );
        assert!(
            !plan
                .iter()
                .any(|step| step.contains("backup_task_by_state")),
            "the claim should not walk the tasks by state: {plan:?}"
        );
    }

    #[tokio::test]
    async fn one_engine_holds_a_transfer_until_its_lease_lapses() {
        let dir = tempfile::tempdir().unwrap();
        let db = database_with_a_transfer(dir.path()).await;
        assert_eq!(unowned(&db, Work::Transfer, "a", 10).await.unwrap(), ["t1"]);
        assert!(claim(&db, Work::Transfer, "t1", "a").await.unwrap());
        assert!(
            !claim(&db, Work::Transfer, "t1", "b").await.unwrap(),
            "a holds it"
        );
        assert!(unowned(&db, Work::Transfer, "b", 10)
            .await
            .unwrap()
            .is_empty());
        // Its own lease is a restarted engine's to resume.
        assert_eq!(unowned(&db, Work::Transfer, "a", 10).await.unwrap(), ["t1"]);
        assert!(claim(&db, Work::Transfer, "t1", "a").await.unwrap());

        sqlx::query("update backup_task set lease_until = 0")
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(unowned(&db, Work::Transfer, "b", 10).await.unwrap(), ["t1"]);
        assert!(
            claim(&db, Work::Transfer, "t1", "b").await.unwrap(),
            "a's lapsed"
        );
        assert!(!claim(&db, Work::Transfer, "t1", "c").await.unwrap());

        sqlx::query("update backup_task set state = 'Completed'")
            .execute(db.pool())
            .await
            .unwrap();
        assert!(
            !claim(&db, Work::Transfer, "t1", "b").await.unwrap(),
            "done"
        );
        assert!(unowned(&db, Work::Transfer, "b", 10)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn claiming_many_at_once_takes_only_the_work_no_other_engine_holds() {
        let dir = tempfile::tempdir().unwrap();
        let db = database_with_a_transfer(dir.path()).await;
        for (task_id, state) in [
            ("t2", "Transferring"),
            ("t3", "Transferring"),
            ("t4", "Completed"),
        ] {
            sqlx::query(
                "insert into backup_task (task_id, job_id, attempt, vault_id, item_key, vm_id, \
                 trigger_kind, scheduled_at, state, deadline_at, status_container, status_blob, \
                 logs_blob, created_at, updated_at) values ($1, $1, 1, 'v', $1, 'vm', \
                 'OnDemand', 0, $2, 0, 'c', 's', 'l', 0, 0)",
            )
            .bind(task_id)
            .bind(state)
            .execute(db.pool())
            .await
            .unwrap();
        }
        assert!(claim(&db, Work::Transfer, "t2", "b").await.unwrap());
        let keys: Vec<String> = ["t1", "t2", "t3", "t4", "none"].map(String::from).into();
        let claimed = claim_many(&db, Work::Transfer, &keys, "a").await.unwrap();
        assert_eq!(
            claimed,
            HashSet::from(["t1".to_owned(), "t3".to_owned()]),
            "t2 is b's, t4 is done, none does not exist"
        );
        assert_eq!(unowned(&db, Work::Transfer, "b", 10).await.unwrap(), ["t2"]);
    }

    #[tokio::test]
    async fn keeping_a_lease_ends_when_another_engine_took_the_work_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = database_with_a_transfer(dir.path()).await;
        assert!(claim(&db, Work::Transfer, "t1", "a").await.unwrap());
        let keeper = tokio::spawn({
            let db = db.clone();
            async move { keep(&db, Work::Transfer, "t1", "a").await }
        });
        tokio::time::sleep(RENEW_EVERY + Duration::from_secs(1)).await;
        assert!(!keeper.is_finished(), "renewing its own lease");
        let until: i64 = sqlx::query_scalar("select lease_until from backup_task")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert!(until > to_micros(Utc::now()) + (LEASE - RENEW_EVERY * 2).as_micros() as i64);
        sqlx::query("update backup_task set lease_owner = 'b'")
            .execute(db.pool())
            .await
            .unwrap();
        tokio::time::timeout(RENEW_EVERY * 2, keeper)
            .await
            .expect("the keeper notices the takeover")
            .unwrap();
    }
}
