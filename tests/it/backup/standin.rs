//! A VM stand-in for end-to-end backup tests: it registers a VM with the guest API, polls
//! the goal state for snapshot tasks and plays the in-VM side as the real VMSnapshotLinux
//! extension does (spec §1, §3.5, §4, §8): decrypts the protected settings with the openssl
//! CLI from `<thumbprint>.crt`/`.prv`, snapshots each disk through its SAS URI, and uploads
//! the status and log blobs under the extension's rules. Statuses can be forged to test
//! what the service refuses.
//!
//! Unlike the real extension it talks to the URLs as given (plain HTTP on their port); the
//! real one always uses HTTPS on 443.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::CONTENT_LENGTH;
use reqwest::StatusCode;
use serde_json::{json, Value};
use vaultsim_protocol::extension::codes;
use vaultsim_protocol::extension::settings::{
    decode_object_str, HandlerSettings, ObjectStrProtected, ObjectStrPublic, ProtectedSettings,
    PublicSettings,
};
use vaultsim_protocol::extension::status::{
    SnapshotInfo, StatusEntry, StatusFacts, TelemetryEntry,
};
use vaultsim_protocol::extension::timedelta;
use vaultsim_protocol::extension::{LINUX_TYPE, PUBLISHER, WINDOWS_TYPE};

const SNAPSHOT_EXTENSION_TYPES: [&str; 2] = [LINUX_TYPE, WINDOWS_TYPE];
/// What the extension reads from `/etc/azure/machine_identity_…`.
const UNIQUE_MACHINE_ID: &str = "7d3c8f0e-5a4b-4c2d-9e1f-000000000001";

/// A VM's key pair, as the guest agent keeps it: `<THUMBPRINT>.crt` and `<THUMBPRINT>.prv`
/// (PEM) in a directory of its own.
pub struct VmKeys {
    dir: tempfile::TempDir,
    pub certificate_pem: String,
    /// SHA-1 of the certificate's DER, upper-case hex, as openssl prints it.
    pub thumbprint: String,
}

