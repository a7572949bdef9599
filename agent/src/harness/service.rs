//! The service the harness tests against: a `vaultsim serve` it starts on free ports with a
//! data directory of its own, or one already running. Either way the harness signs in
//! with the service's credentials file and talks to it as a user would: ARM calls for
//! vaults, policies, protection, backups and jobs, and the `/_sim` admin calls for the
//! clock and for faults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use vaultsim_protocol::credentials::{self, ClientCredentials};

use super::blob::BlobAccount;
use crate::management::{read_credentials, ArmClient};
use crate::vault::VaultClient;
use crate::workload::StorageAccount;

/// How long a started service may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Where the harness keeps its VMs, vault and policy.
pub const GROUP: &str = "vaultsim-harness";
pub const VAULT: &str = "harness-vault";
pub const POLICY: &str = "harness-daily";

/// The service's default account key (Azurite's well-known one).
const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ACCOUNT: &str = "devstoreaccount1";

/// Where the service is.
pub enum ServiceChoice {
    /// Start `vaultsim serve` (this binary) with its data under the harness's work directory.
    Start { vaultsim: PathBuf },
    /// Use a running service.
    Connect {
        management_url: String,
        guest_url: String,
        credentials: PathBuf,
        /// The service's CA (`<data dir>/tls/ca.pem`), which extensions must trust for the
        /// HTTPS SAS URLs of its tasks.
        ca_file: Option<PathBuf>,
        /// The account holding the vault's status containers.
        storage: StorageAccount,
        /// The blob endpoint's HTTPS listener, for a sandbox's port 443.
        blob_https: Option<SocketAddr>,
    },
}

/// A running service, signed in.
pub struct ServiceUnderTest {
    /// Killed on drop when the harness started it.
    process: Option<Child>,
    pub management_url: String,
    pub guest_url: String,
    pub credentials_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    /// Where the extension's status and log blobs are read.
    pub blob: BlobAccount,
    /// The blob endpoint's HTTPS listener, which a sandbox's port 443 reaches.
    pub blob_https: Option<SocketAddr>,
    /// The harness's vault and group, signed in as the bootstrap admin.
    pub vault: VaultClient,
}

