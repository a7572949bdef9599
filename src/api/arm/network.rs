//! Microsoft.Network over ARM: virtual networks and their subnets, network security groups,
//! public IP addresses and network interfaces, each with create-or-update, get, delete and
//! the lists, in the shapes azure-mgmt-network, Terraform and ARM templates read. Writes are
//! synchronous: a PUT answers with `provisioningState: Succeeded` and no async header, a
//! DELETE with 200 (204 when there was nothing). Bodies keep members the service does not
//! model, as given; read-only members a client sends back from a GET are ignored.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ErrorResponse;
use super::params::ApiVersion;
use super::route::{spec, GroupPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::groups::Upserted;
use crate::resources::lookup::Tags;
use crate::resources::network::{
    self, Deletion, EnvelopeSpec, IpConfiguration, IpConfigurationSpec, NetworkInterface,
    PublicIpAddress, PutNetworkInterface, PutPublicIpAddress, PutSecurityGroup, PutVirtualNetwork,
    SecurityGroup, SecurityRule, SecurityRuleSpec, Subnet, SubnetPrefixes, SubnetSpec,
    VirtualNetwork,
};

/// What every network resource shows while it exists: writes complete before they answer.
const SUCCEEDED: &str = "Succeeded";

// ---- shared members ----

/// `{"id"}`: how one network resource names another.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct SubResource {
    pub id: String,
}

impl SubResource {
    fn of(id: String) -> Self {
        Self { id }
    }
}

/// `properties.addressSpace` of a virtual network.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressSpace {
    /// IPv4 prefixes in CIDR notation, e.g. `10.0.0.0/16`.
    #[serde(default)]
    pub address_prefixes: Vec<String>,
}

// ---- virtual networks and subnets ----

/// The body of a virtual network PUT.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VirtualNetworkPut {
    /// The region; required, and fixed once the network exists.
    pub location: Option<String>,
    pub tags: Option<Tags>,
    pub properties: Option<VirtualNetworkPutProperties>,
    /// Other top-level members (`extendedLocation`...), kept as given; read-only ones (`id`,
    /// `etag`...) are ignored.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkPutProperties {
    /// Required: at least one prefix.
    pub address_space: Option<AddressSpace>,
    /// Every subnet the network keeps; subnets it had that are left out are deleted.
    pub subnets: Option<Vec<SubnetPut>>,
    /// Other members, kept as given.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

