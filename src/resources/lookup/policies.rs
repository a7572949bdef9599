//! Backup policies of a vault by name.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::VaultRecord;
use crate::resources::names::key;
use crate::resources::ResourceError;
use crate::store::{from_micros, json_column, Db};

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub vault_id: String,
    pub name: String,
    /// The stored AzureIaaSVMProtectionPolicy properties (without `protectedItemsCount`).
    pub properties: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A policy of a vault by name. 404 `BMSUserErrorPolicyNotFound` when missing.
pub async fn policy(
    db: &Db,
    vault: &VaultRecord,
    name: &str,
) -> Result<PolicyRecord, ResourceError> {
    let row = sqlx::query(
        "select name, properties, created_at from backup_policy where vault_id = $1 and name_key = $2",
    )
    .bind(&vault.vault_id)
    .bind(key(name))
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| {
        ResourceError::not_found(
            "BMSUserErrorPolicyNotFound",
            format!("Policy '{name}' was not found in vault '{}'.", vault.name),
        )
    })?;
    Ok(PolicyRecord {
        vault_id: vault.vault_id.clone(),
        name: row.try_get("name")?,
        properties: json_column(&row, "properties")?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}