impl VmKeys {
    /// A fresh RSA-2048 key and self-signed certificate from the openssl CLI.
    pub async fn generate() -> VmKeys {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("new.prv"), dir.path().join("new.crt"));
        let made = tokio::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
            .args(["-subj", "/CN=vaultsim-vm", "-days", "2", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .await
            .expect("openssl runs");
        assert!(made.status.success(), "openssl req failed");
        let fingerprint = tokio::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(&cert)
            .output()
            .await
            .expect("openssl runs");
        // "SHA1 Fingerprint=AB:CD:…"
        let printed = String::from_utf8(fingerprint.stdout).unwrap();
        let thumbprint = printed.trim().rsplit('=').next().unwrap().replace(':', "");
        let keys = VmKeys {
            certificate_pem: std::fs::read_to_string(&cert).unwrap(),
            thumbprint,
            dir,
        };
        std::fs::rename(&cert, keys.file(&keys.thumbprint, "crt")).unwrap();
        std::fs::rename(&key, keys.file(&keys.thumbprint, "prv")).unwrap();
        keys
    }

    fn file(&self, thumbprint: &str, extension: &str) -> PathBuf {
        self.dir.path().join(format!("{thumbprint}.{extension}"))
    }

    /// Decrypts handler settings' `protectedSettings` exactly as the extension does:
    /// `base64 -d <tmp> | openssl cms -inform DER -decrypt -recip <thumb>.crt -inkey
    /// <thumb>.prv`, the thumbprint taken verbatim from the settings.
    pub async fn decrypt(&self, settings: &HandlerSettings) -> Result<ProtectedSettings, String> {
        let json = self
            .decrypt_json(
                &settings.protected_settings_cert_thumbprint,
                &settings.protected_settings,
            )
            .await?;
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    /// [`Self::decrypt`] for any extension's protected settings: base64 `protected` to the
    /// certificate `thumbprint`, as JSON.
    pub async fn decrypt_json(&self, thumbprint: &str, protected: &str) -> Result<Value, String> {
        let encoded = self.dir.path().join("protected.b64");
        std::fs::write(&encoded, protected).unwrap();
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(r#"base64 -d "$1" | openssl cms -inform DER -decrypt -recip "$2" -inkey "$3""#)
            .arg("sh")
            .arg(&encoded)
            .arg(self.file(thumbprint, "crt"))
            .arg(self.file(thumbprint, "prv"))
            .output()
            .await
            .expect("sh runs");
        if !output.status.success() || output.stdout.is_empty() {
            return Err(format!(
                "openssl cms -decrypt failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
    }
}

/// A registered VM polling its goal state.
pub struct VmStandIn {
    pub vm_id: String,
    pub keys: VmKeys,
    guest_base: String,
    credential: String,
    http: reqwest::Client,
    incarnation: u64,
    /// The snapshot extension's last sequence number handed out as a task.
    last_sequence_number: Option<u64>,
}

impl VmStandIn {
    /// Registers a VM: `body` is the registration request without `certificate`, which the
    /// stand-in adds from a key pair it generates.
    /// `http` is the VM's client, for the guest API and the task's SAS URIs.
    pub async fn register(
        guest_base: &str,
        http: reqwest::Client,
        arm_token: &str,
        mut body: Value,
    ) -> VmStandIn {
        let keys = VmKeys::generate().await;
        body["certificate"] = json!(keys.certificate_pem);
        let response = http
            .post(format!("{guest_base}/machine/register"))
            .bearer_auth(arm_token)
            .json(&body)
            .send()
            .await
            .expect("the guest API answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::CREATED,
            "register: {status} {text}"
        );
        let registered: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            registered["certificateThumbprint"], keys.thumbprint,
            "the service's thumbprint must be openssl's"
        );
        VmStandIn {
            vm_id: registered["vmId"].as_str().unwrap().to_owned(),
            credential: registered["credential"].as_str().unwrap().to_owned(),
            keys,
            guest_base: guest_base.to_owned(),
            http,
            incarnation: 0,
            last_sequence_number: None,
        }
    }

    /// Polls the goal state until the snapshot extension appears with a sequence number
    /// not handed out before, then decrypts and decodes its settings. `None` if none came
    /// within `wait`.
    pub async fn next_task(&mut self, wait: Duration) -> Option<ReceivedTask> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return None;
            }
            let wait_seconds = remaining.as_secs().clamp(1, 30);
            let response = self
                .http
                .get(format!("{}/machine/goalstate", self.guest_base))
                .query(&[
                    ("incarnation", self.incarnation),
                    ("waitSeconds", wait_seconds),
                ])
                .bearer_auth(&self.credential)
                .timeout(Duration::from_secs(wait_seconds + 10))
                .send()
                .await
                .expect("the guest API answers");
            assert_eq!(response.status(), StatusCode::OK, "goal state");
            let goal_state: Value = response.json().await.unwrap();
            self.incarnation = goal_state["incarnation"].as_u64().expect("incarnation");
            let Some(extension) = snapshot_extension(&goal_state) else {
                continue;
            };
            let sequence_number = extension["sequenceNumber"]
                .as_u64()
                .expect("sequenceNumber");
            if self
                .last_sequence_number
                .is_some_and(|last| sequence_number <= last)
            {
                continue;
            }
            self.last_sequence_number = Some(sequence_number);
            let handler_settings: HandlerSettings = serde_json::from_value(
                extension["settings"]["runtimeSettings"][0]["handlerSettings"].clone(),
            )
            .expect("handler settings in the extension's shape");
            let name = extension["name"]
                .as_str()
                .expect("extension name")
                .to_owned();
            let task = ReceivedTask::open(
                &self.keys,
                self.http.clone(),
                name,
                sequence_number,
                handler_settings,
            )
            .await
            .expect("the task decrypts with the VM's key");
            return Some(task);
        }
    }

    /// The VM's guest API credential.
    pub fn credential(&self) -> &str {
        &self.credential
    }

    /// Reports the handler's local status file (`status/<seq>.status`) to the guest API,
    /// as the guest agent does after each status the extension writes.
    pub async fn report_status_file(&self, task: &ReceivedTask, status: &StatusEntry) {
        let response = self
            .http
            .put(format!(
                "{}/machine/extensions/{}/status",
                self.guest_base, task.extension_name
            ))
            .bearer_auth(&self.credential)
            .json(&status.to_status_file(Utc::now()))
            .send()
            .await
            .expect("the guest API answers");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "status file");
    }
}

/// The snapshot extension in a goal state, if it is there and enabled.
fn snapshot_extension(goal_state: &Value) -> Option<&Value> {
    goal_state["extensions"]
        .as_array()?
        .iter()
        .find(|extension| {
            extension["publisher"] == PUBLISHER
                && SNAPSHOT_EXTENSION_TYPES
                    .iter()
                    .any(|t| extension["type"] == *t)
                && extension["state"] == "enabled"
        })
}

/// A snapshot task as the VM received it, decrypted and decoded.
pub struct ReceivedTask {
    /// The extension's name in the goal state.
    pub extension_name: String,
    pub sequence_number: u64,
    pub public: PublicSettings,
    pub public_object: ObjectStrPublic,
    pub protected: ProtectedSettings,
    /// Disk SAS URIs in the order the task lists them.
    pub disk_sas_uris: Vec<String>,
    http: reqwest::Client,
    /// Blobs found writable by a first GET; like the extension, checked once per run.
    writable_blobs: HashSet<String>,
}

impl ReceivedTask {
    /// Decrypts and decodes the settings of one task.
    pub async fn open(
        keys: &VmKeys,
        http: reqwest::Client,
        extension_name: String,
        sequence_number: u64,
        handler_settings: HandlerSettings,
    ) -> Result<ReceivedTask, String> {
        let protected = keys.decrypt(&handler_settings).await?;
        let public = handler_settings.public_settings;
        let public_object = decode_object_str(&public.object_str).map_err(|e| e.to_string())?;
        let disks: ObjectStrProtected =
            decode_object_str(&protected.object_str).map_err(|e| e.to_string())?;
        Ok(ReceivedTask {
            extension_name,
            sequence_number,
            public,
            public_object,
            protected,
            disk_sas_uris: disks.blob_sas_uri,
            http,
            writable_blobs: HashSet::new(),
        })
    }

