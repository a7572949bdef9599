//! Recovery Services vaults: create, update, get, list, delete, and the policies every
//! new vault starts with.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::management::app::{ArmResponse, ManagementApp};

impl ManagementApp {
    /// PUT a vault as `az backup vault create` does (CLI 2.36).
    pub async fn put_vault(&self, group: &str, vault: &str, location: &str) -> ArmResponse {
        self.put(
            &self.vault_path(group, vault),
            json!({"location": location, "sku": {"name": "Standard"}, "properties": {}}),
        )
        .await
    }

    pub async fn get_vault(&self, group: &str, vault: &str) -> ArmResponse {
        self.get(&self.vault_path(group, vault)).await
    }

    pub async fn delete_vault(&self, group: &str, vault: &str) -> ArmResponse {
        self.delete(&self.vault_path(group, vault)).await
    }

    pub async fn list_vaults_in_group(&self, group: &str) -> ArmResponse {
        self.get(&format!(
            "{}/providers/Microsoft.RecoveryServices/vaults",
            self.group_path(group)
        ))
        .await
    }

    pub async fn list_vaults_in_subscription(&self) -> ArmResponse {
        self.get(&format!(
            "{}/providers/Microsoft.RecoveryServices/vaults",
            self.subscription_path()
        ))
        .await
    }
}

/// Creates a resource group.
pub async fn create_group(app: &ManagementApp, group: &str) {
    let response = app.put_group(group, "westeurope").await;
    assert!(response.status.is_success(), "{response:?}");
}

/// Creates a group and a vault in it.
pub async fn create_vault(app: &ManagementApp, group: &str, vault: &str) -> Value {
    create_group(app, group).await;
    let response = app.put_vault(group, vault, "westeurope").await;
    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    response.body
}

/// The vault's row id in the metadata database.
pub async fn vault_row_id(app: &ManagementApp, vault: &str) -> String {
    sqlx::query_scalar("select vault_id from vault where name_key = $1")
        .bind(vault.to_ascii_lowercase())
        .fetch_one(app.db().await.pool())
        .await
        .unwrap()
}

/// Puts in place a protected item of `vault` for VM `vm` of group `group`, as the
/// protection stage would: protected with `policy`, or stopped with its data retained
/// when `policy` is `None`.
pub async fn insert_protected_item(
    app: &ManagementApp,
    vault: &str,
    group: &str,
    vm: &str,
    policy: Option<&str>,
) {
    let vault_id = vault_row_id(app, vault).await;
    let source = format!(
        "{}/providers/Microsoft.Compute/virtualMachines/{vm}",
        app.group_path(group)
    );
    sqlx::query(
        "insert into protected_item (vault_id, item_key, vm_id, vm_name, vm_resource_group, \
         source_resource_id, policy_key, protection_state, health_status, last_backup_status, \
         last_backup_time, last_recovery_point, protected_item_data_id, extended_properties, \
         created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, 'Passed', '', null, null, 1, '{}', 0)",
    )
    .bind(&vault_id)
    .bind(format!("vm;iaasvmcontainerv2;{group};{vm}").to_ascii_lowercase())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(vm)
    .bind(group)
    .bind(source)
    .bind(policy.map(str::to_ascii_lowercase))
    .bind(if policy.is_some() {
        "Protected"
    } else {
        "ProtectionStopped"
    })
    .execute(app.db().await.pool())
    .await
    .unwrap();
}

pub async fn remove_protected_items(app: &ManagementApp, vault: &str) {
    let vault_id = vault_row_id(app, vault).await;
    sqlx::query("delete from protected_item where vault_id = $1")
        .bind(vault_id)
        .execute(app.db().await.pool())
        .await
        .unwrap();
}

/// The time a vault was last written, from its etag (`W/"datetime'2020-04-28T11%3A00%3A56.0416025Z'"`).
fn etag_time(vault: &Value) -> DateTime<Utc> {
    let etag = vault["etag"].as_str().unwrap();
    let time = etag
        .strip_prefix("W/\"datetime'")
        .and_then(|t| t.strip_suffix("'\""))
        .unwrap_or_else(|| panic!("etag {etag}"))
        .replace("%3A", ":");
    NaiveDateTime::parse_from_str(&time, "%Y-%m-%dT%H:%M:%S%.fZ")
        .unwrap()
        .and_utc()
}

fn names(list: &ArmResponse) -> Vec<&str> {
    list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect()
}

