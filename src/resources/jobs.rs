//! Backup jobs: what the vault did or is doing for a protected item (ConfigureBackup,
//! Backup, DisableBackup, DeleteBackupData...), listed newest first. Jobs are written inside
//! the transaction of the change they report ([`create_job`], [`update`], [`finish`] take a
//! connection, so a caller passes its transaction), and read from the pool.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::ResourceError;
use crate::store::{from_micros, json_column, placeholders, to_micros, value_rows, Backend, Db};

/// What a job does (`properties.operation`); parsed in any case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray,
)]
#[strum(ascii_case_insensitive)]
pub enum JobOperation {
    ConfigureBackup,
    Backup,
    Restore,
    DisableBackup,
    DeleteBackupData,
    Undelete,
}

impl JobOperation {
    /// The wire and stored name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A job's state (`properties.status`); parsed in any case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray,
)]
#[strum(ascii_case_insensitive)]
pub enum JobStatus {
    InProgress,
    Completed,
    Failed,
    CompletedWithWarnings,
    Cancelled,
    Cancelling,
}

impl JobStatus {
    /// The wire and stored name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the job has ended (its `endTime` is set and its duration stops growing).
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::InProgress | Self::Cancelling)
    }
}

/// A step of a job, by the name Azure lists it under (`taskId`), stored and shown as that
/// name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(into = "&'static str", try_from = "String")]
pub enum JobTaskName {
    /// A Backup job's snapshot phase, until the extension reports its snapshot.
    #[strum(serialize = "Take Snapshot")]
    TakeSnapshot,
    /// A Backup job's copy of the snapshot into the vault.
    #[strum(serialize = "Transfer data to vault")]
    TransferToVault,
    /// A Restore job's copy of the disks out of the vault.
    #[strum(serialize = "Transfer data from vault")]
    TransferFromVault,
}

impl JobTaskName {
    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Reading the stored name.
impl TryFrom<String> for JobTaskName {
    type Error = strum::ParseError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// Where a step of a job is (`status`), stored and shown as the variant's name.
/// `NotStarted` → `InProgress` → `Completed`, `Failed` or `Cancelled`; a step may also
/// end without having started (a job failed or cancelled before it).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(into = "&'static str", try_from = "String")]
pub enum JobTaskStatus {
    NotStarted,
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

impl JobTaskStatus {
    /// The wire and stored name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Reading the stored name.
impl TryFrom<String> for JobTaskStatus {
    type Error = strum::ParseError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// One step of a job ("Take Snapshot", "Transfer data to vault").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobTask {
    pub task_id: JobTaskName,
    pub status: JobTaskStatus,
    #[serde(with = "optional_micros")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(with = "optional_micros")]
    pub end_time: Option<DateTime<Utc>>,
    pub instance_id: String,
    pub progress_percentage: f64,
    /// How far a copy step (`Transfer data to vault`, `Transfer data from vault`) has
    /// gone; the ARM API words it as Azure does ("63.5 GBs / 127 GBs Transferred").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied: Option<Copied>,
}

/// How far a copy has gone: bytes of its disks gone through, of all their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copied {
    pub done: u64,
    pub total: u64,
}

impl Copied {
    /// The share done, in percent with two decimals, rounded down so that only a finished
    /// copy shows 100; a copy of nothing is done.
    pub fn percentage(self) -> f64 {
        if self.total == 0 {
            return 100.0;
        }
        let hundredths = u128::from(self.done.min(self.total)) * 10_000 / u128::from(self.total);
        hundredths as f64 / 100.0
    }
}

impl JobTask {
    /// A step as a new job lists it: not started, or `InProgress` since `now`.
    pub fn new(name: JobTaskName, status: JobTaskStatus, now: DateTime<Utc>) -> Self {
        let mut task = Self {
            task_id: name,
            status: JobTaskStatus::NotStarted,
            start_time: None,
            end_time: None,
            instance_id: String::new(),
            progress_percentage: 0.0,
            copied: None,
        };
        task.move_to(status, now);
        task
    }

