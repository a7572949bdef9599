//! Who may call the management API: the service is its own token issuer (OAuth 2.0 client
//! credentials, OpenID discovery, JWKS; RS256 JWTs signed with a key kept in the data
//! directory) and checks every management request's bearer token and subscription grant.

use std::path::Path;

use axum::http::HeaderMap;

use crate::clock::Clock;
use crate::store::Db;

/// The caller of a management request, from its verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub client_id: String,
    pub tenant_id: String,
    /// May use the `/_sim` admin API.
    pub is_admin: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token, or one that is malformed, badly signed or not issued by this service.
    #[error("{0}")]
    InvalidToken(String),
    #[error("the token is expired")]
    Expired,
    /// The principal holds no grant on the subscription.
    #[error("{0}")]
    Forbidden(String),
    #[error("the metadata database failed")]
    Database(#[from] sqlx::Error),
}

/// The token issuer and checker, built once at start.
pub struct Auth {
    _private: (),
}

impl Auth {
    /// Loads the signing key from `data_dir` (creating it on first start) and makes sure the
    /// bootstrap tenant, subscription and admin client exist. `enabled = false` is the
    /// `--no-auth` demo mode: every request acts as the bootstrap admin.
    pub async fn open(
        _data_dir: &Path,
        _db: &Db,
        _clock: &Clock,
        _enabled: bool,
    ) -> anyhow::Result<Self> {
        todo!("auth helper")
    }

    /// The principal of a request's `Authorization: Bearer` token.
    pub async fn authenticate(
        &self,
        _db: &Db,
        _headers: &HeaderMap,
    ) -> Result<Principal, AuthError> {
        todo!("auth helper")
    }

    /// Whether `principal` may address `subscription`.
    pub async fn authorize(
        &self,
        _db: &Db,
        _principal: &Principal,
        _subscription: &str,
    ) -> Result<(), AuthError> {
        todo!("auth helper")
    }
}
