//! Backup policies over ARM (`BackupPolicies_List`, `ProtectionPolicies_*`). Every answer
//! carries the policy's discriminators (`backupManagementType`, `schedulePolicyType`,
//! `retentionPolicyType`) and `protectedItemsCount`, which clients need.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::error::{ArmError, ErrorResponse};
use super::params::ApiVersion;
use super::route::{spec, VaultPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::lookup::{self, VaultRecord};
use crate::resources::policy::{
    self, IaasVmPolicy, PolicyDocument, StoredPolicy, BACKUP_MANAGEMENT_TYPE, INVALID_POLICY_CODE,
    POLICY_RESOURCE_TYPE,
};
use crate::resources::ResourceError;

/// The body of a policy PUT.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PolicyPutBody {
    pub properties: Option<PolicyDocument>,
}

/// A policy as ARM returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyBody {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub properties: PolicyProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyProperties {
    #[serde(flatten)]
    pub document: PolicyDocument,
    /// The backup items that use the policy.
    pub protected_items_count: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyList {
    pub value: Vec<PolicyBody>,
}

fn body(vault: &VaultRecord, stored: StoredPolicy) -> PolicyBody {
    PolicyBody {
        id: format!("{}/backupPolicies/{}", vault.arm_id(), stored.name),
        name: stored.name,
        resource_type: POLICY_RESOURCE_TYPE.to_owned(),
        properties: PolicyProperties {
            document: stored.policy.to_document(),
            protected_items_count: stored.protected_items,
        },
    }
}

async fn vault(state: &ApiState, path: &VaultPath) -> Result<VaultRecord, ResourceError> {
    lookup::vault(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vault,
    )
    .await
}

#[utoipa::path(
    get,
    path = spec::ListPolicies.path,
    operation_id = spec::ListPolicies.operation_id,
    tag = "Backup policies",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("vaultName" = String, Path, description = "The vault."),
        ApiVersion,
        ("$filter" = Option<String>, Query, description = "`backupManagementType eq 'AzureIaasVM'` and/or `workloadType eq 'VM'`; other values match no policy."),
    ),
    responses(
        (status = 200, description = "The vault's policies.", body = PolicyList),
        (status = 400, description = "`InvalidQueryParameterValue`: a filter key other than backupManagementType and workloadType.", body = ErrorResponse),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_policies(state: &ApiState, request: &ArmRequest, path: &VaultPath) -> ArmResult {
    let filter = request.query.filter()?;
    if let Some(unknown) = filter.keys().find(|k| {
        !k.eq_ignore_ascii_case("backupManagementType") && !k.eq_ignore_ascii_case("workloadType")
    }) {
        return Err(ArmError::InvalidQueryParameter(format!(
            "The $filter key '{unknown}' is not supported for backup policies: filter on \
             backupManagementType and workloadType."
        )));
    }
    let vault = vault(state, path).await?;
    let matches = filter
        .get("backupManagementType")
        .is_none_or(|t| t.eq_ignore_ascii_case(BACKUP_MANAGEMENT_TYPE))
        && filter
            .get("workloadType")
            .is_none_or(|t| t.eq_ignore_ascii_case("VM"));
    let value = if matches {
        policy::list(&state.db, &vault)
            .await?
            .into_iter()
            .map(|stored| body(&vault, stored))
            .collect()
    } else {
        Vec::new()
    };
    Ok(json_response(StatusCode::OK, &PolicyList { value }))
}

#[utoipa::path(
    put,
    path = spec::PutPolicy.path,
    operation_id = spec::PutPolicy.operation_id,
    tag = "Backup policies",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("vaultName" = String, Path, description = "The vault."),
        ("policyName" = String, Path, description = "The policy."),
        ApiVersion,
    ),
    request_body = PolicyPutBody,
    responses(
        (status = 200, description = "The policy as stored (created or replaced).", body = PolicyBody),
        (status = 400, description = "`BMSUserErrorInvalidPolicyInput` (the message names the field and the rule) or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn put_policy(
    state: &ApiState,
    request: &ArmRequest,
    vault_path: &VaultPath,
    policy_name: &str,
) -> ArmResult {
    let vault = vault(state, vault_path).await?;
    let put: PolicyPutBody = request.json()?;
    let document = put.properties.ok_or_else(|| {
        ResourceError::invalid(
            INVALID_POLICY_CODE,
            "properties is required: the AzureIaaSVMProtectionPolicy document.",
        )
    })?;
    let policy = IaasVmPolicy::from_document(&document)
        .map_err(|e| ResourceError::invalid(INVALID_POLICY_CODE, e.message()))?;
    let stored = policy::put(&state.db, &vault, policy_name, policy, state.clock.now()).await?;
    Ok(json_response(StatusCode::OK, &body(&vault, stored)))
}

#[utoipa::path(
    get,
    path = spec::GetPolicy.path,
    operation_id = spec::GetPolicy.operation_id,
    tag = "Backup policies",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("vaultName" = String, Path, description = "The vault."),
        ("policyName" = String, Path, description = "The policy."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The policy.", body = PolicyBody),
        (status = 404, description = "`BMSUserErrorPolicyNotFound`, `ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_policy(
    state: &ApiState,
    _request: &ArmRequest,
    vault_path: &VaultPath,
    policy_name: &str,
) -> ArmResult {
    let vault = vault(state, vault_path).await?;
    let stored = policy::get(&state.db, &vault, policy_name).await?;
    Ok(json_response(StatusCode::OK, &body(&vault, stored)))
}

#[utoipa::path(
    delete,
    path = spec::DeletePolicy.path,
    operation_id = spec::DeletePolicy.operation_id,
    tag = "Backup policies",
    params(
        ("subscriptionId" = String, Path, description = "The subscription."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("vaultName" = String, Path, description = "The vault."),
        ("policyName" = String, Path, description = "The policy."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The policy was deleted."),
        (status = 204, description = "There was no such policy."),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`.", body = ErrorResponse),
        (status = 409, description = "`BMSUserErrorPolicyInUse`: backup items use the policy.", body = ErrorResponse),
    )
)]
pub async fn delete_policy(
    state: &ApiState,
    _request: &ArmRequest,
    vault_path: &VaultPath,
    policy_name: &str,
) -> ArmResult {
    let vault = vault(state, vault_path).await?;
    let deleted = policy::delete(&state.db, &vault, policy_name).await?;
    Ok(if deleted {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response())
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_policies, put_policy, get_policy, delete_policy),
    components(schemas(
        PolicyPutBody,
        PolicyBody,
        PolicyProperties,
        PolicyList,
        PolicyDocument,
        policy::InstantRpDetailsDocument,
        policy::ScheduleDocument,
        policy::HourlyScheduleDocument,
        policy::DailyScheduleDocument,
        policy::WeeklyScheduleDocument,
        policy::RetentionDocument,
        policy::DailyRetentionDocument,
        policy::WeeklyRetentionDocument,
        policy::CalendarRetentionDocument,
        policy::DaysOfMonthDocument,
        policy::DayDocument,
        policy::WeekdaysOfMonthDocument,
        policy::DurationDocument,
        ErrorResponse
    ))
)]
pub struct PoliciesApi;
