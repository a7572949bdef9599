//! When a policy's backups are due.
//!
//! Run times are wall-clock times in the policy's time zone, so every run is first placed
//! on a local day and then resolved to one UTC instant. The rules for the two daylight
//! saving changes keep that exactly one run per scheduled local time and never skip a
//! day:
//! - a local time the clocks jump over (spring forward) runs at the first instant after
//!   the jump (02:30 on a US spring-forward day runs at 03:00 daylight time);
//! - a local time that occurs twice (fall back) runs once, at its first occurrence.
//!
//! Hourly windows may cross midnight; a run belongs to the day its window opened, which is
//! the day weekly and calendar rules look at ([`run_day`]).
//!
//! Date arithmetic is checked: runs that would fall outside the instants chrono represents
//! are skipped, and look-backs stop at its first date.

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc,
};
use chrono_tz::Tz;

use crate::resources::policy::{Frequency, IaasVmPolicy, Schedule};

/// Days before the local date of an instant whose runs may still fall after it: a window
/// opened the day before can run past midnight, and one more day covers runs that a
/// daylight-saving jump pushed later.
const LOOKBACK_DAYS: u64 = 2;

/// Days to look ahead for a run: a weekly schedule may wait six days for its next run day,
/// plus the look-back and a day of slack for runs pushed by a daylight-saving jump.
const LOOKAHEAD_DAYS: u64 = 7 + LOOKBACK_DAYS + 1;

/// The first run of the policy strictly after `after` (UTC), or None if the policy never runs.
pub fn next_run_after(policy: &IaasVmPolicy, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz = policy.time_zone();
    let first_day = look_back_from(local_date(tz, after));
    first_day
        .iter_days()
        .take(LOOKAHEAD_DAYS as usize + 1)
        .flat_map(|day| runs_on(policy.schedule(), tz, day))
        .find(|run| *run > after)
}

/// Every run in (from, to], ascending.
pub fn runs_between(
    policy: &IaasVmPolicy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let tz = policy.time_zone();
    let first_day = look_back_from(local_date(tz, from));
    let last_day = local_date(tz, to);
    first_day
        .iter_days()
        .take_while(|day| *day <= last_day)
        .flat_map(|day| runs_on(policy.schedule(), tz, day))
        .filter(|run| *run > from && *run <= to)
        .collect()
}

/// The local day the run at `run` belongs to: its local date, or the day before for an
/// hourly run past midnight in a window opened the evening before.
pub fn run_day(policy: &IaasVmPolicy, run: DateTime<Utc>) -> NaiveDate {
    let local = wall_clock(policy.time_zone(), run);
    // Runs of a day are at or after its first run time, except those of a window that
    // wrapped past midnight, which are all earlier than its start.
    if local.time() < first_run_time(policy.schedule()) {
        local.date().pred_opt().unwrap_or(local.date())
    } else {
        local.date()
    }
}

/// The first local day whose runs may fall after an instant of local day `day`.
fn look_back_from(day: NaiveDate) -> NaiveDate {
    day.checked_sub_days(Days::new(LOOKBACK_DAYS))
        .unwrap_or(NaiveDate::MIN)
}

/// The runs of local day `day` (for hourly schedules, of the window opening that day), ascending.
fn runs_on(schedule: &Schedule, tz: Tz, day: NaiveDate) -> impl Iterator<Item = DateTime<Utc>> {
    let (every_hours, count) = match schedule.frequency() {
        Frequency::Daily { .. } => (0, 1),
        Frequency::Weekly { days, .. } => (0, u32::from(days.contains(&day.weekday()))),
        Frequency::Hourly(window) => (
            window.interval_hours(),
            window.duration_hours() / window.interval_hours(),
        ),
    };
    let first = day.and_time(first_run_time(schedule));
    (0..count).filter_map(move |k| {
        let local = first.checked_add_signed(TimeDelta::hours(i64::from(k * every_hours)))?;
        resolve(tz, local)
    })
}

fn first_run_time(schedule: &Schedule) -> NaiveTime {
    match schedule.frequency() {
        Frequency::Daily { at } | Frequency::Weekly { at, .. } => *at,
        Frequency::Hourly(window) => window.start(),
    }
}

fn local_date(tz: Tz, instant: DateTime<Utc>) -> NaiveDate {
    wall_clock(tz, instant).date()
}

