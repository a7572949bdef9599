//! Discovery and containers. A refresh (`refreshContainers`) records when the vault last
//! looked at its subscription; VMs created by then, in the vault's location and protected by
//! no vault, are its protectable items. A VM's protection container exists while the vault
//! holds a protected item for it, in any state.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::items::{page_rows, ItemPageQuery};
use super::names::{parse_container_name, VmName};
use super::operations::{self, NewOperation, OperationKind, OperationStatus};
use crate::resources::lookup::VaultRecord;
use crate::resources::names::key;
use crate::resources::ResourceError;
use crate::store::{to_micros, Db};

/// Discovers the subscription's VMs now: stamps the vault's refresh time and records a
/// (finished) refresh operation. Answers the operation id.
pub async fn refresh(
    db: &Db,
    now: DateTime<Utc>,
    vault: &VaultRecord,
) -> Result<String, ResourceError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("update vault set last_refresh_at = $1 where vault_id = $2")
        .bind(to_micros(now))
        .bind(&vault.vault_id)
        .execute(&mut *tx)
        .await?;
    let operation_id = operations::create(
        &mut tx,
        NewOperation {
            vault_id: vault.vault_id.clone(),
            item_key: None,
            kind: OperationKind::Refresh,
            status: OperationStatus::Succeeded,
            job_id: None,
            start_time: now,
            end_time: Some(now),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(operation_id)
}

/// A VM the vault may protect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectableVm {
    pub vm_id: String,
    pub subscription_id: String,
    /// Resource group and VM name as created.
    pub name: VmName,
}

/// The vault's protectable items: VMs of its subscription in its location, created at or
/// before its last refresh and protected by no vault, ordered by group and name.
/// `friendly_name` keeps only the VM of that name (any case). None before the first refresh.
pub async fn protectable_vms(
    db: &Db,
    vault: &VaultRecord,
    friendly_name: Option<&str>,
) -> Result<Vec<ProtectableVm>, ResourceError> {
    let Some(refreshed) = vault.last_refresh_at else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query(
        "select vm.vm_id, vm.subscription_id, g.name as group_name, vm.name \
         from virtual_machine vm join resource_group g \
         on g.subscription_id = vm.subscription_id and g.name_key = vm.resource_group_key \
         where vm.subscription_id = $1 and vm.created_at <= $2 \
         and lower(replace(vm.location, ' ', '')) = $3 \
         and ($4 = '' or vm.name_key = $4) \
         and not exists (select 1 from protected_item p where p.vm_id = vm.vm_id) \
         order by vm.resource_group_key, vm.name_key",
    )
    .bind(&vault.subscription_id)
    .bind(to_micros(refreshed))
    .bind(location_key(&vault.location))
    .bind(friendly_name.map(key).unwrap_or_default())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ProtectableVm {
                vm_id: row.try_get("vm_id")?,
                subscription_id: row.try_get("subscription_id")?,
                name: VmName::new(
                    row.try_get::<String, _>("group_name")?,
                    row.try_get::<String, _>("name")?,
                ),
            })
        })
        .collect()
}

/// A location compared as ARM compares them: `East US` is `eastus`.
pub fn location_key(location: &str) -> String {
    key(&location.replace(' ', ""))
}

/// An IaaS VM container: the VM a protected item of the vault backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Resource group and VM name as stored with the protected item.
    pub name: VmName,
    pub vm_id: String,
    /// The VM's ARM id.
    pub virtual_machine_id: String,
}

/// One page of containers, in item-key order, with the key the next page starts after.
#[derive(Debug, Clone)]
pub struct ContainerPage {
    pub containers: Vec<Container>,
    pub next: Option<String>,
}

/// A page of the vault's containers. `friendly_name` keeps the VM of that name (any case).
pub async fn list(
    db: &Db,
    vault: &VaultRecord,
    friendly_name: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<ContainerPage, ResourceError> {
    let query = ItemPageQuery {
        friendly_name: friendly_name.map(key),
        after: after.map(str::to_owned),
        ..ItemPageQuery::default()
    };
    let (rows, next) = page_rows(
        db,
        &vault.vault_id,
        "p.item_key, p.vm_id, p.vm_name, p.vm_resource_group, p.source_resource_id",
        &query,
        limit,
    )
    .await?;
    Ok(ContainerPage {
        containers: rows
            .iter()
            .map(container_from_row)
            .collect::<Result<_, _>>()?,
        next,
    })
}

/// A container by name (`IaasVMContainer;iaasvmcontainerv2;rg;vm`, or without the prefix).
/// 404 `BMSUserErrorContainerObjectNotFound`.
pub async fn get(db: &Db, vault: &VaultRecord, name: &str) -> Result<Container, ResourceError> {
    let not_found = || {
        ResourceError::not_found(
            "BMSUserErrorContainerObjectNotFound",
            format!(
                "Container '{name}' was not found in vault '{}'. A VM's container exists while \
                 the vault protects the VM (names look like IaasVMContainer;iaasvmcontainerv2;<resource group>;<vm>).",
                vault.name
            ),
        )
    };
    let vm = parse_container_name(name).ok_or_else(not_found)?;
    let row = sqlx::query(
        "select p.item_key, p.vm_id, p.vm_name, p.vm_resource_group, p.source_resource_id \
         from protected_item p where p.vault_id = $1 and p.item_key = $2",
    )
    .bind(&vault.vault_id)
    .bind(vm.item_key())
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(not_found)?;
    container_from_row(&row)
}

fn container_from_row(row: &AnyRow) -> Result<Container, ResourceError> {
    Ok(Container {
        name: VmName::new(
            row.try_get::<String, _>("vm_resource_group")?,
            row.try_get::<String, _>("vm_name")?,
        ),
        vm_id: row.try_get("vm_id")?,
        virtual_machine_id: row.try_get("source_resource_id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_compare_without_case_or_spaces() {
        assert_eq!(location_key("East US"), location_key("eastus"));
        assert_ne!(location_key("westus"), location_key("eastus"));
    }
}
