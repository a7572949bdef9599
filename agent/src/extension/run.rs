//! The run enable leaves behind (the real extension's daemon, spec §3.2): checks, the
//! transitioning status to the blob, quiesce and snapshot, the final status and the logs.

use std::time::Instant;

use vaultsim_protocol::extension::codes;
use vaultsim_protocol::extension::host_snapshot::{SnapshotMethod, GUEST_CREATOR};
use vaultsim_protocol::extension::settings::{
    decode_object_str, ObjectStrProtected, ObjectStrPublic, ProtectedSettings, PublicSettings,
};
use vaultsim_protocol::extension::status::{
    SnapshotInfo, StatusEntry, StatusFacts, TelemetryEntry,
};
use vaultsim_protocol::extension::ticks::parse_ticks_string;

use super::decrypt::decrypt_protected_settings;
use super::host::{HostCalls, HostRecord};
use super::storage::{self, BlobWriter};
use super::{handler_settings, SnapshotExtension, STALE_AFTER};
use crate::vss::freeze::Freezer;
use crate::vss::log::ExtensionLog;
use crate::vss::requester::{QuiesceOutcome, QuiesceSettings, Requester, SnapshotResult};

/// What a run ended with.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub sequence_number: i64,
    /// The final status, or `None` when the settings allowed none (as in the real one).
    pub status: Option<StatusEntry>,
    /// Whether the final status reached the status blob.
    pub status_uploaded: bool,
    /// How long the filesystems were frozen, if they were.
    pub frozen_for: Option<std::time::Duration>,
}

impl RunReport {
    /// A run that wrote no status.
    pub fn none(sequence_number: i64) -> RunReport {
        RunReport {
            sequence_number,
            status: None,
            status_uploaded: false,
            frozen_for: None,
        }
    }
}

/// The two syncs of a local disk in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncMoment {
    /// Moves the bulk while the guest runs; the guest's dirty data is written back first.
    BeforeFreeze,
    /// Moves only what changed since.
    WhileFrozen,
}

impl std::fmt::Display for SyncMoment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncMoment::BeforeFreeze => "before the freeze",
            SyncMoment::WhileFrozen => "while frozen",
        })
    }
}

const STALE_MESSAGE: &str = "CRP timeout limit has reached, will not take snapshot.";
const UNSYNCED_MESSAGE: &str = "the local disk image could not be mirrored to its blob";

/// One task's state while it runs.
struct Task<'a> {
    sequence_number: i64,
    public: PublicSettings,
    protected: Option<ProtectedSettings>,
    writer: BlobWriter,
    log: &'a ExtensionLog,
    telemetry: Vec<TelemetryEntry>,
    /// Its presnapshot/dosnapshot calls, which every staleness check makes too.
    host: HostCalls,
}

/// Who takes the disk snapshots, as `takeSnapshotFrom` and the host's presnapshot decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SnapshotPath {
    /// The host, through dosnapshot.
    Host,
    /// The extension, through each disk's SAS URI.
    Guest,
    /// The extension, then the host if every guest snapshot failed (`firstGuestThenHost`).
    GuestThenHost,
}

