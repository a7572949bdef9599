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

/// How many (protect with P, delete P) pairs race in the policy test.
const RACES: usize = 12;

async fn deleting_a_policy_while_an_item_is_protected_with_it_leaves_no_dangling_item(
    app: ManagementApp,
) {
    let vms: Vec<String> = (0..RACES).map(|n| format!("vm{n}")).collect();
    let vm_names: Vec<&str> = vms.iter().map(String::as_str).collect();
    app.protection_setup("rg-race", "vault1", &vm_names).await;
    for n in 0..RACES {
        let put = app
            .put_policy("rg-race", "vault1", &format!("p{n}"), v1_daily())
            .await;
        assert_eq!(put.status, StatusCode::OK, "{put:?}");
    }
    let races = join_all((0..RACES).map(|n| {
        let (vm, policy) = (format!("vm{n}"), format!("p{n}"));
        let body = app.protect_body("rg-race", &vm, &app.policy_id("rg-race", "vault1", &policy));
        let (container, item) = (container_name("rg-race", &vm), item_name("rg-race", &vm));
        let app = &app;
        async move {
            tokio::join!(
                app.put_protected_item("rg-race", "vault1", &container, &item, body),
                app.delete_policy("rg-race", "vault1", &policy),
            )
        }
    }))
    .await;
    for (put, delete) in &races {
        // Either order, as if sent one after the other: protected and the delete refused,
        // or deleted and the protection refused.
        match put.status {
            StatusCode::ACCEPTED => {
                assert_eq!(delete.status, StatusCode::CONFLICT, "{delete:?}");
                assert_eq!(delete.error_code(), "BMSUserErrorPolicyInUse");
            }
            StatusCode::NOT_FOUND => {
                assert_eq!(put.error_code(), "BMSUserErrorPolicyNotFound", "{put:?}");
                assert!(delete.status.is_success(), "{delete:?}");
            }
            _ => panic!("protect: {put:?}"),
        }
    }
    let db = app.db().await;
    let dangling: i64 = sqlx::query_scalar(
        "select count(*) from protected_item i where i.policy_key is not null and not exists \
         (select 1 from backup_policy p \
          where p.vault_id = i.vault_id and p.name_key = i.policy_key)",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(dangling, 0, "{races:?}");
}

crate::on_both_backends!(
    concurrent_vault_and_policy_writes_all_succeed,
    identical_protect_puts_at_once_all_succeed,
    concurrent_deletes_of_one_item_delete_it_once,
    deleting_a_policy_while_an_item_is_protected_with_it_leaves_no_dangling_item,
);
