//! Virtual networks (`Microsoft.Network/virtualNetworks`) and their subnets. A subnet is a
//! row of its own, written by a subnet PUT or as one of the `subnets` of its virtual
//! network's PUT (which deletes the subnets it no longer lists, as ARM's PUT does); either
//! way a virtual network's GET shows its subnets, and every subnet shows its virtual
//! network's etag, as Azure's do. Subnets lie inside the address space, do not overlap, and
//! cannot be deleted, nor their prefixes changed, while a NIC has an address in them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::addresses::{CidrError, Ipv4Cidr};
use super::ids::{Kind, NetworkId};
use super::store::{self, Reference, SourceKind, Stored, User};
use super::tracked::{
    new_etag, put_envelope, validate_name, with_defaults, without, Envelope, EnvelopeSpec, Tracked,
};
use super::{invalid_property_id, not_found, resolve, Deletion};
use crate::resources::groups::Upserted;
use crate::resources::lookup::{self, Tags};
use crate::resources::ResourceError;
use crate::store::Db;

/// A virtual network with its subnets.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualNetwork {
    pub tracked: Tracked,
    /// `properties.addressSpace.addressPrefixes`.
    pub address_prefixes: Vec<Ipv4Cidr>,
    pub subnets: Vec<Subnet>,
    /// The other members of `properties`, as given, with Azure's defaults where none was.
    pub properties: Map<String, Value>,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    /// Its virtual network's: writing a subnet writes its virtual network.
    pub etag: String,
    pub prefixes: SubnetPrefixes,
    /// The network security group's id, as created.
    pub network_security_group: Option<String>,
    /// The IP configurations that have an address in the subnet.
    pub ip_configurations: Vec<String>,
    /// The other members of `properties`, as given, with Azure's defaults where none was.
    pub properties: Map<String, Value>,
}

/// A subnet's prefixes, in the member the client set them with: Azure answers with the
/// same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SubnetPrefixes {
    /// `addressPrefix`.
    One(Ipv4Cidr),
    /// `addressPrefixes`.
    Many(Vec<Ipv4Cidr>),
}

impl SubnetPrefixes {
    pub fn all(&self) -> &[Ipv4Cidr] {
        match self {
            Self::One(prefix) => std::slice::from_ref(prefix),
            Self::Many(prefixes) => prefixes,
        }
    }
}

/// What a virtual network PUT asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutVirtualNetwork {
    pub envelope: EnvelopeSpec,
    /// `properties.addressSpace.addressPrefixes`, as written.
    pub address_prefixes: Vec<String>,
    /// `properties.subnets`: every subnet the network keeps.
    pub subnets: Vec<SubnetSpec>,
    /// The other members of `properties`.
    pub properties: Map<String, Value>,
}

/// What a subnet PUT, or one of a virtual network PUT's `subnets`, asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubnetSpec {
    /// Required in a virtual network's `subnets`; a subnet PUT names it in its path.
    pub name: Option<String>,
    pub address_prefix: Option<String>,
    pub address_prefixes: Option<Vec<String>>,
    /// `networkSecurityGroup.id`, as written.
    pub network_security_group: Option<String>,
    /// The other members of `properties`.
    pub properties: Map<String, Value>,
}

/// The members of a virtual network's `properties` the service sets or models itself.
const NETWORK_MODELLED: [&str; 4] = [
    "provisioningState",
    "resourceGuid",
    "addressSpace",
    "subnets",
];

/// The members of a subnet's `properties` the service sets or models itself.
const SUBNET_MODELLED: [&str; 5] = [
    "provisioningState",
    "addressPrefix",
    "addressPrefixes",
    "networkSecurityGroup",
    "ipConfigurations",
];

