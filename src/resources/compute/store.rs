//! The SQL of virtual machines, disks and extensions. Every function takes a connection,
//! so that it runs in the caller's transaction or on a pooled connection alike.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use chrono::{DateTime, Utc};

use super::extension_writes::OperationKind;
use super::extensions::{Extension, ExtensionSpec, WantedState};
use super::spec::{Disk, DiskOptions, NetworkInterfaceRef, NewVm, OsProfile, VmImage};
use super::VmDetails;
use crate::resources::lookup::{self, vm_from_row, DiskRecord, PowerState, VM_COLUMNS};
use crate::resources::names::key;
use crate::resources::protection::operations::{OperationError, OperationStatus};
use crate::store::{from_micros, json_column, to_micros};

/// Which VMs to read.
pub enum Scope<'a> {
    Subscription(&'a str),
    Group {
        subscription: &'a str,
        group: &'a str,
    },
    Vm {
        subscription: &'a str,
        group: &'a str,
        name: &'a str,
    },
    VmId(&'a str),
}

impl Scope<'_> {
    /// The condition on `virtual_machine vm`, and its parameters.
    fn condition(&self) -> (&'static str, Vec<String>) {
        match self {
            Self::Subscription(s) => ("vm.subscription_id = $1", vec![(*s).to_owned()]),
            Self::Group {
                subscription,
                group,
            } => (
                "vm.subscription_id = $1 and vm.resource_group_key = $2",
                vec![(*subscription).to_owned(), key(group)],
            ),
            Self::Vm {
                subscription,
                group,
                name,
            } => (
                "vm.subscription_id = $1 and vm.resource_group_key = $2 and vm.name_key = $3",
                vec![(*subscription).to_owned(), key(group), key(name)],
            ),
            Self::VmId(vm_id) => ("vm.vm_id = $1", vec![(*vm_id).to_owned()]),
        }
    }
}

async fn fetch(
    conn: &mut AnyConnection,
    sql: &str,
    params: &[String],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut query = sqlx::query(sql);
    for param in params {
        query = query.bind(param.clone());
    }
    query.fetch_all(conn).await
}

/// The VMs in `scope` with their disks and extensions, by group and name.
pub async fn load(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
) -> Result<Vec<VmDetails>, sqlx::Error> {
    let (condition, params) = scope.condition();
    let vms = fetch(
        conn,
        &format!(
            "select {VM_COLUMNS}, vm.os_profile, vm.image_reference, vm.network_interfaces \
             from virtual_machine vm join resource_group g \
             on g.subscription_id = vm.subscription_id and g.name_key = vm.resource_group_key \
             where {condition} order by vm.resource_group_key, vm.name_key"
        ),
        &params,
    )
    .await?;
    if vms.is_empty() {
        return Ok(Vec::new());
    }
    let mut disks: HashMap<String, Vec<(DiskRecord, DiskOptions)>> = HashMap::new();
    for row in fetch(
        conn,
        &format!(
            "select d.vm_id, d.lun, d.name, d.size_bytes, d.blob_container, d.blob_name, \
             d.storage_account, d.create_option, d.caching, d.storage_account_type \
             from vm_disk d join virtual_machine vm on vm.vm_id = d.vm_id \
             where {condition} order by d.vm_id, d.lun"
        ),
        &params,
    )
    .await?
    {
        disks
            .entry(row.try_get("vm_id")?)
            .or_default()
            .push(disk_from_row(&row)?);
    }
    let mut extensions: HashMap<String, Vec<Extension>> = HashMap::new();
    for row in fetch(
        conn,
        &format!(
            "select e.vm_id, {EXTENSION_COLUMNS} \
             from vm_extension e join virtual_machine vm on vm.vm_id = e.vm_id \
             where {condition} order by e.vm_id, e.name_key"
        ),
        &params,
    )
    .await?
    {
        extensions
            .entry(row.try_get("vm_id")?)
            .or_default()
            .push(extension_from_row(&row)?);
    }
    vms.iter()
        .map(|row| {
            let vm_id: String = row.try_get("vm_id")?;
            let (records, options): (Vec<_>, Vec<_>) =
                disks.remove(&vm_id).unwrap_or_default().into_iter().unzip();
            Ok(VmDetails {
                disk_options: records.iter().map(|d| d.lun).zip(options).collect(),
                os_profile: optional_json::<OsProfile>(row, "os_profile")?,
                image: optional_json::<VmImage>(row, "image_reference")?,
                network_interfaces: optional_json::<Vec<NetworkInterfaceRef>>(
                    row,
                    "network_interfaces",
                )?
                .unwrap_or_default(),
                extensions: extensions.remove(&vm_id).unwrap_or_default(),
                vm: vm_from_row(row, records)?,
            })
        })
        .collect()
}

