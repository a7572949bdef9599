//! `vaultsim-agent harness`: runs an extension (the built-in VMSnapshot extension or a
//! handler package) through the situations Azure Backup meets in the field, against a
//! vaultsim service it starts or one already running, and reports each scenario's checks
//! as a readable summary and as JUnit XML.

mod blob;
pub mod checks;
mod guest_fs;
pub mod junit;
pub mod scenarios;
pub mod service;
pub mod vm;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use checks::Checks;
use scenarios::{Hosting, Outcome, Scenario, Stage};
use service::{ServiceChoice, ServiceUnderTest};
use vm::AgentSpec;

/// Everything one harness run needs.
pub struct HarnessConfig {
    pub service: ServiceChoice,
    pub agent: AgentSpec,
    pub hosting: Hosting,
    pub scenarios: Vec<Scenario>,
    /// The service's data, each scenario's VM state, handler files and logs.
    pub work_dir: PathBuf,
    /// How long a job may take, in real time.
    pub job_timeout: Duration,
}

/// How one scenario went.
#[derive(Debug)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub elapsed: Duration,
    /// `Err` when the scenario could not be played to its end (the service refused a call,
    /// the VM never registered, …).
    pub outcome: Result<Outcome, String>,
}

/// A scenario's result in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    Skipped,
}

impl ScenarioResult {
    pub fn verdict(&self) -> Verdict {
        match &self.outcome {
            Ok(Outcome::Ran(checks)) if checks.all_passed() => Verdict::Passed,
            Ok(Outcome::Skipped(_)) => Verdict::Skipped,
            _ => Verdict::Failed,
        }
    }

    pub fn skip_reason(&self) -> Option<&str> {
        match &self.outcome {
            Ok(Outcome::Skipped(reason)) => Some(reason),
            _ => None,
        }
    }

    fn checks(&self) -> Option<&Checks> {
        match &self.outcome {
            Ok(Outcome::Ran(checks)) => Some(checks),
            _ => None,
        }
    }

    /// The failed checks (or the error that stopped the scenario), one line each.
    pub fn failed_lines(&self) -> Vec<String> {
        match &self.outcome {
            Err(error) => vec![error.clone()],
            Ok(Outcome::Skipped(_)) => Vec::new(),
            Ok(Outcome::Ran(checks)) => checks
                .0
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.what, c.detail.as_deref().unwrap_or("failed")))
                .collect(),
        }
    }

    /// Every check, marked.
    pub fn check_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .checks()
            .map(|checks| {
                checks
                    .0
                    .iter()
                    .map(|c| match &c.detail {
                        None => format!("ok    {}", c.what),
                        Some(detail) => format!("FAIL  {}: {detail}", c.what),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Err(error) = &self.outcome {
            lines.push(format!("ERROR {error}"));
        }
        lines
    }
}

/// Plays every scenario of `config`, one after another, each on a VM of its own.
pub async fn run(config: &HarnessConfig) -> anyhow::Result<Vec<ScenarioResult>> {
    std::fs::create_dir_all(&config.work_dir)?;
    let service = ServiceUnderTest::open(&config.service, &config.work_dir).await?;
    service.prepare_vault().await?;
    let stage = Stage {
        service: &service,
        agent: &config.agent,
        hosting: config.hosting,
        work_dir: &config.work_dir,
        job_timeout: config.job_timeout,
    };
    // VM names differ per run, so a service kept between runs never meets a VM twice.
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let mut results = Vec::new();
    for &scenario in &config.scenarios {
        let started = Instant::now();
        let vm_name = format!("h{run_id}-{}", scenario.name());
        eprintln!("==> {}: {}", scenario.name(), scenario.summary());
        let outcome = scenarios::run(&stage, scenario, &vm_name)
            .await
            .map_err(|e| format!("{e:#}"));
        let result = ScenarioResult {
            scenario,
            elapsed: started.elapsed(),
            outcome,
        };
        eprintln!("    {}", verdict_word(result.verdict()));
        results.push(result);
    }
    Ok(results)
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "PASS",
        Verdict::Failed => "FAIL",
        Verdict::Skipped => "SKIP",
    }
}

/// The readable summary: a line per scenario, its checks below it, and the totals.
pub fn summary(results: &[ScenarioResult]) -> String {
    let mut text = String::new();
    for result in results {
        text.push_str(&format!(
            "{:<5} {:<22} {:>6.1}s  {}\n",
            verdict_word(result.verdict()),
            result.scenario.name(),
            result.elapsed.as_secs_f64(),
            result.scenario.summary()
        ));
        if let Some(reason) = result.skip_reason() {
            text.push_str(&format!("        skipped: {reason}\n"));
        }
        for line in result.check_lines() {
            text.push_str(&format!("        {line}\n"));
        }
    }
    let count = |verdict| results.iter().filter(|r| r.verdict() == verdict).count();
    text.push_str(&format!(
        "{} passed, {} failed, {} skipped\n",
        count(Verdict::Passed),
        count(Verdict::Failed),
        count(Verdict::Skipped)
    ));
    text
}
