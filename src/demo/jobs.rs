//! One line per job as it finishes, read from the vault's job list as a client sees it.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

/// What has been told of the vault's jobs, and so which of them are worth reading again.
#[derive(Debug, Default)]
pub struct JobWatch {
    /// The finished jobs told, of those the last read listed.
    told: HashSet<String>,
    /// The start of the oldest job running at the last read, else of the newest job: no
    /// job that started before it has anything left to tell.
    since: Option<String>,
}

impl JobWatch {
    /// The job list's `$filter` for the jobs worth reading.
    pub fn filter(&self) -> Option<String> {
        self.since
            .as_ref()
            .map(|since| format!("startTime eq '{since}'"))
    }

    /// The jobs of `listed` (read with [`JobWatch::filter`]) that finished and were not yet
    /// told, oldest end first, as lines.
    pub fn newly_finished(&mut self, listed: &[Value]) -> Vec<String> {
        let status = |job: &Value| {
            job["properties"]["status"]
                .as_str()
                .unwrap_or("InProgress")
                .to_owned()
        };
        let running = |job: &&Value| matches!(status(job).as_str(), "InProgress" | "Cancelling");
        let start = |job: &Value| job["properties"]["startTime"].as_str().map(str::to_owned);
        let oldest_running = listed.iter().filter(running).filter_map(start).min();
        if let Some(since) = oldest_running.or_else(|| listed.iter().filter_map(start).max()) {
            self.since = Some(since);
        }
        let mut finished: Vec<&Value> = listed
            .iter()
            .filter(|job| !running(job))
            .filter(|job| {
                job["name"]
                    .as_str()
                    .is_some_and(|name| !self.told.contains(name))
            })
            .collect();
        finished.sort_by_key(|job| job["properties"]["endTime"].as_str().unwrap_or_default());
        // Later reads list no job older than this one's oldest: forget the others.
        self.told = listed
            .iter()
            .filter(|job| !running(job))
            .filter_map(|job| job["name"].as_str().map(str::to_owned))
            .collect();
        finished.into_iter().map(line).collect()
    }
}

/// `2026-12-06 14:30 UTC  demo-vm-0  Backup   Completed  in 2m10s`, with the error of a
/// job that failed.
fn line(job: &Value) -> String {
    let properties = &job["properties"];
    let text = |field: &str| properties[field].as_str().unwrap_or("?");
    let ended = properties["endTime"]
        .as_str()
        .and_then(|end| chrono::DateTime::parse_from_rfc3339(end).ok())
        .map_or_else(
            || "?".to_owned(),
            |end| end.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
    let mut line = format!(
        "{ended}  {:<12} {:<15} {:<10} in {}",
        text("entityFriendlyName"),
        text("operation"),
        text("status"),
        parse_iso(text("duration")).map_or_else(|| text("duration").to_owned(), short),
    );
    if let Some(error) = properties["errorDetails"]
        .as_array()
        .and_then(|e| e.first())
    {
        line.push_str(&format!(
            "  ({}: {})",
            error["errorCode"],
            error["errorString"].as_str().unwrap_or_default()
        ));
    }
    line
}

/// Whole seconds as people write them: `2m10s`, `1d2h`, `0s`.
pub(super) fn short(duration: Duration) -> String {
    let secs = duration.as_secs();
    let parts = [
        (secs / 86_400, 'd'),
        (secs / 3600 % 24, 'h'),
        (secs / 60 % 60, 'm'),
        (secs % 60, 's'),
    ];
    let text: String = parts
        .iter()
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect();
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text
    }
}

/// An ISO 8601 duration in days, hours, minutes and seconds, as jobs give theirs
/// (`PT41M12.684856S`, `P1DT2H`).
fn parse_iso(iso: &str) -> Option<Duration> {
    let mut secs = 0.0;
    let mut number = String::new();
    for c in iso.strip_prefix('P')?.chars() {
        match c {
            'T' => {}
            '0'..='9' | '.' => number.push(c),
            unit => {
                let value: f64 = number.parse().ok()?;
                secs += value
                    * match unit {
                        'D' => 86_400.0,
                        'H' => 3600.0,
                        'M' => 60.0,
                        'S' => 1.0,
                        _ => return None,
                    };
                number.clear();
            }
        }
    }
    number
        .is_empty()
        .then(|| Duration::try_from_secs_f64(secs).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(name: &str, status: &str, start: &str, end: Option<&str>) -> Value {
        json!({"name": name, "properties": {
            "entityFriendlyName": "demo-vm-1",
            "operation": "Backup",
            "status": status,
            "startTime": start,
            "endTime": end,
            "duration": "PT2M10.5S",
            "errorDetails": [],
        }})
    }

    #[test]
    fn each_finished_job_is_told_once_in_the_order_it_ended() {
        let mut watch = JobWatch::default();
        assert_eq!(watch.filter(), None);
        let jobs = [
            job("c", "InProgress", "2026-12-06T22:30:00Z", None),
            job(
                "b",
                "Completed",
                "2026-12-06T18:30:00Z",
                Some("2026-12-06T18:32:10Z"),
            ),
            job(
                "a",
                "Completed",
                "2026-12-06T14:30:00Z",
                Some("2026-12-06T14:32:10Z"),
            ),
        ];
        assert_eq!(
            watch.newly_finished(&jobs),
            [
                "2026-12-06 14:32 UTC  demo-vm-1    Backup          Completed  in 2m10s",
                "2026-12-06 18:32 UTC  demo-vm-1    Backup          Completed  in 2m10s",
            ]
        );
        assert!(watch.newly_finished(&jobs).is_empty());
        // Read from the running job's start on, until it ends; then from the newest start.
        assert_eq!(
            watch.filter().as_deref(),
            Some("startTime eq '2026-12-06T22:30:00Z'")
        );
        let ended = [job(
            "c",
            "Failed",
            "2026-12-06T22:30:00Z",
            Some("2026-12-07T00:00:00Z"),
        )];
        assert_eq!(watch.newly_finished(&ended).len(), 1);
        assert!(watch.newly_finished(&ended).is_empty());
        assert_eq!(
            watch.filter().as_deref(),
            Some("startTime eq '2026-12-06T22:30:00Z'")
        );
    }

    #[test]
    fn a_failed_job_says_why() {
        let mut failed = job(
            "f",
            "Failed",
            "2026-12-06T18:30:00Z",
            Some("2026-12-06T18:32:10Z"),
        );
        failed["properties"]["errorDetails"] =
            json!([{"errorCode": 400170, "errorString": "The snapshot timed out."}]);
        let lines = JobWatch::default().newly_finished(&[failed]);
        assert!(
            lines[0].ends_with("in 2m10s  (400170: The snapshot timed out.)"),
            "{lines:?}"
        );
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let read = |iso| parse_iso(iso).map(short);
        assert_eq!(read("PT41M12.684856S").as_deref(), Some("41m12s"));
        assert_eq!(read("P1DT2H").as_deref(), Some("1d2h"));
        assert_eq!(read("PT0.5S").as_deref(), Some("0s"));
        assert_eq!(read("PT1H0M5S").as_deref(), Some("1h5s"));
        for bad in ["soon", "P1Y", "PT5", "PTxS"] {
            assert_eq!(read(bad), None, "{bad}");
        }
        assert_eq!(short(Duration::from_secs_f64(86_400.0 / 360.0)), "4m");
        assert_eq!(short(Duration::from_secs_f64(86_400.0 / 3600.0)), "24s");
    }
}
