//! Retention on the clock: instant snapshots are deleted once `instantRpRetentionRangeInDays`
//! have passed (the point stays, in the vault tier), and recovery points past their expiry
//! are deleted with their data. An item's newest recovery point is always kept, snapshot
//! included, as Azure keeps it: the next backup diffs against it.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::engine::Engine;
use super::recovery_point_disks::RecoveryPointDisk;
use super::vault_storage::delete_snapshot;
use super::EngineError;
use crate::resources::recovery_points::{Tier, TierStatus, TierType};
use crate::storage::Timestamp;
use crate::store::to_micros;

const BATCH: i64 = 200;

/// Not the item's newest point.
const NOT_NEWEST: &str = "recovery_point_time < (select max(r2.recovery_point_time) \
     from recovery_point r2 where r2.vault_id = recovery_point.vault_id \
     and r2.item_key = recovery_point.item_key)";

pub async fn apply(engine: &Engine, now: DateTime<Utc>) -> Result<(), EngineError> {
    delete_instant_snapshots(engine, now).await?;
    delete_expired_points(engine, now).await
}

async fn delete_instant_snapshots(engine: &Engine, now: DateTime<Utc>) -> Result<(), EngineError> {
    loop {
        let rows = due_points(engine, "instant_expires_at", now).await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            let mut disks = disks_of(row)?;
            delete_disk_snapshots(engine, &mut disks).await?;
            let tiers = vec![Tier {
                tier_type: TierType::HardenedRP,
                status: TierStatus::Valid,
            }];
            sqlx::query(
                "update recovery_point set instant_expires_at = null, disks = $4, \
                 tier_details = $5 where vault_id = $1 and item_key = $2 \
                 and recovery_point_id = $3",
            )
            .bind(row.try_get::<String, _>("vault_id")?)
            .bind(row.try_get::<String, _>("item_key")?)
            .bind(row.try_get::<String, _>("recovery_point_id")?)
            .bind(serde_json::to_string(&disks).expect("disks serialize"))
            .bind(serde_json::to_string(&tiers).expect("tiers serialize"))
            .execute(engine.db().writer())
            .await?;
        }
    }
}

async fn delete_expired_points(engine: &Engine, now: DateTime<Utc>) -> Result<(), EngineError> {
    loop {
        let rows = due_points(engine, "expires_at", now).await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            let mut disks = disks_of(row)?;
            delete_disk_snapshots(engine, &mut disks).await?;
            for disk in &disks {
                delete_snapshot(
                    engine.storage().as_ref(),
                    &disk.vault_container,
                    &disk.vault_blob,
                    Timestamp(disk.vault_snapshot),
                )
                .await?;
            }
            sqlx::query(
                "delete from recovery_point where vault_id = $1 and item_key = $2 \
                 and recovery_point_id = $3",
            )
            .bind(row.try_get::<String, _>("vault_id")?)
            .bind(row.try_get::<String, _>("item_key")?)
            .bind(row.try_get::<String, _>("recovery_point_id")?)
            .execute(engine.db().writer())
            .await?;
        }
    }
}

/// A batch of points, not their item's newest, whose `expiry_column` is due by `now`.
async fn due_points(
    engine: &Engine,
    expiry_column: &'static str,
    now: DateTime<Utc>,
) -> Result<Vec<AnyRow>, EngineError> {
    Ok(sqlx::query(&format!(
        "select vault_id, item_key, recovery_point_id, disks from recovery_point \
         where {expiry_column} <= $1 and {NOT_NEWEST} limit $2"
    ))
    .bind(to_micros(now))
    .bind(BATCH)
    .fetch_all(engine.db().pool())
    .await?)
}

/// Deletes the instant-tier disk snapshots still held, and forgets them.
async fn delete_disk_snapshots(
    engine: &Engine,
    disks: &mut [RecoveryPointDisk],
) -> Result<(), EngineError> {
    for disk in disks.iter_mut() {
        if let Some(snapshot) = disk.snapshot.take() {
            delete_snapshot(
                engine.storage_of(disk.account.as_deref())?.as_ref(),
                &disk.container,
                &disk.blob,
                Timestamp(snapshot),
            )
            .await?;
        }
    }
    Ok(())
}

fn disks_of(row: &AnyRow) -> Result<Vec<RecoveryPointDisk>, EngineError> {
    RecoveryPointDisk::parse_list(row.try_get::<Option<String>, _>("disks")?.as_deref())
}