/// A subnet, in a virtual network's `subnets` or as the body of a subnet PUT (whose name
/// is the path's).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubnetPut {
    pub name: Option<String>,
    pub properties: Option<SubnetPutProperties>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubnetPutProperties {
    /// One prefix, inside the network's address space, /29 or shorter.
    pub address_prefix: Option<String>,
    /// Several prefixes; taken over `addressPrefix` when both are given.
    pub address_prefixes: Option<Vec<String>>,
    pub network_security_group: Option<SubResource>,
    /// Other members (`delegations`, `serviceEndpoints`...), kept as given.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

/// A virtual network as ARM returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualNetworkBody {
    pub id: String,
    pub name: String,
    /// `Microsoft.Network/virtualNetworks`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// `W/"<uuid>"`, new on every write of the network or one of its subnets.
    pub etag: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
    pub properties: VirtualNetworkProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNetworkProperties {
    pub provisioning_state: String,
    /// Given when the network is created, kept for its life.
    pub resource_guid: String,
    pub address_space: AddressSpace,
    pub subnets: Vec<SubnetBody>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

/// A subnet as ARM returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubnetBody {
    pub id: String,
    pub name: String,
    /// The virtual network's.
    pub etag: String,
    /// `Microsoft.Network/virtualNetworks/subnets`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub properties: SubnetProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubnetProperties {
    pub provisioning_state: String,
    /// When the subnet was given one prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_prefix: Option<String>,
    /// When the subnet was given `addressPrefixes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_prefixes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<SubResource>,
    /// The NIC IP configurations with an address in the subnet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_configurations: Vec<SubResource>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualNetworkList {
    pub value: Vec<VirtualNetworkBody>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubnetList {
    pub value: Vec<SubnetBody>,
}

impl VirtualNetworkPut {
    fn into_command(self) -> PutVirtualNetwork {
        let properties = self.properties.unwrap_or_default();
        PutVirtualNetwork {
            envelope: envelope(self.location, self.tags, self.extra),
            address_prefixes: properties
                .address_space
                .map(|space| space.address_prefixes)
                .unwrap_or_default(),
            subnets: properties
                .subnets
                .unwrap_or_default()
                .into_iter()
                .map(SubnetPut::into_spec)
                .collect(),
            properties: properties.other,
        }
    }
}

impl SubnetPut {
    fn into_spec(self) -> SubnetSpec {
        let properties = self.properties.unwrap_or_default();
        SubnetSpec {
            name: self.name,
            address_prefix: properties.address_prefix,
            address_prefixes: properties.address_prefixes,
            network_security_group: properties.network_security_group.map(|g| g.id),
            properties: properties.other,
        }
    }
}

impl From<VirtualNetwork> for VirtualNetworkBody {
    fn from(network: VirtualNetwork) -> Self {
        let tracked = network.tracked;
        Self {
            id: tracked.id,
            name: tracked.name,
            resource_type: network::Kind::VirtualNetwork.resource_type().to_owned(),
            location: tracked.location,
            tags: tracked.tags,
            etag: tracked.etag,
            extra: tracked.extra,
            properties: VirtualNetworkProperties {
                provisioning_state: SUCCEEDED.to_owned(),
                resource_guid: tracked.resource_guid,
                address_space: AddressSpace {
                    address_prefixes: network
                        .address_prefixes
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                },
                subnets: network.subnets.into_iter().map(SubnetBody::from).collect(),
                other: network.properties,
            },
        }
    }
}

impl From<Subnet> for SubnetBody {
    fn from(subnet: Subnet) -> Self {
        let (address_prefix, address_prefixes) = match subnet.prefixes {
            SubnetPrefixes::One(prefix) => (Some(prefix.to_string()), None),
            SubnetPrefixes::Many(prefixes) => (
                None,
                Some(prefixes.iter().map(ToString::to_string).collect()),
            ),
        };
        Self {
            id: subnet.id,
            name: subnet.name,
            etag: subnet.etag,
            resource_type: network::Kind::Subnet.resource_type().to_owned(),
            properties: SubnetProperties {
                provisioning_state: SUCCEEDED.to_owned(),
                address_prefix,
                address_prefixes,
                network_security_group: subnet.network_security_group.map(SubResource::of),
                ip_configurations: subnet
                    .ip_configurations
                    .into_iter()
                    .map(SubResource::of)
                    .collect(),
                other: subnet.properties,
            },
        }
    }
}

// ---- network security groups ----

/// The body of a network security group PUT.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NetworkSecurityGroupPut {
    /// The region; required, and fixed once the group exists.
    pub location: Option<String>,
    pub tags: Option<Tags>,
    pub properties: Option<NetworkSecurityGroupPutProperties>,
    /// Other top-level members, kept as given; read-only ones are ignored.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSecurityGroupPutProperties {
    /// Every rule the group keeps. `defaultSecurityRules` are Azure's and ignored.
    pub security_rules: Option<Vec<SecurityRulePut>>,
    /// Other members, kept as given.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SecurityRulePut {
    pub name: Option<String>,
    pub properties: Option<SecurityRulePutProperties>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRulePutProperties {
    /// 100 to 4096, unique per direction.
    pub priority: Option<i64>,
    /// `Inbound` or `Outbound`.
    pub direction: Option<String>,
    /// `Allow` or `Deny`.
    pub access: Option<String>,
    /// `Tcp`, `Udp`, `Icmp`, `Esp`, `Ah` or `*`.
    pub protocol: Option<String>,
    /// Ports, address prefixes, description..., kept as given.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

/// A network security group as ARM returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NetworkSecurityGroupBody {
    pub id: String,
    pub name: String,
    /// `Microsoft.Network/networkSecurityGroups`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub etag: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
    pub properties: NetworkSecurityGroupProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSecurityGroupProperties {
    pub provisioning_state: String,
    pub resource_guid: String,
    pub security_rules: Vec<SecurityRuleBody>,
    /// Azure's six: `AllowVnetInBound`, `AllowAzureLoadBalancerInBound`, `DenyAllInBound`,
    /// `AllowVnetOutBound`, `AllowInternetOutBound`, `DenyAllOutBound`.
    pub default_security_rules: Vec<SecurityRuleBody>,
    /// The NICs that use the group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<SubResource>,
    /// The subnets that use the group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<SubResource>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecurityRuleBody {
    pub id: String,
    pub name: String,
    /// The group's.
    pub etag: String,
    /// `Microsoft.Network/networkSecurityGroups/securityRules` or `.../defaultSecurityRules`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub properties: SecurityRuleProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityRuleProperties {
    pub provisioning_state: String,
    pub priority: u16,
    pub direction: String,
    pub access: String,
    pub protocol: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NetworkSecurityGroupList {
    pub value: Vec<NetworkSecurityGroupBody>,
}

impl NetworkSecurityGroupPut {
    fn into_command(self) -> PutSecurityGroup {
        let properties = self.properties.unwrap_or_default();
        PutSecurityGroup {
            envelope: envelope(self.location, self.tags, self.extra),
            security_rules: properties
                .security_rules
                .unwrap_or_default()
                .into_iter()
                .map(|rule| {
                    let properties = rule.properties.unwrap_or_default();
                    SecurityRuleSpec {
                        name: rule.name,
                        priority: properties.priority,
                        direction: properties.direction,
                        access: properties.access,
                        protocol: properties.protocol,
                        properties: properties.other,
                    }
                })
                .collect(),
            properties: properties.other,
        }
    }
}

impl From<SecurityGroup> for NetworkSecurityGroupBody {
    fn from(group: SecurityGroup) -> Self {
        let tracked = group.tracked;
        Self {
            id: tracked.id,
            name: tracked.name,
            resource_type: network::Kind::SecurityGroup.resource_type().to_owned(),
            location: tracked.location,
            tags: tracked.tags,
            etag: tracked.etag,
            extra: tracked.extra,
            properties: NetworkSecurityGroupProperties {
                provisioning_state: SUCCEEDED.to_owned(),
                resource_guid: tracked.resource_guid,
                security_rules: group
                    .security_rules
                    .into_iter()
                    .map(SecurityRuleBody::from)
                    .collect(),
                default_security_rules: group
                    .default_security_rules
                    .into_iter()
                    .map(SecurityRuleBody::from)
                    .collect(),
                network_interfaces: group
                    .network_interfaces
                    .into_iter()
                    .map(SubResource::of)
                    .collect(),
                subnets: group.subnets.into_iter().map(SubResource::of).collect(),
                other: group.properties,
            },
        }
    }
}

impl From<SecurityRule> for SecurityRuleBody {
    fn from(rule: SecurityRule) -> Self {
        Self {
            id: rule.id,
            name: rule.name,
            etag: rule.etag,
            resource_type: rule.resource_type.to_owned(),
            properties: SecurityRuleProperties {
                provisioning_state: SUCCEEDED.to_owned(),
                priority: rule.priority,
                direction: rule.direction.as_str().to_owned(),
                access: rule.access.as_str().to_owned(),
                protocol: rule.protocol,
                other: rule.properties,
            },
        }
    }
}

// ---- public IP addresses ----

/// The body of a public IP address PUT.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PublicIpAddressPut {
    /// The region; required, and fixed once the address exists.
    pub location: Option<String>,
    pub tags: Option<Tags>,
    /// `Basic` (the default) or `Standard`; tier `Regional` (the default) or `Global`.
    pub sku: Option<PublicIpSkuPut>,
    pub properties: Option<PublicIpAddressPutProperties>,
    /// Other top-level members (`zones`...), kept as given; read-only ones are ignored.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PublicIpSkuPut {
    pub name: Option<String>,
    pub tier: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PublicIpAddressPutProperties {
    /// `Static` or `Dynamic`; a Standard address's is `Static`, a Basic one's `Dynamic` when
    /// left out.
    #[serde(rename = "publicIPAllocationMethod")]
    pub public_ip_allocation_method: Option<String>,
    /// Other members (`idleTimeoutInMinutes`, `dnsSettings`...), kept as given.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

/// A public IP address as ARM returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicIpAddressBody {
    pub id: String,
    pub name: String,
    /// `Microsoft.Network/publicIPAddresses`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub etag: String,
    pub sku: PublicIpSkuBody,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
    pub properties: PublicIpAddressProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicIpSkuBody {
    pub name: String,
    pub tier: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicIpAddressProperties {
    pub provisioning_state: String,
    pub resource_guid: String,
    #[serde(rename = "publicIPAllocationMethod")]
    pub public_ip_allocation_method: String,
    /// A static address's, from the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and
    /// 203.0.113.0/24, unique in the subscription; none for a dynamic one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The NIC IP configuration that uses the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_configuration: Option<SubResource>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicIpAddressList {
    pub value: Vec<PublicIpAddressBody>,
}

impl PublicIpAddressPut {
    fn into_command(self) -> PutPublicIpAddress {
        let properties = self.properties.unwrap_or_default();
        let (sku_name, sku_tier) = self.sku.map_or((None, None), |sku| (sku.name, sku.tier));
        PutPublicIpAddress {
            envelope: envelope(self.location, self.tags, self.extra),
            sku_name,
            sku_tier,
            allocation_method: properties.public_ip_allocation_method,
            properties: properties.other,
        }
    }
}

impl From<PublicIpAddress> for PublicIpAddressBody {
    fn from(address: PublicIpAddress) -> Self {
        let tracked = address.tracked;
        Self {
            id: tracked.id,
            name: tracked.name,
            resource_type: network::Kind::PublicIpAddress.resource_type().to_owned(),
            location: tracked.location,
            tags: tracked.tags,
            etag: tracked.etag,
            sku: PublicIpSkuBody {
                name: address.sku.name.as_str().to_owned(),
                tier: address.sku.tier,
            },
            extra: tracked.extra,
            properties: PublicIpAddressProperties {
                provisioning_state: SUCCEEDED.to_owned(),
                resource_guid: tracked.resource_guid,
                public_ip_allocation_method: address.allocation_method.as_str().to_owned(),
                ip_address: address.ip_address.map(|ip| ip.to_string()),
                ip_configuration: address.ip_configuration.map(SubResource::of),
                other: address.properties,
            },
        }
    }
}

// ---- network interfaces ----

/// The body of a network interface PUT.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NetworkInterfacePut {
    /// The region; required, fixed once the NIC exists, and that of everything it names.
    pub location: Option<String>,
    pub tags: Option<Tags>,
    pub properties: Option<NetworkInterfacePutProperties>,
    /// Other top-level members, kept as given; read-only ones are ignored.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfacePutProperties {
    /// At least one; exactly one primary when there are several.
    pub ip_configurations: Option<Vec<IpConfigurationPut>>,
    pub network_security_group: Option<SubResource>,
    /// Other members (`enableAcceleratedNetworking`, `dnsSettings`...), kept as given;
    /// `virtualMachine` and `macAddress` are the service's and ignored.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IpConfigurationPut {
    pub name: Option<String>,
    pub properties: Option<IpConfigurationPutProperties>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct IpConfigurationPutProperties {
    /// Required: an existing subnet in the NIC's region.
    pub subnet: Option<SubResource>,
    /// The address a `Static` configuration asks for; ignored for a `Dynamic` one.
    #[serde(rename = "privateIPAddress")]
    pub private_ip_address: Option<String>,
    /// `Dynamic` (the default) or `Static`.
    #[serde(rename = "privateIPAllocationMethod")]
    pub private_ip_allocation_method: Option<String>,
    /// An existing public IP address in the NIC's region that no other configuration uses.
    #[serde(rename = "publicIPAddress")]
    pub public_ip_address: Option<SubResource>,
    pub primary: Option<bool>,
    /// Other members, kept as given.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

/// A network interface as ARM returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NetworkInterfaceBody {
    pub id: String,
    pub name: String,
    /// `Microsoft.Network/networkInterfaces`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub etag: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
    pub properties: NetworkInterfaceProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceProperties {
    pub provisioning_state: String,
    pub resource_guid: String,
    pub ip_configurations: Vec<IpConfigurationBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<SubResource>,
    /// The VM that uses the NIC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine: Option<SubResource>,
    /// Given when a VM first uses the NIC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IpConfigurationBody {
    pub id: String,
    pub name: String,
    /// The NIC's.
    pub etag: String,
    /// `Microsoft.Network/networkInterfaces/ipConfigurations`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub properties: IpConfigurationProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpConfigurationProperties {
    pub provisioning_state: String,
    /// A dynamic configuration's is the subnet's first free host (its fifth address).
    #[serde(rename = "privateIPAddress")]
    pub private_ip_address: String,
    #[serde(rename = "privateIPAllocationMethod")]
    pub private_ip_allocation_method: String,
    pub subnet: SubResource,
    #[serde(rename = "publicIPAddress", skip_serializing_if = "Option::is_none")]
    pub public_ip_address: Option<SubResource>,
    pub primary: bool,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NetworkInterfaceList {
    pub value: Vec<NetworkInterfaceBody>,
}

impl NetworkInterfacePut {
    fn into_command(self) -> PutNetworkInterface {
        let properties = self.properties.unwrap_or_default();
        PutNetworkInterface {
            envelope: envelope(self.location, self.tags, self.extra),
            ip_configurations: properties
                .ip_configurations
                .unwrap_or_default()
                .into_iter()
                .map(|configuration| {
                    let properties = configuration.properties.unwrap_or_default();
                    IpConfigurationSpec {
                        name: configuration.name,
                        subnet: properties.subnet.map(|s| s.id),
                        private_ip_address: properties.private_ip_address,
                        private_ip_allocation_method: properties.private_ip_allocation_method,
                        public_ip_address: properties.public_ip_address.map(|p| p.id),
                        primary: properties.primary,
                        properties: properties.other,
                    }
                })
                .collect(),
            network_security_group: properties.network_security_group.map(|g| g.id),
            properties: properties.other,
        }
    }
}

impl From<NetworkInterface> for NetworkInterfaceBody {
    fn from(interface: NetworkInterface) -> Self {
        let tracked = interface.tracked;
        Self {
            id: tracked.id,
            name: tracked.name,
            resource_type: network::Kind::NetworkInterface.resource_type().to_owned(),
            location: tracked.location,
            tags: tracked.tags,
            etag: tracked.etag,
            extra: tracked.extra,
            properties: NetworkInterfaceProperties {
                provisioning_state: SUCCEEDED.to_owned(),
                resource_guid: tracked.resource_guid,
                ip_configurations: interface
                    .ip_configurations
                    .into_iter()
                    .map(IpConfigurationBody::from)
                    .collect(),
                network_security_group: interface.network_security_group.map(SubResource::of),
                virtual_machine: interface.virtual_machine.map(SubResource::of),
                mac_address: interface.mac_address,
                other: interface.properties,
            },
        }
    }
}

impl From<IpConfiguration> for IpConfigurationBody {
    fn from(configuration: IpConfiguration) -> Self {
        Self {
            id: configuration.id,
            name: configuration.name,
            etag: configuration.etag,
            resource_type: "Microsoft.Network/networkInterfaces/ipConfigurations".to_owned(),
            properties: IpConfigurationProperties {
                provisioning_state: SUCCEEDED.to_owned(),
                private_ip_address: configuration.private_ip_address.to_string(),
                private_ip_allocation_method: configuration
                    .private_ip_allocation_method
                    .as_str()
                    .to_owned(),
                subnet: SubResource::of(configuration.subnet),
                public_ip_address: configuration.public_ip_address.map(SubResource::of),
                primary: configuration.primary,
                other: configuration.properties,
            },
        }
    }
}

// ---- shared conversions ----

fn envelope(
    location: Option<String>,
    tags: Option<Tags>,
    extra: Map<String, Value>,
) -> EnvelopeSpec {
    EnvelopeSpec {
        location,
        tags: tags.unwrap_or_default(),
        extra,
    }
}

fn written(upserted: Upserted) -> StatusCode {
    match upserted {
        Upserted::Created => StatusCode::CREATED,
        Upserted::Updated => StatusCode::OK,
    }
}

/// 200 for a deleted resource, 204 when there was none, as the network provider answers.
fn deleted(deletion: Deletion) -> Response {
    match deletion {
        Deletion::Deleted => StatusCode::OK.into_response(),
        Deletion::Absent => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A 200 with `body`.
fn ok(body: &impl Serialize) -> ArmResult {
    Ok(json_response(StatusCode::OK, body))
}

// ---- virtual network handlers ----

#[utoipa::path(
    get,
    path = spec::ListVirtualNetworksInSubscription.path,
    operation_id = spec::ListVirtualNetworksInSubscription.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subscription's virtual networks, by group and name.", body = VirtualNetworkList),
    )
)]
pub async fn list_virtual_networks_in_subscription(
    state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    let networks = network::list_virtual_networks(&state.db, subscription, None).await?;
    ok(&VirtualNetworkList {
        value: networks.into_iter().map(VirtualNetworkBody::from).collect(),
    })
}

#[utoipa::path(
    get,
    path = spec::ListVirtualNetworks.path,
    operation_id = spec::ListVirtualNetworks.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group's virtual networks, by name.", body = VirtualNetworkList),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_virtual_networks(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
) -> ArmResult {
    let networks =
        network::list_virtual_networks(&state.db, &group.subscription, Some(&group.group)).await?;
    ok(&VirtualNetworkList {
        value: networks.into_iter().map(VirtualNetworkBody::from).collect(),
    })
}

#[utoipa::path(
    put,
    path = spec::PutVirtualNetwork.path,
    operation_id = spec::PutVirtualNetwork.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("virtualNetworkName" = String, Path, description = "1 to 80 word characters, `.`, `-` and `_`, starting with a word character and not ending in `.` or `-`; matched case-insensitively."),
        ApiVersion,
    ),
    request_body = VirtualNetworkPut,
    responses(
        (status = 200, description = "The network was updated; subnets left out of `subnets` were deleted.", body = VirtualNetworkBody),
        (status = 201, description = "The network was created with its subnets.", body = VirtualNetworkBody),
        (status = 400, description = "`InvalidResourceName`, `LocationRequired`, `AddressPrefixStringCannotBeNullOrEmpty`, `InvalidAddressPrefixFormat`, `InvalidCIDRNotation`, `NetcfgInvalidSubnet` (longer than /29), `NetcfgSubnetRangeOutsideVnet`, `NetcfgSubnetRangesOverlap`, `InUseSubnetCannotBeDeleted`, `InUseSubnetCannotBeUpdated`, `InvalidResourceReference`, `LinkedInvalidPropertyId`, `InvalidRequestFormat` or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
        (status = 409, description = "`InvalidResourceLocation`: the network exists in another location.", body = ErrorResponse),
    )
)]
pub async fn put_virtual_network(
    state: &ApiState,
    request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let body: VirtualNetworkPut = request.json()?;
    let (network, upserted) = network::put_virtual_network(
        &state.db,
        state.clock.now(),
        &group.subscription,
        &group.group,
        name,
        body.into_command(),
    )
    .await?;
    Ok(json_response(
        written(upserted),
        &VirtualNetworkBody::from(network),
    ))
}

#[utoipa::path(
    get,
    path = spec::GetVirtualNetwork.path,
    operation_id = spec::GetVirtualNetwork.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("virtualNetworkName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The network with its subnets.", body = VirtualNetworkBody),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_virtual_network(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let network =
        network::get_virtual_network(&state.db, &group.subscription, &group.group, name).await?;
    ok(&VirtualNetworkBody::from(network))
}

#[utoipa::path(
    delete,
    path = spec::DeleteVirtualNetwork.path,
    operation_id = spec::DeleteVirtualNetwork.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("virtualNetworkName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The network and its subnets were deleted."),
        (status = 204, description = "There was no such network."),
        (status = 400, description = "`InUseSubnetCannotBeDeleted`: a NIC has an address in one of its subnets.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn delete_virtual_network(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let deletion =
        network::delete_virtual_network(&state.db, &group.subscription, &group.group, name).await?;
    Ok(deleted(deletion))
}

// ---- subnet handlers ----

#[utoipa::path(
    get,
    path = spec::ListSubnets.path,
    operation_id = spec::ListSubnets.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("virtualNetworkName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The network's subnets, by name.", body = SubnetList),
        (status = 404, description = "`ResourceNotFound` (the network) or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_subnets(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    network_name: &str,
) -> ArmResult {
    let subnets =
        network::list_subnets(&state.db, &group.subscription, &group.group, network_name).await?;
    ok(&SubnetList {
        value: subnets.into_iter().map(SubnetBody::from).collect(),
    })
}

#[utoipa::path(
    put,
    path = spec::PutSubnet.path,
    operation_id = spec::PutSubnet.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("virtualNetworkName" = String, Path, description = "Matched case-insensitively."),
        ("subnetName" = String, Path, description = "1 to 80 word characters, `.`, `-` and `_`; matched case-insensitively."),
        ApiVersion,
    ),
    request_body = SubnetPut,
    responses(
        (status = 200, description = "The subnet was updated (and with it its network's etag).", body = SubnetBody),
        (status = 201, description = "The subnet was created; the network's `subnets` show it.", body = SubnetBody),
        (status = 400, description = "`InvalidResourceName`, `AddressPrefixStringCannotBeNullOrEmpty`, `InvalidAddressPrefixFormat`, `InvalidCIDRNotation`, `NetcfgInvalidSubnet`, `NetcfgSubnetRangeOutsideVnet`, `NetcfgSubnetRangesOverlap`, `InUseSubnetCannotBeUpdated`, `InvalidResourceReference`, `LinkedInvalidPropertyId` or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceNotFound` (the network) or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn put_subnet(
    state: &ApiState,
    request: &ArmRequest,
    group: &GroupPath,
    network_name: &str,
    name: &str,
) -> ArmResult {
    let body: SubnetPut = request.json()?;
    let (subnet, upserted) = network::put_subnet(
        &state.db,
        state.clock.now(),
        &group.subscription,
        &group.group,
        network_name,
        name,
        body.into_spec(),
    )
    .await?;
    Ok(json_response(written(upserted), &SubnetBody::from(subnet)))
}

#[utoipa::path(
    get,
    path = spec::GetSubnet.path,
    operation_id = spec::GetSubnet.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("virtualNetworkName" = String, Path, description = "Matched case-insensitively."),
        ("subnetName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subnet, with the IP configurations in it.", body = SubnetBody),
        (status = 404, description = "`NotFound` (the subnet), `ResourceNotFound` (the network) or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_subnet(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    network_name: &str,
    name: &str,
) -> ArmResult {
    let subnet = network::get_subnet(
        &state.db,
        &group.subscription,
        &group.group,
        network_name,
        name,
    )
    .await?;
    ok(&SubnetBody::from(subnet))
}

#[utoipa::path(
    delete,
    path = spec::DeleteSubnet.path,
    operation_id = spec::DeleteSubnet.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("virtualNetworkName" = String, Path, description = "Matched case-insensitively."),
        ("subnetName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subnet was deleted."),
        (status = 204, description = "There was no such subnet or network."),
        (status = 400, description = "`InUseSubnetCannotBeDeleted`: a NIC has an address in the subnet.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn delete_subnet(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    network_name: &str,
    name: &str,
) -> ArmResult {
    let deletion = network::delete_subnet(
        &state.db,
        state.clock.now(),
        &group.subscription,
        &group.group,
        network_name,
        name,
    )
    .await?;
    Ok(deleted(deletion))
}

// ---- network security group handlers ----

#[utoipa::path(
    get,
    path = spec::ListNetworkSecurityGroupsInSubscription.path,
    operation_id = spec::ListNetworkSecurityGroupsInSubscription.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subscription's network security groups, by group and name.", body = NetworkSecurityGroupList),
    )
)]
pub async fn list_security_groups_in_subscription(
    state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    let groups = network::list_security_groups(&state.db, subscription, None).await?;
    ok(&NetworkSecurityGroupList {
        value: groups
            .into_iter()
            .map(NetworkSecurityGroupBody::from)
            .collect(),
    })
}

#[utoipa::path(
    get,
    path = spec::ListNetworkSecurityGroups.path,
    operation_id = spec::ListNetworkSecurityGroups.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group's network security groups, by name.", body = NetworkSecurityGroupList),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_security_groups(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
) -> ArmResult {
    let groups =
        network::list_security_groups(&state.db, &group.subscription, Some(&group.group)).await?;
    ok(&NetworkSecurityGroupList {
        value: groups
            .into_iter()
            .map(NetworkSecurityGroupBody::from)
            .collect(),
    })
}

