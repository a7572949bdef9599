//! The scenarios: each makes a VM of its own, protects it, provokes one situation Azure
//! Backup meets in the field (through the service's clock, its fault injection and its
//! redelivery of a task) and checks what the extension wrote (status file, status blob,
//! log blob) and what the user sees (the job, its error, the recovery points) against what
//! Azure Backup expects.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use vaultsim_protocol::extension::codes;
use vaultsim_protocol::extension::status::parse_status_blob;

use super::checks::{is_final, message, status_code, Checks};
use super::guest_fs::GuestFilesystem;
use super::service::{ServiceUnderTest, POLICY};
use super::vm::{AgentSpec, ScenarioVm};

/// User-facing error codes the scenarios expect (protocol's mapping, spec §5).
const STATUS_UNAVAILABLE: &str = "UserErrorGuestAgentStatusUnavailable";
/// Past the service's snapshot deadline (150 minutes of simulated time).
const PAST_DEADLINE: &str = "PT151M";
/// Past the extension's staleness limit (140 minutes) but inside the deadline.
const PAST_STALENESS: &str = "PT141M";
/// How long a repeated command is given to (wrongly) produce a status: the real
/// extension's start delay is at most 5 s.
const REPEAT_GRACE: Duration = Duration::from_secs(7);
/// The freeze-timeout scenario's freeze window (vmbackup.conf `timeout`; the real default
/// is 60 s); its snapshots take three times as long.
const FREEZE_WINDOW_SECS: u64 = 2;
/// The job error of a run that ended with code 2 (protocol's mapping).
const INTERNAL_ERROR: &str = "BackUpOperationFailedV2";

/// One situation to put the extension in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A normal application-consistent backup of a VM with one data disk.
    Snapshot,
    /// Six data disks: the extension's parallel path (more than four blobs).
    ManyDisks,
    /// The agent was down; it comes back 141 minutes after the command: 402, no snapshot.
    StaleCommand,
    /// The service sends a finished task again under a new sequence number: no status.
    RepeatedTask,
    /// A new sequence number with the same task while the run is in progress.
    SequenceDuringRun,
    /// Every SAS of the task expires before the VM gets it.
    ExpiredSas,
    /// The host snapshot path is down and storage answers every snapshot with 503
    /// ServerBusy.
    StorageThrottled,
    /// Every snapshot (host or guest) and page write takes two seconds.
    SlowStorage,
    /// The wire server's presnapshot fails: `firstHostThenGuest` falls back to the guest path.
    HostUnavailable,
    /// The status blob does not exist when the extension reports.
    StatusBlobMissing,
    /// The configured pre-script does not exist.
    PreScriptMissing,
    /// The pre-script exits 1.
    PreScriptFailing,
    /// The snapshots outlast the freeze window: the freeze helper thaws on its own.
    FreezeTimeout,
    /// The extension dies mid-run.
    CrashMidRun,
    /// The backup extension is deleted over ARM while a run is in progress.
    UninstallDuringRun,
}

impl Scenario {
    pub const ALL: [Scenario; 15] = [
        Scenario::Snapshot,
        Scenario::ManyDisks,
        Scenario::StaleCommand,
        Scenario::RepeatedTask,
        Scenario::SequenceDuringRun,
        Scenario::ExpiredSas,
        Scenario::StorageThrottled,
        Scenario::SlowStorage,
        Scenario::HostUnavailable,
        Scenario::StatusBlobMissing,
        Scenario::PreScriptMissing,
        Scenario::PreScriptFailing,
        Scenario::FreezeTimeout,
        Scenario::CrashMidRun,
        Scenario::UninstallDuringRun,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    /// One line on what it does and what must happen.
    pub fn summary(self) -> &'static str {
        match self {
            Scenario::Snapshot => "a backup of a 2-disk VM completes: final status 0/1, status blob, log blob, a recovery point",
            Scenario::ManyDisks => "a backup of a 7-disk VM (parallel snapshots) completes with 7 snapshots",
            Scenario::StaleCommand => "a command 141 min old by host time: code 402, no snapshot, job fails",
            Scenario::RepeatedTask => "a known taskId under a new sequence number: no status at all",
            Scenario::SequenceDuringRun => "the same task under a new sequence number mid-run: one run, the job completes",
            Scenario::ExpiredSas => "every SAS expired: status upload error (guest snapshots fail: 76), job fails at its deadline",
            Scenario::HostUnavailable => "presnapshot answers 500: the guest path takes the snapshots, the job completes",
            Scenario::StorageThrottled => "no host path and 503 ServerBusy on every snapshot: code 76 or 173, the job fails",
            Scenario::SlowStorage => "2 s latency on snapshots and page writes: the job still completes",
            Scenario::StatusBlobMissing => "the status blob is missing: statusBlobUploadError, job fails at its deadline",
            Scenario::PreScriptMissing => "the configured pre-script does not exist: code 302, job fails Pre-ScriptNotFound",
            Scenario::PreScriptFailing => "the pre-script exits 1: code 300, job fails Pre-ScriptExecutionFailed",
            Scenario::FreezeTimeout => "snapshots outlast a 2 s freeze window on an ext4 guest filesystem: the helper auto-thaws, code 2 (inconsistent), the job fails, nothing stays frozen",
            Scenario::CrashMidRun => "the extension is killed mid-run: no final status, job fails at its deadline",
            Scenario::UninstallDuringRun => "the extension is deleted over ARM mid-run: disabled, uninstalled and gone; the run completes",
        }
    }

