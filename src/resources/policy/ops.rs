//! Storing backup policies: `backup_policy` rows holding the normalised document, and the
//! count of protected items that use each (`protected_item.policy_key`).

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{IaasVmPolicy, INVALID_POLICY_CODE};
use crate::resources::lookup::{self, VaultRecord};
use crate::resources::names::key;
use crate::resources::ResourceError;
use crate::store::{to_micros, Db};

/// A policy as stored, with the number of protected items that use it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPolicy {
    /// The name as created.
    pub name: String,
    pub policy: IaasVmPolicy,
    pub protected_items: i64,
}

const COLUMNS: &str = "p.name, p.properties, \
     (select count(*) from protected_item i \
      where i.vault_id = p.vault_id and i.policy_key = p.name_key) as protected_items";

/// Creates or replaces a policy. An existing policy that protects items keeps its type
/// (V1 or V2): items move between standard and enhanced policies explicitly.
pub async fn put(
    db: &Db,
    vault: &VaultRecord,
    name: &str,
    policy: IaasVmPolicy,
    now: DateTime<Utc>,
) -> Result<StoredPolicy, ResourceError> {
    validate_name(name)?;
    let mut tx = db.begin_write().await?;
    let existing = sqlx::query(&format!(
        "select {COLUMNS} from backup_policy p where p.vault_id = $1 and p.name_key = $2"
    ))
    .bind(&vault.vault_id)
    .bind(key(name))
    .fetch_optional(&mut *tx)
    .await?;
    let stored = match existing {
        Some(row) => {
            let current = from_row(&row)?;
            if current.protected_items > 0 && current.policy.policy_type() != policy.policy_type() {
                return Err(ResourceError::invalid(
                    INVALID_POLICY_CODE,
                    format!(
                        "properties.policyType cannot change from {} to {} while policy '{}' \
                         protects {} item(s): create a new policy and move the items to it.",
                        current.policy.policy_type().as_str(),
                        policy.policy_type().as_str(),
                        current.name,
                        current.protected_items
                    ),
                ));
            }
            sqlx::query(
                "update backup_policy set properties = $1 where vault_id = $2 and name_key = $3",
            )
            .bind(policy.to_properties().to_string())
            .bind(&vault.vault_id)
            .bind(key(name))
            .execute(&mut *tx)
            .await?;
            // The items it protects run on the new schedule: the scheduler plans their next
            // run again.
            sqlx::query(
                "update protected_item set next_backup_at = null \
                 where vault_id = $1 and policy_key = $2",
            )
            .bind(&vault.vault_id)
            .bind(key(name))
            .execute(&mut *tx)
            .await?;
            StoredPolicy { policy, ..current }
        }
        None => {
            insert(&mut tx, &vault.vault_id, name, &policy, now).await?;
            StoredPolicy {
                name: name.to_owned(),
                policy,
                protected_items: 0,
            }
        }
    };
    tx.commit().await?;
    Ok(stored)
}

