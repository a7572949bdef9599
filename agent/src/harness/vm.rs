//! One scenario's VM: a `vaultsim-agent run` child process (this binary) that registers the
//! VM, hosts the extension under test and reports for it, with its state, handler files
//! and log under the scenario's directory, where the harness reads what the extension
//! wrote.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use super::service::ServiceUnderTest;

/// The handler directories of the backup extension start with this, whatever the version
/// (`Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9184.0`, …).
const BACKUP_HANDLER_PREFIX: &str = "Microsoft.Azure.RecoveryServices.VMSnapshot";

/// How a scenario's agent is started.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// `vaultsim-agent` (normally this very binary).
    pub program: PathBuf,
    /// Passed to every `run`: the packages, …
    pub extra_args: Vec<OsString>,
    /// Run the extension in `--sandbox netns`, its ends at the service under test.
    pub sandboxed: bool,
}

/// A scenario's VM and its agent.
pub struct ScenarioVm {
    pub name: String,
    dir: PathBuf,
    data_disks: usize,
    agent: Option<Child>,
    spec: AgentSpec,
    /// This scenario's own arguments for `run`, after the spec's.
    scenario_args: Vec<OsString>,
    /// How many times the agent was started: each gets its own log.
    starts: usize,
}

impl ScenarioVm {
    pub fn new(name: &str, dir: &Path, data_disks: usize, spec: &AgentSpec) -> ScenarioVm {
        ScenarioVm {
            name: name.to_owned(),
            dir: dir.to_owned(),
            data_disks,
            agent: None,
            spec: spec.clone(),
            scenario_args: Vec::new(),
            starts: 0,
        }
    }

    pub fn data_disks(&self) -> usize {
        self.data_disks
    }

    /// The scenario's directory, which holds everything of this VM.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Arguments for this VM's `run` from its next start on.
    pub fn add_agent_args(&mut self, args: impl IntoIterator<Item = OsString>) {
        self.scenario_args.extend(args);
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("agent-state")
    }

    /// What stands for `/var/lib/waagent`.
    pub fn handler_root(&self) -> PathBuf {
        self.state_dir().join("waagent")
    }

    /// What stands for `/etc/azure` (the built-in extension's `--azure-config-dir`, and
    /// the sandbox's `/etc/azure`).
    pub fn azure_config_dir(&self) -> PathBuf {
        self.state_dir().join("etc-azure")
    }

    /// Starts (or restarts) the VM's agent.
    pub fn start_agent(&mut self, service: &ServiceUnderTest) -> anyhow::Result<()> {
        self.stop_agent();
        std::fs::create_dir_all(self.state_dir())?;
        self.starts += 1;
        let log = self.dir.join(format!("agent-{}.log", self.starts));
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("the agent log {}", log.display()))?;
        let mut command = Command::new(&self.spec.program);
        command
            .arg("run")
            .args(["--service", &service.guest_url])
            .args(["--management-url", &service.management_url])
            .arg("--credentials")
            .arg(&service.credentials_file)
            .args(["--vm", &service.vault.vm_path(&self.name)])
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["--start-delay-ms", "0"]);
        for _ in 0..self.data_disks {
            command.args(["--data-disk-gib", "1"]);
        }
        if self.spec.sandboxed {
            command.args(["--sandbox", "netns"]);
            if let Some(ca) = &service.ca_file {
                command.arg("--service-ca").arg(ca);
            }
            if let Some(blob) = service.blob_https {
                command.args(["--sandbox-blob-tls", &blob.to_string()]);
            }
        }
        command.args(&self.spec.extra_args);
        command.args(&self.scenario_args);
        if let Some(ca) = &service.ca_file {
            // Tasks name the blob endpoint's HTTPS URL; a VM's OpenSSL trusts this CA.
            command.env("SSL_CERT_FILE", ca);
        }
        let child = command
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            // Its own process group: stopping the agent is a VM's agent dying, apart from
            // the harness.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", self.spec.program.display()))?;
        self.agent = Some(child);
        Ok(())
    }

    /// Kills the agent (not the extension processes it started, which live on as they do
    /// when a real guest agent dies).
    pub fn stop_agent(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the agent has registered the VM.
    pub async fn wait_registered(&self, service: &ServiceUnderTest) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if service.vault.vm_exists(&self.name).await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "the agent did not register {} within 60 s; see {}",
            self.name,
            self.dir.display()
        )
    }

    /// The backup extension's handler directory, once the agent made it.
    pub fn extension_dir(&self) -> Option<PathBuf> {
        let entries = std::fs::read_dir(self.handler_root()).ok()?;
        entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| {
                path.is_dir()
                    && path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(BACKUP_HANDLER_PREFIX))
            })
    }

    /// `status/<seq>.status`, parsed, if the extension wrote it.
    pub fn status_file(&self, sequence_number: i64) -> Option<Value> {
        let path = self
            .extension_dir()?
            .join("status")
            .join(format!("{sequence_number}.status"));
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// The newest sequence number the agent wrote settings for.
    pub fn latest_sequence_number(&self) -> Option<i64> {
        let config = self.extension_dir()?.join("config");
        std::fs::read_dir(config)
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                entry
                    .file_name()
                    .to_str()?
                    .strip_suffix(".settings")?
                    .parse::<i64>()
                    .ok()
            })
            .max()
    }

    /// Waits for a status file of the newest sequence number for which `wanted` holds;
    /// answers the sequence number and the file.
    pub async fn wait_for_status(
        &self,
        within: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Option<(i64, Value)> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(seq) = self.latest_sequence_number() {
                if let Some(status) = self.status_file(seq).filter(|s| wanted(s)) {
                    return Some((seq, status));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Kills every process working in the extension's directory (the extension's own, not
    /// the agent's); answers how many.
    pub fn kill_extension_processes(&self) -> usize {
        let Some(dir) = self.extension_dir() else {
            return 0;
        };
        processes_working_in(&dir)
            .into_iter()
            .filter(|pid| {
                rustix::process::Pid::from_raw(*pid)
                    .map(|pid| {
                        rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok()
                    })
                    .unwrap_or(false)
            })
            .count()
    }

    /// Stops the agent and whatever the extension left running.
    pub fn tear_down(&mut self) {
        self.stop_agent();
        self.kill_extension_processes();
    }
}

impl Drop for ScenarioVm {
    fn drop(&mut self) {
        self.tear_down();
    }
}

/// Processes whose working directory is `dir` or below it.
fn processes_working_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .collect()
}