/// The longest prefix a subnet may have: Azure's smallest subnet is a /29 (three hosts).
const LONGEST_SUBNET_PREFIX: u8 = 29;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetworkState {
    address_prefixes: Vec<Ipv4Cidr>,
    properties: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubnetState {
    prefixes: SubnetPrefixes,
    network_security_group: Option<String>,
    properties: Map<String, Value>,
}

/// A subnet of a request, checked on its own.
struct ParsedSubnet {
    id: NetworkId,
    prefixes: SubnetPrefixes,
    network_security_group: Option<NetworkId>,
    properties: Map<String, Value>,
}

/// Creates or replaces a virtual network and its subnets: the address space and each subnet
/// are checked as `parse_prefix` and `check_layout` say, a subnet's security group must
/// exist in the network's region (400 `InvalidResourceReference`), and a subnet with a NIC's
/// address in it can be neither left out (400 `InUseSubnetCannotBeDeleted`) nor given other
/// prefixes (400 `InUseSubnetCannotBeUpdated`).
pub async fn put_virtual_network(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    name: &str,
    command: PutVirtualNetwork,
) -> Result<(VirtualNetwork, Upserted), ResourceError> {
    validate_name(name)?;
    let group = lookup::group(db, subscription, group).await?;
    let id = NetworkId::new(subscription, &group.name, Kind::VirtualNetwork, name);
    let space = parse_address_space(&id, &command.address_prefixes)?;
    let mut subnets = Vec::with_capacity(command.subnets.len());
    for (index, spec) in command.subnets.into_iter().enumerate() {
        let subnet_name = spec.name.clone().unwrap_or_default();
        let parsed = parse_subnet(&id, &subnet_name, spec, &format!("subnets[{index}]"))?;
        if subnets
            .iter()
            .any(|s: &ParsedSubnet| s.id.key() == parsed.id.key())
        {
            return Err(ResourceError::invalid(
                "InvalidRequestFormat",
                format!(
                    "Cannot parse the request: the virtual network {} names the subnet \
                     '{subnet_name}' twice.",
                    id.id()
                ),
            ));
        }
        subnets.push(parsed);
    }
    check_layout(
        name,
        &space,
        subnets
            .iter()
            .map(|s| (s.id.name.as_str(), s.prefixes.all())),
    )?;

    let mut tx = store::begin(db, subscription).await?;
    let existing = store::load(&mut tx, &id).await?;
    let existing = existing
        .map(|row| row.tracked::<NetworkState>().map(|(tracked, _)| tracked))
        .transpose()?;
    let (tracked, upserted) = put_envelope(&id, existing.as_ref(), command.envelope)?;
    for row in store::children(&mut tx, &id).await? {
        let old: SubnetState = row.document()?;
        let old_id = NetworkId::subnet(subscription, &group.name, name, &row.name);
        let replacement = subnets.iter().find(|s| s.id.key() == old_id.key());
        if replacement.is_none_or(|new| new.prefixes.all() != old.prefixes.all()) {
            let users = store::users(&mut tx, &old_id).await?;
            if let Some(user) = users.first() {
                return Err(match replacement {
                    None => subnet_in_use(&row.name, user),
                    Some(_) => subnet_in_use_cannot_change(&row.name, user),
                });
            }
        }
        if replacement.is_none() {
            store::delete(&mut tx, &old_id).await?;
        }
    }
    for subnet in subnets {
        let name_as_created = store::load(&mut tx, &subnet.id)
            .await?
            .map_or_else(|| subnet.id.name.clone(), |row| row.name);
        save_subnet(&mut tx, &tracked, subnet, &name_as_created, now).await?;
    }
    save_network(&mut tx, &id, &tracked, space, command.properties, now).await?;
    tx.commit().await?;
    let network = get_virtual_network(db, subscription, &group.name, name).await?;
    Ok((network, upserted))
}

/// A virtual network with its subnets. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn get_virtual_network(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<VirtualNetwork, ResourceError> {
    let id = NetworkId::new(subscription, group, Kind::VirtualNetwork, name);
    let mut conn = db.pool().acquire().await?;
    let Some(row) = store::load(&mut conn, &id).await? else {
        drop(conn);
        return Err(not_found(db, &id).await);
    };
    let mut users = HashMap::new();
    for subnet in store::children(&mut conn, &id).await? {
        let subnet_id = NetworkId::subnet(subscription, group, name, &subnet.name);
        users.insert(subnet_id.key(), store::users(&mut conn, &subnet_id).await?);
    }
    network(&mut conn, &row, &id, &users).await
}

