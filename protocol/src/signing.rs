//! The one HMAC primitive behind every Azure Storage signature (service SAS, account SAS,
//! Shared Key): `Base64(HMAC-SHA256(account_key, UTF-8(string_to_sign)))`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(account_key: &[u8], string_to_sign: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(account_key).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac
}

/// Signs `string_to_sign` with an account key that is already Base64-decoded, giving the
/// Base64 signature that goes into `sig=` or `Authorization: SharedKey account:sig`.
pub fn sign(account_key: &[u8], string_to_sign: &str) -> String {
    BASE64.encode(mac(account_key, string_to_sign).finalize().into_bytes())
}

/// Whether `signature` (Base64, as sent by a client) signs `string_to_sign` under any of
/// `keys`. The comparison is constant-time so the simulator does not leak how close a
/// forged signature came.
pub(crate) fn signed_by_any(keys: &[&[u8]], string_to_sign: &str, signature: &str) -> bool {
    let Ok(signature) = BASE64.decode(signature) else {
        return false;
    };
    keys.iter()
        .any(|key| mac(key, string_to_sign).verify_slice(&signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_under_the_signing_key_only() {
        let sig = sign(b"key-one", "hello");
        assert!(signed_by_any(&[b"other", b"key-one"], "hello", &sig));
        assert!(!signed_by_any(&[b"other"], "hello", &sig));
        assert!(!signed_by_any(&[b"key-one"], "hello", "not base64!"));
    }
}
