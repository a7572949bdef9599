//! A running transfer's or restore's progress in its job. The copy counts the bytes of
//! disk it has gone through ([`CopyProgress`]); meanwhile this reads the count and writes
//! it to the job at a bounded rate: at most once a second, and only when it has moved by a
//! percentage point or more, whichever is rarer. A copy of any size costs a few writes,
//! never one per page range.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::engine::Engine;
use super::progress::record_copied;
use super::vault_storage::CopyProgress;
use crate::resources::jobs::{Copied, JobTaskName};

/// The least time between two reports of one copy.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// The least move, in percentage points, worth a report.
const REPORT_STEP: f64 = 1.0;

/// The job step a copy reports to.
#[derive(Debug, Clone, Copy)]
pub struct CopyingStep<'a> {
    pub vault_id: &'a str,
    pub job_id: &'a str,
    pub task: JobTaskName,
}

/// Runs `copy`, reporting to `step` how far `progress` has gone of `total` bytes while it
/// runs. The copy waits while a report is written; a report that fails is logged and the
/// copy goes on (the job's ending records the whole copy anyway). Nothing is reported at
/// 100 %: only the job's ending says the copy is done.
pub async fn reporting<T>(
    engine: &Engine,
    step: CopyingStep<'_>,
    total: u64,
    progress: &CopyProgress,
    copy: impl Future<Output = T>,
) -> T {
    let mut copy = std::pin::pin!(copy);
    let mut ticks = tokio::time::interval_at(Instant::now() + REPORT_INTERVAL, REPORT_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reported = 0.0;
    loop {
        tokio::select! {
            output = &mut copy => return output,
            _ = ticks.tick() => {
                let copied = Copied { done: progress.bytes(), total };
                let percentage = copied.percentage();
                if percentage - reported < REPORT_STEP || copied.done >= total {
                    continue;
                }
                match record_copied(engine.db(), step.vault_id, step.job_id, step.task, copied)
                    .await
                {
                    Ok(()) => reported = percentage,
                    Err(error) => tracing::warn!(
                        error = %error.report(), job_id = step.job_id,
                        "recording a copy's progress failed"
                    ),
                }
            }
        }
    }
}
