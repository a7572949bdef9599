//! PostgreSQL's planner statistics of a table that a burst grows. A burst adds rows far
//! sooner than autovacuum analyzes them (it looks once a minute), and statistics taken
//! while a table was nearly empty lead the planner to walk whole tables where an index
//! finds a few rows: at 58,000 tasks the check for items with a backup running combined
//! the index by state with the vault's whole slice of the item index (40 ms a statement
//! against 0.5 ms with current statistics), and the read of an item's previous recovery
//! point took most of the recording. So whoever adds the rows analyzes the table once it
//! has added [`FIRST`] and again each time its count doubles: a few `ANALYZE`s a burst.
//! SQLite is left alone: its plans here do not change as the tables grow (the dispatch and
//! recording costs per item are flat, BENCHMARKS.md).

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Backend, Db};

/// Rows added before the first `ANALYZE`.
pub const FIRST: u64 = 1_000;

/// Counts the rows this process adds to `table` and analyzes it at each doubling.
#[derive(Debug)]
pub struct GrowingTable {
    table: &'static str,
    added: AtomicU64,
    analyze_at: AtomicU64,
}

impl GrowingTable {
    pub const fn new(table: &'static str) -> Self {
        Self {
            table,
            added: AtomicU64::new(0),
            analyze_at: AtomicU64::new(FIRST),
        }
    }

    /// Counts `rows` more added to the table, analyzing it (on PostgreSQL) when the count
    /// reaches the next doubling. An `ANALYZE` that fails is logged, not returned: the rows
    /// are written, only the statistics stay older.
    pub async fn added(&self, db: &Db, rows: u64) {
        let added = self.added.fetch_add(rows, Ordering::Relaxed) + rows;
        let due = self.analyze_at.load(Ordering::Relaxed);
        if db.backend() != Backend::Postgres || added < due {
            return;
        }
        // One caller per doubling analyzes; the others go on.
        if self
            .analyze_at
            .compare_exchange(due, added * 2, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        if let Err(error) = sqlx::query(&format!("analyze {}", self.table))
            .execute(db.writer())
            .await
        {
            tracing::warn!(table = self.table, %error, "analyzing a growing table failed");
        }
    }
}
