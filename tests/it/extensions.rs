//! VM extensions over ARM, each test on SQLite and on PostgreSQL: a PUT publishes the
//! extension to the VM's goal state (protected settings encrypted to the VM's certificate),
//! the status the agent reports through the guest API ends the Compute operation and shows
//! in the instance views, and a DELETE uninstalls through the goal state.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backup::standin::VmKeys;
use crate::management::app::{ArmResponse, ManagementApp};
use crate::on_both_backends;

const SECRET: &str = "s3cret-token-4711";

impl ManagementApp {
    fn extension_path(&self, vm: &str, name: &str) -> String {
        format!("{}/extensions/{name}", self.vm_path("rg", vm))
    }

    async fn put_extension(&self, vm: &str, name: &str, body: Value) -> ArmResponse {
        self.put(&self.extension_path(vm, name), body).await
    }

    async fn patch_extension(&self, vm: &str, name: &str, body: Value) -> ArmResponse {
        self.send(Method::PATCH, &self.extension_path(vm, name), Some(body))
            .await
    }

    async fn extension_with_instance_view(&self, vm: &str, name: &str) -> ArmResponse {
        let path = format!("{}?$expand=instanceView", self.extension_path(vm, name));
        self.get(&path).await
    }

    /// Registers VM `name` in `rg` with a fresh key pair; its vmId, credential and keys.
    async fn register_with_keys(&self, name: &str) -> (String, String, VmKeys) {
        self.put_group("rg", "westeurope").await;
        let keys = VmKeys::generate().await;
        let mut body = self.registration("rg", name);
        body["certificate"] = json!(keys.certificate_pem);
        body["agentVersion"] = json!("2.9.1.1");
        let registered = self.register_guest(Some(&self.token), &body).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{:?}",
            registered.body
        );
        (
            registered.body["vmId"].as_str().unwrap().to_owned(),
            registered.body["credential"].as_str().unwrap().to_owned(),
            keys,
        )
    }
}

fn probe(settings: Value) -> Value {
    json!({
        "location": "westeurope",
        "properties": {
            "publisher": "Contoso.Monitoring",
            "type": "Probe",
            "typeHandlerVersion": "1.0",
            "autoUpgradeMinorVersion": true,
            "settings": settings,
            "protectedSettings": { "token": SECRET },
        }
    })
}

fn status_file(status: &str, message: &str) -> Value {
    json!([{
        "version": "1.0",
        "timestampUTC": "2026-11-26T10:00:00Z",
        "status": {
            "name": "Contoso.Monitoring.Probe",
            "operation": "Enable",
            "status": status,
            "code": "0",
            "formattedMessage": { "lang": "en-US", "message": message },
            "substatus": [{
                "name": "StdOut", "status": status, "code": "0",
                "formattedMessage": { "lang": "en-US", "message": "probe output" }
            }]
        }
    }])
}

/// The goal state's entry for extension `name`, and the incarnation.
async fn goal_state_entry(app: &ManagementApp, credential: &str, name: &str) -> (Value, i64) {
    let state = app.guest_goal_state(Some(credential), "").await;
    assert_eq!(state.status, StatusCode::OK, "{:?}", state.body);
    let entry = state.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or(Value::Null);
    (entry, state.body["incarnation"].as_i64().unwrap())
}

fn assert_no_secret(response: &ArmResponse) {
    let text = response.body.to_string();
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("protectedSettings"), "{text}");
}

on_both_backends!(
    a_put_extension_reaches_the_goal_state_encrypted_to_the_vm,
    only_changed_settings_publish_a_new_sequence_number,
    the_reported_status_ends_the_operation_and_shows_in_the_instance_views,
    a_reported_error_fails_the_operation_unless_failures_are_suppressed,
    a_put_the_agent_does_not_finish_in_90_minutes_times_out,
    a_delete_uninstalls_through_the_goal_state_then_the_extension_goes,
    bad_extension_writes_are_refused_as_compute_refuses_them,
);

