//! A burst of protected items due at once, seeded for the backup engine's bench
//! (`benches/backup_engine.rs`) and its scaling guard (`tests/it/backup/scaling.rs`):
//! tenant, group, vault and daily policy through the domain functions, then N VMs with one
//! 1 GiB OS disk (a page blob in the embedded store), a registered agent and a protected
//! item each, in bulk SQL, all due at the same instant.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use vaultsim::auth::Auth;
use vaultsim::blob::engine::{BlobStore, Conditions, ContentProperties, NewPageBlob};
use vaultsim::clock::Clock;
use vaultsim::control::engine::DEFAULT_SNAPSHOT_TIMEOUT;
use vaultsim::control::{Engine, EngineConfig};
use vaultsim::guest::GoalStateNotifier;
use vaultsim::resources::compute::container_name;
use vaultsim::resources::groups::{self, PutGroup};
use vaultsim::resources::policy::{self, IaasVmPolicy};
use vaultsim::resources::protection::names::VmName;
use vaultsim::resources::vaults::{self, VaultSpec};
use vaultsim::storage::{AccountAccess, EmbeddedStorage, Storage, StorageAccounts};
use vaultsim::store::{to_micros, Db};
use vaultsim_protocol::credentials::{self, ClientCredentials};

pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: [u8; 64] = [7; 64];
const GROUP: &str = "bench";
const ROWS_PER_STATEMENT: usize = 50;
const DISK_BYTES: u64 = 1 << 30;

/// The account of the burst's blob store, reached in this process.
pub fn embedded_storage(store: Arc<BlobStore>, clock: &Clock, endpoint: &str) -> Storage {
    Arc::new(EmbeddedStorage::new(
        store,
        clock.clone(),
        AccountAccess {
            name: ACCOUNT.to_owned(),
            endpoint: endpoint.to_owned(),
            key: ACCOUNT_KEY.to_vec().into(),
        },
    ))
}

/// One engine, as a replica runs it, keeping its blobs in `storage`.
pub fn engine(db: Db, storage: Storage, clock: &Clock, instance_id: &str) -> Engine {
    Engine::new(
        db,
        Arc::new(StorageAccounts::single(storage)),
        clock.clone(),
        GoalStateNotifier::default(),
        EngineConfig {
            instance_id: instance_id.to_owned(),
            snapshot_timeout: DEFAULT_SNAPSHOT_TIMEOUT,
            snapshot_method: Default::default(),
        },
    )
}

/// The properties of a standard policy: daily at 02:00 in `time_zone`, points kept 7 days,
/// instant snapshots 2 days. The burst's items follow it, and so do the backup tests'.
pub fn daily_policy(time_zone: &str) -> serde_json::Value {
    json!({
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
        "timeZone": time_zone
    })
}

/// A tenant, group, vault and daily 02:00 policy through the domain functions; then VMs,
/// disks (page blobs), agents and protected items in bulk SQL, all due at `due`.
pub async fn seed(
    db: &Db,
    clock: &Clock,
    dir: &Path,
    store: &BlobStore,
    items: usize,
    due: DateTime<Utc>,
) {
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
    let daily = IaasVmPolicy::from_properties(&daily_policy("UTC")).unwrap();
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
                    container_name(id),
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
            let container = container_name(id);
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

/// A self-signed certificate the agents "hold" (the openssl command line, as a VM would).
pub fn certificate(dir: &Path) -> String {
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
