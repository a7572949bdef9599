//! The agent's integration tests, one binary (as `tests/it` is for the service): the real
//! `vaultsim` and `vaultsim-agent` processes, the extension against an in-process service,
//! and the root-only tests on loop-mounted ext4 images.

mod common;

mod cli;
mod e2e;
mod extension;
mod fleet;
mod freeze;
mod harness;
mod host_snapshot;
mod local_disk_backup;
mod local_disk_claims;
mod localdisk;
mod packages;
mod sandbox;
mod scale_out;
mod scripts;
mod windows;
