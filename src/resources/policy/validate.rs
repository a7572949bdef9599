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
mod tests;
