//! The status blob the extension uploads to `statusBlobUri` (`HandlerUtil.do_status_report`):
//! a one-element JSON array whose `timestampUTC` is `\/Date(<ms>)\/`, whose `code` is a
//! decimal string and whose `formattedMessage.message` is itself JSON.
//!
//! [`StatusEntry`] and its parts are the wire shape, for whoever writes a status;
//! [`parse_status_blob`] reads one strictly into a [`StatusReport`], for the service.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::codes::{self, HealthState};
use super::json_error::describe;
use super::settings::KeyValue;
use super::snapshot_uri::snapshot_parameter;
use super::timedelta;

/// One status, as the extension serializes it (keys in its order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusEntry {
    /// The handler environment's schema version, "1.0".
    pub version: String,
    /// `/Date(<ms since epoch>)/` once decoded; see [`ms_date`].
    #[serde(rename = "timestampUTC")]
    pub timestamp_utc: String,
    pub status: ExtensionStatus,
}

/// `status` of a [`StatusEntry`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionStatus {
    /// The handler name, e.g. `Microsoft.Azure.RecoveryServices.VMSnapshotLinux`.
    pub name: String,
    /// "Enable".
    pub operation: String,
    /// transitioning, warning, error or success.
    pub status: String,
    /// Always empty in the blob (the local status file nests the blob here instead).
    pub substatus: Vec<serde_json::Value>,
    /// The result code as a decimal string.
    pub code: String,
    pub task_id: String,
    pub formatted_message: FormattedMessage,
    pub storage_details: StorageDetails,
    #[serde(rename = "commandStartTimeUTCTicks")]
    pub command_start_time_utc_ticks: String,
    /// `[{Value, Key}]`.
    pub telemetry_data: Vec<TelemetryEntry>,
    pub unique_machine_id: String,
    /// `null` in the transitioning status, one entry per SAS URL in the final one.
    pub snapshot_info: Option<Vec<SnapshotInfo>>,
    pub vm_health_info: VmHealthInfo,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormattedMessage {
    /// "en-US".
    pub lang: String,
    /// JSON text of an [`ExtensionResponse`].
    pub message: String,
}

/// What `formattedMessage.message` holds once parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionResponse {
    /// The message (empty on a plain success), then telemetry such as
    /// `statusBlobUploadError=true, `.
    pub message_str: String,
    /// 3 for crash-consistent, else 0 (the extension's quirk: read consistency from `code`).
    pub snapshot_consistency: u32,
    pub job_message: String,
    pub is_size_computation_failed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageDetails {
    pub partition_count: u32,
    pub total_used_size_in_bytes: u64,
    pub is_storagespace_present: bool,
    pub is_size_computation_failed: bool,
}

/// One telemetry pair; the extension writes `Value` before `Key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryEntry {
    #[serde(rename = "Value")]
    pub value: String,
    #[serde(rename = "Key")]
    pub key: String,
}

impl From<KeyValue> for TelemetryEntry {
    fn from(pair: KeyValue) -> TelemetryEntry {
        TelemetryEntry {
            value: pair.value,
            key: pair.key,
        }
    }
}

/// The outcome for one disk, in SAS URL order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInfo {
    /// The guest path writes a JSON bool; the host path passes on the host's string
    /// `"true"`/`"false"`. Both are read; a bool is written.
    #[serde(deserialize_with = "bool_or_bool_string")]
    pub is_successful: bool,
    /// `<blob URL without query>?snapshot=<x-ms-snapshot>`; the bare blob URL before the
    /// snapshot call succeeded; `null` for DirectDrive disks.
    pub snapshot_uri: Option<String>,
    /// The storage response body on failure.
    pub error_message: Option<String>,
    /// `snapshotUri` cut at `?`.
    pub blob_uri: Option<String>,
    pub direct_drive_snapshot_identifier: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmHealthInfo {
    /// 0, 128 or 256 (see [`HealthState`]).
    pub vm_health_state: u32,
    /// The first non-success code the run set.
    pub vm_health_status_code: u32,
}

fn bool_or_bool_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrString {
        Bool(bool),
        Text(String),
    }
    match BoolOrString::deserialize(deserializer)? {
        BoolOrString::Bool(value) => Ok(value),
        BoolOrString::Text(text) if text == "true" => Ok(true),
        BoolOrString::Text(text) if text == "false" => Ok(false),
        BoolOrString::Text(_) => Err(serde::de::Error::custom(
            "isSuccessful is neither a bool nor \"true\"/\"false\"",
        )),
    }
}

/// `/Date(<ms>)/`, the decoded form of the `\/Date(<ms>)\/` the extension writes.
pub fn ms_date(instant: DateTime<Utc>) -> String {
    format!("/Date({})/", instant.timestamp_millis())
}

fn parse_ms_date(text: &str) -> Option<DateTime<Utc>> {
    let digits = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    DateTime::from_timestamp_millis(digits.parse().ok()?)
}

