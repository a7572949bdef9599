//! vaultsim: a local, faithful simulator of Azure Backup for virtual machines.

/// The Azure-Blob-compatible endpoint and its storage engine.
pub mod blob;
/// The one clock everything reads.
pub mod clock;
/// Command line and environment.
pub mod config;
/// Building and running the service.
pub mod startup;
/// Logging, with secrets redacted.
pub mod telemetry;
