//! The snapshot extension driven as a harness drives it: tasks minted by the service's own
//! minting code (real SAS, real CMS to the VM's certificate) are laid out as the guest agent
//! lays them out, and enable runs them against an in-process blob endpoint. Each error path
//! of the extension has its test here; the quiesce paths have theirs in `scripts.rs`.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::mpsc;
use vaultsim::config::{ServeConfig, DEV_ACCOUNT_KEY};
use vaultsim::control::minting::{mint_task, TaskDisk, TaskInput};
use vaultsim::startup::Application;
use vaultsim_agent::extension::{
    Enabled, ExtensionConfig, GuestContext, HostClock, RunReport, SnapshotExtension,
};
use vaultsim_agent::guest::GuestReport;
use vaultsim_agent::handler::HandlerLayout;
use vaultsim_agent::keys::VmKeys;
use vaultsim_agent::vss::freeze::NoEligibleMounts;
use vaultsim_agent::vss::requester::QuiesceSettings;
use vaultsim_protocol::disk::OS_DISK_LUN;
use vaultsim_protocol::extension::host_snapshot::SnapshotMethod;
use vaultsim_protocol::extension::settings::{
    encode_object_str, HandlerSettings, ObjectStrProtected, ProtectedSettings, SettingsFile,
};
use vaultsim_protocol::extension::status::{parse_status_blob, StatusEntry};
use vaultsim_protocol::extension::{LINUX_TYPE, PUBLISHER};
use vaultsim_protocol::sas::{Permission, Permissions, ServiceSasBuilder};

const ACCOUNT: &str = "devstoreaccount1";

/// The blob endpoint in process, holding two disks and the task's empty status and log
/// blobs.
struct Harness {
    endpoint: String,
    http: reqwest::Client,
    keys: VmKeys,
    root: tempfile::TempDir,
    _data: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

fn disks() -> Vec<TaskDisk> {
    vec![
        TaskDisk {
            lun: OS_DISK_LUN,
            container: "vhds".into(),
            blob: "os.vhd".into(),
            account: None,
        },
        TaskDisk {
            lun: 0,
            container: "vhds".into(),
            blob: "data0.vhd".into(),
            account: None,
        },
    ]
}

impl Harness {
    async fn start() -> Harness {
        let data = tempfile::tempdir().unwrap();
        let config = ServeConfig::ephemeral(data.path(), None);
        let app = Application::build(&config).await.unwrap();
        let endpoint = format!("http://{}/{ACCOUNT}", app.blob_addr());
        let server = tokio::spawn(async move {
            app.run_until_stopped(std::future::pending()).await.unwrap();
        });
        let root = tempfile::tempdir().unwrap();
        let keys = VmKeys::load_or_create(&root.path().join("keys")).unwrap();
        let harness = Harness {
            endpoint,
            http: reqwest::Client::new(),
            keys,
            root,
            _data: data,
            _server: server,
        };
        for container in ["vhds", "status"] {
            harness
                .send("PUT", container, "", "restype=container", &[])
                .await;
        }
        for disk in disks() {
            harness
                .send(
                    "PUT",
                    "vhds",
                    &disk.blob,
                    "",
                    &[
                        ("x-ms-blob-type", "PageBlob"),
                        ("x-ms-blob-content-length", "4096"),
                    ],
                )
                .await;
        }
        harness
    }

