//! The management domain: resource groups, virtual machines and their disks, the network
//! resources VMs use, vaults, backup policies, protection, jobs and recovery points. It reads and writes the metadata
//! database and the blob store and knows nothing of HTTP; the ARM wire shapes live in
//! `api::arm`.

mod error;
pub mod names;

pub use error::ResourceError;
pub mod compute;
pub mod groups;
pub mod ids;
pub mod images;
pub mod inventory;
pub mod jobs;
pub mod lookup;
pub mod network;
pub mod policy;
pub mod protection;
pub mod providers;
pub mod recovery_points;
pub mod storage_accounts;
pub mod vault_config;
pub mod vaults;
