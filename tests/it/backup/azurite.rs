//! The whole backup flow with the control plane keeping every blob in Azurite: the service
//! runs the api, guest and engine components only, with Azurite's connection string; the
//! VM's disks, the status and log blobs and the vault copies are all Azurite's. Azurite
//! announces no writes (statuses are collected by polling), ignores `prevsnapshot` (the
//! second transfer compares pages) and keeps real time while the simulated clock is pinned
//! a month ahead (SAS windows and snapshot stamps are in Azurite's time).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Method;
use serde_json::Value;
use vaultsim::storage::Timestamp;

use super::e2e::{
    backup_jobs, bytes_transferred, disk_container, disk_image, protected_vm, recovery_points,
    serve_tasks, snapshot_id, wait_for_job, Behaviour, ServedTask, GROUP, VAULT, VM,
};
use crate::management::app::ManagementApp;
use crate::remote_storage::azurite::Azurite;

const OS_DISK: &str = "osdisk.vhd";
const DATA_DISK: &str = "datadisk-0.vhd";
const MIB: u64 = 1 << 20;

#[tokio::test]
async fn backups_transfer_and_restore_with_every_blob_in_azurite() {
    let azurite = Azurite::start();
    let app =
        ManagementApp::on_external_account(&azurite.connection_string(), azurite.addr()).await;
    // Midnight a month ahead of real time, which Azurite keeps.
    let start = (Utc::now() + TimeDelta::days(30))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let vm = protected_vm(&app, &start.to_rfc3339()).await;
    let container = disk_container(&vm);
    app.write_disk(&container, OS_DISK, 0, vec![0xA1; MIB as usize])
        .await;
    app.write_disk(&container, DATA_DISK, 512 << 10, vec![0xB2; 64 << 10])
        .await;
    // The VM writes its final status seconds after its snapshots, while Azurite's time
    // moves on and the simulated clock stays pinned: the snapshots are still newer than
    // their task.
    let mut served = serve_tasks(
        vm,
        Behaviour::AppConsistentAfter(Duration::from_secs(3)),
        Duration::from_secs(60),
    );

    // The 02:00 run: snapshots through SAS URIs naming Azurite, the status collected by
    // polling, everything written copied.
    let dispatched = Utc::now();
    let advanced = app.advance_by("PT3H", 30.0).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let first = served.try_recv().expect("the VM received the first task");
    assert_sas_window_in_account_time(&first, dispatched);
    let jobs = backup_jobs(&app).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["properties"]["status"], "Completed", "{}", jobs[0]);
    assert_eq!(bytes_transferred(&jobs[0]), MIB + (64 << 10));
    let first_point = newest_point(&app, start + TimeDelta::hours(2)).await;
    assert_eq!(
        transfer_modes(&app, &first_point).await,
        ["full", "full"],
        "the vault had no copy yet"
    );
    let first_images = disk_images(&app, &container, &first).await;

    // A day on: new pages, pages rewritten with the bytes they held, a page overwritten,
    // pages cleared. Azurite answers no diff, so the transfer compares: only the 4 KiB new
    // and the 512 bytes overwritten differ from the vault's copy.
    app.write_disk(&container, OS_DISK, 8 * MIB, vec![0xC3; 4096])
        .await;
    app.write_disk(&container, OS_DISK, 0, vec![0xA1; 64 << 10])
        .await;
    app.write_disk(&container, DATA_DISK, 512 << 10, vec![0xD4; 512])
        .await;
    clear_disk(&app, &container, DATA_DISK, (512 << 10) + (32 << 10), 4096).await;
    app.advance_by("P1D", 30.0).await;
    let second = served.try_recv().expect("the VM received the second task");
    let jobs = backup_jobs(&app).await;
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["properties"]["status"], "Completed", "{}", jobs[0]);
    assert_eq!(bytes_transferred(&jobs[0]), 4096 + 512);
    let second_point = newest_point(&app, start + TimeDelta::hours(26)).await;
    assert_ne!(second_point, first_point);
    assert_eq!(
        transfer_modes(&app, &second_point).await,
        ["compare", "compare"],
        "Azurite ignores prevsnapshot"
    );
    let second_images = disk_images(&app, &container, &second).await;
    assert_ne!(second_images, first_images);
    assert!(
        !second_images[1].contains_key(&((512 << 10) / 512 + 64)),
        "the cleared pages are zero"
    );

    // Each point restores, into Azurite, to exactly the disks at its snapshots.
    for (point, images) in [
        (&first_point, &first_images),
        (&second_point, &second_images),
    ] {
        let restored = restore(&app, point).await;
        assert!(
            &restored == images,
            "the point {point} restores byte for byte"
        );
    }

    let jobs = app.list_jobs(GROUP, VAULT, None).await;
    assert_eq!(jobs.status, 200, "{:?}", jobs.body);
    let jobs = jobs.body["value"].as_array().unwrap();
    let mut operations: Vec<&str> = jobs
        .iter()
        .map(|job| job["properties"]["operation"].as_str().unwrap())
        .collect();
    operations.sort_unstable();
    assert_eq!(
        operations,
        ["Backup", "Backup", "ConfigureBackup", "Restore", "Restore"]
    );
    for job in jobs {
        assert_eq!(job["properties"]["status"], "Completed", "{job}");
        let steps = job["properties"]["extendedInfo"]["tasksList"].as_array();
        assert!(
            steps
                .into_iter()
                .flatten()
                .all(|step| step["status"] != "InProgress"),
            "{job}"
        );
    }
}

