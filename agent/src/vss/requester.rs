//! The requester: the decision logic of `handle.py daemon` (§3.3, §3.7) around the
//! snapshot, with the script writers, the simulated application writers and the file-system
//! freeze.
//!
//! Order: host and plugin checks → writers' status → writers' PrepareForBackup together with
//! the pre-scripts → writers' Freeze → file-system freeze (unless a plugin sets
//! `fsFreezeEnabled` false) → the snapshot step → file-system thaw → writers' Thaw →
//! post-scripts, which always run once pre-scripts could have run.
//!
//! Consistency: application consistent (0) when something could quiesce the application —
//! scripts configured, or simulated writers (they are VSS writers, which is what makes a
//! Windows backup application consistent) — and all of it and the freeze succeeded. With
//! neither scripts nor writers, a good snapshot is file-system consistent (1), as in the
//! real extension. Every failure on the way that still allows a snapshot leaves it file-system
//! consistent (1) with the first failure's code as the health status code; a failed freeze
//! with a crash-consistent snapshot allowed gives 1 and `crash_consistent`, and so does a
//! freeze that covered nothing of some disk (121 as its health code), whatever the writers
//! did: a disk that was not frozen is never claimed more than crash consistent.
//!
//! A Windows guest is quiesced by VSS alone: its extension has no `/etc/azure` pre/post
//! scripts and no fsfreeze (VSS's own flush-and-hold of the volumes is not simulated), so
//! the simulated writers decide: application consistent when there are writers and all of
//! them succeeded, file-system consistent otherwise.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;
use vaultsim_protocol::extension::codes::{
    ERROR, FS_FREEZE_FAILED, SUCCESS, SUCCESS_APP_CONSISTENT,
};
use vaultsim_protocol::extension::status::SnapshotInfo;
use vaultsim_protocol::extension::timedelta;

use super::freeze::{FreezeFailure, Freezer, ThawFailure};
use super::log::ExtensionLog;
use super::plugin_config::DEFAULT_CONFIG_DIR;
use super::scripts::{check_script_setup, run_scripts, ScriptPhase, ScriptSetup};
use super::writers::{WriterFailure, WriterSession, WriterSpec, VSS_FREEZE_WINDOW};
use crate::os::GuestOs;

/// What the guest's quiesce is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuiesceSettings {
    /// Where `VMSnapshotPluginHost.conf` and the plugin config live (`/etc/azure`).
    pub config_dir: PathBuf,
    pub writers: Vec<WriterSpec>,
    /// §3.7: `isManagedVm`, `canTakeCrashConsistentSnapshot`, `backupRetryCount` > 0 and
    /// exactly one LUN; the extension works it out from its settings.
    pub crash_consistent_allowed: bool,
    /// From the writers' Freeze to their Thaw (VSS: 60 s).
    pub vss_freeze_window: Duration,
    /// Linux: scripts, writers and fsfreeze; Windows: the writers alone.
    pub os: GuestOs,
}

impl Default for QuiesceSettings {
    fn default() -> Self {
        Self {
            config_dir: PathBuf::from(DEFAULT_CONFIG_DIR),
            writers: Vec::new(),
            crash_consistent_allowed: false,
            vss_freeze_window: VSS_FREEZE_WINDOW,
            os: GuestOs::Linux,
        }
    }
}

/// What the snapshot step reports (the extension maps its HTTP results to these codes).
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotResult {
    /// 1 on success, or 76, 761, 85, 173, 402, 2.
    pub code: u32,
    pub health_status_code: u32,
    pub message: String,
    pub snapshots: Vec<SnapshotInfo>,
}

/// Everything the final status needs from the quiesce and the snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct QuiesceOutcome {
    pub code: u32,
    /// The first failure of the run, or `code` when nothing failed.
    pub health_status_code: u32,
    pub message: String,
    /// The freeze failed and the snapshot was taken anyway (`snapshotConsistency` 3).
    pub crash_consistent: bool,
    /// `None` when no snapshot was attempted.
    pub snapshots: Option<Vec<SnapshotInfo>>,
    /// From the file systems' freeze to their thaw; `None` when they were not frozen.
    pub frozen_for: Option<Duration>,
    /// `FreezeTime`, `ThawTime`, `snapshotTimeTaken` (Python `timedelta` text), `appName`.
    pub telemetry: Vec<(String, String)>,
}

