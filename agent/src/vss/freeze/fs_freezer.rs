//! [`FsFreezer`], the real freeze: it takes the freeze lock, starts the
//! `vaultsim-safefreeze` helper on the selected mounts, waits for its report, and at the
//! thaw asks it to thaw and reads how it ended.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tracing::{debug, info, warn};

use super::lock::FreezeLock;
use super::mounts::{FreezeTargets, MountSelection};
use super::{pipe, FreezeFailure, Freezer, ThawFailure};

/// How [`FsFreezer`] freezes: which mounts, with which helper, under which timers (spec §3.4,
/// §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeConfig {
    pub mounts: MountSelection,
    /// How long the helper holds the freeze before it thaws on its own (vmbackup.conf
    /// `timeout`), in whole seconds; a fraction rounds up.
    pub timeout: Duration,
    /// How long the freeze may take to be reported, counted from the freeze request after the
    /// lock, so it includes `helper_start_delay` (vmbackup.conf `SafeFreezeWaitInSeconds`).
    pub wait: Duration,
    /// The pause before the helper starts (the real extension's 3 s).
    pub helper_start_delay: Duration,
    /// The lock file that keeps two freezes apart.
    pub lock_file: PathBuf,
    /// The `vaultsim-safefreeze` binary.
    pub helper: PathBuf,
}

impl FreezeConfig {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(66);
    pub const DEFAULT_HELPER_START_DELAY: Duration = Duration::from_secs(3);
    pub const DEFAULT_LOCK_FILE: &'static str =
        "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile";
    /// The helper's file name; it is installed next to the agent binary.
    pub const HELPER_NAME: &'static str = "vaultsim-safefreeze";

    /// The real extension's timers and lock file, for `mounts` frozen by `helper`.
    pub fn new(mounts: MountSelection, helper: PathBuf) -> Self {
        FreezeConfig {
            mounts,
            timeout: Self::DEFAULT_TIMEOUT,
            wait: Self::DEFAULT_WAIT,
            helper_start_delay: Self::DEFAULT_HELPER_START_DELAY,
            lock_file: PathBuf::from(Self::DEFAULT_LOCK_FILE),
            helper,
        }
    }
}

/// How long the helper gets to exit after being told to thaw (the real extension's 30 s).
const THAW_WAIT: Duration = Duration::from_secs(30);
/// How long the helper's stderr is awaited once it has exited.
const DIAGNOSTICS_WAIT: Duration = Duration::from_secs(1);

/// The real freeze, through the `vaultsim-safefreeze` helper.
#[derive(Debug, Clone)]
pub struct FsFreezer {
    pub config: FreezeConfig,
}

impl FsFreezer {
    pub fn new(config: FreezeConfig) -> Self {
        FsFreezer { config }
    }
}

/// A freeze in force. Dropping it without [`Freezer::thaw`] closes the helper's lifeline,
/// which thaws at once.
#[derive(Debug)]
pub struct FrozenMounts {
    mounts: Vec<PathBuf>,
    /// See [`FreezeTargets::left_out`].
    left_out: Vec<String>,
    frozen_at: std::time::Instant,
    /// None when there was nothing to freeze.
    helper: Option<FreezeHelper>,
}

impl FrozenMounts {
    /// The mounts frozen, in freeze order.
    pub fn mounts(&self) -> &[PathBuf] {
        &self.mounts
    }

    /// How long the mounts have been frozen: since the helper reported the freeze.
    pub fn frozen_for(&self) -> Duration {
        self.frozen_at.elapsed()
    }
}

/// The running helper and what the freeze holds with it.
#[derive(Debug)]
struct FreezeHelper {
    process: Child,
    lifeline: ChildStdin,
    /// The helper's stderr, read to its end.
    diagnostics: JoinHandle<String>,
    lock: Option<FreezeLock>,
}

/// What the helper said on stdout.
enum HelperReport {
    Frozen,
    FailedToOpen(String),
    /// Its stdout ended without a report.
    Ended,
}

impl Freezer for FsFreezer {
    type Frozen = FrozenMounts;