    /// A Shared-Key-free call through an account-wide container SAS.
    async fn send(
        &self,
        method: &str,
        container: &str,
        blob: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> u16 {
        let permissions: Permissions = [
            Permission::Read,
            Permission::Write,
            Permission::Create,
            Permission::Delete,
        ]
        .into_iter()
        .collect();
        let sas = ServiceSasBuilder::for_container(
            container,
            permissions,
            Utc::now() + TimeDelta::hours(1),
        )
        .version("2025-11-05")
        .query_string(ACCOUNT, &STANDARD.decode(DEV_ACCOUNT_KEY).unwrap());
        let url = if query == "restype=container" {
            // A service SAS never manages containers: create them with the admin-free
            // public route the blob endpoint offers for tests is not there, so use Shared Key.
            return self.create_container(container).await;
        } else {
            format!(
                "{}/{container}/{blob}?{query}{}{sas}",
                self.endpoint,
                if query.is_empty() { "" } else { "&" }
            )
        };
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .header("x-ms-version", "2025-11-05")
            .header("content-length", "0");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        response.status().as_u16()
    }

    async fn create_container(&self, container: &str) -> u16 {
        use vaultsim_protocol::shared_key::{authorization_header, SignedRequest};
        let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let path = format!("/{ACCOUNT}/{container}");
        let headers = [
            ("x-ms-date", date.as_str()),
            ("x-ms-version", "2025-11-05"),
            ("content-length", "0"),
        ];
        let authorization = authorization_header(
            ACCOUNT,
            &STANDARD.decode(DEV_ACCOUNT_KEY).unwrap(),
            &SignedRequest {
                method: "PUT",
                headers: &headers,
                path: &path,
                query: "restype=container",
            },
        );
        let mut request = self
            .http
            .put(format!("{}/{container}?restype=container", self.endpoint))
            .header("authorization", authorization);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status, 201);
        status
    }

    /// Empty status and log block blobs for a task, as the service pre-creates them.
    async fn precreate(&self, task: &str) {
        for blob in [format!("{task}/status"), format!("{task}/logs")] {
            let status = self
                .send(
                    "PUT",
                    "status",
                    &blob,
                    "",
                    &[("x-ms-blob-type", "BlockBlob")],
                )
                .await;
            assert_eq!(status, 201);
        }
    }

    /// A task started at `command_start` whose SAS URIs are valid from `sas_start` to
    /// `sas_expiry`, snapshotted through them (these tests have no wire server).
    fn mint(
        &self,
        task: &str,
        command_start: DateTime<Utc>,
        sas_start: DateTime<Utc>,
        sas_expiry: DateTime<Utc>,
    ) -> HandlerSettings {
        let method = SnapshotMethod::OnlyGuest;
        self.mint_for(task, command_start, sas_start, sas_expiry, method)
    }

    /// [`Harness::mint`] with `takeSnapshotFrom` = `snapshot_method`.
    fn mint_for(
        &self,
        task: &str,
        command_start: DateTime<Utc>,
        sas_start: DateTime<Utc>,
        sas_expiry: DateTime<Utc>,
        snapshot_method: SnapshotMethod,
    ) -> HandlerSettings {
        let key = STANDARD.decode(DEV_ACCOUNT_KEY).unwrap();
        let disks = disks();
        // A job id is a GUID: the task name picks a fixed one.
        let job_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, task.as_bytes()).to_string();
        mint_task(&TaskInput {
            job_id: &job_id,
            attempt: 1,
            command_start,
            os_type: "Linux",
            disks: &disks,
            status_container: "status",
            status_blob: &format!("{task}/status"),
            logs_blob: &format!("{task}/logs"),
            blob_endpoint: &self.endpoint,
            account_name: ACCOUNT,
            account_key: &key,
            sas_start,
            sas_expiry,
            certificate_pem: &self.keys.certificate_pem,
            backup_metadata: vec![("BackupJobId".into(), job_id.clone())],
            snapshot_task_token: "a-token",
            snapshot_method,
        })
        .unwrap()
        .handler_settings()
        .unwrap()
    }

    /// A task minted now with SAS URIs valid for an hour.
    fn fresh(&self, task: &str) -> HandlerSettings {
        self.fresh_for(task, SnapshotMethod::OnlyGuest)
    }

    /// [`Harness::fresh`] with `takeSnapshotFrom` = `snapshot_method`.
    fn fresh_for(&self, task: &str, snapshot_method: SnapshotMethod) -> HandlerSettings {
        let now = Utc::now();
        self.mint_for(
            task,
            now,
            now - TimeDelta::minutes(5),
            now + TimeDelta::hours(1),
            snapshot_method,
        )
    }

