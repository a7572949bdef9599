//! The guest API over HTTP, each test on SQLite and on PostgreSQL: agents register VMs,
//! long-poll goal states the engine publishes (`vaultsim::guest::publish_extension`, as the
//! engine calls it) and report extension status, which ARM clients then see.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vaultsim::guest::{publish_extension, ExtensionGoal};

use crate::management::app::{ArmResponse, ManagementApp};
use crate::on_both_backends;

const CERTIFICATE: &str = include_str!("../../src/guest/testdata/certificate.pem");
const THUMBPRINT: &str = include_str!("../../src/guest/testdata/certificate.sha1");
/// X.509, but of an EC key: nothing can be encrypted to it with RSA key transport.
const EC_CERTIFICATE: &str = include_str!("../../src/guest/testdata/ec-certificate.pem");
const GIB: u64 = 1 << 30;
const EXTENSION: &str = "VMSnapshotLinux";

impl ManagementApp {
    pub fn guest_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.guest_addr)
    }

    /// `POST /machine/register` with `token` (`None`: no `Authorization` header).
    pub async fn register_guest(&self, token: Option<&str>, body: &Value) -> ArmResponse {
        self.guest_request(token, Method::POST, "/machine/register", Some(body))
            .await
    }

    /// `GET /machine/goalstate?{query}` with `credential`.
    /// The goal state; a successful answer's `hostTime` (the service clock's time, by which
    /// the extension judges a task's age) is checked to be the clock's and taken out, so
    /// that tests compare the rest.
    pub async fn guest_goal_state(&self, credential: Option<&str>, query: &str) -> ArmResponse {
        let path = format!("/machine/goalstate?{query}");
        let mut answer = self
            .guest_request(credential, Method::GET, &path, None)
            .await;
        if answer.status == StatusCode::OK {
            let host_time = answer.body.as_object_mut().unwrap().remove("hostTime");
            let host_time: chrono::DateTime<chrono::Utc> = host_time
                .and_then(|t| t.as_str().map(str::to_owned))
                .expect("hostTime in the goal state")
                .parse()
                .unwrap();
            let clock = self.get_clock().await.body["now"]
                .as_str()
                .unwrap()
                .to_owned();
            let clock: chrono::DateTime<chrono::Utc> = clock.parse().unwrap();
            assert!(
                (clock - host_time).num_seconds().abs() < 60,
                "{host_time} {clock}"
            );
        }
        answer
    }

    /// `PUT /machine/extensions/{extension}/status` with `credential`.
    pub async fn put_guest_status(
        &self,
        credential: &str,
        extension: &str,
        status: &Value,
    ) -> ArmResponse {
        let path = format!("/machine/extensions/{extension}/status");
        self.guest_request(Some(credential), Method::PUT, &path, Some(status))
            .await
    }

    /// A guest API request with `bearer` (a VM credential or a management token).
    pub async fn guest_request(
        &self,
        bearer: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> ArmResponse {
        let mut request = self.http.request(method, self.guest_url(path));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the guest API answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        ArmResponse {
            status,
            headers,
            body,
        }
    }

    /// Registers a new VM `name` in `group` (created in westeurope); its vmId and credential.
    pub(crate) async fn register_new_vm(&self, group: &str, name: &str) -> (String, String) {
        self.put_group(group, "westeurope").await;
        let registered = self
            .register_guest(Some(&self.token), &self.registration(group, name))
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{:?}",
            registered.body
        );
        (
            registered.body["vmId"].as_str().unwrap().to_owned(),
            registered.body["credential"].as_str().unwrap().to_owned(),
        )
    }

    /// A registration body for `name` in `group`: a 2 GiB OS disk and a 1 GiB data disk.
    pub fn registration(&self, group: &str, name: &str) -> Value {
        json!({
            "subscriptionId": self.credentials.subscription_id,
            "resourceGroup": group,
            "name": name,
            "location": "westeurope",
            "osType": "Linux",
            "disks": [
                { "lun": -1, "name": format!("{name}-os"), "sizeBytes": 2 * GIB },
                { "lun": 0, "name": format!("{name}-data"), "sizeBytes": GIB },
            ],
            "certificate": CERTIFICATE,
        })
    }

    /// Publishes the snapshot extension to `vm_id` as the engine does; `notify` as the engine
    /// of this replica would (without: as another replica's engine, which this one cannot
    /// notify). The sequence number.
    pub(crate) async fn publish(&self, vm_id: &str, task: &str, notify: bool) -> i64 {
        let db = self.db().await;
        let mut tx = db.begin_write().await.unwrap();
        let sequence_number =
            publish_extension(&mut tx, vm_id, &snapshot_goal(task), chrono::Utc::now())
                .await
                .unwrap();
        tx.commit().await.unwrap();
        if notify {
            self.notifier.notify(vm_id);
        }
        sequence_number
    }
}