/// Inserts a new policy row (in the caller's transaction).
pub async fn insert(
    conn: &mut AnyConnection,
    vault_id: &str,
    name: &str,
    policy: &IaasVmPolicy,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into backup_policy (vault_id, name_key, name, properties, created_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(vault_id)
    .bind(key(name))
    .bind(name)
    .bind(policy.to_properties().to_string())
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// A policy name: 1 to 150 ASCII letters, digits, hyphens and underscores, starting with a
/// letter and not ending with a hyphen (Azure PowerShell's rule, with the underscore the
/// portal allows). 400 `BMSUserErrorInvalidPolicyInput`.
pub fn validate_name(name: &str) -> Result<(), ResourceError> {
    let valid = (1..=150).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if valid {
        return Ok(());
    }
    Err(ResourceError::invalid(
        INVALID_POLICY_CODE,
        format!(
            "The policy name '{name}' is invalid: a policy name has 1 to 150 letters, digits, \
             hyphens and underscores, starts with a letter and does not end with a hyphen."
        ),
    ))
}

/// A policy by name. 404 `BMSUserErrorPolicyNotFound`.
pub async fn get(db: &Db, vault: &VaultRecord, name: &str) -> Result<StoredPolicy, ResourceError> {
    let record = lookup::policy(db, vault, name).await?;
    let policy = IaasVmPolicy::from_properties(&record.properties)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let protected_items: i64 = sqlx::query_scalar(
        "select count(*) from protected_item where vault_id = $1 and policy_key = $2",
    )
    .bind(&vault.vault_id)
    .bind(key(name))
    .fetch_one(db.pool())
    .await?;
    Ok(StoredPolicy {
        name: record.name,
        policy,
        protected_items,
    })
}

/// Every policy of a vault, by name.
pub async fn list(db: &Db, vault: &VaultRecord) -> Result<Vec<StoredPolicy>, ResourceError> {
    sqlx::query(&format!(
        "select {COLUMNS} from backup_policy p where p.vault_id = $1 order by p.name_key"
    ))
    .bind(&vault.vault_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Deletes a policy; `false` when there was none. Refused (409
/// `BMSUserErrorPolicyInUse`) while protected items use it.
pub async fn delete(db: &Db, vault: &VaultRecord, name: &str) -> Result<bool, ResourceError> {
    let mut tx = db.begin_write().await?;
    // Counted with the policy locked: a protect PUT that locked it first has committed its
    // item by now, and one that locks it next finds it gone.
    lock(&mut tx, &vault.vault_id, &key(name)).await?;
    let in_use: i64 = sqlx::query_scalar(
        "select count(*) from protected_item where vault_id = $1 and policy_key = $2",
    )
    .bind(&vault.vault_id)
    .bind(key(name))
    .fetch_one(&mut *tx)
    .await?;
    if in_use > 0 {
        return Err(ResourceError::conflict(
            "BMSUserErrorPolicyInUse",
            format!(
                "Policy '{name}' cannot be deleted: {in_use} backup item(s) in vault '{}' use it. \
                 Move them to another policy, or stop their protection, first.",
                vault.name
            ),
        ));
    }
    let deleted = sqlx::query("delete from backup_policy where vault_id = $1 and name_key = $2")
        .bind(&vault.vault_id)
        .bind(key(name))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted > 0)
}

/// Locks the policy's row until the write transaction ends, so that it still exists when
/// the transaction commits an item that uses it (a delete locks it before counting its
/// items); `false` when the policy is gone. SQLite's `begin immediate` already serialises
/// writers; PostgreSQL needs the row lock.
pub async fn lock(
    conn: &mut AnyConnection,
    vault_id: &str,
    name_key: &str,
) -> Result<bool, sqlx::Error> {
    let locked = sqlx::query(
        "update backup_policy set name_key = name_key where vault_id = $1 and name_key = $2",
    )
    .bind(vault_id)
    .bind(name_key)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(locked > 0)
}

fn from_row(row: &AnyRow) -> Result<StoredPolicy, ResourceError> {
    let properties: serde_json::Value = crate::store::json_column(row, "properties")?;
    let policy =
        IaasVmPolicy::from_properties(&properties).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(StoredPolicy {
        name: row.try_get("name")?,
        policy,
        protected_items: row.try_get("protected_items")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_follow_azure_rules() {
        for good in [
            "p",
            "DefaultPolicy",
            "Daily-Policy",
            "v2_daily",
            &"p".repeat(150),
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "1policy",
            "-policy",
            "_policy",
            "policy-",
            "policy.1",
            "policy 1",
            "pólicy",
            &"p".repeat(151),
        ] {
            assert!(
                matches!(
                    validate_name(bad),
                    Err(ResourceError::Invalid { ref code, .. }) if code == INVALID_POLICY_CODE
                ),
                "{bad}"
            );
        }
    }
}
