//! Network interfaces: the wire types of a NIC's PUT and GET bodies, with its IP
//! configurations, and the list, create-or-update, get and delete handlers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{deleted, envelope, ok, written, SubResource, SUCCEEDED};
use crate::api::arm::error::ErrorResponse;
use crate::api::arm::params::ApiVersion;
use crate::api::arm::route::{spec, GroupPath};
use crate::api::arm::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::lookup::Tags;
use crate::resources::network::{
    self, IpConfiguration, IpConfigurationSpec, NetworkInterface, PutNetworkInterface,
};

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

// ---- handlers ----

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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use serde_json::json;

    use super::*;
    use crate::resources::network::AllocationMethod;

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