    async fn freeze(&self) -> Result<FrozenMounts, FreezeFailure> {
        let config = &self.config;
        let FreezeTargets { mounts, left_out } = config
            .mounts
            .targets()
            .map_err(|error| FreezeFailure::Failed(format!("cannot list the mounts: {error}")))?;
        if mounts.is_empty() {
            info!(?left_out, "no eligible mounts: nothing to freeze");
            return Ok(FrozenMounts {
                mounts,
                left_out,
                frozen_at: std::time::Instant::now(),
                helper: None,
            });
        }
        let lock = FreezeLock::take(&config.lock_file).await;

        let requested_at = Instant::now();
        let deadline = requested_at + config.wait;
        sleep_until((requested_at + config.helper_start_delay).min(deadline)).await;
        if Instant::now() >= deadline {
            warn!(
                wait_ms = config.wait.as_millis(),
                "the freeze wait ended before the helper started"
            );
            return Err(FreezeFailure::TimedOut);
        }

        let timeout_secs = config.timeout.as_secs() + u64::from(config.timeout.subsec_nanos() > 0);
        let mut process = Command::new(&config.helper)
            .arg(timeout_secs.to_string())
            .args(&mounts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| {
                FreezeFailure::Failed(format!(
                    "cannot start the freeze helper {}: {error}",
                    config.helper.display()
                ))
            })?;
        let (Some(lifeline), Some(stdout), Some(stderr)) = (
            process.stdin.take(),
            process.stdout.take(),
            process.stderr.take(),
        ) else {
            return Err(FreezeFailure::Failed(
                "the freeze helper has no pipes".to_owned(),
            ));
        };
        let diagnostics = tokio::spawn(async move {
            let mut text = String::new();
            // A read error only shortens the diagnostics.
            let _ = BufReader::new(stderr).read_to_string(&mut text).await;
            text
        });
        let helper = FreezeHelper {
            process,
            lifeline,
            diagnostics,
            lock,
        };

        match timeout_at(deadline, read_report(stdout)).await {
            Ok(Ok(HelperReport::Frozen)) => {
                info!(mounts = ?mounts, ?left_out, after_ms = requested_at.elapsed().as_millis(), "filesystems frozen");
                Ok(FrozenMounts {
                    mounts,
                    left_out,
                    frozen_at: std::time::Instant::now(),
                    helper: Some(helper),
                })
            }
            Ok(Ok(HelperReport::FailedToOpen(mount))) => {
                let (status, diagnostics) = helper.end().await;
                warn!(%mount, status = %describe(status), %diagnostics, "the freeze helper cannot open a mount");
                Err(FreezeFailure::UnableToOpenMount(mount))
            }
            Ok(Ok(HelperReport::Ended)) => {
                let (status, diagnostics) = helper.end().await;
                Err(FreezeFailure::Failed(format!(
                    "the freeze helper {} without freezing: {}",
                    describe(status),
                    diagnostics.trim()
                )))
            }
            Ok(Err(error)) => {
                let (status, diagnostics) = helper.end().await;
                Err(FreezeFailure::Failed(format!(
                    "cannot read the freeze helper's report: {error}; it {}: {}",
                    describe(status),
                    diagnostics.trim()
                )))
            }
            Err(_elapsed) => {
                // The real extension leaves the helper to auto-thaw; closing the lifeline
                // thaws now, so nothing stays frozen behind a failed freeze.
                let (status, diagnostics) = helper.end().await;
                warn!(wait_ms = config.wait.as_millis(), status = %describe(status), %diagnostics,
                    "the freeze helper did not report the freeze in time");
                Err(FreezeFailure::TimedOut)
            }
        }
    }

    async fn thaw(&self, frozen: FrozenMounts) -> Result<(), ThawFailure> {
        let frozen_for = frozen.frozen_for();
        let Some(mut helper) = frozen.helper else {
            return Ok(());
        };
        let thaw_requested_at = Instant::now();
        let result = match helper.process.try_wait() {
            Ok(Some(status)) => Err(ThawFailure(format!(
                "the freeze helper {} before the thaw: {}",
                describe(Some(status)),
                helper.diagnostics().await.trim()
            ))),
            Ok(None) | Err(_) => {
                // A failed write means the helper just died; its exit status says why.
                let request = format!("{}\n", pipe::THAW);
                if let Err(error) = helper.lifeline.write_all(request.as_bytes()).await {
                    debug!(%error, "cannot send the thaw request");
                }
                let (status, diagnostics) = helper.end().await;
                match status {
                    Some(status) if status.success() => {
                        debug!(%diagnostics, "freeze helper diagnostics");
                        Ok(())
                    }
                    status => Err(ThawFailure(format!(
                        "the freeze helper {}: {}",
                        describe(status),
                        diagnostics.trim()
                    ))),
                }
            }
        };
        info!(
            mounts = ?frozen.mounts,
            frozen_ms = frozen_for.as_millis(),
            thaw_ms = thaw_requested_at.elapsed().as_millis(),
            consistent = result.is_ok(),
            "filesystems thawed"
        );
        result
    }