    fn data_disks(self) -> usize {
        match self {
            Scenario::ManyDisks => 6,
            _ => 1,
        }
    }
}

/// What hosts the backup extension in the scenarios' VMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosting {
    /// vaultsim-agent's own VMSnapshot extension.
    BuiltIn,
    /// A handler package; `sandboxed` when it runs in `--sandbox netns`, where `/etc/azure`
    /// is the VM's own; `allow_freeze` when it keeps the CAP_SYS_ADMIN fsfreeze needs.
    Package { sandboxed: bool, allow_freeze: bool },
}

/// How a scenario ended.
#[derive(Debug)]
pub enum Outcome {
    Ran(Checks),
    /// The scenario does not apply to this hosting; the reason.
    Skipped(String),
}

/// What the scenarios share.
pub struct Stage<'a> {
    pub service: &'a ServiceUnderTest,
    pub agent: &'a AgentSpec,
    pub hosting: Hosting,
    pub work_dir: &'a Path,
    /// How long a job may take to end, in real time.
    pub job_timeout: Duration,
}

/// Runs one scenario on a VM of its own.
pub async fn run(stage: &Stage<'_>, scenario: Scenario, vm_name: &str) -> anyhow::Result<Outcome> {
    if let Some(reason) = not_applicable(scenario, stage.hosting) {
        return Ok(Outcome::Skipped(reason));
    }
    let dir = stage.work_dir.join(scenario.name());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let vm = ScenarioVm::new(vm_name, &dir, scenario.data_disks(), stage.agent);
    let mut run = ScenarioRun {
        stage,
        vm,
        checks: Checks::default(),
        guest_fs: None,
    };
    stage.service.clear_faults().await?;
    let result = run.play(scenario).await;
    run.vm.tear_down();
    run.guest_fs = None;
    stage.service.clear_faults().await?;
    result.map(|()| Outcome::Ran(run.checks))
}

fn not_applicable(scenario: Scenario, hosting: Hosting) -> Option<String> {
    match (scenario, hosting) {
        (
            Scenario::PreScriptMissing | Scenario::PreScriptFailing,
            Hosting::Package {
                sandboxed: false, ..
            },
        ) => Some(
            "the extension reads its script configuration from /etc/azure, which the harness \
             only gives it in --sandbox netns (it never writes the host's /etc)"
                .to_owned(),
        ),
        (Scenario::FreezeTimeout, _) if !GuestFilesystem::can_mount() => Some(
            "needs root: the guest filesystem to freeze is a loop-mounted ext4 image".to_owned(),
        ),
        (
            Scenario::FreezeTimeout,
            Hosting::Package {
                sandboxed,
                allow_freeze,
            },
        ) if !(sandboxed && allow_freeze) => Some(
            "a package freezes only in --sandbox netns with --allow-freeze (where it \
                 freezes every eligible mount it sees, as in a VM)"
                .to_owned(),
        ),
        _ => None,
    }
}

