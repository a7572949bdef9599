//! Validating a policy document as Azure Backup does, into an [`IaasVmPolicy`]. Every
//! refusal names the field (as a JSON path under `properties`) and the rule it breaks.
//!
//! The rules (Azure docs, the azurerm provider's checks, `spec/domain.md` §2.2-2.4):
//! - `backupManagementType` is `AzureIaasVM`; `schedulePolicyType` `SimpleSchedulePolicy`
//!   goes with `policyType` V1 and `SimpleSchedulePolicyV2` with V2 (an absent
//!   `policyType` follows the schedule);
//! - V1 runs Daily or Weekly; V2 also Hourly, with `interval` 4, 6, 8 or 12 and a window of
//!   4 to 24 hours that is a whole number of intervals;
//! - a Daily or Weekly schedule has exactly one run time; a Weekly one at least one day;
//!   run times (and the window start) fall on the hour or the half hour;
//! - daily retention keeps 7 to 9999 days, weekly/monthly/yearly 1 to 9999 of their unit,
//!   and `durationType` names that unit; retention times are the schedule's run times
//!   (filled in when left out); a Weekly schedule has no daily retention, needs a weekly
//!   one, keeps only days it runs on and no days of the month;
//! - `instantRpRetentionRangeInDays` is 1 to 5 for V1 (5 for weekly schedules, as Azure
//!   fixes it) and 1 to 30 for V2; defaults 2 (V1 daily), 5 (V1 weekly), 7 (V2);
//! - `timeZone` is a Windows time zone id (default `UTC`).

use std::collections::BTreeSet;

use chrono::{DateTime, Month, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};

use super::timezone;
use super::{
    CalendarRetentionDocument, DayOfMonth, DurationDocument, Frequency, HourlyWindow, IaasVmPolicy,
    MonthlyRetention, PolicyDocument, PolicyTimeZone, PolicyType, Retention, RetentionDays,
    Schedule, ScheduleDocument, WeekOfMonth, WeeklyRetention, YearlyRetention,
    BACKUP_MANAGEMENT_TYPE,
};

/// The code Azure Backup answers invalid policy input with.
pub const INVALID_POLICY_CODE: &str = "BMSUserErrorInvalidPolicyInput";

/// A policy document Azure would refuse; the message says which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPolicy(String);

impl InvalidPolicy {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

type Result<T> = std::result::Result<T, InvalidPolicy>;

fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(InvalidPolicy::new(message))
}

const DAILY_RETENTION_DAYS: std::ops::RangeInclusive<i64> = 7..=9999;
const RETENTION_COUNT: std::ops::RangeInclusive<i64> = 1..=9999;
const HOURLY_INTERVALS: [i64; 4] = [4, 6, 8, 12];
const WINDOW_HOURS: std::ops::RangeInclusive<i64> = 4..=24;

pub(super) fn policy(document: &PolicyDocument) -> Result<IaasVmPolicy> {
    match document.backup_management_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case(BACKUP_MANAGEMENT_TYPE) => {}
        Some(other) => {
            return fail(format!(
                "properties.backupManagementType '{other}' is not supported: this service keeps \
                 Azure VM policies only ('{BACKUP_MANAGEMENT_TYPE}')."
            ))
        }
        None => {
            return fail(format!(
            "properties.backupManagementType is required; it must be '{BACKUP_MANAGEMENT_TYPE}'."
        ))
        }
    }
    let schedule_doc = document
        .schedule_policy
        .as_ref()
        .ok_or_else(|| InvalidPolicy::new("properties.schedulePolicy is required."))?;
    let policy_type = policy_type(document, schedule_doc)?;
    let schedule = schedule(schedule_doc, policy_type)?;
    let retention = retention(document, &schedule)?;
    let instant_rp_retention_days = instant_rp_days(document, policy_type, &schedule)?;
    let time_zone = match document.time_zone.as_deref() {
        None => "UTC",
        Some(name) => name,
    };
    let (windows_id, tz) = timezone::lookup(time_zone).ok_or_else(|| {
        InvalidPolicy::new(format!(
            "properties.timeZone '{time_zone}' is not a Windows time zone id (for example \
             'UTC', 'Pacific Standard Time' or 'W. Europe Standard Time')."
        ))
    })?;
    if let Some(tiering) = &document.tiering_policy {
        if !tiering.is_object() {
            return fail("properties.tieringPolicy must be an object.");
        }
    }
    Ok(IaasVmPolicy {
        policy_type,
        schedule,
        retention,
        instant_rp_retention_days,
        time_zone: PolicyTimeZone { windows_id, tz },
        instant_rp_details: document.instant_rp_details.clone().unwrap_or_default(),
        tiering_policy: document.tiering_policy.clone(),
        snapshot_consistency_type: document.snapshot_consistency_type.clone(),
    })
}

/// `policyType` and `schedulePolicyType` must agree; the schedule decides when the
/// policy type is left out.
fn policy_type(document: &PolicyDocument, schedule: &ScheduleDocument) -> Result<PolicyType> {
    let from_schedule = match schedule.schedule_policy_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("SimpleSchedulePolicy") => PolicyType::V1,
        Some(t) if t.eq_ignore_ascii_case("SimpleSchedulePolicyV2") => PolicyType::V2,
        Some(other) => {
            return fail(format!(
                "properties.schedulePolicy.schedulePolicyType '{other}' is not valid for Azure VM \
                 policies: use 'SimpleSchedulePolicy' (policyType V1) or \
                 'SimpleSchedulePolicyV2' (policyType V2)."
            ))
        }
        None => {
            return fail(
                "properties.schedulePolicy.schedulePolicyType is required: \
                 'SimpleSchedulePolicy' or 'SimpleSchedulePolicyV2'.",
            )
        }
    };
    let declared = match document.policy_type.as_deref() {
        None => return Ok(from_schedule),
        Some(t) if t.eq_ignore_ascii_case("V1") => PolicyType::V1,
        Some(t) if t.eq_ignore_ascii_case("V2") => PolicyType::V2,
        Some(other) => {
            return fail(format!(
            "properties.policyType '{other}' is not valid: use 'V1' (standard) or 'V2' (enhanced)."
        ))
        }
    };
    if declared != from_schedule {
        return fail(format!(
            "properties.policyType '{}' does not match properties.schedulePolicy.schedulePolicyType \
             '{}': policyType V1 takes 'SimpleSchedulePolicy' and V2 takes 'SimpleSchedulePolicyV2'.",
            declared.as_str(),
            from_schedule.schedule_policy_type()
        ));
    }
    Ok(declared)
}