    /// Moves the step to `status` at `now`: starting stamps its start time (once), ending
    /// stamps its end time too (a step that ends unstarted starts and ends at once), and
    /// completing fills its progress (a copy has then gone through all it had to).
    pub fn move_to(&mut self, status: JobTaskStatus, now: DateTime<Utc>) {
        self.status = status;
        match status {
            JobTaskStatus::NotStarted => {}
            JobTaskStatus::InProgress => {
                self.start_time.get_or_insert(now);
            }
            JobTaskStatus::Completed | JobTaskStatus::Failed | JobTaskStatus::Cancelled => {
                self.start_time.get_or_insert(now);
                self.end_time = Some(now);
                if status == JobTaskStatus::Completed {
                    self.progress_percentage = 100.0;
                    if let Some(copied) = &mut self.copied {
                        copied.done = copied.total;
                    }
                }
            }
        }
    }
}

/// The detail a job carries beside its state (`properties.extendedInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobExtendedInfo {
    pub tasks_list: Vec<JobTask>,
    pub property_bag: BTreeMap<String, String>,
    pub internal_property_bag: BTreeMap<String, String>,
    pub progress_percentage: Option<f64>,
    /// ISO 8601 duration, e.g. `PT10M`.
    pub estimated_remaining_duration: Option<String>,
}

impl JobExtendedInfo {
    /// Records how far the copy of step `task` has gone: the step's and the job's
    /// percentage (a job copies in one step).
    pub fn record_copied(&mut self, task: JobTaskName, copied: Copied) {
        let Some(step) = self.tasks_list.iter_mut().find(|t| t.task_id == task) else {
            return;
        };
        step.copied = Some(copied);
        step.progress_percentage = copied.percentage();
        self.progress_percentage = Some(copied.percentage());
    }
}

/// Why a job failed (`properties.errorDetails[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobErrorDetail {
    pub error_code: i64,
    pub error_string: String,
    pub error_title: String,
    pub recommendations: Vec<String>,
}

/// A job to record.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub vault_id: String,
    /// The protected item the job is about, when it is about one.
    pub item_key: Option<String>,
    /// The VM's name.
    pub entity_friendly_name: String,
    /// `iaasvmcontainerv2;{rg};{vm}`.
    pub container_name: String,
    pub operation: JobOperation,
    pub status: JobStatus,
    pub start_time: DateTime<Utc>,
    /// Set when the job is created already finished.
    pub end_time: Option<DateTime<Utc>>,
    pub is_user_triggered: bool,
    pub extended_info: JobExtendedInfo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub job_id: String,
    pub vault_id: String,
    pub item_key: Option<String>,
    pub entity_friendly_name: String,
    pub container_name: String,
    pub operation: JobOperation,
    pub status: JobStatus,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub is_user_triggered: bool,
    pub activity_id: String,
    pub error_details: Vec<JobErrorDetail>,
    pub extended_info: JobExtendedInfo,
    /// How many times the row was updated: what a rendering of the job was made from.
    pub revision: i64,
}

impl Job {
    /// How long the job ran, or has been running at `now`.
    pub fn duration(&self, now: DateTime<Utc>) -> Duration {
        let end = self.end_time.unwrap_or(now);
        (end - self.start_time).max(Duration::zero())
    }

    /// Whether what the job shows no longer moves with time: it has ended, and so has every
    /// task of it that started (a running one shows a duration that grows).
    pub fn is_settled(&self) -> bool {
        self.status.is_terminal()
            && self
                .extended_info
                .tasks_list
                .iter()
                .all(|task| task.start_time.is_none() || task.end_time.is_some())
    }
}

/// Records a job and answers its id (a lower-case GUID).
pub async fn create_job(tx: &mut AnyConnection, job: NewJob) -> Result<String, ResourceError> {
    let job_id = new_job_id();
    create_jobs(tx, &[(job_id.clone(), job)]).await?;
    Ok(job_id)
}

/// A new job's id: a GUID whose leading bits are the time it was made (UUID version 7),
/// so that jobs created together sit together in every index keyed by job (and task) id.
/// With random ids a burst of 100,000 jobs wrote a different index page for nearly every
/// job, and dispatch spent most of its time writing them (BENCHMARKS.md).
pub fn new_job_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Jobs inserted per statement (13 parameters each).
const JOBS_PER_STATEMENT: usize = 25;

