//! Network security groups (`Microsoft.Network/networkSecurityGroups`): the security rules
//! a PUT gives, checked as Azure checks them (priorities 100 to 4096, no two alike in one
//! direction), and the six default rules every group has. A group cannot be deleted while a
//! NIC or a subnet uses it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::ids::{Kind, NetworkId};
use super::store::{self, SourceKind, Stored, User};
use super::tracked::{
    put_envelope, validate_name, with_defaults, without, Envelope, EnvelopeSpec, Tracked,
};
use super::{id_of, invalid_request, not_found, users_by_target, Deletion};
use crate::resources::groups::Upserted;
use crate::resources::lookup;
use crate::resources::ResourceError;
use crate::store::Db;

/// A network security group.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroup {
    pub tracked: Tracked,
    pub security_rules: Vec<SecurityRule>,
    /// The rules every group has, after its own.
    pub default_security_rules: Vec<SecurityRule>,
    /// The NICs that use the group.
    pub network_interfaces: Vec<String>,
    /// The subnets that use the group.
    pub subnets: Vec<String>,
    /// The other members of `properties`, as given.
    pub properties: Map<String, Value>,
}

/// A security rule, the group's own or a default one.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityRule {
    pub id: String,
    pub name: String,
    /// The group's.
    pub etag: String,
    /// `Microsoft.Network/networkSecurityGroups/securityRules` or `.../defaultSecurityRules`.
    pub resource_type: &'static str,
    pub priority: u16,
    pub direction: Direction,
    pub access: Access,
    /// `Tcp`, `Udp`, `Icmp`, `Esp`, `Ah` or `*`.
    pub protocol: String,
    /// The other members of `properties` (ports, address prefixes, description...), as
    /// given, with Azure's empty lists where none was.
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "Inbound",
            Self::Outbound => "Outbound",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    Allow,
    Deny,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        }
    }
}

/// The protocols a rule may name, as Azure spells them.
const PROTOCOLS: [&str; 6] = ["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"];

/// What a security group PUT asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutSecurityGroup {
    pub envelope: EnvelopeSpec,
    /// `properties.securityRules`: every rule the group keeps.
    pub security_rules: Vec<SecurityRuleSpec>,
    /// The other members of `properties`.
    pub properties: Map<String, Value>,
}

/// One rule of a security group PUT.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityRuleSpec {
    pub name: Option<String>,
    pub priority: Option<i64>,
    pub direction: Option<String>,
    pub access: Option<String>,
    pub protocol: Option<String>,
    /// The other members of `properties`.
    pub properties: Map<String, Value>,
}

/// The members of a group's `properties` the service sets or models itself.
const GROUP_MODELLED: [&str; 6] = [
    "provisioningState",
    "resourceGuid",
    "securityRules",
    "defaultSecurityRules",
    "networkInterfaces",
    "subnets",
];

/// The members of a rule's `properties` the service sets or models itself.
const RULE_MODELLED: [&str; 5] = [
    "provisioningState",
    "priority",
    "direction",
    "access",
    "protocol",
];

/// The priorities a group's own rules may have; the default rules' are above.
const PRIORITIES: std::ops::RangeInclusive<i64> = 100..=4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupState {
    security_rules: Vec<StoredRule>,
    properties: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRule {
    name: String,
    priority: u16,
    direction: Direction,
    access: Access,
    protocol: String,
    properties: Map<String, Value>,
}

/// Creates or replaces a security group with its rules.
pub async fn put_security_group(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    name: &str,
    command: PutSecurityGroup,
) -> Result<(SecurityGroup, Upserted), ResourceError> {
    validate_name(name)?;
    let group = lookup::group(db, subscription, group).await?;
    let id = NetworkId::new(subscription, &group.name, Kind::SecurityGroup, name);
    let rules = command
        .security_rules
        .into_iter()
        .map(parse_rule)
        .collect::<Result<Vec<_>, _>>()?;
    check_rules(&rules)?;
    let mut tx = store::begin(db, subscription).await?;
    let existing = store::load(&mut tx, &id)
        .await?
        .map(|row| row.tracked::<GroupState>().map(|(tracked, _)| tracked))
        .transpose()?;
    let (tracked, upserted) = put_envelope(&id, existing.as_ref(), command.envelope)?;
    let document = Envelope {
        etag: tracked.etag.clone(),
        resource_guid: tracked.resource_guid.clone(),
        extra: tracked.extra.clone(),
        state: GroupState {
            security_rules: rules,
            properties: without(command.properties, &GROUP_MODELLED),
        },
    };
    store::save_tracked(&mut tx, &id, &tracked, &document, now).await?;
    tx.commit().await?;
    let security_group = get_security_group(db, subscription, &group.name, name).await?;
    Ok((security_group, upserted))
}

/// A security group. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn get_security_group(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<SecurityGroup, ResourceError> {
    let id = NetworkId::new(subscription, group, Kind::SecurityGroup, name);
    let mut conn = db.pool().acquire().await?;
    let Some(row) = store::load(&mut conn, &id).await? else {
        drop(conn);
        return Err(not_found(db, &id).await);
    };
    let users = store::users(&mut conn, &id).await?;
    security_group(&row, &users)
}

