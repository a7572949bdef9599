//! `/_sim/faults` over the wire: faults the blob endpoint and the guest API inject, as
//! clients see them, and the admin routes that manage them.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vaultsim::config::DEV_ACCOUNT_KEY;
use vaultsim_protocol::sas::ServiceSasBuilder;

use crate::helpers::{BlobClient, ACCOUNT};
use crate::management::app::{ArmResponse, Backend, ManagementApp};

impl ManagementApp {
    pub async fn add_fault(&self, body: Value) -> ArmResponse {
        self.post("/_sim/faults", Some(body)).await
    }

    pub async fn list_faults(&self) -> Vec<Value> {
        let listed = self.get("/_sim/faults").await;
        assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
        listed.body["value"].as_array().unwrap().clone()
    }

    fn blob_client(&self) -> BlobClient {
        BlobClient::new(self.blob_addr)
    }
}

async fn spawn() -> ManagementApp {
    // Faults live in the process, not the database: one backend covers them.
    ManagementApp::spawn(Backend::Sqlite).await
}

/// A service with container `disks` holding 4 KiB page blobs `vm1-os.vhd` and `vm2-os.vhd`.
async fn spawn_with_disks() -> (ManagementApp, BlobClient) {
    let app = spawn().await;
    let blob = app.blob_client();
    assert_eq!(blob.create_container("disks").await.status(), 201);
    for disk in ["/disks/vm1-os.vhd", "/disks/vm2-os.vhd"] {
        assert_eq!(blob.create_page_blob(disk, 4096).await.status(), 201);
    }
    (app, blob)
}

fn server_busy_on_snapshots(blob: &str) -> Value {
    json!({
        "scope": "blob",
        "match": { "operation": "SnapshotBlob", "blob": blob },
        "action": { "type": "error", "status": 503, "code": "ServerBusy" },
    })
}

async fn snapshot_status(blob: &BlobClient, path: &str) -> u16 {
    blob.try_snapshot(path).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_server_busy_fault_answers_azures_error_to_matching_snapshots_only() {
    let (app, blob) = spawn_with_disks().await;
    let added = app.add_fault(server_busy_on_snapshots("vm1-*")).await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["scope"], "blob");
    assert_eq!(added.body["match"]["operation"], "SnapshotBlob");
    assert_eq!(added.body["hits"], 0);
    assert_eq!(added.body["probability"], 1.0);
    assert!(added.body["remaining"].is_null());
    assert!(added.body["expiresAt"].is_null());

    let refused = blob.try_snapshot("/disks/vm1-os.vhd").await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["x-ms-error-code"], "ServerBusy");
    let request_id = refused.headers()["x-ms-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = refused.text().await.unwrap();
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code><Message>The server is busy.\nRequestId:"),
        "{body}"
    );
    assert!(
        body.contains(&format!("RequestId:{request_id}\nTime:")),
        "{body}"
    );

    assert_eq!(snapshot_status(&blob, "/disks/vm2-os.vhd").await, 201);
    let write = blob
        .try_put_page("/disks/vm1-os.vhd", 0, vec![1; 512])
        .await;
    assert_eq!(write.unwrap().status(), 201, "other operations pass");
    assert_eq!(app.list_faults().await[0]["hits"], 1);
}

#[tokio::test]
async fn a_fault_with_a_message_answers_it() {
    let (app, blob) = spawn_with_disks().await;
    let mut fault = server_busy_on_snapshots("*");
    fault["action"]["message"] = json!("Operations per second is over the account limit.");
    app.add_fault(fault).await;
    let body = blob
        .try_snapshot("/disks/vm1-os.vhd")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("<Message>Operations per second is over the account limit.\nRequestId:"),
        "{body}"
    );
}

