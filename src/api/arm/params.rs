//! The parameter blocks many ARM routes share, declared once for their `utoipa::path`
//! annotations. These types only describe parameters: the dispatcher reads the path into the
//! route's own path types and the query into `ArmQuery`.

/// The path parameters of a vault and every route below it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct VaultParams {
    /// The subscription id.
    pub subscription_id: String,
    /// The vault's resource group.
    pub resource_group_name: String,
    /// The Recovery Services vault.
    pub vault_name: String,
}

/// The path parameters of a protected item below its vault's (see [`VaultParams`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct ItemParams {
    /// Always `Azure`.
    pub fabric_name: String,
    /// The item's container.
    pub container_name: String,
    /// The protected item.
    pub protected_item_name: String,
}

/// The `api-version` query parameter every ARM route takes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "kebab-case")]
pub struct ApiVersion {
    /// Any version is accepted.
    pub api_version: String,
}

/// The path parameters of a virtual machine and the routes below it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct VmParams {
    /// The subscription id.
    pub subscription_id: String,
    /// Matched case-insensitively.
    pub resource_group_name: String,
    /// Matched case-insensitively.
    pub vm_name: String,
}

/// The path parameter of a VM extension below its VM's (see [`VmParams`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct VmExtensionParams {
    /// Matched case-insensitively.
    pub vm_extension_name: String,
}
