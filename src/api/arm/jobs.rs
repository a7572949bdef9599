//! Jobs over ARM: `backupJobs` (newest first, `$filter` on status, operation, start time
//! window and management type, 200 per page with `$skipToken`), their cancellation and the
//! operations clients poll for it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use strum::VariantArray;

use super::error::ErrorResponse;
use super::params::{ApiVersion, VaultParams};
use super::protection::operations::{operation_body, result_response, OperationStatusBody};
use super::protection::{accepted, url, vault_of, wire_time, MANAGEMENT_TYPE};
use super::query::{check_filter_keys, filter_allows, filter_time, Filter};
use super::route::{spec, VaultPath};
use super::{json_response, ArmError, ArmRequest, ArmResult, ListBody};
use crate::api::ApiState;
use crate::control::cancel;
use crate::resources::jobs::{self, Copied, Job, JobCursor, JobOperation, JobQuery, JobStatus};
use crate::resources::protection::operations;

/// Jobs per list page.
const PAGE_SIZE: usize = 200;

const JOB_TYPE: &str = "Microsoft.RecoveryServices/vaults/backupJobs";

// ---- wire types ----

/// AzureIaaSVMJob.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobResource {
    id: String,
    name: String,
    #[serde(rename = "type")]
    resource_type: &'static str,
    properties: JobProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobProperties {
    /// Discriminator: `AzureIaaSVMJob`.
    job_type: &'static str,
    entity_friendly_name: String,
    backup_management_type: &'static str,
    operation: &'static str,
    status: &'static str,
    start_time: String,
    /// Absent while the job runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    /// ISO 8601, e.g. `PT41M12.684856S`; grows while the job runs.
    duration: String,
    activity_id: String,
    /// `iaasvmcontainerv2;{rg};{vm}`.
    container_name: String,
    virtual_machine_version: &'static str,
    /// `1` (Cancellable) while the job runs.
    actions_info: Vec<i32>,
    is_user_triggered: bool,
    error_details: Vec<JobErrorInfo>,
    extended_info: JobExtendedInfoBody,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobErrorInfo {
    error_code: i64,
    error_string: String,
    error_title: String,
    recommendations: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobExtendedInfoBody {
    tasks_list: Vec<JobTaskBody>,
    property_bag: BTreeMap<String, String>,
    internal_property_bag: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress_percentage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estimated_remaining_duration: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobTaskBody {
    task_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    instance_id: String,
    duration: String,
    status: String,
    progress_percentage: f64,
    task_execution_details: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobList {
    value: Vec<JobResource>,
    #[serde(rename = "nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

// ---- parsing ----

/// ISO 8601 duration as .NET writes a TimeSpan: `PT41M12.684856S`, `P1DT2H`, `PT0S`.
fn iso_duration(duration: Duration) -> String {
    let micros = duration.num_microseconds().unwrap_or(i64::MAX).max(0);
    let (seconds, fraction) = (micros / 1_000_000, micros % 1_000_000);
    let (days, hours, minutes, seconds) = (
        seconds / 86_400,
        seconds / 3_600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let mut text = String::from("P");
    if days > 0 {
        text.push_str(&format!("{days}D"));
    }
    text.push('T');
    if hours > 0 {
        text.push_str(&format!("{hours}H"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}M"));
    }
    if seconds > 0 || fraction > 0 || text == "PT" {
        text.push_str(&seconds.to_string());
        if fraction > 0 {
            let digits = format!("{fraction:06}");
            text.push('.');
            text.push_str(digits.trim_end_matches('0'));
        }
        text.push('S');
    }
    if text.ends_with('T') {
        text.pop();
    }
    text
}

/// A copy's progress in Azure's words, "63.5 GBs / 127 GBs Transferred": GiB with at most
/// one decimal. What is done rounds down, so that only a finished copy shows its whole
/// size; the size rounds to the nearest tenth.
fn transferred_text(copied: Copied) -> String {
    let done = if copied.done >= copied.total {
        tenths_of_gib_nearest(copied.total)
    } else {
        tenths_of_gib_down(copied.done)
    };
    format!(
        "{} GBs / {} GBs Transferred",
        tenths_text(done),
        tenths_text(tenths_of_gib_nearest(copied.total))
    )
}

const GIB: u128 = 1 << 30;

fn tenths_of_gib_down(bytes: u64) -> u128 {
    u128::from(bytes) * 10 / GIB
}

fn tenths_of_gib_nearest(bytes: u64) -> u128 {
    (u128::from(bytes) * 10 + GIB / 2) / GIB
}

/// `635` as `63.5`, `1270` as `127`.
fn tenths_text(tenths: u128) -> String {
    match tenths % 10 {
        0 => (tenths / 10).to_string(),
        decimal => format!("{}.{decimal}", tenths / 10),
    }
}

/// The job query a `$filter` asks for; `None` when it can match no job (another
/// management type).
fn job_query(filter: &Filter) -> Result<Option<JobQuery>, ArmError> {
    check_filter_keys(
        filter,
        &[
            "status",
            "operation",
            "startTime",
            "endTime",
            "backupManagementType",
            "jobId",
        ],
    )?;
    if !filter_allows(filter, "backupManagementType", MANAGEMENT_TYPE) {
        return Ok(None);
    }
    let status = filter
        .get("status")
        .map(|s| {
            s.parse::<JobStatus>().map_err(|_| {
                let known: Vec<_> = JobStatus::VARIANTS.iter().map(|s| s.as_str()).collect();
                ArmError::InvalidQueryParameter(format!(
                    "The $filter status '{s}' is not a job status; one of: {}.",
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    let operation = filter
        .get("operation")
        .map(|o| {
            o.parse::<JobOperation>().map_err(|_| {
                let known: Vec<_> = JobOperation::VARIANTS.iter().map(|o| o.as_str()).collect();
                ArmError::InvalidQueryParameter(format!(
                    "The $filter operation '{o}' is not a job operation; one of: {}.",
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    Ok(Some(JobQuery {
        status,
        operation,
        start_from: filter_time(filter, "startTime")?,
        start_until: filter_time(filter, "endTime")?,
        job_id: filter.get("jobId").map(str::to_owned),
        after: None,
    }))
}

// ---- bodies ----

pub(super) fn job_body(vault_id: &str, job: &Job, now: DateTime<Utc>) -> JobResource {
    let info = &job.extended_info;
    JobResource {
        id: format!("{vault_id}/backupJobs/{}", job.job_id),
        name: job.job_id.clone(),
        resource_type: JOB_TYPE,
        properties: JobProperties {
            job_type: "AzureIaaSVMJob",
            entity_friendly_name: job.entity_friendly_name.clone(),
            backup_management_type: MANAGEMENT_TYPE,
            operation: job.operation.as_str(),
            status: job.status.as_str(),
            start_time: wire_time(job.start_time),
            end_time: job.end_time.map(wire_time),
            duration: iso_duration(job.duration(now)),
            activity_id: job.activity_id.clone(),
            container_name: job.container_name.clone(),
            virtual_machine_version: "Compute",
            actions_info: if job.status.is_terminal() {
                vec![]
            } else {
                vec![1]
            },
            is_user_triggered: job.is_user_triggered,
            error_details: job
                .error_details
                .iter()
                .map(|e| JobErrorInfo {
                    error_code: e.error_code,
                    error_string: e.error_string.clone(),
                    error_title: e.error_title.clone(),
                    recommendations: e.recommendations.clone(),
                })
                .collect(),
            extended_info: JobExtendedInfoBody {
                tasks_list: info
                    .tasks_list
                    .iter()
                    .map(|t| JobTaskBody {
                        task_id: t.task_id.as_str().to_owned(),
                        start_time: t.start_time.map(wire_time),
                        end_time: t.end_time.map(wire_time),
                        instance_id: t.instance_id.clone(),
                        duration: iso_duration(match (t.start_time, t.end_time) {
                            (Some(start), Some(end)) => end - start,
                            (Some(start), None) => now - start,
                            _ => Duration::zero(),
                        }),
                        status: t.status.as_str().to_owned(),
                        progress_percentage: t.progress_percentage,
                        task_execution_details: t.copied.map(transferred_text).unwrap_or_default(),
                    })
                    .collect(),
                property_bag: info.property_bag.clone(),
                internal_property_bag: info.internal_property_bag.clone(),
                progress_percentage: info.progress_percentage,
                estimated_remaining_duration: info.estimated_remaining_duration.clone(),
            },
        },
    }
}

// ---- handlers ----

#[utoipa::path(
    get,
    path = spec::ListJobs.path,
    operation_id = spec::ListJobs.operation_id,
    tag = "Jobs",
    params(
        VaultParams,
        ApiVersion,
        ("$filter" = Option<String>, Query, description = "`status`, `operation`, `startTime` and `endTime` (bounds on the job's start, `YYYY-MM-DD hh:mm:ss AM` or ISO 8601), `backupManagementType`, `jobId`, as `key eq 'value'` joined by `and`; other keys are refused (400)."),
        ("$skipToken" = Option<String>, Query, description = "Continues a list from its `nextLink`."),
    ),
    responses(
        (status = 200, description = "A page of the vault's jobs, newest first (200 per page).", body = JobList),
        (status = 400, description = "An unsupported `$filter` or `$skipToken`.", body = ErrorResponse),
        (status = 404, description = "Unknown vault.", body = ErrorResponse),
    )
)]
pub async fn list_jobs(state: &ApiState, request: &ArmRequest, path: &VaultPath) -> ArmResult {
    let filter = request.query.filter()?;
    let query = job_query(&filter)?;
    let after = request
        .query
        .skip_token()
        .map(|token| {
            JobCursor::parse_token(token).ok_or_else(|| {
                ArmError::InvalidQueryParameter(format!(
                    "The $skipToken '{token}' was not issued by this list; follow nextLink as given."
                ))
            })
        })
        .transpose()?;
    let vault = vault_of(state, path).await?;
    let Some(query) = query else {
        return Ok(json_response(
            StatusCode::OK,
            &JobList {
                value: Vec::new(),
                next_link: None,
            },
        ));
    };
    let page = jobs::list(
        &state.db,
        &vault.vault_id,
        &JobQuery { after, ..query },
        PAGE_SIZE,
    )
    .await?;
    let bodies = state
        .job_bodies
        .page(&state.db, &vault.arm_id(), &page.jobs, state.clock.now())
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &ListBody {
            value: bodies.iter().map(|body| &**body).collect(),
            next_link: page.next.map(|c| request.next_link(&c.to_token())),
        },
    ))
}

#[utoipa::path(
    get,
    path = spec::GetJob.path,
    operation_id = spec::GetJob.operation_id,
    tag = "Jobs",
    params(
        VaultParams,
        ("jobName" = String, Path, description = "The job's GUID."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The job.", body = JobResource),
        (status = 404, description = "Unknown vault or job.", body = ErrorResponse),
    )
)]
pub async fn get_job(
    state: &ApiState,
    _request: &ArmRequest,
    vault: &VaultPath,
    job: &str,
) -> ArmResult {
    let vault = vault_of(state, vault).await?;
    let job = jobs::get(&state.db, &vault.vault_id, job).await?;
    Ok(json_response(
        StatusCode::OK,
        &job_body(&vault.arm_id(), &job, state.clock.now()),
    ))
}

#[utoipa::path(
    post,
    path = spec::CancelJob.path,
    operation_id = spec::CancelJob.operation_id,
    tag = "Jobs",
    params(
        VaultParams,
        ("jobName" = String, Path, description = "The job's id (a GUID, any case)."),
        ApiVersion,
    ),
    responses(
        (status = 202, description = "The job is cancelled (it ends `Cancelled` with its tasks at once); poll the headers' URLs.", headers(
            ("Azure-AsyncOperation" = String, description = "`.../backupJobs/operationsStatus/{operationId}`."),
            ("Location" = String, description = "`.../backupJobs/{jobName}/operationResults/{operationId}`."),
        )),
        (status = 400, description = "`UserErrorJobNotCancellable`: the job has ended, is not a backup, or is transferring to the vault.", body = ErrorResponse),
        (status = 404, description = "`BMSUserErrorJobNotFound` or an unknown vault.", body = ErrorResponse),
    )
)]
pub async fn cancel_job(
    state: &ApiState,
    request: &ArmRequest,
    vault: &VaultPath,
    job: &str,
) -> ArmResult {
    let vault = vault_of(state, vault).await?;
    let cancelled = cancel::cancel_job(&state.engine, &vault, job).await?;
    let jobs = format!("{}/backupJobs", vault.arm_id());
    let op = &cancelled.operation_id;
    Ok(accepted(&[
        (
            "azure-asyncoperation",
            url(request, &format!("{jobs}/operationsStatus/{op}")),
        ),
        (
            "location",
            url(
                request,
                &format!("{jobs}/{}/operationResults/{op}", cancelled.job_id),
            ),
        ),
    ]))
}

#[utoipa::path(
    get,
    path = spec::GetJobOperationResult.path,
    operation_id = spec::GetJobOperationResult.operation_id,
    tag = "Jobs",
    params(
        VaultParams,
        ("jobName" = String, Path, description = "The cancelled job's id."),
        ("operationId" = String, Path, description = "The cancellation's id (the last segment of `Location`)."),
        ApiVersion,
    ),
    responses(
        (status = 204, description = "The cancellation is done."),
        (status = 404, description = "No such cancellation of this job.", body = ErrorResponse),
    )
)]
pub async fn get_job_operation_result(
    state: &ApiState,
    request: &ArmRequest,
    vault: &VaultPath,
    job: &str,
    operation: &str,
) -> ArmResult {
    let vault = vault_of(state, vault).await?;
    let op =
        operations::get_job_cancellation(&state.db, &vault.vault_id, Some(job), operation).await?;
    Ok(result_response(request, &op, || {
        format!(
            "{}/backupJobs/{job}/operationResults/{}",
            vault.arm_id(),
            op.operation_id
        )
    }))
}

#[utoipa::path(
    get,
    path = spec::GetJobOperationStatus.path,
    operation_id = spec::GetJobOperationStatus.operation_id,
    tag = "Jobs",
    params(
        VaultParams,
        ("operationId" = String, Path, description = "The cancellation's id (the last segment of `Azure-AsyncOperation`)."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The cancellation's status, with the job's id.", body = OperationStatusBody),
        (status = 404, description = "No such cancellation.", body = ErrorResponse),
    )
)]
pub async fn get_job_operation_status(
    state: &ApiState,
    _request: &ArmRequest,
    vault: &VaultPath,
    operation: &str,
) -> ArmResult {
    let vault = vault_of(state, vault).await?;
    let op = operations::get_job_cancellation(&state.db, &vault.vault_id, None, operation).await?;
    Ok(json_response(StatusCode::OK, &operation_body(&op)))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_jobs,
        get_job,
        cancel_job,
        get_job_operation_result,
        get_job_operation_status,
    ),
    components(schemas(
        JobResource,
        JobProperties,
        JobErrorInfo,
        JobExtendedInfoBody,
        JobTaskBody,
        JobList,
        ErrorResponse,
    ))
)]
pub struct JobsApi;

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn copies_read_as_azure_words_them() {
        const GIB: u64 = 1 << 30;
        let text = |done: u64, total: u64| transferred_text(Copied { done, total });
        assert_eq!(
            text(127 * GIB / 2, 127 * GIB),
            "63.5 GBs / 127 GBs Transferred"
        );
        assert_eq!(text(0, 2 * GIB), "0 GBs / 2 GBs Transferred");
        assert_eq!(text(GIB / 2, 2 * GIB), "0.5 GBs / 2 GBs Transferred");
        // Done rounds down: 0.99 GiB is not yet the whole gigabyte.
        assert_eq!(text(GIB - (10 << 20), GIB), "0.9 GBs / 1 GBs Transferred");
        assert_eq!(text(GIB, GIB), "1 GBs / 1 GBs Transferred");
        // The size rounds to the nearest tenth, and a finished copy shows it whole.
        assert_eq!(text(512 << 20, 1000 << 20), "0.5 GBs / 1 GBs Transferred");
        assert_eq!(text(1000 << 20, 1000 << 20), "1 GBs / 1 GBs Transferred");
        assert_eq!(text(16 << 20, 64 << 20), "0 GBs / 0.1 GBs Transferred");
        assert_eq!(text(0, 0), "0 GBs / 0 GBs Transferred");
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn durations_are_written_as_dotnet_writes_them() {
        for (micros, want) in [
            (0, "PT0S"),
            (2_472_684_856, "PT41M12.684856S"),
            (3_600_000_000, "PT1H"),
            (90_061_500_000, "P1DT1H1M1.5S"),
            (86_400_000_000, "P1D"),
            (-5, "PT0S"),
        ] {
            assert_eq!(
                iso_duration(Duration::microseconds(micros)),
                want,
                "{micros}"
            );
        }
    }

    #[test]
    fn job_filters_map_to_queries() {
        let filter = Filter::parse(
            "backupManagementType eq 'AzureIaasVM' and endTime eq '2022-05-31 12:00:00 AM' \
             and operation eq 'backup' and startTime eq '2022-05-01 12:00:00 AM' \
             and status eq 'inprogress'",
        )
        .unwrap();
        let query = job_query(&filter).unwrap().unwrap();
        assert_eq!(query.status, Some(JobStatus::InProgress));
        assert_eq!(query.operation, Some(JobOperation::Backup));
        assert_eq!(query.start_from, Some(at("2022-05-01T00:00:00Z")));
        assert_eq!(query.start_until, Some(at("2022-05-31T00:00:00Z")));
        let other = Filter::parse("backupManagementType eq 'AzureStorage'").unwrap();
        assert!(job_query(&other).unwrap().is_none());
        for bad in [
            "status eq 'Sleeping'",
            "operation eq 'Dance'",
            "startTime eq 'soon'",
            "jobName eq 'x'",
        ] {
            assert!(
                matches!(
                    job_query(&Filter::parse(bad).unwrap()),
                    Err(ArmError::InvalidQueryParameter(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_openapi_documents_name_every_operation() {
        let jobs = serde_json::to_value(JobsApi::openapi()).unwrap();
        let protection =
            serde_json::to_value(super::super::protection::ProtectionApi::openapi()).unwrap();
        let recovery_points =
            serde_json::to_value(super::super::recovery_points::RecoveryPointsApi::openapi())
                .unwrap();
        let mut ids: Vec<String> = [jobs, protection, recovery_points]
            .iter()
            .flat_map(|doc| {
                doc["paths"]
                    .as_object()
                    .unwrap()
                    .values()
                    .flat_map(|methods| methods.as_object().unwrap().values())
                    .map(|op| op["operationId"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "BackupJobs_List",
                "BackupOperationResults_Get",
                "BackupOperationStatuses_Get",
                "BackupProtectableItems_List",
                "BackupProtectedItems_List",
                "BackupProtectionContainers_List",
                "BackupStatus_Get",
                "JobCancellations_Trigger",
                "JobDetails_Get",
                "JobOperationResults_Get",
                "JobOperationStatuses_Get",
                "ProtectedItemOperationResults_Get",
                "ProtectedItemOperationStatuses_Get",
                "ProtectedItems_CreateOrUpdate",
                "ProtectedItems_Delete",
                "ProtectedItems_Get",
                "ProtectionContainerRefreshOperationResults_Get",
                "ProtectionContainers_Get",
                "ProtectionContainers_Refresh",
                "RecoveryPoints_Get",
                "RecoveryPoints_List",
            ]
        );
    }
}
