//! A local-disk VM backed up for real (root, a loop-mounted ext4 image): `vaultsim-agent
//! run --disk-image` mirrors the image to the VM's data disk, runs a pre-script, freezes
//! the mount through the safefreeze helper while a writer keeps writing, sends the last
//! delta, snapshots, thaws. The recovery point restores to a clean filesystem (`e2fsck -fn`,
//! no `needs_recovery`) holding every file the pre-script reported as flushed. Without the
//! freeze the same backup restores to a filesystem that needs journal recovery.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::root::{
    busy_writer, can_run_root_tests, debugfs_cat, e2fsck, ext4_features, LoopExt4,
};
use crate::common::{start_agent, Service};
use sha2::{Digest, Sha256};

/// The scripts' configuration: a pre-script that writes and flushes files into the mount
/// and lists them (name and SHA-256) in a manifest outside it; a post-script that notes it ran.
fn script_config(dir: &Path, mount: &Path, manifest: &Path, freeze: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let pre = dir.join("pre.sh");
    std::fs::write(
        &pre,
        format!(
            "set -e\nmkdir -p {mount}/flushed\nfor i in 1 2 3 4 5 6 7 8; do\n  \
             head -c 262144 /dev/urandom > {mount}/flushed/file$i\n  \
             echo \"file$i $(sha256sum {mount}/flushed/file$i | cut -d' ' -f1)\" >> {manifest}\n\
             done\nsync -f {mount}/flushed\n",
            mount = mount.display(),
            manifest = manifest.display()
        ),
    )
    .unwrap();
    let post = dir.join("post.sh");
    std::fs::write(&post, format!("touch {}/post-ran\n", dir.display())).unwrap();
    for script in [&pre, &post] {
        std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let config = dir.join("VMSnapshotScriptPluginConfig.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "pluginName": "ScriptRunner",
            "preScriptLocation": pre,
            "postScriptLocation": post,
            "preScriptParams": [], "postScriptParams": [],
            "preScriptNoOfRetries": 0, "postScriptNoOfRetries": 0,
            "timeoutInSeconds": 30,
            "continueBackupOnFailure": true,
            "fsFreezeEnabled": freeze
        })
        .to_string(),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
}

struct Restored {
    image: tempfile::NamedTempFile,
    job: serde_json::Value,
    point_type: String,
    agent_log: String,
}

/// One scheduled backup of a local-disk VM, restored into an image file.
async fn back_up_and_restore(freeze: bool) -> Option<(Restored, LoopExt4, Vec<(String, String)>)> {
    if !can_run_root_tests() {
        return None;
    }
    let service = Service::start().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let disk = LoopExt4::new(256);
    std::fs::write(
        disk.mount.join("before-backup"),
        b"written before the backup",
    )
    .unwrap();
    let config = disk.dir.path().join("etc-azure");
    let manifest = disk.dir.path().join("manifest");
    script_config(&config, &disk.mount, &manifest, freeze);

    let state = tempfile::tempdir().unwrap();
    let agent = start_agent(
        &service,
        "vm1",
        state.path(),
        &[
            "--disk-image",
            disk.image.to_str().unwrap(),
            "--azure-config-dir",
            config.to_str().unwrap(),
            "--safefreeze-start-delay-ms",
            "0",
            "--blob-endpoint",
            &format!("http://{}/devstoreaccount1", service.blob),
        ],
    );
    crate::common::registered_vm_id(&agent);
    service.protect("vm1").await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = busy_writer(&disk.mount, Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(300));

    let advanced = service.advance("PT3H", 120.0).await;
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 10, "the writer wrote during the backup");
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let job = service.jobs("Backup").await.remove(0);
    assert_eq!(
        job["properties"]["status"],
        "Completed",
        "{job}\n{}",
        agent.log()
    );
    assert!(config.join("post-ran").exists(), "the post-script ran");
    let point = service.recovery_points("vm1").await.remove(0);
    let image = service
        .restore_data_disk_image("vm1", point["name"].as_str().unwrap(), disk.size_bytes())
        .await;
    let listed: Vec<(String, String)> = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, digest) = line.split_once(' ').unwrap();
            (name.to_owned(), digest.to_owned())
        })
        .collect();
    assert_eq!(listed.len(), 8, "the pre-script ran once");
    let restored = Restored {
        image,
        point_type: point["properties"]["recoveryPointType"]
            .as_str()
            .unwrap()
            .to_owned(),
        job,
        agent_log: format!(
            "{}\n{}",
            agent.log(),
            std::fs::read_to_string(state.path().join(
                "waagent/log/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"
            ))
            .unwrap_or_default()
        ),
    };
    Some((restored, disk, listed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_local_disk_restores_clean_with_every_flushed_file_whole() {
    let Some((restored, _disk, flushed)) = back_up_and_restore(true).await else {
        return;
    };
    assert_eq!(restored.point_type, "AppConsistent", "{}", restored.job);
    let image = restored.image.path();
    let features = ext4_features(image);
    assert!(
        !features.contains("needs_recovery"),
        "{features}\n{}",
        restored.agent_log
    );
    let (clean, said) = e2fsck(image);
    assert!(clean, "{said}");
    for (name, digest) in &flushed {
        let bytes = debugfs_cat(image, &format!("/flushed/{name}"));
        assert_eq!(bytes.len(), 262_144, "{name} is whole");
        assert_eq!(&hex(&Sha256::digest(&bytes)), digest, "{name}");
    }
    assert_eq!(
        debugfs_cat(image, "/before-backup"),
        b"written before the backup"
    );
    // The freeze was short: the agent logs it per task.
    let frozen_ms: u64 = restored
        .agent_log
        .split("frozen_ms=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no frozen time logged:\n{}", restored.agent_log));
    assert!(frozen_ms < 5_000, "{frozen_ms} ms frozen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_freeze_the_restored_filesystem_needs_journal_recovery() {
    let Some((restored, _disk, _flushed)) = back_up_and_restore(false).await else {
        return;
    };
    // The real extension still says application consistent (the scripts succeeded and
    // fsFreezeEnabled is false): the bytes say otherwise.
    assert_eq!(restored.point_type, "AppConsistent", "{}", restored.job);
    let features = ext4_features(restored.image.path());
    assert!(
        features.contains("needs_recovery"),
        "crash-consistent bytes: {features}"
    );
    assert!(
        !restored.agent_log.contains("frozen_ms="),
        "nothing was frozen"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
