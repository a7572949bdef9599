//! Recovery Services vaults (`Microsoft.RecoveryServices/vaults`). A vault is created in
//! one transaction with the policies Azure gives every new vault (`policy::defaults`), and
//! deleted in one transaction with its policies, jobs, operations and recovery points;
//! deletion is refused while it holds any backup item.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::groups;
use super::lookup::{self, Tags, VaultRecord, VAULT_COLUMNS};
use super::names::key;
use super::policy;
use super::ResourceError;
use crate::store::{json_column, to_micros, Db};

pub const VAULT_TYPE: &str = "Microsoft.RecoveryServices/vaults";

/// The SKU names a vault may have (`RS0` is what new vaults show; `Standard` what older
/// clients send).
pub const SKU_NAMES: [&str; 2] = ["Standard", "RS0"];

/// The vault settings clients may set, kept in the vault's `properties`.
const SETTINGS_KEYS: [&str; 5] = [
    "publicNetworkAccess",
    "securitySettings",
    "monitoringSettings",
    "redundancySettings",
    "restoreSettings",
];

/// What a vault PUT asks for.
#[derive(Debug, Clone, Default)]
pub struct VaultSpec {
    pub location: Option<String>,
    /// `None` keeps the current SKU (`Standard` for a new vault).
    pub sku_name: Option<String>,
    pub tags: Tags,
    /// The request's `properties`: settings in [`SETTINGS_KEYS`] are kept, read-only
    /// properties clients echo back (`provisioningState`...) are ignored.
    pub properties: Map<String, Value>,
}

/// A vault with its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Vault {
    pub record: VaultRecord,
    /// `publicNetworkAccess`, `securitySettings`... as `properties` shows them.
    pub settings: Map<String, Value>,
}

/// Whether a PUT created the vault or updated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
}

/// Creates or updates a vault. A new vault gets `DefaultPolicy` and `EnhancedPolicy` in
/// the same transaction. The location (normalised as resource groups normalise it) cannot
/// change (409 `InvalidResourceLocation`).
pub async fn put(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    name: &str,
    spec: VaultSpec,
) -> Result<(Vault, Written), ResourceError> {
    validate_name(name)?;
    let group = lookup::group(db, subscription, group).await?;
    let location = groups::require_location(spec.location.as_deref())?;
    let sku_name = spec.sku_name.as_deref().map(parse_sku).transpose()?;
    let overlay = settings_overlay(&spec.properties)?;
    let etag = etag(now);
    let tags = serde_json::to_string(&spec.tags).expect("tags serialize");

    let mut tx = db.begin_write().await?;
    let existing = sqlx::query(&format!(
        "select {VAULT_COLUMNS}, v.settings from vault v join resource_group g \
         on g.subscription_id = v.subscription_id and g.name_key = v.resource_group_key \
         where v.subscription_id = $1 and v.resource_group_key = $2 and v.name_key = $3"
    ))
    .bind(subscription)
    .bind(key(&group.name))
    .bind(key(name))
    .fetch_optional(&mut *tx)
    .await?;
    let (vault_id, written) = match existing {
        Some(row) => {
            let current = vault_from_row(&row)?;
            if current.record.location != location {
                return Err(ResourceError::conflict(
                    "InvalidResourceLocation",
                    format!(
                        "The resource '{}' already exists in location '{}' in resource group \
                         '{}'. A resource with the same name cannot be created in location \
                         '{location}': a vault's location cannot change.",
                        current.record.name, current.record.location, group.name
                    ),
                ));
            }
            let mut settings = current.settings;
            merge(&mut settings, &overlay);
            sqlx::query(
                "update vault set sku_name = $1, tags = $2, etag = $3, settings = $4 \
                 where vault_id = $5",
            )
            .bind(sku_name.unwrap_or(&current.record.sku_name))
            .bind(&tags)
            .bind(&etag)
            .bind(Value::Object(settings).to_string())
            .bind(&current.record.vault_id)
            .execute(&mut *tx)
            .await?;
            (current.record.vault_id, Written::Updated)
        }
        None => {
            let vault_id = uuid::Uuid::new_v4().to_string();
            let mut settings = default_settings();
            merge(&mut settings, &overlay);
            sqlx::query(
                "insert into vault (vault_id, subscription_id, resource_group_key, name_key, \
                 name, location, sku_name, tags, etag, last_refresh_at, created_at, settings) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, null, $10, $11)",
            )
            .bind(&vault_id)
            .bind(subscription)
            .bind(key(&group.name))
            .bind(key(name))
            .bind(name)
            .bind(&location)
            .bind(sku_name.unwrap_or(SKU_NAMES[0]))
            .bind(&tags)
            .bind(&etag)
            .bind(to_micros(now))
            .bind(Value::Object(settings).to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| concurrent_create(e, name))?;
            for (policy_name, seeded) in policy::defaults::seeded(now) {
                policy::insert(&mut tx, &vault_id, policy_name, &seeded, now).await?;
            }
            (vault_id, Written::Created)
        }
    };
    let row = sqlx::query(&format!(
        "select {VAULT_COLUMNS}, v.settings from vault v join resource_group g \
         on g.subscription_id = v.subscription_id and g.name_key = v.resource_group_key \
         where v.vault_id = $1"
    ))
    .bind(&vault_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((vault_from_row(&row)?, written))
}

/// A vault by name. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn get(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Vault, ResourceError> {
    let record = lookup::vault(db, subscription, group, name).await?;
    let settings: String = sqlx::query_scalar("select settings from vault where vault_id = $1")
        .bind(&record.vault_id)
        .fetch_one(db.pool())
        .await?;
    Ok(Vault {
        record,
        settings: parse_settings(&settings)?,
    })
}

