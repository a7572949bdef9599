//! Backup policies: create, get, list, update and delete for every schedule kind, Azure's
//! validation rules, `protectedItemsCount` and the refusals while items use a policy.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::management::app::{ArmResponse, ManagementApp};
use crate::management::vaults::{create_vault, insert_protected_item, remove_protected_items};

impl ManagementApp {
    pub async fn put_policy(
        &self,
        group: &str,
        vault: &str,
        policy: &str,
        body: Value,
    ) -> ArmResponse {
        self.put(&policy_path(self, group, vault, policy), body)
            .await
    }

    pub async fn get_policy(&self, group: &str, vault: &str, policy: &str) -> ArmResponse {
        self.get(&policy_path(self, group, vault, policy)).await
    }

    pub async fn delete_policy(&self, group: &str, vault: &str, policy: &str) -> ArmResponse {
        self.delete(&policy_path(self, group, vault, policy)).await
    }

    /// Lists a vault's policies; `filter` is sent as `$filter`, encoded as the CLI does.
    pub async fn list_policies(
        &self,
        group: &str,
        vault: &str,
        filter: Option<&str>,
    ) -> ArmResponse {
        let mut path = format!("{}/backupPolicies", self.vault_path(group, vault));
        if let Some(filter) = filter {
            path.push_str(&format!(
                "?%24filter={}",
                utf8_percent_encode(filter, NON_ALPHANUMERIC)
            ));
        }
        self.get(&path).await
    }
}

fn policy_path(app: &ManagementApp, group: &str, vault: &str, policy: &str) -> String {
    format!("{}/backupPolicies/{policy}", app.vault_path(group, vault))
}

/// A standard daily policy as `az backup policy set` sends it.
pub fn v1_daily() -> Value {
    json!({"properties": {
        "protectedItemsCount": 0,
        "backupManagementType": "AzureIaasVM",
        "instantRPDetails": {},
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicy",
            "scheduleRunFrequency": "Daily",
            "scheduleRunTimes": ["2024-05-18T21:30:00.000Z"],
            "scheduleWeeklyFrequency": 0
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "dailySchedule": {
                "retentionTimes": ["2024-05-18T21:30:00.000Z"],
                "retentionDuration": {"count": 30, "durationType": "Days"}
            }
        },
        "instantRpRetentionRangeInDays": 2,
        "timeZone": "UTC"
    }})
}

fn v1_weekly() -> Value {
    json!({"properties": {
        "backupManagementType": "AzureIaasVM",
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicy",
            "scheduleRunFrequency": "Weekly",
            "scheduleRunDays": ["Sunday", "Wednesday"],
            "scheduleRunTimes": ["2024-01-07T02:00:00Z"],
            "scheduleWeeklyFrequency": 0
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "weeklySchedule": {
                "daysOfTheWeek": ["Sunday", "Wednesday"],
                "retentionTimes": ["2024-01-07T02:00:00Z"],
                "retentionDuration": {"count": 12, "durationType": "Weeks"}
            },
            "monthlySchedule": {
                "retentionScheduleFormatType": "Weekly",
                "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["First"]},
                "retentionTimes": ["2024-01-07T02:00:00Z"],
                "retentionDuration": {"count": 60, "durationType": "Months"}
            },
            "yearlySchedule": {
                "retentionScheduleFormatType": "Weekly",
                "monthsOfYear": ["January"],
                "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["Last"]},
                "retentionTimes": ["2024-01-07T02:00:00Z"],
                "retentionDuration": {"count": 10, "durationType": "Years"}
            }
        },
        "instantRpRetentionRangeInDays": 5,
        "timeZone": "Pacific Standard Time"
    }})
}

