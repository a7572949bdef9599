//! A simulated VM's workload: writes pages to the VM's disks through the blob endpoint, as
//! the guest's own I/O reaches a cloud disk, so that each backup has changes to move.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use rand::Rng;
use secrecy::{ExposeSecret, SecretSlice};
use vaultsim_protocol::guest::RegisteredDisk;
use vaultsim_protocol::sas::{Permission, Permissions, ServiceSasBuilder};

/// The storage service version the workload speaks.
const STORAGE_VERSION: &str = "2025-11-05";
/// How long the workload's SAS is valid: it is minted once per disk, when the workload
/// starts, and must outlast any run (the service clock may be moved ahead).
const SAS_VALIDITY: TimeDelta = TimeDelta::days(3650);

/// The storage account the VM's disks live in.
#[derive(Debug, Clone)]
pub struct StorageAccount {
    /// e.g. `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: String,
    pub name: String,
    /// The decoded account key.
    pub key: SecretSlice<u8>,
}

/// How hard a VM writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// One write of `write_bytes` to each disk every `interval`.
    pub interval: Duration,
    /// A multiple of 512.
    pub write_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("a disk write failed: {0}")]
    Write(String),
}

/// Writes to one VM's disks until dropped (run it as a task and abort it).
pub async fn run_workload(
    http: reqwest::Client,
    account: StorageAccount,
    disks: Vec<RegisteredDisk>,
    config: WorkloadConfig,
) {
    let targets: Vec<DiskTarget> = disks
        .into_iter()
        .map(|disk| DiskTarget::new(&account, disk))
        .collect();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for target in &targets {
            if let Err(error) = target.write_random_page(&http, config.write_bytes).await {
                tracing::warn!(%error, blob = %target.disk.blob, "workload write");
            }
        }
    }
}

/// One disk and the write SAS for its container, minted once.
struct DiskTarget {
    disk: RegisteredDisk,
    /// `<endpoint>/<container>/<blob>`.
    url: String,
    /// The SAS query; never logged.
    sas: String,
}

impl DiskTarget {
    fn new(account: &StorageAccount, disk: RegisteredDisk) -> DiskTarget {
        let permissions = Permissions::NONE.with(Permission::Write);
        let sas = ServiceSasBuilder::for_container(
            &disk.container,
            permissions,
            Utc::now() + SAS_VALIDITY,
        )
        .version(STORAGE_VERSION)
        .query_string(&account.name, account.key.expose_secret());
        DiskTarget {
            url: format!("{}/{}/{}", account.endpoint, disk.container, disk.blob),
            disk,
            sas,
        }
    }

    /// One write of `length` random bytes at a random aligned offset of the disk.
    async fn write_random_page(
        &self,
        http: &reqwest::Client,
        length: u64,
    ) -> Result<(), WorkloadError> {
        let (offset, data) = {
            let mut rng = rand::thread_rng();
            let slots = (self.disk.size_bytes / length).max(1);
            let offset = rng.gen_range(0..slots) * length;
            let mut data = vec![0u8; length as usize];
            rng.fill(&mut data[..]);
            (offset, data)
        };
        let response = http
            .put(format!("{}?comp=page&{}", self.url, self.sas))
            .header("x-ms-version", STORAGE_VERSION)
            .header("x-ms-page-write", "update")
            .header(
                "x-ms-range",
                format!("bytes={offset}-{}", offset + length - 1),
            )
            .body(data)
            .send()
            .await
            .map_err(|e| WorkloadError::Write(e.without_url().to_string()))?;
        if response.status() != reqwest::StatusCode::CREATED {
            return Err(WorkloadError::Write(format!(
                "Put Page answered {}",
                response.status()
            )));
        }
        Ok(())
    }
}