/// Overlays settings on a vault (object by object, as a PUT's `properties` do) and answers
/// the vault. 404 as [`get`] answers.
pub async fn overlay_settings(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    name: &str,
    overlay: &Map<String, Value>,
) -> Result<Vault, ResourceError> {
    let mut vault = get(db, subscription, group, name).await?;
    merge(&mut vault.settings, overlay);
    vault.record.etag = etag(now);
    sqlx::query("update vault set settings = $1, etag = $2 where vault_id = $3")
        .bind(Value::Object(vault.settings.clone()).to_string())
        .bind(&vault.record.etag)
        .bind(&vault.record.vault_id)
        .execute(db.writer())
        .await?;
    Ok(vault)
}

/// The vaults of a resource group, by name. 404 `ResourceGroupNotFound`.
pub async fn list_in_group(
    db: &Db,
    subscription: &str,
    group: &str,
) -> Result<Vec<Vault>, ResourceError> {
    let group = lookup::group(db, subscription, group).await?;
    sqlx::query(&format!(
        "select {VAULT_COLUMNS}, v.settings from vault v join resource_group g \
         on g.subscription_id = v.subscription_id and g.name_key = v.resource_group_key \
         where v.subscription_id = $1 and v.resource_group_key = $2 order by v.name_key"
    ))
    .bind(subscription)
    .bind(key(&group.name))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(vault_from_row)
    .collect()
}

/// The vaults of a subscription, by group and name.
pub async fn list_in_subscription(
    db: &Db,
    subscription: &str,
) -> Result<Vec<Vault>, ResourceError> {
    sqlx::query(&format!(
        "select {VAULT_COLUMNS}, v.settings from vault v join resource_group g \
         on g.subscription_id = v.subscription_id and g.name_key = v.resource_group_key \
         where v.subscription_id = $1 order by v.resource_group_key, v.name_key"
    ))
    .bind(subscription)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(vault_from_row)
    .collect()
}

