//! Virtual machines (Microsoft.Compute/virtualMachines) and their extensions. Every disk
//! is a page blob in the service's blob storage: one container per VM (named from its vmId),
//! `osdisk.vhd` and `datadisk-<lun>.vhd`, sized exactly the disk's GiB.
//!
//! The blobs and the database move together. A write takes the VM's row lock, makes the
//! blob changes, writes the rows and commits; if anything fails before the commit, the blob
//! changes are undone (new blobs and containers deleted, grown blobs shrunk back), so a
//! failed request leaves neither rows nor blobs behind. What can only be removed once the
//! rows are gone (detached disks, a deleted VM's container) is removed after the commit.

mod extension_writes;
mod extensions;
mod instance_view;
mod power;
mod spec;
mod store;

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use crate::clock::Clock;
use crate::resources::groups::Upserted;
use crate::resources::lookup::{self, VmRecord};
use crate::resources::ResourceError;
use crate::resources::{ids, network};
use crate::storage::{BlobPath, StorageAccounts, StorageError};
use crate::store::Db;
pub use extension_writes::{
    delete_extension, extension_operation, remove_uninstalled_extension, write_extension,
    ExtensionAddress, ExtensionDeletion, ExtensionOperation, ExtensionWritten, OperationKind,
};
pub use extensions::{
    upsert_extension, Extension, ExtensionChange, ProtectedSettings, WantedState, WriteMode,
};
pub use instance_view::{
    extension_instance_view, vm_instance_view, ExtensionInstanceView, InstanceViewStatus,
    VmAgentView, VmInstanceView,
};
pub use power::{change_power, PowerAction, PowerChanged};
pub use spec::{
    container_name, resolve, validate, validate_vm_name, Base, DataDiskSpec, Disk, DiskOptions,
    DiskSpec, NetworkInterfaceRef, NewVm, Origin, OsProfile, OsProfileSpec, VmIdentity, VmImage,
    VmSpec, DEFAULT_VM_SIZE, OS_DISK_LUN,
};
use store::DiskPlace;
use store::Scope;

/// A VM as ARM clients read it.
#[derive(Debug, Clone, PartialEq)]
pub struct VmDetails {
    pub vm: VmRecord,
    /// What ARM reports about each disk beyond name and size, by LUN (the OS disk under -1).
    pub disk_options: BTreeMap<i64, DiskOptions>,
    pub os_profile: Option<OsProfile>,
    pub image: Option<spec::VmImage>,
    pub network_interfaces: Vec<spec::NetworkInterfaceRef>,
    /// By name.
    pub extensions: Vec<Extension>,
}

impl VmDetails {
    /// The VM's definition, as an update resolves a PUT against it.
    pub fn definition(&self) -> NewVm {
        let disk = |record: &lookup::DiskRecord| Disk {
            lun: record.lun,
            name: record.name.clone(),
            size_gib: u64::try_from(record.size_bytes).unwrap_or_default() / spec::GIB,
            options: self
                .disk_options
                .get(&record.lun)
                .cloned()
                .unwrap_or_else(|| Disk::data(record.lun, "", 0).options),
        };
        let vm = &self.vm;
        NewVm {
            vm_id: vm.vm_id.clone(),
            subscription: vm.subscription_id.clone(),
            group: vm.resource_group.clone(),
            name: vm.name.clone(),
            location: vm.location.clone(),
            os_type: vm.os_type,
            vm_size: vm.vm_size.clone(),
            os_disk: vm
                .disks
                .iter()
                .find(|d| d.lun == OS_DISK_LUN)
                .map(disk)
                .unwrap_or_else(|| Disk::os("", 0)),
            data_disks: vm
                .disks
                .iter()
                .filter(|d| d.lun != OS_DISK_LUN)
                .map(disk)
                .collect(),
            os_profile: self.os_profile.clone(),
            image: self.image.clone(),
            network_interfaces: self.network_interfaces.clone(),
            origin: if vm.origin == Origin::Guest.as_str() {
                Origin::Guest
            } else {
                Origin::Arm
            },
            tags: vm.tags.clone(),
        }
    }
}

