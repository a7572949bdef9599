//! Protected items: an Azure VM under a vault's protection. A PUT enables protection,
//! changes the policy, resumes, or stops protection keeping the data; a DELETE stops it and
//! deletes the data. Each change writes the item, its job and the operation a client polls
//! in one transaction, and finishes at once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::containers::location_key;
use super::names::{parse_container_name, parse_item_name, parse_policy_id, VmName};
use super::operations::{self, NewOperation, OperationKind, OperationStatus};
use crate::resources::ids::{self, VmIdParts};
use crate::resources::jobs::{self, JobExtendedInfo, JobOperation, JobStatus, NewJob};
use crate::resources::lookup::{
    self, vault_from_prefixed_row, VaultRecord, VAULT_COLUMNS_PREFIXED,
};
use crate::resources::names::key;
use crate::resources::ResourceError;
use crate::store::{from_micros, json_column, to_micros, Db};

/// The type of item Azure VMs are (`protectedItemType`).
pub const VM_ITEM_TYPE: &str = "Microsoft.Compute/virtualMachines";

/// The malformed-request code Azure Backup answers configure-protection requests with.
const INVALID_REQUEST: &str = "BMSUserErrorInvalidConfigureProtectionRequest";
const ITEM_NOT_FOUND: &str = "BMSUserErrorDataSourceObjectNotFound";

/// An item's `protectionState`; parsed in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(ascii_case_insensitive)]
pub enum ProtectionState {
    Invalid,
    IRPending,
    Protected,
    ProtectionError,
    ProtectionStopped,
    ProtectionPaused,
}

impl ProtectionState {
    /// The wire and stored name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Which data disks a backup includes or leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskExclusion {
    pub disk_lun_list: Vec<i64>,
    pub is_inclusion_list: bool,
}

/// The item's stored extended properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedProperties {
    pub disk_exclusion: Option<DiskExclusion>,
}

/// The policy an item is protected with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPolicy {
    /// As created.
    pub name: String,
    /// `V1` or `V2`.
    pub policy_type: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProtectedItem {
    pub vault_id: String,
    pub item_key: String,
    /// Resource group and VM name as created.
    pub name: VmName,
    pub vm_id: String,
    /// The VM's ARM id.
    pub source_resource_id: String,
    /// `None` once protection is stopped.
    pub policy: Option<ItemPolicy>,
    pub protection_state: ProtectionState,
    pub health_status: String,
    /// `""` before the first backup, then `Completed` or `Failed`.
    pub last_backup_status: String,
    pub last_backup_time: Option<DateTime<Utc>>,
    pub last_recovery_point: Option<DateTime<Utc>>,
    pub oldest_recovery_point: Option<DateTime<Utc>>,
    pub recovery_point_count: i64,
    pub protected_item_data_id: i64,
    pub extended_properties: ExtendedProperties,
    pub created_at: DateTime<Utc>,
}

/// A protected item PUT, as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct ProtectRequest {
    /// The container and item names of the path.
    pub container: String,
    pub item: String,
    pub protected_item_type: Option<String>,
    pub source_resource_id: Option<String>,
    pub policy_id: Option<String>,
    pub protection_state: Option<String>,
    pub disk_exclusion: Option<DiskExclusion>,
}

/// What a valid PUT asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intent {
    /// Protect with a policy of this vault: enable, change policy or resume.
    Protect {
        policy: String,
        source: Option<VmIdParts>,
    },
    /// Stop protection, keep the recovery points.
    StopRetain,
}

/// A change accepted: the operation to poll and the job it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub operation_id: String,
    pub job_id: String,
    /// The item's VM, spelled as stored.
    pub name: VmName,
}

/// How many times a PUT reads the item and writes it before it gives up on concurrent
/// requests changing the item in between.
const PUT_ATTEMPTS: usize = 3;

/// Applies a protected item PUT.
pub async fn put(
    db: &Db,
    now: DateTime<Utc>,
    vault: &VaultRecord,
    request: ProtectRequest,
) -> Result<Submitted, ResourceError> {
    let (path_vm, intent) = validate(vault, &request)?;
    // The item is read before the write transaction, which must not use the pool, and each
    // write applies only to the item as read. When a concurrent request created, deleted or
    // changed it in between, the PUT reads it again and applies to what it finds, as it
    // would have sent after that request.
    for _ in 1..PUT_ATTEMPTS {
        if let Some(submitted) = try_put(db, now, vault, &request, &path_vm, &intent).await? {
            return Ok(submitted);
        }
    }
    try_put(db, now, vault, &request, &path_vm, &intent)
        .await?
        .ok_or_else(|| {
            ResourceError::conflict(
                "Conflict",
                format!(
                    "Item '{}' kept changing under concurrent requests: send the request again.",
                    request.item
                ),
            )
        })
}

