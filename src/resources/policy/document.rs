//! The AzureIaaSVMProtectionPolicy `properties` document as ARM spells it: what clients
//! send, what the service stores in `backup_policy.properties` (normalised) and returns.
//! Every field is optional here so that a missing or misspelt field is reported by the
//! validation (`validate.rs`) naming that field, instead of by a generic parse error;
//! enumerations are strings for the same reason. Unknown fields (`protectedItemsCount`,
//! `resourceGuardOperationRequests`, which clients echo back) are ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDocument {
    /// The discriminator: always `AzureIaasVM` here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_management_type: Option<String>,
    /// `V1` (standard policy) or `V2` (enhanced policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
    /// Clients send `instantRPDetails` (the SDKs) or `instantRpDetails`.
    #[serde(
        rename = "instantRPDetails",
        alias = "instantRpDetails",
        skip_serializing_if = "Option::is_none"
    )]
    pub instant_rp_details: Option<InstantRpDetailsDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_policy: Option<ScheduleDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionDocument>,
    /// Passed through as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tiering_policy: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instant_rp_retention_range_in_days: Option<i64>,
    /// A Windows time zone id, e.g. `UTC` or `Pacific Standard Time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Passed through as given, e.g. `OnlyCrashConsistent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_consistency_type: Option<String>,
}

/// Where Azure Backup keeps instant-restore snapshots: resource group name prefix and suffix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstantRpDetailsDocument {
    #[serde(
        rename = "azureBackupRGNamePrefix",
        alias = "azureBackupRgNamePrefix",
        skip_serializing_if = "Option::is_none"
    )]
    pub azure_backup_rg_name_prefix: Option<String>,
    #[serde(
        rename = "azureBackupRGNameSuffix",
        alias = "azureBackupRgNameSuffix",
        skip_serializing_if = "Option::is_none"
    )]
    pub azure_backup_rg_name_suffix: Option<String>,
}

/// `SimpleSchedulePolicy` (V1: Daily or Weekly with `scheduleRunTimes`) or
/// `SimpleSchedulePolicyV2` (Hourly, Daily or Weekly with the matching sub-schedule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_policy_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_run_frequency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_run_days: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_run_times: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hourly_schedule: Option<HourlyScheduleDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_schedule: Option<DailyScheduleDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weekly_schedule: Option<WeeklyScheduleDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_weekly_frequency: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HourlyScheduleDocument {
    /// Hours between backups: 4, 6, 8 or 12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_window_start_time: Option<String>,
    /// Hours the backup window lasts: 4 to 24.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_window_duration: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyScheduleDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_run_times: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyScheduleDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_run_days: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_run_times: Option<Vec<String>>,
}

/// `LongTermRetentionPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_policy_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_schedule: Option<DailyRetentionDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weekly_schedule: Option<WeeklyRetentionDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_schedule: Option<CalendarRetentionDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yearly_schedule: Option<CalendarRetentionDocument>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyRetentionDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_times: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<DurationDocument>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyRetentionDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_of_the_week: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_times: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<DurationDocument>,
}

/// A monthly or yearly retention rule (`monthsOfYear` only in yearly ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarRetentionDocument {
    /// `Daily` (days of the month) or `Weekly` (weekdays in weeks of the month).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_schedule_format_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub months_of_year: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_schedule_daily: Option<DaysOfMonthDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_schedule_weekly: Option<WeekdaysOfMonthDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_times: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<DurationDocument>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaysOfMonthDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_of_the_month: Option<Vec<DayDocument>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_last: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeekdaysOfMonthDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_of_the_week: Option<Vec<String>>,
    /// `First`, `Second`, `Third`, `Fourth` or `Last`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weeks_of_the_month: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DurationDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// `Days`, `Weeks`, `Months` or `Years`, matching the rule it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_type: Option<String>,
}