impl<F: Freezer + Clone + 'static> SnapshotExtension<F> {
    pub(super) async fn run(&self, sequence_number: i64) -> RunReport {
        let log = ExtensionLog::new();
        log.info(format!(
            "daemon started for sequence number {sequence_number}"
        ));
        let report = self.run_task(sequence_number, &log).await;
        if let Err(error) = append(&self.dirs.log_file, &log.text()) {
            tracing::warn!(%error, "the extension log file cannot be written");
        }
        report
    }

    async fn run_task(&self, sequence_number: i64, log: &ExtensionLog) -> RunReport {
        let no_status = RunReport::none(sequence_number);
        let settings = match self.dirs.read_settings(sequence_number) {
            Ok(settings) => settings,
            Err(error) => {
                log.error(format!("the settings file cannot be read: {error}"));
                return no_status;
            }
        };
        let Some(handler) = handler_settings(&settings) else {
            // The real extension throws building a status without public settings.
            log.error("the settings hold no handler settings; no status can be written");
            return no_status;
        };
        let protected =
            decrypt_protected_settings(&handler.protected_settings, self.keys.private_key_pem())
                .map_err(|e| e.to_string())
                .and_then(|plain| {
                    serde_json::from_slice::<ProtectedSettings>(&plain).map_err(|e| {
                        format!(
                            "the protected settings are not the extension's JSON ({:?} at line {})",
                            e.classify(),
                            e.line()
                        )
                    })
                });
        if let Err(error) = self.dirs.strip_protected_settings(sequence_number) {
            log.warning(format!(
                "protectedSettings stay in the settings file: {error}"
            ));
        }
        let host = self.host_calls(&handler.public_settings);
        let mut task = Task {
            sequence_number,
            public: handler.public_settings,
            protected: None,
            writer: BlobWriter::default(),
            log,
            telemetry: Vec::new(),
            host,
        };
        let protected = match protected {
            Ok(protected) => protected,
            Err(error) => {
                log.error(format!("protected settings: {error}"));
                return self
                    .finish(
                        &mut task,
                        codes::GUEST_AGENT_CERTIFICATE_NOT_FOUND,
                        codes::GUEST_AGENT_CERTIFICATE_NOT_FOUND,
                        "Unable to load certificate or decrypt the protected settings",
                        None,
                        false,
                    )
                    .await;
            }
        };
        task.protected = Some(protected.clone());
        if self
            .is_stale(&task.public.command_start_time_utc_ticks, &task.host)
            .await
        {
            log.error("the command is older than 140 minutes");
            return self
                .finish(
                    &mut task,
                    codes::COMMAND_TOO_LATE,
                    codes::COMMAND_TOO_LATE,
                    STALE_MESSAGE,
                    None,
                    false,
                )
                .await;
        }
        let command = task.public.command_to_execute.to_lowercase();
        if command.contains("install") {
            return self
                .finish(
                    &mut task,
                    codes::SUCCESS,
                    codes::SUCCESS,
                    "Install succeeded",
                    None,
                    false,
                )
                .await;
        }
        if !command.contains("snapshot") {
            return self
                .finish(
                    &mut task,
                    codes::ERROR_PARAMETER,
                    codes::ERROR_PARAMETER,
                    "the command to execute is not known",
                    None,
                    false,
                )
                .await;
        }
        let public_object: ObjectStrPublic = match decode_object_str(&task.public.object_str) {
            Ok(object) => object,
            Err(error) => {
                log.error(format!("public objectStr: {error}"));
                return self
                    .finish(
                        &mut task,
                        codes::ERROR_PARAMETER,
                        codes::ERROR_PARAMETER,
                        "backupMetadata is missing",
                        None,
                        false,
                    )
                    .await;
            }
        };
        let disks: ObjectStrProtected = match decode_object_str(&protected.object_str) {
            Ok(disks) => disks,
            Err(error) => {
                log.error(format!("protected objectStr: {error}"));
                return self
                    .finish(
                        &mut task,
                        codes::ERROR_PARAMETER,
                        codes::ERROR_PARAMETER,
                        "the disk SAS URIs are missing",
                        None,
                        false,
                    )
                    .await;
            }
        };

        // Transitioning to the file and the blob, and the logs so far.
        let transitioning = self.transitioning_status(
            &task.public.task_id,
            &task.public.command_start_time_utc_ticks,
        );
        if let Err(error) = self.write_status_file(sequence_number, &transitioning) {
            log.warning(format!("the status file cannot be written: {error}"));
        }
        if let Err(error) = task
            .writer
            .upload(
                &self.http,
                &protected.status_blob_uri,
                &transitioning.to_blob_bytes(),
            )
            .await
        {
            log.error(format!("status blob upload failed: {error}"));
        }
        self.upload_logs(&mut task, &protected).await;

        // The bulk of a local disk's changes moves now, before the guest is quiesced.
        self.sync_local_disks(log, &disks.blob_sas_uri, SyncMoment::BeforeFreeze)
            .await;
        log.info(format!("snapshotting {} disks", disks.blob_sas_uri.len()));
        let ticks = task.public.command_start_time_utc_ticks.clone();
        let started = Instant::now();
        let requester = Requester::new(
            QuiesceSettings {
                crash_consistent_allowed: crash_consistent_allowed(
                    task.public.custom_settings.as_deref(),
                    disks.blob_sas_uri.len(),
                ),
                ..self.config.quiesce.clone()
            },
            self.freezer.clone(),
        );
        let path = self.snapshot_path(&task, log).await;
        let host = &task.host;
        let outcome = requester
            .run(log, || {
                self.snapshot_step(log, &ticks, &public_object, &disks.blob_sas_uri, host, path)
            })
            .await;
        task.telemetry.push(telemetry(
            "snapshotTimeTaken",
            &format!("{}", started.elapsed().as_millis()),
        ));
        self.finish_with(&mut task, outcome).await
    }

    /// The task's host calls: by `customSettings.backupTaskId` when it names one, with the
    /// public objectStr's token (none if it does not decode; the run fails on it later).
    fn host_calls(&self, public: &PublicSettings) -> HostCalls {
        let backup_task_id = public
            .custom_settings
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|settings| settings["backupTaskId"].as_str().map(str::to_owned));
        let token = decode_object_str::<ObjectStrPublic>(&public.object_str)
            .ok()
            .and_then(|object| object.snapshot_task_token);
        HostCalls::new(
            self.host.clone(),
            backup_task_id.unwrap_or_else(|| public.task_id.clone()),
            token,
        )
    }

    /// Who snapshots (spec §3.5): `takeSnapshotFrom`, and for `firstHostThenGuest` whether
    /// the host's presnapshot answers 200/201.
    async fn snapshot_path(&self, task: &Task<'_>, log: &ExtensionLog) -> SnapshotPath {
        let method = SnapshotMethod::from_custom_settings(task.public.custom_settings.as_deref());
        let path = match method {
            SnapshotMethod::OnlyHost => SnapshotPath::Host,
            SnapshotMethod::OnlyGuest => SnapshotPath::Guest,
            SnapshotMethod::FirstGuestThenHost => SnapshotPath::GuestThenHost,
            SnapshotMethod::FirstHostThenGuest => match task.host.host_is_there().await {
                true => SnapshotPath::Host,
                false => SnapshotPath::Guest,
            },
        };
        log.info(format!(
            "takeSnapshotFrom {method}: snapshotting by {path:?}"
        ));
        path
    }

    /// Between freeze and thaw: the staleness check again, then every disk's snapshot, by
    /// the host or through the SAS URIs.
    async fn snapshot_step(
        &self,
        log: &ExtensionLog,
        ticks: &str,
        public_object: &ObjectStrPublic,
        sas_uris: &[String],
        host: &HostCalls,
        path: SnapshotPath,
    ) -> SnapshotResult {
        if self.is_stale(ticks, host).await {
            log.error("the command became too old while the guest was quiesced");
            return SnapshotResult {
                code: codes::COMMAND_TOO_LATE,
                health_status_code: codes::COMMAND_TOO_LATE,
                message: STALE_MESSAGE.to_owned(),
                snapshots: Vec::new(),
            };
        }
        // Only the last delta of a local disk moves while frozen; a disk whose blob could
        // not be brought up to date is not snapshotted (its snapshot would be stale).
        let unsynced = self
            .sync_local_disks(log, sas_uris, SyncMoment::WhileFrozen)
            .await;
        let mut snapshots = match path {
            SnapshotPath::Host => Vec::new(),
            SnapshotPath::Guest | SnapshotPath::GuestThenHost => {
                host.created_by(GUEST_CREATOR);
                self.guest_snapshots(public_object, sas_uris, &unsynced)
                    .await
            }
        };
        let guest_all_failed = snapshots.iter().all(|s| !s.is_successful);
        if path == SnapshotPath::Host || (path == SnapshotPath::GuestThenHost && guest_all_failed) {
            snapshots = host_snapshots(host, public_object, &unsynced).await;
        }
        let (code, health_status_code) = storage::snapshot_code(&snapshots);
        for info in &snapshots {
            let blob = info.blob_uri.as_deref().unwrap_or_default();
            match info.is_successful {
                true => log.info(format!("snapshot of {blob} taken")),
                false => log.error(format!(
                    "snapshot of {blob} failed: {}",
                    info.error_message.as_deref().unwrap_or_default()
                )),
            }
        }
        let message = match code {
            codes::SUCCESS => String::new(),
            _ => "Snapshot of some or all disks failed".to_owned(),
        };
        SnapshotResult {
            code,
            health_status_code,
            message,
            snapshots,
        }
    }

    /// Every disk's snapshot through its SAS URI, in SAS URI order; a disk whose local
    /// image is in `unsynced` is not snapshotted (its snapshot would be stale).
    async fn guest_snapshots(
        &self,
        public_object: &ObjectStrPublic,
        sas_uris: &[String],
        unsynced: &[String],
    ) -> Vec<SnapshotInfo> {
        let synced: Vec<String> = sas_uris
            .iter()
            .filter(|uri| !unsynced.contains(&storage::blob_uri(uri)))
            .cloned()
            .collect();
        let mut taken =
            storage::snapshot_disks(&self.http, &synced, &public_object.backup_metadata)
                .await
                .into_iter();
        sas_uris
            .iter()
            .map(|uri| {
                let blob = storage::blob_uri(uri);
                match unsynced.contains(&blob) {
                    true => storage::failed_snapshot(blob, UNSYNCED_MESSAGE),
                    false => taken.next().expect("one outcome per synced disk"),
                }
            })
            .collect()
    }

    /// Brings every local disk of the task up to date; answers the blob URLs of those that
    /// could not be.
    async fn sync_local_disks(
        &self,
        log: &ExtensionLog,
        sas_uris: &[String],
        when: SyncMoment,
    ) -> Vec<String> {
        let mut unsynced = Vec::new();
        for uri in sas_uris {
            let blob = storage::blob_uri(uri);
            let Some((_, disk)) = self
                .local_disks
                .iter()
                .find(|(path, _)| blob.ends_with(&format!("/{path}")))
            else {
                continue;
            };
            let mut disk = disk.lock().await;
            if when == SyncMoment::BeforeFreeze {
                if let Err(error) = disk.write_back_guest_changes() {
                    log.warning(format!("local disk {blob}: the guest's writes could not be written back first: {error}"));
                }
            }
            match disk.sync().await {
                Ok(stats) => log.info(format!(
                    "local disk {blob} synced {when}: {} bytes read, {} uploaded, {} cleared in {} ms",
                    stats.scanned_bytes,
                    stats.uploaded_bytes,
                    stats.cleared_bytes,
                    stats.elapsed.as_millis()
                )),
                Err(error) => {
                    log.error(format!("local disk {blob} could not be synced {when}: {error}"));
                    unsynced.push(blob);
                }
            }
        }
        unsynced
    }

    async fn finish_with(&self, task: &mut Task<'_>, outcome: QuiesceOutcome) -> RunReport {
        task.telemetry.extend(
            outcome
                .telemetry
                .iter()
                .map(|(key, value)| telemetry(key, value)),
        );
        let mut report = self
            .finish(
                task,
                outcome.code,
                outcome.health_status_code,
                &outcome.message,
                outcome.snapshots,
                outcome.crash_consistent,
            )
            .await;
        report.frozen_for = outcome.frozen_for;
        report
    }

    async fn upload_logs(&self, task: &mut Task<'_>, protected: &ProtectedSettings) {
        let text = task.log.text();
        if let Err(error) = task
            .writer
            .upload(&self.http, &protected.logs_blob_uri, text.as_bytes())
            .await
        {
            task.log
                .warning(format!("logs blob upload failed: {error}"));
        }
    }

    /// The final status: to the status blob (when the task names one), then the file
    /// (whose message says when the blob upload failed), then the full log.
    async fn finish(
        &self,
        task: &mut Task<'_>,
        code: u32,
        health_status_code: u32,
        message: &str,
        snapshots: Option<Vec<SnapshotInfo>>,
        crash_consistent: bool,
    ) -> RunReport {
        let host = task.host.record();
        let facts = StatusFacts {
            code,
            health_status_code,
            message: format!("{message}{}", host.message_suffix()),
            crash_consistent,
            snapshots: Some(snapshots.unwrap_or_default()),
            ..self.facts(
                &task.public.task_id,
                &task.public.command_start_time_utc_ticks,
            )
        };
        let mut status =
            self.with_telemetry(StatusEntry::new(facts.clone()), &task.telemetry, &host);
        let mut uploaded = false;
        if let Some(protected) = task.protected.clone() {
            match task
                .writer
                .upload(
                    &self.http,
                    &protected.status_blob_uri,
                    &status.to_blob_bytes(),
                )
                .await
            {
                Ok(()) => uploaded = true,
                Err(error) => {
                    task.log
                        .error(format!("status blob upload failed: {error}"));
                    status = self.with_telemetry(
                        StatusEntry::new(StatusFacts {
                            message: format!(
                                "{message} statusBlobUploadError=true, {}",
                                host.message_suffix()
                            ),
                            ..facts
                        }),
                        &task.telemetry,
                        &host,
                    );
                }
            }
            task.log.info(format!("final status code {code}"));
            self.upload_logs(task, &protected).await;
        }
        if let Err(error) = self.write_status_file(task.sequence_number, &status) {
            task.log
                .error(format!("the status file cannot be written: {error}"));
        }
        RunReport {
            sequence_number: task.sequence_number,
            status: Some(status),
            status_uploaded: uploaded,
            frozen_for: None,
        }
    }

    /// Older than [`STALE_AFTER`] by host time: the host's presnapshot `responseTime` when
    /// it answers (so the simulated clock decides), else the goal state's host clock. A
    /// start in the future, or ticks that do not parse, are not stale (as in the real one,
    /// whose `int()` fails on "6.36E+17").
    async fn is_stale(&self, ticks: &str, host: &HostCalls) -> bool {
        let Some(start) = parse_ticks_string(ticks) else {
            return false;
        };
        let now = host.host_time().await.unwrap_or_else(|| self.clock.now());
        (now - start).to_std().is_ok_and(|age| age > STALE_AFTER)
    }

    fn with_telemetry(
        &self,
        mut status: StatusEntry,
        extra: &[TelemetryEntry],
        host: &HostRecord,
    ) -> StatusEntry {
        status.status.telemetry_data.extend(extra.iter().cloned());
        status.status.telemetry_data.extend([
            telemetry("extensionVersion", &self.dirs.version),
            telemetry(
                "guestAgentVersion",
                concat!("vaultsim-agent/", env!("CARGO_PKG_VERSION")),
            ),
        ]);
        status.status.telemetry_data.extend(
            host.entries()
                .iter()
                .map(|(key, value)| telemetry(key, value)),
        );
        status
    }
}