/// The security groups of a resource group (404 `ResourceGroupNotFound`) or, with no
/// group, of the subscription.
pub async fn list_security_groups(
    db: &Db,
    subscription: &str,
    group: Option<&str>,
) -> Result<Vec<SecurityGroup>, ResourceError> {
    if let Some(group) = group {
        lookup::group(db, subscription, group).await?;
    }
    let mut conn = db.pool().acquire().await?;
    let group_key = group.map(str::to_ascii_lowercase);
    let rows = store::list(
        &mut conn,
        subscription,
        group_key.as_deref(),
        Kind::SecurityGroup,
    )
    .await?;
    let users = users_by_target(&mut conn, subscription, Kind::SecurityGroup).await?;
    rows.iter()
        .map(|row| {
            let key = id_of(row, Kind::SecurityGroup)?.key();
            security_group(row, users.get(&key).map_or(&[], Vec::as_slice))
        })
        .collect()
}

/// Deletes a security group: 400 `InUseNetworkSecurityGroupCannotBeDeleted` while a NIC or
/// a subnet uses it. [`Deletion::Absent`] when there was none (404
/// `ResourceGroupNotFound` when the group is missing too).
pub async fn delete_security_group(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Deletion, ResourceError> {
    let id = NetworkId::new(subscription, group, Kind::SecurityGroup, name);
    let mut tx = store::begin(db, subscription).await?;
    let Some(row) = store::load(&mut tx, &id).await? else {
        drop(tx);
        lookup::group(db, subscription, group).await?;
        return Ok(Deletion::Absent);
    };
    let users = store::users(&mut tx, &id).await?;
    if !users.is_empty() {
        let users: Vec<&str> = users.iter().map(|u| u.source_id.as_str()).collect();
        return Err(ResourceError::invalid(
            "InUseNetworkSecurityGroupCannotBeDeleted",
            format!(
                "Network security group {} cannot be deleted because it is in use by the \
                 following resources: {}. In order to delete the Network security group, \
                 remove the association with the resource(s). To learn how to do this, see \
                 aka.ms/deletensg.",
                row.id,
                users.join(", ")
            ),
        ));
    }
    store::delete(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(Deletion::Deleted)
}

/// One rule of a PUT, checked on its own: 400 `SecurityRuleInvalidPriority` for a priority
/// outside 100 to 4096, `InvalidRequestFormat` for a direction, access or protocol Azure
/// does not know.
fn parse_rule(spec: SecurityRuleSpec) -> Result<StoredRule, ResourceError> {
    let name = spec.name.unwrap_or_default();
    validate_name(&name)?;
    let priority = spec
        .priority
        .filter(|p| PRIORITIES.contains(p))
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| {
            let given = spec.priority.map_or("none".to_owned(), |p| p.to_string());
            ResourceError::invalid(
                "SecurityRuleInvalidPriority",
                format!(
                    "Security rule {name} has invalid Priority. Value provided: {given} Allowed \
                     range {}-{}.",
                    PRIORITIES.start(),
                    PRIORITIES.end()
                ),
            )
        })?;
    let member = |value: Option<String>, what: &str, allowed: &[&'static str]| {
        let value = value.unwrap_or_default();
        allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(&value))
            .copied()
            .ok_or_else(|| {
                invalid_request(format!(
                    "security rule {name} has {what} '{value}'; it is one of {}.",
                    allowed.join(", ")
                ))
            })
    };
    let direction = match member(spec.direction, "direction", &["Inbound", "Outbound"])? {
        "Inbound" => Direction::Inbound,
        _ => Direction::Outbound,
    };
    let access = match member(spec.access, "access", &["Allow", "Deny"])? {
        "Allow" => Access::Allow,
        _ => Access::Deny,
    };
    let protocol = member(spec.protocol, "protocol", &PROTOCOLS)?;
    Ok(StoredRule {
        name,
        priority,
        direction,
        access,
        protocol: protocol.to_owned(),
        properties: without(spec.properties, &RULE_MODELLED),
    })
}

