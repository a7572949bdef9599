//! How VM disks are numbered on the wire.

/// The LUN the OS disk goes by: in a guest registration's and a task's disk lists, in
/// `includedDisks`, and in vault blob names. Data disks have their own LUNs, 0 and up.
pub const OS_DISK_LUN: i64 = -1;
