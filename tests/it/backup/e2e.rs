//! A VM's backups from policy to restore: the simulated clock makes scheduled jobs, the VM
//! stand-in receives each task through the guest API, decrypts it with openssl, snapshots
//! its disks through the SAS URIs and reports as the extension does; the service collects,
//! transfers only what changed, applies retention and restores byte for byte.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use vaultsim_protocol::extension::status::SnapshotInfo;

use super::standin::VmStandIn;
use crate::burst;
use crate::management::app::ManagementApp;
use crate::on_both_backends;

pub const GROUP: &str = "rg";
pub const VAULT: &str = "vault";
pub const VM: &str = "vm1";
pub const POLICY: &str = "daily0200";
pub const GIB: u64 = 1 << 30;

/// A standard policy's request body (see [`burst::daily_policy`]).
pub fn daily_policy(time_zone: &str) -> Value {
    json!({"properties": burst::daily_policy(time_zone)})
}

/// A group and vault with the daily policy ([`POLICY`]), the clock pinned at `start`.
pub async fn vault_with_daily_policy(app: &ManagementApp, start: &str) {
    app.pin_clock(start).await;
    app.protection_setup(GROUP, VAULT, &[]).await;
    let policy = app
        .put_policy(GROUP, VAULT, POLICY, daily_policy("UTC"))
        .await;
    assert_eq!(policy.status, 200, "{:?}", policy.body);
}

/// A group and vault with the daily policy, and a Linux VM (1 GiB OS disk, 1 GiB data
/// disk at LUN 0) registered by its agent, protected by the policy. The clock is pinned at
/// `start`.
pub async fn protected_vm(app: &ManagementApp, start: &str) -> VmStandIn {
    vault_with_daily_policy(app, start).await;
    let vm = register(app, VM).await;
    app.protect(GROUP, VAULT, VM, POLICY).await;
    vm
}

/// Registers a new VM through the guest API, as its agent does.
pub async fn register(app: &ManagementApp, name: &str) -> VmStandIn {
    register_in(app, GROUP, name).await
}

/// [`register`] in `group`.
pub async fn register_in(app: &ManagementApp, group: &str, name: &str) -> VmStandIn {
    VmStandIn::register(
        &format!("http://{}", app.guest_addr),
        app.http.clone(),
        &app.token,
        json!({
            "subscriptionId": app.credentials.subscription_id,
            "resourceGroup": group,
            "name": name,
            "location": "eastus",
            "osType": "Linux",
            "disks": [
                {"lun": -1, "name": format!("{name}-os"), "sizeBytes": GIB},
                {"lun": 0, "name": format!("{name}-data0"), "sizeBytes": GIB},
            ],
        }),
    )
    .await
}

/// The blob container holding a VM's disks.
pub fn disk_container(vm: &VmStandIn) -> String {
    vaultsim::resources::compute::container_name(&vm.vm_id)
}

/// What the stand-in's extension reports for each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    AppConsistent,
    /// Application-consistent, the final status written this long after the snapshots,
    /// as a real extension's thaw and bookkeeping take a while.
    AppConsistentAfter(Duration),
}

/// What the stand-in did with one task.
#[derive(Debug)]
pub struct ServedTask {
    /// The disk snapshots it took and reported.
    pub snapshots: Vec<SnapshotInfo>,
    /// The status blob's SAS URI, as the task carried it.
    pub status_blob_uri: String,
}

/// Runs the snapshot extension for every task the VM receives, as the real one does:
/// transitioning status, disk snapshots, final status, logs, the handler status file.
/// Sends what it did with each task on the channel; stops after `idle` without a task.
pub fn serve_tasks(
    mut vm: VmStandIn,
    behaviour: Behaviour,
    idle: Duration,
) -> mpsc::UnboundedReceiver<ServedTask> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(mut task) = vm.next_task(idle).await {
            let transitioning = task.transitioning_status();
            task.write_status(&transitioning).await.unwrap();
            vm.report_status_file(&task, &transitioning).await;
            let snapshots = task.snapshot_disks().await;
            assert!(snapshots.iter().all(|s| s.is_successful), "{snapshots:?}");
            let status = match behaviour {
                Behaviour::AppConsistent => task.app_consistent_status(&snapshots),
                Behaviour::AppConsistentAfter(delay) => {
                    tokio::time::sleep(delay).await;
                    task.app_consistent_status(&snapshots)
                }
            };
            task.write_logs("2026-03-01T02:00:01Z  Info  snapshot taken\n")
                .await
                .unwrap();
            task.write_status(&status).await.unwrap();
            vm.report_status_file(&task, &status).await;
            let served = ServedTask {
                snapshots,
                status_blob_uri: task.protected.status_blob_uri.clone(),
            };
            if sender.send(served).is_err() {
                return;
            }
        }
    });
    receiver
}