#[tokio::test]
async fn a_counted_fault_goes_after_its_hits_and_a_timed_one_after_its_time() {
    let (app, blob) = spawn_with_disks().await;
    let mut counted = server_busy_on_snapshots("*");
    counted["count"] = json!(2);
    let added = app.add_fault(counted).await;
    assert_eq!(added.body["count"], 2);
    assert_eq!(added.body["remaining"], 2);
    assert_eq!(snapshot_status(&blob, "/disks/vm1-os.vhd").await, 503);
    assert_eq!(app.list_faults().await[0]["remaining"], 1);
    assert_eq!(snapshot_status(&blob, "/disks/vm1-os.vhd").await, 503);
    assert_eq!(snapshot_status(&blob, "/disks/vm1-os.vhd").await, 201);
    assert!(app.list_faults().await.is_empty());

    let mut timed = server_busy_on_snapshots("*");
    timed["expiresInSeconds"] = json!(1);
    let added = app.add_fault(timed).await;
    let created: chrono::DateTime<Utc> = added.body["createdAt"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<Utc> = added.body["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - created, TimeDelta::seconds(1));
    assert_eq!(snapshot_status(&blob, "/disks/vm1-os.vhd").await, 503);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(snapshot_status(&blob, "/disks/vm1-os.vhd").await, 201);
    assert!(app.list_faults().await.is_empty());
}

#[tokio::test]
async fn a_fault_with_a_probability_hits_about_that_share() {
    let (app, blob) = spawn_with_disks().await;
    app.add_fault(json!({
        "scope": "blob",
        "match": { "operation": "GetBlobProperties" },
        "action": { "type": "error", "status": 500, "code": "InternalError" },
        "probability": 0.5,
    }))
    .await;
    const TRIES: u64 = 200;
    let mut failed = 0;
    for _ in 0..TRIES {
        let head = blob
            .send(Method::HEAD, "/disks/vm1-os.vhd", "", &[], vec![])
            .await;
        match head.status().as_u16() {
            500 => failed += 1,
            200 => {}
            other => panic!("{other}"),
        }
    }
    // Binomial(200, 0.5): 60 to 140 is more than five standard deviations either side.
    assert!((60..=140).contains(&failed), "{failed} of {TRIES} hit");
    assert_eq!(app.list_faults().await[0]["hits"], failed);
}

#[tokio::test]
async fn a_latency_fault_delays_the_real_answer() {
    let (app, blob) = spawn_with_disks().await;
    app.add_fault(json!({
        "scope": "blob",
        "match": { "operation": "SnapshotBlob", "container": "disks", "account": ACCOUNT },
        "action": { "type": "latency", "milliseconds": 600 },
    }))
    .await;
    let started = Instant::now();
    assert_eq!(snapshot_status(&blob, "/disks/vm1-os.vhd").await, 201);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let get = blob.get_blob("/disks/vm1-os.vhd").await;
    assert_eq!(get.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "other operations are not delayed"
    );
}

#[tokio::test]
async fn a_reset_fault_drops_the_connection_and_the_write_is_not_applied() {
    let (app, blob) = spawn_with_disks().await;
    app.add_fault(json!({
        "scope": "blob",
        "match": { "operation": "PutPage", "blob": "vm1-os.vhd" },
        "action": { "type": "reset" },
        "count": 1,
    }))
    .await;
    let write = blob
        .try_put_page("/disks/vm1-os.vhd", 0, vec![7; 512])
        .await;
    let error = write.expect_err("no response");
    assert!(!error.is_status(), "{error}");
    let read = blob.get_blob("/disks/vm1-os.vhd").await;
    assert!(
        read.bytes().await.unwrap().iter().all(|b| *b == 0),
        "the page was not written"
    );
    assert!(app.list_faults().await.is_empty(), "its one hit is used");
    let write = blob
        .try_put_page("/disks/vm1-os.vhd", 0, vec![7; 512])
        .await;
    assert_eq!(write.unwrap().status(), 201);
}

#[tokio::test]
async fn faults_are_listed_deleted_and_cleared() {
    let app = spawn().await;
    let one = app.add_fault(server_busy_on_snapshots("a*")).await.body;
    let two = app
        .add_fault(json!({
            "scope": "presnapshot",
            "action": { "type": "latency", "milliseconds": 10 },
            "expiresInSeconds": 60,
        }))
        .await
        .body;
    assert!(two["match"].is_null());
    assert_eq!(
        two["action"],
        json!({ "type": "latency", "milliseconds": 10 })
    );
    assert_eq!(two["expiresInSeconds"], 60);
    let listed = app.list_faults().await;
    assert_eq!(listed, vec![one.clone(), two.clone()]);

    let path = format!("/_sim/faults/{}", one["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
    let again = app.delete(&path).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.error_code(), "FaultNotFound");
    assert_eq!(app.list_faults().await, vec![two]);

    app.add_fault(server_busy_on_snapshots("b*")).await;
    assert_eq!(
        app.delete("/_sim/faults").await.status,
        StatusCode::NO_CONTENT
    );
    assert!(app.list_faults().await.is_empty());
}

#[tokio::test]
async fn bad_faults_are_refused_naming_the_field() {
    let app = spawn().await;
    let cases = [
        (
            json!({ "scope": "disk", "action": { "type": "reset" } }),
            "scope",
        ),
        (
            json!({ "scope": "blob", "match": { "operation": "Snapshot" }, "action": { "type": "reset" } }),
            "GetPageRegions, SnapshotBlob",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "drop" } }),
            "action.type",
        ),
        (
            json!({ "scope": "goalState", "action": { "type": "reset" } }),
            "action.type",
        ),
        (
            json!({ "scope": "goalState", "match": {}, "action": { "type": "drop" } }),
            "'match'",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "error", "status": 200, "code": "Ok" } }),
            "action.status",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "error", "status": "busy", "code": "X" } }),
            "action.status",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "error", "status": 503 } }),
            "action.code",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "latency" } }),
            "action.milliseconds",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "reset" }, "probability": 0 }),
            "probability",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "reset" }, "count": 0 }),
            "count",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "reset" }, "expiresInSeconds": -1 }),
            "expiresInSeconds",
        ),
        (
            json!({ "scope": "blob", "action": { "type": "reset" }, "colour": 1 }),
            "colour",
        ),
    ];
    for (body, named) in cases {
        let refused = app.add_fault(body.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused.error_code(), "InvalidRequestContent", "{body}");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    assert!(app.list_faults().await.is_empty());
}