fn schedule(doc: &ScheduleDocument, policy_type: PolicyType) -> Result<Schedule> {
    const PATH: &str = "properties.schedulePolicy";
    let frequency = doc.schedule_run_frequency.as_deref().ok_or_else(|| {
        InvalidPolicy::new(format!(
            "{PATH}.scheduleRunFrequency is required: 'Daily', 'Weekly' or 'Hourly'."
        ))
    })?;
    let frequency = ["Daily", "Weekly", "Hourly"]
        .into_iter()
        .find(|f| f.eq_ignore_ascii_case(frequency))
        .ok_or_else(|| {
            InvalidPolicy::new(format!(
                "{PATH}.scheduleRunFrequency '{frequency}' is not valid: use 'Daily', 'Weekly' or 'Hourly'."
            ))
        })?;
    let (frequency, anchor_date) = match (policy_type, frequency) {
        (PolicyType::V1, "Daily") => {
            let (date, at) = single_run_time(
                doc.schedule_run_times.as_deref(),
                &format!("{PATH}.scheduleRunTimes"),
            )?;
            (Frequency::Daily { at }, date)
        }
        (PolicyType::V1, "Weekly") => {
            let days = run_days(
                doc.schedule_run_days.as_deref(),
                &format!("{PATH}.scheduleRunDays"),
            )?;
            let (date, at) = single_run_time(
                doc.schedule_run_times.as_deref(),
                &format!("{PATH}.scheduleRunTimes"),
            )?;
            (Frequency::Weekly { days, at }, date)
        }
        (PolicyType::V1, _) => {
            return fail(format!(
                "{PATH}.scheduleRunFrequency 'Hourly' needs an enhanced policy: \
                 schedulePolicyType 'SimpleSchedulePolicyV2' with policyType 'V2'."
            ))
        }
        (PolicyType::V2, "Daily") => {
            let daily = doc.daily_schedule.as_ref().ok_or_else(|| {
                InvalidPolicy::new(format!(
                    "{PATH}.dailySchedule is required for a Daily SimpleSchedulePolicyV2."
                ))
            })?;
            let (date, at) = single_run_time(
                daily.schedule_run_times.as_deref(),
                &format!("{PATH}.dailySchedule.scheduleRunTimes"),
            )?;
            (Frequency::Daily { at }, date)
        }
        (PolicyType::V2, "Weekly") => {
            let weekly = doc.weekly_schedule.as_ref().ok_or_else(|| {
                InvalidPolicy::new(format!(
                    "{PATH}.weeklySchedule is required for a Weekly SimpleSchedulePolicyV2."
                ))
            })?;
            let days = run_days(
                weekly.schedule_run_days.as_deref(),
                &format!("{PATH}.weeklySchedule.scheduleRunDays"),
            )?;
            let (date, at) = single_run_time(
                weekly.schedule_run_times.as_deref(),
                &format!("{PATH}.weeklySchedule.scheduleRunTimes"),
            )?;
            (Frequency::Weekly { days, at }, date)
        }
        (PolicyType::V2, _) => {
            let path = format!("{PATH}.hourlySchedule");
            let hourly = doc.hourly_schedule.as_ref().ok_or_else(|| {
                InvalidPolicy::new(format!(
                    "{path} is required for an Hourly SimpleSchedulePolicyV2."
                ))
            })?;
            let interval = hourly.interval.ok_or_else(|| {
                InvalidPolicy::new(format!("{path}.interval is required: 4, 6, 8 or 12 hours."))
            })?;
            if !HOURLY_INTERVALS.contains(&interval) {
                return fail(format!(
                    "{path}.interval {interval} is not valid: backups can run every 4, 6, 8 or 12 hours."
                ));
            }
            let start = hourly
                .schedule_window_start_time
                .as_deref()
                .ok_or_else(|| {
                    InvalidPolicy::new(format!("{path}.scheduleWindowStartTime is required."))
                })?;
            let (date, start) = run_time(start, &format!("{path}.scheduleWindowStartTime"))?;
            let duration = hourly.schedule_window_duration.ok_or_else(|| {
                InvalidPolicy::new(format!(
                    "{path}.scheduleWindowDuration is required: 4 to 24 hours."
                ))
            })?;
            if !WINDOW_HOURS.contains(&duration) {
                return fail(format!(
                    "{path}.scheduleWindowDuration {duration} is not valid: the backup window \
                     lasts 4 to 24 hours."
                ));
            }
            if duration % interval != 0 {
                return fail(format!(
                    "{path}.scheduleWindowDuration {duration} is not valid: the window must be a \
                     whole number of {interval}-hour intervals."
                ));
            }
            let window = HourlyWindow {
                interval_hours: to_u32(interval),
                start,
                duration_hours: to_u32(duration),
            };
            (Frequency::Hourly(window), date)
        }
    };
    Ok(Schedule {
        frequency,
        anchor_date,
    })
}

fn retention(document: &PolicyDocument, schedule: &Schedule) -> Result<Retention> {
    const PATH: &str = "properties.retentionPolicy";
    let doc = document
        .retention_policy
        .as_ref()
        .ok_or_else(|| InvalidPolicy::new(format!("{PATH} is required.")))?;
    match doc.retention_policy_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("LongTermRetentionPolicy") => {}
        Some(other) => {
            return fail(format!(
                "{PATH}.retentionPolicyType '{other}' is not valid for Azure VM policies: use \
                 'LongTermRetentionPolicy'."
            ))
        }
        None => {
            return fail(format!(
                "{PATH}.retentionPolicyType is required: 'LongTermRetentionPolicy'."
            ))
        }
    }
    let schedule_days = schedule.run_days();
    let times = schedule.retention_times();
    let weekly_schedule = schedule_days.is_some();

    let daily_days = match (&doc.daily_schedule, weekly_schedule) {
        (Some(_), true) => {
            return fail(format!(
                "{PATH}.dailySchedule is not allowed with a Weekly schedule: a weekly policy \
                 keeps weekly, monthly and yearly recovery points only."
            ))
        }
        (None, false) => {
            return fail(format!(
                "{PATH}.dailySchedule is required: a {} schedule keeps daily recovery points.",
                frequency_name(schedule)
            ))
        }
        (None, true) => None,
        (Some(daily), false) => {
            let path = format!("{PATH}.dailySchedule");
            retention_times(daily.retention_times.as_deref(), &times, &path)?;
            Some(duration(
                daily.retention_duration.as_ref(),
                "Days",
                DAILY_RETENTION_DAYS,
                &path,
            )?)
        }
    };

    let weekly = match &doc.weekly_schedule {
        None if weekly_schedule => {
            return fail(format!(
                "{PATH}.weeklySchedule is required: a Weekly schedule keeps weekly recovery points."
            ))
        }
        None => None,
        Some(weekly) => {
            let path = format!("{PATH}.weeklySchedule");
            let days = retention_days(
                weekly.days_of_the_week.as_deref(),
                schedule_days,
                &format!("{path}.daysOfTheWeek"),
            )?;
            retention_times(weekly.retention_times.as_deref(), &times, &path)?;
            let weeks = duration(
                weekly.retention_duration.as_ref(),
                "Weeks",
                RETENTION_COUNT,
                &path,
            )?;
            Some(WeeklyRetention { days, weeks })
        }
    };

    let monthly = match &doc.monthly_schedule {
        None => None,
        Some(monthly) => {
            let path = format!("{PATH}.monthlySchedule");
            let (on, months) = calendar(monthly, schedule_days, &times, "Months", &path)?;
            Some(MonthlyRetention { on, months })
        }
    };

    let yearly = match &doc.yearly_schedule {
        None => None,
        Some(yearly) => {
            let path = format!("{PATH}.yearlySchedule");
            let months_of_year = months_of_year(yearly.months_of_year.as_deref(), &path)?;
            let (on, years) = calendar(yearly, schedule_days, &times, "Years", &path)?;
            Some(YearlyRetention {
                months_of_year,
                on,
                years,
            })
        }
    };

    Ok(Retention {
        daily_days,
        weekly,
        monthly,
        yearly,
    })
}