/// What a writer says about a run; [`StatusEntry::new`] fills in the rest as the extension does.
#[derive(Clone, Debug)]
pub struct StatusFacts {
    pub handler_name: String,
    pub task_id: String,
    pub command_start_time_utc_ticks: String,
    /// The result code; [`codes::TRANSITIONING`] before the snapshot.
    pub code: u32,
    /// The first non-success code of the run; equals `code` unless the run recovered.
    pub health_status_code: u32,
    pub message: String,
    pub crash_consistent: bool,
    pub snapshots: Option<Vec<SnapshotInfo>>,
    pub unique_machine_id: String,
    pub timestamp: DateTime<Utc>,
}

impl StatusEntry {
    /// A status with the extension's fixed parts: version "1.0", operation "Enable",
    /// `status` success for 0, 1 and the transitioning code 4 (the extension writes "success"
    /// with code 4 and the guest agent waits for the code to change, spec §3.1), error
    /// otherwise; health from the health status code (red for a code without a colour).
    pub fn new(facts: StatusFacts) -> StatusEntry {
        let status_word = match facts.code {
            codes::TRANSITIONING | codes::SUCCESS_APP_CONSISTENT | codes::SUCCESS => "success",
            _ => "error",
        };
        let health = codes::extension_code(facts.health_status_code)
            .and_then(|known| known.health)
            .unwrap_or(HealthState::Red);
        let response = ExtensionResponse {
            message_str: facts.message,
            snapshot_consistency: if facts.crash_consistent { 3 } else { 0 },
            job_message: String::new(),
            is_size_computation_failed: false,
        };
        StatusEntry {
            version: "1.0".to_owned(),
            timestamp_utc: ms_date(facts.timestamp),
            status: ExtensionStatus {
                name: facts.handler_name,
                operation: "Enable".to_owned(),
                status: status_word.to_owned(),
                substatus: Vec::new(),
                code: facts.code.to_string(),
                task_id: facts.task_id,
                formatted_message: FormattedMessage {
                    lang: "en-US".to_owned(),
                    message: serde_json::to_string(&response)
                        .expect("the extension response serializes"),
                },
                storage_details: StorageDetails {
                    partition_count: 1,
                    total_used_size_in_bytes: 0,
                    is_storagespace_present: false,
                    is_size_computation_failed: false,
                },
                command_start_time_utc_ticks: facts.command_start_time_utc_ticks,
                telemetry_data: vec![TelemetryEntry {
                    value: facts.code.to_string(),
                    key: "extErrorCode".to_owned(),
                }],
                unique_machine_id: facts.unique_machine_id,
                snapshot_info: facts.snapshots,
                vm_health_info: VmHealthInfo {
                    vm_health_state: health.vm_health_state(),
                    vm_health_status_code: facts.health_status_code,
                },
            },
        }
    }

    /// The blob's bytes: `[<entry>]` with the date written `"\/Date(<ms>)\/"`, as the
    /// extension writes it for .NET's `DateTimeOffset`. The replacements cannot change any
    /// value: `\/` decodes to `/`, and inside a string a `"` is always escaped, so the
    /// patterns can only touch string boundaries.
    pub fn to_blob_bytes(&self) -> Vec<u8> {
        let json = serde_json::to_string(&[self]).expect("the status entry serializes");
        json.replace("\"/Date(", "\"\\/Date(")
            .replace(")/\"", ")\\/\"")
            .into_bytes()
    }

    /// The local status file `status/<seq>.status` for this status (spec §1): an ISO
    /// timestamp, the status blob's whole JSON as the one substatus' name, and for an ARM
    /// VM `status` forced to "success" once terminal; telemetry, snapshot and health
    /// details are left out.
    pub fn to_status_file(&self, timestamp: DateTime<Utc>) -> serde_json::Value {
        let blob_text = String::from_utf8_lossy(&self.to_blob_bytes()).into_owned();
        let mut file = serde_json::to_value(self).expect("the status entry serializes");
        file["timestampUTC"] = timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
        let inner = &mut file["status"];
        if inner["status"] != "transitioning" {
            inner["status"] = "success".into();
        }
        inner["substatus"] = serde_json::json!([{
            "code": "0", "name": blob_text, "status": "success", "formattedMessage": null
        }]);
        for detail in ["telemetryData", "snapshotInfo", "vmHealthInfo"] {
            inner[detail] = serde_json::Value::Null;
        }
        serde_json::json!([file])
    }
}

/// A disk's snapshot, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskSnapshot {
    pub is_successful: bool,
    /// The disk blob's URL (without query).
    pub blob_uri: Option<String>,
    pub snapshot_uri: Option<String>,
    /// The `snapshot=` value of `snapshot_uri`, verbatim (the extension copies
    /// `x-ms-snapshot` without encoding it).
    pub snapshot_time: Option<String>,
    pub error_message: Option<String>,
}

