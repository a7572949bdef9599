//! The ARM routes. One fallback handler parses the request line into a [`Route`]
//! (case-insensitive, `%3B`-decoding), authenticates the bearer token, checks the
//! subscription grant and dispatches the route to its area's handler (one table in
//! [`route`] declares every route).

pub mod backups;
pub mod basics;
pub mod compute;
pub mod deployment_provider;
pub mod deployments;
pub mod error;
pub mod extensions;
pub mod groups;
pub mod images;
pub mod instance_view;
pub mod inventory;
pub mod job_bodies;
pub mod jobs;
pub mod network;
pub mod params;
pub mod policies;
pub mod protection;
pub mod providers;
pub mod query;
pub mod recovery_points;
pub mod route;
pub mod vault_config;
pub mod vaults;
pub mod vm_power;

use crate::prometheus::RouteLabel;
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
    let route = route::parse(request.method(), request.uri().path());
    // The operation id labels the request's metrics (unknown routes: "NoRoute").
    let label = route
        .as_ref()
        .map_or("NoRoute", |route| route.operation_id());
    let mut response = match handle(&state, route, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(RouteLabel::of(label));
    response
}

/// `route` is the request's, parsed: its error is answered once the request has a permit.
async fn handle(state: &ApiState, route: Result<Route, ArmError>, request: Request) -> ArmResult {
    let _permit = state
        .in_flight
        .try_acquire()
        .map_err(|_| ArmError::ServerBusy)?;
    let (parts, body) = request.into_parts();
    let route = route?;
    let base_url = request_origin(&parts, state.public_url.as_ref());
    // `az cloud register` reads the endpoints before anyone has a token.
    match route {
        Route::GetMetadataEndpoints {} => return basics::metadata_endpoints(&base_url),
        Route::GetVmImageAliases {} => return images::image_aliases(),
        _ => {}
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
    route.dispatch(state, &request).await
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
