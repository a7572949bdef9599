//! A virtual machine's definition: what a PUT asks for ([`VmSpec`], ARM's model, anything
//! may be missing), resolved against the VM as it is into a complete [`NewVm`] (defaults,
//! OS type inference, changes ARM refuses) and validated. Pure functions, no I/O.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
pub use vaultsim_protocol::disk::OS_DISK_LUN;

use crate::resources::groups::require_location;
use crate::resources::images::{self, ImageReference};
use crate::resources::lookup::{OsType, Tags};
use crate::resources::names::key;
use crate::resources::ResourceError;

pub const DEFAULT_VM_SIZE: &str = "Standard_D2s_v3";
/// The largest disk: a page blob holds at most 8 TiB.
pub const MAX_DISK_GIB: u64 = 8192;
pub const MAX_DATA_DISKS: usize = 32;
pub const MAX_LUN: i64 = 63;
pub const GIB: u64 = 1 << 30;

/// The body of a VM PUT, as ARM models it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmSpec {
    pub location: Option<String>,
    pub tags: Tags,
    pub vm_size: Option<String>,
    /// `storageProfile.osDisk.osType`.
    pub os_type: Option<String>,
    pub os_disk: DiskSpec,
    pub data_disks: Vec<DataDiskSpec>,
    pub os_profile: Option<OsProfileSpec>,
    /// `storageProfile.imageReference`: a platform image of the catalogue.
    pub image_reference: Option<ImageReference>,
    /// `networkProfile.networkInterfaces`; `None` keeps an existing VM's.
    pub network_interfaces: Option<Vec<NetworkInterfaceRef>>,
}

/// The platform image a VM was created from: as the PUT named it, and the exact version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmImage {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    /// As given (`latest` or a version).
    pub version: String,
    pub exact_version: String,
}

/// One of a VM's network interfaces (`networkProfile.networkInterfaces[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInterfaceRef {
    pub id: String,
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskSpec {
    pub name: Option<String>,
    pub size_gb: Option<i64>,
    pub create_option: Option<String>,
    pub caching: Option<String>,
    /// `managedDisk.storageAccountType`.
    pub storage_account_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataDiskSpec {
    pub lun: Option<i64>,
    pub disk: DiskSpec,
}

/// `osProfile` without its secrets: `adminPassword` and `customData` are never kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsProfileSpec {
    pub computer_name: Option<String>,
    pub admin_username: Option<String>,
    pub linux_configuration: Option<Value>,
    pub windows_configuration: Option<Value>,
}

/// Who created a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Origin {
    /// Created with an ARM PUT.
    Arm,
    /// Registered by an agent through the guest API.
    Guest,
}

impl Origin {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A complete, valid VM definition: what `create_vm` creates, and what an update moves an
/// existing VM to.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVm {
    /// A UUID; the disks' blob container is named from it.
    pub vm_id: String,
    pub subscription: String,
    pub group: String,
    pub name: String,
    /// Normalized (`westeurope`).
    pub location: String,
    pub os_type: OsType,
    pub vm_size: String,
    pub os_disk: Disk,
    /// In the order given; LUNs unique.
    pub data_disks: Vec<Disk>,
    pub os_profile: Option<OsProfile>,
    pub origin: Origin,
    pub tags: Tags,
    /// `None` for a VM made without an image (an agent's registration, an attach).
    pub image: Option<VmImage>,
    pub network_interfaces: Vec<NetworkInterfaceRef>,
}

/// One disk of a VM definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// [`OS_DISK_LUN`] for the OS disk.
    pub lun: i64,
    pub name: String,
    pub size_gib: u64,
    pub options: DiskOptions,
}

/// What ARM reports about a disk beyond its name and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskOptions {
    pub create_option: String,
    pub caching: String,
    pub storage_account_type: String,
}

impl Disk {
    /// An OS disk with ARM's defaults (created from an image, read-write caching).
    pub fn os(name: impl Into<String>, size_gib: u64) -> Self {
        Self {
            lun: OS_DISK_LUN,
            name: name.into(),
            size_gib,
            options: DiskOptions {
                create_option: "FromImage".to_owned(),
                caching: "ReadWrite".to_owned(),
                storage_account_type: "Premium_LRS".to_owned(),
            },
        }
    }

