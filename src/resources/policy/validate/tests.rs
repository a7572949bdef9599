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
        monthly(json!({"retentionScheduleFormatType": "Monthly", "retentionDuration": duration})),
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
