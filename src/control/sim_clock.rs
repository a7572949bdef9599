//! Simulated time kept in the database, so that every replica and a restarted service see
//! the clock the admin API set.

use chrono::TimeDelta;
use sqlx::Row;

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
    .execute(db.pool())
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "insert into sim_clock (id, pinned_at, offset_micros, updated_at) \
             values (1, $1, $2, $3)",
        )
        .bind(pinned)
        .bind(offset)
        .bind(now)
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// How often a process that only serves blobs reads the stored setting.
const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Keeps `clock` on the stored setting, for a process with no engine of its own (a blob
/// node): SAS windows, snapshot stamps and `Date` follow a clock pinned through any
/// replica within a fifth of a second. Runs until the task is dropped.
pub async fn follow(db: Db, clock: Clock) {
    loop {
        match load(&db).await {
            Ok(stored) if stored != clock.setting() => {
                tracing::info!(setting = ?stored, "following the stored simulated clock");
                clock.set(stored);
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "reading the stored simulated clock failed"),
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
    }
}