/// A job's columns, in the order [`create_jobs`] binds them and [`job_from_row`] reads them.
const JOB_COLUMNS: &str = "job_id, vault_id, item_key, entity_friendly_name, container_name, \
     operation, status, start_time, end_time, is_user_triggered, activity_id, error_details, \
     extended_info";

/// Records jobs in bulk (a few statements for many jobs), each under its id (from
/// [`new_job_id`]).
pub async fn create_jobs(
    tx: &mut AnyConnection,
    jobs: &[(String, NewJob)],
) -> Result<(), ResourceError> {
    let backend = Backend::of(tx);
    for chunk in jobs.chunks(JOBS_PER_STATEMENT) {
        let sql = backend.bulk_statement(format!(
            "insert into backup_job ({JOB_COLUMNS}) values {}",
            value_rows(chunk.len(), 13)
        ));
        let mut query = sqlx::query(&sql);
        for (job_id, job) in chunk {
            query = query
                .bind(job_id.clone())
                .bind(job.vault_id.clone())
                .bind(job.item_key.clone())
                .bind(job.entity_friendly_name.clone())
                .bind(job.container_name.clone())
                .bind(job.operation.as_str())
                .bind(job.status.as_str())
                .bind(to_micros(job.start_time))
                .bind(job.end_time.map(to_micros))
                .bind(i64::from(job.is_user_triggered))
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(to_json(&Vec::<JobErrorDetail>::new()))
                .bind(to_json(&job.extended_info));
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Progress on a running job: a new status and/or new extended info (tasks, bags).
#[derive(Debug, Clone, Default)]
pub struct JobUpdate {
    pub status: Option<JobStatus>,
    pub extended_info: Option<JobExtendedInfo>,
}

/// Applies `update` to a job. 404 when the job does not exist.
pub async fn update(
    tx: &mut AnyConnection,
    job_id: &str,
    update: JobUpdate,
) -> Result<(), ResourceError> {
    update_many(tx, vec![(job_id.to_owned(), update)]).await
}

/// [`update`] for many jobs (ids with their updates), a statement per hundred. 404 when
/// any of them does not exist.
pub async fn update_many(
    tx: &mut AnyConnection,
    updates: Vec<(String, JobUpdate)>,
) -> Result<(), ResourceError> {
    let rows = updates
        .into_iter()
        .map(|(job_id, update)| {
            (
                job_id,
                vec![
                    Bind::OptionalText(update.status.map(|s| s.as_str().to_owned())),
                    Bind::OptionalText(update.extended_info.as_ref().map(to_json)),
                ],
            )
        })
        .collect();
    update_each(
        tx,
        "status = coalesce(v.column2, backup_job.status), \
         extended_info = coalesce(v.column3, backup_job.extended_info)",
        rows,
    )
    .await
}

/// Jobs updated per statement.
const UPDATES_PER_STATEMENT: usize = 100;

/// Sets `assignments` on each job of `rows` (its id, then the values the assignments name
/// as `v.column2`, `v.column3`…: `column1`… are the names both SQLite and PostgreSQL give a
/// `values` list's columns), a statement per hundred. 404 when any job does not exist.
async fn update_each(
    tx: &mut AnyConnection,
    assignments: &str,
    rows: Vec<(String, Vec<Bind>)>,
) -> Result<(), ResourceError> {
    let backend = Backend::of(tx);
    for chunk in rows.chunks(UPDATES_PER_STATEMENT) {
        let columns = 1 + chunk[0].1.len();
        let sql = backend.bulk_statement(format!(
            "update backup_job set {assignments}, revision = backup_job.revision + 1 \
             from (values {}) as v where backup_job.job_id = v.column1 \
             returning backup_job.job_id",
            value_rows(chunk.len(), columns)
        ));
        let mut query = sqlx::query(&sql);
        for (job_id, values) in chunk {
            query = query.bind(job_id.clone());
            for value in values {
                query = value.clone().bind_to(query);
            }
        }
        let updated = query
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<HashSet<String>, _>>()?;
        if let Some((missing, _)) = chunk.iter().find(|(job_id, _)| !updated.contains(job_id)) {
            return Err(not_found(missing));
        }
    }
    Ok(())
}

/// Replaces the extended info of a job still in progress: `false`, and nothing written,
/// when it has ended (or is being cancelled) meanwhile, so that a late progress report
/// never overwrites how the job ended.
pub async fn update_running(
    tx: &mut AnyConnection,
    job_id: &str,
    extended_info: &JobExtendedInfo,
) -> Result<bool, ResourceError> {
    let done = sqlx::query(
        "update backup_job set extended_info = $2, revision = revision + 1 \
             where job_id = $1 and status = $3",
    )
    .bind(job_id)
    .bind(to_json(extended_info))
    .bind(JobStatus::InProgress.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// A terminal status (`Completed`, `Failed`, `CompletedWithWarnings`, `Cancelled`).
    pub status: JobStatus,
    pub end_time: DateTime<Utc>,
    pub error_details: Vec<JobErrorDetail>,
    /// The final extended info, when it changes as the job ends.
    pub extended_info: Option<JobExtendedInfo>,
}

/// Ends a job. 404 when the job does not exist; 400 when the status is not terminal.
pub async fn finish(
    tx: &mut AnyConnection,
    job_id: &str,
    outcome: JobOutcome,
) -> Result<(), ResourceError> {
    finish_many(tx, vec![(job_id.to_owned(), outcome)]).await
}

/// [`finish`] for many jobs (ids with their outcomes), a statement per hundred. 404 when
/// any of them does not exist.
pub async fn finish_many(
    tx: &mut AnyConnection,
    outcomes: Vec<(String, JobOutcome)>,
) -> Result<(), ResourceError> {
    if let Some((_, outcome)) = outcomes.iter().find(|(_, o)| !o.status.is_terminal()) {
        return Err(ResourceError::invalid(
            "InvalidJobStatus",
            format!(
                "A job cannot finish as '{}': that status is not terminal.",
                outcome.status.as_str()
            ),
        ));
    }
    let rows = outcomes
        .into_iter()
        .map(|(job_id, outcome)| {
            (
                job_id,
                vec![
                    Bind::Text(outcome.status.as_str().to_owned()),
                    Bind::Int(to_micros(outcome.end_time)),
                    Bind::Text(to_json(&outcome.error_details)),
                    Bind::OptionalText(outcome.extended_info.as_ref().map(to_json)),
                ],
            )
        })
        .collect();
    update_each(
        tx,
        "status = v.column2, end_time = v.column3, error_details = v.column4, \
         extended_info = coalesce(v.column5, backup_job.extended_info)",
        rows,
    )
    .await
}

/// A job of a vault by id (GUIDs match in any case). 404 `BMSUserErrorJobNotFound`.
pub async fn get(db: &Db, vault_id: &str, job_id: &str) -> Result<Job, ResourceError> {
    let mut conn = db.pool().acquire().await?;
    get_in(&mut conn, vault_id, job_id).await
}

/// [`get`] on a given connection: the one of the transaction about to change the job.
pub async fn get_in(
    conn: &mut AnyConnection,
    vault_id: &str,
    job_id: &str,
) -> Result<Job, ResourceError> {
    let row = sqlx::query(&format!(
        "select {JOB_COLUMNS}, revision from backup_job where job_id = $1 and vault_id = $2"
    ))
    .bind(job_id.to_ascii_lowercase())
    .bind(vault_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| not_found(job_id))?;
    job_from_row(&row)
}

/// Jobs read per statement.
const JOBS_PER_READ: usize = 200;

/// The jobs of `job_ids` (any vault's; the absent left out) on a given connection, by id.
pub async fn get_many_in(
    conn: &mut AnyConnection,
    job_ids: &[&str],
) -> Result<HashMap<String, Job>, ResourceError> {
    let mut jobs = HashMap::with_capacity(job_ids.len());
    let backend = Backend::of(conn);
    for chunk in job_ids.chunks(JOBS_PER_READ) {
        let sql = backend.bulk_statement(format!(
            "select {JOB_COLUMNS}, revision from backup_job where job_id in ({})",
            placeholders(1, chunk.len())
        ));
        let mut query = sqlx::query(&sql);
        for job_id in chunk {
            query = query.bind(job_id.to_ascii_lowercase());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let job = job_from_row(&row)?;
            jobs.insert(job.job_id.clone(), job);
        }
    }
    Ok(jobs)
}

/// Where a page of jobs starts: after the job with this start time and id (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor {
    pub start_time: i64,
    pub job_id: String,
}

impl JobCursor {
    /// The cursor as an opaque `$skipToken`.
    pub fn to_token(&self) -> String {
        format!("{}_{}", self.start_time, self.job_id)
    }

    pub fn parse_token(token: &str) -> Option<Self> {
        let (time, job_id) = token.split_once('_')?;
        let job_id = job_id.trim();
        (!job_id.is_empty()).then_some(())?;
        Some(Self {
            start_time: time.trim().parse().ok()?,
            job_id: job_id.to_owned(),
        })
    }
}

/// Which jobs to list. Times bound the job's start, inclusively.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    pub status: Option<JobStatus>,
    pub operation: Option<JobOperation>,
    pub start_from: Option<DateTime<Utc>>,
    pub start_until: Option<DateTime<Utc>>,
    /// One job only (GUIDs match in any case).
    pub job_id: Option<String>,
    pub after: Option<JobCursor>,
}

/// What a list page reads of each job: enough to tell whether a rendering of it is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHead {
    pub job_id: String,
    pub revision: i64,
}

/// One page of jobs, newest first, with where the next page starts.
#[derive(Debug, Clone)]
pub struct JobPage {
    pub jobs: Vec<JobHead>,
    pub next: Option<JobCursor>,
}

/// A page of at most `limit` jobs of a vault, newest first (by start time, then id), walking
/// the `(vault_id, start_time, job_id)` index. Only each job's head is read: decoding every
/// column of 200 jobs was most of a page's cost (BENCHMARKS.md, "Management API"); the
/// caller reads whole the jobs it has no current rendering of.
pub async fn list(
    db: &Db,
    vault_id: &str,
    query: &JobQuery,
    limit: usize,
) -> Result<JobPage, ResourceError> {
    let mut binds = vec![Bind::Text(vault_id.to_owned())];
    let mut param = |value: Bind| {
        binds.push(value);
        format!("${}", binds.len())
    };
    let mut sql =
        "select job_id, start_time, revision from backup_job where vault_id = $1".to_owned();
    if let Some(status) = query.status {
        let p = param(Bind::Text(status.as_str().to_owned()));
        sql.push_str(&format!(" and status = {p}"));
    }
    if let Some(operation) = query.operation {
        let p = param(Bind::Text(operation.as_str().to_owned()));
        sql.push_str(&format!(" and operation = {p}"));
    }
    if let Some(job_id) = &query.job_id {
        let p = param(Bind::Text(job_id.to_ascii_lowercase()));
        sql.push_str(&format!(" and job_id = {p}"));
    }
    if let Some(from) = query.start_from {
        let p = param(Bind::Int(to_micros(from)));
        sql.push_str(&format!(" and start_time >= {p}"));
    }
    if let Some(until) = query.start_until {
        let p = param(Bind::Int(to_micros(until)));
        sql.push_str(&format!(" and start_time <= {p}"));
    }
    if let Some(after) = &query.after {
        let t = param(Bind::Int(after.start_time));
        let j = param(Bind::Text(after.job_id.clone()));
        sql.push_str(&format!(
            " and (start_time < {t} or (start_time = {t} and job_id < {j}))"
        ));
    }
    sql.push_str(&format!(
        " order by start_time desc, job_id desc limit {}",
        limit + 1
    ));
    let q = binds
        .into_iter()
        .fold(sqlx::query(&sql), |q, bind| bind.bind_to(q));
    let rows = q.fetch_all(db.pool()).await?;
    let mut heads = rows
        .iter()
        .map(|row| {
            Ok((
                JobHead {
                    job_id: row.try_get("job_id")?,
                    revision: row.try_get("revision")?,
                },
                row.try_get::<i64, _>("start_time")?,
            ))
        })
        .collect::<Result<Vec<_>, ResourceError>>()?;
    let next = if heads.len() > limit {
        heads.truncate(limit);
        heads.last().map(|(head, start_time)| JobCursor {
            start_time: *start_time,
            job_id: head.job_id.clone(),
        })
    } else {
        None
    };
    Ok(JobPage {
        jobs: heads.into_iter().map(|(head, _)| head).collect(),
        next,
    })
}

#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
    OptionalText(Option<String>),
}

