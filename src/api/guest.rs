//! The guest API over HTTP (default 127.0.0.1:32526, the simulator's 168.63.129.16:32526):
//! parses requests into `guest` domain calls and answers JSON. Errors are ARM-shaped,
//! `{"error":{"code","message"}}`; credentials and certificates never reach a log.
//!
//! - `POST /machine/register` (management bearer token): register an agent, get a credential.
//! - `GET /machine/goalstate?incarnation=&waitSeconds=` (credential): long-poll the goal state.
//! - `PUT /machine/extensions/{name}/status` (credential): report a handler's status file.
//! - `PUT /machine/extensions/{name}/heartbeat` (credential): report a handler's heartbeat.
//! - `DELETE /machine/extensions/{name}` (credential): the handler the goal state said to
//!   uninstall is uninstalled; the extension's deletion completes.
//! - `POST /metadata/recsvc/snapshot/presnapshot?api-version=2017-12-01` and `.../dosnapshot`
//!   (the task's `snapshotTaskToken`; the credential optional): the host snapshot path.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use vaultsim_protocol::extension::host_snapshot::{
    DoSnapshotRequest, DoSnapshotResponse, HostSnapshotInfo, PreSnapshotRequest,
    PreSnapshotResponse, API_VERSION as HOST_API_VERSION, DOSNAPSHOT_PATH, PRESNAPSHOT_PATH,
};
use vaultsim_protocol::guest::{
    ExtensionRuntimeSettings, ExtensionSettingsFile, GoalState, GoalStateExtension,
    RegisterRequest, Registered, RegisteredDisk,
};

use super::arm::error::{ErrorDetail, ErrorResponse};
use super::arm::ArmError;
use crate::auth::{token, Auth};
use crate::clock::Clock;
use crate::control::sim_clock;
use crate::faults::{FaultAction, FaultScope, Faults};
use crate::guest::host_snapshot::{self, HostCaller};
use crate::guest::{
    self, Credential, DeliveredGoalStates, GoalStateNotifier, GuestError, HeartbeatReport,
    Registration, RegistrationDisk, StatusReport, DEFAULT_WAIT, MAX_WAIT,
};
use crate::resources::lookup::OsType;
use crate::resources::providers::{region, LOCATIONS};
use crate::resources::ResourceError;
use crate::storage::StorageAccounts;
use crate::store::Db;

/// What the guest API's handlers use.
#[derive(Clone, FromRef)]
pub struct GuestState {
    pub db: Db,
    pub accounts: Arc<StorageAccounts>,
    pub clock: Clock,
    /// Checks the management token of a registration.
    pub auth: Arc<Auth>,
    /// Wakes goal-state polls when the backup engine publishes.
    pub notifier: GoalStateNotifier,
    /// The process's faults: goal-state polls consult them.
    pub faults: Arc<Faults>,
    /// What each VM was last answered, for polls a `drop` fault holds back.
    pub delivered: Arc<DeliveredGoalStates>,
}

pub fn router(state: GuestState) -> Router {
    Router::new()
        .route("/machine/register", post(register))
        .route("/machine/goalstate", get(goal_state))
        .route("/machine/extensions/{name}/status", put(report_status))
        .route(
            "/machine/extensions/{name}/heartbeat",
            put(report_heartbeat),
        )
        .route("/machine/extensions/{name}", delete(report_uninstalled))
        .route(PRESNAPSHOT_PATH, post(pre_snapshot))
        .route(DOSNAPSHOT_PATH, post(do_snapshot))
        .route_layer(axum::middleware::from_fn(
            crate::prometheus::label_matched_route,
        ))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(super::MAX_BODY_BYTES))
        .with_state(state)
}

impl TryFrom<RegisterRequest> for Registration {
    type Error = GuestError;

    fn try_from(body: RegisterRequest) -> Result<Self, GuestError> {
        let os_type = body.os_type.parse::<OsType>().map_err(|_| {
            GuestError::invalid(
                "InvalidParameter",
                format!("osType is '{}'; it must be Linux or Windows.", body.os_type),
            )
        })?;
        let location = region(&body.location).ok_or_else(|| {
            // The value is not quoted: it may be any length.
            GuestError::invalid(
                "InvalidParameter",
                format!(
                    "location is not one of the service's regions: {}.",
                    LOCATIONS.join(", ")
                ),
            )
        })?;
        if body
            .agent_version
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.len() > 64 || v.chars().any(char::is_control))
        {
            return Err(GuestError::invalid(
                "InvalidParameter",
                "agentVersion must be 1 to 64 printable characters.",
            ));
        }
        Ok(Self {
            vm_id: body.vm_id,
            subscription: body.subscription_id,
            group: body.resource_group,
            name: body.name,
            location,
            os_type,
            vm_size: body.vm_size,
            disks: body
                .disks
                .into_iter()
                .map(|d| RegistrationDisk {
                    lun: d.lun,
                    name: d.name,
                    size_bytes: d.size_bytes,
                })
                .collect(),
            certificate: body.certificate,
            agent_version: body.agent_version,
        })
    }
}

