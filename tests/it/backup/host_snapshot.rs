//! The wire server's host snapshot path over HTTP: a VM stand-in receives a task, asks
//! `presnapshot` for the host's time and `dosnapshot` for its disks' snapshots, reports
//! them as the extension does, and the service makes the recovery point; calls without
//! the task's token, for unknown or finished tasks, or with another api-version are
//! refused.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vaultsim_protocol::extension::status::SnapshotInfo;

use super::e2e::{disk_container, protected_vm, recovery_points, wait_for_job, GROUP, VAULT, VM};
use super::standin::{ReceivedTask, VmStandIn};
use crate::management::app::{Backend, ManagementApp};

const START: &str = "2026-03-01T10:00:00Z";
const PRESNAPSHOT: &str = "/metadata/recsvc/snapshot/presnapshot?api-version=2017-12-01";
const DOSNAPSHOT: &str = "/metadata/recsvc/snapshot/dosnapshot?api-version=2017-12-01";

/// An answer: status and JSON body (`Null` when empty or not JSON).
struct HostAnswer {
    status: StatusCode,
    body: Value,
}

/// A host call as the real extension makes it (`Backup: true`, JSON, no credential), or
/// with `bearer` as the guest API's `Authorization`.
async fn host_call(
    app: &ManagementApp,
    path_and_query: &str,
    body: &Value,
    bearer: Option<&str>,
) -> HostAnswer {
    let mut request = app
        .http
        .request(Method::POST, app.guest_url(path_and_query))
        .header("Backup", "true")
        .header("Content-type", "application/json")
        .header("UserAgent", "VMSnapshot")
        .body(body.to_string());
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("the guest API answers");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    HostAnswer { status, body }
}

/// The method probe's body as the real extension sends it (`hostsnapshotter.py`
/// `pre_snapshot` with `fetch_disk_details`): `preSnapshotSettings` with a JSON boolean.
fn presnapshot_body(task: &ReceivedTask) -> Value {
    json!({
        "taskId": task.public.task_id,
        "snapshotTaskToken": task.public_object.snapshot_task_token,
        "preSnapshotSettings": [{"Key": "isVMADEEnabled", "Value": false}],
    })
}

/// As the real extension sends it: its well-known setting flags are JSON booleans.
fn dosnapshot_body(task: &ReceivedTask, disk_ids: &[i64]) -> Value {
    json!({
        "taskId": task.public.task_id,
        "diskIds": disk_ids,
        "settings": [
            {"Key": "isSnapshotTtlEnabled", "Value": false},
            {"Key": "useMccfToFetchDsasForAllDisks", "Value": false},
            {"Key": "useMccfForLad", "Value": false},
            {"Key": "EnableVMSnapshotExtensionPolling", "Value": false},
            {"Key": "isVmmdBlobIncluded", "Value": false},
        ],
        "snapshotTaskToken": task.public_object.snapshot_task_token,
        "snapshotMetadata": task.public_object.backup_metadata,
    })
}

async fn started_task(app: &ManagementApp) -> (VmStandIn, ReceivedTask, String) {
    let mut vm = protected_vm(app, START).await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let task = vm
        .next_task(Duration::from_secs(20))
        .await
        .expect("the VM received the task");
    (vm, task, job_id)
}

/// What the extension makes of the host's `snapshotInfo` for its status (spec §4):
/// `blobUri` is `snapshotUri` cut at `?`, success only for the string "true".
fn status_snapshots(snapshot_info: &Value) -> Vec<SnapshotInfo> {
    snapshot_info
        .as_array()
        .unwrap()
        .iter()
        .map(|info| {
            let uri = info["snapshotUri"].as_str().map(str::to_owned);
            SnapshotInfo {
                is_successful: info["isSuccessful"] == "true",
                blob_uri: uri
                    .as_deref()
                    .map(|u| u.split('?').next().unwrap().to_owned()),
                snapshot_uri: uri,
                error_message: info["errorMessage"].as_str().map(str::to_owned),
                direct_drive_snapshot_identifier: None,
            }
        })
        .collect()
}

#[tokio::test]
async fn presnapshot_answers_the_simulated_clocks_time_to_the_tasks_token() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let (vm, task, _) = started_task(&app).await;
    app.pin_clock("2026-03-01T11:34:56.789Z").await;

    let answer = host_call(&app, PRESNAPSHOT, &presnapshot_body(&task), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.body["responseTime"],
        json!({"year": 2026, "month": 3, "day": 1, "hour": 11, "minute": 34, "second": 56})
    );
    for field in ["bhsVersion", "nodeId", "result"] {
        assert!(answer.body[field].is_string(), "{field}: {}", answer.body);
    }
    // The VM's own credential may come along.
    let with_credential = host_call(
        &app,
        PRESNAPSHOT,
        &presnapshot_body(&task),
        Some(vm.credential()),
    )
    .await;
    assert_eq!(with_credential.status, StatusCode::OK);
    assert_eq!(with_credential.body["nodeId"], answer.body["nodeId"]);
}