    /// An empty data disk with ARM's defaults (no caching).
    pub fn data(lun: i64, name: impl Into<String>, size_gib: u64) -> Self {
        Self {
            lun,
            name: name.into(),
            size_gib,
            options: DiskOptions {
                create_option: "Empty".to_owned(),
                caching: "None".to_owned(),
                storage_account_type: "Premium_LRS".to_owned(),
            },
        }
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_gib * GIB
    }

    /// The blob holding the disk in the VM's container.
    pub fn blob_name(&self) -> String {
        if self.lun == OS_DISK_LUN {
            "osdisk.vhd".to_owned()
        } else {
            format!("datadisk-{}.vhd", self.lun)
        }
    }
}

/// `osProfile` as kept and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OsProfile {
    pub computer_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_username: Option<String>,
    /// `linuxConfiguration` or `windowsConfiguration`, by the VM's OS type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Value>,
}

/// The blob container of a VM's disks: `vm-` and the vmId's 32 hex digits.
pub fn container_name(vm_id: &str) -> String {
    format!("vm-{}", vm_id.replace('-', "").to_ascii_lowercase())
}

/// The identity of the VM a spec is resolved for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmIdentity {
    pub vm_id: String,
    pub subscription: String,
    /// The group's name as created.
    pub group: String,
    pub name: String,
    pub origin: Origin,
}

