//! The token signing key: RSA 2048, kept as PKCS#8 PEM in the metadata database so that
//! every replica signs and verifies with the one key and tokens survive a restart, and
//! published as a JWK under a stable key id.

use std::fs;
use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::secrets::{self, TOKEN_SIGNING_KEY};
use crate::store::Db;

/// The file in the data directory where the key was kept before it moved to the database;
/// imported from there when the database holds none.
pub const KEY_FILE: &str = "jwt-signing-key.pem";

const KEY_BITS: usize = 2048;

/// The public half of the signing key as a JSON Web Key (RFC 7517), as the JWKS lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub kid: String,
    /// Always `RS256`.
    pub alg: &'static str,
    /// The modulus, base64url without padding.
    pub n: String,
    /// The public exponent, base64url without padding.
    pub e: String,
}

/// The signing key, with everything derived from it built once.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: Jwk,
}

impl SigningKey {
    /// The key every replica signs with: the one the database holds. When it holds none,
    /// the one `data_dir` kept before keys moved to the database, or else a new one, is
    /// stored, unless another replica stored its own first; then that one is used.
    pub async fn shared(db: &Db, data_dir: &Path, now: DateTime<Utc>) -> anyhow::Result<Self> {
        let path = data_dir.join(KEY_FILE);
        let from_file = read_key_file(&path)?;
        let key = match secrets::get(db.pool(), TOKEN_SIGNING_KEY).await? {
            Some(pem) => parse_stored(pem.expose_secret())?,
            None => {
                let candidate = match &from_file {
                    Some(key) => key.clone(),
                    // Generating an RSA key takes a while: off the async workers.
                    None => tokio::task::spawn_blocking(generate)
                        .await
                        .context("the signing key task failed")??,
                };
                let pem = candidate
                    .to_pkcs8_pem(LineEnding::LF)
                    .context("encoding the token signing key")?;
                let stored = secrets::store_once(db, TOKEN_SIGNING_KEY, &pem, now)
                    .await
                    .context("storing the token signing key")?;
                match (stored.stored_here, &from_file) {
                    (true, Some(_)) => tracing::info!(
                        path = %path.display(),
                        "token signing key imported into the database from the data directory"
                    ),
                    (true, None) => {
                        tracing::info!("token signing key generated and stored in the database");
                    }
                    (false, _) => {
                        tracing::info!("another replica stored the token signing key first");
                    }
                }
                parse_stored(stored.value.expose_secret())?
            }
        };
        let key = Self::from_key(&key)?;
        if let Some(file_key) = from_file {
            if Self::from_key(&file_key)?.kid != key.kid {
                tracing::warn!(
                    path = %path.display(),
                    kid = %key.kid,
                    "this data directory's key file is not the key the database holds, which \
                     every replica signs with: the file is no longer used"
                );
            }
        }
        Ok(key)
    }

    pub fn from_key(key: &RsaPrivateKey) -> anyhow::Result<Self> {
        let public = key.to_public_key();
        let public_der = public
            .to_public_key_der()
            .context("encoding the public key")?;
        let kid = key_id(public_der.as_bytes());
        let n = public.n().to_bytes_be();
        let e = public.e().to_bytes_be();
        let pkcs1 = key
            .to_pkcs1_der()
            .context("encoding the token signing key")?;
        Ok(Self {
            encoding: EncodingKey::from_rsa_der(pkcs1.as_bytes()),
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            jwk: Jwk {
                kty: "RSA",
                use_: "sig",
                kid: kid.clone(),
                alg: "RS256",
                n: URL_SAFE_NO_PAD.encode(&n),
                e: URL_SAFE_NO_PAD.encode(&e),
            },
            kid,
        })
    }
}

/// A stable key id: base64url (no padding) of the SHA-256 of the public key's DER
/// (SubjectPublicKeyInfo).
pub fn key_id(public_key_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(public_key_der))
}

fn generate() -> anyhow::Result<RsaPrivateKey> {
    RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS).context("generating the token signing key")
}

fn parse_stored(pem: &str) -> anyhow::Result<RsaPrivateKey> {
    RsaPrivateKey::from_pkcs8_pem(pem)
        .context("the token signing key in the database is not a PKCS#8 RSA private key")
}

/// The key a data directory kept before keys moved to the database, if it has one.
fn read_key_file(path: &Path) -> anyhow::Result<Option<RsaPrivateKey>> {
    match fs::read_to_string(path) {
        Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem)
            .map(Some)
            .with_context(|| format!("{} is not a PKCS#8 RSA private key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_base64url_sha256_without_padding() {
        // SHA-256("") = e3b0c442...; its base64url form is 43 characters, no '='.
        assert_eq!(key_id(b""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    }

    #[tokio::test]
    async fn the_key_is_stored_once_and_a_key_file_is_imported() {
        let old = tempfile::tempdir().unwrap();
        let key = generate().unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        fs::write(old.path().join(KEY_FILE), pem.as_bytes()).unwrap();
        let db = Db::connect(None, old.path()).await.unwrap();
        db.migrate().await.unwrap();
        let imported = SigningKey::shared(&db, old.path(), Utc::now())
            .await
            .unwrap();
        assert_eq!(imported.kid, SigningKey::from_key(&key).unwrap().kid);
        assert_eq!(imported.jwk.e, "AQAB");
        let elsewhere = tempfile::tempdir().unwrap();
        let shared = SigningKey::shared(&db, elsewhere.path(), Utc::now())
            .await
            .unwrap();
        assert_eq!(shared.kid, imported.kid);
        assert!(
            !elsewhere.path().join(KEY_FILE).exists(),
            "keys stay in the database"
        );
    }
}
