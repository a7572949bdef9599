//! An extension's heartbeat: for a handler whose manifest sets `reportHeartbeat`, the guest
//! agent reads the handler's heartbeat file and makes it the handler's status
//! (WALinuxAgent's `collect_heartbeat`), which Compute shows in the VM's instance view as
//! the handler's status (`vmAgent.extensionHandlers[].status`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::goal_state::extension_not_found;
use super::GuestError;
use crate::resources::names::key;
use crate::store::{to_micros, Db};

/// A heartbeat, checked: `{"status", "code", "formattedMessage": {"message"}}` as the
/// handler writes it inside its heartbeat file, or `{"status", "code", "message"}` as the
/// guest agent makes it when the file has gone stale.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatReport {
    pub status: String,
    pub code: i64,
    pub message: Option<String>,
}

impl HeartbeatReport {
    /// 400 `InvalidHeartbeat` when `document` has no string `status`, or a `code` that is
    /// not an integer (a number or its decimal string, as handlers write either).
    pub fn parse(document: &Value) -> Result<Self, GuestError> {
        let invalid = |why: &str| {
            GuestError::invalid(
                "InvalidHeartbeat",
                format!(
                    "The body must be a heartbeat {{\"status\",\"code\",\"formattedMessage\":\
                     {{\"message\"}}}}: {why}."
                ),
            )
        };
        let status = document["status"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("status is missing or not a string"))?;
        let code = match &document["code"] {
            Value::Null => 0,
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| invalid("code is not an integer"))?,
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| invalid("code is not an integer"))?,
            _ => return Err(invalid("code is not an integer")),
        };
        let message = document["formattedMessage"]["message"]
            .as_str()
            .or_else(|| document["message"].as_str())
            .map(str::to_owned);
        Ok(HeartbeatReport {
            status: status.to_owned(),
            code,
            message,
        })
    }

    /// What is stored and shown.
    pub fn to_json(&self) -> Value {
        json!({ "status": self.status, "code": self.code, "message": self.message })
    }
}

/// Records the heartbeat the VM's agent reported for extension `name`. 404
/// `ExtensionNotFound` when the VM has no such extension.
pub async fn report_heartbeat(
    db: &Db,
    vm_id: &str,
    name: &str,
    report: &HeartbeatReport,
    now: DateTime<Utc>,
) -> Result<(), GuestError> {
    let updated = sqlx::query(
        "update vm_extension set handler_heartbeat = $3, updated_at = $4 \
         where vm_id = $1 and name_key = $2",
    )
    .bind(vm_id)
    .bind(key(name))
    .bind(report.to_json().to_string())
    .bind(to_micros(now))
    .execute(db.writer())
    .await?;
    if updated.rows_affected() == 0 {
        return Err(extension_not_found(name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handlers_heartbeat_and_the_agents_stale_one_are_read() {
        let written = HeartbeatReport::parse(&json!({
            "status": "ready", "code": 0,
            "formattedMessage": { "lang": "en-US", "message": "monitoring 3 processes" }
        }))
        .unwrap();
        assert_eq!(
            written,
            HeartbeatReport {
                status: "ready".to_owned(),
                code: 0,
                message: Some("monitoring 3 processes".to_owned()),
            }
        );
        let stale = HeartbeatReport::parse(&json!({
            "status": "Unresponsive", "code": "-1",
            "message": "Extension heartbeat is not responsive"
        }))
        .unwrap();
        assert_eq!((stale.status.as_str(), stale.code), ("Unresponsive", -1));
        assert_eq!(
            stale.message.as_deref(),
            Some("Extension heartbeat is not responsive")
        );
    }

    #[test]
    fn a_heartbeat_without_a_status_or_with_a_bad_code_is_refused() {
        for body in [
            json!({ "code": 0 }),
            json!({ "status": "", "code": 0 }),
            json!({ "status": "ready", "code": "zero" }),
            json!({ "status": "ready", "code": 1.5 }),
            json!(["ready"]),
        ] {
            let error = HeartbeatReport::parse(&body).unwrap_err();
            assert!(
                matches!(
                    error,
                    GuestError::Invalid {
                        code: "InvalidHeartbeat",
                        ..
                    }
                ),
                "{body}: {error:?}"
            );
        }
    }
}
