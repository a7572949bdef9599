//! Deployments and their operations in the metadata database.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;

use super::error::{DeploymentError, ErrorDetail};
use crate::resources::names::key;
use crate::store::{from_micros, to_micros, Db};

/// How long a run's lease lasts unrenewed: a deployment whose process stopped is reported
/// Failed this long after the last renewal. Wall-clock time, as the simulated clock may be
/// pinned while a deployment runs.
pub const RUN_LEASE: TimeDelta = TimeDelta::seconds(30);
/// How often the process running a deployment renews its lease.
pub const RUN_LEASE_RENEWAL: std::time::Duration = std::time::Duration::from_secs(2);

/// A lease taken now, as stored.
fn lease_from_now() -> i64 {
    to_micros(Utc::now() + RUN_LEASE)
}

/// Where a deployment lives: a resource group, or the subscription itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentKey {
    pub subscription: String,
    /// The group's name as the client wrote it; `None` at subscription scope.
    pub group: Option<String>,
    pub name: String,
}

impl DeploymentKey {
    fn scope_key(&self) -> String {
        self.group.as_deref().map(key).unwrap_or_default()
    }

    /// `/subscriptions/{s}[/resourceGroups/{g}]`
    pub fn scope_id(&self) -> String {
        match &self.group {
            Some(group) => format!(
                "/subscriptions/{}/resourceGroups/{group}",
                self.subscription
            ),
            None => format!("/subscriptions/{}", self.subscription),
        }
    }

    /// The deployment's ARM id.
    pub fn id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Resources/deployments/{}",
            self.scope_id(),
            self.name
        )
    }
}

/// ARM's provisioning states of a deployment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::AsRefStr, strum::EnumString,
)]
pub enum DeploymentState {
    Accepted,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl DeploymentState {
    pub fn is_active(self) -> bool {
        matches!(self, Self::Accepted | Self::Running)
    }
}

/// What ARM answers about a deployment besides its state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentDocument {
    pub name: String,
    pub location: Option<String>,
    #[serde(default)]
    pub tags: Map<String, Value>,
    pub mode: String,
    pub template: Value,
    pub template_hash: String,
    /// `{"name":{"type","value"}}`; secure values are left out.
    pub parameters: Value,
    pub outputs: Option<Value>,
    #[serde(default)]
    pub output_resources: Vec<String>,
    pub providers: Value,
    pub dependencies: Value,
    pub correlation_id: String,
    pub error: Option<ErrorDetail>,
    /// When the last PUT started it, and when it ended.
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A deployment as stored.
#[derive(Debug, Clone)]
pub struct DeploymentRecord {
    pub key: DeploymentKey,
    pub state: DeploymentState,
    /// The id of the last PUT's asynchronous operation (`operationStatuses/{id}`).
    pub operation_id: String,
    pub document: DeploymentDocument,
}

/// One provisioning operation, as ARM lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationDocument {
    pub operation_id: String,
    /// `Create`, `Delete`, `Read` (an `existing` reference) or `Action`.
    pub provisioning_operation: String,
    pub provisioning_state: String,
    pub timestamp: DateTime<Utc>,
    pub duration_ms: i64,
    /// The provider's status as ARM names it (`OK`, `Created`, `BadRequest`, ...).
    pub status_code: String,
    pub status_message: Option<Value>,
    pub target_id: String,
    pub target_type: String,
    pub target_name: String,
    pub api_version: String,
}

/// Whether a PUT created the deployment or replaced a finished one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Created,
    Replaced,
}