fn snapshot_goal(task: &str) -> ExtensionGoal {
    ExtensionGoal {
        name: EXTENSION.to_owned(),
        publisher: "Microsoft.Azure.RecoveryServices".to_owned(),
        extension_type: "VMSnapshotLinux".to_owned(),
        type_handler_version: "1.0".to_owned(),
        public_settings: json!({ "taskId": task }),
        handler_settings: json!({
            "protectedSettingsCertThumbprint": THUMBPRINT.trim(),
            "protectedSettings": "MIIB",
            "publicSettings": { "taskId": task },
        }),
    }
}

fn status_file(status: &str) -> Value {
    json!([{
        "version": "1.0",
        "timestampUTC": "2026-11-26T00:00:00Z",
        "status": { "name": EXTENSION, "operation": "Enable", "status": status, "code": "1" },
    }])
}

on_both_backends!(
    an_agent_registers_a_new_vm_that_arm_then_shows,
    an_agent_binds_to_a_vm_that_exists,
    registering_again_rotates_the_credential,
    registration_refuses_bad_callers_and_bad_bodies,
    a_goal_state_poll_wakes_when_an_extension_is_published,
    a_goal_state_poll_sees_what_another_replica_published,
    a_goal_state_poll_answers_the_same_incarnation_when_its_wait_ends,
    one_vms_credential_never_reaches_another_vm,
    a_status_report_sets_the_provisioning_state_arm_shows,
    redelivery_sends_the_same_settings_under_the_next_sequence_number,
);

async fn an_agent_registers_a_new_vm_that_arm_then_shows(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    let registered = app
        .register_guest(Some(&app.token), &app.registration("rg", "agent-vm"))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let vm_id = registered.body["vmId"].as_str().unwrap();
    let credential = registered.body["credential"].as_str().unwrap();
    // The VM's own view of its disks: where each LUN lives in the blob endpoint.
    let container = format!("vm-{}", vm_id.replace('-', ""));
    let disks: Vec<(i64, String, String)> = registered.body["disks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["lun"].as_i64().unwrap(),
                d["container"].as_str().unwrap().to_owned(),
                d["blob"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        disks,
        [
            (-1, container.clone(), "osdisk.vhd".to_owned()),
            (0, container, "datadisk-0.vhd".to_owned())
        ],
        "{:?}",
        registered.body
    );
    assert!(credential.starts_with(&format!("{vm_id}.")), "{credential}");
    assert_eq!(registered.body["certificateThumbprint"], THUMBPRINT.trim());
    assert_eq!(registered.body["incarnation"], 0);

    let vm = app.get_vm("rg", "agent-vm").await;
    assert_eq!(vm.status, StatusCode::OK, "{:?}", vm.body);
    assert_eq!(vm.body["properties"]["vmId"], vm_id);
    let storage = &vm.body["properties"]["storageProfile"];
    assert_eq!(storage["osDisk"]["name"], "agent-vm-os");
    assert_eq!(storage["osDisk"]["diskSizeGB"], 2);
    assert_eq!(storage["dataDisks"][0]["lun"], 0);

    let certificate = vaultsim::guest::guest_certificate(&app.db().await, vm_id)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(certificate.thumbprint, THUMBPRINT.trim());
    assert_eq!(certificate.pem.trim(), CERTIFICATE.trim());
}

async fn an_agent_binds_to_a_vm_that_exists(app: ManagementApp) {
    let created = app.create_vm("rg", "arm-vm", "westeurope").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let vm_id = created.body["properties"]["vmId"].as_str().unwrap();

    // By vmId, whatever else the body says; and by subscription, group and name.
    let mut by_id = app.registration("rg", "another-name");
    by_id["vmId"] = json!(vm_id);
    let by_name = app.registration("RG", "ARM-VM");
    for body in [by_id, by_name] {
        let bound = app.register_guest(Some(&app.token), &body).await;
        assert_eq!(bound.status, StatusCode::OK, "{:?}", bound.body);
        assert_eq!(bound.body["vmId"], vm_id);
    }
    let vms = app.list_vms_in_group("rg").await;
    assert_eq!(
        vms.body["value"].as_array().unwrap().len(),
        1,
        "no VM was added"
    );
}

async fn registering_again_rotates_the_credential(app: ManagementApp) {
    let (vm_id, old) = app.register_new_vm("rg", "vm").await;
    assert_eq!(
        app.guest_goal_state(Some(&old), "").await.status,
        StatusCode::OK
    );

    let mut again = app.registration("rg", "vm");
    again["vmId"] = json!(vm_id);
    let rotated = app.register_guest(Some(&app.token), &again).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let new = rotated.body["credential"].as_str().unwrap();
    assert_ne!(new, old);

    let refused = app.guest_goal_state(Some(&old), "").await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.error_code(), "InvalidCredential");
    let read = app.guest_goal_state(Some(new), "").await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(read.body["vmId"], vm_id.as_str());
}