async fn a_put_extension_reaches_the_goal_state_encrypted_to_the_vm(app: ManagementApp) {
    let (_, credential, keys) = app.register_with_keys("vm").await;
    let created = app
        .put_extension("vm", "probe", probe(json!({ "interval": 5 })))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_no_secret(&created);
    assert_eq!(created.body["name"], "probe");
    assert_eq!(
        created.body["type"],
        "Microsoft.Compute/virtualMachines/extensions"
    );
    let properties = &created.body["properties"];
    assert_eq!(properties["provisioningState"], "Creating");
    assert_eq!(properties["publisher"], "Contoso.Monitoring");
    assert_eq!(properties["type"], "Probe");
    assert_eq!(properties["settings"], json!({ "interval": 5 }));
    let operation = created.header("azure-asyncoperation").to_owned();
    assert!(
        operation.contains("/providers/Microsoft.Compute/locations/westeurope/operations/"),
        "{operation}"
    );
    let polled = app.follow(&operation).await;
    assert_eq!(polled.status, StatusCode::OK, "{:?}", polled.body);
    assert_eq!(polled.body["status"], "InProgress");

    let (entry, _) = goal_state_entry(&app, &credential, "probe").await;
    assert_eq!(entry["publisher"], "Contoso.Monitoring");
    assert_eq!(entry["type"], "Probe");
    assert_eq!(entry["version"], "1.0");
    assert_eq!(entry["state"], "enabled");
    assert_eq!(entry["sequenceNumber"], 0);
    let handler = &entry["settings"]["runtimeSettings"][0]["handlerSettings"];
    assert_eq!(handler["publicSettings"], json!({ "interval": 5 }));
    assert_eq!(handler["protectedSettingsCertThumbprint"], keys.thumbprint);
    let protected = handler["protectedSettings"].as_str().unwrap();
    assert!(!protected.contains(SECRET));
    let decrypted = keys
        .decrypt_json(&keys.thumbprint, protected)
        .await
        .expect("decrypts with the VM's key");
    assert_eq!(decrypted, json!({ "token": SECRET }));

    for read in [
        app.get_vm_extension("rg", "vm", "probe").await,
        app.extension_with_instance_view("vm", "PROBE").await,
        app.list_vm_extensions("rg", "vm").await,
        app.get_vm("rg", "vm").await,
    ] {
        assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
        assert_no_secret(&read);
    }
}

