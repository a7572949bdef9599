//! On PostgreSQL a burst analyzes the tables it grows as it adds to them: statistics taken
//! before the burst (an empty `backup_task`) made the check for running backups walk every
//! running task, most of a 100,000-item dispatch (BENCHMARKS.md). Where statistics lag by
//! nature (a burst moving its tasks from state to state), statements find rows by key.

use vaultsim::control::tasks::{self, TaskChange, TaskState};
use vaultsim::store::statistics::GrowingTable;
use vaultsim::store::Db;

use super::scaling::{dispatch_due, seeded_burst};
use crate::management::app::PostgresDatabase;

const ITEMS: usize = 2_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_postgresql_leaves_statistics_that_count_its_tasks() {
    let database = PostgresDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(Some(database.url()), dir.path()).await.unwrap();
    db.migrate().await.unwrap();
    let (engine, clock) = seeded_burst(&db, dir.path(), ITEMS, "statistics").await;
    // The planner learnt at the seeding that there are no tasks.
    assert_eq!(counted_tasks(&db).await, 0.0);
    assert_eq!(dispatch_due(&engine, &db, &clock).await, ITEMS as u64);
    // Analyzed once 1,000 jobs had started, and again at 2,000: the batches are 500.
    assert_eq!(counted_tasks(&db).await, 2_000.0);
}

/// How many rows the planner believes `backup_task` holds.
async fn counted_tasks(db: &Db) -> f32 {
    sqlx::query_scalar::<_, f32>("select reltuples from pg_class where relname = 'backup_task'")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_growing_table_is_analyzed_at_its_first_thousand_rows_and_at_each_doubling() {
    let database = PostgresDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(Some(database.url()), dir.path()).await.unwrap();
    db.migrate().await.unwrap();
    sqlx::query("analyze backup_task")
        .execute(db.pool())
        .await
        .unwrap();
    let tasks = GrowingTable::new("backup_task");
    insert_tasks(&db, 0..5).await;
    tasks.added(&db, 999).await;
    assert_eq!(counted_tasks(&db).await, 0.0, "not yet");
    tasks.added(&db, 1).await;
    assert_eq!(counted_tasks(&db).await, 5.0, "analyzed at 1,000");
    insert_tasks(&db, 5..8).await;
    tasks.added(&db, 999).await;
    assert_eq!(counted_tasks(&db).await, 5.0, "not before 2,000");
    tasks.added(&db, 1).await;
    assert_eq!(counted_tasks(&db).await, 8.0, "analyzed at 2,000");
}

/// Tasks `ids` (no job, item or VM rows behind them: nothing references them here).
async fn insert_tasks(db: &Db, ids: std::ops::Range<u32>) {
    for id in ids {
        sqlx::query(
            "insert into backup_task (task_id, job_id, attempt, vault_id, item_key, vm_id, \
             trigger_kind, scheduled_at, state, deadline_at, status_container, status_blob, \
             logs_blob, created_at, updated_at) values ($1, $1, 1, 'v', $1, 'vm', \
             'OnDemand', 0, 'Completed', 0, 'c', 's', 'l', 0, 0)",
        )
        .bind(format!("t{id}"))
        .execute(db.pool())
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn moving_a_bursts_tasks_on_finds_each_by_its_id_whatever_the_statistics_say() {
    let database = PostgresDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(Some(database.url()), dir.path()).await.unwrap();
    db.migrate().await.unwrap();
    // Analyzed with every task awaiting its snapshot, as at the end of a dispatch; then
    // two thirds move on to their transfer, which no statistics have seen yet.
    sqlx::query(
        "insert into backup_task (task_id, job_id, attempt, vault_id, item_key, vm_id, \
         trigger_kind, scheduled_at, state, deadline_at, status_container, status_blob, \
         logs_blob, created_at, updated_at) select 't' || i, 't' || i, 1, 'v', 't' || i, \
         'vm', 'Scheduled', 0, 'AwaitingSnapshot', 0, 'c', 's', 'l', 0, 0 \
         from generate_series(1, 3000) as i",
    )
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query("analyze backup_task")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("update backup_task set state = 'Transferring' where task_id < 't3'")
        .execute(db.pool())
        .await
        .unwrap();

    let mut conn = db.pool().acquire().await.unwrap();
    let before = state_index_scans(&mut conn).await;
    let ids: Vec<String> = (100..200).map(|i| format!("t{i}")).collect();
    let changes: Vec<(&str, TaskChange)> = ids
        .iter()
        .map(|id| (id.as_str(), TaskChange::default()))
        .collect();
    let moved = tasks::transition_many(
        &mut conn,
        TaskState::Transferring,
        TaskState::Completed,
        &changes,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(moved.len(), 100);
    // Through the index by state, PostgreSQL would read every transferring task (93 ms
    // per hundred recorded with 67,000 transferring).
    assert_eq!(state_index_scans(&mut conn).await, before);
}

/// How often `backup_task_by_state` was scanned, as of this connection's last statement.
async fn state_index_scans(conn: &mut sqlx::AnyConnection) -> i64 {
    // Statistics reach the shared counters when a backend goes idle, at most once a
    // second unless forced.
    sqlx::query("select pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query_scalar(
        "select idx_scan from pg_stat_user_indexes where indexrelname = 'backup_task_by_state'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}
