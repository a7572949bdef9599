//! The agent binary describes itself and refuses bad command lines with clap's usage error.

use std::process::Command;

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vaultsim-agent"))
        .args(args)
        .output()
        .expect("the agent binary runs")
}

#[test]
fn help_describes_the_agent_and_its_commands() {
    let output = agent(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("VM snapshot extension"), "{help}");
    assert!(help.contains("run"), "{help}");
    assert!(help.contains("fleet"), "{help}");
}

#[test]
fn a_command_is_required_and_bad_values_are_refused() {
    let output = agent(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
    let output = agent(&["run", "--vm", "vm1", "--start-delay-ms", "9-1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("MIN is above MAX"));
}

#[test]
fn a_vm_by_name_without_credentials_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let output = agent(&[
        "run",
        "--vm",
        "vm1",
        "--credentials",
        dir.path().join("none.json").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("none.json"), "{stderr}");
}

#[test]
fn a_sandbox_that_cannot_be_made_stops_the_agent_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing_ca = dir.path().join("no-ca.pem");
    let output = agent(&[
        "run",
        "--vm",
        "vm1",
        "--token",
        "t",
        "--subscription",
        "s",
        "--state-dir",
        dir.path().to_str().unwrap(),
        "--sandbox",
        "netns",
        "--service-ca",
        missing_ca.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // As root the CA is what is missing; otherwise the privilege comes first.
    let reason = if rustix::process::geteuid().is_root() {
        "no-ca.pem"
    } else {
        "CAP_SYS_ADMIN"
    };
    assert!(stderr.contains(reason), "{stderr}");
    let output = agent(&["run", "--vm", "vm1", "--sandbox", "chroot"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("netns"));
}

#[test]
fn a_bad_extension_package_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("HandlerManifest.json"),
        "[{\"handlerManifest\": 1}]",
    )
    .unwrap();
    let package = dir.path().to_str().unwrap();
    let output = agent(&["run", "--vm", "vm1", "--extension-package", package]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(package), "{stderr}");
    assert!(stderr.contains("handlerManifest"), "{stderr}");

    let output = agent(&[
        "run",
        "--vm",
        "vm1",
        "--extension-package",
        "/no/such/package,version=1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/no/such/package: No such file"),
        "{stderr}"
    );
}

#[test]
fn two_versions_of_one_handler_are_refused() {
    let package = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/packages/recorder");
    let output = agent(&[
        "run",
        "--vm",
        "vm1",
        "--extension-package",
        &format!("{package},name=Contoso.Recorder,version=1"),
        "--extension-package",
        &format!("{package},name=contoso.recorder,version=2"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("two --extension-package arguments name"),
        "{stderr}"
    );
}

#[test]
fn the_os_is_linux_or_windows_and_each_takes_its_own_root() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--vm",
            "vm1",
            "--token",
            "t",
            "--subscription",
            "s",
            "--state-dir",
            state,
        ];
        args.extend_from_slice(extra);
        agent(&args)
    };

    let output = run(&["--os", "plan9"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("linux") && stderr.contains("windows"),
        "{stderr}"
    );

    // `--os-type` is the older spelling, in any case.
    let output = run(&["--os-type", "Windows", "--handler-root", state]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--windows-root"), "{stderr}");

    let output = run(&["--os", "linux", "--windows-root", state]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--handler-root"), "{stderr}");

    let output = run(&["--os", "windows", "--sandbox", "netns"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Linux extension packages"), "{stderr}");
}
