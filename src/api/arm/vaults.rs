//! Recovery Services vaults over ARM (`Vaults_*`): create or update, get, delete and the
//! two lists. A PUT answers with a terminal `provisioningState` and no async header, so
//! ARM pollers (the CLI's LRO) are done at once.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ErrorResponse;
use super::params::ApiVersion;
use super::route::{spec, GroupPath, VaultPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::lookup::Tags;
use crate::resources::vaults::{self, Vault, VaultSpec, Written, VAULT_TYPE};

/// The body of a vault PUT.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VaultPutBody {
    /// The Azure region; required, and fixed once the vault exists.
    pub location: Option<String>,
    /// `Standard` or `RS0`; `Standard` when left out.
    pub sku: Option<VaultSkuBody>,
    pub tags: Option<Tags>,
    /// Settings (`publicNetworkAccess`, `securitySettings`, `monitoringSettings`,
    /// `redundancySettings`, `restoreSettings`) overlay the current ones; read-only
    /// properties are ignored.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VaultSkuBody {
    pub name: Option<String>,
}

/// A vault as ARM returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VaultBody {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
    pub sku: VaultSku,
    /// `W/"datetime'<url-encoded time of the last write>'"`.
    pub etag: String,
    pub properties: VaultProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VaultSku {
    pub name: String,
    pub tier: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultProperties {
    /// Always `Succeeded`: vaults are created synchronously.
    pub provisioning_state: String,
    pub private_endpoint_state_for_backup: String,
    pub private_endpoint_state_for_site_recovery: String,
    /// `publicNetworkAccess`, `securitySettings`, `monitoringSettings`,
    /// `redundancySettings`, `restoreSettings`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VaultList {
    pub value: Vec<VaultBody>,
}

impl From<Vault> for VaultBody {
    fn from(vault: Vault) -> Self {
        let record = vault.record;
        Self {
            id: record.arm_id(),
            name: record.name,
            resource_type: VAULT_TYPE.to_owned(),
            location: record.location,
            tags: record.tags,
            sku: VaultSku {
                name: record.sku_name,
                tier: "Standard".to_owned(),
            },
            etag: record.etag,
            properties: VaultProperties {
                provisioning_state: "Succeeded".to_owned(),
                private_endpoint_state_for_backup: "None".to_owned(),
                private_endpoint_state_for_site_recovery: "None".to_owned(),
                settings: vault.settings,
            },
        }
    }
}

#[utoipa::path(
    get,
    path = spec::ListVaultsInSubscription.path,
    operation_id = spec::ListVaultsInSubscription.operation_id,
    tag = "Vaults",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subscription's vaults.", body = VaultList),
    )
)]
pub async fn list_vaults_in_subscription(
    state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    let vaults = vaults::list_in_subscription(&state.db, subscription).await?;
    Ok(list(vaults))
}

#[utoipa::path(
    get,
    path = spec::ListVaultsInGroup.path,
    operation_id = spec::ListVaultsInGroup.operation_id,
    tag = "Vaults",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The resource group's vaults.", body = VaultList),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_vaults_in_group(
    state: &ApiState,
    _request: &ArmRequest,
    path: &GroupPath,
) -> ArmResult {
    let vaults = vaults::list_in_group(&state.db, &path.subscription, &path.group).await?;
    Ok(list(vaults))
}

#[utoipa::path(
    put,
    path = spec::PutVault.path,
    operation_id = spec::PutVault.operation_id,
    tag = "Vaults",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("vaultName" = String, Path, description = "2 to 50 letters, digits and hyphens, starting with a letter."),
        ApiVersion,
    ),
    request_body = VaultPutBody,
    responses(
        (status = 200, description = "The vault was updated.", body = VaultBody),
        (status = 201, description = "The vault was created, with `DefaultPolicy` and `EnhancedPolicy`.", body = VaultBody),
        (status = 400, description = "`InvalidResourceName`, `LocationRequired`, `InvalidSkuName`, `InvalidParameter` or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
        (status = 409, description = "`InvalidResourceLocation`: the vault exists in another location.", body = ErrorResponse),
    )
)]
pub async fn put_vault(state: &ApiState, request: &ArmRequest, path: &VaultPath) -> ArmResult {
    let body: VaultPutBody = request.json()?;
    let spec = VaultSpec {
        location: body.location,
        sku_name: body.sku.and_then(|s| s.name),
        tags: body.tags.unwrap_or_default(),
        properties: body.properties.unwrap_or_default(),
    };
    let (vault, written) = vaults::put(
        &state.db,
        state.clock.now(),
        &path.group.subscription,
        &path.group.group,
        &path.vault,
        spec,
    )
    .await?;
    let status = match written {
        Written::Created => StatusCode::CREATED,
        Written::Updated => StatusCode::OK,
    };
    Ok(json_response(status, &VaultBody::from(vault)))
}

