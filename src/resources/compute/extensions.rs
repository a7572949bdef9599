//! VM extensions: what ARM shows of them, and what a PUT or PATCH asks for. Two writers
//! share the rows: the backup engine installs VMSnapshot / VMSnapshotLinux when it first
//! backs a VM up (`guest::publish_extensions`), and ARM clients install any other
//! extension (`extension_writes`). Both publish to the VM's goal state.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{store, VmDetails};
use crate::resources::names::key;
use crate::resources::ResourceError;
use crate::store::migrations::hex;
use crate::store::Db;

/// The publisher of the backup extension, whose row the backup engine owns.
pub const BACKUP_PUBLISHER: &str = "Microsoft.Azure.RecoveryServices";
/// The backup extension's types: Windows, then Linux.
pub const BACKUP_TYPES: [&str; 2] = ["VMSnapshot", "VMSnapshotLinux"];

/// What the goal state tells the guest agent to do with an extension's handler (Compute's
/// `state` of a plugin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum WantedState {
    /// Install if needed, then enable with the current settings.
    #[strum(serialize = "enabled")]
    Enabled,
    /// Disable and uninstall: the extension is being deleted.
    #[strum(serialize = "uninstall")]
    Uninstall,
}

impl WantedState {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An extension installed on a VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    /// The extension's name on the VM, e.g. `VMSnapshotLinux`.
    pub name: String,
    /// e.g. `Microsoft.Azure.RecoveryServices`.
    pub publisher: String,
    /// e.g. `VMSnapshotLinux`.
    pub extension_type: String,
    /// e.g. `1.0`.
    pub type_handler_version: String,
    pub auto_upgrade_minor_version: bool,
    pub enable_automatic_upgrade: bool,
    pub suppress_failures: bool,
    pub force_update_tag: Option<String>,
    /// `Creating`, `Updating`, `Succeeded`, `Failed` or `Deleting`.
    pub provisioning_state: String,
    /// The public settings, if any.
    pub settings: Option<Value>,
    /// The status file the VM's agent last reported for the handler, if any.
    pub handler_status: Option<Value>,
    /// The heartbeat the VM's agent last reported for the handler (`{"status","code",
    /// "message"}`), for a handler that reports one.
    pub handler_heartbeat: Option<Value>,
    pub updated_at: DateTime<Utc>,
}

/// Installs `extension` on the VM with `vm_id`, or replaces the one of the same name
/// (case-insensitively), without publishing it. 404 `ResourceNotFound` when no VM has that
/// vmId.
pub async fn upsert_extension(
    db: &Db,
    vm_id: &str,
    extension: &Extension,
) -> Result<(), ResourceError> {
    let mut conn = db.pool().acquire().await?;
    if store::load(&mut conn, store::Scope::VmId(vm_id))
        .await?
        .is_empty()
    {
        return Err(ResourceError::not_found(
            "ResourceNotFound",
            format!("No virtual machine has the vmId '{vm_id}'."),
        ));
    }
    store::upsert_extension(&mut conn, vm_id, extension).await?;
    Ok(())
}

impl VmDetails {
    /// One of the VM's extensions by name (case-insensitively). 404 `NotFound`, as
    /// Compute words it.
    pub fn extension(&self, name: &str) -> Result<&Extension, ResourceError> {
        self.extensions
            .iter()
            .find(|e| key(&e.name) == key(name))
            .ok_or_else(extension_not_found)
    }
}

pub(super) fn extension_not_found() -> ResourceError {
    ResourceError::not_found(
        "NotFound",
        "The entity was not found in this Azure location.",
    )
}

/// An extension's protected settings as a client sent them. They leave the service only
/// encrypted to the VM's certificate; nothing prints them.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct ProtectedSettings(Value);

impl ProtectedSettings {
    pub fn new(value: Value) -> Self {
        Self(value)
    }

    /// The JSON the handler decrypts.
    pub(super) fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).expect("JSON values serialize")
    }

    /// SHA-256 (lower-case hex) of the JSON, by which a later PUT is told to change them.
    pub(super) fn digest(&self) -> String {
        hex(&Sha256::digest(self.to_json()))
    }
}

impl fmt::Debug for ProtectedSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProtectedSettings(<redacted>)")
    }
}

