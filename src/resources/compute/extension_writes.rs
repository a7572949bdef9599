//! Installing, changing and deleting a VM's extensions over ARM, as Compute does it: each
//! write publishes to the VM's goal state and answers at once with an operation that ends
//! when the VM's agent has acted. A PUT or PATCH publishes the settings under a new
//! sequence number only when settings, protected settings, `forceUpdateTag` or the version
//! change (an identical PUT publishes nothing); the operation succeeds or fails with the
//! status the agent then reports. A DELETE tells the agent to uninstall the handler; the
//! extension goes when the agent says it has (at once when the VM has no agent).
//!
//! The backup extension's row is the backup engine's: a PUT or PATCH of it is refused (the
//! next backup installs it); a DELETE is served, and the next backup installs it again.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::extensions::{
    is_backup_extension, resolve, validate_extension_name, Extension, ExtensionChange,
    ExtensionSpec, ProtectedChange, WantedState, WriteMode,
};
use super::store::{self, ExtensionRow, OperationRow, Settled, StoredExtension};
use super::{get_vm, VmDetails};
use crate::clock::Clock;
use crate::control::cms::encrypt_to_certificate;
use crate::guest::{self, GoalStateNotifier};
use crate::resources::protection::operations::{OperationError, OperationStatus};
use crate::resources::ResourceError;
use crate::store::Db;

/// What an extension operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum OperationKind {
    /// A PUT or PATCH: the agent's status for the sequence number it published.
    #[strum(serialize = "put")]
    Put,
    /// A DELETE: the agent's word that the handler is uninstalled.
    #[strum(serialize = "delete")]
    Delete,
    /// A change of the VM's power (`name` empty): settled as it is recorded.
    #[strum(serialize = "power")]
    Power,
}

impl OperationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Addresses one extension of a VM.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionAddress<'a> {
    pub subscription: &'a str,
    pub group: &'a str,
    pub vm: &'a str,
    pub name: &'a str,
}

/// A write accepted: the VM as it is now, whether the extension is new, and the operation
/// to poll.
#[derive(Debug)]
pub struct ExtensionWritten {
    pub vm: VmDetails,
    pub created: bool,
    pub operation_id: String,
}

/// A PUT (`VirtualMachineExtensions_CreateOrUpdate`) or PATCH (`_Update`). 400 for a bad
/// name or missing property, 404 for a missing group, VM or (PATCH) extension, 409
/// `OperationNotAllowed` for the backup extension, for protected settings on a VM whose
/// agent never registered, and during a deletion, 409 `PropertyChangeNotAllowed` for a
/// new publisher or type.
pub async fn write_extension(
    db: &Db,
    clock: &Clock,
    notifier: &GoalStateNotifier,
    address: ExtensionAddress<'_>,
    change: ExtensionChange,
    mode: WriteMode,
) -> Result<ExtensionWritten, ResourceError> {
    validate_extension_name(address.name)?;
    let vm = get_vm(db, address.subscription, address.group, address.vm).await?;
    let vm_id = vm.vm.vm_id.clone();
    let certificate = guest::guest_certificate(db, &vm_id)
        .await
        .map_err(ResourceError::from)?;
    let now = clock.now();
    let mut tx = db.begin_write().await?;
    if !store::lock_vm(&mut tx, address.subscription, address.group, address.vm).await? {
        return Err(ResourceError::not_found(
            "ResourceNotFound",
            format!(
                "The virtual machine '{}' was deleted meanwhile.",
                address.vm
            ),
        ));
    }
    let current = store::extension_for_write(&mut tx, &vm_id, address.name).await?;
    let spec = resolve(change, mode, current.as_ref().map(|c| &c.extension))?;
    check_write(&spec, current.as_ref())?;
    let row = next_row(&spec, current.as_ref(), certificate.as_ref(), now)?;
    let publish = row.published;
    if publish {
        settle_preempted(&mut tx, &vm_id, address.name, current.as_ref(), now).await?;
    }
    let sequence_number = row.sequence_number;
    store::put_extension_row(
        &mut tx,
        &vm_id,
        &ExtensionRow {
            name: current
                .as_ref()
                .map_or(address.name, |c| c.extension.name.as_str()),
            spec: &spec,
            provisioning_state: &row.provisioning_state,
            sequence_number,
            handler_settings: &row.handler_settings,
            protected_settings_sha256: row.protected_settings_sha256.as_deref(),
            updated_at: row.updated_at,
        },
    )
    .await?;
    if publish {
        guest::bump_incarnation(&mut tx, &vm_id)
            .await
            .map_err(ResourceError::from)?;
    }
    let operation_id = uuid::Uuid::new_v4().to_string();
    store::insert_operation(
        &mut tx,
        &OperationRow {
            operation_id: operation_id.clone(),
            subscription_id: address.subscription.to_owned(),
            vm_id: vm_id.clone(),
            name: address.name.to_owned(),
            kind: OperationKind::Put,
            sequence_number,
            started_at: now,
            settled: None,
        },
    )
    .await?;
    tx.commit().await?;
    if publish {
        notifier.notify(&vm_id);
        tracing::info!(
            %vm_id,
            extension = address.name,
            publisher = %spec.publisher,
            extension_type = %spec.extension_type,
            sequence_number,
            "extension published"
        );
    }
    Ok(ExtensionWritten {
        vm: get_vm(db, address.subscription, address.group, address.vm).await?,
        created: current.is_none(),
        operation_id,
    })
}