#[utoipa::path(
    put,
    path = spec::PutNetworkSecurityGroup.path,
    operation_id = spec::PutNetworkSecurityGroup.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("networkSecurityGroupName" = String, Path, description = "1 to 80 word characters, `.`, `-` and `_`; matched case-insensitively."),
        ApiVersion,
    ),
    request_body = NetworkSecurityGroupPut,
    responses(
        (status = 200, description = "The group was updated; its rules are the body's.", body = NetworkSecurityGroupBody),
        (status = 201, description = "The group was created, with Azure's default rules.", body = NetworkSecurityGroupBody),
        (status = 400, description = "`InvalidResourceName`, `LocationRequired`, `SecurityRuleInvalidPriority`, `SecurityRuleConflict`, `InvalidRequestFormat` or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
        (status = 409, description = "`InvalidResourceLocation`: the group exists in another location.", body = ErrorResponse),
    )
)]
pub async fn put_security_group(
    state: &ApiState,
    request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let body: NetworkSecurityGroupPut = request.json()?;
    let (security_group, upserted) = network::put_security_group(
        &state.db,
        state.clock.now(),
        &group.subscription,
        &group.group,
        name,
        body.into_command(),
    )
    .await?;
    Ok(json_response(
        written(upserted),
        &NetworkSecurityGroupBody::from(security_group),
    ))
}

