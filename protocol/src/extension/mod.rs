//! The snapshot extension's wire formats: what the service hands the VMSnapshot extension
//! (handler settings, `objectStr`, .NET ticks) and what the extension hands back (the status
//! blob and its result codes). Shared by the service and the agent; pure, no I/O.

/// Extension result codes, their health colour, and the Azure Backup error users see.
pub mod codes;
/// The wire server's presnapshot/dosnapshot calls and `takeSnapshotFrom`.
pub mod host_snapshot;
/// Public and protected handler settings, `objectStr`, the `N.settings` file.
pub mod settings;
/// A disk snapshot's URL in the status: its container, blob and snapshot id.
pub mod snapshot_uri;
/// The status blob the extension uploads, typed for writing and strictly parsed for reading.
pub mod status;
/// .NET ticks, the unit of `commandStartTimeUTCTicks`.
pub mod ticks;
/// Python `timedelta` text, the telemetry's durations.
pub mod timedelta;

mod json_error;

/// The publisher of the snapshot extension; `<publisher>.<type>` is its handler name.
pub const PUBLISHER: &str = "Microsoft.Azure.RecoveryServices";
/// The snapshot extension's type on Linux (VMSnapshotLinux 1.0).
pub const LINUX_TYPE: &str = "VMSnapshotLinux";
/// The snapshot extension's type on Windows (VMSnapshot 1.9).
pub const WINDOWS_TYPE: &str = "VMSnapshot";