#[tokio::test]
async fn host_calls_without_the_tasks_token_or_for_no_task_are_refused() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let (_vm, task, _) = started_task(&app).await;
    let token = task.public_object.snapshot_task_token.clone().unwrap();
    assert_ne!(
        token, task.public.task_id,
        "the token is not the public task id"
    );

    let task_id = &task.public.task_id;
    let cases = [
        (
            PRESNAPSHOT,
            json!({"taskId": task_id, "snapshotTaskToken": "guessed"}),
            StatusCode::FORBIDDEN,
            "InvalidSnapshotTaskToken",
        ),
        (
            DOSNAPSHOT,
            json!({"taskId": task_id, "diskIds": [-1], "snapshotTaskToken": null}),
            StatusCode::FORBIDDEN,
            "InvalidSnapshotTaskToken",
        ),
        (
            PRESNAPSHOT,
            json!({"taskId": "00000000-0000-0000-0000-000000000000_1", "snapshotTaskToken": token}),
            StatusCode::NOT_FOUND,
            "TaskNotFound",
        ),
        (
            "/metadata/recsvc/snapshot/presnapshot?api-version=2016-01-01",
            presnapshot_body(&task),
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
        ),
        (
            PRESNAPSHOT,
            json!({"snapshotTaskToken": token}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
        ),
    ];
    for (path, body, status, code) in cases {
        let answer = host_call(&app, path, &body, None).await;
        assert_eq!(answer.status, status, "{path} {body}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], code, "{path} {body}");
        assert!(
            !answer.body.to_string().contains(&token),
            "the token is never echoed"
        );
    }
    // A credential that is no VM's is refused, as on every guest API route.
    let answer = host_call(&app, PRESNAPSHOT, &presnapshot_body(&task), Some("x.y")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn dosnapshot_snapshots_the_disks_with_the_backup_metadata_and_makes_a_recovery_point() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let (vm, mut task, job_id) = started_task(&app).await;

    let answer = host_call(&app, DOSNAPSHOT, &dosnapshot_body(&task, &[-1, 0, 7]), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let info = answer.body["snapshotInfo"].as_array().unwrap();
    assert_eq!(info.len(), 3, "one entry per diskId, in order: {info:?}");
    for entry in &info[..2] {
        assert_eq!(entry["isSuccessful"], "true", "a string: {entry}");
        assert_eq!(entry["statusCode"], 201);
        let uri = entry["snapshotUri"].as_str().unwrap();
        assert!(
            uri.contains(&format!("/{}/", disk_container(&vm))) && uri.contains("?snapshot="),
            "{uri}"
        );
    }
    assert_ne!(info[0]["snapshotUri"], info[1]["snapshotUri"]);
    assert_eq!(info[2]["isSuccessful"], "false");
    assert_eq!(info[2]["statusCode"], 404);

    // Each snapshot carries the task's backup metadata, as through the guest path.
    let listed = app
        .blobs()
        .send(
            Method::GET,
            &format!("/{}", disk_container(&vm)),
            "restype=container&comp=list&include=snapshots,metadata",
            &[],
            vec![],
        )
        .await;
    let xml = listed.text().await.unwrap();
    let snapshots: Vec<&str> = xml
        .split("<Blob>")
        .skip(1)
        .filter(|blob| blob.contains("<Snapshot>"))
        .collect();
    assert_eq!(snapshots.len(), 2, "{xml}");
    for snapshot in snapshots {
        assert!(
            snapshot.contains(&format!("<TaskId>{}</TaskId>", task.public.task_id)),
            "{snapshot}"
        );
    }

    // The extension reports the host's snapshots; the service makes the recovery point.
    let reported = status_snapshots(&Value::Array(info[..2].to_vec()));
    let status = task.app_consistent_status(&reported);
    task.write_status(&status).await.unwrap();
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    assert_eq!(recovery_points(&app).await.len(), 1);

    // The task is done: the host takes no more snapshots for it.
    let again = host_call(&app, DOSNAPSHOT, &dosnapshot_body(&task, &[-1]), None).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["error"]["code"], "TaskNotInProgress");
}

#[tokio::test]
async fn a_task_past_its_deadline_gets_no_host_time() {
    let app = ManagementApp::spawn(Backend::Sqlite).await;
    let (_vm, task, _) = started_task(&app).await;
    // The task's deadline is 150 minutes after its start.
    app.pin_clock("2026-03-01T12:31:00Z").await;
    let answer = host_call(&app, PRESNAPSHOT, &presnapshot_body(&task), None).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "TaskNotInProgress");
}