impl Bind {
    fn bind_to<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Bind::Text(v) => query.bind(v),
            Bind::Int(v) => query.bind(v),
            Bind::OptionalText(v) => query.bind(v),
        }
    }
}

fn job_from_row(row: &AnyRow) -> Result<Job, ResourceError> {
    let operation: String = row.try_get("operation")?;
    let status: String = row.try_get("status")?;
    Ok(Job {
        job_id: row.try_get("job_id")?,
        vault_id: row.try_get("vault_id")?,
        item_key: row.try_get("item_key")?,
        entity_friendly_name: row.try_get("entity_friendly_name")?,
        container_name: row.try_get("container_name")?,
        operation: operation.parse().map_err(|_| corrupt("operation"))?,
        status: status.parse().map_err(|_| corrupt("status"))?,
        start_time: from_micros(row.try_get("start_time")?),
        end_time: row.try_get::<Option<i64>, _>("end_time")?.map(from_micros),
        is_user_triggered: row.try_get::<i64, _>("is_user_triggered")? != 0,
        activity_id: row.try_get("activity_id")?,
        error_details: json_column(row, "error_details")?,
        extended_info: json_column(row, "extended_info")?,
        revision: row.try_get("revision")?,
    })
}

fn corrupt(column: &str) -> ResourceError {
    ResourceError::Database(sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown value in backup_job.{column}").into(),
    })
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("job documents serialize")
}

