//! Backup policies for Azure VMs (`AzureIaaSVMProtectionPolicy`): when a protected VM is
//! backed up and how long its recovery points are kept.
//!
//! [`IaasVmPolicy`] is the validated domain type the backup engine schedules and expires
//! from: run times of day as [`NaiveTime`] in the policy's time zone ([`chrono_tz::Tz`]),
//! run days, the hourly window, and the retention rules. It is built only by validating a
//! [`PolicyDocument`] (the ARM wire and storage form, [`IaasVmPolicy::from_document`]) or
//! by [`defaults`] (the policies every new vault has), and turns back into the normalised
//! document Azure would return ([`IaasVmPolicy::to_document`]), which is what
//! `backup_policy.properties` holds.

pub mod defaults;
mod document;
mod ops;
pub mod timezone;
mod validate;

use chrono::{Month, NaiveDate, NaiveTime, TimeDelta, Weekday};
use chrono_tz::Tz;
use serde_json::Value;

pub use document::{
    CalendarRetentionDocument, DailyRetentionDocument, DailyScheduleDocument, DayDocument,
    DaysOfMonthDocument, DurationDocument, HourlyScheduleDocument, InstantRpDetailsDocument,
    PolicyDocument, RetentionDocument, ScheduleDocument, WeekdaysOfMonthDocument,
    WeeklyRetentionDocument, WeeklyScheduleDocument,
};
pub use ops::{delete, get, insert, list, lock, put, validate_name, StoredPolicy};
pub use validate::{InvalidPolicy, INVALID_POLICY_CODE};

/// The `backupManagementType` of every policy this service keeps.
pub const BACKUP_MANAGEMENT_TYPE: &str = "AzureIaasVM";
/// The ARM type of a backup policy.
pub const POLICY_RESOURCE_TYPE: &str = "Microsoft.RecoveryServices/vaults/backupPolicies";

/// `V1` is the standard policy (`SimpleSchedulePolicy`, daily or weekly), `V2` the
/// enhanced policy (`SimpleSchedulePolicyV2`, which adds hourly schedules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum PolicyType {
    V1,
    V2,
}

impl PolicyType {
    /// The wire name (`policyType`, the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The `schedulePolicyType` a policy of this type has.
    pub fn schedule_policy_type(self) -> &'static str {
        match self {
            Self::V1 => "SimpleSchedulePolicy",
            Self::V2 => "SimpleSchedulePolicyV2",
        }
    }
}

/// A validated Azure VM backup policy.
#[derive(Debug, Clone, PartialEq)]
pub struct IaasVmPolicy {
    policy_type: PolicyType,
    schedule: Schedule,
    retention: Retention,
    instant_rp_retention_days: u32,
    time_zone: PolicyTimeZone,
    instant_rp_details: InstantRpDetailsDocument,
    tiering_policy: Option<Value>,
    snapshot_consistency_type: Option<String>,
}

impl IaasVmPolicy {
    /// Validates a policy document as Azure does; the error names the offending field.
    pub fn from_document(document: &PolicyDocument) -> Result<Self, InvalidPolicy> {
        validate::policy(document)
    }

    /// Reads a policy as stored in `backup_policy.properties`.
    pub fn from_properties(properties: &Value) -> Result<Self, InvalidPolicy> {
        let document: PolicyDocument = serde_json::from_value(properties.clone())
            .map_err(|e| InvalidPolicy::new(format!("The policy document is unreadable: {e}")))?;
        Self::from_document(&document)
    }

    pub fn policy_type(&self) -> PolicyType {
        self.policy_type
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// Days an instant-restore snapshot is kept.
    pub fn instant_rp_retention_days(&self) -> u32 {
        self.instant_rp_retention_days
    }

    /// The zone the schedule's times of day are in.
    pub fn time_zone(&self) -> Tz {
        self.time_zone.tz
    }

    /// The time zone as the policy names it (a Windows id).
    pub fn time_zone_name(&self) -> &'static str {
        self.time_zone.windows_id
    }