    /// Snapshots every disk as the guest path does: `PUT <sas>&comp=snapshot` with
    /// `Content-Length: 0` and `x-ms-meta-<Key>` per backup metadata entry, no
    /// `x-ms-version`, no retry.
    pub async fn snapshot_disks(&self) -> Vec<SnapshotInfo> {
        let mut snapshots = Vec::with_capacity(self.disk_sas_uris.len());
        for sas_uri in &self.disk_sas_uris {
            let blob_uri = sas_uri.split('?').next().unwrap().to_owned();
            let mut request = self
                .http
                .put(format!("{sas_uri}&comp=snapshot"))
                .header(CONTENT_LENGTH, "0");
            for entry in &self.public_object.backup_metadata {
                request = request.header(format!("x-ms-meta-{}", entry.key), &entry.value);
            }
            let response = request.send().await.expect("the blob endpoint answers");
            let info = match response.status() {
                StatusCode::OK | StatusCode::CREATED => {
                    let snapshot = response.headers()["x-ms-snapshot"].to_str().unwrap();
                    SnapshotInfo {
                        is_successful: true,
                        snapshot_uri: Some(format!("{blob_uri}?snapshot={snapshot}")),
                        error_message: None,
                        blob_uri: Some(blob_uri),
                        direct_drive_snapshot_identifier: None,
                    }
                }
                _ => SnapshotInfo {
                    is_successful: false,
                    snapshot_uri: Some(blob_uri.clone()),
                    error_message: Some(response.text().await.unwrap_or_default()),
                    blob_uri: Some(blob_uri),
                    direct_drive_snapshot_identifier: None,
                },
            };
            snapshots.push(info);
        }
        snapshots
    }

    /// Uploads a status to the status blob.
    pub async fn write_status(&mut self, status: &StatusEntry) -> Result<(), String> {
        let uri = self.protected.status_blob_uri.clone();
        self.upload(&uri, status.to_blob_bytes()).await
    }

    /// Uploads the log text to the log blob, replacing what is there.
    pub async fn write_logs(&mut self, text: &str) -> Result<(), String> {
        let uri = self.protected.logs_blob_uri.clone();
        self.upload(&uri, text.as_bytes().to_vec()).await
    }

    /// The extension's block-blob upload: the first GET must answer 200 for an empty block
    /// blob (a page blob is written differently, which the stand-in does not do; a missing
    /// blob fails the upload), then one `PUT` with `x-ms-blob-type: BlockBlob`.
    async fn upload(&mut self, sas_uri: &str, body: Vec<u8>) -> Result<(), String> {
        if !self.writable_blobs.contains(sas_uri) {
            let probe = self
                .http
                .get(sas_uri)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if probe.status() != StatusCode::OK {
                return Err(format!("GET answered {}", probe.status()));
            }
            let header = |name: &str| {
                probe
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if header("x-ms-blob-type").as_deref() != Some("BlockBlob") {
                return Err("not a block blob".to_owned());
            }
            if header("content-length").as_deref() != Some("0") {
                return Err("the block blob is not empty".to_owned());
            }
            self.writable_blobs.insert(sas_uri.to_owned());
        }
        let response = self
            .http
            .put(sas_uri)
            .header("x-ms-blob-type", "BlockBlob")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => Ok(()),
            other => Err(format!("PUT answered {other}")),
        }
    }

