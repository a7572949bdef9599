//! ARM template deployments over HTTP: a template deployed through
//! `Microsoft.Resources/deployments` creates its resources through the same operations a
//! direct request reaches, in dependency order, and reports its state, outputs, operations
//! and errors as ARM does.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::management::app::{ArmResponse, ManagementApp};
use crate::on_both_backends;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/templates/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

impl ManagementApp {
    pub fn deployment_path(&self, group: Option<&str>, name: &str) -> String {
        let scope = match group {
            Some(group) => self.group_path(group),
            None => self.subscription_path(),
        };
        format!("{scope}/providers/Microsoft.Resources/deployments/{name}")
    }

    pub async fn put_deployment(
        &self,
        group: Option<&str>,
        name: &str,
        body: Value,
    ) -> ArmResponse {
        self.put(&self.deployment_path(group, name), body).await
    }

    pub async fn get_deployment(&self, group: Option<&str>, name: &str) -> ArmResponse {
        self.get(&self.deployment_path(group, name)).await
    }

    pub async fn list_deployments(&self, group: Option<&str>) -> ArmResponse {
        let scope = match group {
            Some(group) => self.group_path(group),
            None => self.subscription_path(),
        };
        self.get(&format!(
            "{scope}/providers/Microsoft.Resources/deployments"
        ))
        .await
    }

    pub async fn validate_deployment(
        &self,
        group: Option<&str>,
        name: &str,
        body: Value,
    ) -> ArmResponse {
        self.post(
            &format!("{}/validate", self.deployment_path(group, name)),
            Some(body),
        )
        .await
    }

    pub async fn what_if_deployment(
        &self,
        group: Option<&str>,
        name: &str,
        body: Value,
    ) -> ArmResponse {
        self.post(
            &format!("{}/whatIf", self.deployment_path(group, name)),
            Some(body),
        )
        .await
    }

    pub async fn cancel_deployment(&self, group: Option<&str>, name: &str) -> ArmResponse {
        self.post(
            &format!("{}/cancel", self.deployment_path(group, name)),
            None,
        )
        .await
    }

    pub async fn export_deployment_template(&self, group: Option<&str>, name: &str) -> ArmResponse {
        self.post(
            &format!("{}/exportTemplate", self.deployment_path(group, name)),
            None,
        )
        .await
    }

    pub async fn delete_deployment(&self, group: Option<&str>, name: &str) -> ArmResponse {
        self.delete(&self.deployment_path(group, name)).await
    }

    pub async fn list_deployment_operations(&self, group: Option<&str>, name: &str) -> ArmResponse {
        let path = match group {
            // The Resources spec's path at group scope, as az sends it.
            Some(group) => format!("{}/deployments/{name}/operations", self.group_path(group)),
            None => format!("{}/operations", self.deployment_path(None, name)),
        };
        self.get(&path).await
    }

