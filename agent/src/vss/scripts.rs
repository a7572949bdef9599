//! The pre/post script writers: the plugin host's checks (`PluginHost.pre_check`,
//! `ScriptRunner.validate_scripts`) and the runs (`ScriptRunner.pre_script`/`post_script`).
//!
//! Where vaultsim departs from the real extension, kindly and on purpose:
//! - A script that times out is killed with every process it started (it runs in a process
//!   group of its own). The real one leaves it running while the freeze and snapshot go
//!   ahead. Processes a script that exits normally leaves in the background live on.
//! - `pre/postScriptNoOfRetries` re-run a script that exited non-zero, up to that many more
//!   times. The real one counts the retries but never re-runs the script. A timed-out
//!   script is not retried (the real loop stops at a timeout too), and every attempt must
//!   fit in the host's overall wait, so retries cannot stretch a phase past it (310/311).
//! - The real host's `errorCode` is whatever the last plugin's check gave. Here the first
//!   plugin whose check fails decides, and a plugin whose config is missing (316) is skipped
//!   when another one is configured.
//!
//! As the spec states it, a script succeeds only when it exits 0.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use vaultsim_protocol::extension::codes;

use super::log::ExtensionLog;
use super::plugin_config::{
    FileMode, HostConf, HostConfError, HostConfSource, PluginConfigError, ScriptPluginConfig,
    ScriptSpec,
};
use crate::process_group::ProcessGroup;

/// How long a script's output may trail its exit (a process it started in the background
/// can hold the pipes open); after that the output is logged as incomplete.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// Before or after the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptPhase {
    Pre,
    Post,
}

impl ScriptPhase {
    fn pick(self, pre: u32, post: u32) -> u32 {
        match self {
            ScriptPhase::Pre => pre,
            ScriptPhase::Post => post,
        }
    }

    /// "pre-script" or "post-script", for messages.
    pub fn script_word(self) -> &'static str {
        match self {
            ScriptPhase::Pre => "pre-script",
            ScriptPhase::Post => "post-script",
        }
    }

    fn script(self, config: &ScriptPluginConfig) -> &ScriptSpec {
        match self {
            ScriptPhase::Pre => &config.pre_script,
            ScriptPhase::Post => &config.post_script,
        }
    }
}

/// A script that may not be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptCheckError {
    /// 302/303.
    #[error("{} {path} does not exist", phase.script_word())]
    NotFound { phase: ScriptPhase, path: PathBuf },
    /// 306/307.
    #[error("{} {path}: {mode}, but it must be owned by root and closed to group and other", phase.script_word())]
    Permission {
        phase: ScriptPhase,
        path: PathBuf,
        mode: FileMode,
    },
}

impl ScriptCheckError {
    pub fn code(&self) -> u32 {
        match self {
            ScriptCheckError::NotFound { phase, .. } => {
                phase.pick(codes::PRE_SCRIPT_NOT_FOUND, codes::POST_SCRIPT_NOT_FOUND)
            }
            ScriptCheckError::Permission { phase, .. } => {
                phase.pick(codes::PRE_SCRIPT_PERMISSION, codes::POST_SCRIPT_PERMISSION)
            }
        }
    }
}

