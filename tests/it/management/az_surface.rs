//! What the `az backup` commands request beyond the core (spec/az-custom-cloud.md, last
//! section): Resource Guard proxies, vault config, storage and encryption config, backup
//! status of a VM, job cancellation, the storage account as an ARM resource and the
//! resource providers; and a failed job whose tasks all ended.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::app::{ArmResponse, ManagementApp};
use super::protection::{item_name, last_segment};
use crate::backup::e2e::{protected_vm, recovery_points, wait_for_job, GROUP, VAULT, VM};

impl ManagementApp {
    pub async fn list_resource_guard_proxies(&self, group: &str, vault: &str) -> ArmResponse {
        self.get(&format!(
            "{}/backupResourceGuardProxies?api-version=2026-08-01",
            self.vault_path(group, vault)
        ))
        .await
    }

    pub async fn get_vault_config(&self, group: &str, vault: &str) -> ArmResponse {
        self.get(&format!(
            "{}/backupconfig/vaultconfig",
            self.vault_path(group, vault)
        ))
        .await
    }

    pub async fn patch_vault_config(&self, group: &str, vault: &str, body: Value) -> ArmResponse {
        let path = format!("{}/backupconfig/vaultconfig", self.vault_path(group, vault));
        self.send(Method::PATCH, &path, Some(body)).await
    }

    pub async fn put_vault_config(&self, group: &str, vault: &str, body: Value) -> ArmResponse {
        let path = format!("{}/backupconfig/vaultconfig", self.vault_path(group, vault));
        self.put(&path, body).await
    }

    pub async fn get_storage_config(&self, group: &str, vault: &str) -> ArmResponse {
        self.get(&format!(
            "{}/backupstorageconfig/vaultstorageconfig",
            self.vault_path(group, vault)
        ))
        .await
    }

    pub async fn get_encryption_config(&self, group: &str, vault: &str) -> ArmResponse {
        self.get(&format!(
            "{}/backupEncryptionConfigs/backupResourceEncryptionConfig",
            self.vault_path(group, vault)
        ))
        .await
    }

    pub async fn backup_status(&self, location: &str, body: Value) -> ArmResponse {
        let path = format!(
            "{}/providers/Microsoft.RecoveryServices/locations/{location}/backupStatus",
            self.subscription_path()
        );
        self.post(&path, Some(body)).await
    }

    pub async fn cancel_job(&self, group: &str, vault: &str, job: &str) -> ArmResponse {
        let path = format!("{}/backupJobs/{job}/cancel", self.vault_path(group, vault));
        self.post(&path, None).await
    }

    /// Follows an absolute URL a header named (it carries its own api-version).
    pub async fn get_url(&self, url: &str) -> ArmResponse {
        let base = format!("http://{}", self.addr);
        let path = url.strip_prefix(&base).expect("a URL of this service");
        self.get(path).await
    }

    /// `az` writes the account after a double slash: `storageAccounts//{account}`.
    pub async fn get_storage_account(&self, group: &str, account: &str) -> ArmResponse {
        self.get(&format!(
            "{}/providers/Microsoft.Storage/storageAccounts//{account}?api-version=2016-01-01",
            self.group_path(group)
        ))
        .await
    }

    pub async fn get_classic_storage_account(&self, group: &str, account: &str) -> ArmResponse {
        self.get(&format!(
            "{}/providers/Microsoft.ClassicStorage/storageAccounts/{account}",
            self.group_path(group)
        ))
        .await
    }

    pub async fn list_providers(&self) -> ArmResponse {
        self.get(&format!(
            "{}/providers?api-version=2024-11-01",
            self.subscription_path()
        ))
        .await
    }

    /// `GET .../resources` of the subscription, or of `group`, with an optional `$filter`.
    pub async fn list_resources(&self, group: Option<&str>, filter: Option<&str>) -> ArmResponse {
        let scope = match group {
            Some(group) => self.group_path(group),
            None => self.subscription_path(),
        };
        let filter = filter
            .map(|f| format!("&$filter={}", f.replace(' ', "%20")))
            .unwrap_or_default();
        self.get(&format!("{scope}/resources?api-version=2024-11-01{filter}"))
            .await
    }