/// A monthly or yearly rule: which days of the month, the retention times, the count.
fn calendar(
    doc: &CalendarRetentionDocument,
    schedule_days: Option<&[Weekday]>,
    times: &[NaiveTime],
    unit: &str,
    path: &str,
) -> Result<(RetentionDays, u32)> {
    let format = doc
        .retention_schedule_format_type
        .as_deref()
        .ok_or_else(|| {
            InvalidPolicy::new(format!(
                "{path}.retentionScheduleFormatType is required: 'Daily' or 'Weekly'."
            ))
        })?;
    let on = if format.eq_ignore_ascii_case("Daily") {
        if schedule_days.is_some() {
            return fail(format!(
                "{path}.retentionScheduleFormatType 'Daily' is not allowed with a Weekly \
                 schedule: keep weekdays of the month ('Weekly') instead."
            ));
        }
        let days = doc
            .retention_schedule_daily
            .as_ref()
            .and_then(|d| d.days_of_the_month.as_deref())
            .unwrap_or_default();
        let field = format!("{path}.retentionScheduleDaily.daysOfTheMonth");
        if days.is_empty() {
            return fail(format!(
                "{field} needs at least one day for the 'Daily' format."
            ));
        }
        let mut seen = Vec::with_capacity(days.len());
        for (i, day) in days.iter().enumerate() {
            let day = if day.is_last == Some(true) {
                DayOfMonth::Last
            } else {
                match day.date {
                    Some(date @ 1..=28) => DayOfMonth::Date(to_u32(date)),
                    Some(date) => {
                        return fail(format!(
                            "{field}[{i}].date {date} is not valid: use 1 to 28, or isLast true \
                             for the last day of the month."
                        ))
                    }
                    None => {
                        return fail(format!(
                            "{field}[{i}] needs a date (1 to 28) or isLast true."
                        ))
                    }
                }
            };
            if seen.contains(&day) {
                return fail(format!("{field}[{i}] repeats a day."));
            }
            seen.push(day);
        }
        RetentionDays::DaysOfMonth(seen)
    } else if format.eq_ignore_ascii_case("Weekly") {
        let weekly = doc.retention_schedule_weekly.as_ref();
        let field = format!("{path}.retentionScheduleWeekly");
        let days = retention_days(
            weekly.and_then(|w| w.days_of_the_week.as_deref()),
            schedule_days,
            &format!("{field}.daysOfTheWeek"),
        )?;
        let weeks = weeks_of_month(
            weekly.and_then(|w| w.weeks_of_the_month.as_deref()),
            &format!("{field}.weeksOfTheMonth"),
        )?;
        RetentionDays::WeekdaysOfWeeks { days, weeks }
    } else {
        return fail(format!(
            "{path}.retentionScheduleFormatType '{format}' is not valid: use 'Daily' or 'Weekly'."
        ));
    };
    retention_times(doc.retention_times.as_deref(), times, path)?;
    let count = duration(doc.retention_duration.as_ref(), unit, RETENTION_COUNT, path)?;
    Ok((on, count))
}

fn instant_rp_days(
    document: &PolicyDocument,
    policy_type: PolicyType,
    schedule: &Schedule,
) -> Result<u32> {
    const FIELD: &str = "properties.instantRpRetentionRangeInDays";
    let weekly = schedule.run_days().is_some();
    let days = match (document.instant_rp_retention_range_in_days, policy_type) {
        (Some(days), _) => days,
        (None, PolicyType::V1) if weekly => 5,
        (None, PolicyType::V1) => 2,
        (None, PolicyType::V2) => 7,
    };
    match policy_type {
        PolicyType::V1 if weekly && days != 5 => fail(format!(
            "{FIELD} {days} is not valid: standard policies with a Weekly schedule keep instant \
             recovery points for 5 days."
        )),
        PolicyType::V1 if !(1..=5).contains(&days) => fail(format!(
            "{FIELD} {days} is not valid: standard (V1) policies keep instant recovery points \
             1 to 5 days."
        )),
        PolicyType::V2 if !(1..=30).contains(&days) => fail(format!(
            "{FIELD} {days} is not valid: enhanced (V2) policies keep instant recovery points \
             1 to 30 days."
        )),
        _ => Ok(to_u32(days)),
    }
}

/// The one run time of a Daily or Weekly schedule.
fn single_run_time(times: Option<&[String]>, field: &str) -> Result<(NaiveDate, NaiveTime)> {
    match times.unwrap_or_default() {
        [time] => run_time(time, &format!("{field}[0]")),
        [] => fail(format!(
            "{field} is required: a Daily or Weekly schedule runs at one time of day."
        )),
        more => fail(format!(
            "{field} holds {} times: a Daily or Weekly schedule runs at exactly one time of day.",
            more.len()
        )),
    }
}

/// A run time: a date and time (`2020-04-28T21:00:00Z`; an offset is converted to UTC, a
/// time without one is taken as written) on the hour or the half hour.
fn run_time(text: &str, field: &str) -> Result<(NaiveDate, NaiveTime)> {
    let at = DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| {
            InvalidPolicy::new(format!(
                "{field} '{text}' is not a date and time such as '2024-01-01T21:00:00Z' (a time \
                 of day alone is not accepted)."
            ))
        })?;
    let time = at.time();
    if !(time.minute() == 0 || time.minute() == 30) || time.second() != 0 || time.nanosecond() != 0
    {
        return fail(format!(
            "{field} '{text}' is not valid: backups start on the hour or the half hour \
             (minutes 00 or 30, seconds 00)."
        ));
    }
    Ok((at.date(), time))
}

