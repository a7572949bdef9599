//! The ARM routes, each declared once in [`arm_routes!`]'s table, and parsing a management
//! request line into the route it names. ARM matches paths case-insensitively and clients
//! percent-encode `;` as `%3B`, so every segment is decoded and literal segments are compared
//! lower-cased; names keep the spelling the client sent.

use axum::http::Method;
use percent_encoding::percent_decode_str;

use super::error::ArmError;
use super::protection::{backup_status, containers, items, operations};
use super::{
    backups, basics, compute, groups, inventory, jobs, policies, providers, recovery_points,
    vault_config, vaults, ArmRequest, ArmResult,
};
use crate::api::ApiState;

/// `/subscriptions/{subscription}/resourceGroups/{group}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPath {
    pub subscription: String,
    pub group: String,
}

/// `.../resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{vm}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPath {
    pub group: GroupPath,
    pub vm: String,
}

/// `.../resourceGroups/{group}/providers/Microsoft.RecoveryServices/vaults/{vault}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultPath {
    pub group: GroupPath,
    pub vault: String,
}

/// `{vault}/backupFabrics/{fabric}/protectionContainers/{container}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPath {
    pub vault: VaultPath,
    pub fabric: String,
    pub container: String,
}

/// `{container}/protectedItems/{item}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPath {
    pub container: ContainerPath,
    pub item: String,
}

/// The scope a route addresses: the first field of every [`Route`] variant that has fields.
/// Its subscription is the one the caller must be granted.
trait Scope {
    fn subscription(&self) -> &str;
}

/// A bare subscription id (`subscription: String`, always a route's first field when the
/// route is scoped to the subscription itself).
impl Scope for String {
    fn subscription(&self) -> &str {
        self
    }
}

impl Scope for GroupPath {
    fn subscription(&self) -> &str {
        &self.subscription
    }
}

impl Scope for VmPath {
    fn subscription(&self) -> &str {
        &self.group.subscription
    }
}

impl Scope for VaultPath {
    fn subscription(&self) -> &str {
        &self.group.subscription
    }
}

impl Scope for ContainerPath {
    fn subscription(&self) -> &str {
        self.vault.subscription()
    }
}

impl Scope for ItemPath {
    fn subscription(&self) -> &str {
        self.container.subscription()
    }
}

/// The subscription of a route's fields: its first field's, none when it has no fields.
macro_rules! first_field_subscription {
    () => {
        None
    };
    ($first:ident $(, $rest:ident)*) => {
        Some(Scope::subscription($first))
    };
}

/// Declares the ARM routes from one table. Each entry is a [`Route`] variant with the fields
/// its path carries (the first is its scope, see [`Scope`]), its Azure operation id (as the
/// OpenAPI document names it) and the call that serves it, written with the dispatcher's
/// `state` and `request`. From the table come the `Route` enum, [`Route::operation_id`],
/// [`Route::OPERATION_IDS`], [`Route::subscription`] and [`Route::dispatch`]; [`parse`]
/// matches the paths and the handlers' `utoipa` annotations document them, and a test in
/// `api::openapi` checks the three agree.
macro_rules! arm_routes {
    (
        dispatch($state:ident, $request:ident) {
            $(
                $(#[$doc:meta])*
                $variant:ident { $($field:ident : $ty:ty),* $(,)? } = $operation_id:literal
                    => $call:expr
            ),* $(,)?
        }
    ) => {
        /// What one management request asks for.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Route {
            $(
                $(#[$doc])*
                $variant { $($field: $ty),* },
            )*
        }

        impl Route {
            /// Every ARM operation id a route can have; the OpenAPI document must describe each.
            pub const OPERATION_IDS: &'static [&'static str] = &[$($operation_id),*];

            /// The Azure operation id of the route, as the OpenAPI document names it.
            pub fn operation_id(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $operation_id,)*
                }
            }

            /// The subscription the route addresses, which the caller must be granted.
            pub fn subscription(&self) -> Option<&str> {
                match self {
                    $(
                        #[allow(unused_variables)]
                        Self::$variant { $($field),* } => first_field_subscription!($($field),*),
                    )*
                }
            }

            /// Serves the route.
            pub async fn dispatch(self, $state: &ApiState, $request: &ArmRequest) -> ArmResult {
                match self {
                    $(
                        #[allow(unused_variables)]
                        Self::$variant { $($field),* } => $call,
                    )*
                }
            }
        }
    };
}