/// What a write makes of the extension's row.
#[derive(Debug, PartialEq)]
struct NextRow {
    /// Whether the goal state changes: a new extension, or new settings, protected
    /// settings, `forceUpdateTag` or version. Then the sequence number is the next one.
    published: bool,
    provisioning_state: String,
    sequence_number: i64,
    handler_settings: Value,
    protected_settings_sha256: Option<String>,
    updated_at: DateTime<Utc>,
}

fn next_row(
    spec: &ExtensionSpec,
    current: Option<&StoredExtension>,
    certificate: Option<&guest::GuestCertificate>,
    now: DateTime<Utc>,
) -> Result<NextRow, ResourceError> {
    let protected_settings_sha256 = match &spec.protected_settings {
        ProtectedChange::Set(settings) => Some(settings.digest()),
        ProtectedChange::Keep => current.and_then(|c| c.protected_settings_sha256.clone()),
        ProtectedChange::None => None,
    };
    let Some(current) = current else {
        return Ok(NextRow {
            published: true,
            provisioning_state: "Creating".to_owned(),
            sequence_number: 0,
            handler_settings: handler_settings(spec, None, certificate)?,
            protected_settings_sha256,
            updated_at: now,
        });
    };
    let was = &current.extension;
    let changed = was.settings != spec.settings
        || current.protected_settings_sha256 != protected_settings_sha256
        || was.force_update_tag != spec.force_update_tag
        || was.type_handler_version != spec.type_handler_version;
    Ok(if changed {
        NextRow {
            published: true,
            provisioning_state: "Updating".to_owned(),
            sequence_number: current.sequence_number + 1,
            handler_settings: handler_settings(
                spec,
                current.handler_settings.as_ref(),
                certificate,
            )?,
            protected_settings_sha256,
            updated_at: now,
        }
    } else {
        NextRow {
            published: false,
            provisioning_state: was.provisioning_state.clone(),
            sequence_number: current.sequence_number,
            handler_settings: current
                .handler_settings
                .clone()
                .unwrap_or_else(|| json!({})),
            protected_settings_sha256,
            updated_at: was.updated_at,
        }
    })
}

fn check_write(
    spec: &ExtensionSpec,
    current: Option<&StoredExtension>,
) -> Result<(), ResourceError> {
    if is_backup_extension(&spec.publisher, &spec.extension_type) {
        return Err(ResourceError::conflict(
            "OperationNotAllowed",
            format!(
                "The extension {}.{} is installed and updated by Azure Backup: the next backup \
                 of the virtual machine installs it.",
                spec.publisher, spec.extension_type
            ),
        ));
    }
    let Some(current) = current else {
        return Ok(());
    };
    if current.handler_state == WantedState::Uninstall {
        return Err(ResourceError::conflict(
            "OperationNotAllowed",
            format!(
                "The extension '{}' is being deleted; put it again once the deletion has \
                 completed.",
                current.extension.name
            ),
        ));
    }
    let was = &current.extension;
    for (property, before, after) in [
        ("publisher", &was.publisher, &spec.publisher),
        ("type", &was.extension_type, &spec.extension_type),
    ] {
        if !before.eq_ignore_ascii_case(after) {
            return Err(ResourceError::conflict(
                "PropertyChangeNotAllowed",
                format!("Changing property '{property}' is not allowed."),
            ));
        }
    }
    Ok(())
}

