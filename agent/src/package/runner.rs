//! Running one handler command as WALinuxAgent does (`launch_command`,
//! `extensionprocessutil.py`): `/bin/sh -c <extension dir>/<command>` in the extension
//! directory, with the agent's environment, in a process group of its own, within a time
//! limit after which the whole group is killed. Output goes to unnamed files, not pipes: an
//! enable that leaves a daemon behind must not hold the agent until the daemon exits.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Seek};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::process_group::ProcessGroup;

/// How much of each stream WALinuxAgent reads, and the most its message holds.
const OUTPUT_LIMIT: usize = 3200;

/// A hook that changes how a handler command is started before it is spawned, e.g. to run
/// it in another network namespace. It may replace the program and arguments (wrapping the
/// original ones) and add environment; it must keep the working directory, the
/// environment it was given and the process group.
pub trait CommandWrapper: Send + Sync {
    fn wrap(&self, command: &mut Command) -> io::Result<()>;
}

/// The five handler commands of `HandlerManifest.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Install,
    Enable,
    Disable,
    Update,
    Uninstall,
}

impl Operation {
    /// The name WALinuxAgent logs and reports the operation under.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Install => "Install",
            Operation::Enable => "Enable",
            Operation::Disable => "Disable",
            Operation::Update => "Update",
            Operation::Uninstall => "UnInstall",
        }
    }

    /// WALinuxAgent's error code when the command fails (`ExtensionErrorCodes`); uninstall
    /// has none of its own and uses the catch-all.
    pub fn error_code(self) -> i64 {
        match self {
            Operation::Install => 1007,
            Operation::Update => 1008,
            Operation::Enable => 1009,
            Operation::Disable => 1010,
            Operation::Uninstall => 1000,
        }
    }
}

/// The time limit of each operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandTimeouts {
    pub install: Duration,
    pub enable: Duration,
    pub disable: Duration,
    pub update: Duration,
    pub uninstall: Duration,
}

impl CommandTimeouts {
    /// WALinuxAgent's: enable and uninstall 300 s; install, disable and update 900 s.
    pub const GUEST_AGENT: CommandTimeouts = CommandTimeouts {
        install: Duration::from_secs(900),
        enable: Duration::from_secs(300),
        disable: Duration::from_secs(900),
        update: Duration::from_secs(900),
        uninstall: Duration::from_secs(300),
    };

    /// Every operation limited to `limit` (tests).
    pub fn all(limit: Duration) -> CommandTimeouts {
        CommandTimeouts {
            install: limit,
            enable: limit,
            disable: limit,
            update: limit,
            uninstall: limit,
        }
    }

    pub fn of(&self, operation: Operation) -> Duration {
        match operation {
            Operation::Install => self.install,
            Operation::Enable => self.enable,
            Operation::Disable => self.disable,
            Operation::Update => self.update,
            Operation::Uninstall => self.uninstall,
        }
    }
}

impl Default for CommandTimeouts {
    fn default() -> Self {
        CommandTimeouts::GUEST_AGENT
    }
}

/// Why a handler command failed; the message is WALinuxAgent's.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("Failed to launch '{command}': {source}")]
    Launch { command: String, source: io::Error },
    #[error("Timeout({}): {command}\n{output}", .after.as_secs())]
    TimedOut {
        command: String,
        after: Duration,
        output: String,
    },
    #[error("Non-zero exit code: {exit_code}, {command}\n{output}")]
    Failed {
        command: String,
        exit_code: i32,
        output: String,
    },
}

impl CommandError {
    /// What the update sequence passes on as the exit code of a failed disable or
    /// uninstall (a timeout or a launch failure has none: WALinuxAgent passes its code).
    pub fn exit_code(&self, operation: Operation) -> String {
        match self {
            CommandError::Failed { exit_code, .. } => exit_code.to_string(),
            CommandError::TimedOut { .. } => "1011".to_owned(),
            CommandError::Launch { .. } => operation.error_code().to_string(),
        }
    }
}

/// One command to run.
pub struct Invocation<'a> {
    /// The command line from the manifest, relative to `extension_dir`.
    pub command: &'a str,
    pub extension_dir: &'a Path,
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
}

