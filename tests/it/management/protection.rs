//! Protection: container refresh, protectable items, containers, protected items (enable,
//! change policy, stop and retain, stop and delete data) and the operations clients poll.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::{ArmResponse, ManagementApp};

/// `;` as clients send it in a path segment.
fn encode_name(name: &str) -> String {
    name.replace(';', "%3B")
}

/// `?$filter=...`, encoded as the CLI encodes it, or nothing.
pub fn filter_query(filter: Option<&str>) -> String {
    filter.map_or_else(String::new, |f| {
        format!("?%24filter={}", utf8_percent_encode(f, NON_ALPHANUMERIC))
    })
}

/// The last path segment of a URL header (what the CLI takes as the operation id).
pub fn last_segment(url: &str) -> String {
    let path = url.split('?').next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

/// The text after `marker` up to the next `/` in an id (the CLI's regular expressions).
fn id_segment(id: &str, marker: &str) -> String {
    let start = id
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {id}"))
        + marker.len();
    id[start..].split('/').next().unwrap().to_owned()
}

impl ManagementApp {
    pub fn item_path(&self, group: &str, vault: &str, container: &str, item: &str) -> String {
        format!(
            "{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
            self.vault_path(group, vault),
            encode_name(container),
            encode_name(item)
        )
    }

    pub async fn refresh_containers(&self, group: &str, vault: &str, fabric: &str) -> ArmResponse {
        self.post(
            &format!(
                "{}/backupFabrics/{fabric}/refreshContainers",
                self.vault_path(group, vault)
            ),
            None,
        )
        .await
    }

    pub async fn fabric_operation_result(
        &self,
        group: &str,
        vault: &str,
        operation: &str,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/backupFabrics/Azure/operationResults/{operation}",
            self.vault_path(group, vault)
        ))
        .await
    }

    pub async fn list_protectable_items(
        &self,
        group: &str,
        vault: &str,
        filter: Option<&str>,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/backupProtectableItems{}",
            self.vault_path(group, vault),
            filter_query(filter)
        ))
        .await
    }

    pub async fn list_protection_containers(
        &self,
        group: &str,
        vault: &str,
        filter: Option<&str>,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/backupProtectionContainers{}",
            self.vault_path(group, vault),
            filter_query(filter)
        ))
        .await
    }

    pub async fn get_protection_container(
        &self,
        group: &str,
        vault: &str,
        container: &str,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/backupFabrics/Azure/protectionContainers/{}",
            self.vault_path(group, vault),
            encode_name(container)
        ))
        .await
    }

    pub async fn put_protected_item(
        &self,
        group: &str,
        vault: &str,
        container: &str,
        item: &str,
        body: Value,
    ) -> ArmResponse {
        self.put(&self.item_path(group, vault, container, item), body)
            .await
    }

    pub async fn get_protected_item(
        &self,
        group: &str,
        vault: &str,
        container: &str,
        item: &str,
    ) -> ArmResponse {
        self.get(&self.item_path(group, vault, container, item))
            .await
    }

    pub async fn delete_protected_item(
        &self,
        group: &str,
        vault: &str,
        container: &str,
        item: &str,
    ) -> ArmResponse {
        self.delete(&self.item_path(group, vault, container, item))
            .await
    }

    pub async fn list_protected_items(
        &self,
        group: &str,
        vault: &str,
        filter: Option<&str>,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/backupProtectedItems{}",
            self.vault_path(group, vault),
            filter_query(filter)
        ))
        .await
    }

    pub async fn item_operation_status(
        &self,
        group: &str,
        vault: &str,
        container: &str,
        item: &str,
        operation: &str,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/operationsStatus/{operation}",
            self.item_path(group, vault, container, item)
        ))
        .await
    }

    pub async fn item_operation_result(
        &self,
        group: &str,
        vault: &str,
        container: &str,
        item: &str,
        operation: &str,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/operationResults/{operation}",
            self.item_path(group, vault, container, item)
        ))
        .await
    }

    pub async fn backup_operation(&self, group: &str, vault: &str, operation: &str) -> ArmResponse {
        self.get(&format!(
            "{}/backupOperations/{operation}",
            self.vault_path(group, vault)
        ))
        .await
    }

    pub async fn backup_operation_result(
        &self,
        group: &str,
        vault: &str,
        operation: &str,
    ) -> ArmResponse {
        self.get(&format!(
            "{}/backupOperationResults/{operation}",
            self.vault_path(group, vault)
        ))
        .await
    }

    /// Follows a list's `nextLink` (an absolute URL of this service).
    /// What `az backup protection enable-for-vm` (CLI 2.36) sends, step by step, asserting
    /// what it relies on at each step. Answers the job the CLI prints.
    pub async fn enable_protection(
        &self,
        group: &str,
        vault: &str,
        vm_group: &str,
        vm: &str,
        policy: &str,
    ) -> Value {
        // 1. The VM: its type and location.
        let vm_response = self.get(&self.vm_path(vm_group, vm)).await;
        assert_eq!(vm_response.status, StatusCode::OK, "GET VM");
        assert_eq!(
            vm_response.body["type"],
            "Microsoft.Compute/virtualMachines"
        );
        let vm_id = vm_response.body["id"].as_str().unwrap().to_owned();
        // 2. The vault, in the VM's location.
        let vault_response = self.get(&self.vault_path(group, vault)).await;
        assert_eq!(vault_response.status, StatusCode::OK, "GET vault");
        let location = |v: &Value| {
            v["location"]
                .as_str()
                .unwrap()
                .replace(' ', "")
                .to_lowercase()
        };
        assert_eq!(location(&vault_response.body), location(&vm_response.body));
        // 3. The policy.
        let policy_response = self
            .get(&format!(
                "{}/backupPolicies/{policy}",
                self.vault_path(group, vault)
            ))
            .await;
        assert_eq!(policy_response.status, StatusCode::OK, "GET policy");
        assert_eq!(
            policy_response.body["properties"]["backupManagementType"],
            "AzureIaasVM"
        );
        assert!(policy_response.body["properties"]["protectedItemsCount"].is_i64());
        let policy_id = policy_response.body["id"].as_str().unwrap().to_owned();
        // 4-6. The protectable item, after a refresh if it is not there yet.
        let find = |list: &ArmResponse| -> Option<Value> {
            assert_eq!(list.status, StatusCode::OK, "list protectable items");
            list.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| {
                    let id = i["properties"]["virtualMachineId"].as_str().unwrap();
                    id_segment(id, "/resourceGroups/").eq_ignore_ascii_case(vm_group)
                        && id_segment(id, "virtualMachines/").eq_ignore_ascii_case(vm)
                })
                .cloned()
        };
        let filter = Some("backupManagementType eq 'AzureIaasVM'");
        if find(&self.list_protectable_items(group, vault, filter).await).is_none() {
            let refresh = self.refresh_containers(group, vault, "Azure").await;
            assert_eq!(refresh.status, StatusCode::ACCEPTED, "refresh");
            let operation = last_segment(refresh.header("location"));
            loop {
                let result = self.fabric_operation_result(group, vault, &operation).await;
                if result.status == StatusCode::NO_CONTENT {
                    break;
                }
                assert_eq!(result.status, StatusCode::ACCEPTED, "refresh result");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let item = find(&self.list_protectable_items(group, vault, filter).await)
            .expect("The specified Azure Virtual Machine Not Found");
        let id = item["id"].as_str().unwrap();
        let container = id_segment(id, "/protectionContainers/");
        let item_name = id_segment(id, "protectableItems/");
        // 7. The PUT, with the names of the protectable item's id.
        let put = self
            .put_protected_item(
                group,
                vault,
                &container,
                &item_name,
                json!({"properties": {
                    "protectedItemType": "Microsoft.Compute/virtualMachines",
                    "sourceResourceId": vm_id,
                    "policyId": policy_id,
                }}),
            )
            .await;
        assert_eq!(put.status, StatusCode::ACCEPTED, "PUT item: {:?}", put.body);
        assert_eq!(put.body, Value::Null);
        // 8. Poll the vault-level operation named by Azure-AsyncOperation's last segment.
        let operation = last_segment(put.header("azure-asyncoperation"));
        assert!(!operation.is_empty(), "no Azure-AsyncOperation header");
        let status = self.wait_for_operation(group, vault, &operation).await;
        assert_eq!(status["status"], "Succeeded");
        // 9. The job.
        let job_id = status["properties"]["jobId"].as_str().unwrap();
        let job = self.get_job(group, vault, job_id).await;
        assert_eq!(job.status, StatusCode::OK, "GET job");
        job.body
    }

    /// Polls `backupOperations/{op}` while it is InProgress, as the CLI does.
    pub async fn wait_for_operation(&self, group: &str, vault: &str, operation: &str) -> Value {
        loop {
            let status = self.backup_operation(group, vault, operation).await;
            assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
            if status.body["status"] != "InProgress" {
                return status.body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A policy's ARM id.
    pub fn policy_id(&self, group: &str, vault: &str, policy: &str) -> String {
        format!("{}/backupPolicies/{policy}", self.vault_path(group, vault))
    }

    /// The body `az` PUTs to protect a VM.
    pub fn protect_body(&self, vm_group: &str, vm: &str, policy_id: &str) -> Value {
        json!({"properties": {
            "protectedItemType": "Microsoft.Compute/virtualMachines",
            "sourceResourceId": self.vm_path(vm_group, vm),
            "policyId": policy_id,
        }})
    }

    /// Protects a VM the way newer CLIs do (a direct PUT), waiting for the operation.
    /// Answers the operation's status body.
    pub async fn protect(&self, group: &str, vault: &str, vm: &str, policy: &str) -> Value {
        let put = self
            .put_protected_item(
                group,
                vault,
                &container_name(group, vm),
                &item_name(group, vm),
                self.protect_body(group, vm, &self.policy_id(group, vault, policy)),
            )
            .await;
        assert_eq!(put.status, StatusCode::ACCEPTED, "{:?}", put.body);
        self.wait_for_operation(
            group,
            vault,
            &last_segment(put.header("azure-asyncoperation")),
        )
        .await
    }

    /// A group and vault in `eastus`, with VMs in `eastus`.
    pub async fn protection_setup(&self, group: &str, vault: &str, vms: &[&str]) {
        let created = self.put_group(group, "eastus").await;
        assert!(created.status.is_success(), "{created:?}");
        let created = self.put_vault(group, vault, "eastus").await;
        assert!(created.status.is_success(), "{created:?}");
        for vm in vms {
            let created = self.create_vm(group, vm, "eastus").await;
            assert!(created.status.is_success(), "{created:?}");
        }
    }
}

pub fn container_name(group: &str, vm: &str) -> String {
    format!("IaasVMContainer;iaasvmcontainerv2;{group};{vm}")
}

pub fn item_name(group: &str, vm: &str) -> String {
    format!("VM;iaasvmcontainerv2;{group};{vm}")
}

fn names_of(list: &ArmResponse) -> Vec<String> {
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn protected_count(app: &ManagementApp, group: &str, vault: &str, policy: &str) -> i64 {
    let policy = app.get_policy(group, vault, policy).await;
    assert_eq!(policy.status, StatusCode::OK);
    policy.body["properties"]["protectedItemsCount"]
        .as_i64()
        .unwrap()
}

// ---- tests ----

async fn enable_for_vm_follows_the_cli_flow(app: ManagementApp) {
    app.protection_setup("rg-prot", "vault1", &["vm1"]).await;
    let job = app
        .enable_protection("rg-prot", "vault1", "rg-prot", "vm1", "DefaultPolicy")
        .await;
    let vault_id = app.vault_path("rg-prot", "vault1");
    assert_eq!(job["type"], "Microsoft.RecoveryServices/vaults/backupJobs");
    assert_eq!(
        job["id"],
        format!("{vault_id}/backupJobs/{}", job["name"].as_str().unwrap())
    );
    let p = &job["properties"];
    assert_eq!(p["jobType"], "AzureIaaSVMJob");
    assert_eq!(p["operation"], "ConfigureBackup");
    assert_eq!(p["status"], "Completed");
    assert_eq!(p["entityFriendlyName"], "vm1");
    assert_eq!(p["backupManagementType"], "AzureIaasVM");
    assert_eq!(p["containerName"], "iaasvmcontainerv2;rg-prot;vm1");
    assert_eq!(p["extendedInfo"]["tasksList"], json!([]));
    assert_eq!(
        p["extendedInfo"]["propertyBag"],
        json!({"VM Name": "vm1", "Policy Name": "DefaultPolicy"})
    );
    let item = app
        .get_protected_item(
            "rg-prot",
            "vault1",
            &container_name("rg-prot", "vm1"),
            &item_name("rg-prot", "vm1"),
        )
        .await;
    assert_eq!(item.status, StatusCode::OK);
    assert_eq!(item.body["properties"]["protectionState"], "IRPending");
    assert_eq!(
        protected_count(&app, "rg-prot", "vault1", "DefaultPolicy").await,
        1
    );
    // Once protected, the VM is no longer protectable.
    let list = app.list_protectable_items("rg-prot", "vault1", None).await;
    assert_eq!(names_of(&list), Vec::<String>::new());
}

async fn newer_clis_put_the_item_directly_without_a_refresh(app: ManagementApp) {
    app.protection_setup("rg-new", "vault1", &["vm1"]).await;
    let put = app
        .put_protected_item(
            "rg-new",
            "vault1",
            "IaasVMContainer;iaasvmcontainerv2;rg-new;vm1",
            "vm;iaasvmcontainerv2;rg-new;vm1",
            app.protect_body(
                "rg-new",
                "vm1",
                &app.policy_id("rg-new", "vault1", "EnhancedPolicy"),
            ),
        )
        .await;
    assert_eq!(put.status, StatusCode::ACCEPTED, "{:?}", put.body);
    assert_eq!(put.body, Value::Null);
    let item_url = format!(
        "http://{}{}/backupFabrics/Azure/protectionContainers/\
         IaasVMContainer;iaasvmcontainerv2;rg-new;vm1/protectedItems/VM;iaasvmcontainerv2;rg-new;vm1",
        app.addr,
        app.vault_path("rg-new", "vault1")
    );
    let async_url = put.header("azure-asyncoperation");
    let operation = last_segment(async_url);
    assert_eq!(
        async_url,
        format!("{item_url}/operationsStatus/{operation}?api-version=2026-07-01")
    );
    assert_eq!(
        put.header("location"),
        format!("{item_url}/operationResults/{operation}?api-version=2026-07-01")
    );
    assert!(!put.header("retry-after").is_empty());
    let status = app.wait_for_operation("rg-new", "vault1", &operation).await;
    assert_eq!(status["status"], "Succeeded");
    assert_eq!(status["id"], operation.as_str());
    assert_eq!(status["name"], operation.as_str());
    assert_eq!(
        status["properties"]["objectType"],
        "OperationStatusJobExtendedInfo"
    );
    let job = app
        .get_job(
            "rg-new",
            "vault1",
            status["properties"]["jobId"].as_str().unwrap(),
        )
        .await;
    assert_eq!(job.body["properties"]["operation"], "ConfigureBackup");
    assert_eq!(
        job.body["properties"]["extendedInfo"]["propertyBag"]["Policy Name"],
        "EnhancedPolicy"
    );
    let list = app.list_protected_items("rg-new", "vault1", None).await;
    assert_eq!(
        names_of(&list),
        vec!["VM;iaasvmcontainerv2;rg-new;vm1".to_owned()]
    );
    // No refresh ever ran: nothing is protectable.
    let list = app.list_protectable_items("rg-new", "vault1", None).await;
    assert_eq!(names_of(&list), Vec::<String>::new());
}

async fn item_names_match_in_any_case_and_encoding(app: ManagementApp) {
    app.protection_setup("Rg-Case", "vault1", &["Vm-One"]).await;
    app.protect("Rg-Case", "vault1", "Vm-One", "DefaultPolicy")
        .await;
    let vault = app.vault_path("Rg-Case", "vault1");
    let want_id = format!(
        "{vault}/backupFabrics/Azure/protectionContainers/\
         IaasVMContainer;iaasvmcontainerv2;Rg-Case;Vm-One/protectedItems/VM;iaasvmcontainerv2;Rg-Case;Vm-One"
    );
    for (container, item) in [
        (
            "IaasVMContainer%3Biaasvmcontainerv2%3BRg-Case%3BVm-One",
            "VM%3Biaasvmcontainerv2%3BRg-Case%3BVm-One",
        ),
        (
            "IaasVMContainer;iaasvmcontainerv2;Rg-Case;Vm-One",
            "VM;iaasvmcontainerv2;Rg-Case;Vm-One",
        ),
        (
            "iaasvmcontainer%3biaasvmcontainerv2%3brg-case%3bvm-one",
            "vm%3biaasvmcontainerv2%3brg-case%3bvm-one",
        ),
        (
            "iaasvmcontainerv2;rg-case;vm-one",
            "vm;iaasvmcontainerv2;rg-case;vm-one",
        ),
    ] {
        let response = app
            .get(&format!(
                "{vault}/backupFabrics/AZURE/protectionContainers/{container}/protectedItems/{item}"
            ))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{container} {item}");
        assert_eq!(response.body["id"], want_id.as_str());
        assert_eq!(response.body["name"], "VM;iaasvmcontainerv2;Rg-Case;Vm-One");
    }
    // A container and an item naming different VMs address nothing.
    let response = app
        .get_protected_item(
            "Rg-Case",
            "vault1",
            "iaasvmcontainerv2;rg-case;vm-two",
            "vm;iaasvmcontainerv2;rg-case;vm-one",
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(
        response.error_code(),
        "BMSUserErrorDataSourceObjectNotFound"
    );
    // The container, by either spelling.
    for name in [
        "IaasVMContainer;iaasvmcontainerv2;Rg-Case;Vm-One",
        "iaasvmcontainerv2;rg-case;vm-one",
    ] {
        let container = app
            .get_protection_container("Rg-Case", "vault1", name)
            .await;
        assert_eq!(container.status, StatusCode::OK, "{name}");
        assert_eq!(
            container.body["name"],
            "IaasVMContainer;iaasvmcontainerv2;Rg-Case;Vm-One"
        );
    }
}

async fn protectable_items_are_discovered_unprotected_vms_of_the_vault_location(
    app: ManagementApp,
) {
    app.protection_setup("Rg-Disc", "vault1", &["Vm-A", "vm-b"])
        .await;
    let west = app
        .put_vm(
            "Rg-Disc",
            "vm-west",
            ManagementApp::vm_body("Linux", "westus", &[]),
        )
        .await;
    assert!(west.status.is_success(), "{west:?}");
    // Nothing before the first refresh.
    let list = app.list_protectable_items("Rg-Disc", "vault1", None).await;
    assert_eq!(names_of(&list), Vec::<String>::new());
    let refresh = app.refresh_containers("Rg-Disc", "vault1", "azure").await;
    assert_eq!(refresh.status, StatusCode::ACCEPTED);
    assert_eq!(refresh.body, Value::Null);
    assert!(!refresh.header("retry-after").is_empty());
    let location = refresh.header("location");
    let operation = last_segment(location);
    assert_eq!(
        location,
        format!(
            "http://{}{}/backupFabrics/Azure/operationResults/{operation}?api-version=2026-07-01",
            app.addr,
            app.vault_path("Rg-Disc", "vault1")
        )
    );
    let result = app
        .fabric_operation_result("Rg-Disc", "vault1", &operation)
        .await;
    assert_eq!(result.status, StatusCode::NO_CONTENT);
    let unknown = app
        .fabric_operation_result("Rg-Disc", "vault1", "00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "BMSUserErrorOperationNotFound");
    let other_fabric = app.refresh_containers("Rg-Disc", "vault1", "Other").await;
    assert_eq!(other_fabric.status, StatusCode::NOT_FOUND);
    assert_eq!(other_fabric.error_code(), "BMSUserErrorFabricNotFound");

    let list = app
        .list_protectable_items(
            "Rg-Disc",
            "vault1",
            Some("backupManagementType eq 'AzureIaasVM'"),
        )
        .await;
    assert_eq!(
        names_of(&list),
        vec![
            "iaasvmcontainerv2;rg-disc;vm-a",
            "iaasvmcontainerv2;rg-disc;vm-b"
        ]
    );
    let item = &list.body["value"][0];
    assert_eq!(
        item["id"],
        format!(
            "{}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg-disc;vm-a\
             /protectableItems/vm;iaasvmcontainerv2;rg-disc;vm-a",
            app.vault_path("Rg-Disc", "vault1")
        )
    );
    assert_eq!(
        item["type"],
        "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectableItems"
    );
    let p = &item["properties"];
    assert_eq!(
        p["protectableItemType"],
        "Microsoft.Compute/virtualMachines"
    );
    assert_eq!(p["backupManagementType"], "AzureIaasVM");
    assert_eq!(p["workloadType"], "VM");
    assert_eq!(p["friendlyName"], "Vm-A");
    assert_eq!(p["protectionState"], "NotProtected");
    assert_eq!(p["virtualMachineId"], app.vm_path("Rg-Disc", "Vm-A"));
    assert_eq!(p["virtualMachineVersion"], "Compute");
    assert_eq!(p["resourceGroup"], "Rg-Disc");
    // Filters.
    let by_name = app
        .list_protectable_items("Rg-Disc", "vault1", Some("friendlyName eq 'VM-B'"))
        .await;
    assert_eq!(names_of(&by_name), vec!["iaasvmcontainerv2;rg-disc;vm-b"]);
    let by_container = app
        .list_protectable_items(
            "Rg-Disc",
            "vault1",
            Some("containerName eq 'IaasVMContainer;iaasvmcontainerv2;rg-disc;vm-a' and status eq 'NotProtected'"),
        )
        .await;
    assert_eq!(
        names_of(&by_container),
        vec!["iaasvmcontainerv2;rg-disc;vm-a"]
    );
    let protected = app
        .list_protectable_items("Rg-Disc", "vault1", Some("status eq 'Protected'"))
        .await;
    assert_eq!(names_of(&protected), Vec::<String>::new());
    let other_type = app
        .list_protectable_items(
            "Rg-Disc",
            "vault1",
            Some("backupManagementType eq 'AzureWorkload'"),
        )
        .await;
    assert_eq!(names_of(&other_type), Vec::<String>::new());
    let bad = app
        .list_protectable_items("Rg-Disc", "vault1", Some("color eq 'blue'"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "InvalidQueryParameterValue");

    // A protected VM leaves the list; a VM made after the refresh joins it only after the next.
    app.protect("Rg-Disc", "vault1", "Vm-A", "DefaultPolicy")
        .await;
    let created = app.create_vm("Rg-Disc", "vm-c", "eastus").await;
    assert!(created.status.is_success(), "{created:?}");
    let list = app.list_protectable_items("Rg-Disc", "vault1", None).await;
    assert_eq!(names_of(&list), vec!["iaasvmcontainerv2;rg-disc;vm-b"]);
    let refresh = app.refresh_containers("Rg-Disc", "vault1", "Azure").await;
    assert_eq!(refresh.status, StatusCode::ACCEPTED);
    let list = app.list_protectable_items("Rg-Disc", "vault1", None).await;
    assert_eq!(
        names_of(&list),
        vec![
            "iaasvmcontainerv2;rg-disc;vm-b",
            "iaasvmcontainerv2;rg-disc;vm-c"
        ]
    );
}

async fn a_protected_item_has_every_field_azure_returns(app: ManagementApp) {
    app.protection_setup("rg-shape", "vault1", &["vm1"]).await;
    let body = json!({"properties": {
        "protectedItemType": "Microsoft.Compute/virtualMachines",
        "sourceResourceId": app.vm_path("rg-shape", "vm1"),
        "policyId": app.policy_id("rg-shape", "vault1", "DefaultPolicy"),
        "extendedProperties": {"diskExclusionProperties": {"diskLunList": [0, 2], "isInclusionList": true}},
    }});
    let put = app
        .put_protected_item(
            "rg-shape",
            "vault1",
            &container_name("rg-shape", "vm1"),
            &item_name("rg-shape", "vm1"),
            body,
        )
        .await;
    assert_eq!(put.status, StatusCode::ACCEPTED, "{:?}", put.body);
    let vault = app.vault_path("rg-shape", "vault1");
    let container_id = format!(
        "{vault}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg-shape;vm1"
    );
    let item = app
        .get_protected_item(
            "rg-shape",
            "vault1",
            &container_name("rg-shape", "vm1"),
            &item_name("rg-shape", "vm1"),
        )
        .await;
    assert_eq!(item.status, StatusCode::OK);
    assert_eq!(
        item.body["id"],
        format!("{container_id}/protectedItems/VM;iaasvmcontainerv2;rg-shape;vm1")
    );
    assert_eq!(item.body["name"], "VM;iaasvmcontainerv2;rg-shape;vm1");
    assert_eq!(
        item.body["type"],
        "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
    );
    let p = &item.body["properties"];
    let vm_id = app.vm_path("rg-shape", "vm1");
    for (field, want) in [
        (
            "protectedItemType",
            json!("Microsoft.Compute/virtualMachines"),
        ),
        ("backupManagementType", json!("AzureIaasVM")),
        ("workloadType", json!("VM")),
        ("friendlyName", json!("vm1")),
        ("virtualMachineId", json!(vm_id)),
        ("sourceResourceId", json!(vm_id)),
        ("containerName", json!("iaasvmcontainerv2;rg-shape;vm1")),
        (
            "policyId",
            json!(format!("{vault}/backupPolicies/DefaultPolicy")),
        ),
        ("policyName", json!("DefaultPolicy")),
        ("protectionStatus", json!("Healthy")),
        ("protectionState", json!("IRPending")),
        ("healthStatus", json!("Passed")),
        ("lastBackupStatus", json!("")),
        ("lastBackupTime", json!("2001-01-01T00:00:00Z")),
        ("isArchiveEnabled", json!(false)),
        ("healthDetails", json!([])),
        ("kpisHealths", json!({})),
        (
            "extendedInfo",
            json!({"recoveryPointCount": 0, "policyInconsistent": false}),
        ),
        (
            "extendedProperties",
            json!({"diskExclusionProperties": {"diskLunList": [0, 2], "isInclusionList": true}}),
        ),
    ] {
        assert_eq!(p[field], want, "{field}");
    }
    assert!(p["policyType"].is_string());
    assert!(p.get("lastRecoveryPoint").is_none());
    let data_id = p["protectedItemDataId"].as_str().unwrap();
    assert!(
        !data_id.is_empty() && data_id.bytes().all(|b| b.is_ascii_digit()),
        "{data_id}"
    );

    // Its container.
    let container = app
        .get_protection_container("rg-shape", "vault1", &container_name("rg-shape", "vm1"))
        .await;
    assert_eq!(container.status, StatusCode::OK);
    assert_eq!(container.body["id"], container_id.as_str());
    assert_eq!(
        container.body["name"],
        "IaasVMContainer;iaasvmcontainerv2;rg-shape;vm1"
    );
    assert_eq!(
        container.body["type"],
        "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers"
    );
    let c = &container.body["properties"];
    assert_eq!(c["containerType"], "Microsoft.Compute/virtualMachines");
    assert_eq!(c["registrationStatus"], "Registered");
    assert_eq!(c["healthStatus"], "Healthy");
    assert_eq!(c["friendlyName"], "vm1");
    assert_eq!(c["backupManagementType"], "AzureIaasVM");
    assert_eq!(c["virtualMachineId"], vm_id.as_str());
    assert_eq!(c["resourceGroup"], "rg-shape");
    // Unknown items and containers.
    let missing = app
        .get_protected_item(
            "rg-shape",
            "vault1",
            &container_name("rg-shape", "nope"),
            &item_name("rg-shape", "nope"),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "BMSUserErrorDataSourceObjectNotFound");
    let missing = app
        .get_protection_container("rg-shape", "vault1", &container_name("rg-shape", "nope"))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "BMSUserErrorContainerObjectNotFound");
}

async fn protected_items_and_containers_list_with_filters(app: ManagementApp) {
    app.protection_setup("rg-list", "vault1", &["vm1", "vm2", "vm3"])
        .await;
    app.protect("rg-list", "vault1", "vm1", "DefaultPolicy")
        .await;
    app.protect("rg-list", "vault1", "vm2", "EnhancedPolicy")
        .await;
    app.protect("rg-list", "vault1", "vm3", "EnhancedPolicy")
        .await;
    let all = vec![
        "VM;iaasvmcontainerv2;rg-list;vm1",
        "VM;iaasvmcontainerv2;rg-list;vm2",
        "VM;iaasvmcontainerv2;rg-list;vm3",
    ];
    for (filter, want) in [
        (None, all.clone()),
        (
            Some("backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'"),
            all.clone(),
        ),
        (
            Some("backupManagementType eq 'AzureIaasVM' and itemType eq 'VM' and policyName eq 'EnhancedPolicy'"),
            all[1..].to_vec(),
        ),
        (Some("policyName eq 'defaultpolicy'"), all[..1].to_vec()),
        (Some("policyName eq 'NoSuchPolicy'"), vec![]),
        (Some("friendlyName eq 'VM2'"), all[1..2].to_vec()),
        (
            Some("containerName eq 'iaasvmcontainerv2;rg-list;vm3'"),
            all[2..].to_vec(),
        ),
                (Some("backupManagementType eq 'AzureStorage'"), vec![]),
        (Some("itemType eq 'SQLDataBase'"), vec![]),
        (
            Some("healthState eq 'Passed' and fabricName eq 'Azure'"),
            all.clone(),
        ),
        (Some("healthState eq 'ActionRequired'"), vec![]),
        (Some("backupEngineName eq 'mabs1'"), vec![]),
    ] {
        let list = app.list_protected_items("rg-list", "vault1", filter).await;
        assert_eq!(names_of(&list), want, "{filter:?}");
        assert!(list.body.get("nextLink").is_none());
    }
    let list = app.list_protected_items("rg-list", "vault1", None).await;
    assert_eq!(
        list.body["value"][1]["properties"]["policyName"],
        "EnhancedPolicy"
    );
    assert_eq!(list.body["value"][1]["properties"]["policyType"], "V2");
    let bad = app
        .list_protected_items("rg-list", "vault1", Some("vaultName eq 'x'"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "InvalidQueryParameterValue");
    let malformed = app
        .list_protected_items("rg-list", "vault1", Some("itemType = VM"))
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    // Containers.
    let containers = vec![
        "IaasVMContainer;iaasvmcontainerv2;rg-list;vm1",
        "IaasVMContainer;iaasvmcontainerv2;rg-list;vm2",
        "IaasVMContainer;iaasvmcontainerv2;rg-list;vm3",
    ];
    for (filter, want) in [
        (None, containers.clone()),
        (
            Some("backupManagementType eq 'AzureIaasVM' and friendlyName eq 'vm2' and status eq 'Registered'"),
            containers[1..2].to_vec(),
        ),
                (Some("status eq 'NotRegistered'"), vec![]),
        (Some("backupManagementType eq 'AzureSqlDb'"), vec![]),
        (Some("containerType eq 'IaasVMContainer'"), containers.clone()),
        (Some("containerType eq 'StorageContainer'"), vec![]),
        (Some("backupEngineName eq 'mabs1'"), vec![]),
    ] {
        let list = app
            .list_protection_containers("rg-list", "vault1", filter)
            .await;
        assert_eq!(names_of(&list), want, "{filter:?}");
    }
}

async fn protected_items_page_by_200_in_name_order(app: ManagementApp) {
    app.protection_setup("rg-page", "vault1", &[]).await;
    // 450 items written straight into the database (what 450 PUTs would leave).
    let db = app.db().await;
    let vault_id: String =
        sqlx::query_scalar("select vault_id from vault where name_key = 'vault1'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    let mut tx = db.begin_write().await.unwrap();
    for n in 0..450 {
        let vm = format!("vm{n:03}");
        sqlx::query(
            "insert into protected_item (vault_id, item_key, vm_id, vm_name, vm_resource_group, \
             source_resource_id, policy_key, protection_state, health_status, last_backup_status, \
             protected_item_data_id, extended_properties, created_at) \
             values ($1, $2, $3, $4, 'rg-page', $5, 'defaultpolicy', 'IRPending', 'Passed', '', $6, '{}', 0)",
        )
        .bind(&vault_id)
        .bind(format!("vm;iaasvmcontainerv2;rg-page;{vm}"))
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&vm)
        .bind(app.vm_path("rg-page", &vm))
        .bind(i64::from(n) + 1)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    for filter in [None, Some("policyName eq 'DefaultPolicy'")] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut page = app.list_protected_items("rg-page", "vault1", filter).await;
        loop {
            pages += 1;
            seen.extend(names_of(&page));
            match page.body["nextLink"].as_str() {
                Some(next) => page = app.follow(next).await,
                None => break,
            }
        }
        assert_eq!(pages, 3, "{filter:?}");
        let want: Vec<String> = (0..450)
            .map(|n| format!("VM;iaasvmcontainerv2;rg-page;vm{n:03}"))
            .collect();
        assert_eq!(seen, want, "{filter:?}");
    }
    let containers = app
        .list_protection_containers("rg-page", "vault1", None)
        .await;
    assert_eq!(names_of(&containers).len(), 200);
    assert!(containers.body["nextLink"].is_string());
}

async fn changing_the_policy_moves_the_item(app: ManagementApp) {
    app.protection_setup("rg-chg", "vault1", &["vm1"]).await;
    app.protect("rg-chg", "vault1", "vm1", "DefaultPolicy")
        .await;
    assert_eq!(
        protected_count(&app, "rg-chg", "vault1", "DefaultPolicy").await,
        1
    );
    let status = app
        .protect("rg-chg", "vault1", "vm1", "EnhancedPolicy")
        .await;
    assert_eq!(status["status"], "Succeeded");
    let job = app
        .get_job(
            "rg-chg",
            "vault1",
            status["properties"]["jobId"].as_str().unwrap(),
        )
        .await;
    assert_eq!(job.body["properties"]["operation"], "ConfigureBackup");
    assert_eq!(
        job.body["properties"]["extendedInfo"]["propertyBag"]["Policy Name"],
        "EnhancedPolicy"
    );
    let item = app
        .get_protected_item(
            "rg-chg",
            "vault1",
            &container_name("rg-chg", "vm1"),
            &item_name("rg-chg", "vm1"),
        )
        .await;
    assert_eq!(item.body["properties"]["policyName"], "EnhancedPolicy");
    assert_eq!(
        item.body["properties"]["policyId"],
        app.policy_id("rg-chg", "vault1", "EnhancedPolicy")
    );
    assert_eq!(item.body["properties"]["protectionState"], "IRPending");
    assert_eq!(
        protected_count(&app, "rg-chg", "vault1", "DefaultPolicy").await,
        0
    );
    assert_eq!(
        protected_count(&app, "rg-chg", "vault1", "EnhancedPolicy").await,
        1
    );
    // Two ConfigureBackup jobs in all.
    let jobs = app
        .list_jobs("rg-chg", "vault1", Some("operation eq 'ConfigureBackup'"))
        .await;
    assert_eq!(jobs.body["value"].as_array().unwrap().len(), 2);
}

async fn stopping_protection_keeps_the_item_and_its_data(app: ManagementApp) {
    app.protection_setup("rg-stop", "vault1", &["vm1"]).await;
    app.protect("rg-stop", "vault1", "vm1", "DefaultPolicy")
        .await;
    let container = container_name("rg-stop", "vm1");
    let item = item_name("rg-stop", "vm1");
    let put = app
        .put_protected_item(
            "rg-stop",
            "vault1",
            &container,
            &item,
            json!({"properties": {
                "protectedItemType": "Microsoft.Compute/virtualMachines",
                "sourceResourceId": app.vm_path("rg-stop", "vm1"),
                "policyId": "",
                "protectionState": "ProtectionStopped",
            }}),
        )
        .await;
    assert_eq!(put.status, StatusCode::ACCEPTED, "{:?}", put.body);
    let operation = last_segment(put.header("azure-asyncoperation"));
    let status = app
        .wait_for_operation("rg-stop", "vault1", &operation)
        .await;
    let job = app
        .get_job(
            "rg-stop",
            "vault1",
            status["properties"]["jobId"].as_str().unwrap(),
        )
        .await;
    assert_eq!(job.body["properties"]["operation"], "DisableBackup");
    assert_eq!(job.body["properties"]["status"], "Completed");
    // The item stays, stopped and without a policy.
    let got = app
        .get_protected_item("rg-stop", "vault1", &container, &item)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.body["properties"]["protectionState"],
        "ProtectionStopped"
    );
    assert_eq!(got.body["properties"]["policyId"], "");
    assert!(got.body["properties"].get("policyName").is_none());
    let list = app.list_protected_items("rg-stop", "vault1", None).await;
    assert_eq!(names_of(&list), vec![item.clone()]);
    assert_eq!(
        protected_count(&app, "rg-stop", "vault1", "DefaultPolicy").await,
        0
    );
    let containers = app
        .list_protection_containers("rg-stop", "vault1", None)
        .await;
    assert_eq!(names_of(&containers), vec![container.clone()]);
    // The item-level result of the PUT is the item.
    let result = app
        .item_operation_result("rg-stop", "vault1", &container, &item, &operation)
        .await;
    assert_eq!(result.status, StatusCode::OK);
    assert_eq!(
        result.body["properties"]["protectionState"],
        "ProtectionStopped"
    );
    // Another vault still cannot take the VM.
    let created = app.put_vault("rg-stop", "vault2", "eastus").await;
    assert!(created.status.is_success(), "{created:?}");
    let taken = app
        .put_protected_item(
            "rg-stop",
            "vault2",
            &container,
            &item,
            app.protect_body(
                "rg-stop",
                "vm1",
                &app.policy_id("rg-stop", "vault2", "DefaultPolicy"),
            ),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    // Resuming protection is a ConfigureBackup.
    let status = app
        .protect("rg-stop", "vault1", "vm1", "DefaultPolicy")
        .await;
    let job = app
        .get_job(
            "rg-stop",
            "vault1",
            status["properties"]["jobId"].as_str().unwrap(),
        )
        .await;
    assert_eq!(job.body["properties"]["operation"], "ConfigureBackup");
    let got = app
        .get_protected_item("rg-stop", "vault1", &container, &item)
        .await;
    assert_eq!(got.body["properties"]["protectionState"], "IRPending");
    assert_eq!(
        protected_count(&app, "rg-stop", "vault1", "DefaultPolicy").await,
        1
    );
}

async fn deleting_protection_removes_the_item_its_data_and_its_container(app: ManagementApp) {
    app.protection_setup("rg-del", "vault1", &["vm1"]).await;
    app.protect("rg-del", "vault1", "vm1", "DefaultPolicy")
        .await;
    let container = container_name("rg-del", "vm1");
    let item = item_name("rg-del", "vm1");
    record_recovery_point(
        &app,
        "vault1",
        "vm;iaasvmcontainerv2;rg-del;vm1",
        1_700_000_000,
    )
    .await;
    let delete = app
        .delete_protected_item("rg-del", "vault1", &container, &item)
        .await;
    assert_eq!(delete.status, StatusCode::ACCEPTED, "{:?}", delete.body);
    assert_eq!(delete.body, Value::Null);
    let vault_url = format!("http://{}{}", app.addr, app.vault_path("rg-del", "vault1"));
    let operation = last_segment(delete.header("azure-asyncoperation"));
    assert_eq!(
        delete.header("azure-asyncoperation"),
        format!("{vault_url}/backupOperations/{operation}?api-version=2026-07-01")
    );
    assert_eq!(
        delete.header("location"),
        format!("{vault_url}/backupOperationResults/{operation}?api-version=2026-07-01")
    );
    let status = app.wait_for_operation("rg-del", "vault1", &operation).await;
    assert_eq!(status["status"], "Succeeded");
    let result = app
        .backup_operation_result("rg-del", "vault1", &operation)
        .await;
    assert_eq!(result.status, StatusCode::NO_CONTENT);
    let result = app
        .item_operation_result("rg-del", "vault1", &container, &item, &operation)
        .await;
    assert_eq!(result.status, StatusCode::NO_CONTENT);
    let job = app
        .get_job(
            "rg-del",
            "vault1",
            status["properties"]["jobId"].as_str().unwrap(),
        )
        .await;
    assert_eq!(job.body["properties"]["operation"], "DeleteBackupData");
    assert_eq!(job.body["properties"]["status"], "Completed");
    assert_eq!(job.body["properties"]["entityFriendlyName"], "vm1");
    // Gone: the item, its container, its recovery points.
    let got = app
        .get_protected_item("rg-del", "vault1", &container, &item)
        .await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert_eq!(got.error_code(), "BMSUserErrorDataSourceObjectNotFound");
    let got = app
        .get_protection_container("rg-del", "vault1", &container)
        .await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    let list = app.list_protected_items("rg-del", "vault1", None).await;
    assert_eq!(names_of(&list), Vec::<String>::new());
    let points: i64 = sqlx::query_scalar("select count(*) from recovery_point")
        .fetch_one(app.db().await.pool())
        .await
        .unwrap();
    assert_eq!(points, 0);
    assert_eq!(
        protected_count(&app, "rg-del", "vault1", "DefaultPolicy").await,
        0
    );
    // A second delete finds nothing.
    let again = app
        .delete_protected_item("rg-del", "vault1", &container, &item)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // The VM is protectable again.
    let _ = app.refresh_containers("rg-del", "vault1", "Azure").await;
    let list = app.list_protectable_items("rg-del", "vault1", None).await;
    assert_eq!(names_of(&list), vec!["iaasvmcontainerv2;rg-del;vm1"]);
}

async fn a_vault_protecting_items_cannot_be_deleted(app: ManagementApp) {
    app.protection_setup("rg-vdel", "vault1", &["vm1"]).await;
    app.protect("rg-vdel", "vault1", "vm1", "DefaultPolicy")
        .await;
    let refused = app.delete_vault("rg-vdel", "vault1").await;
    assert!(
        refused.status.is_client_error(),
        "{} {:?}",
        refused.status,
        refused.body
    );
    let still = app.get(&app.vault_path("rg-vdel", "vault1")).await;
    assert_eq!(still.status, StatusCode::OK);
    let delete = app
        .delete_protected_item(
            "rg-vdel",
            "vault1",
            &container_name("rg-vdel", "vm1"),
            &item_name("rg-vdel", "vm1"),
        )
        .await;
    assert_eq!(delete.status, StatusCode::ACCEPTED);
    let deleted = app.delete_vault("rg-vdel", "vault1").await;
    assert!(
        deleted.status.is_success(),
        "{} {:?}",
        deleted.status,
        deleted.body
    );
}

async fn invalid_protection_requests_change_nothing(app: ManagementApp) {
    app.protection_setup("rg-bad", "vault1", &["vm1", "vm2", "vm-taken"])
        .await;
    let west = app
        .put_vm(
            "rg-bad",
            "vm-west",
            ManagementApp::vm_body("Linux", "westus", &[]),
        )
        .await;
    assert!(west.status.is_success(), "{west:?}");
    let created = app.put_vault("rg-bad", "vault2", "eastus").await;
    assert!(created.status.is_success(), "{created:?}");
    app.protect("rg-bad", "vault2", "vm-taken", "DefaultPolicy")
        .await;
    let policy = app.policy_id("rg-bad", "vault1", "DefaultPolicy");
    let other_vault_policy = app.policy_id("rg-bad", "vault2", "DefaultPolicy");
    let vm1 = app.vm_path("rg-bad", "vm1");
    let cases: Vec<(&str, &str, &str, Value, StatusCode, &str)> = vec![
        (
            "unknown VM",
            "vm-none",
            "vm-none",
            app.protect_body("rg-bad", "vm-none", &policy),
            StatusCode::NOT_FOUND,
            "BMSUserErrorDataSourceObjectNotFound",
        ),
        (
            "policy of another vault",
            "vm1",
            "vm1",
            app.protect_body("rg-bad", "vm1", &other_vault_policy),
            StatusCode::NOT_FOUND,
            "BMSUserErrorPolicyNotFound",
        ),
        (
            "unknown policy",
            "vm1",
            "vm1",
            app.protect_body("rg-bad", "vm1", &app.policy_id("rg-bad", "vault1", "Nope")),
            StatusCode::NOT_FOUND,
            "BMSUserErrorPolicyNotFound",
        ),
        (
            "VM in another location",
            "vm-west",
            "vm-west",
            app.protect_body("rg-bad", "vm-west", &policy),
            StatusCode::BAD_REQUEST,
            "BMSUserErrorVMAndVaultLocationMismatch",
        ),
        (
            "VM protected by another vault",
            "vm-taken",
            "vm-taken",
            app.protect_body("rg-bad", "vm-taken", &policy),
            StatusCode::CONFLICT,
            "BMSUserErrorVMAlreadyProtected",
        ),
        (
            "container and item name different VMs",
            "vm1",
            "vm2",
            app.protect_body("rg-bad", "vm1", &policy),
            StatusCode::BAD_REQUEST,
            "BMSUserErrorInvalidConfigureProtectionRequest",
        ),
        (
            "sourceResourceId names another VM",
            "vm1",
            "vm1",
            app.protect_body("rg-bad", "vm2", &policy),
            StatusCode::BAD_REQUEST,
            "BMSUserErrorInvalidConfigureProtectionRequest",
        ),
        (
            "no properties",
            "vm1",
            "vm1",
            json!({"sourceResourceId": vm1}),
            StatusCode::BAD_REQUEST,
            "BMSUserErrorInvalidConfigureProtectionRequest",
        ),
        (
            "another item type",
            "vm1",
            "vm1",
            json!({"properties": {"protectedItemType": "AzureFileShareProtectedItem", "sourceResourceId": vm1, "policyId": policy}}),
            StatusCode::BAD_REQUEST,
            "BMSUserErrorInvalidConfigureProtectionRequest",
        ),
        (
            "no policy",
            "vm1",
            "vm1",
            json!({"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm1}}),
            StatusCode::BAD_REQUEST,
            "BMSUserErrorInvalidConfigureProtectionRequest",
        ),
        (
            "policyId of the wrong type",
            "vm1",
            "vm1",
            json!({"properties": {"sourceResourceId": vm1, "policyId": 7}}),
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
        ),
        (
            "stopping an unprotected VM",
            "vm1",
            "vm1",
            json!({"properties": {"sourceResourceId": vm1, "policyId": "", "protectionState": "ProtectionStopped"}}),
            StatusCode::NOT_FOUND,
            "BMSUserErrorDataSourceObjectNotFound",
        ),
    ];
    for (name, container_vm, item_vm, body, status, code) in cases {
        let response = app
            .put_protected_item(
                "rg-bad",
                "vault1",
                &container_name("rg-bad", container_vm),
                &item_name("rg-bad", item_vm),
                body,
            )
            .await;
        assert_eq!(response.status, status, "{name}: {:?}", response.body);
        assert_eq!(response.error_code(), code, "{name}");
        assert!(
            !response.body["error"]["message"]
                .as_str()
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
    // Not JSON at all; a fabric other than Azure; a DELETE of nothing.
    let response = app
        .http
        .put(app.url(&format!(
            "{}?api-version=2026-07-01",
            app.item_path(
                "rg-bad",
                "vault1",
                &container_name("rg-bad", "vm1"),
                &item_name("rg-bad", "vm1")
            )
        )))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let fabric = app
        .put(
            &format!(
                "{}/backupFabrics/Other/protectionContainers/{}/protectedItems/{}",
                app.vault_path("rg-bad", "vault1"),
                container_name("rg-bad", "vm1"),
                item_name("rg-bad", "vm1")
            ),
            app.protect_body("rg-bad", "vm1", &policy),
        )
        .await;
    assert_eq!(fabric.status, StatusCode::NOT_FOUND);
    assert_eq!(fabric.error_code(), "BMSUserErrorFabricNotFound");
    let delete = app
        .delete_protected_item(
            "rg-bad",
            "vault1",
            &container_name("rg-bad", "vm1"),
            &item_name("rg-bad", "vm1"),
        )
        .await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
    assert_eq!(delete.error_code(), "BMSUserErrorDataSourceObjectNotFound");
    // Nothing was created in vault1: no item, no container, no job.
    let list = app.list_protected_items("rg-bad", "vault1", None).await;
    assert_eq!(names_of(&list), Vec::<String>::new());
    let list = app
        .list_protection_containers("rg-bad", "vault1", None)
        .await;
    assert_eq!(names_of(&list), Vec::<String>::new());
    let jobs = app.list_jobs("rg-bad", "vault1", None).await;
    assert_eq!(jobs.body["value"], json!([]));
    assert_eq!(
        protected_count(&app, "rg-bad", "vault1", "DefaultPolicy").await,
        0
    );
    // vault2 keeps its one item.
    let list = app.list_protected_items("rg-bad", "vault2", None).await;
    assert_eq!(
        names_of(&list),
        vec!["VM;iaasvmcontainerv2;rg-bad;vm-taken"]
    );
}

async fn operations_are_polled_at_item_and_vault_level(app: ManagementApp) {
    app.protection_setup("rg-ops", "vault1", &["vm1", "vm2"])
        .await;
    let container = container_name("rg-ops", "vm1");
    let item = item_name("rg-ops", "vm1");
    let put = app
        .put_protected_item(
            "rg-ops",
            "vault1",
            &container,
            &item,
            app.protect_body(
                "rg-ops",
                "vm1",
                &app.policy_id("rg-ops", "vault1", "DefaultPolicy"),
            ),
        )
        .await;
    let operation = last_segment(put.header("azure-asyncoperation"));
    let status = app
        .item_operation_status("rg-ops", "vault1", &container, &item, &operation)
        .await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["id"], operation.as_str());
    assert_eq!(status.body["status"], "Succeeded");
    assert!(status.body["startTime"].as_str().unwrap().ends_with('Z'));
    assert!(status.body["endTime"].as_str().unwrap().ends_with('Z'));
    let job_id = status.body["properties"]["jobId"].as_str().unwrap();
    let vault_status = app.backup_operation("rg-ops", "vault1", &operation).await;
    assert_eq!(vault_status.body, status.body);
    let job = app.get_job("rg-ops", "vault1", job_id).await;
    assert_eq!(job.status, StatusCode::OK);
    // The item-level result of a PUT is the item.
    let result = app
        .item_operation_result("rg-ops", "vault1", &container, &item, &operation)
        .await;
    assert_eq!(result.status, StatusCode::OK);
    assert_eq!(result.body["name"], "VM;iaasvmcontainerv2;rg-ops;vm1");
    let result = app
        .backup_operation_result("rg-ops", "vault1", &operation)
        .await;
    assert_eq!(result.status, StatusCode::NO_CONTENT);
    // Unknown operations, and an operation asked of another item.
    let unknown = app
        .backup_operation("rg-ops", "vault1", "6e5b0f4f-0000-0000-0000-000000000000")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "BMSUserErrorOperationNotFound");
    let unknown = app
        .backup_operation_result("rg-ops", "vault1", "6e5b0f4f-0000-0000-0000-000000000000")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let elsewhere = app
        .item_operation_status(
            "rg-ops",
            "vault1",
            &container_name("rg-ops", "vm2"),
            &item_name("rg-ops", "vm2"),
            &operation,
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    // An operation of one vault is not visible from another.
    let created = app.put_vault("rg-ops", "vault2", "eastus").await;
    assert!(created.status.is_success(), "{created:?}");
    let other = app.backup_operation("rg-ops", "vault2", &operation).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

/// Records a recovery point of an item of `vault` (group-unique name) at `seconds`.
pub async fn record_recovery_point(
    app: &ManagementApp,
    vault: &str,
    item_key: &str,
    seconds: i64,
) -> String {
    use vaultsim::resources::recovery_points::{
        self, NewRecoveryPoint, RecoveryPointDetails, Tier, TierStatus, TierType,
    };
    let db = app.db().await;
    let vault_id: String = sqlx::query_scalar("select vault_id from vault where name_key = $1")
        .bind(vault.to_lowercase())
        .fetch_one(db.pool())
        .await
        .unwrap();
    let mut tx = db.begin_write().await.unwrap();
    let name = recovery_points::record(
        &mut tx,
        NewRecoveryPoint {
            vault_id,
            item_key: item_key.to_owned(),
            time: chrono::DateTime::from_timestamp(seconds, 0).unwrap(),
            recovery_point_type: "AppConsistent".into(),
            tiers: vec![
                Tier {
                    tier_type: TierType::InstantRP,
                    status: TierStatus::Valid,
                },
                Tier {
                    tier_type: TierType::HardenedRP,
                    status: TierStatus::Valid,
                },
            ],
            details: RecoveryPointDetails {
                os_type: "Linux".into(),
                virtual_machine_size: "Standard_D2s_v3".into(),
                source_vm_storage_type: "NormalStorage".into(),
                is_managed_virtual_machine: true,
                is_source_vm_encrypted: false,
                original_storage_account_option: false,
                zones: vec![],
            },
            storage: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    name
}

crate::on_both_backends!(
    enable_for_vm_follows_the_cli_flow,
    newer_clis_put_the_item_directly_without_a_refresh,
    item_names_match_in_any_case_and_encoding,
    protectable_items_are_discovered_unprotected_vms_of_the_vault_location,
    a_protected_item_has_every_field_azure_returns,
    protected_items_and_containers_list_with_filters,
    protected_items_page_by_200_in_name_order,
    changing_the_policy_moves_the_item,
    stopping_protection_keeps_the_item_and_its_data,
    deleting_protection_removes_the_item_its_data_and_its_container,
    a_vault_protecting_items_cannot_be_deleted,
    invalid_protection_requests_change_nothing,
    operations_are_polled_at_item_and_vault_level,
);
