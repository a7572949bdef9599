//! Parsing a management request line into the operation it names. ARM matches paths
//! case-insensitively and clients percent-encode `;` as `%3B`, so every segment is decoded
//! and literal segments are compared lower-cased; names keep the spelling the client sent.

use axum::http::Method;
use percent_encoding::percent_decode_str;

use super::error::ArmError;

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

/// What one management request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    // ---- ARM basics ----
    GetMetadataEndpoints,
    ListTenants,
    ListSubscriptions,
    GetSubscription {
        subscription: String,
    },
    ListResourceGroups {
        subscription: String,
    },
    PutResourceGroup(GroupPath),
    GetResourceGroup(GroupPath),
    ListResources {
        subscription: String,
    },
    ListResourcesInGroup(GroupPath),
    ListProviders {
        subscription: String,
    },
    GetProvider {
        subscription: String,
        namespace: String,
    },
    // ---- Microsoft.Storage ----
    GetStorageAccount {
        group: GroupPath,
        account: String,
    },
    GetClassicStorageAccount {
        group: GroupPath,
        account: String,
    },
    // ---- Microsoft.Compute ----
    ListVmsInSubscription {
        subscription: String,
    },
    ListVmsInGroup(GroupPath),
    PutVm(VmPath),
    GetVm(VmPath),
    DeleteVm(VmPath),
    ListVmExtensions(VmPath),
    GetVmExtension {
        vm: VmPath,
        extension: String,
    },
    // ---- Microsoft.RecoveryServices vaults and policies ----
    ListVaultsInSubscription {
        subscription: String,
    },
    ListVaultsInGroup(GroupPath),
    PutVault(VaultPath),
    GetVault(VaultPath),
    DeleteVault(VaultPath),
    // ---- vault backup configuration ----
    ListResourceGuardProxies(VaultPath),
    GetVaultConfig(VaultPath),
    UpdateVaultConfig(VaultPath),
    PutVaultConfig(VaultPath),
    GetStorageConfig(VaultPath),
    GetEncryptionConfig(VaultPath),
    ListPolicies(VaultPath),
    PutPolicy {
        vault: VaultPath,
        policy: String,
    },
    GetPolicy {
        vault: VaultPath,
        policy: String,
    },
    DeletePolicy {
        vault: VaultPath,
        policy: String,
    },
    // ---- protection ----
    RefreshContainers {
        vault: VaultPath,
        fabric: String,
    },
    GetFabricOperationResult {
        vault: VaultPath,
        fabric: String,
        operation: String,
    },
    ListProtectableItems(VaultPath),
    ListProtectionContainers(VaultPath),
    GetProtectionContainer(ContainerPath),
    PutProtectedItem(ItemPath),
    GetProtectedItem(ItemPath),
    DeleteProtectedItem(ItemPath),
    ListProtectedItems(VaultPath),
    GetItemOperationStatus {
        item: ItemPath,
        operation: String,
    },
    GetItemOperationResult {
        item: ItemPath,
        operation: String,
    },
    GetBackupOperation {
        vault: VaultPath,
        operation: String,
    },
    GetBackupOperationResult {
        vault: VaultPath,
        operation: String,
    },
    GetBackupStatus {
        subscription: String,
        location: String,
    },
    // ---- jobs and recovery points ----
    ListJobs(VaultPath),
    GetJob {
        vault: VaultPath,
        job: String,
    },
    CancelJob {
        vault: VaultPath,
        job: String,
    },
    GetJobOperationResult {
        vault: VaultPath,
        job: String,
        operation: String,
    },
    GetJobOperationStatus {
        vault: VaultPath,
        operation: String,
    },
    ListRecoveryPoints(ItemPath),
    GetRecoveryPoint {
        item: ItemPath,
        recovery_point: String,
    },
    // ---- backup and restore ----
    TriggerBackup(ItemPath),
    TriggerRestore {
        item: ItemPath,
        recovery_point: String,
    },
}

