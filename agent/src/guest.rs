//! The agent's side of the guest API (the simulator's wire server): registering the VM,
//! long-polling its goal state and reporting an extension's status file.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use vaultsim_protocol::guest::{GoalState, GuestErrorBody, RegisterRequest, Registered};

use crate::extension::StatusFileWritten;

/// What the guest agent tells the guest API about the extensions it hosts.
#[derive(Debug, Clone)]
pub enum GuestReport {
    /// A status file an extension wrote.
    Status(StatusFileWritten),
    /// The heartbeat of a handler that reports one (`{"status","code","formattedMessage"}`
    /// from its heartbeat file, or the agent's own when the file is stale or malformed).
    Heartbeat {
        extension_name: String,
        heartbeat: serde_json::Value,
    },
    /// The extension the goal state said to uninstall is uninstalled and its handler
    /// directory gone: its deletion over ARM can complete.
    Uninstalled { extension_name: String },
}

impl From<StatusFileWritten> for GuestReport {
    fn from(status: StatusFileWritten) -> Self {
        GuestReport::Status(status)
    }
}

/// Why a guest API call failed. Never quotes the credential.
#[derive(Debug, thiserror::Error)]
pub enum GuestApiError {
    #[error("the guest API cannot be reached: {0}")]
    Unreachable(String),
    #[error("the guest API answered {status}: {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the guest API answered something that is not its JSON: {0}")]
    Malformed(String),
}

impl GuestApiError {
    /// Whether the credential was refused: the agent must register again.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, GuestApiError::Refused { status: 401, .. })
    }
}

/// A client of one guest API endpoint.
#[derive(Clone)]
pub struct GuestApi {
    base: String,
    http: reqwest::Client,
}

impl GuestApi {
    /// `base` is the guest API's URL, e.g. `http://127.0.0.1:32526`.
    pub fn new(base: &str, http: reqwest::Client) -> GuestApi {
        GuestApi {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Registers the VM with a management bearer token granted its subscription.
    pub async fn register(
        &self,
        management_token: &str,
        request: &RegisterRequest,
    ) -> Result<Registered, GuestApiError> {
        let response = self
            .http
            .post(format!("{}/machine/register", self.base))
            .bearer_auth(management_token)
            .json(request)
            .send()
            .await
            .map_err(unreachable)?;
        json_answer(response).await
    }

    /// The goal state once its incarnation differs from `incarnation`, or after `wait`.
    pub async fn goal_state(
        &self,
        credential: &str,
        incarnation: Option<i64>,
        wait: Duration,
    ) -> Result<GoalState, GuestApiError> {
        let mut query = vec![("waitSeconds", wait.as_secs().to_string())];
        if let Some(incarnation) = incarnation {
            query.push(("incarnation", incarnation.to_string()));
        }
        let response = self
            .http
            .get(format!("{}/machine/goalstate", self.base))
            .query(&query)
            .bearer_auth(credential)
            // The service answers by `wait`; the margin covers a slow network.
            .timeout(wait + Duration::from_secs(15))
            .send()
            .await
            .map_err(unreachable)?;
        json_answer(response).await
    }

    /// Reports the extension's local status file (`status/<seq>.status`), as the guest
    /// agent does after each status the extension writes.
    pub async fn report_status(
        &self,
        credential: &str,
        extension_name: &str,
        status_file: &serde_json::Value,
    ) -> Result<(), GuestApiError> {
        self.put_extension_report(credential, extension_name, "status", status_file)
            .await
    }

    /// Reports a handler's heartbeat, as the guest agent does for a handler whose manifest
    /// sets `reportHeartbeat`.
    pub async fn report_heartbeat(
        &self,
        credential: &str,
        extension_name: &str,
        heartbeat: &serde_json::Value,
    ) -> Result<(), GuestApiError> {
        self.put_extension_report(credential, extension_name, "heartbeat", heartbeat)
            .await
    }

    /// `PUT /machine/extensions/{name}/{what}` with `body`, answered 204.
    async fn put_extension_report(
        &self,
        credential: &str,
        extension_name: &str,
        what: &str,
        body: &serde_json::Value,
    ) -> Result<(), GuestApiError> {
        let response = self
            .http
            .put(format!(
                "{}/machine/extensions/{extension_name}/{what}",
                self.base
            ))
            .bearer_auth(credential)
            .json(body)
            .send()
            .await
            .map_err(unreachable)?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(());
        }
        Err(refusal(response).await)
    }
}

impl GuestApi {
    /// Tells the guest API that the extension the goal state said to uninstall is gone.
    pub async fn report_uninstalled(
        &self,
        credential: &str,
        extension_name: &str,
    ) -> Result<(), GuestApiError> {
        let response = self
            .http
            .delete(format!("{}/machine/extensions/{extension_name}", self.base))
            .bearer_auth(credential)
            .send()
            .await
            .map_err(unreachable)?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(());
        }
        Err(refusal(response).await)
    }

    /// Sends one report.
    pub async fn report(
        &self,
        credential: &str,
        report: &GuestReport,
    ) -> Result<(), GuestApiError> {
        match report {
            GuestReport::Status(status) => {
                self.report_status(credential, &status.extension_name, &status.file)
                    .await
            }
            GuestReport::Heartbeat {
                extension_name,
                heartbeat,
            } => {
                self.report_heartbeat(credential, extension_name, heartbeat)
                    .await
            }
            GuestReport::Uninstalled { extension_name } => {
                self.report_uninstalled(credential, extension_name).await
            }
        }
    }
}

fn unreachable(error: reqwest::Error) -> GuestApiError {
    // reqwest's message names the URL, which holds no secret here.
    GuestApiError::Unreachable(error.to_string())
}

async fn json_answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, GuestApiError> {
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    let bytes = response.bytes().await.map_err(unreachable)?;
    serde_json::from_slice(&bytes).map_err(|e| GuestApiError::Malformed(e.to_string()))
}

async fn refusal(response: reqwest::Response) -> GuestApiError {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<GuestErrorBody>(&text) {
        Ok(body) => GuestApiError::Refused {
            status,
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => GuestApiError::Refused {
            status,
            code: "Unknown".to_owned(),
            message: text.chars().take(200).collect(),
        },
    }
}
