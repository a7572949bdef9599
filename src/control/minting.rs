//! The task the snapshot extension receives for one backup attempt: public settings
//! (`taskId`, ticks, public `objectStr`), protected settings (disk, status and log blob SAS
//! URIs) encrypted to the VM's certificate, and which extension runs them.
//!
//! SAS URIs are secrets: nothing here derives `Debug` over them or the account key.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::zeroize::Zeroizing;
use secrecy::ExposeSecret;
use vaultsim_protocol::disk::OS_DISK_LUN;
use vaultsim_protocol::extension::host_snapshot::SnapshotMethod;
use vaultsim_protocol::extension::settings::{
    encode_object_str, HandlerSettings, IncludedDisks, KeyValue, ObjectStrProtected,
    ObjectStrPublic, ProtectedSettings, PublicSettings, COMMAND_SNAPSHOT, VM_TYPE_ARM,
};
use vaultsim_protocol::extension::ticks::ticks_string;
use vaultsim_protocol::extension::{LINUX_TYPE, PUBLISHER, WINDOWS_TYPE};
use vaultsim_protocol::sas::{Permission, Permissions, SasProtocol, ServiceSasBuilder};

use super::cms::{CmsError, Recipient};
use crate::guest::{SettingsSeal, SEALED_PROTECTED_SETTINGS};
use crate::storage::AccountAccess;

/// Blob names in URL paths: everything but unreserved characters and `/` (virtual
/// directories) is escaped.
const BLOB_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// One disk to snapshot: its page blob in the blob endpoint.
#[derive(Clone, Debug)]
pub struct TaskDisk {
    /// [`OS_DISK_LUN`] for the OS disk.
    pub lun: i64,
    pub container: String,
    pub blob: String,
    /// The disk's account when it is not the task's (the status and log blobs'): its
    /// SAS URI is signed for that account.
    pub account: Option<Arc<DiskAccount>>,
}

/// Another account a disk lives in, and how its clock stands to the task's account's.
#[derive(Clone, Debug)]
pub struct DiskAccount {
    pub access: AccountAccess,
    /// That account's skew less the task account's: the disk's SAS window is the task's
    /// moved by it.
    pub skew_from_task: TimeDelta,
}

/// How far before its minting a task's SAS starts (`st`): slack for VM clocks that run
/// behind the service's. Expiring SAS tokens (`/_sim/faults/expire-sas`) dates a token by it.
pub const SAS_START_BACKDATE: TimeDelta = TimeDelta::minutes(5);

/// Everything a task is minted from.
pub struct TaskInput<'a> {
    /// Lower-case GUID of the backup job.
    pub job_id: &'a str,
    /// 1 for the first try; the extension drops a taskId it has seen.
    pub attempt: u32,
    /// The scheduled start; the extension refuses to run 140 minutes after it.
    pub command_start: DateTime<Utc>,
    /// "Linux" or "Windows".
    pub os_type: &'a str,
    /// Snapshot order; the extension reports snapshots in the same order.
    pub disks: &'a [TaskDisk],
    pub status_container: &'a str,
    pub status_blob: &'a str,
    pub logs_blob: &'a str,
    /// e.g. `http://127.0.0.1:10000/devstoreaccount1`.
    pub blob_endpoint: &'a str,
    pub account_name: &'a str,
    /// Decoded account key bytes.
    pub account_key: &'a [u8],
    pub sas_start: DateTime<Utc>,
    pub sas_expiry: DateTime<Utc>,
    /// The VM's certificate, to which the protected settings are encrypted.
    pub certificate_pem: &'a str,
    /// Sent back by the extension as `x-ms-meta-<Key>` on each snapshot.
    pub backup_metadata: Vec<(String, String)>,
    /// The public objectStr's `snapshotTaskToken`, which the host snapshot calls present.
    pub snapshot_task_token: &'a str,
    /// `customSettings.takeSnapshotFrom`: whether the extension snapshots through the disk
    /// SAS URIs, asks the host (the guest API's presnapshot/dosnapshot), or tries both.
    pub snapshot_method: SnapshotMethod,
}

