//! What the guest agent lays out for an extension, as Linux's and Windows' do.
//!
//! Linux (WALinuxAgent `exthandlers.py`, spec §1 and §8), under a root that stands for
//! `/var/lib/waagent`:
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
//!
//! Windows (the paths the Azure docs send users to), under a root that stands for `C:\`,
//! one directory per `\`-separated segment:
//!
//! ```text
//! <root>/Packages/Plugins/<Publisher>.<Type>/<Version>/
//!     HandlerEnvironment.json                   with C:\ paths
//!     RuntimeSettings/<seq>.settings
//!     Status/<seq>.status, Status/HeartBeat.Json
//!     mrseq, task_identity_…                    bookkeeping (where is not published)
//! <root>/WindowsAzure/Logs/Plugins/<Publisher>.<Type>/<Version>/
//!                                               logFolder (IaaSBcdrExtension.log)
//! <root>/Cert/LocalMachine/My/<THUMBPRINT>.crt, .prv
//!                                               stands for the machine's certificate store
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::os::GuestOs;

/// The real extension keeps the last taskId in this file (spec §3.1).
const TASK_IDENTITY_FILE: &str = "task_identity_FD76C85E-406F-4CFA-8EB0-CF18B123365C";
/// Archived `.settings`/`.status` files kept on enable.
const ARCHIVED_FILES_KEPT: usize = 60;

/// Which guest agent's layout an extension's files follow, under which root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerLayout {
    /// WALinuxAgent's, under what stands for `/var/lib/waagent`.
    Linux { root: PathBuf },
    /// The Windows guest agent's, under what stands for `C:\`.
    Windows { root: PathBuf },
}

/// Where one extension's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Folders {
    extension_dir: PathBuf,
    config_folder: PathBuf,
    status_folder: PathBuf,
    log_folder: PathBuf,
    heartbeat_file: PathBuf,
    /// Linux only: WALinuxAgent names an events folder; the Windows agent's is not published.
    events_folder: Option<PathBuf>,
    log_file: PathBuf,
}

impl HandlerLayout {
    /// The layout of the guest agent of `os`, under `root`.
    pub fn new(os: GuestOs, root: PathBuf) -> HandlerLayout {
        match os {
            GuestOs::Linux => HandlerLayout::Linux { root },
            GuestOs::Windows => HandlerLayout::Windows { root },
        }
    }

    pub fn os(&self) -> GuestOs {
        match self {
            HandlerLayout::Linux { .. } => GuestOs::Linux,
            HandlerLayout::Windows { .. } => GuestOs::Windows,
        }
    }

    /// What stands for `/var/lib/waagent` or `C:\`.
    pub fn root(&self) -> &Path {
        match self {
            HandlerLayout::Linux { root } | HandlerLayout::Windows { root } => root,
        }
    }

    /// Where the VM's certificate and key are for the extensions: beside the handlers on
    /// Linux (spec §8); on Windows they are in the machine's certificate store
    /// (`Cert:\LocalMachine\My`), which this directory stands for.
    pub fn certificate_dir(&self) -> PathBuf {
        match self {
            HandlerLayout::Linux { root } => root.clone(),
            HandlerLayout::Windows { root } => root.join("Cert").join("LocalMachine").join("My"),
        }
    }

    /// The directory `prepare` makes for an extension. `name` is `<Publisher>.<Type>`.
    pub fn extension_dir(&self, name: &str, version: &str) -> PathBuf {
        self.folders(name, version).extension_dir
    }

