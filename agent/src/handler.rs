//! What the Linux guest agent lays out for an extension (WALinuxAgent `exthandlers.py`,
//! spec §1 and §8), under a root that stands for `/var/lib/waagent`:
//!
//! ```text
//! <root>/<THUMBPRINT>.crt, .prv                 the VM's transport certificate and key
//! <root>/<Publisher>.<Type>-<Version>/
//!     HandlerEnvironment.json                   where the extension logs and reports
//!     config/<seq>.settings                     the handler settings of each sequence number
//!     status/<seq>.status                       what the extension reports back
//!     heartbeat.log, mrseq, task_identity_…     the extension's own bookkeeping
//! <root>/log/<Publisher>.<Type>/                logFolder (extension.log, events/)
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// The real extension keeps the last taskId in this file (spec §3.1).
const TASK_IDENTITY_FILE: &str = "task_identity_FD76C85E-406F-4CFA-8EB0-CF18B123365C";
/// Archived `.settings`/`.status` files kept on enable.
const ARCHIVED_FILES_KEPT: usize = 60;

/// One extension's directories and bookkeeping files.
#[derive(Debug, Clone)]
pub struct HandlerDirs {
    pub name: String,
    pub extension_dir: PathBuf,
    pub config_folder: PathBuf,
    pub status_folder: PathBuf,
    pub log_folder: PathBuf,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HandlerEnvironment<'a> {
    name: &'a str,
    version: f64,
    handler_environment: EnvironmentFolders<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentFolders<'a> {
    log_folder: &'a Path,
    config_folder: &'a Path,
    status_folder: &'a Path,
    heartbeat_file: PathBuf,
    events_folder: PathBuf,
    events_folder_preview: PathBuf,
}

impl HandlerDirs {
    /// Creates the extension's folders under `root` and writes `HandlerEnvironment.json`.
    /// `name` is `<Publisher>.<Type>`.
    pub fn prepare(root: &Path, name: &str, version: &str) -> io::Result<HandlerDirs> {
        let extension_dir = root.join(format!("{name}-{version}"));
        let dirs = HandlerDirs {
            name: name.to_owned(),
            config_folder: extension_dir.join("config"),
            status_folder: extension_dir.join("status"),
            log_folder: root.join("log").join(name),
            extension_dir,
        };
        let events = dirs.log_folder.join("events");
        for dir in [&dirs.config_folder, &dirs.status_folder, &events] {
            fs::create_dir_all(dir)?;
        }
        let heartbeat_file = dirs.extension_dir.join("heartbeat.log");
        if !heartbeat_file.exists() {
            // The real extension writes no status at all if this is missing (spec §8).
            fs::write(&heartbeat_file, b"")?;
        }
        let environment = [HandlerEnvironment {
            name,
            version: 1.0,
            handler_environment: EnvironmentFolders {
                log_folder: &dirs.log_folder,
                config_folder: &dirs.config_folder,
                status_folder: &dirs.status_folder,
                heartbeat_file,
                events_folder: events.clone(),
                events_folder_preview: events,
            },
        }];
        write_atomically(
            &dirs.extension_dir.join("HandlerEnvironment.json"),
            &serde_json::to_vec_pretty(&environment).map_err(io::Error::other)?,
        )?;
        Ok(dirs)
    }

    fn settings_path(&self, sequence_number: i64) -> PathBuf {
        self.config_folder
            .join(format!("{sequence_number}.settings"))
    }

    /// Writes `config/<seq>.settings` as the guest agent does before calling enable.
    pub fn write_settings(&self, sequence_number: i64, settings: &Value) -> io::Result<()> {
        let bytes = serde_json::to_vec(settings).map_err(io::Error::other)?;
        write_atomically(&self.settings_path(sequence_number), &bytes)
    }

    pub fn read_settings(&self, sequence_number: i64) -> io::Result<Value> {
        let bytes = fs::read(self.settings_path(sequence_number))?;
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Rewrites `<seq>.settings` without `protectedSettings`, as the daemon does once it
    /// has read them, so the ciphertext does not linger on disk.
    pub fn strip_protected_settings(&self, sequence_number: i64) -> io::Result<()> {
        let mut settings = self.read_settings(sequence_number)?;
        if let Some(all) = settings["runtimeSettings"].as_array_mut() {
            for runtime in all {
                if let Some(handler) = runtime["handlerSettings"].as_object_mut() {
                    handler.remove("protectedSettings");
                }
            }
        }
        self.write_settings(sequence_number, &settings)
    }

    /// On enable, every other `*.settings`/`*.status` becomes `*_settings`/`*_status`;
    /// the newest [`ARCHIVED_FILES_KEPT`] archived files stay.
    pub fn archive_other_sequence_numbers(&self, current: i64) -> io::Result<()> {
        for (folder, extension) in [
            (&self.config_folder, "settings"),
            (&self.status_folder, "status"),
        ] {
            let keep = format!("{current}.{extension}");
            let mut archived = Vec::new();
            for entry in fs::read_dir(folder)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(&format!(".{extension}")) {
                    if name != keep && stem.parse::<i64>().is_ok() {
                        let target = folder.join(format!("{stem}_{extension}"));
                        fs::rename(entry.path(), &target)?;
                        archived.push(target);
                    }
                } else if name.ends_with(&format!("_{extension}")) {
                    archived.push(entry.path());
                }
            }
            archived.sort_by_key(|path| fs::metadata(path).and_then(|m| m.modified()).ok());
            let excess = archived.len().saturating_sub(ARCHIVED_FILES_KEPT);
            for old in &archived[..excess] {
                fs::remove_file(old)?;
            }
        }
        Ok(())
    }