fn v2_hourly() -> Value {
    json!({"properties": {
        "backupManagementType": "AzureIaasVM",
        "policyType": "V2",
        "instantRpDetails": {"azureBackupRgNamePrefix": "backup-rg-"},
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicyV2",
            "scheduleRunFrequency": "Hourly",
            "hourlySchedule": {
                "interval": 6,
                "scheduleWindowStartTime": "2024-01-01T06:00:00Z",
                "scheduleWindowDuration": 18
            }
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "dailySchedule": {
                "retentionTimes": ["2024-01-01T06:00:00Z"],
                "retentionDuration": {"count": 14, "durationType": "Days"}
            },
            "weeklySchedule": {
                "daysOfTheWeek": ["Monday"],
                "retentionTimes": ["2024-01-01T06:00:00Z"],
                "retentionDuration": {"count": 8, "durationType": "Weeks"}
            },
            "monthlySchedule": {
                "retentionScheduleFormatType": "Daily",
                "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 1, "isLast": false}, {"date": 0, "isLast": true}]},
                "retentionTimes": ["2024-01-01T06:00:00Z"],
                "retentionDuration": {"count": 24, "durationType": "Months"}
            },
            "yearlySchedule": {
                "retentionScheduleFormatType": "Daily",
                "monthsOfYear": ["March", "September"],
                "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 15, "isLast": false}]},
                "retentionTimes": ["2024-01-01T06:00:00Z"],
                "retentionDuration": {"count": 5, "durationType": "Years"}
            }
        },
        "instantRpRetentionRangeInDays": 10,
        "timeZone": "W. Europe Standard Time",
        "snapshotConsistencyType": "OnlyCrashConsistent"
    }})
}

fn v2_daily() -> Value {
    json!({"properties": {
        "backupManagementType": "AzureIaasVM",
        "policyType": "V2",
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicyV2",
            "scheduleRunFrequency": "Daily",
            "dailySchedule": {"scheduleRunTimes": ["2024-01-01T23:00:00Z"]}
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "dailySchedule": {"retentionDuration": {"count": 7, "durationType": "Days"}}
        },
        "instantRpRetentionRangeInDays": 30,
        "timeZone": "India Standard Time"
    }})
}

fn v2_weekly() -> Value {
    json!({"properties": {
        "backupManagementType": "AzureIaasVM",
        "policyType": "V2",
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicyV2",
            "scheduleRunFrequency": "Weekly",
            "weeklySchedule": {
                "scheduleRunDays": ["Saturday"],
                "scheduleRunTimes": ["2024-01-06T04:30:00Z"]
            }
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "weeklySchedule": {
                "daysOfTheWeek": ["Saturday"],
                "retentionDuration": {"count": 4, "durationType": "Weeks"}
            },
            "yearlySchedule": {
                "retentionScheduleFormatType": "Weekly",
                "monthsOfYear": ["December"],
                "retentionScheduleWeekly": {"daysOfTheWeek": ["Saturday"], "weeksOfTheMonth": ["Second"]},
                "retentionDuration": {"count": 3, "durationType": "Years"}
            }
        },
        "instantRpRetentionRangeInDays": 5,
        "timeZone": "UTC"
    }})
}

/// `body` with the JSON pointer `path` (under `properties`) set to `new`; `Null` removes it.
fn with(mut body: Value, path: &str, new: Value) -> Value {
    let (parent, last) = path.rsplit_once('/').unwrap();
    let object = body
        .pointer_mut(&format!("/properties{parent}"))
        .unwrap()
        .as_object_mut()
        .unwrap();
    if new.is_null() {
        object.remove(last);
    } else {
        object.insert(last.to_owned(), new);
    }
    body
}

fn names(list: &ArmResponse) -> Vec<&str> {
    list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect()
}

