//! Waking the agents that long-poll a VM's goal state. In-process, a publisher calls
//! [`GoalStateNotifier::notify`] after its commit; changes committed by another replica on
//! the same PostgreSQL are found by [`watch_database`], one query a second for every VM
//! someone waits on, rather than one per waiting agent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sqlx::Row;
use tokio::sync::Notify;

use crate::store::{placeholders, Db};

/// Who waits for which VM's goal state. Only VMs with a waiter have an entry, so the
/// memory follows the agents polling right now, not the number of VMs.
#[derive(Clone)]
pub struct GoalStateNotifier {
    watched: Arc<Mutex<HashMap<String, Watched>>>,
    /// Set when the service shuts down: polls answer at once instead of holding up the
    /// drain for their whole wait.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for GoalStateNotifier {
    fn default() -> Self {
        Self {
            watched: Arc::default(),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

struct Watched {
    changed: Arc<Notify>,
    waiters: usize,
    /// The incarnation the newest waiter holds: [`watch_database`] wakes the waiters when
    /// the database has another.
    incarnation: i64,
}

impl GoalStateNotifier {
    /// Wakes whoever waits for `vm_id`'s goal state; nothing when no one does.
    pub fn notify(&self, vm_id: &str) {
        if let Some(watched) = self.watched.lock().get(vm_id) {
            watched.changed.notify_waiters();
        }
    }

    /// Ends every goal-state wait, now and from now on: the service is shutting down.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Completes once [`Self::stop`] was called.
    pub(crate) async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }

    /// Registers a waiter for `vm_id`, which holds `incarnation`. A notification reaches
    /// every [`Watch::changed`] future made before it, even one not yet awaited.
    pub(crate) fn watch(&self, vm_id: &str, incarnation: i64) -> Watch {
        let mut watched = self.watched.lock();
        let entry = watched.entry(vm_id.to_owned()).or_insert_with(|| Watched {
            changed: Arc::new(Notify::new()),
            waiters: 0,
            incarnation,
        });
        entry.waiters += 1;
        entry.incarnation = incarnation;
        Watch {
            notifier: self.clone(),
            vm_id: vm_id.to_owned(),
            changed: entry.changed.clone(),
        }
    }

    /// The watched VMs and the incarnation their waiters hold.
    fn watched(&self) -> Vec<(String, i64)> {
        self.watched
            .lock()
            .iter()
            .map(|(vm_id, watched)| (vm_id.clone(), watched.incarnation))
            .collect()
    }
}

/// One waiter's registration; dropping it forgets the VM once no one else waits.
pub(crate) struct Watch {
    notifier: GoalStateNotifier,
    vm_id: String,
    changed: Arc<Notify>,
}

impl Watch {
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = self.notifier.watched.lock();
        if let Some(entry) = watched.get_mut(&self.vm_id) {
            entry.waiters -= 1;
            if entry.waiters == 0 {
                watched.remove(&self.vm_id);
            }
        }
    }
}

/// How often [`watch_database`] looks for changes other replicas made.
const DATABASE_POLL: Duration = Duration::from_secs(1);

/// VMs per query: well under SQLite's and PostgreSQL's bound-parameter limits.
const BATCH: usize = 500;

/// Every second, reads the goal-state incarnation of every watched VM and wakes the
/// waiters of those that changed (or were deleted). Runs until dropped.
pub async fn watch_database(db: Db, notifier: GoalStateNotifier) {
    let mut tick = tokio::time::interval(DATABASE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for batch in notifier.watched().chunks(BATCH) {
            match incarnations(&db, batch).await {
                Ok(current) => {
                    for (vm_id, held) in batch {
                        if current.get(vm_id) != Some(held) {
                            notifier.notify(vm_id);
                        }
                    }
                }
                // The waiters still answer when their wait ends; the next tick retries.
                Err(error) => tracing::warn!(%error, "could not read goal-state incarnations"),
            }
        }
    }
}

async fn incarnations(
    db: &Db,
    batch: &[(String, i64)],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let sql = db.backend().bulk_statement(format!(
        "select vm_id, goal_state_incarnation from virtual_machine where vm_id in ({})",
        placeholders(1, batch.len())
    ));
    let mut query = sqlx::query(&sql);
    for (vm_id, _) in batch {
        query = query.bind(vm_id);
    }
    query
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("vm_id")?,
                row.try_get("goal_state_incarnation")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_notification_reaches_a_waiter_registered_before_it() {
        let notifier = GoalStateNotifier::default();
        let watch = notifier.watch("vm", 3);
        let changed = watch.changed();
        notifier.notify("other-vm");
        notifier.notify("vm");
        tokio::time::timeout(Duration::from_secs(1), changed)
            .await
            .expect("woken");
    }

    #[tokio::test]
    async fn stopping_ends_waits_present_and_future() {
        let notifier = GoalStateNotifier::default();
        let waiting = tokio::spawn({
            let notifier = notifier.clone();
            async move { notifier.stopped().await }
        });
        notifier.stop();
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("ended")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), notifier.stopped())
            .await
            .expect("ends at once");
    }

    #[tokio::test]
    async fn a_vm_is_forgotten_when_its_last_waiter_leaves() {
        let notifier = GoalStateNotifier::default();
        let first = notifier.watch("vm", 1);
        let second = notifier.watch("vm", 2);
        assert_eq!(notifier.watched(), [("vm".to_owned(), 2)]);
        drop(first);
        assert_eq!(notifier.watched().len(), 1);
        drop(second);
        assert!(notifier.watched().is_empty());
    }
}
