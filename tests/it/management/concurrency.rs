//! Many clients at once: writes wait for each other rather than fail, and protecting an
//! item or deleting its protection answers as the same requests sent one after another do.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::management::app::ManagementApp;
use crate::management::policies::v1_daily;

/// How many requests each test sends at once.
const CLIENTS: usize = 16;

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

crate::on_both_backends!(concurrent_vault_and_policy_writes_all_succeed);
