//! The ARM routes. One fallback handler parses the request line into a [`Route`]
//! (case-insensitive, `%3B`-decoding), authenticates the bearer token, checks the
//! subscription grant and hands a typed call to the area's handler.

pub mod backups;
pub mod basics;
pub mod compute;
pub mod error;
pub mod groups;
pub mod inventory;
pub mod jobs;
pub mod policies;
pub mod protection;
pub mod providers;
pub mod query;
pub mod route;
pub mod vault_config;
pub mod vaults;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ApiState, MAX_BODY_BYTES};
use crate::auth::{AuthError, Principal};
use crate::origin::request_origin;
pub use error::ArmError;
use query::ArmQuery;
use route::Route;

pub type ArmResult = Result<Response, ArmError>;

/// ARM requests served at once. Past this the service is overloaded: a new request is
/// answered at once with 503 `ServerBusy` and `Retry-After` (which the Azure SDKs honour)
/// instead of queueing, so latency and memory stay bounded whatever the offered load.
pub const MAX_IN_FLIGHT: usize = 256;

/// One authenticated management request, as the area handlers see it.
pub struct ArmRequest {
    pub principal: Principal,
    pub query: ArmQuery,
    /// `scheme://host[:port]` the client used, for absolute URLs (`Location`, `nextLink`).
    pub base_url: String,
    /// The request path as sent (still percent-encoded), for `nextLink`.
    pub path: String,
    pub body: Bytes,
}

impl ArmRequest {
    /// The body as JSON of type `T`; 400 `InvalidRequestContent` when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ArmError> {
        parse_json(&self.body)
    }

    /// The absolute URL of this path with `$skipToken` set, for a list's `nextLink`.
    pub fn next_link(&self, skip_token: &str) -> String {
        format!(
            "{}{}?{}",
            self.base_url,
            self.path,
            self.query.with_skip_token(skip_token)
        )
    }

    /// The `api-version` the client sent, echoed in the URLs we hand back.
    pub fn api_version(&self) -> &str {
        self.query.get("api-version").unwrap_or("2026-07-01")
    }
}

