//! Microsoft.Compute VM extensions (`VirtualMachineExtensions_*`) and the Compute operations
//! their writes answer with, in the shapes azure-mgmt-compute and `az vm extension` read.
//! A PUT or PATCH answers 201/200 with the extension (`Creating`/`Updating`) and
//! `Azure-AsyncOperation`; a DELETE 202 with `Azure-AsyncOperation` and `Location`.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ErrorResponse;
use super::instance_view::{expands_instance_view, VirtualMachineExtensionInstanceView};
use super::params::{ApiVersion, VmExtensionParams, VmParams};
use super::protection::{accepted, url, wire_time};
use super::route::{spec, VmPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::compute::{
    self, extension_instance_view, Extension, ExtensionAddress, ExtensionChange, ExtensionDeletion,
    ExtensionOperation, OperationKind, ProtectedSettings, WriteMode,
};
use crate::resources::ids;
use crate::resources::lookup::Tags;
use crate::resources::protection::operations::OperationStatus;

// ---- request bodies ----

/// The body of an extension PUT (`VirtualMachineExtension`) or PATCH
/// (`VirtualMachineExtensionUpdate`). `location`, `tags` and read-only properties are
/// accepted and ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VirtualMachineExtensionPut {
    pub location: Option<String>,
    pub tags: Option<Tags>,
    pub properties: Option<VirtualMachineExtensionPutProperties>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineExtensionPutProperties {
    /// Required on PUT.
    pub publisher: Option<String>,
    /// The extension type; required on PUT.
    #[serde(rename = "type")]
    pub extension_type: Option<String>,
    /// Required on PUT.
    pub type_handler_version: Option<String>,
    pub auto_upgrade_minor_version: Option<bool>,
    pub enable_automatic_upgrade: Option<bool>,
    /// Report the extension `Succeeded` even when its handler reports an error.
    pub suppress_failures: Option<bool>,
    /// A new value republishes unchanged settings under a new sequence number.
    pub force_update_tag: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// Encrypted to the VM's certificate in the goal state; never returned, never logged.
    #[schema(value_type = Option<Object>)]
    pub protected_settings: Option<ProtectedSettings>,
}

impl From<VirtualMachineExtensionPutProperties> for ExtensionChange {
    fn from(p: VirtualMachineExtensionPutProperties) -> Self {
        Self {
            publisher: p.publisher,
            extension_type: p.extension_type,
            type_handler_version: p.type_handler_version,
            auto_upgrade_minor_version: p.auto_upgrade_minor_version,
            enable_automatic_upgrade: p.enable_automatic_upgrade,
            suppress_failures: p.suppress_failures,
            force_update_tag: p.force_update_tag,
            settings: p.settings,
            protected_settings: p.protected_settings,
        }
    }
}

// ---- response bodies ----

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualMachineExtension {
    /// `{vm id}/extensions/{name}`
    pub id: String,
    pub name: String,
    /// Always `Microsoft.Compute/virtualMachines/extensions`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    pub properties: VirtualMachineExtensionProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineExtensionProperties {
    pub publisher: String,
    /// The extension type, e.g. `VMSnapshotLinux`.
    #[serde(rename = "type")]
    pub extension_type: String,
    pub type_handler_version: String,
    pub auto_upgrade_minor_version: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_automatic_upgrade: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suppress_failures: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_update_tag: Option<String>,
    /// `Creating`, `Updating`, `Succeeded`, `Failed` or `Deleting`.
    pub provisioning_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// With `$expand=instanceView`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_view: Option<VirtualMachineExtensionInstanceView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualMachineExtensionList {
    pub value: Vec<VirtualMachineExtension>,
}

impl VirtualMachineExtension {
    pub(super) fn new(
        vm_id: &str,
        location: &str,
        extension: &Extension,
        with_instance_view: bool,
    ) -> Self {
        Self {
            id: format!("{vm_id}/extensions/{}", extension.name),
            name: extension.name.clone(),
            resource_type: "Microsoft.Compute/virtualMachines/extensions".to_owned(),
            location: location.to_owned(),
            properties: VirtualMachineExtensionProperties {
                publisher: extension.publisher.clone(),
                extension_type: extension.extension_type.clone(),
                type_handler_version: extension.type_handler_version.clone(),
                auto_upgrade_minor_version: extension.auto_upgrade_minor_version,
                enable_automatic_upgrade: extension.enable_automatic_upgrade,
                suppress_failures: extension.suppress_failures,
                force_update_tag: extension.force_update_tag.clone(),
                provisioning_state: extension.provisioning_state.clone(),
                settings: extension.settings.clone(),
                instance_view: with_instance_view
                    .then(|| (&extension_instance_view(extension)).into()),
            },
        }
    }
}

/// A Compute operation's status (`Azure-AsyncOperation`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComputeOperationStatus {
    pub name: String,
    /// `InProgress`, `Succeeded`, `Failed` or `Canceled`.
    pub status: &'static str,
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ComputeOperationError>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComputeOperationError {
    /// e.g. `VMExtensionProvisioningError`, `OperationPreempted`.
    pub code: String,
    pub message: String,
}

impl From<&ExtensionOperation> for ComputeOperationStatus {
    fn from(op: &ExtensionOperation) -> Self {
        Self {
            name: op.operation_id.clone(),
            status: op.status.as_str(),
            start_time: wire_time(op.start_time),
            end_time: op.end_time.map(wire_time),
            error: op.error.as_ref().map(|e| ComputeOperationError {
                code: e.code.clone(),
                message: e.message.clone(),
            }),
        }
    }
}

// ---- handlers ----

/// `.../providers/Microsoft.Compute/locations/{location}/operations/{id}`: where a write's
/// operation is polled.
pub(super) fn operation_path(subscription: &str, location: &str, operation_id: &str) -> String {
    format!(
        "/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{location}\
         /operations/{operation_id}"
    )
}

fn address<'a>(path: &'a VmPath, name: &'a str) -> ExtensionAddress<'a> {
    ExtensionAddress {
        subscription: &path.group.subscription,
        group: &path.group.group,
        vm: &path.vm,
        name,
    }
}

#[utoipa::path(
    get,
    path = spec::ListVmExtensions.path,
    operation_id = spec::ListVmExtensions.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        ApiVersion,
        ("$expand" = Option<String>, Query, description = "`instanceView`: add each extension's `properties.instanceView`."),
    ),
    responses(
        (status = 200, description = "The VM's extensions, by name.", body = VirtualMachineExtensionList),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound` (no such VM).", body = ErrorResponse),
    )
)]
pub async fn list_extensions(state: &ApiState, request: &ArmRequest, path: &VmPath) -> ArmResult {
    let vm = compute::get_vm(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vm,
    )
    .await?;
    let vm_id = ids::vm_id(&vm.vm.subscription_id, &vm.vm.resource_group, &vm.vm.name);
    let expand = expands_instance_view(request);
    Ok(json_response(
        StatusCode::OK,
        &VirtualMachineExtensionList {
            value: vm
                .extensions
                .iter()
                .map(|e| VirtualMachineExtension::new(&vm_id, &vm.vm.location, e, expand))
                .collect(),
        },
    ))
}

#[utoipa::path(
    get,
    path = spec::GetVmExtension.path,
    operation_id = spec::GetVmExtension.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        VmExtensionParams,
        ApiVersion,
        ("$expand" = Option<String>, Query, description = "`instanceView`: add `properties.instanceView`, built from the status its handler reported."),
    ),
    responses(
        (status = 200, description = "The extension; never its protected settings.", body = VirtualMachineExtension),
        (status = 404, description = "`NotFound` (no such extension), `ResourceNotFound` (no such VM) or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_extension(
    state: &ApiState,
    request: &ArmRequest,
    path: &VmPath,
    extension: &str,
) -> ArmResult {
    let vm = compute::get_vm(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vm,
    )
    .await?;
    extension_response(StatusCode::OK, request, &vm, extension, None)
}

/// The extension `name` of `vm`, with `Azure-AsyncOperation` when `operation` is given.
fn extension_response(
    status: StatusCode,
    request: &ArmRequest,
    vm: &compute::VmDetails,
    name: &str,
    operation: Option<&str>,
) -> ArmResult {
    let vm_id = ids::vm_id(&vm.vm.subscription_id, &vm.vm.resource_group, &vm.vm.name);
    let body = VirtualMachineExtension::new(
        &vm_id,
        &vm.vm.location,
        vm.extension(name)?,
        expands_instance_view(request),
    );
    let mut response = json_response(status, &body);
    if let Some(operation) = operation {
        let path = operation_path(&vm.vm.subscription_id, &vm.vm.location, operation);
        response.headers_mut().insert(
            HeaderName::from_static("azure-asyncoperation"),
            HeaderValue::from_str(&url(request, &path)).expect("operation URLs are ASCII"),
        );
    }
    Ok(response)
}

async fn write(
    state: &ApiState,
    request: &ArmRequest,
    path: &VmPath,
    name: &str,
    mode: WriteMode,
) -> ArmResult {
    let body: VirtualMachineExtensionPut = request.json()?;
    let change = body
        .properties
        .map(ExtensionChange::from)
        .unwrap_or_default();
    let written = compute::write_extension(
        &state.db,
        &state.clock,
        state.engine.notifier(),
        address(path, name),
        change,
        mode,
    )
    .await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    extension_response(
        status,
        request,
        &written.vm,
        name,
        Some(&written.operation_id),
    )
}

#[utoipa::path(
    put,
    path = spec::PutVmExtension.path,
    operation_id = spec::PutVmExtension.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        ("vmExtensionName" = String, Path, description = "1-64 letters, digits, `-_.`."),
        ApiVersion,
    ),
    request_body = VirtualMachineExtensionPut,
    responses(
        (status = 200, description = "The extension was updated: `Updating` when its settings, protected settings, `forceUpdateTag` or version changed (published under the next sequence number), else as it was.", body = VirtualMachineExtension,
            headers(("Azure-AsyncOperation" = String, description = "The operation: `Succeeded` or `Failed` once the VM's agent reports the handler's status."))),
        (status = 201, description = "The extension was published to the VM's goal state (sequence number 0): `Creating`.", body = VirtualMachineExtension,
            headers(("Azure-AsyncOperation" = String, description = "The operation: `Succeeded` or `Failed` once the VM's agent reports the handler's status."))),
        (status = 400, description = "`InvalidParameter` (a missing publisher, type or typeHandlerVersion; a bad name) or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
        (status = 409, description = "`OperationNotAllowed` (the backup extension, which Azure Backup installs; protected settings for a VM whose agent never registered; an extension being deleted) or `PropertyChangeNotAllowed` (publisher or type).", body = ErrorResponse),
    )
)]
pub async fn put_extension(
    state: &ApiState,
    request: &ArmRequest,
    path: &VmPath,
    name: &str,
) -> ArmResult {
    write(state, request, path, name, WriteMode::Put).await
}

#[utoipa::path(
    patch,
    path = spec::UpdateVmExtension.path,
    operation_id = spec::UpdateVmExtension.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        VmExtensionParams,
        ApiVersion,
    ),
    request_body = VirtualMachineExtensionPut,
    responses(
        (status = 200, description = "The properties given changed, the rest (protected settings included) kept; published as a PUT is.", body = VirtualMachineExtension,
            headers(("Azure-AsyncOperation" = String, description = "The operation."))),
        (status = 404, description = "`NotFound`, `ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
        (status = 409, description = "As for PUT.", body = ErrorResponse),
    )
)]
pub async fn update_extension(
    state: &ApiState,
    request: &ArmRequest,
    path: &VmPath,
    name: &str,
) -> ArmResult {
    write(state, request, path, name, WriteMode::Patch).await
}