/// One attempt at a PUT; `None` when the item changed between its read and its write.
async fn try_put(
    db: &Db,
    now: DateTime<Utc>,
    vault: &VaultRecord,
    request: &ProtectRequest,
    path_vm: &VmName,
    intent: &Intent,
) -> Result<Option<Submitted>, ResourceError> {
    let item_key = path_vm.item_key();
    let existing = current(db, &vault.vault_id, &item_key).await?;
    let extended = request.disk_exclusion.clone().map(|d| ExtendedProperties {
        disk_exclusion: Some(d),
    });
    match intent {
        Intent::StopRetain => {
            let item = existing.ok_or_else(|| item_not_found(&request.item))?;
            let mut tx = db.begin_write().await?;
            let stopped = sqlx::query(
                "update protected_item set policy_key = null, protection_state = $3, \
                 next_backup_at = null where vault_id = $1 and item_key = $2",
            )
            .bind(&vault.vault_id)
            .bind(&item_key)
            .bind(ProtectionState::ProtectionStopped.as_str())
            .execute(&mut *tx)
            .await?;
            if stopped.rows_affected() == 0 {
                return Ok(None);
            }
            let submitted = record_change(
                &mut tx,
                now,
                vault,
                &item,
                JobOperation::DisableBackup,
                OperationKind::ConfigureProtection,
                None,
            )
            .await?;
            tx.commit().await?;
            Ok(Some(submitted))
        }
        Intent::Protect { policy, source } => {
            let policy = lookup::policy(db, vault, policy).await?;
            let policy_key = key(&policy.name);
            match existing {
                Some(item) => {
                    let state = match item.protection_state {
                        ProtectionState::ProtectionStopped if item.has_backups => {
                            ProtectionState::Protected
                        }
                        ProtectionState::ProtectionStopped => ProtectionState::IRPending,
                        state => state,
                    };
                    let mut tx = db.begin_write().await?;
                    lock_policy(&mut tx, vault, &policy.name).await?;
                    // The new state follows from the one read: the item must still be in it.
                    let updated = sqlx::query(
                        "update protected_item set policy_key = $3, protection_state = $4, \
                         extended_properties = coalesce($5, extended_properties), \
                         next_backup_at = null \
                         where vault_id = $1 and item_key = $2 and protection_state = $6",
                    )
                    .bind(&vault.vault_id)
                    .bind(&item_key)
                    .bind(&policy_key)
                    .bind(state.as_str())
                    .bind(extended.as_ref().map(to_json))
                    .bind(item.protection_state.as_str())
                    .execute(&mut *tx)
                    .await?;
                    if updated.rows_affected() == 0 {
                        return Ok(None);
                    }
                    let submitted = record_change(
                        &mut tx,
                        now,
                        vault,
                        &item,
                        JobOperation::ConfigureBackup,
                        OperationKind::ConfigureProtection,
                        Some(&policy.name),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(Some(submitted))
                }
                None => {
                    let source = source.as_ref().ok_or_else(|| {
                        ResourceError::invalid(
                            INVALID_REQUEST,
                            "properties.sourceResourceId is required to protect a VM: give the \
                             VM's ARM id.",
                        )
                    })?;
                    let Some(item) = check_new_protection(db, vault, source).await? else {
                        return Ok(None);
                    };
                    let data_id: i64 =
                        rand::thread_rng().gen_range(10_000_000_000_000..100_000_000_000_000);
                    let mut tx = db.begin_write().await?;
                    lock_policy(&mut tx, vault, &policy.name).await?;
                    let inserted = sqlx::query(
                        "insert into protected_item (vault_id, item_key, vm_id, vm_name, \
                         vm_resource_group, source_resource_id, policy_key, protection_state, \
                         health_status, last_backup_status, last_backup_time, \
                         last_recovery_point, protected_item_data_id, extended_properties, \
                         created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, null, \
                         null, $11, $12, $13)",
                    )
                    .bind(&vault.vault_id)
                    .bind(&item_key)
                    .bind(&item.vm_id)
                    .bind(&item.name.vm)
                    .bind(&item.name.group)
                    .bind(&item.source_resource_id)
                    .bind(&policy_key)
                    .bind(ProtectionState::IRPending.as_str())
                    .bind("Passed")
                    .bind("")
                    .bind(data_id)
                    .bind(to_json(&extended.unwrap_or_default()))
                    .bind(to_micros(now))
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        // Protected since the read, by this vault (the next attempt updates
                        // the item) or by another (the next attempt refuses).
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                            return Ok(None);
                        }
                        other => other?,
                    };
                    let submitted = record_change(
                        &mut tx,
                        now,
                        vault,
                        &item,
                        JobOperation::ConfigureBackup,
                        OperationKind::ConfigureProtection,
                        Some(&policy.name),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(Some(submitted))
                }
            }
        }
    }
}

