//! What the demo sets up, through the management API as a user would: a Recovery Services
//! vault in the VMs' resource group, an Enhanced policy that backs up every 4 hours, and
//! protection of each VM once its agent has registered it.

use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Value};
use vaultsim_agent::management::ArmClient;
use vaultsim_agent::vault::VaultClient;

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

/// The demo's vault, signed in as the bootstrap admin.
pub fn demo_vault(arm: ArmClient, subscription: String) -> VaultClient {
    VaultClient {
        arm,
        subscription,
        group: GROUP.to_owned(),
        vault: VAULT.to_owned(),
    }
}

/// Stops the clock at its time, creates the vault and the policy (its first run the next
/// half hour), and protects every VM named once its agent has registered it.
pub async fn set_up(vault: &VaultClient, vms: &[String]) -> anyhow::Result<()> {
    let now = vault.pin_clock().await?;
    vault.create_vault(LOCATION).await?;
    vault
        .put_policy(POLICY, policy(first_run_after(now)))
        .await?;
    let deadline = Instant::now() + REGISTRATION_LIMIT;
    for vm in vms {
        while !vault.vm_exists(vm).await? {
            if Instant::now() >= deadline {
                bail!("{vm}'s agent did not register within {REGISTRATION_LIMIT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }
    for vm in vms {
        vault.protect(vm, POLICY, PROTECTION_LIMIT).await?;
    }
    Ok(())
}

/// Waits up to `limit` for the jobs in progress to finish (so that Ctrl-C leaves no
/// transfer half done).
pub async fn finish_jobs(vault: &VaultClient, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let running = vault.jobs(None).await?.iter().any(|job| {
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
