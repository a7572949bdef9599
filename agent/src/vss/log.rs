//! The extension's log (`main/backuplogger.py`): `<UTC>  <level>  <msg>` lines kept in
//! memory, uploaded whole to the logs blob before the freeze and at the end.
//!
//! The real logger writes to disk and the console except while the filesystems are frozen,
//! when it may only keep lines in memory. This one only ever keeps them in memory, so a
//! frozen guest is never written to; whoever uploads or persists the log does so outside
//! the freeze. Warnings and errors also go to the agent's own log (tracing, which writes
//! to stderr, never to a frozen filesystem), so that why a backup failed is seen where the
//! agent runs and not only in the status blob's code.
//!
//! Contract: nothing secret is ever logged (SAS URLs with their signatures, protected
//! settings, tokens). Callers log blob URLs without their query. Script output is logged
//! verbatim: it is the user's own, as in the real extension.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// The level word of a line, as the real extension spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warning,
    Error,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Info => "Info",
            LogLevel::Warning => "Warning",
            LogLevel::Error => "Error",
        })
    }
}

/// A shared log buffer: clones append to the same lines, from any thread or task.
#[derive(Clone, Debug, Default)]
pub struct ExtensionLog {
    lines: Arc<Mutex<Vec<String>>>,
}

impl ExtensionLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn info(&self, message: impl AsRef<str>) {
        self.append(LogLevel::Info, message.as_ref());
    }

    pub fn warning(&self, message: impl AsRef<str>) {
        self.append(LogLevel::Warning, message.as_ref());
    }

    pub fn error(&self, message: impl AsRef<str>) {
        self.append(LogLevel::Error, message.as_ref());
    }

    /// Appends one line per line of `message` (script output spans several), each stamped
    /// with the current UTC time like Python's `str(datetime)`: `2024-05-01 12:00:00.123456`.
    pub fn append(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Info => {}
            LogLevel::Warning => tracing::warn!("extension: {message}"),
            LogLevel::Error => tracing::error!("extension: {message}"),
        }
        let stamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f");
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let mut message_lines = message.lines().peekable();
        if message_lines.peek().is_none() {
            lines.push(format!("{stamp}  {level}  "));
        }
        for line in message_lines {
            lines.push(format!("{stamp}  {level}  {line}"));
        }
    }

    /// A copy of the lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The whole log as the logs blob carries it: every line ended by a newline.
    pub fn text(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::with_capacity(lines.iter().map(|line| line.len() + 1).sum());
        for line in lines.iter() {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_utc_stamp_level_and_message() {
        let log = ExtensionLog::new();
        log.info("starting");
        log.clone().error("broken");
        let lines = log.lines();
        assert_eq!(lines.len(), 2);
        let (stamp, rest) = lines[0].split_once("  ").unwrap();
        assert!(
            chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.6f").is_ok(),
            "{stamp}"
        );
        assert_eq!(rest, "Info  starting");
        assert!(lines[1].ends_with("  Error  broken"), "{}", lines[1]);
        assert_eq!(log.text(), format!("{}\n{}\n", lines[0], lines[1]));
    }

    #[test]
    fn multi_line_messages_become_one_line_each() {
        let log = ExtensionLog::new();
        log.warning("first\nsecond\n");
        log.info("");
        let lines = log.lines();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("  Warning  first"));
        assert!(lines[1].ends_with("  Warning  second"));
        assert!(lines[2].ends_with("  Info  "));
    }
}