/// What a PUT body is resolved against.
#[derive(Debug, Clone, Copy)]
pub enum Base<'a> {
    /// A VM to be created, with this identity.
    New(&'a VmIdentity),
    /// The VM as it is.
    Existing(&'a NewVm),
}

/// Resolves a PUT body into the definition the VM must have: a new VM, or the existing one
/// changed. 400 for bad values, 409 for changes ARM does not allow (location, OS
/// type, OS disk name, a different disk on a used LUN, shrinking a disk). The result is
/// validated.
pub fn resolve(spec: &VmSpec, base: Base<'_>) -> Result<NewVm, ResourceError> {
    let location = require_location(spec.location.as_deref())?;
    let image = spec
        .image_reference
        .as_ref()
        .map(|reference| images::resolve(reference).map(|resolved| (reference, resolved)))
        .transpose()?;
    // A platform image says what OS its VM runs, as in Azure.
    let os_type = resolve_os_type(spec)?.or(image.as_ref().map(|(_, i)| i.image.os_type));
    let image = image.map(|(reference, resolved)| VmImage {
        publisher: resolved.image.publisher.to_owned(),
        offer: resolved.image.offer.to_owned(),
        sku: resolved.image.sku.to_owned(),
        version: reference.version.clone(),
        exact_version: resolved.exact_version.to_owned(),
    });
    let vm = match base {
        Base::New(identity) => {
            let os_type = os_type.ok_or_else(|| {
                invalid(
                    "The OS type of the virtual machine could not be determined: set \
                     properties.storageProfile.osDisk.osType to 'Linux' or 'Windows', give \
                     properties.osProfile.linuxConfiguration or windowsConfiguration, or a \
                     platform image in properties.storageProfile.imageReference.",
                )
            })?;
            let os_disk = new_os_disk(&spec.os_disk, os_type, identity)?;
            let data_disks = spec
                .data_disks
                .iter()
                .enumerate()
                .map(|(i, d)| new_data_disk(i, d, &identity.name))
                .collect::<Result<_, _>>()?;
            NewVm {
                location,
                os_type,
                vm_size: spec
                    .vm_size
                    .clone()
                    .unwrap_or_else(|| DEFAULT_VM_SIZE.to_owned()),
                os_disk,
                data_disks,
                os_profile: resolve_os_profile(spec.os_profile.as_ref(), os_type, &identity.name)?,
                tags: spec.tags.clone(),
                vm_id: identity.vm_id.clone(),
                subscription: identity.subscription.clone(),
                group: identity.group.clone(),
                name: identity.name.clone(),
                origin: identity.origin,
                image,
                network_interfaces: spec.network_interfaces.clone().unwrap_or_default(),
            }
        }
        Base::Existing(current) => {
            if location != current.location {
                return Err(change_not_allowed(format!(
                    "Changing property 'location' is not allowed: virtual machine '{}' is in \
                     '{}', the request says '{location}'.",
                    current.name, current.location
                )));
            }
            if let Some(os_type) = os_type.filter(|t| *t != current.os_type) {
                return Err(change_not_allowed(format!(
                    "Changing property 'osDisk.osType' is not allowed: virtual machine '{}' \
                     runs {}, the request says {}.",
                    current.name,
                    current.os_type.as_str(),
                    os_type.as_str()
                )));
            }
            if let (Some(new), Some(old)) = (&image, &current.image) {
                let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
                if !(same(&new.publisher, &old.publisher)
                    && same(&new.offer, &old.offer)
                    && same(&new.sku, &old.sku))
                {
                    return Err(change_not_allowed(format!(
                        "Changing property 'imageReference' is not allowed: virtual machine \
                         '{}' was created from '{}:{}:{}'.",
                        current.name, old.publisher, old.offer, old.sku
                    )));
                }
            }
            let os_disk = updated_disk(
                "properties.storageProfile.osDisk",
                &spec.os_disk,
                &current.os_disk,
            )?;
            let current_data: BTreeMap<i64, &Disk> =
                current.data_disks.iter().map(|d| (d.lun, d)).collect();
            let mut data_disks = Vec::with_capacity(spec.data_disks.len());
            for (i, d) in spec.data_disks.iter().enumerate() {
                let lun = require_lun(i, d.lun)?;
                data_disks.push(match current_data.get(&lun) {
                    Some(existing) => updated_disk(
                        &format!("properties.storageProfile.dataDisks[{i}]"),
                        &d.disk,
                        existing,
                    )?,
                    None => new_data_disk(i, d, &current.name)?,
                });
            }
            NewVm {
                location,
                vm_size: spec
                    .vm_size
                    .clone()
                    .unwrap_or_else(|| current.vm_size.clone()),
                os_disk,
                data_disks,
                os_profile: match &spec.os_profile {
                    None => current.os_profile.clone(),
                    Some(profile) => updated_os_profile(profile, current.os_type, current)?,
                },
                tags: spec.tags.clone(),
                network_interfaces: spec
                    .network_interfaces
                    .clone()
                    .unwrap_or_else(|| current.network_interfaces.clone()),
                // A VM an agent registered learns its image from the first PUT naming one.
                image: current.image.clone().or(image),
                ..current.clone()
            }
        }
    };
    validate(&vm)?;
    Ok(vm)
}

/// Checks a complete definition: names, vmId, sizes, LUNs and the number of data disks.
/// 400 `InvalidParameter` naming the field.
pub fn validate(vm: &NewVm) -> Result<(), ResourceError> {
    validate_vm_name(&vm.name)?;
    if uuid::Uuid::try_parse(&vm.vm_id).is_err() {
        return Err(invalid(format!("The vmId '{}' is not a UUID.", vm.vm_id)));
    }
    validate_vm_size(&vm.vm_size)?;
    if vm.location.is_empty()
        || !vm
            .location
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err(invalid(format!(
            "The location '{}' is not a normalized region name such as 'westeurope'.",
            vm.location
        )));
    }
    if vm.os_disk.lun != OS_DISK_LUN {
        return Err(invalid("The OS disk must not have a LUN."));
    }
    check_disk("properties.storageProfile.osDisk", &vm.os_disk)?;
    if vm.data_disks.len() > MAX_DATA_DISKS {
        return Err(invalid(format!(
            "properties.storageProfile.dataDisks has {} disks; a virtual machine has at most \
             {MAX_DATA_DISKS}.",
            vm.data_disks.len()
        )));
    }
    let mut luns = HashSet::new();
    let mut names = HashSet::from([key(&vm.os_disk.name)]);
    for (i, disk) in vm.data_disks.iter().enumerate() {
        let field = format!("properties.storageProfile.dataDisks[{i}]");
        check_lun(&field, disk.lun)?;
        if !luns.insert(disk.lun) {
            return Err(invalid(format!(
                "{field}.lun: LUN {} is used by more than one data disk; LUNs must be unique.",
                disk.lun
            )));
        }
        check_disk(&field, disk)?;
        if !names.insert(key(&disk.name)) {
            return Err(invalid(format!(
                "{field}.name: the disk name '{}' is used by more than one disk of the virtual \
                 machine; disk names must be unique.",
                disk.name
            )));
        }
    }
    if let Some(profile) = &vm.os_profile {
        check_computer_name(&profile.computer_name, vm.os_type)?;
    }
    Ok(())
}

