//! The extension's calls to the wire server's host snapshot path (spec §3.5 "Host
//! calls"): `presnapshot` for the host's time and to probe whether the host path is there,
//! `dosnapshot` for the host to snapshot the disks. As the real one: `Backup: true`, JSON,
//! no credential, 40 s, no retry; what went wrong is kept as the pseudo status codes its
//! telemetry reports (555 no response, 556 a 500 that is not the host's JSON error, 557 a
//! success with no body, 558 an answer that cannot be read).
//!
//! The real extension calls `http://168.63.129.16`; this one calls the guest API URL the
//! agent was given, which serves the same paths.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::Serialize;
use vaultsim_protocol::extension::host_snapshot::{
    DoSnapshotRequest, DoSnapshotResponse, HostSnapshotInfo, PreSnapshotRequest,
    PreSnapshotResponse, API_VERSION, DOSNAPSHOT_PATH, HOST_CREATOR, PRESNAPSHOT_PATH,
};
use vaultsim_protocol::extension::settings::KeyValue;
use vaultsim_protocol::extension::status::SnapshotInfo;

/// The extension's timeout for a host call.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(40);

/// No answer at all (the host could not be reached).
pub const NO_RESPONSE: u16 = 555;
/// A 500 whose body is not the host's `{ "error"` JSON: the backup host service is down.
pub const REMOTE_SERVER_ERROR: u16 = 556;
/// 200/201 with an empty body.
pub const EMPTY_SUCCESS: u16 = 557;
/// An answer that could not be read.
pub const UNREADABLE: u16 = 558;

/// The wire server's host snapshot endpoints.
#[derive(Clone, Debug)]
pub struct HostSnapshotter {
    http: reqwest::Client,
    /// The wire server's base URL (the guest API's).
    base_url: String,
}

/// How a `presnapshot` went: the status code the telemetry reports, and the host's time
/// when the host answered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreSnapshot {
    pub status_code: u16,
    pub host_time: Option<DateTime<Utc>>,
}

impl PreSnapshot {
    /// The probe's verdict: the host path is there.
    pub fn host_is_there(&self) -> bool {
        matches!(self.status_code, 200 | 201)
    }
}

/// How a `dosnapshot` went: the status code the telemetry reports, and each disk's
/// snapshot as the status lists it (none unless the host answered).
#[derive(Clone, Debug, PartialEq)]
pub struct DoSnapshot {
    pub status_code: u16,
    pub snapshots: Vec<SnapshotInfo>,
}

/// What a call answered, before it is judged.
struct Answer {
    status_code: u16,
    body: Option<String>,
}

impl HostSnapshotter {
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    pub async fn pre_snapshot(&self, request: &PreSnapshotRequest) -> PreSnapshot {
        let answer = self.call(PRESNAPSHOT_PATH, request).await;
        let host_time = answer
            .body
            .as_deref()
            .filter(|_| matches!(answer.status_code, 200 | 201))
            .and_then(|body| serde_json::from_str::<PreSnapshotResponse>(body).ok())
            .and_then(|response| response.response_time.to_datetime());
        PreSnapshot {
            status_code: answer.status_code,
            host_time,
        }
    }

    pub async fn do_snapshot(&self, request: &DoSnapshotRequest) -> DoSnapshot {
        let answer = self.call(DOSNAPSHOT_PATH, request).await;
        if !matches!(answer.status_code, 200 | 201) {
            return DoSnapshot {
                status_code: answer.status_code,
                snapshots: Vec::new(),
            };
        }
        let body = answer.body.unwrap_or_default();
        match serde_json::from_str::<DoSnapshotResponse>(&body) {
            Ok(response) => DoSnapshot {
                status_code: answer.status_code,
                snapshots: response.snapshot_info.iter().map(status_snapshot).collect(),
            },
            // The real one logs the deserialization failure and counts every disk failed.
            Err(_) => DoSnapshot {
                status_code: answer.status_code,
                snapshots: Vec::new(),
            },
        }
    }

    async fn call(&self, path: &str, body: &impl Serialize) -> Answer {
        let url = format!("{}{path}?api-version={API_VERSION}", self.base_url);
        let sent = self
            .http
            .post(url)
            .header("Backup", "true")
            .header("Content-type", "application/json")
            .header("UserAgent", "VMSnapshot")
            .timeout(HOST_TIMEOUT)
            .body(serde_json::to_vec(body).expect("host call bodies serialize"))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(_) => {
                return Answer {
                    status_code: NO_RESPONSE,
                    body: None,
                }
            }
        };
        let status = response.status();
        let Ok(text) = response.text().await else {
            return Answer {
                status_code: UNREADABLE,
                body: None,
            };
        };
        Answer {
            status_code: judge(status, &text),
            body: Some(text),
        }
    }
}

/// One task's host calls, and what they answered, for the status's telemetry and message.
pub struct HostCalls {
    snapshotter: HostSnapshotter,
    /// `customSettings.backupTaskId` when the task names one, else its taskId.
    task_id: String,
    /// The public objectStr's `snapshotTaskToken`. Never logged.
    token: Option<String>,
    record: Mutex<HostRecord>,
}

