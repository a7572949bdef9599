//! The management token an agent registers its VM with: given outright, or fetched with
//! the OAuth 2.0 client-credentials grant from the service's token issuer, e.g. with the
//! bootstrap client the service writes to `<data>/credentials.json`.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
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
