//! A dispatch mints its tasks before the transaction that writes them (the next batch is
//! minted while the database writes this one), so it checks in that transaction that each
//! VM is still as its task was minted from: registering again and attaching a disk both
//! count as changes, made through the same calls the guest and ARM APIs make.

use std::time::Duration;

use vaultsim::auth::Auth;
use vaultsim::control::backup::{
    prepare_backups, write_backups, BackupRequest, BackupTarget, PreparedBackups,
};
use vaultsim::control::cms::Recipient;
use vaultsim::control::engine::Engine;
use vaultsim::control::tasks::Trigger;
use vaultsim::guest::{
    open_for_agent, register, wait_for_goal_state, Registration, SettingsSeal,
    SEALED_PROTECTED_SETTINGS,
};
use vaultsim::resources::compute::{put_vm, DataDiskSpec, DiskSpec, VmSpec};
use vaultsim::resources::lookup::OsType;
use vaultsim::resources::protection::names::VmName;
use vaultsim::store::Db;

use super::scaling::{seeded_burst, DUE};
use crate::burst;

#[tokio::test]
async fn a_vm_that_registers_a_new_certificate_after_its_task_was_minted_gets_it_minted_again() {
    let dir = tempfile::tempdir().unwrap();
    let minted = MintedBeforeWrite::new(dir.path()).await;

    // The agent registers again, with a new key pair, before the batch is written.
    let new_dir = tempfile::tempdir().unwrap();
    let new_certificate = burst::certificate(new_dir.path());
    let new_thumbprint = Recipient::from_pem(&new_certificate)
        .unwrap()
        .thumbprint()
        .to_owned();
    let auth = Auth::open(dir.path(), &minted.db, minted.engine.clock(), false)
        .await
        .unwrap();
    register(
        &minted.db,
        minted.engine.accounts(),
        minted.engine.clock(),
        &auth,
        auth.admin(),
        Registration {
            vm_id: Some(minted.vm_id.clone()),
            subscription: minted.subscription.clone(),
            group: minted.vm.group.clone(),
            name: minted.vm.vm.clone(),
            location: "eastus".to_owned(),
            os_type: OsType::Linux,
            vm_size: None,
            disks: Vec::new(),
            certificate: new_certificate,
            agent_version: None,
        },
    )
    .await
    .unwrap();

    let handler_settings = minted.write().await;
    assert_eq!(
        handler_settings["protectedSettingsCertThumbprint"], new_thumbprint,
        "the protected settings are encrypted to the certificate the VM has now"
    );
}

#[tokio::test]
async fn a_vm_that_gains_a_disk_after_its_task_was_minted_gets_it_minted_again() {
    let dir = tempfile::tempdir().unwrap();
    let minted = MintedBeforeWrite::new(dir.path()).await;
    let disks: i64 = sqlx::query_scalar("select count(*) from vm_disk where vm_id = $1")
        .bind(&minted.vm_id)
        .fetch_one(minted.db.pool())
        .await
        .unwrap();
    assert_eq!(disks, 1, "the task is minted with the OS disk alone");

    // A data disk is attached (an ARM PUT of the VM) before the batch is written.
    put_vm(
        &minted.db,
        minted.engine.accounts(),
        minted.engine.clock(),
        &minted.subscription,
        &minted.vm.group,
        &minted.vm.vm,
        &VmSpec {
            location: Some("eastus".to_owned()),
            data_disks: vec![DataDiskSpec {
                lun: Some(0),
                disk: DiskSpec {
                    size_gb: Some(4),
                    create_option: Some("Empty".to_owned()),
                    ..DiskSpec::default()
                },
            }],
            ..VmSpec::default()
        },
    )
    .await
    .unwrap();

    let handler_settings = minted.write().await;
    let object_str = handler_settings["publicSettings"]["objectStr"]
        .as_str()
        .unwrap();
    let public = vaultsim_protocol::extension::settings::decode_object_str::<
        vaultsim_protocol::extension::settings::ObjectStrPublic,
    >(object_str)
    .unwrap();
    let included = public.included_disks.unwrap();
    assert_eq!(
        included.data_disk_lun_list,
        vec![0],
        "the task names the disk the VM has now"
    );
    assert!(included.is_os_disk_included);
}

/// One seeded item's backup, prepared (its task minted) on a reader and not yet written.
struct MintedBeforeWrite {
    db: Db,
    engine: Engine,
    prepared: PreparedBackups,
    subscription: String,
    vm_id: String,
    vm: VmName,
}

impl MintedBeforeWrite {
    async fn new(dir: &std::path::Path) -> Self {
        let db = Db::connect(None, dir).await.unwrap();
        db.migrate().await.unwrap();
        let (engine, _clock) = seeded_burst(&db, dir, 1, "dispatch").await;
        let (vault_id, item_key, vm_id, vm_name, resource_group, subscription): (
            String,
            String,
            String,
            String,
            String,
            String,
        ) = sqlx::query_as(
            "select p.vault_id, p.item_key, p.vm_id, p.vm_name, p.vm_resource_group, \
             v.subscription_id from protected_item p \
             join virtual_machine v on v.vm_id = p.vm_id",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        let due = DUE.parse().unwrap();
        let vm = VmName::new(resource_group, vm_name);
        let request = BackupRequest {
            target: BackupTarget {
                vault_id,
                item_key,
                vm_id: vm_id.clone(),
                vm: vm.clone(),
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
        Self {
            db,
            engine,
            prepared,
            subscription,
            vm_id,
            vm,
        }
    }

    /// Writes the prepared backup and answers the handler settings its agent receives; the
    /// database holds the protected settings sealed, no SAS URI in clear.
    async fn write(self) -> serde_json::Value {
        let mut tx = self.db.begin_write().await.unwrap();
        let started = write_backups(&self.engine, &mut tx, self.prepared, DUE.parse().unwrap())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            started[0].notify_vm.as_deref(),
            Some(self.vm_id.as_str()),
            "dispatched"
        );
        let stored: String =
            sqlx::query_scalar("select handler_settings from vm_extension where vm_id = $1")
                .bind(&self.vm_id)
                .fetch_one(self.db.pool())
                .await
                .unwrap();
        assert!(stored.contains(SEALED_PROTECTED_SETTINGS), "{stored}");
        assert!(!stored.contains("sig="), "no SAS in clear: {stored}");

        let mut goal_state = wait_for_goal_state(
            &self.db,
            self.engine.notifier(),
            &self.vm_id,
            None,
            Duration::ZERO,
        )
        .await
        .unwrap();
        let seal = SettingsSeal::for_account(self.engine.account());
        open_for_agent(&self.db, &seal, &mut goal_state)
            .await
            .unwrap();
        let received = goal_state.extensions.remove(0).handler_settings;
        assert!(
            received.get(SEALED_PROTECTED_SETTINGS).is_none(),
            "{received}"
        );
        received
    }
}
