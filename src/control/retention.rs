//! When a recovery point expires, by its policy's retention rules.
//!
//! A scheduled point falls under the daily rule, and under the weekly, monthly and yearly
//! rules whose days include the local day it was scheduled for (for hourly schedules, the
//! day its window opened, [`schedule::run_day`]); it is kept as long as the longest of them.
//! Durations run from the snapshot time: days and weeks as 24-hour days, months and years as
//! calendar months, clamped to the month's end (31 January + 1 month is 28 or 29 February).

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};

use crate::control::schedule;
use crate::resources::policy::{DayOfMonth, IaasVmPolicy, RetentionDays, WeekOfMonth};

/// On-demand backups allowed per UTC day. Azure recommends at most 3 a day but refuses only
/// beyond 9 attempts, the margin being there for retries of failed ones (domain.md §2.3,
/// §2.10); the simulator refuses what Azure refuses, so the limit is the hard one.
pub const ON_DEMAND_BACKUPS_PER_DAY: u32 = 9;

/// How long Azure keeps an on-demand point whose request names no expiry.
const ON_DEMAND_DEFAULT_DAYS: u64 = 30;

/// When a recovery point's two tiers expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryPointExpiry {
    /// When the vault copy expires; `None`: never (as a null `recovery_point.expires_at`).
    pub expires_at: Option<DateTime<Utc>>,
    /// When the instant-restore snapshot expires.
    pub instant_expires_at: DateTime<Utc>,
}

/// For the recovery point of a scheduled backup that ran for the scheduled instant
/// `scheduled_at` and took its snapshot at `rp_time`.
///
/// Of an hourly schedule's points, only the last of each window is kept by the weekly,
/// monthly and yearly rules: it is the one Azure transfers to the vault (domain.md §2.2). All
/// of them are kept by the daily rule.
///
/// A point no rule keeps is kept by the shortest rule the policy has. That happens only with
/// a weekly schedule running on days its weekly rule does not keep and no monthly or yearly
/// rule matches, a case Azure does not document: the backup ran, so it is kept, but no
/// longer than the policy keeps any point.
pub fn scheduled_expiry(
    policy: &IaasVmPolicy,
    scheduled_at: DateTime<Utc>,
    rp_time: DateTime<Utc>,
) -> RecoveryPointExpiry {
    let day = schedule::run_day(policy, scheduled_at);
    let last_of_day = schedule::next_run_after(policy, scheduled_at)
        .is_none_or(|next| schedule::run_day(policy, next) != day);
    // A rule whose expiry is past the last representable instant keeps its points
    // forever: it outlasts every other, and the point gets no expiry.
    let rules: Vec<(DateTime<Utc>, bool)> = rules(policy, rp_time, day, last_of_day)
        .into_iter()
        .map(|(at, keeps)| (at.unwrap_or(DateTime::<Utc>::MAX_UTC), keeps))
        .collect();
    let longest_applying = rules
        .iter()
        .filter(|(_, keeps)| *keeps)
        .map(|(at, _)| *at)
        .max();
    let shortest = || rules.iter().map(|(at, _)| *at).min();
    RecoveryPointExpiry {
        expires_at: longest_applying
            .or_else(shortest)
            .filter(|at| *at != DateTime::<Utc>::MAX_UTC),
        instant_expires_at: instant_expiry(policy, rp_time),
    }
}

/// For an on-demand backup: kept until the requested `recoveryPointExpiryTimeInUTC`
/// (Azure's default when absent: 30 days from the request), instant snapshot per the policy.
///
/// The default counts from the snapshot time, the only time given here; the request
/// precedes it by the job's queueing.
pub fn on_demand_expiry(
    policy: &IaasVmPolicy,
    rp_time: DateTime<Utc>,
    requested: Option<DateTime<Utc>>,
) -> RecoveryPointExpiry {
    RecoveryPointExpiry {
        // Never, should the default run past the last representable instant.
        expires_at: requested
            .or_else(|| rp_time.checked_add_days(Days::new(ON_DEMAND_DEFAULT_DAYS))),
        instant_expires_at: instant_expiry(policy, rp_time),
    }
}