/// Deletes a vault with its policies, jobs, operations and recovery points; nothing when
/// there was none (404 `ResourceGroupNotFound` when the group is missing too). Refused
/// (400 `ServiceResourceNotEmptyWithContainerDetails`, as Azure answers) while the vault
/// holds backup items, protected or stopped with their data retained.
pub async fn delete(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<(), ResourceError> {
    let mut tx = db.begin_write().await?;
    let vault_id: Option<String> = sqlx::query_scalar(
        "select vault_id from vault \
         where subscription_id = $1 and resource_group_key = $2 and name_key = $3",
    )
    .bind(subscription)
    .bind(key(group))
    .bind(key(name))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(vault_id) = vault_id else {
        drop(tx);
        lookup::group(db, subscription, group).await?;
        return Ok(());
    };
    let containers: Vec<String> = sqlx::query(
        "select vm_resource_group, vm_name from protected_item where vault_id = $1 \
         order by item_key",
    )
    .bind(&vault_id)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|row| {
        Ok(format!(
            "iaasvmcontainerv2;{};{}",
            row.try_get::<String, _>("vm_resource_group")?,
            row.try_get::<String, _>("vm_name")?
        ))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    if !containers.is_empty() {
        return Err(ResourceError::invalid(
            "ServiceResourceNotEmptyWithContainerDetails",
            format!(
                "Vault cannot be deleted as there are existing resources within the vault. \
                 Stop protection and delete the backup data of every backup item first; the \
                 vault still holds the containers: {}.",
                containers.join(", ")
            ),
        ));
    }
    for table in [
        "recovery_point",
        "backup_operation",
        "backup_job",
        "backup_policy",
        "vault",
    ] {
        sqlx::query(&format!("delete from {table} where vault_id = $1"))
            .bind(&vault_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Vault names are 2 to 50 characters: letters, digits and hyphens, starting with a letter.
pub fn validate_name(name: &str) -> Result<(), ResourceError> {
    let valid = (2..=50).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ResourceError::invalid(
            "InvalidResourceName",
            format!(
                "The vault name '{name}' is invalid: a vault name has 2 to 50 characters, \
                 letters, digits and hyphens only, and starts with a letter."
            ),
        ))
    }
}

fn parse_sku(name: &str) -> Result<&'static str, ResourceError> {
    SKU_NAMES
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ResourceError::invalid(
                "InvalidSkuName",
                format!("The sku name '{name}' is not valid for a vault: use 'Standard' or 'RS0'."),
            )
        })
}

/// The settings a request sets, checked for shape.
fn settings_overlay(properties: &Map<String, Value>) -> Result<Map<String, Value>, ResourceError> {
    let mut overlay = Map::new();
    for name in SETTINGS_KEYS {
        match properties.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(access)) if name == "publicNetworkAccess" => {
                let access = ["Enabled", "Disabled"]
                    .into_iter()
                    .find(|a| a.eq_ignore_ascii_case(access))
                    .ok_or_else(|| {
                        ResourceError::invalid(
                            "InvalidParameter",
                            format!(
                                "properties.publicNetworkAccess '{access}' is not valid: use \
                                 'Enabled' or 'Disabled'."
                            ),
                        )
                    })?;
                overlay.insert(name.to_owned(), Value::String(access.to_owned()));
            }
            Some(value @ Value::Object(_)) if name != "publicNetworkAccess" => {
                overlay.insert(name.to_owned(), value.clone());
            }
            Some(_) => {
                return Err(ResourceError::invalid(
                    "InvalidParameter",
                    format!(
                        "properties.{name} has the wrong type: expected {}.",
                        if name == "publicNetworkAccess" {
                            "'Enabled' or 'Disabled'"
                        } else {
                            "an object"
                        }
                    ),
                ))
            }
        }
    }
    Ok(overlay)
}