#[utoipa::path(
    get,
    path = spec::GetNetworkSecurityGroup.path,
    operation_id = spec::GetNetworkSecurityGroup.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("networkSecurityGroupName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group, with its rules, Azure's default rules and its users.", body = NetworkSecurityGroupBody),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_security_group(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let security_group =
        network::get_security_group(&state.db, &group.subscription, &group.group, name).await?;
    ok(&NetworkSecurityGroupBody::from(security_group))
}

#[utoipa::path(
    delete,
    path = spec::DeleteNetworkSecurityGroup.path,
    operation_id = spec::DeleteNetworkSecurityGroup.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("networkSecurityGroupName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group was deleted."),
        (status = 204, description = "There was no such group."),
        (status = 400, description = "`InUseNetworkSecurityGroupCannotBeDeleted`: a NIC or a subnet uses the group.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn delete_security_group(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let deletion =
        network::delete_security_group(&state.db, &group.subscription, &group.group, name).await?;
    Ok(deleted(deletion))
}

// ---- public IP address handlers ----

#[utoipa::path(
    get,
    path = spec::ListPublicIpAddressesInSubscription.path,
    operation_id = spec::ListPublicIpAddressesInSubscription.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subscription's public IP addresses, by group and name.", body = PublicIpAddressList),
    )
)]
pub async fn list_public_ip_addresses_in_subscription(
    state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    let addresses = network::list_public_ip_addresses(&state.db, subscription, None).await?;
    ok(&PublicIpAddressList {
        value: addresses
            .into_iter()
            .map(PublicIpAddressBody::from)
            .collect(),
    })
}

