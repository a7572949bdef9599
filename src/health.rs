//! Liveness and readiness, as `/healthz` and `/readyz` report them on every listener:
//! the process is up; and what this process runs can work: its metadata database answers,
//! its blob store's directory takes writes, its backup engine's loop is ticking.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::blob::engine::{BlobStore, StoreError, StoreUsage};
use crate::store::Db;

/// How long the database may take to answer `select 1` before it counts as unreachable.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);
/// The engine counts as ticking while its last tick started at most this long ago, or is
/// still running (a burst of due backups can keep one tick busy for a while).
const TICK_WITHIN: Duration = Duration::from_secs(30);

/// When the engine's loop last started and ended a tick, and how the last one ended.
#[derive(Debug, Default)]
pub struct TickRecord(Mutex<TickTimes>);

#[derive(Debug, Default, Clone, Copy)]
struct TickTimes {
    started: Option<Instant>,
    ended: Option<Instant>,
    failed: bool,
}

impl TickRecord {
    pub fn started(&self) {
        self.0.lock().started = Some(Instant::now());
    }

    pub fn ended(&self, failed: bool) {
        let mut times = self.0.lock();
        times.ended = Some(Instant::now());
        times.failed = failed;
    }

    fn times(&self) -> TickTimes {
        *self.0.lock()
    }
}

/// What readiness looks at in this process (each `None` when the process does not run it).
#[derive(Clone)]
pub struct Health {
    started: Instant,
    db: Option<Db>,
    /// The embedded blob store.
    blob_store: Option<Arc<BlobStore>>,
    ticks: Option<Arc<TickRecord>>,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found, for people: a latency, an age, or why it failed.
    pub detail: String,
}

impl Health {
    pub fn new(
        db: Option<Db>,
        blob_store: Option<Arc<BlobStore>>,
        ticks: Option<Arc<TickRecord>>,
    ) -> Self {
        Health {
            started: Instant::now(),
            db,
            blob_store,
            ticks,
        }
    }

    /// Readiness includes the engine's loop, which this process runs.
    pub fn watch_engine(&mut self, ticks: Arc<TickRecord>) {
        self.ticks = Some(ticks);
    }

    /// The database pool's connections and idle ones, when this process has a database.
    pub fn pool_use(&self) -> Option<(u32, usize)> {
        self.db
            .as_ref()
            .map(|db| (db.pool().size(), db.pool().num_idle()))
    }

    /// The embedded blob store's size, when this process has one.
    pub fn blob_store_usage(&self) -> Option<Result<StoreUsage, StoreError>> {
        self.blob_store.as_ref().map(|store| store.usage())
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every check that applies to this process; ready when all pass.
    pub async fn readiness(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        if let Some(db) = &self.db {
            checks.push(database(db).await);
        }
        if let Some(store) = &self.blob_store {
            checks.push(blob_store(store.dir().to_owned()).await);
        }
        if let Some(ticks) = &self.ticks {
            checks.push(engine(ticks.times(), Instant::now()));
        }
        checks
    }
}

async fn database(db: &Db) -> Check {
    let began = Instant::now();
    let answered =
        tokio::time::timeout(DATABASE_TIMEOUT, sqlx::query("select 1").execute(db.pool())).await;
    let (ok, detail) = match answered {
        Ok(Ok(_)) => (
            true,
            format!("answered in {} ms", began.elapsed().as_millis()),
        ),
        Ok(Err(error)) => (false, format!("unreachable: {error}")),
        Err(_) => (
            false,
            format!("no answer within {} s", DATABASE_TIMEOUT.as_secs()),
        ),
    };
    Check {
        name: "database",
        ok,
        detail,
    }
}

/// The store keeps its state in memory and its data under `dir`: it can work while the
/// directory takes a write (not full, not read-only).
async fn blob_store(dir: PathBuf) -> Check {
    let probe = dir.join(".readyz");
    let written = tokio::task::spawn_blocking(move || {
        std::fs::write(&probe, b"ok")?;
        std::fs::File::open(&probe)?.sync_all()
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|written| written);
    let (ok, detail) = match written {
        Ok(()) => (true, "open; its directory takes writes".to_owned()),
        Err(error) => (false, format!("its directory refuses writes: {error}")),
    };
    Check {
        name: "blobStore",
        ok,
        detail,
    }
}

fn engine(times: TickTimes, now: Instant) -> Check {
    let ago = |at: Instant| now.saturating_duration_since(at);
    let in_progress = match (times.started, times.ended) {
        (Some(started), Some(ended)) => started > ended,
        (Some(_), None) => true,
        _ => false,
    };
    let (ok, detail) = match times.started {
        None => (false, "its loop has not ticked yet".to_owned()),
        Some(started) if in_progress => (
            true,
            format!("a tick has been running for {} s", ago(started).as_secs()),
        ),
        Some(started) if ago(started) <= TICK_WITHIN => (
            true,
            format!(
                "last tick {} ms ago{}",
                ago(started).as_millis(),
                if times.failed { ", failed" } else { "" }
            ),
        ),
        Some(started) => (false, format!("no tick for {} s", ago(started).as_secs())),
    };
    Check {
        name: "engine",
        ok,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_is_ticking_while_a_tick_runs_or_one_started_lately() {
        let now = Instant::now();
        let at = |secs: u64| now - Duration::from_secs(secs);
        let never = TickTimes::default();
        assert!(!engine(never, now).ok);
        let recent = TickTimes {
            started: Some(at(2)),
            ended: Some(at(1)),
            failed: false,
        };
        assert!(engine(recent, now).ok);
        let long_running = TickTimes {
            started: Some(at(120)),
            ended: Some(at(121)),
            failed: false,
        };
        let check = engine(long_running, now);
        assert!(
            check.ok && check.detail.contains("running for 120 s"),
            "{check:?}"
        );
        let stalled = TickTimes {
            started: Some(at(45)),
            ended: Some(at(44)),
            failed: true,
        };
        let check = engine(stalled, now);
        assert!(
            !check.ok && check.detail.contains("no tick for 45 s"),
            "{check:?}"
        );
    }
}
