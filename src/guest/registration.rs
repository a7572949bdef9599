//! Registering an agent: the caller holds a management token granted the VM's
//! subscription; the VM is the one the registration names (by vmId, else by subscription,
//! group and name) or, when none exists, one created for it (`origin` guest). Every
//! registration issues a new credential and replaces the certificate, so the previous
//! credential stops working at once.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::certificate::GuestCertificate;
use super::credential::Credential;
use super::GuestError;
use crate::auth::{Auth, Principal};
use crate::clock::Clock;
use crate::resources::compute::{self, Disk, NewVm, Origin, DEFAULT_VM_SIZE, OS_DISK_LUN};
use crate::resources::lookup::{self, DiskRecord, OsType, VmRecord};
use crate::resources::ResourceError;
use crate::storage::StorageAccounts;
use crate::store::{to_micros, Db};

/// What an agent says about its VM when it registers.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The VM's id if the agent knows it; a new VM gets a fresh one otherwise.
    pub vm_id: Option<String>,
    pub subscription: String,
    pub group: String,
    pub name: String,
    /// One of the service's regions, normalized (`westeurope`).
    pub location: String,
    pub os_type: OsType,
    pub vm_size: Option<String>,
    /// The OS disk under LUN -1, then the data disks.
    pub disks: Vec<RegistrationDisk>,
    /// PEM; only its `CERTIFICATE` block is kept.
    pub certificate: String,
    /// The guest agent's version, as it gave it.
    pub agent_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationDisk {
    pub lun: i64,
    pub name: String,
    /// A whole number of GiB, as every disk of the simulator is.
    pub size_bytes: u64,
}

/// Disks are whole GiB (`compute::Disk::size_gib`).
const GIB: u64 = 1 << 30;

/// The outcome of a registration: what the agent is told.
#[derive(Debug)]
pub struct Registered {
    pub vm_id: String,
    pub credential: Credential,
    pub certificate_thumbprint: String,
    pub incarnation: i64,
    /// Whether the VM was created for this registration (else an existing one was bound).
    pub created: bool,
    /// The VM's disks, OS disk first, as they are now.
    pub disks: Vec<DiskRecord>,
}

/// Registers an agent for the VM `registration` names, creating the VM if there is none.
/// 403 or 404 when `principal` may not address the VM's subscription, 404
/// `ResourceGroupNotFound` when a VM to create has no group, 400 for a bad certificate or
/// disk list.
pub async fn register(
    db: &Db,
    accounts: &StorageAccounts,
    clock: &Clock,
    auth: &Auth,
    principal: &Principal,
    registration: Registration,
) -> Result<Registered, GuestError> {
    let certificate = GuestCertificate::parse(&registration.certificate)?;
    let by_id = match &registration.vm_id {
        Some(vm_id) => lookup::vm_by_vm_id(db, vm_id).await?,
        None => None,
    };
    let (vm_id, created) = match by_id {
        Some(vm) => {
            auth.authorize(db, principal, &vm.subscription_id).await?;
            (vm.vm_id, false)
        }
        None => {
            auth.authorize(db, principal, &registration.subscription)
                .await?;
            match vm_by_name(db, &registration).await? {
                Some(vm) => (vm.vm_id, false),
                None => create(db, accounts, clock, &registration).await?,
            }
        }
    };
    let credential = Credential::issue(&vm_id);
    let incarnation = store_registration(
        db,
        &vm_id,
        &credential,
        &certificate,
        registration.agent_version.as_deref(),
        clock.now(),
    )
    .await?;
    let disks = lookup::vm_by_vm_id(db, &vm_id)
        .await?
        .map(|vm| vm.disks)
        .unwrap_or_default();
    Ok(Registered {
        disks,
        vm_id,
        credential,
        certificate_thumbprint: certificate.thumbprint,
        incarnation,
        created,
    })
}

