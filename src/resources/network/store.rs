//! The network tables (`migrations/0018_network.sql`): one row per resource, the
//! references between them, and the addresses handed out. Every function takes a
//! connection, so that a write runs them all in its one transaction (see [`begin`]).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::addresses::{from_column, to_column};
use super::ids::{Kind, NetworkId};
use super::tracked::{Envelope, Tracked};
use crate::resources::lookup::Tags;
use crate::resources::ResourceError;
use crate::store::{json_column, to_micros, Db};

/// One resource's row.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub id: String,
    pub name: String,
    pub location: String,
    pub tags: Tags,
    document: String,
}

impl Stored {
    /// The row's document as `T`.
    pub fn document<T: DeserializeOwned>(&self) -> Result<T, ResourceError> {
        serde_json::from_str(&self.document).map_err(|e| {
            ResourceError::Database(sqlx::Error::ColumnDecode {
                index: "document".to_owned(),
                source: Box::new(e),
            })
        })
    }

    /// A tracked resource's envelope and its type's state.
    pub fn tracked<T: DeserializeOwned>(&self) -> Result<(Tracked, T), ResourceError> {
        let envelope: Envelope<T> = self.document()?;
        Ok((
            Tracked {
                id: self.id.clone(),
                name: self.name.clone(),
                location: self.location.clone(),
                tags: self.tags.clone(),
                etag: envelope.etag,
                resource_guid: envelope.resource_guid,
                extra: envelope.extra,
            },
            envelope.state,
        ))
    }
}

const COLUMNS: &str = "id, name, location, tags, document";

fn stored(row: &AnyRow) -> Result<Stored, ResourceError> {
    Ok(Stored {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        location: row.try_get("location")?,
        tags: json_column(row, "tags")?,
        document: row.try_get("document")?,
    })
}

/// Begins a network write: the write transaction, holding the subscription's row in
/// `network_writer`. On PostgreSQL that row lock makes the network writes of one
/// subscription run one at a time, so that nothing a write read (the subnet a NIC joins, the
/// users of a subnet being deleted) changes before it commits; SQLite's writes always do.
pub(super) async fn begin(
    db: &Db,
    subscription: &str,
) -> Result<Transaction<'static, Any>, ResourceError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "insert into network_writer (subscription_id, writes) values ($1, 0) \
         on conflict (subscription_id) do nothing",
    )
    .bind(subscription)
    .execute(&mut *tx)
    .await?;
    sqlx::query("update network_writer set writes = writes + 1 where subscription_id = $1")
        .bind(subscription)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The resource `id` names, if it exists.
pub(super) async fn load(
    conn: &mut AnyConnection,
    id: &NetworkId,
) -> Result<Option<Stored>, ResourceError> {
    let row = sqlx::query(&format!(
        "select {COLUMNS} from network_resource \
         where subscription_id = $1 and resource_group_key = $2 and id_key = $3"
    ))
    .bind(&id.subscription)
    .bind(id.group_key())
    .bind(id.key())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(stored).transpose()
}

/// The resources of `kind` in a group, or in the whole subscription, by id.
pub(super) async fn list(
    conn: &mut AnyConnection,
    subscription: &str,
    group_key: Option<&str>,
    kind: Kind,
) -> Result<Vec<Stored>, ResourceError> {
    let rows = match group_key {
        Some(group_key) => {
            sqlx::query(&format!(
                "select {COLUMNS} from network_resource where subscription_id = $1 \
                 and resource_type = $2 and resource_group_key = $3 order by id_key"
            ))
            .bind(subscription)
            .bind(kind.resource_type())
            .bind(group_key)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "select {COLUMNS} from network_resource where subscription_id = $1 \
                 and resource_type = $2 order by resource_group_key, id_key"
            ))
            .bind(subscription)
            .bind(kind.resource_type())
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.iter().map(stored).collect()
}

/// A virtual network's subnets, by id.
pub(super) async fn children(
    conn: &mut AnyConnection,
    parent: &NetworkId,
) -> Result<Vec<Stored>, ResourceError> {
    sqlx::query(&format!(
        "select {COLUMNS} from network_resource \
         where subscription_id = $1 and parent_key = $2 order by id_key"
    ))
    .bind(&parent.subscription)
    .bind(parent.key())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(stored)
    .collect()
}

/// What a write stores of one resource.
pub(super) struct ResourceRow<'a, T> {
    pub id: &'a NetworkId,
    /// As Azure spells it: the group's and parents' names as created.
    pub display_id: &'a str,
    pub name: &'a str,
    pub location: &'a str,
    pub tags: &'a Tags,
    pub document: &'a T,
}

/// Creates or replaces the row of a tracked resource (every type but subnets): its id,
/// name, location and tags as `tracked` holds them.
pub(super) async fn save_tracked<T: Serialize>(
    conn: &mut AnyConnection,
    id: &NetworkId,
    tracked: &Tracked,
    document: &T,
    now: DateTime<Utc>,
) -> Result<(), ResourceError> {
    save(
        conn,
        ResourceRow {
            id,
            display_id: &tracked.id,
            name: &tracked.name,
            location: &tracked.location,
            tags: &tracked.tags,
            document,
        },
        now,
    )
    .await
}

