//! `POST .../virtualMachines/{vm}/start|powerOff|deallocate|restart`: 202 with the Compute
//! operation to poll (`Azure-AsyncOperation`, and `Location` for the final GET), as Compute
//! answers them. The change is made before the answer, so the operation has succeeded by
//! the first poll.

use super::error::ErrorResponse;
use super::extensions::operation_path;
use super::params::{ApiVersion, VmParams};
use super::protection::{accepted, url};
use super::route::{spec, VmPath};
use super::{ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::compute::{self, PowerAction};
use crate::resources::ResourceError;

#[utoipa::path(
    post,
    path = spec::StartVm.path,
    operation_id = spec::StartVm.operation_id,
    tag = "Microsoft.Compute",
    params(VmParams, ApiVersion),
    responses(
        (status = 202, description = "The VM is running (from any state).", headers(
            ("Azure-AsyncOperation" = String, description = "The operation (already `Succeeded`)."),
            ("Location" = String, description = "An empty 200 once the operation has ended."))),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
    )
)]
pub async fn start_vm(state: &ApiState, request: &ArmRequest, path: &VmPath) -> ArmResult {
    change_power(state, request, path, PowerAction::Start).await
}

#[utoipa::path(
    post,
    path = spec::PowerOffVm.path,
    operation_id = spec::PowerOffVm.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        ApiVersion,
        ("skipShutdown" = Option<bool>, Query, description = "Accepted; there is no guest to shut down gracefully."),
    ),
    responses(
        (status = 202, description = "The VM is stopped (still allocated); a deallocated VM stays deallocated.", headers(
            ("Azure-AsyncOperation" = String, description = "The operation (already `Succeeded`)."),
            ("Location" = String, description = "An empty 200 once the operation has ended."))),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
    )
)]
pub async fn power_off_vm(state: &ApiState, request: &ArmRequest, path: &VmPath) -> ArmResult {
    change_power(state, request, path, PowerAction::PowerOff).await
}

#[utoipa::path(
    post,
    path = spec::DeallocateVm.path,
    operation_id = spec::DeallocateVm.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        ApiVersion,
        ("hibernate" = Option<bool>, Query, description = "`true` is refused: no VM here has hibernation enabled."),
    ),
    responses(
        (status = 202, description = "The VM is deallocated; its backups are taken host-side (crash-consistent) until it runs again.", headers(
            ("Azure-AsyncOperation" = String, description = "The operation (already `Succeeded`)."),
            ("Location" = String, description = "An empty 200 once the operation has ended."))),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
        (status = 409, description = "`OperationNotAllowed`: `hibernate=true`.", body = ErrorResponse),
    )
)]
pub async fn deallocate_vm(state: &ApiState, request: &ArmRequest, path: &VmPath) -> ArmResult {
    if request
        .query
        .get("hibernate")
        .is_some_and(|h| h.eq_ignore_ascii_case("true"))
    {
        return Err(ResourceError::conflict(
            "OperationNotAllowed",
            format!(
                "Hibernation is not enabled for the virtual machine '{}' \
                 (additionalCapabilities.hibernationEnabled is not supported here).",
                path.vm
            ),
        )
        .into());
    }
    change_power(state, request, path, PowerAction::Deallocate).await
}

#[utoipa::path(
    post,
    path = spec::RestartVm.path,
    operation_id = spec::RestartVm.operation_id,
    tag = "Microsoft.Compute",
    params(VmParams, ApiVersion),
    responses(
        (status = 202, description = "The VM was restarted.", headers(
            ("Azure-AsyncOperation" = String, description = "The operation (already `Succeeded`)."),
            ("Location" = String, description = "An empty 200 once the operation has ended."))),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
        (status = 409, description = "`OperationNotAllowed`: the VM is stopped or deallocated.", body = ErrorResponse),
    )
)]
pub async fn restart_vm(state: &ApiState, request: &ArmRequest, path: &VmPath) -> ArmResult {
    change_power(state, request, path, PowerAction::Restart).await
}

async fn change_power(
    state: &ApiState,
    request: &ArmRequest,
    path: &VmPath,
    action: PowerAction,
) -> ArmResult {
    let changed = compute::change_power(
        &state.db,
        &state.clock,
        &path.group.subscription,
        &path.group.group,
        &path.vm,
        action,
    )
    .await?;
    let operation = url(
        request,
        &operation_path(
            &path.group.subscription,
            &changed.location,
            &changed.operation_id,
        ),
    );
    Ok(accepted(&[
        ("azure-asyncoperation", operation.clone()),
        ("location", format!("{operation}&monitor=true")),
    ]))
}

/// The power operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(start_vm, power_off_vm, deallocate_vm, restart_vm))]
pub struct VmPowerApi;