/// The host's snapshots of the task's disks (`dosnapshot`): the LUNs of `includedDisks`
/// (−1 the OS disk; none listed: every disk), with the backup metadata. A disk whose local
/// image is in `unsynced` counts as failed: the host would snapshot a stale blob.
async fn host_snapshots(
    host: &HostCalls,
    public_object: &ObjectStrPublic,
    unsynced: &[String],
) -> Vec<SnapshotInfo> {
    let included = public_object.included_disks.clone().unwrap_or_default();
    let mut disk_ids = included.data_disk_lun_list.clone();
    if included.is_os_disk_included {
        disk_ids.insert(0, vaultsim_protocol::disk::OS_DISK_LUN);
    }
    let answer = host
        .snapshot(
            disk_ids,
            public_object.backup_metadata.clone(),
            included.instant_access_duration_minutes,
        )
        .await;
    answer
        .snapshots
        .into_iter()
        .map(|info| match &info.blob_uri {
            Some(blob) if unsynced.contains(blob) => {
                storage::failed_snapshot(blob.clone(), UNSYNCED_MESSAGE)
            }
            _ => info,
        })
        .collect()
}

/// Whether a failed freeze may still give a crash-consistent snapshot (spec §3.7): a
/// managed VM whose task allows it, on a retry, with exactly one disk. The flags arrive in
/// `customSettings`, a JSON string, as bools or as strings.
fn crash_consistent_allowed(custom_settings: Option<&str>, disks: usize) -> bool {
    let Some(settings) =
        custom_settings.and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
    else {
        return false;
    };
    let flag = |key: &str| match &settings[key] {
        serde_json::Value::Bool(value) => *value,
        serde_json::Value::String(text) => text.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let retries = match &settings["backupRetryCount"] {
        serde_json::Value::Number(count) => count.as_u64().unwrap_or(0),
        serde_json::Value::String(text) => text.parse().unwrap_or(0),
        _ => 0,
    };
    flag("isManagedVm") && flag("canTakeCrashConsistentSnapshot") && retries > 0 && disks == 1
}

fn telemetry(key: &str, value: &str) -> TelemetryEntry {
    TelemetryEntry {
        value: value.to_owned(),
        key: key.to_owned(),
    }
}

fn append(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::crash_consistent_allowed;

    #[test]
    fn crash_consistency_needs_a_managed_single_disk_retry_that_allows_it() {
        let allowed = r#"{"isManagedVm":true,"canTakeCrashConsistentSnapshot":"True","backupRetryCount":"1"}"#;
        assert!(crash_consistent_allowed(Some(allowed), 1));
        assert!(!crash_consistent_allowed(Some(allowed), 2), "one disk only");
        let first_try =
            r#"{"isManagedVm":true,"canTakeCrashConsistentSnapshot":true,"backupRetryCount":0}"#;
        assert!(!crash_consistent_allowed(Some(first_try), 1));
        assert!(!crash_consistent_allowed(
            Some(r#"{"takeSnapshotFrom":"onlyGuest"}"#),
            1
        ));
        assert!(!crash_consistent_allowed(Some("not json"), 1));
        assert!(!crash_consistent_allowed(None, 1));
    }
}
