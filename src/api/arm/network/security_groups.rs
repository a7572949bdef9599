//! Network security groups: the wire types of a group's PUT and GET bodies, with its rules
//! and Azure's default ones, and the list, create-or-update, get and delete handlers.

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
    self, PutSecurityGroup, SecurityGroup, SecurityRule, SecurityRuleSpec,
};

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

// ---- handlers ----

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
