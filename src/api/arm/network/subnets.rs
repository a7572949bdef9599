//! Subnets: the wire types a subnet has inside its virtual network's body and as its own,
//! and the list, create-or-update, get and delete handlers of the subnet routes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{deleted, ok, written, SubResource, SUCCEEDED};
use crate::api::arm::error::ErrorResponse;
use crate::api::arm::params::ApiVersion;
use crate::api::arm::route::{spec, GroupPath};
use crate::api::arm::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::network::{self, Subnet, SubnetPrefixes, SubnetSpec};

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
pub struct SubnetList {
    pub value: Vec<SubnetBody>,
}

impl SubnetPut {
    pub(super) fn into_spec(self) -> SubnetSpec {
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

// ---- handlers ----

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::network::Ipv4Cidr;

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
}