struct ScenarioRun<'s, 'a> {
    stage: &'s Stage<'a>,
    vm: ScenarioVm,
    checks: Checks,
    /// The filesystem the guest freezes, in the scenarios that freeze one: it goes after
    /// the VM.
    guest_fs: Option<GuestFilesystem>,
}

impl ScenarioRun<'_, '_> {
    fn service(&self) -> &ServiceUnderTest {
        self.stage.service
    }

    async fn play(&mut self, scenario: Scenario) -> anyhow::Result<()> {
        match scenario {
            Scenario::Snapshot | Scenario::ManyDisks => {
                self.prepare().await?;
                let (job_id, job) = self.backup().await?;
                self.completed_backup(&job_id, &job).await
            }
            Scenario::HostUnavailable => {
                self.prepare().await?;
                self.host_path_down().await?;
                let (job_id, job) = self.backup().await?;
                self.completed_backup(&job_id, &job).await
            }
            Scenario::SlowStorage => {
                self.prepare().await?;
                self.slow_snapshots(2000).await?;
                for operation in ["PutPage", "PutBlob"] {
                    self.service()
                        .add_fault(json!({"scope": "blob", "match": {"operation": operation},
                            "action": {"type": "latency", "milliseconds": 2000}}))
                        .await?;
                }
                let (job_id, job) = self.backup().await?;
                self.completed_backup(&job_id, &job).await
            }
            Scenario::StaleCommand => self.stale_command().await,
            Scenario::RepeatedTask => self.repeated_task().await,
            Scenario::SequenceDuringRun => self.sequence_during_run().await,
            Scenario::ExpiredSas => self.expired_sas().await,
            Scenario::StorageThrottled => self.storage_throttled().await,
            Scenario::StatusBlobMissing => self.status_blob_missing().await,
            Scenario::PreScriptMissing => self.pre_script(false).await,
            Scenario::PreScriptFailing => self.pre_script(true).await,
            Scenario::FreezeTimeout => self.freeze_timeout().await,
            Scenario::CrashMidRun => self.crash_mid_run().await,
            Scenario::UninstallDuringRun => self.uninstall_during_run().await,
        }
    }

    /// Every disk snapshot takes `milliseconds`, whichever path takes it (the host's
    /// dosnapshot, or the extension's own Snapshot Blob calls).
    async fn slow_snapshots(&self, milliseconds: u64) -> anyhow::Result<()> {
        let latency = json!({"type": "latency", "milliseconds": milliseconds});
        self.service()
            .add_fault(
                json!({"scope": "blob", "match": {"operation": "SnapshotBlob"},
                "action": latency}),
            )
            .await?;
        self.service()
            .add_fault(json!({"scope": "dosnapshot", "action": latency}))
            .await?;
        Ok(())
    }

    /// The wire server's presnapshot answers 500, as when the host snapshot service is down:
    /// an extension asked for `firstHostThenGuest` takes the guest path.
    async fn host_path_down(&self) -> anyhow::Result<()> {
        self.service()
            .add_fault(json!({"scope": "presnapshot",
                "action": {"type": "error", "status": 500, "code": "InternalError"}}))
            .await?;
        Ok(())
    }

    /// The VM registered by its agent and protected.
    async fn prepare(&mut self) -> anyhow::Result<()> {
        self.vm.start_agent(self.stage.service)?;
        self.vm.wait_registered(self.service()).await?;
        self.service()
            .vault
            .protect(&self.vm.name, POLICY, Duration::from_secs(30))
            .await
    }

    /// An on-demand backup to its end.
    async fn backup(&mut self) -> anyhow::Result<(String, Value)> {
        let job_id = self.service().backup_now(&self.vm.name).await?;
        let job = self
            .service()
            .wait_for_job_end(&job_id, self.stage.job_timeout)
            .await?;
        Ok((job_id, job))
    }

    /// The final status file, or a failed check.
    async fn final_status(&mut self) -> Option<(i64, Value)> {
        let found = self
            .vm
            .wait_for_status(self.stage.job_timeout, is_final)
            .await;
        if found.is_none() {
            self.checks.fail(
                "the extension writes a final status file",
                "none within the timeout",
            );
        }
        found
    }

