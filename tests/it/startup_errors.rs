//! `vaultsim serve` refusing to start, as a user meets it: one line on stderr saying what
//! and why (no "Caused by" chain, no password), exit status 1, and nothing written to the
//! data directory when the configuration or a port is at fault. And the start log's token
//! recipe names the port actually bound.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::ServiceProcess;

/// `vaultsim serve` on free ports except where `extra` says otherwise.
fn serve(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec![
        ("--http-addr", "127.0.0.1:0"),
        ("--https-addr", "off"),
        ("--blob-addr", "127.0.0.1:0"),
        ("--blob-https-addr", "off"),
        ("--guest-addr", "127.0.0.1:0"),
    ];
    for pair in extra.chunks(2) {
        if let Some(slot) = args.iter_mut().find(|(flag, _)| *flag == pair[0]) {
            slot.1 = pair[1];
        } else {
            args.push((pair[0], pair[1]));
        }
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_vaultsim"));
    command.arg("serve").arg("--data-dir").arg(data_dir);
    for (flag, value) in args {
        command.args([flag, value]);
    }
    command
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .expect("vaultsim runs")
}

/// The one line of stderr that is not a log line.
fn error_line(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    assert!(!stderr.contains("Caused by"), "{stderr}");
    errors[0].to_owned()
}

#[test]
fn a_port_in_use_is_refused_before_the_data_directory_is_written() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let error = error_line(&serve(&data, &["--guest-addr", &addr], &[]));
    assert!(
        error.contains(&addr) && error.contains("in use") && error.contains("--guest-addr"),
        "{error}"
    );
    assert!(!data.exists(), "the data directory was created");
}

#[test]
fn an_empty_account_key_is_refused_before_the_data_directory_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let error = error_line(&serve(&data, &[], &[("VAULTSIM_ACCOUNT_KEY", "")]));
    assert!(
        error.contains("account key") && error.contains("empty"),
        "{error}"
    );
    assert!(!data.exists(), "the data directory was created");
}

#[test]
fn an_unreachable_database_says_why_without_its_password() {
    // A port nothing listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://vaultsim:hunter2@127.0.0.1:{port}/meta");
    let dir = tempfile::tempdir().unwrap();
    let error = error_line(&serve(dir.path(), &["--database-url", &url], &[]));
    assert!(
        error.contains("cannot connect to the PostgreSQL database")
            && error.contains(&format!("127.0.0.1:{port}/meta"))
            && error.to_lowercase().contains("refused"),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn the_token_recipe_names_the_bound_port() {
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(dir.path(), "info");
    let management = service.listening("management API");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !service.log().contains("get a token with") {
        assert!(std::time::Instant::now() < deadline, "{}", service.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = service.log();
    assert!(
        log.contains(&format!("curl -s http://{management}/")),
        "{log}"
    );
}
