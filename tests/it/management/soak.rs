//! A bounded soak: 32 clients at once create, update and delete vaults, policies,
//! protection and on-demand backups for `VAULTSIM_SOAK_SECONDS` (10 by default). No request
//! may fail with a 5xx, and at the end each client finds what it was told.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::json;

use crate::management::app::{ArmResponse, ManagementApp};
use crate::management::policies::v1_daily;
use crate::management::protection::{container_name, item_name};

const CLIENTS: usize = 32;
const GROUP: &str = "rg-soak";
/// A vault and VM every client protects at once, beside its own.
const SHARED: &str = "shared";
const OWN_POLICY: &str = "own";

fn soak_duration() -> Duration {
    let seconds = std::env::var("VAULTSIM_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(seconds)
}

/// Asserts the response is one of `allowed` (never a 5xx) and answers its status.
fn expect(response: &ArmResponse, allowed: &[u16], what: &str) -> u16 {
    let status = response.status.as_u16();
    assert!(
        allowed.contains(&status),
        "{what}: {status} {:?}",
        response.body
    );
    status
}

/// What one client was told about its own vault.
#[derive(Debug, Default)]
struct Told {
    policy: bool,
    /// The policy its VM is protected with.
    protected_with: Option<&'static str>,
    backups: usize,
}

async fn client(app: &ManagementApp, n: usize, until: Instant) -> Told {
    let (vault, vm) = (format!("vault{n}"), format!("vm{n}"));
    let (container, item) = (container_name(GROUP, &vm), item_name(GROUP, &vm));
    let mut rng = StdRng::seed_from_u64(n as u64);
    let mut told = Told::default();
    while Instant::now() < until {
        match rng.gen_range(0..7) {
            0 => {
                let put = app.put_vault(GROUP, &vault, "eastus").await;
                expect(&put, &[200], "vault update");
            }
            1 => {
                let put = app.put_policy(GROUP, &vault, OWN_POLICY, v1_daily()).await;
                expect(&put, &[200], "policy put");
                told.policy = true;
            }
            2 => {
                let delete = app.delete_policy(GROUP, &vault, OWN_POLICY).await;
                if told.protected_with == Some(OWN_POLICY) {
                    expect(&delete, &[409], "policy delete in use");
                } else {
                    expect(&delete, &[200, 204], "policy delete");
                    told.policy = false;
                }
            }
            3 => {
                let policy = if told.policy {
                    OWN_POLICY
                } else {
                    "DefaultPolicy"
                };
                let body = app.protect_body(GROUP, &vm, &app.policy_id(GROUP, &vault, policy));
                let put = app
                    .put_protected_item(GROUP, &vault, &container, &item, body)
                    .await;
                expect(&put, &[202], "protect");
                told.protected_with = Some(policy);
            }
            4 => {
                let delete = app
                    .delete_protected_item(GROUP, &vault, &container, &item)
                    .await;
                let allowed = if told.protected_with.is_some() {
                    202
                } else {
                    404
                };
                expect(&delete, &[allowed], "item delete");
                told.protected_with = None;
            }
            5 => {
                let triggered = app
                    .trigger_backup(
                        GROUP,
                        &vault,
                        &vm,
                        json!({"properties": {"objectType": "IaasVMBackupRequest"}}),
                    )
                    .await;
                if told.protected_with.is_none() {
                    expect(&triggered, &[404], "backup of an unprotected VM");
                } else if expect(&triggered, &[202, 400], "backup") == 202 {
                    told.backups += 1;
                } else {
                    // The VM has no agent: its backups fail at once, and the daily limit
                    // is what refuses more.
                    assert_eq!(
                        triggered.error_code(),
                        "UserErrorDailyOnDemandBackupLimitReached"
                    );
                }
            }
            _ => {
                let body = app.protect_body(
                    GROUP,
                    SHARED,
                    &app.policy_id(GROUP, SHARED, "DefaultPolicy"),
                );
                let put = app
                    .put_protected_item(
                        GROUP,
                        SHARED,
                        &container_name(GROUP, SHARED),
                        &item_name(GROUP, SHARED),
                        body,
                    )
                    .await;
                expect(&put, &[202], "shared protect");
            }
        }
    }
    told
}

async fn many_clients_for_a_while_get_no_5xx_and_what_they_were_told(app: ManagementApp) {
    app.protection_setup(GROUP, SHARED, &[SHARED]).await;
    for n in 0..CLIENTS {
        let created = app.put_vault(GROUP, &format!("vault{n}"), "eastus").await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let created = app.create_vm(GROUP, &format!("vm{n}"), "eastus").await;
        assert!(created.status.is_success(), "{created:?}");
    }
    let until = Instant::now() + soak_duration();
    let told = join_all((0..CLIENTS).map(|n| client(&app, n, until))).await;
    for (n, told) in told.iter().enumerate() {
        let vault = format!("vault{n}");
        let vm = format!("vm{n}");
        let policy = app.get_policy(GROUP, &vault, OWN_POLICY).await;
        let expected = if told.policy { 200 } else { 404 };
        assert_eq!(policy.status, expected, "client {n}: {told:?}");
        let item = app
            .get_protected_item(
                GROUP,
                &vault,
                &container_name(GROUP, &vm),
                &item_name(GROUP, &vm),
            )
            .await;
        match told.protected_with {
            Some(policy) => {
                assert_eq!(item.status, 200, "client {n}: {told:?}");
                let id = item.body["properties"]["policyId"].as_str().unwrap();
                assert!(id.ends_with(&format!("/{policy}")), "client {n}: {id}");
            }
            None => assert_eq!(item.status, 404, "client {n}: {told:?}"),
        }
        let backups = app
            .list_jobs(GROUP, &vault, Some("operation eq 'Backup'"))
            .await;
        assert_eq!(
            backups.body["value"].as_array().unwrap().len(),
            told.backups,
            "client {n}"
        );
    }
    let shared = app
        .get_protected_item(
            GROUP,
            SHARED,
            &container_name(GROUP, SHARED),
            &item_name(GROUP, SHARED),
        )
        .await;
    assert_eq!(shared.status, 200, "{shared:?}");
}

crate::on_both_backends!(many_clients_for_a_while_get_no_5xx_and_what_they_were_told);