impl Route {
    /// The Azure operation id of the route, as the OpenAPI document names it.
    pub fn operation_id(&self) -> &'static str {
        match self {
            Self::GetMetadataEndpoints => "Metadata_GetEndpoints",
            Self::ListTenants => "Tenants_List",
            Self::ListSubscriptions => "Subscriptions_List",
            Self::GetSubscription { .. } => "Subscriptions_Get",
            Self::ListResourceGroups { .. } => "ResourceGroups_List",
            Self::PutResourceGroup(_) => "ResourceGroups_CreateOrUpdate",
            Self::GetResourceGroup(_) => "ResourceGroups_Get",
            Self::ListProviders { .. } => "Providers_List",
            Self::GetProvider { .. } => "Providers_Get",
            Self::ListResources { .. } => "Resources_List",
            Self::ListResourcesInGroup(_) => "Resources_ListByResourceGroup",
            Self::GetStorageAccount { .. } => "StorageAccounts_GetProperties",
            Self::GetClassicStorageAccount { .. } => "ClassicStorageAccounts_Get",
            Self::ListVmsInSubscription { .. } => "VirtualMachines_ListAll",
            Self::ListVmsInGroup(_) => "VirtualMachines_List",
            Self::PutVm(_) => "VirtualMachines_CreateOrUpdate",
            Self::GetVm(_) => "VirtualMachines_Get",
            Self::DeleteVm(_) => "VirtualMachines_Delete",
            Self::ListVmExtensions(_) => "VirtualMachineExtensions_List",
            Self::GetVmExtension { .. } => "VirtualMachineExtensions_Get",
            Self::ListVaultsInSubscription { .. } => "Vaults_ListBySubscriptionId",
            Self::ListVaultsInGroup(_) => "Vaults_ListByResourceGroup",
            Self::PutVault(_) => "Vaults_CreateOrUpdate",
            Self::GetVault(_) => "Vaults_Get",
            Self::DeleteVault(_) => "Vaults_Delete",
            Self::ListResourceGuardProxies(_) => "ResourceGuardProxies_Get",
            Self::GetVaultConfig(_) => "BackupResourceVaultConfigs_Get",
            Self::UpdateVaultConfig(_) => "BackupResourceVaultConfigs_Update",
            Self::PutVaultConfig(_) => "BackupResourceVaultConfigs_Put",
            Self::GetStorageConfig(_) => "BackupResourceStorageConfigsNonCRR_Get",
            Self::GetEncryptionConfig(_) => "BackupResourceEncryptionConfigs_Get",
            Self::ListPolicies(_) => "BackupPolicies_List",
            Self::PutPolicy { .. } => "ProtectionPolicies_CreateOrUpdate",
            Self::GetPolicy { .. } => "ProtectionPolicies_Get",
            Self::DeletePolicy { .. } => "ProtectionPolicies_Delete",
            Self::RefreshContainers { .. } => "ProtectionContainers_Refresh",
            Self::GetFabricOperationResult { .. } => {
                "ProtectionContainerRefreshOperationResults_Get"
            }
            Self::ListProtectableItems(_) => "BackupProtectableItems_List",
            Self::ListProtectionContainers(_) => "BackupProtectionContainers_List",
            Self::GetProtectionContainer(_) => "ProtectionContainers_Get",
            Self::PutProtectedItem(_) => "ProtectedItems_CreateOrUpdate",
            Self::GetProtectedItem(_) => "ProtectedItems_Get",
            Self::DeleteProtectedItem(_) => "ProtectedItems_Delete",
            Self::ListProtectedItems(_) => "BackupProtectedItems_List",
            Self::GetItemOperationStatus { .. } => "ProtectedItemOperationStatuses_Get",
            Self::GetItemOperationResult { .. } => "ProtectedItemOperationResults_Get",
            Self::GetBackupOperation { .. } => "BackupOperationStatuses_Get",
            Self::GetBackupOperationResult { .. } => "BackupOperationResults_Get",
            Self::GetBackupStatus { .. } => "BackupStatus_Get",
            Self::ListJobs(_) => "BackupJobs_List",
            Self::GetJob { .. } => "JobDetails_Get",
            Self::CancelJob { .. } => "JobCancellations_Trigger",
            Self::GetJobOperationResult { .. } => "JobOperationResults_Get",
            Self::GetJobOperationStatus { .. } => "JobOperationStatuses_Get",
            Self::ListRecoveryPoints(_) => "RecoveryPoints_List",
            Self::GetRecoveryPoint { .. } => "RecoveryPoints_Get",
            Self::TriggerBackup(_) => "Backups_Trigger",
            Self::TriggerRestore { .. } => "Restores_Trigger",
        }
    }

    /// Every ARM operation id a route can have; the OpenAPI document must describe each.
    pub const OPERATION_IDS: [&'static str; 58] = [
        "Metadata_GetEndpoints",
        "Tenants_List",
        "Subscriptions_List",
        "Subscriptions_Get",
        "ResourceGroups_List",
        "ResourceGroups_CreateOrUpdate",
        "ResourceGroups_Get",
        "Providers_List",
        "Providers_Get",
        "Resources_List",
        "Resources_ListByResourceGroup",
        "StorageAccounts_GetProperties",
        "ClassicStorageAccounts_Get",
        "VirtualMachines_ListAll",
        "VirtualMachines_List",
        "VirtualMachines_CreateOrUpdate",
        "VirtualMachines_Get",
        "VirtualMachines_Delete",
        "VirtualMachineExtensions_List",
        "VirtualMachineExtensions_Get",
        "Vaults_ListBySubscriptionId",
        "Vaults_ListByResourceGroup",
        "Vaults_CreateOrUpdate",
        "Vaults_Get",
        "Vaults_Delete",
        "ResourceGuardProxies_Get",
        "BackupResourceVaultConfigs_Get",
        "BackupResourceVaultConfigs_Update",
        "BackupResourceVaultConfigs_Put",
        "BackupResourceStorageConfigsNonCRR_Get",
        "BackupResourceEncryptionConfigs_Get",
        "BackupPolicies_List",
        "ProtectionPolicies_CreateOrUpdate",
        "ProtectionPolicies_Get",
        "ProtectionPolicies_Delete",
        "ProtectionContainers_Refresh",
        "ProtectionContainerRefreshOperationResults_Get",
        "BackupProtectableItems_List",
        "BackupProtectionContainers_List",
        "ProtectionContainers_Get",
        "ProtectedItems_CreateOrUpdate",
        "ProtectedItems_Get",
        "ProtectedItems_Delete",
        "BackupProtectedItems_List",
        "ProtectedItemOperationStatuses_Get",
        "ProtectedItemOperationResults_Get",
        "BackupOperationStatuses_Get",
        "BackupOperationResults_Get",
        "BackupStatus_Get",
        "BackupJobs_List",
        "JobDetails_Get",
        "JobCancellations_Trigger",
        "JobOperationResults_Get",
        "JobOperationStatuses_Get",
        "RecoveryPoints_List",
        "RecoveryPoints_Get",
        "Backups_Trigger",
        "Restores_Trigger",
    ];
    /// The subscription the route addresses, which the caller must be granted.
    pub fn subscription(&self) -> Option<&str> {
        match self {
            Self::GetMetadataEndpoints | Self::ListTenants | Self::ListSubscriptions => None,
            Self::GetSubscription { subscription }
            | Self::ListResourceGroups { subscription }
            | Self::ListVmsInSubscription { subscription }
            | Self::ListVaultsInSubscription { subscription }
            | Self::ListProviders { subscription }
            | Self::GetProvider { subscription, .. }
            | Self::ListResources { subscription }
            | Self::GetBackupStatus { subscription, .. } => Some(subscription),
            Self::PutResourceGroup(g)
            | Self::GetResourceGroup(g)
            | Self::ListResourcesInGroup(g)
            | Self::ListVmsInGroup(g)
            | Self::GetStorageAccount { group: g, .. }
            | Self::GetClassicStorageAccount { group: g, .. } => Some(&g.subscription),
            Self::ListVaultsInGroup(g) => Some(&g.subscription),
            Self::PutVm(vm)
            | Self::GetVm(vm)
            | Self::DeleteVm(vm)
            | Self::ListVmExtensions(vm)
            | Self::GetVmExtension { vm, .. } => Some(&vm.group.subscription),
            Self::PutVault(v)
            | Self::GetVault(v)
            | Self::DeleteVault(v)
            | Self::ListResourceGuardProxies(v)
            | Self::GetVaultConfig(v)
            | Self::UpdateVaultConfig(v)
            | Self::PutVaultConfig(v)
            | Self::GetStorageConfig(v)
            | Self::GetEncryptionConfig(v)
            | Self::ListPolicies(v)
            | Self::PutPolicy { vault: v, .. }
            | Self::GetPolicy { vault: v, .. }
            | Self::DeletePolicy { vault: v, .. }
            | Self::RefreshContainers { vault: v, .. }
            | Self::GetFabricOperationResult { vault: v, .. }
            | Self::ListProtectableItems(v)
            | Self::ListProtectionContainers(v)
            | Self::ListProtectedItems(v)
            | Self::GetBackupOperation { vault: v, .. }
            | Self::GetBackupOperationResult { vault: v, .. }
            | Self::ListJobs(v)
            | Self::GetJob { vault: v, .. }
            | Self::CancelJob { vault: v, .. }
            | Self::GetJobOperationResult { vault: v, .. }
            | Self::GetJobOperationStatus { vault: v, .. } => Some(&v.group.subscription),
            Self::GetProtectionContainer(c) => Some(&c.vault.group.subscription),
            Self::PutProtectedItem(i)
            | Self::GetProtectedItem(i)
            | Self::DeleteProtectedItem(i)
            | Self::GetItemOperationStatus { item: i, .. }
            | Self::GetItemOperationResult { item: i, .. }
            | Self::ListRecoveryPoints(i)
            | Self::GetRecoveryPoint { item: i, .. }
            | Self::TriggerBackup(i)
            | Self::TriggerRestore { item: i, .. } => Some(&i.container.vault.group.subscription),
        }
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
        ["metadata", "endpoints"] if get => Route::GetMetadataEndpoints,
        ["tenants"] if get => Route::ListTenants,
        ["subscriptions"] if get => Route::ListSubscriptions,
        ["subscriptions", _] if get => Route::GetSubscription {
            subscription: subscription(),
        },
        ["subscriptions", _, "resourcegroups"] if get => Route::ListResourceGroups {
            subscription: subscription(),
        },
        ["subscriptions", _, "resourcegroups", _] if put => Route::PutResourceGroup(group()),
        ["subscriptions", _, "resourcegroups", _] if get => Route::GetResourceGroup(group()),
        ["subscriptions", _, "resources"] if get => Route::ListResources {
            subscription: subscription(),
        },
        ["subscriptions", _, "resourcegroups", _, "resources"] if get => {
            Route::ListResourcesInGroup(group())
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
            (COMPUTE, ["virtualmachines"]) if get => Route::ListVmsInGroup(group()),
            (COMPUTE, ["virtualmachines", _]) if put => Route::PutVm(vm()),
            (COMPUTE, ["virtualmachines", _]) if get => Route::GetVm(vm()),
            (COMPUTE, ["virtualmachines", _]) if delete => Route::DeleteVm(vm()),
            (COMPUTE, ["virtualmachines", _, "extensions"]) if get => Route::ListVmExtensions(vm()),
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
            (RS, ["vaults"]) if get => Route::ListVaultsInGroup(group()),
            (RS, ["vaults", _]) if put => Route::PutVault(vault()),
            (RS, ["vaults", _]) if get => Route::GetVault(vault()),
            (RS, ["vaults", _]) if delete => Route::DeleteVault(vault()),
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
        ["backupresourceguardproxies"] if get => Direct(|v, _| Route::ListResourceGuardProxies(v)),
        ["backupconfig", "vaultconfig"] if get => Direct(|v, _| Route::GetVaultConfig(v)),
        ["backupconfig", "vaultconfig"] if patch => Direct(|v, _| Route::UpdateVaultConfig(v)),
        ["backupconfig", "vaultconfig"] if put => Direct(|v, _| Route::PutVaultConfig(v)),
        ["backupstorageconfig", "vaultstorageconfig"] if get => {
            Direct(|v, _| Route::GetStorageConfig(v))
        }
        ["backupencryptionconfigs", "backupresourceencryptionconfig"] if get => {
            Direct(|v, _| Route::GetEncryptionConfig(v))
        }
        ["backuppolicies"] if get => Direct(|v, _| Route::ListPolicies(v)),
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
        ["backupprotectableitems"] if get => Direct(|v, _| Route::ListProtectableItems(v)),
        ["backupprotectioncontainers"] if get => Direct(|v, _| Route::ListProtectionContainers(v)),
        ["backupprotecteditems"] if get => Direct(|v, _| Route::ListProtectedItems(v)),
        ["backupoperations", _] if get => Direct(|v, s| Route::GetBackupOperation {
            vault: v,
            operation: s[9].clone(),
        }),
        ["backupoperationresults", _] if get => Direct(|v, s| Route::GetBackupOperationResult {
            vault: v,
            operation: s[9].clone(),
        }),
        ["backupjobs"] if get => Direct(|v, _| Route::ListJobs(v)),
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
            Container(|c, _| Route::GetProtectionContainer(c))
        }
        ["backupfabrics", _, "protectioncontainers", _, "protecteditems", _, tail @ ..] => {
            match tail {
                [] if put => Item(|i, _| Route::PutProtectedItem(i)),
                [] if get => Item(|i, _| Route::GetProtectedItem(i)),
                [] if delete => Item(|i, _| Route::DeleteProtectedItem(i)),
                ["operationsstatus", _] if get => Item(|i, s| Route::GetItemOperationStatus {
                    item: i,
                    operation: s[15].clone(),
                }),
                ["operationresults", _] if get => Item(|i, s| Route::GetItemOperationResult {
                    item: i,
                    operation: s[15].clone(),
                }),
                ["recoverypoints"] if get => Item(|i, _| Route::ListRecoveryPoints(i)),
                ["recoverypoints", _] if get => Item(|i, s| Route::GetRecoveryPoint {
                    item: i,
                    recovery_point: s[15].clone(),
                }),
                ["backup"] if post => Item(|i, _| Route::TriggerBackup(i)),
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
        assert_eq!(route, Route::GetVault(vault()));
    }

    #[test]
    fn encoded_semicolons_in_names_are_decoded() {
        let path = format!(
            "{V}/backupFabrics/Azure/protectionContainers/IaasVMContainer%3Biaasvmcontainerv2%3Bg%3Bvm/protectedItems/vm%3Biaasvmcontainerv2%3Bg%3Bvm"
        );
        let Route::PutProtectedItem(item) = parse(&Method::PUT, &path).unwrap() else {
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
            Route::GetMetadataEndpoints
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
            Route::UpdateVaultConfig(vault())
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
            Route::ListResourcesInGroup(GroupPath {
                subscription: "s".into(),
                group: "G".into()
            })
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
                    prop_assert_eq!(route.unwrap(), Route::GetResourceGroup(group(&name)));
                }
                if vaults::validate_name(&name).is_ok() {
                    let path = format!("/subscriptions/S/resourceGroups/G/providers/Microsoft.RecoveryServices/vaults/{e}");
                    let expected = VaultPath { group: group("G"), vault: name.clone() };
                    prop_assert_eq!(parse(&Method::GET, &path).unwrap(), Route::GetVault(expected));
                }
                if compute::validate_vm_name(&name).is_ok() {
                    let path = format!("/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/virtualMachines/{e}");
                    let expected = VmPath { group: group("G"), vm: name.clone() };
                    prop_assert_eq!(parse(&Method::GET, &path).unwrap(), Route::GetVm(expected));
                }
                if policy::validate_name(&name).is_ok() {
                    let route = parse(&Method::GET, &format!("{V}/backupPolicies/{e}"));
                    prop_assert_eq!(route.unwrap(), Route::GetPolicy { vault: vault(), policy: name.clone() });
                }
            }
        }
    }
}
