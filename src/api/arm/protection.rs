//! Protection over ARM: container refresh, protectable items, containers, protected items
//! and the operations clients poll after a protected item write. Writes answer 202 with an
//! empty body and `Azure-AsyncOperation`/`Location` headers; they have finished by then,
//! so the first poll sees `Succeeded` with the job's id.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::{Deserialize, Serialize};

use super::error::ErrorResponse;
use super::query::Filter;
use super::route::{ContainerPath, ItemPath, VaultPath};
use super::{json_response, ArmError, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::ids;
use crate::resources::lookup::{self, VaultRecord};
use crate::resources::names::key;
use crate::resources::protection::backup_status;
use crate::resources::protection::containers::{self, Container, ProtectableVm};
use crate::resources::protection::items::{
    self, DiskExclusion, ItemPageQuery, ProtectRequest, ProtectedItem, Submitted, VM_ITEM_TYPE,
};
use crate::resources::protection::names::{self, parse_container_name, VmName};
use crate::resources::protection::operations::{self, Operation, OperationKind, OperationStatus};
use crate::resources::ResourceError;

/// Items and containers per list page.
const PAGE_SIZE: usize = 200;
/// What Azure Backup calls Azure VM backup (`backupManagementType`).
pub(super) const MANAGEMENT_TYPE: &str = "AzureIaasVM";
/// Seconds a client is told to wait before polling; the work is done by then.
const RETRY_AFTER: &str = "1";
/// What header URLs percent-encode.
const URL_UNSAFE: &AsciiSet = &CONTROLS.add(b' ');
/// The time Azure reports as `lastBackupTime` before the first backup.
const NEVER_BACKED_UP: &str = "2001-01-01T00:00:00Z";

const ITEM_TYPE: &str =
    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems";
const CONTAINER_TYPE: &str = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers";
const PROTECTABLE_TYPE: &str =
    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectableItems";

// ---- wire types ----

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

// ---- shared with the jobs module ----

/// Times as Azure Backup writes them: RFC 3339, UTC, `Z`.
pub(super) fn wire_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(super) async fn vault_of(state: &ApiState, path: &VaultPath) -> Result<VaultRecord, ArmError> {
    Ok(lookup::vault(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vault,
    )
    .await?)
}

/// 404 unless `fabric` is `Azure`, the one fabric of Azure VMs.
pub(super) fn check_fabric(fabric: &str) -> Result<(), ArmError> {
    if names::is_azure_fabric(fabric) {
        Ok(())
    } else {
        Err(ResourceError::not_found(
            "BMSUserErrorFabricNotFound",
            format!(
                "Backup fabric '{fabric}' was not found: Azure VMs are in fabric '{}'.",
                names::FABRIC
            ),
        )
        .into())
    }
}

/// The vault and protected item an item path addresses. 404 when either is missing.
pub(super) async fn item_of(
    state: &ApiState,
    path: &ItemPath,
) -> Result<(VaultRecord, ProtectedItem), ArmError> {
    check_fabric(&path.container.fabric)?;
    let vault_path = &path.container.vault;
    let found = items::get_with_vault(
        &state.db,
        &vault_path.group.subscription,
        &vault_path.group.group,
        &vault_path.vault,
        &path.container.container,
        &path.item,
    )
    .await?;
    if let Some(found) = found {
        return Ok(found);
    }
    // Missing: say whether the vault or the item is.
    let vault = vault_of(state, vault_path).await?;
    let item = items::get(&state.db, &vault, &path.container.container, &path.item).await?;
    Ok((vault, item))
}

/// Refuses `$filter` keys an operation does not support (400, naming the supported ones).
pub(super) fn check_filter_keys(filter: &Filter, supported: &[&str]) -> Result<(), ArmError> {
    match filter
        .keys()
        .find(|k| !supported.iter().any(|s| s.eq_ignore_ascii_case(k)))
    {
        Some(unsupported) => Err(ArmError::InvalidQueryParameter(format!(
            "The $filter key '{unsupported}' is not supported here; supported keys: {}.",
            supported.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Whether a filter term, when present, equals `value` (any case).
pub(super) fn filter_allows(filter: &Filter, key: &str, value: &str) -> bool {
    filter_allows_any(filter, key, &[value])
}

/// Whether a filter term, when present, equals one of `values` (any case).
fn filter_allows_any(filter: &Filter, key: &str, values: &[&str]) -> bool {
    filter
        .get(key)
        .is_none_or(|v| values.iter().any(|value| v.eq_ignore_ascii_case(value)))
}

/// The container type values an Azure VM container answers to in `$filter`.
const CONTAINER_TYPES: [&str; 3] = ["IaasVMContainer", "IaasVMServiceContainer", VM_ITEM_TYPE];

/// 202 with an empty body and the given URL headers, plus `Retry-After`.
pub(super) fn accepted(headers: &[(&'static str, String)]) -> Response {
    let mut response = (StatusCode::ACCEPTED, Body::empty()).into_response();
    let map = response.headers_mut();
    for (name, url) in headers {
        // Names are ASCII; anything else (a stray Unicode name) is percent-encoded.
        let value = utf8_percent_encode(url, URL_UNSAFE).to_string();
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("percent-encoded URLs are valid header values"),
        );
    }
    map.insert("retry-after", HeaderValue::from_static(RETRY_AFTER));
    response
}

pub(super) fn url(request: &ArmRequest, path: &str) -> String {
    format!(
        "{}{path}?api-version={}",
        request.base_url,
        request.api_version()
    )
}

// ---- bodies ----

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

fn item_body(vault_id: &str, item: &ProtectedItem) -> ProtectedItemResource {
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

pub(super) fn operation_body(op: &Operation) -> OperationStatusBody {
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

// ---- handlers ----

#[utoipa::path(
    post,
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupFabrics/{fabricName}/refreshContainers",
    operation_id = "ProtectionContainers_Refresh",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupFabrics/{fabricName}/operationResults/{operationId}",
    operation_id = "ProtectionContainerRefreshOperationResults_Get",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("operationId" = String, Path, description = "The refresh operation's id."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupProtectableItems",
    operation_id = "BackupProtectableItems_List",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupProtectionContainers",
    operation_id = "BackupProtectionContainers_List",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupFabrics/{fabricName}/protectionContainers/{containerName}",
    operation_id = "ProtectionContainers_Get",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>` (or without the prefix), any case."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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

#[utoipa::path(
    put,
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupFabrics/{fabricName}/protectionContainers/{containerName}/protectedItems/{protectedItemName}",
    operation_id = "ProtectedItems_CreateOrUpdate",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>` (or without the prefix), any case."),
        ("protectedItemName" = String, Path, description = "`VM;iaasvmcontainerv2;<rg>;<vm>`, any case."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
pub(super) fn item_accepted(
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupFabrics/{fabricName}/protectionContainers/{containerName}/protectedItems/{protectedItemName}",
    operation_id = "ProtectedItems_Get",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>` (or without the prefix), any case."),
        ("protectedItemName" = String, Path, description = "`VM;iaasvmcontainerv2;<rg>;<vm>`, any case."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupFabrics/{fabricName}/protectionContainers/{containerName}/protectedItems/{protectedItemName}",
    operation_id = "ProtectedItems_Delete",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "`IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>` (or without the prefix), any case."),
        ("protectedItemName" = String, Path, description = "`VM;iaasvmcontainerv2;<rg>;<vm>`, any case."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupProtectedItems",
    operation_id = "BackupProtectedItems_List",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupFabrics/{fabricName}/protectionContainers/{containerName}/protectedItems/{protectedItemName}/operationsStatus/{operationId}",
    operation_id = "ProtectedItemOperationStatuses_Get",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "The item's container."),
        ("protectedItemName" = String, Path, description = "The protected item."),
        ("operationId" = String, Path, description = "The operation's id."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupFabrics/{fabricName}/protectionContainers/{containerName}/protectedItems/{protectedItemName}/operationResults/{operationId}",
    operation_id = "ProtectedItemOperationResults_Get",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("fabricName" = String, Path, description = "Always `Azure`."),
        ("containerName" = String, Path, description = "The item's container."),
        ("protectedItemName" = String, Path, description = "The protected item."),
        ("operationId" = String, Path, description = "The operation's id."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupOperations/{operationId}",
    operation_id = "BackupOperationStatuses_Get",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("operationId" = String, Path, description = "The operation's id (the last segment of `Azure-AsyncOperation`)."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupOperationResults/{operationId}",
    operation_id = "BackupOperationResults_Get",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The vault's resource group."),
        ("vaultName" = String, Path, description = "The Recovery Services vault."),
        ("operationId" = String, Path, description = "The operation's id."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.RecoveryServices/locations/{azureRegion}/backupStatus",
    operation_id = "BackupStatus_Get",
    tag = "Protection",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("azureRegion" = String, Path, description = "The VM's region (not checked: a VM is found by its id)."),
        ("api-version" = String, Query, description = "Any version is accepted."),
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
pub(super) fn result_response(
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

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        refresh_containers,
        get_fabric_operation_result,
        list_protectable_items,
        list_protection_containers,
        get_protection_container,
        put_protected_item,
        get_protected_item,
        delete_protected_item,
        list_protected_items,
        get_item_operation_status,
        get_item_operation_result,
        get_backup_operation,
        get_backup_operation_result,
        get_backup_status,
    ),
    components(schemas(
        BackupStatusRequest,
        BackupStatusBody,
        ProtectableItemResource,
        ProtectableItemProperties,
        ProtectableItemList,
        ProtectionContainerResource,
        ProtectionContainerProperties,
        ProtectionContainerList,
        ProtectedItemResource,
        ProtectedItemProperties,
        ProtectedItemList,
        ProtectedItemPut,
        ProtectedItemPutProperties,
        ExtendedPropertiesBody,
        DiskExclusionBody,
        HealthDetail,
        KpisHealths,
        ProtectedItemExtendedInfo,
        OperationStatusBody,
        OperationStatusProperties,
        OperationStatusError,
        ErrorResponse,
    ))
)]
pub struct ProtectionApi;