/// A nullable JSON column.
fn optional_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<Option<T>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| serde_json::from_str::<T>(&text))
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(e),
        })
}

fn disk_from_row(row: &AnyRow) -> Result<(DiskRecord, DiskOptions), sqlx::Error> {
    Ok((
        lookup::disk_from_row(row)?,
        DiskOptions {
            create_option: row.try_get("create_option")?,
            caching: row.try_get("caching")?,
            storage_account_type: row.try_get("storage_account_type")?,
        },
    ))
}

/// The columns of `vm_extension e` that [`extension_from_row`] reads.
const EXTENSION_COLUMNS: &str = "e.name, e.publisher, e.extension_type, \
     e.type_handler_version, e.auto_upgrade_minor_version, e.enable_automatic_upgrade, \
     e.suppress_failures, e.force_update_tag, e.provisioning_state, e.settings, \
     e.handler_status, e.handler_heartbeat, e.updated_at";

fn extension_from_row(row: &AnyRow) -> Result<Extension, sqlx::Error> {
    let flag = |column: &str| Ok::<_, sqlx::Error>(row.try_get::<i64, _>(column)? != 0);
    Ok(Extension {
        name: row.try_get("name")?,
        publisher: row.try_get("publisher")?,
        extension_type: row.try_get("extension_type")?,
        type_handler_version: row.try_get("type_handler_version")?,
        auto_upgrade_minor_version: flag("auto_upgrade_minor_version")?,
        enable_automatic_upgrade: flag("enable_automatic_upgrade")?,
        suppress_failures: flag("suppress_failures")?,
        force_update_tag: row.try_get("force_update_tag")?,
        provisioning_state: row.try_get("provisioning_state")?,
        settings: json_column(row, "settings")?,
        handler_status: nullable_json_column(row, "handler_status")?,
        handler_heartbeat: nullable_json_column(row, "handler_heartbeat")?,
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

/// A JSON text column that may be SQL null.
fn nullable_json_column(row: &AnyRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(e),
        })
    })
    .transpose()
}

/// Takes the write lock on a VM's row for the rest of the transaction (a row lock on
/// PostgreSQL, the database write lock on SQLite). False when there is no such VM.
pub async fn lock_vm(
    conn: &mut AnyConnection,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let locked = sqlx::query(
        "update virtual_machine set name = name \
         where subscription_id = $1 and resource_group_key = $2 and name_key = $3",
    )
    .bind(subscription)
    .bind(key(group))
    .bind(key(name))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(locked > 0)
}

/// The VM's id, location and power state; `None` when there is no such VM.
pub async fn power_of(
    conn: &mut AnyConnection,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Option<(String, String, PowerState)>, sqlx::Error> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "select vm_id, location, power_state from virtual_machine \
         where subscription_id = $1 and resource_group_key = $2 and name_key = $3",
    )
    .bind(subscription)
    .bind(key(group))
    .bind(key(name))
    .fetch_optional(conn)
    .await?;
    row.map(|(vm_id, location, state)| {
        let state = state.parse().map_err(|e| sqlx::Error::ColumnDecode {
            index: "power_state".to_owned(),
            source: Box::new(e),
        })?;
        Ok((vm_id, location, state))
    })
    .transpose()
}

