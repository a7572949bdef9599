//! Many clients at once: writes wait for each other rather than fail, and protecting an
//! item or deleting its protection answers as the same requests sent one after another do.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::management::app::ManagementApp;
use crate::management::policies::v1_daily;
use crate::management::protection::{container_name, item_name};

/// How many requests each test sends at once.
const CLIENTS: usize = 16;

/// The jobs of a vault with this operation.
async fn jobs_of(app: &ManagementApp, group: &str, vault: &str, operation: &str) -> Vec<Value> {
    let listed = app
        .list_jobs(group, vault, Some(&format!("operation eq '{operation}'")))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    listed.body["value"].as_array().unwrap().clone()
}

async fn concurrent_vault_and_policy_writes_all_succeed(app: ManagementApp) {
    let created = app.put_group("rg-many", "eastus").await;
    assert!(created.status.is_success(), "{created:?}");
    let vaults: Vec<String> = (0..CLIENTS).map(|n| format!("vault{n}")).collect();
    for round in ["create", "update"] {
        let puts = join_all(
            vaults
                .iter()
                .map(|vault| app.put_vault("rg-many", vault, "eastus")),
        )
        .await;
        for put in puts {
            assert!(put.status.is_success(), "{round}: {put:?}");
        }
    }
    let policies: Vec<String> = (0..CLIENTS).map(|n| format!("policy{n}")).collect();
    // Many policies of one vault, and one policy in each of many vaults.
    let puts = join_all(
        policies
            .iter()
            .map(|policy| app.put_policy("rg-many", "vault0", policy, v1_daily()))
            .chain(
                vaults
                    .iter()
                    .map(|vault| app.put_policy("rg-many", vault, "daily", v1_daily())),
            ),
    )
    .await;
    for put in puts {
        assert_eq!(put.status, StatusCode::OK, "{put:?}");
    }
    let deletes = join_all(
        policies
            .iter()
            .map(|policy| app.delete_policy("rg-many", "vault0", policy))
            .chain(
                vaults
                    .iter()
                    .map(|vault| app.delete_policy("rg-many", vault, "daily")),
            ),
    )
    .await;
    for delete in deletes {
        assert!(delete.status.is_success(), "{delete:?}");
    }
    let deletes = join_all(
        vaults
            .iter()
            .map(|vault| app.delete_vault("rg-many", vault)),
    )
    .await;
    for delete in deletes {
        assert!(delete.status.is_success(), "{delete:?}");
    }
    let left = app.list_vaults_in_group("rg-many").await;
    assert_eq!(left.body["value"], Value::Array(Vec::new()), "{left:?}");
}

async fn identical_protect_puts_at_once_all_succeed(app: ManagementApp) {
    app.protection_setup("rg-p", "vault1", &["vm1"]).await;
    let body = app.protect_body(
        "rg-p",
        "vm1",
        &app.policy_id("rg-p", "vault1", "DefaultPolicy"),
    );
    let (container, item) = (container_name("rg-p", "vm1"), item_name("rg-p", "vm1"));
    let puts = join_all(
        (0..CLIENTS)
            .map(|_| app.put_protected_item("rg-p", "vault1", &container, &item, body.clone())),
    )
    .await;
    for put in puts {
        assert_eq!(put.status, StatusCode::ACCEPTED, "{:?}", put.body);
    }
    // As sent one after another: one item, and a job for each request.
    let items = app.list_protected_items("rg-p", "vault1", None).await;
    assert_eq!(
        items.body["value"].as_array().unwrap().len(),
        1,
        "{items:?}"
    );
    assert_eq!(
        jobs_of(&app, "rg-p", "vault1", "ConfigureBackup")
            .await
            .len(),
        CLIENTS
    );
}

async fn concurrent_deletes_of_one_item_delete_it_once(app: ManagementApp) {
    app.protection_setup("rg-d", "vault1", &["vm1"]).await;
    app.protect("rg-d", "vault1", "vm1", "DefaultPolicy").await;
    let (container, item) = (container_name("rg-d", "vm1"), item_name("rg-d", "vm1"));
    let deletes = join_all(
        (0..CLIENTS / 2).map(|_| app.delete_protected_item("rg-d", "vault1", &container, &item)),
    )
    .await;
    let accepted = deletes
        .iter()
        .filter(|d| d.status == StatusCode::ACCEPTED)
        .count();
    assert_eq!(accepted, 1, "{deletes:?}");
    for delete in deletes.iter().filter(|d| d.status != StatusCode::ACCEPTED) {
        assert_eq!(delete.status, StatusCode::NOT_FOUND, "{delete:?}");
        assert_eq!(delete.error_code(), "BMSUserErrorDataSourceObjectNotFound");
    }
    assert_eq!(
        jobs_of(&app, "rg-d", "vault1", "DeleteBackupData")
            .await
            .len(),
        1
    );
}

crate::on_both_backends!(
    concurrent_vault_and_policy_writes_all_succeed,
    identical_protect_puts_at_once_all_succeed,
    concurrent_deletes_of_one_item_delete_it_once,
);