/// The VM the registration names by subscription, group and name, if there is one.
async fn vm_by_name(db: &Db, registration: &Registration) -> Result<Option<VmRecord>, GuestError> {
    match lookup::vm(
        db,
        &registration.subscription,
        &registration.group,
        &registration.name,
    )
    .await
    {
        Ok(vm) => Ok(Some(vm)),
        Err(ResourceError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Creates the VM; when a concurrent registration created it first, binds to that one.
/// Returns the vmId and whether this call created it.
async fn create(
    db: &Db,
    accounts: &StorageAccounts,
    clock: &Clock,
    registration: &Registration,
) -> Result<(String, bool), GuestError> {
    let vm = new_vm(registration)?;
    match compute::create_vm(db, accounts, clock, vm).await {
        Ok(details) => Ok((details.vm.vm_id, true)),
        Err(error @ ResourceError::Conflict { .. }) => match vm_by_name(db, registration).await? {
            Some(vm) => Ok((vm.vm_id, false)),
            None => Err(error.into()),
        },
        Err(error) => Err(error.into()),
    }
}

/// The definition of a VM created for a registration. 400 `InvalidParameter` when the disks
/// are not one OS disk and data disks of whole GiB; `create_vm` checks the rest.
fn new_vm(registration: &Registration) -> Result<NewVm, GuestError> {
    let mut os_disk = None;
    let mut data_disks = Vec::new();
    for (i, disk) in registration.disks.iter().enumerate() {
        if disk.size_bytes == 0 || disk.size_bytes % GIB != 0 {
            return Err(GuestError::invalid(
                "InvalidParameter",
                format!(
                    "disks[{i}].sizeBytes is {}; a disk is a positive whole number of GiB \
                     ({GIB} bytes).",
                    disk.size_bytes
                ),
            ));
        }
        let size_gib = disk.size_bytes / GIB;
        if disk.lun == OS_DISK_LUN {
            if os_disk.is_some() {
                return Err(GuestError::invalid(
                    "InvalidParameter",
                    format!("disks[{i}]: a VM has one OS disk (LUN -1); this is a second."),
                ));
            }
            os_disk = Some(Disk::os(&disk.name, size_gib));
        } else {
            data_disks.push(Disk::data(disk.lun, &disk.name, size_gib));
        }
    }
    let os_disk = os_disk.ok_or_else(|| {
        GuestError::invalid(
            "InvalidParameter",
            "disks: the OS disk (LUN -1) is missing.",
        )
    })?;
    Ok(NewVm {
        vm_id: registration
            .vm_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        subscription: registration.subscription.clone(),
        group: registration.group.clone(),
        name: registration.name.clone(),
        location: registration.location.clone(),
        os_type: registration.os_type,
        vm_size: registration
            .vm_size
            .clone()
            .unwrap_or_else(|| DEFAULT_VM_SIZE.to_owned()),
        os_disk,
        data_disks,
        os_profile: None,
        origin: Origin::Guest,
        tags: Default::default(),
        image: None,
        network_interfaces: Vec::new(),
    })
}

/// Stores the credential's digest and the certificate (replacing an earlier
/// registration's) and returns the VM's goal-state incarnation.
async fn store_registration(
    db: &Db,
    vm_id: &str,
    credential: &Credential,
    certificate: &GuestCertificate,
    agent_version: Option<&str>,
    now: DateTime<Utc>,
) -> Result<i64, GuestError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "insert into vm_guest (vm_id, credential_sha256, certificate_pem, \
         certificate_thumbprint, registered_at, last_seen_at, agent_version) \
         values ($1, $2, $3, $4, $5, $5, $6) \
         on conflict (vm_id) do update set credential_sha256 = excluded.credential_sha256, \
         certificate_pem = excluded.certificate_pem, \
         certificate_thumbprint = excluded.certificate_thumbprint, \
         registered_at = excluded.registered_at, last_seen_at = excluded.last_seen_at, \
         agent_version = excluded.agent_version",
    )
    .bind(vm_id)
    .bind(credential.digest())
    .bind(&certificate.pem)
    .bind(&certificate.thumbprint)
    .bind(to_micros(now))
    .bind(agent_version)
    .execute(&mut *tx)
    .await?;
    // A new certificate is a change to what the VM's backup tasks are minted from: a task
    // minted to the old one before this commits is minted again when it is written.
    let incarnation = sqlx::query(
        "update virtual_machine set task_revision = task_revision + 1 where vm_id = $1 \
         returning goal_state_incarnation",
    )
    .bind(vm_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get("goal_state_incarnation")?;
    tx.commit().await?;
    Ok(incarnation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(disks: &[(i64, u64)]) -> Registration {
        Registration {
            vm_id: None,
            subscription: "s".to_owned(),
            group: "rg".to_owned(),
            name: "vm".to_owned(),
            location: "westeurope".to_owned(),
            os_type: OsType::Linux,
            vm_size: None,
            disks: disks
                .iter()
                .map(|&(lun, size_bytes)| RegistrationDisk {
                    lun,
                    name: format!("disk{lun}"),
                    size_bytes,
                })
                .collect(),
            certificate: String::new(),
            agent_version: None,
        }
    }

    #[test]
    fn the_disks_become_an_os_disk_and_data_disks() {
        let vm = new_vm(&registration(&[(0, GIB), (-1, 30 * GIB)])).unwrap();
        assert_eq!(vm.os_disk.size_gib, 30);
        assert_eq!(vm.data_disks.len(), 1);
        assert_eq!(vm.data_disks[0].lun, 0);
        assert_eq!(vm.location, "westeurope");
        assert_eq!(vm.origin, Origin::Guest);
        assert!(uuid::Uuid::try_parse(&vm.vm_id).is_ok());
    }

    #[test]
    fn disks_that_cannot_be_a_vm_are_refused() {
        for disks in [
            &[(0, GIB)][..],
            &[(-1, GIB), (-1, GIB)],
            &[(-1, GIB + 512)],
            &[(-1, 0)],
        ] {
            assert!(
                matches!(
                    new_vm(&registration(disks)),
                    Err(GuestError::Invalid {
                        code: "InvalidParameter",
                        ..
                    })
                ),
                "{disks:?}"
            );
        }
    }
}