/// The goal state's `handlerSettings`: the public settings, and the protected ones encrypted
/// to the VM's certificate (CMS, base64) with its thumbprint, as the engine writes them for
/// the backup extension.
fn handler_settings(
    spec: &ExtensionSpec,
    published: Option<&Value>,
    certificate: Option<&guest::GuestCertificate>,
) -> Result<Value, ResourceError> {
    let mut settings = Map::new();
    settings.insert(
        "publicSettings".to_owned(),
        spec.settings.clone().unwrap_or_else(|| json!({})),
    );
    match &spec.protected_settings {
        ProtectedChange::None => {}
        ProtectedChange::Keep => {
            for key in [
                "protectedSettingsCertThumbprint",
                "protectedSettings",
                guest::SEALED_PROTECTED_SETTINGS,
            ] {
                if let Some(value) = published.and_then(|p| p.get(key)) {
                    settings.insert(key.to_owned(), value.clone());
                }
            }
        }
        ProtectedChange::Set(protected) => {
            let certificate = certificate.ok_or_else(|| {
                ResourceError::conflict(
                    "OperationNotAllowed",
                    "The virtual machine's guest agent has not registered, so there is no \
                     certificate to encrypt the protected settings to. Start the agent \
                     (vaultsim-agent) for this VM first.",
                )
            })?;
            let envelope = encrypt_to_certificate(&certificate.pem, &protected.to_json())
                .map_err(|e| ResourceError::conflict("OperationNotAllowed", e.to_string()))?;
            settings.insert(
                "protectedSettingsCertThumbprint".to_owned(),
                json!(certificate.thumbprint),
            );
            settings.insert(
                "protectedSettings".to_owned(),
                json!(STANDARD.encode(envelope)),
            );
        }
    }
    Ok(Value::Object(settings))
}

/// The answer to a DELETE.
#[derive(Debug)]
pub enum ExtensionDeletion {
    /// The VM has no such extension.
    NotFound,
    /// The operation to poll; it has already succeeded when the VM has no agent.
    Accepted {
        operation_id: String,
        location: String,
    },
}

/// `VirtualMachineExtensions_Delete`: the goal state says `uninstall` for the handler, and
/// the extension shows `Deleting` until the agent reports it uninstalled. 404 for a missing
/// group or VM.
pub async fn delete_extension(
    db: &Db,
    clock: &Clock,
    notifier: &GoalStateNotifier,
    address: ExtensionAddress<'_>,
) -> Result<ExtensionDeletion, ResourceError> {
    let vm = get_vm(db, address.subscription, address.group, address.vm).await?;
    let vm_id = vm.vm.vm_id.clone();
    let has_agent = guest::guest_certificate(db, &vm_id)
        .await
        .map_err(ResourceError::from)?
        .is_some();
    let now = clock.now();
    let mut tx = db.begin_write().await?;
    if !store::lock_vm(&mut tx, address.subscription, address.group, address.vm).await? {
        return Ok(ExtensionDeletion::NotFound);
    }
    let Some(current) = store::extension_for_write(&mut tx, &vm_id, address.name).await? else {
        return Ok(ExtensionDeletion::NotFound);
    };
    let name = current.extension.name.clone();
    settle_preempted(&mut tx, &vm_id, &name, Some(&current), now).await?;
    let settled = if has_agent {
        store::mark_uninstall(&mut tx, &vm_id, &name, now).await?;
        guest::bump_incarnation(&mut tx, &vm_id)
            .await
            .map_err(ResourceError::from)?;
        None
    } else {
        store::delete_extension(&mut tx, &vm_id, &name, false, now).await?;
        Some(Settled {
            status: OperationStatus::Succeeded,
            error: None,
            ended_at: now,
        })
    };
    let operation_id = uuid::Uuid::new_v4().to_string();
    store::insert_operation(
        &mut tx,
        &OperationRow {
            operation_id: operation_id.clone(),
            subscription_id: address.subscription.to_owned(),
            vm_id: vm_id.clone(),
            name: name.clone(),
            kind: OperationKind::Delete,
            sequence_number: current.sequence_number,
            started_at: now,
            settled,
        },
    )
    .await?;
    tx.commit().await?;
    if has_agent {
        notifier.notify(&vm_id);
    }
    Ok(ExtensionDeletion::Accepted {
        operation_id,
        location: vm.vm.location,
    })
}

/// Removes the VM's extension `name` if it is marked for uninstalling, which completes its
/// deletion; meant for the caller's transaction. Whether it was.
pub async fn remove_uninstalled_extension(
    tx: &mut AnyConnection,
    vm_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    store::delete_extension(tx, vm_id, name, true, now).await
}

