//! Who may call the management API: the service is its own token issuer (OAuth 2.0 client
//! credentials, OpenID discovery, JWKS; RS256 JWTs signed with a key kept in the database,
//! which every replica shares) and checks every management request's bearer token and
//! subscription grant.

mod bootstrap;
pub mod directory;
pub mod grant;
pub mod keys;
pub mod secrets;
pub mod token;

use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use jsonwebtoken::Validation;
use parking_lot::Mutex;
use vaultsim_protocol::credentials;

use crate::clock::Clock;
use crate::store::Db;
use directory::StoredPrincipal;
use keys::{Jwk, SigningKey};

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
    /// 404: the addressed subscription does not exist.
    #[error("The subscription '{0}' could not be found.")]
    SubscriptionNotFound(String),
    #[error("the metadata database failed")]
    Database(#[from] sqlx::Error),
}

/// How long a principal or grant read from the database is reused. Every management
/// request needs both; reading them once per principal and subscription every few seconds
/// instead of twice per request is what keeps a request to one query of its own. Grants
/// changed through this process apply at once; other replicas see them within this time
/// (Azure's own role assignments take minutes to propagate).
const DIRECTORY_CACHE_TTL: Duration = Duration::from_secs(2);

/// Most verified tokens remembered; the memory is emptied when it is full.
const VERIFIED_TOKENS_MAX: usize = 10_000;

/// The token issuer and checker, built once at start.
pub struct Auth {
    /// Principals by client id (`None`: deleted) and grants by (client id, subscription),
    /// with when they were read.
    principals: Mutex<HashMap<String, (Option<Principal>, Instant)>>,
    grants: Mutex<HashMap<(String, String), (bool, Instant)>>,
    /// Tokens whose signature was verified, with their client id and `exp`: checking an
    /// RS256 signature costs more than the rest of a typical request, and clients send the
    /// same token for an hour. Bounded by `VERIFIED_TOKENS_MAX`.
    verified: Mutex<HashMap<String, (String, i64)>>,
    key: SigningKey,
    validation: Validation,
    /// `false`: `--no-auth`, every request acts as `admin`.
    enabled: bool,
    /// The bootstrap admin.
    admin: Principal,
}

impl Auth {
    /// Reads the signing key and the bootstrap admin from the database, creating them when
    /// this is the first replica to start (`data_dir` holds what an older release kept
    /// there, and `credentials.json` is written there). `enabled = false` is the
    /// `--no-auth` demo mode: every request acts as the bootstrap admin.
    pub async fn open(
        data_dir: &Path,
        db: &Db,
        clock: &Clock,
        enabled: bool,
    ) -> anyhow::Result<Self> {
        let now = clock.now();
        let (key, admin) = tokio::try_join!(
            SigningKey::shared(db, data_dir, now),
            bootstrap::shared_admin(db, data_dir, now),
        )?;
        let admin = principal_of(admin);
        if !enabled {
            tracing::warn!("--no-auth: every management request acts as the bootstrap admin");
        }
        Ok(Self {
            principals: Mutex::default(),
            grants: Mutex::default(),
            verified: Mutex::default(),
            key,
            validation: token::validation(),
            enabled,
            admin,
        })
    }

    /// Whether requests need a token (`false`: `--no-auth`).
    pub fn requires_tokens(&self) -> bool {
        self.enabled
    }