#[utoipa::path(
    get,
    path = spec::ListPublicIpAddresses.path,
    operation_id = spec::ListPublicIpAddresses.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group's public IP addresses, by name.", body = PublicIpAddressList),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_public_ip_addresses(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
) -> ArmResult {
    let addresses =
        network::list_public_ip_addresses(&state.db, &group.subscription, Some(&group.group))
            .await?;
    ok(&PublicIpAddressList {
        value: addresses
            .into_iter()
            .map(PublicIpAddressBody::from)
            .collect(),
    })
}

#[utoipa::path(
    put,
    path = spec::PutPublicIpAddress.path,
    operation_id = spec::PutPublicIpAddress.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("publicIpAddressName" = String, Path, description = "1 to 80 word characters, `.`, `-` and `_`; matched case-insensitively."),
        ApiVersion,
    ),
    request_body = PublicIpAddressPut,
    responses(
        (status = 200, description = "The address was updated; a static one keeps its address.", body = PublicIpAddressBody),
        (status = 201, description = "The address was created; a static one has its address.", body = PublicIpAddressBody),
        (status = 400, description = "`InvalidResourceName`, `LocationRequired`, `StandardSkuPublicIPAddressesMustBeStatic`, `PublicIPCountLimitReached`, `InvalidRequestFormat` or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
        (status = 409, description = "`InvalidResourceLocation`: the address exists in another location.", body = ErrorResponse),
    )
)]
pub async fn put_public_ip_address(
    state: &ApiState,
    request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let body: PublicIpAddressPut = request.json()?;
    let (address, upserted) = network::put_public_ip_address(
        &state.db,
        state.clock.now(),
        &group.subscription,
        &group.group,
        name,
        body.into_command(),
    )
    .await?;
    Ok(json_response(
        written(upserted),
        &PublicIpAddressBody::from(address),
    ))
}