/// Creates or replaces a resource's row.
pub(super) async fn save<T: Serialize>(
    conn: &mut AnyConnection,
    row: ResourceRow<'_, T>,
    now: DateTime<Utc>,
) -> Result<(), ResourceError> {
    let parent_key = row.id.parent_id().map(|p| p.key()).unwrap_or_default();
    sqlx::query(
        "insert into network_resource (subscription_id, resource_group_key, id_key, id, \
         resource_type, parent_key, name, location, tags, document, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
         on conflict (subscription_id, resource_group_key, id_key) do update set \
         tags = excluded.tags, document = excluded.document, updated_at = excluded.updated_at",
    )
    .bind(&row.id.subscription)
    .bind(row.id.group_key())
    .bind(row.id.key())
    .bind(row.display_id)
    .bind(row.id.kind.resource_type())
    .bind(parent_key)
    .bind(row.name)
    .bind(row.location)
    .bind(serde_json::to_string(row.tags).expect("tags serialize"))
    .bind(serde_json::to_string(row.document).expect("documents serialize"))
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a resource's row, the references it holds and the addresses it holds.
pub(super) async fn delete(conn: &mut AnyConnection, id: &NetworkId) -> Result<(), ResourceError> {
    sqlx::query(
        "delete from network_resource \
         where subscription_id = $1 and resource_group_key = $2 and id_key = $3",
    )
    .bind(&id.subscription)
    .bind(id.group_key())
    .bind(id.key())
    .execute(&mut *conn)
    .await?;
    replace_references(conn, id, &[]).await?;
    release_held(conn, id).await
}

/// One resource referring to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reference {
    /// What Azure names as the user: an IP configuration's id, a NIC's, a subnet's.
    pub source_id: String,
    pub source_kind: SourceKind,
    pub target: NetworkId,
}

/// What refers to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SourceKind {
    IpConfiguration,
    NetworkInterface,
    Subnet,
}

impl SourceKind {
    fn resource_type(self) -> &'static str {
        match self {
            Self::IpConfiguration => "Microsoft.Network/networkInterfaces/ipConfigurations",
            Self::NetworkInterface => Kind::NetworkInterface.resource_type(),
            Self::Subnet => Kind::Subnet.resource_type(),
        }
    }

    fn from_resource_type(resource_type: &str) -> Option<Self> {
        [Self::IpConfiguration, Self::NetworkInterface, Self::Subnet]
            .into_iter()
            .find(|kind| kind.resource_type() == resource_type)
    }
}

/// Who uses a resource: one of its users' ids and kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct User {
    pub source_id: String,
    pub source_kind: SourceKind,
    /// The key of the resource holding the reference (a NIC's for its IP configurations).
    pub holder_key: String,
}

/// Replaces the references `holder` holds with `references`.
pub(super) async fn replace_references(
    conn: &mut AnyConnection,
    holder: &NetworkId,
    references: &[Reference],
) -> Result<(), ResourceError> {
    sqlx::query("delete from network_reference where subscription_id = $1 and holder_key = $2")
        .bind(&holder.subscription)
        .bind(holder.key())
        .execute(&mut *conn)
        .await?;
    for reference in references {
        sqlx::query(
            "insert into network_reference (subscription_id, holder_key, source_id, \
             source_type, target_key, target_type) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&holder.subscription)
        .bind(holder.key())
        .bind(&reference.source_id)
        .bind(reference.source_kind.resource_type())
        .bind(reference.target.key())
        .bind(reference.target.kind.resource_type())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Who uses `target`, by source id.
pub(super) async fn users(
    conn: &mut AnyConnection,
    target: &NetworkId,
) -> Result<Vec<User>, ResourceError> {
    let rows = sqlx::query(
        "select target_key, holder_key, source_id, source_type from network_reference \
         where subscription_id = $1 and target_key = $2 order by source_id",
    )
    .bind(&target.subscription)
    .bind(target.key())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| user(row).map(|(_, user)| user))
        .collect()
}

/// Who uses each resource of `kind` in the subscription: (target key, user) by source id.
pub(super) async fn users_of_kind(
    conn: &mut AnyConnection,
    subscription: &str,
    kind: Kind,
) -> Result<Vec<(String, User)>, ResourceError> {
    let rows = sqlx::query(
        "select target_key, holder_key, source_id, source_type from network_reference \
         where subscription_id = $1 and target_type = $2 order by source_id",
    )
    .bind(subscription)
    .bind(kind.resource_type())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(user).collect()
}

/// A reference row's target key and user.
fn user(row: &AnyRow) -> Result<(String, User), ResourceError> {
    let source_type: String = row.try_get("source_type")?;
    let source_kind = SourceKind::from_resource_type(&source_type).ok_or_else(|| {
        ResourceError::Database(sqlx::Error::ColumnDecode {
            index: "source_type".to_owned(),
            source: format!("{source_type} is no type that refers to network resources").into(),
        })
    })?;
    Ok((
        row.try_get("target_key")?,
        User {
            source_id: row.try_get("source_id")?,
            source_kind,
            holder_key: row.try_get("holder_key")?,
        },
    ))
}

/// An address a resource holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Held {
    pub pool: String,
    pub address: Ipv4Addr,
    /// The IP configuration (or public IP address) it was given to.
    pub owner_id: String,
}

/// The private addresses of one subnet, keyed by the subnet's key.
pub(super) fn subnet_pool(subnet: &NetworkId) -> String {
    subnet.key()
}

/// The pool of a subscription's public addresses.
pub(super) const PUBLIC_POOL: &str = "publicIPAddresses";

/// The addresses `holder` holds, by owner.
pub(super) async fn held(
    conn: &mut AnyConnection,
    holder: &NetworkId,
) -> Result<Vec<Held>, ResourceError> {
    let rows = sqlx::query(
        "select pool_key, address, owner_id from network_address \
         where subscription_id = $1 and holder_key = $2 order by owner_id",
    )
    .bind(&holder.subscription)
    .bind(holder.key())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Held {
                pool: row.try_get("pool_key")?,
                address: address_column(row)?,
                owner_id: row.try_get("owner_id")?,
            })
        })
        .collect()
}