    /// What a completed backup must leave: the job, a final status file and status blob
    /// that agree and list a successful snapshot of every disk, a log blob, a recovery point.
    async fn completed_backup(&mut self, job_id: &str, job: &Value) -> anyhow::Result<()> {
        self.checks.job(job, "Completed", None);
        let Some((_, file)) = self.final_status().await else {
            return Ok(());
        };
        let code = status_code(&file);
        self.checks.expect(
            "the final code is 0 or 1 (application- or file-system-consistent)",
            matches!(code, Some(0 | 1)),
            || format!("code {code:?}: {}", message(&file)),
        );
        let Some(local) = self.checks.status_file(&file) else {
            return Ok(());
        };
        let disks = self.vm_disks();
        let blob = self
            .service()
            .blob
            .task_blob(&format!("{}.status", local.task_id))
            .await?;
        match blob {
            Some(bytes) => {
                if let Some(report) = self.checks.status_blob(&bytes, &local.task_id) {
                    let successful = report.snapshots.iter().filter(|s| s.is_successful).count();
                    self.checks.expect(
                        format!("the status blob lists {disks} successful snapshots"),
                        successful == disks && report.snapshots.len() == disks,
                        || format!("{successful} of {} successful", report.snapshots.len()),
                    );
                }
            }
            None => self.checks.fail("the status blob was written", "not found"),
        }
        let log = self
            .service()
            .blob
            .task_blob(&format!("{}.log", local.task_id))
            .await?;
        self.checks.expect(
            "the log blob was written",
            log.as_ref()
                .is_some_and(|bytes| !bytes.iter().all(|b| b.is_ascii_whitespace())),
            || "missing or empty".to_owned(),
        );
        let points = self.service().recovery_points(&self.vm.name).await?;
        self.checks
            .expect("a recovery point exists", !points.is_empty(), || {
                format!("none for job {job_id}")
            });
        Ok(())
    }

    /// The OS disk and the data disks.
    fn vm_disks(&self) -> usize {
        1 + self.vm.data_disks()
    }

    /// Expects a final status with `code` (or one of `codes`).
    async fn expect_final_code(&mut self, wanted: &[u32]) -> Option<Value> {
        let (_, file) = self.final_status().await?;
        let code = status_code(&file);
        self.checks.expect(
            format!("the final code is {}", list(wanted)),
            code.is_some_and(|c| wanted.contains(&c)),
            || format!("code {code:?}: {}", message(&file)),
        );
        self.checks.status_file(&file);
        Some(file)
    }

    async fn expect_job(
        &mut self,
        job_id: &str,
        status: &str,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        let job = self
            .service()
            .wait_for_job_end(job_id, self.stage.job_timeout)
            .await?;
        self.checks.job(&job, status, error);
        Ok(())
    }

    /// Moves the clock past the task's deadline and expects the job to fail as Azure
    /// Backup fails a task whose VM never reported.
    async fn expect_deadline_failure(&mut self, job_id: &str) -> anyhow::Result<()> {
        self.service()
            .vault
            .advance_clock(PAST_DEADLINE, Duration::ZERO)
            .await?;
        self.expect_job(job_id, "Failed", Some(STATUS_UNAVAILABLE))
            .await
    }

    async fn stale_command(&mut self) -> anyhow::Result<()> {
        self.prepare().await?;
        self.vm.stop_agent();
        let job_id = self.service().backup_now(&self.vm.name).await?;
        self.service()
            .vault
            .advance_clock(PAST_STALENESS, Duration::ZERO)
            .await?;
        self.vm.start_agent(self.stage.service)?;
        if let Some(file) = self.expect_final_code(&[codes::COMMAND_TOO_LATE]).await {
            let taken = file[0]["status"]["substatus"][0]["name"]
                .as_str()
                .and_then(|blob| parse_status_blob(blob.as_bytes()).ok())
                .map_or(0, |report| {
                    report.snapshots.iter().filter(|s| s.is_successful).count()
                });
            self.checks
                .expect("no disk was snapshotted", taken == 0, || {
                    format!("the status lists {taken} successful snapshots")
                });
        }
        self.expect_job(&job_id, "Failed", Some(STATUS_UNAVAILABLE))
            .await
    }

