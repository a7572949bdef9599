//! The management token an agent registers its VM with: given outright, or fetched with
//! the OAuth 2.0 client-credentials grant from the service's token issuer, e.g. with the
//! bootstrap client the service writes to `<data>/credentials.json`. And a signed-in client
//! of the management API, for those that set a service up as a user would (the harness,
//! the demo).

use std::path::Path;

use anyhow::{bail, Context};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use vaultsim_protocol::credentials::ClientCredentials;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the credentials file {path} cannot be read: {reason}")]
    CredentialsFile { path: String, reason: String },
    #[error("the token issuer cannot be reached: {0}")]
    Unreachable(String),
    #[error("the token issuer refused the client: {0}")]
    Refused(String),
}

/// The credentials file at `path` (the service's `credentials.json`).
pub fn read_credentials(path: &Path) -> Result<ClientCredentials, TokenError> {
    let error = |reason: String| TokenError::CredentialsFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| error(e.to_string()))
}

/// Where the registration token comes from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    Bearer(SecretString),
    ClientCredentials {
        /// The management API's base URL, e.g. `http://127.0.0.1:8080`.
        management_url: String,
        credentials: ClientCredentials,
    },
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

impl TokenSource {
    /// A bearer token for the management API.
    pub async fn token(&self, http: &reqwest::Client) -> Result<String, TokenError> {
        let (management_url, credentials) = match self {
            TokenSource::Bearer(token) => return Ok(token.expose_secret().to_owned()),
            TokenSource::ClientCredentials {
                management_url,
                credentials,
            } => (management_url, credentials),
        };
        let response = http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                management_url.trim_end_matches('/'),
                credentials.tenant_id
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &credentials.client_id),
                ("client_secret", credentials.client_secret.as_str()),
                ("scope", "https://management.core.windows.net//.default"),
            ])
            .send()
            .await
            .map_err(|e| TokenError::Unreachable(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| TokenError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            // AAD error bodies name the error and the client, never the secret.
            return Err(TokenError::Refused(format!("{status}: {text}")));
        }
        serde_json::from_str::<TokenResponse>(&text)
            .map(|t| t.access_token)
            .map_err(|e| TokenError::Refused(e.to_string()))
    }
}

/// Creates the resource group if it is not there (ARM's PUT is create-or-update), so that
/// VMs can register into it.
pub async fn ensure_resource_group(
    http: &reqwest::Client,
    management_url: &str,
    token: &str,
    subscription_id: &str,
    group: &str,
    location: &str,
) -> Result<(), TokenError> {
    let response = http
        .put(format!(
            "{}/subscriptions/{subscription_id}/resourceGroups/{group}?api-version=2021-04-01",
            management_url.trim_end_matches('/')
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({ "location": location }))
        .send()
        .await
        .map_err(|e| TokenError::Unreachable(e.to_string()))?;
    if response.status().is_success() {
        return Ok(());
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    Err(TokenError::Refused(format!(
        "creating resource group {group}: {status}: {text}"
    )))
}

/// The API version management calls are sent with.
const API_VERSION: &str = "2026-07-01";

/// A management API client signed in with a bearer token.
#[derive(Clone)]
pub struct ArmClient {
    /// e.g. `http://127.0.0.1:8080`, no trailing slash.
    management_url: String,
    /// Never logged.
    token: SecretString,
    http: reqwest::Client,
}

/// A management call's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub async_operation: Option<String>,
}

impl ArmClient {
    /// Signs in at the service's token issuer with `credentials`.
    pub async fn sign_in(
        management_url: &str,
        credentials: ClientCredentials,
        http: reqwest::Client,
    ) -> Result<ArmClient, TokenError> {
        let management_url = management_url.trim_end_matches('/').to_owned();
        let token = TokenSource::ClientCredentials {
            management_url: management_url.clone(),
            credentials,
        }
        .token(&http)
        .await?;
        Ok(ArmClient {
            management_url,
            token: token.into(),
            http,
        })
    }

    /// One management call.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{path}{separator}api-version={API_VERSION}",
            self.management_url
        );
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let async_operation = response
            .headers()
            .get("azure-asyncoperation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            async_operation,
        })
    }

    /// A call that must succeed (2xx).
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let answer = self.call(method.clone(), path, body).await?;
        if !(200..300).contains(&answer.status) {
            bail!("{method} {path}: {} {}", answer.status, answer.body);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let credentials = ClientCredentials {
            tenant_id: "t".into(),
            subscription_id: "s".into(),
            client_id: "c".into(),
            client_secret: "SECRET".into(),
        };
        let source = TokenSource::ClientCredentials {
            management_url: "http://m".into(),
            credentials,
        };
        assert!(!format!("{source:?}").contains("SECRET"));
        assert!(!format!("{:?}", TokenSource::Bearer("TOKEN".into())).contains("TOKEN"));
    }
}
