//! Handler settings as the VMSnapshot extension reads them (`main/parameterparser.py`):
//! public settings in the clear, protected settings CMS-encrypted to the VM's certificate,
//! and `objectStr`, base64 JSON inside each.
//!
//! Protected settings carry SAS URIs, so their `Debug` output is redacted.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::json_error::describe;

/// `commandToExecute` for a backup; the extension matches it as a lower-cased substring.
pub const COMMAND_SNAPSHOT: &str = "snapshot";
/// `vmType` of an ARM VM; the extension needs it to build any status at all.
pub const VM_TYPE_ARM: &str = "microsoft.compute/virtualmachines";

/// `publicSettings` of the extension's `N.settings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicSettings {
    /// `<job guid>_<attempt>`; a repeated one is dropped without a status.
    pub task_id: String,
    pub command_to_execute: String,
    /// .NET ticks as a decimal string (see [`super::ticks`]).
    #[serde(rename = "commandStartTimeUTCTicks")]
    pub command_start_time_utc_ticks: String,
    /// Not used by the extension; sent as `en-us`.
    pub locale: String,
    pub vm_type: String,
    /// Base64 JSON of [`ObjectStrPublic`]; the extension fails without it.
    pub object_str: String,
    /// A JSON *string*, e.g. `{"takeSnapshotFrom":"onlyGuest"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_settings: Option<String>,
}

/// The decrypted `protectedSettings`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtectedSettings {
    /// Base64 JSON of [`ObjectStrProtected`].
    pub object_str: String,
    pub logs_blob_uri: String,
    pub status_blob_uri: String,
}

impl fmt::Debug for ProtectedSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedSettings")
            .field("object_str", &"<redacted>")
            .field("logs_blob_uri", &redact_query(&self.logs_blob_uri))
            .field("status_blob_uri", &redact_query(&self.status_blob_uri))
            .finish()
    }
}

/// One `{Key, Value}` pair, the shape of `backupMetadata` and telemetry entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

/// The public `objectStr`, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStrPublic {
    /// Sent as `x-ms-meta-<Key>` on every snapshot call; required (code 11 without it).
    pub backup_metadata: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_task_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_disks: Option<IncludedDisks>,
}

/// Which disks the task covers; the OS disk is LUN −1.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncludedDisks {
    pub data_disk_lun_list: Vec<i64>,
    #[serde(rename = "isOSDiskIncluded")]
    pub is_os_disk_included: bool,
    #[serde(default)]
    pub is_any_disk_excluded: bool,
    #[serde(default)]
    pub is_vmgs_blob_included: bool,
    #[serde(default, rename = "isAnyWADiskIncluded")]
    pub is_any_wa_disk_included: bool,
    #[serde(default)]
    pub is_any_direct_drive_disk_included: bool,
    #[serde(default, rename = "isVMADEEnabled")]
    pub is_vm_ade_enabled: bool,
    #[serde(default)]
    pub is_vmmd_blob_included: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant_access_duration_minutes: Option<u32>,
}

/// The protected `objectStr`, decoded: one SAS URL per disk, in disk order.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStrProtected {
    #[serde(rename = "blobSASUri")]
    pub blob_sas_uri: Vec<String>,
}

impl fmt::Debug for ObjectStrProtected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted: Vec<String> = self.blob_sas_uri.iter().map(|u| redact_query(u)).collect();
        f.debug_struct("ObjectStrProtected")
            .field("blob_sas_uri", &redacted)
            .finish()
    }
}

/// `runtimeSettings[].handlerSettings`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandlerSettings {
    /// SHA-1 of the certificate's DER, upper-case hex; names `<thumb>.crt`/`.prv`.
    pub protected_settings_cert_thumbprint: String,
    /// Base64 of the DER CMS EnvelopedData holding [`ProtectedSettings`] as JSON.
    pub protected_settings: String,
    pub public_settings: PublicSettings,
}

impl fmt::Debug for HandlerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerSettings")
            .field(
                "protected_settings_cert_thumbprint",
                &self.protected_settings_cert_thumbprint,
            )
            .field("protected_settings", &"<redacted>")
            .field("public_settings", &self.public_settings)
            .finish()
    }
}

/// `{"handlerSettings": …}`, one element of `runtimeSettings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeSettings {
    pub handler_settings: HandlerSettings,
}

/// `config/<seq>.settings`; the extension reads `runtimeSettings[0]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsFile {
    pub runtime_settings: Vec<RuntimeSettings>,
}

impl SettingsFile {
    /// The file holding one set of handler settings, as the guest agent writes it.
    pub fn single(handler_settings: HandlerSettings) -> SettingsFile {
        SettingsFile {
            runtime_settings: vec![RuntimeSettings { handler_settings }],
        }
    }
}

/// Why an `objectStr` could not be decoded. Never quotes the input, which may hold SAS URIs.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStrError {
    #[error("objectStr is not valid base64")]
    Base64,
    #[error("objectStr does not hold the expected JSON: {0}")]
    Json(String),
}

/// `objectStr` for a value: its JSON, base64 with the standard alphabet.
pub fn encode_object_str<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("settings types serialize to JSON");
    STANDARD.encode(json)
}