/// The properties of an extension PUT or PATCH; `None` where the body leaves one out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtensionChange {
    pub publisher: Option<String>,
    pub extension_type: Option<String>,
    pub type_handler_version: Option<String>,
    pub auto_upgrade_minor_version: Option<bool>,
    pub enable_automatic_upgrade: Option<bool>,
    pub suppress_failures: Option<bool>,
    pub force_update_tag: Option<String>,
    pub settings: Option<Value>,
    pub protected_settings: Option<ProtectedSettings>,
}

/// A PUT replaces the extension's properties (a property left out is unset); a PATCH
/// changes the properties it names and keeps the rest, protected settings included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Put,
    Patch,
}

/// What the protected settings become.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtectedChange {
    /// None: the handler gets only public settings.
    None,
    /// These, newly encrypted to the VM's certificate.
    Set(ProtectedSettings),
    /// The ones published before, as they were encrypted then.
    Keep,
}

/// An extension's properties once a write is resolved against what is there.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionSpec {
    pub publisher: String,
    pub extension_type: String,
    pub type_handler_version: String,
    pub auto_upgrade_minor_version: bool,
    pub enable_automatic_upgrade: bool,
    pub suppress_failures: bool,
    pub force_update_tag: Option<String>,
    pub settings: Option<Value>,
    pub protected_settings: ProtectedChange,
}

/// Resolves `change` against the extension as it is (`None`: there is none). Compute's 400
/// `InvalidParameter` for a missing publisher, type or version; 404 `NotFound` for a PATCH
/// of an extension that does not exist.
pub fn resolve(
    change: ExtensionChange,
    mode: WriteMode,
    current: Option<&Extension>,
) -> Result<ExtensionSpec, ResourceError> {
    let base = match (mode, current) {
        (WriteMode::Patch, None) => return Err(extension_not_found()),
        (WriteMode::Patch, Some(current)) => Some(current),
        (WriteMode::Put, _) => None,
    };
    let required = |value: Option<String>, from_base: Option<&String>, name: &str| {
        value
            .or_else(|| from_base.cloned())
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                ResourceError::invalid(
                    "InvalidParameter",
                    format!("Required parameter '{name}' is missing (null)."),
                )
            })
    };
    let flag =
        |value: Option<bool>, from_base: Option<bool>| value.or(from_base).unwrap_or_default();
    let protected_settings = match (change.protected_settings, base) {
        (Some(settings), _) => ProtectedChange::Set(settings),
        (None, Some(_)) => ProtectedChange::Keep,
        (None, None) => ProtectedChange::None,
    };
    Ok(ExtensionSpec {
        publisher: required(change.publisher, base.map(|b| &b.publisher), "publisher")?,
        extension_type: required(
            change.extension_type,
            base.map(|b| &b.extension_type),
            "type",
        )?,
        type_handler_version: required(
            change.type_handler_version,
            base.map(|b| &b.type_handler_version),
            "typeHandlerVersion",
        )?,
        auto_upgrade_minor_version: flag(
            change.auto_upgrade_minor_version,
            base.map(|b| b.auto_upgrade_minor_version),
        ),
        enable_automatic_upgrade: flag(
            change.enable_automatic_upgrade,
            base.map(|b| b.enable_automatic_upgrade),
        ),
        suppress_failures: flag(change.suppress_failures, base.map(|b| b.suppress_failures)),
        force_update_tag: change
            .force_update_tag
            .or_else(|| base.and_then(|b| b.force_update_tag.clone())),
        settings: change
            .settings
            .or_else(|| base.and_then(|b| b.settings.clone())),
        protected_settings,
    })
}

/// Whether `publisher` and `extension_type` name the backup extension.
pub fn is_backup_extension(publisher: &str, extension_type: &str) -> bool {
    publisher.eq_ignore_ascii_case(BACKUP_PUBLISHER)
        && BACKUP_TYPES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(extension_type))
}