/// A page blob's content as its non-zero 512-byte pages: equal maps mean equal bytes.
pub async fn disk_image(
    app: &ManagementApp,
    container: &str,
    blob: &str,
    snapshot: Option<&str>,
) -> BTreeMap<u64, Vec<u8>> {
    let path = format!("/{container}/{blob}");
    let snapshot_query = snapshot
        .map(|s| format!("&snapshot={s}"))
        .unwrap_or_default();
    let listed = app
        .blobs()
        .send(
            Method::GET,
            &path,
            &format!("comp=pagelist{snapshot_query}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(listed.status(), 200, "page ranges of {path}");
    let xml = listed.text().await.unwrap();
    let mut pages = BTreeMap::new();
    for range in xml.split("<PageRange>").skip(1) {
        let field = |name: &str| -> u64 {
            let start = range.find(&format!("<{name}>")).unwrap() + name.len() + 2;
            let end = range.find(&format!("</{name}>")).unwrap();
            range[start..end].parse().unwrap()
        };
        let (start, end) = (field("Start"), field("End"));
        let read = app
            .blobs()
            .send(
                Method::GET,
                &path,
                snapshot_query.trim_start_matches('&'),
                &[("x-ms-range", &format!("bytes={start}-{end}"))],
                vec![],
            )
            .await;
        assert_eq!(read.status(), 206, "range of {path}");
        let bytes = read.bytes().await.unwrap();
        for (i, page) in bytes.chunks(512).enumerate() {
            if page.iter().any(|b| *b != 0) {
                pages.insert(start / 512 + i as u64, page.to_vec());
            }
        }
    }
    pages
}

/// The snapshot id of a reported snapshot URI.
pub fn snapshot_id(info: &SnapshotInfo) -> String {
    let uri = info.snapshot_uri.as_deref().unwrap();
    uri.split_once("snapshot=").unwrap().1.to_owned()
}

/// The Backup jobs of the vault, newest first.
pub async fn backup_jobs(app: &ManagementApp) -> Vec<Value> {
    let listed = app
        .list_jobs(GROUP, VAULT, Some("operation eq 'Backup'"))
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    listed.body["value"].as_array().unwrap().clone()
}

pub async fn recovery_points(app: &ManagementApp) -> Vec<Value> {
    let listed = app
        .list_recovery_points(
            GROUP,
            VAULT,
            &crate::management::protection::container_name(GROUP, VM),
            &crate::management::protection::item_name(GROUP, VM),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    listed.body["value"].as_array().unwrap().clone()
}

fn task_status<'a>(job: &'a Value, name: &str) -> &'a str {
    job["properties"]["extendedInfo"]["tasksList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["taskId"] == name)
        .and_then(|t| t["status"].as_str())
        .unwrap_or_default()
}

pub fn bytes_transferred(job: &Value) -> u64 {
    job["properties"]["extendedInfo"]["propertyBag"]["Bytes Transferred"]
        .as_str()
        .expect("Bytes Transferred in the property bag")
        .parse()
        .unwrap()
}

/// Waits (real time) for a job to end, answering it.
pub async fn wait_for_job(app: &ManagementApp, job_id: &str) -> Value {
    for _ in 0..500 {
        let job = app.get_job(GROUP, VAULT, job_id).await;
        assert_eq!(job.status, 200, "{:?}", job.body);
        if job.body["properties"]["status"] != "InProgress" {
            return job.body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {job_id} did not end");
}

async fn scheduled_backups_are_incremental_retained_and_restore_byte_for_byte(app: ManagementApp) {
    let vm = protected_vm(&app, "2026-03-01T00:00:00Z").await;
    let container = disk_container(&vm);
    app.write_disk(&container, "osdisk.vhd", 0, vec![0xA1; 1 << 20])
        .await;
    app.write_disk(
        &container,
        "datadisk-0.vhd",
        512 << 10,
        vec![0xB2; 64 << 10],
    )
    .await;
    let mut snapshots = serve_tasks(vm, Behaviour::AppConsistent, Duration::from_secs(60));

    // The first run at 02:00 copies everything written.
    let advanced = app.advance_by("PT3H", 30.0).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let first = snapshots
        .try_recv()
        .expect("the VM received the task")
        .snapshots;
    let jobs = backup_jobs(&app).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0]["properties"];
    assert_eq!(job["status"], "Completed", "{job}");
    assert_eq!(job["isUserTriggered"], false);
    assert_eq!(task_status(&jobs[0], "Take Snapshot"), "Completed");
    assert_eq!(task_status(&jobs[0], "Transfer data to vault"), "Completed");
    assert_eq!(bytes_transferred(&jobs[0]), (1 << 20) + (64 << 10));
    let points = recovery_points(&app).await;
    assert_eq!(points.len(), 1);
    let point = &points[0]["properties"];
    assert_eq!(point["recoveryPointType"], "AppConsistent");
    let tiers: Vec<&str> = point["recoveryPointTierDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["InstantRP", "HardenedRP"]);
    let first_point = points[0]["name"].as_str().unwrap().to_owned();
    let item = app
        .get_protected_item(
            GROUP,
            VAULT,
            &crate::management::protection::container_name(GROUP, VM),
            &crate::management::protection::item_name(GROUP, VM),
        )
        .await;
    assert_eq!(item.body["properties"]["lastBackupStatus"], "Completed");
    assert_eq!(item.body["properties"]["protectionState"], "Protected");
    // The first backup installed the extension; the agent's status made it Succeeded.
    let extensions = app.list_vm_extensions(GROUP, VM).await;
    let snapshot_extension = extensions.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "VMSnapshotLinux")
        .unwrap_or_else(|| panic!("{:?}", extensions.body))
        .clone();
    assert_eq!(
        snapshot_extension["properties"]["publisher"],
        "Microsoft.Azure.RecoveryServices"
    );
    assert_eq!(
        snapshot_extension["properties"]["provisioningState"],
        "Succeeded"
    );

    // A day later only the changed pages move: 4 KiB new, 512 bytes overwritten.
    let original = disk_image(
        &app,
        &container,
        "osdisk.vhd",
        Some(&snapshot_id(&first[0])),
    )
    .await;
    let original_data = disk_image(
        &app,
        &container,
        "datadisk-0.vhd",
        Some(&snapshot_id(&first[1])),
    )
    .await;
    app.write_disk(&container, "osdisk.vhd", 8 << 20, vec![0xC3; 4096])
        .await;
    app.write_disk(&container, "datadisk-0.vhd", 512 << 10, vec![0xD4; 512])
        .await;
    app.advance_by("P1D", 30.0).await;
    snapshots.try_recv().expect("the second task");
    let jobs = backup_jobs(&app).await;
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["properties"]["status"], "Completed");
    assert_eq!(bytes_transferred(&jobs[0]), 4096 + 512);

    // The first point restores to exactly the disks as they were at its snapshot.
    let job_id = app.restore_disks_now(GROUP, VAULT, VM, &first_point).await;
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    assert_eq!(job["properties"]["operation"], "Restore");
    let bag = &job["properties"]["extendedInfo"]["propertyBag"];
    let target = bag["Config Blob Container Name"].as_str().unwrap();
    let restored: Vec<&str> = bag["Restored Disks"].as_str().unwrap().split(',').collect();
    assert_eq!(restored.len(), 2, "{bag}");
    let restored_os = disk_image(&app, target, restored[0], None).await;
    let restored_data = disk_image(&app, target, restored[1], None).await;
    assert_eq!(restored_os.len(), 2048, "1 MiB of pages");
    assert!(
        restored_os == original,
        "the OS disk restores byte for byte"
    );
    assert!(
        restored_data == original_data,
        "the data disk restores byte for byte"
    );
    assert!(restored_data.values().all(|page| page == &vec![0xB2; 512]));

    // Nine days on: points older than 7 days expired, instant snapshots kept 2 days.
    app.advance_by("P9D", 30.0).await;
    let jobs = backup_jobs(&app).await;
    assert_eq!(jobs.len(), 11);
    assert!(jobs
        .iter()
        .all(|j| j["properties"]["status"] == "Completed"));
    let points = recovery_points(&app).await;
    assert_eq!(points.len(), 7, "{points:?}");
    assert!(points.iter().all(|p| p["name"] != first_point.as_str()));
    let with_instant = points
        .iter()
        .filter(|p| {
            p["properties"]["recoveryPointTierDetails"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["type"] == "InstantRP")
        })
        .count();
    assert_eq!(with_instant, 2);
}

/// Transfers that run together may read their items' previous points in one statement
/// (the unit test in `recovery_point_disks.rs` reads several at once for certain): each
/// must still copy only what changed since its own item's point.
async fn transfers_that_run_together_each_copy_from_their_own_previous_point(app: ManagementApp) {
    vault_with_daily_policy(&app, "2026-03-01T00:00:00Z").await;
    let names = ["vm-a", "vm-b", "vm-c"];
    let mut containers = Vec::new();
    let mut served = Vec::new();
    for name in names {
        let vm = register(&app, name).await;
        app.protect(GROUP, VAULT, name, POLICY).await;
        containers.push(disk_container(&vm));
        served.push(serve_tasks(
            vm,
            Behaviour::AppConsistent,
            Duration::from_secs(60),
        ));
    }
    // Each item's first point copies what was written to it: 64, 128 and 192 KiB.
    for (i, container) in containers.iter().enumerate() {
        app.write_disk(container, "osdisk.vhd", 0, vec![0xA1; (i + 1) * (64 << 10)])
            .await;
    }
    let advanced = app.advance_by("PT3H", 30.0).await;
    assert_eq!(advanced["backupsStarted"], 3, "{advanced}");
    let by_vm = |jobs: &[Value]| -> BTreeMap<String, u64> {
        jobs.iter()
            .map(|job| {
                assert_eq!(job["properties"]["status"], "Completed", "{job}");
                let vm = job["properties"]["entityFriendlyName"].as_str().unwrap();
                (vm.to_owned(), bytes_transferred(job))
            })
            .collect()
    };
    let expected_first: BTreeMap<String, u64> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ((*name).to_owned(), (i as u64 + 1) * (64 << 10)))
        .collect();
    assert_eq!(by_vm(&backup_jobs(&app).await), expected_first);

    // A day later each copies only its own change: 4, 8 and 12 KiB.
    for (i, container) in containers.iter().enumerate() {
        app.write_disk(container, "osdisk.vhd", 8 << 20, vec![0xC3; (i + 1) * 4096])
            .await;
    }
    app.advance_by("P1D", 30.0).await;
    for tasks in &mut served {
        tasks.try_recv().expect("the first task");
        tasks.try_recv().expect("the second task");
    }
    let jobs = backup_jobs(&app).await;
    assert_eq!(jobs.len(), 6);
    let expected_second: BTreeMap<String, u64> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ((*name).to_owned(), (i as u64 + 1) * 4096))
        .collect();
    assert_eq!(by_vm(&jobs[..3]), expected_second);
}

