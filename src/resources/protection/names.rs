//! The names Azure Backup gives an Azure VM's container and protected item, and the ARM ids
//! built from them. Clients spell them in any case and may leave out the container's
//! `IaasVMContainer;` prefix, so parsing is forgiving; what we emit is exactly Azure's
//! spelling, with raw `;` (the CLI finds names in ids by regular expression).

use crate::resources::names::key;

/// The fabric every Azure VM lives in.
pub const FABRIC: &str = "Azure";

/// Whether `fabric` (from a path) names the one fabric, `Azure`.
pub fn is_azure_fabric(fabric: &str) -> bool {
    fabric.eq_ignore_ascii_case(FABRIC)
}

/// The VM a container or protected item name refers to, as the client spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmName {
    pub group: String,
    pub vm: String,
}

impl VmName {
    pub fn new(group: impl Into<String>, vm: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            vm: vm.into(),
        }
    }

    /// `iaasvmcontainerv2;{rg};{vm}`: the container name inside item bodies and jobs.
    pub fn native_container_name(&self) -> String {
        format!("iaasvmcontainerv2;{};{}", self.group, self.vm)
    }

    /// `IaasVMContainer;iaasvmcontainerv2;{rg};{vm}`: the container's ARM name.
    pub fn container_name(&self) -> String {
        format!("IaasVMContainer;{}", self.native_container_name())
    }

    /// `VM;iaasvmcontainerv2;{rg};{vm}`: the protected item's ARM name.
    pub fn item_name(&self) -> String {
        format!("VM;{}", self.native_container_name())
    }

    /// The key a protected item (and its container) is stored under.
    pub fn item_key(&self) -> String {
        key(&self.item_name())
    }

    /// Whether both name the same VM (names compare case-insensitively).
    pub fn same_vm(&self, other: &Self) -> bool {
        self.group.eq_ignore_ascii_case(&other.group) && self.vm.eq_ignore_ascii_case(&other.vm)
    }
}

/// Parses a container name: `IaasVMContainer;iaasvmcontainerv2;{rg};{vm}` or the native
/// `iaasvmcontainerv2;{rg};{vm}`, any case.
pub fn parse_container_name(name: &str) -> Option<VmName> {
    let parts: Vec<&str> = name.split(';').collect();
    let rest = match parts.as_slice() {
        [prefix, rest @ ..] if prefix.eq_ignore_ascii_case("iaasvmcontainer") => rest,
        rest => rest,
    };
    parse_native(rest)
}

/// Parses a protected item name: `VM;iaasvmcontainerv2;{rg};{vm}`, any case.
pub fn parse_item_name(name: &str) -> Option<VmName> {
    match name.split(';').collect::<Vec<_>>().as_slice() {
        [prefix, rest @ ..] if prefix.eq_ignore_ascii_case("vm") => parse_native(rest),
        _ => None,
    }
}

fn parse_native(parts: &[&str]) -> Option<VmName> {
    match parts {
        [kind, group, vm]
            if kind.eq_ignore_ascii_case("iaasvmcontainerv2")
                && !group.is_empty()
                && !vm.is_empty() =>
        {
            Some(VmName::new(*group, *vm))
        }
        _ => None,
    }
}

/// `{vault id}/backupFabrics/Azure/protectionContainers/{container}`
pub fn container_id(vault_id: &str, vm: &VmName) -> String {
    format!(
        "{vault_id}/backupFabrics/{FABRIC}/protectionContainers/{}",
        vm.container_name()
    )
}

/// `{container id}/protectedItems/{item}`
pub fn item_id(vault_id: &str, vm: &VmName) -> String {
    format!(
        "{}/protectedItems/{}",
        container_id(vault_id, vm),
        vm.item_name()
    )
}

/// `{container id}/protectableItems/vm;iaasvmcontainerv2;{rg};{vm}`, lower-cased as the
/// service lists protectable items.
pub fn protectable_item_id(vault_id: &str, vm: &VmName) -> String {
    let lower = VmName::new(key(&vm.group), key(&vm.vm));
    format!(
        "{vault_id}/backupFabrics/{FABRIC}/protectionContainers/{}/protectableItems/vm;{}",
        lower.container_name(),
        lower.native_container_name()
    )
}

