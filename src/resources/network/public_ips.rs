//! Public IP addresses (`Microsoft.Network/publicIPAddresses`). A static one is given an
//! address when it is created and keeps it until it is deleted or made dynamic: the first
//! free one of the subscription's pool (`addresses::public_addresses`, documentation
//! ranges). A dynamic one shows no address: Azure gives it one only while a running VM uses
//! it, which is not simulated. An address cannot be deleted while a NIC uses it.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::addresses::{public_address_count, public_addresses};
use super::ids::{Kind, NetworkId};
use super::store::{self, SourceKind, Stored, User, PUBLIC_POOL};
use super::tracked::{
    put_envelope, validate_name, with_defaults, without, Envelope, EnvelopeSpec, Tracked,
};
use super::{id_of, invalid_request, not_found, users_by_target, AllocationMethod, Deletion};
use crate::resources::groups::Upserted;
use crate::resources::lookup;
use crate::resources::ResourceError;
use crate::store::Db;

/// A public IP address.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicIpAddress {
    pub tracked: Tracked,
    pub sku: PublicIpSku,
    pub allocation_method: AllocationMethod,
    /// A static address's; none for a dynamic one.
    pub ip_address: Option<Ipv4Addr>,
    /// The NIC IP configuration that uses the address.
    pub ip_configuration: Option<String>,
    /// The other members of `properties`, as given, with Azure's defaults where none was.
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIpSku {
    pub name: SkuName,
    /// `Regional` or `Global`.
    pub tier: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SkuName {
    Basic,
    Standard,
}

impl SkuName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "Basic",
            Self::Standard => "Standard",
        }
    }
}

/// What a public IP address PUT asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutPublicIpAddress {
    pub envelope: EnvelopeSpec,
    /// `sku.name`: `Basic` when left out, as the API's default is.
    pub sku_name: Option<String>,
    /// `sku.tier`: `Regional` when left out.
    pub sku_tier: Option<String>,
    /// `properties.publicIPAllocationMethod`: `Static` for a Standard address, `Dynamic` for
    /// a Basic one when left out.
    pub allocation_method: Option<String>,
    /// The other members of `properties`.
    pub properties: Map<String, Value>,
}

/// The members of `properties` the service sets or models itself.
const MODELLED: [&str; 5] = [
    "provisioningState",
    "resourceGuid",
    "publicIPAllocationMethod",
    "ipAddress",
    "ipConfiguration",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressState {
    sku: PublicIpSku,
    allocation_method: AllocationMethod,
    properties: Map<String, Value>,
}

/// Creates or replaces a public IP address. 400 `StandardSkuPublicIPAddressesMustBeStatic`
/// for a dynamic Standard address; `PublicIPCountLimitReached` when the subscription's
/// pool is used up.
pub async fn put_public_ip_address(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    name: &str,
    command: PutPublicIpAddress,
) -> Result<(PublicIpAddress, Upserted), ResourceError> {
    validate_name(name)?;
    let group = lookup::group(db, subscription, group).await?;
    let id = NetworkId::new(subscription, &group.name, Kind::PublicIpAddress, name);
    let sku = parse_sku(command.sku_name.as_deref(), command.sku_tier.as_deref())?;
    let allocation_method = match command.allocation_method.as_deref() {
        Some(method) => AllocationMethod::parse(method, "publicIPAllocationMethod")?,
        None if sku.name == SkuName::Standard => AllocationMethod::Static,
        None => AllocationMethod::Dynamic,
    };
    if sku.name == SkuName::Standard && allocation_method == AllocationMethod::Dynamic {
        return Err(ResourceError::invalid(
            "StandardSkuPublicIPAddressesMustBeStatic",
            format!(
                "Standard sku publicIp {} must have AllocationMethod set to Static.",
                id.id()
            ),
        ));
    }
    let mut tx = store::begin(db, subscription).await?;
    let existing = store::load(&mut tx, &id)
        .await?
        .map(|row| row.tracked::<AddressState>().map(|(tracked, _)| tracked))
        .transpose()?;
    // The SKU is modelled; one among the other top-level members would be shown twice.
    let envelope = EnvelopeSpec {
        extra: without(command.envelope.extra, &["sku"]),
        ..command.envelope
    };
    let (tracked, upserted) = put_envelope(&id, existing.as_ref(), envelope)?;
    let held = store::held(&mut tx, &id).await?;
    match allocation_method {
        AllocationMethod::Static if !held.is_empty() => {}
        AllocationMethod::Static => {
            let claimed =
                store::claim_first_free(&mut tx, &id, PUBLIC_POOL, public_addresses(), &tracked.id)
                    .await?;
            if claimed.is_none() {
                return Err(ResourceError::invalid(
                    "PublicIPCountLimitReached",
                    format!(
                        "Cannot create more than {} public IP addresses for this subscription \
                         in this region.",
                        public_address_count()
                    ),
                ));
            }
        }
        AllocationMethod::Dynamic => store::release_held(&mut tx, &id).await?,
    }
    let document = Envelope {
        etag: tracked.etag.clone(),
        resource_guid: tracked.resource_guid.clone(),
        extra: tracked.extra.clone(),
        state: AddressState {
            sku,
            allocation_method,
            properties: without(command.properties, &MODELLED),
        },
    };
    store::save_tracked(&mut tx, &id, &tracked, &document, now).await?;
    tx.commit().await?;
    let address = get_public_ip_address(db, subscription, &group.name, name).await?;
    Ok((address, upserted))
}

/// A public IP address. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn get_public_ip_address(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<PublicIpAddress, ResourceError> {
    let id = NetworkId::new(subscription, group, Kind::PublicIpAddress, name);
    let mut conn = db.pool().acquire().await?;
    let Some(row) = store::load(&mut conn, &id).await? else {
        drop(conn);
        return Err(not_found(db, &id).await);
    };
    let users = store::users(&mut conn, &id).await?;
    let held = store::held(&mut conn, &id).await?;
    public_ip_address(&row, &users, held.first().map(|h| h.address))
}

