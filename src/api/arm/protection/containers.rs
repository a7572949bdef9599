//! Discovery and containers: refreshing the VMs a vault can protect, the protectable items
//! found, and the protection containers of protected VMs.

use axum::http::StatusCode;
use serde::Serialize;

use super::operations::result_response;
use super::{accepted, check_fabric, url, vault_of, MANAGEMENT_TYPE, PAGE_SIZE};
use crate::api::arm::error::ErrorResponse;
use crate::api::arm::params::{ApiVersion, VaultParams};
use crate::api::arm::query::{check_filter_keys, filter_allows, filter_allows_any};
use crate::api::arm::route::{spec, ContainerPath, VaultPath};
use crate::api::arm::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::ids;
use crate::resources::names::key;
use crate::resources::protection::containers::{self, Container, ProtectableVm};
use crate::resources::protection::items::VM_ITEM_TYPE;
use crate::resources::protection::names::{self, parse_container_name};
use crate::resources::protection::operations;

const CONTAINER_TYPE: &str = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers";
const PROTECTABLE_TYPE: &str =
    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectableItems";

/// The container type values an Azure VM container answers to in `$filter`.
const CONTAINER_TYPES: [&str; 3] = ["IaasVMContainer", "IaasVMServiceContainer", VM_ITEM_TYPE];

/// AzureIaaSComputeVMProtectableItem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectableItemResource {
    id: String,
    name: String,
    #[serde(rename = "type")]
    resource_type: &'static str,
    properties: ProtectableItemProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProtectableItemProperties {
    /// Discriminator: `Microsoft.Compute/virtualMachines`.
    protectable_item_type: &'static str,
    backup_management_type: &'static str,
    workload_type: &'static str,
    friendly_name: String,
    protection_state: &'static str,
    virtual_machine_id: String,
    virtual_machine_version: &'static str,
    resource_group: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectableItemList {
    value: Vec<ProtectableItemResource>,
}

/// IaaSVMContainer (AzureIaaSComputeVMContainer).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectionContainerResource {
    id: String,
    name: String,
    #[serde(rename = "type")]
    resource_type: &'static str,
    properties: ProtectionContainerProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProtectionContainerProperties {
    /// Discriminator: `Microsoft.Compute/virtualMachines`.
    container_type: &'static str,
    protectable_object_type: &'static str,
    backup_management_type: &'static str,
    friendly_name: String,
    /// `iaasvmcontainerv2;{rg};{vm}`.
    container_name: String,
    registration_status: &'static str,
    health_status: &'static str,
    virtual_machine_id: String,
    virtual_machine_version: &'static str,
    resource_group: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectionContainerList {
    value: Vec<ProtectionContainerResource>,
    #[serde(rename = "nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

fn protectable_body(vault_id: &str, vm: &ProtectableVm) -> ProtectableItemResource {
    ProtectableItemResource {
        id: names::protectable_item_id(vault_id, &vm.name),
        name: key(&vm.name.native_container_name()),
        resource_type: PROTECTABLE_TYPE,
        properties: ProtectableItemProperties {
            protectable_item_type: VM_ITEM_TYPE,
            backup_management_type: MANAGEMENT_TYPE,
            workload_type: "VM",
            friendly_name: vm.name.vm.clone(),
            protection_state: "NotProtected",
            virtual_machine_id: ids::vm_id(&vm.subscription_id, &vm.name.group, &vm.name.vm),
            virtual_machine_version: "Compute",
            resource_group: vm.name.group.clone(),
        },
    }
}

fn container_body(vault_id: &str, container: &Container) -> ProtectionContainerResource {
    ProtectionContainerResource {
        id: names::container_id(vault_id, &container.name),
        name: container.name.container_name(),
        resource_type: CONTAINER_TYPE,
        properties: ProtectionContainerProperties {
            container_type: VM_ITEM_TYPE,
            protectable_object_type: VM_ITEM_TYPE,
            backup_management_type: MANAGEMENT_TYPE,
            friendly_name: container.name.vm.clone(),
            container_name: container.name.native_container_name(),
            registration_status: "Registered",
            health_status: "Healthy",
            virtual_machine_id: container.virtual_machine_id.clone(),
            virtual_machine_version: "Compute",
            resource_group: container.name.group.clone(),
        },
    }
}

#[utoipa::path(
    post,
    path = spec::RefreshContainers.path,
    operation_id = spec::RefreshContainers.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ApiVersion,
        ("$filter" = Option<String>, Query, description = "Accepted and ignored: every VM of the subscription is discovered."),
    ),
    responses(
        (status = 202, description = "Discovery is done; poll the Location URL (204).",
            headers(("Location" = String, description = "The refresh's operationResults URL."),
                    ("Retry-After" = String, description = "Seconds to wait before polling."))),
        (status = 404, description = "Unknown vault or fabric.", body = ErrorResponse),
    )
)]
pub async fn refresh_containers(
    state: &ApiState,
    request: &ArmRequest,
    vault: &VaultPath,
    fabric: &str,
) -> ArmResult {
    check_fabric(fabric)?;
    let vault = vault_of(state, vault).await?;
    let operation = containers::refresh(&state.db, state.clock.now(), &vault).await?;
    let location = format!(
        "{}/backupFabrics/{}/operationResults/{operation}",
        vault.arm_id(),
        names::FABRIC
    );
    Ok(accepted(&[("location", url(request, &location))]))
}