/// A VM name: 1-64 characters of ASCII letters, digits, `-`, `_` and `.`, not starting with
/// `_` nor ending with `.` or `-` (so `.` and `..`, which no URL can address, are never
/// names). 400 `InvalidParameter`.
pub fn validate_vm_name(name: &str) -> Result<(), ResourceError> {
    let reason = if name.is_empty() {
        Some("it is empty".to_owned())
    } else if name.len() > 64 {
        Some(format!(
            "it is {} characters long; the most is 64",
            name.len()
        ))
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(format!("the character '{c}' is not allowed"))
    } else if name.starts_with('_') {
        Some("it starts with an underscore".to_owned())
    } else if name.ends_with(['.', '-']) {
        Some("it ends with a period or a hyphen".to_owned())
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(invalid(format!(
            "The virtual machine name '{name}' is invalid: {reason}. A name is 1 to 64 letters, \
             digits, hyphens, underscores and periods, does not start with an underscore and \
             does not end with a period or a hyphen."
        ))),
    }
}

fn validate_vm_size(size: &str) -> Result<(), ResourceError> {
    if size.is_empty()
        || size.len() > 64
        || !size
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(invalid(format!(
            "properties.hardwareProfile.vmSize: '{size}' is not a VM size such as \
             '{DEFAULT_VM_SIZE}'."
        )));
    }
    Ok(())
}

fn resolve_os_type(spec: &VmSpec) -> Result<Option<OsType>, ResourceError> {
    let declared = spec
        .os_type
        .as_deref()
        .map(|text| {
            text.parse::<OsType>().map_err(|_| {
                invalid(format!(
                    "properties.storageProfile.osDisk.osType: '{text}' is not an OS type; use \
                     'Linux' or 'Windows'."
                ))
            })
        })
        .transpose()?;
    let profile = spec.os_profile.as_ref();
    let linux = profile.is_some_and(|p| p.linux_configuration.is_some());
    let windows = profile.is_some_and(|p| p.windows_configuration.is_some());
    let inferred =
        match (linux, windows) {
            (true, true) => return Err(invalid(
                "properties.osProfile: give linuxConfiguration or windowsConfiguration, not both.",
            )),
            (true, false) => Some(OsType::Linux),
            (false, true) => Some(OsType::Windows),
            (false, false) => None,
        };
    match (declared, inferred) {
        (Some(d), Some(i)) if d != i => {
            Err(invalid(format!(
            "properties.storageProfile.osDisk.osType is '{}' but properties.osProfile has a {} \
             configuration.",
            d.as_str(),
            if i == OsType::Linux { "linux" } else { "windows" }
        )))
        }
        (d, i) => Ok(d.or(i)),
    }
}

fn new_os_disk(
    spec: &DiskSpec,
    os_type: OsType,
    identity: &VmIdentity,
) -> Result<Disk, ResourceError> {
    let field = "properties.storageProfile.osDisk";
    let default_size = match os_type {
        OsType::Linux => 30,
        OsType::Windows => 127,
    };
    let name = spec.name.clone().unwrap_or_else(|| {
        let prefix: String = identity.name.chars().take(38).collect();
        format!(
            "{prefix}_OsDisk_1_{}",
            identity.vm_id.replace('-', "").to_ascii_lowercase()
        )
    });
    let mut disk = Disk::os(name, size(field, spec.size_gb)?.unwrap_or(default_size));
    apply_options(field, spec, &mut disk.options)?;
    Ok(disk)
}

fn new_data_disk(i: usize, spec: &DataDiskSpec, vm_name: &str) -> Result<Disk, ResourceError> {
    let field = format!("properties.storageProfile.dataDisks[{i}]");
    let lun = require_lun(i, spec.lun)?;
    let size_gib = size(&field, spec.disk.size_gb)?.ok_or_else(|| {
        invalid(format!(
            "{field}.diskSizeGB is required: a new data disk needs a size in GB."
        ))
    })?;
    let name = spec.disk.name.clone().unwrap_or_else(|| {
        let prefix: String = vm_name.chars().take(64).collect();
        format!("{prefix}_DataDisk_{lun}")
    });
    let mut disk = Disk::data(lun, name, size_gib);
    apply_options(&field, &spec.disk, &mut disk.options)?;
    Ok(disk)
}

