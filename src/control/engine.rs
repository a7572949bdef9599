//! The engine's handle and its control loop: every second it plans and
//! starts due backups, fails tasks past their deadline and applies retention, all at the
//! service clock's time. `advance` walks simulated time forward event by event, so a month
//! of backups and expiries happens in order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::lease::Work;
use super::{collector, expiry, restore, scheduler, sim_clock, tasks, transfer, EngineError};
use crate::clock::{Clock, ClockSetting};
use crate::guest::GoalStateNotifier;
use crate::storage::{AccountAccess, Storage, StorageError};
use crate::store::Db;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This engine's name on the work leases it holds (stable across restarts of one
    /// data directory, so a restarted engine resumes its own work at once).
    pub instance_id: String,
    /// How long after its start a task may take to report its snapshot.
    pub snapshot_timeout: TimeDelta,
}

/// Snapshot tasks get this long by default: past the extension's own 140-minute staleness
/// limit, so a late but valid run still lands.
pub const DEFAULT_SNAPSHOT_TIMEOUT: TimeDelta = TimeDelta::minutes(150);

/// A cheap, clonable handle to the engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    storage: Storage,
    clock: Clock,
    notifier: GoalStateNotifier,
    config: EngineConfig,
    /// Containers known to exist, to skip the check per task.
    containers: Mutex<HashSet<String>>,
    /// Transfers and restores running in this process, so an event does not start one
    /// twice.
    running: Mutex<HashSet<(Work, String)>>,
    /// Bounds on work in flight, so that a burst of 100,000 status blobs queues here
    /// instead of timing out on the database pool.
    collecting: Arc<Semaphore>,
    transfers: Arc<Semaphore>,
    /// One transfer at a time per item: its vault copy is written in place.
    item_transfers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Status blobs read and judged at once.
const CONCURRENT_COLLECTIONS: usize = 16;
/// Transfers to the vault at once: each streams from the store on a blocking thread.
const CONCURRENT_TRANSFERS: usize = 4;

/// Holds an item's transfer lock; forgets the lock once no one else wants it.
pub(super) struct ItemTransferGuard {
    engine: Engine,
    item: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for ItemTransferGuard {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = self.engine.inner.item_transfers.lock();
        if locks
            .get(&self.item)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.item);
        }
    }
}

/// What one `advance` did.
#[derive(Debug, Clone, Default)]
pub struct AdvanceReport {
    pub now: DateTime<Utc>,
    pub steps: u64,
    pub backups_started: u64,
}

/// Most event steps one advance takes; an hourly policy over a year needs ~2,200.
const MAX_ADVANCE_STEPS: u64 = 100_000;

