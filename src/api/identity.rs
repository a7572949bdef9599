//! The token issuer's routes, shaped like Entra ID's (and ADFS's, which `az` prefers for a
//! custom cloud): the client-credentials token endpoints (v2.0, v1 and ADFS), OpenID
//! discovery and the JWKS. Errors use Entra ID's body: `{"error","error_description":
//! "AADSTS<code>: ...","error_codes",...}`.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use crate::auth::directory;
use crate::auth::grant::{ClientCredentials, GrantError, IssuedToken};
use crate::auth::keys::Jwk;
use crate::auth::token::{self, audience_of_scope, issuer};
use crate::origin::RequestOrigin;

/// The token issuer's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        token_v2,
        token_v1,
        token_adfs,
        openid_configuration_v2,
        openid_configuration_v1,
        openid_configuration_adfs,
        jwks_v2,
        jwks_v1,
        jwks_adfs
    ),
    components(schemas(
        TokenForm,
        TokenResponse,
        AadErrorResponse,
        OpenIdConfiguration,
        JwkSet,
        Jwk
    ))
)]
pub struct IdentityApi;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .route("/{tenant}/oauth2/token", post(token_v1))
        .route("/adfs/oauth2/token", post(token_adfs))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(openid_configuration_v1),
        )
        .route(
            "/adfs/.well-known/openid-configuration",
            get(openid_configuration_adfs),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(jwks_v2))
        .route("/{tenant}/discovery/keys", get(jwks_v1))
        .route("/adfs/discovery/keys", get(jwks_adfs))
}

/// The client-credentials token request (`application/x-www-form-urlencoded`). Other fields
/// (`claims`, `client_info`...) are accepted and ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    /// Must be `client_credentials`.
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// v2.0 and ADFS: the resource's scope, e.g. `https://management.core.windows.net//.default`.
    pub scope: Option<String>,
    /// v1 (and ADFS): the resource id, e.g. `https://management.core.windows.net/`.
    pub resource: Option<String>,
}

/// A token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub ext_expires_in: i64,
    /// v1 only: when the token expires, Unix seconds as a string (as Entra ID v1 sends it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<String>,
    /// v1 only: the resource the token is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// An RS256 JWT.
    pub access_token: String,
}

/// Entra ID's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AadErrorResponse {
    /// The OAuth 2.0 error, e.g. `invalid_client`.
    pub error: &'static str,
    /// `AADSTS<code>: <message>` plus trace id, correlation id and timestamp lines.
    pub error_description: String,
    pub error_codes: Vec<u32>,
    /// `yyyy-MM-dd HH:mm:ssZ`.
    pub timestamp: String,
    pub trace_id: String,
    pub correlation_id: String,
}

/// A refused token request, answered in Entra ID's format.
#[derive(Debug)]
pub struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
}

impl From<GrantError> for AadError {
    fn from(error: GrantError) -> Self {
        let (status, kind, code) = match &error {
            GrantError::MissingParameter(_) => (StatusCode::BAD_REQUEST, "invalid_request", 900144),
            GrantError::UnsupportedGrantType(_) => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003)
            }
            GrantError::TenantNotFound(_) => (StatusCode::BAD_REQUEST, "invalid_request", 90002),
            GrantError::UnknownClient { .. } => {
                (StatusCode::BAD_REQUEST, "unauthorized_client", 700016)
            }
            GrantError::InvalidSecret(_) => (StatusCode::UNAUTHORIZED, "invalid_client", 7000215),
            GrantError::Database(e) => {
                tracing::error!(error = ?e, "token request failed");
                return Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error: "server_error",
                    code: 90033,
                    message: "A transient error has occurred. Please try again.".into(),
                };
            }
        };
        Self {
            status,
            error: kind,
            code,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for AadError {
    fn into_response(self) -> Response {
        let now = chrono::Utc::now();
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let body = AadErrorResponse {
            error: self.error,
            error_description: format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\n\
                 Timestamp: {timestamp}",
                self.code, self.message
            ),
            error_codes: vec![self.code],
            timestamp,
            trace_id,
            correlation_id,
        };
        (self.status, Json(body)).into_response()
    }
}

/// Which token endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    V2,
    V1,
    Adfs,
}