    /// Follows a deployment PUT's `Azure-AsyncOperation` until the run ends (at most 60 s),
    /// then answers the deployment as `GET` shows it.
    pub async fn wait_for_deployment(
        &self,
        put: &ArmResponse,
        group: Option<&str>,
        name: &str,
    ) -> ArmResponse {
        let status_url = put.header("azure-asyncoperation").to_owned();
        let path = status_url
            .split_once("/subscriptions/")
            .map(|(_, rest)| format!("/subscriptions/{rest}"))
            .unwrap();
        let path = path.split('?').next().unwrap().to_owned();
        for _ in 0..600 {
            let status = self.get(&path).await;
            assert_eq!(status.status, StatusCode::OK, "{status:?}");
            if status.body["status"] != "Running" {
                return self.get_deployment(group, name).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let operations = self.list_deployment_operations(group, name).await;
        panic!("the deployment {name} did not end within 60 s; its operations: {operations:?}");
    }
}

fn deployment_body(template: Value, parameters: Value) -> Value {
    json!({"properties": {"template": template, "parameters": parameters, "mode": "Incremental"}})
}

async fn create_vms(app: &ManagementApp, group: &str, vms: &[&str]) {
    for vm in vms {
        let created = app.create_vm(group, vm, "westeurope").await;
        assert!(created.status.is_success(), "{created:?}");
    }
}

async fn the_backup_quickstart_creates_a_vault_a_policy_and_protects_two_vms(app: ManagementApp) {
    create_vms(&app, "rg", &["web-1", "web-2"]).await;
    let body = deployment_body(
        fixture("backup-existing-vms.json"),
        json!({
            "vaultName": {"value": "vault1"},
            "existingVirtualMachines": {"value": ["web-1", "web-2"]},
        }),
    );
    let put = app.put_deployment(Some("rg"), "backup", body).await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    assert_eq!(put.body["properties"]["provisioningState"], "Accepted");
    assert!(put
        .header("azure-asyncoperation")
        .contains("/operationStatuses/"));

    let deployment = app.wait_for_deployment(&put, Some("rg"), "backup").await;
    let properties = &deployment.body["properties"];
    assert_eq!(
        properties["provisioningState"], "Succeeded",
        "{deployment:?}"
    );
    let vault_id = format!(
        "{}/providers/Microsoft.RecoveryServices/vaults/vault1",
        app.group_path("rg")
    );
    assert_eq!(properties["outputs"]["vaultId"]["value"], vault_id);
    assert_eq!(
        properties["outputs"]["protectedCount"],
        json!({"type": "Int", "value": 2})
    );
    assert_eq!(properties["outputs"]["vaultSku"]["value"], "RS0");
    assert_eq!(
        properties["parameters"]["policyName"]["value"],
        "DailyPolicy"
    );
    assert_eq!(properties["parameters"]["location"]["value"], "westeurope");
    assert_eq!(properties["outputResources"].as_array().unwrap().len(), 4);

    // What the template made is what direct requests see.
    let policy = app.get_policy("rg", "vault1", "DailyPolicy").await;
    assert_eq!(policy.status, StatusCode::OK, "{policy:?}");
    assert_eq!(
        policy.body["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"],
        30
    );
    let items = app.list_protected_items("rg", "vault1", None).await;
    let items = items.body["value"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{items:?}");
    for item in &items {
        assert!(item["properties"]["policyId"]
            .as_str()
            .unwrap()
            .ends_with("/backupPolicies/DailyPolicy"));
    }

    // One operation per resource, the vault before the policy before the items.
    let operations = app.list_deployment_operations(Some("rg"), "backup").await;
    let operations = operations.body["value"].as_array().unwrap().clone();
    let types: Vec<&str> = operations
        .iter()
        .map(|o| {
            o["properties"]["targetResource"]["resourceType"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(types.len(), 4, "{operations:?}");
    assert_eq!(types[0], "Microsoft.RecoveryServices/vaults");
    assert_eq!(types[1], "Microsoft.RecoveryServices/vaults/backupPolicies");
    assert!(operations
        .iter()
        .all(|o| o["properties"]["provisioningState"] == "Succeeded"));

    let listed = app.list_deployments(Some("rg")).await;
    assert_eq!(listed.body["value"][0]["name"], "backup");
    let exported = app.export_deployment_template(Some("rg"), "backup").await;
    assert_eq!(
        exported.body["template"],
        fixture("backup-existing-vms.json")
    );

    // Deployed again unchanged, what-if sees no change to the vault.
    let body = deployment_body(
        fixture("backup-existing-vms.json"),
        json!({"vaultName": {"value": "vault1"}, "existingVirtualMachines": {"value": ["web-1"]}}),
    );
    let what_if = app.what_if_deployment(Some("rg"), "backup", body).await;
    assert_eq!(what_if.status, StatusCode::OK, "{what_if:?}");
    let changes = what_if.body["properties"]["changes"].as_array().unwrap();
    let vault_change = changes
        .iter()
        .find(|c| c["resourceId"] == json!(vault_id))
        .unwrap();
    assert_eq!(vault_change["changeType"], "NoChange", "{vault_change:?}");
}

async fn a_resource_its_provider_refuses_fails_the_deployment_with_its_error(app: ManagementApp) {
    create_vms(&app, "rg", &["web-1"]).await;
    let body = deployment_body(
        fixture("backup-existing-vms.json"),
        json!({
            "vaultName": {"value": "vault1"},
            "existingVirtualMachines": {"value": ["web-1", "no-such-vm"]},
        }),
    );
    let put = app.put_deployment(Some("rg"), "backup", body).await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    let deployment = app.wait_for_deployment(&put, Some("rg"), "backup").await;
    let properties = &deployment.body["properties"];
    assert_eq!(properties["provisioningState"], "Failed", "{deployment:?}");
    assert_eq!(properties["error"]["code"], "DeploymentFailed");
    let details = properties["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(
        details[0]["target"]
            .as_str()
            .unwrap()
            .contains("no-such-vm"),
        "{details:?}"
    );
    assert!(properties.get("outputs").is_none());

    let operations = app.list_deployment_operations(Some("rg"), "backup").await;
    let states: Vec<(String, String)> = operations.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["properties"]["targetResource"]["resourceName"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                o["properties"]["provisioningState"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&("vault1".to_owned(), "Succeeded".to_owned())),
        "{states:?}"
    );
    assert!(
        states
            .iter()
            .any(|(name, state)| name.contains("no-such-vm") && state == "Failed"),
        "{states:?}"
    );
    // The vault the failed deployment made is there, reported, not rolled back.
    assert_eq!(app.get_vault("rg", "vault1").await.status, StatusCode::OK);
}

async fn a_subscription_deployment_expands_loops_conditions_and_outputs(app: ManagementApp) {
    let body = json!({
        "location": "westeurope",
        "properties": {
            "template": fixture("groups-with-loops.json"),
            "parameters": {"prefix": {"value": "Loop"}, "location": {"value": "westeurope"}},
            "mode": "Incremental",
        }
    });
    let put = app.put_deployment(None, "groups", body).await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    let deployment = app.wait_for_deployment(&put, None, "groups").await;
    let properties = &deployment.body["properties"];
    assert_eq!(
        properties["provisioningState"], "Succeeded",
        "{deployment:?}"
    );
    assert_eq!(
        properties["outputs"]["names"]["value"],
        json!(["loop-0", "loop-1", "loop-2"])
    );
    assert_eq!(
        properties["outputs"]["firstTags"]["value"],
        json!({"purpose": "loops", "owner": "Loop", "index": "0"})
    );
    assert_eq!(properties["outputs"]["audited"]["value"], false);
    assert_eq!(properties["outputs"]["label"]["value"], "LOOP x3");
    // As Bicep compiles `map(filter(names, (name, i) => i % 2 == 1), name => toUpper(name))`.
    assert_eq!(
        properties["outputs"]["oddGroups"]["value"],
        json!(["LOOP-1"])
    );
    for index in 0..3 {
        let group = app.get_group(&format!("loop-{index}")).await;
        assert_eq!(group.status, StatusCode::OK, "{group:?}");
        assert_eq!(group.body["tags"]["index"], index.to_string());
    }
    assert_eq!(
        app.get_group("Loop-audit").await.status,
        StatusCode::NOT_FOUND
    );
    // Serial in batches of two: the third group waited for the first two.
    let dependencies = properties["dependencies"].as_array().unwrap();
    let third = dependencies
        .iter()
        .find(|d| d["resourceName"] == "loop-2")
        .unwrap();
    let waited: Vec<&str> = third["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["resourceName"].as_str().unwrap())
        .collect();
    assert_eq!(waited, ["loop-0", "loop-1"]);
}

async fn a_symbolic_name_template_reads_existing_resources_and_orders_by_symbol(
    app: ManagementApp,
) {
    create_vms(&app, "rg", &["web-1"]).await;
    // As Bicep's symbolic-name output writes `resource vm ... existing = {...}`, a resource
    // depending on another, and `vm.properties...` / `vault.type` in outputs.
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "languageVersion": "2.0",
        "contentVersion": "1.0.0.0",
        "resources": {
            "vm": {"existing": true, "type": "Microsoft.Compute/virtualMachines",
                   "apiVersion": "2024-07-01", "name": "web-1"},
            "alpha": {"type": "Microsoft.RecoveryServices/vaults", "apiVersion": "2023-04-01",
                      "name": "sym-alpha", "location": "westeurope", "sku": {"name": "RS0"},
                      "properties": {}, "dependsOn": ["zeta", "vm"]},
            "zeta": {"type": "Microsoft.RecoveryServices/vaults", "apiVersion": "2023-04-01",
                     "name": "sym-zeta", "location": "westeurope", "sku": {"name": "RS0"},
                     "properties": {}}
        },
        "outputs": {
            "vmOs": {"type": "string", "value": "[reference('vm').storageProfile.osDisk.osType]"},
            "zetaType": {"type": "string", "value": "[reference('zeta', '2023-04-01', 'Full').type]"}
        }
    });
    let put = app
        .put_deployment(Some("rg"), "symbolic", deployment_body(template, json!({})))
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    let deployment = app.wait_for_deployment(&put, Some("rg"), "symbolic").await;
    let properties = &deployment.body["properties"];
    assert_eq!(
        properties["provisioningState"], "Succeeded",
        "{deployment:?}"
    );
    assert_eq!(properties["outputs"]["vmOs"]["value"], "Linux");
    assert_eq!(
        properties["outputs"]["zetaType"]["value"],
        "Microsoft.RecoveryServices/vaults"
    );
    // `alpha` depends on `zeta` by symbolic name (on the existing VM: nothing to wait for).
    let dependencies = properties["dependencies"].as_array().unwrap();
    assert_eq!(dependencies.len(), 1, "{dependencies:?}");
    assert_eq!(dependencies[0]["resourceName"], "sym-alpha");
    assert_eq!(dependencies[0]["dependsOn"][0]["resourceName"], "sym-zeta");
    // The existing VM was read, not deployed.
    let operations = app.list_deployment_operations(Some("rg"), "symbolic").await;
    let deployed: Vec<&str> = operations.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o["properties"]["targetResource"]["resourceName"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(deployed, ["sym-zeta", "sym-alpha"], "{operations:?}");
}

async fn bad_templates_are_refused_with_arm_codes_and_nothing_is_created(app: ManagementApp) {
    crate::management::vaults::create_group(&app, "rg").await;
    let vault = |name: &str, depends_on: Value| {
        json!({"type": "Microsoft.RecoveryServices/vaults", "apiVersion": "2023-04-01",
               "name": name, "location": "westeurope", "sku": {"name": "RS0"},
               "properties": {}, "dependsOn": depends_on})
    };
    let template = |resources: Value| {
        json!({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
               "contentVersion": "1.0.0.0", "resources": resources})
    };
    let cases = [
        (
            template(json!([vault("a", json!(["b"])), vault("b", json!(["a"]))])),
            "InvalidTemplate",
            "Circular dependency",
        ),
        (
            template(json!([vault("a", json!(["missing"]))])),
            "InvalidTemplate",
            "'missing' is not defined in the template",
        ),
        (
            template(
                json!([{"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01",
                             "name": "site", "location": "westeurope"}]),
            ),
            "InvalidTemplateDeployment",
            "validation procedure",
        ),
        (
            template(json!([vault("[concat('a', nosuchfunction())]", json!([]))])),
            "InvalidTemplate",
            "nosuchfunction",
        ),
        (
            json!({"parameters": {"n": {"type": "int"}}, "resources": []}),
            "InvalidTemplate",
            "'n' at line",
        ),
    ];
    for (template, code, text) in cases {
        let body = deployment_body(template, json!({}));
        let validated = app
            .validate_deployment(Some("rg"), "bad", body.clone())
            .await;
        assert_eq!(validated.status, StatusCode::BAD_REQUEST, "{validated:?}");
        assert_eq!(validated.error_code(), code, "{validated:?}");
        let message = validated.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(text), "{message}");
        let put = app.put_deployment(Some("rg"), "bad", body).await;
        assert_eq!(put.status, StatusCode::BAD_REQUEST, "{put:?}");
        assert_eq!(put.error_code(), code);
    }
    let unserved = app
        .validate_deployment(
            Some("rg"),
            "bad",
            deployment_body(
                template(
                    json!([{"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01",
                                 "name": "site", "location": "westeurope"}]),
                ),
                json!({}),
            ),
        )
        .await;
    assert_eq!(
        unserved.body["error"]["details"][0]["code"],
        "NoRegisteredProviderFound"
    );
    assert_eq!(
        app.get_deployment(Some("rg"), "bad").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get_vault("rg", "a").await.status, StatusCode::NOT_FOUND);
}

async fn a_running_deployment_can_be_cancelled_and_deleted(app: ManagementApp) {
    create_vms(&app, "rg", &["web-1"]).await;
    // The deployment is running when the cancellation reaches it, and the vault after the
    // extension never starts.
    let mut template = extension_waiting_for_its_agent();
    template["resources"].as_array_mut().unwrap().push(json!(
            {"type": "Microsoft.RecoveryServices/vaults", "apiVersion": "2023-04-01",
             "name": "after-extension", "location": "westeurope", "sku": {"name": "RS0"},
             "properties": {},
             "dependsOn": ["[resourceId('Microsoft.Compute/virtualMachines/extensions', 'web-1', 'script')]"]}
    ));
    let put = app
        .put_deployment(Some("rg"), "slow", deployment_body(template, json!({})))
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let running = app.get_deployment(Some("rg"), "slow").await;
    assert_eq!(
        running.body["properties"]["provisioningState"], "Running",
        "{running:?}"
    );
    let deleted = app.delete_deployment(Some("rg"), "slow").await;
    assert_eq!(deleted.error_code(), "DeploymentActive", "{deleted:?}");

    let cancelled = app.cancel_deployment(Some("rg"), "slow").await;
    assert_eq!(cancelled.status, StatusCode::NO_CONTENT, "{cancelled:?}");
    let deployment = app.wait_for_deployment(&put, Some("rg"), "slow").await;
    assert_eq!(
        deployment.body["properties"]["provisioningState"],
        "Canceled"
    );
    let again = app.cancel_deployment(Some("rg"), "slow").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "DeploymentCannotBeCancelled");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.get_vault("rg", "after-extension").await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        app.delete_deployment(Some("rg"), "slow").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get_deployment(Some("rg"), "slow").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.list_deployments(Some("rg")).await.body["value"],
        json!([])
    );
}

/// The lease of the deployment `name` of group `rg`, as stored (wall-clock microseconds).
async fn lease_until(db: &vaultsim::store::Db, name: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("select lease_until from deployment where name_key = $1")
        .bind(name)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn an_interrupted_deployment_fails_once_its_lease_lapses(mut app: ManagementApp) {
    create_vms(&app, "rg", &["web-1"]).await;
    // The run goes on until the process running it stops.
    let put = app
        .put_deployment(
            Some("rg"),
            "slow",
            deployment_body(extension_waiting_for_its_agent(), json!({})),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    // The running process renews its lease.
    let db = app.db().await;
    let first = lease_until(&db, "slow").await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert!(
        lease_until(&db, "slow").await > first,
        "the lease was not renewed"
    );

    app.crash_and_restart().await;
    // Within its lease a deployment whose process stopped still shows as running...
    let running = app.get_deployment(Some("rg"), "slow").await;
    assert_eq!(running.body["properties"]["provisioningState"], "Running");
    let again = app
        .put_deployment(
            Some("rg"),
            "slow",
            deployment_body(quick_template(), json!({})),
        )
        .await;
    assert_eq!(again.error_code(), "DeploymentActive", "{again:?}");
    // ...and fails once the lease lapses (the wall clock moved on: no process renews it).
    sqlx::query("update deployment set lease_until = $1 where name_key = 'slow'")
        .bind(chrono::Utc::now().timestamp_micros() - 1_000_000)
        .execute(db.pool())
        .await
        .unwrap();
    let failed = app.wait_for_deployment(&put, Some("rg"), "slow").await;
    let properties = &failed.body["properties"];
    assert_eq!(properties["provisioningState"], "Failed", "{failed:?}");
    assert_eq!(properties["error"]["code"], "DeploymentFailed");
    let detail = &properties["error"]["details"][0];
    assert_eq!(detail["code"], "InternalServerError");
    assert!(
        detail["message"].as_str().unwrap().contains("interrupted"),
        "{detail}"
    );
    let listed = app.list_deployments(Some("rg")).await;
    assert_eq!(
        listed.body["value"][0]["properties"]["provisioningState"],
        "Failed"
    );

    // Deployed again, the same name runs to its end.
    let replaced = app
        .put_deployment(
            Some("rg"),
            "slow",
            deployment_body(quick_template(), json!({})),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{replaced:?}");
    let done = app.wait_for_deployment(&replaced, Some("rg"), "slow").await;
    assert_eq!(done.body["properties"]["provisioningState"], "Succeeded");
}

/// An extension on `web-1`, whose operation waits for the VM's agent, which never comes:
/// a deployment that runs until it is cancelled or its process stops.
fn extension_waiting_for_its_agent() -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {"type": "Microsoft.Compute/virtualMachines/extensions", "apiVersion": "2024-07-01",
             "name": "web-1/script", "location": "westeurope",
             "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                            "typeHandlerVersion": "2.1", "settings": {"commandToExecute": "true"}}}
        ]
    })
}

/// One vault: a template that deploys at once.
fn quick_template() -> Value {
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{"type": "Microsoft.RecoveryServices/vaults", "apiVersion": "2023-04-01",
                       "name": "quick-vault", "location": "westeurope", "sku": {"name": "RS0"},
                       "properties": {}}]
    })
}