/// How long Compute waits for an extension to report the end of its provisioning (a PUT
/// or PATCH) before it fails it with `VMExtensionProvisioningTimeout` (Azure docs: "VM
/// extensions have a 90-minute provisioning timeout").
pub const PROVISIONING_TIMEOUT: TimeDelta = TimeDelta::minutes(90);

/// An extension operation as a client polls it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionOperation {
    pub operation_id: String,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub error: Option<OperationError>,
}

/// The operation `operation_id` of the subscription: how it ended, or where it stands by
/// the extension it tracks at `now` (written down once it has ended, so that it never
/// changes; a PUT that timed out fails its extension too). 404 `OperationNotFound` when the
/// subscription has no such operation.
pub async fn extension_operation(
    db: &Db,
    subscription: &str,
    operation_id: &str,
    now: DateTime<Utc>,
) -> Result<ExtensionOperation, ResourceError> {
    let mut conn = db.pool().acquire().await?;
    let operation = store::operation(&mut conn, operation_id)
        .await?
        .filter(|op| op.subscription_id == subscription)
        .ok_or_else(|| {
            ResourceError::not_found(
                "OperationNotFound",
                format!("The operation '{operation_id}' was not found."),
            )
        })?;
    let settled = match operation.settled.clone() {
        Some(settled) => Some(settled),
        None => {
            let extension =
                store::extension_for_write(&mut conn, &operation.vm_id, &operation.name).await?;
            let reached = match reached(&operation, extension.as_ref()) {
                Some(settled) => Some(settled),
                None => {
                    let timed_out = timed_out(&operation, extension.as_ref(), now);
                    if timed_out.is_some() {
                        store::fail_provisioning(
                            &mut conn,
                            &operation.vm_id,
                            &operation.name,
                            operation.sequence_number,
                            now,
                        )
                        .await?;
                    }
                    timed_out
                }
            };
            if let Some(settled) = &reached {
                store::settle_operation(&mut conn, &operation.operation_id, settled).await?;
            }
            reached
        }
    };
    Ok(ExtensionOperation {
        operation_id: operation.operation_id,
        kind: operation.kind,
        status: settled
            .as_ref()
            .map_or(OperationStatus::InProgress, |s| s.status),
        start_time: operation.started_at,
        end_time: settled.as_ref().map(|s| s.ended_at),
        error: settled.and_then(|s| s.error),
    })
}

/// Settles the extension's unfinished PUT operations before a write replaces what they
/// wait for (`current`, the extension as it is until then): those that had ended as they
/// ended, the others preempted, as Compute cancels an operation a later one overtakes.
async fn settle_preempted(
    tx: &mut AnyConnection,
    vm_id: &str,
    name: &str,
    current: Option<&StoredExtension>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for operation in store::unsettled_operations(tx, vm_id, name).await? {
        if operation.kind != OperationKind::Put {
            continue;
        }
        let settled = reached(&operation, current).unwrap_or_else(|| preempted(now));
        store::settle_operation(tx, &operation.operation_id, &settled).await?;
    }
    Ok(())
}

fn preempted(at: DateTime<Utc>) -> Settled {
    Settled {
        status: OperationStatus::Canceled,
        error: Some(OperationError {
            code: "OperationPreempted".to_owned(),
            message: "Operation execution has been preempted by a more recent operation."
                .to_owned(),
        }),
        ended_at: at,
    }
}

/// How an unsettled operation has ended, given the extension as it is now (`None`: it is
/// gone); `None` while it is in progress.
fn reached(op: &OperationRow, extension: Option<&StoredExtension>) -> Option<Settled> {
    let succeeded = |at| {
        Some(Settled {
            status: OperationStatus::Succeeded,
            error: None,
            ended_at: at,
        })
    };
    match (op.kind, extension) {
        (OperationKind::Delete, Some(e)) if e.handler_state == WantedState::Uninstall => None,
        (OperationKind::Delete, Some(e)) => Some(preempted(e.extension.updated_at)),
        // The VM went with it.
        (OperationKind::Delete, None) => succeeded(op.started_at),
        (OperationKind::Put, Some(e))
            if e.sequence_number == op.sequence_number
                && e.handler_state == WantedState::Enabled =>
        {
            let at = e.extension.updated_at;
            match e.extension.provisioning_state.as_str() {
                "Succeeded" => succeeded(at),
                "Failed" => Some(Settled {
                    status: OperationStatus::Failed,
                    error: Some(provisioning_error(&e.extension)),
                    ended_at: at,
                }),
                _ => None,
            }
        }
        (OperationKind::Put, found) => Some(preempted(
            found.map_or(op.started_at, |e| e.extension.updated_at),
        )),
        // Recorded settled; never read back unsettled.
        (OperationKind::Power, _) => succeeded(op.started_at),
    }
}

