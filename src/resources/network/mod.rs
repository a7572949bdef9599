//! Microsoft.Network resources as stored ARM resources: virtual networks and their subnets,
//! network security groups, public IP addresses and network interfaces, which `az vm create`,
//! Terraform and Bicep create before a VM. Nothing forwards packets. What is simulated is
//! what clients read back and what Azure refuses: addresses handed out as Azure hands them
//! out (a NIC's first is a subnet's fifth address, unique in the subnet; a static public IP
//! gets a documentation address unique in the subscription), references that must name
//! existing resources in the same region, and resources that cannot be deleted while used.
//!
//! One table holds every resource (`store`), with the references between resources and the
//! addresses handed out beside it; each write is one transaction (`store::begin`).

pub mod addresses;
pub mod ids;
mod interfaces;
mod public_ips;
mod security_groups;
mod store;
mod tracked;
mod virtual_networks;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

pub use addresses::Ipv4Cidr;
pub use ids::{Kind, NetworkId};
pub use interfaces::{
    attach_virtual_machine, check_attachable, delete_network_interface, detach_virtual_machine,
    get_network_interface, list_network_interfaces, put_network_interface, IpConfiguration,
    IpConfigurationSpec, NetworkInterface, PutNetworkInterface,
};
pub use public_ips::{
    delete_public_ip_address, get_public_ip_address, list_public_ip_addresses,
    put_public_ip_address, PublicIpAddress, PublicIpSku, PutPublicIpAddress, SkuName,
};
pub use security_groups::{
    delete_security_group, get_security_group, list_security_groups, put_security_group, Access,
    Direction, PutSecurityGroup, SecurityGroup, SecurityRule, SecurityRuleSpec,
};
pub use tracked::{validate_name, EnvelopeSpec, Tracked};
pub use virtual_networks::{
    delete_subnet, delete_virtual_network, get_subnet, get_virtual_network, list_subnets,
    list_virtual_networks, put_subnet, put_virtual_network, PutVirtualNetwork, Subnet,
    SubnetPrefixes, SubnetSpec, VirtualNetwork,
};

use crate::resources::lookup::{self, Tags};
use crate::resources::ResourceError;
use crate::store::Db;
use store::{Stored, User};

/// A tracked network resource (of any type in [`Kind::TRACKED`]) as ARM's generic resource
/// list shows it: its envelope without its properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedResource {
    pub kind: Kind,
    /// As Azure spells it, with the group's name as created.
    pub id: String,
    pub name: String,
    /// The group's name as created.
    pub group: String,
    pub location: String,
    pub tags: Tags,
}

/// The tracked network resources of a group (none when there is no such group) or, with no
/// group, of the subscription: each type's in turn, by id.
pub async fn list_tracked_resources(
    db: &Db,
    subscription: &str,
    group: Option<&str>,
) -> Result<Vec<TrackedResource>, ResourceError> {
    let mut conn = db.pool().acquire().await?;
    let group_key = group.map(str::to_ascii_lowercase);
    let mut resources = Vec::new();
    for kind in Kind::TRACKED {
        for row in store::list(&mut conn, subscription, group_key.as_deref(), kind).await? {
            let id = id_of(&row, kind)?;
            resources.push(TrackedResource {
                kind,
                id: row.id,
                name: row.name,
                group: id.group,
                location: row.location,
                tags: row.tags,
            });
        }
    }
    Ok(resources)
}

/// What a DELETE found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// There was nothing to delete.
    Absent,
}

/// How an address is given: `Static` ones are kept until released, `Dynamic` ones are
/// picked by the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllocationMethod {
    Static,
    Dynamic,
}

impl AllocationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "Static",
            Self::Dynamic => "Dynamic",
        }
    }

    /// `Static` or `Dynamic` in any case; `member` names where it was, for the message.
    fn parse(text: &str, member: &str) -> Result<Self, ResourceError> {
        [Self::Static, Self::Dynamic]
            .into_iter()
            .find(|method| method.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                invalid_request(format!(
                    "{member} '{text}' is not valid: it is 'Static' or 'Dynamic'."
                ))
            })
    }
}

/// The network provider's 400 for a body it cannot read as its types (an unknown enum
/// value, a missing member).
fn invalid_request(detail: String) -> ResourceError {
    ResourceError::invalid(
        "InvalidRequestFormat",
        format!("Cannot parse the request: {detail}"),
    )
}

/// ARM's 400 for a reference that is not a resource id of the type it should name.
fn invalid_property_id(id: &str, path: &str) -> ResourceError {
    ResourceError::invalid(
        "LinkedInvalidPropertyId",
        format!(
            "Property id '{id}' at path '{path}' is invalid. Expect fully qualified resource Id \
             that start with '/subscriptions/{{subscriptionId}}' or \
             '/providers/{{resourceProviderNamespace}}/'."
        ),
    )
}

/// The 404 for the missing resource `id`: `ResourceGroupNotFound` when its group is missing
/// too, else ARM's `ResourceNotFound`.
async fn not_found(db: &Db, id: &NetworkId) -> ResourceError {
    match lookup::group(db, &id.subscription, &id.group).await {
        Err(error) => error,
        Ok(group) => {
            ResourceError::resource_not_found(id.kind.resource_type(), &id.name, &group.name)
        }
    }
}

/// The resource `reference` names, for the resource `referrer_id` of `subscription` in
/// `location`: 400 `InvalidResourceReference`, in Azure's words, unless it exists in the
/// same subscription and region.
async fn resolve(
    conn: &mut AnyConnection,
    subscription: &str,
    reference: &NetworkId,
    referrer_id: &str,
    location: &str,
) -> Result<Stored, ResourceError> {
    let row = if reference.subscription == subscription {
        store::load(conn, reference).await?
    } else {
        None
    };
    row.filter(|row| row.location == location).ok_or_else(|| {
        ResourceError::invalid(
            "InvalidResourceReference",
            format!(
                "Resource {} referenced by resource {referrer_id} was not found. Please make \
                 sure that the referenced resource exists, and that both resources are in the \
                 same region.",
                reference.id()
            ),
        )
    })
}

/// The id of a stored resource of `kind`.
fn id_of(row: &Stored, kind: Kind) -> Result<NetworkId, ResourceError> {
    NetworkId::parse(&row.id, kind).ok_or_else(|| {
        ResourceError::Database(sqlx::Error::ColumnDecode {
            index: "id".to_owned(),
            source: format!("{} is not the id of a {}", row.id, kind.resource_type()).into(),
        })
    })
}

/// Who uses each resource of `kind` in the subscription, by the resource's key: what the
/// lists show of their users without one query per resource.
async fn users_by_target(
    conn: &mut AnyConnection,
    subscription: &str,
    kind: Kind,
) -> Result<HashMap<String, Vec<User>>, ResourceError> {
    let mut users: HashMap<String, Vec<User>> = HashMap::new();
    for (target, user) in store::users_of_kind(conn, subscription, kind).await? {
        users.entry(target).or_default().push(user);
    }
    Ok(users)
}
