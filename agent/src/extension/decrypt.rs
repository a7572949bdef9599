//! Opening `protectedSettings`: base64 DER CMS EnvelopedData whose content key is RSA
//! PKCS#1 v1.5 encrypted to the VM's certificate (spec §1). The real extension pipes it
//! through `openssl cms -decrypt`; this does the same in process (a fleet of VMs would
//! otherwise start an openssl per task) and reads both ciphers the spec names:
//! AES-256-CBC and DES-EDE3-CBC.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientInfo};
use der::asn1::OctetString;
use der::{Decode, Encode};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};

const AES_256_CBC: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
const DES_EDE3_CBC: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");

/// Why protected settings could not be opened. Never quotes the ciphertext or the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecryptError {
    #[error("protectedSettings is not base64")]
    Base64,
    #[error("protectedSettings is not CMS EnvelopedData: {0}")]
    NotEnvelopedData(String),
    #[error("the VM's private key cannot be read")]
    PrivateKey,
    #[error("no recipient of the envelope is this VM's key")]
    NotForThisKey,
    #[error("unsupported content encryption {0}")]
    UnsupportedCipher(String),
    #[error("the content does not decrypt")]
    Content,
}

/// The plaintext of base64 `protected_settings`, opened with `private_key_pem` (PKCS#8).
pub fn decrypt_protected_settings(
    protected_settings: &str,
    private_key_pem: &str,
) -> Result<Vec<u8>, DecryptError> {
    let der = STANDARD
        .decode(protected_settings.trim())
        .map_err(|_| DecryptError::Base64)?;
    let not_enveloped = |e: der::Error| DecryptError::NotEnvelopedData(e.to_string());
    let content_info = ContentInfo::from_der(&der).map_err(not_enveloped)?;
    let enveloped: EnvelopedData = content_info.content.decode_as().map_err(not_enveloped)?;
    let key = RsaPrivateKey::from_pkcs8_pem(private_key_pem)
        .or_else(|_| {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            RsaPrivateKey::from_pkcs1_pem(private_key_pem)
        })
        .map_err(|_| DecryptError::PrivateKey)?;
    // Like `openssl cms -decrypt`, try each key-transport recipient with our key.
    let content_key = enveloped
        .recip_infos
        .0
        .iter()
        .filter_map(|info| match info {
            RecipientInfo::Ktri(ktri) => key.decrypt(Pkcs1v15Encrypt, ktri.enc_key.as_bytes()).ok(),
            _ => None,
        })
        .next()
        .ok_or(DecryptError::NotForThisKey)?;

    let content = &enveloped.encrypted_content;
    let algorithm = &content.content_enc_alg;
    let iv = algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.to_der().ok())
        .and_then(|der| OctetString::from_der(&der).ok())
        .ok_or(DecryptError::Content)?;
    let mut ciphertext = content
        .encrypted_content
        .as_ref()
        .ok_or(DecryptError::Content)?
        .as_bytes()
        .to_vec();
    let plaintext = match algorithm.oid {
        AES_256_CBC => cbc::Decryptor::<aes::Aes256>::new_from_slices(&content_key, iv.as_bytes())
            .map_err(|_| DecryptError::Content)?
            .decrypt_padded_mut::<Pkcs7>(&mut ciphertext)
            .map_err(|_| DecryptError::Content)?
            .to_vec(),
        DES_EDE3_CBC => {
            cbc::Decryptor::<des::TdesEde3>::new_from_slices(&content_key, iv.as_bytes())
                .map_err(|_| DecryptError::Content)?
                .decrypt_padded_mut::<Pkcs7>(&mut ciphertext)
                .map_err(|_| DecryptError::Content)?
                .to_vec()
        }
        other => return Err(DecryptError::UnsupportedCipher(other.to_string())),
    };
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::keys::VmKeys;

    /// `openssl cms -encrypt` to the VM's certificate, as base64 DER.
    fn openssl_encrypt(
        dir: &std::path::Path,
        keys: &VmKeys,
        cipher: &str,
        plaintext: &[u8],
    ) -> String {
        let cert = dir.join("recipient.crt");
        std::fs::write(&cert, &keys.certificate_pem).unwrap();
        let input = dir.join("plain");
        std::fs::write(&input, plaintext).unwrap();
        let output = Command::new("openssl")
            .args([
                "cms", "-encrypt", "-binary", "-outform", "DER", cipher, "-in",
            ])
            .arg(&input)
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        STANDARD.encode(output.stdout)
    }

    #[test]
    fn what_openssl_encrypts_to_the_vm_opens_with_its_key_in_both_ciphers() {
        let dir = tempfile::tempdir().unwrap();
        let keys = VmKeys::load_or_create(&dir.path().join("keys")).unwrap();
        let secret = br#"{"objectStr":"e30=","logsBlobUri":"http://h/c/l?sig=S"}"#;
        for cipher in ["-aes256", "-des3"] {
            let sealed = openssl_encrypt(dir.path(), &keys, cipher, secret);
            let opened = decrypt_protected_settings(&sealed, keys.private_key_pem()).unwrap();
            assert_eq!(opened, secret, "{cipher}");
        }
    }

    #[test]
    fn another_vms_key_and_garbage_are_refused_without_quoting_them() {
        let dir = tempfile::tempdir().unwrap();
        let keys = VmKeys::load_or_create(&dir.path().join("a")).unwrap();
        let other = VmKeys::load_or_create(&dir.path().join("b")).unwrap();
        let sealed = openssl_encrypt(dir.path(), &keys, "-aes256", b"secret");
        assert_eq!(
            decrypt_protected_settings(&sealed, other.private_key_pem()),
            Err(DecryptError::NotForThisKey)
        );
        assert_eq!(
            decrypt_protected_settings("!!!", keys.private_key_pem()),
            Err(DecryptError::Base64)
        );
        assert!(matches!(
            decrypt_protected_settings("aGVsbG8=", keys.private_key_pem()),
            Err(DecryptError::NotEnvelopedData(_))
        ));
        assert_eq!(
            decrypt_protected_settings(&sealed, "not a key"),
            Err(DecryptError::PrivateKey)
        );
    }
}