#[utoipa::path(
    delete,
    path = spec::DeleteVmExtension.path,
    operation_id = spec::DeleteVmExtension.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        VmExtensionParams,
        ApiVersion,
    ),
    responses(
        (status = 202, description = "The goal state says `uninstall`; the extension shows `Deleting` and goes when the agent reports the handler uninstalled (at once for a VM without an agent).",
            headers(("Azure-AsyncOperation" = String, description = "The operation."),
                    ("Location" = String, description = "The operation with `monitor=true`: 202 until it ends."),
                    ("Retry-After" = String, description = "Seconds to wait before polling."))),
        (status = 204, description = "There was no such extension."),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
    )
)]
pub async fn delete_extension(
    state: &ApiState,
    request: &ArmRequest,
    path: &VmPath,
    name: &str,
) -> ArmResult {
    let deleted = compute::delete_extension(
        &state.db,
        &state.clock,
        state.engine.notifier(),
        address(path, name),
    )
    .await?;
    match deleted {
        ExtensionDeletion::NotFound => Ok(StatusCode::NO_CONTENT.into_response()),
        ExtensionDeletion::Accepted {
            operation_id,
            location,
        } => {
            let operation = url(
                request,
                &operation_path(&path.group.subscription, &location, &operation_id),
            );
            Ok(accepted(&[
                ("azure-asyncoperation", operation.clone()),
                ("location", format!("{operation}&monitor=true")),
            ]))
        }
    }
}

