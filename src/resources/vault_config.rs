//! A vault's backup configuration as Azure Backup shows it (`backupconfig/vaultconfig`,
//! `backupstorageconfig/vaultstorageconfig`). It is a second view of settings the vault
//! already holds (`securitySettings.softDeleteSettings`, `redundancySettings`), so the
//! vault PUT and these routes can never disagree.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::vaults::{self, Vault};
use super::ResourceError;
use crate::store::Db;

/// Azure Backup's code for a configuration value it does not accept.
const INVALID_INPUT: &str = "BMSUserErrorInvalidInput";

/// The states soft delete and enhanced security take. `AlwaysON` cannot be left.
const FEATURE_STATES: [&str; 3] = ["Enabled", "Disabled", "AlwaysON"];
const ALWAYS_ON: &str = "AlwaysON";

/// The soft delete retention Azure allows, in days.
const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 14..=180;

/// What `backupconfig/vaultconfig` and `backupstorageconfig/vaultstorageconfig` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultConfig {
    /// The vault's ARM id, as created.
    pub vault_id: String,
    /// `GeoRedundant`, `LocallyRedundant` or `ZoneRedundant`.
    pub storage_type: String,
    pub cross_region_restore: bool,
    /// `Enabled`, `Disabled` or `AlwaysON`.
    pub soft_delete_state: String,
    pub enhanced_security_state: String,
    pub soft_delete_retention_days: i64,
}

impl VaultConfig {
    fn of(vault: &Vault) -> Self {
        let soft_delete = &vault.settings["securitySettings"]["softDeleteSettings"];
        let redundancy = &vault.settings["redundancySettings"];
        let text = |value: &Value, default: &str| value.as_str().unwrap_or(default).to_owned();
        // The vault PUT keeps the client's spelling (az sends `AlwaysOn`); this view
        // answers Azure's.
        let state = |value: &Value| {
            let given = value.as_str().unwrap_or("Enabled");
            feature_state("", given).map_or_else(|_| given.to_owned(), str::to_owned)
        };
        Self {
            vault_id: vault.record.arm_id(),
            storage_type: text(&redundancy["standardTierStorageRedundancy"], "GeoRedundant"),
            cross_region_restore: redundancy["crossRegionRestore"] == "Enabled",
            soft_delete_state: state(&soft_delete["softDeleteState"]),
            enhanced_security_state: state(&soft_delete["enhancedSecurityState"]),
            soft_delete_retention_days: soft_delete["softDeleteRetentionPeriodInDays"]
                .as_i64()
                .unwrap_or(14),
        }
    }

    /// Whether soft delete may still be switched (not once it is `AlwaysON`).
    pub fn soft_delete_editable(&self) -> bool {
        self.soft_delete_state != ALWAYS_ON
    }
}

/// A vault config PATCH or PUT: the properties it sets; the others keep their value.
#[derive(Debug, Clone, Default)]
pub struct VaultConfigChange {
    pub soft_delete_state: Option<String>,
    pub enhanced_security_state: Option<String>,
    pub soft_delete_retention_days: Option<i64>,
}

/// A vault's configuration. 404 as the vault GET answers.
pub async fn get(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<VaultConfig, ResourceError> {
    Ok(VaultConfig::of(
        &vaults::get(db, subscription, group, name).await?,
    ))
}

/// Applies a change, checked against Azure's values, and answers the new configuration.
pub async fn update(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    name: &str,
    change: VaultConfigChange,
) -> Result<VaultConfig, ResourceError> {
    let current = get(db, subscription, group, name).await?;
    let mut soft_delete = Map::new();
    for (field, setting, value, was) in [
        (
            "softDeleteFeatureState",
            "softDeleteState",
            &change.soft_delete_state,
            &current.soft_delete_state,
        ),
        (
            "enhancedSecurityState",
            "enhancedSecurityState",
            &change.enhanced_security_state,
            &current.enhanced_security_state,
        ),
    ] {
        let Some(value) = value else { continue };
        let state = feature_state(field, value)?;
        if was == ALWAYS_ON && state != ALWAYS_ON {
            return Err(ResourceError::invalid(
                INVALID_INPUT,
                format!("properties.{field} is AlwaysON on this vault and cannot be changed."),
            ));
        }
        soft_delete.insert(setting.to_owned(), json!(state));
    }
    if let Some(days) = change.soft_delete_retention_days {
        if !RETENTION_DAYS.contains(&days) {
            return Err(ResourceError::invalid(
                INVALID_INPUT,
                format!(
                    "properties.softDeleteRetentionPeriodInDays {days} is not valid: use {} to {} \
                     days.",
                    RETENTION_DAYS.start(),
                    RETENTION_DAYS.end()
                ),
            ));
        }
        soft_delete.insert("softDeleteRetentionPeriodInDays".to_owned(), json!(days));
    }
    let overlay = json!({"securitySettings": {"softDeleteSettings": soft_delete}});
    let Value::Object(overlay) = overlay else {
        unreachable!("an object literal")
    };
    let vault = vaults::overlay_settings(db, now, subscription, group, name, &overlay).await?;
    Ok(VaultConfig::of(&vault))
}

/// A feature state in Azure's spelling, whatever the case the client sent.
fn feature_state(field: &str, value: &str) -> Result<&'static str, ResourceError> {
    FEATURE_STATES
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(value))
        .ok_or_else(|| {
            ResourceError::invalid(
                INVALID_INPUT,
                format!(
                    "properties.{field} '{value}' is not valid: use one of {}.",
                    FEATURE_STATES.join(", ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_states_take_azure_spelling_and_refuse_others() {
        assert_eq!(feature_state("f", "disabled").unwrap(), "Disabled");
        assert_eq!(feature_state("f", "ALWAYSON").unwrap(), "AlwaysON");
        assert!(feature_state("f", "Disable").is_err());
    }
}