/// Drives the writers and the freeze around a snapshot.
#[derive(Debug)]
pub struct Requester<F: Freezer> {
    settings: QuiesceSettings,
    freezer: F,
}

impl<F: Freezer> Requester<F> {
    pub fn new(settings: QuiesceSettings, freezer: F) -> Self {
        Self { settings, freezer }
    }

    /// Quiesces, calls `snapshot` while quiesced (the extension's staleness check and disk
    /// snapshots), releases, and decides the result.
    pub async fn run<S, Fut>(&self, log: &ExtensionLog, snapshot: S) -> QuiesceOutcome
    where
        S: FnOnce() -> Fut + Send,
        Fut: Future<Output = SnapshotResult> + Send,
    {
        let mut telemetry = Vec::new();
        let mut setbacks = Vec::new();

        let setup = match self.settings.os {
            GuestOs::Linux => check_script_setup(&self.settings.config_dir, log).await,
            GuestOs::Windows => ScriptSetup::NotConfigured,
        };
        let plugins = match setup {
            ScriptSetup::NotConfigured => Vec::new(),
            ScriptSetup::Unusable(failure) => {
                setbacks.push(Setback::new(
                    failure.code(),
                    format!("Pre/post scripts skipped: {failure}"),
                ));
                Vec::new()
            }
            ScriptSetup::Refused {
                failure,
                take_snapshot,
            } => {
                let setback = Setback::new(
                    failure.code(),
                    format!("Pre/post scripts not run: {failure}"),
                );
                if !take_snapshot {
                    log.error("continueBackupOnFailure is false: no snapshot");
                    return Verdict::failed(setback).into_outcome(None, telemetry);
                }
                setbacks.push(setback);
                Vec::new()
            }
            ScriptSetup::Ready(plugins) => plugins,
        };
        telemetry.extend(
            plugins
                .iter()
                .filter_map(|plugin| plugin.app_name.clone())
                .map(|app| ("appName".to_owned(), app)),
        );

        let mut writers =
            match WriterSession::gather(&self.settings.writers, self.settings.vss_freeze_window) {
                Ok(writers) => writers,
                Err(failure) => {
                    log.error(format!("{failure} ({}): no snapshot", failure.code()));
                    return Verdict::failed(Setback::from(&failure)).into_outcome(None, telemetry);
                }
            };
        let could_be_app_consistent = !plugins.is_empty() || !writers.is_empty();
        // Any plugin may turn the file-system freeze off (its scripts quiesce by themselves);
        // Windows has none.
        let fs_freeze_enabled = self.settings.os == GuestOs::Linux
            && plugins.iter().all(|plugin| plugin.fs_freeze_enabled);

        let (pre_results, prepare_failures) = tokio::join!(
            run_scripts(log, &plugins, ScriptPhase::Pre),
            writers.prepare(log)
        );
        // dobackup: every failed pre-script must allow the backup to continue, and none may
        // fail when there is no freeze (the scripts are then all the consistency there is).
        let mut dobackup = true;
        let mut first_pre_error = None;
        for (plugin, result) in plugins.iter().zip(&pre_results) {
            if let Err(failure) = result {
                let setback = Setback::new(failure.code(), failure.to_string());
                first_pre_error.get_or_insert_with(|| setback.clone());
                setbacks.push(setback);
                dobackup &= plugin.continue_backup_on_failure && fs_freeze_enabled;
            }
        }
        setbacks.extend(prepare_failures.iter().map(Setback::from));

        let mut frozen_for = None;
        let abandoned_for = (!dobackup).then(|| first_pre_error.clone()).flatten();
        let course = if let Some(abort) = abandoned_for {
            log.error("A pre-script failed and the backup may not continue: no snapshot");
            Course::Abandoned { abort }
        } else {
            setbacks.extend(writers.freeze(log).await.iter().map(Setback::from));
            let frozen = if fs_freeze_enabled {
                let started = Instant::now();
                let frozen = self.freezer.freeze().await;
                telemetry.push(("FreezeTime".to_owned(), timedelta::text(started.elapsed())));
                Some(frozen)
            } else {
                log.info(match self.settings.os {
                    GuestOs::Linux => "fsFreezeEnabled is false: the file systems are not frozen",
                    GuestOs::Windows => "Windows: VSS alone quiesces; no file-system freeze",
                });
                None
            };
            let frozen_at = Instant::now();
            let (frozen, freeze_failure) = match frozen {
                Some(Ok(frozen)) => (Some(frozen), None),
                Some(Err(failure)) => (None, Some(failure)),
                None => (None, None),
            };
            if let Some(failure) = &freeze_failure {
                log.error(format!("{failure} ({})", failure.code()));
                setbacks.push(Setback::from(failure));
            }
            let left_out = frozen
                .as_ref()
                .map_or(&[][..], |frozen| self.freezer.left_out(frozen));
            for disk in left_out {
                log.warning(format!("{disk} ({FS_FREEZE_FAILED})"));
                setbacks.push(Setback::new(FS_FREEZE_FAILED, disk.clone()));
            }
            let crash_consistent = freeze_failure.is_some() || !left_out.is_empty();
            match freeze_failure {
                Some(failure) if !self.settings.crash_consistent_allowed => {
                    // The writers are released all the same; the run fails anyway.
                    setbacks.extend(writers.thaw(log).await.iter().map(Setback::from));
                    log.error("No snapshot after a failed freeze");
                    Course::FreezeFailed {
                        failure: Setback::from(&failure),
                    }
                }
                freeze_failure => {
                    if freeze_failure.is_some() {
                        log.warning("Taking a crash-consistent snapshot after the failed freeze");
                    }
                    let started = Instant::now();
                    let snapshot = snapshot().await;
                    telemetry.push((
                        "snapshotTimeTaken".to_owned(),
                        timedelta::text(started.elapsed()),
                    ));
                    log.info(format!(
                        "Snapshot step returned {} (health {})",
                        snapshot.code, snapshot.health_status_code
                    ));
                    let mut thaw_failure = None;
                    if let Some(frozen) = frozen {
                        let started = Instant::now();
                        let thawed = self.freezer.thaw(frozen).await;
                        telemetry.push(("ThawTime".to_owned(), timedelta::text(started.elapsed())));
                        frozen_for = Some(frozen_at.elapsed());
                        if let Err(failure) = thawed {
                            log.error(format!("{failure} ({ERROR})"));
                            let setback = Setback::from(&failure);
                            setbacks.push(setback.clone());
                            thaw_failure = Some(setback);
                        }
                    }
                    setbacks.extend(writers.thaw(log).await.iter().map(Setback::from));
                    Course::Snapshotted {
                        snapshot,
                        crash_consistent,
                        thaw_failure,
                    }
                }
            }
        };

        let post_results = run_scripts(log, &plugins, ScriptPhase::Post).await;
        // Post-scripts run after the snapshot, so only continueBackupOnFailure matters here.
        let mut post_continue = true;
        let mut first_post_error = None;
        for (plugin, result) in plugins.iter().zip(&post_results) {
            if let Err(failure) = result {
                let setback = Setback::new(failure.code(), failure.to_string());
                first_post_error.get_or_insert_with(|| setback.clone());
                setbacks.push(setback);
                post_continue &= plugin.continue_backup_on_failure;
            }
        }
        // "If dobackup ended false, fail with the first pre-script error, else the first
        // post-script error."
        let post_abort = (!post_continue)
            .then(|| first_pre_error.or(first_post_error))
            .flatten();

        let verdict = conclude(RunRecord {
            setbacks,
            could_be_app_consistent,
            course,
            post_abort,
        });
        log.info(format!(
            "Quiesce result {} (health {}): {}",
            verdict.code, verdict.health_status_code, verdict.message
        ));
        verdict.into_outcome(frozen_for, telemetry)
    }
}

