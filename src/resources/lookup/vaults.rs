//! Recovery Services vaults by ARM name, and vaults read from rows other queries join.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{group, Tags};
use crate::resources::names::key;
use crate::resources::{ids, ResourceError};
use crate::store::{from_micros, json_column, Db};

#[derive(Debug, Clone, PartialEq)]
pub struct VaultRecord {
    pub vault_id: String,
    pub subscription_id: String,
    /// The resource group's name as created.
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub sku_name: String,
    pub tags: Tags,
    pub etag: String,
    pub last_refresh_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl VaultRecord {
    /// The vault's ARM id, as responses spell it.
    pub fn arm_id(&self) -> String {
        ids::vault_id(&self.subscription_id, &self.resource_group, &self.name)
    }
}

pub const VAULT_COLUMNS: &str = "v.vault_id, v.subscription_id, g.name as group_name, v.name, \
     v.location, v.sku_name, v.tags, v.etag, v.last_refresh_at, v.created_at";

/// A vault by subscription, group and name. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn vault(
    db: &Db,
    subscription: &str,
    group_name: &str,
    name: &str,
) -> Result<VaultRecord, ResourceError> {
    let row = sqlx::query(&format!(
        "select {VAULT_COLUMNS} from vault v join resource_group g \
         on g.subscription_id = v.subscription_id and g.name_key = v.resource_group_key \
         where v.subscription_id = $1 and v.resource_group_key = $2 and v.name_key = $3"
    ))
    .bind(subscription)
    .bind(key(group_name))
    .bind(key(name))
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => vault_from_row(&row),
        None => {
            group(db, subscription, group_name).await?;
            Err(ResourceError::resource_not_found(
                "Microsoft.RecoveryServices/vaults",
                name,
                group_name,
            ))
        }
    }
}

/// Builds a vault from a row selected with `VAULT_COLUMNS`.
pub fn vault_from_row(row: &AnyRow) -> Result<VaultRecord, ResourceError> {
    vault_from_columns(row, "")
}

/// `VAULT_COLUMNS` renamed with a `v_` prefix, for queries that join a vault to rows
/// whose columns have the same names.
pub const VAULT_COLUMNS_PREFIXED: &str = "v.vault_id as v_vault_id, \
     v.subscription_id as v_subscription_id, g.name as v_group_name, v.name as v_name, \
     v.location as v_location, v.sku_name as v_sku_name, v.tags as v_tags, v.etag as v_etag, \
     v.last_refresh_at as v_last_refresh_at, v.created_at as v_created_at";

/// Builds a vault from a row selected with `VAULT_COLUMNS_PREFIXED`.
pub fn vault_from_prefixed_row(row: &AnyRow) -> Result<VaultRecord, ResourceError> {
    vault_from_columns(row, "v_")
}

fn vault_from_columns(row: &AnyRow, prefix: &str) -> Result<VaultRecord, ResourceError> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(VaultRecord {
        vault_id: row.try_get(column("vault_id").as_str())?,
        subscription_id: row.try_get(column("subscription_id").as_str())?,
        resource_group: row.try_get(column("group_name").as_str())?,
        name: row.try_get(column("name").as_str())?,
        location: row.try_get(column("location").as_str())?,
        sku_name: row.try_get(column("sku_name").as_str())?,
        tags: json_column(row, &column("tags"))?,
        etag: row.try_get(column("etag").as_str())?,
        last_refresh_at: row
            .try_get::<Option<i64>, _>(column("last_refresh_at").as_str())?
            .map(from_micros),
        created_at: from_micros(row.try_get(column("created_at").as_str())?),
    })
}