/// Checks one script as the real ScriptRunner does: a regular file (symlinks followed),
/// owned by root, group and other digits 0.
pub async fn check_script(phase: ScriptPhase, path: &Path) -> Result<(), ScriptCheckError> {
    let not_found = || ScriptCheckError::NotFound {
        phase,
        path: path.to_owned(),
    };
    let metadata = tokio::fs::metadata(path).await.map_err(|_| not_found())?;
    if !metadata.is_file() {
        return Err(not_found());
    }
    let mode = FileMode::of(&metadata);
    if !mode.allowed_for_script() {
        return Err(ScriptCheckError::Permission {
            phase,
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Any check of the plugin host that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptSetupFailure {
    #[error(transparent)]
    HostConf(#[from] HostConfError),
    #[error(transparent)]
    PluginConfig(#[from] PluginConfigError),
    #[error(transparent)]
    Script(#[from] ScriptCheckError),
}

impl ScriptSetupFailure {
    pub fn code(&self) -> u32 {
        match self {
            ScriptSetupFailure::HostConf(error) => error.code(),
            ScriptSetupFailure::PluginConfig(error) => error.code(),
            ScriptSetupFailure::Script(error) => error.code(),
        }
    }
}

/// What the plugin host's checks decide (the `handle.py daemon` decision logic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptSetup {
    /// No plugin, or no plugin config (316, the state of a VM nobody set scripts up on):
    /// a plain file-system-consistent backup.
    NotConfigured,
    /// A host or plugin config that is there but unusable (304, 305, 314): treated as not
    /// configured, so a file-system-consistent backup, but the code is kept as the health
    /// code so the user learns why it was not application consistent. (The real extension
    /// reports these exactly like "not configured".)
    Unusable(ScriptSetupFailure),
    /// A script check failed (302, 303, 306, 307), or a plugin config has loose permissions
    /// (317). No script runs; the snapshot is taken only if `take_snapshot` (for scripts,
    /// the plugin's `continueBackupOnFailure`; for 317, always).
    Refused {
        failure: ScriptSetupFailure,
        take_snapshot: bool,
    },
    /// Every configured plugin passed its checks.
    Ready(Vec<ScriptPluginConfig>),
}

/// Runs the host's and every plugin's checks.
pub async fn check_script_setup(config_dir: &Path, log: &ExtensionLog) -> ScriptSetup {
    let host = match HostConf::load(config_dir).await {
        Ok(host) => host,
        Err(error) => {
            log.error(format!(
                "Plugin host config unusable ({}): {error}",
                error.code()
            ));
            return ScriptSetup::Unusable(error.into());
        }
    };
    let source = match &host.source {
        HostConfSource::File(path) => path.display().to_string(),
        HostConfSource::Packaged => "the packaged default".to_owned(),
    };
    log.info(format!(
        "Plugin host config {source}: {} plugin(s), scripts capped at {} s",
        host.plugin_configs.len(),
        host.max_script_timeout.as_secs()
    ));
    let mut ready = Vec::new();
    for path in &host.plugin_configs {
        let config = match ScriptPluginConfig::load(path, host.max_script_timeout).await {
            Ok(config) => config,
            Err(PluginConfigError::NotFound(path)) => {
                log.info(format!(
                    "No script plugin config at {}: scripts not configured",
                    path.display()
                ));
                continue;
            }
            Err(error @ PluginConfigError::Permission { .. }) => {
                log.error(format!("Script plugin config refused (317): {error}"));
                return ScriptSetup::Refused {
                    failure: error.into(),
                    take_snapshot: true,
                };
            }
            Err(error @ PluginConfigError::Parse { .. }) => {
                log.error(format!("Script plugin config unusable (305): {error}"));
                return ScriptSetup::Unusable(error.into());
            }
        };
        log.info(format!(
            "Plugin {}: timeout {} s, poll {} s, continueBackupOnFailure {}, fsFreezeEnabled {}, \
             retries pre {} post {}",
            config.plugin_name,
            config.timeout.as_secs(),
            config.poll_interval.as_secs(),
            config.continue_backup_on_failure,
            config.fs_freeze_enabled,
            config.pre_script.retries,
            config.post_script.retries,
        ));
        for phase in [ScriptPhase::Pre, ScriptPhase::Post] {
            if let Err(error) = check_script(phase, &phase.script(&config).location).await {
                log.error(format!("Script check failed ({}): {error}", error.code()));
                return ScriptSetup::Refused {
                    failure: error.into(),
                    take_snapshot: config.continue_backup_on_failure,
                };
            }
        }
        ready.push(config);
    }
    if ready.is_empty() {
        ScriptSetup::NotConfigured
    } else {
        ScriptSetup::Ready(ready)
    }
}

/// A script run that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptFailure {
    /// 300/301.
    #[error("{} of plugin {plugin} failed: {status}", phase.script_word())]
    Failed {
        phase: ScriptPhase,
        plugin: String,
        /// The exit status, or why `sh` could not run.
        status: String,
    },
    /// 308/309.
    #[error("{} of plugin {plugin} timed out after {} s and was killed", phase.script_word(), after.as_secs())]
    TimedOut {
        phase: ScriptPhase,
        plugin: String,
        after: Duration,
    },
    /// 310/311: the plugin did not report within the host's overall wait.
    #[error("plugin {plugin} did not finish its {} within the host's wait of {} s", phase.script_word(), after.as_secs())]
    HostTimedOut {
        phase: ScriptPhase,
        plugin: String,
        after: Duration,
    },
}

impl ScriptFailure {
    pub fn code(&self) -> u32 {
        match self {
            ScriptFailure::Failed { phase, .. } => {
                phase.pick(codes::PRE_SCRIPT_FAILED, codes::POST_SCRIPT_FAILED)
            }
            ScriptFailure::TimedOut { phase, .. } => {
                phase.pick(codes::PRE_SCRIPT_TIMEOUT, codes::POST_SCRIPT_TIMEOUT)
            }
            ScriptFailure::HostTimedOut { phase, .. } => phase.pick(
                codes::PLUGIN_HOST_PRE_TIMEOUT,
                codes::PLUGIN_HOST_POST_TIMEOUT,
            ),
        }
    }
}

/// The host's overall wait for a plugin: `int(timeout/poll) + 2` polls.
pub fn host_wait(script_timeout: Duration, poll_interval: Duration) -> Duration {
    let poll = poll_interval.as_secs().max(1);
    let polls = script_timeout.as_secs() / poll + 2;
    Duration::from_secs(polls * poll)
}

/// Runs one phase's script of every plugin, concurrently (the real host starts a thread per
/// plugin); the results are in plugin order.
pub async fn run_scripts(
    log: &ExtensionLog,
    plugins: &[ScriptPluginConfig],
    phase: ScriptPhase,
) -> Vec<Result<(), ScriptFailure>> {
    let runs: Vec<JoinHandle<Result<(), ScriptFailure>>> = plugins
        .iter()
        .map(|config| {
            let (log, config) = (log.clone(), config.clone());
            tokio::spawn(async move { run_plugin_script(&log, &config, phase).await })
        })
        .collect();
    let mut results = Vec::with_capacity(runs.len());
    for (run, config) in runs.into_iter().zip(plugins) {
        results.push(run.await.unwrap_or_else(|error| {
            Err(ScriptFailure::Failed {
                phase,
                plugin: config.plugin_name.clone(),
                status: format!("the script runner stopped: {error}"),
            })
        }));
    }
    results
}

async fn run_plugin_script(
    log: &ExtensionLog,
    config: &ScriptPluginConfig,
    phase: ScriptPhase,
) -> Result<(), ScriptFailure> {
    let wait = host_wait(config.timeout, config.poll_interval);
    let result = match tokio::time::timeout(wait, run_with_retries(log, config, phase)).await {
        Ok(result) => result,
        // Dropping the run kills the script (kill_on_drop).
        Err(_) => Err(ScriptFailure::HostTimedOut {
            phase,
            plugin: config.plugin_name.clone(),
            after: wait,
        }),
    };
    match &result {
        Ok(()) => log.info(format!(
            "{} of plugin {} succeeded",
            phase.script_word(),
            config.plugin_name
        )),
        Err(failure) => log.error(format!("{failure} ({})", failure.code())),
    }
    result
}

async fn run_with_retries(
    log: &ExtensionLog,
    config: &ScriptPluginConfig,
    phase: ScriptPhase,
) -> Result<(), ScriptFailure> {
    let script = phase.script(config);
    let mut attempt = 0;
    loop {
        match run_once(log, config, phase, script).await {
            Err(ScriptFailure::Failed { .. }) if attempt < script.retries => {
                attempt += 1;
                log.warning(format!(
                    "{} of plugin {} failed; retry {attempt} of {}",
                    phase.script_word(),
                    config.plugin_name,
                    script.retries
                ));
            }
            result => return result,
        }
    }
}

/// `sh <script> <params...>`, output captured into the log. Parameters are not logged: they
/// are the user's and may carry credentials for the application.
async fn run_once(
    log: &ExtensionLog,
    config: &ScriptPluginConfig,
    phase: ScriptPhase,
    script: &ScriptSpec,
) -> Result<(), ScriptFailure> {
    let failed = |status: String| ScriptFailure::Failed {
        phase,
        plugin: config.plugin_name.clone(),
        status,
    };
    log.info(format!(
        "Running {} {} of plugin {} ({} parameter(s))",
        phase.script_word(),
        script.location.display(),
        config.plugin_name,
        script.params.len()
    ));
    let mut child = Command::new("sh")
        .arg(&script.location)
        .args(&script.params)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|error| failed(format!("could not start sh: {error}")))?;
    let mut group = ProcessGroup::of(&child);
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let outcome = match tokio::time::timeout(config.timeout, child.wait()).await {
        Ok(waited) => {
            group.release();
            match waited {
                Ok(status) if status.success() => Ok(()),
                Ok(status) => Err(failed(status.to_string())),
                Err(error) => Err(failed(format!("could not wait for it: {error}"))),
            }
        }
        Err(_) => {
            group.kill();
            // Reaps it; SIGKILL cannot be ignored, so this does not block.
            let _ = child.wait().await;
            Err(ScriptFailure::TimedOut {
                phase,
                plugin: config.plugin_name.clone(),
                after: config.timeout,
            })
        }
    };
    let (stdout, stderr) = tokio::join!(collect(stdout), collect(stderr));
    for (stream, output) in [("stdout", stdout), ("stderr", stderr)] {
        match output {
            Some(output) if output.is_empty() => {}
            Some(output) => log.info(format!(
                "{} {stream}:\n{}",
                phase.script_word(),
                String::from_utf8_lossy(&output)
            )),
            None => log.warning(format!(
                "{} {stream} not collected: a process it started still holds it open",
                phase.script_word()
            )),
        }
    }
    outcome
}

/// A stream's output, or `None` if it was still open `OUTPUT_GRACE` after the script ended.
async fn collect(reader: Option<JoinHandle<Vec<u8>>>) -> Option<Vec<u8>> {
    let reader = reader?;
    match tokio::time::timeout(OUTPUT_GRACE, reader).await {
        Ok(Ok(output)) => Some(output),
        Ok(Err(_)) | Err(_) => None,
    }
}

fn read_all(mut stream: impl AsyncRead + Unpin + Send + 'static) -> JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut output = Vec::new();
        // A read error ends the capture; what was read so far is still logged.
        let _ = stream.read_to_end(&mut output).await;
        output
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_wait_is_int_timeout_over_poll_plus_two_polls() {
        let secs = Duration::from_secs;
        // (script timeout, poll, host wait)
        for (timeout, poll, wait) in [
            (30, 3, 36),
            (1, 1, 3),
            (10, 3, 15),
            (1800, 5, 1810),
            (0, 2, 4),
        ] {
            assert_eq!(
                host_wait(secs(timeout), secs(poll)),
                secs(wait),
                "{timeout}/{poll}"
            );
        }
    }

    #[test]
    fn failure_codes_follow_the_phase() {
        let plugin = String::from("ScriptRunner");
        let table = [
            (ScriptPhase::Pre, 300, 308, 310, 302, 306),
            (ScriptPhase::Post, 301, 309, 311, 303, 307),
        ];
        for (phase, failed, timed_out, host, not_found, permission) in table {
            let after = Duration::from_secs(1);
            let status = String::new();
            assert_eq!(
                ScriptFailure::Failed {
                    phase,
                    plugin: plugin.clone(),
                    status
                }
                .code(),
                failed
            );
            assert_eq!(
                ScriptFailure::TimedOut {
                    phase,
                    plugin: plugin.clone(),
                    after
                }
                .code(),
                timed_out
            );
            assert_eq!(
                ScriptFailure::HostTimedOut {
                    phase,
                    plugin: plugin.clone(),
                    after
                }
                .code(),
                host
            );
            let path = PathBuf::from("/s");
            assert_eq!(
                ScriptCheckError::NotFound {
                    phase,
                    path: path.clone()
                }
                .code(),
                not_found
            );
            let mode = FileMode {
                uid: 0,
                permissions: 0o777,
            };
            assert_eq!(
                ScriptCheckError::Permission { phase, path, mode }.code(),
                permission
            );
        }
    }
}