pub async fn set_power_state(
    conn: &mut AnyConnection,
    vm_id: &str,
    state: PowerState,
) -> Result<(), sqlx::Error> {
    sqlx::query("update virtual_machine set power_state = $2 where vm_id = $1")
        .bind(vm_id)
        .bind(state.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_vm(
    conn: &mut AnyConnection,
    vm: &NewVm,
    created_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into virtual_machine (vm_id, subscription_id, resource_group_key, name_key, name, \
         location, os_type, vm_size, tags, origin, created_at, os_profile, image_reference, \
         network_interfaces) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&vm.vm_id)
    .bind(&vm.subscription)
    .bind(key(&vm.group))
    .bind(key(&vm.name))
    .bind(&vm.name)
    .bind(&vm.location)
    .bind(vm.os_type.as_str())
    .bind(&vm.vm_size)
    .bind(serde_json::to_string(&vm.tags).expect("tags serialize"))
    .bind(vm.origin.as_str())
    .bind(to_micros(created_at))
    .bind(os_profile_text(vm))
    .bind(image_text(vm))
    .bind(network_interfaces_text(vm))
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes what an update may change on the VM row: size, tags, OS profile, the image (of
/// a registered VM that had none) and network interfaces.
pub async fn update_vm(conn: &mut AnyConnection, vm: &NewVm) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update virtual_machine set vm_size = $1, tags = $2, os_profile = $3, \
         image_reference = $4, network_interfaces = $5 where vm_id = $6",
    )
    .bind(&vm.vm_size)
    .bind(serde_json::to_string(&vm.tags).expect("tags serialize"))
    .bind(os_profile_text(vm))
    .bind(image_text(vm))
    .bind(network_interfaces_text(vm))
    .bind(&vm.vm_id)
    .execute(conn)
    .await?;
    Ok(())
}

fn os_profile_text(vm: &NewVm) -> Option<String> {
    vm.os_profile
        .as_ref()
        .map(|p| serde_json::to_string(p).expect("an OS profile serializes"))
}

fn image_text(vm: &NewVm) -> Option<String> {
    vm.image
        .as_ref()
        .map(|image| serde_json::to_string(image).expect("an image serializes"))
}

fn network_interfaces_text(vm: &NewVm) -> Option<String> {
    (!vm.network_interfaces.is_empty()).then(|| {
        serde_json::to_string(&vm.network_interfaces).expect("interface references serialize")
    })
}

/// Where a disk's blob lives: its storage account and container.
pub struct DiskPlace<'a> {
    pub account: &'a str,
    pub container: &'a str,
}

pub async fn insert_disk(
    conn: &mut AnyConnection,
    vm_id: &str,
    place: &DiskPlace<'_>,
    disk: &Disk,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into vm_disk (vm_id, lun, name, size_bytes, blob_container, blob_name, \
         create_option, caching, storage_account_type, storage_account) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(vm_id)
    .bind(disk.lun)
    .bind(&disk.name)
    .bind(disk_size_bytes(disk))
    .bind(place.container)
    .bind(disk.blob_name())
    .bind(&disk.options.create_option)
    .bind(&disk.options.caching)
    .bind(&disk.options.storage_account_type)
    .bind(place.account)
    .execute(&mut *conn)
    .await?;
    task_inputs_changed(conn, vm_id).await
}

/// Writes a kept disk's size and options.
pub async fn update_disk(
    conn: &mut AnyConnection,
    vm_id: &str,
    disk: &Disk,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update vm_disk set size_bytes = $1, create_option = $2, caching = $3, \
         storage_account_type = $4 where vm_id = $5 and lun = $6",
    )
    .bind(disk_size_bytes(disk))
    .bind(&disk.options.create_option)
    .bind(&disk.options.caching)
    .bind(&disk.options.storage_account_type)
    .bind(vm_id)
    .bind(disk.lun)
    .execute(conn)
    .await?;
    Ok(())
}

fn disk_size_bytes(disk: &Disk) -> i64 {
    i64::try_from(disk.size_bytes()).expect("disk sizes are validated to 8 TiB")
}

pub async fn delete_disk(
    conn: &mut AnyConnection,
    vm_id: &str,
    lun: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from vm_disk where vm_id = $1 and lun = $2")
        .bind(vm_id)
        .bind(lun)
        .execute(&mut *conn)
        .await?;
    task_inputs_changed(conn, vm_id).await
}