/// A PUT still in progress (nothing `reached` settles it) `PROVISIONING_TIMEOUT` after it
/// started has failed, at that moment.
fn timed_out(
    op: &OperationRow,
    extension: Option<&StoredExtension>,
    now: DateTime<Utc>,
) -> Option<Settled> {
    let deadline = op.started_at + PROVISIONING_TIMEOUT;
    if op.kind != OperationKind::Put || now < deadline {
        return None;
    }
    let last_message = extension
        .and_then(|e| e.extension.handler_status.as_ref())
        .and_then(|s| s[0]["status"]["formattedMessage"]["message"].as_str())
        .filter(|m| !m.is_empty());
    // The message without a report is Compute's as users quote it; with one, the wording
    // that carries it is vaultsim's.
    let reported = match last_message {
        Some(message) => format!("The extension last reported: '{message}'."),
        None => "The extension did not report a message.".to_owned(),
    };
    Some(Settled {
        status: OperationStatus::Failed,
        error: Some(OperationError {
            code: "VMExtensionProvisioningTimeout".to_owned(),
            message: format!(
                "Provisioning of VM extension {} has timed out. Extension provisioning has \
                 taken too long to complete. {reported}",
                op.name
            ),
        }),
        ended_at: deadline,
    })
}

/// Compute's error for an extension whose handler reported `error`.
fn provisioning_error(extension: &Extension) -> OperationError {
    let message = extension
        .handler_status
        .as_ref()
        .and_then(|s| s[0]["status"]["formattedMessage"]["message"].as_str())
        .unwrap_or_default();
    OperationError {
        code: "VMExtensionProvisioningError".to_owned(),
        message: format!(
            "VM has reported a failure when processing extension '{}' (publisher '{}' and type \
             '{}'). Error message: '{message}'.",
            extension.name, extension.publisher, extension.extension_type
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::compute::ProtectedSettings;

    fn extension(state: &str, status: Option<Value>) -> Extension {
        Extension {
            name: "probe".to_owned(),
            publisher: "Contoso".to_owned(),
            extension_type: "Probe".to_owned(),
            type_handler_version: "1.0".to_owned(),
            auto_upgrade_minor_version: false,
            enable_automatic_upgrade: false,
            suppress_failures: false,
            force_update_tag: None,
            provisioning_state: state.to_owned(),
            settings: None,
            handler_status: status,
            handler_heartbeat: None,
            updated_at: Utc::now(),
        }
    }

    fn stored(
        state: &str,
        sequence_number: i64,
        handler_state: WantedState,
        status: Option<Value>,
    ) -> StoredExtension {
        StoredExtension {
            extension: extension(state, status),
            sequence_number,
            handler_state,
            handler_settings: None,
            protected_settings_sha256: None,
        }
    }

    fn op(kind: OperationKind, sequence_number: i64) -> OperationRow {
        OperationRow {
            operation_id: "op".to_owned(),
            subscription_id: "s".to_owned(),
            vm_id: "vm".to_owned(),
            name: "probe".to_owned(),
            kind,
            sequence_number,
            started_at: Utc::now(),
            settled: None,
        }
    }

    fn status(op: &OperationRow, extension: Option<&StoredExtension>) -> OperationStatus {
        reached(op, extension).map_or(OperationStatus::InProgress, |s| s.status)
    }

    #[test]
    fn a_put_ends_with_the_status_its_sequence_number_got() {
        use OperationKind::Put;
        use WantedState::*;
        let failed = json!([{ "status": { "status": "error", "code": "1",
            "formattedMessage": { "lang": "en-US", "message": "disk full" } } }]);
        for (extension, expected) in [
            (
                stored("Creating", 0, Enabled, None),
                OperationStatus::InProgress,
            ),
            (
                stored("Succeeded", 0, Enabled, None),
                OperationStatus::Succeeded,
            ),
            (
                stored("Failed", 0, Enabled, Some(failed)),
                OperationStatus::Failed,
            ),
            (
                stored("Succeeded", 1, Enabled, None),
                OperationStatus::Canceled,
            ),
            (
                stored("Deleting", 0, Uninstall, None),
                OperationStatus::Canceled,
            ),
        ] {
            let put = op(Put, 0);
            assert_eq!(
                status(&put, Some(&extension)),
                expected,
                "{}",
                extension.extension.provisioning_state
            );
            if expected == OperationStatus::Failed {
                let error = reached(&put, Some(&extension)).unwrap().error.unwrap();
                assert_eq!(error.code, "VMExtensionProvisioningError");
                assert!(error.message.contains("'disk full'"), "{}", error.message);
            }
        }
        assert_eq!(status(&op(Put, 0), None), OperationStatus::Canceled);
    }

    fn spec(settings: Value, protected: ProtectedChange) -> ExtensionSpec {
        ExtensionSpec {
            publisher: "Contoso".to_owned(),
            extension_type: "Probe".to_owned(),
            type_handler_version: "1.0".to_owned(),
            auto_upgrade_minor_version: false,
            enable_automatic_upgrade: false,
            suppress_failures: false,
            force_update_tag: None,
            settings: Some(settings),
            protected_settings: protected,
        }
    }

    fn published(settings: Value, protected_sha256: Option<&str>) -> StoredExtension {
        let mut stored = stored("Succeeded", 3, WantedState::Enabled, None);
        stored.extension.settings = Some(settings.clone());
        stored.protected_settings_sha256 = protected_sha256.map(str::to_owned);
        stored.handler_settings = Some(json!({
            "publicSettings": settings,
            "protectedSettingsCertThumbprint": "AB12",
            "protectedSettings": "MIIB",
        }));
        stored
    }

    #[test]
    fn only_a_change_publishes_under_the_next_sequence_number() {
        let now = Utc::now();
        let current = published(json!({ "a": 1 }), Some("digest"));
        let same = next_row(
            &spec(json!({ "a": 1 }), ProtectedChange::Keep),
            Some(&current),
            None,
            now,
        )
        .unwrap();
        assert!(!same.published);
        assert_eq!(
            (same.sequence_number, same.provisioning_state.as_str()),
            (3, "Succeeded")
        );
        assert_eq!(same.updated_at, current.extension.updated_at);

        // New public settings; the protected ones as they were encrypted before.
        let changed = next_row(
            &spec(json!({ "a": 2 }), ProtectedChange::Keep),
            Some(&current),
            None,
            now,
        )
        .unwrap();
        assert!(changed.published);
        assert_eq!(
            (changed.sequence_number, changed.provisioning_state.as_str()),
            (4, "Updating")
        );
        assert_eq!(
            changed.handler_settings,
            json!({
                "publicSettings": { "a": 2 },
                "protectedSettingsCertThumbprint": "AB12",
                "protectedSettings": "MIIB",
            })
        );
        assert_eq!(changed.protected_settings_sha256.as_deref(), Some("digest"));

        // Dropping the protected settings is a change too.
        let dropped = next_row(
            &spec(json!({ "a": 1 }), ProtectedChange::None),
            Some(&current),
            None,
            now,
        )
        .unwrap();
        assert!(dropped.published);
        assert_eq!(
            dropped.handler_settings,
            json!({ "publicSettings": { "a": 1 } })
        );
    }

    #[test]
    fn protected_settings_need_a_certificate() {
        let protected = ProtectedChange::Set(ProtectedSettings::new(json!({ "k": "v" })));
        let refused = next_row(&spec(json!({}), protected), None, None, Utc::now()).unwrap_err();
        assert!(matches!(
            refused,
            ResourceError::Conflict {
                code: "OperationNotAllowed",
                ..
            }
        ));
        let first = next_row(
            &spec(json!({}), ProtectedChange::None),
            None,
            None,
            Utc::now(),
        )
        .unwrap();
        assert!(first.published);
        assert_eq!(
            (first.sequence_number, first.provisioning_state.as_str()),
            (0, "Creating")
        );
    }

    #[test]
    fn a_delete_ends_when_the_extension_goes() {
        use OperationKind::Delete;
        let deleting = stored("Deleting", 0, WantedState::Uninstall, None);
        assert_eq!(
            status(&op(Delete, 0), Some(&deleting)),
            OperationStatus::InProgress
        );
        assert_eq!(status(&op(Delete, 0), None), OperationStatus::Succeeded);
        let put_again = stored("Creating", 0, WantedState::Enabled, None);
        assert_eq!(
            status(&op(Delete, 0), Some(&put_again)),
            OperationStatus::Canceled
        );
    }
}
