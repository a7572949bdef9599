//! `/_sim/.../vaults/{vault}/backupRuns`: what the engine recorded of a vault's Backup jobs
//! that ARM's job does not carry (the scheduled instant beside the actual start, the
//! trigger, attempts, and the recovery point made with its expiries), for the dashboard's
//! job timeline. Read-only; admin only, like the rest of `/_sim`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::arm::error::ErrorResponse;
use super::arm::params::VaultParams;
use super::arm::{json_response, ArmError};
use super::sim::admin;
use super::ApiState;
use crate::control::runs::{self, BackupRun};
use crate::resources::{lookup, ResourceError};

/// The route's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_runs), components(schemas(BackupRunList, BackupRunBody)))]
pub struct SimRunsApi;

pub fn router() -> Router<ApiState> {
    Router::new().route(
        "/_sim/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupRuns",
        get(list_runs),
    )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackupRunList {
    /// Newest scheduled first; at most the latest 1000.
    value: Vec<BackupRunBody>,
}

/// One Backup job as the engine ran it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRunBody {
    /// The job's name (`backupJobs/{jobId}`).
    job_id: String,
    /// `Scheduled` (a policy's run) or `OnDemand`.
    trigger: &'static str,
    /// The instant the run was due (on demand: when it was asked for); the job's
    /// `startTime` is when it started.
    scheduled_at: String,
    /// Attempts made (the latest is described).
    attempts: i64,
    /// `AwaitingSnapshot`, `Transferring`, `Completed`, `Failed` or `Cancelled`.
    state: &'static str,
    bytes_transferred: i64,
    /// The recovery point's name, while it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_point_name: Option<String>,
    /// When retention deletes the recovery point; absent: never (or no point).
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_point_expires_at: Option<String>,
    /// When its instant snapshots are deleted; absent once they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    instant_snapshots_expire_at: Option<String>,
}

fn wire_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl From<BackupRun> for BackupRunBody {
    fn from(run: BackupRun) -> Self {
        Self {
            job_id: run.job_id,
            trigger: run.trigger.as_str(),
            scheduled_at: wire_time(run.scheduled_at),
            attempts: run.attempt,
            state: run.state.as_str(),
            bytes_transferred: run.bytes_transferred,
            recovery_point_expires_at: run
                .recovery_point_id
                .as_ref()
                .and(run.expires_at)
                .map(wire_time),
            instant_snapshots_expire_at: run
                .recovery_point_id
                .as_ref()
                .and(run.instant_expires_at)
                .map(wire_time),
            recovery_point_name: run.recovery_point_id,
        }
    }
}

#[utoipa::path(
    get,
    path = "/_sim/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupRuns",
    operation_id = "Sim_ListBackupRuns",
    tag = "sim",
    params(VaultParams),
    responses(
        (status = 200, description = "The vault's Backup jobs as the engine ran them", body = BackupRunList),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
        (status = 404, description = "No such vault", body = ErrorResponse),
    )
)]
async fn list_runs(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((subscription, group, vault)): Path<(String, String, String)>,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let vault = lookup::vault(
        &state.db,
        &subscription.to_ascii_lowercase(),
        &group,
        &vault,
    )
    .await?;
    let runs = runs::of_vault(&state.db, &vault.vault_id)
        .await
        .map_err(ResourceError::from)?;
    Ok(json_response(
        StatusCode::OK,
        &BackupRunList {
            value: runs.into_iter().map(BackupRunBody::from).collect(),
        },
    ))
}