#[tokio::test]
async fn the_fault_routes_are_for_admins_only() {
    let app = spawn().await;
    let anonymous = app
        .send_as(None, Method::POST, "/_sim/faults/expire-sas", None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let created = app
        .sim_create_principal(&app.token, json!({ "displayName": "not-admin" }))
        .await;
    let token = app
        .client_credentials_token(
            created.body["clientId"].as_str().unwrap(),
            created.body["clientSecret"].as_str().unwrap(),
        )
        .await;
    for (method, path, body) in [
        (Method::GET, "/_sim/faults", None),
        (
            Method::POST,
            "/_sim/faults",
            Some(server_busy_on_snapshots("*")),
        ),
        (Method::DELETE, "/_sim/faults", None),
        (Method::DELETE, "/_sim/faults/x", None),
        (Method::POST, "/_sim/faults/expire-sas", None),
    ] {
        let refused = app.send_as(Some(&token), method.clone(), path, body).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(refused.error_code(), "AuthorizationFailed");
    }
    assert!(app.list_faults().await.is_empty());
}

/// A read SAS for `disks/vm1-os.vhd` as the service mints them: started
/// `SAS_START_BACKDATE` (5 minutes) before now; or, `dated: false`, with no start.
fn read_sas(dated: bool) -> String {
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, DEV_ACCOUNT_KEY)
        .unwrap();
    let now = Utc::now();
    let builder = ServiceSasBuilder::for_blob(
        "disks",
        "vm1-os.vhd",
        "r".parse().unwrap(),
        now + TimeDelta::hours(1),
    );
    let builder = if dated {
        builder.start(now - vaultsim::control::minting::SAS_START_BACKDATE)
    } else {
        builder
    };
    builder.sign(ACCOUNT, &key).to_query_string()
}

