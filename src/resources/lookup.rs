//! Finding the resources other resources hang off: resource groups, virtual machines,
//! vaults and policies, by their ARM names (case-insensitively). Each answers the ARM 404
//! its parent path calls for when the resource is missing. One module per resource looked up;
//! callers name them all through `lookup::`.

mod groups;
mod policies;
mod vaults;
mod vms;

use std::collections::BTreeMap;

pub use groups::{group, GroupRecord};
pub use policies::{policy, PolicyRecord};
pub use vaults::{
    vault, vault_from_prefixed_row, vault_from_row, VaultRecord, VAULT_COLUMNS,
    VAULT_COLUMNS_PREFIXED,
};
pub use vms::{
    disk_from_row, vm, vm_by_vm_id, vm_from_row, DiskRecord, OsType, PowerState, VmRecord,
    VM_COLUMNS,
};

pub type Tags = BTreeMap<String, String>;
