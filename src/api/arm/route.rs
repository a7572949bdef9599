//! The ARM routes, each declared once in [`arm_routes!`]'s table, and parsing a management
//! request line into the route it names. ARM matches paths case-insensitively and clients
//! percent-encode `;` as `%3B`, so every segment is decoded and literal segments are compared
//! in any case; names keep the spelling the client sent.

use axum::http::Method;
use percent_encoding::percent_decode_str;

use super::error::ArmError;
use super::protection::{backup_status, containers, items, operations};
use super::{
    backups, basics, compute, deployments, extensions, groups, images, instance_view, inventory,
    jobs, policies, providers, recovery_points, vault_config, vaults, vm_power, ArmRequest,
    ArmResult,
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

/// The path segments a route's fields are read from: the template's `{parameter}` segments,
/// in order. A subscription id is a GUID, stored lower-case; clients may send any case, so
/// `{subscriptionId}` is read lower-cased. Every other name keeps the client's spelling.
trait FromPath {
    fn from_path(parameters: &mut impl Iterator<Item = String>) -> Self;
}

impl FromPath for String {
    fn from_path(parameters: &mut impl Iterator<Item = String>) -> Self {
        parameters
            .next()
            .expect("the route's template names a parameter for each field")
    }
}

impl FromPath for GroupPath {
    fn from_path(parameters: &mut impl Iterator<Item = String>) -> Self {
        Self {
            subscription: String::from_path(parameters),
            group: String::from_path(parameters),
        }
    }
}

impl FromPath for VmPath {
    fn from_path(parameters: &mut impl Iterator<Item = String>) -> Self {
        Self {
            group: GroupPath::from_path(parameters),
            vm: String::from_path(parameters),
        }
    }
}

impl FromPath for VaultPath {
    fn from_path(parameters: &mut impl Iterator<Item = String>) -> Self {
        Self {
            group: GroupPath::from_path(parameters),
            vault: String::from_path(parameters),
        }
    }
}

impl FromPath for ContainerPath {
    fn from_path(parameters: &mut impl Iterator<Item = String>) -> Self {
        Self {
            vault: VaultPath::from_path(parameters),
            fabric: String::from_path(parameters),
            container: String::from_path(parameters),
        }
    }
}

impl FromPath for ItemPath {
    fn from_path(parameters: &mut impl Iterator<Item = String>) -> Self {
        Self {
            container: ContainerPath::from_path(parameters),
            item: String::from_path(parameters),
        }
    }
}

/// What the table says of one route besides its fields and handler: how a request names it
/// and the operation id the OpenAPI document gives it.
#[derive(Debug)]
pub struct RouteSpec {
    pub method: Method,
    /// The OpenAPI path template, `{parameter}` for each name the path carries.
    pub path: &'static str,
    pub operation_id: &'static str,
}

impl RouteSpec {
    /// The parameter segments of `segments` (decoded, empty ones dropped) when the request
    /// is this route: the method matches (HEAD is GET) and each literal segment matches in
    /// any case.
    fn parameters(&self, method: &Method, segments: &[String]) -> Option<Vec<String>> {
        let method_matches =
            *method == self.method || (self.method == Method::GET && *method == Method::HEAD);
        let template = self.path.split('/').filter(|s| !s.is_empty());
        if !method_matches || template.clone().count() != segments.len() {
            return None;
        }
        let mut parameters = Vec::new();
        for (literal, segment) in template.zip(segments) {
            if literal == "{subscriptionId}" {
                parameters.push(segment.to_ascii_lowercase());
            } else if literal.starts_with('{') {
                parameters.push(segment.clone());
            } else if !literal.eq_ignore_ascii_case(segment) {
                return None;
            }
        }
        Some(parameters)
    }
}

/// `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}`
macro_rules! group_path {
    () => {
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
    };
}

/// A region of the Compute provider: `.../providers/Microsoft.Compute/locations/{location}`.
macro_rules! compute_location_path {
    () => {
        "/subscriptions/{subscriptionId}/providers/Microsoft.Compute/locations/{location}"
    };
}

/// A virtual machine's path.
macro_rules! vm_path {
    () => {
        concat!(
            group_path!(),
            "/providers/Microsoft.Compute/virtualMachines/{vmName}"
        )
    };
}

/// A Recovery Services vault's path.
macro_rules! vault_path {
    () => {
        concat!(
            group_path!(),
            "/providers/Microsoft.RecoveryServices/vaults/{vaultName}"
        )
    };
}

/// A protected item's path.
macro_rules! item_path {
    () => {
        concat!(
            vault_path!(),
            "/backupFabrics/{fabricName}/protectionContainers/{containerName}",
            "/protectedItems/{protectedItemName}"
        )
    };
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
/// its path carries (the first is its scope, see [`Scope`]; the fields are read from the
/// path's parameters in order, see [`FromPath`]), its Azure operation id, its method and
/// OpenAPI path template, and the call that serves it, written with the dispatcher's `state`
/// and `request`. From the table come the `Route` enum, [`parse`], [`Route::SPECS`],
/// [`Route::operation_id`], [`Route::subscription`], [`Route::dispatch`] and the [`spec`]
/// constants the handlers' `utoipa::path` annotations take their path and operation id from.
macro_rules! arm_routes {
    (
        dispatch($state:ident, $request:ident) {
            $(
                $(#[$doc:meta])*
                $variant:ident { $($field:ident : $ty:ty),* $(,)? }
                    = $operation_id:literal
                    $method:ident $path:expr
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

        /// Each route's method, path template and operation id, named after its variant.
        #[allow(non_upper_case_globals)]
        pub mod spec {
            use super::{Method, RouteSpec};

            $(
                pub const $variant: RouteSpec = RouteSpec {
                    method: Method::$method,
                    path: $path,
                    operation_id: $operation_id,
                };
            )*
        }

        impl Route {
            /// Every route's spec, in table order; the OpenAPI document must describe each.
            pub const SPECS: &'static [RouteSpec] = &[$(spec::$variant),*];

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

        /// Parses a request line. `path` is the raw (still percent-encoded) URI path.
        pub fn parse(method: &Method, path: &str) -> Result<Route, ArmError> {
            let segments: Vec<String> = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect();
            $(
                if let Some(parameters) = spec::$variant.parameters(method, &segments) {
                    let mut parameters = parameters.into_iter();
                    let route = Route::$variant {
                        $($field: <$ty as FromPath>::from_path(&mut parameters)),*
                    };
                    debug_assert!(
                        parameters.next().is_none(),
                        "{} names a parameter no field of {} takes",
                        spec::$variant.path,
                        stringify!($variant)
                    );
                    return Ok(route);
                }
            )*
            Err(ArmError::NoRoute {
                method: method.to_string(),
                path: path.to_owned(),
            })
        }
    };
}

arm_routes! {
    dispatch(state, request) {
        // ---- ARM basics ----
        /// Answered before authentication: `az cloud register` reads the endpoints before
        /// anyone has a token.
        GetMetadataEndpoints {}
            = "Metadata_GetEndpoints"
            GET "/metadata/endpoints"
            => unreachable!("answered before authentication"),
        /// Answered before authentication: `az vm create` reads it without a token.
        GetVmImageAliases {}
            = "Metadata_GetVmImageAliases"
            GET "/metadata/vmImageAliasDoc"
            => unreachable!("answered before authentication"),
        ListTenants {}
            = "Tenants_List"
            GET "/tenants"
            => basics::list_tenants(state, request).await,
        ListSubscriptions {}
            = "Subscriptions_List"
            GET "/subscriptions"
            => basics::list_subscriptions(state, request).await,
        GetSubscription { subscription: String }
            = "Subscriptions_Get"
            GET "/subscriptions/{subscriptionId}"
            => basics::get_subscription(state, request, &subscription).await,
        ListResourceGroups { subscription: String }
            = "ResourceGroups_List"
            GET "/subscriptions/{subscriptionId}/resourcegroups"
            => groups::list_groups(state, request, &subscription).await,
        PutResourceGroup { group: GroupPath }
            = "ResourceGroups_CreateOrUpdate"
            PUT "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"
            => groups::put_group(state, request, &group).await,
        GetResourceGroup { group: GroupPath }
            = "ResourceGroups_Get"
            GET "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"
            => groups::get_group(state, request, &group).await,
        ListResources { subscription: String }
            = "Resources_List"
            GET "/subscriptions/{subscriptionId}/resources"
            => inventory::list_resources(state, request, &subscription).await,
        ListResourcesInGroup { group: GroupPath }
            = "Resources_ListByResourceGroup"
            GET concat!(group_path!(), "/resources")
            => inventory::list_resources_in_group(state, request, &group).await,
        ListProviders { subscription: String }
            = "Providers_List"
            GET "/subscriptions/{subscriptionId}/providers"
            => providers::list_providers(state, request, &subscription).await,
        GetProvider { subscription: String, namespace: String }
            = "Providers_Get"
            GET "/subscriptions/{subscriptionId}/providers/{resourceProviderNamespace}"
            => providers::get_provider(state, request, &subscription, &namespace).await,
        RegisterProvider { subscription: String, namespace: String }
            = "Providers_Register"
            POST "/subscriptions/{subscriptionId}/providers/{resourceProviderNamespace}/register"
            => providers::register_provider(state, request, &subscription, &namespace).await,
        // ---- Microsoft.Storage ----
        GetStorageAccount { group: GroupPath, account: String }
            = "StorageAccounts_GetProperties"
            GET concat!(group_path!(), "/providers/Microsoft.Storage/storageAccounts/{accountName}")
            => providers::get_storage_account(state, request, &group, &account).await,
        GetClassicStorageAccount { group: GroupPath, account: String }
            = "ClassicStorageAccounts_Get"
            GET concat!(
                group_path!(),
                "/providers/Microsoft.ClassicStorage/storageAccounts/{accountName}"
            )
            => providers::get_classic_storage_account(state, request, &group, &account).await,
        // ---- Microsoft.Resources deployments ----
        ListDeployments { group: GroupPath }
            = "Deployments_ListByResourceGroup"
            GET concat!(group_path!(), "/providers/Microsoft.Resources/deployments")
            => deployments::list_deployments(state, request, &group).await,
        ListDeploymentsAtSubscriptionScope { subscription: String }
            = "Deployments_ListAtSubscriptionScope"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments"
            => deployments::list_subscription_deployments(state, request, &subscription).await,
        PutDeployment { group: GroupPath, name: String }
            = "Deployments_CreateOrUpdate"
            PUT concat!(group_path!(), "/providers/Microsoft.Resources/deployments/{deploymentName}")
            => deployments::put_deployment(state, request, &group, &name).await,
        PutDeploymentAtSubscriptionScope { subscription: String, name: String }
            = "Deployments_CreateOrUpdateAtSubscriptionScope"
            PUT "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}"
            => deployments::put_subscription_deployment(state, request, &subscription, &name).await,
        GetDeployment { group: GroupPath, name: String }
            = "Deployments_Get"
            GET concat!(group_path!(), "/providers/Microsoft.Resources/deployments/{deploymentName}")
            => deployments::get_deployment(state, request, &group, &name).await,
        GetDeploymentAtSubscriptionScope { subscription: String, name: String }
            = "Deployments_GetAtSubscriptionScope"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}"
            => deployments::get_subscription_deployment(state, request, &subscription, &name).await,
        DeleteDeployment { group: GroupPath, name: String }
            = "Deployments_Delete"
            DELETE concat!(group_path!(), "/providers/Microsoft.Resources/deployments/{deploymentName}")
            => deployments::delete_deployment(state, request, &group, &name).await,
        DeleteDeploymentAtSubscriptionScope { subscription: String, name: String }
            = "Deployments_DeleteAtSubscriptionScope"
            DELETE "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}"
            => deployments::delete_subscription_deployment(state, request, &subscription, &name).await,
        ValidateDeployment { group: GroupPath, name: String }
            = "Deployments_Validate"
            POST concat!(group_path!(), "/providers/Microsoft.Resources/deployments/{deploymentName}/validate")
            => deployments::validate_deployment(state, request, &group, &name).await,
        ValidateDeploymentAtSubscriptionScope { subscription: String, name: String }
            = "Deployments_ValidateAtSubscriptionScope"
            POST "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}/validate"
            => deployments::validate_subscription_deployment(state, request, &subscription, &name).await,
        WhatIfDeployment { group: GroupPath, name: String }
            = "Deployments_WhatIf"
            POST concat!(group_path!(), "/providers/Microsoft.Resources/deployments/{deploymentName}/whatIf")
            => deployments::what_if_deployment(state, request, &group, &name).await,
        WhatIfDeploymentAtSubscriptionScope { subscription: String, name: String }
            = "Deployments_WhatIfAtSubscriptionScope"
            POST "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}/whatIf"
            => deployments::what_if_subscription_deployment(state, request, &subscription, &name).await,
        CancelDeployment { group: GroupPath, name: String }
            = "Deployments_Cancel"
            POST concat!(group_path!(), "/providers/Microsoft.Resources/deployments/{deploymentName}/cancel")
            => deployments::cancel_deployment(state, request, &group, &name).await,
        CancelDeploymentAtSubscriptionScope { subscription: String, name: String }
            = "Deployments_CancelAtSubscriptionScope"
            POST "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}/cancel"
            => deployments::cancel_subscription_deployment(state, request, &subscription, &name).await,
        ExportDeploymentTemplate { group: GroupPath, name: String }
            = "Deployments_ExportTemplate"
            POST concat!(group_path!(), "/providers/Microsoft.Resources/deployments/{deploymentName}/exportTemplate")
            => deployments::export_deployment_template(state, request, &group, &name).await,
        ExportDeploymentTemplateAtSubscriptionScope { subscription: String, name: String }
            = "Deployments_ExportTemplateAtSubscriptionScope"
            POST "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}/exportTemplate"
            => deployments::export_subscription_deployment_template(state, request, &subscription, &name).await,
        /// The Resources spec's path for a group's deployment operations has no `providers`
        /// segment; `az deployment operation group list` sends it.
        ListDeploymentOperations { group: GroupPath, name: String }
            = "DeploymentOperations_List"
            GET concat!(group_path!(), "/deployments/{deploymentName}/operations")
            => deployments::list_deployment_operations(state, request, &group, &name).await,
        ListDeploymentOperationsAtSubscriptionScope { subscription: String, name: String }
            = "DeploymentOperations_ListAtSubscriptionScope"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}/operations"
            => deployments::list_subscription_deployment_operations(state, request, &subscription, &name).await,
        /// The Resources spec's path for a group's deployment operations has no `providers`
        /// segment; `az deployment operation group list` sends it.
        GetDeploymentOperation { group: GroupPath, name: String, operation: String }
            = "DeploymentOperations_Get"
            GET concat!(group_path!(), "/deployments/{deploymentName}/operations/{operationId}")
            => deployments::get_deployment_operation(state, request, &group, &name, &operation).await,
        GetDeploymentOperationAtSubscriptionScope { subscription: String, name: String, operation: String }
            = "DeploymentOperations_GetAtSubscriptionScope"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}/operations/{operationId}"
            => deployments::get_subscription_deployment_operation(state, request, &subscription, &name, &operation).await,
        GetDeploymentOperationStatus { group: GroupPath, name: String, operation: String }
            = "DeploymentOperationStatuses_Get"
            GET concat!(group_path!(), "/providers/Microsoft.Resources/deployments/{deploymentName}/operationStatuses/{operationId}")
            => deployments::get_deployment_operation_status(state, request, &group, &name, &operation).await,
        GetDeploymentOperationStatusAtSubscriptionScope { subscription: String, name: String, operation: String }
            = "DeploymentOperationStatuses_GetAtSubscriptionScope"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/deployments/{deploymentName}/operationStatuses/{operationId}"
            => deployments::get_subscription_deployment_operation_status(state, request, &subscription, &name, &operation).await,
        // ---- Microsoft.Compute ----
        ListVmsInSubscription { subscription: String }
            = "VirtualMachines_ListAll"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Compute/virtualMachines"
            => compute::list_vms_in_subscription(state, request, &subscription).await,
        ListVmsInGroup { group: GroupPath }
            = "VirtualMachines_List"
            GET concat!(group_path!(), "/providers/Microsoft.Compute/virtualMachines")
            => compute::list_vms_in_group(state, request, &group).await,
        PutVm { vm: VmPath }
            = "VirtualMachines_CreateOrUpdate"
            PUT vm_path!()
            => compute::put_vm(state, request, &vm).await,
        GetVm { vm: VmPath }
            = "VirtualMachines_Get"
            GET vm_path!()
            => compute::get_vm(state, request, &vm).await,
        DeleteVm { vm: VmPath }
            = "VirtualMachines_Delete"
            DELETE vm_path!()
            => compute::delete_vm(state, request, &vm).await,
        StartVm { vm: VmPath }
            = "VirtualMachines_Start"
            POST concat!(vm_path!(), "/start")
            => vm_power::start_vm(state, request, &vm).await,
        PowerOffVm { vm: VmPath }
            = "VirtualMachines_PowerOff"
            POST concat!(vm_path!(), "/powerOff")
            => vm_power::power_off_vm(state, request, &vm).await,
        DeallocateVm { vm: VmPath }
            = "VirtualMachines_Deallocate"
            POST concat!(vm_path!(), "/deallocate")
            => vm_power::deallocate_vm(state, request, &vm).await,
        RestartVm { vm: VmPath }
            = "VirtualMachines_Restart"
            POST concat!(vm_path!(), "/restart")
            => vm_power::restart_vm(state, request, &vm).await,
        GetVmInstanceView { vm: VmPath }
            = "VirtualMachines_InstanceView"
            GET concat!(vm_path!(), "/instanceView")
            => instance_view::get_vm_instance_view(state, request, &vm).await,
        ListVmExtensions { vm: VmPath }
            = "VirtualMachineExtensions_List"
            GET concat!(vm_path!(), "/extensions")
            => extensions::list_extensions(state, request, &vm).await,
        GetVmExtension { vm: VmPath, extension: String }
            = "VirtualMachineExtensions_Get"
            GET concat!(vm_path!(), "/extensions/{vmExtensionName}")
            => extensions::get_extension(state, request, &vm, &extension).await,
        PutVmExtension { vm: VmPath, extension: String }
            = "VirtualMachineExtensions_CreateOrUpdate"
            PUT concat!(vm_path!(), "/extensions/{vmExtensionName}")
            => extensions::put_extension(state, request, &vm, &extension).await,
        UpdateVmExtension { vm: VmPath, extension: String }
            = "VirtualMachineExtensions_Update"
            PATCH concat!(vm_path!(), "/extensions/{vmExtensionName}")
            => extensions::update_extension(state, request, &vm, &extension).await,
        DeleteVmExtension { vm: VmPath, extension: String }
            = "VirtualMachineExtensions_Delete"
            DELETE concat!(vm_path!(), "/extensions/{vmExtensionName}")
            => extensions::delete_extension(state, request, &vm, &extension).await,
        /// Not in the Compute REST spec: where the `Azure-AsyncOperation` of an extension
        /// write points, as Compute's do. The location is not checked.
        GetComputeOperation { subscription: String, location: String, operation: String }
            = "ComputeOperations_Get"
            GET concat!(
                "/subscriptions/{subscriptionId}/providers/Microsoft.Compute",
                "/locations/{location}/operations/{operationId}"
            )
            => extensions::get_compute_operation(state, request, &subscription, &location, &operation)
                .await,
        ListVmImagePublishers { subscription: String, location: String }
            = "VirtualMachineImages_ListPublishers"
            GET concat!(compute_location_path!(), "/publishers")
            => images::list_publishers(state, request, &subscription, &location).await,
        ListVmImageOffers { subscription: String, location: String, publisher: String }
            = "VirtualMachineImages_ListOffers"
            GET concat!(compute_location_path!(), "/publishers/{publisherName}/artifacttypes/vmimage/offers")
            => images::list_offers(state, request, &subscription, &location, &publisher).await,
        ListVmImageSkus { subscription: String, location: String, publisher: String, offer: String }
            = "VirtualMachineImages_ListSkus"
            GET concat!(
                compute_location_path!(),
                "/publishers/{publisherName}/artifacttypes/vmimage/offers/{offer}/skus"
            )
            => images::list_skus(state, request, &subscription, &location, &publisher, &offer).await,
        ListVmImageVersions {
            subscription: String, location: String, publisher: String, offer: String, sku: String
        }
            = "VirtualMachineImages_List"
            GET concat!(
                compute_location_path!(),
                "/publishers/{publisherName}/artifacttypes/vmimage/offers/{offer}/skus/{skus}/versions"
            )
            => images::list_versions(state, request, &subscription, &location, &publisher, &offer, &sku)
                .await,
        GetVmImage {
            subscription: String,
            location: String,
            publisher: String,
            offer: String,
            sku: String,
            version: String,
        }
            = "VirtualMachineImages_Get"
            GET concat!(
                compute_location_path!(),
                "/publishers/{publisherName}/artifacttypes/vmimage/offers/{offer}/skus/{skus}",
                "/versions/{version}"
            )
            => images::get_image(
                state,
                request,
                images::ImageVersionPath {
                    subscription: &subscription,
                    location: &location,
                    publisher: &publisher,
                    offer: &offer,
                    sku: &sku,
                    version: &version,
                },
            )
            .await,
        // ---- Microsoft.Network ----
        ListVirtualNetworksInSubscription { subscription: String }
            = "VirtualNetworks_ListAll"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Network/virtualNetworks"
            => super::network::list_virtual_networks_in_subscription(state, request, &subscription)
                .await,
        ListVirtualNetworks { group: GroupPath }
            = "VirtualNetworks_List"
            GET concat!(group_path!(), "/providers/Microsoft.Network/virtualNetworks")
            => super::network::list_virtual_networks(state, request, &group).await,
        PutVirtualNetwork { group: GroupPath, name: String }
            = "VirtualNetworks_CreateOrUpdate"
            PUT concat!(
                group_path!(),
                "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}"
            )
            => super::network::put_virtual_network(state, request, &group, &name).await,
        GetVirtualNetwork { group: GroupPath, name: String }
            = "VirtualNetworks_Get"
            GET concat!(
                group_path!(),
                "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}"
            )
            => super::network::get_virtual_network(state, request, &group, &name).await,
        DeleteVirtualNetwork { group: GroupPath, name: String }
            = "VirtualNetworks_Delete"
            DELETE concat!(
                group_path!(),
                "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}"
            )
            => super::network::delete_virtual_network(state, request, &group, &name).await,
        ListSubnets { group: GroupPath, network: String }
            = "Subnets_List"
            GET concat!(
                group_path!(),
                "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets"
            )
            => super::network::list_subnets(state, request, &group, &network).await,
        PutSubnet { group: GroupPath, network: String, name: String }
            = "Subnets_CreateOrUpdate"
            PUT concat!(
                group_path!(),
                "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}",
                "/subnets/{subnetName}"
            )
            => super::network::put_subnet(state, request, &group, &network, &name).await,
        GetSubnet { group: GroupPath, network: String, name: String }
            = "Subnets_Get"
            GET concat!(
                group_path!(),
                "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}",
                "/subnets/{subnetName}"
            )
            => super::network::get_subnet(state, request, &group, &network, &name).await,
        DeleteSubnet { group: GroupPath, network: String, name: String }
            = "Subnets_Delete"
            DELETE concat!(
                group_path!(),
                "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}",
                "/subnets/{subnetName}"
            )
            => super::network::delete_subnet(state, request, &group, &network, &name).await,
        ListNetworkSecurityGroupsInSubscription { subscription: String }
            = "NetworkSecurityGroups_ListAll"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Network/networkSecurityGroups"
            => super::network::list_security_groups_in_subscription(state, request, &subscription)
                .await,
        ListNetworkSecurityGroups { group: GroupPath }
            = "NetworkSecurityGroups_List"
            GET concat!(group_path!(), "/providers/Microsoft.Network/networkSecurityGroups")
            => super::network::list_security_groups(state, request, &group).await,
        PutNetworkSecurityGroup { group: GroupPath, name: String }
            = "NetworkSecurityGroups_CreateOrUpdate"
            PUT concat!(
                group_path!(),
                "/providers/Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}"
            )
            => super::network::put_security_group(state, request, &group, &name).await,
        GetNetworkSecurityGroup { group: GroupPath, name: String }
            = "NetworkSecurityGroups_Get"
            GET concat!(
                group_path!(),
                "/providers/Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}"
            )
            => super::network::get_security_group(state, request, &group, &name).await,
        DeleteNetworkSecurityGroup { group: GroupPath, name: String }
            = "NetworkSecurityGroups_Delete"
            DELETE concat!(
                group_path!(),
                "/providers/Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}"
            )
            => super::network::delete_security_group(state, request, &group, &name).await,
        ListPublicIpAddressesInSubscription { subscription: String }
            = "PublicIPAddresses_ListAll"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Network/publicIPAddresses"
            => super::network::list_public_ip_addresses_in_subscription(state, request, &subscription)
                .await,
        ListPublicIpAddresses { group: GroupPath }
            = "PublicIPAddresses_List"
            GET concat!(group_path!(), "/providers/Microsoft.Network/publicIPAddresses")
            => super::network::list_public_ip_addresses(state, request, &group).await,
        PutPublicIpAddress { group: GroupPath, name: String }
            = "PublicIPAddresses_CreateOrUpdate"
            PUT concat!(
                group_path!(),
                "/providers/Microsoft.Network/publicIPAddresses/{publicIpAddressName}"
            )
            => super::network::put_public_ip_address(state, request, &group, &name).await,
        GetPublicIpAddress { group: GroupPath, name: String }
            = "PublicIPAddresses_Get"
            GET concat!(
                group_path!(),
                "/providers/Microsoft.Network/publicIPAddresses/{publicIpAddressName}"
            )
            => super::network::get_public_ip_address(state, request, &group, &name).await,
        DeletePublicIpAddress { group: GroupPath, name: String }
            = "PublicIPAddresses_Delete"
            DELETE concat!(
                group_path!(),
                "/providers/Microsoft.Network/publicIPAddresses/{publicIpAddressName}"
            )
            => super::network::delete_public_ip_address(state, request, &group, &name).await,
        ListNetworkInterfacesInSubscription { subscription: String }
            = "NetworkInterfaces_ListAll"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.Network/networkInterfaces"
            => super::network::list_network_interfaces_in_subscription(state, request, &subscription)
                .await,
        ListNetworkInterfaces { group: GroupPath }
            = "NetworkInterfaces_List"
            GET concat!(group_path!(), "/providers/Microsoft.Network/networkInterfaces")
            => super::network::list_network_interfaces(state, request, &group).await,
        PutNetworkInterface { group: GroupPath, name: String }
            = "NetworkInterfaces_CreateOrUpdate"
            PUT concat!(
                group_path!(),
                "/providers/Microsoft.Network/networkInterfaces/{networkInterfaceName}"
            )
            => super::network::put_network_interface(state, request, &group, &name).await,
        GetNetworkInterface { group: GroupPath, name: String }
            = "NetworkInterfaces_Get"
            GET concat!(
                group_path!(),
                "/providers/Microsoft.Network/networkInterfaces/{networkInterfaceName}"
            )
            => super::network::get_network_interface(state, request, &group, &name).await,
        DeleteNetworkInterface { group: GroupPath, name: String }
            = "NetworkInterfaces_Delete"
            DELETE concat!(
                group_path!(),
                "/providers/Microsoft.Network/networkInterfaces/{networkInterfaceName}"
            )
            => super::network::delete_network_interface(state, request, &group, &name).await,
        // ---- Microsoft.RecoveryServices vaults and policies ----
        ListVaultsInSubscription { subscription: String }
            = "Vaults_ListBySubscriptionId"
            GET "/subscriptions/{subscriptionId}/providers/Microsoft.RecoveryServices/vaults"
            => vaults::list_vaults_in_subscription(state, request, &subscription).await,
        ListVaultsInGroup { group: GroupPath }
            = "Vaults_ListByResourceGroup"
            GET concat!(group_path!(), "/providers/Microsoft.RecoveryServices/vaults")
            => vaults::list_vaults_in_group(state, request, &group).await,
        PutVault { vault: VaultPath }
            = "Vaults_CreateOrUpdate"
            PUT vault_path!()
            => vaults::put_vault(state, request, &vault).await,
        GetVault { vault: VaultPath }
            = "Vaults_Get"
            GET vault_path!()
            => vaults::get_vault(state, request, &vault).await,
        DeleteVault { vault: VaultPath }
            = "Vaults_Delete"
            DELETE vault_path!()
            => vaults::delete_vault(state, request, &vault).await,
        // ---- vault backup configuration ----
        ListResourceGuardProxies { vault: VaultPath }
            = "ResourceGuardProxies_Get"
            GET concat!(vault_path!(), "/backupResourceGuardProxies")
            => vault_config::list_resource_guard_proxies(state, request, &vault).await,
        GetVaultConfig { vault: VaultPath }
            = "BackupResourceVaultConfigs_Get"
            GET concat!(vault_path!(), "/backupconfig/vaultconfig")
            => vault_config::get_vault_config(state, request, &vault).await,
        UpdateVaultConfig { vault: VaultPath }
            = "BackupResourceVaultConfigs_Update"
            PATCH concat!(vault_path!(), "/backupconfig/vaultconfig")
            => vault_config::update_vault_config(state, request, &vault).await,
        PutVaultConfig { vault: VaultPath }
            = "BackupResourceVaultConfigs_Put"
            PUT concat!(vault_path!(), "/backupconfig/vaultconfig")
            => vault_config::put_vault_config(state, request, &vault).await,
        GetStorageConfig { vault: VaultPath }
            = "BackupResourceStorageConfigsNonCRR_Get"
            GET concat!(vault_path!(), "/backupstorageconfig/vaultstorageconfig")
            => vault_config::get_storage_config(state, request, &vault).await,
        GetEncryptionConfig { vault: VaultPath }
            = "BackupResourceEncryptionConfigs_Get"
            GET concat!(vault_path!(), "/backupEncryptionConfigs/backupResourceEncryptionConfig")
            => vault_config::get_encryption_config(state, request, &vault).await,
        ListPolicies { vault: VaultPath }
            = "BackupPolicies_List"
            GET concat!(vault_path!(), "/backupPolicies")
            => policies::list_policies(state, request, &vault).await,
        PutPolicy { vault: VaultPath, policy: String }
            = "ProtectionPolicies_CreateOrUpdate"
            PUT concat!(vault_path!(), "/backupPolicies/{policyName}")
            => policies::put_policy(state, request, &vault, &policy).await,
        GetPolicy { vault: VaultPath, policy: String }
            = "ProtectionPolicies_Get"
            GET concat!(vault_path!(), "/backupPolicies/{policyName}")
            => policies::get_policy(state, request, &vault, &policy).await,
        DeletePolicy { vault: VaultPath, policy: String }
            = "ProtectionPolicies_Delete"
            DELETE concat!(vault_path!(), "/backupPolicies/{policyName}")
            => policies::delete_policy(state, request, &vault, &policy).await,
        // ---- protection ----
        RefreshContainers { vault: VaultPath, fabric: String }
            = "ProtectionContainers_Refresh"
            POST concat!(vault_path!(), "/backupFabrics/{fabricName}/refreshContainers")
            => containers::refresh_containers(state, request, &vault, &fabric).await,
        GetFabricOperationResult { vault: VaultPath, fabric: String, operation: String }
            = "ProtectionContainerRefreshOperationResults_Get"
            GET concat!(vault_path!(), "/backupFabrics/{fabricName}/operationResults/{operationId}")
            => containers::get_fabric_operation_result(state, request, &vault, &fabric, &operation)
                .await,
        ListProtectableItems { vault: VaultPath }
            = "BackupProtectableItems_List"
            GET concat!(vault_path!(), "/backupProtectableItems")
            => containers::list_protectable_items(state, request, &vault).await,
        ListProtectionContainers { vault: VaultPath }
            = "BackupProtectionContainers_List"
            GET concat!(vault_path!(), "/backupProtectionContainers")
            => containers::list_protection_containers(state, request, &vault).await,
        GetProtectionContainer { container: ContainerPath }
            = "ProtectionContainers_Get"
            GET concat!(
                vault_path!(),
                "/backupFabrics/{fabricName}/protectionContainers/{containerName}"
            )
            => containers::get_protection_container(state, request, &container).await,
        PutProtectedItem { item: ItemPath }
            = "ProtectedItems_CreateOrUpdate"
            PUT item_path!()
            => items::put_protected_item(state, request, &item).await,
        GetProtectedItem { item: ItemPath }
            = "ProtectedItems_Get"
            GET item_path!()
            => items::get_protected_item(state, request, &item).await,
        DeleteProtectedItem { item: ItemPath }
            = "ProtectedItems_Delete"
            DELETE item_path!()
            => items::delete_protected_item(state, request, &item).await,
        ListProtectedItems { vault: VaultPath }
            = "BackupProtectedItems_List"
            GET concat!(vault_path!(), "/backupProtectedItems")
            => items::list_protected_items(state, request, &vault).await,
        GetItemOperationStatus { item: ItemPath, operation: String }
            = "ProtectedItemOperationStatuses_Get"
            GET concat!(item_path!(), "/operationsStatus/{operationId}")
            => operations::get_item_operation_status(state, request, &item, &operation).await,
        GetItemOperationResult { item: ItemPath, operation: String }
            = "ProtectedItemOperationResults_Get"
            GET concat!(item_path!(), "/operationResults/{operationId}")
            => operations::get_item_operation_result(state, request, &item, &operation).await,
        GetBackupOperation { vault: VaultPath, operation: String }
            = "BackupOperationStatuses_Get"
            GET concat!(vault_path!(), "/backupOperations/{operationId}")
            => operations::get_backup_operation(state, request, &vault, &operation).await,
        GetBackupOperationResult { vault: VaultPath, operation: String }
            = "BackupOperationResults_Get"
            GET concat!(vault_path!(), "/backupOperationResults/{operationId}")
            => operations::get_backup_operation_result(state, request, &vault, &operation).await,
        /// The location is not checked: a VM is found by its id.
        GetBackupStatus { subscription: String, location: String }
            = "BackupStatus_Get"
            POST concat!(
                "/subscriptions/{subscriptionId}/providers/Microsoft.RecoveryServices",
                "/locations/{azureRegion}/backupStatus"
            )
            => backup_status::get_backup_status(state, request, &subscription).await,
        // ---- jobs and recovery points ----
        ListJobs { vault: VaultPath }
            = "BackupJobs_List"
            GET concat!(vault_path!(), "/backupJobs")
            => jobs::list_jobs(state, request, &vault).await,
        GetJob { vault: VaultPath, job: String }
            = "JobDetails_Get"
            GET concat!(vault_path!(), "/backupJobs/{jobName}")
            => jobs::get_job(state, request, &vault, &job).await,
        CancelJob { vault: VaultPath, job: String }
            = "JobCancellations_Trigger"
            POST concat!(vault_path!(), "/backupJobs/{jobName}/cancel")
            => jobs::cancel_job(state, request, &vault, &job).await,
        GetJobOperationResult { vault: VaultPath, job: String, operation: String }
            = "JobOperationResults_Get"
            GET concat!(vault_path!(), "/backupJobs/{jobName}/operationResults/{operationId}")
            => jobs::get_job_operation_result(state, request, &vault, &job, &operation).await,
        GetJobOperationStatus { vault: VaultPath, operation: String }
            = "JobOperationStatuses_Get"
            GET concat!(vault_path!(), "/backupJobs/operationsStatus/{operationId}")
            => jobs::get_job_operation_status(state, request, &vault, &operation).await,
        ListRecoveryPoints { item: ItemPath }
            = "RecoveryPoints_List"
            GET concat!(item_path!(), "/recoveryPoints")
            => recovery_points::list_recovery_points(state, request, &item).await,
        GetRecoveryPoint { item: ItemPath, recovery_point: String }
            = "RecoveryPoints_Get"
            GET concat!(item_path!(), "/recoveryPoints/{recoveryPointId}")
            => recovery_points::get_recovery_point(state, request, &item, &recovery_point).await,
        // ---- backup and restore ----
        TriggerBackup { item: ItemPath }
            = "Backups_Trigger"
            POST concat!(item_path!(), "/backup")
            => backups::trigger_backup(state, request, &item).await,
        TriggerRestore { item: ItemPath, recovery_point: String }
            = "Restores_Trigger"
            POST concat!(item_path!(), "/recoveryPoints/{recoveryPointId}/restore")
            => backups::trigger_restore(state, request, &item, &recovery_point).await,
    }
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
    fn every_template_filled_in_parses_to_its_route() {
        for spec in Route::SPECS {
            let path = spec
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let route = parse(&spec.method, &path).unwrap();
            assert_eq!(route.operation_id(), spec.operation_id, "{path}");
        }
    }

    #[test]
    fn head_is_get() {
        assert_eq!(
            parse(&Method::HEAD, V).unwrap(),
            Route::GetVault { vault: vault() }
        );
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