#[utoipa::path(
    get,
    path = spec::GetPublicIpAddress.path,
    operation_id = spec::GetPublicIpAddress.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("publicIpAddressName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The address.", body = PublicIpAddressBody),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_public_ip_address(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let address =
        network::get_public_ip_address(&state.db, &group.subscription, &group.group, name).await?;
    ok(&PublicIpAddressBody::from(address))
}

#[utoipa::path(
    delete,
    path = spec::DeletePublicIpAddress.path,
    operation_id = spec::DeletePublicIpAddress.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("publicIpAddressName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The address was deleted and its IP released."),
        (status = 204, description = "There was no such address."),
        (status = 400, description = "`PublicIPAddressCannotBeDeleted`: a NIC IP configuration uses it.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn delete_public_ip_address(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let deletion =
        network::delete_public_ip_address(&state.db, &group.subscription, &group.group, name)
            .await?;
    Ok(deleted(deletion))
}

// ---- network interface handlers ----

#[utoipa::path(
    get,
    path = spec::ListNetworkInterfacesInSubscription.path,
    operation_id = spec::ListNetworkInterfacesInSubscription.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subscription's NICs, by group and name.", body = NetworkInterfaceList),
    )
)]
pub async fn list_network_interfaces_in_subscription(
    state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    let interfaces = network::list_network_interfaces(&state.db, subscription, None).await?;
    ok(&NetworkInterfaceList {
        value: interfaces
            .into_iter()
            .map(NetworkInterfaceBody::from)
            .collect(),
    })
}

