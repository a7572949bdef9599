//! `/_sim/faults`: add, list and remove the faults the blob endpoint and the guest API
//! inject, and expire every SAS token that exists. Admin only, like the rest of `/_sim`;
//! errors in ARM's format. The registry is this process's (see `crate::faults`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::arm::error::ErrorResponse;
use super::arm::{json_response, ArmError};
use super::sim::admin;
use super::ApiState;
use crate::faults::{BlobMatch, Fault, FaultAction, FaultScope, InvalidFault, NewFault};
use crate::resources::ResourceError;

/// The fault routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create_fault, list_faults, clear_faults, delete_fault, expire_sas),
    components(schemas(CreateFault, FaultMatchBody, FaultActionBody, FaultBody, FaultList))
)]
pub struct SimFaultsApi;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route(
            "/_sim/faults",
            post(create_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_sim/faults/expire-sas", post(expire_sas))
        .route("/_sim/faults/{id}", delete(delete_fault))
}

/// `POST /_sim/faults`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateFault {
    /// `blob`, `goalState`, `presnapshot` or `dosnapshot`.
    pub scope: String,
    /// Blob faults only: which requests; every part given must match. Default: all.
    #[serde(rename = "match")]
    pub blob_match: Option<FaultMatchBody>,
    pub action: FaultActionBody,
    /// The chance that a matching request is hit, in (0, 1]; default 1.
    pub probability: Option<f64>,
    /// The fault is removed after this many hits.
    pub count: Option<u64>,
    /// The fault is removed this many (wall-clock) seconds after it is added.
    pub expires_in_seconds: Option<u64>,
}

/// Which blob requests a fault hits.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultMatchBody {
    /// An Azure Storage analytics-log operation name: `SnapshotBlob`, `PutPage`,
    /// `ClearPage`, `GetPageRegions`, `PutBlob`, `GetBlob`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// A blob-name pattern: `*` any run of characters, `?` one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// What a fault does.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultActionBody {
    /// `error` (status, code, message), `latency` (milliseconds), `reset` (blob: close the
    /// connection unanswered) or `drop` (goalState: polls see no change). Listed SAS
    /// expiry shows as `expire`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `error`: 400 to 599.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `error`: the error code, e.g. `ServerBusy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `error`: the message; default the standard one for the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `latency`: how much later the real answer comes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milliseconds: Option<u64>,
    /// `expire` (listed only): SAS tokens issued before this (simulated) time are refused.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<String>,
}

/// A fault as registered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultBody {
    pub id: String,
    /// `blob`, `goalState`, `presnapshot`, `dosnapshot`, or `sas` for SAS expiry.
    pub scope: &'static str,
    #[serde(rename = "match")]
    pub blob_match: Option<FaultMatchBody>,
    pub action: FaultActionBody,
    pub probability: f64,
    pub count: Option<u32>,
    pub expires_in_seconds: Option<u64>,
    /// Times it fired (for SAS expiry: tokens refused).
    pub hits: u64,
    /// Hits left, when limited by a count.
    pub remaining: Option<u32>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// `GET /_sim/faults`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FaultList {
    pub value: Vec<FaultBody>,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<Fault> for FaultBody {
    fn from(fault: Fault) -> Self {
        let mut action = FaultActionBody {
            kind: fault.action.kind().to_owned(),
            status: None,
            code: None,
            message: None,
            milliseconds: None,
            issued_before: None,
        };
        match fault.action {
            FaultAction::Error {
                status,
                code,
                message,
            } => {
                action.status = Some(status);
                action.code = Some(code);
                action.message = message;
            }
            FaultAction::Latency(latency) => {
                action.milliseconds = Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX));
            }
            FaultAction::Reset | FaultAction::Drop => {}
            FaultAction::ExpireSas { cutoff } => action.issued_before = Some(rfc3339(cutoff)),
        }
        Self {
            id: fault.id,
            scope: fault.scope.name(),
            blob_match: fault.blob_match.map(|m| FaultMatchBody {
                operation: m.operation.map(str::to_owned),
                account: m.account,
                container: m.container,
                blob: m.blob,
            }),
            action,
            probability: fault.probability,
            count: fault.count,
            expires_in_seconds: fault.expires_in_seconds,
            hits: fault.hits,
            remaining: fault.remaining,
            created_at: rfc3339(fault.created_at),
            expires_at: fault.expires_at.map(rfc3339),
        }
    }
}

impl TryFrom<CreateFault> for NewFault {
    type Error = InvalidFault;

    fn try_from(body: CreateFault) -> Result<Self, InvalidFault> {
        let scope = FaultScope::parse(&body.scope)?;
        let blob_match = body
            .blob_match
            .map(|m| BlobMatch::parse(m.operation.as_deref(), m.account, m.container, m.blob))
            .transpose()?;
        let action = FaultAction::parse(
            &body.action.kind,
            body.action.status,
            body.action.code,
            body.action.message,
            body.action.milliseconds,
        )?;
        NewFault::new(
            scope,
            blob_match,
            action,
            body.probability,
            body.count,
            body.expires_in_seconds,
        )
    }
}

