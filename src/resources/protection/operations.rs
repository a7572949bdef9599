//! Asynchronous operations a client polls after a protection request: the container refresh
//! (`backupFabrics/Azure/operationResults/{op}`), protected item writes (`operationsStatus`,
//! `operationResults`) and the vault-level `backupOperations/{op}`. They are written in the
//! transaction of the change they track.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::resources::ResourceError;
use crate::store::{from_micros, to_micros, Db};

/// What an operation does; decides what its result endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum OperationKind {
    /// `refreshContainers`: discovery of the subscription's VMs.
    #[strum(serialize = "refresh")]
    Refresh,
    /// A protected item PUT: enable, change policy, stop and retain data.
    #[strum(serialize = "configure")]
    ConfigureProtection,
    /// A protected item DELETE: stop and delete data.
    #[strum(serialize = "delete")]
    DeleteProtection,
    /// An on-demand backup (`POST .../backup`).
    #[strum(serialize = "backup")]
    Backup,
    /// A restore (`POST .../recoveryPoints/{rp}/restore`).
    #[strum(serialize = "restore")]
    Restore,
    /// A job cancellation (`POST .../backupJobs/{job}/cancel`).
    #[strum(serialize = "cancel-job")]
    CancelJob,
}

impl OperationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum OperationStatus {
    InProgress,
    Succeeded,
    Failed,
    Canceled,
}

impl OperationStatus {
    /// The wire and stored name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why an operation failed (`error{code,message}` of the status body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct NewOperation {
    pub vault_id: String,
    pub item_key: Option<String>,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub job_id: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub operation_id: String,
    pub vault_id: String,
    pub item_key: Option<String>,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub job_id: Option<String>,
    pub error: Option<OperationError>,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
}

/// Records an operation and answers its id (a lower-case GUID).
pub async fn create(tx: &mut AnyConnection, op: NewOperation) -> Result<String, ResourceError> {
    let operation_id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "insert into backup_operation (operation_id, vault_id, item_key, kind, status, job_id, \
         error, start_time, end_time) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&operation_id)
    .bind(&op.vault_id)
    .bind(&op.item_key)
    .bind(op.kind.as_str())
    .bind(op.status.as_str())
    .bind(&op.job_id)
    .bind(None::<String>)
    .bind(to_micros(op.start_time))
    .bind(op.end_time.map(to_micros))
    .execute(&mut *tx)
    .await?;
    Ok(operation_id)
}

/// An operation of a vault by id (GUIDs match in any case). 404 `BMSUserErrorOperationNotFound`.
pub async fn get(db: &Db, vault_id: &str, operation_id: &str) -> Result<Operation, ResourceError> {
    let row = sqlx::query(
        "select operation_id, vault_id, item_key, kind, status, job_id, error, start_time, \
         end_time from backup_operation where operation_id = $1 and vault_id = $2",
    )
    .bind(operation_id.to_ascii_lowercase())
    .bind(vault_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| not_found(operation_id))?;
    from_row(&row)
}

/// An operation on one protected item (`item_key`); 404 when it is another item's.
pub async fn get_for_item(
    db: &Db,
    vault_id: &str,
    item_key: &str,
    operation_id: &str,
) -> Result<Operation, ResourceError> {
    let op = get(db, vault_id, operation_id).await?;
    if op.item_key.as_deref() == Some(item_key) {
        Ok(op)
    } else {
        Err(not_found(operation_id))
    }
}

/// A refresh operation of a vault; 404 when the id names no refresh.
pub async fn get_refresh(
    db: &Db,
    vault_id: &str,
    operation_id: &str,
) -> Result<Operation, ResourceError> {
    let op = get(db, vault_id, operation_id).await?;
    if op.kind == OperationKind::Refresh {
        Ok(op)
    } else {
        Err(not_found(operation_id))
    }
}

/// A job cancellation of a vault; 404 when the id names no cancellation, or one of
/// another job when `job_id` is given.
pub async fn get_job_cancellation(
    db: &Db,
    vault_id: &str,
    job_id: Option<&str>,
    operation_id: &str,
) -> Result<Operation, ResourceError> {
    let op = get(db, vault_id, operation_id).await?;
    let same_job = job_id.is_none_or(|job| {
        op.job_id
            .as_deref()
            .is_some_and(|j| j.eq_ignore_ascii_case(job))
    });
    if op.kind == OperationKind::CancelJob && same_job {
        Ok(op)
    } else {
        Err(not_found(operation_id))
    }
}

fn from_row(row: &AnyRow) -> Result<Operation, ResourceError> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let error: Option<String> = row.try_get("error")?;
    let corrupt = |column: &str| {
        ResourceError::Database(sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: format!("unknown value in backup_operation.{column}").into(),
        })
    };
    Ok(Operation {
        operation_id: row.try_get("operation_id")?,
        vault_id: row.try_get("vault_id")?,
        item_key: row.try_get("item_key")?,
        kind: kind.parse().map_err(|_| corrupt("kind"))?,
        status: status.parse().map_err(|_| corrupt("status"))?,
        job_id: row.try_get("job_id")?,
        error: error
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|_| corrupt("error"))?,
        start_time: from_micros(row.try_get("start_time")?),
        end_time: row.try_get::<Option<i64>, _>("end_time")?.map(from_micros),
    })
}

fn not_found(operation_id: &str) -> ResourceError {
    ResourceError::not_found(
        "BMSUserErrorOperationNotFound",
        format!("Operation '{operation_id}' was not found in this vault."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_kinds_and_statuses_keep_their_names_and_read_back() {
        let kinds = [
            (OperationKind::Refresh, "refresh"),
            (OperationKind::ConfigureProtection, "configure"),
            (OperationKind::DeleteProtection, "delete"),
            (OperationKind::Backup, "backup"),
            (OperationKind::Restore, "restore"),
            (OperationKind::CancelJob, "cancel-job"),
        ];
        for (kind, name) in kinds {
            assert_eq!(kind.as_str(), name);
            assert_eq!(name.parse(), Ok(kind));
        }
        assert_eq!(OperationStatus::Canceled.as_str(), "Canceled");
        assert_eq!("Canceled".parse(), Ok(OperationStatus::Canceled));
        assert!("canceled".parse::<OperationStatus>().is_err());
    }
}