    /// The normalised document Azure returns for this policy (without
    /// `protectedItemsCount`, which is counted when answering).
    pub fn to_document(&self) -> PolicyDocument {
        let date = self.schedule.anchor_date;
        let times = |times: &[NaiveTime]| Some(times.iter().map(|t| instant(date, *t)).collect());
        let schedule_times = self.schedule.retention_times();
        let schedule = match (&self.schedule.frequency, self.policy_type) {
            (Frequency::Daily { at }, PolicyType::V1) => ScheduleDocument {
                schedule_run_frequency: Some("Daily".into()),
                schedule_run_times: times(&[*at]),
                schedule_weekly_frequency: Some(0),
                ..ScheduleDocument::default()
            },
            (Frequency::Weekly { days, at }, PolicyType::V1) => ScheduleDocument {
                schedule_run_frequency: Some("Weekly".into()),
                schedule_run_days: Some(day_names(days)),
                schedule_run_times: times(&[*at]),
                schedule_weekly_frequency: Some(0),
                ..ScheduleDocument::default()
            },
            (Frequency::Daily { at }, PolicyType::V2) => ScheduleDocument {
                schedule_run_frequency: Some("Daily".into()),
                daily_schedule: Some(DailyScheduleDocument {
                    schedule_run_times: times(&[*at]),
                }),
                ..ScheduleDocument::default()
            },
            (Frequency::Weekly { days, at }, PolicyType::V2) => ScheduleDocument {
                schedule_run_frequency: Some("Weekly".into()),
                weekly_schedule: Some(WeeklyScheduleDocument {
                    schedule_run_days: Some(day_names(days)),
                    schedule_run_times: times(&[*at]),
                }),
                ..ScheduleDocument::default()
            },
            (Frequency::Hourly(window), _) => ScheduleDocument {
                schedule_run_frequency: Some("Hourly".into()),
                hourly_schedule: Some(HourlyScheduleDocument {
                    interval: Some(window.interval_hours.into()),
                    schedule_window_start_time: Some(instant(date, window.start)),
                    schedule_window_duration: Some(window.duration_hours.into()),
                }),
                ..ScheduleDocument::default()
            },
        };
        let duration = |count: u32, unit: &str| {
            Some(DurationDocument {
                count: Some(count.into()),
                duration_type: Some(unit.into()),
            })
        };
        let calendar = |on: &RetentionDays, months: Option<&[Month]>, count, unit| {
            let (format, daily, weekly) = match on {
                RetentionDays::DaysOfMonth(days) => (
                    "Daily",
                    Some(DaysOfMonthDocument {
                        days_of_the_month: Some(
                            days.iter()
                                .map(|d| match d {
                                    DayOfMonth::Date(date) => DayDocument {
                                        date: Some((*date).into()),
                                        is_last: Some(false),
                                    },
                                    DayOfMonth::Last => DayDocument {
                                        date: Some(0),
                                        is_last: Some(true),
                                    },
                                })
                                .collect(),
                        ),
                    }),
                    None,
                ),
                RetentionDays::WeekdaysOfWeeks { days, weeks } => (
                    "Weekly",
                    None,
                    Some(WeekdaysOfMonthDocument {
                        days_of_the_week: Some(day_names(days)),
                        weeks_of_the_month: Some(
                            weeks.iter().map(|w| w.as_str().to_owned()).collect(),
                        ),
                    }),
                ),
            };
            CalendarRetentionDocument {
                retention_schedule_format_type: Some(format.into()),
                months_of_year: months.map(|m| m.iter().map(|m| m.name().to_owned()).collect()),
                retention_schedule_daily: daily,
                retention_schedule_weekly: weekly,
                retention_times: times(&schedule_times),
                retention_duration: duration(count, unit),
            }
        };
        let r = &self.retention;
        let retention = RetentionDocument {
            retention_policy_type: Some("LongTermRetentionPolicy".into()),
            daily_schedule: r.daily_days.map(|days| DailyRetentionDocument {
                retention_times: times(&schedule_times),
                retention_duration: duration(days, "Days"),
            }),
            weekly_schedule: r.weekly.as_ref().map(|w| WeeklyRetentionDocument {
                days_of_the_week: Some(day_names(&w.days)),
                retention_times: times(&schedule_times),
                retention_duration: duration(w.weeks, "Weeks"),
            }),
            monthly_schedule: r
                .monthly
                .as_ref()
                .map(|m| calendar(&m.on, None, m.months, "Months")),
            yearly_schedule: r
                .yearly
                .as_ref()
                .map(|y| calendar(&y.on, Some(&y.months_of_year), y.years, "Years")),
        };
        PolicyDocument {
            backup_management_type: Some(BACKUP_MANAGEMENT_TYPE.into()),
            policy_type: Some(self.policy_type.as_str().into()),
            instant_rp_details: Some(self.instant_rp_details.clone()),
            schedule_policy: Some(ScheduleDocument {
                schedule_policy_type: Some(self.policy_type.schedule_policy_type().into()),
                ..schedule
            }),
            retention_policy: Some(retention),
            tiering_policy: self.tiering_policy.clone(),
            instant_rp_retention_range_in_days: Some(self.instant_rp_retention_days.into()),
            time_zone: Some(self.time_zone.windows_id.into()),
            snapshot_consistency_type: self.snapshot_consistency_type.clone(),
        }
    }

    /// The document as stored in `backup_policy.properties`.
    pub fn to_properties(&self) -> Value {
        serde_json::to_value(self.to_document()).expect("policy documents serialize")
    }
}

/// A Windows time zone id and the IANA zone it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PolicyTimeZone {
    windows_id: &'static str,
    tz: Tz,
}

/// When backups run, in the policy's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    frequency: Frequency,
    /// The calendar date the client wrote its run times with. Only the time of day
    /// matters, but Azure returns the times as written.
    anchor_date: NaiveDate,
}

impl Schedule {
    pub fn frequency(&self) -> &Frequency {
        &self.frequency
    }

    /// The times of day a backup starts on a day the schedule runs, ascending.
    pub fn run_times(&self) -> Vec<NaiveTime> {
        match &self.frequency {
            Frequency::Daily { at } | Frequency::Weekly { at, .. } => vec![*at],
            Frequency::Hourly(window) => window.run_times(),
        }
    }

