//! `vaultsim demo`, the real binary as a new user runs it (ports picked by the system, a
//! data directory of its own, a fast clock): it prints where to look, its VMs are protected
//! and backed up on schedule as the management API shows with the printed credentials, and
//! Ctrl-C ends it cleanly.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use vaultsim_agent::management::{read_credentials, ArmClient};

/// The demo, its stdout collected line by line.
struct Demo {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let sink = Arc::new(Mutex::new(String::new()));
    let writer = sink.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut text = writer.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    sink
}

impl Demo {
    fn start(data_dir: &std::path::Path, args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vaultsim"))
            .arg("demo")
            .args(["--http-addr", "127.0.0.1:0"])
            .args(["--https-addr", "127.0.0.1:0"])
            .args(["--blob-addr", "127.0.0.1:0"])
            .args(["--blob-https-addr", "127.0.0.1:0"])
            .args(["--guest-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the vaultsim binary starts");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Demo {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr.lock().unwrap()
        )
    }

    /// What follows `label` on the first stdout line that has it, once there is one.
    fn printed(&self, label: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(value) = self
                .stdout()
                .lines()
                .find_map(|line| line.trim_start().strip_prefix(label))
            {
                return value.trim().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no '{label}' line within {within:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (`INT` as Ctrl-C does, `TERM` as a service manager does).
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    fn exit_within(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not exit within {within:?} of Ctrl-C\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid …`: comm may hold spaces, so read after its last ')'.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok());
        if parent == Some(pid) {
            children.push(child);
        }
    }
    children
}

async fn until<T>(
    what: &str,
    within: Duration,
    demo: &Demo,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}\n{}",
            demo.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn values(answer: &Value) -> Vec<Value> {
    answer["value"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_backs_up_its_vms_on_schedule_shows_where_to_look_and_stops_on_ctrl_c() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("demo-data");
    let mut demo = Demo::start(&data_dir, &["--vms", "2", "--speed", "3600"]);

    let dashboard = demo.printed("dashboard", Duration::from_secs(60));
    let management_url = dashboard
        .strip_suffix('/')
        .filter(|url| url.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("dashboard URL '{dashboard}'\n{}", demo.output()))
        .to_owned();
    let credentials = PathBuf::from(demo.printed("credentials", Duration::from_secs(5)));
    assert_eq!(
        credentials,
        std::path::absolute(data_dir.join("credentials.json")).unwrap()
    );
    let https_port = demo
        .printed("management", Duration::from_secs(5))
        .split_whitespace()
        .next()
        .and_then(|url| url.strip_prefix("https://127.0.0.1:"))
        .and_then(|rest| rest.trim_end_matches('/').parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no HTTPS management URL\n{}", demo.output()));
    let stdout = demo.stdout();
    for expected in [
        format!("--endpoint-resource-manager https://127.0.0.1:{https_port}/"),
        "REQUESTS_CA_BUNDLE=".to_owned(),
        "az login --service-principal".to_owned(),
        "az backup job list -g vaultsim-demo -v demo-vault".to_owned(),
    ] {
        assert!(stdout.contains(&expected), "no '{expected}'\n{stdout}");
    }
    let secret = read_credentials(&credentials).unwrap().client_secret;
    assert!(!demo.output().contains(&secret), "the secret was printed");

    let arm = ArmClient::sign_in(
        &management_url,
        read_credentials(&credentials).unwrap(),
        reqwest::Client::new(),
    )
    .await
    .unwrap();
    let subscription = read_credentials(&credentials).unwrap().subscription_id;
    let vault = format!(
        "/subscriptions/{subscription}/resourceGroups/vaultsim-demo/providers/Microsoft.RecoveryServices/vaults/demo-vault"
    );
    let items = until(
        "both VMs protected",
        Duration::from_secs(30),
        &demo,
        async || {
            let listed = arm
                .call(Method::GET, &format!("{vault}/backupProtectedItems"), None)
                .await
                .ok()?;
            let items = values(&listed.body);
            (items.len() == 2).then_some(items)
        },
    )
    .await;
    for item in &items {
        assert!(
            item["properties"]["policyId"]
                .as_str()
                .is_some_and(|policy| policy.ends_with("/backupPolicies/demo-every-4-hours")),
            "{item}"
        );
    }

    let completed = until(
        "a scheduled backup completed",
        Duration::from_secs(60),
        &demo,
        async || {
            let listed = arm
                .call(Method::GET, &format!("{vault}/backupJobs"), None)
                .await
                .ok()?;
            values(&listed.body).into_iter().find(|job| {
                job["properties"]["operation"] == "Backup"
                    && job["properties"]["status"] == "Completed"
                    && job["properties"]["isUserTriggered"] == false
            })
        },
    )
    .await;
    let vm = completed["properties"]["entityFriendlyName"]
        .as_str()
        .unwrap()
        .to_owned();
    let item = items
        .iter()
        .find(|item| item["properties"]["friendlyName"] == vm.as_str())
        .unwrap_or_else(|| panic!("no item for {vm}: {items:?}"));
    let points = arm
        .expect(
            Method::GET,
            &format!("{}/recoveryPoints", item["id"].as_str().unwrap()),
            None,
        )
        .await
        .unwrap();
    assert!(!values(&points.body).is_empty(), "{}", points.body);
    // The finished job was printed as it happened.
    until(
        "the job's line",
        Duration::from_secs(10),
        &demo,
        async || {
            demo.stdout()
                .lines()
                .any(|line| {
                    line.contains(&vm) && line.contains("Backup") && line.contains("Completed")
                })
                .then_some(())
        },
    )
    .await;

    let children = children_of(demo.child.id());
    demo.signal("INT");
    let status = demo.exit_within(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", demo.output());
    assert!(
        demo.stdout()
            .lines()
            .last()
            .is_some_and(|line| line.contains("stopped")),
        "{}",
        demo.output()
    );
    let left: Vec<u32> = children
        .into_iter()
        .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    assert!(left.is_empty(), "left running: {left:?}");
    // The data directory was let go: a second demo starts on it (and wipes it), and stops
    // as cleanly on SIGTERM.
    let mut again = Demo::start(&data_dir, &["--vms", "1"]);
    again.printed("dashboard", Duration::from_secs(60));
    again.signal("TERM");
    assert_eq!(
        again.exit_within(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        again.output()
    );
}

#[test]
fn the_demo_refuses_to_wipe_a_data_directory_that_is_not_a_demos() {
    let data = tempfile::tempdir().unwrap();
    let precious = data.path().join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    let mut demo = Demo::start(data.path(), &[]);
    let status = demo.exit_within(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{}", demo.output());
    assert!(
        demo.output().contains("not a demo's data directory"),
        "{}",
        demo.output()
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
}