/// A failure on the way: its code and a message for the user (never secret).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Setback {
    code: u32,
    message: String,
}

impl Setback {
    fn new(code: u32, message: String) -> Self {
        Self { code, message }
    }
}

impl From<&WriterFailure> for Setback {
    fn from(failure: &WriterFailure) -> Self {
        Self::new(failure.code(), failure.to_string())
    }
}

impl From<&FreezeFailure> for Setback {
    fn from(failure: &FreezeFailure) -> Self {
        Self::new(failure.code(), failure.to_string())
    }
}

impl From<&ThawFailure> for Setback {
    fn from(failure: &ThawFailure) -> Self {
        Self::new(ERROR, failure.to_string())
    }
}

/// How far the run got.
#[derive(Clone, Debug, PartialEq)]
enum Course {
    /// A pre-script failure stopped the backup before the freeze.
    Abandoned { abort: Setback },
    /// The freeze failed and no crash-consistent snapshot was allowed.
    FreezeFailed { failure: Setback },
    /// The snapshot step ran.
    Snapshotted {
        snapshot: SnapshotResult,
        /// The freeze failed or left a disk out: the snapshot is crash consistent at best.
        crash_consistent: bool,
        thaw_failure: Option<Setback>,
    },
}

/// The facts the result is decided from.
#[derive(Clone, Debug, PartialEq)]
struct RunRecord {
    /// Every failure, in the order they happened (the course's too).
    setbacks: Vec<Setback>,
    /// Scripts or writers were configured and checked out.
    could_be_app_consistent: bool,
    course: Course,
    /// Set when a failed post-script forbids the backup; see `run`.
    post_abort: Option<Setback>,
}

