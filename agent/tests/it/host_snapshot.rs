//! The host snapshot path end to end with real processes: `vaultsim serve
//! --snapshot-method …` mints tasks that ask the extension to use the wire server's
//! presnapshot/dosnapshot; `vaultsim-agent run` takes the backup through them, and the
//! task's age is judged by presnapshot's time, the simulated clock's.

use std::time::Duration;

use serde_json::Value;
use vaultsim_protocol::extension::codes::{
    azure_error_for_extension_code, COMMAND_TOO_LATE, SNAPSHOT_FAILED_NO_NETWORK,
};
use vaultsim_protocol::sas::{Permission, Permissions, ServiceSasBuilder};

use crate::common::{
    base64_decode, disk_container, registered_vm_id, start_agent_with_delay, Process, Service,
    ACCOUNT_KEY,
};

/// A service minting tasks with `takeSnapshotFrom` = `method`, a protected VM whose agent
/// starts each task after `start_delay_ms`, and some data on its OS disk; and the VM's
/// disk container.
async fn protected_vm(
    method: &str,
    start_delay_ms: &str,
) -> (Service, Process, tempfile::TempDir, String) {
    let service = Service::start_with(None, &["--snapshot-method", method]).await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let state = tempfile::tempdir().unwrap();
    let agent = start_agent_with_delay(&service, "vm1", state.path(), start_delay_ms, &[]);
    let vm_id = registered_vm_id(&agent);
    service.protect("vm1").await;
    let container = disk_container(&vm_id);
    service
        .write_disk(&container, "osdisk.vhd", 0, vec![0xA1; 64 << 10])
        .await;
    (service, agent, state, container)
}

/// The only Backup job, once it has ended.
async fn ended_job(service: &Service) -> Value {
    for _ in 0..600 {
        let jobs = service.jobs("Backup").await;
        if let [job] = jobs.as_slice() {
            if job["properties"]["status"] != "InProgress" {
                return job.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the backup job did not end");
}

/// The message of the extension's final status file, `status/0.status`.
fn status_file_message(state: &tempfile::TempDir) -> (String, String) {
    let path = state.path().join(
        "waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9184.0/status/0.status",
    );
    let status: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let message = status[0]["status"]["formattedMessage"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = status[0]["status"]["code"].as_str().unwrap().to_owned();
    (code, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_host_then_guest_takes_the_backup_through_the_host() {
    let (service, agent, state, _) = protected_vm("firstHostThenGuest", "0").await;
    let advanced = service.advance("PT3H", 30.0).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let job = ended_job(&service).await;
    assert_eq!(
        job["properties"]["status"],
        "Completed",
        "{job}\n{}",
        agent.log()
    );
    assert_eq!(service.recovery_points("vm1").await.len(), 1);
    let (code, message) = status_file_message(&state);
    assert_eq!(code, "1", "{message}");
    assert!(
        message.contains(
            "snapshotCreator=backupHostService, hostStatusCodePreSnapshot=200, \
             hostStatusCodeDoSnapshot=200, "
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_older_than_140_minutes_by_presnapshot_time_fails_with_402() {
    // The agent starts the task after the clock has moved on.
    let (service, agent, state, _) = protected_vm("onlyHost", "2000").await;
    // The 02:00 run starts, then the clock stops at 04:25: 145 minutes after the task's
    // start, inside its 150-minute deadline.
    let advanced = service.advance("PT4H25M", 0.0).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let job = ended_job(&service).await;
    assert_eq!(
        job["properties"]["status"],
        "Failed",
        "{job}\n{}",
        agent.log()
    );
    assert_eq!(
        job["properties"]["errorDetails"][0]["errorTitle"],
        azure_error_for_extension_code(COMMAND_TOO_LATE).code,
        "{job}"
    );
    let (code, message) = status_file_message(&state);
    assert_eq!(code, "402", "{message}");
    assert!(
        message.contains("hostStatusCodePreSnapshot=200, "),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_host_with_a_disk_the_host_cannot_snapshot_fails_the_job_with_76() {
    let (service, agent, state, container) = protected_vm("onlyHost", "0").await;
    // The data disk's blob is gone: the host's Snapshot Blob of it answers 404.
    let sas = ServiceSasBuilder::for_container(
        &container,
        Permissions::NONE.with(Permission::Delete),
        "2099-01-01T00:00:00Z".parse().unwrap(),
    )
    .version("2025-11-05")
    .query_string(&service.blob_account, &base64_decode(ACCOUNT_KEY));
    let blob = service.blob_url(&container, "datadisk-0.vhd");
    let deleted = service
        .http
        .delete(format!("{blob}?{sas}"))
        .header("x-ms-version", "2025-11-05")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);

    service.advance("PT3H", 30.0).await;
    let job = ended_job(&service).await;
    assert_eq!(
        job["properties"]["status"],
        "Failed",
        "{job}\n{}",
        agent.log()
    );
    assert_eq!(
        job["properties"]["errorDetails"][0]["errorTitle"],
        azure_error_for_extension_code(SNAPSHOT_FAILED_NO_NETWORK).code,
        "{job}"
    );
    let (code, message) = status_file_message(&state);
    assert_eq!(code, "76", "{message}");
    assert!(
        message.contains(
            "snapshotCreator=backupHostService, hostStatusCodePreSnapshot=200, \
             hostStatusCodeDoSnapshot=200, "
        ),
        "{message}"
    );
}
