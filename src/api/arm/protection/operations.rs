//! The asynchronous operations clients poll after a protected item write or a backup:
//! their status bodies and their results.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::items::{item_body, ProtectedItemResource};
use super::{accepted, check_fabric, url, vault_of, wire_time};
use crate::api::arm::error::ErrorResponse;
use crate::api::arm::params::{ApiVersion, ItemParams, VaultParams};
use crate::api::arm::route::{spec, ItemPath, VaultPath};
use crate::api::arm::{json_response, ArmError, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::lookup::VaultRecord;
use crate::resources::protection::items;
use crate::resources::protection::names::{self, VmName};
use crate::resources::protection::operations::{self, Operation, OperationKind, OperationStatus};

/// The status of an asynchronous operation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatusBody {
    id: String,
    name: String,
    /// `InProgress`, `Succeeded`, `Failed` or `Canceled`.
    status: &'static str,
    start_time: String,
    /// `0001-01-01T00:00:00` while in progress.
    end_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<OperationStatusProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<OperationStatusError>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatusProperties {
    /// Discriminator: `OperationStatusJobExtendedInfo`.
    object_type: &'static str,
    job_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperationStatusError {
    code: String,
    message: String,
}

pub(in crate::api::arm) fn operation_body(op: &Operation) -> OperationStatusBody {
    OperationStatusBody {
        id: op.operation_id.clone(),
        name: op.operation_id.clone(),
        status: op.status.as_str(),
        start_time: wire_time(op.start_time),
        end_time: op
            .end_time
            .map_or_else(|| "0001-01-01T00:00:00".to_owned(), wire_time),
        properties: op.job_id.as_ref().map(|job_id| OperationStatusProperties {
            object_type: "OperationStatusJobExtendedInfo",
            job_id: job_id.clone(),
        }),
        error: op.error.as_ref().map(|e| OperationStatusError {
            code: e.code.clone(),
            message: e.message.clone(),
        }),
    }
}

#[utoipa::path(
    get,
    path = spec::GetItemOperationStatus.path,
    operation_id = spec::GetItemOperationStatus.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ItemParams,
        ("operationId" = String, Path, description = "The operation's id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The operation's status, with the job's id once it has one.", body = OperationStatusBody),
        (status = 404, description = "Unknown vault, fabric or operation of this item.", body = ErrorResponse),
    )
)]
pub async fn get_item_operation_status(
    state: &ApiState,
    _request: &ArmRequest,
    item: &ItemPath,
    operation: &str,
) -> ArmResult {
    let (_, _, op) = item_operation(state, item, operation).await?;
    Ok(json_response(StatusCode::OK, &operation_body(&op)))
}

#[utoipa::path(
    get,
    path = spec::GetItemOperationResult.path,
    operation_id = spec::GetItemOperationResult.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ItemParams,
        ("operationId" = String, Path, description = "The operation's id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "A finished PUT: the item as it is now.", body = ProtectedItemResource),
        (status = 202, description = "Still running.", headers(("Location" = String, description = "Poll again here."))),
        (status = 204, description = "A finished DELETE (or an item since deleted)."),
        (status = 404, description = "Unknown vault, fabric or operation of this item.", body = ErrorResponse),
    )
)]
pub async fn get_item_operation_result(
    state: &ApiState,
    request: &ArmRequest,
    item: &ItemPath,
    operation: &str,
) -> ArmResult {
    let (vault, vm, op) = item_operation(state, item, operation).await?;
    let id = vault.arm_id();
    // Only configuration answers with the item; deletions, backups and restores end with 204.
    if op.status == OperationStatus::InProgress || op.kind != OperationKind::ConfigureProtection {
        return Ok(result_response(request, &op, || {
            format!(
                "{}/operationResults/{}",
                names::item_id(&id, &vm),
                op.operation_id
            )
        }));
    }
    let key = op.item_key.as_deref().unwrap_or_default();
    match items::get_by_key(&state.db, &vault.vault_id, key).await? {
        Some(current) => Ok(json_response(StatusCode::OK, &item_body(&id, &current))),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[utoipa::path(
    get,
    path = spec::GetBackupOperation.path,
    operation_id = spec::GetBackupOperation.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ("operationId" = String, Path, description = "The operation's id (the last segment of `Azure-AsyncOperation`)."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The operation's status, with the job's id once it has one.", body = OperationStatusBody),
        (status = 404, description = "Unknown vault or operation.", body = ErrorResponse),
    )
)]
pub async fn get_backup_operation(
    state: &ApiState,
    _request: &ArmRequest,
    vault: &VaultPath,
    operation: &str,
) -> ArmResult {
    let vault = vault_of(state, vault).await?;
    let op = operations::get(&state.db, &vault.vault_id, operation).await?;
    Ok(json_response(StatusCode::OK, &operation_body(&op)))
}

#[utoipa::path(
    get,
    path = spec::GetBackupOperationResult.path,
    operation_id = spec::GetBackupOperationResult.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ("operationId" = String, Path, description = "The operation's id."),
        ApiVersion,
    ),
    responses(
        (status = 204, description = "The operation is done."),
        (status = 202, description = "Still running.", headers(("Location" = String, description = "Poll again here."))),
        (status = 404, description = "Unknown vault or operation.", body = ErrorResponse),
    )
)]
pub async fn get_backup_operation_result(
    state: &ApiState,
    request: &ArmRequest,
    vault: &VaultPath,
    operation: &str,
) -> ArmResult {
    let vault = vault_of(state, vault).await?;
    let op = operations::get(&state.db, &vault.vault_id, operation).await?;
    Ok(result_response(request, &op, || {
        format!(
            "{}/backupOperationResults/{}",
            vault.arm_id(),
            op.operation_id
        )
    }))
}

/// The vault, item name and an operation on the item a path names (the item may be gone
/// since).
async fn item_operation(
    state: &ApiState,
    item: &ItemPath,
    operation: &str,
) -> Result<(VaultRecord, VmName, Operation), ArmError> {
    check_fabric(&item.container.fabric)?;
    let vault = vault_of(state, &item.container.vault).await?;
    let vm = items::resolve(&item.container.container, &item.item)?;
    let op =
        operations::get_for_item(&state.db, &vault.vault_id, &vm.item_key(), operation).await?;
    Ok((vault, vm, op))
}

/// An operation result: 202 (poll `location` again) while running, else 204.
pub(in crate::api::arm) fn result_response(
    request: &ArmRequest,
    op: &Operation,
    location: impl FnOnce() -> String,
) -> Response {
    if op.status == OperationStatus::InProgress {
        accepted(&[("location", url(request, &location()))])
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}