/// 404 `BMSUserErrorJobNotFound` for `job_id`.
pub fn not_found(job_id: &str) -> ResourceError {
    ResourceError::not_found(
        "BMSUserErrorJobNotFound",
        format!("Job '{job_id}' was not found in this vault."),
    )
}

/// Times inside stored JSON documents, as microseconds since the epoch.
mod optional_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::store::{from_micros, to_micros};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_some(&to_micros(*at)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(from_micros))
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    #[test]
    fn operations_and_statuses_parse_in_any_case() {
        assert_eq!("configurebackup".parse(), Ok(JobOperation::ConfigureBackup));
        assert!("Nope".parse::<JobOperation>().is_err());
        for &status in JobStatus::VARIANTS {
            assert_eq!(status.as_str().to_uppercase().parse(), Ok(status));
        }
        assert!(!JobStatus::InProgress.is_terminal());
        assert!(JobStatus::CompletedWithWarnings.is_terminal());
    }

    #[test]
    fn job_ids_are_guids_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..20).map(|_| new_job_id()).collect();
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(
                parsed.hyphenated().to_string(),
                *id,
                "lower-case, hyphenated"
            );
        }
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "each id sorts after the one made before it: {ids:?}"
        );
    }

    #[test]
    fn cursors_round_trip_through_skip_tokens() {
        let cursor = JobCursor {
            start_time: 1_650_000_000_123_456,
            job_id: "0b9f7a3e-1111-4222-8333-944445555666".into(),
        };
        assert_eq!(JobCursor::parse_token(&cursor.to_token()), Some(cursor));
        for bad in ["", "12", "x_abc", "12_", "_abc"] {
            assert_eq!(JobCursor::parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_running_job_grows_and_a_finished_one_does_not() {
        let start = from_micros(1_000_000);
        let mut job = Job {
            job_id: "j".into(),
            vault_id: "v".into(),
            item_key: None,
            entity_friendly_name: "vm".into(),
            container_name: "iaasvmcontainerv2;rg;vm".into(),
            operation: JobOperation::Backup,
            status: JobStatus::InProgress,
            start_time: start,
            end_time: None,
            is_user_triggered: true,
            activity_id: "a".into(),
            error_details: vec![],
            extended_info: JobExtendedInfo::default(),
            revision: 0,
        };
        let now = start + Duration::seconds(90);
        assert_eq!(job.duration(now), Duration::seconds(90));
        job.end_time = Some(start + Duration::seconds(30));
        assert_eq!(job.duration(now), Duration::seconds(30));
    }

    #[test]
    fn task_times_survive_the_json_column() {
        let task = JobTask {
            task_id: JobTaskName::TakeSnapshot,
            status: JobTaskStatus::Completed,
            start_time: Some(from_micros(5)),
            end_time: None,
            instance_id: String::new(),
            progress_percentage: 100.0,
            copied: Some(Copied {
                done: 5 << 30,
                total: 10 << 30,
            }),
        };
        let text = to_json(&task);
        let back: JobTask = serde_json::from_str(&text).unwrap();
        assert_eq!(back, task);
    }

    #[test]
    fn job_task_names_and_statuses_are_stored_as_azure_shows_them() {
        let task = JobTask::new(
            JobTaskName::TransferToVault,
            JobTaskStatus::NotStarted,
            from_micros(5),
        );
        let stored: serde_json::Value = serde_json::from_str(&to_json(&task)).unwrap();
        assert_eq!(stored["task_id"], "Transfer data to vault");
        assert_eq!(stored["status"], "NotStarted");
        for (name, wire) in [
            (JobTaskName::TakeSnapshot, "Take Snapshot"),
            (JobTaskName::TransferToVault, "Transfer data to vault"),
            (JobTaskName::TransferFromVault, "Transfer data from vault"),
        ] {
            assert_eq!(name.as_str(), wire);
            assert_eq!(JobTaskName::try_from(wire.to_owned()), Ok(name));
        }
        let unknown = serde_json::from_str::<JobTaskStatus>("\"Paused\"");
        assert!(unknown.is_err(), "{unknown:?}");
    }

    #[test]
    fn a_job_task_stamps_its_times_as_it_moves() {
        let (start, later) = (from_micros(5), from_micros(9));
        let mut task = JobTask::new(JobTaskName::TakeSnapshot, JobTaskStatus::InProgress, start);
        assert_eq!((task.start_time, task.end_time), (Some(start), None));
        task.move_to(JobTaskStatus::Completed, later);
        assert_eq!((task.start_time, task.end_time), (Some(start), Some(later)));
        assert_eq!(task.progress_percentage, 100.0);

        // A step the job never reached ends the moment the job does, at 0 %.
        let mut unstarted = JobTask::new(
            JobTaskName::TransferToVault,
            JobTaskStatus::NotStarted,
            start,
        );
        assert_eq!(unstarted.start_time, None);
        unstarted.move_to(JobTaskStatus::Cancelled, later);
        assert_eq!(
            (unstarted.start_time, unstarted.end_time),
            (Some(later), Some(later))
        );
        assert_eq!(unstarted.progress_percentage, 0.0);
    }

    #[test]
    fn a_copy_reports_its_share_done_and_completing_the_step_finishes_it() {
        let start = from_micros(5);
        let mut info = JobExtendedInfo {
            tasks_list: vec![JobTask::new(
                JobTaskName::TransferFromVault,
                JobTaskStatus::InProgress,
                start,
            )],
            ..JobExtendedInfo::default()
        };
        let third = Copied { done: 1, total: 3 };
        assert_eq!(third.percentage(), 33.33);
        let almost = Copied {
            done: 99_999,
            total: 100_000,
        };
        assert_eq!(almost.percentage(), 99.99, "only a finished copy shows 100");
        assert_eq!(Copied { done: 0, total: 0 }.percentage(), 100.0);

        info.record_copied(JobTaskName::TransferFromVault, third);
        // A step the job does not have changes nothing.
        info.record_copied(JobTaskName::TransferToVault, almost);
        let step = &mut info.tasks_list[0];
        assert_eq!(
            (step.copied, step.progress_percentage),
            (Some(third), 33.33)
        );
        assert_eq!(info.progress_percentage, Some(33.33));
        let step = &mut info.tasks_list[0];
        step.move_to(JobTaskStatus::Completed, from_micros(9));
        assert_eq!(step.copied, Some(Copied { done: 3, total: 3 }));
        assert_eq!(step.progress_percentage, 100.0);
    }
}