on_both_backends!(
    scheduled_backups_are_incremental_retained_and_restore_byte_for_byte,
    transfers_that_run_together_each_copy_from_their_own_previous_point
);

/// Tasks' SAS URIs name the blob endpoint as VMs reach it: the configured URL, else the
/// HTTPS listener, else the plain one.
#[tokio::test]
async fn the_blob_public_url_is_what_tasks_name() {
    use vaultsim::config::ServeConfig;
    let dir = tempfile::tempdir().unwrap();
    let every_interface = Some("0.0.0.0:0".parse().unwrap());
    let config = |public: Option<&str>| ServeConfig {
        blob_addr: "0.0.0.0:0".parse().unwrap(),
        blob_https_addr: every_interface,
        blob_public_url: public.map(str::to_owned),
        ..ServeConfig::ephemeral(dir.path(), None)
    };
    let app =
        vaultsim::startup::Application::build(&config(Some("https://vaultsim/devstoreaccount1/")))
            .await
            .unwrap();
    assert_eq!(
        app.engine().account().endpoint,
        "https://vaultsim/devstoreaccount1"
    );
    drop(app);
    let app = vaultsim::startup::Application::build(&config(None))
        .await
        .unwrap();
    let port = app.blob_https_addr().unwrap().port();
    assert_eq!(
        app.engine().account().endpoint,
        format!("https://127.0.0.1:{port}/devstoreaccount1"),
        "a service bound to every interface names loopback, over HTTPS when it serves it"
    );
    drop(app);
    let app = vaultsim::startup::Application::build(&ServeConfig {
        blob_https_addr: None,
        ..config(None)
    })
    .await
    .unwrap();
    let port = app.blob_addr().port();
    assert_eq!(
        app.engine().account().endpoint,
        format!("http://127.0.0.1:{port}/devstoreaccount1"),
    );
}