    async fn repeated_task(&mut self) -> anyhow::Result<()> {
        self.prepare().await?;
        let (_, job) = self.backup().await?;
        self.checks.job(&job, "Completed", None);
        let Some((sequence_number, _)) = self.final_status().await else {
            return Ok(());
        };
        self.redeliver(sequence_number).await?;
        tokio::time::sleep(REPEAT_GRACE).await;
        let repeated = self.vm.status_file(sequence_number + 1);
        self.checks.expect(
            "the repeated task gets no status",
            repeated.is_none(),
            || format!("it got {}", repeated.unwrap_or_default()),
        );
        Ok(())
    }

    async fn sequence_during_run(&mut self) -> anyhow::Result<()> {
        self.prepare().await?;
        // Slow snapshots keep the run going while the new sequence number arrives.
        self.slow_snapshots(4000).await?;
        let job_id = self.service().backup_now(&self.vm.name).await?;
        let Some(sequence_number) = self.transitioning().await else {
            return Ok(());
        };
        self.redeliver(sequence_number).await?;
        let job = self
            .service()
            .wait_for_job_end(&job_id, self.stage.job_timeout)
            .await?;
        self.checks.job(&job, "Completed", None);
        let repeated = self.vm.status_file(sequence_number + 1);
        self.checks.expect(
            "the same task under the new sequence number gets no status",
            repeated.is_none(),
            || format!("it got {}", repeated.unwrap_or_default()),
        );
        Ok(())
    }

    /// Waits for the run's first status file and checks it is the transitioning one (code
    /// 4), which the real extension writes before it starts the work; answers its sequence
    /// number when it is.
    async fn transitioning(&mut self) -> Option<i64> {
        let first = self
            .vm
            .wait_for_status(self.stage.job_timeout, |file| status_code(file).is_some())
            .await;
        let what = "the extension writes the transitioning status (code 4) first";
        match first {
            Some((sequence_number, file)) if status_code(&file) == Some(4) => {
                self.checks.pass(what);
                Some(sequence_number)
            }
            Some((_, file)) => {
                self.checks.fail(
                    what,
                    format!("its first status has code {:?}", status_code(&file)),
                );
                None
            }
            None => {
                self.checks.fail(what, "no status within the timeout");
                None
            }
        }
    }

