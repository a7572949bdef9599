//! A dispatch mints its tasks before the transaction that writes them (the next batch is
//! minted while the database writes this one), so it checks in that transaction that each
//! VM is still as its task was minted from.

use vaultsim::control::backup::{prepare_backups, write_backups, BackupRequest, BackupTarget};
use vaultsim::control::cms::Recipient;
use vaultsim::control::tasks::Trigger;
use vaultsim::resources::protection::names::VmName;
use vaultsim::store::Db;

use super::scaling::{seeded_burst, DUE};
use crate::burst;

#[tokio::test]
async fn a_vm_that_registers_a_new_certificate_after_its_task_was_minted_gets_it_minted_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path()).await.unwrap();
    db.migrate().await.unwrap();
    let (engine, _clock) = seeded_burst(&db, dir.path(), 1, "dispatch").await;
    let (vault_id, item_key, vm_id, vm_name, resource_group): (
        String,
        String,
        String,
        String,
        String,
    ) = sqlx::query_as(
        "select vault_id, item_key, vm_id, vm_name, vm_resource_group from protected_item",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    let due = DUE.parse().unwrap();
    let request = BackupRequest {
        target: BackupTarget {
            vault_id,
            item_key,
            vm_id: vm_id.clone(),
            vm: VmName::new(resource_group, vm_name),
        },
        trigger: Trigger::Scheduled,
        scheduled_at: due,
        rp_expires_at: None,
    };
    let mut reader = db.pool().acquire().await.unwrap();
    let prepared = prepare_backups(&engine, &mut reader, vec![request], due)
        .await
        .unwrap();
    drop(reader);

    // The agent re-registers with a new key pair before the batch is written.
    let new_dir = tempfile::tempdir().unwrap();
    let new_certificate = burst::certificate(new_dir.path());
    let new_thumbprint = Recipient::from_pem(&new_certificate)
        .unwrap()
        .thumbprint()
        .to_owned();
    sqlx::query("update vm_guest set certificate_pem = $1, certificate_thumbprint = $2")
        .bind(&new_certificate)
        .bind(&new_thumbprint)
        .execute(db.pool())
        .await
        .unwrap();
    let mut tx = db.begin_write().await.unwrap();
    let started = write_backups(&engine, &mut tx, prepared, due)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        started[0].notify_vm.as_deref(),
        Some(vm_id.as_str()),
        "dispatched"
    );

    let handler_settings: String =
        sqlx::query_scalar("select handler_settings from vm_extension where vm_id = $1")
            .bind(&vm_id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    let handler_settings: serde_json::Value = serde_json::from_str(&handler_settings).unwrap();
    assert_eq!(
        handler_settings["protectedSettingsCertThumbprint"], new_thumbprint,
        "the protected settings are encrypted to the certificate the VM has now"
    );
}
