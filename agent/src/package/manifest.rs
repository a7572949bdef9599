//! The two descriptions a handler package carries: `HandlerManifest.json` (what the guest
//! agent runs, WALinuxAgent's `HandlerManifest`) and `manifest.xml` (who the package is, the
//! `<ExtensionImage>` Azure publishes extensions with).

use serde::Deserialize;
use serde_json::Value;

/// `HandlerManifest.json`: a list whose first entry holds `handlerManifest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerManifest {
    pub install_command: String,
    pub enable_command: String,
    pub disable_command: String,
    pub update_command: String,
    pub uninstall_command: String,
    /// The agent reads `heartbeatFile` and reports it.
    pub report_heartbeat: bool,
    /// A failed disable or uninstall of the old version does not stop an update.
    pub continue_on_update_failure: bool,
    /// `updateMode` is `UpdateWithInstall` (or absent): an update also runs install.
    pub update_with_install: bool,
}

/// Why `HandlerManifest.json` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("HandlerManifest.json is not JSON: {0}")]
    NotJson(String),
    #[error(
        "HandlerManifest.json must be a list holding one object with `handlerManifest`, \
         e.g. [{{\"version\": 1.0, \"handlerManifest\": {{\"enableCommand\": …}}}}]"
    )]
    NoHandlerManifest,
    #[error("HandlerManifest.json: `handlerManifest.{0}` is missing or not a non-empty string")]
    MissingCommand(&'static str),
    #[error("manifest.xml: {0}")]
    ExtensionImage(String),
}

impl HandlerManifest {
    /// Parses the file as the guest agent reads it (a UTF-8 byte order mark is dropped).
    pub fn parse(bytes: &[u8]) -> Result<HandlerManifest, ManifestError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let document: Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let manifest = document
            .get(0)
            .and_then(|entry| entry.get("handlerManifest"))
            .filter(|manifest| manifest.is_object())
            .ok_or(ManifestError::NoHandlerManifest)?;
        let command = |key: &'static str| {
            manifest[key]
                .as_str()
                .filter(|command| !command.trim().is_empty())
                .map(str::to_owned)
                .ok_or(ManifestError::MissingCommand(key))
        };
        Ok(HandlerManifest {
            install_command: command("installCommand")?,
            enable_command: command("enableCommand")?,
            disable_command: command("disableCommand")?,
            update_command: command("updateCommand")?,
            uninstall_command: command("uninstallCommand")?,
            report_heartbeat: flag(&manifest["reportHeartbeat"]),
            continue_on_update_failure: flag(&manifest["continueOnUpdateFailure"]),
            update_with_install: manifest["updateMode"]
                .as_str()
                .is_none_or(|mode| mode.eq_ignore_ascii_case("UpdateWithInstall")),
        })
    }
}