#[utoipa::path(
    get,
    path = spec::GetVault.path,
    operation_id = spec::GetVault.operation_id,
    tag = "Vaults",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("vaultName" = String, Path, description = "The vault."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The vault.", body = VaultBody),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_vault(state: &ApiState, _request: &ArmRequest, path: &VaultPath) -> ArmResult {
    let vault = vaults::get(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vault,
    )
    .await?;
    Ok(json_response(StatusCode::OK, &VaultBody::from(vault)))
}

#[utoipa::path(
    delete,
    path = spec::DeleteVault.path,
    operation_id = spec::DeleteVault.operation_id,
    tag = "Vaults",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("vaultName" = String, Path, description = "The vault."),
        ApiVersion,
    ),
    responses(
        (status = 204, description = "The vault, its policies, jobs and recovery points were deleted, or there was no such vault. Never 200: the SDK behind `az` 2.91 accepts only 202 or 204 here."),
        (status = 400, description = "`ServiceResourceNotEmptyWithContainerDetails`: the vault still holds backup items.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn delete_vault(state: &ApiState, _request: &ArmRequest, path: &VaultPath) -> ArmResult {
    vaults::delete(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vault,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn list(vaults: Vec<Vault>) -> axum::response::Response {
    json_response(
        StatusCode::OK,
        &VaultList {
            value: vaults.into_iter().map(VaultBody::from).collect(),
        },
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_vaults_in_subscription,
        list_vaults_in_group,
        put_vault,
        get_vault,
        delete_vault
    ),
    components(schemas(
        VaultPutBody,
        VaultSkuBody,
        VaultBody,
        VaultSku,
        VaultProperties,
        VaultList,
        ErrorResponse
    ))
)]
pub struct VaultsApi;

#[cfg(test)]
mod tests {
    use axum::http::Method;
    use utoipa::OpenApi;

    use super::super::policies::PoliciesApi;
    use super::super::route;
    use super::*;

    /// Each documented path, parameters filled in, is the route the dispatcher serves
    /// under the documented operation id. Returns the operation ids.
    fn served_operation_ids(doc: utoipa::openapi::OpenApi) -> Vec<String> {
        let mut ids = Vec::new();
        for (path, item) in &doc.paths.paths {
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for (method, operation) in [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::DELETE, &item.delete),
            ] {
                let Some(operation) = operation else { continue };
                let id = operation.operation_id.clone().unwrap_or_default();
                let served = route::parse(&method, &concrete).expect("a served route");
                assert_eq!(served.operation_id(), id, "{method} {path}");
                ids.push(id);
            }
        }
        ids.sort();
        ids
    }

    #[test]
    fn the_openapi_documents_name_the_served_routes() {
        assert_eq!(
            served_operation_ids(VaultsApi::openapi()),
            [
                "Vaults_CreateOrUpdate",
                "Vaults_Delete",
                "Vaults_Get",
                "Vaults_ListByResourceGroup",
                "Vaults_ListBySubscriptionId",
            ]
        );
        assert_eq!(
            served_operation_ids(PoliciesApi::openapi()),
            [
                "BackupPolicies_List",
                "ProtectionPolicies_CreateOrUpdate",
                "ProtectionPolicies_Delete",
                "ProtectionPolicies_Get",
            ]
        );
        let policies = serde_json::to_value(PoliciesApi::openapi()).unwrap();
        assert!(policies["components"]["schemas"]["PolicyDocument"].is_object());
    }
}
