//! A Recovery Services vault and the VMs of its resource group, driven over the management
//! API as a user would: the vault, its policies, protection, jobs, and the simulated clock
//! the backups run by.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Value};

use crate::management::ArmClient;

const POLL: Duration = Duration::from_millis(100);

/// One vault in one resource group, signed in.
#[derive(Clone)]
pub struct VaultClient {
    pub arm: ArmClient,
    pub subscription: String,
    pub group: String,
    pub vault: String,
}

impl VaultClient {
    pub fn group_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription, self.group
        )
    }

    pub fn vault_path(&self) -> String {
        format!(
            "{}/providers/Microsoft.RecoveryServices/vaults/{}",
            self.group_path(),
            self.vault
        )
    }

    pub fn policy_path(&self, policy: &str) -> String {
        format!("{}/backupPolicies/{policy}", self.vault_path())
    }

    pub fn vm_path(&self, vm: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{vm}",
            self.group_path()
        )
    }

    pub fn item_path(&self, vm: &str) -> String {
        let group = &self.group;
        format!(
            "{}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;{group};{vm}/protectedItems/VM;iaasvmcontainerv2;{group};{vm}",
            self.vault_path()
        )
    }

    /// Creates (or updates) the vault; its resource group must exist.
    pub async fn create_vault(&self, location: &str) -> anyhow::Result<()> {
        self.arm
            .expect(
                Method::PUT,
                &self.vault_path(),
                Some(json!({"location": location, "sku": {"name": "Standard"}, "properties": {}})),
            )
            .await?;
        Ok(())
    }

    /// Creates (or updates) a backup policy of the vault from its ARM document.
    pub async fn put_policy(&self, policy: &str, document: Value) -> anyhow::Result<()> {
        self.arm
            .expect(Method::PUT, &self.policy_path(policy), Some(document))
            .await?;
        Ok(())
    }

    /// Whether the VM exists (its agent has registered it).
    pub async fn vm_exists(&self, vm: &str) -> anyhow::Result<bool> {
        Ok(self
            .arm
            .call(Method::GET, &self.vm_path(vm), None)
            .await?
            .status
            == 200)
    }

    /// Protects a VM with `policy` and waits up to `within` until its item says so.
    pub async fn protect(&self, vm: &str, policy: &str, within: Duration) -> anyhow::Result<()> {
        self.arm
            .expect(
                Method::PUT,
                &self.item_path(vm),
                Some(json!({"properties": {
                    "protectedItemType": "Microsoft.Compute/virtualMachines",
                    "sourceResourceId": self.vm_path(vm),
                    "policyId": self.policy_path(policy),
                }})),
            )
            .await?;
        let deadline = Instant::now() + within;
        loop {
            let item = self
                .arm
                .call(Method::GET, &self.item_path(vm), None)
                .await?;
            if item.status == 200 && item.body["properties"]["policyId"].is_string() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{vm} was not protected within {within:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The vault's jobs (the newest page), those `filter` (a job list `$filter`) asks for
    /// when given.
    pub async fn jobs(&self, filter: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let query = filter.map_or_else(String::new, |filter| {
            format!("?$filter={}", utf8_percent_encode(filter, NON_ALPHANUMERIC))
        });
        let listed = self
            .arm
            .expect(
                Method::GET,
                &format!("{}/backupJobs{query}", self.vault_path()),
                None,
            )
            .await?;
        Ok(listed.body["value"].as_array().cloned().unwrap_or_default())
    }

    /// The service's simulated time.
    pub async fn clock_now(&self) -> anyhow::Result<DateTime<Utc>> {
        let clock = self.arm.expect(Method::GET, "/_sim/clock", None).await?;
        clock_time(&clock.body)
    }

    /// Stops simulated time where it is; answers that time.
    pub async fn pin_clock(&self) -> anyhow::Result<DateTime<Utc>> {
        let pinned = self
            .arm
            .expect(Method::PUT, "/_sim/clock", Some(json!({"mode": "pinned"})))
            .await?;
        clock_time(&pinned.body)
    }

    /// Moves simulated time forward by `by` (ISO 8601), the engine stopping at every
    /// scheduled run and waiting up to `settle` (real time) for the snapshots of backups
    /// it starts.
    pub async fn advance_clock(&self, by: &str, settle: Duration) -> anyhow::Result<()> {
        self.arm
            .expect(
                Method::POST,
                "/_sim/clock/advance",
                Some(json!({"by": by, "settleSeconds": settle.as_secs_f64()})),
            )
            .await?;
        Ok(())
    }
}

fn clock_time(body: &Value) -> anyhow::Result<DateTime<Utc>> {
    let now = body["now"]
        .as_str()
        .ok_or_else(|| anyhow!("/_sim/clock answered no time: {body}"))?;
    Ok(DateTime::parse_from_rfc3339(now)?.with_timezone(&Utc))
}