/// The virtual networks of a group (404 `ResourceGroupNotFound`) or, with no group, of the
/// subscription.
pub async fn list_virtual_networks(
    db: &Db,
    subscription: &str,
    group: Option<&str>,
) -> Result<Vec<VirtualNetwork>, ResourceError> {
    if let Some(group) = group {
        lookup::group(db, subscription, group).await?;
    }
    let mut conn = db.pool().acquire().await?;
    let group_key = group.map(str::to_ascii_lowercase);
    let rows = store::list(
        &mut conn,
        subscription,
        group_key.as_deref(),
        Kind::VirtualNetwork,
    )
    .await?;
    let users = super::users_by_target(&mut conn, subscription, Kind::Subnet).await?;
    let mut networks = Vec::with_capacity(rows.len());
    for row in rows {
        let id = super::id_of(&row, Kind::VirtualNetwork)?;
        networks.push(network(&mut conn, &row, &id, &users).await?);
    }
    Ok(networks)
}

/// Deletes a virtual network and its subnets: 400 `InUseSubnetCannotBeDeleted` while any
/// subnet has a NIC's address. [`Deletion::Absent`] when there was none (404
/// `ResourceGroupNotFound` when the group is missing too).
pub async fn delete_virtual_network(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Deletion, ResourceError> {
    let id = NetworkId::new(subscription, group, Kind::VirtualNetwork, name);
    let mut tx = store::begin(db, subscription).await?;
    if store::load(&mut tx, &id).await?.is_none() {
        drop(tx);
        lookup::group(db, subscription, group).await?;
        return Ok(Deletion::Absent);
    }
    let subnets = store::children(&mut tx, &id).await?;
    for subnet in &subnets {
        let subnet_id = NetworkId::subnet(subscription, group, name, &subnet.name);
        if let Some(user) = store::users(&mut tx, &subnet_id).await?.first() {
            return Err(subnet_in_use(&subnet.name, user));
        }
    }
    for subnet in &subnets {
        store::delete(
            &mut tx,
            &NetworkId::subnet(subscription, group, name, &subnet.name),
        )
        .await?;
    }
    store::delete(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(Deletion::Deleted)
}

/// Creates or replaces one subnet of an existing virtual network (404 `ResourceNotFound`
/// for the network when it is missing).
pub async fn put_subnet(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    network_name: &str,
    name: &str,
    spec: SubnetSpec,
) -> Result<(Subnet, Upserted), ResourceError> {
    validate_name(name)?;
    let network_id = NetworkId::new(subscription, group, Kind::VirtualNetwork, network_name);
    let mut tx = store::begin(db, subscription).await?;
    let Some(network_row) = store::load(&mut tx, &network_id).await? else {
        drop(tx);
        return Err(not_found(db, &network_id).await);
    };
    let (mut tracked, state) = network_row.tracked::<NetworkState>()?;
    let subnet = parse_subnet(&network_id, name, spec, "")?;
    let siblings = store::children(&mut tx, &network_id).await?;
    let mut layout = Vec::with_capacity(siblings.len() + 1);
    let mut existing = None;
    for row in &siblings {
        let sibling: SubnetState = row.document()?;
        if row.name.eq_ignore_ascii_case(name) {
            existing = Some((row.name.clone(), sibling));
        } else {
            layout.push((row.name.clone(), sibling.prefixes));
        }
    }
    layout.push((name.to_owned(), subnet.prefixes.clone()));
    check_layout(
        &network_row.name,
        &state.address_prefixes,
        layout.iter().map(|(n, p)| (n.as_str(), p.all())),
    )?;
    if let Some((existing_name, old)) = &existing {
        if old.prefixes != subnet.prefixes {
            if let Some(user) = store::users(&mut tx, &subnet.id).await?.first() {
                return Err(subnet_in_use_cannot_change(existing_name, user));
            }
        }
    }
    let upserted = if existing.is_some() {
        Upserted::Updated
    } else {
        Upserted::Created
    };
    let name_as_created = existing.map_or_else(|| name.to_owned(), |(n, _)| n);
    tracked.etag = new_etag();
    save_subnet(&mut tx, &tracked, subnet, &name_as_created, now).await?;
    save_network(
        &mut tx,
        &network_id,
        &tracked,
        state.address_prefixes,
        state.properties,
        now,
    )
    .await?;
    tx.commit().await?;
    let subnet = get_subnet(db, subscription, group, network_name, name).await?;
    Ok((subnet, upserted))
}

/// A subnet. 404 `ResourceNotFound` for a missing network, `NotFound` for a missing subnet.
pub async fn get_subnet(
    db: &Db,
    subscription: &str,
    group: &str,
    network_name: &str,
    name: &str,
) -> Result<Subnet, ResourceError> {
    let network_id = NetworkId::new(subscription, group, Kind::VirtualNetwork, network_name);
    let id = NetworkId::subnet(subscription, group, network_name, name);
    let mut conn = db.pool().acquire().await?;
    let Some(network_row) = store::load(&mut conn, &network_id).await? else {
        drop(conn);
        return Err(not_found(db, &network_id).await);
    };
    let Some(row) = store::load(&mut conn, &id).await? else {
        return Err(subnet_not_found(&network_row, name));
    };
    let (tracked, _) = network_row.tracked::<NetworkState>()?;
    let users = store::users(&mut conn, &id).await?;
    subnet(&row, &tracked, &users)
}

/// The subnets of a virtual network (404 `ResourceNotFound` when it is missing).
pub async fn list_subnets(
    db: &Db,
    subscription: &str,
    group: &str,
    network_name: &str,
) -> Result<Vec<Subnet>, ResourceError> {
    let network_id = NetworkId::new(subscription, group, Kind::VirtualNetwork, network_name);
    let mut conn = db.pool().acquire().await?;
    let Some(network_row) = store::load(&mut conn, &network_id).await? else {
        drop(conn);
        return Err(not_found(db, &network_id).await);
    };
    let (tracked, _) = network_row.tracked::<NetworkState>()?;
    let mut subnets = Vec::new();
    for row in store::children(&mut conn, &network_id).await? {
        let id = NetworkId::subnet(subscription, group, network_name, &row.name);
        let users = store::users(&mut conn, &id).await?;
        subnets.push(subnet(&row, &tracked, &users)?);
    }
    Ok(subnets)
}

/// Deletes a subnet: 400 `InUseSubnetCannotBeDeleted` while a NIC has an address in it.
/// [`Deletion::Absent`] when there was none, or no virtual network (404
/// `ResourceGroupNotFound` when the group is missing too).
pub async fn delete_subnet(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    network_name: &str,
    name: &str,
) -> Result<Deletion, ResourceError> {
    let network_id = NetworkId::new(subscription, group, Kind::VirtualNetwork, network_name);
    let id = NetworkId::subnet(subscription, group, network_name, name);
    let mut tx = store::begin(db, subscription).await?;
    let network_row = store::load(&mut tx, &network_id).await?;
    let subnet_row = store::load(&mut tx, &id).await?;
    let (Some(network_row), Some(subnet_row)) = (network_row, subnet_row) else {
        drop(tx);
        lookup::group(db, subscription, group).await?;
        return Ok(Deletion::Absent);
    };
    if let Some(user) = store::users(&mut tx, &id).await?.first() {
        return Err(subnet_in_use(&subnet_row.name, user));
    }
    store::delete(&mut tx, &id).await?;
    let (mut tracked, state) = network_row.tracked::<NetworkState>()?;
    tracked.etag = new_etag();
    save_network(
        &mut tx,
        &network_id,
        &tracked,
        state.address_prefixes,
        state.properties,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Deletion::Deleted)
}

/// The prefixes of a stored subnet: where its NICs' addresses come from.
pub(super) fn subnet_prefixes(row: &Stored) -> Result<Vec<Ipv4Cidr>, ResourceError> {
    let state: SubnetState = row.document()?;
    Ok(state.prefixes.all().to_vec())
}

/// The address space of a network PUT: at least one prefix, each in CIDR notation.
fn parse_address_space(
    id: &NetworkId,
    prefixes: &[String],
) -> Result<Vec<Ipv4Cidr>, ResourceError> {
    if prefixes.is_empty() {
        return Err(prefix_missing(&id.id()));
    }
    prefixes
        .iter()
        .map(|prefix| parse_prefix(prefix, &id.id()))
        .collect()
}

/// One subnet of a request, checked on its own: its name, prefixes in CIDR notation and
/// no longer than /29, and the form of its security group's id. `path` is where the subnet
/// is in the body, for Azure's message about a malformed id.
fn parse_subnet(
    network: &NetworkId,
    name: &str,
    spec: SubnetSpec,
    path: &str,
) -> Result<ParsedSubnet, ResourceError> {
    validate_name(name)?;
    let id = NetworkId::subnet(&network.subscription, &network.group, &network.name, name);
    let subnet_id = id.id();
    let prefixes = match (spec.address_prefixes, spec.address_prefix) {
        (Some(many), _) if !many.is_empty() => SubnetPrefixes::Many(
            many.iter()
                .map(|p| parse_prefix(p, &subnet_id))
                .collect::<Result<_, _>>()?,
        ),
        (_, Some(one)) => SubnetPrefixes::One(parse_prefix(&one, &subnet_id)?),
        _ => return Err(prefix_missing(&subnet_id)),
    };
    if prefixes
        .all()
        .iter()
        .any(|p| p.length() > LONGEST_SUBNET_PREFIX)
    {
        return Err(ResourceError::invalid(
            "NetcfgInvalidSubnet",
            format!(
                "Subnet '{name}' is not valid in virtual network '{}': the smallest subnet \
                 Azure supports is a /{LONGEST_SUBNET_PREFIX}.",
                network.name
            ),
        ));
    }
    let network_security_group = spec
        .network_security_group
        .map(|group_id| {
            NetworkId::parse(&group_id, Kind::SecurityGroup).ok_or_else(|| {
                let at = if path.is_empty() {
                    "properties.networkSecurityGroup.id".to_owned()
                } else {
                    format!("properties.{path}.properties.networkSecurityGroup.id")
                };
                invalid_property_id(&group_id, &at)
            })
        })
        .transpose()?;
    Ok(ParsedSubnet {
        id,
        prefixes,
        network_security_group,
        properties: without(spec.properties, &SUBNET_MODELLED),
    })
}

/// A prefix of the resource `resource_id`: 400 `InvalidAddressPrefixFormat` when it is not
/// CIDR at all, `InvalidCIDRNotation` when its host bits are set, with Azure's messages.
fn parse_prefix(text: &str, resource_id: &str) -> Result<Ipv4Cidr, ResourceError> {
    if text.is_empty() {
        return Err(prefix_missing(resource_id));
    }
    Ipv4Cidr::parse(text).map_err(|error| match error {
        CidrError::Format => ResourceError::invalid(
            "InvalidAddressPrefixFormat",
            format!(
                "Address prefix {text} of resource {resource_id} is not formatted correctly. It \
                 should follow CIDR notation, for example 10.0.0.0/24. (The simulator serves \
                 IPv4 prefixes only.)"
            ),
        ),
        CidrError::HostBits(meant) => ResourceError::invalid(
            "InvalidCIDRNotation",
            format!(
                "The address prefix {text} in resource {resource_id} has an invalid CIDR \
                 notation. For the given prefix length, the address prefix should be {meant}."
            ),
        ),
    })
}

fn prefix_missing(resource_id: &str) -> ResourceError {
    ResourceError::invalid(
        "AddressPrefixStringCannotBeNullOrEmpty",
        format!("Address prefix string for resource {resource_id} cannot be null or empty."),
    )
}

/// Every subnet prefix lies in the address space (400 `NetcfgSubnetRangeOutsideVnet`) and
/// overlaps no other (400 `NetcfgSubnetRangesOverlap`), in Azure's words.
fn check_layout<'a>(
    network_name: &str,
    space: &[Ipv4Cidr],
    subnets: impl Iterator<Item = (&'a str, &'a [Ipv4Cidr])>,
) -> Result<(), ResourceError> {
    let mut seen: Vec<(&str, Ipv4Cidr)> = Vec::new();
    for (name, prefixes) in subnets {
        for prefix in prefixes {
            if !space.iter().any(|range| range.contains(prefix)) {
                return Err(ResourceError::invalid(
                    "NetcfgSubnetRangeOutsideVnet",
                    format!(
                        "Subnet '{name}' is not valid because its IP address range is outside \
                         the IP address range of virtual network '{network_name}'."
                    ),
                ));
            }
            if seen.iter().any(|(_, other)| other.overlaps(prefix)) {
                return Err(ResourceError::invalid(
                    "NetcfgSubnetRangesOverlap",
                    format!(
                        "Subnet '{name}' is not valid because its IP address range overlaps \
                         with that of an existing subnet in virtual network '{network_name}'."
                    ),
                ));
            }
            seen.push((name, *prefix));
        }
    }
    Ok(())
}

fn subnet_in_use(name: &str, user: &User) -> ResourceError {
    ResourceError::invalid(
        "InUseSubnetCannotBeDeleted",
        format!(
            "Subnet {name} is in use by {} and cannot be deleted. In order to delete the \
             subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
            user.source_id
        ),
    )
}

fn subnet_in_use_cannot_change(name: &str, user: &User) -> ResourceError {
    ResourceError::invalid(
        "InUseSubnetCannotBeUpdated",
        format!(
            "Subnet {name} is in use by {} and its address prefixes cannot be changed. In \
             order to change them, delete all the resources within the subnet.",
            user.source_id
        ),
    )
}

/// The network provider's 404 for a missing subnet of an existing network.
fn subnet_not_found(network_row: &Stored, name: &str) -> ResourceError {
    ResourceError::not_found(
        "NotFound",
        format!("Resource {}/subnets/{name} not found.", network_row.id),
    )
}

/// Writes one subnet of `network` (whose id, etag and location it takes) and its reference
/// to its security group, which must exist in the network's region.
async fn save_subnet(
    conn: &mut AnyConnection,
    network: &Tracked,
    subnet: ParsedSubnet,
    name_as_created: &str,
    now: DateTime<Utc>,
) -> Result<(), ResourceError> {
    let display_id = format!("{}/subnets/{name_as_created}", network.id);
    let mut references = Vec::new();
    let network_security_group = match &subnet.network_security_group {
        Some(group_id) => {
            let row = resolve(
                conn,
                &subnet.id.subscription,
                group_id,
                &display_id,
                &network.location,
            )
            .await?;
            references.push(Reference {
                source_id: display_id.clone(),
                source_kind: SourceKind::Subnet,
                target: group_id.clone(),
            });
            Some(row.id)
        }
        None => None,
    };
    let state = SubnetState {
        prefixes: subnet.prefixes,
        network_security_group,
        properties: subnet.properties,
    };
    store::save(
        conn,
        store::ResourceRow {
            id: &subnet.id,
            display_id: &display_id,
            name: name_as_created,
            location: &network.location,
            tags: &Tags::new(),
            document: &state,
        },
        now,
    )
    .await?;
    store::replace_references(conn, &subnet.id, &references).await
}

async fn save_network(
    conn: &mut AnyConnection,
    id: &NetworkId,
    tracked: &Tracked,
    address_prefixes: Vec<Ipv4Cidr>,
    properties: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), ResourceError> {
    let document = Envelope {
        etag: tracked.etag.clone(),
        resource_guid: tracked.resource_guid.clone(),
        extra: tracked.extra.clone(),
        state: NetworkState {
            address_prefixes,
            properties: without(properties, &NETWORK_MODELLED),
        },
    };
    store::save_tracked(conn, id, tracked, &document, now).await
}

/// A virtual network from its row, with its subnets and their users (by subnet key).
async fn network(
    conn: &mut AnyConnection,
    row: &Stored,
    id: &NetworkId,
    users: &HashMap<String, Vec<User>>,
) -> Result<VirtualNetwork, ResourceError> {
    let (tracked, state) = row.tracked::<NetworkState>()?;
    let mut subnets = Vec::new();
    for subnet_row in store::children(conn, id).await? {
        let subnet_id = NetworkId::subnet(&id.subscription, &id.group, &id.name, &subnet_row.name);
        let none = Vec::new();
        let users = users.get(&subnet_id.key()).unwrap_or(&none);
        subnets.push(subnet(&subnet_row, &tracked, users)?);
    }
    Ok(VirtualNetwork {
        tracked,
        address_prefixes: state.address_prefixes,
        subnets,
        properties: with_defaults(
            state.properties,
            [
                ("virtualNetworkPeerings", json!([])),
                ("enableDdosProtection", json!(false)),
            ],
        ),
    })
}

fn subnet(row: &Stored, network: &Tracked, users: &[User]) -> Result<Subnet, ResourceError> {
    let state: SubnetState = row.document()?;
    Ok(Subnet {
        id: row.id.clone(),
        name: row.name.clone(),
        etag: network.etag.clone(),
        prefixes: state.prefixes,
        network_security_group: state.network_security_group,
        ip_configurations: users
            .iter()
            .filter(|user| user.source_kind == SourceKind::IpConfiguration)
            .map(|user| user.source_id.clone())
            .collect(),
        properties: with_defaults(
            state.properties,
            [
                ("delegations", json!([])),
                ("privateEndpointNetworkPolicies", json!("Disabled")),
                ("privateLinkServiceNetworkPolicies", json!("Enabled")),
            ],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(list: &[&str]) -> Vec<Ipv4Cidr> {
        list.iter().map(|p| Ipv4Cidr::parse(p).unwrap()).collect()
    }

    fn code(result: Result<(), ResourceError>) -> String {
        match result {
            Err(ResourceError::Invalid { code, .. }) => code.into_owned(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn subnets_lie_in_the_space_and_do_not_overlap() {
        let space = prefixes(&["10.0.0.0/16", "10.1.0.0/24"]);
        let a = prefixes(&["10.0.0.0/24"]);
        let b = prefixes(&["10.0.1.0/24", "10.1.0.0/25"]);
        let layout = [("a", a.as_slice()), ("b", b.as_slice())];
        assert!(check_layout("v", &space, layout.into_iter()).is_ok());
        let outside = prefixes(&["10.2.0.0/24"]);
        assert_eq!(
            code(check_layout(
                "v",
                &space,
                [("c", outside.as_slice())].into_iter()
            )),
            "NetcfgSubnetRangeOutsideVnet"
        );
        let straddling = prefixes(&["10.1.0.0/23"]);
        assert_eq!(
            code(check_layout(
                "v",
                &space,
                [("c", straddling.as_slice())].into_iter()
            )),
            "NetcfgSubnetRangeOutsideVnet"
        );
        let overlapping = prefixes(&["10.0.0.128/25"]);
        let layout = [("a", a.as_slice()), ("c", overlapping.as_slice())];
        assert_eq!(
            code(check_layout("v", &space, layout.into_iter())),
            "NetcfgSubnetRangesOverlap"
        );
        let self_overlapping = prefixes(&["10.0.2.0/24", "10.0.2.0/25"]);
        assert_eq!(
            code(check_layout(
                "v",
                &space,
                [("d", self_overlapping.as_slice())].into_iter()
            )),
            "NetcfgSubnetRangesOverlap"
        );
    }

    #[test]
    fn bad_prefixes_get_azures_codes() {
        let id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v";
        let code = |text: &str| match parse_prefix(text, id) {
            Err(ResourceError::Invalid { code, .. }) => code.into_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(code("10.1.0.0"), "InvalidAddressPrefixFormat");
        assert_eq!(code("fd00::/64"), "InvalidAddressPrefixFormat");
        assert_eq!(code("10.10.10.0/16"), "InvalidCIDRNotation");
        assert_eq!(code(""), "AddressPrefixStringCannotBeNullOrEmpty");
        let Err(ResourceError::Invalid { message, .. }) = parse_prefix("10.10.10.0/16", id) else {
            panic!("refused");
        };
        assert!(message.ends_with("should be 10.10.0.0/16."), "{message}");
    }

    #[test]
    fn subnets_take_either_prefix_member_and_refuse_tiny_ones() {
        let network = NetworkId::new("s", "g", Kind::VirtualNetwork, "v");
        let spec = |one: Option<&str>, many: Option<&[&str]>| SubnetSpec {
            address_prefix: one.map(str::to_owned),
            address_prefixes: many.map(|m| m.iter().map(|p| (*p).to_owned()).collect()),
            ..SubnetSpec::default()
        };
        let parsed = parse_subnet(&network, "a", spec(Some("10.0.0.0/24"), None), "").unwrap();
        assert_eq!(
            parsed.prefixes,
            SubnetPrefixes::One(prefixes(&["10.0.0.0/24"])[0])
        );
        let many = spec(None, Some(&["10.0.0.0/24", "10.0.1.0/29"]));
        let parsed = parse_subnet(&network, "a", many, "").unwrap();
        assert_eq!(parsed.prefixes.all().len(), 2);
        for (bad, expected) in [
            (spec(None, None), "AddressPrefixStringCannotBeNullOrEmpty"),
            (
                spec(None, Some(&[])),
                "AddressPrefixStringCannotBeNullOrEmpty",
            ),
            (spec(Some("10.0.0.0/30"), None), "NetcfgInvalidSubnet"),
            (
                SubnetSpec {
                    network_security_group: Some("nsg".into()),
                    ..spec(Some("10.0.0.0/24"), None)
                },
                "LinkedInvalidPropertyId",
            ),
        ] {
            match parse_subnet(&network, "a", bad, "") {
                Err(ResourceError::Invalid { code, .. }) => assert_eq!(code, expected),
                Err(other) => panic!("{other:?}"),
                Ok(_) => panic!("accepted; expected {expected}"),
            }
        }
    }
}
