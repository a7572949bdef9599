//! The VMSnapshot extension as the real Linux one behaves (spec §1–§4), and as the Windows
//! one is inferred to (its files in the Windows agent's layout, quiesced by VSS alone, the
//! same status JSON under its own handler name): `enable` returns
//! at once and leaves the work to a background run (the real one's daemon), which checks
//! the task, writes the transitioning status, quiesces the guest, snapshots every disk
//! through its SAS, thaws, and reports the final status to the status file, the status
//! blob and the logs blob.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vaultsim_protocol::extension::codes;
use vaultsim_protocol::extension::settings::HandlerSettings;
use vaultsim_protocol::extension::status::{StatusEntry, StatusFacts};
use vaultsim_protocol::extension::{LINUX_TYPE, PUBLISHER, WINDOWS_TYPE};

use crate::guest::GuestReport;
use crate::handler::HandlerDirs;
use crate::keys::VmKeys;
use crate::localdisk::LocalDisk;
use crate::vss::freeze::Freezer;
use crate::vss::requester::QuiesceSettings;
use host::HostSnapshotter;

/// Host time as the VM sees it.
pub mod clock;
/// Opening the CMS-encrypted protected settings.
pub mod decrypt;
/// The wire server's presnapshot/dosnapshot, as the extension calls them.
pub mod host;
mod run;
/// Disk snapshots and the status and log blob uploads.
pub mod storage;

pub use clock::HostClock;
pub use run::RunReport;

/// The published version of the Linux extension (`manifest.xml`).
pub const LINUX_EXTENSION_VERSION: &str = "1.0.9184.0";
/// The Windows extension's version: Azure hands out handler version 1.9 and the guest agent
/// installs its newest 1.9.x build, whose build number is not published.
pub const WINDOWS_EXTENSION_VERSION: &str = "1.9.0.0";
/// A command older than this by `commandStartTimeUTCTicks` is refused with 402.
pub const STALE_AFTER: Duration = Duration::from_secs(140 * 60);

/// The version the built-in extension installs as, by its type.
pub fn extension_version(extension_type: &str) -> &'static str {
    if extension_type == WINDOWS_TYPE {
        WINDOWS_EXTENSION_VERSION
    } else {
        LINUX_EXTENSION_VERSION
    }
}

/// Whether a goal-state extension is the snapshot extension.
pub fn is_snapshot_extension(publisher: &str, extension_type: &str) -> bool {
    publisher == PUBLISHER && (extension_type == LINUX_TYPE || extension_type == WINDOWS_TYPE)
}

/// How one VM's extension behaves.
#[derive(Debug, Clone)]
pub struct ExtensionConfig {
    /// The random delay before enable accepts a task; the real one sleeps 0.5–5 s.
    pub start_delay: (Duration, Duration),
    /// What the real one reads from `/etc/azure/machine_identity_…`.
    pub unique_machine_id: String,
    pub quiesce: QuiesceSettings,
}

impl ExtensionConfig {
    pub const REAL_START_DELAY: (Duration, Duration) =
        (Duration::from_millis(500), Duration::from_secs(5));
}

/// A status the extension wrote to `status/<seq>.status`, for the guest agent to report.
#[derive(Debug, Clone)]
pub struct StatusFileWritten {
    pub extension_name: String,
    pub sequence_number: i64,
    pub file: Value,
}

/// What enable did.
#[derive(Debug)]
pub enum Enabled {
    /// The sequence number is the one `mrseq` holds: nothing to do.
    AlreadyHandled,
    /// The task id is the last one accepted: dropped without a status, as the real one does.
    RepeatedTask,
    /// The settings name no task (no public settings): nothing written.
    NoTask,
    /// The run was started; its report arrives when it ends.
    Started(JoinHandle<RunReport>),
}

