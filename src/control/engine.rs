//! The engine's handle: the context every phase works in (the database, blob storage,
//! the clock, goal-state wake-ups, the configuration) and what the phases share in this
//! process (containers known to exist, work running here, bounds on work in flight,
//! per-item transfer locks). It calls no phase; the run loop (`run_loop.rs`) does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vaultsim_protocol::extension::host_snapshot::SnapshotMethod;

use super::group_commit::GroupCommit;
use super::lease::TransferClaims;
use super::lease::Work;
use super::recorder::RecordPoints;
use super::recovery_point_disks::PreviousPoints;
use crate::clock::Clock;
use crate::guest::GoalStateNotifier;
use crate::health::TickRecord;
use crate::storage::{AccountAccess, Storage, StorageAccounts, StorageError};
use crate::store::Db;

/// Starts the transfer of a task whose snapshot is taken (the run loop hands
/// `transfer::spawn` to the phases that make such tasks).
pub type StartTransfer = fn(&Engine, &str);

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This engine's name on the work leases it holds (stable across restarts of one
    /// data directory, so a restarted engine resumes its own work at once).
    pub instance_id: String,
    /// How long after its start a task may take to report its snapshot.
    pub snapshot_timeout: TimeDelta,
    /// What tasks ask the extension to snapshot with (`customSettings.takeSnapshotFrom`).
    pub snapshot_method: SnapshotMethod,
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
    accounts: Arc<StorageAccounts>,
    clock: Clock,
    notifier: GoalStateNotifier,
    config: EngineConfig,
    /// Containers known to exist (`account/container`), to skip the check per task.
    containers: Mutex<HashSet<String>>,
    /// Transfers and restores running in this process, so an event does not start one
    /// twice.
    running: Mutex<HashSet<(Work, String)>>,
    /// Bounds on work in flight, so that a burst of 100,000 status blobs queues here
    /// instead of timing out on the database pool.
    collecting: Arc<Semaphore>,
    transfers: Arc<Semaphore>,
    copies: Arc<Semaphore>,
    /// Group commits, each started at its first use (a runtime is needed to start it).
    recorder: OnceLock<GroupCommit<RecordPoints>>,
    transfer_claims: OnceLock<GroupCommit<TransferClaims>>,
    previous_points: OnceLock<GroupCommit<PreviousPoints>>,
    /// One transfer at a time per item: its vault copy is written in place.
    item_transfers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// When the run loop last ticked, for readiness.
    ticks: Arc<TickRecord>,
}

/// How far an account's `Date` may be from this machine's real time for the account to
/// count as keeping real time.
pub const REAL_TIME_TOLERANCE: TimeDelta = TimeDelta::minutes(2);

/// How far behind the service clock a following account may be (its `Date` has whole
/// seconds) before the engine waits for it to catch up.
const CATCH_UP_SLACK: TimeDelta = TimeDelta::seconds(2);
/// How long the engine waits for a following account to catch up with a clock change (a
/// blob node reads the clock five times a second).
const CATCH_UP_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);
const CATCH_UP_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The skew of an account whose time is `account_now` when real time is `real_now` and the
/// service clock says `service_now` (see [`Engine::account_skew`]).
fn skew_of(
    account_now: DateTime<Utc>,
    real_now: DateTime<Utc>,
    service_now: DateTime<Utc>,
) -> TimeDelta {
    if (account_now - real_now).abs() > REAL_TIME_TOLERANCE {
        return TimeDelta::zero();
    }
    TimeDelta::seconds((account_now - service_now).num_seconds())
}

/// Status blobs read and judged at once.
const CONCURRENT_COLLECTIONS: usize = 16;
/// Transfers to the vault in flight at once (claimed, copying, or waiting to be recorded):
/// enough that the recorder commits them in batches of hundreds. Each transfer waits on
/// three batched round trips (claim, previous point, record), so this bounds the rate at
/// this many per round-trip chain: 256 held PostgreSQL's recording of a burst at 3,500
/// points/s with cores to spare; 1,024 reached 4,900–5,400/s (SQLite's one writer, not
/// this, limits it there).
const CONCURRENT_TRANSFERS: usize = 1024;
/// Transfers copying disks at once: each streams from the store on a blocking thread.
const CONCURRENT_COPIES: usize = 4;

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

