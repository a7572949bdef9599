//! `backupStatus`: whether a vault protects a VM, and which.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::arm::error::ErrorResponse;
use crate::api::arm::params::ApiVersion;
use crate::api::arm::route::spec;
use crate::api::arm::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::protection::backup_status;
use crate::resources::protection::names;

/// The body of a `backupStatus` request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatusRequest {
    /// `VM`.
    resource_type: String,
    /// The VM's ARM id.
    resource_id: String,
}

/// BackupStatusResponse: the protection fields only when a vault protects the VM.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatusBody {
    /// `Protected` or `NotProtected`.
    protection_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vault_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fabric_name: Option<&'static str>,
    /// `iaasvmcontainerv2;{rg};{vm}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    container_name: Option<String>,
    /// `VM;iaasvmcontainerv2;{rg};{vm}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    protected_item_name: Option<String>,
    /// Absent when protection is stopped with the data retained.
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_name: Option<String>,
}

#[utoipa::path(
    post,
    path = spec::GetBackupStatus.path,
    operation_id = spec::GetBackupStatus.operation_id,
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("azureRegion" = String, Path, description = "The VM's region (not checked: a VM is found by its id)."),
        ApiVersion,
    ),
    request_body = BackupStatusRequest,
    responses(
        (status = 200, description = "Whether a vault protects the VM, and which.", body = BackupStatusBody),
        (status = 400, description = "`BMSUserErrorInvalidInput`: not a VM of this subscription, or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceNotFound` or `ResourceGroupNotFound`: no such VM.", body = ErrorResponse),
    )
)]
pub async fn get_backup_status(
    state: &ApiState,
    request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    let body: BackupStatusRequest = request.json()?;
    let protection = backup_status::of_vm(
        &state.db,
        subscription,
        &body.resource_type,
        &body.resource_id,
    )
    .await?;
    let status = match protection {
        None => BackupStatusBody {
            protection_status: "NotProtected",
            vault_id: None,
            fabric_name: None,
            container_name: None,
            protected_item_name: None,
            policy_name: None,
        },
        Some((vault, item)) => BackupStatusBody {
            protection_status: "Protected",
            vault_id: Some(vault.arm_id()),
            fabric_name: Some(names::FABRIC),
            container_name: Some(item.name.native_container_name()),
            protected_item_name: Some(item.name.item_name()),
            policy_name: item.policy.map(|p| p.name),
        },
    };
    Ok(json_response(StatusCode::OK, &status))
}