impl Engine {
    pub fn new(
        db: Db,
        storage: Storage,
        clock: Clock,
        notifier: GoalStateNotifier,
        config: EngineConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                storage,
                clock,
                notifier,
                config,
                containers: Mutex::default(),
                running: Mutex::default(),
                collecting: Arc::new(Semaphore::new(CONCURRENT_COLLECTIONS)),
                transfers: Arc::new(Semaphore::new(CONCURRENT_TRANSFERS)),
                item_transfers: Mutex::default(),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Where VM disks, status and log blobs and vault copies live.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// The storage account SAS URIs are minted for.
    pub fn account(&self) -> &AccountAccess {
        self.inner.storage.account()
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub fn notifier(&self) -> &GoalStateNotifier {
        &self.inner.notifier
    }

    /// The account's time less the service clock's, in whole seconds (what the account's
    /// `Date` header can tell): zero for the embedded store and for a blob node that
    /// follows the shared clock; large when the simulated clock runs ahead of an account
    /// that keeps real time. SAS windows and snapshot stamps are moved by it.
    pub async fn account_skew(&self) -> Result<TimeDelta, StorageError> {
        let account_now = self.inner.storage.account_time().await?;
        let skew = account_now - self.clock().now();
        Ok(TimeDelta::seconds(skew.num_seconds()))
    }

    /// Creates `name` in the blob storage unless it is known to exist.
    pub async fn ensure_container(&self, name: &str) -> Result<(), StorageError> {
        if self.inner.containers.lock().contains(name) {
            return Ok(());
        }
        self.inner.storage.create_container(name).await?;
        self.inner.containers.lock().insert(name.to_owned());
        Ok(())
    }

    /// Marks a transfer or restore as running here; false when it already is.
    pub(super) fn start_locally(&self, work: Work, key: &str) -> bool {
        self.inner.running.lock().insert((work, key.to_owned()))
    }

    pub(super) fn end_locally(&self, work: Work, key: &str) {
        self.inner.running.lock().remove(&(work, key.to_owned()));
    }

    /// Waits for room to collect one more status blob.
    pub(super) async fn collection_permit(&self) -> OwnedSemaphorePermit {
        self.inner
            .collecting
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Waits until no other transfer of the item (`vault_id/item_key`) runs here; the
    /// guard holds it until dropped.
    pub(super) async fn item_transfer_lock(&self, item: &str) -> ItemTransferGuard {
        let lock = self
            .inner
            .item_transfers
            .lock()
            .entry(item.to_owned())
            .or_default()
            .clone();
        ItemTransferGuard {
            engine: self.clone(),
            item: item.to_owned(),
            guard: Some(lock.lock_owned().await),
        }
    }

    /// Waits for room to run one more transfer.
    pub(super) async fn transfer_permit(&self) -> OwnedSemaphorePermit {
        self.inner
            .transfers
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Runs until `shutdown` turns true: resumes work a previous run left in flight, then
    /// collects status blobs as they are written and ticks every second.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let writes = collector::subscribe(&self);
        if let Err(error) = self.resume().await {
            tracing::error!(error = %error.report(), "resuming backup tasks failed");
        }
        let collector = tokio::spawn(collector::run(self.clone(), writes, shutdown.clone()));
        loop {
            if let Err(error) = self.tick().await {
                tracing::error!(error = %error.report(), "backup engine tick failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        collector.abort();
    }

    /// One pass at the clock's current time. Answers how many backups it started.
    pub async fn tick(&self) -> Result<u64, EngineError> {
        self.follow_stored_clock().await?;
        let now = self.clock().now();
        scheduler::plan(self, now).await?;
        let started = scheduler::start_due(self, now).await?;
        collector::fail_overdue(self, now).await?;
        expiry::apply(self, now).await?;
        self.adopt_unowned_work().await?;
        Ok(started)
    }

    /// Another replica may have moved simulated time: follow the stored setting.
    async fn follow_stored_clock(&self) -> Result<(), EngineError> {
        let stored = sim_clock::load(self.db()).await?;
        if stored != self.clock().setting() {
            self.clock().set(stored);
        }
        Ok(())
    }

    /// Sets the clock (and stores it for every replica), then runs what became due.
    pub async fn set_clock(&self, setting: ClockSetting) -> Result<(), EngineError> {
        self.clock().set(setting);
        sim_clock::save(self.db(), self.clock()).await?;
        self.tick().await?;
        Ok(())
    }

    /// Moves the clock forward to `to`, stopping at every instant something is due (a
    /// scheduled run, a task deadline, an expiry) to run it, and giving in-flight backups
    /// up to `settle` of real time at each stop to report their snapshots.
    pub async fn advance(
        &self,
        to: DateTime<Utc>,
        settle: Duration,
    ) -> Result<AdvanceReport, EngineError> {
        let mut report = AdvanceReport::default();
        report.backups_started += self.tick().await?;
        self.settle(settle).await?;
        while report.steps < MAX_ADVANCE_STEPS {
            let now = self.clock().now();
            if now >= to {
                break;
            }
            let next = scheduler::next_event_after(self, now)
                .await?
                .filter(|at| *at <= to)
                .unwrap_or(to);
            self.clock().advance_to(next);
            sim_clock::save(self.db(), self.clock()).await?;
            report.steps += 1;
            report.backups_started += self.tick().await?;
            self.settle(settle).await?;
        }
        report.now = self.clock().now();
        Ok(report)
    }

    /// Waits (in real time) for backups in flight: up to `snapshot_wait` for snapshots
    /// still to be reported, and for transfers, which run in this process, until done.
    async fn settle(&self, snapshot_wait: Duration) -> Result<(), EngineError> {
        let started = tokio::time::Instant::now();
        let transfer_limit = Duration::from_secs(120);
        loop {
            let awaiting =
                tasks::count_in_state(self.db(), tasks::TaskState::AwaitingSnapshot).await?;
            let transferring =
                tasks::count_in_state(self.db(), tasks::TaskState::Transferring).await?;
            let restoring = restore::count_in_progress(self.db()).await?;
            let waited = started.elapsed();
            let snapshots_settled = awaiting == 0 || waited >= snapshot_wait;
            let transfers_settled = transferring == 0 && restoring == 0;
            if (snapshots_settled && transfers_settled) || waited >= transfer_limit {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// After a restart: status blobs written while the service was down are read, and
    /// the work this engine left (and work no engine holds) resumes.
    async fn resume(&self) -> Result<(), EngineError> {
        collector::sweep(self).await?;
        self.adopt_unowned_work().await
    }

    /// Starts the transfers and restores whose lease no engine holds: left by this engine
    /// before a restart, or by an engine that died (its leases lapsed). Both are
    /// idempotent, so a crashed run is simply run again.
    async fn adopt_unowned_work(&self) -> Result<(), EngineError> {
        transfer::adopt_unowned(self).await?;
        restore::adopt_unowned(self).await?;
        Ok(())
    }
}