/// A group's rules have distinct names, and no two share a priority in one direction (400
/// `SecurityRuleConflict`, in Azure's words).
fn check_rules(rules: &[StoredRule]) -> Result<(), ResourceError> {
    for (index, rule) in rules.iter().enumerate() {
        for earlier in &rules[..index] {
            if earlier.name.eq_ignore_ascii_case(&rule.name) {
                return Err(invalid_request(format!(
                    "the security rule name '{}' is used twice.",
                    rule.name
                )));
            }
            if earlier.priority == rule.priority && earlier.direction == rule.direction {
                return Err(ResourceError::invalid(
                    "SecurityRuleConflict",
                    format!(
                        "Security rule {} conflicts with rule {}. Rules cannot have the same \
                         Priority and Direction. To learn more, see aka.ms/nsgrules.",
                        earlier.name, rule.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn security_group(row: &Stored, users: &[User]) -> Result<SecurityGroup, ResourceError> {
    let (tracked, state) = row.tracked::<GroupState>()?;
    let rule = |stored: StoredRule, segment: &str, resource_type: &'static str| SecurityRule {
        id: format!("{}/{segment}/{}", tracked.id, stored.name),
        name: stored.name,
        etag: tracked.etag.clone(),
        resource_type,
        priority: stored.priority,
        direction: stored.direction,
        access: stored.access,
        protocol: stored.protocol,
        properties: with_defaults(
            stored.properties,
            [
                ("sourcePortRanges", json!([])),
                ("destinationPortRanges", json!([])),
                ("sourceAddressPrefixes", json!([])),
                ("destinationAddressPrefixes", json!([])),
            ],
        ),
    };
    let users_of = |kind: SourceKind| {
        users
            .iter()
            .filter(|user| user.source_kind == kind)
            .map(|user| user.source_id.clone())
            .collect()
    };
    Ok(SecurityGroup {
        security_rules: state
            .security_rules
            .into_iter()
            .map(|r| {
                rule(
                    r,
                    "securityRules",
                    "Microsoft.Network/networkSecurityGroups/securityRules",
                )
            })
            .collect(),
        default_security_rules: default_rules()
            .into_iter()
            .map(|r| {
                rule(
                    r,
                    "defaultSecurityRules",
                    "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                )
            })
            .collect(),
        network_interfaces: users_of(SourceKind::NetworkInterface),
        subnets: users_of(SourceKind::Subnet),
        properties: state.properties,
        tracked,
    })
}

/// The rules Azure gives every security group, after the group's own: traffic within the
/// virtual network and from the load balancer in, everything else in denied; traffic within
/// the virtual network and to the internet out, everything else out denied.
fn default_rules() -> Vec<StoredRule> {
    use Access::{Allow, Deny};
    use Direction::{Inbound, Outbound};
    let rule = |name: &str, description: &str, direction, access, priority, source, target| {
        let Value::Object(properties) = json!({
            "description": description,
            "sourcePortRange": "*",
            "destinationPortRange": "*",
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": target,
        }) else {
            unreachable!("an object literal")
        };
        StoredRule {
            name: name.to_owned(),
            priority,
            direction,
            access,
            protocol: "*".to_owned(),
            properties,
        }
    };
    vec![
        rule(
            "AllowVnetInBound",
            "Allow inbound traffic from all VMs in VNET",
            Inbound,
            Allow,
            65000,
            "VirtualNetwork",
            "VirtualNetwork",
        ),
        rule(
            "AllowAzureLoadBalancerInBound",
            "Allow inbound traffic from azure load balancer",
            Inbound,
            Allow,
            65001,
            "AzureLoadBalancer",
            "*",
        ),
        rule(
            "DenyAllInBound",
            "Deny all inbound traffic",
            Inbound,
            Deny,
            65500,
            "*",
            "*",
        ),
        rule(
            "AllowVnetOutBound",
            "Allow outbound traffic from all VMs to all VMs in VNET",
            Outbound,
            Allow,
            65000,
            "VirtualNetwork",
            "VirtualNetwork",
        ),
        rule(
            "AllowInternetOutBound",
            "Allow outbound traffic from all VMs to Internet",
            Outbound,
            Allow,
            65001,
            "*",
            "Internet",
        ),
        rule(
            "DenyAllOutBound",
            "Deny all outbound traffic",
            Outbound,
            Deny,
            65500,
            "*",
            "*",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, priority: i64, direction: &str) -> SecurityRuleSpec {
        SecurityRuleSpec {
            name: Some(name.to_owned()),
            priority: Some(priority),
            direction: Some(direction.to_owned()),
            access: Some("allow".to_owned()),
            protocol: Some("TCP".to_owned()),
            properties: Map::new(),
        }
    }

    fn code<T: std::fmt::Debug>(result: Result<T, ResourceError>) -> String {
        match result {
            Err(ResourceError::Invalid { code, .. }) => code.into_owned(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn rules_are_spelled_as_azure_spells_them() {
        let rule = parse_rule(spec("ssh", 1000, "inbound")).unwrap();
        assert_eq!(
            (
                rule.priority,
                rule.direction,
                rule.access,
                rule.protocol.as_str()
            ),
            (1000, Direction::Inbound, Access::Allow, "Tcp")
        );
    }

    #[test]
    fn priorities_lie_between_100_and_4096() {
        for good in [100, 4096] {
            assert!(parse_rule(spec("r", good, "Inbound")).is_ok(), "{good}");
        }
        for bad in [99, 4097, 65000, -1] {
            assert_eq!(
                code(parse_rule(spec("r", bad, "Inbound"))),
                "SecurityRuleInvalidPriority"
            );
        }
        let missing = SecurityRuleSpec {
            priority: None,
            ..spec("r", 100, "Inbound")
        };
        assert_eq!(code(parse_rule(missing)), "SecurityRuleInvalidPriority");
        let sideways = spec("r", 100, "Sideways");
        assert_eq!(code(parse_rule(sideways)), "InvalidRequestFormat");
    }

    #[test]
    fn no_two_rules_share_a_priority_in_one_direction() {
        let rules = |specs: Vec<SecurityRuleSpec>| {
            specs
                .into_iter()
                .map(|s| parse_rule(s).unwrap())
                .collect::<Vec<_>>()
        };
        let fine = rules(vec![spec("a", 100, "Inbound"), spec("b", 100, "Outbound")]);
        assert!(check_rules(&fine).is_ok());
        let clash = rules(vec![spec("a", 100, "Inbound"), spec("b", 100, "Inbound")]);
        assert_eq!(code(check_rules(&clash)), "SecurityRuleConflict");
        let twice = rules(vec![spec("a", 100, "Inbound"), spec("A", 200, "Inbound")]);
        assert_eq!(code(check_rules(&twice)), "InvalidRequestFormat");
    }

    #[test]
    fn the_default_rules_are_azures_six() {
        let rules: Vec<(String, u16, Direction, Access)> = default_rules()
            .into_iter()
            .map(|r| (r.name, r.priority, r.direction, r.access))
            .collect();
        assert_eq!(
            rules,
            [
                (
                    "AllowVnetInBound".into(),
                    65000,
                    Direction::Inbound,
                    Access::Allow
                ),
                (
                    "AllowAzureLoadBalancerInBound".into(),
                    65001,
                    Direction::Inbound,
                    Access::Allow
                ),
                (
                    "DenyAllInBound".into(),
                    65500,
                    Direction::Inbound,
                    Access::Deny
                ),
                (
                    "AllowVnetOutBound".into(),
                    65000,
                    Direction::Outbound,
                    Access::Allow
                ),
                (
                    "AllowInternetOutBound".into(),
                    65001,
                    Direction::Outbound,
                    Access::Allow
                ),
                (
                    "DenyAllOutBound".into(),
                    65500,
                    Direction::Outbound,
                    Access::Deny
                ),
            ]
        );
    }
}
