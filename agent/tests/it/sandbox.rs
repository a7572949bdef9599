//! The sandbox hosted extensions run in, driven by real clients inside it (curl, Python)
//! against the real service started in-process on port 0: Azure's wire server address
//! reaches the guest API, port 443 of the blob host reaches the blob endpoint over TLS and
//! verifies with the service's CA, `/etc` and `/var` are overlaid, the handler and log
//! roots stand where the extension looks, and `CAP_SYS_ADMIN` is gone unless freezing is
//! allowed. They need root; without it they fail with the reason, unless
//! `VAULTSIM_SKIP_ROOT_TESTS=1` asks to skip them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tempfile::TempDir;
use vaultsim::config::{ServeConfig, DEV_ACCOUNT_KEY};
use vaultsim::startup::Application;
use vaultsim_agent::sandbox::{Sandbox, SandboxConfig};
use vaultsim_protocol::sas::{Permission, Permissions, ServiceSasBuilder};
use vaultsim_protocol::shared_key::{authorization_header, SignedRequest};

use crate::common::root::can_run_sandbox_tests;

const ACCOUNT: &str = "devstoreaccount1";
const VERSION: &str = "2025-11-05";
/// `CAP_SYS_ADMIN`'s bit in `/proc/<pid>/status`'s capability masks.
const CAP_SYS_ADMIN: u32 = 21;

