//! Jobs (list with filters and paging, get) and recovery points (list with a date window,
//! get). Jobs and recovery points other than protection's own are put in place through the
//! domain functions the backup engine uses.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::json;
use vaultsim::resources::jobs::{
    self, Copied, JobErrorDetail, JobExtendedInfo, JobOperation, JobOutcome, JobStatus, JobTask,
    JobTaskName, JobTaskStatus, NewJob,
};

use super::app::{ArmResponse, ManagementApp};
use super::protection::{container_name, filter_query, item_name, record_recovery_point};

impl ManagementApp {
    pub async fn list_jobs(&self, group: &str, vault: &str, filter: Option<&str>) -> ArmResponse {
        self.get(&format!(
            "{}/backupJobs{}",
            self.vault_path(group, vault),
            filter_query(filter)
        ))
        .await
    }

    pub async fn get_job(&self, group: &str, vault: &str, job: &str) -> ArmResponse {
        self.get(&format!(
            "{}/backupJobs/{job}",
            self.vault_path(group, vault)
        ))
        .await
    }

    pub async fn list_recovery_points(
        &self,
        group: &str,
        vault: &str,
        container: &str,
        item: &str,
        filter: Option<&str>,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/recoveryPoints{}",
            self.item_path(group, vault, container, item),
            filter_query(filter)
        ))
        .await
    }

    pub async fn get_recovery_point(
        &self,
        group: &str,
        vault: &str,
        container: &str,
        item: &str,
        recovery_point: &str,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/recoveryPoints/{recovery_point}",
            self.item_path(group, vault, container, item)
        ))
        .await
    }
}

/// The internal id of a vault (vault names are unique in these tests).
async fn vault_id(app: &ManagementApp, vault: &str) -> String {
    sqlx::query_scalar("select vault_id from vault where name_key = $1")
        .bind(vault.to_lowercase())
        .fetch_one(app.db().await.pool())
        .await
        .unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).unwrap()
}

fn new_job(
    vault_id: &str,
    operation: JobOperation,
    status: JobStatus,
    start: DateTime<Utc>,
) -> NewJob {
    NewJob {
        vault_id: vault_id.to_owned(),
        item_key: Some("vm;iaasvmcontainerv2;rg;vm1".into()),
        entity_friendly_name: "vm1".into(),
        container_name: "iaasvmcontainerv2;rg;vm1".into(),
        operation,
        status,
        start_time: start,
        end_time: status.is_terminal().then(|| start + Duration::minutes(5)),
        is_user_triggered: false,
        extended_info: JobExtendedInfo::default(),
    }
}

/// Creates jobs through the domain, in one transaction; answers their ids in order.
async fn create_jobs(app: &ManagementApp, jobs: Vec<NewJob>) -> Vec<String> {
    let db = app.db().await;
    let mut tx = db.begin_write().await.unwrap();
    let mut ids = Vec::new();
    for job in jobs {
        ids.push(jobs::create_job(&mut tx, job).await.unwrap());
    }
    tx.commit().await.unwrap();
    ids
}

fn job_ids(list: &ArmResponse) -> Vec<String> {
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_owned())
        .collect()
}

// ---- tests ----

