//! Extension handler packages hosted as the Linux guest agent hosts them. Over the wire:
//! `vaultsim serve` dispatches backups, and `vaultsim-agent run --extension-package` hosts
//! the recorder package (`agent/tests/packages/recorder`, which logs each call it gets) in
//! place of the built-in snapshot extension. Through the library: the disable, update and
//! uninstall sequences, which the service's goal states never ask for.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use vaultsim_agent::guest::GuestReport;
use vaultsim_agent::package::{CommandTimeouts, ExtensionPackage, HostedHandler, PackageHosting};
use vaultsim_protocol::guest::{
    ExtensionRuntimeSettings, ExtensionSettingsFile, GoalStateExtension,
};

use crate::common::{agent_command, registered_vm_id, Process, Service};

const HANDLER: &str = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux";

fn recorder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/packages/recorder")
}

/// The recorder's `calls.log` lines once `line` is among them.
fn wait_for_call(root: &Path, line: &str, agent: &Process) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let calls = calls(root);
        if calls.iter().any(|call| call.starts_with(line)) {
            return calls;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no '{line}' call: {calls:?}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn calls(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn count(calls: &[String], prefix: &str) -> usize {
    calls.iter().filter(|call| call.starts_with(prefix)).count()
}

/// `vaultsim-agent run` for `vm1` hosting `package`, `extra` arguments after.
fn start_agent(
    service: &Service,
    state: &Path,
    package: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Process {
    let mut command = agent_command(service, "run", state, "0");
    command
        .args(["--vm", &service.vm_path("vm1"), "--data-disk-gib", "1"])
        .args(["--extension-package", package])
        .args(extra)
        .envs(env.iter().copied());
    Process::spawn_command(command)
}

/// A protected `vm1` whose agent hosts `package`; the first backup is dispatched.
async fn first_backup(
    service: &Service,
    state: &Path,
    package: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Process {
    service.pin_clock("2026-03-01T00:00:00Z").await;
    service.vault_with_daily_policy().await;
    let agent = start_agent(service, state, package, extra, env);
    registered_vm_id(&agent);
    service.protect("vm1").await;
    let advanced = service.advance("PT3H", 0.5).await;
    assert_eq!(advanced["backupsStarted"], 1, "{advanced}");
    agent
}

/// The snapshot extension's provisioning state once it is `wanted`, as ARM shows it.
async fn wait_for_provisioning_state(service: &Service, wanted: &str, agent: &Process) {
    let path = format!("{}/extensions", service.vm_path("vm1"));
    for _ in 0..600 {
        let listed = service.get(&path).await;
        if listed["value"][0]["properties"]["provisioningState"] == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the extension never became {wanted}: {}\n{}",
        service.get(&path).await,
        agent.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_directory_is_installed_once_and_enabled_per_sequence_number() {
    let service = Service::start().await;
    let state = tempfile::tempdir().unwrap();
    let root = state.path().join("waagent");
    let package = format!("{},name={HANDLER},version=9.1.0", recorder().display());
    let mut agent = first_backup(&service, state.path(), &package, &[], &[]).await;

    let calls = wait_for_call(&root, "enable seq=0", &agent);
    let dir = root.join(format!("{HANDLER}-9.1.0"));
    assert_eq!(
        calls,
        [
            format!(
                "install seq=0 cwd={0} path={0} version=9.1.0 wire=168.63.129.16 \
                 uninstall_code=NOT_RUN disable_code= from= VERSION=",
                dir.display()
            ),
            format!(
                "enable seq=0 cwd={0} path={0} version=9.1.0 wire=168.63.129.16 \
                 uninstall_code=NOT_RUN disable_code= from= VERSION=",
                dir.display()
            ),
        ]
    );
    // The package replaced the built-in extension, whose directory is never made.
    assert!(!root.join(format!("{HANDLER}-1.0.9184.0")).exists());
    let mode = std::fs::metadata(dir.join("handle.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o100, 0o100, "the user execute bit is set");

    let environment: Value =
        serde_json::from_slice(&std::fs::read(dir.join("HandlerEnvironment.json")).unwrap())
            .unwrap();
    let folders = &environment[0]["handlerEnvironment"];
    assert_eq!(environment[0]["name"], HANDLER);
    assert_eq!(
        folders["configFolder"],
        dir.join("config").to_str().unwrap()
    );
    assert_eq!(
        folders["statusFolder"],
        dir.join("status").to_str().unwrap()
    );
    assert_eq!(
        folders["heartbeatFile"],
        dir.join("heartbeat.log").to_str().unwrap()
    );
    assert_eq!(
        folders["logFolder"],
        root.join("log").join(HANDLER).to_str().unwrap()
    );

    // The settings are the goal state's: the protected part still encrypted to the VM's
    // certificate, which lies next to its key where the thumbprint says.
    let settings: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config/0.settings")).unwrap()).unwrap();
    let handler = &settings["runtimeSettings"][0]["handlerSettings"];
    let thumbprint = handler["protectedSettingsCertThumbprint"].as_str().unwrap();
    assert!(root.join(format!("{thumbprint}.crt")).exists());
    assert!(root.join(format!("{thumbprint}.prv")).exists());
    let protected = handler["protectedSettings"].as_str().unwrap();
    assert!(protected.len() > 100 && !protected.contains("blobSASUri"));
    assert!(handler["publicSettings"]["taskId"].is_string());

    // Its status reached the service.
    wait_for_provisioning_state(&service, "Succeeded", &agent).await;

    // A restarted agent neither installs nor enables again; the next task is enabled.
    agent.kill();
    let agent = start_agent(&service, state.path(), &package, &[], &[]);
    registered_vm_id(&agent);
    service.advance("P1D", 0.5).await;
    let calls = wait_for_call(&root, "enable seq=1", &agent);
    assert_eq!(count(&calls, "install"), 1, "{calls:?}");
    assert_eq!(count(&calls, "enable seq=0"), 1, "{calls:?}");
    assert_eq!(count(&calls, "enable seq=1"), 1, "{calls:?}");
    assert_eq!(calls.len(), 3, "{calls:?}");
}

/// The recorder as a zip that names itself in `manifest.xml`.
fn recorder_zip(dir: &Path, version: &str) -> PathBuf {
    let path = dir.join("recorder.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for name in ["HandlerManifest.json", "handle.sh"] {
        zip.start_file(name, options).unwrap();
        zip.write_all(&std::fs::read(recorder().join(name)).unwrap())
            .unwrap();
    }
    zip.start_file("manifest.xml", options).unwrap();
    write!(
        zip,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <ExtensionImage xmlns=\"http://schemas.microsoft.com/windowsazure\">\
         <ProviderNameSpace>Microsoft.Azure.RecoveryServices</ProviderNameSpace>\
         <Type>VMSnapshotLinux</Type><Version>{version}</Version></ExtensionImage>"
    )
    .unwrap();
    zip.finish().unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_package_is_hosted_and_its_failing_enable_is_reported_as_the_guest_agent_reports_it()
{
    let service = Service::start().await;
    let state = tempfile::tempdir().unwrap();
    let zip = recorder_zip(state.path(), "9.2.0");
    let agent = first_backup(
        &service,
        state.path(),
        zip.to_str().unwrap(),
        &[],
        &[("RECORDER_ENABLE", "fail")],
    )
    .await;
    let root = state.path().join("waagent");
    wait_for_call(&root, "enable seq=0", &agent);
    assert!(root.join(format!("{HANDLER}-9.2.0/handle.sh")).exists());
    wait_for_provisioning_state(&service, "Failed", &agent).await;
    let log = agent.log();
    assert!(log.contains("code=1009"), "{log}");
    assert!(log.contains("Non-zero exit code: 3"), "{log}");
    assert!(log.contains("enable refused"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_past_its_time_limit_is_killed_with_its_process_group_and_reported() {
    let service = Service::start().await;
    let state = tempfile::tempdir().unwrap();
    let package = format!("{},name={HANDLER},version=9.3.0", recorder().display());
    let agent = first_backup(
        &service,
        state.path(),
        &package,
        &["--handler-command-timeout-secs", "1"],
        &[("RECORDER_ENABLE", "hang")],
    )
    .await;
    wait_for_provisioning_state(&service, "Failed", &agent).await;
    let log = agent.log();
    assert!(log.contains("code=1011"), "{log}");
    assert!(log.contains("Timeout(1)"), "{log}");
    let child = std::fs::read_to_string(state.path().join("waagent/child.pid")).unwrap();
    assert!(
        !survives(child.trim()),
        "the enable's background sleep {child} survived"
    );
}

/// Whether a process is still running 5 s on: SIGKILL is delivered asynchronously, and a
/// zombie waiting for its reaper counts as gone.
fn survives(pid: &str) -> bool {
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while running() {
        if std::time::Instant::now() > deadline {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

fn wanted(state: &str, sequence_number: i64) -> GoalStateExtension {
    GoalStateExtension {
        name: "Recorder".to_owned(),
        publisher: "Contoso".to_owned(),
        extension_type: "Recorder".to_owned(),
        version: "1.0".to_owned(),
        state: state.to_owned(),
        sequence_number,
        settings: ExtensionSettingsFile {
            runtime_settings: vec![ExtensionRuntimeSettings {
                handler_settings: json!({"publicSettings": {"n": sequence_number}}),
            }],
        },
    }
}

async fn wait_for_lines(root: &Path, lines: usize) -> Vec<String> {
    for _ in 0..400 {
        let calls = calls(root);
        if calls.len() >= lines {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {lines} calls: {:?}", calls(root));
}

/// Each call's operation, sequence number and the exit-code and version variables.
fn summary(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|call| {
            call.split(' ')
                .filter(|part| {
                    !part.starts_with("cwd=")
                        && !part.starts_with("path=")
                        && !part.starts_with("wire=")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[tokio::test]
async fn disable_update_and_uninstall_follow_the_guest_agents_sequences() {
    let root = tempfile::tempdir().unwrap();
    let (statuses, mut reported) = mpsc::unbounded_channel();
    let hosting = PackageHosting {
        timeouts: CommandTimeouts::all(Duration::from_secs(10)),
        status_poll: Duration::from_millis(20),
        ..PackageHosting::default()
    };
    let open = |version: &str| {
        ExtensionPackage::from_argument(&format!(
            "{},name=Contoso.Recorder,version={version}",
            recorder().display()
        ))
        .unwrap()
    };
    let v1 = HostedHandler::start(
        open("1.0"),
        root.path().to_owned(),
        hosting.clone(),
        statuses.clone(),
    );
    v1.want(Some(&wanted("enabled", 0)));
    wait_for_lines(root.path(), 2).await;
    let Some(GuestReport::Status(status)) =
        tokio::time::timeout(Duration::from_secs(10), reported.recv())
            .await
            .unwrap()
    else {
        panic!("the first report is the status file");
    };
    assert_eq!(status.extension_name, "Recorder");
    assert_eq!(
        status.file[0]["status"]["formattedMessage"]["message"],
        "enabled 0"
    );
    // The same wish again does nothing.
    v1.want(Some(&wanted("enabled", 0)));
    v1.want(Some(&wanted("disabled", 0)));
    wait_for_lines(root.path(), 3).await;
    v1.want(Some(&wanted("enabled", 1)));
    wait_for_lines(root.path(), 4).await;
    drop(v1);

    // Version 2 replaces the enabled version 1.
    let v2 = HostedHandler::start(
        open("2.0"),
        root.path().to_owned(),
        hosting.clone(),
        statuses.clone(),
    );
    v2.want(Some(&wanted("enabled", 2)));
    let calls = wait_for_lines(root.path(), 9).await;
    assert!(!open("1.0").extension_dir(root.path()).exists());
    assert!(open("2.0")
        .extension_dir(root.path())
        .join("handle.sh")
        .exists());
    v2.want(None);
    let calls_after = wait_for_lines(root.path(), 11).await;
    assert_eq!(
        summary(&calls_after),
        [
            "install seq=0 version=1.0 uninstall_code=NOT_RUN disable_code= from= VERSION=",
            "enable seq=0 version=1.0 uninstall_code=NOT_RUN disable_code= from= VERSION=",
            "disable seq=0 version=1.0 uninstall_code= disable_code= from= VERSION=",
            "enable seq=1 version=1.0 uninstall_code=NOT_RUN disable_code= from= VERSION=",
            "disable seq=2 version=1.0 uninstall_code= disable_code= from= VERSION=",
            "update seq=2 version=2.0 uninstall_code= disable_code=0 from=1.0 VERSION=2.0",
            "uninstall seq=2 version=1.0 uninstall_code= disable_code= from= VERSION=",
            "install seq=2 version=2.0 uninstall_code=0 disable_code= from= VERSION=",
            "enable seq=2 version=2.0 uninstall_code=0 disable_code= from= VERSION=",
            "disable seq=0 version=2.0 uninstall_code= disable_code= from= VERSION=",
            "uninstall seq=0 version=2.0 uninstall_code= disable_code= from= VERSION=",
        ],
        "{calls:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!open("2.0").extension_dir(root.path()).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vmsnapshot_package_replaces_the_built_in_extension_and_its_backup_is_collected() {
    let service = Service::start().await;
    let state = tempfile::tempdir().unwrap();
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/extensions/minimal-vmsnapshot");
    let agent = first_backup(&service, state.path(), sample.to_str().unwrap(), &[], &[]).await;
    for _ in 0..600 {
        let jobs = service.jobs("Backup").await;
        if jobs[0]["properties"]["status"] != "InProgress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let jobs = service.jobs("Backup").await;
    let dir = state.path().join(format!("waagent/{HANDLER}-0.1.0"));
    assert_eq!(
        jobs[0]["properties"]["status"],
        "Completed",
        "{}\n{}\n{}",
        jobs[0],
        std::fs::read_to_string(dir.join("snapshot.log")).unwrap_or_default(),
        agent.log()
    );
    let points = service.recovery_points("vm1").await;
    assert_eq!(points.len(), 1);
    // No freeze: what the package reported, not what the built-in extension would have.
    assert_eq!(
        points[0]["properties"]["recoveryPointType"],
        "CrashConsistent"
    );
    assert!(!state
        .path()
        .join(format!("waagent/{HANDLER}-1.0.9184.0"))
        .exists());
    wait_for_provisioning_state(&service, "Succeeded", &agent).await;
    let log = agent.log();
    assert!(!log.contains("sig="), "{log}");
}

/// An extension a user puts over ARM reaches the VM's agent, which hosts it from its
/// package; ARM's instance view shows what it reported; deleting it over ARM has the agent
/// disable and uninstall it, remove its directory and say so, and the extension goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_put_over_arm_is_hosted_and_its_deletion_completes_when_the_agent_uninstalls_it(
) {
    let service = Service::start().await;
    let state = tempfile::tempdir().unwrap();
    let root = state.path().join("waagent");
    service
        .put(
            &format!("{}/resourceGroups/rg", service.subscription_path()),
            json!({"location": "eastus"}),
        )
        .await;
    let package = format!("{},name=Contoso.Recorder,version=1.0", recorder().display());
    let agent = start_agent(&service, state.path(), &package, &[], &[]);
    registered_vm_id(&agent);
    let extension = format!("{}/extensions/Recorder", service.vm_path("vm1"));
    service
        .put(
            &extension,
            json!({"location": "eastus", "properties": {
                "publisher": "Contoso", "type": "Recorder", "typeHandlerVersion": "1.0",
                "settings": {"mode": "record"}, "protectedSettings": {"secret": "s3cr3t"}}}),
        )
        .await;
    wait_for_call(&root, "enable seq=0", &agent);
    let mut shown = Value::Null;
    for _ in 0..200 {
        shown = service
            .get(&format!("{extension}?$expand=instanceView"))
            .await;
        if shown["properties"]["provisioningState"] == "Succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let view = &shown["properties"]["instanceView"];
    assert_eq!(
        view["statuses"][0]["code"], "ProvisioningState/succeeded",
        "{shown}"
    );
    assert_eq!(view["statuses"][0]["message"], "enabled 0", "{shown}");

    let (status, _) = service.arm(reqwest::Method::DELETE, &extension, None).await;
    assert_eq!(status, 202);
    let mut gone = false;
    for _ in 0..400 {
        if service.arm(reqwest::Method::GET, &extension, None).await.0 == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the deletion never completed:\n{}", agent.log());
    let calls = calls(&root);
    assert_eq!(count(&calls, "disable seq=0"), 1, "{calls:?}");
    assert_eq!(count(&calls, "uninstall seq=0"), 1, "{calls:?}");
    assert!(!root.join("Contoso.Recorder-1.0").exists());
    assert!(!agent.log().contains("s3cr3t"));
}

/// A handler whose manifest sets `reportHeartbeat`: what it writes to its heartbeat file is
/// its status in the VM's instance view (`vmAgent.extensionHandlers`), as WALinuxAgent
/// reports it; a malformed heartbeat file is reported as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_heartbeat_is_its_status_in_the_vms_instance_view() {
    let service = Service::start().await;
    let state = tempfile::tempdir().unwrap();
    let root = state.path().join("waagent");
    let package = state.path().join("beating");
    std::fs::create_dir(&package).unwrap();
    std::fs::copy(recorder().join("handle.sh"), package.join("handle.sh")).unwrap();
    let manifest = std::fs::read_to_string(recorder().join("HandlerManifest.json")).unwrap();
    let manifest = manifest.replace("\"reportHeartbeat\": false", "\"reportHeartbeat\": true");
    assert!(manifest.contains("\"reportHeartbeat\": true"));
    std::fs::write(package.join("HandlerManifest.json"), manifest).unwrap();
    service
        .put(
            &format!("{}/resourceGroups/rg", service.subscription_path()),
            json!({"location": "eastus"}),
        )
        .await;
    let argument = format!("{},name=Contoso.Beating,version=1.0", package.display());
    let agent = start_agent(&service, state.path(), &argument, &[], &[]);
    registered_vm_id(&agent);
    service
        .put(
            &format!("{}/extensions/Beating", service.vm_path("vm1")),
            json!({"location": "eastus", "properties": {
                "publisher": "Contoso", "type": "Beating", "typeHandlerVersion": "1.0"}}),
        )
        .await;
    wait_for_call(&root, "enable seq=0", &agent);
    let heartbeat_file = root.join("Contoso.Beating-1.0/heartbeat.log");
    let handler_status = |wanted: &'static str| {
        let service = &service;
        let agent = &agent;
        async move {
            let path = format!("{}/instanceView", service.vm_path("vm1"));
            let mut view = Value::Null;
            for _ in 0..200 {
                view = service.get(&path).await;
                let handlers = view["vmAgent"]["extensionHandlers"].as_array();
                if let Some(handler) = handlers
                    .into_iter()
                    .flatten()
                    .find(|h| h["type"] == "Contoso.Beating")
                {
                    if handler["status"]["displayStatus"] == wanted {
                        return handler["status"].clone();
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("never {wanted}: {view}\n{}", agent.log());
        }
    };
    std::fs::write(
        &heartbeat_file,
        r#"[{"version": 1.0, "heartbeat": {"status": "ready", "code": 0,
            "formattedMessage": {"lang": "en-US", "message": "watching 3 services"}}}]"#,
    )
    .unwrap();
    let ready = handler_status("ready").await;
    assert_eq!(ready["message"], "watching 3 services", "{ready}");
    assert_eq!(ready["level"], "Info", "{ready}");
    std::fs::write(&heartbeat_file, "not json").unwrap();
    let malformed = handler_status("error").await;
    assert_eq!(
        malformed["message"], "Malformed heartbeat file",
        "{malformed}"
    );
    assert_eq!(malformed["level"], "Warning", "{malformed}");
}
