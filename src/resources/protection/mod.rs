//! Protection of Azure VMs by a vault: discovery (refresh and protectable items),
//! containers, protected items and the asynchronous operations clients poll for them.

pub mod backup_status;
pub mod containers;
pub mod items;
pub mod names;
pub mod operations;
