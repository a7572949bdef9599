//! The engine's cost per job stays flat as a burst grows: dispatching 20,000 due items costs
//! at most 1.5 times per job what 2,000 cost, so a statement that scans what earlier jobs
//! left, or a structure that grows per item, fails the build. The same burst as
//! `benches/backup_engine.rs`, kept small enough for CI; the bench measures 100,000.
//!
//! It runs alone (`.config/nextest.toml`): another test sharing the two cores would skew
//! one size's time and not the other's.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use vaultsim::blob::engine::{BlobStore, StoreOptions};
use vaultsim::clock::{Clock, ClockSetting};
use vaultsim::control::{sim_clock, Engine};
use vaultsim::store::Db;

use crate::burst;

const SMALL: usize = 2_000;
const LARGE: usize = 20_000;
/// How much more a job may cost in the large burst than in the small one.
const MAX_GROWTH: f64 = 1.5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_cost_per_job_is_flat_from_2000_to_20000_items() {
    // The small burst is timed three times and the median kept: at 2,000 jobs one stall of
    // a few hundred milliseconds, or one run quicker than the rest (the cheapest of two
    // ranged 1.28-1.93 ms per job in a debug build), would otherwise decide the comparison.
    let mut small = [
        per_job(SMALL).await,
        per_job(SMALL).await,
        per_job(SMALL).await,
    ];
    small.sort();
    let small = small[1];
    let large = per_job(LARGE).await;
    let growth = large.as_secs_f64() / small.as_secs_f64();
    println!("dispatch per job: {SMALL} items {small:?}, {LARGE} items {large:?} ({growth:.2}x)");
    assert!(
        growth <= MAX_GROWTH,
        "a job of a {LARGE}-item burst cost {large:?}, {growth:.2} times one of a {SMALL}-item \
         burst ({small:?}): dispatch grows faster than the burst"
    );
}

/// Seeds `items` protected items due at once on a fresh SQLite database and embedded store
/// (the default a user runs), then times the one engine tick that dispatches them all.
async fn per_job(items: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path()).await.unwrap();
    db.migrate().await.unwrap();
    let (engine, clock) = seeded_burst(&db, dir.path(), items, "scaling").await;
    let dispatching = std::time::Instant::now();
    let started = dispatch_due(&engine, &db, &clock).await;
    let elapsed = dispatching.elapsed();
    assert_eq!(started, items as u64, "every due run starts one job");
    elapsed / items as u32
}

/// The instant every seeded item is due.
pub(super) const DUE: &str = "2026-03-01T02:00:00Z";

/// An engine over `items` protected items seeded on `db` (blobs under `dir`) and all due at
/// [`DUE`], with the clock an hour before; the planner's statistics are taken after the
/// seeding, as autovacuum would after a bulk load.
pub(super) async fn seeded_burst(
    db: &Db,
    dir: &Path,
    items: usize,
    instance_id: &str,
) -> (Engine, Clock) {
    let due: DateTime<Utc> = DUE.parse().unwrap();
    let clock = Clock::new(ClockSetting::Pinned(due - chrono::Duration::hours(1)));
    let (store, _) =
        BlobStore::open(&dir.join("blob"), clock.clone(), StoreOptions::default()).unwrap();
    let store = std::sync::Arc::new(store);
    let storage = burst::embedded_storage(
        store.clone(),
        &clock,
        &format!("http://127.0.0.1:10000/{}", burst::ACCOUNT),
    );
    let engine = burst::engine(db.clone(), storage, &clock, instance_id);
    burst::seed(db, &clock, dir, &store, items, due).await;
    sqlx::query("analyze").execute(db.pool()).await.unwrap();
    (engine, clock)
}

/// Moves the clock to [`DUE`] and runs the one engine tick that dispatches the burst,
/// answering how many jobs it started.
pub(super) async fn dispatch_due(engine: &Engine, db: &Db, clock: &Clock) -> u64 {
    clock.set(ClockSetting::Pinned(DUE.parse().unwrap()));
    sim_clock::save(db, clock).await.unwrap();
    engine.tick().await.unwrap()
}