/// Stores a deployment that is starting: a new one, or a finished one replaced (its
/// operations are dropped). A running deployment of the same name is not replaced:
/// 409 `DeploymentActive`.
pub async fn start(
    db: &Db,
    record: &DeploymentRecord,
    now: DateTime<Utc>,
) -> Result<Saved, DeploymentError> {
    let key = &record.key;
    let document = serde_json::to_string(&record.document).expect("documents serialize");
    let mut tx = db.begin_write().await?;
    let existing = sqlx::query(
        "select state, lease_until from deployment where subscription_id = $1 \
         and scope_key = $2 and name_key = $3",
    )
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .fetch_optional(&mut *tx)
    .await?;
    let saved = match existing {
        Some(row) => {
            let state: String = row.try_get("state")?;
            let lease_until: Option<i64> = row.try_get("lease_until")?;
            // An interrupted run (its lease lapsed) is over, as a finished one is.
            if parse_state(&state).is_active() && !lapsed(lease_until) {
                return Err(DeploymentError::Active(
                    key.name.clone(),
                    key.scope_id(),
                    state,
                ));
            }
            sqlx::query(
                "delete from deployment_operation where subscription_id = $1 and scope_key = $2 \
                 and name_key = $3",
            )
            .bind(&key.subscription)
            .bind(key.scope_key())
            .bind(key.name.to_ascii_lowercase())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "update deployment set state = $1, operation_id = $2, document = $3, \
                 updated_at = $4, lease_until = $5 \
                 where subscription_id = $6 and scope_key = $7 and name_key = $8",
            )
            .bind(record.state.as_ref())
            .bind(&record.operation_id)
            .bind(&document)
            .bind(to_micros(now))
            .bind(lease_from_now())
            .bind(&key.subscription)
            .bind(key.scope_key())
            .bind(key.name.to_ascii_lowercase())
            .execute(&mut *tx)
            .await?;
            Saved::Replaced
        }
        None => {
            sqlx::query(
                "insert into deployment (subscription_id, scope_key, name_key, state, \
                 operation_id, document, created_at, updated_at, lease_until) \
                 values ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            )
            .bind(&key.subscription)
            .bind(key.scope_key())
            .bind(key.name.to_ascii_lowercase())
            .bind(record.state.as_ref())
            .bind(&record.operation_id)
            .bind(&document)
            .bind(to_micros(now))
            .bind(lease_from_now())
            .execute(&mut *tx)
            .await?;
            Saved::Created
        }
    };
    tx.commit().await?;
    Ok(saved)
}

/// Writes a deployment's state and document, unless it was cancelled meanwhile (then the
/// cancellation stands and `false` is answered).
pub async fn update(
    db: &Db,
    record: &DeploymentRecord,
    now: DateTime<Utc>,
) -> Result<bool, DeploymentError> {
    let key = &record.key;
    let updated = sqlx::query(
        "update deployment set state = $1, document = $2, updated_at = $3 \
         where subscription_id = $4 and scope_key = $5 and name_key = $6 and operation_id = $7 \
         and state <> 'Canceled'",
    )
    .bind(record.state.as_ref())
    .bind(serde_json::to_string(&record.document).expect("documents serialize"))
    .bind(to_micros(now))
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .bind(&record.operation_id)
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Renews the lease of the deployment's run `operation_id`; `false` when that run is no
/// longer active (it ended, was cancelled or replaced, or was found interrupted).
pub async fn renew_lease(
    db: &Db,
    key: &DeploymentKey,
    operation_id: &str,
) -> Result<bool, DeploymentError> {
    let renewed = sqlx::query(
        "update deployment set lease_until = $1 where subscription_id = $2 and scope_key = $3 \
         and name_key = $4 and operation_id = $5 and state in ('Accepted', 'Running')",
    )
    .bind(lease_from_now())
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .bind(operation_id)
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(renewed == 1)
}

/// Moves an accepted or running deployment to `Canceled`: the engine stops before its next
/// resource. 409 `DeploymentCannotBeCancelled` otherwise.
pub async fn cancel(
    db: &Db,
    key: &DeploymentKey,
    now: DateTime<Utc>,
) -> Result<(), DeploymentError> {
    let mut record = get(db, key).await?;
    if !record.state.is_active() {
        return Err(DeploymentError::CannotBeCancelled(
            key.name.clone(),
            record.state.as_ref().to_owned(),
        ));
    }
    record.state = DeploymentState::Canceled;
    record.document.ended_at = Some(now);
    sqlx::query(
        "update deployment set state = 'Canceled', document = $1, updated_at = $2 \
         where subscription_id = $3 and scope_key = $4 and name_key = $5 \
         and state in ('Accepted', 'Running')",
    )
    .bind(serde_json::to_string(&record.document).expect("documents serialize"))
    .bind(to_micros(now))
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The state of a deployment's current run, for the engine's check between resources.
/// Reads the state column alone: the runner asks before each resource and every second,
/// and the document (with the whole template) need not be read and parsed each time.
pub async fn state(db: &Db, key: &DeploymentKey) -> Result<DeploymentState, DeploymentError> {
    let state: String = sqlx::query_scalar(
        "select state from deployment where subscription_id = $1 and scope_key = $2 \
         and name_key = $3",
    )
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| DeploymentError::NotFound(key.name.clone()))?;
    Ok(parse_state(&state))
}

/// A deployment; one whose run was interrupted is recorded Failed first.
pub async fn get(db: &Db, key: &DeploymentKey) -> Result<DeploymentRecord, DeploymentError> {
    let row = sqlx::query(&format!(
        "select {RECORD_COLUMNS} from deployment where subscription_id = $1 \
         and scope_key = $2 and name_key = $3"
    ))
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| DeploymentError::NotFound(key.name.clone()))?;
    settled(
        db,
        record(key.subscription.clone(), key.group.clone(), &row)?,
    )
    .await
}