#[utoipa::path(
    get,
    path = spec::ListNetworkInterfaces.path,
    operation_id = spec::ListNetworkInterfaces.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group's NICs, by name.", body = NetworkInterfaceList),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_network_interfaces(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
) -> ArmResult {
    let interfaces =
        network::list_network_interfaces(&state.db, &group.subscription, Some(&group.group))
            .await?;
    ok(&NetworkInterfaceList {
        value: interfaces
            .into_iter()
            .map(NetworkInterfaceBody::from)
            .collect(),
    })
}

#[utoipa::path(
    put,
    path = spec::PutNetworkInterface.path,
    operation_id = spec::PutNetworkInterface.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("networkInterfaceName" = String, Path, description = "1 to 80 word characters, `.`, `-` and `_`; matched case-insensitively."),
        ApiVersion,
    ),
    request_body = NetworkInterfacePut,
    responses(
        (status = 200, description = "The NIC was updated; dynamic addresses stay while their configuration stays in its subnet.", body = NetworkInterfaceBody),
        (status = 201, description = "The NIC was created with its addresses.", body = NetworkInterfaceBody),
        (status = 400, description = "`InvalidResourceName`, `LocationRequired`, `InvalidIPConfigCount`, `NetworkInterfaceMustHaveOneOneIPConfigAsPrimary`, `InvalidResourceReference`, `LinkedInvalidPropertyId`, `PublicIPAddressInUse`, `SubnetIsFull`, `PrivateIPAddressNotInSubnet`, `PrivateIPAddressInReservedRange`, `PrivateIPAddressIsAllocated`, `InvalidRequestFormat` or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
        (status = 409, description = "`InvalidResourceLocation`: the NIC exists in another location.", body = ErrorResponse),
    )
)]
pub async fn put_network_interface(
    state: &ApiState,
    request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let body: NetworkInterfacePut = request.json()?;
    let (interface, upserted) = network::put_network_interface(
        &state.db,
        state.clock.now(),
        &group.subscription,
        &group.group,
        name,
        body.into_command(),
    )
    .await?;
    Ok(json_response(
        written(upserted),
        &NetworkInterfaceBody::from(interface),
    ))
}

#[utoipa::path(
    get,
    path = spec::GetNetworkInterface.path,
    operation_id = spec::GetNetworkInterface.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("networkInterfaceName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The NIC.", body = NetworkInterfaceBody),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_network_interface(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let interface =
        network::get_network_interface(&state.db, &group.subscription, &group.group, name).await?;
    ok(&NetworkInterfaceBody::from(interface))
}

#[utoipa::path(
    delete,
    path = spec::DeleteNetworkInterface.path,
    operation_id = spec::DeleteNetworkInterface.operation_id,
    tag = "Microsoft.Network",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("networkInterfaceName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The NIC was deleted and its addresses released."),
        (status = 204, description = "There was no such NIC."),
        (status = 400, description = "`NicInUse`: a VM uses the NIC.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn delete_network_interface(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    name: &str,
) -> ArmResult {
    let deletion =
        network::delete_network_interface(&state.db, &group.subscription, &group.group, name)
            .await?;
    Ok(deleted(deletion))
}

