//! One hosted handler package, driven as WALinuxAgent drives a handler
//! (`ExtHandlersHandler.handle_enable`, `handle_disable`, `handle_uninstall`,
//! `_update_extension_handler_and_return_if_failed`), and its status file reported on every
//! change. Each handler has a task of its own: its commands may take minutes, and the
//! VM's goal-state polling must not wait for them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use vaultsim_protocol::guest::GoalStateExtension;

use super::runner::{CommandError, CommandRunner, CommandTimeouts, Invocation, Operation};
use super::state::{compare_versions, HandlerRecord, HandlerState};
use super::status::{checked_status, error_status};
use super::{ExtensionPackage, HandlerManifest};
use crate::extension::StatusFileWritten;
use crate::guest::GuestReport;
use crate::handler::{HandlerDirs, HandlerLayout};

/// What WALinuxAgent passes for the exit code of a command it did not run.
const NOT_RUN: &str = "NOT_RUN";
/// An update that failed (`PluginUpdateProcessingFailed`).
const UPDATE_FAILED: i64 = 1008;
/// WALinuxAgent's address of the wire server, given to every command.
pub const WIRE_SERVER_ADDRESS: &str = "168.63.129.16";
/// A heartbeat file older than this is reported unresponsive (`is_responsive`).
const HEARTBEAT_FRESH_FOR: Duration = Duration::from_secs(600);

/// How the VM runs the packages it hosts.
#[derive(Debug, Clone)]
pub struct PackageHosting {
    pub timeouts: CommandTimeouts,
    pub runner: CommandRunner,
    /// `AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS`; [`WIRE_SERVER_ADDRESS`] unless a sandbox
    /// routes elsewhere.
    pub wire_protocol_address: String,
    /// How often the status file (and heartbeat) is read.
    pub status_poll: Duration,
}

impl Default for PackageHosting {
    /// The guest agent's time limits, commands started as they are, status read each second.
    fn default() -> PackageHosting {
        PackageHosting {
            timeouts: CommandTimeouts::GUEST_AGENT,
            runner: CommandRunner::default(),
            wire_protocol_address: WIRE_SERVER_ADDRESS.to_owned(),
            status_poll: Duration::from_secs(1),
        }
    }
}

/// What the goal state asks of the handler.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// Nothing asked yet.
    Unknown,
    /// The extension is not in the goal state: uninstall whatever version is installed.
    Absent,
    Present(GoalStateExtension),
}

/// A handler package hosted for one VM.
pub struct HostedHandler {
    target: watch::Sender<Target>,
    task: JoinHandle<()>,
}

impl HostedHandler {
    /// Starts the handler's task under `handler_root` (what stands for `/var/lib/waagent`);
    /// it acts once [`HostedHandler::want`] is called.
    pub fn start(
        package: ExtensionPackage,
        handler_root: PathBuf,
        hosting: PackageHosting,
        statuses: mpsc::UnboundedSender<GuestReport>,
    ) -> HostedHandler {
        let (target, targets) = watch::channel(Target::Unknown);
        let handler = Handler {
            handler_name: package.handler_name(),
            package,
            handler_root,
            config: hosting,
            statuses,
        };
        HostedHandler {
            target,
            task: tokio::spawn(handler.drive(targets)),
        }
    }

    /// The goal state's entry for this handler, or `None` when it has none. Acts only on a
    /// change; the latest wish wins over ones not yet acted on.
    pub fn want(&self, extension: Option<&GoalStateExtension>) {
        let wanted = extension.map_or(Target::Absent, |e| Target::Present(e.clone()));
        self.target.send_if_modified(|current| {
            let changed = *current != wanted;
            *current = wanted;
            changed
        });
    }
}

impl Drop for HostedHandler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The status file of the sequence number being reported.
struct StatusWatch {
    extension_name: String,
    sequence_number: i64,
    last_read: Option<Vec<u8>>,
    heartbeat: Option<Value>,
}

