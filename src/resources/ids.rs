//! ARM resource ids, spelled exactly as Azure spells them: clients parse them with regular
//! expressions on `/resourceGroups/`, `virtualMachines/`, `/protectionContainers/`...

pub fn subscription_id(subscription: &str) -> String {
    format!("/subscriptions/{subscription}")
}

pub fn group_id(subscription: &str, group: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{group}")
}

pub fn vm_id(subscription: &str, group: &str, vm: &str) -> String {
    format!(
        "{}/providers/Microsoft.Compute/virtualMachines/{vm}",
        group_id(subscription, group)
    )
}

pub fn vault_id(subscription: &str, group: &str, vault: &str) -> String {
    format!(
        "{}/providers/Microsoft.RecoveryServices/vaults/{vault}",
        group_id(subscription, group)
    )
}

/// The parts of a virtual machine's ARM id, as written (any case, any `/`-form ARM
/// accepts). `None` when `id` is not a VM id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmIdParts {
    pub subscription: String,
    pub group: String,
    pub vm: String,
}

pub fn parse_vm_id(id: &str) -> Option<VmIdParts> {
    let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [s, sub, rg, group, p, ns, t, vm]
            if s.eq_ignore_ascii_case("subscriptions")
                && rg.eq_ignore_ascii_case("resourcegroups")
                && p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("microsoft.compute")
                && t.eq_ignore_ascii_case("virtualmachines") =>
        {
            Some(VmIdParts {
                subscription: (*sub).to_owned(),
                group: (*group).to_owned(),
                vm: (*vm).to_owned(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_ids_round_trip_in_any_case() {
        let id = vm_id("s", "Rg", "Vm1");
        assert_eq!(
            id,
            "/subscriptions/s/resourceGroups/Rg/providers/Microsoft.Compute/virtualMachines/Vm1"
        );
        let parts = parse_vm_id(&id.to_ascii_lowercase()).unwrap();
        assert_eq!((parts.group.as_str(), parts.vm.as_str()), ("rg", "vm1"));
        assert!(parse_vm_id("/subscriptions/s/resourceGroups/rg").is_none());
    }
}
