//! The whole life of a protected VM as a client drives it: resource group, VM, vault,
//! policy, enable protection (the `az` flow), operation polling, filtered lists, stop
//! protection, delete the backup data, delete the vault. And the OpenAPI document the
//! service serves.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::ManagementApp;
use super::protection::{container_name, item_name, last_segment};

fn hourly_policy() -> Value {
    json!({"properties": {
        "backupManagementType": "AzureIaasVM",
        "policyType": "V2",
        "instantRpRetentionRangeInDays": 7,
        "timeZone": "W. Europe Standard Time",
        "schedulePolicy": {
            "schedulePolicyType": "SimpleSchedulePolicyV2",
            "scheduleRunFrequency": "Hourly",
            "hourlySchedule": {
                "interval": 6,
                "scheduleWindowStartTime": "2026-01-01T06:00:00Z",
                "scheduleWindowDuration": 12
            }
        },
        "retentionPolicy": {
            "retentionPolicyType": "LongTermRetentionPolicy",
            "dailySchedule": {
                "retentionTimes": ["2026-01-01T06:00:00Z"],
                "retentionDuration": {"count": 14, "durationType": "Days"}
            }
        }
    }})
}

/// The job ids and operations of a (filtered) job list, newest first.
async fn jobs(app: &ManagementApp, filter: &str) -> Vec<(String, String)> {
    let list = app.list_jobs("prod", "vault1", Some(filter)).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| {
            assert_eq!(job["properties"]["jobType"], "AzureIaaSVMJob");
            (
                job["name"].as_str().unwrap().to_owned(),
                job["properties"]["operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn a_protected_vm_from_creation_to_vault_deletion(app: ManagementApp) {
    assert_eq!(
        app.put_group("prod", "westeurope").await.status,
        StatusCode::CREATED
    );
    let vm = app
        .put_vm(
            "prod",
            "web1",
            ManagementApp::vm_body("Linux", "westeurope", &[64]),
        )
        .await;
    assert_eq!(vm.status, StatusCode::CREATED, "{:?}", vm.body);
    assert_eq!(
        app.put_vault("prod", "vault1", "westeurope").await.status,
        StatusCode::CREATED
    );
    let policy = app
        .put_policy("prod", "vault1", "every6h", hourly_policy())
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{:?}", policy.body);

    // Enable protection exactly as `az backup protection enable-for-vm` does.
    let job = app
        .enable_protection("prod", "vault1", "prod", "web1", "every6h")
        .await;
    assert_eq!(job["properties"]["operation"], "ConfigureBackup");
    assert_eq!(job["properties"]["status"], "Completed");
    assert_eq!(job["properties"]["entityFriendlyName"], "web1");

    let policy = app.get_policy("prod", "vault1", "every6h").await;
    assert_eq!(policy.body["properties"]["protectedItemsCount"], 1);
    let items = app
        .list_protected_items(
            "prod",
            "vault1",
            Some("backupManagementType eq 'AzureIaasVM' and itemType eq 'VM' and policyName eq 'every6h'"),
        )
        .await;
    let items = items.body["value"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["properties"]["protectionState"], "IRPending");
    assert_eq!(items[0]["properties"]["friendlyName"], "web1");
    let other_policy = app
        .list_protected_items("prod", "vault1", Some("policyName eq 'DefaultPolicy'"))
        .await;
    assert_eq!(other_policy.body["value"], json!([]));

    // Stop protection, keeping the data: a DisableBackup job, the item still listed.
    let container = container_name("prod", "web1");
    let item = item_name("prod", "web1");
    let stop = app
        .put_protected_item(
            "prod",
            "vault1",
            &container,
            &item,
            json!({"properties": {
                "protectedItemType": "Microsoft.Compute/virtualMachines",
                "sourceResourceId": app.vm_path("prod", "web1"),
                "policyId": "",
                "protectionState": "ProtectionStopped"
            }}),
        )
        .await;
    assert_eq!(stop.status, StatusCode::ACCEPTED, "{:?}", stop.body);
    let status = app
        .wait_for_operation(
            "prod",
            "vault1",
            &last_segment(stop.header("azure-asyncoperation")),
        )
        .await;
    assert_eq!(status["status"], "Succeeded");
    let stopped = app
        .get_protected_item("prod", "vault1", &container, &item)
        .await;
    assert_eq!(
        stopped.body["properties"]["protectionState"],
        "ProtectionStopped"
    );
    let policy = app.get_policy("prod", "vault1", "every6h").await;
    assert_eq!(policy.body["properties"]["protectedItemsCount"], 0);

    // The vault keeps the retained data: it cannot be deleted yet.
    let refused = app.delete_vault("prod", "vault1").await;
    assert!(refused.status.is_client_error(), "{:?}", refused.body);
    assert_eq!(app.get_vault("prod", "vault1").await.status, StatusCode::OK);

    // Delete the backup data: a DeleteBackupData job; the item is gone.
    let delete = app
        .delete_protected_item("prod", "vault1", &container, &item)
        .await;
    assert_eq!(delete.status, StatusCode::ACCEPTED, "{:?}", delete.body);
    let status = app
        .wait_for_operation(
            "prod",
            "vault1",
            &last_segment(delete.header("azure-asyncoperation")),
        )
        .await;
    assert_eq!(status["status"], "Succeeded");
    let gone = app
        .get_protected_item("prod", "vault1", &container, &item)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Every step left its job, newest first, and the filters select them.
    let all = jobs(&app, "backupManagementType eq 'AzureIaasVM'").await;
    let operations: Vec<&str> = all.iter().map(|(_, op)| op.as_str()).collect();
    assert_eq!(
        operations,
        ["DeleteBackupData", "DisableBackup", "ConfigureBackup"]
    );
    let configure = jobs(
        &app,
        "operation eq 'ConfigureBackup' and status eq 'Completed'",
    )
    .await;
    assert_eq!(configure.len(), 1);
    assert_eq!(configure[0].0, job["name"].as_str().unwrap());

    // Now the vault can go, and with it its policies and jobs.
    let deleted = app.delete_vault("prod", "vault1").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);
    let vault = app.get_vault("prod", "vault1").await;
    assert_eq!(vault.status, StatusCode::NOT_FOUND);
    assert_eq!(vault.error_code(), "ResourceNotFound");
    // The VM and its disks are untouched.
    assert_eq!(app.get_vm("prod", "web1").await.status, StatusCode::OK);
}

async fn the_served_openapi_document_is_the_checked_in_one(app: ManagementApp) {
    let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    let checked_in: Value =
        serde_json::from_str(include_str!("../../../openapi/vaultsim.json")).unwrap();
    assert_eq!(served, checked_in);
    assert!(served["paths"]
        .as_object()
        .unwrap()
        .contains_key("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}/backupJobs"));
}

crate::on_both_backends!(
    a_protected_vm_from_creation_to_vault_deletion,
    the_served_openapi_document_is_the_checked_in_one,
);
