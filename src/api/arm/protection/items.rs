//! Protected items: protecting a VM (PUT), reading, listing and stopping protection.

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{
    accepted, check_fabric, item_of, url, vault_of, wire_time, MANAGEMENT_TYPE, PAGE_SIZE,
};
use crate::api::arm::error::ErrorResponse;
use crate::api::arm::params::{ApiVersion, VaultParams};
use crate::api::arm::query::{check_filter_keys, filter_allows};
use crate::api::arm::route::{spec, ItemPath, VaultPath};
use crate::api::arm::{json_response, ArmError, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::ids;
use crate::resources::lookup::VaultRecord;
use crate::resources::names::key;
use crate::resources::protection::items::{
    self, DiskExclusion, ItemPageQuery, ProtectRequest, ProtectedItem, Submitted, VM_ITEM_TYPE,
};
use crate::resources::protection::names::{self, parse_container_name};
use crate::resources::ResourceError;

const ITEM_TYPE: &str =
    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems";

/// The time Azure reports as `lastBackupTime` before the first backup.
const NEVER_BACKED_UP: &str = "2001-01-01T00:00:00Z";

/// AzureIaaSComputeVMProtectedItem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectedItemResource {
    id: String,
    name: String,
    #[serde(rename = "type")]
    resource_type: &'static str,
    properties: ProtectedItemProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProtectedItemProperties {
    /// Discriminator: `Microsoft.Compute/virtualMachines`.
    protected_item_type: &'static str,
    backup_management_type: &'static str,
    workload_type: &'static str,
    friendly_name: String,
    virtual_machine_id: String,
    source_resource_id: String,
    /// `iaasvmcontainerv2;{rg};{vm}`.
    container_name: String,
    /// The policy's ARM id; empty once protection is stopped.
    policy_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_type: Option<String>,
    protection_status: &'static str,
    protection_state: &'static str,
    health_status: String,
    health_details: Vec<HealthDetail>,
    kpis_healths: KpisHealths,
    last_backup_status: String,
    last_backup_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_recovery_point: Option<String>,
    /// A numeric string.
    protected_item_data_id: String,
    extended_info: ProtectedItemExtendedInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_properties: Option<ExtendedPropertiesBody>,
    is_archive_enabled: bool,
    is_scheduled_for_deferred_delete: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthDetail {
    code: i64,
    title: String,
    message: String,
    recommendations: Vec<String>,
}

/// Always `{}`: no KPI is tracked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KpisHealths {}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProtectedItemExtendedInfo {
    recovery_point_count: i64,
    policy_inconsistent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_recovery_point: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedPropertiesBody {
    disk_exclusion_properties: Option<DiskExclusionBody>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiskExclusionBody {
    #[serde(default)]
    disk_lun_list: Vec<i64>,
    #[serde(default)]
    is_inclusion_list: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectedItemList {
    value: Vec<ProtectedItemResource>,
    #[serde(rename = "nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

/// The body of a protected item PUT. Read-only fields a client echoes back are ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProtectedItemPut {
    properties: Option<ProtectedItemPutProperties>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProtectedItemPutProperties {
    /// `Microsoft.Compute/virtualMachines`.
    protected_item_type: Option<String>,
    /// The VM's ARM id.
    source_resource_id: Option<String>,
    /// A policy of this vault; `""` with `protectionState: ProtectionStopped` stops protection.
    policy_id: Option<String>,
    protection_state: Option<String>,
    extended_properties: Option<ExtendedPropertiesBody>,
}

pub(super) fn item_body(vault_id: &str, item: &ProtectedItem) -> ProtectedItemResource {
    let vm = &item.name.vm;
    ProtectedItemResource {
        id: names::item_id(vault_id, &item.name),
        name: item.name.item_name(),
        resource_type: ITEM_TYPE,
        properties: ProtectedItemProperties {
            protected_item_type: VM_ITEM_TYPE,
            backup_management_type: MANAGEMENT_TYPE,
            workload_type: "VM",
            friendly_name: vm.clone(),
            virtual_machine_id: item.source_resource_id.clone(),
            source_resource_id: item.source_resource_id.clone(),
            container_name: item.name.native_container_name(),
            policy_id: item
                .policy
                .as_ref()
                .map(|p| names::policy_id(vault_id, &p.name))
                .unwrap_or_default(),
            policy_name: item.policy.as_ref().map(|p| p.name.clone()),
            policy_type: item.policy.as_ref().map(|p| p.policy_type.clone()),
            protection_status: "Healthy",
            protection_state: item.protection_state.as_str(),
            health_status: item.health_status.clone(),
            health_details: if item.last_backup_time.is_some() {
                vec![HealthDetail {
                    code: 400239,
                    title: "IaasVmHealthGreenDefault".into(),
                    message: "Backup pre-check status of this virtual machine is OK.".into(),
                    recommendations: vec![],
                }]
            } else {
                vec![]
            },
            kpis_healths: KpisHealths {},
            last_backup_status: item.last_backup_status.clone(),
            last_backup_time: item
                .last_backup_time
                .map_or_else(|| NEVER_BACKED_UP.to_owned(), wire_time),
            last_recovery_point: item.last_recovery_point.map(wire_time),
            protected_item_data_id: item.protected_item_data_id.to_string(),
            extended_info: ProtectedItemExtendedInfo {
                recovery_point_count: item.recovery_point_count,
                policy_inconsistent: false,
                oldest_recovery_point: item.oldest_recovery_point.map(wire_time),
            },
            extended_properties: item.extended_properties.disk_exclusion.as_ref().map(|d| {
                ExtendedPropertiesBody {
                    disk_exclusion_properties: Some(DiskExclusionBody {
                        disk_lun_list: d.disk_lun_list.clone(),
                        is_inclusion_list: d.is_inclusion_list,
                    }),
                }
            }),
            is_archive_enabled: false,
            is_scheduled_for_deferred_delete: false,
        },
    }
}

#[utoipa::path(
    put,
    path = spec::PutProtectedItem.path,
    operation_id = spec::PutProtectedItem.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>` (or without the prefix), any case."),
        ("protectedItemName" = String, Path, description = "`VM;iaasvmcontainerv2;<rg>;<vm>`, any case."),
        ApiVersion,
    ),
    request_body = ProtectedItemPut,
    responses(
        (status = 202, description = "Protection enabled, its policy changed, or stopped with data retained; the operation has already succeeded.",
            headers(("Azure-AsyncOperation" = String, description = "The item's operationsStatus URL."),
                    ("Location" = String, description = "The item's operationResults URL."),
                    ("Retry-After" = String, description = "Seconds to wait before polling."))),
        (status = 400, description = "A malformed request, mismatched names, or a VM outside the vault's location.", body = ErrorResponse),
        (status = 404, description = "Unknown vault, fabric, VM, item or policy.", body = ErrorResponse),
        (status = 409, description = "The VM is protected by another vault.", body = ErrorResponse),
    )
)]
pub async fn put_protected_item(
    state: &ApiState,
    request: &ArmRequest,
    path: &ItemPath,
) -> ArmResult {
    check_fabric(&path.container.fabric)?;
    let body: ProtectedItemPut = request.json()?;
    let properties = body.properties.ok_or_else(|| {
        ArmError::from(ResourceError::invalid(
            "BMSUserErrorInvalidConfigureProtectionRequest",
            "The body needs 'properties' with protectedItemType, sourceResourceId and policyId.",
        ))
    })?;
    let vault = vault_of(state, &path.container.vault).await?;
    // A VM of another subscription (cross-subscription backup) needs a grant there too.
    if let Some(source) = properties
        .source_resource_id
        .as_deref()
        .and_then(ids::parse_vm_id)
    {
        if !source
            .subscription
            .eq_ignore_ascii_case(&vault.subscription_id)
        {
            state
                .auth
                .authorize(&state.db, &request.principal, &source.subscription)
                .await?;
        }
    }
    let submitted = items::put(
        &state.db,
        state.clock.now(),
        &vault,
        ProtectRequest {
            container: path.container.container.clone(),
            item: path.item.clone(),
            protected_item_type: properties.protected_item_type,
            source_resource_id: properties.source_resource_id,
            policy_id: properties.policy_id,
            protection_state: properties.protection_state,
            disk_exclusion: properties
                .extended_properties
                .and_then(|e| e.disk_exclusion_properties)
                .map(|d| DiskExclusion {
                    disk_lun_list: d.disk_lun_list,
                    is_inclusion_list: d.is_inclusion_list,
                }),
        },
    )
    .await?;
    Ok(item_accepted(request, &vault, &submitted))
}

/// 202 for an accepted item change: poll the item's operation status and result.
pub(in crate::api::arm) fn item_accepted(
    request: &ArmRequest,
    vault: &VaultRecord,
    submitted: &Submitted,
) -> Response {
    let item = names::item_id(&vault.arm_id(), &submitted.name);
    let op = &submitted.operation_id;
    accepted(&[
        (
            "azure-asyncoperation",
            url(request, &format!("{item}/operationsStatus/{op}")),
        ),
        (
            "location",
            url(request, &format!("{item}/operationResults/{op}")),
        ),
    ])
}

#[utoipa::path(
    get,
    path = spec::GetProtectedItem.path,
    operation_id = spec::GetProtectedItem.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>` (or without the prefix), any case."),
        ("protectedItemName" = String, Path, description = "`VM;iaasvmcontainerv2;<rg>;<vm>`, any case."),
        ApiVersion,
        ("$filter" = Option<String>, Query, description = "Accepted and ignored (`expand eq 'extendedinfo'`): extended info is always included."),
    ),
    responses(
        (status = 200, description = "The protected item.", body = ProtectedItemResource),
        (status = 404, description = "Unknown vault, fabric or item.", body = ErrorResponse),
    )
)]
pub async fn get_protected_item(
    state: &ApiState,
    _request: &ArmRequest,
    path: &ItemPath,
) -> ArmResult {
    let (vault, item) = item_of(state, path).await?;
    Ok(json_response(
        StatusCode::OK,
        &item_body(&vault.arm_id(), &item),
    ))
}

#[utoipa::path(
    delete,
    path = spec::DeleteProtectedItem.path,
    operation_id = spec::DeleteProtectedItem.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>` (or without the prefix), any case."),
        ("protectedItemName" = String, Path, description = "`VM;iaasvmcontainerv2;<rg>;<vm>`, any case."),
        ApiVersion,
    ),
    responses(
        (status = 202, description = "Protection stopped and the backup data deleted; the operation has already succeeded.",
            headers(("Azure-AsyncOperation" = String, description = "The vault's backupOperations URL."),
                    ("Location" = String, description = "The vault's backupOperationResults URL."),
                    ("Retry-After" = String, description = "Seconds to wait before polling."))),
        (status = 404, description = "Unknown vault, fabric or item.", body = ErrorResponse),
    )
)]
pub async fn delete_protected_item(
    state: &ApiState,
    request: &ArmRequest,
    path: &ItemPath,
) -> ArmResult {
    check_fabric(&path.container.fabric)?;
    let vault = vault_of(state, &path.container.vault).await?;
    let submitted = items::delete(
        &state.db,
        state.clock.now(),
        &vault,
        &path.container.container,
        &path.item,
    )
    .await?;
    let id = vault.arm_id();
    let op = &submitted.operation_id;
    Ok(accepted(&[
        (
            "azure-asyncoperation",
            url(request, &format!("{id}/backupOperations/{op}")),
        ),
        (
            "location",
            url(request, &format!("{id}/backupOperationResults/{op}")),
        ),
    ]))
}

#[utoipa::path(
    get,
    path = spec::ListProtectedItems.path,
    operation_id = spec::ListProtectedItems.operation_id,
    tag = "Protection",
    params(
        VaultParams,
        ApiVersion,
        ("$filter" = Option<String>, Query, description = "`backupManagementType`, `itemType`, `policyName`, `friendlyName`, `containerName`, `healthState`, `fabricName`, `backupEngineName` and `backupSetName` (these two match no VM item), as `key eq 'value'` joined by `and`; other keys are refused (400)."),
        ("$skipToken" = Option<String>, Query, description = "Continues a list from its `nextLink`."),
    ),
    responses(
        (status = 200, description = "A page of the vault's protected items (200 per page, in name order).", body = ProtectedItemList),
        (status = 400, description = "An unsupported `$filter`.", body = ErrorResponse),
        (status = 404, description = "Unknown vault.", body = ErrorResponse),
    )
)]
pub async fn list_protected_items(
    state: &ApiState,
    request: &ArmRequest,
    path: &VaultPath,
) -> ArmResult {
    let filter = request.query.filter()?;
    check_filter_keys(
        &filter,
        &[
            "backupManagementType",
            "itemType",
            "policyName",
            "friendlyName",
            "containerName",
            "healthState",
            "fabricName",
            "backupEngineName",
            "backupSetName",
        ],
    )?;
    let vault = vault_of(state, path).await?;
    let container = filter.get("containerName").map(parse_container_name);
    // VM items have no backup engine or backup set: such terms match none of them.
    let matches_nothing = !filter_allows(&filter, "backupManagementType", MANAGEMENT_TYPE)
        || !filter_allows(&filter, "itemType", "VM")
        || !filter_allows(&filter, "fabricName", names::FABRIC)
        || filter.get("backupEngineName").is_some()
        || filter.get("backupSetName").is_some()
        || matches!(container, Some(None));
    if matches_nothing {
        return Ok(json_response(
            StatusCode::OK,
            &ProtectedItemList {
                value: Vec::new(),
                next_link: None,
            },
        ));
    }
    let query = ItemPageQuery {
        policy_key: filter.get("policyName").map(key),
        friendly_name: filter.get("friendlyName").map(key),
        health_status: filter.get("healthState").map(str::to_owned),
        item_key: container.flatten().map(|vm| vm.item_key()),
        after: request.query.skip_token().map(str::to_owned),
    };
    let page = items::list(&state.db, &vault, &query, PAGE_SIZE).await?;
    let id = vault.arm_id();
    Ok(json_response(
        StatusCode::OK,
        &ProtectedItemList {
            value: page.items.iter().map(|i| item_body(&id, i)).collect(),
            next_link: page.next.map(|token| request.next_link(&token)),
        },
    ))
}
