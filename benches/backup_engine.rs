//! The backup engine under a burst: N protected items (default 100,000) whose daily policy
//! is due in the same minute.
//!
//! 1. **Dispatch**: one engine tick at the due instant creates every Backup job, mints its
//!    task (status and log blobs, SAS URIs, protected settings encrypted to the VM's
//!    certificate) and publishes it in the VM's goal state. With two engines, both tick at
//!    once and share the claim.
//! 2. **Polling cost**: one collector sweep over every outstanding status blob, none of
//!    which has news: first as dispatched (empty), then after each VM wrote its
//!    transitioning status and the sweep after that judged it (so the next one is
//!    conditional). Wall time and CPU per status.
//! 3. **Collection**: every VM snapshots its disk, then the bench writes all N status blobs
//!    as the extension would; measured from the first write until no task waits for its
//!    snapshot, and until every recovery point is recorded. The engines' own run loops
//!    collect: on write announcements from the embedded store, by polling a remote one.
//!
//! With `BENCH_POWER=deallocated` every VM is deallocated before the burst: dispatch then
//! snapshots each VM's disks host-side in its transaction (no extension, no goal state)
//! and starts each transfer as its batch commits; measured until every crash-consistent
//! point is recorded.
//!
//! Run: `cargo bench --bench backup_engine` (SQLite in a temp dir). Environment:
//! `BENCH_ITEMS` (default 100000); `BENCH_DISPATCH_ONLY=1` to stop after dispatch;
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres`
//! to run on PostgreSQL (a fresh database is created and dropped);
//! `BENCH_STORAGE=remote` to serve the blob store as a blob node on 127.0.0.1 (plain HTTP)
//! and reach it only through `RemoteStorage`, without write announcements (default
//! `embedded`); `BENCH_ENGINES=2` for two engines (own instance id, database pool and
//! storage client each) on the one database.

#[path = "../tests/support/burst.rs"]
mod burst;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use sqlx::Row;
use tokio::net::TcpListener;
use tokio::sync::watch;
use vaultsim::blob::engine::{BlobStore, Conditions, ContentProperties, StoreOptions, Timestamp};
use vaultsim::blob::http::{self as blob_http, Account, BlobState};
use vaultsim::clock::{Clock, ClockSetting};
use vaultsim::control::tasks::{self, TaskState};
use vaultsim::control::{collector, sim_clock, transfer, Engine};
use vaultsim::server::Listener;
use vaultsim::storage::{ConnectionString, RemoteStorage, Storage};
use vaultsim::store::Db;
use vaultsim_protocol::extension::codes;
use vaultsim_protocol::extension::status::{SnapshotInfo, StatusEntry, StatusFacts};

use burst::{ACCOUNT, ACCOUNT_KEY};

/// Where the engines keep their blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StorageMode {
    /// The blob store in this process, called directly, announcing writes.
    Embedded,
    /// The same store served as a blob node over HTTP on loopback; the engines reach it
    /// through `RemoteStorage` only, and poll for statuses.
    Remote,
}

impl StorageMode {
    fn from_env() -> Self {
        match std::env::var("BENCH_STORAGE").as_deref() {
            Err(_) | Ok("embedded") => Self::Embedded,
            Ok("remote") => Self::Remote,
            Ok(other) => panic!("BENCH_STORAGE is embedded or remote, not {other:?}"),
        }
    }
}

/// The one blob store of the bench (the VMs write and snapshot straight into it) and the
/// account through which the engines reach it.
struct BlobNode {
    store: Arc<BlobStore>,
    clock: Clock,
    mode: StorageMode,
    /// The account's base URL: the served node's in remote mode.
    endpoint: String,
}

impl BlobNode {
    /// Opens the store; in remote mode also serves it on 127.0.0.1:0 until `shutdown`.
    async fn start(
        dir: &Path,
        clock: &Clock,
        mode: StorageMode,
        mut shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (store, _) =
            BlobStore::open(&dir.join("blob"), clock.clone(), StoreOptions::default()).unwrap();
        let store = Arc::new(store);
        let endpoint = match mode {
            StorageMode::Embedded => format!("http://127.0.0.1:10000/{ACCOUNT}"),
            StorageMode::Remote => {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let state = BlobState {
                    store: store.clone(),
                    account: Arc::new(Account {
                        name: ACCOUNT.to_owned(),
                        keys: vec![ACCOUNT_KEY.to_vec().into()],
                    }),
                    clock: clock.clone(),
                    faults: Default::default(),
                };
                tokio::spawn(blob_http::serve(
                    Listener::plain(listener),
                    blob_http::router(state),
                    async move {
                        let _ = shutdown.changed().await;
                    },
                ));
                format!("http://{addr}/{ACCOUNT}")
            }
        };
        Self {
            store,
            clock: clock.clone(),
            mode,
            endpoint,
        }
    }

    /// A storage client of one engine: its own, as each replica has.
    fn storage(&self) -> Storage {
        match self.mode {
            StorageMode::Embedded => {
                burst::embedded_storage(self.store.clone(), &self.clock, &self.endpoint)
            }
            StorageMode::Remote => {
                let key = base64::engine::general_purpose::STANDARD.encode(ACCOUNT_KEY);
                let connection = ConnectionString::parse(&format!(
                    "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={}",
                    self.endpoint
                ))
                .unwrap();
                Arc::new(RemoteStorage::connect(&connection, None, None).unwrap())
            }
        }
    }
}

fn main() {
    let items: usize = env_number("BENCH_ITEMS").unwrap_or(100_000);
    let engines = env_number("BENCH_ENGINES").unwrap_or(1);
    assert!(engines >= 1, "BENCH_ENGINES is at least 1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(items, StorageMode::from_env(), engines));
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} is a number, not {v:?}"))
    })
}

async fn run(items: usize, mode: StorageMode, engine_count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let server_url = std::env::var("BENCH_DATABASE_URL").ok();
    let database = match &server_url {
        Some(url) => Some(create_database(url).await),
        None => None,
    };
    let backend = if database.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let label = format!("{backend}, {mode:?} storage, {engine_count} engine(s)");
    let db = Db::connect(database.as_deref(), dir.path()).await.unwrap();
    db.migrate().await.unwrap();
    let start: DateTime<Utc> = "2026-03-01T01:00:00Z".parse().unwrap();
    let due: DateTime<Utc> = "2026-03-01T02:00:00Z".parse().unwrap();
    let clock = Clock::new(ClockSetting::Pinned(start));
    let (stop, stopped) = watch::channel(false);
    let node = BlobNode::start(dir.path(), &clock, mode, stopped.clone()).await;
    let mut engines = Vec::with_capacity(engine_count);
    for n in 0..engine_count {
        // Each engine its own pool, as a replica has.
        let engine_db = if n == 0 {
            db.clone()
        } else {
            Db::connect(database.as_deref(), dir.path()).await.unwrap()
        };
        engines.push(burst::engine(
            engine_db,
            node.storage(),
            &clock,
            &format!("bench-{n}"),
        ));
    }

    let seeding = Instant::now();
    burst::seed(&db, &clock, dir.path(), &node.store, items, due).await;
    // Statistics as a running service has them: autovacuum analyzes a table after a bulk
    // load, and without it PostgreSQL plans for the empty tables it last saw.
    sqlx::query("analyze").execute(db.pool()).await.unwrap();
    println!(
        "{label}: seeded {items} VMs and protected items in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let deallocated = match std::env::var("BENCH_POWER").as_deref() {
        Err(_) | Ok("running") => false,
        Ok("deallocated") => true,
        Ok(other) => panic!("BENCH_POWER is running or deallocated, not {other:?}"),
    };
    if deallocated {
        sqlx::query("update virtual_machine set power_state = 'deallocated'")
            .execute(db.pool())
            .await
            .unwrap();
    }

    // 1. Dispatch. The clock is stored too: every tick follows the stored setting.
    clock.set(ClockSetting::Pinned(due));
    sim_clock::save(&db, &clock).await.unwrap();
    let rss_before = peak_rss_mib();
    let dispatching = Instant::now();
    // Each engine's tick is a task of its own, as in a process of its own.
    let ticks = engines.iter().map(|engine| {
        let engine = engine.clone();
        tokio::spawn(async move { engine.tick().await.unwrap() })
    });
    let started: Vec<u64> = join_all(ticks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let dispatch = dispatching.elapsed();
    let total: u64 = started.iter().sum();
    assert_eq!(total, items as u64, "every due run starts one job");
    println!(
        "{label}: dispatch: {total} jobs created and dispatched in {:.2} s ({:.0} jobs/s; per engine {started:?}); peak RSS {} MiB (before {} MiB)",
        dispatch.as_secs_f64(),
        total as f64 / dispatch.as_secs_f64(),
        peak_rss_mib(),
        rss_before,
    );
    if std::env::var_os("BENCH_DISPATCH_ONLY").is_some() {
        drop_created(server_url, database, engines, db).await;
        return;
    }
    if deallocated {
        record_host_side_points(&label, &db, &engines, &stopped, items, dispatching).await;
        let _ = stop.send(true);
        drop_created(server_url, database, engines, db).await;
        return;
    }

    // 2. What one poll of every outstanding status costs when none has news.
    let primary = &engines[0];
    let outstanding = task_blobs(&db).await;
    let cost = timed_sweep(primary).await;
    println!(
        "{label}: poll: one sweep over {items} status blobs as dispatched (empty): {}",
        cost.per_status(items)
    );
    write_statuses(
        &node.store,
        outstanding
            .iter()
            .map(|task| task.status_write(status_bytes(&task.task_id, codes::TRANSITIONING, None))),
    );
    let cost = timed_sweep(primary).await;
    println!(
        "{label}: poll: one sweep judging {items} new transitioning statuses: {}",
        cost.per_status(items)
    );
    let cost = timed_sweep(primary).await;
    println!(
        "{label}: poll: one sweep over {items} unchanged transitioning statuses (conditional): {}",
        cost.per_status(items)
    );
    assert_eq!(
        tasks::count_in_state(&db, TaskState::AwaitingSnapshot)
            .await
            .unwrap(),
        items as i64,
        "no status had news"
    );

    // 3. Collection: every VM has taken its snapshot; then all statuses are written, and
    // the engines' run loops collect them.
    let running: Vec<_> = engines
        .iter()
        .map(|engine| tokio::spawn(engine.clone().run(stopped.clone())))
        .collect();
    let snapshots: Vec<_> = outstanding
        .iter()
        .map(|task| task.take_snapshot(&node.store))
        .collect();
    // Each status is built as it is written: held all at once, their bytes (200 MB for
    // 100,000) would count in the peak RSS measured for the engine.
    let collecting = Instant::now();
    write_statuses(
        &node.store,
        outstanding.iter().zip(&snapshots).map(|(task, snapshot)| {
            task.status_write(task.success_status(*snapshot, &node.endpoint))
        }),
    );
    let written = collecting.elapsed();
    wait_until(&db, TaskState::AwaitingSnapshot).await;
    let collected = collecting.elapsed();
    wait_until(&db, TaskState::Transferring).await;
    let recorded = collecting.elapsed();
    let completed = tasks::count_in_state(&db, TaskState::Completed)
        .await
        .unwrap();
    assert_eq!(
        completed, items as i64,
        "every task ends with a recovery point"
    );
    let recovery_points: i64 = sqlx::query_scalar("select count(*) from recovery_point")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(recovery_points, items as i64, "one recovery point per task");
    println!(
        "{label}: collection: {items} status blobs written in {:.2} s, all collected after {:.2} s ({:.0} statuses/s), all recovery points recorded after {:.2} s ({:.0}/s); peak RSS {} MiB",
        written.as_secs_f64(),
        collected.as_secs_f64(),
        items as f64 / collected.as_secs_f64(),
        recorded.as_secs_f64(),
        items as f64 / recorded.as_secs_f64(),
        peak_rss_mib(),
    );
    let _ = stop.send(true);
    for running in running {
        let _ = running.await;
    }
    drop_created(server_url, database, engines, db).await;
}

/// Drops the PostgreSQL database the run created, once the engines and pool let go of it.
async fn drop_created(
    server_url: Option<String>,
    database: Option<String>,
    engines: Vec<Engine>,
    db: Db,
) {
    if let (Some(url), Some(database)) = (server_url, database) {
        drop(engines);
        drop(db);
        drop_database(&url, &database).await;
    }
}

/// With every VM deallocated, the dispatch left each task `Transferring` with its
/// host-side snapshot, its transfer started as its batch committed.
async fn record_host_side_points(
    label: &str,
    db: &Db,
    engines: &[Engine],
    stopped: &watch::Receiver<bool>,
    items: usize,
    dispatching: Instant,
) {
    assert_eq!(
        tasks::count_in_state(db, TaskState::AwaitingSnapshot)
            .await
            .unwrap(),
        0,
        "no task waits for an extension"
    );
    let recording = Instant::now();
    for engine in engines {
        tokio::spawn(engine.clone().run(stopped.clone()));
    }
    wait_until(db, TaskState::Transferring).await;
    let points: i64 = sqlx::query_scalar(
        "select count(*) from recovery_point where recovery_point_type = 'CrashConsistent'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(points, items as i64, "one crash-consistent point per task");
    println!(
        "{label}: deallocated VMs: all {items} crash-consistent points recorded {:.2} s after \
         dispatch ({:.0}/s), {:.2} s after the burst's start; peak RSS {} MiB",
        recording.elapsed().as_secs_f64(),
        items as f64 / recording.elapsed().as_secs_f64(),
        dispatching.elapsed().as_secs_f64(),
        peak_rss_mib(),
    );
}

/// What one sweep took: wall time, this process's CPU (engine and blob node alike) and
/// PostgreSQL's.
struct SweepCost {
    wall: Duration,
    process_cpu: Duration,
    postgres_cpu: Duration,
}

impl SweepCost {
    fn per_status(&self, items: usize) -> String {
        let micros = |d: Duration| d.as_secs_f64() * 1e6 / items as f64;
        format!(
            "{:.2} s; per status {:.0} µs wall, {:.0} µs CPU in this process, {:.0} µs CPU in PostgreSQL",
            self.wall.as_secs_f64(),
            micros(self.wall),
            micros(self.process_cpu),
            micros(self.postgres_cpu),
        )
    }
}

/// One collector sweep over every task waiting for its snapshot, as the poll makes.
async fn timed_sweep(engine: &Engine) -> SweepCost {
    let (process, postgres) = (process_cpu(), postgres_cpu());
    let started = Instant::now();
    collector::sweep(engine, transfer::spawn).await.unwrap();
    SweepCost {
        wall: started.elapsed(),
        process_cpu: process_cpu() - process,
        postgres_cpu: postgres_cpu().saturating_sub(postgres),
    }
}

/// A dispatched task's status blob and its VM's disk.
struct TaskBlobs {
    task_id: String,
    status_container: String,
    status_blob: String,
    disk_container: String,
    disk_blob: String,
}

/// A status blob to write: (container, blob, bytes).
type StatusWrite = (String, String, Vec<u8>);

impl TaskBlobs {
    fn status_write(&self, bytes: Vec<u8>) -> StatusWrite {
        (
            self.status_container.clone(),
            self.status_blob.clone(),
            bytes,
        )
    }

    /// Takes the disk's snapshot, as the extension does before it reports.
    fn take_snapshot(&self, store: &BlobStore) -> Timestamp {
        let (snapshot, _) = store
            .snapshot(
                &self.disk_container,
                &self.disk_blob,
                None,
                &Conditions::default(),
            )
            .unwrap();
        snapshot
    }

    /// The success status the extension writes after taking `snapshot`.
    fn success_status(&self, snapshot: Timestamp, endpoint: &str) -> Vec<u8> {
        let blob_uri = format!("{endpoint}/{}/{}", self.disk_container, self.disk_blob);
        status_bytes(
            &self.task_id,
            codes::SUCCESS,
            Some(vec![SnapshotInfo {
                is_successful: true,
                snapshot_uri: Some(format!("{blob_uri}?snapshot={}", snapshot.to_snapshot_id())),
                error_message: None,
                blob_uri: Some(blob_uri),
                direct_drive_snapshot_identifier: None,
            }]),
        )
    }
}

/// Every dispatched task's blobs.
async fn task_blobs(db: &Db) -> Vec<TaskBlobs> {
    let rows = sqlx::query(
        "select t.task_id, t.status_container, t.status_blob, d.blob_container, d.blob_name \
         from backup_task t join vm_disk d on d.vm_id = t.vm_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|row| TaskBlobs {
            task_id: row.get("task_id"),
            status_container: row.get("status_container"),
            status_blob: row.get("status_blob"),
            disk_container: row.get("blob_container"),
            disk_blob: row.get("blob_name"),
        })
        .collect()
}

/// A status blob's bytes as the extension writes them.
fn status_bytes(task_id: &str, code: u32, snapshots: Option<Vec<SnapshotInfo>>) -> Vec<u8> {
    StatusEntry::new(StatusFacts {
        handler_name: "Microsoft.Azure.RecoveryServices.VMSnapshotLinux".to_owned(),
        task_id: task_id.to_owned(),
        command_start_time_utc_ticks: "639078552000000000".to_owned(),
        code,
        health_status_code: code,
        message: String::new(),
        crash_consistent: false,
        snapshots,
        unique_machine_id: "bench".to_owned(),
        timestamp: Utc::now(),
    })
    .to_blob_bytes()
}

/// Writes status blobs straight into the store, as the VMs' extensions would.
fn write_statuses(store: &BlobStore, statuses: impl Iterator<Item = StatusWrite>) {
    for (container, blob, body) in statuses {
        let mut upload = store.begin_upload(body.len() as u64);
        upload.write(&body).unwrap();
        store
            .put_block_blob(
                &container,
                &blob,
                upload,
                ContentProperties::default(),
                Vec::new(),
                &Conditions::default(),
            )
            .unwrap();
    }
}

/// Waits until no task is in `state`.
async fn wait_until(db: &Db, state: TaskState) {
    loop {
        if !tasks::any_in_state(db, state).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Linux reports process CPU in clock ticks of 1/100 s (`USER_HZ`).
const TICK: Duration = Duration::from_millis(10);

/// User plus system CPU of the process whose `/proc/<pid>/stat` is `stat`.
fn cpu_of(stat: &str) -> Option<Duration> {
    // Fields after the command name, which may hold spaces: state is the first, utime
    // the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u32 = fields.get(11)?.parse::<u32>().ok()? + fields.get(12)?.parse::<u32>().ok()?;
    Some(TICK * ticks)
}

/// This process's CPU so far (every thread: engines, blob node, bench).
fn process_cpu() -> Duration {
    cpu_of(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap()
}

/// The CPU of every PostgreSQL process on this host so far (zero without any): the
/// database's side of a sweep, when nothing else uses it meanwhile.
fn postgres_cpu() -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| cpu_of(&stat))
        .sum()
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

async fn create_database(server_url: &str) -> String {
    sqlx::any::install_default_drivers();
    let name = format!("vaultsim_bench_{}", std::process::id());
    let admin = sqlx::AnyPool::connect(server_url).await.unwrap();
    sqlx::query(&format!("create database {name}"))
        .execute(&admin)
        .await
        .unwrap();
    format!("{}/{name}", server_url.rsplit_once('/').unwrap().0)
}

async fn drop_database(server_url: &str, database_url: &str) {
    let name = database_url.rsplit_once('/').unwrap().1;
    let admin = sqlx::AnyPool::connect(server_url).await.unwrap();
    sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&admin)
        .await
        .unwrap();
}