/// The deployments of a scope, by name.
pub async fn list(
    db: &Db,
    subscription: &str,
    group: Option<&str>,
) -> Result<Vec<DeploymentRecord>, DeploymentError> {
    let rows = sqlx::query(&format!(
        "select {RECORD_COLUMNS} from deployment where subscription_id = $1 \
         and scope_key = $2 order by name_key"
    ))
    .bind(subscription)
    .bind(group.map(key).unwrap_or_default())
    .fetch_all(db.pool())
    .await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let read = record(subscription.to_owned(), group.map(str::to_owned), row)?;
        records.push(settled(db, read).await?);
    }
    Ok(records)
}

/// Deletes the deployment's record (never the resources it deployed).
pub async fn delete(db: &Db, key: &DeploymentKey) -> Result<bool, DeploymentError> {
    let deleted = sqlx::query(
        "delete from deployment where subscription_id = $1 and scope_key = $2 and name_key = $3",
    )
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(deleted == 1)
}

/// Records one provisioning operation (its `seq` orders the list).
pub async fn record_operation(
    db: &Db,
    key: &DeploymentKey,
    seq: i64,
    operation: &OperationDocument,
) -> Result<(), DeploymentError> {
    sqlx::query(
        "insert into deployment_operation (subscription_id, scope_key, name_key, seq, \
         operation_id, document) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .bind(seq)
    .bind(&operation.operation_id)
    .bind(serde_json::to_string(operation).expect("operations serialize"))
    .execute(db.writer())
    .await?;
    Ok(())
}

pub async fn operations(
    db: &Db,
    key: &DeploymentKey,
) -> Result<Vec<OperationDocument>, DeploymentError> {
    get(db, key).await?;
    let rows = sqlx::query(
        "select document from deployment_operation where subscription_id = $1 \
         and scope_key = $2 and name_key = $3 order by seq",
    )
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("document")?;
            Ok(serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?)
        })
        .collect()
}

fn parse_state(text: &str) -> DeploymentState {
    text.parse().unwrap_or(DeploymentState::Failed)
}

/// Whether a run's lease (as stored) has lapsed; a deployment stored before leases has none.
fn lapsed(lease_until: Option<i64>) -> bool {
    lease_until.is_some_and(|until| until < to_micros(Utc::now()))
}

/// What [`record`] reads.
const RECORD_COLUMNS: &str = "state, operation_id, document, lease_until";

/// A deployment as read, and whether its run was interrupted (active, its lease lapsed).
struct ReadRecord {
    record: DeploymentRecord,
    interrupted_at: Option<DateTime<Utc>>,
}

fn record(
    subscription: String,
    group: Option<String>,
    row: &sqlx::any::AnyRow,
) -> Result<ReadRecord, DeploymentError> {
    let text: String = row.try_get("document")?;
    let document: DeploymentDocument =
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let state = parse_state(&row.try_get::<String, _>("state")?);
    let lease_until: Option<i64> = row.try_get("lease_until")?;
    Ok(ReadRecord {
        record: DeploymentRecord {
            key: DeploymentKey {
                subscription,
                group,
                name: document.name.clone(),
            },
            state,
            operation_id: row.try_get("operation_id")?,
            document,
        },
        interrupted_at: (state.is_active() && lapsed(lease_until))
            .then(|| from_micros(lease_until.unwrap_or_default())),
    })
}

/// The deployment as it stands: one whose run was interrupted becomes Failed, written so
/// unless its run moved on meanwhile (a replica that got there first wrote the same).
async fn settled(db: &Db, read: ReadRecord) -> Result<DeploymentRecord, DeploymentError> {
    let ReadRecord {
        mut record,
        interrupted_at,
    } = read;
    let Some(lapsed_at) = interrupted_at else {
        return Ok(record);
    };
    record.state = DeploymentState::Failed;
    record.document.error = Some(ErrorDetail::deployment_failed(vec![ErrorDetail::new(
        "InternalServerError",
        format!(
            "The deployment was interrupted: the service process running it stopped before \
             it ended (its lease lapsed at {}). The resources deployed before are listed in \
             its operations; deploy the template again to finish.",
            lapsed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    )]));
    let key = &record.key;
    sqlx::query(
        "update deployment set state = 'Failed', document = $1 where subscription_id = $2 \
         and scope_key = $3 and name_key = $4 and operation_id = $5 \
         and state in ('Accepted', 'Running') and lease_until < $6",
    )
    .bind(serde_json::to_string(&record.document).expect("documents serialize"))
    .bind(&key.subscription)
    .bind(key.scope_key())
    .bind(key.name.to_ascii_lowercase())
    .bind(&record.operation_id)
    .bind(to_micros(Utc::now()))
    .execute(db.writer())
    .await?;
    tracing::warn!(deployment = %key.id(), "a deployment's run was interrupted; it is Failed");
    Ok(record)
}