    fn left_out<'a>(&self, frozen: &'a FrozenMounts) -> &'a [String] {
        &frozen.left_out
    }
}

impl FreezeHelper {
    /// Closes the lifeline, which tells the helper to thaw and exit, and waits for it up to
    /// [`THAW_WAIT`]; releases the lock. Returns its exit status (None if it did not exit) and
    /// its diagnostics.
    async fn end(self) -> (Option<ExitStatus>, String) {
        let FreezeHelper {
            mut process,
            lifeline,
            diagnostics,
            lock,
        } = self;
        drop(lifeline);
        let status = match timeout(THAW_WAIT, process.wait()).await {
            Ok(Ok(status)) => Some(status),
            Ok(Err(error)) => {
                warn!(%error, "cannot wait for the freeze helper");
                None
            }
            Err(_elapsed) => {
                warn!(
                    wait_s = THAW_WAIT.as_secs(),
                    "the freeze helper did not exit; its own timeout thaws"
                );
                None
            }
        };
        let diagnostics = match status {
            Some(_) => diagnostics_of(diagnostics).await,
            None => String::new(),
        };
        drop(lock);
        (status, diagnostics)
    }

    async fn diagnostics(self) -> String {
        diagnostics_of(self.diagnostics).await
    }
}

async fn diagnostics_of(diagnostics: JoinHandle<String>) -> String {
    match timeout(DIAGNOSTICS_WAIT, diagnostics).await {
        Ok(Ok(text)) => text,
        Ok(Err(_)) | Err(_) => String::new(),
    }
}

async fn read_report(stdout: ChildStdout) -> io::Result<HelperReport> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if line == pipe::FROZEN {
            return Ok(HelperReport::Frozen);
        }
        if let Some(mount) = line.strip_prefix(pipe::FAILED_TO_OPEN) {
            return Ok(HelperReport::FailedToOpen(mount.to_owned()));
        }
        debug!(%line, "unexpected line from the freeze helper");
    }
    Ok(HelperReport::Ended)
}

/// How the helper ended, in the words of its exit codes.
fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "did not exit".to_owned();
    };
    match (status.code(), status.signal()) {
        (Some(code), _) => match u8::try_from(code) {
            Ok(pipe::EXIT_THAW_REQUESTED) => "thawed on request".to_owned(),
            Ok(pipe::EXIT_FAILED_OR_AUTO_THAWED) => {
                format!("exited {code} (the freeze failed, or the timeout auto-thawed)")
            }
            Ok(pipe::EXIT_WOKE_EARLY) => {
                format!("exited {code} (woke early without a thaw request)")
            }
            _ => format!("exited {code}"),
        },
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_uses_the_real_extension_timers_and_lock_file() {
        let config = FreezeConfig::new(
            MountSelection::Explicit(vec![]),
            PathBuf::from("/opt/helper"),
        );
        assert_eq!(config.timeout, Duration::from_secs(60));
        assert_eq!(config.wait, Duration::from_secs(66));
        assert_eq!(config.helper_start_delay, Duration::from_secs(3));
        assert_eq!(
            config.lock_file,
            PathBuf::from("/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile")
        );
    }

    #[tokio::test]
    async fn no_mounts_freeze_and_thaw_as_success_without_a_helper() {
        let lock_dir = tempfile::tempdir().expect("tempdir");
        let mut config = FreezeConfig::new(
            MountSelection::Explicit(vec![]),
            PathBuf::from("/nonexistent/vaultsim-safefreeze"),
        );
        config.lock_file = lock_dir.path().join("lock");
        let freezer = FsFreezer::new(config);
        let frozen = freezer.freeze().await.expect("nothing to freeze succeeds");
        assert!(frozen.mounts().is_empty());
        freezer
            .thaw(frozen)
            .await
            .expect("nothing to thaw succeeds");
    }

    #[tokio::test]
    async fn a_missing_helper_fails_the_freeze_with_121_and_releases_the_lock() {
        let lock_dir = tempfile::tempdir().expect("tempdir");
        let mut config = FreezeConfig::new(
            MountSelection::Explicit(vec![lock_dir.path().to_owned()]),
            PathBuf::from("/nonexistent/vaultsim-safefreeze"),
        );
        config.helper_start_delay = Duration::ZERO;
        config.lock_file = lock_dir.path().join("locks/lock");
        let failure = FsFreezer::new(config)
            .freeze()
            .await
            .expect_err("no helper, no freeze");
        assert_eq!(failure.code(), 121, "{failure}");
        assert!(!lock_dir.path().join("locks/lock").exists());
    }
}