#[utoipa::path(
    post,
    path = "/{tenant}/oauth2/v2.0/token",
    operation_id = "Token_ClientCredentialsV2",
    tag = "identity",
    security(()),
    params(("tenant" = String, Path, description = "The tenant id (case-insensitive)")),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        (status = 400, description = "A bad request, unknown tenant or client", body = AadErrorResponse),
        (status = 401, description = "A wrong client secret", body = AadErrorResponse),
    )
)]
async fn token_v2(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    RequestOrigin(origin): RequestOrigin,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Json<TokenResponse>, AadError> {
    issue(&state, Some(&tenant), Endpoint::V2, &origin, form).await
}

#[utoipa::path(
    post,
    path = "/{tenant}/oauth2/token",
    operation_id = "Token_ClientCredentialsV1",
    tag = "identity",
    security(()),
    params(("tenant" = String, Path, description = "The tenant id (case-insensitive)")),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        (status = 400, description = "A bad request, unknown tenant or client", body = AadErrorResponse),
        (status = 401, description = "A wrong client secret", body = AadErrorResponse),
    )
)]
async fn token_v1(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    RequestOrigin(origin): RequestOrigin,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Json<TokenResponse>, AadError> {
    issue(&state, Some(&tenant), Endpoint::V1, &origin, form).await
}

#[utoipa::path(
    post,
    path = "/adfs/oauth2/token",
    operation_id = "Token_ClientCredentialsAdfs",
    tag = "identity",
    security(()),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        (status = 400, description = "A bad request or unknown client", body = AadErrorResponse),
        (status = 401, description = "A wrong client secret", body = AadErrorResponse),
    )
)]
async fn token_adfs(
    State(state): State<ApiState>,
    RequestOrigin(origin): RequestOrigin,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Json<TokenResponse>, AadError> {
    issue(&state, None, Endpoint::Adfs, &origin, form).await
}

async fn issue(
    state: &ApiState,
    tenant: Option<&str>,
    endpoint: Endpoint,
    origin: &str,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Json<TokenResponse>, AadError> {
    // A body that is not a form carries none of the parameters.
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let request = credentials_of_form(&form, tenant, endpoint);
    let issued = state
        .auth
        .client_credentials(&state.db, &request, origin)
        .await?;
    Ok(Json(response_of(issued, endpoint)))
}

/// The grant request a form asks for. v2.0 takes `scope`, v1 `resource`; ADFS either.
fn credentials_of_form<'a>(
    form: &'a TokenForm,
    tenant: Option<&'a str>,
    endpoint: Endpoint,
) -> ClientCredentials<'a> {
    let from_scope = form.scope.as_deref().map(audience_of_scope);
    let (audience, audience_parameter) = match endpoint {
        Endpoint::V2 => (from_scope, "scope"),
        Endpoint::V1 => (form.resource.clone(), "resource"),
        Endpoint::Adfs => (from_scope.or_else(|| form.resource.clone()), "scope"),
    };
    ClientCredentials {
        tenant,
        grant_type: form.grant_type.as_deref(),
        client_id: form.client_id.as_deref(),
        client_secret: form.client_secret.as_deref(),
        audience,
        audience_parameter,
    }
}

fn response_of(issued: IssuedToken, endpoint: Endpoint) -> TokenResponse {
    // One second short of the lifetime, as Entra ID reports it.
    let expires_in = token::LIFETIME_SECS - 1;
    let v1 = endpoint == Endpoint::V1;
    TokenResponse {
        token_type: "Bearer",
        expires_in,
        ext_expires_in: expires_in,
        expires_on: v1.then(|| issued.claims.exp.to_string()),
        resource: v1.then(|| issued.claims.aud.clone()),
        access_token: issued.access_token,
    }
}

/// An OpenID Provider configuration (OpenID Connect Discovery 1.0), as Entra ID serves it.
/// Only the client-credentials grant is implemented.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    /// Named for clients that require it (MSAL); not served.
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub response_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub tenant_region_scope: &'static str,
}

