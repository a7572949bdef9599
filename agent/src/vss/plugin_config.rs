//! The pre/post script configuration (`main/PluginHost.py`, `main/ScriptRunner.py`): the
//! plugin host's INI file, each plugin's JSON file, and the ownership and permission rules
//! the real extension applies to them and to the scripts.
//!
//! The packaged default and 313: the real host reads `/etc/azure/VMSnapshotPluginHost.conf`
//! and, when that is missing, the copy packaged with the extension; 313 (host config not
//! found) is reported only if the packaged copy is missing too, which means a broken
//! extension package. Here the packaged default is compiled in ([`HostConf::packaged`]), so
//! it can never be missing and 313 is never reported: a guest without the host config gets
//! the default host (one ScriptRunner plugin, its config in the config directory), exactly
//! what an intact real extension does.

use std::fmt;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use vaultsim_protocol::extension::codes;

/// The real extension's configuration directory.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/azure";
/// The plugin host's configuration, in the configuration directory.
pub const HOST_CONF_FILE: &str = "VMSnapshotPluginHost.conf";
/// The ScriptRunner plugin's configuration the packaged host config names.
pub const SCRIPT_PLUGIN_CONFIG_FILE: &str = "VMSnapshotScriptPluginConfig.json";
/// The only plugin the real extension ships; the host imports plugins by this name.
pub const SCRIPT_RUNNER: &str = "ScriptRunner";
/// A script may run for at most this long, whatever the configs say.
pub const MAX_SCRIPT_TIMEOUT: Duration = Duration::from_secs(1800);

const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_POLL_SECONDS: u64 = 3;
const POLL_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 1..=5;

/// Owner and permission bits of a file, as `os.stat` gives them to the real checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMode {
    pub uid: u32,
    /// The permission bits (`0o777` part of `st_mode`).
    pub permissions: u32,
}

impl FileMode {
    pub fn of(metadata: &Metadata) -> Self {
        Self {
            uid: metadata.uid(),
            permissions: metadata.mode() & 0o777,
        }
    }

    fn owner_digit(self) -> u32 {
        (self.permissions >> 6) & 0o7
    }

    fn group_digit(self) -> u32 {
        (self.permissions >> 3) & 0o7
    }

    fn other_digit(self) -> u32 {
        self.permissions & 0o7
    }

    fn owned_by_root(self) -> bool {
        self.uid == 0
    }

    /// The host config: root's, group and other may at most read (e.g. 644).
    pub fn allowed_for_host_conf(self) -> bool {
        let read_only_or_none = |digit| digit == 0 || digit == 4;
        self.owned_by_root()
            && read_only_or_none(self.group_digit())
            && read_only_or_none(self.other_digit())
    }

    /// A plugin config: root's, the owner may not execute it, nobody else may touch it
    /// (e.g. 600).
    pub fn allowed_for_plugin_config(self) -> bool {
        self.owned_by_root()
            && self.owner_digit().is_multiple_of(2)
            && self.group_digit() == 0
            && self.other_digit() == 0
    }

    /// A script: root's, nobody else may touch it (e.g. 700). It runs through `sh`, so it
    /// need not be executable.
    pub fn allowed_for_script(self) -> bool {
        self.owned_by_root() && self.group_digit() == 0 && self.other_digit() == 0
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {} mode {:03o}", self.uid, self.permissions)
    }
}

/// Why the plugin host's configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostConfError {
    /// 314.
    #[error("{path}: {mode}, but it must be owned by root with group and other at most read")]
    Permission { path: PathBuf, mode: FileMode },
    /// 304.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

impl HostConfError {
    pub fn code(&self) -> u32 {
        match self {
            HostConfError::Permission { .. } => codes::PLUGIN_HOST_CONFIG_PERMISSION,
            HostConfError::Parse { .. } => codes::PLUGIN_HOST_CONFIG_PARSING,
        }
    }
}

/// Where the host configuration came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostConfSource {
    File(PathBuf),
    Packaged,
}

/// The plugin host's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConf {
    pub source: HostConfSource,
    /// Caps every plugin's script timeout (`timeoutInSeconds`, at most 1800 s).
    pub max_script_timeout: Duration,
    /// Each plugin's configuration file, in plugin order (all plugins are ScriptRunner).
    pub plugin_configs: Vec<PathBuf>,
}