    /// Writes `status/<seq>.status` through `tempStatusFile.status` and a rename.
    pub fn write_status(&self, sequence_number: i64, status_file: &Value) -> io::Result<()> {
        let bytes = serde_json::to_vec(status_file).map_err(io::Error::other)?;
        let temp = self.status_folder.join("tempStatusFile.status");
        fs::write(&temp, bytes)?;
        fs::rename(
            temp,
            self.status_folder.join(format!("{sequence_number}.status")),
        )
    }

    /// `mrseq`: the last sequence number enable handled.
    pub fn last_sequence_number(&self) -> Option<i64> {
        read_trimmed(&self.extension_dir.join("mrseq"))?
            .parse()
            .ok()
    }

    pub fn set_last_sequence_number(&self, sequence_number: i64) -> io::Result<()> {
        write_atomically(
            &self.extension_dir.join("mrseq"),
            sequence_number.to_string().as_bytes(),
        )
    }

    /// The last taskId enable accepted.
    pub fn last_task_id(&self) -> Option<String> {
        read_trimmed(&self.extension_dir.join(TASK_IDENTITY_FILE))
    }

    pub fn set_last_task_id(&self, task_id: &str) -> io::Result<()> {
        write_atomically(
            &self.extension_dir.join(TASK_IDENTITY_FILE),
            task_id.as_bytes(),
        )
    }

    /// `logFolder/extension.log`, where the extension's log lines also go.
    pub fn log_file(&self) -> PathBuf {
        self.log_folder.join("extension.log")
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    fs::write(&temp, bytes)?;
    fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_layout_is_the_guest_agents() {
        let root = tempfile::tempdir().unwrap();
        let dirs = HandlerDirs::prepare(
            root.path(),
            "Microsoft.Azure.RecoveryServices.VMSnapshotLinux",
            "1.0.9184.0",
        )
        .unwrap();
        let ext = root
            .path()
            .join("Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9184.0");
        let environment: Value =
            serde_json::from_slice(&fs::read(ext.join("HandlerEnvironment.json")).unwrap())
                .unwrap();
        let folders = &environment[0]["handlerEnvironment"];
        assert_eq!(environment[0]["version"], 1.0);
        assert_eq!(
            folders["configFolder"],
            ext.join("config").to_str().unwrap()
        );
        assert_eq!(
            folders["heartbeatFile"],
            ext.join("heartbeat.log").to_str().unwrap()
        );
        assert!(ext.join("heartbeat.log").exists());
        assert!(root
            .path()
            .join("log/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/events")
            .is_dir());

        assert_eq!(dirs.last_sequence_number(), None);
        dirs.set_last_sequence_number(7).unwrap();
        assert_eq!(dirs.last_sequence_number(), Some(7));
        dirs.set_last_task_id("job_1").unwrap();
        assert_eq!(dirs.last_task_id().as_deref(), Some("job_1"));
    }

    #[test]
    fn settings_are_archived_on_enable_and_stripped_of_protected_settings() {
        let root = tempfile::tempdir().unwrap();
        let dirs = HandlerDirs::prepare(root.path(), "P.T", "1.0").unwrap();
        let settings = json!({"runtimeSettings": [{"handlerSettings": {
            "protectedSettingsCertThumbprint": "AB", "protectedSettings": "MIIB",
            "publicSettings": {"taskId": "t"}}}]});
        dirs.write_settings(3, &settings).unwrap();
        dirs.write_status(3, &json!([])).unwrap();
        dirs.write_settings(4, &settings).unwrap();
        dirs.archive_other_sequence_numbers(4).unwrap();
        assert!(dirs.config_folder.join("3_settings").exists());
        assert!(dirs.status_folder.join("3_status").exists());
        assert!(dirs.config_folder.join("4.settings").exists());

        dirs.strip_protected_settings(4).unwrap();
        let stripped = dirs.read_settings(4).unwrap();
        let handler = &stripped["runtimeSettings"][0]["handlerSettings"];
        assert!(handler.get("protectedSettings").is_none());
        assert_eq!(handler["publicSettings"]["taskId"], "t");
    }
}