/// Locks the policy a PUT protects with, inside its write transaction: a policy deleted
/// since it was read is not found (404 `BMSUserErrorPolicyNotFound`), and one that is not
/// cannot be deleted until the item using it is committed (the delete then finds it in use).
async fn lock_policy(
    tx: &mut AnyConnection,
    vault: &VaultRecord,
    name: &str,
) -> Result<(), ResourceError> {
    if crate::resources::policy::lock(tx, &vault.vault_id, &key(name)).await? {
        return Ok(());
    }
    Err(ResourceError::not_found(
        "BMSUserErrorPolicyNotFound",
        format!("Policy '{name}' was not found in vault '{}'.", vault.name),
    ))
}

/// Stops protection and deletes the item's recovery points (a protected item DELETE).
pub async fn delete(
    db: &Db,
    now: DateTime<Utc>,
    vault: &VaultRecord,
    container: &str,
    item: &str,
) -> Result<Submitted, ResourceError> {
    let vm = resolve(container, item)?;
    let item_key = vm.item_key();
    let current = current(db, &vault.vault_id, &item_key)
        .await?
        .ok_or_else(|| item_not_found(item))?;
    let mut tx = db.begin_write().await?;
    let deleted = sqlx::query("delete from protected_item where vault_id = $1 and item_key = $2")
        .bind(&vault.vault_id)
        .bind(&item_key)
        .execute(&mut *tx)
        .await?;
    // A concurrent DELETE took it since the read: this one finds nothing, as it would after.
    if deleted.rows_affected() == 0 {
        return Err(item_not_found(item));
    }
    sqlx::query("delete from recovery_point where vault_id = $1 and item_key = $2")
        .bind(&vault.vault_id)
        .bind(&item_key)
        .execute(&mut *tx)
        .await?;
    let submitted = record_change(
        &mut tx,
        now,
        vault,
        &current,
        JobOperation::DeleteBackupData,
        OperationKind::DeleteProtection,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(submitted)
}

/// Locks the item's row until the write transaction ends, so that what it decides from
/// the item's jobs (a backup running, today's count) still holds at its commit; `false`
/// when the item is gone.
pub async fn lock(
    conn: &mut AnyConnection,
    vault_id: &str,
    item_key: &str,
) -> Result<bool, sqlx::Error> {
    let locked = sqlx::query(
        "update protected_item set item_key = item_key where vault_id = $1 and item_key = $2",
    )
    .bind(vault_id)
    .bind(item_key)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(locked > 0)
}

/// A protected item by its path names. 404 `BMSUserErrorDataSourceObjectNotFound`.
pub async fn get(
    db: &Db,
    vault: &VaultRecord,
    container: &str,
    item: &str,
) -> Result<ProtectedItem, ResourceError> {
    let vm = resolve(container, item)?;
    get_by_key(db, &vault.vault_id, &vm.item_key())
        .await?
        .ok_or_else(|| item_not_found(item))
}

/// A protected item by key.
pub async fn get_by_key(
    db: &Db,
    vault_id: &str,
    item_key: &str,
) -> Result<Option<ProtectedItem>, ResourceError> {
    let row = sqlx::query(&format!(
        "select {ITEM_COLUMNS} from protected_item p {POLICY_JOIN} \
         where p.vault_id = $1 and p.item_key = $2"
    ))
    .bind(vault_id)
    .bind(item_key)
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| item_from_row(vault_id, &row)).transpose()
}