    /// Has the service send the VM's backup extension its task again under the next
    /// sequence number, and waits until the agent wrote that number's settings.
    async fn redeliver(&mut self, sequence_number: i64) -> anyhow::Result<()> {
        let extension = self.backup_extension_name().await?;
        self.service()
            .redeliver_extension(&self.vm.name, &extension)
            .await?;
        let deadline = tokio::time::Instant::now() + self.stage.job_timeout;
        while self.vm.latest_sequence_number() < Some(sequence_number + 1) {
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "the agent never wrote sequence number {}",
                    sequence_number + 1
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// The backup extension's name on the VM (`VMSnapshotLinux`, `VMSnapshot`).
    async fn backup_extension_name(&self) -> anyhow::Result<String> {
        let listed = self
            .service()
            .vault
            .arm
            .call(
                reqwest::Method::GET,
                &format!("{}/extensions", self.service().vault.vm_path(&self.vm.name)),
                None,
            )
            .await?;
        listed.body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["properties"]["publisher"] == "Microsoft.Azure.RecoveryServices")
            .and_then(|e| e["name"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("the VM has no backup extension: {}", listed.body))
    }

    async fn expired_sas(&mut self) -> anyhow::Result<()> {
        self.prepare().await?;
        self.vm.stop_agent();
        let job_id = self.service().backup_now(&self.vm.name).await?;
        self.service().expire_every_sas().await?;
        self.vm.start_agent(self.stage.service)?;
        // The host path snapshots without a SAS (0 or 1); the guest path's snapshots fail (76).
        if let Some(file) = self
            .expect_final_code(&[
                codes::SUCCESS_APP_CONSISTENT,
                codes::SUCCESS,
                codes::SNAPSHOT_FAILED_NO_NETWORK,
            ])
            .await
        {
            self.expect_upload_error(&file);
        }
        self.expect_deadline_failure(&job_id).await
    }

    fn expect_upload_error(&mut self, file: &Value) {
        let text = message(file);
        self.checks.expect(
            "the status reports statusBlobUploadError=true",
            text.contains("statusBlobUploadError=true"),
            || format!("message: {text}"),
        );
    }

    async fn storage_throttled(&mut self) -> anyhow::Result<()> {
        self.prepare().await?;
        self.host_path_down().await?;
        self.service()
            .add_fault(
                json!({"scope": "blob", "match": {"operation": "SnapshotBlob"},
                "action": {"type": "error", "status": 503, "code": "ServerBusy"}}),
            )
            .await?;
        let job_id = self.service().backup_now(&self.vm.name).await?;
        self.expect_final_code(&[
            codes::SNAPSHOT_FAILED_NO_NETWORK,
            codes::SNAPSHOT_RATE_EXCEEDED,
        ])
        .await;
        let job = self
            .service()
            .wait_for_job_end(&job_id, self.stage.job_timeout)
            .await?;
        self.checks.job(&job, "Failed", None);
        Ok(())
    }

    async fn status_blob_missing(&mut self) -> anyhow::Result<()> {
        self.prepare().await?;
        for operation in ["GetBlob", "GetBlobProperties"] {
            self.service()
                .add_fault(json!({"scope": "blob",
                    "match": {"operation": operation, "blob": "*.status"},
                    "action": {"type": "error", "status": 404, "code": "BlobNotFound"}}))
                .await?;
        }
        let job_id = self.service().backup_now(&self.vm.name).await?;
        if let Some(file) = self
            .expect_final_code(&[codes::SUCCESS_APP_CONSISTENT, codes::SUCCESS])
            .await
        {
            self.expect_upload_error(&file);
        }
        self.service().clear_faults().await?;
        self.expect_deadline_failure(&job_id).await
    }

    /// A script configuration whose pre-script is missing, or exits 1, with
    /// `continueBackupOnFailure` false: the run fails with 302 or 300 and takes no snapshot.
    async fn pre_script(&mut self, exists: bool) -> anyhow::Result<()> {
        let config_dir = self.vm.azure_config_dir();
        std::fs::create_dir_all(&config_dir)?;
        // Inside the sandbox the directory is the VM's /etc/azure.
        let seen_as = match self.stage.hosting {
            Hosting::Package {
                sandboxed: true, ..
            } => Path::new("/etc/azure").to_owned(),
            _ => config_dir.clone(),
        };
        let pre = config_dir.join("pre.sh");
        let post = config_dir.join("post.sh");
        for (script, body) in [
            (&pre, "#!/bin/sh\nexit 1\n"),
            (&post, "#!/bin/sh\nexit 0\n"),
        ] {
            std::fs::write(script, body)?;
            std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o700))?;
        }
        if !exists {
            std::fs::remove_file(&pre)?;
        }
        let plugin_config = config_dir.join("VMSnapshotScriptPluginConfig.json");
        std::fs::write(
            &plugin_config,
            serde_json::to_vec_pretty(&json!({
                "pluginName": "ScriptRunner",
                "preScriptLocation": seen_as.join("pre.sh"),
                "postScriptLocation": seen_as.join("post.sh"),
                "preScriptParams": [], "postScriptParams": [],
                "preScriptNoOfRetries": 0, "postScriptNoOfRetries": 0,
                "timeoutInSeconds": 30,
                "continueBackupOnFailure": false,
                "fsFreezeEnabled": true
            }))?,
        )?;
        std::fs::set_permissions(&plugin_config, std::fs::Permissions::from_mode(0o600))?;
        self.prepare().await?;
        let job_id = self.service().backup_now(&self.vm.name).await?;
        let (code, error) = if exists {
            (300, "Pre-ScriptExecutionFailed")
        } else {
            (302, "Pre-ScriptNotFound")
        };
        self.expect_final_code(&[code]).await;
        self.expect_job(&job_id, "Failed", Some(error)).await
    }