fn invalid(error: InvalidFault) -> ArmError {
    ResourceError::invalid(
        "InvalidRequestContent",
        format!(
            "The property '{}' is invalid: {}",
            error.field, error.message
        ),
    )
    .into()
}

/// The body as `T`, a failure naming the JSON path of the field at fault.
fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ArmError> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        ArmError::InvalidRequestContent(if path == "." {
            inner.to_string()
        } else {
            format!("the property '{path}': {inner}")
        })
    })
}

#[utoipa::path(
    post,
    path = "/_sim/faults",
    operation_id = "Sim_CreateFault",
    tag = "sim",
    request_body = CreateFault,
    responses(
        (status = 201, description = "The fault as registered; it applies from now on", body = FaultBody),
        (status = 400, description = "`InvalidRequestContent`, naming the field", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
    )
)]
async fn create_fault(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let body: CreateFault = parse_body(&bytes?)?;
    let new = NewFault::try_from(body).map_err(invalid)?;
    let fault = state.faults.add(new);
    tracing::info!(id = %fault.id, scope = fault.scope.name(), action = fault.action.kind(), "fault added");
    Ok(json_response(StatusCode::CREATED, &FaultBody::from(fault)))
}

#[utoipa::path(
    get,
    path = "/_sim/faults",
    operation_id = "Sim_ListFaults",
    tag = "sim",
    responses(
        (status = 200, description = "The faults in force, oldest first (SAS expiry as scope `sas`)", body = FaultList),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
    )
)]
async fn list_faults(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let value = state
        .faults
        .list()
        .into_iter()
        .map(FaultBody::from)
        .collect();
    Ok(json_response(StatusCode::OK, &FaultList { value }))
}

#[utoipa::path(
    delete,
    path = "/_sim/faults",
    operation_id = "Sim_ClearFaults",
    tag = "sim",
    responses(
        (status = 204, description = "Every fault removed, SAS expiry included"),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
    )
)]
async fn clear_faults(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    state.faults.clear();
    tracing::info!("faults cleared");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    delete,
    path = "/_sim/faults/{id}",
    operation_id = "Sim_DeleteFault",
    tag = "sim",
    params(("id" = String, Path, description = "The fault's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
        (status = 404, description = "`FaultNotFound`", body = ErrorResponse),
    )
)]
async fn delete_fault(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    if !state.faults.remove(&id) {
        return Err(ResourceError::not_found(
            "FaultNotFound",
            format!("No fault in force has the id '{id}'."),
        )
        .into());
    }
    tracing::info!(%id, "fault removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/_sim/faults/expire-sas",
    operation_id = "Sim_ExpireSas",
    tag = "sim",
    responses(
        (status = 204, description = "Every SAS token issued until now is refused (403 `AuthenticationFailed`) as if it expired now; tokens minted after this answer (which comes within a second, once the clock is past the whole-second cutoff) work. Listed as a fault of scope `sas`, replacing an earlier one"),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
    )
)]
async fn expire_sas(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let now = state.clock.now();
    let cutoff = state.faults.expire_sas(now);
    // Answered once the clock has passed the cutoff (under a second), so that every
    // token minted after the answer works.
    if let Ok(wait) = (cutoff - now).to_std() {
        tokio::time::sleep(wait).await;
    }
    tracing::info!(%cutoff, "SAS tokens issued before the cutoff expired");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_does_not_parse_names_the_field() {
        let error = parse_body::<CreateFault>(
            br#"{"scope":"blob","action":{"type":"error","status":"busy"}}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("action.status"), "{error}");
        let error =
            parse_body::<CreateFault>(br#"{"scope":"blob","action":{"type":"reset"},"x":1}"#)
                .unwrap_err();
        assert!(error.to_string().contains("`x`"), "{error}");
    }

    #[test]
    fn the_openapi_document_has_the_fault_routes() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(SimFaultsApi::openapi()).unwrap();
        let faults = &doc["paths"]["/_sim/faults"];
        assert_eq!(faults["post"]["operationId"], "Sim_CreateFault");
        assert_eq!(faults["get"]["operationId"], "Sim_ListFaults");
        assert_eq!(faults["delete"]["operationId"], "Sim_ClearFaults");
        assert_eq!(
            doc["paths"]["/_sim/faults/{id}"]["delete"]["operationId"],
            "Sim_DeleteFault"
        );
        assert_eq!(
            doc["paths"]["/_sim/faults/expire-sas"]["post"]["operationId"],
            "Sim_ExpireSas"
        );
    }
}
