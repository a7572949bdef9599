//! Resource groups by subscription and name.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Tags;
use crate::resources::names::key;
use crate::resources::ResourceError;
use crate::store::{from_micros, json_column, Db};

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub subscription_id: String,
    pub name: String,
    pub location: String,
    pub tags: Tags,
    pub created_at: DateTime<Utc>,
}

/// A resource group by subscription and name. 404 `ResourceGroupNotFound`.
pub async fn group(db: &Db, subscription: &str, group: &str) -> Result<GroupRecord, ResourceError> {
    let row = sqlx::query(
        "select subscription_id, name, location, tags, created_at from resource_group \
         where subscription_id = $1 and name_key = $2",
    )
    .bind(subscription)
    .bind(key(group))
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| ResourceError::resource_group_not_found(group))?;
    Ok(GroupRecord {
        subscription_id: row.try_get("subscription_id")?,
        name: row.try_get("name")?,
        location: row.try_get("location")?,
        tags: json_column(&row, "tags")?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}