async fn complete_mode_deletes_what_the_template_does_not_name(app: ManagementApp) {
    crate::management::vaults::create_vault(&app, "rg", "extra-vault").await;
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{"type": "Microsoft.RecoveryServices/vaults", "apiVersion": "2023-04-01",
                       "name": "kept-vault", "location": "westeurope", "sku": {"name": "RS0"},
                       "properties": {}}]
    });
    let body = json!({"properties": {"template": template, "mode": "Complete"}});
    let what_if = app
        .what_if_deployment(Some("rg"), "complete", body.clone())
        .await;
    let changes = what_if.body["properties"]["changes"]
        .as_array()
        .unwrap()
        .clone();
    let change = |name: &str| {
        changes
            .iter()
            .find(|c| c["resourceId"].as_str().unwrap().ends_with(name))
            .map(|c| c["changeType"].clone())
    };
    assert_eq!(change("/kept-vault"), Some(json!("Create")), "{changes:?}");
    assert_eq!(change("/extra-vault"), Some(json!("Delete")), "{changes:?}");

    let put = app.put_deployment(Some("rg"), "complete", body).await;
    let deployment = app.wait_for_deployment(&put, Some("rg"), "complete").await;
    assert_eq!(
        deployment.body["properties"]["provisioningState"], "Succeeded",
        "{deployment:?}"
    );
    assert_eq!(deployment.body["properties"]["mode"], "Complete");
    assert_eq!(
        app.get_vault("rg", "kept-vault").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get_vault("rg", "extra-vault").await.status,
        StatusCode::NOT_FOUND
    );
    let operations = app.list_deployment_operations(Some("rg"), "complete").await;
    let deleted: Vec<&Value> = operations.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["properties"]["provisioningOperation"] == "Delete")
        .collect();
    assert_eq!(deleted.len(), 1, "{operations:?}");
    assert!(deleted[0]["properties"]["targetResource"]["id"]
        .as_str()
        .unwrap()
        .ends_with("/extra-vault"));
}

on_both_backends!(
    the_backup_quickstart_creates_a_vault_a_policy_and_protects_two_vms,
    a_resource_its_provider_refuses_fails_the_deployment_with_its_error,
    a_subscription_deployment_expands_loops_conditions_and_outputs,
    bad_templates_are_refused_with_arm_codes_and_nothing_is_created,
    a_running_deployment_can_be_cancelled_and_deleted,
    a_symbolic_name_template_reads_existing_resources_and_orders_by_symbol,
    an_interrupted_deployment_fails_once_its_lease_lapses,
    complete_mode_deletes_what_the_template_does_not_name,
);