fn address_column(row: &AnyRow) -> Result<Ipv4Addr, ResourceError> {
    let value: i64 = row.try_get("address")?;
    from_column(value).ok_or_else(|| {
        ResourceError::Database(sqlx::Error::ColumnDecode {
            index: "address".to_owned(),
            source: format!("{value} is not an IPv4 address").into(),
        })
    })
}

/// The addresses of `pool` already handed out.
pub(super) async fn taken(
    conn: &mut AnyConnection,
    subscription: &str,
    pool: &str,
) -> Result<BTreeSet<Ipv4Addr>, ResourceError> {
    sqlx::query("select address from network_address where subscription_id = $1 and pool_key = $2")
        .bind(subscription)
        .bind(pool)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(address_column)
        .collect()
}

/// Claims `address` of `pool` for `owner_id` of `holder`: false when it is taken. The
/// primary key decides, so two writers can never both claim one address.
pub(super) async fn claim(
    conn: &mut AnyConnection,
    holder: &NetworkId,
    pool: &str,
    address: Ipv4Addr,
    owner_id: &str,
) -> Result<bool, ResourceError> {
    let inserted = sqlx::query(
        "insert into network_address (subscription_id, pool_key, address, holder_key, owner_id) \
         values ($1, $2, $3, $4, $5) on conflict (subscription_id, pool_key, address) do nothing",
    )
    .bind(&holder.subscription)
    .bind(pool)
    .bind(to_column(address))
    .bind(holder.key())
    .bind(owner_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Claims the first address `candidates` yields that nobody holds; `None` when all are
/// taken. A candidate another writer claimed since `taken` was read is skipped.
pub(super) async fn claim_first_free(
    conn: &mut AnyConnection,
    holder: &NetworkId,
    pool: &str,
    candidates: impl IntoIterator<Item = Ipv4Addr>,
    owner_id: &str,
) -> Result<Option<Ipv4Addr>, ResourceError> {
    let taken = taken(conn, &holder.subscription, pool).await?;
    for candidate in candidates.into_iter().filter(|a| !taken.contains(a)) {
        if claim(conn, holder, pool, candidate, owner_id).await? {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// Who holds `address` of `pool`, by owner id.
pub(super) async fn owner_of(
    conn: &mut AnyConnection,
    subscription: &str,
    pool: &str,
    address: Ipv4Addr,
) -> Result<Option<String>, ResourceError> {
    Ok(sqlx::query_scalar(
        "select owner_id from network_address \
         where subscription_id = $1 and pool_key = $2 and address = $3",
    )
    .bind(subscription)
    .bind(pool)
    .bind(to_column(address))
    .fetch_optional(&mut *conn)
    .await?)
}

/// Releases one address `holder` holds.
pub(super) async fn release(
    conn: &mut AnyConnection,
    holder: &NetworkId,
    held: &Held,
) -> Result<(), ResourceError> {
    sqlx::query(
        "delete from network_address where subscription_id = $1 and pool_key = $2 \
         and address = $3 and holder_key = $4",
    )
    .bind(&holder.subscription)
    .bind(&held.pool)
    .bind(to_column(held.address))
    .bind(holder.key())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Releases every address `holder` holds.
pub(super) async fn release_held(
    conn: &mut AnyConnection,
    holder: &NetworkId,
) -> Result<(), ResourceError> {
    sqlx::query("delete from network_address where subscription_id = $1 and holder_key = $2")
        .bind(&holder.subscription)
        .bind(holder.key())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