/// The snapshot's expiry, or the last representable instant should it fall after it.
fn instant_expiry(policy: &IaasVmPolicy, rp_time: DateTime<Utc>) -> DateTime<Utc> {
    rp_time
        .checked_add_days(Days::new(policy.instant_rp_retention_days().into()))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Each rule of the policy: the expiry it gives a point taken at `rp_time` (`None`: past the
/// last representable instant), and whether it keeps a point scheduled for local `day` (the
/// daily rule keeps every point; the others only `tagged` points on their days).
fn rules(
    policy: &IaasVmPolicy,
    rp_time: DateTime<Utc>,
    day: NaiveDate,
    tagged: bool,
) -> Vec<(Option<DateTime<Utc>>, bool)> {
    let retention = policy.retention();
    let daily = retention
        .daily_days()
        .map(|days| (rp_time.checked_add_days(Days::new(days.into())), true));
    let weekly = retention.weekly().map(|w| {
        let expiry = rp_time.checked_add_days(Days::new(7 * u64::from(w.weeks())));
        (expiry, tagged && w.days().contains(&day.weekday()))
    });
    let monthly = retention.monthly().map(|m| {
        (
            rp_time.checked_add_months(Months::new(m.months())),
            tagged && falls_on(m.on(), day),
        )
    });
    let yearly = retention.yearly().map(|y| {
        let in_month = y
            .months_of_year()
            .iter()
            .any(|month| month.number_from_month() == day.month());
        let expiry = y
            .years()
            .checked_mul(12)
            .and_then(|months| rp_time.checked_add_months(Months::new(months)));
        (expiry, tagged && in_month && falls_on(y.on(), day))
    });
    [daily, weekly, monthly, yearly]
        .into_iter()
        .flatten()
        .collect()
}

/// Whether `day` is one of the days of its month that `on` names.
fn falls_on(on: &RetentionDays, day: NaiveDate) -> bool {
    match on {
        RetentionDays::DaysOfMonth(dates) => dates.iter().any(|date| match date {
            DayOfMonth::Date(date) => day.day() == *date,
            DayOfMonth::Last => is_last_of_month(day, 1),
        }),
        RetentionDays::WeekdaysOfWeeks { days, weeks } => {
            days.contains(&day.weekday())
                && weeks.iter().any(|week| match week {
                    WeekOfMonth::First => day.day() <= 7,
                    WeekOfMonth::Second => (8..=14).contains(&day.day()),
                    WeekOfMonth::Third => (15..=21).contains(&day.day()),
                    WeekOfMonth::Fourth => (22..=28).contains(&day.day()),
                    WeekOfMonth::Last => is_last_of_month(day, 7),
                })
        }
    }
}

/// Whether `day` is within the last `days` days of its month.
fn is_last_of_month(day: NaiveDate, days: u64) -> bool {
    day.checked_add_days(Days::new(days))
        .is_none_or(|later| later.month() != day.month())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A standard policy running daily at `at` ("HH:MM") in `zone`, keeping daily points
    /// 30 days plus the weekly, monthly and yearly rules in `rules`.
    fn daily(zone: &str, at: &str, rules: Value) -> IaasVmPolicy {
        let mut retention = json!({
            "retentionPolicyType": "LongTermRetentionPolicy",
            "dailySchedule": {"retentionDuration": {"count": 30, "durationType": "Days"}}
        });
        retention
            .as_object_mut()
            .unwrap()
            .extend(rules.as_object().unwrap().clone());
        IaasVmPolicy::from_properties(&json!({
            "backupManagementType": "AzureIaasVM",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicy",
                "scheduleRunFrequency": "Daily",
                "scheduleRunTimes": [format!("2020-04-28T{at}:00Z")]
            },
            "retentionPolicy": retention,
            "timeZone": zone
        }))
        .unwrap()
    }

    fn weekly_rule(days: &[&str], weeks: u32) -> Value {
        json!({"daysOfTheWeek": days, "retentionDuration": {"count": weeks, "durationType": "Weeks"}})
    }

    fn days_of_month(dates: &[i64], last: bool) -> Value {
        let mut days: Vec<Value> = dates.iter().map(|d| json!({"date": d})).collect();
        if last {
            days.push(json!({"date": 0, "isLast": true}));
        }
        json!({"retentionScheduleFormatType": "Daily", "retentionScheduleDaily": {"daysOfTheMonth": days}})
    }

    fn weekdays_of_weeks(days: &[&str], weeks: &[&str]) -> Value {
        json!({
            "retentionScheduleFormatType": "Weekly",
            "retentionScheduleWeekly": {"daysOfTheWeek": days, "weeksOfTheMonth": weeks}
        })
    }

    fn monthly_rule(on: Value, months: u32) -> Value {
        let mut rule = on;
        rule["retentionDuration"] = json!({"count": months, "durationType": "Months"});
        rule
    }

    fn yearly_rule(on: Value, months_of_year: &[&str], years: u32) -> Value {
        let mut rule = on;
        rule["monthsOfYear"] = json!(months_of_year);
        rule["retentionDuration"] = json!({"count": years, "durationType": "Years"});
        rule
    }

    /// The expiry of the point of a UTC policy scheduled and taken at `at`.
    fn kept_until(policy: &IaasVmPolicy, at: &str) -> DateTime<Utc> {
        scheduled_expiry(policy, utc(at), utc(at) + chrono::TimeDelta::minutes(20))
            .expires_at
            .unwrap()
            - chrono::TimeDelta::minutes(20)
    }

    #[test]
    fn daily_points_are_kept_their_days_and_snapshots_the_instant_days() {
        let policy = daily("UTC", "21:00", json!({}));
        let expiry = scheduled_expiry(
            &policy,
            utc("2026-01-10T21:00:00Z"),
            utc("2026-01-10T21:07:00Z"),
        );
        assert_eq!(
            expiry,
            RecoveryPointExpiry {
                expires_at: Some(utc("2026-02-09T21:07:00Z")),
                instant_expires_at: utc("2026-01-12T21:07:00Z"),
            },
            "30 days from the snapshot; instant points 2 days (the V1 default)"
        );
    }

    #[test]
    fn weekly_rule_keeps_points_of_its_days_longer() {
        let policy = daily(
            "UTC",
            "21:00",
            json!({"weeklySchedule": weekly_rule(&["Sunday", "Wednesday"], 12)}),
        );
        // 2026-01-11 is a Sunday, 2026-01-12 a Monday.
        assert_eq!(
            kept_until(&policy, "2026-01-11T21:00:00Z"),
            utc("2026-04-05T21:00:00Z")
        );
        assert_eq!(
            kept_until(&policy, "2026-01-12T21:00:00Z"),
            utc("2026-02-11T21:00:00Z")
        );
        assert_eq!(
            kept_until(&policy, "2026-01-14T21:00:00Z"),
            utc("2026-04-08T21:00:00Z")
        );
    }

    #[test]
    fn monthly_days_of_month_include_the_last_day_of_short_and_leap_februaries() {
        let policy = daily(
            "UTC",
            "21:00",
            json!({"monthlySchedule": monthly_rule(days_of_month(&[1, 15], true), 6)}),
        );
        let cases = [
            ("2026-01-01T21:00:00Z", "2026-07-01T21:00:00Z"),
            ("2026-01-15T21:00:00Z", "2026-07-15T21:00:00Z"),
            ("2026-01-16T21:00:00Z", "2026-02-15T21:00:00Z"), // daily only
            ("2026-02-28T21:00:00Z", "2026-08-28T21:00:00Z"), // last of a 28-day February
            ("2028-02-28T21:00:00Z", "2028-03-29T21:00:00Z"), // a leap year's 28th: daily
            ("2028-02-29T21:00:00Z", "2028-08-29T21:00:00Z"),
            ("2026-08-31T21:00:00Z", "2027-02-28T21:00:00Z"), // clamped to February's end
        ];
        for (at, until) in cases {
            assert_eq!(kept_until(&policy, at), utc(until), "{at}");
        }
    }

    #[test]
    fn monthly_weekdays_of_weeks_match_first_and_last_weekdays() {
        let policy = daily(
            "UTC",
            "21:00",
            json!({"monthlySchedule": monthly_rule(
                weekdays_of_weeks(&["Sunday", "Friday"], &["First", "Last"]), 3)}),
        );
        let cases = [
            ("2026-03-01T21:00:00Z", true),  // first Sunday of March
            ("2026-03-06T21:00:00Z", true),  // first Friday
            ("2026-03-08T21:00:00Z", false), // second Sunday
            ("2026-03-27T21:00:00Z", true),  // last Friday
            ("2026-03-29T21:00:00Z", true),  // last Sunday
            ("2026-03-20T21:00:00Z", false), // third Friday
            ("2026-03-02T21:00:00Z", false), // first Monday
            ("2026-02-27T21:00:00Z", true),  // fourth and last Friday of February
            ("2026-02-20T21:00:00Z", false),
        ];
        for (at, monthly) in cases {
            let expected = if monthly {
                utc(at) + Months::new(3)
            } else {
                utc(at) + Days::new(30)
            };
            assert_eq!(kept_until(&policy, at), expected, "{at}");
        }
        let fourth = daily(
            "UTC",
            "21:00",
            json!({"monthlySchedule": monthly_rule(weekdays_of_weeks(&["Sunday"], &["Fourth"]), 3)}),
        );
        assert_eq!(
            kept_until(&fourth, "2026-03-22T21:00:00Z"),
            utc("2026-06-22T21:00:00Z")
        );
        assert_eq!(
            kept_until(&fourth, "2026-03-29T21:00:00Z"),
            utc("2026-04-28T21:00:00Z"),
            "the fifth Sunday is the last, not the fourth"
        );
    }

    #[test]
    fn yearly_rule_keeps_its_days_in_its_months_only() {
        let first_sunday = weekdays_of_weeks(&["Sunday"], &["First"]);
        let policy = daily(
            "UTC",
            "21:00",
            json!({
                "monthlySchedule": monthly_rule(first_sunday.clone(), 12),
                "yearlySchedule": yearly_rule(first_sunday, &["January", "July"], 10)
            }),
        );
        // 2026-01-04, 2026-02-01 and 2026-07-05 are first Sundays.
        assert_eq!(
            kept_until(&policy, "2026-01-04T21:00:00Z"),
            utc("2036-01-04T21:00:00Z")
        );
        assert_eq!(
            kept_until(&policy, "2026-07-05T21:00:00Z"),
            utc("2036-07-05T21:00:00Z")
        );
        assert_eq!(
            kept_until(&policy, "2026-02-01T21:00:00Z"),
            utc("2027-02-01T21:00:00Z")
        );
        assert_eq!(
            kept_until(&policy, "2026-01-11T21:00:00Z"),
            utc("2026-02-10T21:00:00Z")
        );

        let leap_day = daily(
            "UTC",
            "21:00",
            json!({"yearlySchedule": yearly_rule(days_of_month(&[], true), &["February"], 1)}),
        );
        assert_eq!(
            kept_until(&leap_day, "2028-02-29T21:00:00Z"),
            utc("2029-02-28T21:00:00Z"),
            "a year after 29 February is the end of the next February"
        );
    }

    #[test]
    fn the_longest_rule_a_point_falls_under_wins() {
        let policy = daily(
            "UTC",
            "21:00",
            json!({
                "weeklySchedule": weekly_rule(&["Sunday"], 520),
                "monthlySchedule": monthly_rule(days_of_month(&[1], false), 24),
                "yearlySchedule": yearly_rule(days_of_month(&[1], false), &["March"], 1)
            }),
        );
        // 2026-03-01 is a Sunday, the 1st, in March: 520 weeks beat 24 months and 1 year.
        assert_eq!(
            kept_until(&policy, "2026-03-01T21:00:00Z"),
            utc("2026-03-01T21:00:00Z") + Days::new(520 * 7)
        );
        // 2026-04-01 is a Wednesday: monthly.
        assert_eq!(
            kept_until(&policy, "2026-04-01T21:00:00Z"),
            utc("2028-04-01T21:00:00Z")
        );
    }

    #[test]
    fn days_are_tagged_by_the_scheduled_local_date_not_the_utc_one() {
        let policy = daily(
            "Pacific Standard Time",
            "23:30",
            json!({
                "weeklySchedule": weekly_rule(&["Sunday"], 12),
                "monthlySchedule": monthly_rule(days_of_month(&[], true), 6)
            }),
        );
        // Sunday 2026-01-11 23:30 PST is Monday in UTC.
        assert_eq!(
            kept_until(&policy, "2026-01-12T07:30:00Z"),
            utc("2026-04-06T07:30:00Z")
        );
        // 31 January 23:30 PST is 1 February in UTC.
        assert_eq!(
            kept_until(&policy, "2026-02-01T07:30:00Z"),
            utc("2026-08-01T07:30:00Z")
        );
        // Monday 30 March 23:30 PDT is 31 March in UTC, but not the last day of the month.
        assert_eq!(
            kept_until(&policy, "2026-03-31T06:30:00Z"),
            utc("2026-04-30T06:30:00Z")
        );

        // 29 March 2026 is the last Sunday of March and the day Europe springs forward: its
        // 02:30 run happens at 03:00 CEST and is still that Sunday's.
        let europe = daily(
            "W. Europe Standard Time",
            "02:30",
            json!({"monthlySchedule": monthly_rule(weekdays_of_weeks(&["Sunday"], &["Last"]), 6)}),
        );
        assert_eq!(
            kept_until(&europe, "2026-03-29T01:00:00Z"),
            utc("2026-09-29T01:00:00Z")
        );
    }

    #[test]
    fn hourly_points_all_keep_the_daily_rule_and_the_last_of_a_window_the_others() {
        let policy = IaasVmPolicy::from_properties(&json!({
            "backupManagementType": "AzureIaasVM",
            "policyType": "V2",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicyV2",
                "scheduleRunFrequency": "Hourly",
                "hourlySchedule": {
                    "interval": 6,
                    "scheduleWindowStartTime": "2024-01-01T22:00:00Z",
                    "scheduleWindowDuration": 24
                }
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionDuration": {"count": 30, "durationType": "Days"}},
                "weeklySchedule": weekly_rule(&["Sunday"], 12)
            },
            "instantRpRetentionRangeInDays": 10,
            "timeZone": "UTC"
        }))
        .unwrap();
        // The window opening Sunday 2026-03-01 22:00 runs until Monday 16:00.
        for at in [
            "2026-03-01T22:00:00Z",
            "2026-03-02T04:00:00Z",
            "2026-03-02T10:00:00Z",
        ] {
            assert_eq!(kept_until(&policy, at), utc(at) + Days::new(30), "{at}");
        }
        let last = "2026-03-02T16:00:00Z";
        assert_eq!(kept_until(&policy, last), utc(last) + Days::new(84));
        // Saturday's window ends on Sunday: its runs are Saturday's.
        let saturday_last = "2026-03-01T16:00:00Z";
        assert_eq!(
            kept_until(&policy, saturday_last),
            utc(saturday_last) + Days::new(30)
        );
        assert_eq!(
            scheduled_expiry(&policy, utc(last), utc(last)).instant_expires_at,
            utc(last) + Days::new(10)
        );
    }

    #[test]
    fn points_no_rule_keeps_are_kept_by_the_shortest_rule() {
        let policy = IaasVmPolicy::from_properties(&json!({
            "backupManagementType": "AzureIaasVM",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicy",
                "scheduleRunFrequency": "Weekly",
                "scheduleRunDays": ["Sunday", "Wednesday"],
                "scheduleRunTimes": ["2024-01-07T02:30:00Z"]
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "weeklySchedule": weekly_rule(&["Sunday"], 12),
                "monthlySchedule": monthly_rule(weekdays_of_weeks(&["Wednesday"], &["First"]), 60)
            },
            "timeZone": "UTC"
        }))
        .unwrap();
        assert_eq!(
            kept_until(&policy, "2026-03-04T02:30:00Z"),
            utc("2031-03-04T02:30:00Z"),
            "first Wednesday: monthly"
        );
        assert_eq!(
            kept_until(&policy, "2026-03-11T02:30:00Z"),
            utc("2026-06-03T02:30:00Z"),
            "second Wednesday: no rule, so the weekly rule's 12 weeks"
        );
        assert_eq!(
            scheduled_expiry(
                &policy,
                utc("2026-03-11T02:30:00Z"),
                utc("2026-03-11T02:30:00Z")
            )
            .instant_expires_at,
            utc("2026-03-16T02:30:00Z"),
            "weekly standard policies keep snapshots 5 days"
        );
    }

    #[test]
    fn points_at_the_end_of_simulated_time_keep_99_years() {
        let policy = daily(
            "UTC",
            "23:00",
            json!({"yearlySchedule": yearly_rule(days_of_month(&[], true), &["December"], 99)}),
        );
        let at = crate::clock::LATEST - chrono::TimeDelta::seconds(59 * 60 + 59);
        assert_eq!(at, utc("9899-12-31T23:00:00Z"));
        let expiry = scheduled_expiry(&policy, at, at);
        assert_eq!(expiry.expires_at, Some(utc("9998-12-31T23:00:00Z")));
        assert_eq!(expiry.instant_expires_at, utc("9900-01-02T23:00:00Z"));
    }

    /// Durations that run past the last instant chrono represents (year 262142) would panic
    /// with `+`: those rules keep the point forever, and its snapshot until that last instant.
    #[test]
    fn rules_running_past_the_last_representable_instant_never_expire() {
        let policy = daily(
            "UTC",
            "23:00",
            json!({
                "weeklySchedule": weekly_rule(&["Monday", "Tuesday", "Wednesday", "Thursday",
                    "Friday", "Saturday", "Sunday"], 9999),
                "monthlySchedule": monthly_rule(days_of_month(&[], true), 9999),
                "yearlySchedule": yearly_rule(days_of_month(&[], true), &["December"], 9999),
            }),
        );
        let last_day = DateTime::<Utc>::MAX_UTC.date_naive();
        let at = (last_day - Days::new(1))
            .and_hms_opt(23, 0, 0)
            .unwrap()
            .and_utc();
        let expiry = scheduled_expiry(&policy, at, at);
        assert_eq!(expiry.expires_at, None);
        assert_eq!(expiry.instant_expires_at, DateTime::<Utc>::MAX_UTC);
        assert_eq!(on_demand_expiry(&policy, at, None).expires_at, None);
        // Far from the limit, the longest rule still wins.
        let at = utc("2026-12-31T23:00:00Z");
        assert_eq!(
            scheduled_expiry(&policy, at, at).expires_at,
            at.checked_add_months(Months::new(12 * 9999))
        );
    }

    #[test]
    fn on_demand_points_keep_the_requested_expiry_or_30_days() {
        let policy = daily("UTC", "21:00", json!({}));
        let rp_time = utc("2026-05-05T10:15:00Z");
        assert_eq!(
            on_demand_expiry(&policy, rp_time, None),
            RecoveryPointExpiry {
                expires_at: Some(utc("2026-06-04T10:15:00Z")),
                instant_expires_at: utc("2026-05-07T10:15:00Z"),
            }
        );
        let requested = utc("2027-01-01T00:00:00Z");
        assert_eq!(
            on_demand_expiry(&policy, rp_time, Some(requested)).expires_at,
            Some(requested)
        );
    }
}
