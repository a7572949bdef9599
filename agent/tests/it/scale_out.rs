//! The service beyond one process: a blob node and two control replicas as separate
//! processes on one PostgreSQL, VMs (real agents) registered through each replica. Every
//! backup completes; a replica killed (`SIGKILL`) right after it dispatched a window leaves
//! its work to the other, with nothing lost or done twice; a restore through the survivor
//! equals the source disk byte for byte.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::common::postgres::PostgresDatabase;
use crate::common::{
    disk_container, registered_vm_id, start_agent_with_delay, BlobNode, Process, Service,
};

/// Long enough, as each agent's start delay, to kill a replica after it dispatched a task
/// and before the task's VM reports.
const AGENT_START_DELAY_MS: &str = "8000";

/// The Backup jobs of the vault, once none is in progress and there are `expected`.
async fn settled_backups(service: &Service, expected: usize, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let jobs = service.jobs("Backup").await;
        let running = jobs
            .iter()
            .filter(|j| j["properties"]["status"] == "InProgress")
            .count();
        if jobs.len() >= expected && running == 0 {
            return jobs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {expected} backups, {running} still running, after {within:?}: {jobs:#?}",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Jobs per VM name, each job's status.
fn statuses_by_vm(jobs: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut by_vm: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for job in jobs {
        let properties = &job["properties"];
        by_vm
            .entry(
                properties["entityFriendlyName"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
            .or_default()
            .push(properties["status"].as_str().unwrap().to_owned());
    }
    by_vm
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_a_blob_node_back_up_every_vm_and_survive_one_being_killed() {
    let database = PostgresDatabase::create().await;
    let blob = BlobNode::start(Some(&database.url));
    // Started at once: bootstrap races, and must end with one principal.
    let nodes = [&blob];
    let (a, b) = tokio::join!(
        Service::start_replica(&database.url, &nodes, &[]),
        Service::start_replica(&database.url, &nodes, &[]),
    );
    assert_eq!(
        std::fs::read(a.credentials_file()).unwrap(),
        std::fs::read(b.credentials_file()).unwrap(),
        "both replicas name the same bootstrap principal"
    );

    a.vault_with_daily_policy().await;
    a.pin_clock("2026-03-01T01:00:00Z").await;
    let state = tempfile::tempdir().unwrap();
    let mut agents: Vec<(String, Process)> = Vec::new();
    for (replica, vm) in [(&a, "vm-a1"), (&a, "vm-a2"), (&b, "vm-b1"), (&b, "vm-b2")] {
        let dir = state.path().join(vm);
        let agent = start_agent_with_delay(replica, vm, &dir, AGENT_START_DELAY_MS, &[]);
        agents.push((vm.to_owned(), agent));
    }
    let mut vm_ids = BTreeMap::new();
    for (vm, agent) in &agents {
        vm_ids.insert(vm.clone(), registered_vm_id(agent));
    }
    for vm in vm_ids.keys() {
        b.protect(vm).await;
    }

    // The first window through both replicas: every VM, wherever it registered, backs up.
    a.advance("PT1H30M", 0.0).await;
    let first = settled_backups(&b, 4, Duration::from_secs(90)).await;
    assert!(
        first
            .iter()
            .all(|j| j["properties"]["status"] == "Completed"),
        "{first:#?}"
    );

    // Change a disk, so the next point differs from the first.
    let container = disk_container(&vm_ids["vm-a1"]);
    a.write_disk(&container, "datadisk-0.vhd", 1 << 20, vec![0xa5; 8192])
        .await;

    // The second window: dispatched (by either replica), then replica A dies before any
    // VM reports. B collects every status (A's VMs write theirs to the blob node), runs
    // the transfers, and ends every job.
    a.advance("P1D", 0.0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut a = a;
    a.process.kill();
    let all = settled_backups(&b, 8, Duration::from_secs(120)).await;
    let by_vm = statuses_by_vm(&all);
    assert_eq!(by_vm.len(), 4, "{by_vm:?}");
    for (vm, statuses) in &by_vm {
        assert_eq!(
            statuses,
            &["Completed", "Completed"],
            "{vm}: one job per window, each completed"
        );
    }
    for vm in vm_ids.keys() {
        let points = b.recovery_points(vm).await;
        assert_eq!(points.len(), 2, "{vm}: one recovery point per window");
    }

    // A restore through the survivor equals the disk as it was at the snapshot (unchanged
    // since), byte for byte.
    let points = b.recovery_points("vm-a1").await;
    let latest = points
        .iter()
        .max_by_key(|p| {
            p["properties"]["recoveryPointTime"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (restored_container, restored) = b.restore("vm-a1", &latest).await;
    for (source, restored) in ["osdisk.vhd", "datadisk-0.vhd"].iter().zip(&restored) {
        assert_eq!(
            b.disk_pages(&restored_container, restored, None).await,
            b.disk_pages(&container, source, None).await,
            "{restored} equals {source}"
        );
    }
    drop(agents);
}

#[tokio::test(flavor = "multi_thread")]
async fn disks_spread_over_two_accounts_back_up_and_restore_from_each() {
    let database = PostgresDatabase::create().await;
    let first = BlobNode::start(Some(&database.url));
    let second = BlobNode::serving("second", Some(&database.url));
    let mut service = Service::start_replica(
        &database.url,
        &[&first, &second],
        &["--storage-placement", "round-robin"],
    )
    .await;
    service.vault_with_daily_policy().await;
    service.pin_clock("2026-03-01T01:00:00Z").await;
    let state = tempfile::tempdir().unwrap();
    let mut agents = Vec::new();
    let mut vm_ids = BTreeMap::new();
    for vm in ["vm-1", "vm-2"] {
        let agent = start_agent_with_delay(&service, vm, &state.path().join(vm), "0", &[]);
        vm_ids.insert(vm, registered_vm_id(&agent));
        agents.push(agent);
        service.protect(vm).await;
    }
    // Round-robin: each VM's disks in its own account, and nowhere else.
    let containers: Vec<String> = vm_ids.values().map(|id| disk_container(id)).collect();
    assert!(holds_os_disk(&mut service, &first, &containers[0]).await);
    assert!(!holds_os_disk(&mut service, &second, &containers[0]).await);
    assert!(holds_os_disk(&mut service, &second, &containers[1]).await);
    assert!(!holds_os_disk(&mut service, &first, &containers[1]).await);
    use_node(&mut service, &first);
    service
        .write_disk(&containers[0], "datadisk-0.vhd", 0, vec![0x11; 4096])
        .await;

    service.advance("PT1H30M", 30.0).await;
    let jobs = settled_backups(&service, 2, Duration::from_secs(90)).await;
    assert!(
        jobs.iter()
            .all(|j| j["properties"]["status"] == "Completed"),
        "{jobs:#?}"
    );

    // vm-2's disks are in the second account: restore its point there and compare.
    let points = service.recovery_points("vm-2").await;
    let point = points[0]["name"].as_str().unwrap().to_owned();
    let (restored_container, restored) = service.restore_to("vm-2", &point, "second").await;
    use_node(&mut service, &second);
    for (source, restored) in ["osdisk.vhd", "datadisk-0.vhd"].iter().zip(&restored) {
        assert_eq!(
            service
                .disk_pages(&restored_container, restored, None)
                .await,
            service.disk_pages(&containers[1], source, None).await,
            "{restored} equals {source}"
        );
    }
    drop(agents);
}

/// Points the service's blob helpers at `node`.
fn use_node(service: &mut Service, node: &BlobNode) {
    service.blob = node.addr;
    service.blob_account = node.account.clone();
}

/// Whether `node`'s account holds the OS disk blob of the VM container `container`.
async fn holds_os_disk(service: &mut Service, node: &BlobNode, container: &str) -> bool {
    use_node(service, node);
    let url = format!(
        "{}?{}",
        service.blob_url(container, "osdisk.vhd"),
        service.container_sas(container)
    );
    let response = service
        .http
        .head(url)
        .header("x-ms-version", "2025-11-05")
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        200 => true,
        404 => false,
        other => panic!("HEAD of {container}/osdisk.vhd answered {other}"),
    }
}