/// Starts handler commands, through the wrapper when there is one.
#[derive(Clone, Default)]
pub struct CommandRunner {
    wrapper: Option<Arc<dyn CommandWrapper>>,
}

impl fmt::Debug for CommandRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandRunner")
            .field("wrapped", &self.wrapper.is_some())
            .finish()
    }
}

impl CommandRunner {
    pub fn new(wrapper: Option<Arc<dyn CommandWrapper>>) -> CommandRunner {
        CommandRunner { wrapper }
    }

    /// Runs the command to its end or its time limit; answers its formatted output.
    pub async fn run(&self, invocation: Invocation<'_>) -> Result<String, CommandError> {
        // Some packages begin a command with a slash; it is still relative (WALinuxAgent
        // issue 1170).
        let full_path = invocation
            .extension_dir
            .join(invocation.command.trim_start_matches('/'));
        let command_text = full_path.to_string_lossy().into_owned();
        let launch = |source| CommandError::Launch {
            command: command_text.clone(),
            source,
        };
        let stdout = tempfile::tempfile_in(invocation.extension_dir).map_err(launch)?;
        let stderr = tempfile::tempfile_in(invocation.extension_dir).map_err(launch)?;
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(&full_path)
            .current_dir(invocation.extension_dir)
            .envs(&invocation.environment)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().map_err(launch)?)
            .stderr(stderr.try_clone().map_err(launch)?);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        if let Some(wrapper) = &self.wrapper {
            wrapper.wrap(&mut command).map_err(launch)?;
        }
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(launch)?;
        let mut group = ProcessGroup::of(&child);
        let waited = tokio::time::timeout(invocation.timeout, child.wait()).await;
        let exit = match waited {
            Ok(waited) => {
                group.release();
                Some(waited.map_err(launch)?)
            }
            Err(_) => {
                group.kill();
                // SIGKILL cannot be ignored: this reaps it at once.
                let _ = child.wait().await;
                None
            }
        };
        let output = tokio::task::spawn_blocking(move || read_output(stdout, stderr))
            .await
            .unwrap_or_default();
        match exit {
            None => Err(CommandError::TimedOut {
                command: command_text,
                after: invocation.timeout,
                output,
            }),
            Some(status) if status.success() => Ok(output),
            Some(status) => Err(CommandError::Failed {
                command: command_text,
                // A command killed by a signal has no code; the shell reports 128 + signal.
                exit_code: status
                    .code()
                    .or_else(|| {
                        std::os::unix::process::ExitStatusExt::signal(&status).map(|s| 128 + s)
                    })
                    .unwrap_or(-1),
                output,
            }),
        }
    }
}

