//! What the guest agent makes of a handler's `status/<seq>.status` before reporting it
//! (WALinuxAgent `collect_ext_status`, `parse_ext_status`), and the status it reports in the
//! handler's place when a command fails.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The largest status file reported whole (WALinuxAgent `_MAX_STATUS_FILE_SIZE_IN_BYTES`).
pub const MAX_STATUS_FILE_BYTES: usize = 128 * 1024;
/// A too-large status keeps this much of its message (`_MAX_STATUS_MESSAGE_LENGTH`).
const MAX_MESSAGE_CHARS: usize = 1024;
/// The status values the guest agent accepts; any other becomes `error`.
const STATUS_VALUES: [&str; 4] = ["transitioning", "warning", "error", "success"];
/// `PluginSettingsStatusInvalid`: the status file cannot be parsed or lacks a key.
const STATUS_INVALID: i64 = 1012;

/// The document to report for the bytes of a status file: the file itself when valid (an
/// unknown status value turned into `error`, a too-large file's message and substatus cut),
/// else the guest agent's own error status naming what is wrong.
pub fn checked_status(
    bytes: &[u8],
    handler_name: &str,
    sequence_number: i64,
    now: DateTime<Utc>,
) -> Value {
    let mut document: Value = match serde_json::from_slice(bytes) {
        Ok(document) => document,
        Err(error) => {
            return error_status(
                handler_name,
                "Enable",
                STATUS_INVALID,
                &format!(
                    "The status reported by the extension {handler_name}(Sequence number \
                     {sequence_number}), was in an incorrect format and the agent could not \
                     parse it correctly. Failed due to {error}"
                ),
                now,
            )
        }
    };
    if let Err(problem) = validate(&mut document) {
        return error_status(
            handler_name,
            "Enable",
            STATUS_INVALID,
            &format!(
                "Could not get a valid status from the extension {handler_name}. Encountered \
                 the following error: {problem}"
            ),
            now,
        );
    }
    if bytes.len() > MAX_STATUS_FILE_BYTES {
        let status = &mut document[0]["status"];
        if let Some(message) = status["formattedMessage"]["message"].as_str() {
            let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
            status["formattedMessage"]["message"] = Value::String(cut);
        }
        if status.get("substatus").is_some() {
            status["substatus"] = json!([]);
        }
    }
    document
}

/// Checks the keys the guest agent requires; only the first entry counts.
fn validate(document: &mut Value) -> Result<(), String> {
    let missing = |key: &str| format!("Invalid status format by extension: Missing {key} key");
    let entry = document
        .as_array_mut()
        .and_then(|entries| entries.first_mut())
        .ok_or_else(|| "The extension status must be a non-empty array".to_owned())?;
    let status = entry.get_mut("status").ok_or_else(|| missing("status"))?;
    let value = status
        .get("status")
        .ok_or_else(|| missing("status/status"))?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !STATUS_VALUES.contains(&value.as_str()) {
        status["status"] = Value::String("error".to_owned());
    }
    if let Some(message) = status.get("formattedMessage").filter(|m| !m.is_null()) {
        for key in ["lang", "message"] {
            if message.get(key).is_none() {
                return Err(missing(&format!("formattedMessage/{key}")));
            }
        }
    }
    for substatus in status["substatus"].as_array().into_iter().flatten() {
        match substatus.get("status").and_then(Value::as_str) {
            None => return Err(missing("substatus/status")),
            Some(value) if !STATUS_VALUES.contains(&value) => {
                return Err(format!("Invalid value {value} in substatus/status"))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The status the guest agent reports for a handler when an operation failed
/// (`create_status_file`): `error`, the operation, its code and message.
pub fn error_status(
    handler_name: &str,
    operation: &str,
    code: i64,
    message: &str,
    now: DateTime<Utc>,
) -> Value {
    json!([{
        "version": 1.0,
        "timestampUTC": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "status": {
            "name": handler_name,
            "operation": operation,
            "status": "error",
            "code": code,
            "formattedMessage": {"lang": "en-US", "message": redact_sas(message)},
        },
    }])
}

/// Every SAS signature (`sig=…`) in `text` replaced, as the guest agent redacts messages.
pub fn redact_sas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sig=") {
        out.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        let end = rest
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str("<redacted>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-03-01T02:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_valid_status_is_reported_as_written() {
        let text = r#"[{"version":"1.0","timestampUTC":"t","status":{"name":"P.T","operation":"Enable",
            "status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"done"},
            "substatus":[{"name":"a","status":"warning"}]}}]"#;
        let reported = checked_status(text.as_bytes(), "P.T", 3, now());
        assert_eq!(reported, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn an_unknown_status_value_becomes_error() {
        let reported = checked_status(br#"[{"status":{"status":"done"}}]"#, "P.T", 3, now());
        assert_eq!(reported[0]["status"]["status"], "error");
    }

    #[test]
    fn a_malformed_status_is_reported_as_the_guest_agent_reports_it() {
        let reported = checked_status(b"[{", "P.T", 3, now());
        assert_eq!(reported[0]["status"]["status"], "error");
        assert_eq!(reported[0]["status"]["code"], 1012);
        let message = reported[0]["status"]["formattedMessage"]["message"]
            .as_str()
            .unwrap();
        assert!(message.contains("P.T(Sequence number 3)"), "{message}");

        let reported = checked_status(br#"[{"status":{"code":1}}]"#, "P.T", 3, now());
        let message = reported[0]["status"]["formattedMessage"]["message"]
            .as_str()
            .unwrap();
        assert!(message.ends_with("Missing status/status key"), "{message}");
    }

    #[test]
    fn a_too_large_status_keeps_a_short_message() {
        let long = "x".repeat(MAX_STATUS_FILE_BYTES);
        let text = json!([{"status": {"status": "success", "substatus": [{"status": "success"}],
            "formattedMessage": {"lang": "en-US", "message": long}}}]);
        let reported = checked_status(text.to_string().as_bytes(), "P.T", 3, now());
        let message = reported[0]["status"]["formattedMessage"]["message"]
            .as_str()
            .unwrap();
        assert_eq!(message.len(), MAX_MESSAGE_CHARS);
        assert_eq!(reported[0]["status"]["substatus"], json!([]));
    }

    #[test]
    fn failure_messages_hide_sas_signatures() {
        let status = error_status(
            "P.T",
            "Enable",
            1009,
            "curl https://h/c/b?sv=1&sig=SECRET&se=2 failed",
            now(),
        );
        assert_eq!(
            status[0]["status"]["formattedMessage"]["message"],
            "curl https://h/c/b?sv=1&sig=<redacted>&se=2 failed"
        );
        assert_eq!(status[0]["timestampUTC"], "2026-03-01T02:00:00Z");
    }
}
