//! The backup engine under a burst: N protected items (default 100,000) whose daily policy
//! is due in the same minute.
//!
//! 1. **Dispatch**: one engine tick at the due instant creates every Backup job, mints its
//!    task (status and log blobs, SAS URIs, protected settings encrypted to the VM's
//!    certificate) and publishes it in the VM's goal state.
//! 2. **Collection**: every VM snapshots its disk, then the bench writes all N status blobs
//!    as the extension would; measured from the first write until no task waits for its
//!    snapshot (the in-process write event drives collection), and until every recovery
//!    point is recorded.
//!
//! Run: `cargo bench --bench backup_engine` (SQLite in a temp dir). Environment:
//! `BENCH_ITEMS` (default 100000); `BENCH_DISPATCH_ONLY=1` to stop after dispatch;
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres`
//! to run on PostgreSQL (a fresh database is created and dropped).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;
use vaultsim::auth::Auth;
use vaultsim::blob::engine::{BlobStore, Conditions, ContentProperties, NewPageBlob, StoreOptions};
use vaultsim::clock::{Clock, ClockSetting};
use vaultsim::control::engine::DEFAULT_SNAPSHOT_TIMEOUT;
use vaultsim::control::tasks::{self, TaskState};
use vaultsim::control::{Engine, EngineConfig};
use vaultsim::guest::GoalStateNotifier;
use vaultsim::resources::groups::{self, PutGroup};
use vaultsim::resources::policy::{self, IaasVmPolicy};
use vaultsim::resources::protection::names::VmName;
use vaultsim::resources::vaults::{self, VaultSpec};
use vaultsim::storage::{AccountAccess, EmbeddedStorage, StorageAccounts};
use vaultsim::store::{to_micros, Db};
use vaultsim_protocol::credentials::{self, ClientCredentials};
use vaultsim_protocol::extension::status::{SnapshotInfo, StatusEntry, StatusFacts};

const GROUP: &str = "bench";
const ROWS_PER_STATEMENT: usize = 50;
const DISK_BYTES: u64 = 1 << 30;

fn main() {
    let items: usize = std::env::var("BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(items));
}

async fn run(items: usize) {
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
    let db = Db::connect(database.as_deref(), dir.path()).await.unwrap();
    db.migrate().await.unwrap();
    let start: DateTime<Utc> = "2026-03-01T01:00:00Z".parse().unwrap();
    let due: DateTime<Utc> = "2026-03-01T02:00:00Z".parse().unwrap();
    let clock = Clock::new(ClockSetting::Pinned(start));
    let (store, _) = BlobStore::open(
        &dir.path().join("blob"),
        clock.clone(),
        StoreOptions::default(),
    )
    .unwrap();
    let store = Arc::new(store);
    let account = AccountAccess {
        name: "devstoreaccount1".to_owned(),
        endpoint: "http://127.0.0.1:10000/devstoreaccount1".to_owned(),
        key: vec![7; 64].into(),
    };
    let storage = EmbeddedStorage::new(store.clone(), clock.clone(), account);
    let engine = Engine::new(
        db.clone(),
        Arc::new(StorageAccounts::single(Arc::new(storage))),
        clock.clone(),
        GoalStateNotifier::default(),
        EngineConfig {
            instance_id: "bench".to_owned(),
            snapshot_timeout: DEFAULT_SNAPSHOT_TIMEOUT,
        },
    );

    let seeding = Instant::now();
    let vault_id = seed(&db, &clock, dir.path(), &store, items, due).await;
    // Statistics as a running service has them: autovacuum analyzes a table after a bulk
    // load, and without it PostgreSQL plans for the empty tables it last saw.
    sqlx::query("analyze").execute(db.pool()).await.unwrap();
    println!(
        "{backend}: seeded {items} VMs and protected items in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    // 1. Dispatch.
    clock.set(ClockSetting::Pinned(due));
    let rss_before = peak_rss_mib();
    let dispatching = Instant::now();
    let started = engine.tick().await.unwrap();
    let dispatch = dispatching.elapsed();
    assert_eq!(started, items as u64, "every due run starts one job");
    println!(
        "{backend}: dispatch: {started} jobs created and dispatched in {:.2} s ({:.0} jobs/s); peak RSS {} MiB (before {} MiB)",
        dispatch.as_secs_f64(),
        started as f64 / dispatch.as_secs_f64(),
        peak_rss_mib(),
        rss_before,
    );

    if std::env::var_os("BENCH_DISPATCH_ONLY").is_some() {
        return;
    }
    // 2. Collection: every VM has taken its snapshot; then all statuses are written.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(engine.clone().run(stopped));
    let statuses = snapshot_and_build_statuses(&db, &store).await;
    let collecting = Instant::now();
    for (container, blob, body) in &statuses {
        let mut upload = store.begin_upload(body.len() as u64);
        upload.write(body).unwrap();
        store
            .put_block_blob(
                container,
                blob,
                upload,
                ContentProperties::default(),
                Vec::new(),
                &Conditions::default(),
            )
            .unwrap();
    }
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
    println!(
        "{backend}: collection: {items} status blobs written in {:.2} s, all collected after {:.2} s ({:.0} statuses/s), all recovery points recorded after {:.2} s ({:.0}/s); peak RSS {} MiB",
        written.as_secs_f64(),
        collected.as_secs_f64(),
        items as f64 / collected.as_secs_f64(),
        recorded.as_secs_f64(),
        items as f64 / recorded.as_secs_f64(),
        peak_rss_mib(),
    );
    let _ = stop.send(true);
    let _ = running.await;
    let _ = vault_id;
    if let (Some(url), Some(database)) = (server_url, database) {
        drop(db);
        drop_database(&url, &database).await;
    }
}

/// A tenant, group, vault and daily 02:00 policy through the domain functions; then VMs,
/// disks (page blobs), agents and protected items in bulk SQL, all due at `due`.
async fn seed(
    db: &Db,
    clock: &Clock,
    dir: &Path,
    store: &BlobStore,
    items: usize,
    due: DateTime<Utc>,
) -> String {
    Auth::open(dir, db, clock, true).await.unwrap();
    let credentials: ClientCredentials =
        serde_json::from_slice(&std::fs::read(dir.join(credentials::FILE_NAME)).unwrap()).unwrap();
    let subscription = credentials.subscription_id;
    groups::put_group(
        db,
        clock,
        PutGroup {
            subscription: subscription.clone(),
            name: GROUP.to_owned(),
            location: Some("eastus".to_owned()),
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    let (vault, _) = vaults::put(
        db,
        clock.now(),
        &subscription,
        GROUP,
        "vault",
        VaultSpec {
            location: Some("eastus".to_owned()),
            sku_name: None,
            tags: Default::default(),
            properties: Default::default(),
        },
    )
    .await
    .unwrap();
    let daily = IaasVmPolicy::from_properties(&json!({
        "backupManagementType": "AzureIaasVM",
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicy",
            "scheduleRunFrequency": "Daily",
            "scheduleRunTimes": ["2026-01-01T02:00:00Z"],
            "scheduleWeeklyFrequency": 0
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "dailySchedule": {
                "retentionTimes": ["2026-01-01T02:00:00Z"],
                "retentionDuration": {"count": 7, "durationType": "Days"}
            }
        },
        "instantRpRetentionRangeInDays": 2,
        "timeZone": "UTC"
    }))
    .unwrap();
    policy::put(db, &vault.record, "daily", daily, clock.now())
        .await
        .unwrap();
    let certificate = certificate(dir);
    let vault_id = vault.record.vault_id.clone();
    let now = to_micros(clock.now());
    for chunk in (0..items).collect::<Vec<_>>().chunks(ROWS_PER_STATEMENT) {
        let vms: Vec<(String, String)> = chunk
            .iter()
            .map(|n| (uuid::Uuid::new_v4().to_string(), format!("vm{n}")))
            .collect();
        let mut tx = db.begin_write().await.unwrap();
        bulk_insert(
            &mut tx,
            "virtual_machine (vm_id, subscription_id, resource_group_key, name_key, name, \
             location, os_type, vm_size, tags, origin, created_at)",
            11,
            &vms,
            |(id, name)| {
                vec![
                    id.clone(),
                    subscription.clone(),
                    GROUP.to_owned(),
                    name.clone(),
                    name.clone(),
                    "eastus".to_owned(),
                    "Linux".to_owned(),
                    "Standard_D2s_v3".to_owned(),
                    "{}".to_owned(),
                    "guest".to_owned(),
                    now.to_string(),
                ]
            },
            &[10],
        )
        .await;
        bulk_insert(
            &mut tx,
            "vm_disk (vm_id, lun, name, size_bytes, blob_container, blob_name)",
            6,
            &vms,
            |(id, name)| {
                vec![
                    id.clone(),
                    "-1".to_owned(),
                    format!("{name}-os"),
                    DISK_BYTES.to_string(),
                    disk_container(id),
                    "osdisk.vhd".to_owned(),
                ]
            },
            &[1, 3],
        )
        .await;
        bulk_insert(
            &mut tx,
            "vm_guest (vm_id, credential_sha256, certificate_pem, certificate_thumbprint, \
             registered_at, last_seen_at)",
            6,
            &vms,
            |(id, _)| {
                vec![
                    id.clone(),
                    "0".repeat(64),
                    certificate.clone(),
                    "0".repeat(40),
                    now.to_string(),
                    now.to_string(),
                ]
            },
            &[4, 5],
        )
        .await;
        bulk_insert(
            &mut tx,
            "protected_item (vault_id, item_key, vm_id, vm_name, vm_resource_group, \
             source_resource_id, policy_key, protection_state, health_status, \
             last_backup_status, protected_item_data_id, extended_properties, created_at, \
             next_backup_at)",
            14,
            &vms,
            |(id, name)| {
                vec![
                    vault_id.clone(),
                    VmName::new(GROUP, name.as_str()).item_key(),
                    id.clone(),
                    name.clone(),
                    GROUP.to_owned(),
                    format!(
                        "/subscriptions/{subscription}/resourceGroups/{GROUP}/providers/Microsoft.Compute/virtualMachines/{name}"
                    ),
                    "daily".to_owned(),
                    "IRPending".to_owned(),
                    "Passed".to_owned(),
                    String::new(),
                    "1".to_owned(),
                    "{}".to_owned(),
                    now.to_string(),
                    to_micros(due).to_string(),
                ]
            },
            &[10, 12, 13],
        )
        .await;
        tx.commit().await.unwrap();
        for (id, _) in &vms {
            let container = disk_container(id);
            store
                .create_container(&container, Vec::new(), None)
                .unwrap();
            store
                .create_page_blob(
                    &container,
                    "osdisk.vhd",
                    NewPageBlob {
                        size: DISK_BYTES,
                        sequence_number: 0,
                        content: ContentProperties::default(),
                        metadata: Vec::new(),
                    },
                    &Conditions::default(),
                )
                .unwrap();
        }
    }
    vault_id
}

/// Inserts one row per item, `ROWS_PER_STATEMENT` per statement; the columns at `numeric`
/// positions bind as integers.
async fn bulk_insert<T>(
    tx: &mut sqlx::AnyConnection,
    table: &str,
    columns: usize,
    rows: &[T],
    values: impl Fn(&T) -> Vec<String>,
    numeric: &[usize],
) {
    let placeholders: Vec<String> = (0..rows.len())
        .map(|r| {
            let cells: Vec<String> = (0..columns)
                .map(|c| format!("${}", r * columns + c + 1))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    let sql = format!("insert into {table} values {}", placeholders.join(", "));
    let mut query = sqlx::query(&sql);
    for row in rows {
        for (c, value) in values(row).into_iter().enumerate() {
            query = if numeric.contains(&c) {
                query.bind(value.parse::<i64>().unwrap())
            } else {
                query.bind(value)
            };
        }
    }
    query.execute(&mut *tx).await.unwrap();
}

fn disk_container(vm_id: &str) -> String {
    format!("vm-{}", vm_id.replace('-', ""))
}

/// A self-signed certificate the agents "hold" (the openssl command line, as a VM would).
fn certificate(dir: &Path) -> String {
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=bench-vm",
        ])
        .args(["-days", "2", "-keyout"])
        .arg(dir.join("vm.key"))
        .arg("-out")
        .arg(dir.join("vm.crt"))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    std::fs::read_to_string(dir.join("vm.crt")).unwrap()
}

/// Takes each task's disk snapshot and builds the success status the extension would
/// write: (status container, status blob, bytes).
async fn snapshot_and_build_statuses(db: &Db, store: &BlobStore) -> Vec<(String, String, Vec<u8>)> {
    let rows = sqlx::query(
        "select t.task_id, t.status_container, t.status_blob, d.blob_container, d.blob_name \
         from backup_task t join vm_disk d on d.vm_id = t.vm_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            let task_id: String = row.get("task_id");
            let container: String = row.get("blob_container");
            let blob: String = row.get("blob_name");
            let (snapshot, _) = store
                .snapshot(&container, &blob, None, &Conditions::default())
                .unwrap();
            let blob_uri = format!("http://127.0.0.1:10000/devstoreaccount1/{container}/{blob}");
            let status = StatusEntry::new(StatusFacts {
                handler_name: "Microsoft.Azure.RecoveryServices.VMSnapshotLinux".to_owned(),
                task_id,
                command_start_time_utc_ticks: "639078552000000000".to_owned(),
                code: 1,
                health_status_code: 1,
                message: String::new(),
                crash_consistent: false,
                snapshots: Some(vec![SnapshotInfo {
                    is_successful: true,
                    snapshot_uri: Some(format!(
                        "{blob_uri}?snapshot={}",
                        snapshot.to_snapshot_id()
                    )),
                    error_message: None,
                    blob_uri: Some(blob_uri),
                    direct_drive_snapshot_identifier: None,
                }]),
                unique_machine_id: "bench".to_owned(),
                timestamp: Utc::now(),
            });
            (
                row.get("status_container"),
                row.get("status_blob"),
                status.to_blob_bytes(),
            )
        })
        .collect()
}

/// Waits until no task is in `state`.
async fn wait_until(db: &Db, state: TaskState) {
    loop {
        if tasks::count_in_state(db, state).await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