/// Retention times must be the schedule's run times; left out, they are.
fn retention_times(given: Option<&[String]>, schedule: &[NaiveTime], path: &str) -> Result<()> {
    let given = given.unwrap_or_default();
    if given.is_empty() {
        return Ok(());
    }
    let field = format!("{path}.retentionTimes");
    let mut times = BTreeSet::new();
    for (i, text) in given.iter().enumerate() {
        times.insert(run_time(text, &format!("{field}[{i}]"))?.1);
    }
    let expected: BTreeSet<NaiveTime> = schedule.iter().copied().collect();
    if times != expected {
        let list = |set: &BTreeSet<NaiveTime>| {
            set.iter()
                .map(|t| t.format("%H:%M").to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return fail(format!(
            "{field} ({}) must be the schedule's run time ({}).",
            list(&times),
            list(&expected)
        ));
    }
    Ok(())
}

fn duration(
    doc: Option<&DurationDocument>,
    unit: &str,
    range: std::ops::RangeInclusive<i64>,
    path: &str,
) -> Result<u32> {
    let field = format!("{path}.retentionDuration");
    let doc = doc.ok_or_else(|| {
        InvalidPolicy::new(format!(
            "{field} is required (count and durationType '{unit}')."
        ))
    })?;
    match doc.duration_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case(unit) => {}
        Some(other) => {
            return fail(format!(
                "{field}.durationType '{other}' is not valid here: this rule counts '{unit}'."
            ))
        }
        None => return fail(format!("{field}.durationType is required: '{unit}'.")),
    }
    let count = doc
        .count
        .ok_or_else(|| InvalidPolicy::new(format!("{field}.count is required.")))?;
    if !range.contains(&count) {
        return fail(format!(
            "{field}.count {count} is not valid: keep {} to {} {}.",
            range.start(),
            range.end(),
            unit.to_ascii_lowercase()
        ));
    }
    Ok(to_u32(count))
}

/// The days a weekly schedule runs on: at least one, no repeats.
fn run_days(days: Option<&[String]>, field: &str) -> Result<Vec<Weekday>> {
    let days = weekdays(days.unwrap_or_default(), field)?;
    if days.is_empty() {
        return fail(format!(
            "{field} needs at least one day for a Weekly schedule."
        ));
    }
    Ok(days)
}

/// The weekdays a retention rule keeps: at least one; with a weekly schedule, only days it
/// runs on.
fn retention_days(
    days: Option<&[String]>,
    schedule_days: Option<&[Weekday]>,
    field: &str,
) -> Result<Vec<Weekday>> {
    let days = weekdays(days.unwrap_or_default(), field)?;
    if days.is_empty() {
        return fail(format!("{field} needs at least one day."));
    }
    if let Some(schedule_days) = schedule_days {
        if let Some(day) = days.iter().find(|d| !schedule_days.contains(d)) {
            return fail(format!(
                "{field} includes {}, a day the Weekly schedule does not run on \
                 (properties.schedulePolicy run days: {}).",
                super::day_name(*day),
                schedule_days
                    .iter()
                    .map(|d| super::day_name(*d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(days)
}

fn weekdays(names: &[String], field: &str) -> Result<Vec<Weekday>> {
    let mut days = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let day = [
            Weekday::Sun,
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
        ]
        .into_iter()
        .find(|d| super::day_name(*d).eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            InvalidPolicy::new(format!(
                "{field}[{i}] '{name}' is not a day of the week (Sunday to Saturday)."
            ))
        })?;
        if days.contains(&day) {
            return fail(format!("{field}[{i}] repeats {}.", super::day_name(day)));
        }
        days.push(day);
    }
    Ok(days)
}

fn weeks_of_month(names: Option<&[String]>, field: &str) -> Result<Vec<WeekOfMonth>> {
    let names = names.unwrap_or_default();
    if names.is_empty() {
        return fail(format!(
            "{field} needs at least one week (First, Second, Third, Fourth or Last)."
        ));
    }
    let mut weeks = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let week = name.parse::<WeekOfMonth>().map_err(|_| {
            InvalidPolicy::new(format!(
                "{field}[{i}] '{name}' is not valid: use First, Second, Third, Fourth or Last."
            ))
        })?;
        if weeks.contains(&week) {
            return fail(format!("{field}[{i}] repeats {}.", week.as_str()));
        }
        weeks.push(week);
    }
    Ok(weeks)
}

fn months_of_year(names: Option<&[String]>, path: &str) -> Result<Vec<Month>> {
    let field = format!("{path}.monthsOfYear");
    let names = names.unwrap_or_default();
    if names.is_empty() {
        return fail(format!("{field} needs at least one month."));
    }
    let mut months = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let month = (1u8..=12)
            .filter_map(|n| Month::try_from(n).ok())
            .find(|m| m.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                InvalidPolicy::new(format!(
                    "{field}[{i}] '{name}' is not a month (January to December)."
                ))
            })?;
        if months.contains(&month) {
            return fail(format!("{field}[{i}] repeats {}.", month.name()));
        }
        months.push(month);
    }
    Ok(months)
}

fn frequency_name(schedule: &Schedule) -> &'static str {
    match schedule.frequency {
        Frequency::Daily { .. } => "Daily",
        Frequency::Weekly { .. } => "Weekly",
        Frequency::Hourly(_) => "Hourly",
    }
}

/// Values already range-checked to small positive numbers.
fn to_u32(value: i64) -> u32 {
    u32::try_from(value).expect("range-checked")
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::resources::policy::{DayOfMonth, RetentionDays};

    fn parse(properties: Value) -> std::result::Result<IaasVmPolicy, String> {
        let document: PolicyDocument = serde_json::from_value(properties).unwrap();
        IaasVmPolicy::from_document(&document).map_err(|e| e.message().to_owned())
    }

    /// Asserts that `properties` is refused with a message naming `field` and `why`.
    #[track_caller]
    fn refused(properties: Value, field: &str, why: &str) {
        let message = parse(properties).expect_err("refused");
        assert!(
            message.contains(field) && message.contains(why),
            "expected '{field}' and '{why}' in: {message}"
        );
    }

    /// A V1 daily policy as `az backup policy set` sends it (recording R2020).
    fn v1_daily() -> Value {
        json!({
            "protectedItemsCount": 0,
            "backupManagementType": "AzureIaasVM",
            "instantRPDetails": {},
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicy",
                "scheduleRunFrequency": "Daily",
                "scheduleRunTimes": ["2020-04-28T21:00:00.000Z"],
                "scheduleWeeklyFrequency": 0
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {
                    "retentionTimes": ["2020-04-28T21:00:00.000Z"],
                    "retentionDuration": {"count": 30, "durationType": "Days"}
                }
            },
            "instantRpRetentionRangeInDays": 2,
            "timeZone": "UTC"
        })
    }

    fn v1_weekly() -> Value {
        json!({
            "backupManagementType": "AzureIaasVM",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicy",
                "scheduleRunFrequency": "Weekly",
                "scheduleRunDays": ["Sunday", "Wednesday"],
                "scheduleRunTimes": ["2024-01-07T02:30:00Z"]
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "weeklySchedule": {
                    "daysOfTheWeek": ["Sunday"],
                    "retentionTimes": ["2024-01-07T02:30:00Z"],
                    "retentionDuration": {"count": 12, "durationType": "Weeks"}
                },
                "monthlySchedule": {
                    "retentionScheduleFormatType": "Weekly",
                    "retentionScheduleWeekly": {
                        "daysOfTheWeek": ["Wednesday"],
                        "weeksOfTheMonth": ["First", "Last"]
                    },
                    "retentionTimes": ["2024-01-07T02:30:00Z"],
                    "retentionDuration": {"count": 60, "durationType": "Months"}
                },
                "yearlySchedule": {
                    "retentionScheduleFormatType": "Weekly",
                    "monthsOfYear": ["January", "July"],
                    "retentionScheduleWeekly": {
                        "daysOfTheWeek": ["Sunday"],
                        "weeksOfTheMonth": ["First"]
                    },
                    "retentionTimes": ["2024-01-07T02:30:00Z"],
                    "retentionDuration": {"count": 10, "durationType": "Years"}
                }
            },
            "timeZone": "Pacific Standard Time"
        })
    }

    fn v2_hourly() -> Value {
        json!({
            "backupManagementType": "AzureIaasVM",
            "policyType": "V2",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicyV2",
                "scheduleRunFrequency": "Hourly",
                "hourlySchedule": {
                    "interval": 4,
                    "scheduleWindowStartTime": "2024-01-01T08:00:00Z",
                    "scheduleWindowDuration": 12
                },
                "dailySchedule": null,
                "weeklySchedule": null
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {
                    "retentionTimes": ["2024-01-01T08:00:00Z"],
                    "retentionDuration": {"count": 30, "durationType": "Days"}
                },
                "monthlySchedule": {
                    "retentionScheduleFormatType": "Daily",
                    "retentionScheduleDaily": {
                        "daysOfTheMonth": [{"date": 1, "isLast": false}, {"date": 0, "isLast": true}]
                    },
                    "retentionDuration": {"count": 12, "durationType": "Months"}
                }
            },
            "instantRpRetentionRangeInDays": 7,
            "timeZone": "W. Europe Standard Time"
        })
    }

    fn v2_daily() -> Value {
        json!({
            "backupManagementType": "AzureIaasVM",
            "policyType": "V2",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicyV2",
                "scheduleRunFrequency": "Daily",
                "dailySchedule": {"scheduleRunTimes": ["2024-01-01T23:30:00Z"]}
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {
                    "retentionDuration": {"count": 7, "durationType": "Days"}
                }
            },
            "timeZone": "India Standard Time"
        })
    }

    fn v2_weekly() -> Value {
        json!({
            "backupManagementType": "AzureIaasVM",
            "policyType": "V2",
            "schedulePolicy": {
                "schedulePolicyType": "SimpleSchedulePolicyV2",
                "scheduleRunFrequency": "Weekly",
                "weeklySchedule": {
                    "scheduleRunDays": ["Saturday"],
                    "scheduleRunTimes": ["2024-01-06T04:00:00Z"]
                }
            },
            "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy",
                "weeklySchedule": {
                    "daysOfTheWeek": ["Saturday"],
                    "retentionDuration": {"count": 4, "durationType": "Weeks"}
                }
            },
            "instantRpRetentionRangeInDays": 5,
            "timeZone": "UTC"
        })
    }

    /// `value` with the JSON pointer `path` set to `new` (`Value::Null` removes it).
    fn with(mut value: Value, path: &str, new: Value) -> Value {
        let (parent, last) = path.rsplit_once('/').unwrap();
        let object = value.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        if new.is_null() {
            object.remove(last);
        } else {
            object.insert(last.to_owned(), new);
        }
        value
    }

    #[test]
    fn every_schedule_kind_is_accepted_and_round_trips() {
        for sample in [
            v1_daily(),
            v1_weekly(),
            v2_hourly(),
            v2_daily(),
            v2_weekly(),
        ] {
            let policy = parse(sample.clone()).unwrap_or_else(|e| panic!("{e}: {sample}"));
            let again = IaasVmPolicy::from_properties(&policy.to_properties()).unwrap();
            assert_eq!(again, policy, "{sample}");
        }
    }

    #[test]
    fn v1_daily_is_normalized_as_azure_returns_it() {
        let policy = parse(v1_daily()).unwrap();
        assert_eq!(policy.policy_type(), PolicyType::V1);
        assert_eq!(
            policy.to_properties(),
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
    fn the_domain_type_exposes_what_the_scheduler_needs() {
        let weekly = parse(v1_weekly()).unwrap();
        let time = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(weekly.schedule().run_times(), [time(2, 30)]);
        assert_eq!(
            weekly.schedule().run_days(),
            Some(&[Weekday::Sun, Weekday::Wed][..])
        );
        assert_eq!(weekly.time_zone(), chrono_tz::America::Los_Angeles);
        assert_eq!(weekly.time_zone_name(), "Pacific Standard Time");
        assert_eq!(weekly.instant_rp_retention_days(), 5, "weekly V1 default");
        let retention = weekly.retention();
        assert_eq!(retention.daily_days(), None);
        assert_eq!(retention.weekly().unwrap().weeks(), 12);
        assert_eq!(retention.weekly().unwrap().days(), [Weekday::Sun]);
        assert_eq!(retention.monthly().unwrap().months(), 60);
        assert_eq!(
            retention.yearly().unwrap().months_of_year(),
            [Month::January, Month::July]
        );
        assert_eq!(retention.yearly().unwrap().years(), 10);

        let hourly = parse(v2_hourly()).unwrap();
        assert_eq!(
            hourly.schedule().run_times(),
            [time(8, 0), time(12, 0), time(16, 0)]
        );
        assert_eq!(hourly.schedule().run_days(), None);
        let Frequency::Hourly(window) = hourly.schedule().frequency() else {
            panic!("hourly")
        };
        assert_eq!(
            (
                window.interval_hours(),
                window.start(),
                window.duration_hours()
            ),
            (4, time(8, 0), 12)
        );
        assert_eq!(
            hourly.retention().monthly().unwrap().on(),
            &RetentionDays::DaysOfMonth(vec![DayOfMonth::Date(1), DayOfMonth::Last])
        );
        assert_eq!(hourly.time_zone(), chrono_tz::Europe::Berlin);
    }

    #[test]
    fn hourly_windows_wrap_past_midnight() {
        let window = json!({
            "interval": 6,
            "scheduleWindowStartTime": "2024-01-01T22:00:00Z",
            "scheduleWindowDuration": 24
        });
        // The daily rule's retention times (08:00) no longer match the window start...
        refused(
            with(
                v2_hourly(),
                "/schedulePolicy/hourlySchedule",
                window.clone(),
            ),
            "dailySchedule.retentionTimes",
            "22:00",
        );
        let moved = with(
            with(v2_hourly(), "/schedulePolicy/hourlySchedule", window),
            // ...left out, they follow it.
            "/retentionPolicy/dailySchedule/retentionTimes",
            Value::Null,
        );
        let times: Vec<String> = parse(moved)
            .unwrap()
            .schedule()
            .run_times()
            .iter()
            .map(|t| t.format("%H:%M").to_string())
            .collect();
        assert_eq!(times, ["22:00", "04:00", "10:00", "16:00"]);
    }

    #[test]
    fn only_azure_vm_policies_are_accepted() {
        refused(
            with(v1_daily(), "/backupManagementType", json!("AzureStorage")),
            "backupManagementType",
            "AzureIaasVM",
        );
        refused(
            with(v1_daily(), "/backupManagementType", Value::Null),
            "backupManagementType",
            "required",
        );
        assert!(parse(with(
            v1_daily(),
            "/backupManagementType",
            json!("azureiaasvm")
        ))
        .is_ok());
    }

    #[test]
    fn schedule_and_retention_types_are_required_and_known() {
        refused(
            with(v1_daily(), "/schedulePolicy", Value::Null),
            "properties.schedulePolicy",
            "required",
        );
        refused(
            with(
                v1_daily(),
                "/schedulePolicy/schedulePolicyType",
                Value::Null,
            ),
            "schedulePolicyType",
            "required",
        );
        refused(
            with(
                v1_daily(),
                "/schedulePolicy/schedulePolicyType",
                json!("LogSchedulePolicy"),
            ),
            "schedulePolicyType",
            "LogSchedulePolicy",
        );
        refused(
            with(v1_daily(), "/retentionPolicy", Value::Null),
            "properties.retentionPolicy",
            "required",
        );
        refused(
            with(
                v1_daily(),
                "/retentionPolicy/retentionPolicyType",
                json!("SimpleRetentionPolicy"),
            ),
            "retentionPolicyType",
            "LongTermRetentionPolicy",
        );
        refused(
            with(
                v1_daily(),
                "/schedulePolicy/scheduleRunFrequency",
                json!("Monthly"),
            ),
            "scheduleRunFrequency",
            "Monthly",
        );
    }

    #[test]
    fn policy_type_must_match_the_schedule_type() {
        refused(
            with(v1_daily(), "/policyType", json!("V2")),
            "policyType",
            "SimpleSchedulePolicyV2",
        );
        refused(
            with(v2_hourly(), "/policyType", json!("V1")),
            "policyType",
            "does not match",
        );
        refused(
            with(v1_daily(), "/policyType", json!("V3")),
            "policyType",
            "V3",
        );
        // Left out, it follows the schedule.
        let derived = parse(with(v2_daily(), "/policyType", Value::Null)).unwrap();
        assert_eq!(derived.policy_type(), PolicyType::V2);
    }

    #[test]
    fn hourly_schedules_need_an_enhanced_policy() {
        let mut hourly_v1 = v2_hourly();
        hourly_v1["policyType"] = json!("V1");
        hourly_v1["schedulePolicy"]["schedulePolicyType"] = json!("SimpleSchedulePolicy");
        refused(hourly_v1, "scheduleRunFrequency", "SimpleSchedulePolicyV2");
        refused(
            with(v2_hourly(), "/schedulePolicy/hourlySchedule", Value::Null),
            "hourlySchedule",
            "required",
        );
        refused(
            with(v2_daily(), "/schedulePolicy/dailySchedule", Value::Null),
            "dailySchedule",
            "required",
        );
        refused(
            with(v2_weekly(), "/schedulePolicy/weeklySchedule", Value::Null),
            "weeklySchedule",
            "required",
        );
    }

    #[test]
    fn hourly_interval_is_4_6_8_or_12() {
        for interval in [4, 6, 8, 12] {
            let duration = 24;
            let policy = with(
                with(
                    v2_hourly(),
                    "/schedulePolicy/hourlySchedule/interval",
                    json!(interval),
                ),
                "/schedulePolicy/hourlySchedule/scheduleWindowDuration",
                json!(duration),
            );
            assert!(parse(policy).is_ok(), "{interval}");
        }
        for interval in [1, 2, 3, 5, 24, 0, -4] {
            refused(
                with(
                    v2_hourly(),
                    "/schedulePolicy/hourlySchedule/interval",
                    json!(interval),
                ),
                "hourlySchedule.interval",
                "4, 6, 8 or 12",
            );
        }
        refused(
            with(
                v2_hourly(),
                "/schedulePolicy/hourlySchedule/interval",
                Value::Null,
            ),
            "hourlySchedule.interval",
            "required",
        );
    }

    #[test]
    fn hourly_window_is_4_to_24_hours_of_whole_intervals() {
        let window = |interval: i64, duration: i64| {
            with(
                with(
                    v2_hourly(),
                    "/schedulePolicy/hourlySchedule/interval",
                    json!(interval),
                ),
                "/schedulePolicy/hourlySchedule/scheduleWindowDuration",
                json!(duration),
            )
        };
        for (interval, duration) in [(4, 4), (4, 12), (6, 18), (8, 16), (12, 12), (12, 24)] {
            assert!(
                parse(window(interval, duration)).is_ok(),
                "{interval}/{duration}"
            );
        }
        for duration in [0, 3, 25, 48] {
            refused(
                window(4, duration),
                "scheduleWindowDuration",
                "4 to 24 hours",
            );
        }
        for (interval, duration) in [(4, 10), (6, 8), (8, 12), (12, 18)] {
            refused(
                window(interval, duration),
                "scheduleWindowDuration",
                "whole number",
            );
        }
        refused(
            with(
                v2_hourly(),
                "/schedulePolicy/hourlySchedule/scheduleWindowStartTime",
                json!("2024-01-01T08:15:00Z"),
            ),
            "scheduleWindowStartTime",
            "half hour",
        );
    }

    #[test]
    fn run_times_fall_on_the_hour_or_half_hour() {
        for time in [
            "2024-01-01T21:30:00Z",
            "2024-01-01T00:00:00.000Z",
            "2024-01-01T21:00:00",
        ] {
            let policy = with(
                with(
                    v1_daily(),
                    "/schedulePolicy/scheduleRunTimes",
                    json!([time]),
                ),
                "/retentionPolicy/dailySchedule/retentionTimes",
                json!([time]),
            );
            assert!(parse(policy).is_ok(), "{time}");
        }
        for time in [
            "2024-01-01T21:15:00Z",
            "2024-01-01T21:00:30Z",
            "2024-01-01T21:00:00.5Z",
            "2024-01-01T21:45:00Z",
        ] {
            refused(
                with(
                    v1_daily(),
                    "/schedulePolicy/scheduleRunTimes",
                    json!([time]),
                ),
                "scheduleRunTimes[0]",
                "half hour",
            );
        }
        for time in ["21:00", "21:00:00", "yesterday", ""] {
            refused(
                with(
                    v1_daily(),
                    "/schedulePolicy/scheduleRunTimes",
                    json!([time]),
                ),
                "scheduleRunTimes[0]",
                "time of day alone",
            );
        }
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let policy = with(
            with(
                v1_daily(),
                "/schedulePolicy/scheduleRunTimes",
                json!(["2019-08-06T19:30:00+08:00"]),
            ),
            "/retentionPolicy/dailySchedule/retentionTimes",
            Value::Null,
        );
        let document = parse(policy).unwrap().to_properties();
        assert_eq!(
            document["schedulePolicy"]["scheduleRunTimes"],
            json!(["2019-08-06T11:30:00Z"])
        );
    }

    #[test]
    fn daily_and_weekly_schedules_run_exactly_once_a_day() {
        refused(
            with(
                v1_daily(),
                "/schedulePolicy/scheduleRunTimes",
                json!(["2024-01-01T21:00:00Z", "2024-01-01T09:00:00Z"]),
            ),
            "scheduleRunTimes",
            "exactly one",
        );
        refused(
            with(v1_daily(), "/schedulePolicy/scheduleRunTimes", json!([])),
            "scheduleRunTimes",
            "required",
        );
        refused(
            with(v1_daily(), "/schedulePolicy/scheduleRunTimes", Value::Null),
            "scheduleRunTimes",
            "required",
        );
        refused(
            with(
                v2_daily(),
                "/schedulePolicy/dailySchedule/scheduleRunTimes",
                json!(["2024-01-01T21:00:00Z", "2024-01-01T22:00:00Z"]),
            ),
            "dailySchedule.scheduleRunTimes",
            "exactly one",
        );
        refused(
            with(
                v2_weekly(),
                "/schedulePolicy/weeklySchedule/scheduleRunTimes",
                json!([]),
            ),
            "weeklySchedule.scheduleRunTimes",
            "required",
        );
    }

    #[test]
    fn weekly_schedules_need_valid_distinct_days() {
        refused(
            with(v1_weekly(), "/schedulePolicy/scheduleRunDays", json!([])),
            "scheduleRunDays",
            "at least one day",
        );
        refused(
            with(v1_weekly(), "/schedulePolicy/scheduleRunDays", Value::Null),
            "scheduleRunDays",
            "at least one day",
        );
        refused(
            with(
                v1_weekly(),
                "/schedulePolicy/scheduleRunDays",
                json!(["Sunday", "Funday"]),
            ),
            "scheduleRunDays[1]",
            "Funday",
        );
        refused(
            with(
                v1_weekly(),
                "/schedulePolicy/scheduleRunDays",
                json!(["Sunday", "Wednesday", "sunday"]),
            ),
            "scheduleRunDays[2]",
            "repeats",
        );
        refused(
            with(
                v2_weekly(),
                "/schedulePolicy/weeklySchedule/scheduleRunDays",
                json!([]),
            ),
            "weeklySchedule.scheduleRunDays",
            "at least one day",
        );
    }

    #[test]
    fn daily_retention_keeps_7_to_9999_days() {
        let days = |count: i64| {
            with(
                v1_daily(),
                "/retentionPolicy/dailySchedule/retentionDuration/count",
                json!(count),
            )
        };
        for count in [7, 30, 9999] {
            assert_eq!(
                parse(days(count)).unwrap().retention().daily_days(),
                Some(count as u32)
            );
        }
        for count in [0, 1, 6, 10000, -7] {
            refused(
                days(count),
                "dailySchedule.retentionDuration.count",
                "7 to 9999",
            );
        }
        refused(
            with(
                v1_daily(),
                "/retentionPolicy/dailySchedule/retentionDuration/durationType",
                json!("Weeks"),
            ),
            "dailySchedule.retentionDuration.durationType",
            "'Days'",
        );
        refused(
            with(
                v1_daily(),
                "/retentionPolicy/dailySchedule/retentionDuration",
                Value::Null,
            ),
            "dailySchedule.retentionDuration",
            "required",
        );
        refused(
            with(v1_daily(), "/retentionPolicy/dailySchedule", Value::Null),
            "retentionPolicy.dailySchedule",
            "required",
        );
    }

    #[test]
    fn weekly_monthly_and_yearly_retention_keep_1_to_9999() {
        for (rule, unit) in [
            ("weeklySchedule", "Weeks"),
            ("monthlySchedule", "Months"),
            ("yearlySchedule", "Years"),
        ] {
            let count = |count: i64| {
                with(
                    v1_weekly(),
                    &format!("/retentionPolicy/{rule}/retentionDuration/count"),
                    json!(count),
                )
            };
            assert!(parse(count(1)).is_ok(), "{rule}");
            assert!(parse(count(9999)).is_ok(), "{rule}");
            for bad in [0, 10000] {
                refused(
                    count(bad),
                    &format!("{rule}.retentionDuration.count"),
                    "1 to 9999",
                );
            }
            refused(
                with(
                    v1_weekly(),
                    &format!("/retentionPolicy/{rule}/retentionDuration/durationType"),
                    json!("Days"),
                ),
                &format!("{rule}.retentionDuration.durationType"),
                &format!("'{unit}'"),
            );
        }
    }

    #[test]
    fn retention_times_are_the_schedule_run_times() {
        refused(
            with(
                v1_daily(),
                "/retentionPolicy/dailySchedule/retentionTimes",
                json!(["2020-04-28T22:00:00Z"]),
            ),
            "dailySchedule.retentionTimes",
            "21:00",
        );
        refused(
            with(
                v1_weekly(),
                "/retentionPolicy/monthlySchedule/retentionTimes",
                json!(["2024-01-07T02:30:00Z", "2024-01-07T03:00:00Z"]),
            ),
            "monthlySchedule.retentionTimes",
            "02:30",
        );
        refused(
            with(
                v2_hourly(),
                "/retentionPolicy/dailySchedule/retentionTimes",
                json!(["2024-01-01T12:00:00Z"]),
            ),
            "dailySchedule.retentionTimes",
            "08:00",
        );
        // Another date with the same time of day is the same run time; left out, they are filled in.
        let other_date = with(
            v1_daily(),
            "/retentionPolicy/dailySchedule/retentionTimes",
            json!(["2021-01-01T21:00:00Z"]),
        );
        assert!(parse(other_date).is_ok());
        let filled = parse(v2_daily()).unwrap().to_properties();
        assert_eq!(
            filled["retentionPolicy"]["dailySchedule"]["retentionTimes"],
            json!(["2024-01-01T23:30:00Z"])
        );
    }

    #[test]
    fn weekly_schedules_keep_weekly_points_on_their_own_days() {
        let daily_rule = json!({
            "retentionDuration": {"count": 30, "durationType": "Days"}
        });
        refused(
            with(v1_weekly(), "/retentionPolicy/dailySchedule", daily_rule),
            "retentionPolicy.dailySchedule",
            "Weekly schedule",
        );
        refused(
            with(v1_weekly(), "/retentionPolicy/weeklySchedule", Value::Null),
            "retentionPolicy.weeklySchedule",
            "required",
        );
        refused(
            with(
                v1_weekly(),
                "/retentionPolicy/weeklySchedule/daysOfTheWeek",
                json!(["Monday"]),
            ),
            "weeklySchedule.daysOfTheWeek",
            "Monday",
        );
        refused(
            with(
                v1_weekly(),
                "/retentionPolicy/monthlySchedule/retentionScheduleWeekly/daysOfTheWeek",
                json!(["Friday"]),
            ),
            "monthlySchedule.retentionScheduleWeekly.daysOfTheWeek",
            "Friday",
        );
        refused(
            with(
                v1_weekly(),
                "/retentionPolicy/monthlySchedule",
                json!({
                    "retentionScheduleFormatType": "Daily",
                    "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 1}]},
                    "retentionDuration": {"count": 6, "durationType": "Months"}
                }),
            ),
            "monthlySchedule.retentionScheduleFormatType",
            "Weekly schedule",
        );
        // A daily schedule may keep any weekday.
        let any_day = with(
            v1_daily(),
            "/retentionPolicy/weeklySchedule",
            json!({
                "daysOfTheWeek": ["Monday", "Friday"],
                "retentionDuration": {"count": 4, "durationType": "Weeks"}
            }),
        );
        assert!(parse(any_day).is_ok());
        refused(
            with(
                v1_daily(),
                "/retentionPolicy/weeklySchedule",
                json!({"daysOfTheWeek": [], "retentionDuration": {"count": 4, "durationType": "Weeks"}}),
            ),
            "weeklySchedule.daysOfTheWeek",
            "at least one day",
        );
    }

    #[test]
    fn monthly_and_yearly_rules_name_valid_days_weeks_and_months() {
        let monthly = |rule: Value| with(v1_daily(), "/retentionPolicy/monthlySchedule", rule);
        let duration = json!({"count": 6, "durationType": "Months"});
        refused(
            monthly(json!({"retentionDuration": duration})),
            "retentionScheduleFormatType",
            "required",
        );
        refused(
            monthly(
                json!({"retentionScheduleFormatType": "Monthly", "retentionDuration": duration}),
            ),
            "retentionScheduleFormatType",
            "Monthly",
        );
        refused(
            monthly(json!({
                "retentionScheduleFormatType": "Daily",
                "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 29, "isLast": false}]},
                "retentionDuration": duration
            })),
            "daysOfTheMonth[0].date",
            "1 to 28",
        );
        refused(
            monthly(json!({
                "retentionScheduleFormatType": "Daily",
                "retentionScheduleDaily": {"daysOfTheMonth": []},
                "retentionDuration": duration
            })),
            "daysOfTheMonth",
            "at least one day",
        );
        refused(
            monthly(json!({
                "retentionScheduleFormatType": "Weekly",
                "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["Fifth"]},
                "retentionDuration": duration
            })),
            "weeksOfTheMonth[0]",
            "Fifth",
        );
        refused(
            monthly(json!({
                "retentionScheduleFormatType": "Weekly",
                "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": []},
                "retentionDuration": duration
            })),
            "weeksOfTheMonth",
            "at least one week",
        );
        let yearly = |months: Value| {
            with(
                v1_daily(),
                "/retentionPolicy/yearlySchedule",
                json!({
                    "retentionScheduleFormatType": "Daily",
                    "monthsOfYear": months,
                    "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 0, "isLast": true}]},
                    "retentionDuration": {"count": 3, "durationType": "Years"}
                }),
            )
        };
        assert!(parse(yearly(json!(["March", "december"]))).is_ok());
        refused(yearly(json!(["Smarch"])), "monthsOfYear[0]", "Smarch");
        refused(yearly(json!([])), "monthsOfYear", "at least one month");
        refused(
            yearly(json!(["March", "March"])),
            "monthsOfYear[1]",
            "repeats",
        );
    }

    #[test]
    fn instant_restore_days_follow_the_policy_type() {
        let days =
            |policy: Value, days: i64| with(policy, "/instantRpRetentionRangeInDays", json!(days));
        for ok in 1..=5 {
            assert!(parse(days(v1_daily(), ok)).is_ok(), "{ok}");
        }
        for bad in [0, 6, 30] {
            refused(
                days(v1_daily(), bad),
                "instantRpRetentionRangeInDays",
                "1 to 5",
            );
        }
        refused(
            days(v1_weekly(), 2),
            "instantRpRetentionRangeInDays",
            "5 days",
        );
        assert!(parse(days(v1_weekly(), 5)).is_ok());
        for ok in [1, 7, 30] {
            assert!(parse(days(v2_hourly(), ok)).is_ok(), "{ok}");
        }
        for bad in [0, 31] {
            refused(
                days(v2_hourly(), bad),
                "instantRpRetentionRangeInDays",
                "1 to 30",
            );
        }
        let default = |policy| {
            parse(with(policy, "/instantRpRetentionRangeInDays", Value::Null))
                .unwrap()
                .instant_rp_retention_days()
        };
        assert_eq!(default(v1_daily()), 2);
        assert_eq!(default(v1_weekly()), 5);
        assert_eq!(default(v2_hourly()), 7);
    }

    #[test]
    fn time_zones_are_windows_ids() {
        refused(
            with(v1_daily(), "/timeZone", json!("Europe/Berlin")),
            "timeZone",
            "Windows time zone id",
        );
        refused(
            with(v1_daily(), "/timeZone", json!("Mars Standard Time")),
            "timeZone",
            "Mars Standard Time",
        );
        let spelled = parse(with(v1_daily(), "/timeZone", json!("india standard time"))).unwrap();
        assert_eq!(spelled.to_properties()["timeZone"], "India Standard Time");
        let default = parse(with(v1_daily(), "/timeZone", Value::Null)).unwrap();
        assert_eq!(default.time_zone_name(), "UTC");
    }

    #[test]
    fn instant_rp_details_and_passthrough_fields_are_kept() {
        let mut policy = with(v2_hourly(), "/instantRPDetails", Value::Null);
        policy["instantRpDetails"] = json!({
            "azureBackupRgNamePrefix": "rp-",
            "azureBackupRgNameSuffix": "-x"
        });
        policy["snapshotConsistencyType"] = json!("OnlyCrashConsistent");
        policy["tieringPolicy"] = json!({"ArchivedRP": {"tieringMode": "DoNotTier"}});
        let document = parse(policy).unwrap().to_properties();
        assert_eq!(
            document["instantRPDetails"],
            json!({"azureBackupRGNamePrefix": "rp-", "azureBackupRGNameSuffix": "-x"})
        );
        assert_eq!(document["snapshotConsistencyType"], "OnlyCrashConsistent");
        assert_eq!(
            document["tieringPolicy"],
            json!({"ArchivedRP": {"tieringMode": "DoNotTier"}})
        );
        refused(
            with(v1_daily(), "/tieringPolicy", json!("archive")),
            "tieringPolicy",
            "object",
        );
    }

    mod generated {
        use proptest::prelude::*;

        use super::*;
        use crate::generated_input::{near_iso_instant, or_any};

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn any_run_time_is_on_the_hour_or_half_hour_or_refused(text in or_any(near_iso_instant())) {
                if let Ok((_, time)) = run_time(&text, "scheduleRunTimes[0]") {
                    prop_assert!(time.minute() % 30 == 0 && time.second() == 0);
                }
            }

            #[test]
            fn a_valid_policy_with_any_run_time_is_accepted_or_refused(text in or_any(near_iso_instant())) {
                let document = with(v1_daily(), "/schedulePolicy/scheduleRunTimes", json!([text.clone()]));
                let document = with(document, "/retentionPolicy/dailySchedule/retentionTimes", json!([text]));
                let _ = parse(document);
            }
        }
    }
}
