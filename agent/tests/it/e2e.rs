//! End to end with real processes: `vaultsim serve`, and `vaultsim-agent run` as the VM.
//! A daily policy's scheduled backup runs when the clock is advanced; the agent receives
//! the task through the guest API, decrypts it, snapshots both disks through their SAS and
//! reports; the service collects, makes a recovery point, and restores it byte for byte.

use std::time::Duration;

use crate::common::{
    agent_command, disk_container, registered_vm_id, start_agent, Process, Service,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_backup_by_the_agent_restores_byte_for_byte() {
    let service = Service::start().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let state = tempfile::tempdir().unwrap();
    let agent = start_agent(&service, "vm1", state.path(), &[]);
    let vm_id = registered_vm_id(&agent);
    service.protect("vm1").await;
    let container = disk_container(&vm_id);
    service
        .write_disk(&container, "osdisk.vhd", 0, vec![0xA1; 1 << 20])
        .await;
    service
        .write_disk(
            &container,
            "datadisk-0.vhd",
            512 << 10,
            vec![0xB2; 64 << 10],
        )
        .await;

    let advanced = service.advance("PT3H", 30.0).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let jobs = service.jobs("Backup").await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0]["properties"];
    assert_eq!(job["status"], "Completed", "{job}\n{}", agent.log());
    assert_eq!(
        job["extendedInfo"]["propertyBag"]["Bytes Transferred"],
        ((1 << 20) + (64 << 10)).to_string()
    );
    let points = service.recovery_points("vm1").await;
    assert_eq!(points.len(), 1);
    // No scripts and no writers: file-system consistent, as the real extension reports.
    assert_eq!(
        points[0]["properties"]["recoveryPointType"],
        "FileSystemConsistent"
    );

    // The handler files are the guest agent's.
    let extension_dir = state
        .path()
        .join("waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9184.0");
    let listed: Vec<_> = std::fs::read_dir(extension_dir.join("status"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let status: serde_json::Value = serde_json::from_slice(
        &std::fs::read(extension_dir.join("status/0.status"))
            .unwrap_or_else(|e| panic!("{e}: {listed:?}")),
    )
    .unwrap();
    assert_eq!(status[0]["status"]["code"], "1", "{status}");
    let settings = std::fs::read_to_string(extension_dir.join("config/0.settings")).unwrap();
    assert!(
        !settings.contains("protectedSettings\""),
        "stripped once read: {settings}"
    );
    assert!(settings.contains("commandStartTimeUTCTicks"));

    // Writes after the backup do not reach the restored disks.
    service
        .write_disk(&container, "osdisk.vhd", 0, vec![0xEE; 4096])
        .await;
    let point = points[0]["name"].as_str().unwrap().to_owned();
    let (target, restored) = service.restore("vm1", &point).await;
    assert_eq!(restored.len(), 2);
    let os = service.disk_pages(&target, &restored[0], None).await;
    let data = service.disk_pages(&target, &restored[1], None).await;
    assert_eq!(os.len(), 2048, "1 MiB of pages");
    assert!(os.values().all(|page| page == &vec![0xA1; 512]));
    assert_eq!(data.len(), 128);
    assert!(data.values().all(|page| page == &vec![0xB2; 512]));

    // The agent's log holds no SAS signature and no decrypted settings.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = agent.log();
    assert!(!log.contains("sig="), "{log}");
    assert!(!log.contains("blobSASUri"), "{log}");
    let extension_log = std::fs::read_to_string(
        state
            .path()
            .join("waagent/log/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"),
    )
    .unwrap();
    assert!(extension_log.contains("snapshot of"), "{extension_log}");
    assert!(!extension_log.contains("sig="), "{extension_log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_creates_the_vms_resource_group_when_asked() {
    let service = Service::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut command = agent_command(&service, "run", state.path(), "0");
    command.args(["--vm", "vm-new", "--resource-group", "rg-new"]);
    command.arg("--ensure-resource-group");
    let agent = Process::spawn_command(command);
    registered_vm_id(&agent);
    let group = format!("{}/resourceGroups/rg-new", service.subscription_path());
    assert_eq!(service.get(&group).await["location"], "eastus");
    let vm = service
        .get(&format!(
            "{group}/providers/Microsoft.Compute/virtualMachines/vm-new"
        ))
        .await;
    assert_eq!(vm["name"], "vm-new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_the_agent_could_not_take_at_first_runs_once_it_can() {
    let service = Service::start().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let state = tempfile::tempdir().unwrap();
    // A file where the extension's settings directory belongs: writing the task's settings
    // fails, as it did for ~300 VMs of a 5,000-VM fleet out of file descriptors.
    let extension_dir = state
        .path()
        .join("waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9184.0");
    std::fs::create_dir_all(&extension_dir).unwrap();
    std::fs::write(extension_dir.join("config"), b"in the way").unwrap();
    let agent = start_agent(&service, "vm1", state.path(), &[]);
    registered_vm_id(&agent);
    service.protect("vm1").await;

    let advanced = service.advance("PT3H", 0.0).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    agent.wait_for_log("cannot be", Duration::from_secs(30));
    std::fs::remove_file(extension_dir.join("config")).unwrap();

    // The agent tries the same goal state again within seconds, as WALinuxAgent's
    // extension loop does: the task runs and the job completes, without another goal
    // state, long before the goal-state poll's 25 s wait would have brought it back.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let jobs = service.jobs("Backup").await;
        let status = jobs[0]["properties"]["status"].clone();
        if status == "Completed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the backup job is {status}:\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
