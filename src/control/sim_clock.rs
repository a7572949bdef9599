//! Simulated time kept in the database, so that every replica and a restarted service see
//! the clock the admin API set.

use std::time::Duration;

use chrono::TimeDelta;
use sqlx::Row;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::clock::{Clock, ClockSetting};
use crate::store::{from_micros, to_micros, Db};

/// The stored setting; system time when none was ever stored.
pub async fn load(db: &Db) -> Result<ClockSetting, sqlx::Error> {
    let row = sqlx::query("select pinned_at, offset_micros from sim_clock where id = 1")
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        None => ClockSetting::System,
        Some(row) => match row.try_get::<Option<i64>, _>("pinned_at")? {
            Some(pinned) => ClockSetting::Pinned(from_micros(pinned)),
            None => match row.try_get::<i64, _>("offset_micros")? {
                0 => ClockSetting::System,
                offset => ClockSetting::Offset(TimeDelta::microseconds(offset)),
            },
        },
    })
}

/// Stores the clock's current setting.
pub async fn save(db: &Db, clock: &Clock) -> Result<(), sqlx::Error> {
    let (pinned, offset) = match clock.setting() {
        ClockSetting::System => (None, 0),
        ClockSetting::Pinned(at) => (Some(to_micros(at)), 0),
        ClockSetting::Offset(offset) => (None, offset.num_microseconds().unwrap_or(i64::MAX)),
    };
    let now = to_micros(chrono::Utc::now());
    let updated = sqlx::query(
        "update sim_clock set pinned_at = $1, offset_micros = $2, updated_at = $3 where id = 1",
    )
    .bind(pinned)
    .bind(offset)
    .bind(now)
    .execute(db.writer())
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "insert into sim_clock (id, pinned_at, offset_micros, updated_at) \
             values (1, $1, $2, $3)",
        )
        .bind(pinned)
        .bind(offset)
        .bind(now)
        .execute(db.writer())
        .await?;
    }
    Ok(())
}

/// How often `follow` reads the stored setting.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// Sets `clock` to the stored setting; answers whether that changed it.
pub async fn apply_stored(db: &Db, clock: &Clock) -> Result<bool, sqlx::Error> {
    let stored = load(db).await?;
    let changed = stored != clock.setting();
    if changed {
        clock.set(stored);
    }
    Ok(changed)
}

/// Keeps `clock` on the stored setting, read every `FOLLOW_INTERVAL`, until `shutdown`
/// turns true (or its sender is gone). For a process that runs the blob endpoint without
/// the backup engine, whose ticks do the same: its SAS windows, snapshot stamps and `Date`
/// then use the time every replica uses. A failed read is logged and tried again.
pub async fn follow(db: Db, clock: Clock, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(FOLLOW_INTERVAL);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = interval.tick() => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
        }
        match apply_stored(&db, &clock).await {
            Ok(true) => {
                tracing::info!(setting = ?clock.setting(), "simulated clock set by another process");
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "reading the simulated clock failed"),
        }
    }
}