    /// A status for this task with `code` (see [`codes`]); refine it, then `build`.
    pub fn status(&self, code: u32) -> StatusBuilder {
        StatusBuilder {
            facts: StatusFacts {
                handler_name: format!("{PUBLISHER}.{}", self.extension_type()),
                task_id: self.public.task_id.clone(),
                command_start_time_utc_ticks: self.public.command_start_time_utc_ticks.clone(),
                code,
                health_status_code: code,
                message: String::new(),
                crash_consistent: false,
                snapshots: (code != codes::TRANSITIONING).then(Vec::new),
                unique_machine_id: UNIQUE_MACHINE_ID.to_owned(),
                timestamp: Utc::now(),
            },
            telemetry: Vec::new(),
        }
    }

    fn extension_type(&self) -> &'static str {
        SNAPSHOT_EXTENSION_TYPES
            .into_iter()
            .find(|t| self.extension_name.ends_with(t))
            .unwrap_or(SNAPSHOT_EXTENSION_TYPES[0])
    }

    /// The transitioning status (code 4) written before the freeze.
    pub fn transitioning_status(&self) -> StatusEntry {
        self.status(codes::TRANSITIONING)
            .message("Transitioning state in extension")
            .build()
    }

    /// An application-consistent success (code 0), the file systems frozen for the
    /// snapshot as the real extension's telemetry tells it.
    pub fn app_consistent_status(&self, snapshots: &[SnapshotInfo]) -> StatusEntry {
        self.status(codes::SUCCESS_APP_CONSISTENT)
            .snapshots(snapshots)
            .frozen(FROZEN_SNAPSHOT, FROZEN_THAW)
            .build()
    }

    /// A file-system-consistent success (code 1).
    pub fn file_system_consistent_status(&self, snapshots: &[SnapshotInfo]) -> StatusEntry {
        self.status(codes::SUCCESS).snapshots(snapshots).build()
    }

    /// A failure with `code`, e.g. 121 for a freeze that failed.
    pub fn error_status(&self, code: u32, message: &str) -> StatusEntry {
        self.status(code).message(message).build()
    }
}

/// How long the stand-in's snapshot takes while the file systems are frozen, and their
/// thaw: 125 ms frozen in all.
pub const FROZEN_SNAPSHOT: Duration = Duration::from_millis(120);
pub const FROZEN_THAW: Duration = Duration::from_millis(5);

/// Shapes a status, including the forgeries the service must refuse.
pub struct StatusBuilder {
    facts: StatusFacts,
    telemetry: Vec<TelemetryEntry>,
}

impl StatusBuilder {
    pub fn snapshots(mut self, snapshots: &[SnapshotInfo]) -> Self {
        self.facts.snapshots = Some(snapshots.to_vec());
        self
    }

    pub fn message(mut self, message: &str) -> Self {
        self.facts.message = message.to_owned();
        self
    }

    /// Code 1 with `snapshotConsistency` 3: the single-disk crash-consistent fallback.
    pub fn crash_consistent(mut self) -> Self {
        self.facts.crash_consistent = true;
        self
    }

    /// Forgery: a status for another task.
    pub fn task_id(mut self, task_id: &str) -> Self {
        self.facts.task_id = task_id.to_owned();
        self
    }

    /// The telemetry of a freeze around the snapshot: `FreezeTime`, `snapshotTimeTaken`
    /// (taken while frozen) and `ThawTime`, as Python `timedelta` text.
    pub fn frozen(mut self, snapshot: Duration, thaw: Duration) -> Self {
        for (key, duration) in [
            ("FreezeTime", Duration::from_millis(20)),
            ("snapshotTimeTaken", snapshot),
            ("ThawTime", thaw),
        ] {
            self.telemetry.push(TelemetryEntry {
                value: timedelta::text(duration),
                key: key.to_owned(),
            });
        }
        self
    }

    pub fn build(self) -> StatusEntry {
        let mut status = StatusEntry::new(self.facts);
        status.status.telemetry_data.extend(self.telemetry);
        status
    }
}

