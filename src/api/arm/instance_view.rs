//! Instance views in Compute's wire shapes: a VM's (`GET .../instanceView`, or
//! `$expand=instanceView` on the VM GET) and an extension's (`$expand=instanceView` on the
//! extension GET and list).

use axum::http::StatusCode;
use serde::Serialize;

use super::compute::VirtualMachine;
use super::error::ErrorResponse;
use super::params::{ApiVersion, VmParams};
use super::protection::wire_time;
use super::route::{spec, VmPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::compute::{
    self, ExtensionInstanceView, InstanceViewStatus as Status, VmDetails, VmInstanceView,
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceViewStatus {
    /// e.g. `ProvisioningState/succeeded`, `ProvisioningState/failed/<handler code>`.
    pub code: String,
    /// `Info`, `Warning` or `Error`.
    pub level: &'static str,
    pub display_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl From<&Status> for InstanceViewStatus {
    fn from(status: &Status) -> Self {
        Self {
            code: status.code.clone(),
            level: status.level,
            display_status: status.display_status.clone(),
            message: status.message.clone(),
            time: status.time.map(wire_time),
        }
    }
}

fn statuses(statuses: &[Status]) -> Vec<InstanceViewStatus> {
    statuses.iter().map(InstanceViewStatus::from).collect()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineExtensionInstanceView {
    pub name: String,
    /// `<publisher>.<type>`.
    #[serde(rename = "type")]
    pub handler_type: String,
    pub type_handler_version: String,
    /// From the status file the handler last reported; empty before its first.
    pub statuses: Vec<InstanceViewStatus>,
    /// From the status file's `substatus`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub substatuses: Vec<InstanceViewStatus>,
}

impl From<&ExtensionInstanceView> for VirtualMachineExtensionInstanceView {
    fn from(view: &ExtensionInstanceView) -> Self {
        Self {
            name: view.name.clone(),
            handler_type: view.handler_type.clone(),
            type_handler_version: view.type_handler_version.clone(),
            statuses: statuses(&view.statuses),
            substatuses: statuses(&view.substatuses),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineAgentInstanceView {
    /// `Unknown`: vaultsim's agents do not report a version.
    pub vm_agent_version: String,
    /// `Ready` while the agent polls its goal state, `Not Ready` when it has not for 5 minutes.
    pub statuses: Vec<InstanceViewStatus>,
    pub extension_handlers: Vec<VirtualMachineExtensionHandlerInstanceView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineExtensionHandlerInstanceView {
    /// `<publisher>.<type>`.
    #[serde(rename = "type")]
    pub handler_type: String,
    pub type_handler_version: String,
    pub status: InstanceViewStatus,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiskInstanceView {
    pub name: String,
    pub statuses: Vec<InstanceViewStatus>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceView {
    pub vm_agent: VirtualMachineAgentInstanceView,
    pub disks: Vec<DiskInstanceView>,
    pub extensions: Vec<VirtualMachineExtensionInstanceView>,
    /// The VM's provisioning state and its power: `PowerState/running`, `/stopped` or
    /// `/deallocated`.
    pub statuses: Vec<InstanceViewStatus>,
}

impl From<&VmInstanceView> for VirtualMachineInstanceView {
    fn from(view: &VmInstanceView) -> Self {
        Self {
            vm_agent: VirtualMachineAgentInstanceView {
                vm_agent_version: view.vm_agent.vm_agent_version.clone(),
                statuses: statuses(&view.vm_agent.statuses),
                extension_handlers: view
                    .vm_agent
                    .extension_handlers
                    .iter()
                    .map(|(handler_type, version, status)| {
                        VirtualMachineExtensionHandlerInstanceView {
                            handler_type: handler_type.clone(),
                            type_handler_version: version.clone(),
                            status: status.into(),
                        }
                    })
                    .collect(),
            },
            disks: view
                .disks
                .iter()
                .map(|(name, disk_statuses)| DiskInstanceView {
                    name: name.clone(),
                    statuses: statuses(disk_statuses),
                })
                .collect(),
            extensions: view.extensions.iter().map(Into::into).collect(),
            statuses: statuses(&view.statuses),
        }
    }
}

/// Whether the request asks for instance views (`$expand=instanceView`, any case).
pub(super) fn expands_instance_view(request: &ArmRequest) -> bool {
    request
        .query
        .get("$expand")
        .is_some_and(|expand| expand.eq_ignore_ascii_case("instanceView"))
}

/// The VM's instance view in wire shape.
pub(super) async fn vm_instance_view(
    state: &ApiState,
    vm: &VmDetails,
) -> Result<VirtualMachineInstanceView, super::ArmError> {
    let view = compute::vm_instance_view(&state.db, vm, state.clock.now()).await?;
    Ok((&view).into())
}

#[utoipa::path(
    get,
    path = spec::GetVmInstanceView.path,
    operation_id = spec::GetVmInstanceView.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The VM's agent, disks and extensions as its agent reported them.", body = VirtualMachineInstanceView),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_vm_instance_view(
    state: &ApiState,
    _request: &ArmRequest,
    path: &VmPath,
) -> ArmResult {
    let vm = compute::get_vm(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vm,
    )
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &vm_instance_view(state, &vm).await?,
    ))
}

/// A VM GET's body, with its instance view when `$expand=instanceView` asks for it.
pub(super) async fn vm_body(
    state: &ApiState,
    request: &ArmRequest,
    vm: VmDetails,
) -> Result<VirtualMachine, super::ArmError> {
    let view = if expands_instance_view(request) {
        Some(vm_instance_view(state, &vm).await?)
    } else {
        None
    };
    Ok(VirtualMachine::from_details(vm, view))
}