async fn v1_daily_policy_lifecycle(app: ManagementApp) {
    let vault = create_vault(&app, "rg", "vault").await;
    let put = app
        .put_policy("rg", "vault", "Daily-Policy", v1_daily())
        .await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");
    assert_eq!(
        put.body,
        json!({
            "id": format!("{}/backupPolicies/Daily-Policy", vault["id"].as_str().unwrap()),
            "name": "Daily-Policy",
            "type": "Microsoft.RecoveryServices/vaults/backupPolicies",
            "properties": {
                "backupManagementType": "AzureIaasVM",
                "policyType": "V1",
                "instantRPDetails": {},
                "schedulePolicy": {
                    "schedulePolicyType": "SimpleSchedulePolicy",
                    "scheduleRunFrequency": "Daily",
                    "scheduleRunTimes": ["2024-05-18T21:30:00Z"],
                    "scheduleWeeklyFrequency": 0
                },
                "retentionPolicy": {
                    "retentionPolicyType": "LongTermRetentionPolicy",
                    "dailySchedule": {
                        "retentionTimes": ["2024-05-18T21:30:00Z"],
                        "retentionDuration": {"count": 30, "durationType": "Days"}
                    }
                },
                "instantRpRetentionRangeInDays": 2,
                "timeZone": "UTC",
                "protectedItemsCount": 0
            }
        })
    );
    let got = app.get_policy("rg", "vault", "daily-policy").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, put.body);
    assert_eq!(
        names(&app.list_policies("rg", "vault", None).await),
        ["Daily-Policy", "DefaultPolicy", "EnhancedPolicy"]
    );

    // Update: longer retention, another time zone; the name keeps its first spelling.
    let changed = with(
        with(
            v1_daily(),
            "/retentionPolicy/dailySchedule/retentionDuration/count",
            json!(90),
        ),
        "/timeZone",
        json!("India Standard Time"),
    );
    let updated = app.put_policy("rg", "vault", "DAILY-POLICY", changed).await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.body["name"], "Daily-Policy");
    let properties = &app.get_policy("rg", "vault", "Daily-Policy").await.body["properties"];
    assert_eq!(
        properties["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"],
        90
    );
    assert_eq!(properties["timeZone"], "India Standard Time");

    let deleted = app.delete_policy("rg", "vault", "daily-policy").await;
    assert_eq!(deleted.status, StatusCode::OK, "{deleted:?}");
    let gone = app.get_policy("rg", "vault", "Daily-Policy").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "BMSUserErrorPolicyNotFound");
    assert_eq!(
        app.delete_policy("rg", "vault", "Daily-Policy")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

async fn every_schedule_kind_round_trips(app: ManagementApp) {
    create_vault(&app, "rg", "vault").await;
    let kinds = [
        (
            "v1-weekly",
            v1_weekly(),
            "SimpleSchedulePolicy",
            "Weekly",
            "V1",
        ),
        (
            "v2-hourly",
            v2_hourly(),
            "SimpleSchedulePolicyV2",
            "Hourly",
            "V2",
        ),
        (
            "v2-daily",
            v2_daily(),
            "SimpleSchedulePolicyV2",
            "Daily",
            "V2",
        ),
        (
            "v2-weekly",
            v2_weekly(),
            "SimpleSchedulePolicyV2",
            "Weekly",
            "V2",
        ),
    ];
    for (name, body, schedule_type, frequency, policy_type) in kinds {
        let put = app.put_policy("rg", "vault", name, body.clone()).await;
        assert_eq!(put.status, StatusCode::OK, "{name}: {put:?}");
        let p = &put.body["properties"];
        assert_eq!(p["backupManagementType"], "AzureIaasVM", "{name}");
        assert_eq!(p["policyType"], policy_type, "{name}");
        assert_eq!(
            p["schedulePolicy"]["schedulePolicyType"], schedule_type,
            "{name}"
        );
        assert_eq!(
            p["schedulePolicy"]["scheduleRunFrequency"], frequency,
            "{name}"
        );
        assert_eq!(
            p["retentionPolicy"]["retentionPolicyType"], "LongTermRetentionPolicy",
            "{name}"
        );
        assert_eq!(p["protectedItemsCount"], 0, "{name}");
        assert_eq!(p["timeZone"], body["properties"]["timeZone"], "{name}");
        assert_eq!(
            p["instantRpRetentionRangeInDays"], body["properties"]["instantRpRetentionRangeInDays"],
            "{name}"
        );
        let got = app.get_policy("rg", "vault", name).await;
        assert_eq!(got.body, put.body, "{name}");
    }

    let weekly = &app.get_policy("rg", "vault", "v1-weekly").await.body["properties"];
    assert_eq!(
        weekly["schedulePolicy"],
        json!({
            "schedulePolicyType": "SimpleSchedulePolicy",
            "scheduleRunFrequency": "Weekly",
            "scheduleRunDays": ["Sunday", "Wednesday"],
            "scheduleRunTimes": ["2024-01-07T02:00:00Z"],
            "scheduleWeeklyFrequency": 0
        })
    );
    assert_eq!(
        weekly["retentionPolicy"]["yearlySchedule"],
        json!({
            "retentionScheduleFormatType": "Weekly",
            "monthsOfYear": ["January"],
            "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["Last"]},
            "retentionTimes": ["2024-01-07T02:00:00Z"],
            "retentionDuration": {"count": 10, "durationType": "Years"}
        })
    );

    let hourly = &app.get_policy("rg", "vault", "v2-hourly").await.body["properties"];
    assert_eq!(
        hourly["schedulePolicy"],
        json!({
            "schedulePolicyType": "SimpleSchedulePolicyV2",
            "scheduleRunFrequency": "Hourly",
            "hourlySchedule": {
                "interval": 6,
                "scheduleWindowStartTime": "2024-01-01T06:00:00Z",
                "scheduleWindowDuration": 18
            }
        })
    );
    assert_eq!(
        hourly["retentionPolicy"]["monthlySchedule"]["retentionScheduleDaily"],
        json!({"daysOfTheMonth": [{"date": 1, "isLast": false}, {"date": 0, "isLast": true}]})
    );
    assert_eq!(
        hourly["instantRPDetails"],
        json!({"azureBackupRGNamePrefix": "backup-rg-"})
    );
    assert_eq!(hourly["snapshotConsistencyType"], "OnlyCrashConsistent");

    let daily = &app.get_policy("rg", "vault", "v2-daily").await.body["properties"];
    assert_eq!(
        daily["schedulePolicy"]["dailySchedule"],
        json!({"scheduleRunTimes": ["2024-01-01T23:00:00Z"]})
    );
    assert_eq!(
        daily["retentionPolicy"]["dailySchedule"]["retentionTimes"],
        json!(["2024-01-01T23:00:00Z"]),
        "retention times left out are the run time"
    );

    let weekly_v2 = &app.get_policy("rg", "vault", "v2-weekly").await.body["properties"];
    assert_eq!(
        weekly_v2["schedulePolicy"]["weeklySchedule"],
        json!({"scheduleRunDays": ["Saturday"], "scheduleRunTimes": ["2024-01-06T04:30:00Z"]})
    );

    assert_eq!(
        names(&app.list_policies("rg", "vault", None).await),
        [
            "DefaultPolicy",
            "EnhancedPolicy",
            "v1-weekly",
            "v2-daily",
            "v2-hourly",
            "v2-weekly"
        ]
    );
    for name in ["v1-weekly", "v2-hourly", "v2-daily", "v2-weekly"] {
        assert_eq!(
            app.delete_policy("rg", "vault", name).await.status,
            StatusCode::OK,
            "{name}"
        );
    }
    assert_eq!(
        names(&app.list_policies("rg", "vault", None).await),
        ["DefaultPolicy", "EnhancedPolicy"]
    );
}

async fn policy_names_follow_azure_rules(app: ManagementApp) {
    create_vault(&app, "rg", "vault").await;
    for bad in ["policy-", "1policy", "p.1", "_p"] {
        let refused = app.put_policy("rg", "vault", bad, v1_daily()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {refused:?}"
        );
        assert_eq!(
            refused.error_code(),
            "BMSUserErrorInvalidPolicyInput",
            "{bad}"
        );
        assert_eq!(
            app.get_policy("rg", "vault", bad).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    let accepted = app.put_policy("rg", "vault", "p_1-A", v1_daily()).await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
}

async fn invalid_policies_are_refused_and_change_nothing(app: ManagementApp) {
    create_vault(&app, "rg", "vault").await;
    let original = app.put_policy("rg", "vault", "policy", v1_daily()).await;
    assert_eq!(original.status, StatusCode::OK);
    // (body, text the message must name)
    let cases = [
        (
            with(v1_daily(), "/backupManagementType", json!("AzureStorage")),
            "backupManagementType",
        ),
        (with(v1_daily(), "/policyType", json!("V2")), "policyType"),
        (with(v2_hourly(), "/policyType", json!("V1")), "policyType"),
        (
            with(
                v1_daily(),
                "/schedulePolicy/scheduleRunFrequency",
                json!("Hourly"),
            ),
            "scheduleRunFrequency",
        ),
        (
            with(
                v2_hourly(),
                "/schedulePolicy/hourlySchedule/interval",
                json!(5),
            ),
            "hourlySchedule.interval",
        ),
        (
            with(
                v2_hourly(),
                "/schedulePolicy/hourlySchedule/scheduleWindowDuration",
                json!(2),
            ),
            "scheduleWindowDuration",
        ),
        (
            with(
                v2_hourly(),
                "/schedulePolicy/hourlySchedule/scheduleWindowDuration",
                json!(26),
            ),
            "scheduleWindowDuration",
        ),
        (
            with(
                v2_hourly(),
                "/schedulePolicy/hourlySchedule/scheduleWindowDuration",
                json!(16),
            ),
            "scheduleWindowDuration",
        ),
        (
            with(
                v1_daily(),
                "/schedulePolicy/scheduleRunTimes",
                json!(["2024-05-18T21:15:00Z"]),
            ),
            "scheduleRunTimes[0]",
        ),
        (
            with(
                v1_daily(),
                "/schedulePolicy/scheduleRunTimes",
                json!(["2024-05-18T21:30:10Z"]),
            ),
            "scheduleRunTimes[0]",
        ),
        (
            with(
                v1_daily(),
                "/schedulePolicy/scheduleRunTimes",
                json!(["21:30"]),
            ),
            "scheduleRunTimes[0]",
        ),
        (
            with(
                v1_daily(),
                "/schedulePolicy/scheduleRunTimes",
                json!(["2024-05-18T21:30:00Z", "2024-05-18T09:30:00Z"]),
            ),
            "scheduleRunTimes",
        ),
        (
            with(v1_weekly(), "/schedulePolicy/scheduleRunDays", json!([])),
            "scheduleRunDays",
        ),
        (
            with(
                v1_daily(),
                "/retentionPolicy/dailySchedule/retentionDuration/count",
                json!(6),
            ),
            "retentionDuration.count",
        ),
        (
            with(
                v1_daily(),
                "/retentionPolicy/dailySchedule/retentionDuration/count",
                json!(10000),
            ),
            "retentionDuration.count",
        ),
        (
            with(
                v1_daily(),
                "/retentionPolicy/dailySchedule/retentionDuration/durationType",
                json!("Weeks"),
            ),
            "durationType",
        ),
        (
            with(
                v1_weekly(),
                "/retentionPolicy/weeklySchedule/retentionDuration/count",
                json!(0),
            ),
            "weeklySchedule.retentionDuration.count",
        ),
        (
            with(
                v1_weekly(),
                "/retentionPolicy/monthlySchedule/retentionDuration/count",
                json!(10000),
            ),
            "monthlySchedule.retentionDuration.count",
        ),
        (
            with(
                v1_weekly(),
                "/retentionPolicy/yearlySchedule/retentionDuration/count",
                json!(0),
            ),
            "yearlySchedule.retentionDuration.count",
        ),
        (
            with(
                v1_daily(),
                "/retentionPolicy/dailySchedule/retentionTimes",
                json!(["2024-05-18T20:00:00Z"]),
            ),
            "retentionTimes",
        ),
        (
            with(
                v1_weekly(),
                "/retentionPolicy/weeklySchedule/daysOfTheWeek",
                json!(["Friday"]),
            ),
            "daysOfTheWeek",
        ),
        (
            with(
                v1_weekly(),
                "/retentionPolicy/dailySchedule",
                json!({"retentionDuration": {"count": 7, "durationType": "Days"}}),
            ),
            "dailySchedule",
        ),
        (
            with(v1_daily(), "/instantRpRetentionRangeInDays", json!(6)),
            "instantRpRetentionRangeInDays",
        ),
        (
            with(v1_daily(), "/instantRpRetentionRangeInDays", json!(0)),
            "instantRpRetentionRangeInDays",
        ),
        (
            with(v1_weekly(), "/instantRpRetentionRangeInDays", json!(2)),
            "instantRpRetentionRangeInDays",
        ),
        (
            with(v2_hourly(), "/instantRpRetentionRangeInDays", json!(31)),
            "instantRpRetentionRangeInDays",
        ),
        (
            with(v1_daily(), "/timeZone", json!("Europe/Berlin")),
            "timeZone",
        ),
        (
            with(v1_daily(), "/retentionPolicy", Value::Null),
            "retentionPolicy",
        ),
        (json!({}), "properties"),
    ];
    for (body, field) in cases {
        let refused = app.put_policy("rg", "vault", "policy", body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{field}: {refused:?}"
        );
        assert_eq!(
            refused.error_code(),
            "BMSUserErrorInvalidPolicyInput",
            "{field}"
        );
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field} not in: {message}");
        assert_eq!(
            app.get_policy("rg", "vault", "policy").await.body,
            original.body,
            "{field}: the stored policy changed"
        );
        // Nothing is created either.
        let created = app.put_policy("rg", "vault", "new-policy", body).await;
        assert_eq!(created.status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(
            app.get_policy("rg", "vault", "new-policy").await.status,
            StatusCode::NOT_FOUND,
            "{field}"
        );
    }
    // Not the policy JSON at all.
    let wrong_type = app
        .put_policy(
            "rg",
            "vault",
            "policy",
            json!({"properties": {"instantRpRetentionRangeInDays": "two"}}),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_type.error_code(), "InvalidRequestContent");
}

async fn protected_items_are_counted_and_hold_their_policy(app: ManagementApp) {
    create_vault(&app, "rg", "vault").await;
    assert_eq!(
        app.put_policy("rg", "vault", "Policy-A", v1_daily())
            .await
            .status,
        StatusCode::OK
    );
    insert_protected_item(&app, "vault", "vm-rg", "vm1", Some("Policy-A")).await;
    insert_protected_item(&app, "vault", "vm-rg", "vm2", Some("policy-a")).await;
    insert_protected_item(&app, "vault", "vm-rg", "vm3", Some("DefaultPolicy")).await;
    insert_protected_item(&app, "vault", "vm-rg", "vm4", None).await;

    let got = app.get_policy("rg", "vault", "policy-a").await;
    assert_eq!(got.body["properties"]["protectedItemsCount"], 2);
    let list = app.list_policies("rg", "vault", None).await;
    let counts: Vec<(&str, i64)> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["properties"]["protectedItemsCount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [("DefaultPolicy", 1), ("EnhancedPolicy", 0), ("Policy-A", 2)]
    );

    // In use: it cannot be deleted, nor turned into an enhanced policy; it can be edited.
    let refused = app.delete_policy("rg", "vault", "Policy-A").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{refused:?}");
    assert_eq!(refused.error_code(), "BMSUserErrorPolicyInUse");
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2"));
    let retyped = app.put_policy("rg", "vault", "Policy-A", v2_daily()).await;
    assert_eq!(retyped.status, StatusCode::BAD_REQUEST, "{retyped:?}");
    assert_eq!(retyped.error_code(), "BMSUserErrorInvalidPolicyInput");
    let edited = app
        .put_policy(
            "rg",
            "vault",
            "Policy-A",
            with(v1_daily(), "/instantRpRetentionRangeInDays", json!(5)),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK);
    assert_eq!(edited.body["properties"]["protectedItemsCount"], 2);
    assert_eq!(
        edited.body["properties"]["instantRpRetentionRangeInDays"],
        5
    );
    assert_eq!(
        app.delete_policy("rg", "vault", "DefaultPolicy")
            .await
            .error_code(),
        "BMSUserErrorPolicyInUse"
    );

    remove_protected_items(&app, "vault").await;
    assert_eq!(
        app.delete_policy("rg", "vault", "Policy-A").await.status,
        StatusCode::OK
    );
}

async fn default_policy_can_be_edited_and_deleted(app: ManagementApp) {
    create_vault(&app, "rg", "vault").await;
    let edited = app
        .put_policy("rg", "vault", "DefaultPolicy", v1_weekly())
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    assert_eq!(edited.body["name"], "DefaultPolicy");
    assert_eq!(
        app.get_policy("rg", "vault", "DefaultPolicy").await.body["properties"]["schedulePolicy"]
            ["scheduleRunFrequency"],
        "Weekly"
    );
    assert_eq!(
        app.delete_policy("rg", "vault", "DefaultPolicy")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        names(&app.list_policies("rg", "vault", None).await),
        ["EnhancedPolicy"]
    );
}

async fn policy_lists_filter_as_clients_ask(app: ManagementApp) {
    create_vault(&app, "rg", "vault").await;
    let all = ["DefaultPolicy", "EnhancedPolicy"];
    for filter in [
        "backupManagementType eq 'AzureIaasVM'",
        "backupManagementType eq 'azureiaasvm'",
        "workloadType eq 'VM'",
        "backupManagementType eq 'AzureIaasVM' and workloadType eq 'VM'",
    ] {
        let list = app.list_policies("rg", "vault", Some(filter)).await;
        assert_eq!(list.status, StatusCode::OK, "{filter}");
        assert_eq!(names(&list), all, "{filter}");
    }
    for filter in [
        "backupManagementType eq 'AzureStorage'",
        "backupManagementType eq 'AzureWorkload' and workloadType eq 'SQLDataBase'",
        "workloadType eq 'AzureFileShare'",
    ] {
        let list = app.list_policies("rg", "vault", Some(filter)).await;
        assert_eq!(list.status, StatusCode::OK, "{filter}");
        assert_eq!(list.body, json!({"value": []}), "{filter}");
    }
    // The CLI's own encoding (`+` for spaces, `%24filter`).
    let cli = app
        .get(&format!(
            "{}/backupPolicies?api-version=2022-02-01&%24filter=backupManagementType+eq+%27AzureIaasVM%27",
            app.vault_path("rg", "vault")
        ))
        .await;
    assert_eq!(names(&cli), all);
    let unknown = app
        .list_policies("rg", "vault", Some("policyName eq 'x'"))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.error_code(), "InvalidQueryParameterValue");
}

async fn policies_need_their_vault(app: ManagementApp) {
    create_vault(&app, "rg", "vault").await;
    for response in [
        app.list_policies("rg", "other", None).await,
        app.get_policy("rg", "other", "DefaultPolicy").await,
        app.put_policy("rg", "other", "p", v1_daily()).await,
        app.delete_policy("rg", "other", "DefaultPolicy").await,
    ] {
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{response:?}");
        assert_eq!(response.error_code(), "ResourceNotFound");
    }
    let missing = app.get_policy("rg", "vault", "nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "BMSUserErrorPolicyNotFound");
}

crate::on_both_backends!(
    v1_daily_policy_lifecycle,
    every_schedule_kind_round_trips,
    invalid_policies_are_refused_and_change_nothing,
    policy_names_follow_azure_rules,
    protected_items_are_counted_and_hold_their_policy,
    default_policy_can_be_edited_and_deleted,
    policy_lists_filter_as_clients_ask,
    policies_need_their_vault,
);