/// Forgery: the same disk, reported as snapshotted at a time no snapshot was taken.
pub fn nonexistent_snapshot(real: &SnapshotInfo) -> SnapshotInfo {
    let blob_uri = real.blob_uri.clone().expect("a blob URI");
    SnapshotInfo {
        snapshot_uri: Some(format!("{blob_uri}?snapshot=2001-01-01T00:00:00.0000000Z")),
        ..real.clone()
    }
}

mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use chrono::{DateTime, Duration};
    use reqwest::Method;
    use vaultsim::config::DEV_ACCOUNT_KEY;
    use vaultsim::control::minting::{mint_task, MintedTask, TaskDisk, TaskInput};
    use vaultsim_protocol::disk::OS_DISK_LUN;
    use vaultsim_protocol::extension::status::{parse_status_blob, SnapshotConsistency};

    use super::*;
    use crate::helpers::{BlobClient, TestApp, ACCOUNT};

    const JOB: &str = "5f0c7a7e-1b2c-4d3e-8f90-a1b2c3d4e5f6";

    fn disks() -> Vec<TaskDisk> {
        vec![
            TaskDisk {
                lun: OS_DISK_LUN,
                container: "vhds".into(),
                blob: "vm1-os.vhd".into(),
                account: None,
            },
            TaskDisk {
                lun: 0,
                container: "vhds".into(),
                blob: "vm1 data 0.vhd".into(),
                account: None,
            },
        ]
    }

    fn mint(keys: &VmKeys, endpoint: &str, now: DateTime<Utc>) -> MintedTask {
        let key = STANDARD.decode(DEV_ACCOUNT_KEY).unwrap();
        let disks = disks();
        mint_task(&TaskInput {
            job_id: JOB,
            attempt: 1,
            command_start: now,
            os_type: "Linux",
            disks: &disks,
            status_container: "status",
            status_blob: "task/status",
            logs_blob: "task/logs",
            blob_endpoint: endpoint,
            account_name: ACCOUNT,
            account_key: &key,
            sas_start: now - Duration::minutes(5),
            sas_expiry: now + Duration::hours(1),
            certificate_pem: &keys.certificate_pem,
            backup_metadata: vec![("BackupJobId".into(), JOB.into())],
            snapshot_task_token: "token",
            snapshot_method: Default::default(),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_minted_task_opens_with_the_vms_key_as_the_extension_opens_it() {
        let keys = VmKeys::generate().await;
        let task = mint(&keys, "http://127.0.0.1:1/devstoreaccount1", Utc::now());
        assert_eq!(
            task.handler_settings()
                .unwrap()
                .protected_settings_cert_thumbprint,
            keys.thumbprint
        );

        let received = ReceivedTask::open(
            &keys,
            reqwest::Client::new(),
            task.extension.name.clone(),
            1,
            task.handler_settings().unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(received.sequence_number, 1);
        assert_eq!(received.public.task_id, format!("{JOB}_1"));
        assert_eq!(received.public_object.backup_metadata[0].value, JOB);
        assert_eq!(received.disk_sas_uris.len(), 2);
        assert!(received.disk_sas_uris[1]
            .starts_with("http://127.0.0.1:1/devstoreaccount1/vhds/vm1%20data%200.vhd?"));
        assert!(received
            .protected
            .status_blob_uri
            .contains("/status/task/status?"));
        assert!(received
            .protected
            .logs_blob_uri
            .contains("/status/task/logs?"));
        assert_eq!(
            received.status(0).build().status.name,
            "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
        );

        let other_keys = VmKeys::generate().await;
        let opened = ReceivedTask::open(
            &other_keys,
            reqwest::Client::new(),
            task.extension.name.clone(),
            1,
            task.handler_settings().unwrap(),
        )
        .await;
        assert!(
            opened.is_err(),
            "a VM without the certificate's key cannot open the task"
        );
    }

    async fn blob_endpoint_with_disks(client: &BlobClient) {
        for container in ["vhds", "status"] {
            assert_eq!(client.create_container(container).await.status(), 201);
        }
        for disk in disks() {
            let path = format!("/vhds/{}", disk.blob.replace(' ', "%20"));
            assert_eq!(client.create_page_blob(&path, 4096).await.status(), 201);
            let written = client.try_put_page(&path, 0, vec![7; 512]).await.unwrap();
            assert_eq!(written.status(), 201);
        }
        for blob in ["/status/task/status", "/status/task/logs"] {
            assert_eq!(client.put_block_blob(blob, vec![]).await.status(), 201);
        }
    }

    #[tokio::test]
    async fn the_stand_in_snapshots_disks_and_uploads_status_through_the_sas_uris() {
        let app = TestApp::spawn().await;
        blob_endpoint_with_disks(&app.client).await;
        let keys = VmKeys::generate().await;
        let endpoint = format!("http://{}/{ACCOUNT}", app.client.addr);
        let minted = mint(&keys, &endpoint, Utc::now());
        let mut task = ReceivedTask::open(
            &keys,
            reqwest::Client::new(),
            minted.extension.name.clone(),
            1,
            minted.handler_settings().unwrap(),
        )
        .await
        .unwrap();

        task.write_status(&task.transitioning_status())
            .await
            .unwrap();
        let transitioning = parse_status_blob(
            &app.client
                .get_blob("/status/task/status")
                .await
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        assert!(transitioning.is_transitioning());
        task.write_logs("started\n").await.unwrap();

        let snapshots = task.snapshot_disks().await;
        assert_eq!(snapshots.len(), 2);
        assert!(snapshots.iter().all(|s| s.is_successful), "{snapshots:?}");

        // The later write passes the first GET's check, as in the extension's daemon.
        task.write_status(&task.app_consistent_status(&snapshots))
            .await
            .unwrap();
        let report = parse_status_blob(
            &app.client
                .get_blob("/status/task/status")
                .await
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(report.task_id, format!("{JOB}_1"));
        assert_eq!(
            report.consistency(),
            Some(SnapshotConsistency::ApplicationConsistent)
        );
        let snapshot_time = report.snapshots[0].snapshot_time.clone().unwrap();
        let snapshot = app
            .client
            .send(
                Method::GET,
                "/vhds/vm1-os.vhd",
                &format!("snapshot={snapshot_time}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(snapshot.status(), 200);
        assert_eq!(snapshot.headers()["x-ms-meta-BackupJobId"], JOB);
        assert_eq!(&snapshot.bytes().await.unwrap()[..512], &[7; 512][..]);

        // A second run of the extension finds the blob written and refuses, as the real one does.
        let mut rerun = ReceivedTask::open(
            &keys,
            reqwest::Client::new(),
            minted.extension.name.clone(),
            2,
            minted.handler_settings().unwrap(),
        )
        .await
        .unwrap();
        let refused = rerun
            .write_status(&rerun.file_system_consistent_status(&snapshots))
            .await;
        assert_eq!(refused.unwrap_err(), "the block blob is not empty");
    }

    #[tokio::test]
    async fn forged_statuses_say_what_they_forge() {
        let keys = VmKeys::generate().await;
        let minted = mint(&keys, "http://127.0.0.1:1/devstoreaccount1", Utc::now());
        let task = ReceivedTask::open(
            &keys,
            reqwest::Client::new(),
            minted.extension.name.clone(),
            1,
            minted.handler_settings().unwrap(),
        )
        .await
        .unwrap();
        let real = SnapshotInfo {
            is_successful: true,
            snapshot_uri: Some(
                "http://h/devstoreaccount1/vhds/os.vhd?snapshot=2026-01-01T00:00:00.0000001Z"
                    .into(),
            ),
            error_message: None,
            blob_uri: Some("http://h/devstoreaccount1/vhds/os.vhd".into()),
            direct_drive_snapshot_identifier: None,
        };
        let forged = task
            .status(codes::SUCCESS)
            .snapshots(&[nonexistent_snapshot(&real)])
            .task_id("someone-else_1")
            .crash_consistent()
            .build();
        let report = parse_status_blob(&forged.to_blob_bytes()).unwrap();
        assert_eq!(report.task_id, "someone-else_1");
        assert_eq!(
            report.snapshots[0].snapshot_time.as_deref(),
            Some("2001-01-01T00:00:00.0000000Z")
        );
        assert_eq!(
            report.consistency(),
            Some(SnapshotConsistency::CrashConsistent)
        );

        let failed =
            parse_status_blob(&task.error_status(121, "freeze failed").to_blob_bytes()).unwrap();
        assert_eq!(failed.code, 121);
        assert_eq!(failed.message(), "freeze failed");

        let file = task
            .app_consistent_status(&[real])
            .to_status_file(Utc::now());
        assert_eq!(file[0]["status"]["status"], "success");
        let nested = file[0]["status"]["substatus"][0]["name"].as_str().unwrap();
        assert_eq!(parse_status_blob(nested.as_bytes()).unwrap().code, 0);
    }
}