async fn vault_lifecycle(app: ManagementApp) {
    create_group(&app, "rg-one").await;
    let created = app.put_vault("rg-one", "Vault-1", "West Europe").await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.header("azure-asyncoperation"), "");
    let id = format!(
        "/subscriptions/{}/resourceGroups/rg-one/providers/Microsoft.RecoveryServices/vaults/Vault-1",
        app.credentials.subscription_id
    );
    let body = &created.body;
    assert_eq!(body["id"], id);
    assert_eq!(body["name"], "Vault-1");
    assert_eq!(body["type"], "Microsoft.RecoveryServices/vaults");
    assert_eq!(body["location"], "westeurope");
    assert_eq!(body["sku"]["name"], "Standard");
    assert!(body.get("tags").is_none());
    let properties = &body["properties"];
    assert_eq!(properties["provisioningState"], "Succeeded");
    assert_eq!(properties["privateEndpointStateForBackup"], "None");
    assert_eq!(properties["privateEndpointStateForSiteRecovery"], "None");
    assert_eq!(properties["publicNetworkAccess"], "Enabled");
    assert_eq!(
        properties["redundancySettings"]["standardTierStorageRedundancy"],
        "GeoRedundant"
    );
    assert_eq!(
        properties["securitySettings"]["softDeleteSettings"]["softDeleteState"],
        "Enabled"
    );
    let created_at = etag_time(body);
    assert!((Utc::now() - created_at).num_seconds().abs() < 60);

    // Update: same location (any spelling), new tags and SKU.
    let updated = app
        .put(
            &app.vault_path("rg-one", "vault-1"),
            json!({"location": "westeurope", "sku": {"name": "RS0"}, "tags": {"env": "test"}}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.body["name"], "Vault-1", "the name as created");
    assert_eq!(updated.body["id"], id);
    assert_eq!(updated.body["tags"], json!({"env": "test"}));
    assert_eq!(updated.body["sku"]["name"], "RS0");
    assert_ne!(updated.body["etag"], body["etag"]);

    let got = app.get_vault("RG-ONE", "VAULT-1").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, updated.body);

    // A second vault in another group.
    create_group(&app, "rg-two").await;
    assert_eq!(
        app.put_vault("rg-two", "vault-2", "eastus").await.status,
        StatusCode::CREATED
    );
    let in_group = app.list_vaults_in_group("rg-one").await;
    assert_eq!(in_group.status, StatusCode::OK);
    assert_eq!(names(&in_group), ["Vault-1"]);
    assert_eq!(in_group.body["value"][0], updated.body);
    assert!(in_group.body.get("nextLink").is_none());
    let in_subscription = app.list_vaults_in_subscription().await;
    assert_eq!(in_subscription.status, StatusCode::OK);
    assert_eq!(names(&in_subscription), ["Vault-1", "vault-2"]);

    // The location is fixed.
    let moved = app.put_vault("rg-one", "Vault-1", "eastus").await;
    assert_eq!(moved.status, StatusCode::CONFLICT, "{moved:?}");
    assert_eq!(moved.error_code(), "InvalidResourceLocation");
    assert!(moved.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("westeurope"));
    assert_eq!(
        app.get_vault("rg-one", "Vault-1").await.body["location"],
        "westeurope"
    );

    // 204, never 200: the SDK behind `az` 2.91 raises on 200 for a vault DELETE.
    let deleted = app.delete_vault("rg-one", "vault-1").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    let gone = app.get_vault("rg-one", "Vault-1").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "ResourceNotFound");
    assert_eq!(
        app.delete_vault("rg-one", "vault-1").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(names(&app.list_vaults_in_subscription().await), ["vault-2"]);
}

async fn vault_names_are_checked(app: ManagementApp) {
    create_group(&app, "rg").await;
    let too_long = "v".repeat(51);
    for name in [
        "v",
        "1vault",
        "-vault",
        "my_vault",
        "my.vault",
        too_long.as_str(),
    ] {
        let response = app.put_vault("rg", name, "westeurope").await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{name}: {response:?}"
        );
        assert_eq!(response.error_code(), "InvalidResourceName", "{name}");
        assert!(response.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 to 50"));
    }
    let longest = "v".repeat(50);
    for name in ["ab", "Vault-2-b", longest.as_str()] {
        let response = app.put_vault("rg", name, "westeurope").await;
        assert_eq!(response.status, StatusCode::CREATED, "{name}: {response:?}");
    }
    assert_eq!(names(&app.list_vaults_in_group("rg").await).len(), 3);
}

