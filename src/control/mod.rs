//! The backup engine: turns policies into backup jobs, mints the task the snapshot
//! extension receives, collects its status, moves the data into the vault as recovery
//! points, applies retention and restores. Knows nothing of HTTP.

/// CMS enveloped data: protected settings encrypted to a VM's certificate.
pub mod cms;
/// The task the extension receives: taskId, ticks, SAS URIs, objectStr, handler settings.
pub mod minting;
/// Recovery point expiry by the policy's retention rules.
pub mod retention;
/// When a policy's runs are due, in its time zone.
pub mod schedule;
/// Vault storage: incremental transfer of disk snapshots, restore, snapshot deletion.
pub mod vault_storage;