impl fmt::Debug for TaskInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInput")
            .field("job_id", &self.job_id)
            .field("attempt", &self.attempt)
            .field("command_start", &self.command_start)
            .field("os_type", &self.os_type)
            .field("disks", &self.disks)
            .field("status_container", &self.status_container)
            .field("status_blob", &self.status_blob)
            .field("logs_blob", &self.logs_blob)
            .field("blob_endpoint", &self.blob_endpoint)
            .field("account_name", &self.account_name)
            .field("account_key", &"<redacted>")
            .field("sas_start", &self.sas_start)
            .field("sas_expiry", &self.sas_expiry)
            .field("backup_metadata", &self.backup_metadata)
            .field("snapshot_task_token", &"<redacted>")
            .field("snapshot_method", &self.snapshot_method)
            .finish_non_exhaustive()
    }
}

/// Which extension handles the task, as ARM and the guest agent name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionIdentity {
    pub publisher: &'static str,
    pub extension_type: &'static str,
    /// major.minor, as in the docs' templates (the published Linux build is 1.0.9184.0).
    pub type_handler_version: &'static str,
    /// The ARM resource name Azure Backup installs it under (what `az vm extension list`
    /// shows).
    pub name: String,
}

impl ExtensionIdentity {
    /// `<publisher>.<type>`: the handler name the guest agent and the status use.
    pub fn handler_name(&self) -> String {
        format!("{}.{}", self.publisher, self.extension_type)
    }
}

/// The snapshot extension for an OS type: VMSnapshot 1.9 on Windows (vmsnapshot-windows.md),
/// VMSnapshotLinux 1.0 on anything else (vmsnapshot-linux.md).
pub fn extension_identity(os_type: &str) -> ExtensionIdentity {
    let (extension_type, type_handler_version) = if os_type.eq_ignore_ascii_case("windows") {
        (WINDOWS_TYPE, "1.9")
    } else {
        (LINUX_TYPE, "1.0")
    };
    ExtensionIdentity {
        publisher: PUBLISHER,
        extension_type,
        type_handler_version,
        name: extension_type.to_owned(),
    }
}

/// A task ready to put in the VM's goal state.
pub struct MintedTask {
    /// `<job_id>_<attempt>`.
    pub task_id: String,
    pub extension: ExtensionIdentity,
    pub public_settings: PublicSettings,
    /// The public settings as ARM shows them (`properties.settings`); holds no secret.
    pub public_settings_json: serde_json::Value,
    /// The protected settings as JSON: SAS URIs, secrets.
    protected_json: Zeroizing<Vec<u8>>,
    /// The VM's certificate, parsed when the task is minted: one nothing can be encrypted
    /// to fails the task then, not when its agent fetches it.
    recipient: Recipient,
}

impl MintedTask {
    /// The handler settings the extension receives: the protected settings encrypted to
    /// the VM's certificate (CMS, base64) with its thumbprint.
    pub fn handler_settings(&self) -> Result<HandlerSettings, CmsError> {
        Ok(HandlerSettings {
            protected_settings_cert_thumbprint: self.recipient.thumbprint().to_owned(),
            protected_settings: STANDARD.encode(self.recipient.encrypt(&self.protected_json)?),
            public_settings: self.public_settings.clone(),
        })
    }

    /// The handler settings as the goal state keeps them until the agent of `vm_id`
    /// fetches them: the protected settings sealed ([`crate::guest::open_for_agent`] encrypts
    /// them to the VM's certificate then).
    pub fn sealed_handler_settings(&self, seal: &SettingsSeal, vm_id: &str) -> serde_json::Value {
        serde_json::json!({
            "publicSettings": self.public_settings_json,
            SEALED_PROTECTED_SETTINGS: seal.seal(vm_id, &self.protected_json),
        })
    }
}

impl fmt::Debug for MintedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedTask")
            .field("task_id", &self.task_id)
            .field("extension", &self.extension)
            .field("public_settings", &self.public_settings)
            .field("certificate_thumbprint", &self.recipient.thumbprint())
            .finish_non_exhaustive()
    }
}

/// Why a task could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("job id must be a lower-case GUID")]
    JobId,
    #[error("OS type must be Linux or Windows")]
    OsType,
    #[error("a task needs at least one disk")]
    NoDisks,
    #[error("the SAS expiry must be after its start")]
    SasWindow,
    #[error(transparent)]
    Certificate(#[from] CmsError),
}

