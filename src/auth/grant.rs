//! The OAuth 2.0 client-credentials grant: check a client's secret and mint its token.

use super::directory::{self, secret_matches};
use super::token::{self, Claims};
use super::Auth;
use crate::store::Db;

/// A token request, as the token endpoints received it.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials<'a> {
    /// The tenant in the path; `None` for the ADFS endpoint, which means the client's own.
    pub tenant: Option<&'a str>,
    pub grant_type: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    /// The audience asked for (scope without `/.default`, or v1 `resource`).
    pub audience: Option<String>,
    /// The form field the audience comes from, named when it is missing.
    pub audience_parameter: &'static str,
}

/// Why a token request is refused. The token endpoints turn these into Entra ID's error
/// bodies (`AADSTS...` codes).
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("The request body must contain the following parameter: '{0}'.")]
    MissingParameter(&'static str),
    #[error("The app requested an unsupported grant type '{0}'. Only 'client_credentials' is supported.")]
    UnsupportedGrantType(String),
    #[error(
        "Tenant '{0}' not found. Check to make sure you have the correct tenant ID and are \
         signing into the correct cloud."
    )]
    TenantNotFound(String),
    #[error(
        "Application with identifier '{client_id}' was not found in the directory '{tenant}'. \
         You may have sent your authentication request to the wrong tenant."
    )]
    UnknownClient { client_id: String, tenant: String },
    #[error(
        "Invalid client secret provided. Ensure the secret being sent in the request is the \
         client secret value, not the client secret ID, for a secret added to app '{0}'."
    )]
    InvalidSecret(String),
    #[error("the metadata database failed")]
    Database(#[from] sqlx::Error),
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub claims: Claims,
}

impl Auth {
    /// Runs the client-credentials grant and signs a token for the client.
    pub async fn client_credentials(
        &self,
        db: &Db,
        request: &ClientCredentials<'_>,
        base_url: &str,
    ) -> Result<IssuedToken, GrantError> {
        let tenant = match request.tenant {
            Some(tenant) => Some(
                directory::tenant(db, tenant)
                    .await?
                    .ok_or_else(|| GrantError::TenantNotFound(tenant.to_owned()))?,
            ),
            None => None,
        };
        let grant_type = request
            .grant_type
            .ok_or(GrantError::MissingParameter("grant_type"))?;
        if grant_type != "client_credentials" {
            return Err(GrantError::UnsupportedGrantType(grant_type.to_owned()));
        }
        let client_id =
            nonempty(request.client_id).ok_or(GrantError::MissingParameter("client_id"))?;
        let audience = request
            .audience
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or(GrantError::MissingParameter(request.audience_parameter))?;
        let secret =
            nonempty(request.client_secret).ok_or(GrantError::MissingParameter("client_secret"))?;
        let unknown = || GrantError::UnknownClient {
            client_id: client_id.to_owned(),
            tenant: request.tenant.unwrap_or("adfs").to_owned(),
        };
        let principal = directory::principal(db, client_id)
            .await?
            .ok_or_else(unknown)?;
        if let Some(tenant) = &tenant {
            if tenant.tenant_id != principal.tenant_id {
                return Err(unknown());
            }
        }
        if !secret_matches(secret, &principal.secret_sha256) {
            return Err(GrantError::InvalidSecret(principal.client_id));
        }
        // Wall clock, not the service clock: see `token`.
        let claims = Claims::for_client(
            base_url,
            &principal.tenant_id,
            &principal.client_id,
            audience,
            chrono::Utc::now(),
        );
        Ok(IssuedToken {
            access_token: token::sign(&self.key, &claims),
            claims,
        })
    }
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}