async fn job_lists_filter_by_status_operation_time_and_type(app: ManagementApp) {
    app.protection_setup("rg-jobs", "vault1", &[]).await;
    let vault = vault_id(&app, "vault1").await;
    // 2022-05-01T00:00:00Z and days after it.
    let day = |n: i64| at(1_651_363_200 + n * 86_400);
    let ids = create_jobs(
        &app,
        vec![
            new_job(&vault, JobOperation::Backup, JobStatus::Completed, day(0)),
            new_job(&vault, JobOperation::Backup, JobStatus::Failed, day(1)),
            new_job(
                &vault,
                JobOperation::ConfigureBackup,
                JobStatus::Completed,
                day(2),
            ),
            new_job(&vault, JobOperation::Backup, JobStatus::InProgress, day(3)),
            new_job(&vault, JobOperation::Restore, JobStatus::Completed, day(10)),
        ],
    )
    .await;
    // The jobs start in index order, so newest first is descending index order.
    let newest_first =
        |idx: &[usize]| -> Vec<String> { idx.iter().rev().map(|&i| ids[i].clone()).collect() };
    for (filter, want) in [
        (None, newest_first(&[0, 1, 2, 3, 4])),
        (Some("status eq 'Completed'"), newest_first(&[0, 2, 4])),
        (Some("status eq 'inprogress'"), newest_first(&[3])),
        (Some("operation eq 'Backup'"), newest_first(&[0, 1, 3])),
        (
            Some("operation eq 'Backup' and status eq 'Failed'"),
            newest_first(&[1]),
        ),
        (
            // As `az backup job list --start-date 02-05-2022 --end-date 04-05-2022` sends it.
            Some(
                "backupManagementType eq 'AzureIaasVM' and endTime eq '2022-05-04 12:00:00 AM' \
                 and startTime eq '2022-05-02 12:00:00 AM'",
            ),
            newest_first(&[1, 2, 3]),
        ),
        (
            Some("startTime eq '2022-05-03T00:00:00Z'"),
            newest_first(&[2, 3, 4]),
        ),
        (
            Some("endTime eq '2022-05-01T00:00:00Z'"),
            newest_first(&[0]),
        ),
        (Some("backupManagementType eq 'AzureStorage'"), vec![]),
    ] {
        let list = app.list_jobs("rg-jobs", "vault1", filter).await;
        assert_eq!(job_ids(&list), want, "{filter:?}");
    }
    let one = format!("jobId eq '{}'", ids[2].to_uppercase());
    for (filter, want) in [
        (Some(one.as_str()), newest_first(&[2])),
        (
            Some("jobId eq '00000000-0000-0000-0000-000000000000'"),
            vec![],
        ),
    ] {
        let list = app.list_jobs("rg-jobs", "vault1", filter).await;
        assert_eq!(job_ids(&list), want, "{filter:?}");
    }
    for bad in [
        "status eq 'Sleeping'",
        "operation eq 'Dance'",
        "startTime eq 'last tuesday'",
        "jobName eq 'x'",
    ] {
        let list = app.list_jobs("rg-jobs", "vault1", Some(bad)).await;
        assert_eq!(list.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(list.error_code(), "InvalidQueryParameterValue", "{bad}");
    }
    let bad_token = app
        .get(&format!(
            "{}/backupJobs?$skipToken=garbage",
            app.vault_path("rg-jobs", "vault1")
        ))
        .await;
    assert_eq!(bad_token.status, StatusCode::BAD_REQUEST);
    // Another vault's jobs are not listed.
    let created = app.put_vault("rg-jobs", "vault2", "eastus").await;
    assert!(created.status.is_success(), "{created:?}");
    let list = app.list_jobs("rg-jobs", "vault2", None).await;
    assert_eq!(job_ids(&list), Vec::<String>::new());
    let missing = app.get_job("rg-jobs", "vault2", &ids[0]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "BMSUserErrorJobNotFound");
}

async fn job_lists_page_newest_first_and_list_every_job_once(app: ManagementApp) {
    app.protection_setup("rg-jpage", "vault1", &[]).await;
    let vault = vault_id(&app, "vault1").await;
    // 450 jobs, three to a start time, so that pages split runs of equal times.
    let jobs: Vec<NewJob> = (0..450)
        .map(|n| {
            let operation = if n % 2 == 0 {
                JobOperation::Backup
            } else {
                JobOperation::Restore
            };
            new_job(
                &vault,
                operation,
                JobStatus::Completed,
                at(1_700_000_000 + n / 3),
            )
        })
        .collect();
    let ids = create_jobs(&app, jobs).await;
    for (filter, expected) in [(None, 450), (Some("operation eq 'Backup'"), 225)] {
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut pages = 0;
        let mut page = app.list_jobs("rg-jpage", "vault1", filter).await;
        loop {
            pages += 1;
            assert_eq!(page.status, StatusCode::OK);
            for job in page.body["value"].as_array().unwrap() {
                seen.push((
                    job["properties"]["startTime"].as_str().unwrap().to_owned(),
                    job["name"].as_str().unwrap().to_owned(),
                ));
                if filter.is_some() {
                    assert_eq!(job["properties"]["operation"], "Backup");
                }
            }
            match page.body["nextLink"].as_str() {
                Some(next) => page = app.follow(next).await,
                None => break,
            }
        }
        assert_eq!(seen.len(), expected, "{filter:?}");
        assert_eq!(pages, expected.div_ceil(200), "{filter:?}");
        let unique: HashSet<&String> = seen.iter().map(|(_, id)| id).collect();
        assert_eq!(unique.len(), expected, "a job listed twice: {filter:?}");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "not newest first: {filter:?}");
    }
    let all: HashSet<&String> = ids.iter().collect();
    assert_eq!(all.len(), 450);
}