/// The public IP addresses of a group (404 `ResourceGroupNotFound`) or, with no group, of
/// the subscription.
pub async fn list_public_ip_addresses(
    db: &Db,
    subscription: &str,
    group: Option<&str>,
) -> Result<Vec<PublicIpAddress>, ResourceError> {
    if let Some(group) = group {
        lookup::group(db, subscription, group).await?;
    }
    let mut conn = db.pool().acquire().await?;
    let group_key = group.map(str::to_ascii_lowercase);
    let rows = store::list(
        &mut conn,
        subscription,
        group_key.as_deref(),
        Kind::PublicIpAddress,
    )
    .await?;
    let users = users_by_target(&mut conn, subscription, Kind::PublicIpAddress).await?;
    let mut addresses = Vec::with_capacity(rows.len());
    for row in rows {
        let id = id_of(&row, Kind::PublicIpAddress)?;
        let held = store::held(&mut conn, &id).await?;
        let users = users.get(&id.key()).map_or(&[][..], Vec::as_slice);
        addresses.push(public_ip_address(
            &row,
            users,
            held.first().map(|h| h.address),
        )?);
    }
    Ok(addresses)
}

/// Deletes a public IP address, releasing its address: 400 `PublicIPAddressCannotBeDeleted`
/// while a NIC uses it. [`Deletion::Absent`] when there was none (404
/// `ResourceGroupNotFound` when the group is missing too).
pub async fn delete_public_ip_address(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Deletion, ResourceError> {
    let id = NetworkId::new(subscription, group, Kind::PublicIpAddress, name);
    let mut tx = store::begin(db, subscription).await?;
    let Some(row) = store::load(&mut tx, &id).await? else {
        drop(tx);
        lookup::group(db, subscription, group).await?;
        return Ok(Deletion::Absent);
    };
    if let Some(user) = store::users(&mut tx, &id).await?.first() {
        return Err(ResourceError::invalid(
            "PublicIPAddressCannotBeDeleted",
            format!(
                "Public IP address {} can not be deleted since it is still allocated to \
                 resource {}. In order to delete the public IP, disassociate/detach the Public \
                 IP address from the resource.  To learn how to do this, see \
                 aka.ms/deletepublicip.",
                row.id, user.source_id
            ),
        ));
    }
    store::delete(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(Deletion::Deleted)
}

/// The SKU of a PUT, in Azure's spelling; 400 `InvalidRequestFormat` for a name or tier
/// Azure does not know.
fn parse_sku(name: Option<&str>, tier: Option<&str>) -> Result<PublicIpSku, ResourceError> {
    let name = match name {
        None => SkuName::Basic,
        Some(name) => [SkuName::Basic, SkuName::Standard]
            .into_iter()
            .find(|sku| sku.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                invalid_request(format!(
                    "sku.name '{name}' is not valid: it is 'Basic' or 'Standard'."
                ))
            })?,
    };
    let tier = match tier {
        None => "Regional",
        Some(tier) => ["Regional", "Global"]
            .into_iter()
            .find(|t| t.eq_ignore_ascii_case(tier))
            .ok_or_else(|| {
                invalid_request(format!(
                    "sku.tier '{tier}' is not valid: it is 'Regional' or 'Global'."
                ))
            })?,
    };
    Ok(PublicIpSku {
        name,
        tier: tier.to_owned(),
    })
}

fn public_ip_address(
    row: &Stored,
    users: &[User],
    ip_address: Option<Ipv4Addr>,
) -> Result<PublicIpAddress, ResourceError> {
    let (tracked, state) = row.tracked::<AddressState>()?;
    Ok(PublicIpAddress {
        tracked,
        sku: state.sku,
        allocation_method: state.allocation_method,
        ip_address,
        ip_configuration: users
            .iter()
            .find(|user| user.source_kind == SourceKind::IpConfiguration)
            .map(|user| user.source_id.clone()),
        properties: with_defaults(
            state.properties,
            [
                ("publicIPAddressVersion", json!("IPv4")),
                ("idleTimeoutInMinutes", json!(4)),
                ("ipTags", json!([])),
            ],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_default_to_basic_regional_and_take_any_case() {
        assert_eq!(
            parse_sku(None, None).unwrap(),
            PublicIpSku {
                name: SkuName::Basic,
                tier: "Regional".into()
            }
        );
        let standard = parse_sku(Some("standard"), Some("global")).unwrap();
        assert_eq!(
            (standard.name, standard.tier.as_str()),
            (SkuName::Standard, "Global")
        );
        assert!(parse_sku(Some("Premium"), None).is_err());
        assert!(parse_sku(None, Some("Local")).is_err());
    }
}