/// An existing disk as the spec asks it to be: same name, same or larger size.
fn updated_disk(field: &str, spec: &DiskSpec, current: &Disk) -> Result<Disk, ResourceError> {
    if let Some(name) = spec
        .name
        .as_deref()
        .filter(|n| key(n) != key(&current.name))
    {
        return Err(if current.lun == OS_DISK_LUN {
            change_not_allowed(format!(
                "Changing property 'osDisk.name' is not allowed: the OS disk is '{}', the request \
                 says '{name}'.",
                current.name
            ))
        } else {
            change_not_allowed(format!(
                "{field}: LUN {} holds disk '{}'; a different disk '{name}' cannot take its place \
                 in the same request. Detach '{}' first (leave it out of dataDisks).",
                current.lun, current.name, current.name
            ))
        });
    }
    let size_gib = size(field, spec.size_gb)?.unwrap_or(current.size_gib);
    if size_gib < current.size_gib {
        return Err(ResourceError::conflict(
            "OperationNotAllowed",
            format!(
                "{field}.diskSizeGB: disk '{}' is {} GB; shrinking it to {size_gib} GB is not \
                 supported. Disks can only grow.",
                current.name, current.size_gib
            ),
        ));
    }
    let mut disk = Disk {
        size_gib,
        ..current.clone()
    };
    apply_options(field, spec, &mut disk.options)?;
    Ok(disk)
}

fn apply_options(
    field: &str,
    spec: &DiskSpec,
    options: &mut DiskOptions,
) -> Result<(), ResourceError> {
    const CREATE_OPTIONS: &[&str] = &["FromImage", "Empty", "Attach", "Copy", "Restore"];
    const CACHING: &[&str] = &["None", "ReadOnly", "ReadWrite"];
    const STORAGE: &[&str] = &[
        "Standard_LRS",
        "Premium_LRS",
        "StandardSSD_LRS",
        "UltraSSD_LRS",
        "Premium_ZRS",
        "StandardSSD_ZRS",
        "PremiumV2_LRS",
    ];
    let pick = |name: &str, value: &Option<String>, allowed: &[&str], target: &mut String| {
        if let Some(value) = value {
            let known = allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(value))
                .ok_or_else(|| {
                    invalid(format!(
                        "{field}.{name}: '{value}' is not one of {}.",
                        allowed.join(", ")
                    ))
                })?;
            *target = (*known).to_owned();
        }
        Ok(())
    };
    pick(
        "createOption",
        &spec.create_option,
        CREATE_OPTIONS,
        &mut options.create_option,
    )?;
    pick("caching", &spec.caching, CACHING, &mut options.caching)?;
    pick(
        "managedDisk.storageAccountType",
        &spec.storage_account_type,
        STORAGE,
        &mut options.storage_account_type,
    )
}

fn resolve_os_profile(
    spec: Option<&OsProfileSpec>,
    os_type: OsType,
    vm_name: &str,
) -> Result<Option<OsProfile>, ResourceError> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    let computer_name = match &spec.computer_name {
        Some(name) => name.clone(),
        None => vm_name
            .chars()
            .map(|c| if c == '_' { '-' } else { c })
            .take(max_computer_name(os_type))
            .collect(),
    };
    Ok(Some(OsProfile {
        computer_name,
        admin_username: spec.admin_username.clone(),
        configuration: match os_type {
            OsType::Linux => spec.linux_configuration.clone(),
            OsType::Windows => spec.windows_configuration.clone(),
        },
    }))
}

fn updated_os_profile(
    spec: &OsProfileSpec,
    os_type: OsType,
    current: &NewVm,
) -> Result<Option<OsProfile>, ResourceError> {
    let new = resolve_os_profile(Some(spec), os_type, &current.name)?;
    if let (Some(old), Some(new)) = (&current.os_profile, &new) {
        if spec.computer_name.is_some() && old.computer_name != new.computer_name {
            return Err(change_not_allowed(format!(
                "Changing property 'osProfile.computerName' is not allowed: it is '{}'.",
                old.computer_name
            )));
        }
        if spec.admin_username.is_some() && old.admin_username != new.admin_username {
            return Err(change_not_allowed(
                "Changing property 'osProfile.adminUsername' is not allowed.",
            ));
        }
        return Ok(Some(OsProfile {
            computer_name: old.computer_name.clone(),
            admin_username: old.admin_username.clone(),
            configuration: new.configuration.clone().or(old.configuration.clone()),
        }));
    }
    Ok(new)
}

fn max_computer_name(os_type: OsType) -> usize {
    match os_type {
        OsType::Linux => 64,
        OsType::Windows => 15,
    }
}

fn check_computer_name(name: &str, os_type: OsType) -> Result<(), ResourceError> {
    let most = max_computer_name(os_type);
    if name.is_empty()
        || name.len() > most
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
    {
        return Err(invalid(format!(
            "properties.osProfile.computerName: '{name}' is not a valid {} computer name: 1 to \
             {most} letters, digits, hyphens and periods.",
            os_type.as_str()
        )));
    }
    Ok(())
}

