//! A vault's backup configuration over ARM, as `az backup vault backup-properties show|set`
//! and the backup commands' pre-flight reads need it: `backupconfig/vaultconfig` (soft
//! delete, enhanced security), `backupstorageconfig/vaultstorageconfig` (redundancy,
//! cross-region restore), `backupEncryptionConfigs` (Microsoft-managed keys) and
//! `backupResourceGuardProxies` (no Resource Guard is ever linked).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ErrorResponse;
use super::params::{ApiVersion, VaultParams};
use super::protection::vault_of;
use super::route::{spec, VaultPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::vault_config::{self, VaultConfig, VaultConfigChange};

/// The list of Resource Guard proxies: always empty.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceGuardProxyList {
    #[schema(value_type = Vec<Object>)]
    value: Vec<serde_json::Value>,
}

/// BackupResourceVaultConfigResource.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VaultConfigBody {
    id: String,
    name: &'static str,
    #[serde(rename = "type")]
    resource_type: &'static str,
    properties: VaultConfigProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultConfigProperties {
    storage_model_type: String,
    storage_type: String,
    storage_type_state: &'static str,
    /// `Enabled`, `Disabled` or `AlwaysON`.
    enhanced_security_state: String,
    /// `Enabled`, `Disabled` or `AlwaysON`.
    soft_delete_feature_state: String,
    soft_delete_retention_period_in_days: i64,
    /// False once soft delete is `AlwaysON`.
    is_soft_delete_feature_state_editable: bool,
}

/// The body of a vault config PATCH or PUT; properties left out keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VaultConfigWrite {
    properties: Option<VaultConfigWriteProperties>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultConfigWriteProperties {
    soft_delete_feature_state: Option<String>,
    enhanced_security_state: Option<String>,
    /// 14 to 180.
    soft_delete_retention_period_in_days: Option<i64>,
}

/// BackupResourceConfigResource.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StorageConfigBody {
    id: String,
    name: &'static str,
    #[serde(rename = "type")]
    resource_type: &'static str,
    properties: StorageConfigProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageConfigProperties {
    /// `GeoRedundant`, `LocallyRedundant` or `ZoneRedundant`.
    storage_model_type: String,
    storage_type: String,
    storage_type_state: &'static str,
    cross_region_restore_flag: bool,
}

/// BackupResourceEncryptionConfigExtendedResource.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EncryptionConfigBody {
    id: String,
    name: &'static str,
    #[serde(rename = "type")]
    resource_type: &'static str,
    properties: EncryptionConfigProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionConfigProperties {
    encryption_at_rest_type: &'static str,
    infrastructure_encryption_state: &'static str,
    last_update_status: &'static str,
}

/// The simulator does not lock a vault's redundancy once it protects items, as Azure does.
const STORAGE_TYPE_STATE: &str = "Unlocked";

fn vault_config_body(config: VaultConfig) -> VaultConfigBody {
    VaultConfigBody {
        id: format!("{}/backupconfig/vaultconfig", config.vault_id),
        name: "vaultconfig",
        resource_type: "Microsoft.RecoveryServices/vaults/backupconfig",
        properties: VaultConfigProperties {
            storage_model_type: config.storage_type.clone(),
            storage_type: config.storage_type.clone(),
            storage_type_state: STORAGE_TYPE_STATE,
            is_soft_delete_feature_state_editable: config.soft_delete_editable(),
            enhanced_security_state: config.enhanced_security_state,
            soft_delete_feature_state: config.soft_delete_state,
            soft_delete_retention_period_in_days: config.soft_delete_retention_days,
        },
    }
}

