//! A Windows guest end to end: `vaultsim serve`, and `vaultsim-agent run --os windows` as
//! the VM. The service hands it the VMSnapshot extension (1.9); the agent lays the handler
//! out as the Windows guest agent does under the root that stands for `C:\`, quiesces with
//! the simulated VSS writers alone, and the backup completes with a recovery point whose
//! consistency the writers decided.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{registered_vm_id, start_agent, Service};

const HANDLER: &str = "Microsoft.Azure.RecoveryServices.VMSnapshot";

/// The one version directory under `parent`, which must be a 1.9.x build.
fn version_dir(parent: &Path) -> PathBuf {
    let versions: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap_or_else(|e| panic!("{}: {e}", parent.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let name = versions[0].file_name().unwrap().to_string_lossy();
    assert!(name.starts_with("1.9."), "{name}");
    versions[0].clone()
}

fn json_file(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// Runs one scheduled backup of a Windows VM with the `writers` file's simulated writers;
/// answers the recovery point's type and the agent's state directory.
async fn back_up_a_windows_vm(writers: &str) -> (String, tempfile::TempDir) {
    let service = Service::start().await;
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let state = tempfile::tempdir().unwrap();
    let writers_file = state.path().join("writers.json");
    std::fs::write(&writers_file, writers).unwrap();
    let agent = start_agent(
        &service,
        "winvm",
        state.path(),
        &[
            "--os",
            "windows",
            "--writers",
            writers_file.to_str().unwrap(),
        ],
    );
    registered_vm_id(&agent);
    let vm = service.get(&service.vm_path("winvm")).await;
    assert_eq!(
        vm["properties"]["storageProfile"]["osDisk"]["osType"], "Windows",
        "{vm}"
    );
    service.protect("winvm").await;

    let advanced = service.advance("PT3H", 30.0).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    let jobs = service.jobs("Backup").await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0]["properties"];
    assert_eq!(job["status"], "Completed", "{job}\n{}", agent.log());
    let points = service.recovery_points("winvm").await;
    assert_eq!(points.len(), 1, "{}", agent.log());
    let point_type = points[0]["properties"]["recoveryPointType"]
        .as_str()
        .unwrap()
        .to_owned();
    (point_type, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windows_vm_is_laid_out_as_the_windows_agent_does_and_its_writers_make_it_app_consistent()
{
    let (point_type, state) =
        back_up_a_windows_vm(r#"[{"name": "SqlServerWriter", "prepareMs": 20, "freezeMs": 20}]"#)
            .await;
    assert_eq!(point_type, "AppConsistent");

    let c = state.path().join("c");
    let extension_dir = version_dir(&c.join("Packages/Plugins").join(HANDLER));
    let version = extension_dir.file_name().unwrap().to_str().unwrap();
    let settings =
        std::fs::read_to_string(extension_dir.join("RuntimeSettings/0.settings")).unwrap();
    assert!(settings.contains("commandStartTimeUTCTicks"), "{settings}");
    assert!(
        !settings.contains("protectedSettings\""),
        "stripped once read: {settings}"
    );
    let status = json_file(&extension_dir.join("Status/0.status"));
    assert_eq!(status[0]["status"]["name"], HANDLER, "{status}");
    assert_eq!(status[0]["status"]["code"], "0", "{status}");
    assert!(extension_dir.join("Status/HeartBeat.Json").exists());

    let environment = json_file(&extension_dir.join("HandlerEnvironment.json"));
    let folders = &environment[0]["handlerEnvironment"];
    assert_eq!(
        folders["statusFolder"],
        format!(r"C:\Packages\Plugins\{HANDLER}\{version}\Status"),
        "{environment}"
    );
    assert_eq!(
        folders["logFolder"],
        format!(r"C:\WindowsAzure\Logs\Plugins\{HANDLER}\{version}"),
        "{environment}"
    );

    let log_dir = c
        .join("WindowsAzure/Logs/Plugins")
        .join(HANDLER)
        .join(version);
    let log = std::fs::read_to_string(log_dir.join("IaaSBcdrExtension.log")).unwrap();
    assert!(log.contains("VSS writer SqlServerWriter"), "{log}");
    assert!(log.contains("no file-system freeze"), "{log}");
    assert!(!log.contains("sig="), "{log}");

    // The certificate is where the stand-in for the machine's store is, and nothing is laid
    // out as the Linux agent would.
    let store: Vec<_> = std::fs::read_dir(c.join("Cert/LocalMachine/My"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(store.iter().any(|name| name.ends_with(".crt")), "{store:?}");
    assert!(store.iter().any(|name| name.ends_with(".prv")), "{store:?}");
    assert!(!state.path().join("waagent").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_vss_writer_leaves_a_windows_vm_file_system_consistent() {
    let (point_type, _state) = back_up_a_windows_vm(
        r#"[{"name": "SqlServerWriter", "failIn": "freeze"}, {"name": "Registry"}]"#,
    )
    .await;
    assert_eq!(point_type, "FileSystemConsistent");
}