#[utoipa::path(
    get,
    path = spec::GetFabricOperationResult.path,
    operation_id = spec::GetFabricOperationResult.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("operationId" = String, Path, description = "The refresh operation's id."),
        ApiVersion,
    ),
    responses(
        (status = 204, description = "The refresh is done."),
        (status = 202, description = "The refresh is still running.",
            headers(("Location" = String, description = "Poll again here."))),
        (status = 404, description = "Unknown vault, fabric or operation.", body = ErrorResponse),
    )
)]
pub async fn get_fabric_operation_result(
    state: &ApiState,
    request: &ArmRequest,
    vault: &VaultPath,
    fabric: &str,
    operation: &str,
) -> ArmResult {
    check_fabric(fabric)?;
    let vault = vault_of(state, vault).await?;
    let op = operations::get_refresh(&state.db, &vault.vault_id, operation).await?;
    Ok(result_response(request, &op, || {
        format!(
            "{}/backupFabrics/{}/operationResults/{}",
            vault.arm_id(),
            names::FABRIC,
            op.operation_id
        )
    }))
}

#[utoipa::path(
    get,
    path = spec::ListProtectableItems.path,
    operation_id = spec::ListProtectableItems.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ApiVersion,
        ("$filter" = Option<String>, Query, description = "`backupManagementType` (`AzureIaasVM`), `workloadType` (`VM`), `friendlyName`, `containerName`, `status` (`NotProtected`), as `key eq 'value'` joined by `and`; other keys are refused (400)."),
    ),
    responses(
        (status = 200, description = "The VMs of the vault's subscription and location, discovered by the last refresh and protected by no vault.", body = ProtectableItemList),
        (status = 400, description = "An unsupported `$filter`.", body = ErrorResponse),
        (status = 404, description = "Unknown vault.", body = ErrorResponse),
    )
)]
pub async fn list_protectable_items(
    state: &ApiState,
    request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    let filter = request.query.filter()?;
    check_filter_keys(
        &filter,
        &[
            "backupManagementType",
            "workloadType",
            "friendlyName",
            "containerName",
            "status",
        ],
    )?;
    let vault = vault_of(state, path).await?;
    let container = filter.get("containerName").map(parse_container_name);
    let value = if filter_allows(&filter, "backupManagementType", MANAGEMENT_TYPE)
        && filter_allows(&filter, "workloadType", "VM")
        && filter_allows(&filter, "status", "NotProtected")
        && !matches!(container, Some(None))
    {
        let id = vault.arm_id();
        let container = container.flatten();
        containers::protectable_vms(&state.db, &vault, filter.get("friendlyName"))
            .await?
            .iter()
            .filter(|vm| container.as_ref().is_none_or(|c| c.same_vm(&vm.name)))
            .map(|vm| protectable_body(&id, vm))
            .collect()
    } else {
        Vec::new()
    };
    Ok(json_response(
        StatusCode::OK,
        &ProtectableItemList { value },
    ))
}

#[utoipa::path(
    get,
    path = spec::ListProtectionContainers.path,
    operation_id = spec::ListProtectionContainers.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ApiVersion,
        ("$filter" = Option<String>, Query, description = "`backupManagementType`, `friendlyName`, `status` (`Registered`), `fabricName`, `containerType`, `backupEngineName` (matches no VM container), as `key eq 'value'` joined by `and`; other keys are refused (400)."),
        ("$skipToken" = Option<String>, Query, description = "Continues a list from its `nextLink`."),
    ),
    responses(
        (status = 200, description = "A page of the vault's containers (200 per page).", body = ProtectionContainerList),
        (status = 400, description = "An unsupported `$filter`.", body = ErrorResponse),
        (status = 404, description = "Unknown vault.", body = ErrorResponse),
    )
)]
pub async fn list_protection_containers(
    state: &ApiState,
    request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    let filter = request.query.filter()?;
    check_filter_keys(
        &filter,
        &[
            "backupManagementType",
            "friendlyName",
            "status",
            "fabricName",
            "containerType",
            "backupEngineName",
        ],
    )?;
    let vault = vault_of(state, path).await?;
    // VM containers have no backup engine: a backupEngineName term matches none of them.
    if !(filter_allows(&filter, "backupManagementType", MANAGEMENT_TYPE)
        && filter_allows(&filter, "status", "Registered")
        && filter_allows(&filter, "fabricName", names::FABRIC)
        && filter_allows_any(&filter, "containerType", &CONTAINER_TYPES)
        && filter.get("backupEngineName").is_none())
    {
        return Ok(json_response(
            StatusCode::OK,
            &ProtectionContainerList {
                value: Vec::new(),
                next_link: None,
            },
        ));
    }
    let page = containers::list(
        &state.db,
        &vault,
        filter.get("friendlyName"),
        request.query.skip_token(),
        PAGE_SIZE,
    )
    .await?;
    let id = vault.arm_id();
    Ok(json_response(
        StatusCode::OK,
        &ProtectionContainerList {
            value: page
                .containers
                .iter()
                .map(|c| container_body(&id, c))
                .collect(),
            next_link: page.next.map(|token| request.next_link(&token)),
        },
    ))
}

#[utoipa::path(
    get,
    path = spec::GetProtectionContainer.path,
    operation_id = spec::GetProtectionContainer.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>` (or without the prefix), any case."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The container.", body = ProtectionContainerResource),
        (status = 404, description = "Unknown vault, fabric or container.", body = ErrorResponse),
    )
)]
pub async fn get_protection_container(
    state: &ApiState,
    _request: &ArmRequest,
    path: &ContainerPath,
) -> ArmResult {
    check_fabric(&path.fabric)?;
    let vault = vault_of(state, &path.vault).await?;
    let container = containers::get(&state.db, &vault, &path.container).await?;
    Ok(json_response(
        StatusCode::OK,
        &container_body(&vault.arm_id(), &container),
    ))
}
