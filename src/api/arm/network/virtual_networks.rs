//! Virtual networks: the wire types of a network's PUT and GET bodies and the list and
//! create-or-update, get and delete handlers. A network's subnets are written with it; their
//! wire types are [`super::subnets`]'.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::subnets::{SubnetBody, SubnetPut};
use super::{deleted, envelope, ok, written, SUCCEEDED};
use crate::api::arm::error::ErrorResponse;
use crate::api::arm::params::ApiVersion;
use crate::api::arm::route::{spec, GroupPath};
use crate::api::arm::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::lookup::Tags;
use crate::resources::network::{self, PutVirtualNetwork, VirtualNetwork};

/// `properties.addressSpace` of a virtual network.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressSpace {
    /// IPv4 prefixes in CIDR notation, e.g. `10.0.0.0/16`.
    #[serde(default)]
    pub address_prefixes: Vec<String>,
}

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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualNetworkList {
    pub value: Vec<VirtualNetworkBody>,
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

// ---- handlers ----

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