fn require_lun(i: usize, lun: Option<i64>) -> Result<i64, ResourceError> {
    let field = format!("properties.storageProfile.dataDisks[{i}]");
    let lun = lun.ok_or_else(|| invalid(format!("{field}.lun is required.")))?;
    check_lun(&field, lun)?;
    Ok(lun)
}

fn check_lun(field: &str, lun: i64) -> Result<(), ResourceError> {
    if !(0..=MAX_LUN).contains(&lun) {
        return Err(invalid(format!(
            "{field}.lun: {lun} is not a LUN; LUNs are 0 to {MAX_LUN}."
        )));
    }
    Ok(())
}

/// A requested size in GiB, checked against the page blob limit.
fn size(field: &str, size_gb: Option<i64>) -> Result<Option<u64>, ResourceError> {
    size_gb
        .map(|gb| {
            u64::try_from(gb)
                .ok()
                .filter(|gb| (1..=MAX_DISK_GIB).contains(gb))
                .ok_or_else(|| {
                    invalid(format!(
                        "{field}.diskSizeGB: {gb} is not a disk size; a disk is 1 to \
                         {MAX_DISK_GIB} GB."
                    ))
                })
        })
        .transpose()
}

fn check_disk(field: &str, disk: &Disk) -> Result<(), ResourceError> {
    if !(1..=MAX_DISK_GIB).contains(&disk.size_gib) {
        return Err(invalid(format!(
            "{field}.diskSizeGB: {} is not a disk size; a disk is 1 to {MAX_DISK_GIB} GB.",
            disk.size_gib
        )));
    }
    let name = &disk.name;
    if name.is_empty()
        || name.len() > 80
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(format!(
            "{field}.name: '{name}' is not a disk name: 1 to 80 letters, digits, hyphens, \
             underscores and periods."
        )));
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> ResourceError {
    ResourceError::invalid("InvalidParameter", message)
}

