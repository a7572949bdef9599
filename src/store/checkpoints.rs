//! Copying SQLite's write-ahead log back into the database file off the writer's path.
//!
//! SQLite checkpoints in the connection whose commit takes the log past
//! `wal_autocheckpoint` pages, inside that commit: the writer copies 40 MiB and syncs the
//! file while every other write waits behind it. Dispatching 100,000 backups, 24 of its
//! 200 commits took 0.23 s or more each, 6.3 of its ~30 s (all 200: 7.4 s, against 1.8 s
//! with no checkpoint during the burst). A reader connection instead runs a passive
//! checkpoint every [`CHECKPOINT_INTERVAL`]: it copies what is committed while the writer
//! goes on appending, so the writer's own checkpoint (kept as the backstop that lets the
//! log start over from its beginning) finds little left to copy.

use std::time::Duration;

use sqlx::AnyPool;
use tokio::task::AbortHandle;

/// How often the log is copied back: often enough that little accumulates between two
/// copies, seldom enough that an idle service does (almost) nothing.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// Passive checkpoints on a pool's connections until dropped.
#[derive(Debug)]
pub(super) struct BackgroundCheckpoints {
    task: AbortHandle,
}

impl BackgroundCheckpoints {
    pub(super) fn start(pool: AnyPool) -> Self {
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CHECKPOINT_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                ticks.tick().await;
                // Passive: never waits for readers or the writer, copies what it can.
                match sqlx::query("pragma wal_checkpoint(passive)")
                    .execute(&pool)
                    .await
                {
                    Ok(_) => failing = false,
                    // Said once per run of failures, not four times a second.
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(
                            %error,
                            "copying the WAL into the database failed; the writer still does"
                        );
                    }
                    Err(_) => {}
                }
            }
        })
        .abort_handle();
        Self { task }
    }
}

impl Drop for BackgroundCheckpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Db;

    /// 2 MiB committed stays in the log (a few hundred pages, far below the writer's
    /// threshold) unless something else copies it into the database file.
    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_the_writers_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(None, dir.path()).await.unwrap();
        sqlx::query("create table filler (bytes blob not null)")
            .execute(db.writer())
            .await
            .unwrap();
        let mut tx = db.begin_write().await.unwrap();
        for _ in 0..256 {
            sqlx::query("insert into filler (bytes) values (zeroblob(8192))")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let file = dir.path().join("vaultsim.db");
        let copied = async {
            while std::fs::metadata(&file).unwrap().len() < 2 << 20 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), copied)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the database file holds {} bytes after 10 s",
                    std::fs::metadata(&file).unwrap().len()
                )
            });
    }
}
