//! The ARM basics every client reads first: the cloud's metadata endpoints (for
//! `az cloud register`), the caller's tenants and the subscriptions it was granted.

use axum::http::StatusCode;
use serde::Serialize;

use super::error::ErrorResponse;
use super::route::spec;
use super::{json_response, ArmRequest, ArmResult};
use crate::api::sim::SubscriptionBody;
use crate::api::ApiState;
use crate::auth::directory;
use crate::resources::ResourceError;

/// The ARM basics' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(metadata_endpoints, list_tenants, list_subscriptions, get_subscription),
    components(schemas(
        MetadataEndpoints,
        MetadataAuthentication,
        MetadataSuffixes,
        TenantBody,
        TenantList,
        SubscriptionList
    ))
)]
pub struct BasicsApi;

/// The cloud's endpoints, in the shape of `GET https://management.azure.com/metadata/endpoints`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataEndpoints {
    /// The cloud name `az cloud register` records: `vaultsim`.
    pub name: String,
    pub gallery_endpoint: String,
    pub graph_endpoint: String,
    pub portal: String,
    pub resource_manager: String,
    /// `az vm create --image <alias>` reads the aliases here (`GET /metadata/vmImageAliasDoc`).
    pub vm_image_alias_doc: String,
    pub authentication: MetadataAuthentication,
    pub suffixes: MetadataSuffixes,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataAuthentication {
    /// `<base>/adfs`: `az` then treats the authority as ADFS and needs no instance discovery.
    pub login_endpoint: String,
    /// `az` asks for tokens for the first one.
    pub audiences: Vec<String>,
    pub tenant: &'static str,
    pub identity_provider: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataSuffixes {
    /// A `.localhost` suffix, so that a storage or Key Vault client never reaches Azure by
    /// mistake; the blob endpoint itself is path-style (use a connection string).
    pub storage: &'static str,
    pub key_vault_dns: &'static str,
}

/// A tenant, as `GET /tenants` lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantBody {
    /// `/tenants/{tenantId}`
    pub id: String,
    pub tenant_id: String,
    /// Always `Home`.
    pub tenant_category: &'static str,
    pub display_name: String,
}

/// `{"value":[...]}`, never paged.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantList {
    pub value: Vec<TenantBody>,
}

/// `{"value":[...]}`, never paged.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    pub value: Vec<SubscriptionBody>,
}

/// The endpoints document for a service reachable at `base_url`.
fn endpoints(base_url: &str) -> MetadataEndpoints {
    let root = format!("{base_url}/");
    MetadataEndpoints {
        name: "vaultsim".into(),
        gallery_endpoint: root.clone(),
        graph_endpoint: root.clone(),
        portal: root.clone(),
        resource_manager: root.clone(),
        vm_image_alias_doc: format!("{base_url}/metadata/vmImageAliasDoc"),
        authentication: MetadataAuthentication {
            login_endpoint: format!("{base_url}/adfs"),
            audiences: vec!["https://management.core.windows.net/".into(), root],
            tenant: "common",
            identity_provider: "AAD",
        },
        suffixes: MetadataSuffixes {
            storage: "vaultsim.localhost",
            key_vault_dns: "vault.vaultsim.localhost",
        },
    }
}

#[utoipa::path(
    get,
    path = spec::GetMetadataEndpoints.path,
    operation_id = spec::GetMetadataEndpoints.operation_id,
    tag = "basics",
    security(()),
    params(("api-version" = Option<String>, Query, description = "Any version")),
    responses((status = 200, description = "The cloud's endpoints; no token needed", body = MetadataEndpoints))
)]
pub fn metadata_endpoints(base_url: &str) -> ArmResult {
    Ok(json_response(StatusCode::OK, &endpoints(base_url)))
}

#[utoipa::path(
    get,
    path = spec::ListTenants.path,
    operation_id = spec::ListTenants.operation_id,
    tag = "basics",
    params(("api-version" = String, Query, description = "Any version")),
    responses(
        (status = 200, description = "The caller's tenant", body = TenantList),
        (status = 401, description = "No valid token", body = ErrorResponse),
    )
)]
pub async fn list_tenants(state: &ApiState, request: &ArmRequest) -> ArmResult {
    let tenant = directory::tenant(&state.db, &request.principal.tenant_id)
        .await
        .map_err(ResourceError::from)?;
    let value = tenant
        .into_iter()
        .map(|t| TenantBody {
            id: format!("/tenants/{}", t.tenant_id),
            tenant_id: t.tenant_id,
            tenant_category: "Home",
            display_name: t.display_name,
        })
        .collect();
    Ok(json_response(StatusCode::OK, &TenantList { value }))
}

#[utoipa::path(
    get,
    path = spec::ListSubscriptions.path,
    operation_id = spec::ListSubscriptions.operation_id,
    tag = "basics",
    params(("api-version" = String, Query, description = "Any version")),
    responses(
        (status = 200, description = "The subscriptions granted to the caller", body = SubscriptionList),
        (status = 401, description = "No valid token", body = ErrorResponse),
    )
)]
pub async fn list_subscriptions(state: &ApiState, request: &ArmRequest) -> ArmResult {
    let value = directory::granted_subscriptions(&state.db, &request.principal.client_id)
        .await
        .map_err(ResourceError::from)?
        .into_iter()
        .map(SubscriptionBody::from)
        .collect();
    Ok(json_response(StatusCode::OK, &SubscriptionList { value }))
}

#[utoipa::path(
    get,
    path = spec::GetSubscription.path,
    operation_id = spec::GetSubscription.operation_id,
    tag = "basics",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id (a GUID)"),
        ("api-version" = String, Query, description = "Any version"),
    ),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionBody),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "`AuthorizationFailed`: not granted to the caller", body = ErrorResponse),
        (status = 404, description = "`SubscriptionNotFound`", body = ErrorResponse),
    )
)]
pub async fn get_subscription(
    state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    // The dispatcher checked the grant; the subscription exists.
    let found = directory::subscription(&state.db, subscription)
        .await
        .map_err(ResourceError::from)?
        .ok_or_else(|| directory::subscription_not_found(subscription))?;
    Ok(json_response(
        StatusCode::OK,
        &SubscriptionBody::from(found),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_point_az_at_the_adfs_authority() {
        let doc = serde_json::to_value(endpoints("http://127.0.0.1:8080")).unwrap();
        assert_eq!(doc["name"], "vaultsim");
        assert_eq!(doc["resourceManager"], "http://127.0.0.1:8080/");
        assert_eq!(
            doc["authentication"]["loginEndpoint"],
            "http://127.0.0.1:8080/adfs"
        );
        assert_eq!(
            doc["authentication"]["audiences"][0],
            "https://management.core.windows.net/"
        );
        assert!(doc["suffixes"]["storage"].is_string());
    }

    #[test]
    fn the_openapi_document_names_the_azure_operations() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(BasicsApi::openapi()).unwrap();
        for (path, id) in [
            ("/metadata/endpoints", "Metadata_GetEndpoints"),
            ("/tenants", "Tenants_List"),
            ("/subscriptions", "Subscriptions_List"),
            ("/subscriptions/{subscriptionId}", "Subscriptions_Get"),
        ] {
            assert_eq!(doc["paths"][path]["get"]["operationId"], id, "{path}");
        }
    }
}
