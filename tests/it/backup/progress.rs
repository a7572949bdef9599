//! A running transfer or restore shows its progress in the job, as Azure does: the copy
//! step's `progressPercentage` and `taskExecutionDetails` ("0.5 GBs / 2 GBs Transferred")
//! and the job's `extendedInfo.progressPercentage` rise while it runs and end at 100. The
//! control plane keeps its blobs in a vaultsim blob node over Blob REST, where a latency
//! fault on Put Page makes each copy take seconds.

use std::time::Duration;

use serde_json::{json, Value};
use vaultsim::config::DEV_ACCOUNT_KEY;

use super::e2e::{
    disk_container, protected_vm, recovery_points, serve_tasks, Behaviour, GROUP, VAULT, VM,
};
use crate::helpers::ACCOUNT;
use crate::management::app::{Backend, ManagementApp};

const MIB: u64 = 1 << 20;
/// Each Put Page to the blob node waits this long: the copies below make four each.
const PUT_PAGE_LATENCY_MS: u64 = 800;

/// A copy step as one poll of its job saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    job_percentage: f64,
    task_percentage: f64,
    details: String,
}

#[tokio::test]
async fn a_slow_transfer_and_restore_show_rising_progress_in_their_jobs() {
    let node = ManagementApp::spawn(Backend::Sqlite).await;
    let connection_string = format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};\
         BlobEndpoint=http://{}/{ACCOUNT}",
        node.blob_addr
    );
    let app = ManagementApp::on_external_account(&connection_string, node.blob_addr).await;
    let vm = protected_vm(&app, "2026-03-01T10:00:00Z").await;
    // Two 1 GiB disks, each written at its start and half way: four Put Pages to copy,
    // with untouched windows between them.
    let container = disk_container(&vm);
    for disk in ["osdisk.vhd", "datadisk-0.vhd"] {
        for offset in [0, 512 * MIB] {
            app.write_disk(&container, disk, offset, vec![0x5A; 4096])
                .await;
        }
    }
    let added = node
        .add_fault(json!({
            "scope": "blob",
            "match": {"operation": "PutPage"},
            "action": {"type": "latency", "milliseconds": PUT_PAGE_LATENCY_MS},
        }))
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let _served = serve_tasks(vm, Behaviour::AppConsistent, Duration::from_secs(60));

    let backup = app.backup_now(GROUP, VAULT, VM).await;
    let (job, seen) = watch(&app, &backup, "Transfer data to vault").await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    assert_rises_to_the_whole_copy(&seen, &job, "Transfer data to vault");

    let point = recovery_points(&app).await[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let restore_job = app.restore_disks_now(GROUP, VAULT, VM, &point).await;
    let (job, seen) = watch(&app, &restore_job, "Transfer data from vault").await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    assert_rises_to_the_whole_copy(&seen, &job, "Transfer data from vault");
}

/// Polls the job until it ends: the job as it ended, and the copy step at every poll.
async fn watch(app: &ManagementApp, job_id: &str, step: &str) -> (Value, Vec<Seen>) {
    let mut seen = Vec::new();
    for _ in 0..600 {
        let job = app.get_job(GROUP, VAULT, job_id).await;
        assert_eq!(job.status, 200, "{:?}", job.body);
        if job.body["properties"]["status"] != "InProgress" {
            return (job.body, seen);
        }
        seen.push(copy_step(&job.body, step));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job_id} did not end; it showed {seen:?}");
}

fn copy_step(job: &Value, step: &str) -> Seen {
    let info = &job["properties"]["extendedInfo"];
    let task = info["tasksList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["taskId"] == step)
        .unwrap_or_else(|| panic!("no {step} step in {job}"));
    Seen {
        job_percentage: info["progressPercentage"].as_f64().unwrap_or(0.0),
        task_percentage: task["progressPercentage"].as_f64().unwrap(),
        details: task["taskExecutionDetails"].as_str().unwrap().to_owned(),
    }
}

/// "X GBs / Y GBs Transferred" as its two numbers.
fn transferred(details: &str) -> (f64, f64) {
    let numbers = details
        .strip_suffix(" GBs Transferred")
        .and_then(|rest| rest.split_once(" GBs / "))
        .unwrap_or_else(|| panic!("not Azure's words: {details:?}"));
    (numbers.0.parse().unwrap(), numbers.1.parse().unwrap())
}

fn assert_rises_to_the_whole_copy(seen: &[Seen], job: &Value, step: &str) {
    let midway: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.task_percentage > 0.0 && s.task_percentage < 100.0)
        .collect();
    assert!(
        !midway.is_empty(),
        "no progress between 0 and 100: {seen:?}"
    );
    for s in &midway {
        assert_eq!(s.job_percentage, s.task_percentage, "{s:?}");
        let (done, total) = transferred(&s.details);
        assert_eq!(total, 2.0, "two 1 GiB disks: {s:?}");
        // The gigabytes done are the percentage's share, rounded down to a tenth.
        let share = s.task_percentage / 100.0 * total;
        assert!(done <= share && share - done < 0.1 + 1e-9, "{s:?}");
    }
    for pair in seen.windows(2) {
        assert!(
            pair[1].task_percentage >= pair[0].task_percentage
                && pair[1].job_percentage >= pair[0].job_percentage,
            "progress went back: {seen:?}"
        );
    }
    let ended = copy_step(job, step);
    assert_eq!(
        ended,
        Seen {
            job_percentage: 100.0,
            task_percentage: 100.0,
            details: "2 GBs / 2 GBs Transferred".to_owned(),
        },
        "{job}"
    );
}
