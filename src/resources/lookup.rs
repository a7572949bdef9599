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
pub use vms::{vm, vm_by_vm_id, DiskRecord, VmRecord};

pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsType {
    Windows,
    Linux,
}

impl OsType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Windows => "Windows",
            Self::Linux => "Linux",
        }
    }

    /// Parses an OS type as ARM accepts it (any case).
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("windows") {
            Some(Self::Windows)
        } else if text.eq_ignore_ascii_case("linux") {
            Some(Self::Linux)
        } else {
            None
        }
    }
}