impl Engine {
    pub fn new(
        db: Db,
        accounts: Arc<StorageAccounts>,
        clock: Clock,
        notifier: GoalStateNotifier,
        config: EngineConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                accounts,
                clock,
                notifier,
                config,
                containers: Mutex::default(),
                running: Mutex::default(),
                collecting: Arc::new(Semaphore::new(CONCURRENT_COLLECTIONS)),
                transfers: Arc::new(Semaphore::new(CONCURRENT_TRANSFERS)),
                copies: Arc::new(Semaphore::new(CONCURRENT_COPIES)),
                recorder: OnceLock::new(),
                transfer_claims: OnceLock::new(),
                previous_points: OnceLock::new(),
                item_transfers: Mutex::default(),
                ticks: Arc::default(),
            }),
        }
    }

    /// When the run loop last ticked.
    pub fn ticks(&self) -> &Arc<TickRecord> {
        &self.inner.ticks
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The primary storage account: vault copies and the tasks' status and log blobs.
    pub fn storage(&self) -> &Storage {
        self.inner.accounts.primary()
    }

    /// The primary account, as SAS URIs name it.
    pub fn account(&self) -> &AccountAccess {
        self.storage().account()
    }

    /// Every account the service keeps blobs in.
    pub fn accounts(&self) -> &StorageAccounts {
        &self.inner.accounts
    }

    /// The account a disk (or snapshot, or restore target) recorded as `account` is in;
    /// `None` is the primary.
    pub fn storage_of(&self, account: Option<&str>) -> Result<&Storage, StorageError> {
        self.inner.accounts.named(account)
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
    /// `Date` header can tell): large when the simulated clock runs apart from an account
    /// that keeps real time (Azurite, Azure Storage); zero for the embedded store and for a
    /// blob node that follows the shared clock. SAS windows and snapshot stamps are moved
    /// by it.
    ///
    /// An account keeps real time when its `Date` is within [`REAL_TIME_TOLERANCE`] of this
    /// machine's. Any other account follows the shared simulated clock, perhaps a moment
    /// behind a change (a blob node reads it five times a second): its skew is taken as
    /// zero rather than measured in that moment, which would sign SAS windows for a time
    /// the node is about to leave.
    ///
    /// A following account well behind the service clock has not yet seen a change of it
    /// (the clock was just moved, and tasks signed now would not yet be valid there): it
    /// is given up to [`CATCH_UP_LIMIT`] to catch up before the answer.
    pub async fn account_skew(&self, storage: &Storage) -> Result<TimeDelta, StorageError> {
        let started = tokio::time::Instant::now();
        loop {
            let account_now = storage.account_time().await?;
            let (real_now, service_now) = (Utc::now(), self.clock().now());
            let follows_shared_clock = (account_now - real_now).abs() > REAL_TIME_TOLERANCE;
            let behind = service_now - account_now > CATCH_UP_SLACK;
            if follows_shared_clock && behind && started.elapsed() < CATCH_UP_LIMIT {
                tokio::time::sleep(CATCH_UP_POLL).await;
                continue;
            }
            if follows_shared_clock && behind {
                tracing::warn!(
                    account = %storage.account().name,
                    account_time = %account_now,
                    service_time = %service_now,
                    "the storage account's time is behind the simulated clock: does its blob node follow the database (--database-url)?"
                );
            }
            return Ok(skew_of(account_now, real_now, service_now));
        }
    }

    /// How far each account other than the primary stands from it (that account's skew
    /// less the primary's), by lower-case name: what a disk there is signed and judged by
    /// beside its task's primary skew. Empty, and no request made, with one account.
    pub async fn account_offsets(&self) -> Result<HashMap<String, TimeDelta>, StorageError> {
        let others = &self.accounts().all()[1..];
        let mut offsets = HashMap::with_capacity(others.len());
        if others.is_empty() {
            return Ok(offsets);
        }
        let primary = self.account_skew(self.storage()).await?;
        for storage in others {
            let skew = self.account_skew(storage).await?;
            offsets.insert(storage.account().name.to_ascii_lowercase(), skew - primary);
        }
        Ok(offsets)
    }

    /// Creates `name` in `storage` unless it is known to exist.
    pub async fn ensure_container(
        &self,
        storage: &Storage,
        name: &str,
    ) -> Result<(), StorageError> {
        let key = format!("{}/{name}", storage.account().name);
        if self.inner.containers.lock().contains(&key) {
            return Ok(());
        }
        storage.create_container(name).await?;
        self.inner.containers.lock().insert(key);
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
        permit(&self.inner.collecting).await
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
        permit(&self.inner.transfers).await
    }

    /// Waits for room to copy one more transfer's disks.
    pub(super) async fn copy_permit(&self) -> OwnedSemaphorePermit {
        permit(&self.inner.copies).await
    }

    /// Where finished transfers are recorded.
    pub(super) fn recorder(&self) -> &GroupCommit<RecordPoints> {
        self.inner
            .recorder
            .get_or_init(|| GroupCommit::start(self.inner.db.clone(), RecordPoints::default()))
    }

    /// Where this engine claims the transfers it starts.
    pub(super) fn transfer_claims(&self) -> &GroupCommit<TransferClaims> {
        self.inner.transfer_claims.get_or_init(|| {
            let owner = self.inner.config.instance_id.clone();
            GroupCommit::start(self.inner.db.clone(), TransferClaims { owner })
        })
    }

    /// Where this engine's transfers read the previous points they copy increments from.
    pub(super) fn previous_points(&self) -> &GroupCommit<PreviousPoints> {
        self.inner
            .previous_points
            .get_or_init(|| GroupCommit::start(self.inner.db.clone(), PreviousPoints))
    }
}

async fn permit(semaphore: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    semaphore
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn an_account_on_real_time_is_skewed_by_how_far_the_simulated_clock_runs_apart() {
        let real = at("2026-12-06T08:00:00.400Z");
        let pinned = at("2027-01-05T08:00:00Z");
        // Azurite's Date, a second behind the real time at whole seconds.
        let skew = skew_of(at("2026-12-06T07:59:59Z"), real, pinned);
        assert_eq!(skew, TimeDelta::seconds(-(30 * 86_400 + 1)));
        assert_eq!(skew_of(real, real, real), TimeDelta::zero());
    }

    #[test]
    fn an_account_following_the_shared_clock_has_no_skew_even_while_catching_up() {
        let real = at("2026-12-06T08:00:00Z");
        let pinned = at("2026-03-02T02:00:00Z");
        // Still at the setting from before the clock moved a day.
        assert_eq!(
            skew_of(at("2026-03-01T02:30:00Z"), real, pinned),
            TimeDelta::zero()
        );
        assert_eq!(skew_of(pinned, real, pinned), TimeDelta::zero());
    }
}