/// A protected item with its vault, addressed by the vault's ARM names, in one query (the
/// most frequent management read). `None` when the vault or the item is missing; the
/// caller tells which apart.
pub async fn get_with_vault(
    db: &Db,
    subscription: &str,
    group: &str,
    vault: &str,
    container: &str,
    item: &str,
) -> Result<Option<(VaultRecord, ProtectedItem)>, ResourceError> {
    let Ok(vm) = resolve(container, item) else {
        return Ok(None);
    };
    let row = sqlx::query(&format!(
        "select {ITEM_COLUMNS}, {VAULT_COLUMNS_PREFIXED} from vault v \
         join resource_group g on g.subscription_id = v.subscription_id \
         and g.name_key = v.resource_group_key \
         join protected_item p on p.vault_id = v.vault_id {POLICY_JOIN} \
         where v.subscription_id = $1 and v.resource_group_key = $2 and v.name_key = $3 \
         and p.item_key = $4"
    ))
    .bind(subscription)
    .bind(key(group))
    .bind(key(vault))
    .bind(vm.item_key())
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| {
        let vault = vault_from_prefixed_row(&row)?;
        let item = item_from_row(&vault.vault_id, &row)?;
        Ok((vault, item))
    })
    .transpose()
}

/// The protected item of a VM (by its internal id) in whichever vault protects it, with
/// that vault: a VM is protected by one vault at most. `None` when no vault does.
pub async fn get_by_vm(
    db: &Db,
    vm_id: &str,
) -> Result<Option<(VaultRecord, ProtectedItem)>, ResourceError> {
    let row = sqlx::query(&format!(
        "select {ITEM_COLUMNS}, {VAULT_COLUMNS_PREFIXED} from protected_item p \
         join vault v on v.vault_id = p.vault_id \
         join resource_group g on g.subscription_id = v.subscription_id \
         and g.name_key = v.resource_group_key {POLICY_JOIN} where p.vm_id = $1"
    ))
    .bind(vm_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| {
        let vault = vault_from_prefixed_row(&row)?;
        let item = item_from_row(&vault.vault_id, &row)?;
        Ok((vault, item))
    })
    .transpose()
}

/// The key of the item a container and item name address; 404 when they are not IaaS VM
/// names or name different VMs.
pub fn resolve(container: &str, item: &str) -> Result<VmName, ResourceError> {
    match (parse_container_name(container), parse_item_name(item)) {
        (Some(c), Some(i)) if c.same_vm(&i) => Ok(i),
        _ => Err(item_not_found(item)),
    }
}

/// Which protected items (or containers) a page holds. Keys are lower-cased.
#[derive(Debug, Clone, Default)]
pub struct ItemPageQuery {
    pub policy_key: Option<String>,
    /// The VM's name, lower-cased.
    pub friendly_name: Option<String>,
    /// `Passed`, `ActionRequired`... (matched as stored).
    pub health_status: Option<String>,
    /// One item only (a `containerName` filter).
    pub item_key: Option<String>,
    /// Start after this item key.
    pub after: Option<String>,
}

/// One page of protected items in key order, with the key the next page starts after.
#[derive(Debug, Clone)]
pub struct ItemPage {
    pub items: Vec<ProtectedItem>,
    pub next: Option<String>,
}

/// A page of the vault's protected items.
pub async fn list(
    db: &Db,
    vault: &VaultRecord,
    query: &ItemPageQuery,
    limit: usize,
) -> Result<ItemPage, ResourceError> {
    let (rows, next) = page_rows(db, &vault.vault_id, ITEM_COLUMNS, query, limit).await?;
    Ok(ItemPage {
        items: rows
            .iter()
            .map(|row| item_from_row(&vault.vault_id, row))
            .collect::<Result<_, _>>()?,
        next,
    })
}