/// `{vault id}/backupPolicies/{policy}`
pub fn policy_id(vault_id: &str, policy: &str) -> String {
    format!("{vault_id}/backupPolicies/{policy}")
}

/// A policy's ARM id, split: `/subscriptions/{s}/resourceGroups/{g}/providers/
/// Microsoft.RecoveryServices/vaults/{v}/backupPolicies/{p}` (literal segments in any case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyIdParts {
    pub subscription: String,
    pub group: String,
    pub vault: String,
    pub policy: String,
}

pub fn parse_policy_id(id: &str) -> Option<PolicyIdParts> {
    let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [s, sub, rg, group, p, ns, v, vault, bp, policy]
            if s.eq_ignore_ascii_case("subscriptions")
                && rg.eq_ignore_ascii_case("resourcegroups")
                && p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("microsoft.recoveryservices")
                && v.eq_ignore_ascii_case("vaults")
                && bp.eq_ignore_ascii_case("backuppolicies") =>
        {
            Some(PolicyIdParts {
                subscription: (*sub).to_owned(),
                group: (*group).to_owned(),
                vault: (*vault).to_owned(),
                policy: (*policy).to_owned(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_parse_with_or_without_the_prefix_in_any_case() {
        let want = VmName::new("Rg", "Vm1");
        for name in [
            "IaasVMContainer;iaasvmcontainerv2;Rg;Vm1",
            "iaasvmcontainer;IAASVMCONTAINERV2;Rg;Vm1",
            "iaasvmcontainerv2;Rg;Vm1",
        ] {
            assert_eq!(parse_container_name(name), Some(want.clone()), "{name}");
        }
        for name in [
            "",
            "IaasVMContainer;iaasvmcontainer;rg;vm",
            "iaasvmcontainerv2;rg",
            "iaasvmcontainerv2;;vm",
            "iaasvmcontainerv2;rg;vm;extra",
            "StorageContainer;Storage;rg;sa",
        ] {
            assert_eq!(parse_container_name(name), None, "{name}");
        }
    }

    #[test]
    fn item_names_need_the_vm_prefix() {
        assert_eq!(
            parse_item_name("vm;iaasvmcontainerv2;rg;vm1"),
            Some(VmName::new("rg", "vm1"))
        );
        assert_eq!(
            parse_item_name("VM;IaasVmContainerV2;RG;VM1"),
            Some(VmName::new("RG", "VM1"))
        );
        for name in [
            "iaasvmcontainerv2;rg;vm1",
            "AzureFileShare;share",
            "vm;iaasvmcontainerv2;rg;",
        ] {
            assert_eq!(parse_item_name(name), None, "{name}");
        }
    }

    #[test]
    fn names_and_ids_are_spelled_as_azure_spells_them() {
        let vm = VmName::new("Rg", "Vm1");
        assert_eq!(
            vm.container_name(),
            "IaasVMContainer;iaasvmcontainerv2;Rg;Vm1"
        );
        assert_eq!(vm.item_name(), "VM;iaasvmcontainerv2;Rg;Vm1");
        assert_eq!(vm.item_key(), "vm;iaasvmcontainerv2;rg;vm1");
        assert_eq!(
            item_id("/v", &vm),
            "/v/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;Rg;Vm1\
             /protectedItems/VM;iaasvmcontainerv2;Rg;Vm1"
        );
        assert_eq!(
            protectable_item_id("/v", &vm),
            "/v/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg;vm1\
             /protectableItems/vm;iaasvmcontainerv2;rg;vm1"
        );
        assert!(vm.same_vm(&VmName::new("RG", "vm1")));
        assert!(!vm.same_vm(&VmName::new("rg2", "vm1")));
    }

    #[test]
    fn policy_ids_parse_in_any_case() {
        let parts = parse_policy_id(
            "/Subscriptions/s/resourcegroups/g/providers/microsoft.recoveryservices/Vaults/v/backupPolicies/P1",
        )
        .unwrap();
        assert_eq!(
            parts,
            PolicyIdParts {
                subscription: "s".into(),
                group: "g".into(),
                vault: "v".into(),
                policy: "P1".into()
            }
        );
        assert!(parse_policy_id("DefaultPolicy").is_none());
        assert!(parse_policy_id(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v"
        )
        .is_none());
    }
}
