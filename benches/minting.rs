//! What minting one backup task costs: everything dispatch does per task once its job
//! exists (SAS URIs for the disk, status and log blobs, both objectStrs, the VM's
//! certificate parsed, the protected settings sealed until the agent fetches them), the
//! same with the protected settings encrypted as CMS to the VM's RSA-2048 certificate (what
//! the agent's fetch adds), next to the CMS encryption alone and the RSA public-key
//! operation alone, the floor of it.
//!
//! Run: `cargo bench --bench minting`.

use std::hint::black_box;
use std::path::Path;

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use vaultsim::control::cms::encrypt_to_certificate;
use vaultsim::control::minting::{mint_task, TaskDisk, TaskInput};
use vaultsim::guest::SettingsSeal;
use vaultsim::storage::AccountAccess;
use vaultsim_protocol::disk::OS_DISK_LUN;
use vaultsim_protocol::extension::host_snapshot::SnapshotMethod;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

const JOB: &str = "0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";

/// A self-signed RSA-2048 certificate made by the openssl command line, as a VM's agent
/// makes its own.
fn certificate(dir: &Path) -> String {
    let (key, cert) = (dir.join("vm.key"), dir.join("vm.crt"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
        .args(["-subj", "/CN=bench-vm", "-days", "2", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    std::fs::read_to_string(cert).unwrap()
}

fn minting(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let pem = certificate(dir.path());
    let disks = [TaskDisk {
        lun: OS_DISK_LUN,
        container: "vm-3f0c2a9e41b04c7d9a0e6b1f2c3d4e5f".to_owned(),
        blob: "osdisk.vhd".to_owned(),
        account: None,
    }];
    let scheduled = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    // As the engine's dispatch fills it in (`mint_all`).
    let input = TaskInput {
        job_id: JOB,
        attempt: 1,
        command_start: scheduled,
        os_type: "Linux",
        disks: &disks,
        status_container: "vaultsim-status-3f0c2a9e",
        status_blob: "0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3_1/status.json",
        logs_blob: "0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3_1/logs.txt",
        blob_endpoint: "http://127.0.0.1:10000/devstoreaccount1",
        account_name: "devstoreaccount1",
        account_key: b"an account key of some sixty-four bytes, as Azurite's well-known",
        sas_start: scheduled - TimeDelta::minutes(5),
        sas_expiry: scheduled + TimeDelta::hours(3),
        certificate_pem: &pem,
        backup_metadata: vec![
            ("TaskId".to_owned(), format!("{JOB}_1")),
            ("VaultId".to_owned(), "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1/providers/Microsoft.RecoveryServices/vaults/vault1".to_owned()),
            ("VmId".to_owned(), "3f0c2a9e-41b0-4c7d-9a0e-6b1f2c3d4e5f".to_owned()),
        ],
        snapshot_task_token: "a-task-token-of-some-forty-three-characters-",
        snapshot_method: SnapshotMethod::FirstHostThenGuest,
    };
    // A minted task's protected settings are about this long.
    let settings = vec![b'x'; 900];
    let public_key = RsaPublicKey::from_public_key_der(
        &Certificate::from_pem(pem.as_bytes())
            .unwrap()
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap(),
    )
    .unwrap();

    let mut group = c.benchmark_group("minting");
    group.bench_function(
        "mint one task (1 disk), settings sealed as dispatch stores them",
        |b| {
            let seal = SettingsSeal::for_account(&AccountAccess {
                name: input.account_name.to_owned(),
                endpoint: input.blob_endpoint.to_owned(),
                key: input.account_key.to_vec().into(),
            });
            b.iter(|| {
                let task = mint_task(black_box(&input)).unwrap();
                black_box(task.sealed_handler_settings(&seal, "vm"))
            })
        },
    );
    group.bench_function(
        "mint one task (1 disk), encrypted as its agent receives it",
        |b| {
            b.iter(|| {
                black_box(
                    mint_task(black_box(&input))
                        .unwrap()
                        .handler_settings()
                        .unwrap(),
                )
            })
        },
    );
    group.bench_function("CMS-encrypt 900 bytes to the certificate", |b| {
        b.iter(|| black_box(encrypt_to_certificate(&pem, black_box(&settings)).unwrap()))
    });
    group.bench_function("RSA-2048 PKCS#1 v1.5 encrypt of a 32-byte key", |b| {
        b.iter(|| {
            black_box(
                public_key
                    .encrypt(&mut rand::rngs::OsRng, Pkcs1v15Encrypt, black_box(&[7; 32]))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, minting);
criterion_main!(benches);