impl HostConf {
    /// The packaged `main/VMSnapshotPluginHost.conf`, its paths moved to `config_dir`.
    pub fn packaged(config_dir: &Path) -> Self {
        Self {
            source: HostConfSource::Packaged,
            max_script_timeout: MAX_SCRIPT_TIMEOUT,
            plugin_configs: vec![config_dir.join(SCRIPT_PLUGIN_CONFIG_FILE)],
        }
    }

    /// Reads `<config_dir>/VMSnapshotPluginHost.conf`, or gives the packaged default when
    /// it does not exist.
    pub async fn load(config_dir: &Path) -> Result<Self, HostConfError> {
        let path = config_dir.join(HOST_CONF_FILE);
        let parse_error = |reason: String| HostConfError::Parse {
            path: path.clone(),
            reason,
        };
        let metadata = match tokio::fs::metadata(&path).await {
            Ok(metadata) if metadata.is_file() => metadata,
            // The real host tests `os.path.isfile`: a directory there counts as missing.
            Ok(_) => return Ok(Self::packaged(config_dir)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::packaged(config_dir))
            }
            Err(error) => return Err(parse_error(error.to_string())),
        };
        let mode = FileMode::of(&metadata);
        if !mode.allowed_for_host_conf() {
            return Err(HostConfError::Permission { path, mode });
        }
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|error| parse_error(error.to_string()))?;
        let parsed = parse_host_conf(&text).map_err(parse_error)?;
        Ok(Self {
            source: HostConfSource::File(path),
            max_script_timeout: parsed.max_script_timeout,
            plugin_configs: parsed.plugin_configs,
        })
    }
}

/// What the INI text says, before it is tied to a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedHostConf {
    pub max_script_timeout: Duration,
    pub plugin_configs: Vec<PathBuf>,
}

/// Parses the host config as Python's ConfigParser reads it: `[section]` headers,
/// `key: value` or `key = value`, keys case-insensitive, `#`/`;` comment lines, indented
/// lines continuing the previous value. Only `[pre_post]` matters; without it, or without
/// `numberOfPlugins`, no plugin is configured.
pub fn parse_host_conf(text: &str) -> Result<ParsedHostConf, String> {
    let section = pre_post_section(text)?;
    let get = |key: &str| -> Option<&str> {
        let key = key.to_ascii_lowercase();
        section
            .iter()
            .rev()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value.as_str())
    };
    let number = |key: &str| -> Result<Option<u64>, String> {
        get(key)
            .map(|value| {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{key} is not a number: {value:?}"))
            })
            .transpose()
    };
    let max_script_timeout = number("timeoutInSeconds")?
        .map(Duration::from_secs)
        .map_or(MAX_SCRIPT_TIMEOUT, |timeout| {
            timeout.min(MAX_SCRIPT_TIMEOUT)
        });
    let plugin_count = number("numberOfPlugins")?.unwrap_or(0);
    let mut plugin_configs = Vec::new();
    for index in 0..plugin_count {
        let required = |key: String| {
            get(&key)
                .map(str::to_owned)
                .ok_or_else(|| format!("no {key} in [pre_post]"))
        };
        let name = required(format!("pluginName{index}"))?;
        // The real host imports the plugin module from pluginPath; ScriptRunner is the only
        // module there is, so any other name fails that import.
        if name != SCRIPT_RUNNER {
            return Err(format!("pluginName{index} {name:?} is not {SCRIPT_RUNNER}"));
        }
        required(format!("pluginPath{index}"))?;
        plugin_configs.push(PathBuf::from(required(format!("pluginConfigPath{index}"))?));
    }
    Ok(ParsedHostConf {
        max_script_timeout,
        plugin_configs,
    })
}

