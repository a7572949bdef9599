//! The backup engine's endpoints on `ManagementApp`: the simulated clock, on-demand
//! backup and restore; and what a test reads of the blob endpoint.

use serde_json::{json, Value};

use crate::helpers::BlobClient;
use crate::management::app::{ArmResponse, ManagementApp};
use crate::management::protection::{container_name, item_name, last_segment};

impl ManagementApp {
    pub async fn get_clock(&self) -> ArmResponse {
        self.get("/_sim/clock").await
    }

    pub async fn set_clock(&self, body: Value) -> ArmResponse {
        self.put("/_sim/clock", body).await
    }

    /// Pins the clock at `now` (RFC 3339).
    pub async fn pin_clock(&self, now: &str) {
        let set = self.set_clock(json!({"mode": "pinned", "now": now})).await;
        assert_eq!(set.status, 200, "{:?}", set.body);
    }

    pub async fn advance_clock(&self, body: Value) -> ArmResponse {
        self.post("/_sim/clock/advance", Some(body)).await
    }

    /// Advances the clock by an ISO 8601 duration, giving backups `settle` seconds per stop.
    pub async fn advance_by(&self, by: &str, settle: f64) -> Value {
        let advanced = self
            .advance_clock(json!({"by": by, "settleSeconds": settle}))
            .await;
        assert_eq!(advanced.status, 200, "{:?}", advanced.body);
        advanced.body
    }

    pub async fn trigger_backup(
        &self,
        group: &str,
        vault: &str,
        vm: &str,
        body: Value,
    ) -> ArmResponse {
        let path = format!(
            "{}/backup",
            self.item_path(
                group,
                vault,
                &container_name(group, vm),
                &item_name(group, vm)
            )
        );
        self.post(&path, Some(body)).await
    }

    /// Starts an on-demand backup (expiry by default) and answers its job id.
    pub async fn backup_now(&self, group: &str, vault: &str, vm: &str) -> String {
        let triggered = self
            .trigger_backup(
                group,
                vault,
                vm,
                json!({"properties": {"objectType": "IaasVMBackupRequest"}}),
            )
            .await;
        self.job_of_accepted(group, vault, &triggered).await
    }

    /// The job of an accepted (202) backup or restore request, once its operation names it.
    async fn job_of_accepted(&self, group: &str, vault: &str, accepted: &ArmResponse) -> String {
        assert_eq!(accepted.status, 202, "{:?}", accepted.body);
        let operation = self
            .wait_for_operation(
                group,
                vault,
                &last_segment(accepted.header("azure-asyncoperation")),
            )
            .await;
        operation["properties"]["jobId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn trigger_restore(
        &self,
        group: &str,
        vault: &str,
        vm: &str,
        recovery_point: &str,
        body: Value,
    ) -> ArmResponse {
        let path = format!(
            "{}/recoveryPoints/{recovery_point}/restore",
            self.item_path(
                group,
                vault,
                &container_name(group, vm),
                &item_name(group, vm)
            )
        );
        self.post(&path, Some(body)).await
    }

    /// Restores every disk of `recovery_point` to the service's account and answers the
    /// Restore job's id.
    pub async fn restore_disks_now(
        &self,
        group: &str,
        vault: &str,
        vm: &str,
        recovery_point: &str,
    ) -> String {
        let restore = self
            .trigger_restore(
                group,
                vault,
                vm,
                recovery_point,
                self.restore_disks_body(group, vm, recovery_point),
            )
            .await;
        self.job_of_accepted(group, vault, &restore).await
    }

    /// The `IaasVMRestoreRequest` that restores every disk to the service's account.
    pub fn restore_disks_body(&self, group: &str, vm: &str, recovery_point: &str) -> Value {
        json!({"properties": {
            "objectType": "IaasVMRestoreRequest",
            "recoveryPointId": recovery_point,
            "recoveryType": "RestoreDisks",
            "sourceResourceId": self.vm_path(group, vm),
            "storageAccountId": format!(
                "{}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
                self.subscription_path()
            ),
            "region": "eastus",
            "createNewCloudService": false,
            "originalStorageAccountOption": false,
        }})
    }

    pub fn blobs(&self) -> BlobClient {
        BlobClient::new(self.blob_addr)
    }

    /// Writes `data` at `offset` of a page blob (Shared Key).
    pub async fn write_disk(&self, container: &str, blob: &str, offset: u64, data: Vec<u8>) {
        let written = self
            .blobs()
            .try_put_page(&format!("/{container}/{blob}"), offset, data)
            .await
            .unwrap();
        assert_eq!(written.status(), 201, "{:?}", written.text().await);
    }
}
