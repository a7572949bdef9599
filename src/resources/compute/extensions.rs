//! VM extensions. Nothing installs them over ARM here: the backup engine puts VMSnapshot /
//! VMSnapshotLinux in place with [`upsert_extension`] when it first backs a VM up; ARM
//! clients read them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{store, VmDetails};
use crate::resources::names::key;
use crate::resources::ResourceError;
use crate::store::Db;

/// An extension installed on a VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    /// The extension's name on the VM, e.g. `VMSnapshotLinux`.
    pub name: String,
    /// e.g. `Microsoft.Azure.RecoveryServices`.
    pub publisher: String,
    /// e.g. `VMSnapshotLinux`.
    pub extension_type: String,
    /// e.g. `1.0`.
    pub type_handler_version: String,
    pub auto_upgrade_minor_version: bool,
    /// e.g. `Succeeded`.
    pub provisioning_state: String,
    /// The public settings, if any.
    pub settings: Option<Value>,
    pub updated_at: DateTime<Utc>,
}

/// Installs `extension` on the VM with `vm_id`, or replaces the one of the same name
/// (case-insensitively). 404 `ResourceNotFound` when no VM has that vmId.
pub async fn upsert_extension(
    db: &Db,
    vm_id: &str,
    extension: &Extension,
) -> Result<(), ResourceError> {
    let mut conn = db.pool().acquire().await?;
    if store::load(&mut conn, store::Scope::VmId(vm_id))
        .await?
        .is_empty()
    {
        return Err(ResourceError::not_found(
            "ResourceNotFound",
            format!("No virtual machine has the vmId '{vm_id}'."),
        ));
    }
    store::upsert_extension(&mut conn, vm_id, extension).await?;
    Ok(())
}

impl VmDetails {
    /// One of the VM's extensions by name (case-insensitively). 404 `NotFound`, as
    /// Compute words it.
    pub fn extension(&self, name: &str) -> Result<&Extension, ResourceError> {
        self.extensions
            .iter()
            .find(|e| key(&e.name) == key(name))
            .ok_or_else(|| {
                ResourceError::not_found(
                    "NotFound",
                    "The entity was not found in this Azure location.",
                )
            })
    }
}
