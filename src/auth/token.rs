//! The access token: an RS256 JWT shaped like an Entra ID v2.0 app-only token.
//!
//! Token times follow the wall clock (`chrono::Utc::now()`), never the service `Clock`: the
//! service clock can be simulated and jumps by months in tests, which would expire (or
//! resurrect) every token in flight.

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::SigningKey;
use super::AuthError;

/// How long a token lives, in seconds.
pub const LIFETIME_SECS: i64 = 3600;

/// The claims of a token we issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    pub appid: String,
    pub azp: String,
    pub ver: String,
}

impl Claims {
    /// The claims of a client-credentials token for `client_id` of `tenant_id`, issued at
    /// `now` by the service reachable at `base_url`.
    pub fn for_client(
        base_url: &str,
        tenant_id: &str,
        client_id: &str,
        audience: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let iat = now.timestamp();
        Self {
            aud: audience.to_owned(),
            iss: issuer(base_url, tenant_id),
            iat,
            nbf: iat,
            exp: iat + LIFETIME_SECS,
            tid: tenant_id.to_owned(),
            oid: client_id.to_owned(),
            sub: client_id.to_owned(),
            appid: client_id.to_owned(),
            azp: client_id.to_owned(),
            ver: "2.0".to_owned(),
        }
    }
}

/// The issuer of a tenant's tokens: `{base_url}/{tenant}/v2.0`.
pub fn issuer(base_url: &str, tenant_id: &str) -> String {
    format!("{base_url}/{tenant_id}/v2.0")
}

/// The audience a token is asked for: the first scope without `/.default`
/// (`https://management.core.windows.net//.default` → `https://management.core.windows.net/`).
pub fn audience_of_scope(scope: &str) -> String {
    let first = scope.split_whitespace().next().unwrap_or_default();
    first.strip_suffix("/.default").unwrap_or(first).to_owned()
}

pub fn sign(key: &SigningKey, claims: &Claims) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("an RSA key signs any claims")
}

/// Checks a token's signature, key id and lifetime. Any audience is accepted (`az` asks for
/// `https://management.core.windows.net/`, SDKs for other resource ids).
pub fn verify(key: &SigningKey, token: &str, validation: &Validation) -> Result<Claims, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        AuthError::InvalidToken("The access token is not a well-formed JWT.".into())
    })?;
    if header.kid.as_deref() != Some(key.kid.as_str()) {
        return Err(AuthError::InvalidToken(
            "The access token was not signed by this service's key (unknown 'kid').".into(),
        ));
    }
    match jsonwebtoken::decode::<Claims>(token, &key.decoding, validation) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::InvalidSignature => {
                AuthError::InvalidToken("The access token's signature is invalid.".into())
            }
            ErrorKind::ImmatureSignature => {
                AuthError::InvalidToken("The access token is not valid yet (nbf).".into())
            }
            ErrorKind::InvalidAlgorithm => {
                AuthError::InvalidToken("The access token must be signed with RS256.".into())
            }
            _ => AuthError::InvalidToken(
                "The access token is malformed or lacks a required claim.".into(),
            ),
        }),
    }
}

/// How incoming tokens are validated: RS256 only, `exp` required, `nbf` checked, any `aud`.
pub fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf"]);
    validation
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn audience_drops_the_default_suffix_once() {
        assert_eq!(
            audience_of_scope("https://management.core.windows.net//.default"),
            "https://management.core.windows.net/"
        );
        assert_eq!(
            audience_of_scope("https://management.azure.com/.default offline_access"),
            "https://management.azure.com"
        );
        assert_eq!(audience_of_scope("api://x"), "api://x");
    }

    #[test]
    fn claims_are_shaped_like_an_app_only_v2_token() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let claims = Claims::for_client("http://h:1", "t", "c", "aud", now);
        assert_eq!(claims.iss, "http://h:1/t/v2.0");
        assert_eq!((claims.iat, claims.nbf), (1_700_000_000, 1_700_000_000));
        assert_eq!(claims.exp, 1_700_003_600);
        for id in [&claims.oid, &claims.sub, &claims.appid, &claims.azp] {
            assert_eq!(id, "c");
        }
        assert_eq!((claims.tid.as_str(), claims.ver.as_str()), ("t", "2.0"));
    }

    #[test]
    fn bearer_needs_the_scheme_and_a_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn tokens_verify_and_expire() {
        let key = test_key();
        let now = Utc::now();
        let claims = Claims::for_client("http://h", "t", "c", "a", now);
        let token = sign(&key, &claims);
        assert_eq!(verify(&key, &token, &validation()).unwrap(), claims);

        let old = Claims::for_client("http://h", "t", "c", "a", now - chrono::Duration::hours(3));
        let expired = sign(&key, &old);
        assert!(matches!(
            verify(&key, &expired, &validation()),
            Err(AuthError::Expired)
        ));
        assert!(matches!(
            verify(&key, "garbage", &validation()),
            Err(AuthError::InvalidToken(_))
        ));
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert!(matches!(
            verify(&key, &tampered, &validation()),
            Err(AuthError::InvalidToken(_))
        ));
    }

    fn test_key() -> SigningKey {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        SigningKey::from_key(&key).unwrap()
    }
}