/// A manifest boolean: `true`, or for old packages the string "true" in any case; anything
/// else is false (WALinuxAgent `_parse_boolean_value`).
fn flag(value: &Value) -> bool {
    match value {
        Value::Bool(value) => *value,
        Value::String(text) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Who a package is, from `manifest.xml`:
/// `<ExtensionImage><ProviderNameSpace>…</ProviderNameSpace><Type>…</Type><Version>…</Version>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExtensionImage {
    #[serde(rename = "ProviderNameSpace")]
    pub publisher: String,
    #[serde(rename = "Type")]
    pub extension_type: String,
    #[serde(rename = "Version")]
    pub version: String,
}

impl ExtensionImage {
    pub fn parse(text: &str) -> Result<ExtensionImage, ManifestError> {
        let image: ExtensionImage = quick_xml::de::from_str(text.trim_start_matches('\u{feff}'))
            .map_err(|e| {
                ManifestError::ExtensionImage(format!(
                    "not an <ExtensionImage> with ProviderNameSpace, Type and Version: {e}"
                ))
            })?;
        for (name, value) in [
            ("ProviderNameSpace", &image.publisher),
            ("Type", &image.extension_type),
            ("Version", &image.version),
        ] {
            if value.trim().is_empty() {
                return Err(ManifestError::ExtensionImage(format!("<{name}> is empty")));
            }
        }
        Ok(ExtensionImage {
            publisher: image.publisher.trim().to_owned(),
            extension_type: image.extension_type.trim().to_owned(),
            version: image.version.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMANDS: &str = r#""installCommand": "bin/install.sh", "enableCommand": "bin/enable.sh",
        "disableCommand": "bin/disable.sh", "updateCommand": "bin/update.sh",
        "uninstallCommand": "bin/uninstall.sh""#;

    #[test]
    fn a_manifest_gives_its_commands_and_flags() {
        let text = format!(
            "\u{feff}[{{\"version\": 1.0, \"handlerManifest\": {{{COMMANDS}, \
             \"reportHeartbeat\": \"True\", \"continueOnUpdateFailure\": true, \
             \"updateMode\": \"UpdateWithoutInstall\", \"rebootAfterInstall\": false}}}}]"
        );
        let manifest = HandlerManifest::parse(text.as_bytes()).unwrap();
        assert_eq!(manifest.enable_command, "bin/enable.sh");
        assert_eq!(manifest.uninstall_command, "bin/uninstall.sh");
        assert!(manifest.report_heartbeat);
        assert!(manifest.continue_on_update_failure);
        assert!(!manifest.update_with_install);
    }

    #[test]
    fn flags_default_as_the_guest_agent_defaults_them() {
        let text = format!("[{{\"handlerManifest\": {{{COMMANDS}, \"reportHeartbeat\": 1}}}}]");
        let manifest = HandlerManifest::parse(text.as_bytes()).unwrap();
        assert!(!manifest.report_heartbeat);
        assert!(!manifest.continue_on_update_failure);
        assert!(manifest.update_with_install);
    }

    #[test]
    fn a_bad_manifest_says_what_is_wrong() {
        assert!(matches!(
            HandlerManifest::parse(b"[{"),
            Err(ManifestError::NotJson(_))
        ));
        assert_eq!(
            HandlerManifest::parse(br#"{"handlerManifest": {}}"#),
            Err(ManifestError::NoHandlerManifest)
        );
        let without_update = COMMANDS.replace("\"updateCommand\"", "\"update\"");
        assert_eq!(
            HandlerManifest::parse(
                format!("[{{\"handlerManifest\": {{{without_update}}}}}]").as_bytes()
            ),
            Err(ManifestError::MissingCommand("updateCommand"))
        );
        let empty_enable = COMMANDS.replace("bin/enable.sh", " ");
        assert_eq!(
            HandlerManifest::parse(
                format!("[{{\"handlerManifest\": {{{empty_enable}}}}}]").as_bytes()
            ),
            Err(ManifestError::MissingCommand("enableCommand"))
        );
    }

    #[test]
    fn the_extension_image_names_the_package() {
        let image = ExtensionImage::parse(
            r#"<?xml version="1.0" encoding="utf-8"?>
            <ExtensionImage xmlns="http://schemas.microsoft.com/windowsazure">
              <ProviderNameSpace>Microsoft.Azure.RecoveryServices</ProviderNameSpace>
              <Type>VMSnapshotLinux</Type>
              <Version>1.0.9184.0</Version>
              <Label>Backup</Label>
              <IsInternalExtension>true</IsInternalExtension>
            </ExtensionImage>"#,
        )
        .unwrap();
        assert_eq!(image.publisher, "Microsoft.Azure.RecoveryServices");
        assert_eq!(image.extension_type, "VMSnapshotLinux");
        assert_eq!(image.version, "1.0.9184.0");
        assert!(matches!(
            ExtensionImage::parse("<ExtensionImage><Type>T</Type></ExtensionImage>"),
            Err(ManifestError::ExtensionImage(_))
        ));
    }
}