/// A JSON Web Key Set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Builds a discovery document whose endpoints live under `{base}/{prefix}`.
fn openid_configuration(
    base: &str,
    tenant_id: &str,
    prefix: &str,
    oauth2: &str,
    keys: &str,
) -> OpenIdConfiguration {
    OpenIdConfiguration {
        // The issuer of the tokens this endpoint hands out, whichever form was asked.
        issuer: issuer(base, tenant_id),
        authorization_endpoint: format!("{base}/{prefix}/{oauth2}/authorize"),
        token_endpoint: format!("{base}/{prefix}/{oauth2}/token"),
        jwks_uri: format!("{base}/{prefix}/{keys}"),
        response_types_supported: vec!["token"],
        subject_types_supported: vec!["pairwise"],
        id_token_signing_alg_values_supported: vec!["RS256"],
        token_endpoint_auth_methods_supported: vec!["client_secret_post"],
        grant_types_supported: vec!["client_credentials"],
        tenant_region_scope: "NA",
    }
}

/// The tenant a discovery path names (case-insensitively), in its stored spelling.
async fn known_tenant(state: &ApiState, tenant: &str) -> Result<String, AadError> {
    match directory::tenant(&state.db, tenant).await {
        Ok(Some(t)) => Ok(t.tenant_id),
        Ok(None) => Err(AadError {
            error: "invalid_tenant",
            ..AadError::from(GrantError::TenantNotFound(tenant.to_owned()))
        }),
        Err(e) => Err(GrantError::Database(e).into()),
    }
}

#[utoipa::path(
    get,
    path = "/{tenant}/v2.0/.well-known/openid-configuration",
    operation_id = "OpenIdConfiguration_GetV2",
    tag = "identity",
    security(()),
    params(("tenant" = String, Path, description = "The tenant id (case-insensitive)")),
    responses(
        (status = 200, description = "The v2.0 discovery document", body = OpenIdConfiguration),
        (status = 400, description = "`invalid_tenant` (AADSTS90002)", body = AadErrorResponse),
    )
)]
async fn openid_configuration_v2(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    RequestOrigin(origin): RequestOrigin,
) -> Result<Json<OpenIdConfiguration>, AadError> {
    let tenant = known_tenant(&state, &tenant).await?;
    Ok(Json(openid_configuration(
        &origin,
        &tenant,
        &tenant,
        "oauth2/v2.0",
        "discovery/v2.0/keys",
    )))
}

#[utoipa::path(
    get,
    path = "/{tenant}/.well-known/openid-configuration",
    operation_id = "OpenIdConfiguration_GetV1",
    tag = "identity",
    security(()),
    params(("tenant" = String, Path, description = "The tenant id (case-insensitive)")),
    responses(
        (status = 200, description = "The v1 discovery document", body = OpenIdConfiguration),
        (status = 400, description = "`invalid_tenant` (AADSTS90002)", body = AadErrorResponse),
    )
)]
async fn openid_configuration_v1(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    RequestOrigin(origin): RequestOrigin,
) -> Result<Json<OpenIdConfiguration>, AadError> {
    let tenant = known_tenant(&state, &tenant).await?;
    Ok(Json(openid_configuration(
        &origin,
        &tenant,
        &tenant,
        "oauth2",
        "discovery/keys",
    )))
}

#[utoipa::path(
    get,
    path = "/adfs/.well-known/openid-configuration",
    operation_id = "OpenIdConfiguration_GetAdfs",
    tag = "identity",
    security(()),
    responses(
        (status = 200, description = "The ADFS discovery document (what `az` reads when the cloud's login endpoint ends in `/adfs`)", body = OpenIdConfiguration),
    )
)]
async fn openid_configuration_adfs(
    State(state): State<ApiState>,
    RequestOrigin(origin): RequestOrigin,
) -> Json<OpenIdConfiguration> {
    // Every principal lives in the bootstrap tenant, which therefore issues ADFS tokens.
    Json(openid_configuration(
        &origin,
        &state.auth.admin().tenant_id,
        "adfs",
        "oauth2",
        "discovery/keys",
    ))
}

fn jwks(state: &ApiState) -> Json<JwkSet> {
    Json(JwkSet {
        keys: vec![state.auth.jwk().clone()],
    })
}

#[utoipa::path(
    get,
    path = "/{tenant}/discovery/v2.0/keys",
    operation_id = "Jwks_GetV2",
    tag = "identity",
    security(()),
    params(("tenant" = String, Path, description = "Any tenant: one key signs every token")),
    responses((status = 200, description = "The signing keys", body = JwkSet))
)]
async fn jwks_v2(State(state): State<ApiState>) -> Json<JwkSet> {
    jwks(&state)
}

