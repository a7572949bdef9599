//! What a local-disk VM's backup claims must hold. Which filesystem a backup freezes is
//! decided at each backup, not when the agent starts: the mount of the disk image's own loop
//! device at that moment. An image mounted after the agent started is frozen and restores
//! clean; an image that is not mounted, or whose mount point now holds another filesystem,
//! freezes nothing and its point says crash consistent. And why a backup failed reaches the
//! agent's own log, not only the status blob.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::root::{busy_writer, can_run_root_tests, e2fsck, ext4_features, LoopExt4};
use crate::common::{start_agent, Process, Service};
use serde_json::Value;

/// The service with a vault and a daily policy, its clock pinned before the first run.
async fn service() -> Service {
    let service = Service::start().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    service
}

/// `vaultsim-agent run` for vm1 with `image` as its first data disk, mirrored to the blob
/// endpoint at `blob_endpoint`; waits until it has registered.
fn start_vm(service: &Service, image: &Path, state: &Path, blob_endpoint: &str) -> Process {
    let agent = start_agent(
        service,
        "vm1",
        state,
        &[
            "--disk-image",
            image.to_str().unwrap(),
            "--safefreeze-start-delay-ms",
            "0",
            "--blob-endpoint",
            blob_endpoint,
        ],
    );
    crate::common::registered_vm_id(&agent);
    agent
}

fn blob_endpoint(service: &Service) -> String {
    format!("http://{}/devstoreaccount1", service.blob)
}

/// What one scheduled backup left.
struct Backup {
    job: Value,
    /// The recovery point's name and type; `None` without a point.
    point: Option<(String, String)>,
    agent_log: String,
    extension_log: String,
}

/// Protects vm1 and runs its first scheduled backup.
async fn back_up(service: &Service, agent: &Process, state: &Path) -> Backup {
    service.protect("vm1").await;
    let advanced = service.advance("PT3H", 120.0).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let job = service.jobs("Backup").await.remove(0);
    let point = service.recovery_points("vm1").await.first().map(|point| {
        (
            point["name"].as_str().unwrap().to_owned(),
            point["properties"]["recoveryPointType"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    });
    let extension_log = std::fs::read_to_string(
        state.join("waagent/log/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"),
    )
    .unwrap_or_default();
    Backup {
        job,
        point,
        agent_log: agent.log(),
        extension_log,
    }
}

impl Backup {
    fn point_type(&self) -> &str {
        let (_, point_type) = self.point.as_ref().unwrap_or_else(|| {
            panic!(
                "no recovery point: {}\n{}\n{}",
                self.job, self.agent_log, self.extension_log
            )
        });
        point_type
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_mounted_after_the_agent_started_is_frozen_and_restores_clean() {
    if !can_run_root_tests() {
        return;
    }
    let service = service().await;
    let disk = LoopExt4::new(256);
    disk.unmount();
    let state = tempfile::tempdir().unwrap();
    let agent = start_vm(
        &service,
        &disk.image,
        state.path(),
        &blob_endpoint(&service),
    );
    disk.mount();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = busy_writer(&disk.mount, Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(300));

    let backup = back_up(&service, &agent, state.path()).await;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(
        backup.point_type(),
        "FileSystemConsistent",
        "{}",
        backup.extension_log
    );
    let frozen = backup
        .agent_log
        .lines()
        .find(|line| line.contains("filesystems frozen"))
        .unwrap_or_else(|| panic!("nothing was frozen:\n{}", backup.agent_log));
    assert!(
        frozen.contains(disk.mount.to_str().unwrap()),
        "{frozen}: not the image's mount"
    );
    let (point, _) = backup.point.as_ref().unwrap();
    let image = service
        .restore_data_disk_image("vm1", point, disk.size_bytes())
        .await;
    let features = ext4_features(image.path());
    assert!(!features.contains("needs_recovery"), "{features}");
    let (clean, said) = e2fsck(image.path());
    assert!(clean, "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_is_not_mounted_at_backup_gives_a_crash_consistent_point() {
    if !can_run_root_tests() {
        return;
    }
    let service = service().await;
    let disk = LoopExt4::new(64);
    disk.unmount();
    let state = tempfile::tempdir().unwrap();
    let agent = start_vm(
        &service,
        &disk.image,
        state.path(),
        &blob_endpoint(&service),
    );

    let backup = back_up(&service, &agent, state.path()).await;
    assert_eq!(
        backup.point_type(),
        "CrashConsistent",
        "{}",
        backup.extension_log
    );
    assert!(
        backup.extension_log.contains("nothing of the disk image"),
        "the extension log says what was not frozen:\n{}",
        backup.extension_log
    );
}

/// The image's mount point is a directory of another loop-mounted filesystem: once the
/// image is unmounted, that directory belongs to the outer filesystem, which a backup of
/// the image must not freeze.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmounted_image_does_not_freeze_the_filesystem_under_its_mount_point() {
    if !can_run_root_tests() {
        return;
    }
    let service = service().await;
    let outer = LoopExt4::new(64);
    let inner_mount = outer.mount.join("inner");
    std::fs::create_dir(&inner_mount).unwrap();
    // Declared after the outer so that it is unmounted first.
    let inner = LoopExt4::mounted_at(64, &inner_mount);
    let state = tempfile::tempdir().unwrap();
    let agent = start_vm(
        &service,
        &inner.image,
        state.path(),
        &blob_endpoint(&service),
    );
    inner.unmount();

    let backup = back_up(&service, &agent, state.path()).await;
    assert!(
        !backup.agent_log.contains("filesystems frozen"),
        "the outer filesystem was frozen:\n{}",
        backup.agent_log
    );
    assert_eq!(
        backup.point_type(),
        "CrashConsistent",
        "{}",
        backup.extension_log
    );
    assert!(
        backup.extension_log.contains("nothing of the disk image"),
        "{}",
        backup.extension_log
    );
}

/// Needs no root: the image is a plain file, and the mirror fails before anything is frozen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_the_mirror_failed_reaches_the_agents_own_log() {
    let service = service().await;
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    // Nothing listens on the discard port.
    let unreachable = "http://127.0.0.1:9/devstoreaccount1";
    let state = tempfile::tempdir().unwrap();
    let agent = start_vm(&service, &image, state.path(), unreachable);

    let backup = back_up(&service, &agent, state.path()).await;
    assert_eq!(
        backup.job["properties"]["status"], "Failed",
        "{}",
        backup.job
    );
    let cause = "could not be synced before the freeze";
    assert!(
        backup.extension_log.contains(cause),
        "{}",
        backup.extension_log
    );
    let logged = agent.wait_for_log(cause, Duration::from_secs(5));
    assert!(logged.contains("127.0.0.1:9"), "{logged}");
}