async fn registration_refuses_bad_callers_and_bad_bodies(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    let body = app.registration("rg", "vm");

    let anonymous = app.register_guest(None, &body).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        anonymous.body
    );
    let forged = app.register_guest(Some("not-a-token"), &body).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{:?}", forged.body);
    assert_eq!(forged.error_code(), "InvalidAuthenticationToken");

    let created = app
        .sim_create_principal(&app.token, json!({ "displayName": "no-grant" }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let outsider = app
        .client_credentials_token(
            created.body["clientId"].as_str().unwrap(),
            created.body["clientSecret"].as_str().unwrap(),
        )
        .await;
    let forbidden = app.register_guest(Some(&outsider), &body).await;
    assert_eq!(
        forbidden.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        forbidden.body
    );
    assert_eq!(forbidden.error_code(), "AuthorizationFailed");

    let mut cases: Vec<(Value, StatusCode, &str)> = Vec::new();
    let mut no_group = body.clone();
    no_group["resourceGroup"] = json!("missing");
    cases.push((no_group, StatusCode::NOT_FOUND, "ResourceGroupNotFound"));
    let mut no_subscription = body.clone();
    no_subscription["subscriptionId"] = json!("00000000-0000-0000-0000-000000000000");
    cases.push((
        no_subscription,
        StatusCode::NOT_FOUND,
        "SubscriptionNotFound",
    ));
    let mut bad_certificate = body.clone();
    bad_certificate["certificate"] =
        json!("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    cases.push((
        bad_certificate,
        StatusCode::BAD_REQUEST,
        "InvalidCertificate",
    ));
    let mut ec_certificate = body.clone();
    ec_certificate["certificate"] = json!(EC_CERTIFICATE);
    cases.push((
        ec_certificate,
        StatusCode::BAD_REQUEST,
        "InvalidCertificate",
    ));
    for location in ["mars".to_owned(), "x".repeat(100_000)] {
        let mut bad_location = body.clone();
        bad_location["location"] = json!(location);
        cases.push((bad_location, StatusCode::BAD_REQUEST, "InvalidParameter"));
    }
    let mut bad_os = body.clone();
    bad_os["osType"] = json!("BeOS");
    cases.push((bad_os, StatusCode::BAD_REQUEST, "InvalidParameter"));
    let mut no_os_disk = body.clone();
    no_os_disk["disks"] = json!([{ "lun": 0, "name": "d", "sizeBytes": GIB }]);
    cases.push((no_os_disk, StatusCode::BAD_REQUEST, "InvalidParameter"));
    let mut bad_vm_id = body.clone();
    bad_vm_id["vmId"] = json!("not-a-guid");
    cases.push((bad_vm_id, StatusCode::BAD_REQUEST, "InvalidParameter"));
    cases.push((
        json!({ "name": "vm" }),
        StatusCode::BAD_REQUEST,
        "InvalidRequestContent",
    ));
    cases.push((
        json!([1, 2]),
        StatusCode::BAD_REQUEST,
        "InvalidRequestContent",
    ));
    for (body, status, code) in cases {
        let refused = app.register_guest(Some(&app.token), &body).await;
        assert_eq!(refused.status, status, "{body}: {:?}", refused.body);
        assert_eq!(refused.error_code(), code, "{body}");
        if body["location"].as_str().is_some_and(|l| l != "westeurope") {
            let message = refused.body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("location"), "{message}");
            assert!(message.len() < 1000, "the message quotes the whole value");
        }
        if body["certificate"] == EC_CERTIFICATE {
            let message = refused.body["error"]["message"].as_str().unwrap();
            assert!(message.contains("RSA"), "{message}");
        }
    }
    assert_eq!(app.get_vm("rg", "vm").await.status, StatusCode::NOT_FOUND);

    for credential in [None, Some("nonsense"), Some("a.b")] {
        let refused = app.guest_goal_state(credential, "").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{credential:?}");
        assert_eq!(refused.error_code(), "InvalidCredential");
    }
}