/// How consistent a successful snapshot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotConsistency {
    ApplicationConsistent,
    FileSystemConsistent,
    CrashConsistent,
}

/// A status blob that passed [`parse_status_blob`].
#[derive(Clone, Debug, PartialEq)]
pub struct StatusReport {
    pub task_id: String,
    pub code: u32,
    /// transitioning, warning, error or success. For ARM VMs the extension reports "success"
    /// even for some failures; trust `code`.
    pub status: String,
    pub timestamp: DateTime<Utc>,
    pub command_start_time_utc_ticks: String,
    pub response: ExtensionResponse,
    /// Empty while transitioning.
    pub snapshots: Vec<DiskSnapshot>,
    pub health: VmHealthInfo,
    /// `telemetryData`, as written.
    pub telemetry: Vec<TelemetryEntry>,
}

impl StatusReport {
    /// Code 4: the extension has started and will write a final status.
    pub fn is_transitioning(&self) -> bool {
        self.code == codes::TRANSITIONING
    }

    /// The consistency the code implies; `None` for anything but a success. The
    /// extension's `snapshotConsistency` is 0 except for crash-consistent runs (3), which
    /// report code 1 (spec §3.7).
    pub fn consistency(&self) -> Option<SnapshotConsistency> {
        match self.code {
            codes::SUCCESS_APP_CONSISTENT => Some(SnapshotConsistency::ApplicationConsistent),
            codes::SUCCESS if self.response.snapshot_consistency == 3 => {
                Some(SnapshotConsistency::CrashConsistent)
            }
            codes::SUCCESS => Some(SnapshotConsistency::FileSystemConsistent),
            _ => None,
        }
    }

    /// The human part of the message.
    pub fn message(&self) -> &str {
        &self.response.message_str
    }

    /// How long the file systems stayed frozen, by the telemetry: the snapshot taken while
    /// frozen (`snapshotTimeTaken`) and the thaw (`ThawTime`). `None` when nothing was
    /// thawed (no freeze), or the durations are not `timedelta` text.
    pub fn frozen_for(&self) -> Option<Duration> {
        let duration = |key: &str| {
            self.telemetry
                .iter()
                .filter(|entry| entry.key == key)
                .find_map(|entry| timedelta::parse(&entry.value))
        };
        Some(duration("snapshotTimeTaken")? + duration("ThawTime")?)
    }
}

/// Why a status blob was refused. Messages name the field, never quote values (a forged
/// blob could carry anything).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusBlobError {
    #[error("the status blob is not a JSON status document: {0}")]
    Schema(String),
    #[error("the status blob must hold exactly one status, it holds {0}")]
    EntryCount(usize),
    #[error("timestampUTC is not \\/Date(<milliseconds>)\\/")]
    Timestamp,
    #[error("code is not a decimal string")]
    Code,
    #[error("status is not one of transitioning, warning, error, success")]
    StatusWord,
    #[error("formattedMessage.message is not the extension's JSON response: {0}")]
    Message(String),
}

const STATUS_WORDS: [&str; 4] = ["transitioning", "warning", "error", "success"];

/// Reads and validates a status blob.
pub fn parse_status_blob(bytes: &[u8]) -> Result<StatusReport, StatusBlobError> {
    let entries: Vec<StatusEntry> =
        serde_json::from_slice(bytes).map_err(|e| StatusBlobError::Schema(describe(&e)))?;
    let [entry] = <[StatusEntry; 1]>::try_from(entries)
        .map_err(|entries| StatusBlobError::EntryCount(entries.len()))?;
    let timestamp = parse_ms_date(&entry.timestamp_utc).ok_or(StatusBlobError::Timestamp)?;
    let status = entry.status;
    let code = parse_code(&status.code).ok_or(StatusBlobError::Code)?;
    if !STATUS_WORDS.contains(&status.status.as_str()) {
        return Err(StatusBlobError::StatusWord);
    }
    let response: ExtensionResponse = serde_json::from_str(&status.formatted_message.message)
        .map_err(|e| StatusBlobError::Message(describe(&e)))?;
    let snapshots = status
        .snapshot_info
        .unwrap_or_default()
        .into_iter()
        .map(disk_snapshot)
        .collect();
    Ok(StatusReport {
        task_id: status.task_id,
        code,
        status: status.status,
        timestamp,
        command_start_time_utc_ticks: status.command_start_time_utc_ticks,
        response,
        snapshots,
        health: status.vm_health_info,
        telemetry: status.telemetry_data,
    })
}

fn parse_code(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn disk_snapshot(info: SnapshotInfo) -> DiskSnapshot {
    let snapshot_time = info
        .snapshot_uri
        .as_deref()
        .and_then(snapshot_parameter)
        .map(str::to_owned);
    DiskSnapshot {
        is_successful: info.is_successful,
        blob_uri: info.blob_uri,
        snapshot_uri: info.snapshot_uri,
        snapshot_time,
        error_message: info.error_message,
    }
}

#[cfg(test)]
mod tests;
