//! Resource providers (`GET /subscriptions/{s}/providers[/{namespace}]`), which `az
//! resource` reads to pick an api-version, and the served storage account as an ARM
//! resource, which `az backup restore restore-disks --storage-account` reads for its blob
//! endpoint.

use axum::http::StatusCode;
use serde::Serialize;

use super::error::ErrorResponse;
use super::params::ApiVersion;
use super::route::{spec, GroupPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::ids;
use crate::resources::providers::{self, Provider, LOCATIONS, PROVIDERS};
use crate::resources::storage_accounts::{self, StorageAccount, STORAGE_ACCOUNT_TYPE};

/// An ARM resource provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderBody {
    /// `/subscriptions/{s}/providers/{namespace}`.
    id: String,
    namespace: &'static str,
    /// Always `Registered`: a client never needs to register a provider here.
    registration_state: &'static str,
    registration_policy: &'static str,
    resource_types: Vec<ProviderResourceTypeBody>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderResourceTypeBody {
    resource_type: &'static str,
    locations: Vec<&'static str>,
    /// Newest first, none of them a preview.
    api_versions: Vec<&'static str>,
    capabilities: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    value: Vec<ProviderBody>,
}

/// A `Microsoft.Storage/storageAccounts` resource.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StorageAccountBody {
    id: String,
    name: String,
    #[serde(rename = "type")]
    resource_type: &'static str,
    location: String,
    kind: &'static str,
    sku: StorageSku,
    properties: StorageAccountProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StorageSku {
    name: &'static str,
    tier: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountProperties {
    provisioning_state: &'static str,
    primary_endpoints: StorageEndpoints,
    primary_location: String,
    status_of_primary: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StorageEndpoints {
    /// The blob endpoint's account URL, with a trailing `/` as Azure writes it.
    blob: String,
}

fn provider_body(subscription: &str, provider: &Provider) -> ProviderBody {
    ProviderBody {
        id: format!(
            "{}/providers/{}",
            ids::subscription_id(subscription),
            provider.namespace
        ),
        namespace: provider.namespace,
        registration_state: "Registered",
        registration_policy: "RegistrationRequired",
        resource_types: provider
            .resource_types
            .iter()
            .map(|t| ProviderResourceTypeBody {
                resource_type: t.resource_type,
                locations: LOCATIONS.to_vec(),
                api_versions: t.api_versions.to_vec(),
                capabilities: "None",
            })
            .collect(),
    }
}

fn storage_account_body(account: StorageAccount, blob_endpoint: &str) -> StorageAccountBody {
    StorageAccountBody {
        id: account.arm_id(),
        name: account.name,
        resource_type: STORAGE_ACCOUNT_TYPE,
        location: account.location.clone(),
        kind: "StorageV2",
        sku: StorageSku {
            name: "Standard_LRS",
            tier: "Standard",
        },
        properties: StorageAccountProperties {
            provisioning_state: "Succeeded",
            primary_endpoints: StorageEndpoints {
                blob: format!("{}/", blob_endpoint.trim_end_matches('/')),
            },
            primary_location: account.location,
            status_of_primary: "available",
        },
    }
}

#[utoipa::path(
    get,
    path = spec::ListProviders.path,
    operation_id = spec::ListProviders.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "Every served provider, registered.", body = ProviderList),
    )
)]
pub async fn list_providers(
    _state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    Ok(json_response(
        StatusCode::OK,
        &ProviderList {
            value: PROVIDERS
                .iter()
                .map(|p| provider_body(subscription, p))
                .collect(),
        },
    ))
}

#[utoipa::path(
    get,
    path = spec::GetProvider.path,
    operation_id = spec::GetProvider.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceProviderNamespace" = String, Path, description = "e.g. `Microsoft.Compute`, in any case."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The provider and its served resource types.", body = ProviderBody),
        (status = 404, description = "`InvalidResourceNamespace`: not a served namespace.", body = ErrorResponse),
    )
)]
pub async fn get_provider(
    _state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
    namespace: &str,
) -> ArmResult {
    let provider = providers::get(namespace)?;
    Ok(json_response(
        StatusCode::OK,
        &provider_body(subscription, provider),
    ))
}

#[utoipa::path(
    post,
    path = spec::RegisterProvider.path,
    operation_id = spec::RegisterProvider.operation_id,
    tag = "Microsoft.Resources",
    description = "What `az provider register` and Terraform's provider registration send. Every \
                   served namespace is registered in every subscription from the start, so this \
                   answers the provider as it is.",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceProviderNamespace" = String, Path, description = "e.g. `Microsoft.RecoveryServices`, in any case."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The provider, `Registered`.", body = ProviderBody),
        (status = 404, description = "`InvalidResourceNamespace`: not a served namespace.", body = ErrorResponse),
    )
)]
pub async fn register_provider(
    state: &ApiState,
    request: &ArmRequest,
    subscription: &str,
    namespace: &str,
) -> ArmResult {
    get_provider(state, request, subscription, namespace).await
}

#[utoipa::path(
    get,
    path = spec::GetStorageAccount.path,
    operation_id = spec::GetStorageAccount.operation_id,
    tag = "Microsoft.Storage",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Any resource group of the subscription: the one served account answers in each, in the group's location."),
        ("accountName" = String, Path, description = "The blob endpoint's account (`devstoreaccount1` by default)."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The account, with its blob endpoint.", body = StorageAccountBody),
        (status = 404, description = "`ResourceNotFound` (another account) or `ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_storage_account(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    account: &str,
) -> ArmResult {
    let served = state.engine.account();
    let account = storage_accounts::get(
        &state.db,
        &group.subscription,
        &group.group,
        account,
        &served.name,
    )
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &storage_account_body(account, &served.endpoint),
    ))
}

#[utoipa::path(
    get,
    path = spec::GetClassicStorageAccount.path,
    operation_id = spec::GetClassicStorageAccount.operation_id,
    tag = "Microsoft.Storage",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("accountName" = String, Path, description = "The account."),
        ApiVersion,
    ),
    responses(
        (status = 404, description = "`ResourceNotFound`: there are no classic accounts (`az` looks here first and expects this).", body = ErrorResponse),
    )
)]
pub async fn get_classic_storage_account(
    state: &ApiState,
    _request: &ArmRequest,
    group: &GroupPath,
    account: &str,
) -> ArmResult {
    match storage_accounts::get_classic(&state.db, &group.subscription, &group.group, account)
        .await? {}
}

/// The providers' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_providers,
        get_provider,
        register_provider,
        get_storage_account,
        get_classic_storage_account
    ),
    components(schemas(
        ProviderBody,
        ProviderResourceTypeBody,
        ProviderList,
        StorageAccountBody,
        StorageSku,
        StorageAccountProperties,
        StorageEndpoints
    ))
)]
pub struct ProvidersApi;