/// Why an operation stopped, as it is reported.
struct Failure {
    operation: &'static str,
    code: i64,
    message: String,
}

impl Failure {
    fn of(operation: Operation, error: &CommandError) -> Failure {
        let code = match error {
            CommandError::TimedOut { .. } => 1011,
            _ => operation.error_code(),
        };
        Failure {
            operation: operation.name(),
            code,
            message: error.to_string(),
        }
    }

    /// The handler's files could not be laid out or read.
    fn files(operation: &'static str, error: impl std::fmt::Display) -> Failure {
        Failure {
            operation,
            code: -1,
            message: format!("The handler's files cannot be used: {error}"),
        }
    }
}

/// One installed version and the manifest it was installed with.
struct Installed {
    record: HandlerRecord,
    manifest: HandlerManifest,
}

impl Installed {
    fn load(record: HandlerRecord) -> std::io::Result<Installed> {
        let bytes = std::fs::read(record.dir.join(super::HANDLER_MANIFEST))?;
        let manifest = HandlerManifest::parse(&bytes).map_err(std::io::Error::other)?;
        Ok(Installed { record, manifest })
    }
}

struct Handler {
    handler_name: String,
    package: ExtensionPackage,
    handler_root: PathBuf,
    config: PackageHosting,
    statuses: mpsc::UnboundedSender<GuestReport>,
}

