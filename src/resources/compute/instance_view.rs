//! A VM's instance view and its extensions', as Compute builds them from what the guest
//! agent reports: each extension's statuses from its handler's status file, and the agent
//! `Ready` while it keeps polling its goal state.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sqlx::Row;

use super::{Extension, VmDetails};
use crate::resources::lookup::PowerState;
use crate::resources::ResourceError;
use crate::store::{from_micros, Db};

/// An agent that has not polled its goal state for this long is not ready. A healthy one
/// polls at least once a minute (the longest goal-state wait).
const AGENT_READY_WITHIN: TimeDelta = TimeDelta::minutes(5);

/// One status of an instance view (`InstanceViewStatus`).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceViewStatus {
    /// e.g. `ProvisioningState/succeeded`.
    pub code: String,
    /// `Info`, `Warning` or `Error`.
    pub level: &'static str,
    pub display_status: String,
    pub message: Option<String>,
    pub time: Option<DateTime<Utc>>,
}

/// `VirtualMachineExtensionInstanceView`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionInstanceView {
    pub name: String,
    /// `<publisher>.<type>`, as Compute names the handler.
    pub handler_type: String,
    pub type_handler_version: String,
    pub statuses: Vec<InstanceViewStatus>,
    pub substatuses: Vec<InstanceViewStatus>,
}

/// `VirtualMachineAgentInstanceView`.
#[derive(Debug, Clone, PartialEq)]
pub struct VmAgentView {
    /// The version the agent registered with; `Unknown` when it gave none.
    pub vm_agent_version: String,
    pub statuses: Vec<InstanceViewStatus>,
    /// (handler type, version, status) of each extension the agent runs.
    pub extension_handlers: Vec<(String, String, InstanceViewStatus)>,
}

/// `VirtualMachineInstanceView`.
#[derive(Debug, Clone, PartialEq)]
pub struct VmInstanceView {
    pub vm_agent: VmAgentView,
    /// (disk name, statuses).
    pub disks: Vec<(String, Vec<InstanceViewStatus>)>,
    pub extensions: Vec<ExtensionInstanceView>,
    pub statuses: Vec<InstanceViewStatus>,
}