async fn vault_bodies_are_checked(app: ManagementApp) {
    create_group(&app, "rg").await;
    let path = app.vault_path("rg", "vault");
    let no_location = app.put(&path, json!({"sku": {"name": "Standard"}})).await;
    assert_eq!(no_location.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_location.error_code(), "LocationRequired");
    let bad_sku = app
        .put(
            &path,
            json!({"location": "westeurope", "sku": {"name": "Premium"}}),
        )
        .await;
    assert_eq!(bad_sku.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_sku.error_code(), "InvalidSkuName");
    let bad_json = app.put(&path, json!({"location": 5})).await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_json.error_code(), "InvalidRequestContent");
    let bad_setting = app
        .put(
            &path,
            json!({"location": "westeurope", "properties": {"publicNetworkAccess": "Sometimes"}}),
        )
        .await;
    assert_eq!(bad_setting.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_setting.error_code(), "InvalidParameter");
    assert_eq!(
        app.get_vault("rg", "vault").await.status,
        StatusCode::NOT_FOUND
    );

    // What CLI 2.89 sends: settings are kept, read-only properties ignored.
    let created = app
        .put(
            &path,
            json!({
                "location": "westeurope",
                "sku": {"name": "RS0"},
                "properties": {
                    "provisioningState": "Failed",
                    "publicNetworkAccess": "Disabled",
                    "securitySettings": {"softDeleteSettings": {"softDeleteState": "Disabled"}},
                    "monitoringSettings": {"classicAlertSettings": {"alertsForCriticalOperations": "Disabled"}}
                }
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let properties = &app.get_vault("rg", "vault").await.body["properties"];
    assert_eq!(properties["provisioningState"], "Succeeded");
    assert_eq!(properties["publicNetworkAccess"], "Disabled");
    assert_eq!(
        properties["securitySettings"]["softDeleteSettings"],
        json!({
            "softDeleteRetentionPeriodInDays": 14,
            "softDeleteState": "Disabled",
            "enhancedSecurityState": "Enabled"
        })
    );
    assert_eq!(
        properties["monitoringSettings"]["classicAlertSettings"]["alertsForCriticalOperations"],
        "Disabled"
    );
    assert_eq!(
        properties["monitoringSettings"]["azureMonitorAlertSettings"]["alertsForAllJobFailures"],
        "Enabled"
    );
    // An update keeps settings it does not name.
    let updated = app.put(&path, json!({"location": "westeurope"})).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(
        updated.body["properties"]["publicNetworkAccess"],
        "Disabled"
    );
    assert_eq!(
        updated.body["sku"]["name"], "RS0",
        "the SKU is kept when not given"
    );
}

async fn vaults_need_their_group(app: ManagementApp) {
    let put = app.put_vault("nowhere", "vault", "westeurope").await;
    assert_eq!(put.status, StatusCode::NOT_FOUND);
    assert_eq!(put.error_code(), "ResourceGroupNotFound");
    for response in [
        app.get_vault("nowhere", "vault").await,
        app.list_vaults_in_group("nowhere").await,
        app.delete_vault("nowhere", "vault").await,
    ] {
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{response:?}");
        assert_eq!(response.error_code(), "ResourceGroupNotFound");
    }
    create_group(&app, "rg").await;
    let missing = app.get_vault("rg", "vault").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "ResourceNotFound");
    assert!(missing.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Microsoft.RecoveryServices/vaults/vault"));
    assert_eq!(
        app.list_vaults_in_group("rg").await.body,
        json!({"value": []})
    );
}

async fn a_new_vault_has_default_and_enhanced_policies(app: ManagementApp) {
    let vault = create_vault(&app, "rg", "vault").await;
    let created_at = etag_time(&vault);
    let list = app.list_policies("rg", "vault", None).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let policies = list.body["value"].as_array().unwrap();
    assert_eq!(names(&list), ["DefaultPolicy", "EnhancedPolicy"]);

    // DefaultPolicy runs at the first half hour after the vault was created.
    let floor = created_at
        .with_minute(if created_at.minute() >= 30 { 30 } else { 0 })
        .unwrap()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    let run_at = (floor + TimeDelta::minutes(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let vault_id = vault["id"].as_str().unwrap();
    assert_eq!(
        policies[0],
        json!({
            "id": format!("{vault_id}/backupPolicies/DefaultPolicy"),
            "name": "DefaultPolicy",
            "type": "Microsoft.RecoveryServices/vaults/backupPolicies",
            "properties": {
                "backupManagementType": "AzureIaasVM",
                "policyType": "V1",
                "instantRPDetails": {},
                "schedulePolicy": {
                    "schedulePolicyType": "SimpleSchedulePolicy",
                    "scheduleRunFrequency": "Daily",
                    "scheduleRunTimes": [run_at],
                    "scheduleWeeklyFrequency": 0
                },
                "retentionPolicy": {
                    "retentionPolicyType": "LongTermRetentionPolicy",
                    "dailySchedule": {
                        "retentionTimes": [run_at],
                        "retentionDuration": {"count": 30, "durationType": "Days"}
                    }
                },
                "instantRpRetentionRangeInDays": 2,
                "timeZone": "UTC",
                "protectedItemsCount": 0
            }
        })
    );
    let window_start = format!("{}T08:00:00Z", created_at.format("%Y-%m-%d"));
    assert_eq!(
        policies[1],
        json!({
            "id": format!("{vault_id}/backupPolicies/EnhancedPolicy"),
            "name": "EnhancedPolicy",
            "type": "Microsoft.RecoveryServices/vaults/backupPolicies",
            "properties": {
                "backupManagementType": "AzureIaasVM",
                "policyType": "V2",
                "instantRPDetails": {},
                "schedulePolicy": {
                    "schedulePolicyType": "SimpleSchedulePolicyV2",
                    "scheduleRunFrequency": "Hourly",
                    "hourlySchedule": {
                        "interval": 4,
                        "scheduleWindowStartTime": window_start,
                        "scheduleWindowDuration": 12
                    }
                },
                "retentionPolicy": {
                    "retentionPolicyType": "LongTermRetentionPolicy",
                    "dailySchedule": {
                        "retentionTimes": [window_start],
                        "retentionDuration": {"count": 30, "durationType": "Days"}
                    }
                },
                "instantRpRetentionRangeInDays": 2,
                "timeZone": "UTC",
                "protectedItemsCount": 0
            }
        })
    );
    // The CLI reads DefaultPolicy with a GET (any case).
    let default = app.get_policy("rg", "vault", "defaultpolicy").await;
    assert_eq!(default.status, StatusCode::OK);
    assert_eq!(default.body, policies[0]);
    // Updating the vault leaves its policies alone.
    assert_eq!(
        app.put_vault("rg", "vault", "westeurope").await.status,
        StatusCode::OK
    );
    assert_eq!(app.list_policies("rg", "vault", None).await.body, list.body);
}

async fn vault_delete_is_refused_while_it_holds_items(app: ManagementApp) {
    create_vault(&app, "rg", "vault").await;
    insert_protected_item(&app, "vault", "vm-rg", "vm1", None).await;
    let refused = app.delete_vault("rg", "vault").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(
        refused.error_code(),
        "ServiceResourceNotEmptyWithContainerDetails"
    );
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Vault cannot be deleted"), "{message}");
    assert!(message.contains("iaasvmcontainerv2;vm-rg;vm1"), "{message}");
    assert_eq!(app.get_vault("rg", "vault").await.status, StatusCode::OK);
    assert_eq!(
        names(&app.list_policies("rg", "vault", None).await),
        ["DefaultPolicy", "EnhancedPolicy"]
    );

    // Emptied, the vault goes with its policies and jobs.
    remove_protected_items(&app, "vault").await;
    let vault_id = vault_row_id(&app, "vault").await;
    let db = app.db().await;
    sqlx::query(
        "insert into backup_job (job_id, vault_id, item_key, entity_friendly_name, \
         container_name, operation, status, start_time, end_time, is_user_triggered, \
         activity_id, error_details, extended_info) \
         values ($1, $2, null, 'vm1', 'c', 'Backup', 'Completed', 0, 1, 0, 'a', '[]', '{}')",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&vault_id)
    .execute(db.pool())
    .await
    .unwrap();
    assert_eq!(
        app.delete_vault("rg", "vault").await.status,
        StatusCode::NO_CONTENT
    );
    for table in ["backup_policy", "backup_job", "vault"] {
        let left: i64 =
            sqlx::query_scalar(&format!("select count(*) from {table} where vault_id = $1"))
                .bind(&vault_id)
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(left, 0, "{table}");
    }
    // A vault of the same name starts afresh.
    assert_eq!(
        app.put_vault("rg", "vault", "eastus").await.status,
        StatusCode::CREATED
    );
}

crate::on_both_backends!(
    vault_lifecycle,
    vault_names_are_checked,
    vault_bodies_are_checked,
    vaults_need_their_group,
    a_new_vault_has_default_and_enhanced_policies,
    vault_delete_is_refused_while_it_holds_items,
);
