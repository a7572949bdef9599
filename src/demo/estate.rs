//! What the demo sets up, through the management API as a user would: a resource group
//! for the VMs, a Recovery Services vault, an Enhanced policy that backs up every 4 hours,
//! and protection of each VM once its agent has registered it.

use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Value};
use vaultsim_agent::management::ArmClient;

pub const GROUP: &str = "vaultsim-demo";
pub const VAULT: &str = "demo-vault";
pub const POLICY: &str = "demo-every-4-hours";
pub const LOCATION: &str = "eastus";
/// VM `i` is `demo-vm-<i>`.
pub const VM_PREFIX: &str = "demo-vm";
/// Hours between a VM's backups (an Enhanced policy's interval: 4, 6, 8 or 12).
pub const INTERVAL_HOURS: u32 = 4;

/// How long the VMs' agents may take to register.
const REGISTRATION_LIMIT: Duration = Duration::from_secs(60);
/// How long enabling protection may take.
const PROTECTION_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The demo's resources in one subscription, signed in as the bootstrap admin.
pub struct Estate {
    pub arm: ArmClient,
    pub subscription: String,
}

impl Estate {
    pub fn vault_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{GROUP}/providers/Microsoft.RecoveryServices/vaults/{VAULT}",
            self.subscription
        )
    }

    fn vm_path(&self, vm: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{GROUP}/providers/Microsoft.Compute/virtualMachines/{vm}",
            self.subscription
        )
    }

    fn item_path(&self, vm: &str) -> String {
        format!(
            "{}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;{GROUP};{vm}/protectedItems/VM;iaasvmcontainerv2;{GROUP};{vm}",
            self.vault_path()
        )
    }

    /// Stops simulated time where it is now, for the demo to move it; answers that time.
    pub async fn pin_clock(&self) -> anyhow::Result<DateTime<Utc>> {
        let pinned = self
            .arm
            .expect(Method::PUT, "/_sim/clock", Some(json!({"mode": "pinned"})))
            .await?;
        clock_time(&pinned.body)
    }

    /// The vault and the policy, whose first run is the first half hour after `now`.
    pub async fn create_vault_and_policy(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        self.arm
            .expect(
                Method::PUT,
                &self.vault_path(),
                Some(json!({"location": LOCATION, "sku": {"name": "Standard"}, "properties": {}})),
            )
            .await?;
        self.arm
            .expect(
                Method::PUT,
                &format!("{}/backupPolicies/{POLICY}", self.vault_path()),
                Some(policy(first_run_after(now))),
            )
            .await?;
        Ok(())
    }

    /// Waits until every VM named exists (its agent registered it).
    pub async fn wait_for_vms(&self, names: &[String]) -> anyhow::Result<()> {
        let deadline = Instant::now() + REGISTRATION_LIMIT;
        for vm in names {
            while self
                .arm
                .call(Method::GET, &self.vm_path(vm), None)
                .await?
                .status
                != 200
            {
                if Instant::now() >= deadline {
                    bail!("{vm}'s agent did not register within {REGISTRATION_LIMIT:?}");
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    /// Protects the VM with the demo's policy and waits until its item says so.
    pub async fn protect(&self, vm: &str) -> anyhow::Result<()> {
        self.arm
            .expect(
                Method::PUT,
                &self.item_path(vm),
                Some(json!({"properties": {
                    "protectedItemType": "Microsoft.Compute/virtualMachines",
                    "sourceResourceId": self.vm_path(vm),
                    "policyId": format!("{}/backupPolicies/{POLICY}", self.vault_path()),
                }})),
            )
            .await?;
        let deadline = Instant::now() + PROTECTION_LIMIT;
        loop {
            let item = self
                .arm
                .call(Method::GET, &self.item_path(vm), None)
                .await?;
            if item.status == 200 && item.body["properties"]["policyId"].is_string() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{vm} was not protected within {PROTECTION_LIMIT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Moves simulated time forward by `by` (ISO 8601), the engine stopping at every
    /// scheduled run and waiting up to `settle` for the snapshots of backups it starts.
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

    /// Waits up to `limit` for the jobs in progress to finish (so that Ctrl-C leaves no
    /// transfer half done).
    pub async fn finish_jobs(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let running = self.jobs(None).await?.iter().any(|job| {
                matches!(
                    job["properties"]["status"].as_str(),
                    Some("InProgress" | "Cancelling")
                )
            });
            if !running {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// The vault's jobs (the newest page), those `filter` asks for when given.
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
}

fn clock_time(body: &Value) -> anyhow::Result<DateTime<Utc>> {
    let Some(now) = body["now"].as_str() else {
        bail!("/_sim/clock answered no time: {body}");
    };
    Ok(DateTime::parse_from_rfc3339(now)?.with_timezone(&Utc))
}

/// The first whole half hour after `now` (policy run times fall on the hour or the half
/// hour).
fn first_run_after(now: DateTime<Utc>) -> DateTime<Utc> {
    let half_hour = TimeDelta::minutes(30);
    now.duration_trunc(half_hour).unwrap_or(now) + half_hour
}

/// An Enhanced (V2) policy: a backup every [`INTERVAL_HOURS`] around the clock from
/// `first_run`, daily points kept a week, instant snapshots two days.
fn policy(first_run: DateTime<Utc>) -> Value {
    let start = first_run.to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({"properties": {
        "backupManagementType": "AzureIaasVM",
        "policyType": "V2",
        "instantRpRetentionRangeInDays": 2,
        "timeZone": "UTC",
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicyV2",
            "scheduleRunFrequency": "Hourly",
            "hourlySchedule": {
                "interval": INTERVAL_HOURS,
                "scheduleWindowStartTime": start,
                "scheduleWindowDuration": 24
            }
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "dailySchedule": {
                "retentionTimes": [start],
                "retentionDuration": {"count": 7, "durationType": "Days"}
            }
        }
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_first_run_is_the_next_half_hour() {
        assert_eq!(
            first_run_after(at("2026-12-06T14:07:31Z")),
            at("2026-12-06T14:30:00Z")
        );
        assert_eq!(
            first_run_after(at("2026-12-06T14:30:00Z")),
            at("2026-12-06T15:00:00Z")
        );
        assert_eq!(
            first_run_after(at("2026-12-06T23:45:00Z")),
            at("2026-12-07T00:00:00Z")
        );
    }
}