/// Mints the task: least-privilege SAS URIs (status and log blobs `rw`, since the extension
/// reads them before writing; disks `c`, enough for Snapshot Blob), the settings, and the
/// protected settings, to be encrypted to the VM's certificate (checked here).
pub fn mint_task(input: &TaskInput) -> Result<MintedTask, MintError> {
    validate(input)?;
    let task_id = format!("{}_{}", input.job_id, input.attempt);
    let read_write = Permissions::NONE
        .with(Permission::Read)
        .with(Permission::Write);
    let create = Permissions::NONE.with(Permission::Create);
    let sas_uri = |container: &str, blob: &str, permissions, account: Option<&DiskAccount>| {
        let (endpoint, name, key, skew) = match account {
            Some(other) => (
                other.access.endpoint.as_str(),
                other.access.name.as_str(),
                other.access.key.expose_secret(),
                other.skew_from_task,
            ),
            None => (
                input.blob_endpoint,
                input.account_name,
                input.account_key,
                TimeDelta::zero(),
            ),
        };
        let mut builder =
            ServiceSasBuilder::for_blob(container, blob, permissions, input.sas_expiry + skew)
                .start(input.sas_start + skew);
        // A task handed out over HTTPS must not work in clear text: Azure's are `spr=https`.
        if endpoint.starts_with("https://") {
            builder = builder.protocol(SasProtocol::Https);
        }
        let query = builder.query_string(name, key);
        format!("{}?{query}", blob_url(endpoint, container, blob))
    };

    let protected = ProtectedSettings {
        object_str: encode_object_str(&ObjectStrProtected {
            blob_sas_uri: input
                .disks
                .iter()
                .map(|disk| sas_uri(&disk.container, &disk.blob, create, disk.account.as_deref()))
                .collect(),
        }),
        logs_blob_uri: sas_uri(input.status_container, input.logs_blob, read_write, None),
        status_blob_uri: sas_uri(input.status_container, input.status_blob, read_write, None),
    };
    let protected_json =
        Zeroizing::new(serde_json::to_vec(&protected).expect("settings serialize to JSON"));
    let recipient = Recipient::from_pem(input.certificate_pem)?;

    let public = PublicSettings {
        task_id: task_id.clone(),
        command_to_execute: COMMAND_SNAPSHOT.to_owned(),
        command_start_time_utc_ticks: ticks_string(input.command_start),
        locale: "en-us".to_owned(),
        vm_type: VM_TYPE_ARM.to_owned(),
        object_str: encode_object_str(&public_object(input)),
        custom_settings: Some(input.snapshot_method.custom_settings()),
    };
    let public_settings_json = serde_json::to_value(&public).expect("settings serialize");
    Ok(MintedTask {
        task_id,
        extension: extension_identity(input.os_type),
        public_settings: public,
        public_settings_json,
        protected_json,
        recipient,
    })
}

fn validate(input: &TaskInput) -> Result<(), MintError> {
    let is_guid = uuid::Uuid::try_parse(input.job_id).is_ok()
        && input.job_id.len() == 36
        && !input.job_id.bytes().any(|b| b.is_ascii_uppercase());
    if !is_guid {
        return Err(MintError::JobId);
    }
    if !["linux", "windows"]
        .iter()
        .any(|os| input.os_type.eq_ignore_ascii_case(os))
    {
        return Err(MintError::OsType);
    }
    if input.disks.is_empty() {
        return Err(MintError::NoDisks);
    }
    if input.sas_expiry <= input.sas_start {
        return Err(MintError::SasWindow);
    }
    Ok(())
}

