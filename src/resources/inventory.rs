//! Every resource of a subscription or resource group, whatever its provider, as ARM's
//! generic resource list answers (`az resource list`): the VMs, the vaults, the tracked
//! network resources (subnets, child resources, are not listed, as in Azure) and the served
//! storage account (which answers in every group, see `storage_accounts`).

use super::lookup::Tags;
use super::storage_accounts::{self, STORAGE_ACCOUNT_TYPE};
use super::{compute, groups, ids, network, vaults, ResourceError};
use crate::store::Db;

const VM_TYPE: &str = "Microsoft.Compute/virtualMachines";
const VAULT_TYPE: &str = "Microsoft.RecoveryServices/vaults";

/// One resource as the generic list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSummary {
    pub id: String,
    pub name: String,
    pub resource_type: &'static str,
    /// The group's name as created.
    pub resource_group: String,
    pub location: String,
    pub tags: Tags,
}

/// The resources of a group (404 `ResourceGroupNotFound`) or, with no group, of the
/// subscription, by id. `served_account` is the blob endpoint's account name.
pub async fn list(
    db: &Db,
    subscription: &str,
    group: Option<&str>,
    served_account: &str,
) -> Result<Vec<ResourceSummary>, ResourceError> {
    let vms = compute::list_vms(db, subscription, group).await?;
    let network_resources = network::list_tracked_resources(db, subscription, group).await?;
    let (vaults, group_names) = match group {
        Some(group) => (
            vaults::list_in_group(db, subscription, group).await?,
            vec![group.to_owned()],
        ),
        None => (
            vaults::list_in_subscription(db, subscription).await?,
            groups::list_groups(db, subscription)
                .await?
                .into_iter()
                .map(|g| g.name)
                .collect(),
        ),
    };
    let mut resources: Vec<ResourceSummary> = vms
        .into_iter()
        .map(|details| {
            let vm = details.vm;
            ResourceSummary {
                id: ids::vm_id(&vm.subscription_id, &vm.resource_group, &vm.name),
                name: vm.name,
                resource_type: VM_TYPE,
                resource_group: vm.resource_group,
                location: vm.location,
                tags: vm.tags,
            }
        })
        .chain(vaults.into_iter().map(|vault| {
            let vault = vault.record;
            ResourceSummary {
                id: vault.arm_id(),
                name: vault.name,
                resource_type: VAULT_TYPE,
                resource_group: vault.resource_group,
                location: vault.location,
                tags: vault.tags,
            }
        }))
        .chain(
            network_resources
                .into_iter()
                .map(|resource| ResourceSummary {
                    id: resource.id,
                    name: resource.name,
                    resource_type: resource.kind.resource_type(),
                    resource_group: resource.group,
                    location: resource.location,
                    tags: resource.tags,
                }),
        )
        .collect();
    for group in group_names {
        let account =
            storage_accounts::get(db, subscription, &group, served_account, served_account).await?;
        resources.push(ResourceSummary {
            id: account.arm_id(),
            name: account.name,
            resource_type: STORAGE_ACCOUNT_TYPE,
            resource_group: account.resource_group,
            location: account.location,
            tags: Tags::new(),
        });
    }
    resources.sort_by_key(|r| r.id.to_ascii_lowercase());
    Ok(resources)
}