    pub async fn get_provider(&self, namespace: &str) -> ArmResponse {
        self.get(&format!(
            "{}/providers/{namespace}?api-version=2024-11-01",
            self.subscription_path()
        ))
        .await
    }

    pub async fn register_provider(&self, namespace: &str) -> ArmResponse {
        self.post(
            &format!(
                "{}/providers/{namespace}/register?api-version=2024-11-01",
                self.subscription_path()
            ),
            None,
        )
        .await
    }
}

fn tasks(job: &Value) -> Vec<(String, String)> {
    job["properties"]["extendedInfo"]["tasksList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["taskId"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn resource_guard_proxies_are_an_empty_list(app: ManagementApp) {
    app.protection_setup("rg", "vault", &[]).await;
    let proxies = app.list_resource_guard_proxies("rg", "vault").await;
    assert_eq!(proxies.status, StatusCode::OK, "{:?}", proxies.body);
    assert_eq!(proxies.body, json!({"value": []}));
    let missing = app.list_resource_guard_proxies("rg", "nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "ResourceNotFound");
}

async fn a_vault_delete_answers_204_never_200(app: ManagementApp) {
    app.protection_setup("rg", "vault", &[]).await;
    let deleted = app.delete_vault("rg", "vault").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);
    assert_eq!(
        app.get_vault("rg", "vault").await.status,
        StatusCode::NOT_FOUND
    );
    let again = app.delete_vault("rg", "vault").await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
}

async fn backup_status_names_the_protecting_vault(app: ManagementApp) {
    app.protection_setup("rg", "vault", &["vm1", "vm2"]).await;
    app.protect("rg", "vault", "vm1", "DefaultPolicy").await;
    let vm_id = |vm: &str| {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{vm}",
            app.group_path("rg")
        )
    };
    let protected = app
        .backup_status(
            "eastus",
            json!({"resourceType": "VM", "resourceId": vm_id("vm1")}),
        )
        .await;
    assert_eq!(protected.status, StatusCode::OK, "{:?}", protected.body);
    assert_eq!(
        protected.body,
        json!({
            "protectionStatus": "Protected",
            "vaultId": app.vault_path("rg", "vault"),
            "fabricName": "Azure",
            "containerName": "iaasvmcontainerv2;rg;vm1",
            "protectedItemName": item_name("rg", "vm1"),
            "policyName": "DefaultPolicy",
        })
    );
    let unprotected = app
        .backup_status(
            "eastus",
            json!({"resourceType": "VM", "resourceId": vm_id("VM2")}),
        )
        .await;
    assert_eq!(unprotected.status, StatusCode::OK, "{:?}", unprotected.body);
    assert_eq!(
        unprotected.body,
        json!({"protectionStatus": "NotProtected"})
    );
    let missing = app
        .backup_status(
            "eastus",
            json!({"resourceType": "VM", "resourceId": vm_id("vm9")}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let not_a_vm = app
        .backup_status(
            "eastus",
            json!({"resourceType": "VM", "resourceId": app.group_path("rg")}),
        )
        .await;
    assert_eq!(not_a_vm.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_a_vm.error_code(), "BMSUserErrorInvalidInput");
}

async fn a_running_backup_is_cancelled_and_its_late_snapshot_ignored(app: ManagementApp) {
    let mut vm = protected_vm(&app, "2026-03-01T10:00:00Z").await;
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let mut task = vm
        .next_task(Duration::from_secs(20))
        .await
        .expect("the VM received the task");

    let cancelled = app.cancel_job(GROUP, VAULT, &job_id.to_uppercase()).await;
    assert_eq!(
        cancelled.status,
        StatusCode::ACCEPTED,
        "{:?}",
        cancelled.body
    );
    let status_url = cancelled.header("azure-asyncoperation");
    assert!(
        status_url.contains("/backupJobs/operationsStatus/"),
        "{status_url}"
    );
    let status = app.get_url(status_url).await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    assert_eq!(status.body["status"], "Succeeded");
    assert_eq!(status.body["name"], last_segment(status_url));
    assert_eq!(status.body["properties"]["jobId"], job_id.as_str());
    let location = cancelled.header("location");
    assert!(
        location.contains(&format!("/backupJobs/{job_id}/operationResults/")),
        "{location}"
    );
    assert_eq!(app.get_url(location).await.status, StatusCode::NO_CONTENT);

    let job = app.get_job(GROUP, VAULT, &job_id).await.body;
    assert_eq!(job["properties"]["status"], "Cancelled", "{job}");
    assert!(job["properties"]["endTime"].is_string(), "{job}");
    assert_eq!(job["properties"]["actionsInfo"], json!([]));
    assert_eq!(
        tasks(&job),
        [
            ("Take Snapshot".to_owned(), "Cancelled".to_owned()),
            ("Transfer data to vault".to_owned(), "Cancelled".to_owned()),
        ]
    );

    // The extension, unaware, reports a snapshot: no recovery point comes of it.
    let snapshots = task.snapshot_disks().await;
    let done = task.app_consistent_status(&snapshots);
    task.write_status(&done).await.unwrap();
    // Collect it now, as the blob write's event would, so the check does not race it.
    let ready = vaultsim::control::collector::collect(&app.engine, &format!("{job_id}_1"))
        .await
        .unwrap();
    assert!(ready.task_ids().is_empty(), "{ready:?}");
    assert!(recovery_points(&app).await.is_empty());
    let after = app.get_job(GROUP, VAULT, &job_id).await.body;
    assert_eq!(after["properties"]["status"], "Cancelled", "{after}");
    assert_eq!(
        after["properties"]["extendedInfo"]["tasksList"],
        job["properties"]["extendedInfo"]["tasksList"]
    );

    // An ended job cannot be cancelled; the item may back up again.
    let again = app.cancel_job(GROUP, VAULT, &job_id).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{:?}", again.body);
    assert_eq!(again.error_code(), "UserErrorJobNotCancellable");
    assert!(
        again.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already ended (Cancelled)"),
        "{:?}",
        again.body
    );
    let next = app.backup_now(GROUP, VAULT, VM).await;
    assert_ne!(next, job_id);
    let unknown = app
        .cancel_job(GROUP, VAULT, "00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "BMSUserErrorJobNotFound");
}

async fn a_backup_failed_at_start_ends_every_task(app: ManagementApp) {
    app.protection_setup(GROUP, VAULT, &[VM]).await;
    app.protect(GROUP, VAULT, VM, "DefaultPolicy").await;
    // No agent ever registered: the job fails at once with AzureVmOffline.
    let job_id = app.backup_now(GROUP, VAULT, VM).await;
    let job = wait_for_job(&app, &job_id).await;
    assert_eq!(job["properties"]["status"], "Failed", "{job}");
    assert_eq!(job["properties"]["errorDetails"][0]["errorCode"], 380008);
    assert_eq!(
        tasks(&job),
        [
            ("Take Snapshot".to_owned(), "Failed".to_owned()),
            ("Transfer data to vault".to_owned(), "Cancelled".to_owned()),
        ]
    );
    for task in job["properties"]["extendedInfo"]["tasksList"]
        .as_array()
        .unwrap()
    {
        assert!(task["endTime"].is_string(), "{task}");
    }
    // A later read shows the same durations: nothing keeps growing.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = app.get_job(GROUP, VAULT, &job_id).await.body;
    assert_eq!(
        later["properties"]["extendedInfo"]["tasksList"],
        job["properties"]["extendedInfo"]["tasksList"]
    );
    let cancel = app.cancel_job(GROUP, VAULT, &job_id).await;
    assert_eq!(cancel.status, StatusCode::BAD_REQUEST);
}

async fn vault_config_shows_and_sets_soft_delete(app: ManagementApp) {
    app.protection_setup("rg", "vault", &[]).await;
    let config = app.get_vault_config("rg", "vault").await;
    assert_eq!(config.status, StatusCode::OK, "{:?}", config.body);
    assert_eq!(
        config.body,
        json!({
            "id": format!("{}/backupconfig/vaultconfig", app.vault_path("rg", "vault")),
            "name": "vaultconfig",
            "type": "Microsoft.RecoveryServices/vaults/backupconfig",
            "properties": {
                "storageModelType": "GeoRedundant",
                "storageType": "GeoRedundant",
                "storageTypeState": "Unlocked",
                "enhancedSecurityState": "Enabled",
                "softDeleteFeatureState": "Enabled",
                "softDeleteRetentionPeriodInDays": 14,
                "isSoftDeleteFeatureStateEditable": true,
            }
        })
    );
    // What `az backup vault backup-properties set --soft-delete-feature-state Disable` sends.
    let set = app
        .patch_vault_config(
            "rg",
            "vault",
            json!({"properties": {"softDeleteFeatureState": "disabled",
                                  "enhancedSecurityState": "Enabled",
                                  "softDeleteRetentionPeriodInDays": 30}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["properties"]["softDeleteFeatureState"], "Disabled");
    let shown = app.get_vault_config("rg", "vault").await.body;
    assert_eq!(shown["properties"]["softDeleteFeatureState"], "Disabled");
    assert_eq!(shown["properties"]["softDeleteRetentionPeriodInDays"], 30);
    // The vault shows the same setting.
    let vault = app.get_vault("rg", "vault").await.body;
    assert_eq!(
        vault["properties"]["securitySettings"]["softDeleteSettings"]["softDeleteState"],
        "Disabled"
    );
    let put = app
        .put_vault_config(
            "rg",
            "vault",
            json!({"properties": {"enhancedSecurityState": "Disabled"}}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    assert_eq!(put.body["properties"]["enhancedSecurityState"], "Disabled");
    assert_eq!(put.body["properties"]["softDeleteFeatureState"], "Disabled");

    for bad in [
        json!({"properties": {"softDeleteFeatureState": "Sometimes"}}),
        json!({"properties": {"enhancedSecurityState": "Off"}}),
        json!({"properties": {"softDeleteRetentionPeriodInDays": 7}}),
    ] {
        let refused = app.patch_vault_config("rg", "vault", bad.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(refused.error_code(), "BMSUserErrorInvalidInput", "{bad}");
    }
    let unchanged = app.get_vault_config("rg", "vault").await.body;
    assert_eq!(unchanged["properties"], put.body["properties"]);

    // AlwaysON cannot be left.
    let always = app
        .patch_vault_config(
            "rg",
            "vault",
            json!({"properties": {"softDeleteFeatureState": "AlwaysON"}}),
        )
        .await;
    assert_eq!(always.status, StatusCode::OK, "{:?}", always.body);
    assert_eq!(
        always.body["properties"]["isSoftDeleteFeatureStateEditable"],
        false
    );
    let leave = app
        .patch_vault_config(
            "rg",
            "vault",
            json!({"properties": {"softDeleteFeatureState": "Enabled"}}),
        )
        .await;
    assert_eq!(leave.status, StatusCode::BAD_REQUEST);

    // `az backup vault create` makes vaults with soft delete `AlwaysOn`, in that spelling.
    let created = app
        .put(
            &app.vault_path("rg", "az-vault"),
            json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {
                "securitySettings": {"softDeleteSettings": {"softDeleteState": "AlwaysOn",
                    "enhancedSecurityState": "AlwaysOn", "softDeleteRetentionPeriodInDays": 14}}}}),
        )
        .await;
    assert!(created.status.is_success(), "{:?}", created.body);
    let shown = app.get_vault_config("rg", "az-vault").await.body;
    assert_eq!(shown["properties"]["softDeleteFeatureState"], "AlwaysON");
    assert_eq!(shown["properties"]["enhancedSecurityState"], "AlwaysON");
    assert_eq!(
        shown["properties"]["isSoftDeleteFeatureStateEditable"],
        false
    );
    let leave = app
        .patch_vault_config(
            "rg",
            "az-vault",
            json!({"properties": {"softDeleteFeatureState": "Disabled"}}),
        )
        .await;
    assert_eq!(leave.status, StatusCode::BAD_REQUEST, "{:?}", leave.body);
}

async fn storage_and_encryption_config_are_served(app: ManagementApp) {
    app.protection_setup("rg", "vault", &[]).await;
    let storage = app.get_storage_config("rg", "vault").await;
    assert_eq!(storage.status, StatusCode::OK, "{:?}", storage.body);
    assert_eq!(storage.body["name"], "vaultstorageconfig");
    assert_eq!(
        storage.body["type"],
        "Microsoft.RecoveryServices/vaults/backupstorageconfig"
    );
    assert_eq!(
        storage.body["properties"]["storageModelType"],
        "GeoRedundant"
    );
    assert_eq!(storage.body["properties"]["crossRegionRestoreFlag"], false);

    let encryption = app.get_encryption_config("rg", "vault").await;
    assert_eq!(encryption.status, StatusCode::OK, "{:?}", encryption.body);
    assert_eq!(
        encryption.body,
        json!({
            "id": format!(
                "{}/backupEncryptionConfigs/backupResourceEncryptionConfig",
                app.vault_path("rg", "vault")
            ),
            "name": "backupResourceEncryptionConfig",
            "type": "Microsoft.RecoveryServices/vaults/backupEncryptionConfigs",
            "properties": {
                "encryptionAtRestType": "MicrosoftManaged",
                "infrastructureEncryptionState": "Disabled",
                "lastUpdateStatus": "NotEnabled",
            }
        })
    );
    assert_eq!(
        app.get_encryption_config("rg", "nope").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn the_served_storage_account_answers_in_every_group(app: ManagementApp) {
    let created = app.put_group("vms", "westeurope").await;
    assert!(created.status.is_success(), "{created:?}");
    let account = app.get_storage_account("VMS", "devstoreaccount1").await;
    assert_eq!(account.status, StatusCode::OK, "{:?}", account.body);
    assert_eq!(
        account.body["id"],
        format!(
            "{}/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
            app.group_path("vms")
        )
    );
    assert_eq!(account.body["name"], "devstoreaccount1");
    assert_eq!(account.body["type"], "Microsoft.Storage/storageAccounts");
    assert_eq!(account.body["location"], "westeurope");
    assert_eq!(account.body["kind"], "StorageV2");
    assert_eq!(account.body["sku"]["name"], "Standard_LRS");
    assert_eq!(
        account.body["properties"]["primaryEndpoints"]["blob"],
        format!("https://{}/devstoreaccount1/", app.blob_https_addr.unwrap())
    );
    assert_eq!(account.body["properties"]["primaryLocation"], "westeurope");

    let other = app.get_storage_account("vms", "someaccount").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.error_code(), "ResourceNotFound");
    assert!(other.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Microsoft.Storage/storageAccounts/someaccount"));
    let no_group = app.get_storage_account("nope", "devstoreaccount1").await;
    assert_eq!(no_group.error_code(), "ResourceGroupNotFound");
    let classic = app
        .get_classic_storage_account("vms", "devstoreaccount1")
        .await;
    assert_eq!(classic.status, StatusCode::NOT_FOUND);
    assert_eq!(classic.error_code(), "ResourceNotFound");
}

async fn providers_list_served_types_with_api_versions(app: ManagementApp) {
    let list = app.list_providers().await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let namespaces: Vec<&str> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(
        namespaces,
        [
            "Microsoft.Resources",
            "Microsoft.Compute",
            "Microsoft.Network",
            "Microsoft.RecoveryServices",
            "Microsoft.Storage"
        ]
    );
    let compute = app.get_provider("microsoft.compute").await;
    assert_eq!(compute.status, StatusCode::OK, "{:?}", compute.body);
    assert_eq!(
        compute.body["id"],
        format!("{}/providers/Microsoft.Compute", app.subscription_path())
    );
    assert_eq!(compute.body["registrationState"], "Registered");
    let vms = &compute.body["resourceTypes"][0];
    assert_eq!(vms["resourceType"], "virtualMachines");
    // `az resource` takes the first non-preview version: one this service answers.
    let version = vms["apiVersions"][0].as_str().unwrap();
    assert!(!version.contains("preview"));
    let created = app.put_group("rg", "eastus").await;
    assert!(created.status.is_success());
    let vm = app
        .get(&format!(
            "{}?api-version={version}",
            app.vm_path("rg", "missing")
        ))
        .await;
    assert_eq!(vm.error_code(), "ResourceNotFound");
    let rs = app.get_provider("Microsoft.RecoveryServices").await.body;
    let types: Vec<&str> = rs["resourceTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["resourceType"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"locations/backupStatus"), "{types:?}");

    // `az provider register` and Terraform's registration: served namespaces are registered.
    let registered = app.register_provider("microsoft.recoveryservices").await;
    assert_eq!(registered.status, StatusCode::OK, "{registered:?}");
    assert_eq!(registered.body["namespace"], "Microsoft.RecoveryServices");
    assert_eq!(registered.body["registrationState"], "Registered");
    let refused = app.register_provider("Microsoft.Nope").await;
    assert_eq!(refused.error_code(), "InvalidResourceNamespace");

    let unknown = app.get_provider("Microsoft.Nope").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "InvalidResourceNamespace");
    assert_eq!(
        unknown.body["error"]["message"],
        "The resource namespace 'Microsoft.Nope' is invalid."
    );
}

async fn the_generic_resource_list_holds_vms_vaults_and_the_account(app: ManagementApp) {
    app.put_group("rg", "eastus").await;
    app.put_group("other", "westeurope").await;
    assert!(app
        .create_vm("rg", "vm1", "eastus")
        .await
        .status
        .is_success());
    assert!(app
        .put_vault("rg", "vault1", "eastus")
        .await
        .status
        .is_success());
    assert!(app
        .put_vault("other", "vault2", "westeurope")
        .await
        .status
        .is_success());
    let names = |response: &ArmResponse| -> Vec<(String, String, String)> {
        response.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let text = |k: &str| r[k].as_str().unwrap().to_owned();
                (text("type"), text("name"), text("location"))
            })
            .collect()
    };
    let in_group = app.list_resources(Some("rg"), None).await;
    assert_eq!(in_group.status, StatusCode::OK, "{:?}", in_group.body);
    let triple = |t: &str, n: &str, l: &str| (t.to_owned(), n.to_owned(), l.to_owned());
    assert_eq!(
        names(&in_group),
        [
            triple("Microsoft.Compute/virtualMachines", "vm1", "eastus"),
            triple("Microsoft.RecoveryServices/vaults", "vault1", "eastus"),
            triple(
                "Microsoft.Storage/storageAccounts",
                "devstoreaccount1",
                "eastus"
            ),
        ]
    );
    assert_eq!(
        in_group.body["value"][1]["id"],
        app.vault_path("rg", "vault1")
    );
    let everywhere = app.list_resources(None, None).await;
    assert_eq!(names(&everywhere).len(), 5);
    let vaults = app
        .list_resources(
            None,
            Some("resourceType eq 'microsoft.recoveryservices/vaults'"),
        )
        .await;
    assert_eq!(
        names(&vaults),
        [
            triple("Microsoft.RecoveryServices/vaults", "vault2", "westeurope"),
            triple("Microsoft.RecoveryServices/vaults", "vault1", "eastus"),
        ]
    );
    let by_group = app
        .list_resources(None, Some("resourceGroup eq 'OTHER'"))
        .await;
    assert_eq!(names(&by_group).len(), 2);
    let unsupported = app.list_resources(None, Some("tagName eq 'x'")).await;
    assert_eq!(unsupported.status, StatusCode::BAD_REQUEST);
    assert_eq!(unsupported.error_code(), "InvalidQueryParameterValue");
    let missing = app.list_resources(Some("nope"), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "ResourceGroupNotFound");
}

crate::on_both_backends!(
    the_generic_resource_list_holds_vms_vaults_and_the_account,
    resource_guard_proxies_are_an_empty_list,
    a_vault_delete_answers_204_never_200,
    backup_status_names_the_protecting_vault,
    a_running_backup_is_cancelled_and_its_late_snapshot_ignored,
    a_backup_failed_at_start_ends_every_task,
    vault_config_shows_and_sets_soft_delete,
    storage_and_encryption_config_are_served,
    the_served_storage_account_answers_in_every_group,
    providers_list_served_types_with_api_versions,
);