/// Counts a change to what the VM's backup tasks are minted from (a disk attached or
/// detached), in the transaction that makes it: a batch minted before the change is minted
/// again when it is written.
async fn task_inputs_changed(conn: &mut AnyConnection, vm_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update virtual_machine set task_revision = task_revision + 1 where vm_id = $1")
        .bind(vm_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a VM's rows: extension operations, extensions, disks, the VM. Protected items are not touched.
pub async fn delete_vm(conn: &mut AnyConnection, vm_id: &str) -> Result<(), sqlx::Error> {
    for table in [
        "vm_extension_operation",
        "vm_extension",
        "vm_disk",
        "virtual_machine",
    ] {
        sqlx::query(&format!("delete from {table} where vm_id = $1"))
            .bind(vm_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Which of `names` (matched case-insensitively) the group's other VMs already use, each
/// with the VM it belongs to. Looks up only those names (index `vm_disk_by_name`), so a
/// VM PUT costs the same in a group of ten VMs or of a hundred thousand.
pub async fn disk_names_in_group(
    conn: &mut AnyConnection,
    subscription: &str,
    group: &str,
    except_vm_id: &str,
    names: &[&str],
) -> Result<BTreeMap<String, String>, sqlx::Error> {
    let mut taken = BTreeMap::new();
    for name in names {
        // Two steps, so that every planner starts from the name: joined in one query,
        // PostgreSQL with stale statistics walked the group's VMs instead.
        let holders: Vec<String> =
            sqlx::query_scalar("select vm_id from vm_disk where lower(name) = $1")
                .bind(key(name))
                .fetch_all(&mut *conn)
                .await?;
        for holder in holders.iter().filter(|id| id.as_str() != except_vm_id) {
            let owner: Option<String> = sqlx::query_scalar(
                "select name from virtual_machine \
                 where vm_id = $1 and subscription_id = $2 and resource_group_key = $3",
            )
            .bind(holder)
            .bind(subscription)
            .bind(key(group))
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(owner) = owner {
                taken.insert(key(name), owner);
            }
        }
    }
    Ok(taken)
}

pub async fn upsert_extension(
    conn: &mut AnyConnection,
    vm_id: &str,
    extension: &Extension,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into vm_extension (vm_id, name_key, name, publisher, extension_type, \
         type_handler_version, auto_upgrade_minor_version, provisioning_state, settings, \
         updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         on conflict (vm_id, name_key) do update set name = excluded.name, \
         publisher = excluded.publisher, extension_type = excluded.extension_type, \
         type_handler_version = excluded.type_handler_version, \
         auto_upgrade_minor_version = excluded.auto_upgrade_minor_version, \
         provisioning_state = excluded.provisioning_state, settings = excluded.settings, \
         updated_at = excluded.updated_at",
    )
    .bind(vm_id)
    .bind(key(&extension.name))
    .bind(&extension.name)
    .bind(&extension.publisher)
    .bind(&extension.extension_type)
    .bind(&extension.type_handler_version)
    .bind(i64::from(extension.auto_upgrade_minor_version))
    .bind(&extension.provisioning_state)
    .bind(serde_json::to_string(&extension.settings).expect("settings serialize"))
    .bind(to_micros(extension.updated_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// An extension as a write finds it: what ARM shows, and what was last published.
pub struct StoredExtension {
    pub extension: Extension,
    pub sequence_number: i64,
    pub handler_state: WantedState,
    /// The `handlerSettings` of the goal state (protected settings encrypted).
    pub handler_settings: Option<Value>,
    pub protected_settings_sha256: Option<String>,
}

/// The VM's extension `name` (case-insensitively), if it has one.
pub async fn extension_for_write(
    conn: &mut AnyConnection,
    vm_id: &str,
    name: &str,
) -> Result<Option<StoredExtension>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "select {EXTENSION_COLUMNS}, e.sequence_number, e.handler_state, e.handler_settings, \
         e.protected_settings_sha256 from vm_extension e where e.vm_id = $1 and e.name_key = $2"
    ))
    .bind(vm_id)
    .bind(key(name))
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        let state: String = row.try_get("handler_state")?;
        Ok(StoredExtension {
            extension: extension_from_row(&row)?,
            sequence_number: row.try_get("sequence_number")?,
            handler_state: state.parse().map_err(|e| sqlx::Error::ColumnDecode {
                index: "handler_state".to_owned(),
                source: Box::new(e),
            })?,
            handler_settings: nullable_json_column(&row, "handler_settings")?,
            protected_settings_sha256: row.try_get("protected_settings_sha256")?,
        })
    })
    .transpose()
}

/// An extension row as an ARM write leaves it, enabled.
pub struct ExtensionRow<'a> {
    pub name: &'a str,
    pub spec: &'a ExtensionSpec,
    pub provisioning_state: &'a str,
    pub sequence_number: i64,
    pub handler_settings: &'a Value,
    pub protected_settings_sha256: Option<&'a str>,
    pub updated_at: DateTime<Utc>,
}

/// Inserts or replaces the VM's extension `row.name` (the reported status stays).
pub async fn put_extension_row(
    conn: &mut AnyConnection,
    vm_id: &str,
    row: &ExtensionRow<'_>,
) -> Result<(), sqlx::Error> {
    let spec = row.spec;
    sqlx::query(
        "insert into vm_extension (vm_id, name_key, name, publisher, extension_type, \
         type_handler_version, auto_upgrade_minor_version, enable_automatic_upgrade, \
         suppress_failures, force_update_tag, provisioning_state, settings, updated_at, \
         sequence_number, handler_settings, protected_settings_sha256, handler_state) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'enabled') \
         on conflict (vm_id, name_key) do update set name = excluded.name, \
         publisher = excluded.publisher, extension_type = excluded.extension_type, \
         type_handler_version = excluded.type_handler_version, \
         auto_upgrade_minor_version = excluded.auto_upgrade_minor_version, \
         enable_automatic_upgrade = excluded.enable_automatic_upgrade, \
         suppress_failures = excluded.suppress_failures, \
         force_update_tag = excluded.force_update_tag, \
         provisioning_state = excluded.provisioning_state, settings = excluded.settings, \
         updated_at = excluded.updated_at, sequence_number = excluded.sequence_number, \
         handler_settings = excluded.handler_settings, \
         protected_settings_sha256 = excluded.protected_settings_sha256, \
         handler_state = 'enabled'",
    )
    .bind(vm_id)
    .bind(key(row.name))
    .bind(row.name)
    .bind(&spec.publisher)
    .bind(&spec.extension_type)
    .bind(&spec.type_handler_version)
    .bind(i64::from(spec.auto_upgrade_minor_version))
    .bind(i64::from(spec.enable_automatic_upgrade))
    .bind(i64::from(spec.suppress_failures))
    .bind(spec.force_update_tag.as_deref())
    .bind(row.provisioning_state)
    .bind(serde_json::to_string(&spec.settings).expect("settings serialize"))
    .bind(to_micros(row.updated_at))
    .bind(row.sequence_number)
    .bind(row.handler_settings.to_string())
    .bind(row.protected_settings_sha256)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the extension for uninstalling: provisioning state `Deleting`.
pub async fn mark_uninstall(
    conn: &mut AnyConnection,
    vm_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update vm_extension set handler_state = 'uninstall', provisioning_state = 'Deleting', \
         updated_at = $3 where vm_id = $1 and name_key = $2",
    )
    .bind(vm_id)
    .bind(key(name))
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the extension's row and settles the deletions waiting for it as succeeded.
/// `only_uninstalling`: only if it is marked for uninstalling. Whether a row went.
pub async fn delete_extension(
    conn: &mut AnyConnection,
    vm_id: &str,
    name: &str,
    only_uninstalling: bool,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let condition = if only_uninstalling {
        " and handler_state = 'uninstall'"
    } else {
        ""
    };
    let deleted = sqlx::query(&format!(
        "delete from vm_extension where vm_id = $1 and name_key = $2{condition}"
    ))
    .bind(vm_id)
    .bind(key(name))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if deleted > 0 {
        sqlx::query(
            "update vm_extension_operation set status = 'Succeeded', ended_at = $3 \
             where vm_id = $1 and name_key = $2 and kind = 'delete' and status is null",
        )
        .bind(vm_id)
        .bind(key(name))
        .bind(to_micros(now))
        .execute(conn)
        .await?;
    }
    Ok(deleted > 0)
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub status: OperationStatus,
    pub error: Option<OperationError>,
    pub ended_at: DateTime<Utc>,
}

/// A stored extension operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRow {
    pub operation_id: String,
    pub subscription_id: String,
    pub vm_id: String,
    pub name: String,
    pub kind: OperationKind,
    pub sequence_number: i64,
    pub started_at: DateTime<Utc>,
    /// `None` while its status is read from the extension.
    pub settled: Option<Settled>,
}

pub async fn insert_operation(
    conn: &mut AnyConnection,
    operation: &OperationRow,
) -> Result<(), sqlx::Error> {
    let settled = operation.settled.as_ref();
    sqlx::query(
        "insert into vm_extension_operation (operation_id, subscription_id, vm_id, name_key, \
         name, kind, sequence_number, started_at, status, error_code, error_message, ended_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&operation.operation_id)
    .bind(&operation.subscription_id)
    .bind(&operation.vm_id)
    .bind(key(&operation.name))
    .bind(&operation.name)
    .bind(operation.kind.as_str())
    .bind(operation.sequence_number)
    .bind(to_micros(operation.started_at))
    .bind(settled.map(|s| s.status.as_str()))
    .bind(
        settled
            .and_then(|s| s.error.as_ref())
            .map(|e| e.code.clone()),
    )
    .bind(
        settled
            .and_then(|s| s.error.as_ref())
            .map(|e| e.message.clone()),
    )
    .bind(settled.map(|s| to_micros(s.ended_at)))
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes how an unsettled operation ended; a settled one stays as it was.
pub async fn settle_operation(
    conn: &mut AnyConnection,
    operation_id: &str,
    settled: &Settled,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update vm_extension_operation set status = $2, error_code = $3, error_message = $4, \
         ended_at = $5 where operation_id = $1 and status is null",
    )
    .bind(operation_id)
    .bind(settled.status.as_str())
    .bind(settled.error.as_ref().map(|e| e.code.clone()))
    .bind(settled.error.as_ref().map(|e| e.message.clone()))
    .bind(to_micros(settled.ended_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// The extension's provisioning, still `Creating` or `Updating` for `sequence_number`,
/// has failed (it timed out).
pub async fn fail_provisioning(
    conn: &mut AnyConnection,
    vm_id: &str,
    name: &str,
    sequence_number: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update vm_extension set provisioning_state = 'Failed', updated_at = $4 \
         where vm_id = $1 and name_key = $2 and sequence_number = $3 \
         and provisioning_state in ('Creating', 'Updating')",
    )
    .bind(vm_id)
    .bind(key(name))
    .bind(sequence_number)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

const OPERATION_COLUMNS: &str = "operation_id, subscription_id, vm_id, name, kind, \
     sequence_number, started_at, status, error_code, error_message, ended_at";

pub async fn operation(
    conn: &mut AnyConnection,
    operation_id: &str,
) -> Result<Option<OperationRow>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "select {OPERATION_COLUMNS} from vm_extension_operation where operation_id = $1"
    ))
    .bind(operation_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(operation_from_row).transpose()
}

/// The extension's operations that have not settled.
pub async fn unsettled_operations(
    conn: &mut AnyConnection,
    vm_id: &str,
    name: &str,
) -> Result<Vec<OperationRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "select {OPERATION_COLUMNS} from vm_extension_operation \
         where vm_id = $1 and name_key = $2 and status is null"
    ))
    .bind(vm_id)
    .bind(key(name))
    .fetch_all(conn)
    .await?;
    rows.iter().map(operation_from_row).collect()
}

fn operation_from_row(row: &AnyRow) -> Result<OperationRow, sqlx::Error> {
    let decode = |column: &str, e: strum::ParseError| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    };
    let kind: String = row.try_get("kind")?;
    let status: Option<String> = row.try_get("status")?;
    let ended_at: Option<i64> = row.try_get("ended_at")?;
    let error_code: Option<String> = row.try_get("error_code")?;
    let error_message: Option<String> = row.try_get("error_message")?;
    let settled = match (status, ended_at) {
        (Some(status), Some(ended_at)) => Some(Settled {
            status: status.parse().map_err(|e| decode("status", e))?,
            error: error_code.map(|code| OperationError {
                code,
                message: error_message.unwrap_or_default(),
            }),
            ended_at: from_micros(ended_at),
        }),
        _ => None,
    };
    Ok(OperationRow {
        operation_id: row.try_get("operation_id")?,
        subscription_id: row.try_get("subscription_id")?,
        vm_id: row.try_get("vm_id")?,
        name: row.try_get("name")?,
        kind: kind.parse().map_err(|e| decode("kind", e))?,
        sequence_number: row.try_get("sequence_number")?,
        started_at: from_micros(row.try_get("started_at")?),
        settled,
    })
}
