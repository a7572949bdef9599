//! Public IP addresses: the wire types of an address's PUT and GET bodies, with its SKU, and
//! the list, create-or-update, get and delete handlers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{deleted, envelope, ok, written, SubResource, SUCCEEDED};
use crate::api::arm::error::ErrorResponse;
use crate::api::arm::params::ApiVersion;
use crate::api::arm::route::{spec, GroupPath};
use crate::api::arm::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::lookup::Tags;
use crate::resources::network::{self, PublicIpAddress, PutPublicIpAddress};

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

// ---- handlers ----

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