    /// The principal of a request's `Authorization: Bearer` token.
    pub async fn authenticate(&self, db: &Db, headers: &HeaderMap) -> Result<Principal, AuthError> {
        if !self.enabled {
            return Ok(self.admin.clone());
        }
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                AuthError::InvalidToken(
                    "The request lacks an 'Authorization: Bearer <token>' header.".into(),
                )
            })?
            .to_str()
            .map_err(|_| {
                AuthError::InvalidToken("The 'Authorization' header is not ASCII.".into())
            })?;
        let token = token::bearer(value).ok_or_else(|| {
            AuthError::InvalidToken(
                "The 'Authorization' header must use the Bearer scheme with a token.".into(),
            )
        })?;
        let client_id = self.verify(token)?;
        let cached = fresh(&self.principals, &client_id);
        let principal = match cached {
            Some(principal) => principal,
            None => {
                let principal = directory::principal(db, &client_id)
                    .await?
                    .map(principal_of);
                self.principals
                    .lock()
                    .insert(client_id.clone(), (principal.clone(), Instant::now()));
                principal
            }
        };
        principal.ok_or_else(|| {
            AuthError::InvalidToken(format!(
                "The client '{client_id}' of the access token no longer exists."
            ))
        })
    }

    /// The client id of a token this service signed and that has not expired (wall clock).
    fn verify(&self, token: &str) -> Result<String, AuthError> {
        let now = chrono::Utc::now().timestamp();
        if let Some((client_id, exp)) = self.verified.lock().get(token) {
            return if *exp > now {
                Ok(client_id.clone())
            } else {
                Err(AuthError::Expired)
            };
        }
        let claims = token::verify(&self.key, token, &self.validation)?;
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_TOKENS_MAX {
            verified.clear();
        }
        verified.insert(token.to_owned(), (claims.appid.clone(), claims.exp));
        Ok(claims.appid)
    }

    /// Forgets what was read of principals and grants, after this process changed them.
    pub fn directory_changed(&self) {
        self.principals.lock().clear();
        self.grants.lock().clear();
    }

    async fn has_grant(
        &self,
        db: &Db,
        client_id: &str,
        subscription: &str,
    ) -> Result<bool, AuthError> {
        let key = (client_id.to_owned(), subscription.to_owned());
        if let Some(granted) = fresh(&self.grants, &key) {
            return Ok(granted);
        }
        let granted = directory::has_grant(db, client_id, subscription).await?;
        self.grants.lock().insert(key, (granted, Instant::now()));
        Ok(granted)
    }

    /// Whether `principal` may address `subscription`.
    pub async fn authorize(
        &self,
        db: &Db,
        principal: &Principal,
        subscription: &str,
    ) -> Result<(), AuthError> {
        let subscription = subscription.to_ascii_lowercase();
        if self.enabled
            && self
                .has_grant(db, &principal.client_id, &subscription)
                .await?
        {
            return Ok(());
        }
        if directory::subscription(db, &subscription).await?.is_none() {
            return Err(AuthError::SubscriptionNotFound(subscription));
        }
        if !self.enabled {
            return Ok(());
        }
        let client = &principal.client_id;
        Err(AuthError::Forbidden(format!(
            "The client '{client}' with object id '{client}' does not have authorization to \
             perform action over scope '/subscriptions/{subscription}' or the scope is invalid. \
             If access was recently granted, please refresh your credentials."
        )))
    }

    /// The public signing key, as the JWKS lists it.
    pub fn jwk(&self) -> &Jwk {
        &self.key.jwk
    }

    /// The bootstrap admin.
    /// Logs where the bootstrap admin's credentials are and how to get a token with them
    /// from the token endpoint at `issuer` (the management API as this process serves it,
    /// e.g. `http://127.0.0.1:8080`).
    pub fn log_token_recipe(&self, data_dir: &Path, issuer: &str) {
        let path = data_dir.join(credentials::FILE_NAME);
        let path = path.display();
        tracing::info!(
            credentials = %path,
            "admin credentials (tenantId, subscriptionId, clientId, clientSecret) are in {path}; \
             get a token with: curl -s {issuer}/{tenant}/oauth2/v2.0/token \
             -d grant_type=client_credentials -d client_id=$(jq -r .clientId {path}) \
             --data-urlencode client_secret=$(jq -r .clientSecret {path}) \
             --data-urlencode scope=https://management.core.windows.net//.default",
            tenant = self.admin.tenant_id,
        );
    }

    pub fn admin(&self) -> &Principal {
        &self.admin
    }
}

/// The cached value under `key`, if it was read less than `DIRECTORY_CACHE_TTL` ago.
fn fresh<K: Eq + Hash, V: Clone>(cache: &Mutex<HashMap<K, (V, Instant)>>, key: &K) -> Option<V> {
    cache
        .lock()
        .get(key)
        .filter(|(_, read_at)| read_at.elapsed() < DIRECTORY_CACHE_TTL)
        .map(|(value, _)| value.clone())
}

fn principal_of(stored: StoredPrincipal) -> Principal {
    Principal {
        client_id: stored.client_id,
        tenant_id: stored.tenant_id,
        is_admin: stored.is_admin,
    }
}