#[derive(Clone, Debug, PartialEq)]
struct Verdict {
    code: u32,
    health_status_code: u32,
    message: String,
    crash_consistent: bool,
    snapshots: Option<Vec<SnapshotInfo>>,
}

impl Verdict {
    /// A failed run whose only failure is `failure`.
    fn failed(failure: Setback) -> Self {
        Self {
            code: failure.code,
            health_status_code: failure.code,
            message: failure.message,
            crash_consistent: false,
            snapshots: None,
        }
    }

    fn into_outcome(
        self,
        frozen_for: Option<Duration>,
        telemetry: Vec<(String, String)>,
    ) -> QuiesceOutcome {
        QuiesceOutcome {
            code: self.code,
            health_status_code: self.health_status_code,
            message: self.message,
            crash_consistent: self.crash_consistent,
            snapshots: self.snapshots,
            frozen_for,
            telemetry,
        }
    }
}

/// The decision (pure). A decisive failure reports its own code with the run's first failure
/// as the health code; a failed snapshot reports the snapshot step's code and health code
/// (the real extension overwrites the health code with the snapshot's).
fn conclude(record: RunRecord) -> Verdict {
    let RunRecord {
        setbacks,
        could_be_app_consistent,
        course,
        post_abort,
    } = record;
    let first = setbacks.into_iter().next();
    let fail = |decisive: Setback, snapshots| Verdict {
        code: decisive.code,
        health_status_code: first.as_ref().map_or(decisive.code, |first| first.code),
        message: decisive.message,
        crash_consistent: false,
        snapshots,
    };
    let success = |code, health_status_code, message, crash_consistent, snapshots| Verdict {
        code,
        health_status_code,
        message,
        crash_consistent,
        snapshots: Some(snapshots),
    };
    match course {
        Course::Abandoned { abort } => fail(abort, None),
        Course::FreezeFailed { failure } => fail(post_abort.unwrap_or(failure), None),
        Course::Snapshotted {
            snapshot,
            crash_consistent,
            thaw_failure,
        } => {
            let snapshots = snapshot.snapshots;
            if let Some(abort) = post_abort.or(thaw_failure) {
                fail(abort, Some(snapshots))
            } else if snapshot.code != SUCCESS {
                Verdict {
                    code: snapshot.code,
                    health_status_code: snapshot.health_status_code,
                    message: snapshot.message,
                    crash_consistent: false,
                    snapshots: Some(snapshots),
                }
            } else if let Some(first) = first {
                let message = if crash_consistent {
                    format!("Crash-consistent snapshot: {}", first.message)
                } else {
                    format!("File-system-consistent snapshot: {}", first.message)
                };
                success(SUCCESS, first.code, message, crash_consistent, snapshots)
            } else if could_be_app_consistent {
                let message = "Enable Succeeded with App Consistent Snapshot".to_owned();
                success(
                    SUCCESS_APP_CONSISTENT,
                    SUCCESS_APP_CONSISTENT,
                    message,
                    false,
                    snapshots,
                )
            } else {
                success(SUCCESS, SUCCESS, snapshot.message, false, snapshots)
            }
        }
    }
}

/// A duration as Python's `str(timedelta)`: `0:00:01.250000`.
#[cfg(test)]
mod tests {
    use super::*;

    fn setback(code: u32) -> Setback {
        Setback::new(code, format!("failure {code}"))
    }

    fn snapshot(code: u32, health_status_code: u32) -> SnapshotResult {
        SnapshotResult {
            code,
            health_status_code,
            message: format!("snapshot {code}"),
            snapshots: Vec::new(),
        }
    }

