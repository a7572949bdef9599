//! The backup engine: turns policies into backup jobs, mints the task the snapshot
//! extension receives, collects its status, moves the data into the vault as recovery
//! points, applies retention and restores. Knows nothing of HTTP.

/// Starting a backup: job, minted task, published extension settings.
pub mod backup;
/// Cancelling a Backup job in its snapshot phase.
pub mod cancel;
/// CMS enveloped data: protected settings encrypted to a VM's certificate.
pub mod cms;
/// Reading and judging the status blobs the extension writes.
pub mod collector;
/// A running copy's progress, reported in its job at a bounded rate.
mod copy_progress;
/// The engine's handle: the context every phase works in.
pub mod engine;
mod error;
/// Applying retention: instant snapshot and recovery point expiry.
pub mod expiry;
/// Many callers' writes of one kind in one transaction.
mod group_commit;
/// Work leases: which engine runs a transfer or restore, so a dead one's work moves on.
mod lease;
/// The task the extension receives: taskId, ticks, SAS URIs, objectStr, handler settings.
pub mod minting;
/// On-demand backup requests and their limits.
pub mod on_demand;
/// Backup policies as the engine reads them from the database.
mod policies;
/// Job bookkeeping: task lists, endings, error details.
mod progress;
/// Recording finished transfers: their points, items and jobs, many at once.
mod recorder;
/// Where a recovery point's data lives, disk by disk.
mod recovery_point_disks;
/// Restore jobs.
pub mod restore;
/// Recovery point expiry by the policy's retention rules.
pub mod retention;
/// The control loop, the one caller of every phase; simulated-time advance.
pub mod run_loop;
/// What backup tasks record of their jobs: scheduled instant, trigger, recovery point.
pub mod runs;
/// When a policy's runs are due, in its time zone.
pub mod schedule;
/// Claiming due runs and starting their jobs.
pub mod scheduler;
/// Simulated time kept in the database.
pub mod sim_clock;
/// The modules' dependency rules, checked from their sources.
#[cfg(test)]
mod structure;
/// Backup task rows.
pub mod tasks;
/// Transfer of snapshots into the vault as recovery points.
pub mod transfer;
/// Vault storage: incremental transfer of disk snapshots, restore, snapshot deletion.
pub mod vault_storage;

pub use engine::{Engine, EngineConfig};
pub use error::EngineError;
pub use run_loop::Backwards;