async fn a_goal_state_poll_wakes_when_an_extension_is_published(app: ManagementApp) {
    let (vm_id, credential) = app.register_new_vm("rg", "vm").await;
    let first = app.guest_goal_state(Some(&credential), "").await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(
        first.body,
        json!({ "incarnation": 0, "vmId": vm_id, "extensions": [] })
    );

    let started = Instant::now();
    let (polled, sequence_number) = tokio::join!(
        app.guest_goal_state(Some(&credential), "incarnation=0&waitSeconds=30"),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.publish(&vm_id, "job_1", true).await
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sequence_number, 0);
    assert_eq!(polled.status, StatusCode::OK, "{:?}", polled.body);
    assert_eq!(
        polled.body,
        json!({
            "incarnation": 1,
            "vmId": vm_id,
            "extensions": [{
                "name": EXTENSION,
                "publisher": "Microsoft.Azure.RecoveryServices",
                "type": "VMSnapshotLinux",
                "version": "1.0",
                "state": "enabled",
                "sequenceNumber": 0,
                "settings": { "runtimeSettings": [{
                    "handlerSettings": snapshot_goal("job_1").handler_settings,
                }] },
            }],
        })
    );

    // The engine installed the extension: ARM lists it while the agent has not reported.
    let extensions = app.list_vm_extensions("rg", "vm").await;
    assert_eq!(extensions.status, StatusCode::OK, "{:?}", extensions.body);
    let extension = &extensions.body["value"][0]["properties"];
    assert_eq!(extension["provisioningState"], "Creating");
    assert_eq!(extension["settings"], json!({ "taskId": "job_1" }));

    assert_eq!(app.publish(&vm_id, "job_2", true).await, 1);
    let next = app
        .guest_goal_state(Some(&credential), "incarnation=1")
        .await;
    assert_eq!(next.body["incarnation"], 2);
    assert_eq!(next.body["extensions"][0]["sequenceNumber"], 1);
}