/// Selects `columns` of a page of a vault's protected items (aliased `p`, with its policy
/// `bp`), walking an index that ends in `item_key`.
pub(super) async fn page_rows(
    db: &Db,
    vault_id: &str,
    columns: &str,
    query: &ItemPageQuery,
    limit: usize,
) -> Result<(Vec<AnyRow>, Option<String>), ResourceError> {
    let mut binds = vec![vault_id.to_owned()];
    let mut param = |value: &str| {
        binds.push(value.to_owned());
        format!("${}", binds.len())
    };
    let mut sql =
        format!("select {columns} from protected_item p {POLICY_JOIN} where p.vault_id = $1");
    if let Some(policy) = &query.policy_key {
        sql.push_str(&format!(" and p.policy_key = {}", param(policy)));
    }
    if let Some(name) = &query.friendly_name {
        sql.push_str(&format!(" and lower(p.vm_name) = {}", param(name)));
    }
    if let Some(health) = &query.health_status {
        sql.push_str(&format!(" and p.health_status = {}", param(health)));
    }
    if let Some(item) = &query.item_key {
        sql.push_str(&format!(" and p.item_key = {}", param(item)));
    }
    if let Some(after) = &query.after {
        sql.push_str(&format!(" and p.item_key > {}", param(after)));
    }
    sql.push_str(&format!(" order by p.item_key limit {}", limit + 1));
    let mut rows = binds
        .iter()
        .fold(sqlx::query(&sql), |q, value| q.bind(value))
        .fetch_all(db.pool())
        .await?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .map(|row| row.try_get::<String, _>("item_key"))
            .transpose()?
    } else {
        None
    };
    Ok((rows, next))
}

const POLICY_JOIN: &str =
    "left join backup_policy bp on bp.vault_id = p.vault_id and bp.name_key = p.policy_key";

const ITEM_COLUMNS: &str = "p.item_key, p.vm_id, p.vm_name, p.vm_resource_group, \
     p.source_resource_id, bp.name as policy_name, bp.properties as policy_properties, \
     p.protection_state, p.health_status, p.last_backup_status, p.last_backup_time, \
     p.last_recovery_point, p.protected_item_data_id, p.extended_properties, p.created_at, \
     (select count(*) from recovery_point r \
      where r.vault_id = p.vault_id and r.item_key = p.item_key) as recovery_point_count, \
     (select min(r.recovery_point_time) from recovery_point r \
      where r.vault_id = p.vault_id and r.item_key = p.item_key) as oldest_recovery_point";

/// The one field of a policy's stored document an item shows (policies without one are V1).
#[derive(Deserialize)]
struct PolicyType {
    #[serde(rename = "policyType")]
    policy_type: Option<String>,
}

fn item_from_row(vault_id: &str, row: &AnyRow) -> Result<ProtectedItem, ResourceError> {
    let policy = match row.try_get::<Option<String>, _>("policy_name")? {
        Some(name) => {
            let properties: PolicyType = json_column(row, "policy_properties")?;
            Some(ItemPolicy {
                name,
                policy_type: properties.policy_type.unwrap_or_else(|| "V1".to_owned()),
            })
        }
        None => None,
    };
    let state: String = row.try_get("protection_state")?;
    Ok(ProtectedItem {
        vault_id: vault_id.to_owned(),
        item_key: row.try_get("item_key")?,
        name: VmName::new(
            row.try_get::<String, _>("vm_resource_group")?,
            row.try_get::<String, _>("vm_name")?,
        ),
        vm_id: row.try_get("vm_id")?,
        source_resource_id: row.try_get("source_resource_id")?,
        policy,
        protection_state: state.parse().unwrap_or(ProtectionState::Invalid),
        health_status: row.try_get("health_status")?,
        last_backup_status: row.try_get("last_backup_status")?,
        last_backup_time: row
            .try_get::<Option<i64>, _>("last_backup_time")?
            .map(from_micros),
        last_recovery_point: row
            .try_get::<Option<i64>, _>("last_recovery_point")?
            .map(from_micros),
        oldest_recovery_point: row
            .try_get::<Option<i64>, _>("oldest_recovery_point")?
            .map(from_micros),
        recovery_point_count: row.try_get("recovery_point_count")?,
        protected_item_data_id: row.try_get("protected_item_data_id")?,
        extended_properties: json_column(row, "extended_properties")?,
        created_at: from_micros(row.try_get("created_at")?),
    })
}

/// What a change needs to know of the item it changes.
#[derive(Debug, Clone)]
struct ItemState {
    name: VmName,
    vm_id: String,
    source_resource_id: String,
    protection_state: ProtectionState,
    /// Whether a backup ever ran (resuming then goes back to `Protected`).
    has_backups: bool,
}