/// What the host calls of a run answered, as its telemetry keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRecord {
    /// `snapshotCreator`: who took the snapshots, once someone tried.
    pub creator: Option<&'static str>,
    /// `hostStatusCodePreSnapshot`: the last presnapshot's.
    pub pre_snapshot: Option<u16>,
    /// `hostStatusCodeDoSnapshot`.
    pub do_snapshot: Option<u16>,
}

impl HostRecord {
    /// The telemetry entries, in the real extension's order.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let mut entries = Vec::new();
        if let Some(creator) = self.creator {
            entries.push(("snapshotCreator", creator.to_owned()));
        }
        if let Some(code) = self.pre_snapshot {
            entries.push(("hostStatusCodePreSnapshot", code.to_string()));
        }
        if let Some(code) = self.do_snapshot {
            entries.push(("hostStatusCodeDoSnapshot", code.to_string()));
        }
        entries
    }

    /// What the status message ends with (spec §4): `key=value, ` per entry.
    pub fn message_suffix(&self) -> String {
        self.entries()
            .iter()
            .map(|(key, value)| format!("{key}={value}, "))
            .collect()
    }
}

impl HostCalls {
    pub fn new(snapshotter: HostSnapshotter, task_id: String, token: Option<String>) -> Self {
        Self {
            snapshotter,
            task_id,
            token,
            record: Mutex::default(),
        }
    }

    /// The host's time by `presnapshot`, if the host answered it.
    pub async fn host_time(&self) -> Option<DateTime<Utc>> {
        self.pre_snapshot().await.host_time
    }

    /// The probe of `firstHostThenGuest`: whether `presnapshot` answers 200 or 201.
    pub async fn host_is_there(&self) -> bool {
        self.pre_snapshot().await.host_is_there()
    }

    async fn pre_snapshot(&self) -> PreSnapshot {
        let answer = self
            .snapshotter
            .pre_snapshot(&PreSnapshotRequest {
                task_id: self.task_id.clone(),
                snapshot_task_token: self.token.clone(),
                pre_snapshot_settings: None,
            })
            .await;
        self.record.lock().expect("not poisoned").pre_snapshot = Some(answer.status_code);
        answer
    }

    /// `dosnapshot` of `disk_ids` (−1 the OS disk; empty: every disk).
    pub async fn snapshot(
        &self,
        disk_ids: Vec<i64>,
        metadata: Vec<KeyValue>,
        instant_access_duration_minutes: Option<u32>,
    ) -> DoSnapshot {
        self.created_by(HOST_CREATOR);
        let answer = self
            .snapshotter
            .do_snapshot(&DoSnapshotRequest {
                task_id: self.task_id.clone(),
                disk_ids,
                settings: Vec::new(),
                snapshot_task_token: self.token.clone(),
                snapshot_metadata: metadata,
                instant_access_duration_minutes: instant_access_duration_minutes.map(i64::from),
            })
            .await;
        self.record.lock().expect("not poisoned").do_snapshot = Some(answer.status_code);
        answer
    }

    /// Notes who is taking the snapshots.
    pub fn created_by(&self, creator: &'static str) {
        self.record.lock().expect("not poisoned").creator = Some(creator);
    }

    pub fn record(&self) -> HostRecord {
        self.record.lock().expect("not poisoned").clone()
    }
}

/// The status code the telemetry reports for an answer.
fn judge(status: StatusCode, body: &str) -> u16 {
    match status.as_u16() {
        200 | 201 if body.is_empty() => EMPTY_SUCCESS,
        // The real one compares the body's start with `{ "error"` verbatim.
        500 if !body.starts_with("{ \"error\"") => REMOTE_SERVER_ERROR,
        code => code,
    }
}

/// A host snapshot as the status lists it: successful only for the string "true";
/// `blobUri` is `snapshotUri` cut at `?`.
fn status_snapshot(info: &HostSnapshotInfo) -> SnapshotInfo {
    SnapshotInfo {
        is_successful: info.is_successful(),
        blob_uri: info
            .snapshot_uri
            .as_deref()
            .map(|uri| uri.split('?').next().unwrap_or_default().to_owned()),
        snapshot_uri: info.snapshot_uri.clone(),
        error_message: info.error_message.clone(),
        direct_drive_snapshot_identifier: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_as_the_real_extension_judges_them() {
        assert_eq!(judge(StatusCode::OK, "{}"), 200);
        assert_eq!(judge(StatusCode::CREATED, ""), EMPTY_SUCCESS);
        assert_eq!(judge(StatusCode::NOT_FOUND, ""), 404);
        assert_eq!(
            judge(StatusCode::INTERNAL_SERVER_ERROR, "Service Unavailable"),
            REMOTE_SERVER_ERROR
        );
        assert_eq!(
            judge(StatusCode::INTERNAL_SERVER_ERROR, "{ \"error\": {}}"),
            500
        );
    }

    #[test]
    fn only_the_string_true_is_a_success() {
        let info = |is_successful: &str| HostSnapshotInfo {
            is_successful: is_successful.to_owned(),
            ..HostSnapshotInfo::taken("http://h/a/c/b?snapshot=s".to_owned())
        };
        let taken = status_snapshot(&info("true"));
        assert!(taken.is_successful);
        assert_eq!(taken.blob_uri.as_deref(), Some("http://h/a/c/b"));
        assert!(!status_snapshot(&info("True")).is_successful);
        assert!(!status_snapshot(&info("false")).is_successful);
    }
}
