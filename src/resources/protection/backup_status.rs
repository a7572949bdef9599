//! Whether a VM is backed up, and by which vault (`POST .../locations/{l}/backupStatus`,
//! what `az backup protection check-vm` asks before it enables protection).

use super::items::{self, ProtectedItem};
use crate::resources::ids;
use crate::resources::lookup::{self, VaultRecord};
use crate::resources::ResourceError;
use crate::store::Db;

/// The request's resource type for a VM (the only one served).
const VM_RESOURCE_TYPE: &str = "VM";
const INVALID_INPUT: &str = "BMSUserErrorInvalidInput";

/// The vault protecting the VM `resource_id` names and its item; `None` when no vault
/// does. 400 when the request is not about a VM of `subscription`, 404 when the VM does
/// not exist.
pub async fn of_vm(
    db: &Db,
    subscription: &str,
    resource_type: &str,
    resource_id: &str,
) -> Result<Option<(VaultRecord, ProtectedItem)>, ResourceError> {
    if !resource_type.eq_ignore_ascii_case(VM_RESOURCE_TYPE) {
        return Err(ResourceError::invalid(
            INVALID_INPUT,
            format!("resourceType '{resource_type}' is not supported: use 'VM'."),
        ));
    }
    let vm = ids::parse_vm_id(resource_id)
        .filter(|vm| vm.subscription.eq_ignore_ascii_case(subscription))
        .ok_or_else(|| {
            ResourceError::invalid(
                INVALID_INPUT,
                format!(
                    "resourceId '{resource_id}' is not the ARM id of a virtual machine of \
                     subscription '{subscription}'."
                ),
            )
        })?;
    let vm = lookup::vm(db, subscription, &vm.group, &vm.vm).await?;
    items::get_by_vm(db, &vm.vm_id).await
}