async fn read_with(blob: &BlobClient, sas: &str) -> reqwest::Response {
    reqwest::get(format!("{}?{sas}", blob.url("/disks/vm1-os.vhd")))
        .await
        .unwrap()
}

#[tokio::test]
async fn expire_sas_refuses_every_existing_token_and_not_newer_ones() {
    let (app, blob) = spawn_with_disks().await;
    let existing = read_sas(true);
    let undated = read_sas(false);
    assert_eq!(read_with(&blob, &existing).await.status(), 200);

    let expired = app.post("/_sim/faults/expire-sas", None).await;
    assert_eq!(expired.status, StatusCode::NO_CONTENT);
    let refused = read_with(&blob, &existing).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["x-ms-error-code"], "AuthenticationFailed");
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("<AuthenticationErrorDetail>Signature not valid in the specified time frame"),
        "{body}"
    );
    // Minted right after the answer.

    assert_eq!(read_with(&blob, &read_sas(true)).await.status(), 200);
    // A token without a start cannot be dated and is left alone (documented).
    assert_eq!(read_with(&blob, &undated).await.status(), 200);

    let listed = app.list_faults().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["scope"], "sas");
    assert_eq!(listed[0]["action"]["type"], "expire");
    assert!(listed[0]["action"]["issuedBefore"].is_string());
    assert_eq!(listed[0]["hits"], 1);

    // Removing it lets the old token through again: it has not reached its own expiry.
    assert_eq!(
        app.delete("/_sim/faults").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(read_with(&blob, &existing).await.status(), 200);
}

#[tokio::test]
async fn a_goal_state_drop_holds_back_a_new_incarnation_until_cleared() {
    let app = spawn().await;
    let (vm_id, credential) = app.register_new_vm("rg", "dropped-vm").await;
    let first = app.guest_goal_state(Some(&credential), "").await;
    let known = first.body["incarnation"].as_i64().unwrap();

    let drop = app
        .add_fault(json!({ "scope": "goalState", "action": { "type": "drop" } }))
        .await;
    assert_eq!(drop.status, StatusCode::CREATED, "{:?}", drop.body);
    app.publish(&vm_id, "task-1", true).await;

    let started = Instant::now();
    let held = app
        .guest_goal_state(
            Some(&credential),
            &format!("incarnation={known}&waitSeconds=1"),
        )
        .await;
    assert_eq!(held.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "held for the poll's wait"
    );
    assert_eq!(held.body["incarnation"], known, "as if nothing changed");
    assert_eq!(held.body["extensions"], first.body["extensions"]);

    // A poll held when the fault is cleared gets the new goal state at once.
    let poll = {
        let app_guest = app.guest_url(&format!(
            "/machine/goalstate?incarnation={known}&waitSeconds=20"
        ));
        let http = app.http.clone();
        let credential = credential.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let answer: Value = http
                .get(app_guest)
                .bearer_auth(credential)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (answer, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.delete("/_sim/faults").await.status,
        StatusCode::NO_CONTENT
    );
    let (answer, took) = poll.await.unwrap();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(answer["incarnation"], known + 1);
    assert_eq!(
        answer["extensions"][0]["settings"]["runtimeSettings"][0]["handlerSettings"]
            ["publicSettings"]["taskId"],
        "task-1"
    );
    assert!(app.list_faults().await.is_empty());
}

#[tokio::test]
async fn a_goal_state_error_fault_answers_the_guest_apis_error() {
    let app = spawn().await;
    let (_, credential) = app.register_new_vm("rg", "refused-vm").await;
    app.add_fault(json!({
        "scope": "goalState",
        "action": { "type": "error", "status": 503, "code": "ServiceUnavailable", "message": "down" },
        "count": 1,
    }))
    .await;
    let refused = app.guest_goal_state(Some(&credential), "").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused.body,
        json!({ "error": { "code": "ServiceUnavailable", "message": "down" } })
    );
    assert_eq!(
        app.guest_goal_state(Some(&credential), "").await.status,
        StatusCode::OK
    );
}