async fn current(
    db: &Db,
    vault_id: &str,
    item_key: &str,
) -> Result<Option<ItemState>, ResourceError> {
    let row = sqlx::query(
        "select vm_name, vm_resource_group, vm_id, source_resource_id, protection_state, \
         last_backup_time from protected_item where vault_id = $1 and item_key = $2",
    )
    .bind(vault_id)
    .bind(item_key)
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| {
        let state: String = row.try_get("protection_state")?;
        Ok(ItemState {
            name: VmName::new(
                row.try_get::<String, _>("vm_resource_group")?,
                row.try_get::<String, _>("vm_name")?,
            ),
            vm_id: row.try_get("vm_id")?,
            source_resource_id: row.try_get("source_resource_id")?,
            protection_state: state.parse().unwrap_or(ProtectionState::Invalid),
            has_backups: row.try_get::<Option<i64>, _>("last_backup_time")?.is_some(),
        })
    })
    .transpose()
}

/// Checks that the VM `source` names may be protected by `vault`: it exists, lives in the
/// vault's location and no vault protects it yet; `None` when `vault` itself does.
async fn check_new_protection(
    db: &Db,
    vault: &VaultRecord,
    source: &VmIdParts,
) -> Result<Option<ItemState>, ResourceError> {
    let vm = lookup::vm(db, &source.subscription, &source.group, &source.vm)
        .await
        .map_err(|e| match e {
            ResourceError::NotFound { .. } => ResourceError::not_found(
                ITEM_NOT_FOUND,
                format!(
                    "The virtual machine '{}' named by properties.sourceResourceId does not exist \
                     (resource group '{}', subscription '{}').",
                    source.vm, source.group, source.subscription
                ),
            ),
            other => other,
        })?;
    if location_key(&vm.location) != location_key(&vault.location) {
        return Err(ResourceError::invalid(
            "BMSUserErrorVMAndVaultLocationMismatch",
            format!(
                "The virtual machine '{}' is in location '{}' but vault '{}' is in '{}': a vault \
                 protects only VMs of its own location.",
                vm.name, vm.location, vault.name, vault.location
            ),
        ));
    }
    let other_vault: Option<String> =
        sqlx::query_scalar("select vault_id from protected_item where vm_id = $1")
            .bind(&vm.vm_id)
            .fetch_optional(db.pool())
            .await?;
    match other_vault {
        // Protected by this vault since the item was read: a concurrent PUT of it.
        Some(other) if other == vault.vault_id => return Ok(None),
        Some(_) => return Err(already_protected(&vm.name)),
        None => {}
    }
    Ok(Some(ItemState {
        name: VmName::new(vm.resource_group.clone(), vm.name.clone()),
        source_resource_id: ids::vm_id(&vm.subscription_id, &vm.resource_group, &vm.name),
        vm_id: vm.vm_id,
        protection_state: ProtectionState::IRPending,
        has_backups: false,
    }))
}

/// Writes the (finished) job and the (succeeded) operation of a change.
async fn record_change(
    tx: &mut AnyConnection,
    now: DateTime<Utc>,
    vault: &VaultRecord,
    item: &ItemState,
    operation: JobOperation,
    kind: OperationKind,
    policy_name: Option<&str>,
) -> Result<Submitted, ResourceError> {
    let item_key = item.name.item_key();
    let mut property_bag = BTreeMap::from([("VM Name".to_owned(), item.name.vm.clone())]);
    if let Some(policy) = policy_name {
        property_bag.insert("Policy Name".to_owned(), policy.to_owned());
    }
    let job_id = jobs::create_job(
        tx,
        NewJob {
            vault_id: vault.vault_id.clone(),
            item_key: Some(item_key.clone()),
            entity_friendly_name: item.name.vm.clone(),
            container_name: item.name.native_container_name(),
            operation,
            status: JobStatus::Completed,
            start_time: now,
            end_time: Some(now),
            is_user_triggered: true,
            extended_info: JobExtendedInfo {
                property_bag,
                ..JobExtendedInfo::default()
            },
        },
    )
    .await?;
    let operation_id = operations::create(
        tx,
        NewOperation {
            vault_id: vault.vault_id.clone(),
            item_key: Some(item_key),
            kind,
            status: OperationStatus::Succeeded,
            job_id: Some(job_id.clone()),
            start_time: now,
            end_time: Some(now),
        },
    )
    .await?;
    Ok(Submitted {
        operation_id,
        job_id,
        name: item.name.clone(),
    })
}