/// A VM by subscription, group and name. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn get_vm(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<VmDetails, ResourceError> {
    let mut conn = db.pool().acquire().await?;
    let scope = Scope::Vm {
        subscription,
        group,
        name,
    };
    match store::load(&mut conn, scope).await?.pop() {
        Some(vm) => Ok(vm),
        None => Err(vm_not_found(db, subscription, group, name).await),
    }
}

/// The VMs of a group (404 `ResourceGroupNotFound`) or, with no group, of the
/// subscription; by group and name.
pub async fn list_vms(
    db: &Db,
    subscription: &str,
    group: Option<&str>,
) -> Result<Vec<VmDetails>, ResourceError> {
    let scope = match group {
        Some(group) => {
            lookup::group(db, subscription, group).await?;
            Scope::Group {
                subscription,
                group,
            }
        }
        None => Scope::Subscription(subscription),
    };
    let mut conn = db.pool().acquire().await?;
    Ok(store::load(&mut conn, scope).await?)
}

/// Create-or-update from an ARM PUT. A new VM gets a fresh vmId and its disks' blobs; an
/// existing one may grow disks, gain and lose data disks, and change size, tags and OS
/// profile settings.
pub async fn put_vm(
    db: &Db,
    accounts: &StorageAccounts,
    clock: &Clock,
    subscription: &str,
    group: &str,
    name: &str,
    spec: &VmSpec,
) -> Result<(VmDetails, Upserted), ResourceError> {
    validate_vm_name(name)?;
    // The VM's network interfaces are checked before it is written and claimed after (their
    // writes take the database's write lock, which the VM's transaction holds on SQLite).
    let arm_id = ids::vm_id(subscription, group, name);
    for nic in spec.network_interfaces.iter().flatten() {
        network::check_attachable(db, &nic.id, &arm_id).await?;
    }
    let previous = vm_interfaces(db, subscription, group, name).await?;
    let (vm, upserted) = write_vm(db, accounts, clock, subscription, group, name, spec).await?;
    let arm_id = ids::vm_id(subscription, &vm.vm.resource_group, &vm.vm.name);
    for nic in &vm.network_interfaces {
        network::attach_virtual_machine(db, clock.now(), &nic.id, &arm_id).await?;
    }
    for nic in previous.iter().filter(|old| {
        !vm.network_interfaces
            .iter()
            .any(|new| new.id.eq_ignore_ascii_case(&old.id))
    }) {
        network::detach_virtual_machine(db, clock.now(), &nic.id, &arm_id).await?;
    }
    Ok((vm, upserted))
}

