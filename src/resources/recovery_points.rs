//! Recovery points of a protected item: one per successful backup, named by a numeric
//! string, with the tiers the data lives in (InstantRP snapshots, HardenedRP in the vault).
//! The backup engine records them with [`record`] inside its own transaction; clients list
//! and read them.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::ResourceError;
use crate::store::{from_micros, json_column, to_micros, value_rows, Backend, Db};

/// Where a recovery point's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
pub enum TierType {
    InstantRP,
    HardenedRP,
    ArchivedRP,
}

impl TierType {
    /// The wire name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
pub enum TierStatus {
    Valid,
    Disabled,
    Deleted,
    Rehydrated,
}

impl TierStatus {
    /// The wire name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub tier_type: TierType,
    pub status: TierStatus,
}

/// What a recovery point says about the VM it was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPointDetails {
    /// `Windows` or `Linux`.
    pub os_type: String,
    pub virtual_machine_size: String,
    /// `NormalStorage` or `PremiumVMOnPartialPremiumStorage`.
    pub source_vm_storage_type: String,
    pub is_managed_virtual_machine: bool,
    pub is_source_vm_encrypted: bool,
    pub original_storage_account_option: bool,
    pub zones: Vec<String>,
}

/// A recovery point to record.
#[derive(Debug, Clone)]
pub struct NewRecoveryPoint {
    pub vault_id: String,
    pub item_key: String,
    /// The snapshot time.
    pub time: DateTime<Utc>,
    /// `AppConsistent`, `FileSystemConsistent`, `CrashConsistent`...
    pub recovery_point_type: String,
    pub tiers: Vec<Tier>,
    pub details: RecoveryPointDetails,
    /// Where the backup engine keeps the point's data, and when it expires.
    pub storage: Option<RecoveryPointStorage>,
}

