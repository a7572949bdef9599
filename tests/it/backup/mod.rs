//! The backup engine end to end: policies and the simulated clock make jobs, a VM
//! stand-in plays the snapshot extension through the real guest API, blob endpoint and
//! SAS, and the service collects, transfers, retains and restores.

mod app;
mod azurite;
mod concurrency;
mod dispatch;
pub mod e2e;
mod failures;
mod host_snapshot;
mod isolation;
mod progress;
mod replicas;
mod restart;
mod scaling;
pub mod standin;
mod statistics;
mod stopped;
