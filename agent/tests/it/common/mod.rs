//! The real processes the agent's end-to-end tests drive: `vaultsim serve` (the binary next
//! to the agent's in the target directory) and `vaultsim-agent run`, and a client with one
//! method per management, clock and blob call the tests make.

pub mod postgres;
pub mod root;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use vaultsim_protocol::credentials::{self, ClientCredentials};
use vaultsim_protocol::sas::{Permission, Permissions, ServiceSasBuilder};

pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const API_VERSION: &str = "api-version=2026-07-01";
pub const GROUP: &str = "rg";
pub const VAULT: &str = "vault";
pub const POLICY: &str = "daily0200";

/// A binary built into the same directory as the agent.
pub fn sibling_binary(name: &str) -> PathBuf {
    let agent = PathBuf::from(env!("CARGO_BIN_EXE_vaultsim-agent"));
    let path = agent.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p vaultsim`; scripts/test does)",
        path.display()
    );
    path
}

/// A child process whose stderr is collected, killed on drop.
pub struct Process {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Process {
    /// Starts `command` with its stderr collected.
    pub fn spawn_command(command: Command) -> Process {
        Process::spawn(command)
    }

    fn spawn(mut command: Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .spawn()
            .expect("the process starts");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Process { child, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `text`.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let log = self.log();
            if let Some(at) = log.find(text) {
                return log[at + text.len()..]
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "'{text}' not logged within {within:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    #[allow(dead_code, reason = "benches/agent_backup.rs uses it; no test does")]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `vaultsim serve` on ports 0 with its own data directory, signed in as its bootstrap admin.
pub struct Service {
    #[allow(dead_code, reason = "benches/agent_backup.rs uses it; no test does")]
    pub process: Process,
    pub data: tempfile::TempDir,
    pub management: SocketAddr,
    /// The blob endpoint the blob helpers read and write, and its account.
    pub blob: SocketAddr,
    pub blob_account: String,
    pub guest: SocketAddr,
    pub subscription: String,
    pub token: String,
    pub http: reqwest::Client,
}

fn listening(process: &Process, what: &str) -> SocketAddr {
    process
        .wait_for_log(&format!("{what} listening addr="), Duration::from_secs(60))
        .trim()
        .parse()
        .unwrap()
}

/// `vaultsim serve` on ports 0 over `data_dir` (and `database_url`, else SQLite there).
fn serve_command(data_dir: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(sibling_binary("vaultsim"));
    command
        .args(["serve", "--http-addr", "127.0.0.1:0", "--https-addr"])
        .args([
            "127.0.0.1:0",
            "--blob-addr",
            "127.0.0.1:0",
            "--blob-https-addr",
        ])
        .args(["127.0.0.1:0", "--guest-addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "info");
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command
}

/// `vaultsim serve --components blob`: a blob node alone, serving one account, following
/// the simulated clock of `database_url` when given.
pub struct BlobNode {
    /// Killed when the node is dropped.
    _process: Process,
    _data: tempfile::TempDir,
    pub addr: SocketAddr,
    pub account: String,
}

impl BlobNode {
    /// A node serving the default account (`devstoreaccount1`).
    pub fn start(database_url: Option<&str>) -> BlobNode {
        BlobNode::serving(ACCOUNT, database_url)
    }

    /// A node serving `account` (with the default key).
    pub fn serving(account: &str, database_url: Option<&str>) -> BlobNode {
        let data = tempfile::tempdir().unwrap();
        let mut command = serve_command(data.path(), database_url);
        command.args(["--components", "blob", "--account-name", account]);
        let process = Process::spawn(command);
        let addr = listening(&process, "blob endpoint");
        BlobNode {
            _process: process,
            _data: data,
            addr,
            account: account.to_owned(),
        }
    }

    /// The account's URL (plain HTTP), as control replicas and VMs reach it.
    pub fn account_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.account)
    }

    /// The connection string control replicas keep their blobs with.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={};AccountKey={ACCOUNT_KEY};BlobEndpoint={};",
            self.account,
            self.account_url()
        )
    }
}

impl Service {
    pub async fn start() -> Service {
        Service::start_on(None).await
    }

    /// The service on a database of its own (`--database-url`); `None` is SQLite in the
    /// data directory.
    pub async fn start_on(database_url: Option<&str>) -> Service {
        Service::start_with(database_url, &[]).await
    }

    /// [`Service::start_on`] with `extra` arguments to `vaultsim serve`.
    pub async fn start_with(database_url: Option<&str>, extra: &[&str]) -> Service {
        let data = tempfile::tempdir().unwrap();
        let mut command = serve_command(data.path(), database_url);
        command.args(extra);
        let process = Process::spawn(command);
        let blob = listening(&process, "blob endpoint");
        Service::signed_in(process, data, blob).await
    }

    /// A control replica (`--components api,guest,engine`) on `database_url`, keeping
    /// every blob in the accounts of `nodes` (the first the primary), `extra` arguments
    /// after.
    pub async fn start_replica(database_url: &str, nodes: &[&BlobNode], extra: &[&str]) -> Service {
        let data = tempfile::tempdir().unwrap();
        let mut command = serve_command(data.path(), Some(database_url));
        command.args(["--components", "api,guest,engine"]);
        for node in nodes {
            command.args(["--storage-connection-string", &node.connection_string()]);
        }
        command.args(extra);
        let process = Process::spawn(command);
        Service::signed_in(process, data, nodes[0].addr).await
    }

    /// Waits for the management and guest APIs and signs in as the bootstrap admin.
    async fn signed_in(process: Process, data: tempfile::TempDir, blob: SocketAddr) -> Service {
        let (management, guest) = (
            listening(&process, "management API"),
            listening(&process, "guest API"),
        );
        let credentials: ClientCredentials = serde_json::from_slice(
            &std::fs::read(data.path().join(credentials::FILE_NAME)).unwrap(),
        )
        .unwrap();
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!(
                "http://{management}/{}/oauth2/v2.0/token",
                credentials.tenant_id
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", credentials.client_id.as_str()),
                ("client_secret", credentials.client_secret.as_str()),
                ("scope", "https://management.core.windows.net//.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Service {
            process,
            management,
            blob,
            blob_account: ACCOUNT.to_owned(),
            guest,
            subscription: credentials.subscription_id,
            token: token["access_token"].as_str().unwrap().to_owned(),
            http,
            data,
        }
    }

    /// The CA of the service's generated certificate chain.
    pub fn ca_file(&self) -> PathBuf {
        self.data.path().join("tls").join("ca.pem")
    }

    pub fn credentials_file(&self) -> PathBuf {
        self.data.path().join(credentials::FILE_NAME)
    }

    pub fn subscription_path(&self) -> String {
        format!("/subscriptions/{}", self.subscription)
    }

    pub fn vault_path(&self) -> String {
        format!(
            "{}/resourceGroups/{GROUP}/providers/Microsoft.RecoveryServices/vaults/{VAULT}",
            self.subscription_path()
        )
    }

    pub fn vm_path(&self, vm: &str) -> String {
        format!(
            "{}/resourceGroups/{GROUP}/providers/Microsoft.Compute/virtualMachines/{vm}",
            self.subscription_path()
        )
    }

    pub fn item_path(&self, vm: &str) -> String {
        format!(
            "{}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;{GROUP};{vm}/protectedItems/VM;iaasvmcontainerv2;{GROUP};{vm}",
            self.vault_path()
        )
    }

    /// A management call; answers the status and the JSON body (`Null` when empty).
    pub async fn arm(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut request = self
            .http
            .request(
                method,
                format!("http://{}{path}{separator}{API_VERSION}", self.management),
            )
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.arm(reqwest::Method::PUT, path, Some(body)).await;
        assert!(
            (200..300).contains(&status),
            "PUT {path}: {status} {answer}"
        );
        answer
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, answer) = self.arm(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {answer}");
        answer
    }

    pub async fn pin_clock(&self, now: &str) {
        self.put("/_sim/clock", json!({"mode": "pinned", "now": now}))
            .await;
    }

    /// Advances the simulated clock, giving started backups `settle_seconds` to report.
    pub async fn advance(&self, by: &str, settle_seconds: f64) -> Value {
        let (status, answer) = self
            .arm(
                reqwest::Method::POST,
                "/_sim/clock/advance",
                Some(json!({"by": by, "settleSeconds": settle_seconds})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// The group, the vault and a policy: daily at 02:00 UTC, points kept 7 days.
    pub async fn vault_with_daily_policy(&self) {
        self.put(
            &format!("{}/resourceGroups/{GROUP}", self.subscription_path()),
            json!({"location": "eastus"}),
        )
        .await;
        self.put(
            &self.vault_path(),
            json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {}}),
        )
        .await;
        self.put(
            &format!("{}/backupPolicies/{POLICY}", self.vault_path()),
            json!({"properties": {
                "backupManagementType": "AzureIaasVM",
                "schedulePolicy": {
                    "schedulePolicyType": "SimpleSchedulePolicy",
                    "scheduleRunFrequency": "Daily",
                    "scheduleRunTimes": ["2026-01-01T02:00:00Z"],
                    "scheduleWeeklyFrequency": 0
                },
                "retentionPolicy": {
                    "retentionPolicyType": "LongTermRetentionPolicy",
                    "dailySchedule": {
                        "retentionTimes": ["2026-01-01T02:00:00Z"],
                        "retentionDuration": {"count": 7, "durationType": "Days"}
                    }
                },
                "instantRpRetentionRangeInDays": 2,
                "timeZone": "UTC"
            }}),
        )
        .await;
    }

    /// Protects a VM with the daily policy and waits until the service says so.
    pub async fn protect(&self, vm: &str) {
        let (status, answer) = self
            .arm(
                reqwest::Method::PUT,
                &self.item_path(vm),
                Some(json!({"properties": {
                    "protectedItemType": "Microsoft.Compute/virtualMachines",
                    "sourceResourceId": self.vm_path(vm),
                    "policyId": format!("{}/backupPolicies/{POLICY}", self.vault_path()),
                }})),
            )
            .await;
        assert_eq!(status, 202, "{answer}");
        for _ in 0..200 {
            let (status, item) = self
                .arm(reqwest::Method::GET, &self.item_path(vm), None)
                .await;
            if status == 200 && item["properties"]["policyId"].is_string() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{vm} was not protected");
    }

    /// The vault's jobs of one operation, newest first.
    pub async fn jobs(&self, operation: &str) -> Vec<Value> {
        let filter = format!("$filter=operation eq '{operation}'");
        let listed = self
            .get(&format!("{}/backupJobs?{filter}", self.vault_path()))
            .await;
        listed["value"].as_array().unwrap().clone()
    }

    /// Every entry of a paged list, following `nextLink`.
    #[allow(dead_code, reason = "benches/agent_backup.rs uses it; no test does")]
    pub async fn list_all(&self, path: &str) -> Vec<Value> {
        let mut listed = self.get(path).await;
        let mut all = listed["value"].as_array().cloned().unwrap_or_default();
        while let Some(next) = listed["nextLink"].as_str().map(str::to_owned) {
            let response = self
                .http
                .get(&next)
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "GET {next}");
            listed = response.json().await.unwrap();
            all.extend(listed["value"].as_array().cloned().unwrap_or_default());
        }
        all
    }

    /// The sum of a counter's series as `/metrics` shows it now (0 before its first
    /// increment): a poll that costs the service next to nothing, where listing every job
    /// renders each running one.
    #[allow(dead_code, reason = "benches/agent_backup.rs uses it; no test does")]
    pub async fn counter(&self, name: &str) -> f64 {
        let response = self
            .http
            .get(format!("http://{}/metrics", self.management))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET /metrics");
        let text = response.text().await.unwrap();
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let metric = series.split('{').next()?;
                if metric == name {
                    value.parse::<f64>().ok()
                } else {
                    None
                }
            })
            .sum()
    }

    pub async fn recovery_points(&self, vm: &str) -> Vec<Value> {
        let listed = self
            .get(&format!("{}/recoveryPoints", self.item_path(vm)))
            .await;
        listed["value"].as_array().unwrap().clone()
    }

    /// Restores every disk of a recovery point and waits for the Restore job; answers the
    /// restored blobs' container and names, in disk order.
    pub async fn restore(&self, vm: &str, point: &str) -> (String, Vec<String>) {
        self.restore_to(vm, point, ACCOUNT).await
    }

    /// [`Service::restore`] into the storage account `account`.
    pub async fn restore_to(&self, vm: &str, point: &str, account: &str) -> (String, Vec<String>) {
        let (status, answer) = self
            .arm(
                reqwest::Method::POST,
                &format!("{}/recoveryPoints/{point}/restore", self.item_path(vm)),
                Some(json!({"properties": {
                    "objectType": "IaasVMRestoreRequest",
                    "recoveryPointId": point,
                    "recoveryType": "RestoreDisks",
                    "sourceResourceId": self.vm_path(vm),
                    "storageAccountId": format!(
                        "{}/resourceGroups/{GROUP}/providers/Microsoft.Storage/storageAccounts/{account}",
                        self.subscription_path()
                    ),
                    "region": "eastus",
                    "createNewCloudService": false,
                    "originalStorageAccountOption": false,
                }})),
            )
            .await;
        assert_eq!(status, 202, "{answer}");
        for _ in 0..1000 {
            if let Some(job) = self.jobs("Restore").await.first() {
                let properties = &job["properties"];
                if properties["status"] != "InProgress" {
                    assert_eq!(properties["status"], "Completed", "{job}");
                    let bag = &properties["extendedInfo"]["propertyBag"];
                    let container = bag["Config Blob Container Name"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let blobs = bag["Restored Disks"]
                        .as_str()
                        .unwrap()
                        .split(',')
                        .map(str::to_owned)
                        .collect();
                    return (container, blobs);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the restore did not end");
    }

    /// Restores a recovery point and writes its first data disk (a disk image's LUN 0)
    /// into a file of `size_bytes`, the image's size.
    pub async fn restore_data_disk_image(
        &self,
        vm: &str,
        point: &str,
        size_bytes: u64,
    ) -> tempfile::NamedTempFile {
        use std::os::unix::fs::FileExt;
        let (container, restored) = self.restore(vm, point).await;
        let pages = self.disk_pages(&container, &restored[1], None).await;
        let image = tempfile::NamedTempFile::new().unwrap();
        let file = image.as_file();
        file.set_len(size_bytes).unwrap();
        for (page, bytes) in &pages {
            if page * 512 < size_bytes {
                file.write_all_at(bytes, page * 512).unwrap();
            }
        }
        image
    }

    /// A read-and-write SAS query for a container, valid until 2099 (the service clock may
    /// be anywhere).
    pub fn container_sas(&self, container: &str) -> String {
        let key = base64_decode(ACCOUNT_KEY);
        let permissions: Permissions = [Permission::Read, Permission::Write, Permission::Create]
            .into_iter()
            .collect();
        ServiceSasBuilder::for_container(
            container,
            permissions,
            "2099-01-01T00:00:00Z".parse().unwrap(),
        )
        .version("2025-11-05")
        .query_string(&self.blob_account, &key)
    }

    pub fn blob_url(&self, container: &str, blob: &str) -> String {
        format!(
            "http://{}/{}/{container}/{blob}",
            self.blob, self.blob_account
        )
    }

    /// Writes `data` at `offset` of a page blob.
    pub async fn write_disk(&self, container: &str, blob: &str, offset: u64, data: Vec<u8>) {
        let end = offset + data.len() as u64 - 1;
        let response = self
            .http
            .put(format!(
                "{}?comp=page&{}",
                self.blob_url(container, blob),
                self.container_sas(container)
            ))
            .header("x-ms-page-write", "update")
            .header("x-ms-range", format!("bytes={offset}-{end}"))
            .header("x-ms-version", "2025-11-05")
            .body(data)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
    }

    /// A page blob's (or snapshot's) content as its non-zero 512-byte pages: equal maps
    /// mean equal bytes.
    pub async fn disk_pages(
        &self,
        container: &str,
        blob: &str,
        snapshot: Option<&str>,
    ) -> BTreeMap<u64, Vec<u8>> {
        let snapshot_query = snapshot
            .map(|s| format!("&snapshot={s}"))
            .unwrap_or_default();
        let url = format!(
            "{}?{}{snapshot_query}",
            self.blob_url(container, blob),
            self.container_sas(container)
        );
        let listed = self
            .http
            .get(format!("{url}&comp=pagelist"))
            .header("x-ms-version", "2025-11-05")
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200, "page ranges of {container}/{blob}");
        let xml = listed.text().await.unwrap();
        let mut pages = BTreeMap::new();
        for range in xml.split("<PageRange>").skip(1) {
            let field = |name: &str| -> u64 {
                let start = range.find(&format!("<{name}>")).unwrap() + name.len() + 2;
                let end = range.find(&format!("</{name}>")).unwrap();
                range[start..end].parse().unwrap()
            };
            let (start, end) = (field("Start"), field("End"));
            let read = self
                .http
                .get(&url)
                .header("x-ms-version", "2025-11-05")
                .header("x-ms-range", format!("bytes={start}-{end}"))
                .send()
                .await
                .unwrap();
            assert_eq!(read.status(), 206);
            let bytes = read.bytes().await.unwrap();
            for (i, page) in bytes.chunks(512).enumerate() {
                if page.iter().any(|b| *b != 0) {
                    pages.insert(start / 512 + i as u64, page.to_vec());
                }
            }
        }
        pages
    }
}

pub fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// `vaultsim-agent <subcommand>` pointed at the service, signing in with its bootstrap
/// credentials, keeping its state in `state_dir`, with the extension's start delay
/// `--start-delay-ms` (`MIN-MAX` or one value; the real extension's is 500-5000).
pub fn agent_command(
    service: &Service,
    subcommand: &str,
    state_dir: &Path,
    start_delay_ms: &str,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vaultsim-agent"));
    command
        .arg(subcommand)
        .args(["--service", &format!("http://{}", service.guest)])
        .args([
            "--management-url",
            &format!("http://{}", service.management),
        ])
        .arg("--credentials")
        .arg(service.credentials_file())
        .args(["--start-delay-ms", start_delay_ms])
        .arg("--state-dir")
        .arg(state_dir)
        // Backup tasks name the blob endpoint's HTTPS URL; the agent trusts what a VM's
        // OpenSSL would (the system store, or this file).
        .env("SSL_CERT_FILE", service.ca_file())
        .env("RUST_LOG", "info,vaultsim_agent=debug");
    command
}

/// `vaultsim-agent run` for one VM of the service, with a 1 GiB data disk.
pub fn start_agent(service: &Service, vm: &str, state_dir: &Path, extra: &[&str]) -> Process {
    start_agent_with_delay(service, vm, state_dir, "0", extra)
}

/// `vaultsim-agent run` with the extension's start delay.
pub fn start_agent_with_delay(
    service: &Service,
    vm: &str,
    state_dir: &Path,
    start_delay_ms: &str,
    extra: &[&str],
) -> Process {
    let mut command = agent_command(service, "run", state_dir, start_delay_ms);
    command
        .args(["--vm", &service.vm_path(vm), "--data-disk-gib", "1"])
        .args(extra);
    Process::spawn(command)
}

/// Waits until the agent has registered its VM; answers the VM id.
pub fn registered_vm_id(agent: &Process) -> String {
    agent
        .wait_for_log("VM registered", Duration::from_secs(60))
        .split("vm_id=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The blob container of a VM's disks.
pub fn disk_container(vm_id: &str) -> String {
    format!("vm-{}", vm_id.replace('-', ""))
}
