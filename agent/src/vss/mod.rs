//! Quiesce modelled on VSS: a requester drives writers (pre/post scripts, simulated
//! application writers) and the filesystem freeze around the snapshot.

/// FIFREEZE/FITHAW on the eligible mounts through a separate watchdog process.
pub mod freeze;
/// The extension's in-memory `<UTC>  <level>  <msg>` log, uploaded to the logs blob.
pub mod log;
/// The plugin host's and the ScriptRunner plugin's configuration, and the permission rules.
pub mod plugin_config;
/// The decision logic around the snapshot: checks, writers, freeze, snapshot, thaw, result.
pub mod requester;
/// The pre/post scripts: checks and runs.
pub mod scripts;
/// Simulated VSS application writers.
pub mod writers;