/// Decodes an `objectStr` as the extension does: base64, then JSON.
pub fn decode_object_str<T: DeserializeOwned>(object_str: &str) -> Result<T, ObjectStrError> {
    let json = STANDARD
        .decode(object_str.trim())
        .map_err(|_| ObjectStrError::Base64)?;
    serde_json::from_slice(&json).map_err(|e| ObjectStrError::Json(describe(&e)))
}

/// A URL with its query (where the SAS signature lives) replaced by `?<redacted>`.
fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((path, _)) => format!("{path}?<redacted>"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn public_object() -> ObjectStrPublic {
        ObjectStrPublic {
            backup_metadata: vec![KeyValue {
                key: "BackupJobId".into(),
                value: "0b9c".into(),
            }],
            snapshot_task_token: Some("token-1".into()),
            included_disks: Some(IncludedDisks {
                data_disk_lun_list: vec![0, 3],
                is_os_disk_included: true,
                ..IncludedDisks::default()
            }),
        }
    }

    #[test]
    fn public_object_str_uses_the_extensions_key_names() {
        let value = serde_json::to_value(public_object()).unwrap();
        assert_eq!(
            value,
            json!({
                "backupMetadata": [{"Key": "BackupJobId", "Value": "0b9c"}],
                "snapshotTaskToken": "token-1",
                "includedDisks": {
                    "dataDiskLunList": [0, 3],
                    "isOSDiskIncluded": true,
                    "isAnyDiskExcluded": false,
                    "isVmgsBlobIncluded": false,
                    "isAnyWADiskIncluded": false,
                    "isAnyDirectDriveDiskIncluded": false,
                    "isVMADEEnabled": false,
                    "isVmmdBlobIncluded": false
                }
            })
        );
    }

    #[test]
    fn object_strs_round_trip_through_base64_json() {
        let encoded = encode_object_str(&public_object());
        assert!(!encoded.contains('\n'));
        let decoded: ObjectStrPublic = decode_object_str(&encoded).unwrap();
        assert_eq!(decoded, public_object());

        let protected = ObjectStrProtected {
            blob_sas_uri: vec!["http://h/c/b?sig=x".into()],
        };
        let encoded = encode_object_str(&protected);
        let raw = STANDARD.decode(&encoded).unwrap();
        assert_eq!(raw, br#"{"blobSASUri":["http://h/c/b?sig=x"]}"#);
        let decoded: ObjectStrProtected = decode_object_str(&encoded).unwrap();
        assert_eq!(decoded, protected);
    }

    #[test]
    fn object_str_decoding_reports_base64_and_json_errors() {
        assert!(matches!(
            decode_object_str::<ObjectStrPublic>("not base64!"),
            Err(ObjectStrError::Base64)
        ));
        let no_metadata = STANDARD.encode(br#"{"snapshotTaskToken":"t"}"#);
        let error = decode_object_str::<ObjectStrPublic>(&no_metadata).unwrap_err();
        assert!(error.to_string().contains("backupMetadata"), "{error}");
        let secret = STANDARD.encode(br#"{"blobSASUri":"sig=SECRET"}"#);
        let error = decode_object_str::<ObjectStrProtected>(&secret).unwrap_err();
        assert!(!error.to_string().contains("SECRET"), "{error}");
    }

    #[test]
    fn the_settings_file_has_the_extensions_shape() {
        let file = SettingsFile::single(HandlerSettings {
            protected_settings_cert_thumbprint: "AB12".into(),
            protected_settings: "MIIB".into(),
            public_settings: PublicSettings {
                task_id: "job_1".into(),
                command_to_execute: COMMAND_SNAPSHOT.into(),
                command_start_time_utc_ticks: "636295005824665976".into(),
                locale: "en-us".into(),
                vm_type: VM_TYPE_ARM.into(),
                object_str: "e30=".into(),
                custom_settings: Some(r#"{"takeSnapshotFrom":"onlyGuest"}"#.into()),
            },
        });
        let value = serde_json::to_value(&file).unwrap();
        assert_eq!(
            value,
            json!({"runtimeSettings": [{"handlerSettings": {
                "protectedSettingsCertThumbprint": "AB12",
                "protectedSettings": "MIIB",
                "publicSettings": {
                    "taskId": "job_1",
                    "commandToExecute": "snapshot",
                    "commandStartTimeUTCTicks": "636295005824665976",
                    "locale": "en-us",
                    "vmType": "microsoft.compute/virtualmachines",
                    "objectStr": "e30=",
                    "customSettings": "{\"takeSnapshotFrom\":\"onlyGuest\"}"
                }
            }}]})
        );
        let back: SettingsFile = serde_json::from_value(value).unwrap();
        assert_eq!(back, file);
    }

    #[test]
    fn protected_settings_parse_and_their_debug_hides_sas_signatures() {
        let protected: ProtectedSettings = serde_json::from_value(json!({
            "objectStr": "eyJibG9iU0FTVXJpIjpbXX0=",
            "logsBlobUri": "http://h/c/logs?sv=1&sig=SECRETLOG",
            "statusBlobUri": "http://h/c/status?sv=1&sig=SECRETSTATUS"
        }))
        .unwrap();
        let shown = format!("{protected:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("http://h/c/status?<redacted>"), "{shown}");

        let object = ObjectStrProtected {
            blob_sas_uri: vec!["http://h/c/disk?sig=SECRETDISK".into()],
        };
        assert!(!format!("{object:?}").contains("SECRET"));
    }
}