    /// `name` is `<Publisher>.<Type>`.
    fn folders(&self, name: &str, version: &str) -> Folders {
        match self {
            HandlerLayout::Linux { root } => {
                let extension_dir = root.join(format!("{name}-{version}"));
                let log_folder = root.join("log").join(name);
                Folders {
                    config_folder: extension_dir.join("config"),
                    status_folder: extension_dir.join("status"),
                    heartbeat_file: extension_dir.join("heartbeat.log"),
                    events_folder: Some(log_folder.join("events")),
                    log_file: log_folder.join("extension.log"),
                    log_folder,
                    extension_dir,
                }
            }
            HandlerLayout::Windows { root } => {
                let extension_dir = root
                    .join("Packages")
                    .join("Plugins")
                    .join(name)
                    .join(version);
                let log_folder = root
                    .join("WindowsAzure")
                    .join("Logs")
                    .join("Plugins")
                    .join(name)
                    .join(version);
                let status_folder = extension_dir.join("Status");
                Folders {
                    config_folder: extension_dir.join("RuntimeSettings"),
                    heartbeat_file: status_folder.join("HeartBeat.Json"),
                    status_folder,
                    events_folder: None,
                    // Named after the extension's binary, IaaSBcdrExtension.exe; the file
                    // name is not published.
                    log_file: log_folder.join("IaaSBcdrExtension.log"),
                    log_folder,
                    extension_dir,
                }
            }
        }
    }

    /// A path as the extension sees it: as it is on Linux, `C:\…` on Windows.
    fn guest_path(&self, path: &Path) -> String {
        match self {
            HandlerLayout::Linux { .. } => path.display().to_string(),
            HandlerLayout::Windows { root } => {
                let segments: Vec<String> = path
                    .strip_prefix(root)
                    .unwrap_or(path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                format!("C:\\{}", segments.join("\\"))
            }
        }
    }

    /// `HandlerEnvironment.json`: WALinuxAgent's (schema version 1.0, events folders) or
    /// the Windows agent's (version "1", the four folders, with `C:\` paths).
    fn handler_environment(&self, name: &str, folders: &Folders) -> Value {
        let path = |p: &Path| self.guest_path(p);
        let environment = EnvironmentFolders {
            log_folder: path(&folders.log_folder),
            config_folder: path(&folders.config_folder),
            status_folder: path(&folders.status_folder),
            heartbeat_file: path(&folders.heartbeat_file),
            events_folder: folders.events_folder.as_deref().map(path),
            events_folder_preview: folders.events_folder.as_deref().map(path),
        };
        let version = match self {
            HandlerLayout::Linux { .. } => Value::from(1.0),
            HandlerLayout::Windows { .. } => Value::from("1"),
        };
        serde_json::json!([{
            "name": name,
            "version": version,
            "handlerEnvironment": environment,
        }])
    }

    /// Creates the extension's folders and writes `HandlerEnvironment.json`. `name` is
    /// `<Publisher>.<Type>`.
    pub fn prepare(&self, name: &str, version: &str) -> io::Result<HandlerDirs> {
        let folders = self.folders(name, version);
        for dir in [
            &folders.config_folder,
            &folders.status_folder,
            &folders.log_folder,
        ]
        .into_iter()
        .chain(folders.events_folder.as_ref())
        {
            fs::create_dir_all(dir)?;
        }
        if !folders.heartbeat_file.exists() {
            // The real Linux extension writes no status at all if this is missing (spec §8).
            fs::write(&folders.heartbeat_file, b"")?;
        }
        write_atomically(
            &folders.extension_dir.join("HandlerEnvironment.json"),
            &serde_json::to_vec_pretty(&self.handler_environment(name, &folders))
                .map_err(io::Error::other)?,
        )?;
        Ok(HandlerDirs {
            name: name.to_owned(),
            version: version.to_owned(),
            extension_dir: folders.extension_dir,
            config_folder: folders.config_folder,
            status_folder: folders.status_folder,
            log_folder: folders.log_folder,
            log_file: folders.log_file,
        })
    }
}

/// One extension's directories and bookkeeping files.
#[derive(Debug, Clone)]
pub struct HandlerDirs {
    pub name: String,
    pub version: String,
    pub extension_dir: PathBuf,
    pub config_folder: PathBuf,
    pub status_folder: PathBuf,
    pub log_folder: PathBuf,
    /// Where the extension's own log lines go, in `log_folder`.
    pub log_file: PathBuf,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentFolders {
    log_folder: String,
    config_folder: String,
    status_folder: String,
    heartbeat_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    events_folder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events_folder_preview: Option<String>,
}

impl HandlerDirs {
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