/// The status blob's SAS window is Azurite's time, a month behind the simulated clock:
/// from five minutes before the dispatch to the task's deadline (150 minutes on).
fn assert_sas_window_in_account_time(task: &ServedTask, dispatched: DateTime<Utc>) {
    let field = |name: &str| -> DateTime<Utc> {
        let (_, query) = task.status_blob_uri.split_once('?').unwrap();
        let value = query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in the status blob's SAS"));
        let value = value.replace("%3A", ":").replace("%3a", ":");
        value.parse().unwrap_or_else(|_| panic!("{name}={value}"))
    };
    let (start, expiry) = (field("st"), field("se"));
    // Azurite's `Date` has whole seconds; the dispatch came after `dispatched`.
    let slack = TimeDelta::seconds(30);
    let earliest_start = dispatched - TimeDelta::minutes(5) - TimeDelta::seconds(2);
    assert!(
        earliest_start <= start && start <= earliest_start + slack,
        "st={start}, dispatched at {dispatched}"
    );
    assert_eq!(expiry - start, TimeDelta::minutes(155), "se={expiry}");
}

/// The newest recovery point's name, after checking that it is stamped just after `at`
/// in simulated time (its snapshots were stamped in Azurite's).
async fn newest_point(app: &ManagementApp, at: DateTime<Utc>) -> String {
    let points = recovery_points(app).await;
    let newest = &points[0];
    let time: DateTime<Utc> = newest["properties"]["recoveryPointTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        at <= time && time <= at + TimeDelta::seconds(5),
        "recovery point at {time}, the run at {at}"
    );
    newest["name"].as_str().unwrap().to_owned()
}

/// How each disk's transfer ran, as its vault snapshot in Azurite records it.
async fn transfer_modes(app: &ManagementApp, point: &str) -> Vec<String> {
    let db = app.db().await;
    let disks: String =
        sqlx::query_scalar("select disks from recovery_point where recovery_point_id = $1")
            .bind(point)
            .fetch_one(db.pool())
            .await
            .unwrap();
    let disks: Vec<Value> = serde_json::from_str(&disks).unwrap();
    let mut modes = Vec::new();
    for disk in disks {
        let snapshot = Timestamp(disk["vaultSnapshot"].as_i64().unwrap()).to_snapshot_id();
        let path = format!(
            "/{}/{}",
            disk["vaultContainer"].as_str().unwrap(),
            disk["vaultBlob"].as_str().unwrap()
        );
        let head = app
            .blobs()
            .send(
                Method::HEAD,
                &path,
                &format!("snapshot={snapshot}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(head.status(), 200, "the vault snapshot {path}@{snapshot}");
        modes.push(
            head.headers()["x-ms-meta-vaultsim_transfer_mode"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    modes
}

/// The OS and data disks' snapshots a task reported, read from Azurite.
async fn disk_images(
    app: &ManagementApp,
    container: &str,
    task: &ServedTask,
) -> Vec<BTreeMap<u64, Vec<u8>>> {
    let mut images = Vec::new();
    for (blob, snapshot) in [OS_DISK, DATA_DISK].into_iter().zip(&task.snapshots) {
        images.push(disk_image(app, container, blob, Some(&snapshot_id(snapshot))).await);
    }
    images
}

/// Clears `len` bytes at `offset` of a page blob (Shared Key).
async fn clear_disk(app: &ManagementApp, container: &str, blob: &str, offset: u64, len: u64) {
    let range = format!("bytes={offset}-{}", offset + len - 1);
    let cleared = app
        .blobs()
        .send(
            Method::PUT,
            &format!("/{container}/{blob}"),
            "comp=page",
            &[("x-ms-page-write", "clear"), ("x-ms-range", &range)],
            vec![],
        )
        .await;
    assert_eq!(cleared.status(), 201, "{:?}", cleared.text().await);
}

/// Restores every disk of `point` and reads the restored disks (OS, data) from Azurite.
async fn restore(app: &ManagementApp, point: &str) -> Vec<BTreeMap<u64, Vec<u8>>> {
    let job_id = app.restore_disks_now(GROUP, VAULT, VM, point).await;
    let job = wait_for_job(app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Completed", "{job}");
    let bag = &job["properties"]["extendedInfo"]["propertyBag"];
    let target = bag["Config Blob Container Name"].as_str().unwrap();
    let mut images = Vec::new();
    for blob in bag["Restored Disks"].as_str().unwrap().split(',') {
        images.push(disk_image(app, target, blob, None).await);
    }
    assert_eq!(images.len(), 2, "{bag}");
    images
}