    fn extension(
        &self,
    ) -> (
        Arc<SnapshotExtension<NoEligibleMounts>>,
        mpsc::UnboundedReceiver<GuestReport>,
    ) {
        let dirs = HandlerLayout::Linux {
            root: self.root.path().join("waagent"),
        }
        .prepare(&format!("{PUBLISHER}.{LINUX_TYPE}"), "1.0.9184.0")
        .unwrap();
        let (statuses, received) = mpsc::unbounded_channel();
        let extension = SnapshotExtension::new(
            LINUX_TYPE,
            LINUX_TYPE,
            dirs,
            ExtensionConfig {
                start_delay: (Duration::ZERO, Duration::ZERO),
                unique_machine_id: "machine-1".into(),
                quiesce: QuiesceSettings {
                    config_dir: self.root.path().join("etc-azure"),
                    ..QuiesceSettings::default()
                },
            },
            GuestContext {
                keys: self.keys.clone(),
                http: self.http.clone(),
                clock: HostClock::default(),
                freezer: NoEligibleMounts,
                local_disks: Arc::default(),
                statuses,
                // No wire server: host calls find nobody (555), as on a VM that cannot
                // reach 168.63.129.16.
                wire_server: "http://127.0.0.1:1".into(),
            },
        );
        (Arc::new(extension), received)
    }

    /// The guest agent's part: `config/<seq>.settings`, then enable.
    async fn enable(
        extension: &Arc<SnapshotExtension<NoEligibleMounts>>,
        sequence_number: i64,
        settings: &HandlerSettings,
    ) -> Enabled {
        let file = serde_json::to_value(SettingsFile::single(settings.clone())).unwrap();
        extension
            .dirs()
            .write_settings(sequence_number, &file)
            .unwrap();
        extension.enable(sequence_number).await.unwrap()
    }

    async fn run(
        extension: &Arc<SnapshotExtension<NoEligibleMounts>>,
        sequence_number: i64,
        settings: &HandlerSettings,
    ) -> RunReport {
        match Self::enable(extension, sequence_number, settings).await {
            Enabled::Started(run) => run.await.unwrap(),
            other => panic!("enable did not start a run: {other:?}"),
        }
    }

    async fn status_blob(
        &self,
        task: &str,
    ) -> Option<vaultsim_protocol::extension::status::StatusReport> {
        let permissions = Permissions::NONE.with(Permission::Read);
        let sas = ServiceSasBuilder::for_container(
            "status",
            permissions,
            Utc::now() + TimeDelta::hours(1),
        )
        .version("2025-11-05")
        .query_string(ACCOUNT, &STANDARD.decode(DEV_ACCOUNT_KEY).unwrap());
        let response = self
            .http
            .get(format!("{}/status/{task}/status?{sas}", self.endpoint))
            .header("x-ms-version", "2025-11-05")
            .send()
            .await
            .unwrap();
        if response.status() == 404 {
            return None;
        }
        let bytes = response.bytes().await.unwrap();
        (!bytes.is_empty()).then(|| parse_status_blob(&bytes).unwrap())
    }

    fn status_file(&self, sequence_number: i64) -> Option<Value> {
        let path = self.root.path().join(format!(
            "waagent/{PUBLISHER}.{LINUX_TYPE}-1.0.9184.0/status/{sequence_number}.status"
        ));
        std::fs::read(path)
            .ok()
            .map(|bytes| serde_json::from_slice(&bytes).unwrap())
    }
}

fn code(report: &RunReport) -> String {
    report
        .status
        .as_ref()
        .expect("a final status")
        .status
        .code
        .clone()
}