async fn a_goal_state_poll_sees_what_another_replica_published(app: ManagementApp) {
    let (vm_id, credential) = app.register_new_vm("rg", "vm").await;
    let started = Instant::now();
    let (polled, _) = tokio::join!(
        app.guest_goal_state(Some(&credential), "incarnation=0&waitSeconds=30"),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.publish(&vm_id, "job_1", false).await
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(polled.body["incarnation"], 1, "{:?}", polled.body);
}

async fn a_goal_state_poll_answers_the_same_incarnation_when_its_wait_ends(app: ManagementApp) {
    let (vm_id, credential) = app.register_new_vm("rg", "vm").await;
    let started = Instant::now();
    let polled = app
        .guest_goal_state(Some(&credential), "incarnation=0&waitSeconds=1")
        .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(polled.status, StatusCode::OK, "{:?}", polled.body);
    assert_eq!(polled.body["incarnation"], 0);
    assert_eq!(polled.body["vmId"], vm_id.as_str());

    let stale = app
        .guest_goal_state(Some(&credential), "incarnation=7&waitSeconds=30")
        .await;
    assert_eq!(
        stale.body["incarnation"], 0,
        "a different incarnation answers at once"
    );
    let bad = app
        .guest_goal_state(Some(&credential), "waitSeconds=soon")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
}

async fn one_vms_credential_never_reaches_another_vm(app: ManagementApp) {
    let (a, a_credential) = app.register_new_vm("rg", "vm-a").await;
    let (b, b_credential) = app.register_new_vm("rg", "vm-b").await;
    app.publish(&a, "job_a", true).await;

    let seen_by_b = app.guest_goal_state(Some(&b_credential), "").await;
    assert_eq!(
        seen_by_b.body,
        json!({ "incarnation": 0, "vmId": b, "extensions": [] })
    );
    // B's secret under A's vmId is no credential at all.
    let b_secret = b_credential.split_once('.').unwrap().1;
    let forged = app
        .guest_goal_state(Some(&format!("{a}.{b_secret}")), "")
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{:?}", forged.body);
    // B cannot report for A's extension.
    let reported = app
        .put_guest_status(&b_credential, EXTENSION, &status_file("error"))
        .await;
    assert_eq!(
        reported.status,
        StatusCode::NOT_FOUND,
        "{:?}",
        reported.body
    );
    let seen_by_a = app.guest_goal_state(Some(&a_credential), "").await;
    assert_eq!(seen_by_a.body["extensions"][0]["name"], EXTENSION);
    let a_extension = app.get_vm_extension("rg", "vm-a", EXTENSION).await;
    assert_eq!(
        a_extension.body["properties"]["provisioningState"],
        "Creating"
    );
}

async fn a_status_report_sets_the_provisioning_state_arm_shows(app: ManagementApp) {
    let (vm_id, credential) = app.register_new_vm("rg", "vm").await;
    app.publish(&vm_id, "job_1", true).await;
    for (status, state) in [
        ("transitioning", "Creating"),
        ("success", "Succeeded"),
        ("transitioning", "Succeeded"),
        ("error", "Failed"),
        ("warning", "Succeeded"),
    ] {
        let reported = app
            .put_guest_status(&credential, EXTENSION, &status_file(status))
            .await;
        assert_eq!(
            reported.status,
            StatusCode::NO_CONTENT,
            "{:?}",
            reported.body
        );
        let extension = app.get_vm_extension("rg", "vm", EXTENSION).await;
        assert_eq!(
            extension.body["properties"]["provisioningState"], state,
            "after {status}"
        );
    }
    let stored: String =
        sqlx::query_scalar("select handler_status from vm_extension where vm_id = $1")
            .bind(&vm_id)
            .fetch_one(app.db().await.pool())
            .await
            .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap(),
        status_file("warning")
    );

    let unknown = app
        .put_guest_status(&credential, "NoSuchExtension", &status_file("success"))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    assert_eq!(unknown.error_code(), "ExtensionNotFound");
    for bad in [json!({ "status": "success" }), status_file("finished")] {
        let refused = app.put_guest_status(&credential, EXTENSION, &bad).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {:?}",
            refused.body
        );
        assert_eq!(refused.error_code(), "InvalidStatus");
    }
    let anonymous = app
        .put_guest_status("nope", EXTENSION, &status_file("success"))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn redelivery_sends_the_same_settings_under_the_next_sequence_number(app: ManagementApp) {
    let (vm_id, credential) = app.register_new_vm("rg", "vm").await;
    let vm = app.vm_path("rg", "vm");
    let redeliver = |extension: &str| {
        app.post(
            "/_sim/extensions/redeliver",
            Some(json!({ "vm": vm, "extension": extension })),
        )
    };
    // Nothing published yet: nothing to send again.
    let none = redeliver(EXTENSION).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{:?}", none.body);
    assert_eq!(app.publish(&vm_id, "job_1", true).await, 0);
    let before = app.guest_goal_state(Some(&credential), "").await.body;

    let sent = redeliver(&EXTENSION.to_uppercase()).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    assert_eq!(sent.body, json!({ "sequenceNumber": 1 }));
    let after = app
        .guest_goal_state(
            Some(&credential),
            &format!("incarnation={}", before["incarnation"]),
        )
        .await
        .body;
    assert_eq!(
        after["incarnation"],
        before["incarnation"].as_i64().unwrap() + 1
    );
    assert_eq!(after["extensions"][0]["sequenceNumber"], 1);
    assert_eq!(
        after["extensions"][0]["settings"], before["extensions"][0]["settings"],
        "the same task, the same settings"
    );

    let unknown = app
        .post(
            "/_sim/extensions/redeliver",
            Some(json!({ "vm": app.vm_path("rg", "nope"), "extension": EXTENSION })),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    let not_an_id = app
        .post(
            "/_sim/extensions/redeliver",
            Some(json!({ "vm": "vm", "extension": EXTENSION })),
        )
        .await;
    assert_eq!(
        not_an_id.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        not_an_id.body
    );
}
