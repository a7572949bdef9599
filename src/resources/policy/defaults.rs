//! The policies Azure puts in every new vault, as Azure returns them (recordings of
//! 2020-2022 and a 2026 vault export):
//! - `DefaultPolicy`: standard (V1), Daily at one time, daily retention 30 days at that
//!   time, instant recovery points 2 days, UTC;
//! - `EnhancedPolicy`: enhanced (V2), Hourly every 4 hours in a 12-hour window from 08:00,
//!   daily retention 30 days at 08:00, instant recovery points 2 days, UTC.
//!
//! Both carry the vault's creation date in their times, as Azure's do.

use chrono::{DateTime, NaiveTime, TimeDelta, Timelike, Utc};

use super::{
    Frequency, HourlyWindow, IaasVmPolicy, InstantRpDetailsDocument, PolicyTimeZone, PolicyType,
    Retention, Schedule,
};

pub const DEFAULT_POLICY_NAME: &str = "DefaultPolicy";
pub const ENHANCED_POLICY_NAME: &str = "EnhancedPolicy";

/// The policies a vault created at `now` starts with, by name.
pub fn seeded(now: DateTime<Utc>) -> [(&'static str, IaasVmPolicy); 2] {
    [
        (DEFAULT_POLICY_NAME, default_policy(now)),
        (ENHANCED_POLICY_NAME, enhanced_policy(now)),
    ]
}

/// `DefaultPolicy` of a vault created at `now`.
///
/// Azure does not document how it picks DefaultPolicy's run time; observed vaults show
/// 21:00, 00:00 and 22:30 UTC, always on the hour or the half hour. This service takes the
/// first half hour strictly after the vault's creation (created 10:47 → 11:00, created
/// 11:00 → 11:30, created 23:45 → 00:00 the next day), dated that day.
pub fn default_policy(now: DateTime<Utc>) -> IaasVmPolicy {
    let run_at = next_half_hour(now);
    IaasVmPolicy {
        policy_type: PolicyType::V1,
        schedule: Schedule {
            frequency: Frequency::Daily { at: run_at.time() },
            anchor_date: run_at.date_naive(),
        },
        retention: daily_retention(30),
        instant_rp_retention_days: 2,
        time_zone: utc(),
        instant_rp_details: InstantRpDetailsDocument::default(),
        tiering_policy: None,
        snapshot_consistency_type: None,
    }
}

/// `EnhancedPolicy` of a vault created at `now`.
pub fn enhanced_policy(now: DateTime<Utc>) -> IaasVmPolicy {
    IaasVmPolicy {
        policy_type: PolicyType::V2,
        schedule: Schedule {
            frequency: Frequency::Hourly(HourlyWindow {
                interval_hours: 4,
                start: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
                duration_hours: 12,
            }),
            anchor_date: now.date_naive(),
        },
        retention: daily_retention(30),
        instant_rp_retention_days: 2,
        time_zone: utc(),
        instant_rp_details: InstantRpDetailsDocument::default(),
        tiering_policy: None,
        snapshot_consistency_type: None,
    }
}

fn daily_retention(days: u32) -> Retention {
    Retention {
        daily_days: Some(days),
        weekly: None,
        monthly: None,
        yearly: None,
    }
}

fn utc() -> PolicyTimeZone {
    PolicyTimeZone {
        windows_id: "UTC",
        tz: chrono_tz::Etc::UTC,
    }
}

/// The first instant on a half hour strictly after `now`.
fn next_half_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    let floor = now
        .with_minute(if now.minute() >= 30 { 30 } else { 0 })
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .expect("valid time");
    floor + TimeDelta::minutes(30)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    #[test]
    fn default_policy_runs_at_the_next_half_hour() {
        let at = |h, m, s| Utc.with_ymd_and_hms(2024, 3, 9, h, m, s).unwrap();
        let run = |now| {
            default_policy(now).schedule().run_times()[0]
                .format("%H:%M")
                .to_string()
        };
        assert_eq!(run(at(10, 47, 12)), "11:00");
        assert_eq!(run(at(11, 0, 0)), "11:30");
        assert_eq!(run(at(11, 29, 59)), "11:30");
        assert_eq!(run(at(11, 30, 0)), "12:00");
        let late = default_policy(at(23, 45, 0)).to_properties();
        assert_eq!(
            late["schedulePolicy"]["scheduleRunTimes"],
            json!(["2024-03-10T00:00:00Z"])
        );
    }

    #[test]
    fn default_policy_is_shaped_as_azure_returns_it() {
        let now = Utc.with_ymd_and_hms(2020, 4, 28, 20, 40, 3).unwrap();
        assert_eq!(
            default_policy(now).to_properties(),
            json!({
                "backupManagementType": "AzureIaasVM",
                "policyType": "V1",
                "instantRPDetails": {},
                "schedulePolicy": {
                    "schedulePolicyType": "SimpleSchedulePolicy",
                    "scheduleRunFrequency": "Daily",
                    "scheduleRunTimes": ["2020-04-28T21:00:00Z"],
                    "scheduleWeeklyFrequency": 0
                },
                "retentionPolicy": {
                    "retentionPolicyType": "LongTermRetentionPolicy",
                    "dailySchedule": {
                        "retentionTimes": ["2020-04-28T21:00:00Z"],
                        "retentionDuration": {"count": 30, "durationType": "Days"}
                    }
                },
                "instantRpRetentionRangeInDays": 2,
                "timeZone": "UTC"
            })
        );
    }

    #[test]
    fn enhanced_policy_is_shaped_as_azure_returns_it() {
        let now = Utc.with_ymd_and_hms(2026, 2, 4, 13, 5, 0).unwrap();
        let policy = enhanced_policy(now);
        assert_eq!(
            policy.to_properties(),
            json!({
                "backupManagementType": "AzureIaasVM",
                "policyType": "V2",
                "instantRPDetails": {},
                "schedulePolicy": {
                    "schedulePolicyType": "SimpleSchedulePolicyV2",
                    "scheduleRunFrequency": "Hourly",
                    "hourlySchedule": {
                        "interval": 4,
                        "scheduleWindowStartTime": "2026-02-04T08:00:00Z",
                        "scheduleWindowDuration": 12
                    }
                },
                "retentionPolicy": {
                    "retentionPolicyType": "LongTermRetentionPolicy",
                    "dailySchedule": {
                        "retentionTimes": ["2026-02-04T08:00:00Z"],
                        "retentionDuration": {"count": 30, "durationType": "Days"}
                    }
                },
                "instantRpRetentionRangeInDays": 2,
                "timeZone": "UTC"
            })
        );
        let times: Vec<String> = policy
            .schedule()
            .run_times()
            .iter()
            .map(|t| t.format("%H:%M").to_string())
            .collect();
        assert_eq!(times, ["08:00", "12:00", "16:00"]);
    }

    #[test]
    fn seeded_policies_pass_their_own_validation() {
        let now = Utc.with_ymd_and_hms(2024, 7, 1, 9, 10, 0).unwrap();
        for (name, policy) in seeded(now) {
            let reread = IaasVmPolicy::from_properties(&policy.to_properties())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(reread, policy, "{name}");
        }
    }
}