impl Handler {
    async fn drive(self, mut targets: watch::Receiver<Target>) {
        let mut watching: Option<StatusWatch> = None;
        let mut tick = tokio::time::interval(self.config.status_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = targets.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let target = targets.borrow_and_update().clone();
                    watching = self.reconcile(target).await;
                }
                _ = tick.tick(), if watching.is_some() => {
                    if let Some(watch) = watching.as_mut() {
                        self.poll(watch);
                    }
                }
            }
        }
    }

    fn current(&self) -> HandlerRecord {
        HandlerRecord::new(
            &self.handler_root,
            &self.handler_name,
            &self.package.version,
        )
    }

    /// Brings the handler to what the goal state asks; answers the status to watch.
    async fn reconcile(&self, target: Target) -> Option<StatusWatch> {
        let extension = match target {
            Target::Unknown => return None,
            Target::Absent => {
                self.uninstall_all(None).await;
                return None;
            }
            Target::Present(extension) => extension,
        };
        let outcome = match extension.state.as_str() {
            "enabled" => self.enable(&extension).await,
            "disabled" => self.disable(&extension).await,
            "uninstall" => {
                self.uninstall_all(Some(&extension)).await;
                return None;
            }
            other => Err(Failure {
                operation: "Enable",
                code: -1,
                message: format!(
                    "Unknown requested state for Extension {}: {other}",
                    extension.name
                ),
            }),
        };
        let mut watch = StatusWatch {
            extension_name: extension.name.clone(),
            sequence_number: extension.sequence_number,
            last_read: None,
            heartbeat: None,
        };
        match outcome {
            Ok(()) => self.poll(&mut watch),
            Err(failure) => {
                tracing::warn!(
                    handler = %self.handler_name,
                    operation = failure.operation,
                    code = failure.code,
                    message = %super::status::redact_sas(&failure.message),
                    "handler operation failed"
                );
                // What the handler wrote before failing is not reported over the failure.
                watch.last_read = std::fs::read(self.status_file(&watch)).ok();
                self.report(
                    &watch,
                    error_status(
                        &self.handler_name,
                        failure.operation,
                        failure.code,
                        &failure.message,
                        Utc::now(),
                    ),
                );
            }
        }
        Some(watch)
    }

    /// `handle_enable`: set up and install (or update from the installed version) on first
    /// sight, write the settings, and enable a sequence number not yet enabled.
    async fn enable(&self, extension: &GoalStateExtension) -> Result<(), Failure> {
        let current = self.current();
        let state = current.state();
        let mut uninstall_exit_code = None;
        if matches!(
            state,
            HandlerState::NotInstalled | HandlerState::FailedUpgrade
        ) {
            self.set_up(&current, extension)?;
            let installed = HandlerRecord::installed(
                &self.handler_root,
                &self.handler_name,
                &self.package.version,
            );
            match installed.into_iter().next() {
                None => {
                    self.run(
                        &current,
                        &self.package.manifest,
                        Operation::Install,
                        extension,
                        env([(UNINSTALL_CODE, NOT_RUN)]),
                    )
                    .await
                    .map_err(|e| Failure::of(Operation::Install, &e))?;
                    current
                        .set_state(HandlerState::Installed)
                        .map_err(|e| Failure::files("Install", e))?;
                }
                Some(old) => {
                    let old = Installed::load(old).map_err(|e| Failure::files("Update", e))?;
                    uninstall_exit_code = Some(self.update(old, &current, extension).await?);
                }
            }
        } else {
            let dirs = self.dirs().map_err(|e| Failure::files("Enable", e))?;
            write_settings(&dirs, extension).map_err(|e| Failure::files("Enable", e))?;
        }
        if current.state() == HandlerState::Enabled
            && current.enabled_sequence_number() == Some(extension.sequence_number)
        {
            return Ok(());
        }
        let uninstall_code = uninstall_exit_code.unwrap_or_else(|| NOT_RUN.to_owned());
        self.run(
            &current,
            &self.package.manifest,
            Operation::Enable,
            extension,
            env([(UNINSTALL_CODE, uninstall_code.as_str())]),
        )
        .await
        .map_err(|e| Failure::of(Operation::Enable, &e))?;
        current
            .set_state(HandlerState::Enabled)
            .and_then(|()| current.set_enabled_sequence_number(extension.sequence_number))
            .map_err(|e| Failure::files("Enable", e))?;
        Ok(())
    }

    /// `handle_disable`: disable an enabled handler; it stays installed.
    async fn disable(&self, extension: &GoalStateExtension) -> Result<(), Failure> {
        let current = self.current();
        if current.state() != HandlerState::Enabled {
            return Ok(());
        }
        self.run(
            &current,
            &self.package.manifest,
            Operation::Disable,
            extension,
            BTreeMap::new(),
        )
        .await
        .map_err(|e| Failure::of(Operation::Disable, &e))?;
        current
            .set_state(HandlerState::Installed)
            .map_err(|e| Failure::files("Disable", e))
    }

    /// `handle_uninstall` for every installed version: disable if enabled, uninstall (its
    /// failure only logged) and remove the directory.
    /// When the goal state said `uninstall` (rather than dropping the extension), the guest
    /// API hears that it is done.
    async fn uninstall_all(&self, extension: Option<&GoalStateExtension>) {
        if let Some(extension) = extension {
            self.uninstall_installed(extension).await;
            let _ = self.statuses.send(GuestReport::Uninstalled {
                extension_name: extension.name.clone(),
            });
        } else {
            self.uninstall_installed(&self.placeholder_extension())
                .await;
        }
    }

    async fn uninstall_installed(&self, extension: &GoalStateExtension) {
        let installed = HandlerRecord::installed(&self.handler_root, &self.handler_name, "");
        for record in installed {
            let old = match Installed::load(record) {
                Ok(old) => old,
                Err(error) => {
                    tracing::error!(handler = %self.handler_name, %error, "the installed handler cannot be read");
                    continue;
                }
            };
            if old.record.state() == HandlerState::Enabled {
                if let Err(error) = self
                    .run(
                        &old.record,
                        &old.manifest,
                        Operation::Disable,
                        extension,
                        BTreeMap::new(),
                    )
                    .await
                {
                    tracing::warn!(handler = %self.handler_name, error = %super::status::redact_sas(&error.to_string()), "disable before uninstall failed; the handler stays");
                    continue;
                }
            }
            if let Err(error) = self
                .run(
                    &old.record,
                    &old.manifest,
                    Operation::Uninstall,
                    extension,
                    BTreeMap::new(),
                )
                .await
            {
                tracing::warn!(handler = %self.handler_name, error = %super::status::redact_sas(&error.to_string()), "uninstall failed; removing the handler anyway");
            }
            self.remove(&old.record);
        }
    }

    /// WALinuxAgent's update sequence from `old` to the package: disable the old version,
    /// update, uninstall the old one and remove it, install the new one unless `updateMode`
    /// says otherwise. Answers the old uninstall's exit code for enable.
    async fn update(
        &self,
        old: Installed,
        current: &HandlerRecord,
        extension: &GoalStateExtension,
    ) -> Result<String, Failure> {
        let continue_on_failure = self.package.manifest.continue_on_update_failure;
        let tolerated = |operation: Operation, outcome: Result<String, CommandError>| match outcome
        {
            Ok(_) => Ok("0".to_owned()),
            Err(error) if continue_on_failure => {
                tracing::info!(handler = %self.handler_name, operation = operation.name(), "continueOnUpdateFailure: going on after a failure");
                Ok(error.exit_code(operation))
            }
            Err(error) => Err(Failure {
                operation: "Update",
                code: UPDATE_FAILED,
                message: format!("{error}; ContinueOnUpdate: False"),
            }),
        };
        let disable_exit_code = if old.record.state() == HandlerState::Enabled {
            let outcome = self
                .run(
                    &old.record,
                    &old.manifest,
                    Operation::Disable,
                    extension,
                    BTreeMap::new(),
                )
                .await;
            tolerated(Operation::Disable, outcome)?
        } else {
            NOT_RUN.to_owned()
        };
        copy_status_files(&old.record, current);
        let new_version = self.package.version.as_str();
        let upgrade = compare_versions(new_version, &old.record.version).is_ge();
        // A downgrade runs the old version's update command (WALinuxAgent does; it then
        // names the new version as the one updated from as well).
        let (runs, manifest, from) = if upgrade {
            (current, &self.package.manifest, old.record.version.as_str())
        } else {
            (&old.record, &old.manifest, new_version)
        };
        let updated = self
            .run(
                runs,
                manifest,
                Operation::Update,
                extension,
                env([
                    ("VERSION", new_version),
                    ("AZURE_GUEST_AGENT_UPDATING_FROM_VERSION", from),
                    (
                        "AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE",
                        disable_exit_code.as_str(),
                    ),
                ]),
            )
            .await;
        if let Err(error) = updated {
            // Kept, not cleaned up: the next goal state tries the upgrade again.
            let _ = current.set_state(HandlerState::FailedUpgrade);
            return Err(Failure::of(Operation::Update, &error));
        }
        let outcome = self
            .run(
                &old.record,
                &old.manifest,
                Operation::Uninstall,
                extension,
                BTreeMap::new(),
            )
            .await;
        let uninstall_exit_code = tolerated(Operation::Uninstall, outcome)?;
        self.remove(&old.record);
        if self.package.manifest.update_with_install {
            self.run(
                current,
                &self.package.manifest,
                Operation::Install,
                extension,
                env([(UNINSTALL_CODE, uninstall_exit_code.as_str())]),
            )
            .await
            .map_err(|e| Failure::of(Operation::Install, &e))?;
        }
        current
            .set_state(HandlerState::Installed)
            .map_err(|e| Failure::files("Update", e))?;
        Ok(uninstall_exit_code)
    }

    /// Unpacks the package, marks it not installed, and writes the handler environment and
    /// the settings (WALinuxAgent `__setup_new_handler`).
    fn set_up(
        &self,
        current: &HandlerRecord,
        extension: &GoalStateExtension,
    ) -> Result<(), Failure> {
        let files = |e: std::io::Error| Failure::files("Download", e);
        self.package.unpack_into(&current.dir).map_err(files)?;
        current
            .set_state(HandlerState::NotInstalled)
            .map_err(files)?;
        write_settings(&self.dirs().map_err(files)?, extension).map_err(files)
    }

    fn dirs(&self) -> std::io::Result<HandlerDirs> {
        HandlerLayout::Linux {
            root: self.handler_root.clone(),
        }
        .prepare(&self.handler_name, &self.package.version)
    }

    fn remove(&self, record: &HandlerRecord) {
        tracing::info!(handler = %self.handler_name, version = %record.version, "removing the handler directory");
        if let Err(error) = std::fs::remove_dir_all(&record.dir) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(handler = %self.handler_name, %error, "the handler directory cannot be removed");
            }
        }
    }

    /// The settings an uninstall runs with when the extension left the goal state.
    fn placeholder_extension(&self) -> GoalStateExtension {
        GoalStateExtension {
            name: self.package.extension_type.clone(),
            publisher: self.package.publisher.clone(),
            extension_type: self.package.extension_type.clone(),
            version: self.package.version.clone(),
            state: "uninstall".to_owned(),
            sequence_number: 0,
            settings: vaultsim_protocol::guest::ExtensionSettingsFile {
                runtime_settings: Vec::new(),
            },
        }
    }

    /// Runs one of `record`'s commands with the guest agent's environment
    /// (`launch_command`).
    async fn run(
        &self,
        record: &HandlerRecord,
        manifest: &HandlerManifest,
        operation: Operation,
        extension: &GoalStateExtension,
        mut environment: BTreeMap<String, String>,
    ) -> Result<String, CommandError> {
        let command = match operation {
            Operation::Install => &manifest.install_command,
            Operation::Enable => &manifest.enable_command,
            Operation::Disable => &manifest.disable_command,
            Operation::Update => &manifest.update_command,
            Operation::Uninstall => &manifest.uninstall_command,
        };
        let dir = record.dir.to_string_lossy().into_owned();
        environment.extend(env([
            ("AZURE_GUEST_AGENT_EXTENSION_PATH", dir.as_str()),
            (
                "AZURE_GUEST_AGENT_EXTENSION_VERSION",
                record.version.as_str(),
            ),
            (
                "AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS",
                self.config.wire_protocol_address.as_str(),
            ),
            (
                "ConfigSequenceNumber",
                &extension.sequence_number.to_string(),
            ),
        ]));
        tracing::info!(
            handler = %self.handler_name,
            version = %record.version,
            operation = operation.name(),
            sequence_number = extension.sequence_number,
            "running the handler command"
        );
        let output = self
            .config
            .runner
            .run(Invocation {
                command,
                extension_dir: &record.dir,
                environment,
                timeout: self.config.timeouts.of(operation),
            })
            .await?;
        tracing::debug!(handler = %self.handler_name, operation = operation.name(), output = %super::status::redact_sas(&output), "the handler command ended");
        Ok(output)
    }

    fn status_file(&self, watch: &StatusWatch) -> PathBuf {
        self.current()
            .dir
            .join("status")
            .join(format!("{}.status", watch.sequence_number))
    }

    /// Reports the status file if it changed since it was last read, and the heartbeat if it
    /// changed (for a handler whose manifest asks for it).
    fn poll(&self, watch: &mut StatusWatch) {
        if let Ok(bytes) = std::fs::read(self.status_file(watch)) {
            if watch.last_read.as_deref() != Some(bytes.as_slice()) {
                let document = checked_status(
                    &bytes,
                    &self.handler_name,
                    watch.sequence_number,
                    Utc::now(),
                );
                watch.last_read = Some(bytes);
                self.report(watch, document);
            }
        }
        if self.package.manifest.report_heartbeat {
            let heartbeat = self.heartbeat();
            if watch.heartbeat.as_ref() != Some(&heartbeat) {
                tracing::info!(handler = %self.handler_name, %heartbeat, "heartbeat");
                let _ = self.statuses.send(GuestReport::Heartbeat {
                    extension_name: watch.extension_name.clone(),
                    heartbeat: heartbeat.clone(),
                });
                watch.heartbeat = Some(heartbeat);
            }
        }
    }

    /// The handler's heartbeat as WALinuxAgent reads it (`collect_heartbeat`).
    fn heartbeat(&self) -> Value {
        let path = self.current().dir.join("heartbeat.log");
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age <= HEARTBEAT_FRESH_FOR);
        if !fresh {
            return serde_json::json!({"status": "Unresponsive", "code": -1,
                "message": "Extension heartbeat is not responsive"});
        }
        std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .map(|document| document[0]["heartbeat"].clone())
            .filter(|heartbeat| !heartbeat.is_null())
            .unwrap_or_else(|| {
                serde_json::json!({"status": "error", "code": -1,
                "message": "Malformed heartbeat file"})
            })
    }

    fn report(&self, watch: &StatusWatch, file: Value) {
        // The guest agent may be gone when the VM stops.
        let _ = self.statuses.send(GuestReport::Status(StatusFileWritten {
            extension_name: watch.extension_name.clone(),
            sequence_number: watch.sequence_number,
            file,
        }));
    }
}

