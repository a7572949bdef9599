//! The wire server's host snapshot calls (spec §3.5 "Host calls"): the extension POSTs
//! `presnapshot` (host time, and whether the host path is there) and `dosnapshot` (the
//! host snapshots the listed disks) to `/metadata/recsvc/snapshot/…?api-version=2017-12-01`,
//! and which path it takes is `customSettings.takeSnapshotFrom`.
//!
//! Field names and casing are the real extension's (`Utils/HostSnapshotObjects.py`,
//! `hostsnapshotter.py`): camelCase, `isSuccessful` a string.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::settings::KeyValue;

/// The only `api-version` the extension sends.
pub const API_VERSION: &str = "2017-12-01";
/// `POST` path of the call that answers the host's time.
pub const PRESNAPSHOT_PATH: &str = "/metadata/recsvc/snapshot/presnapshot";
/// `POST` path of the call that snapshots the disks host-side.
pub const DOSNAPSHOT_PATH: &str = "/metadata/recsvc/snapshot/dosnapshot";
/// What the extension puts in `isSuccessful` for a disk the host snapshotted; anything
/// else is a failure.
pub const SUCCESSFUL: &str = "true";
/// `snapshotCreator` (status message and telemetry) when the host took the snapshots.
pub const HOST_CREATOR: &str = "backupHostService";
/// `snapshotCreator` when the extension took them through the disk SAS URIs.
pub const GUEST_CREATOR: &str = "guestExtension";

/// `customSettings.takeSnapshotFrom`: who takes the disk snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SnapshotMethod {
    /// The extension, through each disk's SAS URI.
    OnlyGuest,
    /// The host, through `dosnapshot`.
    OnlyHost,
    /// The host when `presnapshot` answers 200/201, else the extension: Azure's default,
    /// and the real extension's when `customSettings` names none.
    #[default]
    FirstHostThenGuest,
    /// The extension; the host when every guest snapshot failed.
    FirstGuestThenHost,
}

impl SnapshotMethod {
    pub const ALL: [SnapshotMethod; 4] = [
        SnapshotMethod::OnlyGuest,
        SnapshotMethod::OnlyHost,
        SnapshotMethod::FirstHostThenGuest,
        SnapshotMethod::FirstGuestThenHost,
    ];

    /// The name in `customSettings`.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMethod::OnlyGuest => "onlyGuest",
            SnapshotMethod::OnlyHost => "onlyHost",
            SnapshotMethod::FirstHostThenGuest => "firstHostThenGuest",
            SnapshotMethod::FirstGuestThenHost => "firstGuestThenHost",
        }
    }

    /// The method `customSettings` (a JSON string) names. As in the real extension, an
    /// absent or unknown `takeSnapshotFrom` means `firstHostThenGuest`.
    pub fn from_custom_settings(custom_settings: Option<&str>) -> SnapshotMethod {
        custom_settings
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|settings| settings["takeSnapshotFrom"].as_str().map(str::to_owned))
            .and_then(|name| name.parse().ok())
            .unwrap_or_default()
    }

    /// The `customSettings` JSON string that asks for this method.
    pub fn custom_settings(self) -> String {
        serde_json::json!({ "takeSnapshotFrom": self.as_str() }).to_string()
    }
}

impl std::fmt::Display for SnapshotMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the four methods.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not onlyGuest, onlyHost, firstHostThenGuest or firstGuestThenHost")]
pub struct UnknownSnapshotMethod(String);

impl std::str::FromStr for SnapshotMethod {
    type Err = UnknownSnapshotMethod;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        SnapshotMethod::ALL
            .into_iter()
            .find(|method| method.as_str() == name)
            .ok_or_else(|| UnknownSnapshotMethod(name.to_owned()))
    }
}

/// A `{Key, Value}` flag of the host calls' `preSnapshotSettings` and `settings`. Unlike
/// `backupMetadata`, the real extension sends these values as JSON booleans
/// (`hostsnapshotter.py`: `{"Key": "isVMADEEnabled", "Value": false}` and its
/// `wellKnownSettingFlags`), so any JSON value is taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFlag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: serde_json::Value,
}

