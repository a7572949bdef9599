//! One line per job as it finishes, read from the vault's job list as a client sees it.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

/// The finished jobs not yet reported, oldest end first, as lines; `reported` learns them.
pub fn newly_finished(jobs: &[Value], reported: &mut HashSet<String>) -> Vec<String> {
    let mut finished: Vec<&Value> = jobs
        .iter()
        .filter(|job| {
            let status = job["properties"]["status"].as_str().unwrap_or("InProgress");
            !matches!(status, "InProgress" | "Cancelling")
        })
        .filter(|job| {
            job["name"]
                .as_str()
                .is_some_and(|name| reported.insert(name.to_owned()))
        })
        .collect();
    finished.sort_by_key(|job| job["properties"]["endTime"].as_str().unwrap_or_default());
    finished.into_iter().map(line).collect()
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

    fn job(name: &str, status: &str, end: Option<&str>) -> Value {
        json!({"name": name, "properties": {
            "entityFriendlyName": "demo-vm-1",
            "operation": "Backup",
            "status": status,
            "endTime": end,
            "duration": "PT2M10.5S",
            "errorDetails": [],
        }})
    }

    #[test]
    fn each_finished_job_is_told_once_in_the_order_it_ended() {
        let mut reported = HashSet::new();
        let jobs = [
            job("b", "Completed", Some("2026-12-06T18:32:10Z")),
            job("a", "Completed", Some("2026-12-06T14:32:10Z")),
            job("c", "InProgress", None),
        ];
        let lines = newly_finished(&jobs, &mut reported);
        assert_eq!(
            lines,
            [
                "2026-12-06 14:32 UTC  demo-vm-1    Backup          Completed  in 2m10s",
                "2026-12-06 18:32 UTC  demo-vm-1    Backup          Completed  in 2m10s",
            ]
        );
        assert!(newly_finished(&jobs, &mut reported).is_empty());
    }

    #[test]
    fn a_failed_job_says_why() {
        let mut failed = job("f", "Failed", Some("2026-12-06T18:32:10Z"));
        failed["properties"]["errorDetails"] =
            json!([{"errorCode": 400170, "errorString": "The snapshot timed out."}]);
        let lines = newly_finished(&[failed], &mut HashSet::new());
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