/// What the backup engine needs of a recovery point it made: the task that made it (a
/// point is recorded once per task), when it and its instant snapshots expire, and per
/// disk where the data lives (JSON the engine owns).
#[derive(Debug, Clone)]
pub struct RecoveryPointStorage {
    pub task_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub instant_expires_at: Option<DateTime<Utc>>,
    pub disks: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryPoint {
    /// A numeric string, e.g. `82205145611446`.
    pub name: String,
    pub time: DateTime<Utc>,
    pub recovery_point_type: String,
    pub tiers: Vec<Tier>,
    pub details: RecoveryPointDetails,
}

/// Records a recovery point of a protected item and answers its name. The item's
/// `lastRecoveryPoint` moves to it when it is the newest. 404 when the item does not exist.
pub async fn record(
    tx: &mut AnyConnection,
    point: NewRecoveryPoint,
) -> Result<String, ResourceError> {
    let mut names = record_many(tx, vec![point]).await?;
    Ok(names.pop().expect("one name per point"))
}

/// Points recorded per statement (11 parameters each).
const POINTS_PER_STATEMENT: usize = 100;

/// [`record`] for many points (of distinct items), answering their names in order: two
/// statements per hundred points. 404 when any item does not exist.
pub async fn record_many(
    tx: &mut AnyConnection,
    points: Vec<NewRecoveryPoint>,
) -> Result<Vec<String>, ResourceError> {
    let backend = Backend::of(tx);
    let mut names = Vec::with_capacity(points.len());
    for chunk in points.chunks(POINTS_PER_STATEMENT) {
        // One row of values per point, joined on its item (`column1`... are the names both
        // SQLite and PostgreSQL give a `values` list's columns).
        let sql = backend.bulk_statement(format!(
            "update protected_item set last_recovery_point = \
             case when last_recovery_point is null or last_recovery_point < v.column3 \
             then v.column3 else last_recovery_point end \
             from (values {}) as v where protected_item.vault_id = v.column1 \
             and protected_item.item_key = v.column2 \
             returning protected_item.vault_id, protected_item.item_key",
            value_rows(chunk.len(), 3)
        ));
        let mut query = sqlx::query_as::<_, (String, String)>(&sql);
        for point in chunk {
            query = query
                .bind(point.vault_id.clone())
                .bind(point.item_key.clone())
                .bind(to_micros(point.time));
        }
        let items: HashSet<(String, String)> =
            query.fetch_all(&mut *tx).await?.into_iter().collect();
        if let Some(point) = chunk
            .iter()
            .find(|p| !items.contains(&(p.vault_id.clone(), p.item_key.clone())))
        {
            return Err(ResourceError::not_found(
                "BMSUserErrorDataSourceObjectNotFound",
                format!(
                    "Item '{}' is not protected by this vault; no recovery point can be recorded for it.",
                    point.item_key
                ),
            ));
        }
        let sql = backend.bulk_statement(format!(
            "insert into recovery_point (vault_id, item_key, recovery_point_id, recovery_point_time, \
             recovery_point_type, tier_details, properties, task_id, expires_at, \
             instant_expires_at, disks) values {}",
            value_rows(chunk.len(), 11)
        ));
        let mut query = sqlx::query(&sql);
        for point in chunk {
            let name = rand::thread_rng()
                .gen_range(10_000_000_000_000_i64..100_000_000_000_000)
                .to_string();
            let storage = point.storage.as_ref();
            query = query
                .bind(point.vault_id.clone())
                .bind(point.item_key.clone())
                .bind(name.clone())
                .bind(to_micros(point.time))
                .bind(point.recovery_point_type.clone())
                .bind(serde_json::to_string(&point.tiers).expect("tiers serialize"))
                .bind(serde_json::to_string(&point.details).expect("details serialize"))
                .bind(storage.map(|s| s.task_id.clone()))
                .bind(storage.and_then(|s| s.expires_at).map(to_micros))
                .bind(storage.and_then(|s| s.instant_expires_at).map(to_micros))
                .bind(storage.map(|s| s.disks.clone()));
            names.push(name);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(names)
}

/// Bounds on the recovery point time, inclusive.
#[derive(Debug, Clone, Default)]
pub struct RecoveryPointQuery {
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The recovery points of an item, newest first.
pub async fn list(
    db: &Db,
    vault_id: &str,
    item_key: &str,
    query: &RecoveryPointQuery,
) -> Result<Vec<RecoveryPoint>, ResourceError> {
    let rows = sqlx::query(
        "select recovery_point_id, recovery_point_time, recovery_point_type, tier_details, \
         properties from recovery_point where vault_id = $1 and item_key = $2 \
         and recovery_point_time >= $3 and recovery_point_time <= $4 \
         order by recovery_point_time desc, recovery_point_id desc",
    )
    .bind(vault_id)
    .bind(item_key)
    .bind(query.from.map_or(i64::MIN, to_micros))
    .bind(query.until.map_or(i64::MAX, to_micros))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// One recovery point of an item. 404 `BMSUserErrorRecoveryPointNotFound`.
pub async fn get(
    db: &Db,
    vault_id: &str,
    item_key: &str,
    name: &str,
) -> Result<RecoveryPoint, ResourceError> {
    let row = sqlx::query(
        "select recovery_point_id, recovery_point_time, recovery_point_type, tier_details, \
         properties from recovery_point \
         where vault_id = $1 and item_key = $2 and recovery_point_id = $3",
    )
    .bind(vault_id)
    .bind(item_key)
    .bind(name)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| {
        ResourceError::not_found(
            "BMSUserErrorRecoveryPointNotFound",
            format!("Recovery point '{name}' was not found for this item."),
        )
    })?;
    from_row(&row)
}

fn from_row(row: &AnyRow) -> Result<RecoveryPoint, ResourceError> {
    Ok(RecoveryPoint {
        name: row.try_get("recovery_point_id")?,
        time: from_micros(row.try_get("recovery_point_time")?),
        recovery_point_type: row.try_get("recovery_point_type")?,
        tiers: json_column(row, "tier_details")?,
        details: json_column(row, "properties")?,
    })
}
