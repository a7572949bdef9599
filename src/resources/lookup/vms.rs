//! Virtual machines, with their disks, by ARM name or by `vmId`.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{group, Tags};
use crate::resources::names::key;
use crate::resources::ResourceError;
use crate::store::{from_micros, json_column, Db};

/// A VM's operating system (`storageProfile.osDisk.osType`); ARM accepts it in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(ascii_case_insensitive)]
pub enum OsType {
    Windows,
    Linux,
}

impl OsType {
    /// The name ARM shows (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a VM's power stands (`PowerState/<name>` in its instance view). Only a running VM
/// has a guest agent to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum PowerState {
    Running,
    /// Powered off (`az vm stop`): still allocated, billed.
    Stopped,
    Deallocated,
}

impl PowerState {
    /// The stored name, as the status code spells it (`running`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A disk: one page blob in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskRecord {
    /// -1 for the OS disk, as the snapshot extension numbers it.
    pub lun: i64,
    pub name: String,
    pub size_bytes: i64,
    pub blob_container: String,
    pub blob_name: String,
    /// The storage account the blob is in; `None`: the primary.
    pub storage_account: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VmRecord {
    pub vm_id: String,
    pub subscription_id: String,
    /// The resource group's name as created.
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub os_type: OsType,
    pub vm_size: String,
    pub tags: Tags,
    /// `arm` (created with PUT) or `guest` (registered by an agent).
    pub origin: String,
    pub created_at: DateTime<Utc>,
    pub power_state: PowerState,
    /// OS disk first, then data disks by LUN.
    pub disks: Vec<DiskRecord>,
}

/// A VM's columns, as [`vm_from_row`] reads them (`vm` the VM, `g` its resource group).
pub const VM_COLUMNS: &str = "vm.vm_id, vm.subscription_id, g.name as group_name, vm.name, \
     vm.location, vm.os_type, vm.vm_size, vm.tags, vm.origin, vm.created_at, \
     vm.power_state";

/// A VM by subscription, group and name. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn vm(
    db: &Db,
    subscription: &str,
    group_name: &str,
    name: &str,
) -> Result<VmRecord, ResourceError> {
    let row = sqlx::query(&format!(
        "select {VM_COLUMNS} from virtual_machine vm join resource_group g \
         on g.subscription_id = vm.subscription_id and g.name_key = vm.resource_group_key \
         where vm.subscription_id = $1 and vm.resource_group_key = $2 and vm.name_key = $3"
    ))
    .bind(subscription)
    .bind(key(group_name))
    .bind(key(name))
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => vm_with_disks(db, &row).await,
        None => {
            group(db, subscription, group_name).await?;
            Err(ResourceError::resource_not_found(
                "Microsoft.Compute/virtualMachines",
                name,
                group_name,
            ))
        }
    }
}

/// A VM by its `vmId`.
pub async fn vm_by_vm_id(db: &Db, vm_id: &str) -> Result<Option<VmRecord>, ResourceError> {
    let row = sqlx::query(&format!(
        "select {VM_COLUMNS} from virtual_machine vm join resource_group g \
         on g.subscription_id = vm.subscription_id and g.name_key = vm.resource_group_key \
         where vm.vm_id = $1"
    ))
    .bind(vm_id)
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => Ok(Some(vm_with_disks(db, &row).await?)),
        None => Ok(None),
    }
}

/// Builds a VM from a row selected with `VM_COLUMNS`, reading its disks.
async fn vm_with_disks(db: &Db, row: &AnyRow) -> Result<VmRecord, ResourceError> {
    let vm_id: String = row.try_get("vm_id")?;
    let disks = sqlx::query(
        "select lun, name, size_bytes, blob_container, blob_name, storage_account from vm_disk \
         where vm_id = $1 order by lun",
    )
    .bind(&vm_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(disk_from_row)
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(vm_from_row(row, disks)?)
}

/// A VM from a row selected with [`VM_COLUMNS`], with its disks.
pub fn vm_from_row(row: &AnyRow, disks: Vec<DiskRecord>) -> Result<VmRecord, sqlx::Error> {
    let os_type: String = row.try_get("os_type")?;
    let power_state: String = row.try_get("power_state")?;
    Ok(VmRecord {
        vm_id: row.try_get("vm_id")?,
        subscription_id: row.try_get("subscription_id")?,
        resource_group: row.try_get("group_name")?,
        name: row.try_get("name")?,
        location: row.try_get("location")?,
        os_type: os_type.parse().unwrap_or(OsType::Linux),
        vm_size: row.try_get("vm_size")?,
        tags: json_column(row, "tags")?,
        origin: row.try_get("origin")?,
        created_at: from_micros(row.try_get("created_at")?),
        power_state: power_state.parse().map_err(|e| sqlx::Error::ColumnDecode {
            index: "power_state".to_owned(),
            source: Box::new(e),
        })?,
        disks,
    })
}

/// A disk from a `vm_disk` row (`lun`, `name`, `size_bytes`, `blob_container`, `blob_name`,
/// `storage_account`).
pub fn disk_from_row(row: &AnyRow) -> Result<DiskRecord, sqlx::Error> {
    Ok(DiskRecord {
        lun: row.try_get("lun")?,
        name: row.try_get("name")?,
        size_bytes: row.try_get("size_bytes")?,
        blob_container: row.try_get("blob_container")?,
        blob_name: row.try_get("blob_name")?,
        storage_account: row.try_get("storage_account")?,
    })
}
