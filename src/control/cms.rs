//! Protected settings are encrypted to the VM's certificate as CMS EnvelopedData (DER),
//! which the extension decrypts with `base64 -d | openssl cms -inform DER -decrypt -recip
//! <thumb>.crt -inkey <thumb>.prv`. RSA key transport (PKCS#1 v1.5) carries an AES-256-CBC
//! content key; the docs name 3DES too, and `openssl cms` reads either.

use cms::builder::{
    ContentEncryptionAlgorithm, EnvelopedDataBuilder, KeyEncryptionInfo,
    KeyTransRecipientInfoBuilder,
};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::ContentInfo;
use cms::enveloped_data::RecipientIdentifier;
use rand::rngs::OsRng;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use vaultsim_protocol::certificate::thumbprint;
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::Certificate;

/// Why a certificate could not be used. Certificates are public, but messages still quote
/// nothing from them.
#[derive(Debug, thiserror::Error)]
pub enum CmsError {
    #[error("the certificate is not a PEM-encoded X.509 certificate: {0}")]
    InvalidCertificate(String),
    #[error("the certificate's key is not an RSA key")]
    NotRsa,
    #[error("CMS encryption failed: {0}")]
    Encryption(String),
}

/// `plaintext` as DER CMS EnvelopedData that only the holder of the certificate's private
/// key can open. The recipient is named by issuer and serial number, which is how `openssl
/// cms -recip` finds it.
pub fn encrypt_to_certificate(
    certificate_pem: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CmsError> {
    let certificate = parse_certificate(certificate_pem)?.certificate;
    let tbs = &certificate.tbs_certificate;
    let public_key = recipient_key(&certificate)?;
    let recipient = RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer.clone(),
        serial_number: tbs.serial_number.clone(),
    });

    let encryption = |e: &dyn std::fmt::Display| CmsError::Encryption(e.to_string());
    let mut key_rng = OsRng;
    let recipient_info = KeyTransRecipientInfoBuilder::new(
        recipient,
        KeyEncryptionInfo::Rsa(public_key),
        &mut key_rng,
    )
    .map_err(|e| encryption(&e))?;
    let mut builder =
        EnvelopedDataBuilder::new(None, plaintext, ContentEncryptionAlgorithm::Aes256Cbc, None)
            .map_err(|e| encryption(&e))?;
    let enveloped = builder
        .add_recipient_info(recipient_info)
        .map_err(|e| encryption(&e))?
        .build_with_rng(&mut OsRng)
        .map_err(|e| encryption(&e))?;
    let content_info = ContentInfo {
        content_type: const_oid::db::rfc5911::ID_ENVELOPED_DATA,
        content: Any::encode_from(&enveloped).map_err(|e| encryption(&e))?,
    };
    content_info.to_der().map_err(|e| encryption(&e))
}

/// The RSA key protected settings are encrypted to; `NotRsa` for a certificate of any other
/// key (an EC one, say), to which nothing can be encrypted with RSA key transport.
pub fn recipient_key(certificate: &Certificate) -> Result<RsaPublicKey, CmsError> {
    let spki_der = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| CmsError::InvalidCertificate(e.to_string()))?;
    RsaPublicKey::from_public_key_der(&spki_der).map_err(|_| CmsError::NotRsa)
}

/// The thumbprint of a PEM certificate, as Azure writes it; the guest agent stores the key
/// pair as `<thumbprint>.crt` and `.prv`.
pub fn certificate_thumbprint(certificate_pem: &str) -> Result<String, CmsError> {
    Ok(thumbprint(&parse_certificate(certificate_pem)?.der))
}

struct ParsedCertificate {
    certificate: Certificate,
    /// The DER exactly as given, which the thumbprint covers.
    der: Vec<u8>,
}

fn parse_certificate(certificate_pem: &str) -> Result<ParsedCertificate, CmsError> {
    let invalid = |e: &dyn std::fmt::Display| CmsError::InvalidCertificate(e.to_string());
    let (label, der) = x509_cert::der::pem::decode_vec(certificate_pem.trim().as_bytes())
        .map_err(|e| invalid(&e))?;
    if label != "CERTIFICATE" {
        return Err(CmsError::InvalidCertificate(format!(
            "PEM label is {label}, not CERTIFICATE"
        )));
    }
    let certificate = Certificate::from_der(&der).map_err(|e| invalid(&e))?;
    Ok(ParsedCertificate { certificate, der })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::process::{Command, Stdio};

    use super::*;

    /// A key and self-signed certificate made by the openssl CLI, as a VM would have them.
    pub(crate) fn openssl_key_pair(dir: &Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
        let (key, cert) = (dir.join("k.pem"), dir.join("c.pem"));
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=vm", "-days", "2",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success());
        (std::fs::read_to_string(&cert).unwrap(), cert, key)
    }

    fn openssl_decrypt(der: &[u8], cert: &Path, key: &Path) -> std::process::Output {
        let dir = key.parent().unwrap();
        let input = dir.join("enveloped.der");
        std::fs::write(&input, der).unwrap();
        Command::new("openssl")
            .args(["cms", "-inform", "DER", "-decrypt", "-in"])
            .arg(&input)
            .arg("-recip")
            .arg(cert)
            .arg("-inkey")
            .arg(key)
            .output()
            .expect("openssl runs")
    }

    #[test]
    fn openssl_cms_decrypts_what_was_encrypted_to_its_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, cert, key) = openssl_key_pair(dir.path());
        let plaintext =
            br#"{"objectStr":"eyJibG9iU0FTVXJpIjpbXX0=","statusBlobUri":"http://h/c/s?sig=x"}"#;

        let der = encrypt_to_certificate(&pem, plaintext).unwrap();
        let output = openssl_decrypt(&der, &cert, &key);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, plaintext);

        let printed = Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
            .arg(dir.path().join("enveloped.der"))
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&printed.stdout);
        assert!(printed.contains("aes-256-cbc"), "{printed}");
        assert!(printed.contains("rsaEncryption"), "{printed}");
    }

    #[test]
    fn another_key_cannot_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let (pem, _, _) = openssl_key_pair(dir.path());
        let (_, other_cert, other_key) = openssl_key_pair(other.path());
        let der = encrypt_to_certificate(&pem, b"secret").unwrap();
        let output = openssl_decrypt(&der, &other_cert, &other_key);
        assert!(!output.status.success());
        assert_ne!(output.stdout, b"secret");
    }

    #[test]
    fn the_thumbprint_is_openssls_sha1_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, cert, _) = openssl_key_pair(dir.path());
        let output = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        // "SHA1 Fingerprint=AB:CD:..."
        let printed = String::from_utf8(output.stdout).unwrap();
        let expected = printed.trim().rsplit('=').next().unwrap().replace(':', "");
        let thumbprint = certificate_thumbprint(&pem).unwrap();
        assert_eq!(thumbprint.len(), 40);
        assert_eq!(thumbprint, expected);
    }

    #[test]
    fn non_certificates_are_refused() {
        assert!(matches!(
            certificate_thumbprint("not pem"),
            Err(CmsError::InvalidCertificate(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let (_, _, key) = openssl_key_pair(dir.path());
        let key_pem = std::fs::read_to_string(key).unwrap();
        assert!(matches!(
            encrypt_to_certificate(&key_pem, b"x"),
            Err(CmsError::InvalidCertificate(_))
        ));
    }
}
