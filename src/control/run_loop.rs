//! The engine's control loop, the one place that calls every phase: every second it plans
//! and starts due backups, fails tasks past their deadline, applies retention and adopts
//! work no engine holds, all at the service clock's time; beside it the collector follows
//! status blobs, and each snapshot it collects has its transfer started here. `advance`
//! walks simulated time forward event by event, so a month of backups and expiries
//! happens in order.
//!
//! These are methods of [`Engine`] so that callers drive the engine through its handle;
//! the handle's own module knows none of the phases.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::engine::Engine;
use super::{collector, expiry, restore, scheduler, sim_clock, tasks, transfer, EngineError};
use crate::clock::ClockSetting;
use crate::resources::ResourceError;
use crate::store::from_micros;

/// What one `advance` did.
#[derive(Debug, Clone, Default)]
pub struct AdvanceReport {
    pub now: DateTime<Utc>,
    pub steps: u64,
    pub backups_started: u64,
}

/// Whether [`Engine::set_clock`] may move the clock back before recorded jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backwards {
    Refuse,
    Allow,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Most event steps one advance takes; an hourly policy over a year needs ~2,200.
const MAX_ADVANCE_STEPS: u64 = 100_000;

impl Engine {
    /// Runs until `shutdown` turns true: resumes work a previous run left in flight, then
    /// collects status blobs as they are written and ticks every second.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let writes = collector::subscribe(&self);
        if let Err(error) = self.resume().await {
            tracing::error!(error = %error.report(), "resuming backup tasks failed");
        }
        let collector = tokio::spawn(collector::run(
            self.clone(),
            writes,
            transfer::spawn,
            shutdown.clone(),
        ));
        loop {
            self.ticks().started();
            let ticked = self.tick().await;
            self.ticks().ended(ticked.is_err());
            if let Err(error) = ticked {
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
        let started = scheduler::start_due(self, now, transfer::spawn).await?;
        collector::fail_overdue(self, now, transfer::spawn).await?;
        expiry::apply(self, now).await?;
        self.adopt_unowned_work().await?;
        Ok(started)
    }

    /// Another replica may have moved simulated time: follow the stored setting.
    async fn follow_stored_clock(&self) -> Result<(), EngineError> {
        sim_clock::apply_stored(self.db(), self.clock()).await?;
        Ok(())
    }

    /// Sets the clock (and stores it for every replica), then runs what became due. A
    /// setting that puts the clock before the newest job's start would leave recorded
    /// history in the future (jobs, recovery points, schedules computed from them): refused
    /// with 409 `ClockWouldGoBackwards` unless `backwards` allows it, then done with a
    /// warning.
    pub async fn set_clock(
        &self,
        setting: ClockSetting,
        backwards: Backwards,
    ) -> Result<(), EngineError> {
        let from = self.clock().now();
        let to = setting.now();
        if to < from {
            let newest: Option<i64> = sqlx::query_scalar("select max(start_time) from backup_job")
                .fetch_one(self.db().pool())
                .await?;
            if let Some(newest) = newest.map(from_micros).filter(|newest| *newest > to) {
                let (from, to, newest) = (rfc3339(from), rfc3339(to), rfc3339(newest));
                match backwards {
                    Backwards::Refuse => {
                        return Err(ResourceError::conflict(
                            "ClockWouldGoBackwards",
                            format!(
                                "Setting the clock to {to} moves it back from {from}, before \
                                 the newest job (started {newest}): recorded jobs and recovery \
                                 points would lie in its future. Set \"allowBackwards\": true \
                                 to do it anyway, or use a fresh data directory."
                            ),
                        )
                        .into())
                    }
                    Backwards::Allow => tracing::warn!(
                        %from, %to, newest_job = %newest,
                        "the simulated clock moves back before recorded jobs (allowBackwards)"
                    ),
                }
            }
        }
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
                tasks::any_in_state(self.db(), tasks::TaskState::AwaitingSnapshot).await?;
            let transferring =
                tasks::any_in_state(self.db(), tasks::TaskState::Transferring).await?;
            let restoring = restore::count_in_progress(self.db()).await?;
            let waited = started.elapsed();
            let snapshots_settled = !awaiting || waited >= snapshot_wait;
            let transfers_settled = !transferring && restoring == 0;
            if (snapshots_settled && transfers_settled) || waited >= transfer_limit {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// After a restart: status blobs written while the service was down are read, and
    /// the work this engine left (and work no engine holds) resumes.
    async fn resume(&self) -> Result<(), EngineError> {
        collector::sweep(self, transfer::spawn).await?;
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