/// The public `objectStr`: backup metadata, the task token, and the disks by LUN.
fn public_object(input: &TaskInput) -> ObjectStrPublic {
    ObjectStrPublic {
        backup_metadata: input
            .backup_metadata
            .iter()
            .map(|(key, value)| KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        // Public, as Azure's is: the extension sends it back to the host.
        snapshot_task_token: Some(input.snapshot_task_token.to_owned()),
        included_disks: Some(IncludedDisks {
            data_disk_lun_list: input
                .disks
                .iter()
                .map(|disk| disk.lun)
                .filter(|&lun| lun != OS_DISK_LUN)
                .collect(),
            is_os_disk_included: input.disks.iter().any(|disk| disk.lun == OS_DISK_LUN),
            ..IncludedDisks::default()
        }),
    }
}

/// A blob's URL in an account (`endpoint`), its names escaped as in the SAS URIs.
pub fn blob_url(endpoint: &str, container: &str, blob: &str) -> String {
    format!(
        "{}/{}/{}",
        endpoint.trim_end_matches('/'),
        utf8_percent_encode(container, BLOB_PATH),
        utf8_percent_encode(blob, BLOB_PATH)
    )
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::process::Command;

    use chrono::{Duration, TimeZone};
    use percent_encoding::percent_decode_str;
    use vaultsim_protocol::extension::settings::decode_object_str;
    use vaultsim_protocol::extension::ticks::parse_ticks_string;
    use vaultsim_protocol::sas::{SasRequest, ServiceSas, SignedResource};

    use super::*;
    use crate::control::cms::tests::openssl_key_pair;

    const ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";
    const ACCOUNT: &str = "devstoreaccount1";
    const KEY: &[u8] = b"an account key of some thirty-two bytes";
    const JOB: &str = "0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";
    const TOKEN: &str = "a-task-token-nobody-guesses";

    fn disks() -> Vec<TaskDisk> {
        vec![
            TaskDisk {
                lun: OS_DISK_LUN,
                container: "vhds".into(),
                blob: "vm1 os.vhd".into(),
                account: None,
            },
            TaskDisk {
                lun: 2,
                container: "vhds".into(),
                blob: "data/disk+2.vhd".into(),
                account: None,
            },
        ]
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 22, 0, 0).unwrap()
    }

    fn input<'a>(certificate_pem: &'a str, disks: &'a [TaskDisk]) -> TaskInput<'a> {
        TaskInput {
            job_id: JOB,
            attempt: 2,
            command_start: start() + Duration::milliseconds(1234),
            os_type: "Linux",
            disks,
            status_container: "vaultsim-status",
            status_blob: "task/status",
            logs_blob: "task/logs",
            blob_endpoint: ENDPOINT,
            account_name: ACCOUNT,
            account_key: KEY,
            sas_start: start() - Duration::minutes(5),
            sas_expiry: start() + Duration::hours(3),
            certificate_pem,
            backup_metadata: vec![("BackupJobId".into(), JOB.into())],
            snapshot_task_token: TOKEN,
            snapshot_method: SnapshotMethod::FirstHostThenGuest,
        }
    }

    /// Decrypts the protected settings the way the extension does.
    fn decrypt(
        task: &MintedTask,
        dir: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> ProtectedSettings {
        let envelope = dir.join("protected.der");
        let der = STANDARD
            .decode(&task.handler_settings().unwrap().protected_settings)
            .unwrap();
        std::fs::write(&envelope, der).unwrap();
        let output = Command::new("openssl")
            .args(["cms", "-inform", "DER", "-decrypt", "-in"])
            .arg(&envelope)
            .arg("-recip")
            .arg(cert)
            .arg("-inkey")
            .arg(key)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Checks a minted SAS URL as the blob endpoint would, at `now`.
    fn check_sas(
        url: &str,
        container: &str,
        blob: &str,
        now: DateTime<Utc>,
    ) -> Result<vaultsim_protocol::sas::GrantedSas, vaultsim_protocol::sas::SasError> {
        check_sas_from(ENDPOINT, url, container, blob, now, false)
    }

    /// Checks a SAS URL minted for `endpoint`, as a request arriving over HTTPS or not.
    fn check_sas_from(
        endpoint: &str,
        url: &str,
        container: &str,
        blob: &str,
        now: DateTime<Utc>,
        https: bool,
    ) -> Result<vaultsim_protocol::sas::GrantedSas, vaultsim_protocol::sas::SasError> {
        check_sas_of((ACCOUNT, KEY), endpoint, url, container, blob, now, https)
    }

    /// [`check_sas_from`] for an account of its own (`(name, key)`).
    fn check_sas_of(
        (account, account_key): (&str, &[u8]),
        endpoint: &str,
        url: &str,
        container: &str,
        blob: &str,
        now: DateTime<Utc>,
        https: bool,
    ) -> Result<vaultsim_protocol::sas::GrantedSas, vaultsim_protocol::sas::SasError> {
        let (path, query) = url.split_once('?').unwrap();
        let expected_path = format!(
            "{endpoint}/{container}/{}",
            utf8_percent_encode(blob, BLOB_PATH)
        );
        assert_eq!(path, expected_path);
        let decoded_path = percent_decode_str(path).decode_utf8().unwrap();
        assert!(decoded_path.ends_with(&format!("/{container}/{blob}")));
        let pairs: Vec<(String, String)> = query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (
                    k.to_owned(),
                    percent_decode_str(v).decode_utf8().unwrap().into_owned(),
                )
            })
            .collect();
        let sas = ServiceSas::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap()
            .unwrap();
        assert_eq!(sas.sr, SignedResource::Blob);
        sas.check(
            &SasRequest {
                account,
                container,
                blob: Some(blob),
                snapshot: None,
                https,
                client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                now,
            },
            &[account_key],
            |_| None,
        )
    }

    #[test]
    fn a_disk_in_another_account_gets_that_accounts_sas_in_that_accounts_time() {
        const OTHER_ENDPOINT: &str = "https://127.0.0.1:20443/second";
        const OTHER_KEY: &[u8] = b"the second account's own key bytes";
        let dir = tempfile::tempdir().unwrap();
        let (pem, cert, key) = openssl_key_pair(dir.path());
        let mut disks = disks();
        disks[1].account = Some(Arc::new(DiskAccount {
            access: AccountAccess {
                name: "second".to_owned(),
                endpoint: OTHER_ENDPOINT.to_owned(),
                key: OTHER_KEY.to_vec().into(),
            },
            skew_from_task: Duration::days(-30),
        }));
        let task = mint_task(&input(&pem, &disks)).unwrap();
        let protected = decrypt(&task, dir.path(), &cert, &key);
        let uris: ObjectStrProtected = decode_object_str(&protected.object_str).unwrap();

        let second = &disks[1];
        let then = start() - Duration::days(30);
        let granted = check_sas_of(
            ("second", OTHER_KEY),
            OTHER_ENDPOINT,
            &uris.blob_sas_uri[1],
            &second.container,
            &second.blob,
            then,
            true,
        )
        .unwrap();
        assert_eq!(granted.start, Some(then - Duration::minutes(5)));
        assert_eq!(granted.expiry, then + Duration::hours(3));
        assert!(
            check_sas_of(
                ("second", OTHER_KEY),
                OTHER_ENDPOINT,
                &uris.blob_sas_uri[1],
                &second.container,
                &second.blob,
                then,
                false,
            )
            .is_err(),
            "an https account's SAS is refused over http"
        );
        assert!(check_sas_of(
            (ACCOUNT, KEY),
            OTHER_ENDPOINT,
            &uris.blob_sas_uri[1],
            &second.container,
            &second.blob,
            then,
            true,
        )
        .is_err());
        // The OS disk and the status blobs stay the task account's, in its time.
        check_sas(&uris.blob_sas_uri[0], "vhds", "vm1 os.vhd", start()).unwrap();
        check_sas(
            &protected.status_blob_uri,
            "vaultsim-status",
            "task/status",
            start(),
        )
        .unwrap();
    }

    #[test]
    fn a_minted_task_carries_the_settings_the_extension_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, cert, key) = openssl_key_pair(dir.path());
        let disks = disks();
        let task = mint_task(&input(&pem, &disks)).unwrap();

        assert_eq!(task.task_id, format!("{JOB}_2"));
        let public = &task.handler_settings().unwrap().public_settings;
        assert_eq!(public.task_id, task.task_id);
        assert_eq!(public.command_to_execute, "snapshot");
        assert_eq!(public.vm_type, "microsoft.compute/virtualmachines");
        assert_eq!(public.locale, "en-us");
        assert_eq!(
            public.custom_settings.as_deref(),
            Some(r#"{"takeSnapshotFrom":"firstHostThenGuest"}"#)
        );
        // 2026-03-01T22:00:01.234Z in ticks, as a decimal string.
        assert_eq!(public.command_start_time_utc_ticks, "639079992012340000");
        assert_eq!(
            parse_ticks_string(&public.command_start_time_utc_ticks),
            Some(start() + Duration::milliseconds(1234))
        );
        assert_eq!(
            task.public_settings_json["commandStartTimeUTCTicks"],
            "639079992012340000"
        );
        assert_eq!(task.public_settings_json["taskId"], task.task_id.as_str());

        let object: ObjectStrPublic = decode_object_str(&public.object_str).unwrap();
        assert_eq!(object.backup_metadata[0].key, "BackupJobId");
        assert_eq!(object.backup_metadata[0].value, JOB);
        assert_eq!(object.snapshot_task_token.as_deref(), Some(TOKEN));
        let included = object.included_disks.unwrap();
        assert_eq!(included.data_disk_lun_list, vec![2]);
        assert!(included.is_os_disk_included);

        let thumbprint = &task
            .handler_settings()
            .unwrap()
            .protected_settings_cert_thumbprint;
        assert_eq!(thumbprint, Recipient::from_pem(&pem).unwrap().thumbprint());

        let protected = decrypt(&task, dir.path(), &cert, &key);
        let disk_uris: ObjectStrProtected = decode_object_str(&protected.object_str).unwrap();
        assert_eq!(disk_uris.blob_sas_uri.len(), 2);
        assert!(disk_uris.blob_sas_uri[0].starts_with(&format!("{ENDPOINT}/vhds/vm1%20os.vhd?")));
        assert!(
            disk_uris.blob_sas_uri[1].starts_with(&format!("{ENDPOINT}/vhds/data/disk%2B2.vhd?"))
        );
        assert!(protected
            .status_blob_uri
            .starts_with(&format!("{ENDPOINT}/vaultsim-status/task/status?")));
        assert!(protected
            .logs_blob_uri
            .starts_with(&format!("{ENDPOINT}/vaultsim-status/task/logs?")));
    }

    #[test]
    fn sas_uris_verify_with_least_privilege_in_their_window() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, cert, key) = openssl_key_pair(dir.path());
        let disks = disks();
        let task = mint_task(&input(&pem, &disks)).unwrap();
        let protected = decrypt(&task, dir.path(), &cert, &key);
        let disk_uris: ObjectStrProtected = decode_object_str(&protected.object_str).unwrap();
        let now = start();

        for (url, disk) in disk_uris.blob_sas_uri.iter().zip(&disks) {
            let granted = check_sas(url, &disk.container, &disk.blob, now).unwrap();
            assert_eq!(granted.permissions.to_string(), "c");
            assert_eq!(granted.start, Some(start() - Duration::minutes(5)));
            assert_eq!(granted.expiry, start() + Duration::hours(3));
        }
        for (url, blob) in [
            (&protected.status_blob_uri, "task/status"),
            (&protected.logs_blob_uri, "task/logs"),
        ] {
            let granted = check_sas(url, "vaultsim-status", blob, now).unwrap();
            assert_eq!(granted.permissions.to_string(), "rw");
        }

        let url = &protected.status_blob_uri;
        assert!(check_sas(
            url,
            "vaultsim-status",
            "task/status",
            start() + Duration::hours(4)
        )
        .is_err());
        assert!(check_sas(
            url,
            "vaultsim-status",
            "task/status",
            start() - Duration::minutes(6)
        )
        .is_err());
        // A URI is bound to its blob: the status SAS does not open the log blob.
        assert!(check_sas_for_other_blob(url));
    }

    #[test]
    fn a_task_for_an_https_endpoint_is_refused_over_plain_http() {
        const HTTPS_ENDPOINT: &str = "https://127.0.0.1:10443/devstoreaccount1";
        let dir = tempfile::tempdir().unwrap();
        let (pem, cert, key) = openssl_key_pair(dir.path());
        let disks = disks();
        let task = mint_task(&TaskInput {
            blob_endpoint: HTTPS_ENDPOINT,
            ..input(&pem, &disks)
        })
        .unwrap();
        let protected = decrypt(&task, dir.path(), &cert, &key);
        let disk_uris: ObjectStrProtected = decode_object_str(&protected.object_str).unwrap();
        let mut uris: Vec<(&str, &str, &str)> = vec![
            (&protected.status_blob_uri, "vaultsim-status", "task/status"),
            (&protected.logs_blob_uri, "vaultsim-status", "task/logs"),
        ];
        for (url, disk) in disk_uris.blob_sas_uri.iter().zip(&disks) {
            uris.push((url, &disk.container, &disk.blob));
        }
        for (url, container, blob) in uris {
            assert!(url.contains("spr=https"), "{url}");
            let over_tls = check_sas_from(HTTPS_ENDPOINT, url, container, blob, start(), true);
            assert!(over_tls.is_ok(), "{over_tls:?}");
            let in_clear = check_sas_from(HTTPS_ENDPOINT, url, container, blob, start(), false);
            assert_eq!(
                in_clear.unwrap_err().error_code(),
                "AuthorizationProtocolMismatch"
            );
        }
        // An http endpoint's task works over either.
        let plain = mint_task(&input(&pem, &disks)).unwrap();
        let plain = decrypt(&plain, dir.path(), &cert, &key);
        assert!(!plain.status_blob_uri.contains("spr="));
    }

    fn check_sas_for_other_blob(url: &str) -> bool {
        let (_, query) = url.split_once('?').unwrap();
        let forged = format!("{ENDPOINT}/vaultsim-status/task/logs?{query}");
        check_sas(&forged, "vaultsim-status", "task/logs", start()).is_err()
    }

    #[test]
    fn stored_settings_hold_the_public_settings_and_no_sas() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, _, _) = openssl_key_pair(dir.path());
        let disks = disks();
        let task = mint_task(&input(&pem, &disks)).unwrap();
        let account = AccountAccess {
            name: "devstoreaccount1".to_owned(),
            endpoint: ENDPOINT.to_owned(),
            key: b"key".to_vec().into(),
        };
        let stored = task.sealed_handler_settings(&SettingsSeal::for_account(&account), "vm-1");
        assert_eq!(stored["publicSettings"], task.public_settings_json);
        assert!(stored[SEALED_PROTECTED_SETTINGS].is_string(), "{stored}");
        assert!(stored.get("protectedSettings").is_none(), "{stored}");
        assert!(!stored.to_string().contains("sig="), "{stored}");
    }

    #[test]
    fn the_extension_depends_on_the_os() {
        let linux = extension_identity("Linux");
        assert_eq!(linux.publisher, "Microsoft.Azure.RecoveryServices");
        assert_eq!(linux.extension_type, "VMSnapshotLinux");
        assert_eq!(linux.type_handler_version, "1.0");
        assert_eq!(linux.name, "VMSnapshotLinux");
        assert_eq!(
            linux.handler_name(),
            "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
        );
        let windows = extension_identity("Windows");
        assert_eq!(windows.extension_type, "VMSnapshot");
        assert_eq!(windows.type_handler_version, "1.9");
    }

    #[test]
    fn bad_inputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, _, _) = openssl_key_pair(dir.path());
        let disks = disks();
        let upper = JOB.to_uppercase();
        let mut bad = input(&pem, &disks);
        bad.job_id = &upper;
        assert!(matches!(mint_task(&bad), Err(MintError::JobId)));
        let mut bad = input(&pem, &disks);
        bad.os_type = "Plan9";
        assert!(matches!(mint_task(&bad), Err(MintError::OsType)));
        let mut bad = input(&pem, &[]);
        bad.disks = &[];
        assert!(matches!(mint_task(&bad), Err(MintError::NoDisks)));
        let mut bad = input(&pem, &disks);
        bad.sas_expiry = bad.sas_start;
        assert!(matches!(mint_task(&bad), Err(MintError::SasWindow)));
        let bad = input("not a certificate", &disks);
        assert!(matches!(mint_task(&bad), Err(MintError::Certificate(_))));
    }

    #[test]
    fn debug_output_hides_the_key_and_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, _, _) = openssl_key_pair(dir.path());
        let disks = disks();
        let input = input(&pem, &disks);
        let task = mint_task(&input).unwrap();
        let shown = format!("{input:?} {task:?}");
        assert!(!format!("{input:?}").contains(TOKEN), "{input:?}");
        assert!(!shown.contains("thirty-two"), "{shown}");
        assert!(!shown.contains("sig="), "{shown}");
        assert!(!shown.contains(&task.handler_settings().unwrap().protected_settings[..40]));
        assert!(shown.contains(&task.task_id));
    }
}