/// The `(lower-cased key, value)` pairs of `[pre_post]`, in file order.
fn pre_post_section(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut current_section: Option<String> = None;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut last_key_in_section = false;
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match (&current_section, last_key_in_section) {
                (Some(_), true) => {
                    let (_, value) = pairs.last_mut().expect("a key was just recorded");
                    value.push('\n');
                    value.push_str(trimmed);
                }
                (Some(_), false) => {}
                (None, _) => return Err(format!("line {number}: text before any section")),
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| format!("line {number}: unterminated section header"))?;
            current_section = Some(name.to_owned());
            last_key_in_section = false;
            continue;
        }
        let Some(section) = &current_section else {
            return Err(format!("line {number}: text before any section"));
        };
        let split_at = trimmed
            .find([':', '='])
            .ok_or_else(|| format!("line {number}: neither `key: value` nor `key = value`"))?;
        let (key, value) = (&trimmed[..split_at], &trimmed[split_at + 1..]);
        last_key_in_section = section == "pre_post";
        if last_key_in_section {
            pairs.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Ok(pairs)
}

/// Why a ScriptRunner plugin configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginConfigError {
    /// 316.
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    /// 317.
    #[error("{path}: {mode}, but it must be owned by root, not executable, and closed to group and other")]
    Permission { path: PathBuf, mode: FileMode },
    /// 305.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

impl PluginConfigError {
    pub fn code(&self) -> u32 {
        match self {
            PluginConfigError::NotFound(_) => codes::PLUGIN_CONFIG_NOT_FOUND,
            PluginConfigError::Permission { .. } => codes::PLUGIN_CONFIG_PERMISSION,
            PluginConfigError::Parse { .. } => codes::PLUGIN_CONFIG_PARSING,
        }
    }
}

/// One script of a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptSpec {
    pub location: PathBuf,
    pub params: Vec<String>,
    /// Extra runs after a failed (non-zero) run; see `scripts.rs` for how they are used.
    pub retries: u32,
}

/// A ScriptRunner plugin configuration, with the real defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptPluginConfig {
    pub plugin_name: String,
    pub pre_script: ScriptSpec,
    pub post_script: ScriptSpec,
    /// `timeoutInSeconds` [30], capped by the host's cap (at most 1800 s).
    pub timeout: Duration,
    pub continue_backup_on_failure: bool,
    pub fs_freeze_enabled: bool,
    /// `ScriptsExecutionPollTimeSeconds` [3], clamped to 1–5 s.
    pub poll_interval: Duration,
    /// Sent to telemetry only.
    pub app_name: Option<String>,
}

