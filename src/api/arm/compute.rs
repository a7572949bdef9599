//! Microsoft.Compute virtual machines and their extensions, in the shapes azure-mgmt-compute
//! and `az vm` read.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ErrorResponse;
use super::extensions::VirtualMachineExtension;
use super::instance_view::{vm_body, VirtualMachineInstanceView};
use super::params::{ApiVersion, VmParams};
use super::route::{spec, GroupPath, VmPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::compute::{
    self, DataDiskSpec, Deleted, DiskSpec, NetworkInterfaceRef, OsProfileSpec, VmDetails, VmSpec,
    OS_DISK_LUN,
};
use crate::resources::groups::Upserted;
use crate::resources::ids;
use crate::resources::images::ImageReference;
use crate::resources::lookup::{DiskRecord, Tags};

// ---- request bodies ----

/// The body of a VM PUT as azure-mgmt-compute sends it. Fields not listed (image, network
/// profile...) are accepted and ignored; `adminPassword` and `customData` are never kept.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VirtualMachinePut {
    pub location: Option<String>,
    pub tags: Option<Tags>,
    pub properties: Option<VirtualMachinePutProperties>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachinePutProperties {
    pub hardware_profile: Option<HardwareProfilePut>,
    pub storage_profile: Option<StorageProfilePut>,
    pub os_profile: Option<OsProfilePut>,
    pub network_profile: Option<NetworkProfilePut>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkProfilePut {
    pub network_interfaces: Option<Vec<NetworkInterfaceReference>>,
}

/// `{"id", "properties": {"primary"}}`, as a VM names one of its network interfaces.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NetworkInterfaceReference {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<NetworkInterfaceReferenceProperties>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NetworkInterfaceReferenceProperties {
    pub primary: Option<bool>,
}

/// A platform image, as a PUT names it (`version` may be `latest`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ImageReferencePut {
    pub publisher: Option<String>,
    pub offer: Option<String>,
    pub sku: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareProfilePut {
    /// Default `Standard_D2s_v3`.
    pub vm_size: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageProfilePut {
    pub image_reference: Option<ImageReferencePut>,
    pub os_disk: Option<OsDiskPut>,
    pub data_disks: Option<Vec<DataDiskPut>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsDiskPut {
    /// `Linux` or `Windows`; inferred from `osProfile` when absent.
    pub os_type: Option<String>,
    pub name: Option<String>,
    /// GiB, 1 to 8192; default 30 (Linux) or 127 (Windows).
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i64>,
    pub create_option: Option<String>,
    pub caching: Option<String>,
    pub managed_disk: Option<ManagedDiskPut>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataDiskPut {
    /// 0 to 63, unique.
    pub lun: Option<i64>,
    pub name: Option<String>,
    /// GiB, 1 to 8192; required for a new disk.
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i64>,
    pub create_option: Option<String>,
    pub caching: Option<String>,
    pub managed_disk: Option<ManagedDiskPut>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDiskPut {
    pub storage_account_type: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsProfilePut {
    pub computer_name: Option<String>,
    pub admin_username: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub linux_configuration: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub windows_configuration: Option<Value>,
}

impl VirtualMachinePut {
    fn into_spec(self) -> VmSpec {
        let properties = self.properties;
        let (hardware, storage, os_profile, network) = match properties {
            Some(p) => (
                p.hardware_profile,
                p.storage_profile,
                p.os_profile,
                p.network_profile,
            ),
            None => (None, None, None, None),
        };
        let (image, os_disk, data_disks) = match storage {
            Some(s) => (
                s.image_reference,
                s.os_disk,
                s.data_disks.unwrap_or_default(),
            ),
            None => (None, None, Vec::new()),
        };
        // An image by id (a gallery or managed image) is not in the catalogue: it names no
        // publisher, and the VM is made as without an image.
        let image_reference = image.and_then(|i| {
            Some(ImageReference {
                publisher: i.publisher?,
                offer: i.offer?,
                sku: i.sku?,
                version: i.version.unwrap_or_else(|| "latest".to_owned()),
            })
        });
        let network_interfaces = network.and_then(|n| n.network_interfaces).map(|nics| {
            nics.into_iter()
                .map(|nic| NetworkInterfaceRef {
                    id: nic.id,
                    primary: nic.properties.and_then(|p| p.primary),
                })
                .collect()
        });
        let os_type = os_disk.as_ref().and_then(|d| d.os_type.clone());
        VmSpec {
            location: self.location,
            tags: self.tags.unwrap_or_default(),
            vm_size: hardware.and_then(|h| h.vm_size),
            os_type,
            os_disk: os_disk.map_or_else(DiskSpec::default, |d| DiskSpec {
                name: d.name,
                size_gb: d.disk_size_gb,
                create_option: d.create_option,
                caching: d.caching,
                storage_account_type: d.managed_disk.and_then(|m| m.storage_account_type),
            }),
            data_disks: data_disks
                .into_iter()
                .map(|d| DataDiskSpec {
                    lun: d.lun,
                    disk: DiskSpec {
                        name: d.name,
                        size_gb: d.disk_size_gb,
                        create_option: d.create_option,
                        caching: d.caching,
                        storage_account_type: d.managed_disk.and_then(|m| m.storage_account_type),
                    },
                })
                .collect(),
            os_profile: os_profile.map(|p| OsProfileSpec {
                computer_name: p.computer_name,
                admin_username: p.admin_username,
                linux_configuration: p.linux_configuration,
                windows_configuration: p.windows_configuration,
            }),
            image_reference,
            network_interfaces,
        }
    }
}

// ---- response bodies ----

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualMachine {
    /// `/subscriptions/{s}/resourceGroups/{group as created}/providers/Microsoft.Compute/virtualMachines/{name}`
    pub id: String,
    pub name: String,
    /// Always `Microsoft.Compute/virtualMachines`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    pub tags: Tags,
    pub properties: VirtualMachineProperties,
    /// The VM's extensions; a GET has them, a list does not (as in Azure: `az vm list`
    /// cannot read them, their `properties.type` collides with `type` when it flattens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<VirtualMachineExtension>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineProperties {
    pub vm_id: String,
    /// Always `Succeeded`.
    pub provisioning_state: String,
    pub hardware_profile: HardwareProfile,
    pub storage_profile: StorageProfile,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_profile: Option<OsProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_profile: Option<NetworkProfile>,
    pub time_created: String,
    /// With `$expand=instanceView`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_view: Option<VirtualMachineInstanceView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareProfile {
    pub vm_size: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_reference: Option<ImageReferenceBody>,
    pub os_disk: OsDisk,
    pub data_disks: Vec<DataDisk>,
}

/// The platform image, with the version it resolved to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageReferenceBody {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
    pub exact_version: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkProfile {
    pub network_interfaces: Vec<NetworkInterfaceReference>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsDisk {
    pub os_type: String,
    pub name: String,
    pub create_option: String,
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: u64,
    pub caching: String,
    pub managed_disk: ManagedDisk,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataDisk {
    pub lun: i64,
    pub name: String,
    pub create_option: String,
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: u64,
    pub caching: String,
    pub managed_disk: ManagedDisk,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDisk {
    /// `.../resourceGroups/{group}/providers/Microsoft.Compute/disks/{disk name}`
    pub id: String,
    pub storage_account_type: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsProfile {
    pub computer_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub linux_configuration: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub windows_configuration: Option<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualMachineList {
    pub value: Vec<VirtualMachine>,
}

impl VirtualMachine {
    pub(super) fn from_details(
        details: VmDetails,
        instance_view: Option<VirtualMachineInstanceView>,
    ) -> Self {
        let vm = &details.vm;
        let id = ids::vm_id(&vm.subscription_id, &vm.resource_group, &vm.name);
        let disk_id = |disk: &DiskRecord| {
            format!(
                "{}/providers/Microsoft.Compute/disks/{}",
                ids::group_id(&vm.subscription_id, &vm.resource_group),
                disk.name
            )
        };
        let options = |disk: &DiskRecord| details.disk_options.get(&disk.lun).cloned();
        let size_gb = |disk: &DiskRecord| u64::try_from(disk.size_bytes).unwrap_or_default() >> 30;
        let mut os_disk = None;
        let mut data_disks = Vec::new();
        for disk in &vm.disks {
            let options = options(disk)
                .unwrap_or_else(|| compute::Disk::data(disk.lun, disk.name.clone(), 0).options);
            let managed_disk = ManagedDisk {
                id: disk_id(disk),
                storage_account_type: options.storage_account_type,
            };
            if disk.lun == OS_DISK_LUN {
                os_disk = Some(OsDisk {
                    os_type: vm.os_type.as_str().to_owned(),
                    name: disk.name.clone(),
                    create_option: options.create_option,
                    disk_size_gb: size_gb(disk),
                    caching: options.caching,
                    managed_disk,
                });
            } else {
                data_disks.push(DataDisk {
                    lun: disk.lun,
                    name: disk.name.clone(),
                    create_option: options.create_option,
                    disk_size_gb: size_gb(disk),
                    caching: options.caching,
                    managed_disk,
                });
            }
        }
        let os_disk = os_disk.unwrap_or_else(|| OsDisk {
            os_type: vm.os_type.as_str().to_owned(),
            name: String::new(),
            create_option: "FromImage".to_owned(),
            disk_size_gb: 0,
            caching: "ReadWrite".to_owned(),
            managed_disk: ManagedDisk {
                id: String::new(),
                storage_account_type: String::new(),
            },
        });
        let os_profile = details.os_profile.as_ref().map(|p| {
            let linux = vm.os_type == crate::resources::lookup::OsType::Linux;
            OsProfile {
                computer_name: p.computer_name.clone(),
                admin_username: p.admin_username.clone(),
                linux_configuration: p.configuration.clone().filter(|_| linux),
                windows_configuration: p.configuration.clone().filter(|_| !linux),
            }
        });
        let resources = details
            .extensions
            .iter()
            .map(|e| VirtualMachineExtension::new(&id, &vm.location, e, false))
            .collect();
        Self {
            name: vm.name.clone(),
            resource_type: "Microsoft.Compute/virtualMachines".to_owned(),
            location: vm.location.clone(),
            tags: vm.tags.clone(),
            properties: VirtualMachineProperties {
                vm_id: vm.vm_id.clone(),
                provisioning_state: "Succeeded".to_owned(),
                hardware_profile: HardwareProfile {
                    vm_size: vm.vm_size.clone(),
                },
                storage_profile: StorageProfile {
                    image_reference: details.image.as_ref().map(|image| ImageReferenceBody {
                        publisher: image.publisher.clone(),
                        offer: image.offer.clone(),
                        sku: image.sku.clone(),
                        version: image.version.clone(),
                        exact_version: image.exact_version.clone(),
                    }),
                    os_disk,
                    data_disks,
                },
                os_profile,
                network_profile: (!details.network_interfaces.is_empty()).then(|| NetworkProfile {
                    network_interfaces: details
                        .network_interfaces
                        .iter()
                        .map(|nic| NetworkInterfaceReference {
                            id: nic.id.clone(),
                            properties: nic.primary.map(|primary| {
                                NetworkInterfaceReferenceProperties {
                                    primary: Some(primary),
                                }
                            }),
                        })
                        .collect(),
                }),
                time_created: vm.created_at.to_rfc3339_opts(SecondsFormat::Micros, false),
                instance_view,
            },
            resources: Some(resources),
            id,
        }
    }
}

fn vm_list(vms: Vec<VmDetails>) -> ArmResult {
    Ok(json_response(
        StatusCode::OK,
        &VirtualMachineList {
            value: vms
                .into_iter()
                .map(|vm| VirtualMachine {
                    resources: None,
                    ..VirtualMachine::from_details(vm, None)
                })
                .collect(),
        },
    ))
}

// ---- handlers ----

#[utoipa::path(
    get,
    path = spec::ListVmsInSubscription.path,
    operation_id = spec::ListVmsInSubscription.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subscription's VMs, by group and name.", body = VirtualMachineList),
        (status = 401, description = "No valid bearer token.", body = ErrorResponse),
        (status = 403, description = "No grant on the subscription.", body = ErrorResponse),
    )
)]
pub async fn list_vms_in_subscription(
    state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    vm_list(compute::list_vms(&state.db, subscription, None).await?)
}

#[utoipa::path(
    get,
    path = spec::ListVmsInGroup.path,
    operation_id = spec::ListVmsInGroup.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group's VMs, by name.", body = VirtualMachineList),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_vms_in_group(
    state: &ApiState,
    _request: &ArmRequest,
    path: &GroupPath,
) -> ArmResult {
    vm_list(compute::list_vms(&state.db, &path.subscription, Some(&path.group)).await?)
}

#[utoipa::path(
    put,
    path = spec::PutVm.path,
    operation_id = spec::PutVm.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("vmName" = String, Path, description = "1-64 letters, digits, `-_.`, not starting with `_`."),
        ApiVersion,
    ),
    request_body = VirtualMachinePut,
    responses(
        (status = 200, description = "The VM existed and was updated (disks added, grown or detached; size, tags, OS profile).", body = VirtualMachine),
        (status = 201, description = "The VM and its disk blobs were created.", body = VirtualMachine),
        (status = 400, description = "`InvalidParameter` (the message names the field), `LocationRequired` or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
        (status = 409, description = "`PropertyChangeNotAllowed` (location, OS type, disk names) or `OperationNotAllowed` (shrinking a disk, a disk name another VM of the group uses).", body = ErrorResponse),
    )
)]
pub async fn put_vm(state: &ApiState, request: &ArmRequest, path: &VmPath) -> ArmResult {
    let body: VirtualMachinePut = request.json()?;
    let (vm, upserted) = compute::put_vm(
        &state.db,
        &state.accounts,
        &state.clock,
        &path.group.subscription,
        &path.group.group,
        &path.vm,
        &body.into_spec(),
    )
    .await?;
    let status = match upserted {
        Upserted::Created => StatusCode::CREATED,
        Upserted::Updated => StatusCode::OK,
    };
    Ok(json_response(
        status,
        &VirtualMachine::from_details(vm, None),
    ))
}

#[utoipa::path(
    get,
    path = spec::GetVm.path,
    operation_id = spec::GetVm.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        ApiVersion,
        ("$expand" = Option<String>, Query, description = "`instanceView`: add `properties.instanceView`."),
    ),
    responses(
        (status = 200, description = "The VM, its disks and (in `resources`) its extensions.", body = VirtualMachine),
        (status = 404, description = "`ResourceGroupNotFound` or `ResourceNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_vm(state: &ApiState, request: &ArmRequest, path: &VmPath) -> ArmResult {
    let vm = compute::get_vm(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vm,
    )
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &vm_body(state, request, vm).await?,
    ))
}

#[utoipa::path(
    delete,
    path = spec::DeleteVm.path,
    operation_id = spec::DeleteVm.operation_id,
    tag = "Microsoft.Compute",
    params(
        VmParams,
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The VM, its extensions and its disk blobs were deleted. Its backups stay."),
        (status = 204, description = "There was no such VM."),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn delete_vm(state: &ApiState, _request: &ArmRequest, path: &VmPath) -> ArmResult {
    let deleted = compute::delete_vm(
        &state.db,
        &state.accounts,
        &state.clock,
        &path.group.subscription,
        &path.group.group,
        &path.vm,
    )
    .await?;
    Ok(match deleted {
        Deleted::Deleted => StatusCode::OK,
        Deleted::NotFound => StatusCode::NO_CONTENT,
    }
    .into_response())
}

/// The virtual machine operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_vms_in_subscription, list_vms_in_group, put_vm, get_vm, delete_vm),
    components(schemas(
        VirtualMachinePut,
        VirtualMachinePutProperties,
        HardwareProfilePut,
        StorageProfilePut,
        OsDiskPut,
        DataDiskPut,
        ManagedDiskPut,
        OsProfilePut,
        VirtualMachine,
        VirtualMachineProperties,
        HardwareProfile,
        StorageProfile,
        OsDisk,
        DataDisk,
        ManagedDisk,
        OsProfile,
        VirtualMachineList
    ))
)]
pub struct ComputeApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_names_the_azure_operations() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(ComputeApi::openapi()).unwrap();
        let group = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}";
        let vm = format!("{group}/providers/Microsoft.Compute/virtualMachines/{{vmName}}");
        for (path, method, id) in [
            (
                "/subscriptions/{subscriptionId}/providers/Microsoft.Compute/virtualMachines"
                    .to_owned(),
                "get",
                "VirtualMachines_ListAll",
            ),
            (
                format!("{group}/providers/Microsoft.Compute/virtualMachines"),
                "get",
                "VirtualMachines_List",
            ),
            (vm.clone(), "put", "VirtualMachines_CreateOrUpdate"),
            (vm.clone(), "get", "VirtualMachines_Get"),
            (vm.clone(), "delete", "VirtualMachines_Delete"),
        ] {
            assert_eq!(
                doc["paths"][path.as_str()][method]["operationId"],
                id,
                "{path}"
            );
        }
    }

    #[test]
    fn a_put_body_becomes_a_spec_without_secrets() {
        let body: VirtualMachinePut = serde_json::from_value(serde_json::json!({
            "location": "westeurope",
            "tags": { "a": "b" },
            "properties": {
                "hardwareProfile": { "vmSize": "Standard_B1s" },
                "storageProfile": {
                    "imageReference": { "offer": "ignored" },
                    "osDisk": {
                        "osType": "Linux",
                        "diskSizeGB": 40,
                        "managedDisk": { "storageAccountType": "Standard_LRS" }
                    },
                    "dataDisks": [{ "lun": 2, "name": "d", "diskSizeGB": 5, "caching": "ReadOnly" }]
                },
                "osProfile": {
                    "computerName": "host",
                    "adminUsername": "me",
                    "adminPassword": "secret",
                    "linuxConfiguration": { "ssh": {} }
                }
            }
        }))
        .unwrap();
        let spec = body.into_spec();
        assert_eq!(spec.vm_size.as_deref(), Some("Standard_B1s"));
        assert_eq!(spec.os_type.as_deref(), Some("Linux"));
        assert_eq!(spec.os_disk.size_gb, Some(40));
        assert_eq!(
            spec.os_disk.storage_account_type.as_deref(),
            Some("Standard_LRS")
        );
        assert_eq!(spec.data_disks[0].lun, Some(2));
        assert_eq!(spec.data_disks[0].disk.caching.as_deref(), Some("ReadOnly"));
        let profile = spec.os_profile.unwrap();
        assert_eq!(profile.computer_name.as_deref(), Some("host"));
        assert!(!format!("{profile:?}").contains("secret"));
    }
}