async fn a_job_has_the_azure_iaas_vm_job_shape(app: ManagementApp) {
    app.protection_setup("rg-job", "vault1", &["vm1"]).await;
    let job = app
        .enable_protection("rg-job", "vault1", "rg-job", "vm1", "DefaultPolicy")
        .await;
    let p = &job["properties"];
    for field in [
        "jobType",
        "entityFriendlyName",
        "backupManagementType",
        "operation",
        "status",
        "startTime",
        "endTime",
        "duration",
        "activityId",
        "containerName",
        "virtualMachineVersion",
        "actionsInfo",
        "isUserTriggered",
        "errorDetails",
        "extendedInfo",
    ] {
        assert!(p.get(field).is_some(), "{field} missing from {p}");
    }
    assert_eq!(p["virtualMachineVersion"], "Compute");
    assert_eq!(p["isUserTriggered"], true);
    assert_eq!(p["errorDetails"], json!([]));
    assert!(p["duration"].as_str().unwrap().starts_with("PT"));
    assert_eq!(p["extendedInfo"]["internalPropertyBag"], json!({}));

    // A running Backup job, as the engine would write it: no end, a growing duration.
    let vault = vault_id(&app, "vault1").await;
    let started = Utc::now() - Duration::minutes(3);
    let mut running = new_job(&vault, JobOperation::Backup, JobStatus::InProgress, started);
    running.is_user_triggered = true;
    running.extended_info = JobExtendedInfo {
        tasks_list: vec![
            JobTask {
                task_id: JobTaskName::TakeSnapshot,
                status: JobTaskStatus::InProgress,
                start_time: Some(started),
                end_time: None,
                instance_id: String::new(),
                progress_percentage: 0.0,
                copied: None,
            },
            JobTask {
                task_id: JobTaskName::TransferToVault,
                status: JobTaskStatus::NotStarted,
                start_time: None,
                end_time: None,
                instance_id: String::new(),
                progress_percentage: 0.0,
                copied: None,
            },
        ],
        property_bag: BTreeMap::from([
            ("VM Name".to_owned(), "vm1".to_owned()),
            (
                "Recovery Point Expiry Time in UTC".to_owned(),
                "6/15/2022 12:00:00 AM".to_owned(),
            ),
        ]),
        internal_property_bag: BTreeMap::from([("IsInstantRpJob".to_owned(), "True".to_owned())]),
        progress_percentage: Some(10.0),
        estimated_remaining_duration: Some("PT20M".into()),
    };
    let id = create_jobs(&app, vec![running]).await.remove(0);
    let first = app.get_job("rg-job", "vault1", &id).await;
    assert_eq!(first.status, StatusCode::OK);
    let p = &first.body["properties"];
    assert_eq!(p["status"], "InProgress");
    assert!(p.get("endTime").is_none());
    assert_eq!(p["actionsInfo"], json!([1]));
    assert_eq!(p["extendedInfo"]["tasksList"][0]["taskId"], "Take Snapshot");
    assert_eq!(p["extendedInfo"]["tasksList"][0]["status"], "InProgress");
    assert_eq!(p["extendedInfo"]["tasksList"][1]["status"], "NotStarted");
    assert_eq!(
        p["extendedInfo"]["internalPropertyBag"]["IsInstantRpJob"],
        "True"
    );
    assert_eq!(p["extendedInfo"]["progressPercentage"], 10.0);
    assert_eq!(p["extendedInfo"]["estimatedRemainingDuration"], "PT20M");
    assert!(
        p["duration"].as_str().unwrap().starts_with("PT3M"),
        "{}",
        p["duration"]
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = app.get_job("rg-job", "vault1", &id.to_uppercase()).await;
    assert_eq!(second.status, StatusCode::OK, "job ids match in any case");
    assert_ne!(
        second.body["properties"]["duration"], p["duration"],
        "a running job's duration grows"
    );
    // Its transfer reports progress while the job runs, as the engine's copy does.
    let db = app.db().await;
    let mut copying = jobs::get(&db, &vault, &id).await.unwrap().extended_info;
    copying.record_copied(
        JobTaskName::TransferToVault,
        Copied {
            done: 1 << 29,
            total: 1 << 30,
        },
    );
    let mut tx = db.begin_write().await.unwrap();
    assert!(jobs::update_running(&mut tx, &id, &copying).await.unwrap());
    tx.commit().await.unwrap();
    let shown = app.get_job("rg-job", "vault1", &id).await.body;
    let transfer = &shown["properties"]["extendedInfo"]["tasksList"][1];
    assert_eq!(transfer["progressPercentage"], 50.0);
    assert_eq!(
        transfer["taskExecutionDetails"],
        "0.5 GBs / 1 GBs Transferred"
    );
    assert_eq!(
        shown["properties"]["extendedInfo"]["progressPercentage"],
        50.0
    );
    // It fails: an end, a fixed duration, error details.
    let mut tx = db.begin_write().await.unwrap();
    jobs::finish(
        &mut tx,
        &id,
        JobOutcome {
            status: JobStatus::Failed,
            end_time: started + Duration::minutes(4),
            error_details: vec![JobErrorDetail {
                error_code: 400_001,
                error_string: "Snapshot operation failed.".into(),
                error_title: "UserErrorVmNotInDesirableState".into(),
                recommendations: vec!["Retry the backup.".into()],
            }],
            extended_info: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let done = app.get_job("rg-job", "vault1", &id).await;
    let p = &done.body["properties"];
    assert_eq!(p["status"], "Failed");
    assert_eq!(p["duration"], "PT4M");
    assert_eq!(p["actionsInfo"], json!([]));
    assert!(p["endTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        p["errorDetails"],
        json!([{
            "errorCode": 400001,
            "errorString": "Snapshot operation failed.",
            "errorTitle": "UserErrorVmNotInDesirableState",
            "recommendations": ["Retry the backup."],
        }])
    );
    // Progress reported after the end changes nothing: the job stays as it ended.
    copying.record_copied(
        JobTaskName::TransferToVault,
        Copied {
            done: 3 << 28,
            total: 1 << 30,
        },
    );
    let mut tx = db.begin_write().await.unwrap();
    assert!(!jobs::update_running(&mut tx, &id, &copying).await.unwrap());
    tx.commit().await.unwrap();
    let after = app.get_job("rg-job", "vault1", &id).await.body;
    assert_eq!(after["properties"]["status"], "Failed");
    let info = &after["properties"]["extendedInfo"];
    assert_eq!(info["progressPercentage"], 50.0);
    assert_eq!(
        info["tasksList"][1]["taskExecutionDetails"],
        "0.5 GBs / 1 GBs Transferred"
    );
    // Unknown jobs.
    let missing = app
        .get_job("rg-job", "vault1", "00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "BMSUserErrorJobNotFound");
}

async fn recovery_points_list_by_date_and_get(app: ManagementApp) {
    app.protection_setup("rg-rp", "vault1", &["vm1"]).await;
    app.protect("rg-rp", "vault1", "vm1", "DefaultPolicy").await;
    let container = container_name("rg-rp", "vm1");
    let item = item_name("rg-rp", "vm1");
    let none = app
        .list_recovery_points("rg-rp", "vault1", &container, &item, None)
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.body, json!({"value": []}));
    // 2022-05-01, 05-02 and 05-03 at 10:00Z.
    let key = "vm;iaasvmcontainerv2;rg-rp;vm1";
    let mut names = Vec::new();
    for day in 0..3 {
        names.push(record_recovery_point(&app, "vault1", key, 1_651_399_200 + day * 86_400).await);
    }
    let list = app
        .list_recovery_points("rg-rp", "vault1", &container, &item, None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let listed: Vec<&str> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![&*names[2], &*names[1], &*names[0]],
        "newest first"
    );
    let point = &list.body["value"][0];
    let item_id = format!(
        "{}/backupFabrics/Azure/protectionContainers/{container}/protectedItems/{item}",
        app.vault_path("rg-rp", "vault1")
    );
    assert_eq!(
        point["id"],
        format!("{item_id}/recoveryPoints/{}", names[2])
    );
    assert!(names[2].bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(
        point["type"],
        "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints"
    );
    let p = &point["properties"];
    assert_eq!(p["objectType"], "IaasVMRecoveryPoint");
    assert_eq!(p["recoveryPointType"], "AppConsistent");
    assert_eq!(p["recoveryPointTime"], "2022-05-03T10:00:00Z");
    assert_eq!(
        p["recoveryPointTierDetails"],
        json!([{"type": "InstantRP", "status": "Valid"}, {"type": "HardenedRP", "status": "Valid"}])
    );
    assert_eq!(p["osType"], "Linux");
    assert_eq!(p["virtualMachineSize"], "Standard_D2s_v3");
    assert_eq!(p["sourceVMStorageType"], "NormalStorage");
    assert_eq!(p["isManagedVirtualMachine"], true);
    assert_eq!(p["isSourceVMEncrypted"], false);
    assert!(p["recoveryPointMoveReadinessInfo"]["ArchivedRP"].is_object());
    // Date windows, in the CLI's format and in ISO 8601.
    for (filter, want) in [
        (
            "endDate eq '2022-05-02 11:59:59 PM' and startDate eq '2022-05-02 12:00:00 AM'",
            vec![&*names[1]],
        ),
        (
            "startDate eq '2022-05-02T10:00:00Z'",
            vec![&*names[2], &*names[1]],
        ),
        ("endDate eq '2022-05-01T10:00:00Z'", vec![&*names[0]]),
    ] {
        let list = app
            .list_recovery_points("rg-rp", "vault1", &container, &item, Some(filter))
            .await;
        let listed: Vec<&str> = list.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(listed, want, "{filter}");
    }
    let bad = app
        .list_recovery_points(
            "rg-rp",
            "vault1",
            &container,
            &item,
            Some("startDate eq 'x'"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // Get.
    let got = app
        .get_recovery_point("rg-rp", "vault1", &container, &item, &names[0])
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["name"], names[0].as_str());
    assert_eq!(
        got.body["properties"]["recoveryPointTime"],
        "2022-05-01T10:00:00Z"
    );
    let missing = app
        .get_recovery_point("rg-rp", "vault1", &container, &item, "12345")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "BMSUserErrorRecoveryPointNotFound");
    let no_item = app
        .list_recovery_points(
            "rg-rp",
            "vault1",
            &container_name("rg-rp", "vm9"),
            &item_name("rg-rp", "vm9"),
            None,
        )
        .await;
    assert_eq!(no_item.status, StatusCode::NOT_FOUND);
    assert_eq!(no_item.error_code(), "BMSUserErrorDataSourceObjectNotFound");
    // The item counts them.
    let got = app
        .get_protected_item("rg-rp", "vault1", &container, &item)
        .await;
    let p = &got.body["properties"];
    assert_eq!(p["lastRecoveryPoint"], "2022-05-03T10:00:00Z");
    assert_eq!(p["extendedInfo"]["recoveryPointCount"], 3);
    assert_eq!(
        p["extendedInfo"]["oldestRecoveryPoint"],
        "2022-05-01T10:00:00Z"
    );
}

crate::on_both_backends!(
    job_lists_filter_by_status_operation_time_and_type,
    job_lists_page_newest_first_and_list_every_job_once,
    a_job_has_the_azure_iaas_vm_job_shape,
    recovery_points_list_by_date_and_get,
);