impl ScriptPluginConfig {
    /// Reads and checks a plugin config; `max_script_timeout` is the host's cap.
    pub async fn load(
        path: &Path,
        max_script_timeout: Duration,
    ) -> Result<Self, PluginConfigError> {
        let parse_error = |reason: String| PluginConfigError::Parse {
            path: path.to_owned(),
            reason,
        };
        let metadata = match tokio::fs::metadata(path).await {
            Ok(metadata) if metadata.is_file() => metadata,
            Ok(_) => return Err(PluginConfigError::NotFound(path.to_owned())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(PluginConfigError::NotFound(path.to_owned()))
            }
            Err(error) => return Err(parse_error(error.to_string())),
        };
        let mode = FileMode::of(&metadata);
        if !mode.allowed_for_plugin_config() {
            return Err(PluginConfigError::Permission {
                path: path.to_owned(),
                mode,
            });
        }
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|error| parse_error(error.to_string()))?;
        parse_script_plugin_config(&text, max_script_timeout).map_err(parse_error)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawScriptPluginConfig {
    plugin_name: Option<String>,
    pre_script_location: PathBuf,
    post_script_location: PathBuf,
    pre_script_params: Option<Vec<String>>,
    post_script_params: Option<Vec<String>>,
    pre_script_no_of_retries: Option<u32>,
    post_script_no_of_retries: Option<u32>,
    timeout_in_seconds: Option<u64>,
    continue_backup_on_failure: Option<bool>,
    fs_freeze_enabled: Option<bool>,
    #[serde(rename = "ScriptsExecutionPollTimeSeconds")]
    scripts_execution_poll_time_seconds: Option<u64>,
    app_name: Option<String>,
}

/// Parses a plugin config. Unknown keys are ignored as the real one does; a missing script
/// location, a value of the wrong type, or bad JSON is an error (305). `null` counts as
/// absent for the optional keys.
pub fn parse_script_plugin_config(
    text: &str,
    max_script_timeout: Duration,
) -> Result<ScriptPluginConfig, String> {
    let raw: RawScriptPluginConfig =
        serde_json::from_str(text).map_err(|error| error.to_string())?;
    let poll_seconds = raw
        .scripts_execution_poll_time_seconds
        .unwrap_or(DEFAULT_POLL_SECONDS)
        .clamp(*POLL_SECONDS_RANGE.start(), *POLL_SECONDS_RANGE.end());
    Ok(ScriptPluginConfig {
        plugin_name: raw.plugin_name.unwrap_or_else(|| SCRIPT_RUNNER.to_owned()),
        pre_script: ScriptSpec {
            location: raw.pre_script_location,
            params: raw.pre_script_params.unwrap_or_default(),
            retries: raw.pre_script_no_of_retries.unwrap_or(0),
        },
        post_script: ScriptSpec {
            location: raw.post_script_location,
            params: raw.post_script_params.unwrap_or_default(),
            retries: raw.post_script_no_of_retries.unwrap_or(0),
        },
        timeout: raw
            .timeout_in_seconds
            .map_or(DEFAULT_SCRIPT_TIMEOUT, Duration::from_secs)
            .min(max_script_timeout),
        continue_backup_on_failure: raw.continue_backup_on_failure.unwrap_or(true),
        fs_freeze_enabled: raw.fs_freeze_enabled.unwrap_or(true),
        poll_interval: Duration::from_secs(poll_seconds),
        app_name: raw.app_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(uid: u32, permissions: u32) -> FileMode {
        FileMode { uid, permissions }
    }

    #[test]
    fn permission_rules_follow_the_real_checks() {
        // (uid, mode, host conf ok, plugin config ok, script ok)
        let table = [
            (0, 0o644, true, false, false),
            (0, 0o600, true, true, true),
            (0, 0o700, true, false, true),
            (0, 0o400, true, true, true),
            (0, 0o444, true, false, false),
            (0, 0o664, false, false, false),
            (0, 0o646, false, false, false),
            (0, 0o640, true, false, false),
            (0, 0o755, false, false, false),
            (0, 0o500, true, false, true),
            (0, 0o000, true, true, true),
            (1000, 0o600, false, false, false),
            (1000, 0o644, false, false, false),
        ];
        for (uid, permissions, host, plugin, script) in table {
            let file = mode(uid, permissions);
            assert_eq!(file.allowed_for_host_conf(), host, "host {file}");
            assert_eq!(file.allowed_for_plugin_config(), plugin, "plugin {file}");
            assert_eq!(file.allowed_for_script(), script, "script {file}");
        }
    }

    #[test]
    fn the_packaged_host_conf_text_parses_to_the_packaged_default() {
        let text = "[pre_post]\ntimeoutInSeconds: 1800\nnumberOfPlugins: 1\n\
                    pluginName0: ScriptRunner\npluginPath0: /etc/azure\n\
                    pluginConfigPath0: /etc/azure/VMSnapshotScriptPluginConfig.json\n";
        let parsed = parse_host_conf(text).unwrap();
        let packaged = HostConf::packaged(Path::new(DEFAULT_CONFIG_DIR));
        assert_eq!(parsed.max_script_timeout, packaged.max_script_timeout);
        assert_eq!(parsed.plugin_configs, packaged.plugin_configs);
    }

    #[test]
    fn host_conf_parsing() {
        let ok = |text: &str| parse_host_conf(text).unwrap();
        let conf = ok("# comment\n[other]\nnumberOfPlugins = 5\n[pre_post]\n\
                       TIMEOUTINSECONDS = 60\nnumberofplugins = 2\n\
                       pluginName0=ScriptRunner\npluginPath0=/a\npluginConfigPath0=/a/one.json\n\
                       pluginName1: ScriptRunner\npluginPath1: /b\npluginConfigPath1: /b/two.json\n");
        assert_eq!(conf.max_script_timeout, Duration::from_secs(60));
        assert_eq!(
            conf.plugin_configs,
            [PathBuf::from("/a/one.json"), PathBuf::from("/b/two.json")]
        );
        assert_eq!(
            ok("[pre_post]\ntimeoutInSeconds: 99999\n").max_script_timeout,
            MAX_SCRIPT_TIMEOUT
        );
        assert!(ok("").plugin_configs.is_empty());
        assert!(ok("[pre_post]\ntimeoutInSeconds: 10\n")
            .plugin_configs
            .is_empty());
        assert!(ok("[pre_post]\nnumberOfPlugins: 0\n")
            .plugin_configs
            .is_empty());
        for bad in [
            "numberOfPlugins: 1\n",
            "[pre_post\nnumberOfPlugins: 1\n",
            "[pre_post]\nnumberOfPlugins\n",
            "[pre_post]\nnumberOfPlugins: one\n",
            "[pre_post]\ntimeoutInSeconds: -5\n",
            "[pre_post]\nnumberOfPlugins: 1\npluginName0: ScriptRunner\npluginPath0: /a\n",
            "[pre_post]\nnumberOfPlugins: 1\npluginName0: Oracle\npluginPath0: /a\npluginConfigPath0: /a/c\n",
        ] {
            assert!(parse_host_conf(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn indented_lines_continue_the_previous_value() {
        let conf = parse_host_conf(
            "[pre_post]\nnumberOfPlugins: 1\npluginName0: ScriptRunner\npluginPath0: /a\n\
             pluginConfigPath0: /a/\n  c.json\n",
        )
        .unwrap();
        assert_eq!(conf.plugin_configs, [PathBuf::from("/a/\nc.json")]);
    }

    #[test]
    fn plugin_config_defaults() {
        let config = parse_script_plugin_config(
            r#"{"preScriptLocation": "/s/pre.sh", "postScriptLocation": "/s/post.sh"}"#,
            MAX_SCRIPT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(
            config,
            ScriptPluginConfig {
                plugin_name: "ScriptRunner".into(),
                pre_script: ScriptSpec {
                    location: "/s/pre.sh".into(),
                    params: vec![],
                    retries: 0
                },
                post_script: ScriptSpec {
                    location: "/s/post.sh".into(),
                    params: vec![],
                    retries: 0
                },
                timeout: Duration::from_secs(30),
                continue_backup_on_failure: true,
                fs_freeze_enabled: true,
                poll_interval: Duration::from_secs(3),
                app_name: None,
            }
        );
    }

    #[test]
    fn plugin_config_fields_and_limits() {
        let config = parse_script_plugin_config(
            r#"{"pluginName": "db", "preScriptLocation": "/pre", "postScriptLocation": "/post",
                "preScriptParams": ["a", "b c"], "postScriptParams": ["d"],
                "preScriptNoOfRetries": 2, "postScriptNoOfRetries": 1,
                "timeoutInSeconds": 5000, "continueBackupOnFailure": false,
                "fsFreezeEnabled": false, "ScriptsExecutionPollTimeSeconds": 9,
                "appName": "sales", "unknownKey": 1}"#,
            Duration::from_secs(600),
        )
        .unwrap();
        assert_eq!(config.plugin_name, "db");
        assert_eq!(config.pre_script.params, ["a", "b c"]);
        assert_eq!(config.post_script.params, ["d"]);
        assert_eq!(
            (config.pre_script.retries, config.post_script.retries),
            (2, 1)
        );
        assert_eq!(config.timeout, Duration::from_secs(600), "the host's cap");
        assert!(!config.continue_backup_on_failure);
        assert!(!config.fs_freeze_enabled);
        assert_eq!(config.poll_interval, Duration::from_secs(5));
        assert_eq!(config.app_name.as_deref(), Some("sales"));
        let low_poll = parse_script_plugin_config(
            r#"{"preScriptLocation": "/pre", "postScriptLocation": "/post",
                "ScriptsExecutionPollTimeSeconds": 0, "timeoutInSeconds": null}"#,
            MAX_SCRIPT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(low_poll.poll_interval, Duration::from_secs(1));
        assert_eq!(low_poll.timeout, Duration::from_secs(30));
    }

    #[test]
    fn bad_plugin_configs_are_refused() {
        for bad in [
            "{",
            "[]",
            r#"{"postScriptLocation": "/post"}"#,
            r#"{"preScriptLocation": "/pre"}"#,
            r#"{"preScriptLocation": null, "postScriptLocation": "/post"}"#,
            r#"{"preScriptLocation": "/pre", "postScriptLocation": "/post", "timeoutInSeconds": "30"}"#,
            r#"{"preScriptLocation": "/pre", "postScriptLocation": "/post", "preScriptParams": "a"}"#,
        ] {
            assert!(
                parse_script_plugin_config(bad, MAX_SCRIPT_TIMEOUT).is_err(),
                "{bad}"
            );
        }
    }
}