/// A request body as JSON of type `T`; 400 `InvalidRequestContent` when it is not.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ArmError> {
    serde_json::from_slice(body).map_err(|e| ArmError::InvalidRequestContent(e.to_string()))
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).expect("wire types serialize");
    let mut response = (status, Body::from(bytes)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// ARM's list body: `{"value":[...], "nextLink"?}`.
#[derive(Debug, Serialize)]
pub struct ListBody<T> {
    pub value: Vec<T>,
    #[serde(rename = "nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

pub async fn dispatch(State(state): State<ApiState>, request: Request) -> Response {
    match handle(&state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(state: &ApiState, request: Request) -> ArmResult {
    let _permit = state
        .in_flight
        .try_acquire()
        .map_err(|_| ArmError::ServerBusy)?;
    let (parts, body) = request.into_parts();
    let route = route::parse(&parts.method, parts.uri.path())?;
    let base_url = request_origin(&parts, state.public_url.as_ref());
    // `az cloud register` reads the endpoints before anyone has a token.
    if route == Route::GetMetadataEndpoints {
        return basics::metadata_endpoints(&base_url);
    }
    let principal = state.auth.authenticate(&state.db, &parts.headers).await?;
    if let Some(subscription) = route.subscription() {
        state
            .auth
            .authorize(&state.db, &principal, subscription)
            .await?;
    }
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e.into_inner().downcast::<LengthLimitError>() {
            Ok(_) => ArmError::RequestContentTooLarge,
            Err(e) => ArmError::InvalidRequestContent(e.to_string()),
        })?;
    let request = ArmRequest {
        principal,
        query: ArmQuery::parse(parts.uri.query()),
        base_url,
        path: parts.uri.path().to_owned(),
        body,
    };
    let s = state;
    let r = &request;
    match route {
        Route::GetMetadataEndpoints => unreachable!("answered before authentication"),
        Route::ListTenants => basics::list_tenants(s, r).await,
        Route::ListSubscriptions => basics::list_subscriptions(s, r).await,
        Route::GetSubscription { subscription } => {
            basics::get_subscription(s, r, &subscription).await
        }
        Route::ListResourceGroups { subscription } => {
            groups::list_groups(s, r, &subscription).await
        }
        Route::PutResourceGroup(p) => groups::put_group(s, r, &p).await,
        Route::GetResourceGroup(p) => groups::get_group(s, r, &p).await,
        Route::ListResources { subscription } => {
            inventory::list_resources(s, r, &subscription).await
        }
        Route::ListResourcesInGroup(p) => inventory::list_resources_in_group(s, r, &p).await,
        Route::ListProviders { subscription } => {
            providers::list_providers(s, r, &subscription).await
        }
        Route::GetProvider {
            subscription,
            namespace,
        } => providers::get_provider(s, r, &subscription, &namespace).await,
        Route::GetStorageAccount { group, account } => {
            providers::get_storage_account(s, r, &group, &account).await
        }
        Route::GetClassicStorageAccount { group, account } => {
            providers::get_classic_storage_account(s, r, &group, &account).await
        }
        Route::ListVmsInSubscription { subscription } => {
            compute::list_vms_in_subscription(s, r, &subscription).await
        }
        Route::ListVmsInGroup(p) => compute::list_vms_in_group(s, r, &p).await,
        Route::PutVm(p) => compute::put_vm(s, r, &p).await,
        Route::GetVm(p) => compute::get_vm(s, r, &p).await,
        Route::DeleteVm(p) => compute::delete_vm(s, r, &p).await,
        Route::ListVmExtensions(p) => compute::list_extensions(s, r, &p).await,
        Route::GetVmExtension { vm, extension } => {
            compute::get_extension(s, r, &vm, &extension).await
        }
        Route::ListVaultsInSubscription { subscription } => {
            vaults::list_vaults_in_subscription(s, r, &subscription).await
        }
        Route::ListVaultsInGroup(p) => vaults::list_vaults_in_group(s, r, &p).await,
        Route::PutVault(p) => vaults::put_vault(s, r, &p).await,
        Route::GetVault(p) => vaults::get_vault(s, r, &p).await,
        Route::DeleteVault(p) => vaults::delete_vault(s, r, &p).await,
        Route::ListResourceGuardProxies(p) => {
            vault_config::list_resource_guard_proxies(s, r, &p).await
        }
        Route::GetVaultConfig(p) => vault_config::get_vault_config(s, r, &p).await,
        Route::UpdateVaultConfig(p) => vault_config::update_vault_config(s, r, &p).await,
        Route::PutVaultConfig(p) => vault_config::put_vault_config(s, r, &p).await,
        Route::GetStorageConfig(p) => vault_config::get_storage_config(s, r, &p).await,
        Route::GetEncryptionConfig(p) => vault_config::get_encryption_config(s, r, &p).await,
        Route::ListPolicies(p) => policies::list_policies(s, r, &p).await,
        Route::PutPolicy { vault, policy } => policies::put_policy(s, r, &vault, &policy).await,
        Route::GetPolicy { vault, policy } => policies::get_policy(s, r, &vault, &policy).await,
        Route::DeletePolicy { vault, policy } => {
            policies::delete_policy(s, r, &vault, &policy).await
        }
        Route::RefreshContainers { vault, fabric } => {
            protection::refresh_containers(s, r, &vault, &fabric).await
        }
        Route::GetFabricOperationResult {
            vault,
            fabric,
            operation,
        } => protection::get_fabric_operation_result(s, r, &vault, &fabric, &operation).await,
        Route::ListProtectableItems(p) => protection::list_protectable_items(s, r, &p).await,
        Route::ListProtectionContainers(p) => {
            protection::list_protection_containers(s, r, &p).await
        }
        Route::GetProtectionContainer(p) => protection::get_protection_container(s, r, &p).await,
        Route::PutProtectedItem(p) => protection::put_protected_item(s, r, &p).await,
        Route::GetProtectedItem(p) => protection::get_protected_item(s, r, &p).await,
        Route::DeleteProtectedItem(p) => protection::delete_protected_item(s, r, &p).await,
        Route::ListProtectedItems(p) => protection::list_protected_items(s, r, &p).await,
        Route::GetItemOperationStatus { item, operation } => {
            protection::get_item_operation_status(s, r, &item, &operation).await
        }
        Route::GetItemOperationResult { item, operation } => {
            protection::get_item_operation_result(s, r, &item, &operation).await
        }
        Route::GetBackupOperation { vault, operation } => {
            protection::get_backup_operation(s, r, &vault, &operation).await
        }
        Route::GetBackupOperationResult { vault, operation } => {
            protection::get_backup_operation_result(s, r, &vault, &operation).await
        }
        Route::GetBackupStatus { subscription, .. } => {
            protection::get_backup_status(s, r, &subscription).await
        }
        Route::ListJobs(p) => jobs::list_jobs(s, r, &p).await,
        Route::GetJob { vault, job } => jobs::get_job(s, r, &vault, &job).await,
        Route::CancelJob { vault, job } => jobs::cancel_job(s, r, &vault, &job).await,
        Route::GetJobOperationResult {
            vault,
            job,
            operation,
        } => jobs::get_job_operation_result(s, r, &vault, &job, &operation).await,
        Route::GetJobOperationStatus { vault, operation } => {
            jobs::get_job_operation_status(s, r, &vault, &operation).await
        }
        Route::ListRecoveryPoints(p) => jobs::list_recovery_points(s, r, &p).await,
        Route::GetRecoveryPoint {
            item,
            recovery_point,
        } => jobs::get_recovery_point(s, r, &item, &recovery_point).await,
        Route::TriggerBackup(p) => backups::trigger_backup(s, r, &p).await,
        Route::TriggerRestore {
            item,
            recovery_point,
        } => backups::trigger_restore(s, r, &item, &recovery_point).await,
    }
}

impl From<AuthError> for ArmError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidToken(message) => Self::InvalidAuthenticationToken(message),
            AuthError::Expired => Self::ExpiredAuthenticationToken,
            AuthError::Forbidden(message) => Self::AuthorizationFailed(message),
            error @ AuthError::SubscriptionNotFound(_) => {
                Self::Resource(crate::resources::ResourceError::not_found(
                    "SubscriptionNotFound",
                    error.to_string(),
                ))
            }
            AuthError::Database(e) => Self::Resource(e.into()),
        }
    }
}