    fn snapshotted(code: u32, health: u32, crash: bool, thaw: Option<u32>) -> Course {
        Course::Snapshotted {
            snapshot: snapshot(code, health),
            crash_consistent: crash,
            thaw_failure: thaw.map(setback),
        }
    }

    #[test]
    fn the_decision_table() {
        // (setbacks, app quiescers, course, post abort) → (code, health, crash, snapshot taken)
        /// (code, health code, crash consistent, snapshot taken)
        type Expected = (u32, u32, bool, bool);
        /// (setback codes, app quiescers, course, post abort, expected)
        type Row = (Vec<u32>, bool, Course, Option<u32>, Expected);
        let table: Vec<Row> = vec![
            // Nothing to quiesce the application: file-system consistent.
            (
                vec![],
                false,
                snapshotted(1, 1, false, None),
                None,
                (1, 1, false, true),
            ),
            // Scripts or writers, all fine: application consistent.
            (
                vec![],
                true,
                snapshotted(1, 1, false, None),
                None,
                (0, 0, false, true),
            ),
            // A pre-script failed with continueBackupOnFailure: file-system consistent.
            (
                vec![300],
                true,
                snapshotted(1, 1, false, None),
                None,
                (1, 300, false, true),
            ),
            // A writer failed: file-system consistent, the writer's code as health.
            (
                vec![602],
                true,
                snapshotted(1, 1, false, None),
                None,
                (1, 602, false, true),
            ),
            // Script check failed, continueBackupOnFailure true.
            (
                vec![306],
                false,
                snapshotted(1, 1, false, None),
                None,
                (1, 306, false, true),
            ),
            // A pre-script failure that forbids the backup.
            (
                vec![300],
                true,
                Course::Abandoned {
                    abort: setback(300),
                },
                None,
                (300, 300, false, false),
            ),
            // A post-script failure that forbids it after the snapshot.
            (
                vec![301],
                true,
                snapshotted(1, 1, false, None),
                Some(301),
                (301, 301, false, true),
            ),
            // The freeze failed, no crash-consistent fallback.
            (
                vec![122],
                false,
                Course::FreezeFailed {
                    failure: setback(122),
                },
                None,
                (122, 122, false, false),
            ),
            // The freeze failed, crash-consistent snapshot allowed and good.
            (
                vec![121],
                false,
                snapshotted(1, 1, true, None),
                None,
                (1, 121, true, true),
            ),
            // ... and the snapshot failed too: the snapshot's codes.
            (
                vec![121],
                false,
                snapshotted(76, 76, true, None),
                None,
                (76, 76, false, true),
            ),
            // The thaw found the freeze broken.
            (
                vec![2],
                false,
                snapshotted(1, 1, false, Some(2)),
                None,
                (2, 2, false, true),
            ),
            (
                vec![300, 2],
                true,
                snapshotted(1, 1, false, Some(2)),
                None,
                (2, 300, false, true),
            ),
            // A failed snapshot reports its own health code.
            (
                vec![300],
                true,
                snapshotted(76, 761, false, None),
                None,
                (76, 761, false, true),
            ),
            (
                vec![],
                true,
                snapshotted(85, 85, false, None),
                None,
                (85, 85, false, true),
            ),
        ];
        for (index, (setbacks, app, course, post_abort, expected)) in table.into_iter().enumerate()
        {
            let verdict = conclude(RunRecord {
                setbacks: setbacks.into_iter().map(setback).collect(),
                could_be_app_consistent: app,
                course,
                post_abort: post_abort.map(setback),
            });
            let actual = (
                verdict.code,
                verdict.health_status_code,
                verdict.crash_consistent,
                verdict.snapshots.is_some(),
            );
            assert_eq!(actual, expected, "row {index}: {verdict:?}");
        }
    }

    #[test]
    fn messages_name_the_deciding_failure() {
        let verdict = conclude(RunRecord {
            setbacks: vec![Setback::new(
                601,
                "VSS writer Sql failed PrepareForBackup".into(),
            )],
            could_be_app_consistent: true,
            course: snapshotted(1, 1, false, None),
            post_abort: None,
        });
        assert_eq!(
            verdict.message,
            "File-system-consistent snapshot: VSS writer Sql failed PrepareForBackup"
        );
        let app = conclude(RunRecord {
            setbacks: vec![],
            could_be_app_consistent: true,
            course: snapshotted(1, 1, false, None),
            post_abort: None,
        });
        assert_eq!(app.message, "Enable Succeeded with App Consistent Snapshot");
    }
}
