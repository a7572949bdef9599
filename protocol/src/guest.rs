//! The guest API's wire types: what an in-VM agent sends to register its VM, fetch its goal
//! state and report an extension's status, and what the service answers. Shared by the
//! service (`src/api/guest.rs`) and the agent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /machine/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
    /// One of the regions the service lists (`westeurope` or `West Europe`).
    pub location: String,
    /// `Linux` or `Windows`.
    pub os_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    /// The OS disk (LUN -1) first, then the data disks.
    pub disks: Vec<RegisterDisk>,
    /// PEM X.509 of an RSA key: protected settings are encrypted to it (RSA key transport).
    pub certificate: String,
    /// The guest agent's version, which the VM's instance view shows as `vmAgentVersion`
    /// (`Unknown` without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterDisk {
    pub lun: i64,
    pub name: String,
    pub size_bytes: u64,
}

/// The answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    pub vm_id: String,
    /// `<vmId>.<secret>`, the bearer credential of the VM's later calls.
    pub credential: String,
    pub certificate_thumbprint: String,
    pub incarnation: i64,
    /// Where each of the VM's disks lives in the blob endpoint: the VM's own view of its
    /// attached disks, which a workload writes and a local disk image is mirrored to.
    pub disks: Vec<RegisteredDisk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredDisk {
    pub lun: i64,
    pub size_bytes: u64,
    pub container: String,
    pub blob: String,
}

/// `GET /machine/goalstate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalState {
    pub incarnation: i64,
    pub vm_id: String,
    /// The host's time when the service answered. A VM's clock follows its host; the
    /// extension checks a task's age against host time (presnapshot `responseTime` in
    /// Azure), and vaultsim's host clock may be simulated.
    pub host_time: chrono::DateTime<chrono::Utc>,
    pub extensions: Vec<GoalStateExtension>,
}

/// One extension the agent must run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalStateExtension {
    pub name: String,
    pub publisher: String,
    #[serde(rename = "type")]
    pub extension_type: String,
    pub version: String,
    /// What to do with the handler, as Compute's goal state says it: `enabled` (install if
    /// needed, then enable with these settings), or `uninstall` (disable and uninstall, then
    /// `DELETE /machine/extensions/{name}`). Other values may come later: an agent skips
    /// what it does not know.
    pub state: String,
    pub sequence_number: i64,
    /// What the agent writes to `config/<sequenceNumber>.settings`.
    pub settings: ExtensionSettingsFile,
}

/// `{"runtimeSettings":[{"handlerSettings":…}]}` with the extension's own handler settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionSettingsFile {
    pub runtime_settings: Vec<ExtensionRuntimeSettings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionRuntimeSettings {
    pub handler_settings: Value,
}

/// `{"error":{"code","message"}}`, the guest API's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestErrorBody {
    pub error: GuestErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestErrorDetail {
    pub code: String,
    pub message: String,
}