/// Why enable could not even look at the settings.
#[derive(Debug, thiserror::Error)]
pub enum EnableError {
    #[error("the extension's files cannot be used: {0}")]
    Files(#[from] std::io::Error),
}

/// The VM's local disk images, each mirrored to its page blob, by `<container>/<blob>`.
pub type LocalDisks = Arc<Vec<(String, tokio::sync::Mutex<LocalDisk>)>>;

/// What the VM gives the extensions it hosts.
#[derive(Clone)]
pub struct GuestContext<F: Freezer + Clone> {
    pub keys: VmKeys,
    pub http: reqwest::Client,
    pub clock: HostClock,
    pub freezer: F,
    pub local_disks: LocalDisks,
    /// Where the status files the extension writes go, for the guest agent to report.
    pub statuses: mpsc::UnboundedSender<GuestReport>,
    /// The wire server's base URL (the guest API's), where the real extension calls
    /// 168.63.129.16 for the host snapshot path.
    pub wire_server: String,
}

/// One VM's snapshot extension.
pub struct SnapshotExtension<F: Freezer + Clone> {
    /// `<Publisher>.<Type>`, the handler name statuses carry.
    handler_name: String,
    /// The extension's name in the goal state, under which status is reported.
    extension_name: String,
    dirs: HandlerDirs,
    config: ExtensionConfig,
    keys: VmKeys,
    http: reqwest::Client,
    clock: HostClock,
    freezer: F,
    local_disks: LocalDisks,
    statuses: mpsc::UnboundedSender<GuestReport>,
    host: HostSnapshotter,
}

impl<F: Freezer + Clone + 'static> SnapshotExtension<F> {
    pub fn new(
        extension_name: &str,
        extension_type: &str,
        dirs: HandlerDirs,
        config: ExtensionConfig,
        guest: GuestContext<F>,
    ) -> Self {
        SnapshotExtension {
            handler_name: format!("{PUBLISHER}.{extension_type}"),
            extension_name: extension_name.to_owned(),
            dirs,
            config,
            keys: guest.keys,
            host: HostSnapshotter::new(guest.http.clone(), &guest.wire_server),
            http: guest.http,
            clock: guest.clock,
            freezer: guest.freezer,
            local_disks: guest.local_disks,
            statuses: guest.statuses,
        }
    }

    pub fn dirs(&self) -> &HandlerDirs {
        &self.dirs
    }

    /// `enable` for `config/<sequence_number>.settings` (spec §3.1): skip a handled
    /// sequence number, sleep the start delay, drop a repeated task, write the
    /// transitioning status and start the run.
    pub async fn enable(self: &Arc<Self>, sequence_number: i64) -> Result<Enabled, EnableError> {
        if self.dirs.last_sequence_number() == Some(sequence_number) {
            return Ok(Enabled::AlreadyHandled);
        }
        self.dirs.archive_other_sequence_numbers(sequence_number)?;
        self.dirs.set_last_sequence_number(sequence_number)?;
        let settings = self.dirs.read_settings(sequence_number)?;
        let Some(public) = public_settings(&settings) else {
            return Ok(Enabled::NoTask);
        };
        let (low, high) = self.config.start_delay;
        if high > Duration::ZERO {
            let delay = rand::thread_rng().gen_range(low..=high);
            tokio::time::sleep(delay).await;
        }
        if self.dirs.last_task_id().as_deref() == Some(public.task_id.as_str()) {
            return Ok(Enabled::RepeatedTask);
        }
        self.dirs.set_last_task_id(&public.task_id)?;
        let transitioning =
            self.transitioning_status(&public.task_id, &public.command_start_time_utc_ticks);
        self.write_status_file(sequence_number, &transitioning)?;
        let extension = Arc::clone(self);
        Ok(Enabled::Started(tokio::spawn(async move {
            extension.run(sequence_number).await
        })))
    }

    /// The fixed parts of every status of a task, as a transitioning status (code 4, no
    /// snapshots yet).
    fn facts(&self, task_id: &str, ticks: &str) -> StatusFacts {
        StatusFacts {
            handler_name: self.handler_name.clone(),
            task_id: task_id.to_owned(),
            command_start_time_utc_ticks: ticks.to_owned(),
            code: codes::TRANSITIONING,
            health_status_code: codes::TRANSITIONING,
            message: String::new(),
            crash_consistent: false,
            snapshots: None,
            unique_machine_id: self.config.unique_machine_id.clone(),
            timestamp: self.clock.now(),
        }
    }

    /// The status written before the snapshot, by enable and again by the run.
    fn transitioning_status(&self, task_id: &str, ticks: &str) -> StatusEntry {
        StatusEntry::new(StatusFacts {
            message: "Transitioning state in extension".to_owned(),
            ..self.facts(task_id, ticks)
        })
    }

    /// Writes `status/<seq>.status` and hands it to the guest agent.
    fn write_status_file(&self, sequence_number: i64, status: &StatusEntry) -> std::io::Result<()> {
        let file = status.to_status_file(self.clock.now());
        self.dirs.write_status(sequence_number, &file)?;
        // The guest agent may be gone when the VM stops; the file is written regardless.
        let _ = self.statuses.send(GuestReport::Status(StatusFileWritten {
            extension_name: self.extension_name.clone(),
            sequence_number,
            file,
        }));
        Ok(())
    }
}

/// The task's public settings, if the settings file holds handler settings at all.
fn public_settings(
    settings: &Value,
) -> Option<vaultsim_protocol::extension::settings::PublicSettings> {
    let handler = settings["runtimeSettings"][0]["handlerSettings"]["publicSettings"].clone();
    serde_json::from_value(handler).ok()
}

/// The handler settings of a settings file.
fn handler_settings(settings: &Value) -> Option<HandlerSettings> {
    serde_json::from_value(settings["runtimeSettings"][0]["handlerSettings"].clone()).ok()
}