/// `POST …/presnapshot` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreSnapshotRequest {
    /// The task's id, or `customSettings.backupTaskId` when the task names one.
    pub task_id: String,
    /// The public `objectStr`'s token; `null` when the task has none.
    #[serde(default)]
    pub snapshot_task_token: Option<String>,
    /// `[{"Key":"isVMADEEnabled","Value":false}]` on the real extension's method probe
    /// (and for ADE-encrypted VMs); the value is a JSON boolean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_snapshot_settings: Option<Vec<HostFlag>>,
}

/// `presnapshot`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreSnapshotResponse {
    pub bhs_version: String,
    pub node_id: String,
    /// The host's time, by which the extension judges the task's age.
    pub response_time: ResponseTime,
    pub result: String,
}

/// The host's UTC time as `presnapshot` answers it: whole seconds, one field each (the
/// extension builds `datetime(year, month, day, hour, minute, second)` from them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl From<DateTime<Utc>> for ResponseTime {
    fn from(time: DateTime<Utc>) -> Self {
        ResponseTime {
            year: time.year(),
            month: time.month(),
            day: time.day(),
            hour: time.hour(),
            minute: time.minute(),
            second: time.second(),
        }
    }
}

impl ResponseTime {
    /// The instant, or `None` for fields no date has.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)?
            .and_hms_opt(self.hour, self.minute, self.second)
            .map(|naive| naive.and_utc())
    }
}

/// `POST …/dosnapshot` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoSnapshotRequest {
    pub task_id: String,
    /// The LUNs to snapshot, −1 the OS disk; empty: every disk of the VM.
    #[serde(default)]
    pub disk_ids: Vec<i64>,
    /// Well-known flags (`{Key,Value}`, the values JSON booleans); the host here ignores them.
    #[serde(default)]
    pub settings: Vec<HostFlag>,
    #[serde(default)]
    pub snapshot_task_token: Option<String>,
    /// The task's `backupMetadata`: each snapshot carries them as blob metadata, as the
    /// guest path's `x-ms-meta-*` headers do.
    #[serde(default)]
    pub snapshot_metadata: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant_access_duration_minutes: Option<i64>,
}

/// `dosnapshot`'s answer: one entry per disk, in `diskIds` order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoSnapshotResponse {
    pub snapshot_info: Vec<HostSnapshotInfo>,
}

/// One disk's host snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSnapshotInfo {
    /// `"true"` or `"false"`: a string, as the real host sends it.
    pub is_successful: String,
    /// `<blob URL>?snapshot=<snapshot id>`, as the guest path builds it.
    pub snapshot_uri: Option<String>,
    pub error_message: Option<String>,
    /// The blob service's HTTP status for the disk's Snapshot Blob (201 on success).
    pub status_code: u16,
    /// Only for DirectDrive (Ultra/Premium v2) disks, which the simulator does not have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dd_snapshot_identifier: Option<serde_json::Value>,
}

impl HostSnapshotInfo {
    /// A snapshot the host took (the blob service answered 201).
    pub fn taken(snapshot_uri: String) -> Self {
        HostSnapshotInfo {
            is_successful: SUCCESSFUL.to_owned(),
            snapshot_uri: Some(snapshot_uri),
            error_message: None,
            status_code: 201,
            dd_snapshot_identifier: None,
        }
    }

    /// A disk the host could not snapshot: the blob service's status and message.
    pub fn failed(status_code: u16, error_message: String) -> Self {
        HostSnapshotInfo {
            is_successful: "false".to_owned(),
            snapshot_uri: None,
            error_message: Some(error_message),
            status_code,
            dd_snapshot_identifier: None,
        }
    }