/// The settings a new vault shows (a vault created in 2026 with the defaults).
fn default_settings() -> Map<String, Value> {
    let Value::Object(settings) = serde_json::json!({
        "publicNetworkAccess": "Enabled",
        "securitySettings": {
            "softDeleteSettings": {
                "softDeleteRetentionPeriodInDays": 14,
                "softDeleteState": "Enabled",
                "enhancedSecurityState": "Enabled"
            }
        },
        "monitoringSettings": {
            "azureMonitorAlertSettings": {
                "alertsForAllJobFailures": "Enabled"
            },
            "classicAlertSettings": {
                "alertsForCriticalOperations": "Enabled"
            }
        },
        "redundancySettings": {
            "standardTierStorageRedundancy": "GeoRedundant",
            "crossRegionRestore": "Disabled"
        },
        "restoreSettings": {
            "crossSubscriptionRestoreSettings": {
                "crossSubscriptionRestoreState": "Enabled"
            }
        }
    }) else {
        unreachable!("an object literal")
    };
    settings
}

/// Overlays `overlay` on `base`, object by object.
fn merge(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (name, value) in overlay {
        match (base.get_mut(name), value) {
            (Some(Value::Object(base)), Value::Object(overlay)) => merge(base, overlay),
            _ => {
                base.insert(name.clone(), value.clone());
            }
        }
    }
}

/// A vault's etag as Azure writes it: `W/"datetime'2020-04-28T11%3A00%3A56.0416025Z'"`.
fn etag(now: DateTime<Utc>) -> String {
    let time = format!(
        "{}.{:07}Z",
        now.format("%Y-%m-%dT%H:%M:%S"),
        now.timestamp_subsec_nanos() / 100
    )
    .replace(':', "%3A");
    format!("W/\"datetime'{time}'\"")
}

/// Two requests created the same vault at once: the loser's insert hits the unique key.
fn concurrent_create(error: sqlx::Error, name: &str) -> ResourceError {
    match error.as_database_error() {
        Some(e) if e.is_unique_violation() => ResourceError::conflict(
            "Conflict",
            format!("Vault '{name}' is being created by another request; retry."),
        ),
        _ => error.into(),
    }
}

fn vault_from_row(row: &AnyRow) -> Result<Vault, ResourceError> {
    let mut settings = default_settings();
    merge(&mut settings, &json_column(row, "settings")?);
    Ok(Vault {
        record: lookup::vault_from_row(row)?,
        settings,
    })
}

fn parse_settings(text: &str) -> Result<Map<String, Value>, ResourceError> {
    let stored: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let mut settings = default_settings();
    merge(&mut settings, &stored);
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn vault_names_follow_azure_rules() {
        for good in ["ab", "vault-1", "V", "a".repeat(50).as_str()]
            .into_iter()
            .filter(|n| n.len() >= 2)
        {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "1vault",
            "-vault",
            "vault_1",
            "vault.1",
            "..",
            &"a".repeat(51),
            "väult",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn etags_are_weak_datetime_tags() {
        let now = Utc
            .with_ymd_and_hms(2020, 4, 28, 11, 0, 56)
            .unwrap()
            .checked_add_signed(chrono::TimeDelta::nanoseconds(41_602_500))
            .unwrap();
        assert_eq!(
            etag(now),
            "W/\"datetime'2020-04-28T11%3A00%3A56.0416025Z'\""
        );
    }

    #[test]
    fn settings_overlay_keeps_defaults_not_set() {
        let properties = serde_json::json!({
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "disabled",
            "securitySettings": {"softDeleteSettings": {"softDeleteState": "Disabled"}}
        });
        let overlay = settings_overlay(properties.as_object().unwrap()).unwrap();
        let mut settings = default_settings();
        merge(&mut settings, &overlay);
        assert_eq!(settings["publicNetworkAccess"], "Disabled");
        assert_eq!(
            settings["securitySettings"]["softDeleteSettings"],
            serde_json::json!({
                "softDeleteRetentionPeriodInDays": 14,
                "softDeleteState": "Disabled",
                "enhancedSecurityState": "Enabled"
            })
        );
        assert!(!settings.contains_key("provisioningState"));
        for bad in [
            serde_json::json!({"publicNetworkAccess": "Sometimes"}),
            serde_json::json!({"securitySettings": "on"}),
        ] {
            assert!(settings_overlay(bad.as_object().unwrap()).is_err(), "{bad}");
        }
    }
}