/// The Microsoft.Network operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_virtual_networks_in_subscription,
        list_virtual_networks,
        put_virtual_network,
        get_virtual_network,
        delete_virtual_network,
        list_subnets,
        put_subnet,
        get_subnet,
        delete_subnet,
        list_security_groups_in_subscription,
        list_security_groups,
        put_security_group,
        get_security_group,
        delete_security_group,
        list_public_ip_addresses_in_subscription,
        list_public_ip_addresses,
        put_public_ip_address,
        get_public_ip_address,
        delete_public_ip_address,
        list_network_interfaces_in_subscription,
        list_network_interfaces,
        put_network_interface,
        get_network_interface,
        delete_network_interface
    ),
    components(schemas(
        SubResource,
        AddressSpace,
        VirtualNetworkPut,
        VirtualNetworkPutProperties,
        SubnetPut,
        SubnetPutProperties,
        VirtualNetworkBody,
        VirtualNetworkProperties,
        SubnetBody,
        SubnetProperties,
        VirtualNetworkList,
        SubnetList,
        NetworkSecurityGroupPut,
        NetworkSecurityGroupPutProperties,
        SecurityRulePut,
        SecurityRulePutProperties,
        NetworkSecurityGroupBody,
        NetworkSecurityGroupProperties,
        SecurityRuleBody,
        SecurityRuleProperties,
        NetworkSecurityGroupList,
        PublicIpAddressPut,
        PublicIpSkuPut,
        PublicIpAddressPutProperties,
        PublicIpAddressBody,
        PublicIpSkuBody,
        PublicIpAddressProperties,
        PublicIpAddressList,
        NetworkInterfacePut,
        NetworkInterfacePutProperties,
        IpConfigurationPut,
        IpConfigurationPutProperties,
        NetworkInterfaceBody,
        NetworkInterfaceProperties,
        IpConfigurationBody,
        IpConfigurationProperties,
        NetworkInterfaceList,
        ErrorResponse
    ))
)]
pub struct NetworkApi;

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use axum::http::Method;
    use serde_json::json;
    use utoipa::OpenApi;

    use super::super::route;
    use super::*;
    use crate::resources::network::{AllocationMethod, Ipv4Cidr};

    #[test]
    fn the_openapi_document_names_the_served_network_routes() {
        let doc = NetworkApi::openapi();
        let mut ids = Vec::new();
        for (path, item) in &doc.paths.paths {
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for (method, operation) in [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::DELETE, &item.delete),
            ] {
                let Some(operation) = operation else { continue };
                let id = operation.operation_id.clone().unwrap_or_default();
                let served = route::parse(&method, &concrete).expect("a served route");
                assert_eq!(served.operation_id(), id, "{method} {path}");
                ids.push(id);
            }
        }
        ids.sort();
        let mut expected = Vec::new();
        for family in [
            "NetworkInterfaces",
            "NetworkSecurityGroups",
            "PublicIPAddresses",
            "Subnets",
            "VirtualNetworks",
        ] {
            for operation in ["CreateOrUpdate", "Delete", "Get", "List", "ListAll"] {
                if family != "Subnets" || operation != "ListAll" {
                    expected.push(format!("{family}_{operation}"));
                }
            }
        }
        assert_eq!(ids, expected);
    }

    #[test]
    fn subnets_answer_in_the_prefix_member_they_were_given() {
        let subnet = |prefixes| Subnet {
            id: "/s/subnets/a".into(),
            name: "a".into(),
            etag: "W/\"e\"".into(),
            prefixes,
            network_security_group: None,
            ip_configurations: vec!["/nic/ipConfigurations/ipconfig1".into()],
            properties: Map::new(),
        };
        let prefix = Ipv4Cidr::parse("10.0.0.0/24").unwrap();
        let one =
            serde_json::to_value(SubnetBody::from(subnet(SubnetPrefixes::One(prefix)))).unwrap();
        assert_eq!(
            one,
            json!({
                "id": "/s/subnets/a",
                "name": "a",
                "etag": "W/\"e\"",
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "properties": {
                    "provisioningState": "Succeeded",
                    "addressPrefix": "10.0.0.0/24",
                    "ipConfigurations": [{"id": "/nic/ipConfigurations/ipconfig1"}]
                }
            })
        );
        let many =
            serde_json::to_value(SubnetBody::from(subnet(SubnetPrefixes::Many(vec![prefix]))))
                .unwrap();
        assert_eq!(
            many["properties"]["addressPrefixes"],
            json!(["10.0.0.0/24"])
        );
        assert!(many["properties"].get("addressPrefix").is_none());
    }

    #[test]
    fn ip_configurations_are_spelled_as_the_network_provider_spells_them() {
        let body = IpConfigurationBody::from(IpConfiguration {
            id: "/nic/ipConfigurations/ipconfig1".into(),
            name: "ipconfig1".into(),
            etag: "W/\"e\"".into(),
            primary: true,
            subnet: "/subnet".into(),
            private_ip_address: Ipv4Addr::new(10, 0, 0, 4),
            private_ip_allocation_method: AllocationMethod::Dynamic,
            public_ip_address: Some("/ip".into()),
            properties: Map::new(),
        });
        assert_eq!(
            serde_json::to_value(body).unwrap()["properties"],
            json!({
                "provisioningState": "Succeeded",
                "privateIPAddress": "10.0.0.4",
                "privateIPAllocationMethod": "Dynamic",
                "subnet": {"id": "/subnet"},
                "publicIPAddress": {"id": "/ip"},
                "primary": true
            })
        );
    }

    #[test]
    fn a_put_body_keeps_unknown_members_for_the_domain_to_sort() {
        let body: NetworkInterfacePut = serde_json::from_value(json!({
            "id": "/nic",
            "location": "westeurope",
            "zones": ["1"],
            "properties": {
                "enableAcceleratedNetworking": true,
                "virtualMachine": {"id": "/vm"},
                "ipConfigurations": [{
                    "name": "ipconfig1",
                    "etag": "W/\"e\"",
                    "properties": {
                        "subnet": {"id": "/subnet"},
                        "privateIPAddress": "10.0.0.4",
                        "privateIPAllocationMethod": "Dynamic",
                        "provisioningState": "Succeeded"
                    }
                }]
            }
        }))
        .unwrap();
        let command = body.into_command();
        assert_eq!(command.envelope.extra["zones"], json!(["1"]));
        assert_eq!(
            command.properties["enableAcceleratedNetworking"],
            json!(true)
        );
        let configuration = &command.ip_configurations[0];
        assert_eq!(configuration.subnet.as_deref(), Some("/subnet"));
        assert_eq!(
            configuration.private_ip_address.as_deref(),
            Some("10.0.0.4")
        );
        assert!(configuration.properties.contains_key("provisioningState"));
    }
}