#[tokio::test]
async fn a_task_runs_through_transitioning_to_a_file_system_consistent_success() {
    let harness = Harness::start().await;
    harness.precreate("t1").await;
    let (extension, mut statuses) = harness.extension();
    let report = Harness::run(&extension, 1, &harness.fresh("t1")).await;
    assert_eq!(code(&report), "1");
    assert!(report.status_uploaded);
    let blob = harness.status_blob("t1").await.unwrap();
    assert_eq!(blob.code, 1);
    assert_eq!(blob.snapshots.len(), 2);
    assert!(blob
        .snapshots
        .iter()
        .all(|s| s.is_successful && s.snapshot_time.is_some()));
    // Transitioning first (enable's, then the run's), then the final status.
    let mut codes = Vec::new();
    while let Ok(GuestReport::Status(status)) = statuses.try_recv() {
        codes.push(
            status.file[0]["status"]["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(codes, ["4", "4", "1"]);
    let file = harness.status_file(1).unwrap();
    assert_eq!(file[0]["status"]["status"], "success");
    let nested = file[0]["status"]["substatus"][0]["name"].as_str().unwrap();
    assert_eq!(parse_status_blob(nested.as_bytes()).unwrap().code, 1);
}

#[tokio::test]
async fn a_command_older_than_140_minutes_is_refused_with_402_and_no_snapshot() {
    let harness = Harness::start().await;
    harness.precreate("stale").await;
    let (extension, _statuses) = harness.extension();
    let now = Utc::now();
    let started = now - TimeDelta::minutes(141);
    let settings = harness.mint(
        "stale",
        started,
        now - TimeDelta::minutes(5),
        now + TimeDelta::hours(1),
    );
    let report = Harness::run(&extension, 1, &settings).await;
    assert_eq!(code(&report), "402");
    let blob = harness.status_blob("stale").await.unwrap();
    assert_eq!(blob.code, 402);
    assert!(blob.snapshots.is_empty());
    assert!(
        blob.message().contains("CRP timeout limit"),
        "{}",
        blob.message()
    );

    // 139 minutes is not too old, and a start in the future is accepted.
    harness.precreate("recent").await;
    let settings = harness.mint(
        "recent",
        now - TimeDelta::minutes(139),
        now - TimeDelta::minutes(5),
        now + TimeDelta::hours(1),
    );
    assert_eq!(code(&Harness::run(&extension, 2, &settings).await), "1");
    harness.precreate("future").await;
    let settings = harness.mint(
        "future",
        now + TimeDelta::hours(3),
        now - TimeDelta::minutes(5),
        now + TimeDelta::hours(4),
    );
    assert_eq!(code(&Harness::run(&extension, 3, &settings).await), "1");
}

#[tokio::test]
async fn a_handled_sequence_number_and_a_repeated_task_id_produce_no_status() {
    let harness = Harness::start().await;
    harness.precreate("t1").await;
    let (extension, _statuses) = harness.extension();
    let settings = harness.fresh("t1");
    Harness::run(&extension, 5, &settings).await;
    assert!(matches!(
        extension.enable(5).await.unwrap(),
        Enabled::AlreadyHandled
    ));
    // The same task under a new sequence number: dropped without any status.
    assert!(matches!(
        Harness::enable(&extension, 6, &settings).await,
        Enabled::RepeatedTask
    ));
    assert!(harness.status_file(6).is_none());
}

#[tokio::test]
async fn snapshots_refused_for_an_expired_sas_fail_the_task_with_76() {
    let harness = Harness::start().await;
    harness.precreate("expired").await;
    let (extension, _statuses) = harness.extension();
    let now = Utc::now();
    // Disk SAS URIs that expired a minute ago; status and log SAS URIs still valid.
    let expired = harness.mint(
        "expired",
        now,
        now - TimeDelta::hours(2),
        now - TimeDelta::minutes(1),
    );
    let valid = harness.fresh("expired");
    let opened = |settings: &HandlerSettings| -> ProtectedSettings {
        let plain = vaultsim_agent::extension::decrypt::decrypt_protected_settings(
            &settings.protected_settings,
            harness.keys.private_key_pem(),
        )
        .unwrap();
        serde_json::from_slice(&plain).unwrap()
    };
    let disks: ObjectStrProtected =
        vaultsim_protocol::extension::settings::decode_object_str(&opened(&expired).object_str)
            .unwrap();
    let mixed = ProtectedSettings {
        object_str: encode_object_str(&disks),
        ..opened(&valid)
    };
    let sealed = vaultsim::control::cms::encrypt_to_certificate(
        &harness.keys.certificate_pem,
        &serde_json::to_vec(&mixed).unwrap(),
    )
    .unwrap();
    let settings = HandlerSettings {
        protected_settings: STANDARD.encode(sealed),
        ..valid
    };
    let report = Harness::run(&extension, 1, &settings).await;
    assert_eq!(code(&report), "76");
    let blob = harness.status_blob("expired").await.unwrap();
    assert_eq!(blob.code, 76);
    assert_eq!(blob.health.vm_health_status_code, 76);
    assert!(blob.snapshots.iter().all(|s| !s.is_successful));
    assert!(blob.snapshots[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("AuthenticationFailed"));
}

#[tokio::test]
async fn a_status_blob_that_cannot_be_written_is_said_in_the_status_file() {
    let harness = Harness::start().await;
    // Not pre-created: the extension's first GET fails, so it does not write.
    let (extension, _statuses) = harness.extension();
    let report = Harness::run(&extension, 1, &harness.fresh("missing")).await;
    assert!(!report.status_uploaded);
    assert_eq!(code(&report), "1", "the snapshots were taken");
    let file = harness.status_file(1).unwrap();
    let message: Value = serde_json::from_str(
        file[0]["status"]["formattedMessage"]["message"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        message["messageStr"]
            .as_str()
            .unwrap()
            .contains("statusBlobUploadError=true"),
        "{message}"
    );
    assert!(harness.status_blob("missing").await.is_none());
}

#[tokio::test]
async fn protected_settings_for_another_vm_give_code_16_and_no_blob() {
    let harness = Harness::start().await;
    harness.precreate("other").await;
    let (extension, _statuses) = harness.extension();
    let other = VmKeys::load_or_create(&harness.root.path().join("other-keys")).unwrap();
    let sealed =
        vaultsim::control::cms::encrypt_to_certificate(&other.certificate_pem, b"{}").unwrap();
    let settings = HandlerSettings {
        protected_settings: STANDARD.encode(sealed),
        ..harness.fresh("other")
    };
    let report = Harness::run(&extension, 1, &settings).await;
    assert_eq!(code(&report), "16");
    assert!(harness.status_blob("other").await.is_none());
}

/// The telemetry entry `key` of a status.
fn telemetry_value<'a>(status: &'a StatusEntry, key: &str) -> Option<&'a str> {
    status
        .status
        .telemetry_data
        .iter()
        .find(|entry| entry.key == key)
        .map(|entry| entry.value.as_str())
}

#[tokio::test]
async fn only_host_with_no_wire_server_fails_with_76_and_says_the_host_did_not_answer() {
    let harness = Harness::start().await;
    harness.precreate("host-gone").await;
    let (extension, _statuses) = harness.extension();
    let settings = harness.fresh_for("host-gone", SnapshotMethod::OnlyHost);
    let report = Harness::run(&extension, 1, &settings).await;
    assert_eq!(code(&report), "76");
    let status = report.status.unwrap();
    assert_eq!(
        telemetry_value(&status, "snapshotCreator"),
        Some("backupHostService")
    );
    assert_eq!(
        telemetry_value(&status, "hostStatusCodeDoSnapshot"),
        Some("555")
    );
    let blob = harness.status_blob("host-gone").await.unwrap();
    assert_eq!(blob.code, 76);
    assert!(blob.snapshots.is_empty(), "the host answered no snapshot");
    assert!(
        blob.message().ends_with(
            "snapshotCreator=backupHostService, hostStatusCodePreSnapshot=555, \
             hostStatusCodeDoSnapshot=555, "
        ),
        "{}",
        blob.message()
    );
}

#[tokio::test]
async fn first_host_then_guest_with_no_wire_server_snapshots_through_the_sas_uris() {
    let harness = Harness::start().await;
    harness.precreate("host-probe").await;
    let (extension, _statuses) = harness.extension();
    let settings = harness.fresh_for("host-probe", SnapshotMethod::FirstHostThenGuest);
    let report = Harness::run(&extension, 1, &settings).await;
    assert_eq!(code(&report), "1");
    let blob = harness.status_blob("host-probe").await.unwrap();
    assert!(blob.snapshots.iter().all(|s| s.is_successful));
    assert_eq!(
        blob.message(),
        "snapshotCreator=guestExtension, hostStatusCodePreSnapshot=555, "
    );
}
