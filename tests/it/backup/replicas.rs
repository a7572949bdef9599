//! Several service replicas on one PostgreSQL schedule each run exactly once: two
//! replicas tick at the same instant over 200 items due together.

use serde_json::json;
use vaultsim::clock::{Clock, ClockSetting};
use vaultsim::config::ServeConfig;
use vaultsim::control::sim_clock;
use vaultsim::startup::Application;

use super::e2e::{vault_with_daily_policy, GIB, GROUP, POLICY, VAULT};
use super::standin::VmKeys;
use crate::management::app::{Backend, ManagementApp};

const ITEMS: usize = 200;

#[tokio::test]
async fn two_replicas_make_exactly_one_job_per_due_run() {
    let app = ManagementApp::spawn(Backend::Postgres).await;
    vault_with_daily_policy(&app, "2026-03-01T00:00:00Z").await;
    // One key pair serves every VM's agent here: registration takes any certificate.
    let keys = VmKeys::generate().await;
    let http = reqwest::Client::new();
    for n in 0..ITEMS {
        let registered = http
            .post(format!("http://{}/machine/register", app.guest_addr))
            .bearer_auth(&app.token)
            .json(&json!({
                "subscriptionId": app.credentials.subscription_id,
                "resourceGroup": GROUP,
                "name": format!("vm{n}"),
                "location": "eastus",
                "osType": "Linux",
                "disks": [{"lun": -1, "name": format!("vm{n}-os"), "sizeBytes": GIB}],
                "certificate": keys.certificate_pem,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
        app.protect(GROUP, VAULT, &format!("vm{n}"), POLICY).await;
    }

    // A second replica on the same database, with its own blob store.
    let second_dir = tempfile::tempdir().unwrap();
    let second = Application::build(&ServeConfig::ephemeral(
        second_dir.path(),
        app.database_url.clone(),
    ))
    .await
    .unwrap();
    let db = app.db().await;
    // Both plan the runs at midnight, then meet at 02:00: the clock moves for both at once
    // (the stored setting is what each replica follows) and both tick together.
    let (planned, also_planned) = tokio::join!(app.engine.tick(), second.engine().tick());
    planned.unwrap();
    also_planned.unwrap();
    let due = Clock::new(ClockSetting::Pinned(
        "2026-03-01T02:00:00Z".parse().unwrap(),
    ));
    sim_clock::save(&db, &due).await.unwrap();
    let (first, other) = tokio::join!(app.engine.tick(), second.engine().tick());
    let started = first.unwrap() + other.unwrap();
    assert_eq!(
        started, ITEMS as u64,
        "each run started once, by one replica"
    );

    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(db.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count("select count(*) from backup_task").await,
        ITEMS as i64
    );
    assert_eq!(
        count("select count(distinct job_id) from backup_task").await,
        ITEMS as i64
    );
    assert_eq!(
        count("select count(*) from backup_job where operation = 'Backup'").await,
        ITEMS as i64
    );
    // Dispatched once: each VM's goal state changed once, its extension published once.
    assert_eq!(
        count("select count(*) from virtual_machine where goal_state_incarnation = 1").await,
        ITEMS as i64
    );
    assert_eq!(
        count(
            "select count(*) from vm_extension where sequence_number = 0 \
             and handler_settings is not null"
        )
        .await,
        ITEMS as i64
    );
}