arm_routes! {
    dispatch(state, request) {
        // ---- ARM basics ----
        /// Answered before authentication: `az cloud register` reads the endpoints before
        /// anyone has a token.
        GetMetadataEndpoints {} = "Metadata_GetEndpoints"
            => unreachable!("answered before authentication"),
        ListTenants {} = "Tenants_List" => basics::list_tenants(state, request).await,
        ListSubscriptions {} = "Subscriptions_List"
            => basics::list_subscriptions(state, request).await,
        GetSubscription { subscription: String } = "Subscriptions_Get"
            => basics::get_subscription(state, request, &subscription).await,
        ListResourceGroups { subscription: String } = "ResourceGroups_List"
            => groups::list_groups(state, request, &subscription).await,
        PutResourceGroup { group: GroupPath } = "ResourceGroups_CreateOrUpdate"
            => groups::put_group(state, request, &group).await,
        GetResourceGroup { group: GroupPath } = "ResourceGroups_Get"
            => groups::get_group(state, request, &group).await,
        ListResources { subscription: String } = "Resources_List"
            => inventory::list_resources(state, request, &subscription).await,
        ListResourcesInGroup { group: GroupPath } = "Resources_ListByResourceGroup"
            => inventory::list_resources_in_group(state, request, &group).await,
        ListProviders { subscription: String } = "Providers_List"
            => providers::list_providers(state, request, &subscription).await,
        GetProvider { subscription: String, namespace: String } = "Providers_Get"
            => providers::get_provider(state, request, &subscription, &namespace).await,
        // ---- Microsoft.Storage ----
        GetStorageAccount { group: GroupPath, account: String } = "StorageAccounts_GetProperties"
            => providers::get_storage_account(state, request, &group, &account).await,
        GetClassicStorageAccount { group: GroupPath, account: String }
            = "ClassicStorageAccounts_Get"
            => providers::get_classic_storage_account(state, request, &group, &account).await,
        // ---- Microsoft.Compute ----
        ListVmsInSubscription { subscription: String } = "VirtualMachines_ListAll"
            => compute::list_vms_in_subscription(state, request, &subscription).await,
        ListVmsInGroup { group: GroupPath } = "VirtualMachines_List"
            => compute::list_vms_in_group(state, request, &group).await,
        PutVm { vm: VmPath } = "VirtualMachines_CreateOrUpdate"
            => compute::put_vm(state, request, &vm).await,
        GetVm { vm: VmPath } = "VirtualMachines_Get" => compute::get_vm(state, request, &vm).await,
        DeleteVm { vm: VmPath } = "VirtualMachines_Delete"
            => compute::delete_vm(state, request, &vm).await,
        ListVmExtensions { vm: VmPath } = "VirtualMachineExtensions_List"
            => compute::list_extensions(state, request, &vm).await,
        GetVmExtension { vm: VmPath, extension: String } = "VirtualMachineExtensions_Get"
            => compute::get_extension(state, request, &vm, &extension).await,
        // ---- Microsoft.RecoveryServices vaults and policies ----
        ListVaultsInSubscription { subscription: String } = "Vaults_ListBySubscriptionId"
            => vaults::list_vaults_in_subscription(state, request, &subscription).await,
        ListVaultsInGroup { group: GroupPath } = "Vaults_ListByResourceGroup"
            => vaults::list_vaults_in_group(state, request, &group).await,
        PutVault { vault: VaultPath } = "Vaults_CreateOrUpdate"
            => vaults::put_vault(state, request, &vault).await,
        GetVault { vault: VaultPath } = "Vaults_Get"
            => vaults::get_vault(state, request, &vault).await,
        DeleteVault { vault: VaultPath } = "Vaults_Delete"
            => vaults::delete_vault(state, request, &vault).await,
        // ---- vault backup configuration ----
        ListResourceGuardProxies { vault: VaultPath } = "ResourceGuardProxies_Get"
            => vault_config::list_resource_guard_proxies(state, request, &vault).await,
        GetVaultConfig { vault: VaultPath } = "BackupResourceVaultConfigs_Get"
            => vault_config::get_vault_config(state, request, &vault).await,
        UpdateVaultConfig { vault: VaultPath } = "BackupResourceVaultConfigs_Update"
            => vault_config::update_vault_config(state, request, &vault).await,
        PutVaultConfig { vault: VaultPath } = "BackupResourceVaultConfigs_Put"
            => vault_config::put_vault_config(state, request, &vault).await,
        GetStorageConfig { vault: VaultPath } = "BackupResourceStorageConfigsNonCRR_Get"
            => vault_config::get_storage_config(state, request, &vault).await,
        GetEncryptionConfig { vault: VaultPath } = "BackupResourceEncryptionConfigs_Get"
            => vault_config::get_encryption_config(state, request, &vault).await,
        ListPolicies { vault: VaultPath } = "BackupPolicies_List"
            => policies::list_policies(state, request, &vault).await,
        PutPolicy { vault: VaultPath, policy: String } = "ProtectionPolicies_CreateOrUpdate"
            => policies::put_policy(state, request, &vault, &policy).await,
        GetPolicy { vault: VaultPath, policy: String } = "ProtectionPolicies_Get"
            => policies::get_policy(state, request, &vault, &policy).await,
        DeletePolicy { vault: VaultPath, policy: String } = "ProtectionPolicies_Delete"
            => policies::delete_policy(state, request, &vault, &policy).await,
        // ---- protection ----
        RefreshContainers { vault: VaultPath, fabric: String } = "ProtectionContainers_Refresh"
            => containers::refresh_containers(state, request, &vault, &fabric).await,
        GetFabricOperationResult { vault: VaultPath, fabric: String, operation: String }
            = "ProtectionContainerRefreshOperationResults_Get"
            => containers::get_fabric_operation_result(state, request, &vault, &fabric, &operation)
                .await,
        ListProtectableItems { vault: VaultPath } = "BackupProtectableItems_List"
            => containers::list_protectable_items(state, request, &vault).await,
        ListProtectionContainers { vault: VaultPath } = "BackupProtectionContainers_List"
            => containers::list_protection_containers(state, request, &vault).await,
        GetProtectionContainer { container: ContainerPath } = "ProtectionContainers_Get"
            => containers::get_protection_container(state, request, &container).await,
        PutProtectedItem { item: ItemPath } = "ProtectedItems_CreateOrUpdate"
            => items::put_protected_item(state, request, &item).await,
        GetProtectedItem { item: ItemPath } = "ProtectedItems_Get"
            => items::get_protected_item(state, request, &item).await,
        DeleteProtectedItem { item: ItemPath } = "ProtectedItems_Delete"
            => items::delete_protected_item(state, request, &item).await,
        ListProtectedItems { vault: VaultPath } = "BackupProtectedItems_List"
            => items::list_protected_items(state, request, &vault).await,
        GetItemOperationStatus { item: ItemPath, operation: String }
            = "ProtectedItemOperationStatuses_Get"
            => operations::get_item_operation_status(state, request, &item, &operation).await,
        GetItemOperationResult { item: ItemPath, operation: String }
            = "ProtectedItemOperationResults_Get"
            => operations::get_item_operation_result(state, request, &item, &operation).await,
        GetBackupOperation { vault: VaultPath, operation: String } = "BackupOperationStatuses_Get"
            => operations::get_backup_operation(state, request, &vault, &operation).await,
        GetBackupOperationResult { vault: VaultPath, operation: String }
            = "BackupOperationResults_Get"
            => operations::get_backup_operation_result(state, request, &vault, &operation).await,
        /// The location is not checked: a VM is found by its id.
        GetBackupStatus { subscription: String, location: String } = "BackupStatus_Get"
            => backup_status::get_backup_status(state, request, &subscription).await,
        // ---- jobs and recovery points ----
        ListJobs { vault: VaultPath } = "BackupJobs_List"
            => jobs::list_jobs(state, request, &vault).await,
        GetJob { vault: VaultPath, job: String } = "JobDetails_Get"
            => jobs::get_job(state, request, &vault, &job).await,
        CancelJob { vault: VaultPath, job: String } = "JobCancellations_Trigger"
            => jobs::cancel_job(state, request, &vault, &job).await,
        GetJobOperationResult { vault: VaultPath, job: String, operation: String }
            = "JobOperationResults_Get"
            => jobs::get_job_operation_result(state, request, &vault, &job, &operation).await,
        GetJobOperationStatus { vault: VaultPath, operation: String } = "JobOperationStatuses_Get"
            => jobs::get_job_operation_status(state, request, &vault, &operation).await,
        ListRecoveryPoints { item: ItemPath } = "RecoveryPoints_List"
            => recovery_points::list_recovery_points(state, request, &item).await,
        GetRecoveryPoint { item: ItemPath, recovery_point: String } = "RecoveryPoints_Get"
            => recovery_points::get_recovery_point(state, request, &item, &recovery_point).await,
        // ---- backup and restore ----
        TriggerBackup { item: ItemPath } = "Backups_Trigger"
            => backups::trigger_backup(state, request, &item).await,
        TriggerRestore { item: ItemPath, recovery_point: String } = "Restores_Trigger"
            => backups::trigger_restore(state, request, &item, &recovery_point).await,
    }
}