#[utoipa::path(
    get,
    path = spec::GetComputeOperation.path,
    operation_id = spec::GetComputeOperation.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("location" = String, Path, description = "The VM's location (not checked)."),
        ("operationId" = String, Path, description = "The last segment of `Azure-AsyncOperation`."),
        ApiVersion,
        ("monitor" = Option<bool>, Query, description = "`true` (the `Location` of a DELETE): 202 while in progress, 200 once ended."),
    ),
    responses(
        (status = 200, description = "The operation's status.", body = ComputeOperationStatus),
        (status = 202, description = "With `monitor=true`: still in progress.", headers(("Location" = String, description = "Poll again here."))),
        (status = 404, description = "`OperationNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_compute_operation(
    state: &ApiState,
    request: &ArmRequest,
    subscription: &str,
    location: &str,
    operation: &str,
) -> ArmResult {
    let op =
        compute::extension_operation(&state.db, subscription, operation, state.clock.now()).await?;
    let monitoring = request
        .query
        .get("monitor")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"));
    if monitoring && op.status == OperationStatus::InProgress {
        let again = url(request, &operation_path(subscription, location, operation));
        return Ok(accepted(&[("location", format!("{again}&monitor=true"))]));
    }
    // A DELETE's or a power change's `Location` ends in an empty 200, as Compute's do.
    if monitoring && op.kind != OperationKind::Put && op.status == OperationStatus::Succeeded {
        return Ok(StatusCode::OK.into_response());
    }
    Ok(json_response(
        StatusCode::OK,
        &ComputeOperationStatus::from(&op),
    ))
}

/// The extension operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_extensions,
        get_extension,
        put_extension,
        update_extension,
        delete_extension,
        get_compute_operation,
        super::instance_view::get_vm_instance_view
    ),
    components(schemas(
        VirtualMachineExtensionPut,
        VirtualMachineExtensionPutProperties,
        VirtualMachineExtension,
        VirtualMachineExtensionProperties,
        VirtualMachineExtensionList,
        ComputeOperationStatus,
        ComputeOperationError,
        super::instance_view::InstanceViewStatus,
        super::instance_view::VirtualMachineExtensionInstanceView,
        super::instance_view::VirtualMachineAgentInstanceView,
        super::instance_view::VirtualMachineExtensionHandlerInstanceView,
        super::instance_view::DiskInstanceView,
        super::instance_view::VirtualMachineInstanceView
    ))
)]
pub struct ExtensionsApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_names_the_azure_operations() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(ExtensionsApi::openapi()).unwrap();
        let group = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}";
        let vm = format!("{group}/providers/Microsoft.Compute/virtualMachines/{{vmName}}");
        let one = format!("{vm}/extensions/{{vmExtensionName}}");
        for (path, method, id) in [
            (
                format!("{vm}/extensions"),
                "get",
                "VirtualMachineExtensions_List",
            ),
            (one.clone(), "get", "VirtualMachineExtensions_Get"),
            (
                one.clone(),
                "put",
                "VirtualMachineExtensions_CreateOrUpdate",
            ),
            (one.clone(), "patch", "VirtualMachineExtensions_Update"),
            (one, "delete", "VirtualMachineExtensions_Delete"),
            (
                format!("{vm}/instanceView"),
                "get",
                "VirtualMachines_InstanceView",
            ),
        ] {
            assert_eq!(
                doc["paths"][path.as_str()][method]["operationId"],
                id,
                "{path}"
            );
        }
    }

    #[test]
    fn a_body_becomes_a_change_and_never_prints_its_protected_settings() {
        let body: VirtualMachineExtensionPut = serde_json::from_value(serde_json::json!({
            "location": "westeurope",
            "properties": {
                "publisher": "Contoso",
                "type": "Probe",
                "typeHandlerVersion": "1.0",
                "suppressFailures": true,
                "settings": { "a": 1 },
                "protectedSettings": { "password": "hunter2" }
            }
        }))
        .unwrap();
        assert!(!format!("{body:?}").contains("hunter2"));
        let change = ExtensionChange::from(body.properties.unwrap());
        assert_eq!(change.extension_type.as_deref(), Some("Probe"));
        assert_eq!(change.suppress_failures, Some(true));
        assert!(change.protected_settings.is_some());
    }
}