    const WINDOWS_NAME: &str = "Microsoft.Azure.RecoveryServices.VMSnapshot";

    fn linux(root: &Path) -> HandlerLayout {
        HandlerLayout::new(GuestOs::Linux, root.to_owned())
    }

    fn windows(root: &Path) -> HandlerLayout {
        HandlerLayout::new(GuestOs::Windows, root.to_owned())
    }

    #[test]
    fn windows_paths_are_the_windows_agents_under_the_root_that_stands_for_c() {
        let root = Path::new("/vm/c");
        let folders = windows(root).folders(WINDOWS_NAME, "1.9.0.0");
        let ext = root.join("Packages/Plugins/Microsoft.Azure.RecoveryServices.VMSnapshot/1.9.0.0");
        let logs = root
            .join("WindowsAzure/Logs/Plugins/Microsoft.Azure.RecoveryServices.VMSnapshot/1.9.0.0");
        assert_eq!(
            folders,
            Folders {
                config_folder: ext.join("RuntimeSettings"),
                status_folder: ext.join("Status"),
                heartbeat_file: ext.join("Status/HeartBeat.Json"),
                events_folder: None,
                log_file: logs.join("IaaSBcdrExtension.log"),
                log_folder: logs,
                extension_dir: ext,
            }
        );
        assert_eq!(
            windows(root).certificate_dir(),
            root.join("Cert/LocalMachine/My")
        );
        assert_eq!(linux(root).certificate_dir(), root);
    }

    #[test]
    fn a_windows_path_is_c_and_one_backslash_per_directory() {
        let root = Path::new("/vm/c");
        let layout = windows(root);
        assert_eq!(
            layout.guest_path(&root.join("Packages/Plugins/P.T/1.9/Status")),
            r"C:\Packages\Plugins\P.T\1.9\Status"
        );
        assert_eq!(layout.guest_path(root), r"C:\");
        assert_eq!(
            linux(root).guest_path(&root.join("P.T-1.0/status")),
            "/vm/c/P.T-1.0/status"
        );
    }

    #[test]
    fn the_windows_handler_environment_names_c_paths() {
        let root = tempfile::tempdir().unwrap();
        let dirs = windows(root.path())
            .prepare(WINDOWS_NAME, "1.9.0.0")
            .unwrap();
        let environment: Value = serde_json::from_slice(
            &fs::read(dirs.extension_dir.join("HandlerEnvironment.json")).unwrap(),
        )
        .unwrap();
        let ext = r"C:\Packages\Plugins\Microsoft.Azure.RecoveryServices.VMSnapshot\1.9.0.0";
        assert_eq!(
            environment,
            json!([{
                "name": WINDOWS_NAME,
                "version": "1",
                "handlerEnvironment": {
                    "logFolder": r"C:\WindowsAzure\Logs\Plugins\Microsoft.Azure.RecoveryServices.VMSnapshot\1.9.0.0",
                    "configFolder": format!(r"{ext}\RuntimeSettings"),
                    "statusFolder": format!(r"{ext}\Status"),
                    "heartbeatFile": format!(r"{ext}\Status\HeartBeat.Json"),
                }
            }])
        );
        assert!(dirs.log_folder.is_dir());
        assert!(dirs.status_folder.join("HeartBeat.Json").exists());
        dirs.write_settings(2, &json!({"runtimeSettings": []}))
            .unwrap();
        assert!(dirs.config_folder.join("2.settings").exists());
    }

    #[test]
    fn the_layout_is_the_guest_agents() {
        let root = tempfile::tempdir().unwrap();
        let dirs = linux(root.path())
            .prepare(
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
        let dirs = linux(root.path()).prepare("P.T", "1.0").unwrap();
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