/// Checks a PUT's names and body without touching the database.
fn validate(
    vault: &VaultRecord,
    request: &ProtectRequest,
) -> Result<(VmName, Intent), ResourceError> {
    let invalid = |message: String| ResourceError::invalid(INVALID_REQUEST, message);
    let container = parse_container_name(&request.container).ok_or_else(|| {
        invalid(format!(
            "Container name '{}' is not an Azure VM container name: expected \
             IaasVMContainer;iaasvmcontainerv2;<resource group>;<vm>.",
            request.container
        ))
    })?;
    let vm = parse_item_name(&request.item).ok_or_else(|| {
        invalid(format!(
            "Protected item name '{}' is not an Azure VM item name: expected \
             VM;iaasvmcontainerv2;<resource group>;<vm>.",
            request.item
        ))
    })?;
    if !container.same_vm(&vm) {
        return Err(invalid(format!(
            "Container '{}' and item '{}' name different virtual machines.",
            request.container, request.item
        )));
    }
    if let Some(item_type) = &request.protected_item_type {
        if !item_type.eq_ignore_ascii_case(VM_ITEM_TYPE) {
            return Err(invalid(format!(
                "properties.protectedItemType '{item_type}' is not supported: only \
                 '{VM_ITEM_TYPE}' items can be protected."
            )));
        }
    }
    let source = match request.source_resource_id.as_deref() {
        None | Some("") => None,
        Some(id) => {
            let parts = ids::parse_vm_id(id).ok_or_else(|| {
                invalid(format!(
                    "properties.sourceResourceId '{id}' is not a virtual machine's ARM id \
                     (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/virtualMachines/<vm>)."
                ))
            })?;
            if !vm.same_vm(&VmName::new(parts.group.clone(), parts.vm.clone())) {
                return Err(invalid(format!(
                    "properties.sourceResourceId names VM '{}' in resource group '{}', but the \
                     path names VM '{}' in resource group '{}'.",
                    parts.vm, parts.group, vm.vm, vm.group
                )));
            }
            Some(parts)
        }
    };
    let state = match request.protection_state.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<ProtectionState>().map_err(|_| {
            invalid(format!(
                "properties.protectionState '{text}' is not a protection state."
            ))
        })?),
    };
    let policy_id = request.policy_id.as_deref().unwrap_or_default();
    if state == Some(ProtectionState::ProtectionStopped) {
        if !policy_id.is_empty() {
            return Err(invalid(
                "To stop protection, send properties.policyId as an empty string with \
                 protectionState 'ProtectionStopped'."
                    .to_owned(),
            ));
        }
        return Ok((vm, Intent::StopRetain));
    }
    if policy_id.is_empty() {
        return Err(invalid(
            "properties.policyId is required: give the ARM id of a backup policy of this vault \
             (or protectionState 'ProtectionStopped' to stop protection)."
                .to_owned(),
        ));
    }
    let policy = parse_policy_id(policy_id).ok_or_else(|| {
        invalid(format!(
            "properties.policyId '{policy_id}' is not a backup policy's ARM id \
             (<vault id>/backupPolicies/<name>)."
        ))
    })?;
    let same_vault = policy
        .subscription
        .eq_ignore_ascii_case(&vault.subscription_id)
        && policy.group.eq_ignore_ascii_case(&vault.resource_group)
        && policy.vault.eq_ignore_ascii_case(&vault.name);
    if !same_vault {
        return Err(ResourceError::not_found(
            "BMSUserErrorPolicyNotFound",
            format!(
                "Policy '{}' belongs to vault '{}' (resource group '{}'), not to vault '{}': an \
                 item is protected with a policy of its own vault.",
                policy.policy, policy.vault, policy.group, vault.name
            ),
        ));
    }
    Ok((
        vm,
        Intent::Protect {
            policy: policy.policy,
            source,
        },
    ))
}

pub fn item_not_found(item: &str) -> ResourceError {
    ResourceError::not_found(
        ITEM_NOT_FOUND,
        format!(
            "Item '{item}' not found. Selected item might have been deleted. Please check if item \
             is registered to the vault."
        ),
    )
}