/// The first [`OUTPUT_LIMIT`] bytes of each stream, formatted as WALinuxAgent formats them.
fn read_output(mut stdout: std::fs::File, mut stderr: std::fs::File) -> String {
    let read = |file: &mut std::fs::File| -> io::Result<String> {
        file.rewind()?;
        let mut bytes = Vec::new();
        file.take(OUTPUT_LIMIT as u64).read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match (read(&mut stdout), read(&mut stderr)) {
        (Ok(out), Ok(err)) => format_output(&out, &err),
        (Err(error), _) | (_, Err(error)) => {
            format_output("", &format!("Cannot read stdout/stderr: {error}"))
        }
    }
}

/// `[stdout]\n…\n\n[stderr]\n…` within [`OUTPUT_LIMIT`] characters: each stream keeps its
/// tail, and a short one leaves its share to the other (`format_stdout_stderr`).
pub fn format_output(stdout: &str, stderr: &str) -> String {
    const TEMPLATE_CHARS: usize = "[stdout]\n\n\n[stderr]\n".len();
    let each = (OUTPUT_LIMIT - TEMPLATE_CHARS) / 2;
    let (out_len, err_len) = (stdout.chars().count(), stderr.chars().count());
    let (keep_out, keep_err) = if out_len + err_len < OUTPUT_LIMIT {
        (out_len, err_len)
    } else if out_len < each {
        (out_len, err_len.min(2 * each - out_len))
    } else if err_len < each {
        (out_len.min(2 * each - err_len), err_len)
    } else {
        (each, each)
    };
    format!(
        "[stdout]\n{}\n\n[stderr]\n{}",
        tail(stdout, keep_out),
        tail(stderr, keep_err)
    )
}

fn tail(text: &str, chars: usize) -> &str {
    let skip = text.chars().count().saturating_sub(chars);
    text.char_indices()
        .nth(skip)
        .map_or("", |(at, _)| &text[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation<'a>(dir: &'a Path, command: &'a str, timeout: Duration) -> Invocation<'a> {
        Invocation {
            command,
            extension_dir: dir,
            environment: BTreeMap::from([("ConfigSequenceNumber".to_owned(), "7".to_owned())]),
            timeout,
        }
    }

    fn script(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[tokio::test]
    async fn a_command_runs_in_the_extension_directory_with_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "enable.sh",
            "echo \"seq=$ConfigSequenceNumber cwd=$(pwd)\"; echo oops >&2",
        );
        let output = CommandRunner::default()
            .run(invocation(
                dir.path(),
                "/enable.sh",
                Duration::from_secs(10),
            ))
            .await
            .unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(
            output,
            format!(
                "[stdout]\nseq=7 cwd={}\n\n\n[stderr]\noops\n",
                cwd.display()
            )
        );
    }

    #[tokio::test]
    async fn a_non_zero_exit_is_an_error_with_the_output() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "fail.sh", "echo broken >&2; exit 3");
        let error = CommandRunner::default()
            .run(invocation(dir.path(), "fail.sh", Duration::from_secs(10)))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("Non-zero exit code: 3, "), "{message}");
        assert!(message.ends_with("[stderr]\nbroken\n"), "{message}");
        assert_eq!(error.exit_code(Operation::Disable), "3");
    }

    #[tokio::test]
    async fn a_command_that_leaves_a_daemon_returns_without_waiting_for_it() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "enable.sh", "sleep 30 & echo started");
        let started = std::time::Instant::now();
        let output = CommandRunner::default()
            .run(invocation(dir.path(), "enable.sh", Duration::from_secs(20)))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(output.contains("started"), "{output}");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "enable.sh",
            "sleep 60 & echo $! > child.pid; echo waiting; sleep 60",
        );
        let error = CommandRunner::default()
            .run(invocation(dir.path(), "enable.sh", Duration::from_secs(1)))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("Timeout(1): "), "{message}");
        assert!(message.contains("[stdout]\nwaiting"), "{message}");
        let child = std::fs::read_to_string(dir.path().join("child.pid")).unwrap();
        assert!(
            !survives(child.trim()),
            "the background sleep {child} survived"
        );
    }

    /// Whether a process is still running 5 s on: SIGKILL is delivered asynchronously, and
    /// a zombie waiting for its reaper counts as gone.
    fn survives(pid: &str) -> bool {
        let running = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while running() {
            if std::time::Instant::now() > deadline {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[tokio::test]
    async fn a_wrapper_changes_what_is_started() {
        struct Env;
        impl CommandWrapper for Env {
            fn wrap(&self, command: &mut Command) -> io::Result<()> {
                command.env("WRAPPED", "yes");
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "enable.sh", "echo $WRAPPED");
        let output = CommandRunner::new(Some(Arc::new(Env)))
            .run(invocation(dir.path(), "enable.sh", Duration::from_secs(10)))
            .await
            .unwrap();
        assert!(output.starts_with("[stdout]\nyes\n"), "{output}");
    }

    #[test]
    fn output_keeps_each_streams_tail_within_the_limit() {
        assert_eq!(format_output("a", "b"), "[stdout]\na\n\n[stderr]\nb");
        let long_out = "o".repeat(5000) + "END";
        let formatted = format_output(&long_out, "short");
        assert!(formatted.len() <= OUTPUT_LIMIT, "{}", formatted.len());
        assert!(formatted.contains("END\n\n[stderr]\nshort"));
        let formatted = format_output(&long_out, &"e".repeat(5000));
        assert!(formatted.len() <= OUTPUT_LIMIT);
        assert!(formatted.contains("END"));
    }
}