/// The extension's instance view: the status file its handler last reported (`statuses`
/// empty before the first report).
pub fn extension_instance_view(extension: &Extension) -> ExtensionInstanceView {
    let entry = extension
        .handler_status
        .as_ref()
        .and_then(|document| document.get(0));
    let status = entry.map(|entry| &entry["status"]);
    let time = entry
        .and_then(|entry| entry["timestampUTC"].as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    ExtensionInstanceView {
        name: extension.name.clone(),
        handler_type: format!("{}.{}", extension.publisher, extension.extension_type),
        type_handler_version: extension.type_handler_version.clone(),
        statuses: status
            .map(|status| {
                let (outcome, level, display) = outcome(status["status"].as_str());
                let code = match (outcome, status["code"].as_str()) {
                    ("failed", Some(code)) => format!("ProvisioningState/failed/{code}"),
                    (outcome, _) => format!("ProvisioningState/{outcome}"),
                };
                vec![InstanceViewStatus {
                    code,
                    level,
                    display_status: display.to_owned(),
                    message: formatted_message(status),
                    time,
                }]
            })
            .unwrap_or_default(),
        substatuses: status
            .and_then(|status| status["substatus"].as_array())
            .into_iter()
            .flatten()
            .map(|sub| {
                let (outcome, level, display) = outcome(sub["status"].as_str());
                InstanceViewStatus {
                    code: format!(
                        "ComponentStatus/{}/{outcome}",
                        sub["name"].as_str().unwrap_or_default()
                    ),
                    level,
                    display_status: display.to_owned(),
                    message: formatted_message(sub),
                    time: None,
                }
            })
            .collect(),
    }
}

/// What a handler status (`transitioning`, `success`, `warning`, `error`) is in Compute's
/// terms: the code's last part, the level and the display status.
fn outcome(status: Option<&str>) -> (&'static str, &'static str, &'static str) {
    match status {
        Some("success") => ("succeeded", "Info", "Provisioning succeeded"),
        Some("warning") => ("succeeded", "Warning", "Provisioning succeeded"),
        Some("error") => ("failed", "Error", "Provisioning failed"),
        _ => ("transitioning", "Info", "Transitioning"),
    }
}

fn formatted_message(status: &Value) -> Option<String> {
    status["formattedMessage"]["message"]
        .as_str()
        .map(str::to_owned)
}

/// The VM's instance view: its agent (ready while it polls), disks, extensions and state.
pub async fn vm_instance_view(
    db: &Db,
    vm: &VmDetails,
    now: DateTime<Utc>,
) -> Result<VmInstanceView, ResourceError> {
    let agent = sqlx::query("select last_seen_at, agent_version from vm_guest where vm_id = $1")
        .bind(&vm.vm.vm_id)
        .fetch_optional(db.pool())
        .await?
        .map(|row| {
            Ok::<_, sqlx::Error>(AgentSeen {
                last_seen: from_micros(row.try_get("last_seen_at")?),
                version: row.try_get("agent_version")?,
            })
        })
        .transpose()?;
    Ok(build_vm_instance_view(vm, agent.as_ref(), now))
}

/// The handler's status in `vmAgent.extensionHandlers`: its heartbeat, for a handler that
/// reports one (WALinuxAgent makes the heartbeat the handler's status); otherwise `Ready`
/// once the handler reported a status, `NotReady` before.
fn handler_status(extension: &Extension, view: &ExtensionInstanceView) -> InstanceViewStatus {
    let base = InstanceViewStatus {
        code: "ProvisioningState/succeeded".to_owned(),
        level: "Info",
        display_status: String::new(),
        message: None,
        time: None,
    };
    match &extension.handler_heartbeat {
        Some(heartbeat) => {
            let status = heartbeat["status"].as_str().unwrap_or_default();
            InstanceViewStatus {
                level: if status.eq_ignore_ascii_case("ready") {
                    "Info"
                } else {
                    "Warning"
                },
                display_status: status.to_owned(),
                message: heartbeat["message"].as_str().map(str::to_owned),
                ..base
            }
        }
        None => InstanceViewStatus {
            display_status: if view.statuses.is_empty() {
                "NotReady"
            } else {
                "Ready"
            }
            .to_owned(),
            ..base
        },
    }
}

/// What the service knows of the VM's agent: when it last polled, and the version it
/// registered with.
struct AgentSeen {
    last_seen: DateTime<Utc>,
    version: Option<String>,
}

fn build_vm_instance_view(
    vm: &VmDetails,
    agent: Option<&AgentSeen>,
    now: DateTime<Utc>,
) -> VmInstanceView {
    let agent_last_seen = agent.map(|a| a.last_seen);
    let succeeded = |time: Option<DateTime<Utc>>| InstanceViewStatus {
        code: "ProvisioningState/succeeded".to_owned(),
        level: "Info",
        display_status: "Provisioning succeeded".to_owned(),
        message: None,
        time,
    };
    let running = vm.vm.power_state == PowerState::Running;
    let agent_status = match agent_last_seen {
        Some(seen) if running && now - seen <= AGENT_READY_WITHIN => InstanceViewStatus {
            display_status: "Ready".to_owned(),
            message: Some("Guest Agent is running".to_owned()),
            ..succeeded(Some(seen))
        },
        seen => InstanceViewStatus {
            level: "Warning",
            display_status: "Not Ready".to_owned(),
            message: Some(if running {
                "VM Agent is unresponsive: it has not polled its goal state lately.".to_owned()
            } else {
                format!(
                    "VM Agent is not running: the VM is {}.",
                    vm.vm.power_state.as_str()
                )
            }),
            ..succeeded(seen)
        },
    };
    let extensions: Vec<ExtensionInstanceView> =
        vm.extensions.iter().map(extension_instance_view).collect();
    VmInstanceView {
        vm_agent: VmAgentView {
            vm_agent_version: agent
                .and_then(|a| a.version.clone())
                .unwrap_or_else(|| "Unknown".to_owned()),
            statuses: vec![agent_status],
            extension_handlers: vm
                .extensions
                .iter()
                .zip(&extensions)
                .map(|(extension, view)| {
                    (
                        view.handler_type.clone(),
                        view.type_handler_version.clone(),
                        handler_status(extension, view),
                    )
                })
                .collect(),
        },
        disks: vm
            .vm
            .disks
            .iter()
            .map(|disk| (disk.name.clone(), vec![succeeded(Some(vm.vm.created_at))]))
            .collect(),
        extensions,
        statuses: vec![
            succeeded(Some(vm.vm.created_at)),
            InstanceViewStatus {
                code: format!("PowerState/{}", vm.vm.power_state.as_str()),
                level: "Info",
                display_status: format!("VM {}", vm.vm.power_state.as_str()),
                message: None,
                time: None,
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn extension(status: Option<Value>) -> Extension {
        Extension {
            name: "probe".to_owned(),
            publisher: "Contoso.Monitoring".to_owned(),
            extension_type: "Probe".to_owned(),
            type_handler_version: "2.1".to_owned(),
            auto_upgrade_minor_version: false,
            enable_automatic_upgrade: false,
            suppress_failures: false,
            force_update_tag: None,
            provisioning_state: "Creating".to_owned(),
            settings: None,
            handler_status: status,
            handler_heartbeat: None,
            updated_at: Utc::now(),
        }
    }

    fn status_file(status: &str, code: &str) -> Value {
        json!([{
            "version": "1.0",
            "timestampUTC": "2026-11-26T10:00:00Z",
            "status": {
                "name": "Contoso.Monitoring.Probe",
                "operation": "Enable",
                "status": status,
                "code": code,
                "formattedMessage": { "lang": "en-US", "message": "probe says hi" },
                "substatus": [{
                    "name": "StdOut", "status": status, "code": "0",
                    "formattedMessage": { "lang": "en-US", "message": "out" }
                }]
            }
        }])
    }

    #[test]
    fn a_status_file_becomes_computes_statuses_and_substatuses() {
        let view = extension_instance_view(&extension(Some(status_file("success", "0"))));
        assert_eq!(view.handler_type, "Contoso.Monitoring.Probe");
        assert_eq!(
            view.statuses,
            [InstanceViewStatus {
                code: "ProvisioningState/succeeded".to_owned(),
                level: "Info",
                display_status: "Provisioning succeeded".to_owned(),
                message: Some("probe says hi".to_owned()),
                time: Some("2026-11-26T10:00:00Z".parse().unwrap()),
            }]
        );
        assert_eq!(view.substatuses[0].code, "ComponentStatus/StdOut/succeeded");
        assert_eq!(view.substatuses[0].message.as_deref(), Some("out"));
    }

    #[test]
    fn each_handler_status_has_its_code_level_and_display_status() {
        for (status, code, level, display) in [
            (
                "transitioning",
                "ProvisioningState/transitioning",
                "Info",
                "Transitioning",
            ),
            (
                "warning",
                "ProvisioningState/succeeded",
                "Warning",
                "Provisioning succeeded",
            ),
            (
                "error",
                "ProvisioningState/failed/12",
                "Error",
                "Provisioning failed",
            ),
        ] {
            let view = extension_instance_view(&extension(Some(status_file(status, "12"))));
            let first = &view.statuses[0];
            assert_eq!(
                (
                    first.code.as_str(),
                    first.level,
                    first.display_status.as_str()
                ),
                (code, level, display),
                "{status}"
            );
        }
        assert!(extension_instance_view(&extension(None))
            .statuses
            .is_empty());
    }

    #[test]
    fn the_handlers_status_is_its_heartbeat_when_it_reports_one() {
        let reported = extension(Some(status_file("success", "0")));
        let view = extension_instance_view(&reported);
        let plain = handler_status(&reported, &view);
        assert_eq!(
            (plain.display_status.as_str(), plain.level, plain.message),
            ("Ready", "Info", None)
        );
        let silent = extension(None);
        assert_eq!(
            handler_status(&silent, &extension_instance_view(&silent)).display_status,
            "NotReady"
        );
        let beating = Extension {
            handler_heartbeat: Some(json!({
                "status": "Unresponsive", "code": -1,
                "message": "Extension heartbeat is not responsive"
            })),
            ..reported
        };
        let status = handler_status(&beating, &view);
        assert_eq!(
            (
                status.display_status.as_str(),
                status.level,
                status.message.as_deref()
            ),
            (
                "Unresponsive",
                "Warning",
                Some("Extension heartbeat is not responsive")
            )
        );
    }
}
