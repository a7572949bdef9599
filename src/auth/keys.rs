//! The token signing key: RSA 2048, kept as PKCS#8 PEM in the data directory (mode 0600) so
//! that tokens survive a restart, and published as a JWK under a stable key id.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The file, in the data directory, that holds the signing key.
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
    /// Reads `<data_dir>/jwt-signing-key.pem`, or generates the key and writes it there.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(KEY_FILE);
        let key = match fs::read_to_string(&path) {
            Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem)
                .with_context(|| format!("{} is not a PKCS#8 RSA private key", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)
                    .context("generating the token signing key")?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .context("encoding the token signing key")?;
                write_private_file(&path, pem.as_bytes())?;
                tracing::info!(path = %path.display(), "token signing key generated");
                key
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", path.display()));
            }
        };
        Self::from_key(&key)
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

/// Writes a file only its owner may read (0600), atomically: a temporary file in the same
/// directory, synced, then renamed over `path`.
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .context("a private file needs a parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_base64url_sha256_without_padding() {
        // SHA-256("") = e3b0c442...; its base64url form is 43 characters, no '='.
        assert_eq!(key_id(b""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    }

    #[test]
    fn the_key_is_written_0600_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = SigningKey::load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.kid, second.kid);
        assert_eq!(first.jwk.n, second.jwk.n);
        assert_eq!(first.jwk.e, "AQAB");
    }
}