    pub fn is_successful(&self) -> bool {
        self.is_successful == SUCCESSFUL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_read_as_the_real_extension_reads_them() {
        for method in SnapshotMethod::ALL {
            assert_eq!(method.as_str().parse::<SnapshotMethod>().unwrap(), method);
            assert_eq!(
                SnapshotMethod::from_custom_settings(Some(&method.custom_settings())),
                method
            );
        }
        assert!(
            "OnlyGuest".parse::<SnapshotMethod>().is_err(),
            "case matters"
        );
        let default = SnapshotMethod::FirstHostThenGuest;
        assert_eq!(SnapshotMethod::from_custom_settings(None), default);
        assert_eq!(SnapshotMethod::from_custom_settings(Some("{}")), default);
        assert_eq!(SnapshotMethod::from_custom_settings(Some("[")), default);
        let unknown = r#"{"takeSnapshotFrom":"sideways"}"#;
        assert_eq!(SnapshotMethod::from_custom_settings(Some(unknown)), default);
    }

    #[test]
    fn bodies_have_the_real_extensions_field_names() {
        let request: DoSnapshotRequest = serde_json::from_value(serde_json::json!({
            "taskId": "t_1", "diskIds": [-1, 0], "settings": [],
            "snapshotTaskToken": "tok",
            "snapshotMetadata": [{"Key": "TaskId", "Value": "t_1"}]
        }))
        .unwrap();
        assert_eq!(request.disk_ids, [-1, 0]);
        assert_eq!(request.snapshot_metadata[0].key, "TaskId");
        assert_eq!(request.instant_access_duration_minutes, None);
        let info = HostSnapshotInfo::taken("http://h/a/c/b?snapshot=x".into());
        assert!(info.is_successful());
        assert_eq!(
            serde_json::to_value(&info).unwrap(),
            serde_json::json!({"isSuccessful": "true", "snapshotUri": "http://h/a/c/b?snapshot=x",
                "errorMessage": null, "statusCode": 201})
        );
        let failed = HostSnapshotInfo::failed(404, "no such disk".into());
        assert!(!failed.is_successful());
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({"isSuccessful": "false", "snapshotUri": null,
                "errorMessage": "no such disk", "statusCode": 404})
        );
    }

    #[test]
    fn the_real_extensions_boolean_flags_are_read() {
        // hostsnapshotter.py sends these exactly so: its method probe's
        // preSnapshotSettings and dosnapshot's well-known setting flags are booleans.
        let probe: PreSnapshotRequest = serde_json::from_str(
            r#"{"taskId": "t_1", "snapshotTaskToken": "tok",
                "preSnapshotSettings": [{"Key": "isVMADEEnabled", "Value": false}]}"#,
        )
        .unwrap();
        let flags = probe.pre_snapshot_settings.unwrap();
        assert_eq!(flags[0].key, "isVMADEEnabled");
        assert_eq!(flags[0].value, serde_json::json!(false));
        let request: DoSnapshotRequest = serde_json::from_str(
            r#"{"taskId": "t_1", "diskIds": [-1, 0],
                "settings": [{"Key": "isSnapshotTtlEnabled", "Value": false},
                             {"Key": "useMccfForLad", "Value": true}],
                "snapshotTaskToken": "tok",
                "snapshotMetadata": [{"Key": "TaskId", "Value": "t_1"}]}"#,
        )
        .unwrap();
        assert_eq!(request.settings.len(), 2);
        assert_eq!(request.settings[1].value, serde_json::json!(true));
    }

    #[test]
    fn response_time_is_whole_utc_fields() {
        let time = DateTime::parse_from_rfc3339("2026-03-01T22:04:05.9Z")
            .unwrap()
            .to_utc();
        let fields = ResponseTime::from(time);
        assert_eq!(
            serde_json::to_value(fields).unwrap(),
            serde_json::json!({"year": 2026, "month": 3, "day": 1, "hour": 22, "minute": 4, "second": 5})
        );
        assert_eq!(
            fields.to_datetime().unwrap(),
            time.with_nanosecond(0).unwrap()
        );
        assert_eq!(
            ResponseTime {
                month: 13,
                ..fields
            }
            .to_datetime(),
            None
        );
    }
}