/// What the wall clock in `tz` reads at `instant`, clamped to the times chrono represents
/// (within a day of its ends, a local time can fall outside them).
fn wall_clock(tz: Tz, instant: DateTime<Utc>) -> NaiveDateTime {
    let utc = instant.naive_utc();
    let offset = tz.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset)
        .unwrap_or(if offset.local_minus_utc() > 0 {
            NaiveDateTime::MAX
        } else {
            NaiveDateTime::MIN
        })
}

/// The instant a backup scheduled for the wall-clock time `local` runs; `None` when it is
/// not a representable instant.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(instant) => Some(instant.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => end_of_gap(tz, local),
    }
}

/// The first instant whose wall clock reads later than `local`, a time the clocks jumped
/// over: the moment of the jump. Found by bisection over whole seconds, since the jump can
/// be at any offset from `local` and zones' jumps are of any length.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    // Past the ends of chrono's range (only within a day of them), the wall clock reads
    // as at the end it passed.
    let wall_clock = |seconds: i64| match DateTime::from_timestamp(seconds, 0) {
        Some(instant) => wall_clock(tz, instant),
        None if seconds > 0 => NaiveDateTime::MAX,
        None => NaiveDateTime::MIN,
    };
    // UTC offsets lie within -12 h..+14 h, so the wall clock reads earlier than `local`
    // 15 hours before `local` read as UTC, and later 13 hours after it.
    let as_utc = local.and_utc().timestamp();
    let (mut before, mut after) = (as_utc - 15 * 3600, as_utc + 13 * 3600);
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        if wall_clock(middle) > local {
            after = middle;
        } else {
            before = middle;
        }
    }
    DateTime::from_timestamp(after, 0)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Weekday};
    use serde_json::{json, Value};

    use super::*;

    fn policy(properties: Value) -> IaasVmPolicy {
        IaasVmPolicy::from_properties(&properties).unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// A standard daily policy running at `at` ("HH:MM") in the Windows zone `zone`.
    fn daily(zone: &str, at: &str) -> IaasVmPolicy {
        policy(json!({
            "backupManagementType": "AzureIaasVM",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicy",
                "scheduleRunFrequency": "Daily",
                "scheduleRunTimes": [format!("2020-04-28T{at}:00Z")]
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionDuration": {"count": 30, "durationType": "Days"}}
            },
            "timeZone": zone
        }))
    }

    fn weekly(zone: &str, days: &[&str], at: &str) -> IaasVmPolicy {
        policy(json!({
            "backupManagementType": "AzureIaasVM",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicy",
                "scheduleRunFrequency": "Weekly",
                "scheduleRunDays": days,
                "scheduleRunTimes": [format!("2020-04-28T{at}:00Z")]
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "weeklySchedule": {
                    "daysOfTheWeek": days,
                    "retentionDuration": {"count": 12, "durationType": "Weeks"}
                }
            },
            "timeZone": zone
        }))
    }

    /// An enhanced policy running every `interval` hours from `start` for `hours` hours.
    fn hourly(zone: &str, interval: u32, start: &str, hours: u32) -> IaasVmPolicy {
        policy(json!({
            "backupManagementType": "AzureIaasVM",
            "policyType": "V2",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicyV2",
                "scheduleRunFrequency": "Hourly",
                "hourlySchedule": {
                    "interval": interval,
                    "scheduleWindowStartTime": format!("2024-01-01T{start}:00Z"),
                    "scheduleWindowDuration": hours
                }
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionDuration": {"count": 30, "durationType": "Days"}}
            },
            "timeZone": zone
        }))
    }

    /// Near the last instant chrono represents (year 262142), runs that would fall past it
    /// are skipped rather than computed with a panicking `+`.
    #[test]
    fn runs_past_the_last_representable_instant_are_skipped() {
        let last = DateTime::<Utc>::MAX_UTC;
        let near = last - TimeDelta::days(3);
        for policy in [
            daily("UTC", "23:30"),
            daily("Tokyo Standard Time", "23:30"),
            daily("Pacific Standard Time", "23:30"),
            hourly("UTC", 4, "20:00", 12),
            hourly("Tokyo Standard Time", 4, "20:00", 12),
            hourly("Pacific Standard Time", 4, "20:00", 12),
        ] {
            let runs = runs_between(&policy, near, last);
            assert!(!runs.is_empty());
            assert!(runs.iter().all(|run| *run > near && *run <= last));
            let mut after = near;
            while let Some(next) = next_run_after(&policy, after) {
                assert!(next > after);
                after = next;
            }
            // chrono's day iterator stops before its last date: runs end a day earlier.
            assert!(last - after < TimeDelta::days(2), "{after}");
            for run in runs {
                run_day(&policy, run);
            }
        }
        // The first day: the look-back stops at the first representable date.
        let first = DateTime::<Utc>::MIN_UTC;
        let policy = hourly("UTC", 4, "20:00", 12);
        assert_eq!(run_day(&policy, first), first.date_naive());
        assert!(next_run_after(&policy, first).is_some());
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utcs(texts: &[&str]) -> Vec<DateTime<Utc>> {
        texts.iter().map(|t| utc(t)).collect()
    }

    /// The instant local midnight starts `date` in `policy`'s zone.
    fn local_midnight(policy: &IaasVmPolicy, date: &str) -> DateTime<Utc> {
        let date: NaiveDate = date.parse().unwrap();
        resolve(policy.time_zone(), date.and_time(NaiveTime::MIN)).unwrap()
    }

    /// The runs of `days` local days from `date`: from its local midnight (included) to the
    /// local midnight after the last (excluded).
    fn runs_for_days(policy: &IaasVmPolicy, date: &str, days: u64) -> Vec<DateTime<Utc>> {
        let second = TimeDelta::seconds(1);
        let from = local_midnight(policy, date) - second;
        let start: NaiveDate = date.parse().unwrap();
        let to = local_midnight(policy, &(start + Days::new(days)).to_string()) - second;
        runs_between(policy, from, to)
    }

    /// Walks `next_run_after` from `from` and checks it agrees with `runs_between`.
    #[track_caller]
    fn assert_next_agrees_with_between(policy: &IaasVmPolicy, from: DateTime<Utc>, days: i64) {
        let to = from + TimeDelta::days(days);
        let mut walked = Vec::new();
        let mut at = from;
        while let Some(next) = next_run_after(policy, at).filter(|next| *next <= to) {
            walked.push(next);
            at = next;
        }
        assert_eq!(walked, runs_between(policy, from, to));
    }

    #[test]
    fn daily_utc_runs_once_a_day_at_its_time() {
        let policy = daily("UTC", "21:00");
        assert_eq!(
            next_run_after(&policy, utc("2026-01-10T12:00:00Z")),
            Some(utc("2026-01-10T21:00:00Z"))
        );
        assert_eq!(
            next_run_after(&policy, utc("2026-01-10T21:30:00Z")),
            Some(utc("2026-01-11T21:00:00Z"))
        );
    }

    #[test]
    fn a_run_exactly_at_after_is_not_the_next_one() {
        let policy = daily("UTC", "21:00");
        assert_eq!(
            next_run_after(&policy, utc("2026-01-10T21:00:00Z")),
            Some(utc("2026-01-11T21:00:00Z"))
        );
        let just_before = utc("2026-01-10T21:00:00Z") - TimeDelta::nanoseconds(1);
        assert_eq!(
            next_run_after(&policy, just_before),
            Some(utc("2026-01-10T21:00:00Z"))
        );
        assert_eq!(
            runs_between(
                &policy,
                utc("2026-01-10T21:00:00Z"),
                utc("2026-01-11T21:00:00Z")
            ),
            utcs(&["2026-01-11T21:00:00Z"]),
            "(from, to]"
        );
        assert!(runs_between(
            &policy,
            utc("2026-01-11T00:00:00Z"),
            utc("2026-01-10T00:00:00Z")
        )
        .is_empty());
    }

    #[test]
    fn india_runs_at_its_half_hour_offset() {
        let policy = daily("India Standard Time", "23:30");
        assert_eq!(
            runs_for_days(&policy, "2026-03-01", 2),
            utcs(&["2026-03-01T18:00:00Z", "2026-03-02T18:00:00Z"])
        );
    }

    #[test]
    fn pacific_spring_forward_runs_a_skipped_time_when_the_clock_jumps() {
        let policy = daily("Pacific Standard Time", "02:30");
        assert_eq!(
            runs_for_days(&policy, "2026-03-07", 3),
            utcs(&[
                "2026-03-07T10:30:00Z", // 02:30 PST
                "2026-03-08T10:00:00Z", // 02:30 does not exist: 03:00 PDT
                "2026-03-09T09:30:00Z", // 02:30 PDT
            ])
        );
    }

    #[test]
    fn pacific_fall_back_runs_a_repeated_time_once_at_its_first_occurrence() {
        let policy = daily("Pacific Standard Time", "01:30");
        assert_eq!(
            runs_for_days(&policy, "2026-10-31", 3),
            utcs(&[
                "2026-10-31T08:30:00Z", // 01:30 PDT
                "2026-11-01T08:30:00Z", // first 01:30 (PDT), not the second (09:30Z)
                "2026-11-02T09:30:00Z", // 01:30 PST
            ])
        );
        assert_eq!(
            next_run_after(&policy, utc("2026-11-01T08:30:00Z")),
            Some(utc("2026-11-02T09:30:00Z"))
        );
    }

    #[test]
    fn west_europe_follows_both_changes() {
        let policy = daily("W. Europe Standard Time", "02:30");
        assert_eq!(
            runs_for_days(&policy, "2026-03-28", 3),
            utcs(&[
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z", // 03:00 CEST
                "2026-03-30T00:30:00Z",
            ])
        );
        assert_eq!(
            runs_for_days(&policy, "2026-10-24", 3),
            utcs(&[
                "2026-10-24T00:30:00Z",
                "2026-10-25T00:30:00Z", // the first 02:30 (CEST)
                "2026-10-26T01:30:00Z",
            ])
        );
    }

    #[test]
    fn australia_east_follows_both_changes_of_the_southern_year() {
        let policy = daily("AUS Eastern Standard Time", "02:30");
        assert_eq!(
            runs_for_days(&policy, "2026-04-04", 3),
            utcs(&[
                "2026-04-03T15:30:00Z", // 02:30 AEDT
                "2026-04-04T15:30:00Z", // the first 02:30 (AEDT), not 16:30Z
                "2026-04-05T16:30:00Z", // 02:30 AEST
            ])
        );
        assert_eq!(
            runs_for_days(&policy, "2026-10-03", 3),
            utcs(&[
                "2026-10-02T16:30:00Z", // 02:30 AEST
                "2026-10-03T16:00:00Z", // 02:30 does not exist: 03:00 AEDT
                "2026-10-04T15:30:00Z", // 02:30 AEDT
            ])
        );
    }

    #[test]
    fn a_month_has_one_daily_run_per_local_day_whatever_its_length() {
        let cases = [
            ("UTC", "2026-03-01", 31),
            ("Pacific Standard Time", "2026-03-01", 31),
            ("Pacific Standard Time", "2026-11-01", 30),
            ("W. Europe Standard Time", "2026-03-01", 31),
            ("W. Europe Standard Time", "2026-10-01", 31),
            ("India Standard Time", "2026-06-01", 30),
            ("AUS Eastern Standard Time", "2026-04-01", 30),
            ("AUS Eastern Standard Time", "2026-10-01", 31),
        ];
        for (zone, first, days) in cases {
            // 02:30 is skipped or repeated on change days in all these zones, 00:00 and
            // 23:30 bracket the day.
            for at in ["00:00", "01:30", "02:30", "23:30"] {
                let policy = daily(zone, at);
                let runs = runs_for_days(&policy, first, days);
                assert_eq!(runs.len(), days as usize, "{zone} {at} from {first}");
                let tz = policy.time_zone();
                let start: NaiveDate = first.parse().unwrap();
                for (i, run) in runs.iter().enumerate() {
                    assert_eq!(
                        local_date(tz, *run),
                        start + Days::new(i as u64),
                        "{zone} {at}"
                    );
                }
                assert_next_agrees_with_between(
                    &policy,
                    local_midnight(&policy, first),
                    days as i64,
                );
            }
        }
    }

    #[test]
    fn weekly_runs_on_its_local_days_only() {
        let policy = weekly("Pacific Standard Time", &["Sunday", "Wednesday"], "23:30");
        let runs = runs_for_days(&policy, "2026-01-01", 31);
        // January 2026: 4 Sundays (4, 11, 18, 25) and 4 Wednesdays (7, 14, 21, 28).
        assert_eq!(runs.len(), 8);
        for run in &runs {
            let local = run.with_timezone(&policy.time_zone());
            assert!(
                [Weekday::Sun, Weekday::Wed].contains(&local.weekday()),
                "{local}: 23:30 PST is already Monday or Thursday in UTC"
            );
        }
        assert_eq!(
            next_run_after(&policy, utc("2026-01-08T12:00:00Z")),
            Some(utc("2026-01-12T07:30:00Z")),
            "Thursday to Sunday 23:30 PST"
        );
        let once_a_week = weekly("UTC", &["Friday"], "04:00");
        assert_eq!(
            next_run_after(&once_a_week, utc("2026-01-09T04:00:00Z")),
            Some(utc("2026-01-16T04:00:00Z")),
            "a week after the last run"
        );
        assert_next_agrees_with_between(&policy, utc("2026-01-01T00:00:00Z"), 60);
    }

    #[test]
    fn hourly_runs_every_interval_within_the_window() {
        let cases: [(u32, &str, u32, &[&str]); 4] = [
            (4, "08:00", 12, &["08:00", "12:00", "16:00"]),
            (6, "00:00", 24, &["00:00", "06:00", "12:00", "18:00"]),
            (8, "09:30", 16, &["09:30", "17:30"]),
            (12, "06:00", 24, &["06:00", "18:00"]),
        ];
        for (interval, start, hours, expected) in cases {
            let policy = hourly("UTC", interval, start, hours);
            let expected: Vec<_> = expected
                .iter()
                .map(|t| utc(&format!("2026-02-10T{t}:00Z")))
                .collect();
            assert_eq!(
                runs_for_days(&policy, "2026-02-10", 1),
                expected,
                "every {interval} h from {start} for {hours} h"
            );
            assert_next_agrees_with_between(&policy, utc("2026-02-01T00:00:00Z"), 30);
        }
    }

    #[test]
    fn hourly_windows_crossing_midnight_belong_to_the_day_they_opened() {
        let policy = hourly("UTC", 6, "22:00", 24);
        assert_eq!(
            runs_between(
                &policy,
                utc("2026-02-10T00:00:00Z"),
                utc("2026-02-11T00:00:00Z")
            ),
            utcs(&[
                "2026-02-10T04:00:00Z", // window of 9 February
                "2026-02-10T10:00:00Z",
                "2026-02-10T16:00:00Z",
                "2026-02-10T22:00:00Z", // window of 10 February
            ])
        );
        let day = |text| run_day(&policy, utc(text)).to_string();
        assert_eq!(day("2026-02-10T04:00:00Z"), "2026-02-09");
        assert_eq!(day("2026-02-10T16:00:00Z"), "2026-02-09");
        assert_eq!(day("2026-02-10T22:00:00Z"), "2026-02-10");
    }

    #[test]
    fn hourly_windows_keep_wall_clock_times_across_daylight_saving_changes() {
        let crossing = hourly("W. Europe Standard Time", 6, "22:00", 24);
        assert_eq!(
            runs_between(
                &crossing,
                utc("2026-03-28T20:00:00Z"),
                utc("2026-03-29T19:59:00Z")
            ),
            utcs(&[
                "2026-03-28T21:00:00Z", // 22:00 CET
                "2026-03-29T02:00:00Z", // 04:00 CEST: the window lasts 23 hours of real time
                "2026-03-29T08:00:00Z",
                "2026-03-29T14:00:00Z",
            ])
        );
        let pacific = hourly("Pacific Standard Time", 4, "02:00", 12);
        assert_eq!(
            runs_for_days(&pacific, "2026-03-08", 1),
            utcs(&[
                "2026-03-08T10:00:00Z", // 02:00 does not exist: 03:00 PDT
                "2026-03-08T13:00:00Z", // 06:00 PDT
                "2026-03-08T17:00:00Z", // 10:00 PDT
            ])
        );
        let fall_back = hourly("Pacific Standard Time", 4, "01:00", 12);
        assert_eq!(
            runs_for_days(&fall_back, "2026-11-01", 1),
            utcs(&[
                "2026-11-01T08:00:00Z", // the first 01:00 (PDT)
                "2026-11-01T13:00:00Z", // 05:00 PST
                "2026-11-01T17:00:00Z", // 09:00 PST
            ])
        );
        for policy in [crossing, pacific, fall_back] {
            assert_next_agrees_with_between(&policy, utc("2026-03-01T00:00:00Z"), 275);
        }
    }
}
