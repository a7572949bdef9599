//! Finding the resources other resources hang off: resource groups, virtual machines,
//! vaults and policies, by their ARM names (case-insensitively). Each answers the ARM 404
//! its parent path calls for when the resource is missing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::names::key;
use super::ResourceError;
use crate::store::{from_micros, json_column, Db};

pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub subscription_id: String,
    pub name: String,
    pub location: String,
    pub tags: Tags,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsType {
    Windows,
    Linux,
}

impl OsType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Windows => "Windows",
            Self::Linux => "Linux",
        }
    }

    /// Parses an OS type as ARM accepts it (any case).
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("windows") {
            Some(Self::Windows)
        } else if text.eq_ignore_ascii_case("linux") {
            Some(Self::Linux)
        } else {
            None
        }
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
    /// OS disk first, then data disks by LUN.
    pub disks: Vec<DiskRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VaultRecord {
    pub vault_id: String,
    pub subscription_id: String,
    /// The resource group's name as created.
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub sku_name: String,
    pub tags: Tags,
    pub etag: String,
    pub last_refresh_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl VaultRecord {
    /// The vault's ARM id, as responses spell it.
    pub fn arm_id(&self) -> String {
        super::ids::vault_id(&self.subscription_id, &self.resource_group, &self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub vault_id: String,
    pub name: String,
    /// The stored AzureIaaSVMProtectionPolicy properties (without `protectedItemsCount`).
    pub properties: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

pub async fn group(db: &Db, subscription: &str, group: &str) -> Result<GroupRecord, ResourceError> {
    let row = sqlx::query(
        "select subscription_id, name, location, tags, created_at from resource_group \
         where subscription_id = $1 and name_key = $2",
    )
    .bind(subscription)
    .bind(key(group))
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| ResourceError::resource_group_not_found(group))?;
    Ok(GroupRecord {
        subscription_id: row.try_get("subscription_id")?,
        name: row.try_get("name")?,
        location: row.try_get("location")?,
        tags: json_column(&row, "tags")?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}

const VM_COLUMNS: &str = "vm.vm_id, vm.subscription_id, g.name as group_name, vm.name, \
     vm.location, vm.os_type, vm.vm_size, vm.tags, vm.origin, vm.created_at";

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
pub async fn vm_with_disks(db: &Db, row: &AnyRow) -> Result<VmRecord, ResourceError> {
    let vm_id: String = row.try_get("vm_id")?;
    let disks = sqlx::query(
        "select lun, name, size_bytes, blob_container, blob_name from vm_disk \
         where vm_id = $1 order by lun",
    )
    .bind(&vm_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|d| {
        Ok(DiskRecord {
            lun: d.try_get("lun")?,
            name: d.try_get("name")?,
            size_bytes: d.try_get("size_bytes")?,
            blob_container: d.try_get("blob_container")?,
            blob_name: d.try_get("blob_name")?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let os_type: String = row.try_get("os_type")?;
    Ok(VmRecord {
        vm_id,
        subscription_id: row.try_get("subscription_id")?,
        resource_group: row.try_get("group_name")?,
        name: row.try_get("name")?,
        location: row.try_get("location")?,
        os_type: OsType::parse(&os_type).unwrap_or(OsType::Linux),
        vm_size: row.try_get("vm_size")?,
        tags: json_column(row, "tags")?,
        origin: row.try_get("origin")?,
        created_at: from_micros(row.try_get("created_at")?),
        disks,
    })
}

pub const VAULT_COLUMNS: &str = "v.vault_id, v.subscription_id, g.name as group_name, v.name, \
     v.location, v.sku_name, v.tags, v.etag, v.last_refresh_at, v.created_at";

/// A vault by subscription, group and name. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn vault(
    db: &Db,
    subscription: &str,
    group_name: &str,
    name: &str,
) -> Result<VaultRecord, ResourceError> {
    let row = sqlx::query(&format!(
        "select {VAULT_COLUMNS} from vault v join resource_group g \
         on g.subscription_id = v.subscription_id and g.name_key = v.resource_group_key \
         where v.subscription_id = $1 and v.resource_group_key = $2 and v.name_key = $3"
    ))
    .bind(subscription)
    .bind(key(group_name))
    .bind(key(name))
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(row) => vault_from_row(&row),
        None => {
            group(db, subscription, group_name).await?;
            Err(ResourceError::resource_not_found(
                "Microsoft.RecoveryServices/vaults",
                name,
                group_name,
            ))
        }
    }
}

/// Builds a vault from a row selected with `VAULT_COLUMNS`.
pub fn vault_from_row(row: &AnyRow) -> Result<VaultRecord, ResourceError> {
    vault_from_columns(row, "")
}

/// `VAULT_COLUMNS` renamed with a `v_` prefix, for queries that join a vault to rows
/// whose columns have the same names.
pub const VAULT_COLUMNS_PREFIXED: &str = "v.vault_id as v_vault_id, \
     v.subscription_id as v_subscription_id, g.name as v_group_name, v.name as v_name, \
     v.location as v_location, v.sku_name as v_sku_name, v.tags as v_tags, v.etag as v_etag, \
     v.last_refresh_at as v_last_refresh_at, v.created_at as v_created_at";

/// Builds a vault from a row selected with `VAULT_COLUMNS_PREFIXED`.
pub fn vault_from_prefixed_row(row: &AnyRow) -> Result<VaultRecord, ResourceError> {
    vault_from_columns(row, "v_")
}

fn vault_from_columns(row: &AnyRow, prefix: &str) -> Result<VaultRecord, ResourceError> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(VaultRecord {
        vault_id: row.try_get(column("vault_id").as_str())?,
        subscription_id: row.try_get(column("subscription_id").as_str())?,
        resource_group: row.try_get(column("group_name").as_str())?,
        name: row.try_get(column("name").as_str())?,
        location: row.try_get(column("location").as_str())?,
        sku_name: row.try_get(column("sku_name").as_str())?,
        tags: json_column(row, &column("tags"))?,
        etag: row.try_get(column("etag").as_str())?,
        last_refresh_at: row
            .try_get::<Option<i64>, _>(column("last_refresh_at").as_str())?
            .map(from_micros),
        created_at: from_micros(row.try_get(column("created_at").as_str())?),
    })
}

/// A policy of a vault by name. 404 `BMSUserErrorPolicyNotFound` when missing.
pub async fn policy(
    db: &Db,
    vault: &VaultRecord,
    name: &str,
) -> Result<PolicyRecord, ResourceError> {
    let row = sqlx::query(
        "select name, properties, created_at from backup_policy where vault_id = $1 and name_key = $2",
    )
    .bind(&vault.vault_id)
    .bind(key(name))
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| {
        ResourceError::not_found(
            "BMSUserErrorPolicyNotFound",
            format!("Policy '{name}' was not found in vault '{}'.", vault.name),
        )
    })?;
    Ok(PolicyRecord {
        vault_id: vault.vault_id.clone(),
        name: row.try_get("name")?,
        properties: json_column(&row, "properties")?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}