/// An extension name as Compute takes it: 1 to 64 letters, digits, `-`, `_` and `.`.
/// 400 `InvalidParameter`.
pub fn validate_extension_name(name: &str) -> Result<(), ResourceError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ResourceError::invalid(
            "InvalidParameter",
            "The extension name is invalid: it is 1 to 64 letters, digits, hyphens, \
             underscores and periods.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn full_change() -> ExtensionChange {
        ExtensionChange {
            publisher: Some("Contoso.Monitoring".to_owned()),
            extension_type: Some("Probe".to_owned()),
            type_handler_version: Some("2.1".to_owned()),
            settings: Some(json!({ "interval": 5 })),
            protected_settings: Some(ProtectedSettings::new(json!({ "key": "s3cret" }))),
            ..ExtensionChange::default()
        }
    }

    fn installed() -> Extension {
        Extension {
            name: "probe".to_owned(),
            publisher: "Contoso.Monitoring".to_owned(),
            extension_type: "Probe".to_owned(),
            type_handler_version: "2.1".to_owned(),
            auto_upgrade_minor_version: true,
            enable_automatic_upgrade: false,
            suppress_failures: true,
            force_update_tag: Some("t1".to_owned()),
            provisioning_state: "Succeeded".to_owned(),
            settings: Some(json!({ "interval": 5 })),
            handler_status: None,
            handler_heartbeat: None,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_put_needs_publisher_type_and_version() {
        for (unset, name) in [
            (
                ExtensionChange {
                    publisher: None,
                    ..full_change()
                },
                "publisher",
            ),
            (
                ExtensionChange {
                    extension_type: Some(" ".to_owned()),
                    ..full_change()
                },
                "type",
            ),
            (
                ExtensionChange {
                    type_handler_version: None,
                    ..full_change()
                },
                "typeHandlerVersion",
            ),
        ] {
            let refused = resolve(unset, WriteMode::Put, Some(&installed())).unwrap_err();
            let ResourceError::Invalid { code, message } = refused else {
                panic!("not a 400: {refused:?}");
            };
            assert_eq!(code, "InvalidParameter");
            assert_eq!(
                message,
                format!("Required parameter '{name}' is missing (null).")
            );
        }
    }

    #[test]
    fn a_put_replaces_and_a_patch_keeps_what_it_leaves_out() {
        let put = resolve(
            ExtensionChange {
                settings: None,
                protected_settings: None,
                ..full_change()
            },
            WriteMode::Put,
            Some(&installed()),
        )
        .unwrap();
        assert_eq!(put.settings, None);
        assert_eq!(put.protected_settings, ProtectedChange::None);
        assert!(!put.suppress_failures);
        assert_eq!(put.force_update_tag, None);

        let patch = resolve(
            ExtensionChange {
                type_handler_version: Some("2.2".to_owned()),
                ..ExtensionChange::default()
            },
            WriteMode::Patch,
            Some(&installed()),
        )
        .unwrap();
        assert_eq!(patch.type_handler_version, "2.2");
        assert_eq!(patch.publisher, "Contoso.Monitoring");
        assert_eq!(patch.settings, Some(json!({ "interval": 5 })));
        assert_eq!(patch.protected_settings, ProtectedChange::Keep);
        assert!(patch.suppress_failures && patch.auto_upgrade_minor_version);
        assert_eq!(patch.force_update_tag.as_deref(), Some("t1"));
    }

    #[test]
    fn a_patch_of_no_extension_is_not_found() {
        assert!(matches!(
            resolve(full_change(), WriteMode::Patch, None),
            Err(ResourceError::NotFound {
                code: "NotFound",
                ..
            })
        ));
    }

    #[test]
    fn protected_settings_never_print() {
        let change = full_change();
        assert!(!format!("{change:?}").contains("s3cret"));
        let spec = resolve(change, WriteMode::Put, None).unwrap();
        assert!(!format!("{spec:?}").contains("s3cret"));
    }

    #[test]
    fn the_backup_extension_is_known_in_any_case() {
        assert!(is_backup_extension(
            "microsoft.azure.recoveryservices",
            "vmsnapshotlinux"
        ));
        assert!(is_backup_extension(BACKUP_PUBLISHER, "VMSnapshot"));
        assert!(!is_backup_extension(BACKUP_PUBLISHER, "Other"));
        assert!(!is_backup_extension("Contoso", "VMSnapshot"));
    }

    #[test]
    fn extension_names_are_checked() {
        for good in [
            "a",
            "Microsoft.Azure.Monitor.AzureMonitorLinuxAgent",
            "x_1-2",
        ] {
            assert!(validate_extension_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a/b", "a b", &"x".repeat(65)] {
            assert!(validate_extension_name(bad).is_err(), "{bad}");
        }
    }
}
