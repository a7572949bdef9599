//! What a scenario checks, each check a line of the report: the local status file against
//! the schema the Linux guest agent and the real extension use (spec §1), the status blob
//! against the one the service parses (spec §4), and the job and points the user sees.

use serde_json::Value;
use vaultsim_protocol::extension::status::{parse_status_blob, StatusReport};

/// One check and how it went.
#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    pub passed: bool,
    /// What was found, when it is not what was expected.
    pub detail: Option<String>,
}

/// The checks of one scenario, in order.
#[derive(Debug, Default)]
pub struct Checks(pub Vec<Check>);

impl Checks {
    pub fn pass(&mut self, what: impl Into<String>) {
        self.0.push(Check {
            what: what.into(),
            passed: true,
            detail: None,
        });
    }

    pub fn fail(&mut self, what: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Check {
            what: what.into(),
            passed: false,
            detail: Some(detail.into()),
        });
    }

    /// Records `what` as passed when `ok`, else failed with `detail`.
    pub fn expect(&mut self, what: impl Into<String>, ok: bool, detail: impl FnOnce() -> String) {
        if ok {
            self.pass(what);
        } else {
            self.fail(what, detail());
        }
    }

    pub fn all_passed(&self) -> bool {
        self.0.iter().all(|c| c.passed)
    }

    /// Checks a local status file (`status/<seq>.status`); answers the status blob text
    /// it carries as its substatus, parsed, when it carries one.
    pub fn status_file(&mut self, file: &Value) -> Option<StatusReport> {
        let problems = status_file_problems(file);
        self.expect(
            "the status file has the guest agent's schema",
            problems.is_empty(),
            || problems.join("; "),
        );
        let entry = &file[0]["status"];
        let substatus = entry["substatus"][0]["name"].as_str()?;
        match parse_status_blob(substatus.as_bytes()) {
            Ok(report) => {
                self.expect(
                    "the status file's substatus is the status blob, with the same code",
                    entry["code"].as_str() == Some(report.code.to_string().as_str()),
                    || format!("code {} vs substatus code {}", entry["code"], report.code),
                );
                Some(report)
            }
            Err(error) => {
                self.fail(
                    "the status file's substatus is a status blob",
                    error.to_string(),
                );
                None
            }
        }
    }

    /// Checks a status blob's bytes; answers it parsed.
    pub fn status_blob(&mut self, bytes: &[u8], task_id: &str) -> Option<StatusReport> {
        // A page blob holds the text padded with spaces.
        let text = String::from_utf8_lossy(bytes);
        match parse_status_blob(text.trim_end().as_bytes()) {
            Ok(report) => {
                self.pass("the status blob has the schema the service reads");
                self.expect(
                    "the status blob names the task",
                    report.task_id == task_id,
                    || format!("it names '{}'", report.task_id),
                );
                Some(report)
            }
            Err(error) => {
                self.fail(
                    "the status blob has the schema the service reads",
                    error.to_string(),
                );
                None
            }
        }
    }

    /// Checks that a job ended as expected: `status`, and when given, its error code
    /// (`errorDetails[0].errorTitle`, the user-facing code such as
    /// `UserErrorGuestAgentStatusUnavailable`).
    pub fn job(&mut self, job: &Value, status: &str, error: Option<&str>) {
        let found = job["properties"]["status"].as_str().unwrap_or_default();
        let title = job["properties"]["errorDetails"][0]["errorTitle"]
            .as_str()
            .unwrap_or_default();
        self.expect(format!("the job ends {status}"), found == status, || {
            format!("it ended {found} {title}")
        });
        if let Some(error) = error {
            self.expect(
                format!("the job's error is {error}"),
                title == error,
                || format!("its error is '{title}'"),
            );
        }
    }
}