    /// The weekdays backups run on; `None` for every day.
    pub fn run_days(&self) -> Option<&[Weekday]> {
        match &self.frequency {
            Frequency::Weekly { days, .. } => Some(days),
            Frequency::Daily { .. } | Frequency::Hourly(_) => None,
        }
    }

    /// The times of day retention rules are written with: the run time, or the start
    /// of the hourly window.
    fn retention_times(&self) -> Vec<NaiveTime> {
        match &self.frequency {
            Frequency::Daily { at } | Frequency::Weekly { at, .. } => vec![*at],
            Frequency::Hourly(window) => vec![window.start],
        }
    }
}

/// How often backups run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frequency {
    /// Once a day at `at`.
    Daily { at: NaiveTime },
    /// Once on each of `days` at `at`.
    Weekly { days: Vec<Weekday>, at: NaiveTime },
    /// Every `interval` hours within a daily window (enhanced policies only).
    Hourly(HourlyWindow),
}

/// Backups every `interval_hours` from `start` for `duration_hours`, each day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyWindow {
    interval_hours: u32,
    start: NaiveTime,
    duration_hours: u32,
}

impl HourlyWindow {
    pub fn interval_hours(&self) -> u32 {
        self.interval_hours
    }

    pub fn start(&self) -> NaiveTime {
        self.start
    }

    pub fn duration_hours(&self) -> u32 {
        self.duration_hours
    }

    /// The start times within the window, from its start (the window's end is not one):
    /// 08:00 every 4 h for 12 h runs at 08:00, 12:00 and 16:00. Times past midnight wrap.
    pub fn run_times(&self) -> Vec<NaiveTime> {
        (0..self.duration_hours / self.interval_hours)
            .map(|k| {
                self.start
                    .overflowing_add_signed(TimeDelta::hours(i64::from(k * self.interval_hours)))
                    .0
            })
            .collect()
    }
}

/// How long recovery points are kept (`LongTermRetentionPolicy`). A point is kept as
/// long as the longest rule it falls under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    daily_days: Option<u32>,
    weekly: Option<WeeklyRetention>,
    monthly: Option<MonthlyRetention>,
    yearly: Option<YearlyRetention>,
}

impl Retention {
    /// Days every backup is kept (absent for weekly schedules).
    pub fn daily_days(&self) -> Option<u32> {
        self.daily_days
    }

    pub fn weekly(&self) -> Option<&WeeklyRetention> {
        self.weekly.as_ref()
    }

    pub fn monthly(&self) -> Option<&MonthlyRetention> {
        self.monthly.as_ref()
    }

    pub fn yearly(&self) -> Option<&YearlyRetention> {
        self.yearly.as_ref()
    }
}

/// The backups taken on `days` are kept `weeks` weeks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyRetention {
    days: Vec<Weekday>,
    weeks: u32,
}

impl WeeklyRetention {
    pub fn days(&self) -> &[Weekday] {
        &self.days
    }

    pub fn weeks(&self) -> u32 {
        self.weeks
    }
}

/// The backups taken on the days `on` names are kept `months` months.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthlyRetention {
    on: RetentionDays,
    months: u32,
}

impl MonthlyRetention {
    pub fn on(&self) -> &RetentionDays {
        &self.on
    }

    pub fn months(&self) -> u32 {
        self.months
    }
}

/// The backups taken in `months_of_year` on the days `on` names are kept `years` years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearlyRetention {
    months_of_year: Vec<Month>,
    on: RetentionDays,
    years: u32,
}

impl YearlyRetention {
    pub fn months_of_year(&self) -> &[Month] {
        &self.months_of_year
    }

    pub fn on(&self) -> &RetentionDays {
        &self.on
    }

    pub fn years(&self) -> u32 {
        self.years
    }
}

/// Which days of a month a monthly or yearly rule keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionDays {
    /// `retentionScheduleFormatType: Daily`: these days of the month.
    DaysOfMonth(Vec<DayOfMonth>),
    /// `retentionScheduleFormatType: Weekly`: these weekdays in these weeks of the month.
    WeekdaysOfWeeks {
        days: Vec<Weekday>,
        weeks: Vec<WeekOfMonth>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOfMonth {
    /// 1 to 28.
    Date(u32),
    /// The last day of the month, whatever its date.
    Last,
}

/// A week of a month (`weeksOfTheMonth`); parsed in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(ascii_case_insensitive)]
pub enum WeekOfMonth {
    First,
    Second,
    Third,
    Fourth,
    Last,
}

impl WeekOfMonth {
    /// The wire name (the variant's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A weekday as Azure spells it (`Sunday`).
pub fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

fn day_names(days: &[Weekday]) -> Vec<String> {
    days.iter().map(|d| day_name(*d).to_owned()).collect()
}

/// A time of day written as Azure writes it: `2020-04-28T21:00:00Z`.
fn instant(date: NaiveDate, time: NaiveTime) -> String {
    format!("{}T{}Z", date.format("%Y-%m-%d"), time.format("%H:%M:%S"))
}