/// The service in-process on port 0, and the directories a sandbox stands for a VM's.
struct World {
    guest: SocketAddr,
    blob: SocketAddr,
    blob_tls: SocketAddr,
    ca: PathBuf,
    vm: TempDir,
    http: reqwest::Client,
    _data: TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl World {
    async fn start() -> World {
        let data = tempfile::tempdir().unwrap();
        let app = Application::build(&ServeConfig::ephemeral(data.path(), None))
            .await
            .unwrap();
        let (guest, blob) = (app.guest_addr(), app.blob_addr());
        let blob_tls = app
            .blob_https_addr()
            .expect("the blob endpoint serves HTTPS");
        let ca = app
            .tls_ca_file()
            .expect("the service made its CA")
            .to_owned();
        let server = tokio::spawn(async move {
            app.run_until_stopped(std::future::pending()).await.unwrap();
        });
        World {
            guest,
            blob,
            blob_tls,
            ca,
            vm: tempfile::tempdir().unwrap(),
            http: reqwest::Client::new(),
            _data: data,
            _server: server,
        }
    }

    fn config(&self, allow_freeze: bool) -> SandboxConfig {
        SandboxConfig {
            guest_api: self.guest,
            blob_tls: self.blob_tls,
            blob_host: "127.0.0.1".parse().unwrap(),
            service_ca: self.ca.clone(),
            handler_root: self.handler_root(),
            log_root: self.vm.path().join("log-azure"),
            azure_config_dir: self.vm.path().join("etc-azure"),
            allow_freeze,
        }
    }

    fn handler_root(&self) -> PathBuf {
        self.vm.path().join("waagent")
    }

    fn sandbox(&self, allow_freeze: bool) -> Arc<Sandbox> {
        Arc::new(Sandbox::new(self.config(allow_freeze)).expect("a sandbox as root"))
    }

    /// Creates a container with Shared Key over plain HTTP, from the host.
    async fn create_container(&self, container: &str) {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let headers = [
            ("x-ms-date", date.as_str()),
            ("x-ms-version", VERSION),
            ("content-length", "0"),
        ];
        let path = format!("/{ACCOUNT}/{container}");
        let key = base64::engine::general_purpose::STANDARD
            .decode(DEV_ACCOUNT_KEY)
            .unwrap();
        let authorization = authorization_header(
            ACCOUNT,
            &key,
            &SignedRequest {
                method: "PUT",
                headers: &headers,
                path: &path,
                query: "restype=container",
            },
        );
        let mut request = self
            .http
            .put(format!("http://{}{path}?restype=container", self.blob))
            .header("authorization", authorization);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        assert_eq!(request.send().await.unwrap().status(), 201);
    }
}

fn container_sas(container: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(DEV_ACCOUNT_KEY)
        .unwrap();
    let permissions: Permissions = [Permission::Read, Permission::Write, Permission::Create]
        .into_iter()
        .collect();
    ServiceSasBuilder::for_container(
        container,
        permissions,
        "2099-01-01T00:00:00Z".parse().unwrap(),
    )
    .version(VERSION)
    .query_string(ACCOUNT, &key)
}

/// Runs `sh -c script` inside the sandbox, in `cwd` when given, off the runtime (the
/// forwarders need it while the command runs).
async fn inside(sandbox: &Arc<Sandbox>, script: &str, cwd: Option<&Path>) -> Output {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    sandbox.wrap(&mut command).unwrap();
    tokio::task::spawn_blocking(move || command.output().expect("sh runs"))
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wire_server_address_reaches_the_guest_api_on_both_its_ports() {
    if !can_run_sandbox_tests() {
        return;
    }
    let world = World::start().await;
    let sandbox = world.sandbox(false);
    let direct = world
        .http
        .get(format!("http://{}/machine/goalstate", world.guest))
        .send()
        .await
        .unwrap();
    let expected = format!(
        "{} {}",
        direct.status().as_u16(),
        direct.text().await.unwrap()
    );
    for url in [
        "http://168.63.129.16/machine/goalstate",
        "http://168.63.129.16:32526/machine/goalstate",
    ] {
        let output = inside(
            &sandbox,
            &format!("curl -sS -w '%{{http_code}} ' -o body {url} && cat body"),
            Some(world.vm.path()),
        )
        .await;
        assert_eq!(stdout(&output), expected, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn port_443_of_the_blob_host_is_the_blob_endpoint_over_tls_trusted_inside() {
    if !can_run_sandbox_tests() {
        return;
    }
    let world = World::start().await;
    world.create_container("status").await;
    let sandbox = world.sandbox(false);
    let sas = container_sas("status");
    let url = format!("https://127.0.0.1/{ACCOUNT}/status/vm1.status?{sas}");
    // curl reads the system trust store; Python (as the real extension is) SSL_CERT_FILE.
    let put = inside(
        &sandbox,
        &format!(
            "curl -sS --fail-with-body -X PUT -H 'x-ms-blob-type: BlockBlob' \
             --data-binary 'written over TLS' '{url}'"
        ),
        None,
    )
    .await;
    stdout(&put);
    let get = inside(
        &sandbox,
        &format!(
            "python3 -c 'import sys, urllib.request; \
             sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' '{url}'"
        ),
        None,
    )
    .await;
    assert_eq!(stdout(&get), "written over TLS");
    // From the host, the same blob over plain HTTP: it is the service that was written.
    let on_host = world
        .http
        .get(format!(
            "http://{}/{ACCOUNT}/status/vm1.status?{sas}",
            world.blob
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(on_host.text().await.unwrap(), "written over TLS");
    // The host's own trust store is untouched.
    let ca = std::fs::read_to_string(&world.ca).unwrap();
    let host_store =
        std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    assert!(!host_store.contains(ca.trim()));
}

#[tokio::test(flavor = "multi_thread")]
async fn etc_and_var_are_overlaid_and_the_handler_and_log_roots_stand_where_azure_puts_them() {
    if !can_run_sandbox_tests() {
        return;
    }
    let world = World::start().await;
    let sandbox = world.sandbox(false);
    let name = format!("vaultsim-sandbox-test-{}", uuid::Uuid::new_v4());
    std::fs::write(world.handler_root().join("marker"), "handler root").unwrap();
    let extension_dir = world.handler_root().join("Publisher.Type-1.0");
    std::fs::create_dir_all(&extension_dir).unwrap();
    let output = inside(
        &sandbox,
        &format!(
            "set -e; echo conf > /etc/{name}; echo azure > /etc/azure/{name}; \
             echo log > /var/log/azure/{name}; echo tmp > /var/tmp/{name}; \
             cat /var/lib/waagent/marker; echo; pwd"
        ),
        Some(&extension_dir),
    )
    .await;
    assert_eq!(
        stdout(&output),
        format!("handler root\n{}\n", extension_dir.display())
    );
    for host_path in [
        format!("/etc/{name}"),
        format!("/etc/azure/{name}"),
        format!("/var/tmp/{name}"),
    ] {
        assert!(
            !Path::new(&host_path).exists(),
            "{host_path} reached the host"
        );
    }
    let written = |inside: &str| {
        std::fs::read_to_string(sandbox.written_path(Path::new(inside)).unwrap()).unwrap()
    };
    assert_eq!(written(&format!("/etc/{name}")), "conf\n");
    assert_eq!(written(&format!("/var/tmp/{name}")), "tmp\n");
    let log = std::fs::read_to_string(world.vm.path().join("log-azure").join(&name)).unwrap();
    assert_eq!(log, "log\n");
    // /etc/azure is the VM's configuration directory, where the backup extension's
    // scripts are configured.
    let azure = std::fs::read_to_string(world.vm.path().join("etc-azure").join(&name)).unwrap();
    assert_eq!(azure, "azure\n");
    // A second command sees what the first wrote: one sandbox per VM, not per command.
    let again = inside(&sandbox, &format!("cat /etc/{name}"), None).await;
    assert_eq!(stdout(&again), "conf\n");
}

/// Whether `CAP_SYS_ADMIN` is in the effective and bounding sets of a command inside.
async fn sys_admin_inside(sandbox: &Arc<Sandbox>) -> (bool, bool) {
    let status = stdout(&inside(sandbox, "cat /proc/self/status", None).await);
    let mask = |field: &str| {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .unwrap_or_else(|| panic!("no {field} in {status}"));
        u64::from_str_radix(line.trim(), 16).unwrap() & (1 << CAP_SYS_ADMIN) != 0
    };
    (mask("CapEff:"), mask("CapBnd:"))
}

#[tokio::test(flavor = "multi_thread")]
async fn cap_sys_admin_is_dropped_unless_freezing_is_allowed() {
    if !can_run_sandbox_tests() {
        return;
    }
    let world = World::start().await;
    assert_eq!(
        sys_admin_inside(&world.sandbox(false)).await,
        (false, false)
    );
    assert_eq!(sys_admin_inside(&world.sandbox(true)).await, (true, true));
    // Without it, the extension cannot undo the sandbox.
    let sandbox = world.sandbox(false);
    let umount = inside(&sandbox, "umount /etc", None).await;
    assert!(!umount.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_sandbox_removes_its_directory_and_stops_its_forwarders() {
    if !can_run_sandbox_tests() {
        return;
    }
    let world = World::start().await;
    let sandbox = world.sandbox(false);
    let dir = sandbox.dir().to_owned();
    // A command prepared before the drop still holds the namespaces, not the forwarders.
    let mut late = Command::new("sh");
    late.args([
        "-c",
        "curl -sS -m 2 -o /dev/null http://168.63.129.16/machine/goalstate",
    ]);
    sandbox.wrap(&mut late).unwrap();
    assert!(dir.join("etc/upper/ssl/certs/ca-certificates.crt").exists());
    drop(sandbox);
    assert!(!dir.exists());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let output = tokio::task::spawn_blocking(move || late.output().unwrap())
        .await
        .unwrap();
    assert!(!output.status.success(), "the wire server still answered");
}

#[tokio::test(flavor = "multi_thread")]
async fn entering_the_sandbox_adds_little_to_a_command() {
    if !can_run_sandbox_tests() {
        return;
    }
    let world = World::start().await;
    let sandbox = world.sandbox(false);
    const RUNS: u32 = 100;
    let time = |wrapped: Option<Arc<Sandbox>>| {
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            for _ in 0..RUNS {
                let mut command = Command::new("true");
                if let Some(sandbox) = &wrapped {
                    sandbox.wrap(&mut command).unwrap();
                }
                assert!(command.status().unwrap().success());
            }
            start.elapsed() / RUNS
        })
    };
    let plain = time(None).await.unwrap();
    let wrapped = time(Some(Arc::clone(&sandbox))).await.unwrap();
    eprintln!("per command: plain {plain:?}, in the sandbox {wrapped:?}");
    assert!(
        wrapped < plain + Duration::from_millis(20),
        "entering costs {:?} per command",
        wrapped.saturating_sub(plain)
    );
}