/// Parses a request line. `path` is the raw (still percent-encoded) URI path.
pub fn parse(method: &Method, path: &str) -> Result<Route, ArmError> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let at = |i: usize| segments[i].clone();
    // Subscription ids are GUIDs, stored lower-case; clients may send any case.
    let subscription = || segments[1].to_ascii_lowercase();
    let group = || GroupPath {
        subscription: subscription(),
        group: at(3),
    };
    let vault = || VaultPath {
        group: group(),
        vault: at(7),
    };
    let vm = || VmPath {
        group: group(),
        vm: at(7),
    };
    let container = || ContainerPath {
        vault: vault(),
        fabric: at(9),
        container: at(11),
    };
    let item = || ItemPath {
        container: container(),
        item: at(13),
    };
    let no_route = || ArmError::NoRoute {
        method: method.to_string(),
        path: path.to_owned(),
    };
    let get = *method == Method::GET || *method == Method::HEAD;
    let put = *method == Method::PUT;
    let post = *method == Method::POST;
    let delete = *method == Method::DELETE;

    const RS: &str = "microsoft.recoveryservices";
    const COMPUTE: &str = "microsoft.compute";
    const STORAGE: &str = "microsoft.storage";
    const CLASSIC_STORAGE: &str = "microsoft.classicstorage";
    let route = match lower.as_slice() {
        ["metadata", "endpoints"] if get => Route::GetMetadataEndpoints {},
        ["tenants"] if get => Route::ListTenants {},
        ["subscriptions"] if get => Route::ListSubscriptions {},
        ["subscriptions", _] if get => Route::GetSubscription {
            subscription: subscription(),
        },
        ["subscriptions", _, "resourcegroups"] if get => Route::ListResourceGroups {
            subscription: subscription(),
        },
        ["subscriptions", _, "resourcegroups", _] if put => {
            Route::PutResourceGroup { group: group() }
        }
        ["subscriptions", _, "resourcegroups", _] if get => {
            Route::GetResourceGroup { group: group() }
        }
        ["subscriptions", _, "resources"] if get => Route::ListResources {
            subscription: subscription(),
        },
        ["subscriptions", _, "resourcegroups", _, "resources"] if get => {
            Route::ListResourcesInGroup { group: group() }
        }
        ["subscriptions", _, "providers"] if get => Route::ListProviders {
            subscription: subscription(),
        },
        ["subscriptions", _, "providers", _] if get => Route::GetProvider {
            subscription: subscription(),
            namespace: at(3),
        },
        ["subscriptions", _, "providers", RS, "locations", _, "backupstatus"] if post => {
            Route::GetBackupStatus {
                subscription: subscription(),
                location: at(5),
            }
        }
        ["subscriptions", _, "providers", COMPUTE, "virtualmachines"] if get => {
            Route::ListVmsInSubscription {
                subscription: subscription(),
            }
        }
        ["subscriptions", _, "providers", RS, "vaults"] if get => Route::ListVaultsInSubscription {
            subscription: subscription(),
        },
        ["subscriptions", _, "resourcegroups", _, "providers", p, rest @ ..] => match (*p, rest) {
            (COMPUTE, ["virtualmachines"]) if get => Route::ListVmsInGroup { group: group() },
            (COMPUTE, ["virtualmachines", _]) if put => Route::PutVm { vm: vm() },
            (COMPUTE, ["virtualmachines", _]) if get => Route::GetVm { vm: vm() },
            (COMPUTE, ["virtualmachines", _]) if delete => Route::DeleteVm { vm: vm() },
            (COMPUTE, ["virtualmachines", _, "extensions"]) if get => {
                Route::ListVmExtensions { vm: vm() }
            }
            (COMPUTE, ["virtualmachines", _, "extensions", _]) if get => Route::GetVmExtension {
                vm: vm(),
                extension: at(9),
            },
            (STORAGE, ["storageaccounts", _]) if get => Route::GetStorageAccount {
                group: group(),
                account: at(7),
            },
            (CLASSIC_STORAGE, ["storageaccounts", _]) if get => Route::GetClassicStorageAccount {
                group: group(),
                account: at(7),
            },
            (RS, ["vaults"]) if get => Route::ListVaultsInGroup { group: group() },
            (RS, ["vaults", _]) if put => Route::PutVault { vault: vault() },
            (RS, ["vaults", _]) if get => Route::GetVault { vault: vault() },
            (RS, ["vaults", _]) if delete => Route::DeleteVault { vault: vault() },
            (RS, ["vaults", _, rest @ ..]) => vault_route(rest, method)
                .ok_or_else(no_route)?
                .build(vault(), container, item, &segments),
            _ => return Err(no_route()),
        },
        _ => return Err(no_route()),
    };
    Ok(route)
}

