//! The ARM ids of network resources: built as Azure spells them, parsed in any case (a
//! reference such as a NIC's subnet id arrives as the client wrote it), and keyed
//! lower-cased, as ARM matches ids.

use crate::resources::ids::group_id;

/// The network resource types the simulator stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    VirtualNetwork,
    Subnet,
    SecurityGroup,
    PublicIpAddress,
    NetworkInterface,
}

impl Kind {
    /// The types ARM tracks as resources of their own: every type but subnets, which are
    /// their virtual network's children.
    pub const TRACKED: [Self; 4] = [
        Self::VirtualNetwork,
        Self::SecurityGroup,
        Self::PublicIpAddress,
        Self::NetworkInterface,
    ];

    /// The ARM resource type.
    pub fn resource_type(self) -> &'static str {
        match self {
            Self::VirtualNetwork => "Microsoft.Network/virtualNetworks",
            Self::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            Self::SecurityGroup => "Microsoft.Network/networkSecurityGroups",
            Self::PublicIpAddress => "Microsoft.Network/publicIPAddresses",
            Self::NetworkInterface => "Microsoft.Network/networkInterfaces",
        }
    }

    /// The type's segment in an id (a subnet's follows its virtual network's).
    fn segment(self) -> &'static str {
        match self {
            Self::VirtualNetwork => "virtualNetworks",
            Self::Subnet => "subnets",
            Self::SecurityGroup => "networkSecurityGroups",
            Self::PublicIpAddress => "publicIPAddresses",
            Self::NetworkInterface => "networkInterfaces",
        }
    }
}

/// One network resource's address. Names keep the spelling they were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkId {
    /// Lower-case, as subscriptions are stored.
    pub subscription: String,
    pub group: String,
    pub kind: Kind,
    /// A subnet's virtual network; `None` for every other kind.
    pub parent: Option<String>,
    pub name: String,
}

impl NetworkId {
    /// A top-level resource (anything but a subnet).
    pub fn new(subscription: &str, group: &str, kind: Kind, name: &str) -> Self {
        debug_assert!(
            kind != Kind::Subnet,
            "a subnet is named with its virtual network"
        );
        Self {
            subscription: subscription.to_ascii_lowercase(),
            group: group.to_owned(),
            kind,
            parent: None,
            name: name.to_owned(),
        }
    }

    pub fn subnet(subscription: &str, group: &str, virtual_network: &str, name: &str) -> Self {
        Self {
            subscription: subscription.to_ascii_lowercase(),
            group: group.to_owned(),
            kind: Kind::Subnet,
            parent: Some(virtual_network.to_owned()),
            name: name.to_owned(),
        }
    }

    /// The id as Azure spells it.
    pub fn id(&self) -> String {
        let provider = format!(
            "{}/providers/Microsoft.Network",
            group_id(&self.subscription, &self.group)
        );
        match &self.parent {
            Some(parent) => format!(
                "{provider}/{}/{parent}/{}/{}",
                Kind::VirtualNetwork.segment(),
                self.kind.segment(),
                self.name
            ),
            None => format!("{provider}/{}/{}", self.kind.segment(), self.name),
        }
    }

    /// The key the resource is stored and referred to by.
    pub fn key(&self) -> String {
        self.id().to_ascii_lowercase()
    }

    /// The key of the resource group's row.
    pub fn group_key(&self) -> String {
        self.group.to_ascii_lowercase()
    }

    /// A subnet's virtual network.
    pub fn parent_id(&self) -> Option<Self> {
        self.parent.as_deref().map(|parent| {
            Self::new(
                &self.subscription,
                &self.group,
                Kind::VirtualNetwork,
                parent,
            )
        })
    }

    /// Parses an id of `kind`, in any case and with the `/`s ARM tolerates (empty segments
    /// are skipped). `None` when `id` is not one.
    pub fn parse(id: &str, kind: Kind) -> Option<Self> {
        let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
        let is = |segment: &str, literal: &str| segment.eq_ignore_ascii_case(literal);
        match segments.as_slice() {
            [s, subscription, rg, group, p, namespace, rest @ ..]
                if is(s, "subscriptions")
                    && is(rg, "resourceGroups")
                    && is(p, "providers")
                    && is(namespace, "Microsoft.Network") =>
            {
                match (kind, rest) {
                    (Kind::Subnet, [v, parent, t, name])
                        if is(v, Kind::VirtualNetwork.segment()) && is(t, kind.segment()) =>
                    {
                        Some(Self::subnet(subscription, group, parent, name))
                    }
                    (Kind::Subnet, _) => None,
                    (_, [t, name]) if is(t, kind.segment()) => {
                        Some(Self::new(subscription, group, kind, name))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_spelled_as_azure_spells_them_and_keyed_lower_case() {
        let nic = NetworkId::new("S", "Rg", Kind::NetworkInterface, "Nic1");
        assert_eq!(
            nic.id(),
            "/subscriptions/s/resourceGroups/Rg/providers/Microsoft.Network/networkInterfaces/Nic1"
        );
        assert_eq!(nic.key(), nic.id().to_ascii_lowercase());
        let subnet = NetworkId::subnet("s", "Rg", "Vnet", "Default");
        assert_eq!(
            subnet.id(),
            "/subscriptions/s/resourceGroups/Rg/providers/Microsoft.Network/virtualNetworks/Vnet\
             /subnets/Default"
        );
        assert_eq!(
            subnet.parent_id().unwrap().id(),
            "/subscriptions/s/resourceGroups/Rg/providers/Microsoft.Network/virtualNetworks/Vnet"
        );
    }

    #[test]
    fn ids_parse_in_any_case_as_their_kind_only() {
        let subnet = NetworkId::subnet("s", "Rg", "Vnet", "Default");
        let shouted = subnet.id().to_ascii_uppercase();
        let parsed = NetworkId::parse(&shouted, Kind::Subnet).unwrap();
        assert_eq!(parsed.key(), subnet.key());
        assert_eq!(parsed.name, "DEFAULT");
        assert_eq!(NetworkId::parse(&subnet.id(), Kind::VirtualNetwork), None);
        let pip = NetworkId::new("s", "g", Kind::PublicIpAddress, "ip");
        assert_eq!(
            NetworkId::parse(&format!("/{}/", pip.id()), Kind::PublicIpAddress),
            Some(pip.clone())
        );
        for bad in [
            "",
            "ip",
            "/subscriptions/s/resourceGroups/g",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/publicIPAddresses/ip",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/publicIPAddresses",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/publicIPAddresses/a/b",
        ] {
            assert_eq!(NetworkId::parse(bad, Kind::PublicIpAddress), None, "{bad}");
        }
    }
}
