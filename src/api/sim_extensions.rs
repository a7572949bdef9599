//! `/_sim/extensions/redeliver`: sends a VM's extension its current task again under a new
//! sequence number (Azure resending a command), so an extension's handling of a repeated
//! task can be tested. Admin only, like the rest of `/_sim`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};

use super::arm::error::ErrorResponse;
use super::arm::{json_response, parse_json, ArmError};
use super::sim::admin;
use super::ApiState;
use crate::guest::redeliver_extension;
use crate::resources::compute::get_vm;
use crate::resources::ids::parse_vm_id;
use crate::resources::ResourceError;

/// The redelivery route's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(redeliver), components(schemas(Redeliver, Redelivered)))]
pub struct SimExtensionsApi;

pub fn router() -> Router<ApiState> {
    Router::new().route("/_sim/extensions/redeliver", post(redeliver))
}

/// `POST /_sim/extensions/redeliver`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Redeliver {
    /// The VM's ARM resource id.
    pub vm: String,
    /// The extension's name on the VM, e.g. `VMSnapshotLinux`.
    pub extension: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Redelivered {
    /// The sequence number the settings now carry.
    pub sequence_number: i64,
}

#[utoipa::path(
    post,
    path = "/_sim/extensions/redeliver",
    operation_id = "Sim_RedeliverExtension",
    tag = "sim",
    request_body = Redeliver,
    responses(
        (status = 200, description = "The same settings under the next sequence number", body = Redelivered),
        (status = 400, description = "`InvalidRequestContent`: `vm` is not a VM id", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
        (status = 404, description = "No such VM, or no such extension with settings on it", body = ErrorResponse),
    )
)]
async fn redeliver(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let request: Redeliver = parse_json(&bytes?)?;
    let parts = parse_vm_id(&request.vm).ok_or_else(|| {
        ResourceError::invalid(
            "InvalidRequestContent",
            "'vm' must be a virtual machine's resource id.",
        )
    })?;
    let vm = get_vm(&state.db, &parts.subscription, &parts.group, &parts.vm).await?;
    let Some(sequence_number) = redeliver_extension(&state.db, &vm.vm.vm_id, &request.extension)
        .await
        .map_err(ResourceError::from)?
    else {
        return Err(ResourceError::not_found(
            "NotFound",
            format!(
                "The virtual machine has no extension '{}' with settings to send again.",
                request.extension
            ),
        )
        .into());
    };
    state.engine.notifier().notify(&vm.vm.vm_id);
    Ok(json_response(
        StatusCode::OK,
        &Redelivered { sequence_number },
    ))
}
