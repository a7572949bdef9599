//! The scenarios' results as JUnit XML, the format CI systems (GitHub Actions, GitLab,
//! Jenkins, Azure Pipelines) show test results from: one `<testcase>` per scenario, a
//! `<failure>` listing the failed checks, `<skipped>` with the reason, and every check in
//! `<system-out>`.

use std::fmt::Write;

use super::{ScenarioResult, Verdict};

/// The JUnit document for `results`.
pub fn render(results: &[ScenarioResult]) -> String {
    let failures = results
        .iter()
        .filter(|r| matches!(r.verdict(), Verdict::Failed))
        .count();
    let skipped = results
        .iter()
        .filter(|r| matches!(r.verdict(), Verdict::Skipped))
        .count();
    let total: f64 = results.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"vaultsim-harness\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{total:.3}\">",
        results.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"vaultsim-harness\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total:.3}\">",
        results.len()
    );
    for result in results {
        let _ = write!(
            xml,
            "    <testcase classname=\"vaultsim.harness\" name=\"{}\" time=\"{:.3}\">\n",
            escape(&result.scenario.name()),
            result.elapsed.as_secs_f64()
        );
        match result.verdict() {
            Verdict::Skipped => {
                let _ = writeln!(
                    xml,
                    "      <skipped message=\"{}\"/>",
                    escape(result.skip_reason().unwrap_or_default())
                );
            }
            Verdict::Failed => {
                let failed = result.failed_lines();
                let _ = writeln!(
                    xml,
                    "      <failure message=\"{}\">{}</failure>",
                    escape(failed.first().map(String::as_str).unwrap_or("failed")),
                    escape(&failed.join("\n"))
                );
            }
            Verdict::Passed => {}
        }
        let _ = writeln!(
            xml,
            "      <system-out>{}</system-out>",
            escape(&result.check_lines().join("\n"))
        );
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Text escaped for XML content and attribute values; characters XML 1.0 cannot hold
/// (controls other than tab, newline and carriage return) are dropped.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if (c as u32) < 0x20 => {}
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::harness::checks::Checks;
    use crate::harness::scenarios::{Outcome, Scenario};

    #[test]
    fn failures_skips_and_passes_are_counted_and_escaped() {
        let mut passed = Checks::default();
        passed.pass("the job ends Completed");
        let mut failed = Checks::default();
        failed.pass("the job ends Failed");
        failed.fail(
            "the final code is 402",
            "code Some(1): <ok> & \"done\"\u{1}",
        );
        let results = vec![
            ScenarioResult {
                scenario: Scenario::Snapshot,
                elapsed: Duration::from_millis(1500),
                outcome: Ok(Outcome::Ran(passed)),
            },
            ScenarioResult {
                scenario: Scenario::StaleCommand,
                elapsed: Duration::from_secs(2),
                outcome: Ok(Outcome::Ran(failed)),
            },
            ScenarioResult {
                scenario: Scenario::PreScriptMissing,
                elapsed: Duration::ZERO,
                outcome: Ok(Outcome::Skipped("needs /etc/azure".into())),
            },
            ScenarioResult {
                scenario: Scenario::CrashMidRun,
                elapsed: Duration::ZERO,
                outcome: Err("the agent did not register".into()),
            },
        ];
        let xml = render(&results);
        assert!(
            xml.contains("tests=\"4\" failures=\"2\" skipped=\"1\""),
            "{xml}"
        );
        assert!(xml.contains(
            "<testcase classname=\"vaultsim.harness\" name=\"snapshot\" time=\"1.500\">"
        ));
        assert!(xml.contains("<skipped message=\"needs /etc/azure\"/>"));
        assert!(
            xml.contains("code Some(1): &lt;ok&gt; &amp; &quot;done&quot;</failure>"),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"the agent did not register\">"));
        assert!(!xml.contains('\u{1}'));
        assert_eq!(xml.matches("<testcase ").count(), 4);
        assert_eq!(xml.matches("</testcase>").count(), 4);
    }
}