async fn only_changed_settings_publish_a_new_sequence_number(app: ManagementApp) {
    let (_, credential, keys) = app.register_with_keys("vm").await;
    let body = probe(json!({ "interval": 5 }));
    app.put_extension("vm", "probe", body.clone()).await;
    let (_, incarnation) = goal_state_entry(&app, &credential, "probe").await;

    let again = app.put_extension("vm", "probe", body.clone()).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    let (entry, unchanged) = goal_state_entry(&app, &credential, "probe").await;
    assert_eq!(
        (entry["sequenceNumber"].as_i64(), unchanged),
        (Some(0), incarnation)
    );

    let mut steps: Vec<Value> = Vec::new();
    let mut settings_changed = body.clone();
    settings_changed["properties"]["settings"] = json!({ "interval": 6 });
    steps.push(settings_changed.clone());
    let mut protected_changed = settings_changed.clone();
    protected_changed["properties"]["protectedSettings"] = json!({ "token": "other" });
    steps.push(protected_changed.clone());
    let mut tagged = protected_changed;
    tagged["properties"]["forceUpdateTag"] = json!("rerun-1");
    steps.push(tagged);
    for (sequence_number, step) in (1..).zip(steps) {
        let updated = app.put_extension("vm", "probe", step).await;
        assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
        assert_eq!(updated.body["properties"]["provisioningState"], "Updating");
        let (entry, now) = goal_state_entry(&app, &credential, "probe").await;
        assert_eq!(entry["sequenceNumber"], sequence_number, "{entry}");
        assert_eq!(now, incarnation + sequence_number);
    }

    // A PATCH changes what it names and keeps the protected settings.
    let patched = app
        .patch_extension(
            "vm",
            "probe",
            json!({ "properties": { "settings": { "interval": 7 } } }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["properties"]["forceUpdateTag"], "rerun-1");
    let (entry, _) = goal_state_entry(&app, &credential, "probe").await;
    assert_eq!(entry["sequenceNumber"], 4);
    let handler = &entry["settings"]["runtimeSettings"][0]["handlerSettings"];
    assert_eq!(handler["publicSettings"], json!({ "interval": 7 }));
    let decrypted = keys
        .decrypt_json(
            &keys.thumbprint,
            handler["protectedSettings"].as_str().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(decrypted, json!({ "token": "other" }));
}

async fn the_reported_status_ends_the_operation_and_shows_in_the_instance_views(
    app: ManagementApp,
) {
    let (_, credential, _) = app.register_with_keys("vm").await;
    let created = app
        .put_extension("vm", "probe", probe(json!({ "interval": 5 })))
        .await;
    let operation = created.header("azure-asyncoperation").to_owned();

    let reported = app
        .put_guest_status(
            &credential,
            "probe",
            &status_file("transitioning", "starting"),
        )
        .await;
    assert_eq!(
        reported.status,
        StatusCode::NO_CONTENT,
        "{:?}",
        reported.body
    );
    assert_eq!(app.follow(&operation).await.body["status"], "InProgress");
    let view = app.extension_with_instance_view("vm", "probe").await;
    assert_eq!(
        view.body["properties"]["instanceView"]["statuses"][0]["code"],
        "ProvisioningState/transitioning"
    );

    app.put_guest_status(
        &credential,
        "probe",
        &status_file("success", "Enable succeeded"),
    )
    .await;
    let ended = app.follow(&operation).await;
    assert_eq!(ended.body["status"], "Succeeded", "{:?}", ended.body);
    assert!(ended.body["endTime"].is_string(), "{:?}", ended.body);

    let view = app.extension_with_instance_view("vm", "probe").await;
    assert_eq!(view.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        view.body["properties"]["instanceView"],
        json!({
            "name": "probe",
            "type": "Contoso.Monitoring.Probe",
            "typeHandlerVersion": "1.0",
            "statuses": [{
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "message": "Enable succeeded",
                "time": "2026-11-26T10:00:00Z",
            }],
            "substatuses": [{
                "code": "ComponentStatus/StdOut/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "message": "probe output",
            }],
        })
    );
    // Without $expand there is no instance view.
    let plain = app.get_vm_extension("rg", "vm", "probe").await;
    assert!(plain.body["properties"].get("instanceView").is_none());

    let vm_view = app.get_vm_instance_view("rg", "vm").await;
    assert_eq!(vm_view.status, StatusCode::OK, "{:?}", vm_view.body);
    let agent = &vm_view.body["vmAgent"];
    assert_eq!(agent["vmAgentVersion"], "2.9.1.1");
    assert_eq!(agent["statuses"][0]["displayStatus"], "Ready");
    assert_eq!(
        agent["extensionHandlers"][0],
        json!({
            "type": "Contoso.Monitoring.Probe",
            "typeHandlerVersion": "1.0",
            "status": {
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Ready",
            },
        })
    );
    assert_eq!(
        vm_view.body["extensions"][0],
        view.body["properties"]["instanceView"]
    );
    assert_eq!(vm_view.body["statuses"][1]["code"], "PowerState/running");
    assert_eq!(vm_view.body["disks"].as_array().unwrap().len(), 2);

    let expanded = app
        .get(&format!("{}?$expand=instanceView", app.vm_path("rg", "vm")))
        .await;
    assert_eq!(expanded.body["properties"]["instanceView"], vm_view.body);
    assert!(app.get_vm("rg", "vm").await.body["properties"]
        .get("instanceView")
        .is_none());
}

async fn a_reported_error_fails_the_operation_unless_failures_are_suppressed(app: ManagementApp) {
    let (_, credential, _) = app.register_with_keys("vm").await;
    let created = app.put_extension("vm", "probe", probe(json!({}))).await;
    let operation = created.header("azure-asyncoperation").to_owned();
    app.put_guest_status(&credential, "probe", &status_file("error", "disk is full"))
        .await;
    let failed = app.follow(&operation).await;
    assert_eq!(failed.body["status"], "Failed", "{:?}", failed.body);
    assert_eq!(failed.body["error"]["code"], "VMExtensionProvisioningError");
    let message = failed.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("'disk is full'"), "{message}");
    let view = app.extension_with_instance_view("vm", "probe").await;
    assert_eq!(view.body["properties"]["provisioningState"], "Failed");
    let status = &view.body["properties"]["instanceView"]["statuses"][0];
    assert_eq!(status["code"], "ProvisioningState/failed/0");
    assert_eq!(status["level"], "Error");

    let mut suppressed = probe(json!({ "attempt": 2 }));
    suppressed["properties"]["suppressFailures"] = json!(true);
    let updated = app.put_extension("vm", "probe", suppressed).await;
    assert_eq!(updated.body["properties"]["suppressFailures"], true);
    let operation_2 = updated.header("azure-asyncoperation").to_owned();
    // The first operation's sequence number is no longer the current one.
    assert_eq!(app.follow(&operation).await.body["status"], "Failed");
    app.put_guest_status(&credential, "probe", &status_file("error", "disk is full"))
        .await;
    assert_eq!(app.follow(&operation_2).await.body["status"], "Succeeded");
    let view = app.extension_with_instance_view("vm", "probe").await;
    assert_eq!(view.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        view.body["properties"]["instanceView"]["statuses"][0]["level"],
        "Error"
    );
}

/// Compute gives an extension 90 minutes (of the simulated clock) to report the end of its
/// provisioning; then the operation and the extension fail, and what the operation says
/// no longer changes.
async fn a_put_the_agent_does_not_finish_in_90_minutes_times_out(app: ManagementApp) {
    let (_, credential, _) = app.register_with_keys("vm").await;
    let created = app.put_extension("vm", "probe", probe(json!({}))).await;
    let operation = created.header("azure-asyncoperation").to_owned();
    app.put_guest_status(
        &credential,
        "probe",
        &status_file("transitioning", "installing"),
    )
    .await;
    app.advance_by("PT89M", 0.0).await;
    assert_eq!(app.follow(&operation).await.body["status"], "InProgress");
    app.advance_by("PT2M", 0.0).await;
    let failed = app.follow(&operation).await;
    assert_eq!(failed.body["status"], "Failed", "{:?}", failed.body);
    assert_eq!(
        failed.body["error"]["code"],
        "VMExtensionProvisioningTimeout"
    );
    let message = failed.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Provisioning of VM extension probe has timed out.")
            && message.contains("'installing'"),
        "{message}"
    );
    let view = app.extension_with_instance_view("vm", "probe").await;
    assert_eq!(view.body["properties"]["provisioningState"], "Failed");

    app.put_guest_status(&credential, "probe", &status_file("success", "done"))
        .await;
    assert_eq!(app.follow(&operation).await.body["status"], "Failed");
}