const UNINSTALL_CODE: &str = "AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE";

fn env<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// `config/<seq>.settings` as the goal state gives it: protected settings stay encrypted.
fn write_settings(dirs: &HandlerDirs, extension: &GoalStateExtension) -> std::io::Result<()> {
    let settings = serde_json::to_value(&extension.settings).map_err(std::io::Error::other)?;
    dirs.write_settings(extension.sequence_number, &settings)
}

/// The old version's status files carried over, so the new one reports on (WALinuxAgent
/// `copy_status_files`).
fn copy_status_files(old: &HandlerRecord, new: &HandlerRecord) {
    let (from, to) = (old.dir.join("status"), new.dir.join("status"));
    for entry in std::fs::read_dir(&from).into_iter().flatten().flatten() {
        let target = to.join(entry.file_name());
        if !target.exists() {
            let _ = std::fs::copy(entry.path(), target);
        }
    }
}

/// The status reported for a goal-state extension that neither a package nor the built-in
/// extension hosts: what the guest agent reports for a handler it cannot download.
pub fn unavailable_status(extension: &GoalStateExtension) -> StatusFileWritten {
    let handler_name = format!("{}.{}", extension.publisher, extension.extension_type);
    StatusFileWritten {
        extension_name: extension.name.clone(),
        sequence_number: extension.sequence_number,
        file: error_status(
            &handler_name,
            "Download",
            -1,
            &format!(
                "Failed to download artifacts: No package uri found \
                 (no --extension-package hosts {handler_name})"
            ),
            Utc::now(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_nothing_hosts_is_reported_as_not_downloadable() {
        let extension = GoalStateExtension {
            name: "Monitor".to_owned(),
            publisher: "Contoso".to_owned(),
            extension_type: "Monitor".to_owned(),
            version: "1.0".to_owned(),
            state: "enabled".to_owned(),
            sequence_number: 4,
            settings: vaultsim_protocol::guest::ExtensionSettingsFile {
                runtime_settings: Vec::new(),
            },
        };
        let reported = unavailable_status(&extension);
        assert_eq!(reported.extension_name, "Monitor");
        assert_eq!(reported.sequence_number, 4);
        let status = &reported.file[0]["status"];
        assert_eq!(status["name"], "Contoso.Monitor");
        assert_eq!(status["operation"], "Download");
        assert_eq!(status["status"], "error");
        assert_eq!(status["code"], -1);
        let message = status["formattedMessage"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("Failed to download artifacts: No package uri found"),
            "{message}"
        );
    }
}