#[utoipa::path(
    get,
    path = "/{tenant}/discovery/keys",
    operation_id = "Jwks_GetV1",
    tag = "identity",
    security(()),
    params(("tenant" = String, Path, description = "Any tenant: one key signs every token")),
    responses((status = 200, description = "The signing keys", body = JwkSet))
)]
async fn jwks_v1(State(state): State<ApiState>) -> Json<JwkSet> {
    jwks(&state)
}

#[utoipa::path(
    get,
    path = "/adfs/discovery/keys",
    operation_id = "Jwks_GetAdfs",
    tag = "identity",
    security(()),
    responses((status = 200, description = "The signing keys", body = JwkSet))
)]
async fn jwks_adfs(State(state): State<ApiState>) -> Json<JwkSet> {
    jwks(&state)
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    fn form(fields: &[(&str, &str)]) -> TokenForm {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        parse_form(&body)
    }

    /// Parses a form body the way the `Form` extractor does.
    fn parse_form(body: &str) -> TokenForm {
        use axum::extract::FromRequest;
        let request = axum::http::Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(Form::<TokenForm>::from_request(request, &()))
            .unwrap()
            .0
    }

    #[test]
    fn unknown_form_fields_are_ignored() {
        let form = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "c"),
            ("client_secret", "s"),
            ("client_info", "1"),
            ("claims", "%7B%22access_token%22%3A%7B%7D%7D"),
            (
                "scope",
                "https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default",
            ),
        ]);
        let request = credentials_of_form(&form, Some("t"), Endpoint::V2);
        assert_eq!(request.client_id, Some("c"));
        assert_eq!(
            request.audience.as_deref(),
            Some("https://management.core.windows.net/")
        );
    }

    #[test]
    fn v1_takes_resource_and_adfs_either() {
        let form = form(&[("resource", "https://management.core.windows.net/")]);
        let v1 = credentials_of_form(&form, Some("t"), Endpoint::V1);
        assert_eq!(
            v1.audience.as_deref(),
            Some("https://management.core.windows.net/")
        );
        let v2 = credentials_of_form(&form, Some("t"), Endpoint::V2);
        assert_eq!((v2.audience, v2.audience_parameter), (None, "scope"));
        let adfs = credentials_of_form(&form, None, Endpoint::Adfs);
        assert_eq!(
            adfs.audience.as_deref(),
            Some("https://management.core.windows.net/")
        );
    }

    #[test]
    fn grant_errors_map_to_aadsts_codes() {
        let cases = [
            (
                GrantError::MissingParameter("client_id"),
                400,
                "invalid_request",
                900144,
            ),
            (
                GrantError::UnsupportedGrantType("password".into()),
                400,
                "unsupported_grant_type",
                70003,
            ),
            (
                GrantError::TenantNotFound("x".into()),
                400,
                "invalid_request",
                90002,
            ),
            (
                GrantError::UnknownClient {
                    client_id: "c".into(),
                    tenant: "t".into(),
                },
                400,
                "unauthorized_client",
                700016,
            ),
            (
                GrantError::InvalidSecret("c".into()),
                401,
                "invalid_client",
                7000215,
            ),
        ];
        for (error, status, kind, code) in cases {
            let aad = AadError::from(error);
            assert_eq!(
                (aad.status.as_u16(), aad.error, aad.code),
                (status, kind, code)
            );
        }
    }

    #[test]
    fn the_openapi_document_has_every_route_and_the_form_body() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(IdentityApi::openapi()).unwrap();
        let token = &doc["paths"]["/{tenant}/oauth2/v2.0/token"]["post"];
        assert_eq!(token["operationId"], "Token_ClientCredentialsV2");
        assert!(token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
        assert_eq!(
            token["security"],
            serde_json::json!([{}]),
            "no token needed"
        );
        for path in [
            "/{tenant}/oauth2/token",
            "/adfs/oauth2/token",
            "/{tenant}/v2.0/.well-known/openid-configuration",
            "/{tenant}/.well-known/openid-configuration",
            "/adfs/.well-known/openid-configuration",
            "/{tenant}/discovery/v2.0/keys",
            "/{tenant}/discovery/keys",
            "/adfs/discovery/keys",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
    }
}