fn already_protected(vm: &str) -> ResourceError {
    ResourceError::conflict(
        "BMSUserErrorVMAlreadyProtected",
        format!(
            "The virtual machine '{vm}' is already protected by a Recovery Services vault; a VM \
             can be protected by one vault only. Stop its protection there first."
        ),
    )
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("item documents serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> VaultRecord {
        VaultRecord {
            vault_id: "vault-1".into(),
            subscription_id: "sub".into(),
            resource_group: "Group".into(),
            name: "Vault".into(),
            location: "eastus".into(),
            sku_name: "Standard".into(),
            tags: Default::default(),
            etag: String::new(),
            last_refresh_at: None,
            created_at: from_micros(0),
        }
    }

    fn request() -> ProtectRequest {
        ProtectRequest {
            container: "IaasVMContainer;iaasvmcontainerv2;rg;vm1".into(),
            item: "vm;iaasvmcontainerv2;rg;vm1".into(),
            protected_item_type: Some(VM_ITEM_TYPE.into()),
            source_resource_id: Some(ids::vm_id("sub", "RG", "VM1")),
            policy_id: Some(
                "/subscriptions/sub/resourceGroups/group/providers/Microsoft.RecoveryServices/\
                 vaults/vault/backupPolicies/DefaultPolicy"
                    .into(),
            ),
            protection_state: None,
            disk_exclusion: None,
        }
    }

    fn code(result: Result<(VmName, Intent), ResourceError>) -> String {
        match result {
            Err(ResourceError::Invalid { code, .. }) => code.into_owned(),
            Err(ResourceError::NotFound { code, .. }) => code.to_owned(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_enable_request_names_the_policy_and_the_vm() {
        let (vm, intent) = validate(&vault(), &request()).unwrap();
        assert_eq!(vm, VmName::new("rg", "vm1"));
        let Intent::Protect { policy, source } = intent else {
            panic!("not a protect intent");
        };
        assert_eq!(policy, "DefaultPolicy");
        assert_eq!(source.unwrap().vm, "VM1");
    }

    #[test]
    fn stopping_needs_an_empty_policy() {
        let mut stop = request();
        stop.protection_state = Some("protectionstopped".into());
        stop.policy_id = Some(String::new());
        assert_eq!(validate(&vault(), &stop).unwrap().1, Intent::StopRetain);
        stop.policy_id = request().policy_id;
        assert_eq!(code(validate(&vault(), &stop)), INVALID_REQUEST);
    }

    #[test]
    fn malformed_requests_are_refused_with_the_configure_protection_code() {
        type Change = Box<dyn Fn(&mut ProtectRequest)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "bad container",
                Box::new(|r| r.container = "StorageContainer;x".into()),
            ),
            ("bad item", Box::new(|r| r.item = "AzureFileShare;x".into())),
            (
                "names differ",
                Box::new(|r| r.item = "vm;iaasvmcontainerv2;rg;vm2".into()),
            ),
            (
                "item type",
                Box::new(|r| r.protected_item_type = Some("AzureFileShareProtectedItem".into())),
            ),
            (
                "source not a vm",
                Box::new(|r| r.source_resource_id = Some("/subscriptions/sub".into())),
            ),
            (
                "source other vm",
                Box::new(|r| r.source_resource_id = Some(ids::vm_id("sub", "rg", "other"))),
            ),
            ("no policy", Box::new(|r| r.policy_id = None)),
            (
                "policy not an id",
                Box::new(|r| r.policy_id = Some("DefaultPolicy".into())),
            ),
            (
                "unknown state",
                Box::new(|r| r.protection_state = Some("Sleeping".into())),
            ),
        ];
        for (name, change) in cases {
            let mut r = request();
            change(&mut r);
            assert_eq!(code(validate(&vault(), &r)), INVALID_REQUEST, "{name}");
        }
    }

    #[test]
    fn a_policy_of_another_vault_is_not_found() {
        let mut r = request();
        r.policy_id = Some(
            "/subscriptions/sub/resourceGroups/group/providers/Microsoft.RecoveryServices/\
             vaults/other/backupPolicies/DefaultPolicy"
                .into(),
        );
        assert_eq!(code(validate(&vault(), &r)), "BMSUserErrorPolicyNotFound");
    }

    #[test]
    fn get_and_delete_resolve_names_of_one_vm_only() {
        assert_eq!(
            resolve("iaasvmcontainerv2;rg;vm1", "VM;iaasvmcontainerv2;RG;VM1").unwrap(),
            VmName::new("RG", "VM1")
        );
        assert!(resolve("iaasvmcontainerv2;rg;vm1", "vm;iaasvmcontainerv2;rg;vm2").is_err());
    }
}
