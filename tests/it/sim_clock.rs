//! Time across processes: a process that runs no backup engine (a blob node) follows the
//! simulated clock another replica stores, so its SAS windows, snapshot stamps and `Date`
//! use the same time.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use tokio::sync::watch;
use vaultsim::clock::{Clock, ClockSetting};
use vaultsim::control::sim_clock;
use vaultsim::store::Db;

use crate::management::app::PostgresDatabase;

/// How soon a stored setting must hold in the following process.
const WITHIN: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_clock_followed_through_one_connection_takes_what_another_stores() {
    let database = PostgresDatabase::create().await;
    let unused_dir = tempfile::tempdir().unwrap();
    let replica = Db::connect(Some(database.url()), unused_dir.path())
        .await
        .unwrap();
    replica.migrate().await.unwrap();
    let blob_node = Db::connect(Some(database.url()), unused_dir.path())
        .await
        .unwrap();
    let clock = Clock::default();
    let (stop, stopped) = watch::channel(false);
    let following = tokio::spawn(sim_clock::follow(blob_node, clock.clone(), stopped));

    let pinned = ClockSetting::Pinned("2026-04-01T09:00:00Z".parse().unwrap());
    for setting in [
        pinned,
        ClockSetting::Offset(TimeDelta::days(30)),
        ClockSetting::System,
    ] {
        sim_clock::save(&replica, &Clock::new(setting))
            .await
            .unwrap();
        let stored_at = Instant::now();
        while clock.setting() != setting {
            assert!(
                stored_at.elapsed() < WITHIN,
                "{setting:?} stored, the follower still has {:?}",
                clock.setting()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    stop.send(true).unwrap();
    tokio::time::timeout(WITHIN, following)
        .await
        .expect("following stops when told")
        .unwrap();
}