/// Where a local status file departs from `[{"version","timestampUTC","status":{…}}]` as
/// spec §1 gives it.
pub fn status_file_problems(file: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(entries) = file.as_array() else {
        return vec!["it is not a JSON list".to_owned()];
    };
    if entries.len() != 1 {
        problems.push(format!("it holds {} entries, not 1", entries.len()));
    }
    let Some(entry) = entries.first() else {
        return problems;
    };
    if !entry["version"].is_string() {
        problems.push("version is not a string".to_owned());
    }
    let stamp = entry["timestampUTC"].as_str().unwrap_or_default();
    if chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%SZ").is_err() {
        problems.push(format!(
            "timestampUTC '{stamp}' is not YYYY-MM-DDTHH:MM:SSZ"
        ));
    }
    let status = &entry["status"];
    for field in ["name", "operation", "status", "code"] {
        if !status[field].is_string() {
            problems.push(format!("status.{field} is not a string"));
        }
    }
    let word = status["status"].as_str().unwrap_or_default();
    if !["transitioning", "warning", "error", "success"].contains(&word) {
        problems.push(format!(
            "status.status '{word}' is not one the guest agent accepts"
        ));
    }
    let code = status["code"].as_str().unwrap_or_default();
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
        problems.push(format!("status.code '{code}' is not a decimal string"));
    }
    if !status["formattedMessage"]["message"].is_string() {
        problems.push("status.formattedMessage.message is not a string".to_owned());
    }
    let text = file.to_string();
    if text.len() > 128 * 1024 {
        problems.push(format!(
            "it is {} bytes; the guest agent truncates above 128 KiB",
            text.len()
        ));
    }
    problems
}

/// The code of a status file as a number.
pub fn status_code(file: &Value) -> Option<u32> {
    file[0]["status"]["code"].as_str()?.parse().ok()
}

/// Whether a status file is the final one (not the transitioning code 4).
pub fn is_final(file: &Value) -> bool {
    status_code(file).is_some_and(|code| code != 4)
}

/// The status file's message text (`formattedMessage.message`, itself JSON for the
/// backup extension: its `messageStr`).
pub fn message(file: &Value) -> String {
    let raw = file[0]["status"]["formattedMessage"]["message"]
        .as_str()
        .unwrap_or_default();
    serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|inner| inner["messageStr"].as_str().map(str::to_owned))
        .unwrap_or_else(|| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use vaultsim_protocol::extension::status::{StatusEntry, StatusFacts};

    use super::*;

    fn written_status(code: u32) -> Value {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        StatusEntry::new(StatusFacts {
            handler_name: "Microsoft.Azure.RecoveryServices.VMSnapshotLinux".into(),
            task_id: "job_1".into(),
            command_start_time_utc_ticks: "639000000000000000".into(),
            code,
            health_status_code: code,
            message: String::new(),
            crash_consistent: false,
            snapshots: None,
            unique_machine_id: "m".into(),
            timestamp: at,
        })
        .to_status_file(at)
    }

    #[test]
    fn the_extensions_own_status_file_passes() {
        let file = written_status(1);
        assert_eq!(status_file_problems(&file), Vec::<String>::new());
        let mut checks = Checks::default();
        let report = checks.status_file(&file).unwrap();
        assert!(checks.all_passed(), "{checks:?}");
        assert_eq!(report.task_id, "job_1");
        assert!(is_final(&file));
        assert!(!is_final(&written_status(4)));
    }

    #[test]
    fn schema_departures_are_each_named() {
        let mut file = written_status(1);
        file[0]["status"]["code"] = json!(1);
        file[0]["timestampUTC"] = json!("\\/Date(1)\\/");
        file[0]["status"]["status"] = json!("done");
        let problems = status_file_problems(&file);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("timestampUTC")));
        assert!(problems.iter().any(|p| p.contains("status.code")));
        assert!(problems.iter().any(|p| p.contains("'done'")));
        assert_eq!(status_file_problems(&json!({})), ["it is not a JSON list"]);
    }

    #[test]
    fn a_blob_of_another_task_fails_its_check() {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        let entry = StatusEntry::new(StatusFacts {
            handler_name: "h".into(),
            task_id: "job_2".into(),
            command_start_time_utc_ticks: "1".into(),
            code: 1,
            health_status_code: 1,
            message: String::new(),
            crash_consistent: false,
            snapshots: None,
            unique_machine_id: "m".into(),
            timestamp: at,
        });
        let mut padded = entry.to_blob_bytes();
        padded.extend_from_slice(b"     ");
        let mut checks = Checks::default();
        checks.status_blob(&padded, "job_1").unwrap();
        assert!(!checks.all_passed());
        assert_eq!(checks.0.iter().filter(|c| !c.passed).count(), 1);
    }
}