impl Drop for ServiceUnderTest {
    fn drop(&mut self) {
        if let Some(child) = &mut self.process {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl ServiceUnderTest {
    /// Starts or connects to the service and signs in as its bootstrap admin.
    pub async fn open(choice: &ServiceChoice, work_dir: &Path) -> anyhow::Result<Self> {
        let reached = match choice {
            ServiceChoice::Start { vaultsim } => Reached::start(vaultsim, work_dir)?,
            ServiceChoice::Connect {
                management_url,
                guest_url,
                credentials,
                ca_file,
                storage,
                blob_https,
            } => Reached {
                process: None,
                management_url: management_url.trim_end_matches('/').to_owned(),
                guest_url: guest_url.trim_end_matches('/').to_owned(),
                credentials_file: credentials.clone(),
                ca_file: ca_file.clone(),
                storage: storage.clone(),
                blob_https: *blob_https,
            },
        };
        let client: ClientCredentials = read_credentials(&reached.credentials_file)?;
        let subscription = client.subscription_id.clone();
        let arm =
            ArmClient::sign_in(&reached.management_url, client, reqwest::Client::new()).await?;
        Ok(ServiceUnderTest {
            process: reached.process,
            management_url: reached.management_url,
            guest_url: reached.guest_url,
            credentials_file: reached.credentials_file,
            ca_file: reached.ca_file,
            blob: BlobAccount::new(reached.storage),
            blob_https: reached.blob_https,
            vault: VaultClient {
                arm,
                subscription,
                group: GROUP.to_owned(),
                vault: VAULT.to_owned(),
            },
        })
    }

    /// The group, vault and a daily policy whose schedule is twelve hours away from now,
    /// so that the scenarios' clock moves never cross a scheduled run.
    pub async fn prepare_vault(&self) -> anyhow::Result<()> {
        self.vault
            .arm
            .expect(
                Method::PUT,
                &self.vault.group_path(),
                Some(json!({"location": "eastus"})),
            )
            .await?;
        self.vault.create_vault("eastus").await?;
        let now = self.vault.clock_now().await?;
        let hour = (now.format("%H").to_string().parse::<u32>().unwrap_or(0) + 12) % 24;
        let run_time = format!("2026-01-01T{hour:02}:00:00Z");
        self.vault
            .put_policy(
                POLICY,
                json!({"properties": {
                    "backupManagementType": "AzureIaasVM",
                    "schedulePolicy": {
                        "schedulePolicyType": "SimpleSchedulePolicy",
                        "scheduleRunFrequency": "Daily",
                        "scheduleRunTimes": [run_time],
                        "scheduleWeeklyFrequency": 0
                    },
                    "retentionPolicy": {
                        "retentionPolicyType": "LongTermRetentionPolicy",
                        "dailySchedule": {
                            "retentionTimes": [run_time],
                            "retentionDuration": {"count": 7, "durationType": "Days"}
                        }
                    },
                    "instantRpRetentionRangeInDays": 2,
                    "timeZone": "UTC"
                }}),
            )
            .await
    }

    /// Starts an on-demand backup; answers its job id.
    pub async fn backup_now(&self, vm: &str) -> anyhow::Result<String> {
        let triggered = self
            .vault
            .arm
            .expect(
                Method::POST,
                &format!("{}/backup", self.vault.item_path(vm)),
                Some(json!({"properties": {"objectType": "IaasVMBackupRequest"}})),
            )
            .await?;
        let operation = triggered
            .async_operation
            .as_deref()
            .and_then(|url| url.split('?').next())
            .and_then(|url| url.rsplit('/').next())
            .ok_or_else(|| anyhow!("the backup request answered no Azure-AsyncOperation"))?
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let status = self
                .vault
                .arm
                .expect(
                    Method::GET,
                    &format!("{}/backupOperations/{operation}", self.vault.vault_path()),
                    None,
                )
                .await?;
            if status.body["status"] != "InProgress" {
                return status.body["properties"]["jobId"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        anyhow!("the backup operation ended without a job: {}", status.body)
                    });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the backup operation did not end within 30 s")
    }

    pub async fn job(&self, job_id: &str) -> anyhow::Result<Value> {
        Ok(self
            .vault
            .arm
            .expect(
                Method::GET,
                &format!("{}/backupJobs/{job_id}", self.vault.vault_path()),
                None,
            )
            .await?
            .body)
    }

    /// The job once it is no longer in progress, or an error after `within`.
    pub async fn wait_for_job_end(&self, job_id: &str, within: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(job_id).await?;
            let status = job["properties"]["status"].as_str().unwrap_or_default();
            if status != "InProgress" && status != "Cancelling" {
                return Ok(job);
            }
            if Instant::now() >= deadline {
                bail!("job {job_id} still {status} after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn recovery_points(&self, vm: &str) -> anyhow::Result<Vec<Value>> {
        let listed = self
            .vault
            .arm
            .expect(
                Method::GET,
                &format!("{}/recoveryPoints", self.vault.item_path(vm)),
                None,
            )
            .await?;
        Ok(listed.body["value"].as_array().cloned().unwrap_or_default())
    }

    /// Adds a fault (`/_sim/faults`); answers its id.
    pub async fn add_fault(&self, fault: Value) -> anyhow::Result<String> {
        let added = self
            .vault
            .arm
            .expect(Method::POST, "/_sim/faults", Some(fault))
            .await?;
        added.body["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("/_sim/faults answered no id: {}", added.body))
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.vault
            .arm
            .expect(Method::DELETE, "/_sim/faults", None)
            .await?;
        Ok(())
    }

    /// Every SAS minted so far stops working.
    pub async fn expire_every_sas(&self) -> anyhow::Result<()> {
        self.vault
            .arm
            .expect(Method::POST, "/_sim/faults/expire-sas", None)
            .await?;
        Ok(())
    }

    /// Has the service send the VM's extension its current settings again under a new
    /// sequence number (the same task: Azure resends a command the agent did not report on).
    pub async fn redeliver_extension(&self, vm: &str, extension: &str) -> anyhow::Result<()> {
        self.vault
            .arm
            .expect(
                Method::POST,
                "/_sim/extensions/redeliver",
                Some(json!({"vm": self.vault.vm_path(vm), "extension": extension})),
            )
            .await?;
        Ok(())
    }
}

/// Where a service is, before signing in.
struct Reached {
    process: Option<Child>,
    management_url: String,
    guest_url: String,
    credentials_file: PathBuf,
    ca_file: Option<PathBuf>,
    storage: StorageAccount,
    blob_https: Option<SocketAddr>,
}

impl Reached {
    /// Starts `vaultsim serve` on free ports with its data under `work_dir`.
    fn start(vaultsim: &Path, work_dir: &Path) -> anyhow::Result<Reached> {
        let data = work_dir.join("service-data");
        let log = work_dir.join("service.log");
        let process = start_service(vaultsim, &data, &log)?;
        let management = wait_for_listener(&log, "management API listening")?;
        let guest = wait_for_listener(&log, "guest API listening")?;
        let blob = wait_for_listener(&log, "blob endpoint listening")?;
        let blob_https = wait_for_listener(&log, "blob endpoint over HTTPS listening")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(DEV_ACCOUNT_KEY)
            .expect("the development key is base64");
        Ok(Reached {
            process: Some(process),
            management_url: format!("http://{management}"),
            guest_url: format!("http://{guest}"),
            credentials_file: data.join(credentials::FILE_NAME),
            ca_file: Some(data.join("tls").join("ca.pem")),
            storage: StorageAccount {
                endpoint: format!("http://{blob}/{DEV_ACCOUNT}"),
                name: DEV_ACCOUNT.to_owned(),
                key: key.into(),
            },
            blob_https: Some(blob_https),
        })
    }
}

fn start_service(vaultsim: &Path, data: &Path, log: &Path) -> anyhow::Result<Child> {
    std::fs::create_dir_all(data)?;
    let log_file =
        std::fs::File::create(log).with_context(|| format!("the service log {}", log.display()))?;
    Command::new(vaultsim)
        .args(["serve", "--http-addr", "127.0.0.1:0"])
        .args(["--https-addr", "127.0.0.1:0"])
        .args(["--blob-addr", "127.0.0.1:0"])
        .args(["--blob-https-addr", "127.0.0.1:0"])
        .args(["--guest-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting {}", vaultsim.display()))
}

/// The address the service logged for `what` (`<what> addr=…`).
fn wait_for_listener(log: &Path, what: &str) -> anyhow::Result<SocketAddr> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find(|line| line.contains(what))
            .and_then(|line| line.split("addr=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
        {
            return addr
                .parse()
                .with_context(|| format!("the service logged '{addr}' for {what}"));
        }
        if Instant::now() >= deadline {
            bail!(
                "the service did not log '{what}' within {START_TIMEOUT:?}; see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
