//! The storage account the blob endpoint serves, as an ARM resource
//! (`Microsoft.Storage/storageAccounts`). The simulator serves one account, in no
//! resource group of its own, and `az backup restore restore-disks --storage-account A -g G`
//! looks the account up in the group it names (the VM's); so the account answers in every
//! resource group of the subscription, in that group's location. Any other name is absent.

use std::convert::Infallible;

use super::lookup;
use super::ResourceError;
use crate::store::Db;

pub const STORAGE_ACCOUNT_TYPE: &str = "Microsoft.Storage/storageAccounts";
const CLASSIC_STORAGE_ACCOUNT_TYPE: &str = "Microsoft.ClassicStorage/storageAccounts";

/// The served account, as seen from one resource group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageAccount {
    pub subscription_id: String,
    /// The group's name as created.
    pub resource_group: String,
    pub name: String,
    pub location: String,
}

impl StorageAccount {
    /// The account's ARM id in its group.
    pub fn arm_id(&self) -> String {
        format!(
            "{}/providers/{STORAGE_ACCOUNT_TYPE}/{}",
            super::ids::group_id(&self.subscription_id, &self.resource_group),
            self.name
        )
    }
}

/// The account `name` in a resource group: the served account (`served`, the blob
/// endpoint's account name, matched in any case), else 404 `ResourceNotFound`; 404
/// `ResourceGroupNotFound` when the group is missing.
pub async fn get(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
    served: &str,
) -> Result<StorageAccount, ResourceError> {
    let group = lookup::group(db, subscription, group).await?;
    if !name.eq_ignore_ascii_case(served) {
        return Err(ResourceError::resource_not_found(
            STORAGE_ACCOUNT_TYPE,
            name,
            &group.name,
        ));
    }
    Ok(StorageAccount {
        subscription_id: group.subscription_id,
        resource_group: group.name,
        name: served.to_owned(),
        location: group.location,
    })
}

/// A classic (ASM) storage account: there are none, and `az` expects this 404 before it
/// looks for the account under `Microsoft.Storage`.
pub async fn get_classic(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Infallible, ResourceError> {
    let group = lookup::group(db, subscription, group).await?;
    Err(ResourceError::resource_not_found(
        CLASSIC_STORAGE_ACCOUNT_TYPE,
        name,
        &group.name,
    ))
}