    /// The freeze window is 2 s (vmbackup.conf `timeout` for a package, the freeze flags
    /// for the built-in extension) and every snapshot takes 6 s: the helper thaws on its own
    /// mid-snapshot, the thaw finds the freeze broken and the run ends with 2 ("snapshot
    /// result inconsistent"), which fails the job; the guest filesystem is writable again.
    async fn freeze_timeout(&mut self) -> anyhow::Result<()> {
        let guest_fs = GuestFilesystem::mount(self.vm.dir())?;
        let config_dir = self.vm.azure_config_dir();
        std::fs::create_dir_all(&config_dir)?;
        std::fs::write(
            config_dir.join("vmbackup.conf"),
            format!("[SnapshotThread]\ntimeout = {FREEZE_WINDOW_SECS}\n"),
        )?;
        if self.stage.hosting == Hosting::BuiltIn {
            self.vm.add_agent_args([
                "--freeze-mount".into(),
                guest_fs.mount_point.clone().into_os_string(),
                "--freeze-timeout-secs".into(),
                FREEZE_WINDOW_SECS.to_string().into(),
            ]);
        }
        let guest_fs = self.guest_fs.insert(guest_fs);
        let mount_point = guest_fs.mount_point.clone();
        self.prepare().await?;
        self.slow_snapshots(3 * FREEZE_WINDOW_SECS * 1000).await?;
        let job_id = self.service().backup_now(&self.vm.name).await?;
        self.expect_final_code(&[codes::ERROR]).await;
        self.expect_job(&job_id, "Failed", Some(INTERNAL_ERROR))
            .await?;
        let thawed = self
            .guest_fs
            .as_ref()
            .is_some_and(|fs| fs.writable_within(Duration::from_secs(5)));
        self.checks.expect(
            "nothing stays frozen: a write to the guest filesystem completes",
            thawed,
            || format!("a write to {} still blocks", mount_point.display()),
        );
        Ok(())
    }

    async fn crash_mid_run(&mut self) -> anyhow::Result<()> {
        self.prepare().await?;
        self.slow_snapshots(5000).await?;
        let job_id = self.service().backup_now(&self.vm.name).await?;
        self.transitioning().await;
        match self.stage.hosting {
            // The built-in extension runs inside the agent: the crash takes both.
            Hosting::BuiltIn => self.vm.stop_agent(),
            Hosting::Package { .. } => {
                let killed = self.vm.kill_extension_processes();
                self.checks.expect(
                    "the extension's processes were found and killed",
                    killed > 0,
                    || "no process works in the extension's directory".to_owned(),
                );
            }
        }
        self.service().clear_faults().await?;
        tokio::time::sleep(REPEAT_GRACE).await;
        let last = self
            .vm
            .latest_sequence_number()
            .and_then(|seq| self.vm.status_file(seq));
        self.checks.expect(
            "no final status after the crash",
            !last.as_ref().is_some_and(is_final),
            || format!("found {}", last.unwrap_or_default()),
        );
        self.expect_deadline_failure(&job_id).await
    }
}

impl ScenarioRun<'_, '_> {
    /// Deleting the extension over ARM puts `uninstall` in the goal state: the guest agent
    /// disables and uninstalls it, removes its directory and tells the guest API, and the
    /// extension goes from ARM. The real extension's disable and uninstall leave a run in
    /// progress alone (its daemon is detached), so the backup still completes.
    async fn uninstall_during_run(&mut self) -> anyhow::Result<()> {
        self.prepare().await?;
        self.slow_snapshots(4000).await?;
        let job_id = self.service().backup_now(&self.vm.name).await?;
        self.transitioning().await;
        let name = self.backup_extension_name().await?;
        let extension = format!(
            "{}/extensions/{name}",
            self.service().vault.vm_path(&self.vm.name)
        );
        let deleted = self
            .service()
            .vault
            .arm
            .call(reqwest::Method::DELETE, &extension, None)
            .await?;
        self.checks.expect(
            "ARM accepts the extension's deletion",
            matches!(deleted.status, 200 | 202 | 204),
            || format!("{} {}", deleted.status, deleted.body),
        );
        let deadline = tokio::time::Instant::now() + self.stage.job_timeout;
        let mut gone = false;
        while tokio::time::Instant::now() < deadline {
            if self
                .service()
                .vault
                .arm
                .call(reqwest::Method::GET, &extension, None)
                .await?
                .status
                == 404
            {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.checks.expect(
            "the deletion completes: the agent uninstalled the extension and said so",
            gone,
            || "the extension is still listed".to_owned(),
        );
        self.checks.expect(
            "the handler directory is removed",
            self.vm.extension_dir().is_none(),
            || "it is still there".to_owned(),
        );
        self.expect_job(&job_id, "Completed", None).await
    }
}

fn list(codes: &[u32]) -> String {
    codes
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}