async fn register(
    State(state): State<GuestState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, GuestError> {
    let principal = state.auth.authenticate(&state.db, &headers).await?;
    let registration =
        Registration::try_from(parse_json::<RegisterRequest>(&body.map_err(unreadable)?)?)?;
    let registered = guest::register(
        &state.db,
        &state.accounts,
        &state.clock,
        &state.auth,
        &principal,
        registration,
    )
    .await?;
    tracing::info!(
        vm_id = %registered.vm_id,
        created = registered.created,
        thumbprint = %registered.certificate_thumbprint,
        "guest agent registered"
    );
    let status = if registered.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = Registered {
        credential: registered.credential.reveal().to_owned(),
        disks: registered
            .disks
            .into_iter()
            .map(|disk| RegisteredDisk {
                lun: disk.lun,
                size_bytes: u64::try_from(disk.size_bytes).unwrap_or_default(),
                container: disk.blob_container,
                blob: disk.blob_name,
            })
            .collect(),
        vm_id: registered.vm_id,
        certificate_thumbprint: registered.certificate_thumbprint,
        incarnation: registered.incarnation,
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /machine/goalstate` query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoalStateQuery {
    /// The incarnation the agent holds; the poll waits while it is the current one.
    incarnation: Option<i64>,
    wait_seconds: Option<u64>,
}

fn goal_state_body(state: guest::GoalState, host_time: DateTime<Utc>) -> GoalState {
    GoalState {
        host_time,
        incarnation: state.incarnation,
        vm_id: state.vm_id,
        extensions: state
            .extensions
            .into_iter()
            .map(|e| GoalStateExtension {
                name: e.name,
                publisher: e.publisher,
                extension_type: e.extension_type,
                version: e.type_handler_version,
                state: e.state,
                sequence_number: e.sequence_number,
                settings: ExtensionSettingsFile {
                    runtime_settings: vec![ExtensionRuntimeSettings {
                        handler_settings: e.handler_settings,
                    }],
                },
            })
            .collect(),
    }
}

async fn goal_state(
    State(state): State<GuestState>,
    headers: HeaderMap,
    query: Result<Query<GoalStateQuery>, QueryRejection>,
) -> Result<Json<GoalState>, GuestError> {
    let vm_id = guest::authenticate(&state.db, &credential(&headers)?, state.clock.now()).await?;
    let Query(query) =
        query.map_err(|e| GuestError::invalid("InvalidQueryParameterValue", e.body_text()))?;
    let wait = query
        .wait_seconds
        .map_or(DEFAULT_WAIT, Duration::from_secs)
        .min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    match state.faults.fire(FaultScope::GoalState) {
        // A first fetch (no incarnation held) has nothing to be held back from.
        Some(fired) if fired.action == FaultAction::Drop => {
            if let Some(known) = query.incarnation {
                if !hold_while_dropped(&state.faults, &fired.id, deadline).await {
                    return unchanged_goal_state(&state, &vm_id, known).await;
                }
            }
        }
        other => apply_fault(other.map(|fired| fired.action)).await?,
    }
    let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
    let mut goal_state =
        guest::wait_for_goal_state(&state.db, &state.notifier, &vm_id, query.incarnation, wait)
            .await?;
    let seal = guest::SettingsSeal::for_account(state.accounts.primary().account());
    guest::open_for_agent(&state.db, &seal, &mut goal_state).await?;
    state.delivered.record(&goal_state);
    // The host time the extension judges a task's age by: the clock another replica may
    // have just moved (this one's engine follows it only once a tick).
    sim_clock::apply_stored(&state.db, &state.clock).await?;
    Ok(Json(goal_state_body(goal_state, state.clock.now())))
}

/// How often a poll held back by a `drop` fault looks whether the fault still holds.
const DROP_RECHECK: Duration = Duration::from_millis(100);

/// Waits while the `drop` fault `id` is in force, until `deadline`; whether it lifted.
async fn hold_while_dropped(faults: &Faults, id: &str, deadline: tokio::time::Instant) -> bool {
    while faults.is_active(id) {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep((deadline - now).min(DROP_RECHECK)).await;
    }
    true
}

/// The answer to a poll a `drop` fault held back to its end: the goal state the agent was
/// last given, as if nothing had changed since. A 503 when this process never gave it
/// one at that incarnation (another replica did, or this one restarted).
async fn unchanged_goal_state(
    state: &GuestState,
    vm_id: &str,
    known: i64,
) -> Result<Json<GoalState>, GuestError> {
    let Some(delivered) = state.delivered.at(vm_id, known) else {
        return Err(GuestError::Fault {
            status: 503,
            code: "GoalStateUnavailable".to_owned(),
            message: format!(
                "A drop fault holds the goal state back, and this wire server has not given \
                 incarnation {known} to the VM to answer with."
            ),
        });
    };
    sim_clock::apply_stored(&state.db, &state.clock).await?;
    Ok(Json(goal_state_body(delivered, state.clock.now())))
}

/// What a fault the guest API's routes consult does to the request: an `error` becomes
/// the answer, a `latency` delays the real one. Goal-state polls and the host snapshot
/// calls each call it once, first.
pub async fn apply_fault(action: Option<FaultAction>) -> Result<(), GuestError> {
    match action {
        None => Ok(()),
        Some(FaultAction::Latency(latency)) => {
            tokio::time::sleep(latency).await;
            Ok(())
        }
        Some(FaultAction::Error {
            status,
            code,
            message,
        }) => Err(GuestError::Fault {
            status,
            message: message.unwrap_or_else(|| {
                format!("The wire server failed the request with {code} (a fault injected by /_sim/faults).")
            }),
            code,
        }),
        Some(other @ (FaultAction::Reset | FaultAction::Drop | FaultAction::ExpireSas { .. })) => {
            // `NewFault` refuses these outside their scopes.
            tracing::error!(action = other.kind(), "a guest API fault with an action it cannot take");
            Ok(())
        }
    }
}

async fn report_status(
    State(state): State<GuestState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, GuestError> {
    let vm_id = guest::authenticate(&state.db, &credential(&headers)?, state.clock.now()).await?;
    let report = StatusReport::parse(parse_json(&body.map_err(unreadable)?)?)?;
    guest::report_status(&state.db, &vm_id, &name, &report, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn report_heartbeat(
    State(state): State<GuestState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, GuestError> {
    let vm_id = guest::authenticate(&state.db, &credential(&headers)?, state.clock.now()).await?;
    let report = HeartbeatReport::parse(&parse_json(&body.map_err(unreadable)?)?)?;
    guest::report_heartbeat(&state.db, &vm_id, &name, &report, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn report_uninstalled(
    State(state): State<GuestState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, GuestError> {
    let vm_id = guest::authenticate(&state.db, &credential(&headers)?, state.clock.now()).await?;
    guest::report_uninstalled(&state.db, &vm_id, &name, state.clock.now()).await?;
    tracing::info!(%vm_id, extension = %name, "extension uninstalled");
    Ok(StatusCode::NO_CONTENT)
}

async fn no_route() -> GuestError {
    GuestError::NotFound {
        code: "NoRoute",
        message: "The guest API serves /machine/register, /machine/goalstate, \
                  /machine/extensions/{name}/status, /machine/extensions/{name}/heartbeat, \
                  /machine/extensions/{name} and \
                  /metadata/recsvc/snapshot/{presnapshot,dosnapshot}."
            .to_owned(),
    }
}

/// `?api-version=` of a host snapshot call.
#[derive(Debug, Deserialize)]
struct HostCallQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// What every host snapshot call does first: checks the api-version the extension sends
/// (400 `InvalidApiVersionParameter` otherwise, as Azure's wire server answers any other)
/// and the VM credential when one is sent (401 if it is not a VM's), follows the stored
/// clock (another replica may have just moved it), and finds the running task the call
/// names; answers it with the time it was judged at.
async fn host_task(
    state: &GuestState,
    headers: &HeaderMap,
    query: Result<Query<HostCallQuery>, QueryRejection>,
    task_id: String,
    token: Option<String>,
) -> Result<(host_snapshot::ActiveTask, DateTime<Utc>), GuestError> {
    let Query(query) =
        query.map_err(|e| GuestError::invalid("InvalidQueryParameterValue", e.body_text()))?;
    if query.api_version.as_deref() != Some(HOST_API_VERSION) {
        return Err(GuestError::invalid(
            "InvalidApiVersionParameter",
            format!("The host snapshot calls take api-version={HOST_API_VERSION}."),
        ));
    }
    let vm_id = match headers.get(header::AUTHORIZATION) {
        Some(_) => {
            Some(guest::authenticate(&state.db, &credential(headers)?, state.clock.now()).await?)
        }
        None => None,
    };
    let caller = HostCaller {
        task_id,
        token: token.map(SecretString::from),
        vm_id,
    };
    sim_clock::apply_stored(&state.db, &state.clock).await?;
    let now = state.clock.now();
    let task = host_snapshot::active_task(&state.db, &caller, now).await?;
    Ok((task, now))
}

/// `presnapshot`: the host's time (the service clock, simulated or not), so a task is
/// stale by the same clock for every extension.
async fn pre_snapshot(
    State(state): State<GuestState>,
    headers: HeaderMap,
    query: Result<Query<HostCallQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PreSnapshotResponse>, GuestError> {
    // A fault of the host path (`/_sim/faults`) answers before the host does.
    apply_fault(state.faults.check(FaultScope::Presnapshot)).await?;
    let request: PreSnapshotRequest = parse_json(&body.map_err(unreadable)?)?;
    let (task, now) = host_task(
        &state,
        &headers,
        query,
        request.task_id,
        request.snapshot_task_token,
    )
    .await?;
    Ok(Json(PreSnapshotResponse {
        bhs_version: BHS_VERSION.to_owned(),
        node_id: host_node_id(&task.vm_id),
        response_time: now.into(),
        result: PRESNAPSHOT_RESULT.to_owned(),
    }))
}

/// `dosnapshot`: snapshots the listed disks of the task's VM host-side.
async fn do_snapshot(
    State(state): State<GuestState>,
    headers: HeaderMap,
    query: Result<Query<HostCallQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DoSnapshotResponse>, GuestError> {
    apply_fault(state.faults.check(FaultScope::Dosnapshot)).await?;
    let request: DoSnapshotRequest = parse_json(&body.map_err(unreadable)?)?;
    let (task, _) = host_task(
        &state,
        &headers,
        query,
        request.task_id,
        request.snapshot_task_token,
    )
    .await?;
    let metadata = request
        .snapshot_metadata
        .into_iter()
        .map(|pair| (pair.key, pair.value))
        .collect();
    let taken = host_snapshot::snapshot_disks(
        &state.db,
        &state.accounts,
        &task,
        &request.disk_ids,
        metadata,
    )
    .await?;
    let snapshot_info = taken
        .into_iter()
        .map(|disk| match disk.outcome {
            Ok(taken) => HostSnapshotInfo::taken(taken.snapshot_uri),
            Err(failed) => HostSnapshotInfo::failed(failed.status, failed.message),
        })
        .collect();
    Ok(Json(DoSnapshotResponse { snapshot_info }))
}

/// `bhsVersion`: the backup host service here is vaultsim.
const BHS_VERSION: &str = concat!("vaultsim-", env!("CARGO_PKG_VERSION"));
/// `result` of a presnapshot the host answers. The real extension only logs it; its
/// values are not published.
const PRESNAPSHOT_RESULT: &str = "Success";

/// `nodeId`: the host node a VM runs on, stable per VM (a GUID derived from its vmId).
fn host_node_id(vm_id: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, vm_id.as_bytes()).to_string()
}

/// The credential of `Authorization: Bearer <credential>`; 401 without one.
fn credential(headers: &HeaderMap) -> Result<Credential, GuestError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(token::bearer)
        .map(Credential::presented)
        .ok_or(GuestError::Unauthenticated)
}

/// A body the `Bytes` extractor could not read: 413 when too large, else 400.
fn unreadable(rejection: BytesRejection) -> GuestError {
    match ArmError::from(rejection) {
        ArmError::RequestContentTooLarge => GuestError::TooLarge,
        other => GuestError::invalid("InvalidRequestContent", other.to_string()),
    }
}

/// 400 `InvalidRequestContent` when the body is not JSON of type `T`.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, GuestError> {
    serde_json::from_slice(body).map_err(|e| {
        GuestError::invalid(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: {e}"),
        )
    })
}

impl IntoResponse for GuestError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code) = match self {
            Self::Invalid { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "InvalidCredential"),
            Self::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::NotFound { code, .. } => (StatusCode::NOT_FOUND, code),
            // The management API's mapping, logging of server errors included.
            Self::Auth(error) => return ArmError::from(error).into_response(),
            Self::TooLarge => return ArmError::RequestContentTooLarge.into_response(),
            Self::Resource(error) => return ArmError::Resource(error).into_response(),
            Self::Database(error) => {
                return ArmError::Resource(ResourceError::Database(error)).into_response()
            }
            Self::Fault { status, code, .. } => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return error_body(status, code, message);
            }
        };
        error_body(status, code.to_owned(), message)
    }
}

fn error_body(status: StatusCode, code: String, message: String) -> Response {
    (
        status,
        Json(ErrorResponse {
            error: ErrorDetail { code, message },
        }),
    )
        .into_response()
}