/// The network interfaces of a VM (none when there is no such VM).
async fn vm_interfaces(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Vec<NetworkInterfaceRef>, ResourceError> {
    let mut conn = db.pool().acquire().await?;
    let scope = Scope::Vm {
        subscription,
        group,
        name,
    };
    Ok(store::load(&mut conn, scope)
        .await?
        .pop()
        .map(|vm| vm.network_interfaces)
        .unwrap_or_default())
}

/// Creates or updates the VM's row, disks and blobs.
async fn write_vm(
    db: &Db,
    accounts: &StorageAccounts,
    clock: &Clock,
    subscription: &str,
    group: &str,
    name: &str,
    spec: &VmSpec,
) -> Result<(VmDetails, Upserted), ResourceError> {
    let group = lookup::group(db, subscription, group).await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = db.begin_write().await?;
        if store::lock_vm(&mut tx, subscription, &group.name, name).await? {
            let scope = Scope::Vm {
                subscription,
                group: &group.name,
                name,
            };
            let current = store::load(&mut tx, scope)
                .await?
                .pop()
                .expect("the VM row is locked");
            let target = resolve(spec, Base::Existing(&current.definition()))?;
            update_in(tx, accounts, &current, &target).await?;
            return Ok((reload(db, &target.vm_id).await?, Upserted::Updated));
        }
        let identity = VmIdentity {
            vm_id: uuid::Uuid::new_v4().to_string(),
            subscription: subscription.to_owned(),
            group: group.name.clone(),
            name: name.to_owned(),
            origin: Origin::Arm,
        };
        let target = resolve(spec, Base::New(&identity))?;
        match create_in(tx, accounts, clock, &target).await {
            Ok(()) => return Ok((reload(db, &target.vm_id).await?, Upserted::Created)),
            // A concurrent PUT created it first: this one becomes an update.
            Err(CreateError::AlreadyExists(_)) if attempt == 1 => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// Creates a VM from a complete definition: ARM PUT, or an agent registering a VM through
/// the guest API (`origin: Guest`). 404 when the group is missing, 409 `Conflict` when the
/// name or vmId is taken.
pub async fn create_vm(
    db: &Db,
    accounts: &StorageAccounts,
    clock: &Clock,
    vm: NewVm,
) -> Result<VmDetails, ResourceError> {
    validate(&vm)?;
    let group = lookup::group(db, &vm.subscription, &vm.group).await?;
    let vm = NewVm {
        group: group.name,
        ..vm
    };
    let tx = db.begin_write().await?;
    create_in(tx, accounts, clock, &vm).await?;
    reload(db, &vm.vm_id).await
}

/// Whether a delete found something to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
}

/// Deletes a VM: its rows, then its disks' container. The protected items of the VM stay
/// (its backups remain in the vault). 404 `ResourceGroupNotFound` when the group is missing.
pub async fn delete_vm(
    db: &Db,
    accounts: &StorageAccounts,
    clock: &Clock,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Deleted, ResourceError> {
    let mut tx = db.begin_write().await?;
    if !store::lock_vm(&mut tx, subscription, group, name).await? {
        drop(tx);
        lookup::group(db, subscription, group).await?;
        return Ok(Deleted::NotFound);
    }
    let scope = Scope::Vm {
        subscription,
        group,
        name,
    };
    let vm = store::load(&mut tx, scope)
        .await?
        .pop()
        .expect("the VM row is locked");
    store::delete_vm(&mut tx, &vm.vm.vm_id).await?;
    tx.commit().await?;
    let arm_id = ids::vm_id(subscription, &vm.vm.resource_group, &vm.vm.name);
    for nic in &vm.network_interfaces {
        network::detach_virtual_machine(db, clock.now(), &nic.id, &arm_id).await?;
    }
    let mut containers: Vec<(Option<&str>, &str)> = vm
        .vm
        .disks
        .iter()
        .map(|d| (d.storage_account.as_deref(), d.blob_container.as_str()))
        .collect();
    containers.dedup();
    for (account, container) in containers {
        match accounts.named(account)?.delete_container(container).await {
            Ok(()) | Err(StorageError::ContainerNotFound) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Deleted::Deleted)
}

async fn reload(db: &Db, vm_id: &str) -> Result<VmDetails, ResourceError> {
    let mut conn = db.pool().acquire().await?;
    store::load(&mut conn, Scope::VmId(vm_id))
        .await?
        .pop()
        .ok_or_else(|| {
            ResourceError::not_found(
                "ResourceNotFound",
                format!("The virtual machine with vmId '{vm_id}' was deleted meanwhile."),
            )
        })
}

async fn vm_not_found(db: &Db, subscription: &str, group: &str, name: &str) -> ResourceError {
    match lookup::group(db, subscription, group).await {
        Ok(_) => {
            ResourceError::resource_not_found("Microsoft.Compute/virtualMachines", name, group)
        }
        Err(error) => error,
    }
}

enum CreateError {
    /// A VM of that name (or vmId) exists: the unique key refused the row.
    AlreadyExists(String),
    Other(ResourceError),
}

impl From<ResourceError> for CreateError {
    fn from(error: ResourceError) -> Self {
        Self::Other(error)
    }
}

impl From<sqlx::Error> for CreateError {
    fn from(error: sqlx::Error) -> Self {
        Self::Other(error.into())
    }
}

impl From<CreateError> for ResourceError {
    fn from(error: CreateError) -> Self {
        match error {
            CreateError::AlreadyExists(message) => ResourceError::conflict("Conflict", message),
            CreateError::Other(error) => error,
        }
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Refuses disk names another VM of the group uses: their managed disk ids would be the
/// same. 409 `OperationNotAllowed`.
async fn check_disk_names(conn: &mut AnyConnection, vm: &NewVm) -> Result<(), ResourceError> {
    let names: Vec<&str> = std::iter::once(&vm.os_disk)
        .chain(&vm.data_disks)
        .map(|disk| disk.name.as_str())
        .collect();
    let taken =
        store::disk_names_in_group(conn, &vm.subscription, &vm.group, &vm.vm_id, &names).await?;
    for disk in std::iter::once(&vm.os_disk).chain(&vm.data_disks) {
        if let Some(owner) = taken.get(&crate::resources::names::key(&disk.name)) {
            return Err(ResourceError::conflict(
                "OperationNotAllowed",
                format!(
                    "Disk '{}' is already attached to virtual machine '{owner}' in resource group \
                     '{}'; disk names are unique within a resource group.",
                    disk.name, vm.group
                ),
            ));
        }
    }
    Ok(())
}

/// Creates the VM's row, container, blobs and disk rows, and commits. On failure nothing
/// stays: the transaction rolls back and the container is deleted.
async fn create_in(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    accounts: &StorageAccounts,
    clock: &Clock,
    vm: &NewVm,
) -> Result<(), CreateError> {
    // The row first: a concurrent create of the same VM fails here (on PostgreSQL once
    // the other commits), before its disks could look like another VM's.
    if let Err(error) = store::insert_vm(&mut tx, vm, clock.now()).await {
        return Err(if is_unique_violation(&error) {
            CreateError::AlreadyExists(format!(
                "A virtual machine named '{}' or with the vmId '{}' already exists.",
                vm.name, vm.vm_id
            ))
        } else {
            error.into()
        });
    }
    check_disk_names(&mut tx, vm).await?;
    let container = container_name(&vm.vm_id);
    let blobs = accounts.for_new_vm(&vm.subscription, &vm.group);
    let place = DiskPlace {
        account: &blobs.account().name,
        container: &container,
    };
    match blobs.create_container(&container).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(CreateError::AlreadyExists(format!(
                "The disks of a virtual machine with the vmId '{}' already exist.",
                vm.vm_id
            )))
        }
        Err(error) => return Err(ResourceError::from(error).into()),
    }
    let result: Result<(), ResourceError> = async {
        for disk in std::iter::once(&vm.os_disk).chain(&vm.data_disks) {
            blobs
                .create_page_blob(
                    &container,
                    &disk.blob_name(),
                    disk.size_bytes(),
                    Vec::new(),
                    false,
                )
                .await?;
            store::insert_disk(&mut tx, &vm.vm_id, &place, disk).await?;
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(error) = result {
        if let Err(cleanup) = blobs.delete_container(&container).await {
            tracing::error!(%container, error = %cleanup, "could not delete the container of a VM that failed to be created");
        }
        return Err(error.into());
    }
    Ok(())
}

/// A blob change made before the commit, and how to take it back.
enum Undo {
    Created {
        blob: String,
    },
    Grown {
        blob: String,
        size: u64,
        etag: String,
    },
}

/// Moves the VM (whose row `tx` holds locked) from `current` to `target`: writes the VM
/// row, creates and grows blobs, writes the disk rows, commits, then deletes the blobs of
/// detached disks.
async fn update_in(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    accounts: &StorageAccounts,
    current: &VmDetails,
    target: &NewVm,
) -> Result<(), ResourceError> {
    check_disk_names(&mut tx, target).await?;
    let records: BTreeMap<i64, &lookup::DiskRecord> =
        current.vm.disks.iter().map(|d| (d.lun, d)).collect();
    let container = records
        .get(&OS_DISK_LUN)
        .map(|d| d.blob_container.clone())
        .unwrap_or_else(|| container_name(&target.vm_id));
    // Every disk of a VM is in its OS disk's account.
    let blobs = match records.get(&OS_DISK_LUN) {
        Some(os_disk) => accounts.named(os_disk.storage_account.as_deref())?,
        None => accounts.for_new_vm(&target.subscription, &target.group),
    };
    let place = DiskPlace {
        account: &blobs.account().name,
        container: &container,
    };
    let before = current.definition();
    let before: BTreeMap<i64, &Disk> = std::iter::once(&before.os_disk)
        .chain(&before.data_disks)
        .map(|d| (d.lun, d))
        .collect();
    let wanted: Vec<&Disk> = std::iter::once(&target.os_disk)
        .chain(&target.data_disks)
        .collect();
    let detached: Vec<&lookup::DiskRecord> = records
        .values()
        .filter(|r| !wanted.iter().any(|d| d.lun == r.lun))
        .copied()
        .collect();
    let mut undo = Vec::new();
    let result: Result<(), ResourceError> = async {
        store::update_vm(&mut tx, target).await?;
        for disk in &wanted {
            match (before.get(&disk.lun), records.get(&disk.lun)) {
                (Some(old), Some(record)) => {
                    if disk.size_gib > old.size_gib {
                        let etag = blobs
                            .resize_page_blob(
                                &record.blob_container,
                                &record.blob_name,
                                disk.size_bytes(),
                                None,
                            )
                            .await?;
                        undo.push(Undo::Grown {
                            blob: record.blob_name.clone(),
                            size: old.size_bytes(),
                            etag,
                        });
                    }
                    if disk != old {
                        store::update_disk(&mut tx, &target.vm_id, disk).await?;
                    }
                }
                _ => {
                    let blob = disk.blob_name();
                    blobs
                        .create_page_blob(&container, &blob, disk.size_bytes(), Vec::new(), true)
                        .await?;
                    undo.push(Undo::Created { blob });
                    store::insert_disk(&mut tx, &target.vm_id, &place, disk).await?;
                }
            }
        }
        for record in &detached {
            store::delete_disk(&mut tx, &target.vm_id, record.lun).await?;
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(error) = result {
        for step in undo.iter().rev() {
            let outcome = match step {
                Undo::Created { blob } => blobs.delete_blob(BlobPath::base(&container, blob)).await,
                // Only if nothing wrote to it since: a newer write wins over the undo.
                Undo::Grown { blob, size, etag } => blobs
                    .resize_page_blob(&container, blob, *size, Some(etag))
                    .await
                    .map(|_| ()),
            };
            if let Err(cleanup) = outcome {
                tracing::error!(%container, error = %cleanup, "could not undo a disk change of a failed VM update");
            }
        }
        return Err(error);
    }
    for record in detached {
        match blobs
            .delete_blob(BlobPath::base(&record.blob_container, &record.blob_name))
            .await
        {
            Ok(()) => {}
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::engine::BlobStore;
    use crate::resources::groups::{put_group, PutGroup};
    use std::sync::Arc;

    /// A migrated SQLite database with subscription `s` and group `Rg`, and a blob store.
    async fn setup(dir: &std::path::Path) -> (Db, Arc<BlobStore>, StorageAccounts) {
        let db = crate::store::with_subscription_for_tests(dir).await;
        put_group(
            &db,
            &Clock::default(),
            PutGroup {
                subscription: "s".to_owned(),
                name: "Rg".to_owned(),
                location: Some("westeurope".to_owned()),
                tags: Default::default(),
            },
        )
        .await
        .unwrap();
        let (store, blobs) = crate::storage::open_for_tests(&dir.join("blob"), Clock::default());
        (db, store, StorageAccounts::single(Arc::new(blobs)))
    }

    fn guest_vm(vm_id: &str, name: &str) -> NewVm {
        NewVm {
            vm_id: vm_id.to_owned(),
            subscription: "s".to_owned(),
            group: "rg".to_owned(),
            name: name.to_owned(),
            location: "westeurope".to_owned(),
            os_type: crate::resources::lookup::OsType::Linux,
            vm_size: DEFAULT_VM_SIZE.to_owned(),
            os_disk: Disk::os(format!("{name}-os"), 2),
            data_disks: vec![Disk::data(5, format!("{name}-data"), 1)],
            os_profile: None,
            origin: Origin::Guest,
            tags: Default::default(),
            image: None,
            network_interfaces: Vec::new(),
        }
    }

    #[tokio::test]
    async fn an_agent_registers_a_vm_the_arm_api_never_created() {
        let dir = tempfile::tempdir().unwrap();
        let (db, store, blobs) = setup(dir.path()).await;
        let vm_id = "6b0e5c6e-43a4-4a5e-9d0c-7c1f3a1f2b10";
        let vm = create_vm(&db, &blobs, &Clock::default(), guest_vm(vm_id, "agent-vm"))
            .await
            .unwrap();
        assert_eq!(vm.vm.origin, "guest");
        assert_eq!(vm.vm.resource_group, "Rg", "the group's name as created");
        let container = container_name(vm_id);
        let sizes: Vec<(i64, &str, i64)> = vm
            .vm
            .disks
            .iter()
            .map(|d| (d.lun, d.blob_name.as_str(), d.size_bytes))
            .collect();
        assert_eq!(
            sizes,
            [(-1, "osdisk.vhd", 2 << 30), (5, "datadisk-5.vhd", 1 << 30)]
        );
        assert!(vm.vm.disks.iter().all(|d| d.blob_container == container));
        for (disk, size) in [("osdisk.vhd", 2 << 30), ("datadisk-5.vhd", 1 << 30)] {
            let blob = blobs
                .primary()
                .properties(BlobPath::base(&container, disk))
                .await;
            assert_eq!(blob.unwrap().size, size, "{disk}");
        }
        assert_eq!(
            lookup::vm_by_vm_id(&db, vm_id).await.unwrap().unwrap(),
            vm.vm
        );

        // The same vmId, or the same name, again: 409, and nothing more in the blob store.
        for again in [
            guest_vm(vm_id, "other-name"),
            guest_vm("0c7d1c2a-90b1-4f43-8d8e-4f0f6f1f0e01", "AGENT-VM"),
        ] {
            let refused = create_vm(&db, &blobs, &Clock::default(), again)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    refused,
                    ResourceError::Conflict {
                        code: "Conflict",
                        ..
                    }
                ),
                "{refused:?}"
            );
        }
        let (containers, _) = store.list_containers("", None, 10);
        assert_eq!(containers.len(), 1);

        let mut bad = guest_vm("not-a-uuid", "vm2");
        bad.data_disks.push(Disk::data(5, "dup", 1));
        assert!(matches!(
            create_vm(&db, &blobs, &Clock::default(), bad).await,
            Err(ResourceError::Invalid { .. })
        ));
        let mut elsewhere = guest_vm("0c7d1c2a-90b1-4f43-8d8e-4f0f6f1f0e02", "vm3");
        elsewhere.group = "nope".to_owned();
        assert!(matches!(
            create_vm(&db, &blobs, &Clock::default(), elsewhere).await,
            Err(ResourceError::NotFound {
                code: "ResourceGroupNotFound",
                ..
            })
        ));
    }
}
