//! What the guest agent remembers about an installed handler, in its own directory so a
//! restarted agent neither installs nor enables again: `config/HandlerState` (WALinuxAgent's
//! `NotInstalled`, `Installed`, `Enabled`, `FailedUpgrade`) and, vaultsim's own,
//! `config/EnabledSequenceNumber` (the sequence number enable last succeeded for).

use std::cmp::Ordering;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const STATE_FILE: &str = "HandlerState";
const SEQUENCE_FILE: &str = "EnabledSequenceNumber";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandlerState {
    NotInstalled,
    Installed,
    Enabled,
    FailedUpgrade,
}

impl HandlerState {
    fn as_str(self) -> &'static str {
        match self {
            HandlerState::NotInstalled => "NotInstalled",
            HandlerState::Installed => "Installed",
            HandlerState::Enabled => "Enabled",
            HandlerState::FailedUpgrade => "FailedUpgrade",
        }
    }

    fn parse(text: &str) -> HandlerState {
        match text.trim() {
            "Installed" => HandlerState::Installed,
            "Enabled" => HandlerState::Enabled,
            "FailedUpgrade" => HandlerState::FailedUpgrade,
            _ => HandlerState::NotInstalled,
        }
    }

    /// Installed or enabled: the version to update from, or to uninstall.
    pub(crate) fn is_installed(self) -> bool {
        matches!(self, HandlerState::Installed | HandlerState::Enabled)
    }
}

/// One version's directory, `<root>/<Publisher>.<Type>-<Version>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HandlerRecord {
    pub(crate) version: String,
    pub(crate) dir: PathBuf,
}

impl HandlerRecord {
    pub(crate) fn new(root: &Path, handler_name: &str, version: &str) -> HandlerRecord {
        HandlerRecord {
            version: version.to_owned(),
            dir: root.join(format!("{handler_name}-{version}")),
        }
    }

    pub(crate) fn state(&self) -> HandlerState {
        fs::read_to_string(self.dir.join("config").join(STATE_FILE))
            .map_or(HandlerState::NotInstalled, |text| {
                HandlerState::parse(&text)
            })
    }

    pub(crate) fn set_state(&self, state: HandlerState) -> io::Result<()> {
        let config = self.dir.join("config");
        fs::create_dir_all(&config)?;
        fs::write(config.join(STATE_FILE), state.as_str())
    }

    pub(crate) fn enabled_sequence_number(&self) -> Option<i64> {
        fs::read_to_string(self.dir.join("config").join(SEQUENCE_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub(crate) fn set_enabled_sequence_number(&self, sequence_number: i64) -> io::Result<()> {
        fs::write(
            self.dir.join("config").join(SEQUENCE_FILE),
            sequence_number.to_string(),
        )
    }

    /// The installed versions of `handler_name` under `root` other than `except`, newest
    /// first.
    pub(crate) fn installed(root: &Path, handler_name: &str, except: &str) -> Vec<HandlerRecord> {
        let prefix = format!("{handler_name}-");
        let mut found: Vec<HandlerRecord> = fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let version = name.strip_prefix(&prefix)?;
                (version != except).then(|| HandlerRecord::new(root, handler_name, version))
            })
            .filter(|record| record.state().is_installed())
            .collect();
        found.sort_by(|a, b| compare_versions(&b.version, &a.version));
        found
    }
}

/// Dotted versions compared part by part, numerically where both parts are numbers.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.0.0", "1.0"), Ordering::Greater);
        assert_eq!(compare_versions("2.0", "2.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.9184.0", "1.0.9185.0"), Ordering::Less);
    }

    #[test]
    fn state_survives_in_the_handler_directory() {
        let root = tempfile::tempdir().unwrap();
        let record = HandlerRecord::new(root.path(), "P.T", "1.0");
        assert_eq!(record.state(), HandlerState::NotInstalled);
        record.set_state(HandlerState::Enabled).unwrap();
        record.set_enabled_sequence_number(4).unwrap();
        let again = HandlerRecord::new(root.path(), "P.T", "1.0");
        assert_eq!(again.state(), HandlerState::Enabled);
        assert_eq!(again.enabled_sequence_number(), Some(4));

        HandlerRecord::new(root.path(), "P.T", "0.9")
            .set_state(HandlerState::NotInstalled)
            .unwrap();
        HandlerRecord::new(root.path(), "P.T", "0.10")
            .set_state(HandlerState::Installed)
            .unwrap();
        HandlerRecord::new(root.path(), "P.T", "0.8")
            .set_state(HandlerState::Installed)
            .unwrap();
        let installed: Vec<String> = HandlerRecord::installed(root.path(), "P.T", "1.0")
            .into_iter()
            .map(|record| record.version)
            .collect();
        assert_eq!(installed, ["0.10", "0.8"]);
    }
}