async fn a_delete_uninstalls_through_the_goal_state_then_the_extension_goes(app: ManagementApp) {
    let (_, credential, _) = app.register_with_keys("vm").await;
    app.put_extension("vm", "probe", probe(json!({}))).await;
    let (_, incarnation) = goal_state_entry(&app, &credential, "probe").await;

    let deleted = app.delete(&app.extension_path("vm", "probe")).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED, "{:?}", deleted.body);
    let operation = deleted.header("azure-asyncoperation").to_owned();
    let location = deleted.header("location").to_owned();
    assert!(location.ends_with("&monitor=true"), "{location}");
    assert_eq!(app.follow(&operation).await.body["status"], "InProgress");
    assert_eq!(app.follow(&location).await.status, StatusCode::ACCEPTED);
    let deleting = app.get_vm_extension("rg", "vm", "probe").await;
    assert_eq!(deleting.body["properties"]["provisioningState"], "Deleting");
    let (entry, next) = goal_state_entry(&app, &credential, "probe").await;
    assert_eq!(entry["state"], "uninstall");
    assert_eq!(next, incarnation + 1);
    // A status the handler still reports leaves it Deleting.
    app.put_guest_status(&credential, "probe", &status_file("success", "ok"))
        .await;
    let still = app.get_vm_extension("rg", "vm", "probe").await;
    assert_eq!(still.body["properties"]["provisioningState"], "Deleting");

    let uninstalled = app
        .guest_request(
            Some(&credential),
            Method::DELETE,
            "/machine/extensions/PROBE",
            None,
        )
        .await;
    assert_eq!(
        uninstalled.status,
        StatusCode::NO_CONTENT,
        "{:?}",
        uninstalled.body
    );
    let gone = app.get_vm_extension("rg", "vm", "probe").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "NotFound");
    let ended = app.follow(&operation).await;
    assert_eq!(ended.body["status"], "Succeeded", "{:?}", ended.body);
    assert_eq!(app.follow(&location).await.status, StatusCode::OK);
    let (entry, _) = goal_state_entry(&app, &credential, "probe").await;
    assert_eq!(entry, Value::Null);
    assert_eq!(
        app.delete(&app.extension_path("vm", "probe")).await.status,
        StatusCode::NO_CONTENT
    );

    // Only what the goal state says to uninstall can be reported uninstalled.
    app.put_extension("vm", "other", probe(json!({}))).await;
    let refused = app
        .guest_request(
            Some(&credential),
            Method::DELETE,
            "/machine/extensions/other",
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.error_code(), "ExtensionNotUninstalling");
    let unknown = app
        .guest_request(
            Some(&credential),
            Method::DELETE,
            "/machine/extensions/nope",
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A VM without an agent has nobody to uninstall: the extension goes at once.
    app.create_vm("rg", "bare", "westeurope").await;
    let mut public_only = probe(json!({}));
    public_only["properties"]
        .as_object_mut()
        .unwrap()
        .remove("protectedSettings");
    let put = app.put_extension("bare", "probe", public_only).await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
    let deleted = app.delete(&app.extension_path("bare", "probe")).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    let operation = deleted.header("azure-asyncoperation").to_owned();
    assert_eq!(app.follow(&operation).await.body["status"], "Succeeded");
    assert_eq!(
        app.get_vm_extension("rg", "bare", "probe").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn bad_extension_writes_are_refused_as_compute_refuses_them(app: ManagementApp) {
    app.register_with_keys("vm").await;
    let mut cases: Vec<(String, Value, StatusCode, &str)> = Vec::new();
    for property in ["publisher", "type", "typeHandlerVersion"] {
        let mut body = probe(json!({}));
        body["properties"].as_object_mut().unwrap().remove(property);
        cases.push((
            "probe".to_owned(),
            body,
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
        ));
    }
    cases.push((
        "probe".to_owned(),
        json!({ "properties": { "publisher": 7 } }),
        StatusCode::BAD_REQUEST,
        "InvalidRequestContent",
    ));
    cases.push((
        "bad name!".to_owned(),
        probe(json!({})),
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
    ));
    let mut backup = probe(json!({}));
    backup["properties"]["publisher"] = json!("Microsoft.Azure.RecoveryServices");
    backup["properties"]["type"] = json!("VMSnapshotLinux");
    cases.push((
        "VMSnapshotLinux".to_owned(),
        backup,
        StatusCode::CONFLICT,
        "OperationNotAllowed",
    ));
    for (name, body, status, code) in cases {
        let refused = app.put_extension("vm", &name, body.clone()).await;
        assert_eq!(refused.status, status, "{body}: {:?}", refused.body);
        assert_eq!(refused.error_code(), code, "{body}");
        assert_no_secret(&refused);
    }
    let missing = app.put_extension("vm", "probe", probe(json!({}))).await;
    // Nothing above was installed: this is the first.
    assert_eq!(missing.status, StatusCode::CREATED, "{:?}", missing.body);
    let mut retyped = probe(json!({}));
    retyped["properties"]["type"] = json!("OtherProbe");
    let refused = app.put_extension("vm", "probe", retyped).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "PropertyChangeNotAllowed");

    let no_such = app
        .patch_extension("vm", "nope", json!({ "properties": {} }))
        .await;
    assert_eq!(no_such.status, StatusCode::NOT_FOUND);
    assert_eq!(no_such.error_code(), "NotFound");

    // Protected settings need the certificate a registered agent gave.
    app.create_vm("rg", "bare", "westeurope").await;
    let refused = app.put_extension("bare", "probe", probe(json!({}))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.error_code(), "OperationNotAllowed");
    assert_no_secret(&refused);

    let no_vm = app.put_extension("ghost", "probe", probe(json!({}))).await;
    assert_eq!(no_vm.status, StatusCode::NOT_FOUND);
    let no_operation = app
        .get(&format!(
            "{}/providers/Microsoft.Compute/locations/westeurope/operations/{}",
            app.subscription_path(),
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(no_operation.status, StatusCode::NOT_FOUND);
    assert_eq!(no_operation.error_code(), "OperationNotFound");
}