fn change_not_allowed(message: impl Into<String>) -> ResourceError {
    ResourceError::conflict("PropertyChangeNotAllowed", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VM_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    fn identity(name: &str) -> VmIdentity {
        VmIdentity {
            vm_id: VM_ID.to_owned(),
            subscription: "s".to_owned(),
            group: "rg".to_owned(),
            name: name.to_owned(),
            origin: Origin::Arm,
        }
    }

    fn linux(data_disks: &[(i64, i64)]) -> VmSpec {
        VmSpec {
            location: Some("West Europe".to_owned()),
            os_type: Some("Linux".to_owned()),
            data_disks: data_disks
                .iter()
                .map(|&(lun, gb)| DataDiskSpec {
                    lun: Some(lun),
                    disk: DiskSpec {
                        size_gb: Some(gb),
                        ..DiskSpec::default()
                    },
                })
                .collect(),
            ..VmSpec::default()
        }
    }

    fn error(result: Result<NewVm, ResourceError>) -> (String, String) {
        match result {
            Err(ResourceError::Invalid { code, message }) => (code.into_owned(), message),
            Err(ResourceError::Conflict { code, message }) => (code.to_owned(), message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_new_vm_gets_arm_defaults() {
        let vm = resolve(&linux(&[(0, 64)]), Base::New(&identity("vm1"))).unwrap();
        assert_eq!(vm.location, "westeurope");
        assert_eq!(vm.vm_size, DEFAULT_VM_SIZE);
        assert_eq!(vm.os_type, OsType::Linux);
        assert_eq!(vm.os_disk.size_gib, 30);
        assert_eq!(
            vm.os_disk.name,
            "vm1_OsDisk_1_0f8fad5bd9cb469fa16570867728950e"
        );
        assert_eq!(vm.os_disk.options.create_option, "FromImage");
        assert_eq!(vm.os_disk.blob_name(), "osdisk.vhd");
        assert_eq!(vm.data_disks[0].name, "vm1_DataDisk_0");
        assert_eq!(vm.data_disks[0].size_bytes(), 64 << 30);
        assert_eq!(vm.data_disks[0].blob_name(), "datadisk-0.vhd");
        assert_eq!(vm.data_disks[0].options.caching, "None");
        assert_eq!(container_name(VM_ID), "vm-0f8fad5bd9cb469fa16570867728950e");
    }

    #[test]
    fn windows_os_disks_default_to_127_gib() {
        let mut spec = linux(&[]);
        spec.os_type = Some("windows".to_owned());
        let vm = resolve(&spec, Base::New(&identity("win"))).unwrap();
        assert_eq!((vm.os_type, vm.os_disk.size_gib), (OsType::Windows, 127));
    }

    #[test]
    fn the_os_type_is_inferred_from_the_os_profile() {
        let mut spec = linux(&[]);
        spec.os_type = None;
        spec.os_profile = Some(OsProfileSpec {
            windows_configuration: Some(json!({"provisionVMAgent": true})),
            ..OsProfileSpec::default()
        });
        let vm = resolve(&spec, Base::New(&identity("a-long-windows-vm-name"))).unwrap();
        assert_eq!(vm.os_type, OsType::Windows);
        let profile = vm.os_profile.unwrap();
        assert_eq!(profile.computer_name, "a-long-windows-");
        assert_eq!(
            profile.configuration,
            Some(json!({"provisionVMAgent": true}))
        );

        spec.os_profile = None;
        let (code, message) = error(resolve(&spec, Base::New(&identity("vm"))));
        assert_eq!(code, "InvalidParameter");
        assert!(message.contains("osDisk.osType"), "{message}");

        spec.os_type = Some("Linux".to_owned());
        spec.os_profile = Some(OsProfileSpec {
            windows_configuration: Some(json!({})),
            ..OsProfileSpec::default()
        });
        let (_, message) = error(resolve(&spec, Base::New(&identity("vm"))));
        assert!(message.contains("windows configuration"), "{message}");

        spec.os_type = Some("BeOS".to_owned());
        let (_, message) = error(resolve(&spec, Base::New(&identity("vm"))));
        assert!(message.contains("'BeOS'"), "{message}");
    }

    #[test]
    fn bad_disks_are_refused_naming_the_field() {
        let cases: Vec<(VmSpec, &str)> = vec![
            (linux(&[(0, 8193)]), "dataDisks[0].diskSizeGB"),
            (linux(&[(0, 0)]), "dataDisks[0].diskSizeGB"),
            (linux(&[(0, -4)]), "dataDisks[0].diskSizeGB"),
            (linux(&[(64, 1)]), "dataDisks[0].lun"),
            (linux(&[(-1, 1)]), "dataDisks[0].lun"),
            (linux(&[(1, 1), (1, 2)]), "dataDisks[1].lun"),
            (
                linux(&(0..33).map(|lun| (lun, 1)).collect::<Vec<_>>()),
                "dataDisks has 33 disks",
            ),
            (
                VmSpec {
                    os_disk: DiskSpec {
                        size_gb: Some(9000),
                        ..DiskSpec::default()
                    },
                    ..linux(&[])
                },
                "osDisk.diskSizeGB",
            ),
            (
                VmSpec {
                    os_disk: DiskSpec {
                        caching: Some("Sometimes".to_owned()),
                        ..DiskSpec::default()
                    },
                    ..linux(&[])
                },
                "osDisk.caching",
            ),
            (
                VmSpec {
                    vm_size: Some("Huge VM".to_owned()),
                    ..linux(&[])
                },
                "vmSize",
            ),
        ];
        for (spec, field) in cases {
            let (code, message) = error(resolve(&spec, Base::New(&identity("vm"))));
            assert_eq!(code, "InvalidParameter", "{field}");
            assert!(message.contains(field), "{field}: {message}");
        }

        let mut no_size = linux(&[(0, 1)]);
        no_size.data_disks[0].disk.size_gb = None;
        let (_, message) = error(resolve(&no_size, Base::New(&identity("vm"))));
        assert!(
            message.contains("dataDisks[0].diskSizeGB is required"),
            "{message}"
        );

        let mut no_lun = linux(&[(0, 1)]);
        no_lun.data_disks[0].lun = None;
        let (_, message) = error(resolve(&no_lun, Base::New(&identity("vm"))));
        assert!(
            message.contains("dataDisks[0].lun is required"),
            "{message}"
        );

        let mut same_name = linux(&[(0, 1), (1, 1)]);
        for d in &mut same_name.data_disks {
            d.disk.name = Some("Data".to_owned());
        }
        let (_, message) = error(resolve(&same_name, Base::New(&identity("vm"))));
        assert!(message.contains("dataDisks[1].name"), "{message}");

        let (code, _) = error(resolve(
            &VmSpec {
                location: None,
                ..linux(&[])
            },
            Base::New(&identity("vm")),
        ));
        assert_eq!(code, "LocationRequired");
    }

    #[test]
    fn vm_names_follow_the_rule() {
        for good in [
            "vm1",
            "My-VM.2",
            "a",
            "x_y",
            "vm_",
            "a.b-c",
            "1",
            &"v".repeat(64),
        ] {
            assert!(validate_vm_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "_vm",
            "vm 1",
            "vm/1",
            "vé",
            &"v".repeat(65),
            ".",
            "..",
            "a.",
            "a-",
            "vm.-",
        ] {
            assert!(
                matches!(
                    validate_vm_name(bad),
                    Err(ResourceError::Invalid { ref code, .. }) if code == "InvalidParameter"
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_update_grows_adds_and_detaches_disks() {
        let current = resolve(&linux(&[(0, 32), (1, 10)]), Base::New(&identity("vm1"))).unwrap();
        let mut spec = linux(&[(0, 64), (2, 5)]);
        spec.os_type = None;
        spec.vm_size = Some("Standard_D4s_v3".to_owned());
        spec.tags = Tags::from([("env".to_owned(), "test".to_owned())]);
        let updated = resolve(&spec, Base::Existing(&current)).unwrap();
        assert_eq!(updated.vm_id, current.vm_id);
        assert_eq!(updated.name, "vm1");
        assert_eq!(updated.vm_size, "Standard_D4s_v3");
        assert_eq!(updated.os_disk, current.os_disk);
        let disks: Vec<(i64, u64, &str)> = updated
            .data_disks
            .iter()
            .map(|d| (d.lun, d.size_gib, d.name.as_str()))
            .collect();
        assert_eq!(disks, [(0, 64, "vm1_DataDisk_0"), (2, 5, "vm1_DataDisk_2")]);
        assert_eq!(updated.tags["env"], "test");
    }

    #[test]
    fn an_update_may_not_shrink_or_change_what_arm_fixes() {
        let current = resolve(&linux(&[(0, 32)]), Base::New(&identity("vm1"))).unwrap();
        let refusals: Vec<(VmSpec, &str, &str)> = vec![
            (linux(&[(0, 16)]), "OperationNotAllowed", "shrinking"),
            (
                VmSpec {
                    os_disk: DiskSpec {
                        size_gb: Some(10),
                        ..DiskSpec::default()
                    },
                    ..linux(&[(0, 32)])
                },
                "OperationNotAllowed",
                "osDisk.diskSizeGB",
            ),
            (
                VmSpec {
                    os_type: Some("Windows".to_owned()),
                    ..linux(&[(0, 32)])
                },
                "PropertyChangeNotAllowed",
                "osDisk.osType",
            ),
            (
                VmSpec {
                    location: Some("eastus".to_owned()),
                    ..linux(&[(0, 32)])
                },
                "PropertyChangeNotAllowed",
                "'location'",
            ),
            (
                VmSpec {
                    os_disk: DiskSpec {
                        name: Some("other".to_owned()),
                        ..DiskSpec::default()
                    },
                    ..linux(&[(0, 32)])
                },
                "PropertyChangeNotAllowed",
                "osDisk.name",
            ),
        ];
        for (spec, wanted_code, wanted_text) in refusals {
            let (code, message) = error(resolve(&spec, Base::Existing(&current)));
            assert_eq!(code, wanted_code, "{message}");
            assert!(message.contains(wanted_text), "{message}");
        }
        let mut renamed = linux(&[(0, 32)]);
        renamed.data_disks[0].disk.name = Some("another".to_owned());
        let (code, message) = error(resolve(&renamed, Base::Existing(&current)));
        assert_eq!(code, "PropertyChangeNotAllowed");
        assert!(
            message.contains("LUN 0 holds disk 'vm1_DataDisk_0'"),
            "{message}"
        );
    }

    #[test]
    fn a_guest_definition_is_validated_too() {
        let mut vm = resolve(&linux(&[]), Base::New(&identity("vm1"))).unwrap();
        vm.vm_id = "not-a-uuid".to_owned();
        assert!(validate(&vm).is_err());
        let mut vm = resolve(&linux(&[]), Base::New(&identity("vm1"))).unwrap();
        vm.data_disks.push(Disk::data(3, "d", MAX_DISK_GIB + 1));
        assert!(validate(&vm).is_err());
        vm.data_disks[0].size_gib = MAX_DISK_GIB;
        assert!(validate(&vm).is_ok());
    }
}
