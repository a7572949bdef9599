//! The `/_sim` admin routes: make subscriptions and client principals, and grant or revoke
//! a principal's access to a subscription. Bearer-authenticated like the ARM routes, for
//! admin principals only; errors in ARM's format. `/_sim/auth` alone is public: whether the
//! service wants tokens at all, for a client (the dashboard) to know whether to sign in.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::{Deserialize, Serialize};

use super::arm::error::ErrorResponse;
use super::arm::{json_response, parse_json, ArmError};
use super::ApiState;
use crate::auth::directory::{self, Subscription};
use crate::auth::Principal;
use crate::resources::ResourceError;

/// The admin API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(auth_mode, create_subscription, create_principal, grant, revoke),
    components(schemas(
        AuthMode,
        CreateSubscription,
        SubscriptionBody,
        SubscriptionPolicies,
        CreatePrincipal,
        PrincipalCreated,
        GrantBody
    ))
)]
pub struct SimApi;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/_sim/auth", get(auth_mode))
        .route("/_sim/subscriptions", post(create_subscription))
        .route("/_sim/principals", post(create_principal))
        .route(
            "/_sim/principals/{client_id}/subscriptions/{subscription_id}",
            put(grant).delete(revoke),
        )
}

/// A subscription as ARM returns it (`GET /subscriptions/{id}`), and as `/_sim` does.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionBody {
    /// `/subscriptions/{subscriptionId}`
    pub id: String,
    /// Always `RoleBased`.
    pub authorization_source: &'static str,
    /// Always empty.
    pub managed_by_tenants: Vec<serde_json::Value>,
    pub subscription_id: String,
    pub tenant_id: String,
    pub display_name: String,
    /// `Enabled`.
    pub state: String,
    pub subscription_policies: SubscriptionPolicies,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPolicies {
    pub location_placement_id: &'static str,
    pub quota_id: &'static str,
    pub spending_limit: &'static str,
}

impl From<Subscription> for SubscriptionBody {
    fn from(s: Subscription) -> Self {
        Self {
            id: format!("/subscriptions/{}", s.subscription_id),
            authorization_source: "RoleBased",
            managed_by_tenants: Vec::new(),
            subscription_id: s.subscription_id,
            tenant_id: s.tenant_id,
            display_name: s.display_name,
            state: s.state,
            subscription_policies: SubscriptionPolicies {
                location_placement_id: "Public_2014-09-01",
                quota_id: "PayAsYouGo_2014-09-01",
                spending_limit: "Off",
            },
        }
    }
}

/// `POST /_sim/subscriptions`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSubscription {
    /// 1 to 64 characters.
    pub display_name: String,
}

/// `POST /_sim/principals`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePrincipal {
    /// 1 to 120 characters.
    pub display_name: String,
    /// Subscriptions (of the admin's tenant) to grant the new principal; default none.
    #[serde(default)]
    pub subscription_ids: Vec<String>,
}

/// A new principal. The secret is shown only here: only its SHA-256 is stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalCreated {
    pub client_id: String,
    pub client_secret: String,
    pub tenant_id: String,
    pub display_name: String,
    pub subscription_ids: Vec<String>,
}

/// A grant of a subscription to a principal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantBody {
    pub client_id: String,
    pub subscription_id: String,
}

/// The caller, who must be an admin.
pub(super) async fn admin(state: &ApiState, headers: &HeaderMap) -> Result<Principal, ArmError> {
    let principal = state.auth.authenticate(&state.db, headers).await?;
    if !principal.is_admin {
        let client = &principal.client_id;
        return Err(ArmError::AuthorizationFailed(format!(
            "The client '{client}' with object id '{client}' does not have authorization to \
             perform action over scope '/_sim': only the bootstrap admin may use the admin API."
        )));
    }
    Ok(principal)
}

/// A display name, trimmed: 1 to `max` characters.
fn display_name(value: &str, max: usize) -> Result<String, ArmError> {
    let name = value.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(ResourceError::invalid(
            "InvalidRequestContent",
            format!("The property 'displayName' must be 1 to {max} characters long."),
        )
        .into());
    }
    Ok(name.to_owned())
}

/// A subscription id must be a GUID, as in Azure.
fn subscription_id(value: &str) -> Result<String, ArmError> {
    uuid::Uuid::try_parse(value)
        .map(|id| id.to_string())
        .map_err(|_| {
            ResourceError::invalid(
                "InvalidSubscriptionId",
                format!("The provided subscription identifier '{value}' is malformed or invalid."),
            )
            .into()
        })
}

/// `GET /_sim/auth`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthMode {
    /// `false` under `--no-auth`, where every request acts as the bootstrap admin.
    pub required: bool,
}

#[utoipa::path(
    get,
    path = "/_sim/auth",
    operation_id = "Sim_GetAuthMode",
    tag = "sim",
    security(()),
    responses(
        (status = 200, description = "Whether requests need a bearer token", body = AuthMode),
    )
)]
async fn auth_mode(State(state): State<ApiState>) -> Response {
    json_response(
        StatusCode::OK,
        &AuthMode {
            required: state.auth.requires_tokens(),
        },
    )
}