/// A route below a vault, before the vault's path is attached.
enum VaultChild {
    Direct(fn(VaultPath, &[String]) -> Route),
    Container(fn(ContainerPath, &[String]) -> Route),
    Item(fn(ItemPath, &[String]) -> Route),
}

impl VaultChild {
    fn build(
        self,
        vault: VaultPath,
        container: impl Fn() -> ContainerPath,
        item: impl Fn() -> ItemPath,
        segments: &[String],
    ) -> Route {
        match self {
            Self::Direct(f) => f(vault, segments),
            Self::Container(f) => f(container(), segments),
            Self::Item(f) => f(item(), segments),
        }
    }
}

/// `rest` is lower-cased and starts after `vaults/{vault}` (segment 8 of the path).
fn vault_route(rest: &[&str], method: &Method) -> Option<VaultChild> {
    use VaultChild::{Container, Direct, Item};
    let get = *method == Method::GET || *method == Method::HEAD;
    let put = *method == Method::PUT;
    let post = *method == Method::POST;
    let patch = *method == Method::PATCH;
    let delete = *method == Method::DELETE;
    let child = match rest {
        ["backupresourceguardproxies"] if get => {
            Direct(|vault, _| Route::ListResourceGuardProxies { vault })
        }
        ["backupconfig", "vaultconfig"] if get => {
            Direct(|vault, _| Route::GetVaultConfig { vault })
        }
        ["backupconfig", "vaultconfig"] if patch => {
            Direct(|vault, _| Route::UpdateVaultConfig { vault })
        }
        ["backupconfig", "vaultconfig"] if put => {
            Direct(|vault, _| Route::PutVaultConfig { vault })
        }
        ["backupstorageconfig", "vaultstorageconfig"] if get => {
            Direct(|vault, _| Route::GetStorageConfig { vault })
        }
        ["backupencryptionconfigs", "backupresourceencryptionconfig"] if get => {
            Direct(|vault, _| Route::GetEncryptionConfig { vault })
        }
        ["backuppolicies"] if get => Direct(|vault, _| Route::ListPolicies { vault }),
        ["backuppolicies", _] if put => Direct(|v, s| Route::PutPolicy {
            vault: v,
            policy: s[9].clone(),
        }),
        ["backuppolicies", _] if get => Direct(|v, s| Route::GetPolicy {
            vault: v,
            policy: s[9].clone(),
        }),
        ["backuppolicies", _] if delete => Direct(|v, s| Route::DeletePolicy {
            vault: v,
            policy: s[9].clone(),
        }),
        ["backupfabrics", _, "refreshcontainers"] if post => {
            Direct(|v, s| Route::RefreshContainers {
                vault: v,
                fabric: s[9].clone(),
            })
        }
        ["backupfabrics", _, "operationresults", _] if get => {
            Direct(|v, s| Route::GetFabricOperationResult {
                vault: v,
                fabric: s[9].clone(),
                operation: s[11].clone(),
            })
        }
        ["backupprotectableitems"] if get => {
            Direct(|vault, _| Route::ListProtectableItems { vault })
        }
        ["backupprotectioncontainers"] if get => {
            Direct(|vault, _| Route::ListProtectionContainers { vault })
        }
        ["backupprotecteditems"] if get => Direct(|vault, _| Route::ListProtectedItems { vault }),
        ["backupoperations", _] if get => Direct(|v, s| Route::GetBackupOperation {
            vault: v,
            operation: s[9].clone(),
        }),
        ["backupoperationresults", _] if get => Direct(|v, s| Route::GetBackupOperationResult {
            vault: v,
            operation: s[9].clone(),
        }),
        ["backupjobs"] if get => Direct(|vault, _| Route::ListJobs { vault }),
        ["backupjobs", _] if get => Direct(|v, s| Route::GetJob {
            vault: v,
            job: s[9].clone(),
        }),
        ["backupjobs", _, "cancel"] if post => Direct(|v, s| Route::CancelJob {
            vault: v,
            job: s[9].clone(),
        }),
        ["backupjobs", "operationsstatus", _] if get => {
            Direct(|v, s| Route::GetJobOperationStatus {
                vault: v,
                operation: s[10].clone(),
            })
        }
        ["backupjobs", _, "operationresults", _] if get => {
            Direct(|v, s| Route::GetJobOperationResult {
                vault: v,
                job: s[9].clone(),
                operation: s[11].clone(),
            })
        }
        ["backupfabrics", _, "protectioncontainers", _] if get => {
            Container(|container, _| Route::GetProtectionContainer { container })
        }
        ["backupfabrics", _, "protectioncontainers", _, "protecteditems", _, tail @ ..] => {
            match tail {
                [] if put => Item(|item, _| Route::PutProtectedItem { item }),
                [] if get => Item(|item, _| Route::GetProtectedItem { item }),
                [] if delete => Item(|item, _| Route::DeleteProtectedItem { item }),
                ["operationsstatus", _] if get => Item(|i, s| Route::GetItemOperationStatus {
                    item: i,
                    operation: s[15].clone(),
                }),
                ["operationresults", _] if get => Item(|i, s| Route::GetItemOperationResult {
                    item: i,
                    operation: s[15].clone(),
                }),
                ["recoverypoints"] if get => Item(|item, _| Route::ListRecoveryPoints { item }),
                ["recoverypoints", _] if get => Item(|i, s| Route::GetRecoveryPoint {
                    item: i,
                    recovery_point: s[15].clone(),
                }),
                ["backup"] if post => Item(|item, _| Route::TriggerBackup { item }),
                ["recoverypoints", _, "restore"] if post => Item(|i, s| Route::TriggerRestore {
                    item: i,
                    recovery_point: s[15].clone(),
                }),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str =
        "/subscriptions/S/resourceGroups/G/providers/Microsoft.RecoveryServices/vaults/V";

    fn vault() -> VaultPath {
        VaultPath {
            group: GroupPath {
                subscription: "s".into(),
                group: "G".into(),
            },
            vault: "V".into(),
        }
    }

    #[test]
    fn literal_segments_match_in_any_case_and_names_keep_their_spelling() {
        let route = parse(
            &Method::GET,
            "/Subscriptions/S/RESOURCEGROUPS/G/providers/microsoft.recoveryservices/Vaults/V",
        )
        .unwrap();
        assert_eq!(route, Route::GetVault { vault: vault() });
    }

    #[test]
    fn encoded_semicolons_in_names_are_decoded() {
        let path = format!(
            "{V}/backupFabrics/Azure/protectionContainers/IaasVMContainer%3Biaasvmcontainerv2%3Bg%3Bvm/protectedItems/vm%3Biaasvmcontainerv2%3Bg%3Bvm"
        );
        let Route::PutProtectedItem { item } = parse(&Method::PUT, &path).unwrap() else {
            panic!("not a protected item PUT");
        };
        assert_eq!(
            item.container.container,
            "IaasVMContainer;iaasvmcontainerv2;g;vm"
        );
        assert_eq!(item.item, "vm;iaasvmcontainerv2;g;vm");
        assert_eq!(item.container.fabric, "Azure");
    }

    #[test]
    fn a_double_leading_slash_is_the_same_path() {
        assert_eq!(
            parse(&Method::GET, "//metadata/endpoints").unwrap(),
            Route::GetMetadataEndpoints {}
        );
    }

    #[test]
    fn item_children_take_their_names_from_the_right_segments() {
        let path = format!(
            "{V}/backupFabrics/Azure/protectionContainers/c/protectedItems/i/recoveryPoints/123"
        );
        let Route::GetRecoveryPoint {
            item,
            recovery_point,
        } = parse(&Method::GET, &path).unwrap()
        else {
            panic!("not a recovery point GET");
        };
        assert_eq!((item.item.as_str(), recovery_point.as_str()), ("i", "123"));
        let path = format!("{V}/backupJobs/j1");
        assert_eq!(
            parse(&Method::GET, &path).unwrap(),
            Route::GetJob {
                vault: vault(),
                job: "j1".into()
            }
        );
    }

    #[test]
    fn the_routes_az_backup_reads_beyond_the_core_parse() {
        // `az backup restore restore-disks` sends the account after a double slash.
        assert_eq!(
            parse(
                &Method::GET,
                "/subscriptions/S/resourceGroups/G/providers/Microsoft.Storage/storageAccounts//acct"
            )
            .unwrap(),
            Route::GetStorageAccount {
                group: vault().group,
                account: "acct".into()
            }
        );
        assert_eq!(
            parse(&Method::POST, &format!("{V}/backupJobs/J1/cancel")).unwrap(),
            Route::CancelJob {
                vault: vault(),
                job: "J1".into()
            }
        );
        assert_eq!(
            parse(&Method::GET, &format!("{V}/backupJobs/operationsStatus/op")).unwrap(),
            Route::GetJobOperationStatus {
                vault: vault(),
                operation: "op".into()
            }
        );
        assert_eq!(
            parse(&Method::PATCH, &format!("{V}/backupconfig/vaultconfig")).unwrap(),
            Route::UpdateVaultConfig { vault: vault() }
        );
        assert_eq!(
            parse(
                &Method::POST,
                "/subscriptions/S/providers/Microsoft.RecoveryServices/locations/eastus/backupStatus"
            )
            .unwrap(),
            Route::GetBackupStatus {
                subscription: "s".into(),
                location: "eastus".into()
            }
        );
        assert_eq!(
            parse(&Method::GET, "/subscriptions/S/resources").unwrap(),
            Route::ListResources {
                subscription: "s".into()
            }
        );
        assert_eq!(
            parse(&Method::GET, "/subscriptions/S/resourcegroups/G/resources").unwrap(),
            Route::ListResourcesInGroup {
                group: GroupPath {
                    subscription: "s".into(),
                    group: "G".into()
                }
            }
        );
        assert_eq!(
            parse(&Method::GET, "/subscriptions/S/providers/microsoft.compute").unwrap(),
            Route::GetProvider {
                subscription: "s".into(),
                namespace: "microsoft.compute".into()
            }
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_no_route() {
        for (method, path) in [
            (
                Method::GET,
                "/subscriptions/S/resourceGroups/G/providers/Microsoft.Foo/bars",
            ),
            (Method::PATCH, V),
            (Method::POST, "/subscriptions"),
            (
                Method::GET,
                &format!("{V}/backupFabrics/Azure/protectionContainers/c/protectedItems/i/nope"),
            ),
        ] {
            assert!(
                matches!(parse(&method, path), Err(ArmError::NoRoute { .. })),
                "{method} {path}"
            );
        }
    }

    mod generated {
        //! Generated paths route or are `NoRoute`; every name a validator accepts is
        //! addressable: it comes back from the path unchanged.

        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        use proptest::prelude::*;

        use super::*;
        use crate::generated_input::{near_arm_path, or_any};
        use crate::resources::{compute, groups, policy, vaults};

        fn method() -> impl Strategy<Value = Method> {
            prop::sample::select(vec![
                Method::GET,
                Method::HEAD,
                Method::PUT,
                Method::POST,
                Method::DELETE,
                Method::PATCH,
                Method::OPTIONS,
            ])
        }

        fn name() -> impl Strategy<Value = String> {
            or_any("[-a-zA-Z0-9._()é ]{0,70}")
        }

        fn encoded(name: &str) -> String {
            utf8_percent_encode(name, NON_ALPHANUMERIC).to_string()
        }

        fn group(name: &str) -> GroupPath {
            GroupPath {
                subscription: "s".into(),
                group: name.into(),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn any_path_routes_or_is_no_route(method in method(), path in or_any(near_arm_path())) {
                if let Err(error) = parse(&method, &path) {
                    prop_assert!(matches!(error, ArmError::NoRoute { .. }), "{:?}", error);
                }
            }

            #[test]
            fn accepted_names_come_back_from_their_paths(name in name()) {
                let e = encoded(&name);
                if groups::validate_group_name(&name).is_ok() {
                    let route = parse(&Method::GET, &format!("/subscriptions/S/resourceGroups/{e}"));
                    prop_assert_eq!(route.unwrap(), Route::GetResourceGroup { group: group(&name) });
                }
                if vaults::validate_name(&name).is_ok() {
                    let path = format!("/subscriptions/S/resourceGroups/G/providers/Microsoft.RecoveryServices/vaults/{e}");
                    let expected = VaultPath { group: group("G"), vault: name.clone() };
                    prop_assert_eq!(parse(&Method::GET, &path).unwrap(), Route::GetVault { vault: expected });
                }
                if compute::validate_vm_name(&name).is_ok() {
                    let path = format!("/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/virtualMachines/{e}");
                    let expected = VmPath { group: group("G"), vm: name.clone() };
                    prop_assert_eq!(parse(&Method::GET, &path).unwrap(), Route::GetVm { vm: expected });
                }
                if policy::validate_name(&name).is_ok() {
                    let route = parse(&Method::GET, &format!("{V}/backupPolicies/{e}"));
                    prop_assert_eq!(route.unwrap(), Route::GetPolicy { vault: vault(), policy: name.clone() });
                }
            }
        }
    }
}
