//! vaultsim: a local, faithful simulator of Azure Backup for virtual machines.

/// mimalloc rather than glibc's allocator, for every binary of this crate (the service, its
/// benches and tests alike): with glibc, a burst of 100,000 backups peaked at 954 MiB of
/// resident memory for 533 MB of live heap, the rest freed pages kept by per-thread arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The management API (ARM routes, token issuer, admin routes).
pub mod api;
/// Token issuing and checking.
pub mod auth;
/// The Azure-Blob-compatible endpoint and its storage engine.
pub mod blob;
/// The one clock everything reads.
pub mod clock;
/// Command line and environment.
pub mod config;
/// The backup engine: scheduler, task minting, collection, transfer, retention, restore.
pub mod control;
/// The data directory's one owner: the lock a service holds on it.
pub mod data_dir;
/// `vaultsim demo`: the service with simulated VMs backed up on a fast clock.
pub mod demo;
/// ARM template deployments: the template language and the deployment engine.
pub mod deployments;
/// Fault injection: the registry the blob endpoint and the guest API consult.
pub mod faults;
/// Generators of outside input for the parsers' property tests.
#[cfg(test)]
mod generated_input;
/// The guest API's domain: agent registration and goal states.
pub mod guest;

pub mod health;
/// The service's `scheme://host` as each client reached it, for the URLs it writes.
pub mod origin;

pub mod prometheus;
/// The management domain.
pub mod resources;
/// Accepting HTTP connections, plain and over TLS.
pub mod server;
/// Building and running the service.
pub mod startup;
/// The storage seam: blob storage as the control plane sees it (embedded or remote).
pub mod storage;
/// The metadata database.
pub mod store;
/// Logging, with secrets redacted.
pub mod telemetry;
/// HTTPS: the certificate chain (given, or made by a local CA) and the acceptor.
pub mod tls;
