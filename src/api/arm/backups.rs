//! On-demand backup (`Backups_Trigger`) and restore (`Restores_Trigger`): both parse the
//! request, hand it to the backup engine and answer 202 with the item's operation URLs.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ErrorResponse;
use super::params::{ApiVersion, ItemParams, VaultParams};
use super::protection::item_of;
use super::protection::items::item_accepted;
use super::route::{spec, ItemPath};
use super::{ArmError, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::control::on_demand::request_backup;
use crate::control::restore::{request_restore, RestoreRequest};
use crate::resources::ResourceError;

/// `BackupRequestResource`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BackupRequestResource {
    properties: Option<IaasVmBackupRequest>,
}

/// `IaasVMBackupRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmBackupRequest {
    /// `IaasVMBackupRequest`.
    object_type: Option<String>,
    /// When the recovery point expires; 30 days from now when absent.
    #[serde(rename = "recoveryPointExpiryTimeInUTC")]
    recovery_point_expiry_time_in_utc: Option<String>,
}

/// `RestoreRequestResource`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RestoreRequestResource {
    properties: Option<IaasVmRestoreRequest>,
}

/// `IaasVMRestoreRequest` (the fields a `RestoreDisks` restore reads; others are ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmRestoreRequest {
    /// `IaasVMRestoreRequest`.
    object_type: Option<String>,
    /// `RestoreDisks` (the only type served).
    recovery_type: Option<String>,
    /// The staging storage account the disks are written to.
    storage_account_id: Option<String>,
    /// Only these disks (LUNs; the OS disk is -1).
    restore_disk_lun_list: Option<Vec<i64>>,
}

fn invalid(message: impl Into<String>) -> ArmError {
    ResourceError::invalid("BMSUserErrorInvalidInput", message).into()
}

fn check_object_type(object_type: Option<&str>, expected: &str) -> Result<(), ArmError> {
    match object_type {
        Some(t) if t.eq_ignore_ascii_case(expected) => Ok(()),
        Some(t) => Err(invalid(format!(
            "properties.objectType '{t}' is not supported here: use '{expected}'."
        ))),
        None => Err(invalid(format!(
            "properties.objectType is required: '{expected}'."
        ))),
    }
}

#[utoipa::path(
    post,
    path = spec::TriggerBackup.path,
    operation_id = spec::TriggerBackup.operation_id,
    tag = "Backups",
    params(
        VaultParams,
        ItemParams,
        ApiVersion,
    ),
    request_body = BackupRequestResource,
    responses(
        (status = 202, description = "The Backup job started; poll the operation for its id.",
            headers(("Azure-AsyncOperation" = String, description = "The item's operationsStatus URL."),
                    ("Location" = String, description = "The item's operationResults URL."))),
        (status = 400, description = "Protection stopped, a backup already running, the day's on-demand limit reached, or a bad expiry.", body = ErrorResponse),
        (status = 404, description = "Unknown vault, fabric or item.", body = ErrorResponse),
    )
)]
pub async fn trigger_backup(state: &ApiState, request: &ArmRequest, path: &ItemPath) -> ArmResult {
    let body: BackupRequestResource = request.json()?;
    let properties = body
        .properties
        .ok_or_else(|| invalid("The body needs 'properties' (an IaasVMBackupRequest)."))?;
    check_object_type(properties.object_type.as_deref(), "IaasVMBackupRequest")?;
    let expiry = properties
        .recovery_point_expiry_time_in_utc
        .as_deref()
        .map(parse_instant)
        .transpose()?;
    let (vault, item) = item_of(state, path).await?;
    let submitted = request_backup(&state.engine, &vault, &item, expiry).await?;
    Ok(item_accepted(request, &vault, &submitted))
}

#[utoipa::path(
    post,
    path = spec::TriggerRestore.path,
    operation_id = spec::TriggerRestore.operation_id,
    tag = "Backups",
    params(
        VaultParams,
        ItemParams,
        ("recoveryPointId" = String, Path, description = "The recovery point's name."),
        ApiVersion,
    ),
    request_body = RestoreRequestResource,
    responses(
        (status = 202, description = "The Restore job started: it writes each disk as a page blob in the staging account, in the container its job's property bag names.",
            headers(("Azure-AsyncOperation" = String, description = "The item's operationsStatus URL."),
                    ("Location" = String, description = "The item's operationResults URL."))),
        (status = 400, description = "Not a RestoreDisks request, an unknown storage account, or a LUN the point does not hold.", body = ErrorResponse),
        (status = 404, description = "Unknown vault, fabric, item or recovery point.", body = ErrorResponse),
    )
)]
pub async fn trigger_restore(
    state: &ApiState,
    request: &ArmRequest,
    path: &ItemPath,
    recovery_point: &str,
) -> ArmResult {
    let body: RestoreRequestResource = request.json()?;
    let properties = body
        .properties
        .ok_or_else(|| invalid("The body needs 'properties' (an IaasVMRestoreRequest)."))?;
    check_object_type(properties.object_type.as_deref(), "IaasVMRestoreRequest")?;
    match properties.recovery_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("RestoreDisks") => {}
        Some(t) => {
            return Err(invalid(format!(
                "properties.recoveryType '{t}' is not supported: only 'RestoreDisks' is."
            )))
        }
        None => {
            return Err(invalid(
                "properties.recoveryType is required: 'RestoreDisks'.",
            ))
        }
    }
    let storage_account = properties
        .storage_account_id
        .as_deref()
        .and_then(storage_account_name)
        .ok_or_else(|| {
            invalid(
                "properties.storageAccountId must be a storage account's ARM id \
                 (.../providers/Microsoft.Storage/storageAccounts/<name>).",
            )
        })?;
    let (vault, item) = item_of(state, path).await?;
    let submitted = request_restore(
        &state.engine,
        &vault,
        &item,
        recovery_point,
        RestoreRequest {
            storage_account,
            luns: properties.restore_disk_lun_list,
        },
    )
    .await?;
    Ok(item_accepted(request, &vault, &submitted))
}

/// An RFC 3339 instant (`2022-06-15T00:00:00.000Z`); one without an offset is UTC, as
/// the field's name says.
fn parse_instant(text: &str) -> Result<DateTime<Utc>, ArmError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| {
            invalid(format!(
                "properties.recoveryPointExpiryTimeInUTC '{text}' is not an ISO 8601 UTC time."
            ))
        })
}

/// The account name of `.../providers/Microsoft.Storage/storageAccounts/<name>`.
fn storage_account_name(id: &str) -> Option<String> {
    let segments: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        [.., provider, kind, name]
            if provider.eq_ignore_ascii_case("Microsoft.Storage")
                && kind.eq_ignore_ascii_case("storageAccounts")
                && !name.is_empty() =>
        {
            Some((*name).to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_account_ids_name_their_account() {
        assert_eq!(
            storage_account_name(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1"
            )
            .as_deref(),
            Some("devstoreaccount1")
        );
        assert_eq!(storage_account_name("devstoreaccount1"), None);
        assert_eq!(
            storage_account_name("/subscriptions/s/providers/Microsoft.Compute/virtualMachines/x"),
            None
        );
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(trigger_backup, trigger_restore),
    components(schemas(
        BackupRequestResource,
        IaasVmBackupRequest,
        RestoreRequestResource,
        IaasVmRestoreRequest,
        ErrorResponse,
    ))
)]
pub struct BackupsApi;