#[utoipa::path(
    post,
    path = "/_sim/subscriptions",
    operation_id = "Sim_CreateSubscription",
    tag = "sim",
    request_body = CreateSubscription,
    responses(
        (status = 201, description = "The subscription, in the admin's tenant and granted to the admin", body = SubscriptionBody),
        (status = 400, description = "`InvalidRequestContent`", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "`AuthorizationFailed`: not an admin", body = ErrorResponse),
    )
)]
async fn create_subscription(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ArmError> {
    let admin = admin(&state, &headers).await?;
    let request: CreateSubscription = parse_json(&bytes?)?;
    let name = display_name(&request.display_name, 64)?;
    let subscription = directory::create_subscription(
        &state.db,
        &admin.tenant_id,
        &name,
        &admin.client_id,
        state.clock.now(),
    )
    .await
    .map_err(ResourceError::from)?;
    state.auth.directory_changed();
    Ok(json_response(
        StatusCode::CREATED,
        &SubscriptionBody::from(subscription),
    ))
}

#[utoipa::path(
    post,
    path = "/_sim/principals",
    operation_id = "Sim_CreatePrincipal",
    tag = "sim",
    request_body = CreatePrincipal,
    responses(
        (status = 201, description = "The principal and its secret (shown only here)", body = PrincipalCreated),
        (status = 400, description = "`InvalidRequestContent`, `InvalidSubscriptionId`", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "`AuthorizationFailed`: not an admin", body = ErrorResponse),
        (status = 404, description = "`SubscriptionNotFound`", body = ErrorResponse),
    )
)]
async fn create_principal(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ArmError> {
    let admin = admin(&state, &headers).await?;
    let request: CreatePrincipal = parse_json(&bytes?)?;
    let name = display_name(&request.display_name, 120)?;
    let ids = request
        .subscription_ids
        .iter()
        .map(|id| subscription_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let created =
        directory::create_principal(&state.db, &admin.tenant_id, &name, &ids, state.clock.now())
            .await?;
    state.auth.directory_changed();
    Ok(json_response(
        StatusCode::CREATED,
        &PrincipalCreated {
            client_id: created.client_id,
            client_secret: created.client_secret,
            tenant_id: created.tenant_id,
            display_name: name,
            subscription_ids: created.subscription_ids,
        },
    ))
}

#[utoipa::path(
    put,
    path = "/_sim/principals/{clientId}/subscriptions/{subscriptionId}",
    operation_id = "Sim_GrantSubscription",
    tag = "sim",
    params(
        ("clientId" = String, Path, description = "The principal's client id"),
        ("subscriptionId" = String, Path, description = "The subscription to grant"),
    ),
    responses(
        (status = 200, description = "Already granted", body = GrantBody),
        (status = 201, description = "Granted", body = GrantBody),
        (status = 400, description = "`InvalidSubscriptionId`", body = ErrorResponse),
        (status = 403, description = "`AuthorizationFailed`: not an admin", body = ErrorResponse),
        (status = 404, description = "`PrincipalNotFound`, `SubscriptionNotFound`", body = ErrorResponse),
    )
)]
async fn grant(
    State(state): State<ApiState>,
    Path((client_id, subscription)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let subscription = subscription_id(&subscription)?;
    let created = directory::grant(&state.db, &client_id, &subscription).await?;
    state.auth.directory_changed();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        &GrantBody {
            client_id: client_id.to_ascii_lowercase(),
            subscription_id: subscription,
        },
    ))
}

#[utoipa::path(
    delete,
    path = "/_sim/principals/{clientId}/subscriptions/{subscriptionId}",
    operation_id = "Sim_RevokeSubscription",
    tag = "sim",
    params(
        ("clientId" = String, Path, description = "The principal's client id"),
        ("subscriptionId" = String, Path, description = "The subscription to revoke"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "`InvalidSubscriptionId`", body = ErrorResponse),
        (status = 403, description = "`AuthorizationFailed`: not an admin", body = ErrorResponse),
        (status = 404, description = "`PrincipalNotFound`, `GrantNotFound`", body = ErrorResponse),
    )
)]
async fn revoke(
    State(state): State<ApiState>,
    Path((client_id, subscription)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let subscription = subscription_id(&subscription)?;
    directory::revoke(&state.db, &client_id, &subscription).await?;
    state.auth.directory_changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(display_name("  dev ", 64).unwrap(), "dev");
        assert!(display_name("   ", 64).is_err());
        assert!(display_name(&"x".repeat(65), 64).is_err());
        assert!(display_name(&"é".repeat(64), 64).is_ok());
    }

    #[test]
    fn subscription_ids_must_be_guids_and_come_out_lower_case() {
        assert_eq!(
            subscription_id("0D5C1A8E-1111-4222-8333-444455556666").unwrap(),
            "0d5c1a8e-1111-4222-8333-444455556666"
        );
        assert!(subscription_id("not-a-guid").is_err());
    }

    #[test]
    fn bodies_reject_unknown_fields() {
        let bytes = Bytes::from_static(br#"{"displayName":"a","extra":1}"#);
        assert!(parse_json::<CreateSubscription>(&bytes).is_err());
        let bytes = Bytes::from_static(br#"{"displayName":"a"}"#);
        let principal: CreatePrincipal = parse_json(&bytes).unwrap();
        assert!(principal.subscription_ids.is_empty());
    }

    #[test]
    fn the_openapi_document_has_the_admin_routes() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(SimApi::openapi()).unwrap();
        assert_eq!(
            doc["paths"]["/_sim/subscriptions"]["post"]["operationId"],
            "Sim_CreateSubscription"
        );
        let grant = &doc["paths"]["/_sim/principals/{clientId}/subscriptions/{subscriptionId}"];
        assert_eq!(grant["put"]["operationId"], "Sim_GrantSubscription");
        assert_eq!(grant["delete"]["operationId"], "Sim_RevokeSubscription");
    }
}