#[utoipa::path(
    get,
    path = spec::ListResourceGuardProxies.path,
    operation_id = spec::ListResourceGuardProxies.operation_id,
    tag = "Vaults",
    params(
        VaultParams,
        ApiVersion,
    ),
    responses(
        (status = 200, description = "No Resource Guard is linked: an empty list.", body = ResourceGuardProxyList),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_resource_guard_proxies(
    state: &ApiState,
    _request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    vault_of(state, path).await?;
    Ok(json_response(
        StatusCode::OK,
        &ResourceGuardProxyList { value: Vec::new() },
    ))
}

#[utoipa::path(
    get,
    path = spec::GetVaultConfig.path,
    operation_id = spec::GetVaultConfig.operation_id,
    tag = "Vaults",
    params(
        VaultParams,
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The vault's soft delete and security configuration.", body = VaultConfigBody),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_vault_config(
    state: &ApiState,
    _request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    let config = vault_config::get(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vault,
    )
    .await?;
    Ok(json_response(StatusCode::OK, &vault_config_body(config)))
}

#[utoipa::path(
    patch,
    path = spec::UpdateVaultConfig.path,
    operation_id = spec::UpdateVaultConfig.operation_id,
    tag = "Vaults",
    params(
        VaultParams,
        ApiVersion,
    ),
    request_body = VaultConfigWrite,
    responses(
        (status = 200, description = "The configuration with the given properties set.", body = VaultConfigBody),
        (status = 400, description = "`BMSUserErrorInvalidInput` (a state other than Enabled, Disabled or AlwaysON, leaving AlwaysON, a retention outside 14-180 days) or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn update_vault_config(
    state: &ApiState,
    request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    write_vault_config(state, request, path).await
}

#[utoipa::path(
    put,
    path = spec::PutVaultConfig.path,
    operation_id = spec::PutVaultConfig.operation_id,
    tag = "Vaults",
    params(
        VaultParams,
        ApiVersion,
    ),
    request_body = VaultConfigWrite,
    responses(
        (status = 200, description = "The configuration with the given properties set (as PATCH: the vault config always exists).", body = VaultConfigBody),
        (status = 400, description = "As for PATCH.", body = ErrorResponse),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn put_vault_config(
    state: &ApiState,
    request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    write_vault_config(state, request, path).await
}

/// PATCH and PUT alike: a vault's config exists with the vault, so both set what is given.
async fn write_vault_config(state: &ApiState, request: &ArmRequest, path: &VaultPath) -> ArmResult {
    let body: VaultConfigWrite = request.json()?;
    let change = body
        .properties
        .map_or_else(VaultConfigChange::default, |p| VaultConfigChange {
            soft_delete_state: p.soft_delete_feature_state,
            enhanced_security_state: p.enhanced_security_state,
            soft_delete_retention_days: p.soft_delete_retention_period_in_days,
        });
    let config = vault_config::update(
        &state.db,
        state.clock.now(),
        &path.group.subscription,
        &path.group.group,
        &path.vault,
        change,
    )
    .await?;
    Ok(json_response(StatusCode::OK, &vault_config_body(config)))
}

#[utoipa::path(
    get,
    path = spec::GetStorageConfig.path,
    operation_id = spec::GetStorageConfig.operation_id,
    tag = "Vaults",
    params(
        VaultParams,
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The vault's storage redundancy (set with the vault's `redundancySettings`).", body = StorageConfigBody),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_storage_config(
    state: &ApiState,
    _request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    let config = vault_config::get(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vault,
    )
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &StorageConfigBody {
            id: format!("{}/backupstorageconfig/vaultstorageconfig", config.vault_id),
            name: "vaultstorageconfig",
            resource_type: "Microsoft.RecoveryServices/vaults/backupstorageconfig",
            properties: StorageConfigProperties {
                storage_model_type: config.storage_type.clone(),
                storage_type: config.storage_type,
                storage_type_state: STORAGE_TYPE_STATE,
                cross_region_restore_flag: config.cross_region_restore,
            },
        },
    ))
}

#[utoipa::path(
    get,
    path = spec::GetEncryptionConfig.path,
    operation_id = spec::GetEncryptionConfig.operation_id,
    tag = "Vaults",
    params(
        VaultParams,
        ApiVersion,
    ),
    responses(
        (status = 200, description = "Microsoft-managed keys, no infrastructure encryption.", body = EncryptionConfigBody),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_encryption_config(
    state: &ApiState,
    _request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    let vault = vault_of(state, path).await?;
    Ok(json_response(
        StatusCode::OK,
        &EncryptionConfigBody {
            id: format!(
                "{}/backupEncryptionConfigs/backupResourceEncryptionConfig",
                vault.arm_id()
            ),
            name: "backupResourceEncryptionConfig",
            resource_type: "Microsoft.RecoveryServices/vaults/backupEncryptionConfigs",
            properties: EncryptionConfigProperties {
                encryption_at_rest_type: "MicrosoftManaged",
                infrastructure_encryption_state: "Disabled",
                last_update_status: "NotEnabled",
            },
        },
    ))
}

/// The vault configuration's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_resource_guard_proxies,
        get_vault_config,
        update_vault_config,
        put_vault_config,
        get_storage_config,
        get_encryption_config
    ),
    components(schemas(
        ResourceGuardProxyList,
        VaultConfigBody,
        VaultConfigProperties,
        VaultConfigWrite,
        VaultConfigWriteProperties,
        StorageConfigBody,
        StorageConfigProperties,
        EncryptionConfigBody,
        EncryptionConfigProperties
    ))
)]
pub struct VaultConfigApi;
