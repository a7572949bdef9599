//! Protected settings are encrypted to the VM's certificate as CMS EnvelopedData (DER),
//! which the extension decrypts with `base64 -d | openssl cms -inform DER -decrypt -recip
//! <thumb>.crt -inkey <thumb>.prv`. RSA key transport (PKCS#1 v1.5) carries an AES-256-CBC
//! content key; the docs name 3DES too, and `openssl cms` reads either.

use cms::builder::{
    ContentEncryptionAlgorithm, EnvelopedDataBuilder, RecipientInfoBuilder, RecipientInfoType,
};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedKey, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
};
use rand::rngs::ThreadRng;
use rand::RngCore;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use secrecy::zeroize::Zeroizing;
use vaultsim_protocol::certificate::thumbprint;
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

mod montgomery;

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
/// key can open; [`Recipient::encrypt`] for a certificate already parsed.
pub fn encrypt_to_certificate(
    certificate_pem: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CmsError> {
    Recipient::from_pem(certificate_pem)?.encrypt(plaintext)
}

/// A certificate parsed for encryption, so that a task parses its VM's certificate once
/// for both the envelope and the thumbprint.
pub struct Recipient {
    /// Issuer and serial number, which is how `openssl cms -recip` finds the recipient.
    id: RecipientIdentifier,
    key: RsaPublicKey,
    thumbprint: String,
}

impl Recipient {
    pub fn from_pem(certificate_pem: &str) -> Result<Self, CmsError> {
        let (certificate, der) = parse_certificate(certificate_pem)?;
        let key = recipient_key(&certificate)?;
        let tbs = certificate.tbs_certificate;
        Ok(Self {
            id: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer,
                serial_number: tbs.serial_number,
            }),
            key,
            thumbprint: thumbprint(&der),
        })
    }

    /// The certificate's thumbprint, as Azure writes it; the guest agent stores the key
    /// pair as `<thumbprint>.crt` and `.prv`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// `plaintext` as DER CMS EnvelopedData that only the holder of the certificate's
    /// private key can open.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CmsError> {
        let encryption = |e: &dyn std::fmt::Display| CmsError::Encryption(e.to_string());
        // A CSPRNG seeded from the OS: the content key, IV and padding need no system
        // call each.
        let mut rng = rand::thread_rng();
        let mut builder =
            EnvelopedDataBuilder::new(None, plaintext, ContentEncryptionAlgorithm::Aes256Cbc, None)
                .map_err(|e| encryption(&e))?;
        let enveloped = builder
            .add_recipient_info(KeyTransport {
                recipient: self,
                rng: rng.clone(),
            })
            .map_err(|e| encryption(&e))?
            .build_with_rng(&mut rng)
            .map_err(|e| encryption(&e))?;
        let content_info = ContentInfo {
            content_type: const_oid::db::rfc5911::ID_ENVELOPED_DATA,
            content: Any::encode_from(&enveloped).map_err(|e| encryption(&e))?,
        };
        content_info.to_der().map_err(|e| encryption(&e))
    }
}

/// RSA key transport of the content key (PKCS#1 v1.5), what the `cms` crate's
/// `KeyTransRecipientInfoBuilder` does, with [`rsa_public`] in place of the `rsa` crate's
/// exponentiation, which was nine tenths of a minted task.
struct KeyTransport<'r> {
    recipient: &'r Recipient,
    rng: ThreadRng,
}

impl RecipientInfoBuilder for KeyTransport<'_> {
    fn recipient_info_type(&self) -> RecipientInfoType {
        RecipientInfoType::Ktri
    }

    /// 0 for a recipient named by issuer and serial number (RFC 5652 § 6.2.1).
    fn recipient_info_version(&self) -> CmsVersion {
        CmsVersion::V0
    }

    fn build(
        &mut self,
        content_encryption_key: &[u8],
    ) -> Result<RecipientInfo, cms::builder::Error> {
        let encrypted_key =
            pkcs1v15_encrypt(&self.recipient.key, content_encryption_key, &mut self.rng)?;
        Ok(RecipientInfo::Ktri(KeyTransRecipientInfo {
            version: self.recipient_info_version(),
            rid: self.recipient.id.clone(),
            key_enc_alg: AlgorithmIdentifierOwned {
                oid: const_oid::db::rfc5912::RSA_ENCRYPTION,
                parameters: None,
            },
            enc_key: EncryptedKey::new(encrypted_key)?,
        }))
    }
}

/// RSAES-PKCS1-v1_5 encryption (RFC 8017 § 7.2.1): `0x00 0x02 PS 0x00 message`, PS
/// non-zero random bytes, raised to the public exponent.
fn pkcs1v15_encrypt(
    key: &RsaPublicKey,
    message: &[u8],
    rng: &mut impl RngCore,
) -> Result<Vec<u8>, cms::builder::Error> {
    let k = key.size();
    // At least eight bytes of padding.
    if message.len() + 11 > k {
        return Err(cms::builder::Error::Builder(
            "the content key is too long for the RSA key".to_owned(),
        ));
    }
    // Holds the content key in clear: wiped when dropped, as the `rsa` crate does.
    let mut encoded = Zeroizing::new(vec![0u8; k]);
    let separator = k - message.len() - 1;
    encoded[1] = 2;
    let padding = &mut encoded[2..separator];
    rng.fill_bytes(padding);
    for byte in padding.iter_mut() {
        while *byte == 0 {
            *byte = rng.next_u32() as u8;
        }
    }
    encoded[separator + 1..].copy_from_slice(message);
    let encrypted = rsa_public(key, &BigUint::from_bytes_be(&encoded)).to_bytes_be();
    let mut out = vec![0u8; k - encrypted.len()];
    out.extend_from_slice(&encrypted);
    Ok(out)
}

/// `base^e mod n`. Public exponents are small (the `rsa` crate accepts at most 33 bits;
/// 65537 takes 16 squarings and one multiplication), where `BigUint::modpow` runs a 4-bit
/// window over all 64 bits of the exponent's word: about 90 multiplications, each
/// allocating. Every RSA modulus is odd, so Montgomery's form always serves.
fn rsa_public(key: &RsaPublicKey, base: &BigUint) -> BigUint {
    let exponent = key
        .e()
        .to_bytes_be()
        .iter()
        .fold(0u64, |e, &byte| e << 8 | u64::from(byte));
    montgomery::pow_mod_odd(base, exponent, key.n())
        .unwrap_or_else(|| base.modpow(key.e(), key.n()))
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

/// The certificate, and its DER exactly as given, which the thumbprint covers.
fn parse_certificate(certificate_pem: &str) -> Result<(Certificate, Vec<u8>), CmsError> {
    let invalid = |e: &dyn std::fmt::Display| CmsError::InvalidCertificate(e.to_string());
    let (label, der) = x509_cert::der::pem::decode_vec(certificate_pem.trim().as_bytes())
        .map_err(|e| invalid(&e))?;
    if label != "CERTIFICATE" {
        return Err(CmsError::InvalidCertificate(format!(
            "PEM label is {label}, not CERTIFICATE"
        )));
    }
    let certificate = Certificate::from_der(&der).map_err(|e| invalid(&e))?;
    Ok((certificate, der))
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

    /// The exponentiation against `BigUint::modpow`, for the exponents RSA keys use and
    /// the largest the `rsa` crate accepts, on bases below and above the modulus.
    #[test]
    fn the_public_operation_is_modular_exponentiation() {
        let mut rng = rand::thread_rng();
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let modulus = private.n().clone();
        for exponent in [3u64, 65_537, (1 << 33) - 1] {
            let exponent = BigUint::from(exponent);
            let key = RsaPublicKey::new(modulus.clone(), exponent.clone()).unwrap();
            for _ in 0..4 {
                let mut bytes = [0u8; 257];
                rng.fill_bytes(&mut bytes);
                let base = BigUint::from_bytes_be(&bytes);
                assert_eq!(
                    rsa_public(&key, &base),
                    base.modpow(&exponent, &modulus),
                    "{base:x}^{exponent} mod n"
                );
            }
        }
    }

    #[test]
    fn the_rsa_crate_decrypts_the_transported_key() {
        let mut rng = rand::thread_rng();
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let content_key = [0xA5u8; 32];
        let encrypted = pkcs1v15_encrypt(&private.to_public_key(), &content_key, &mut rng).unwrap();
        assert_eq!(encrypted.len(), 256);
        let decrypted = private.decrypt(rsa::Pkcs1v15Encrypt, &encrypted).unwrap();
        assert_eq!(decrypted, content_key);
        assert!(pkcs1v15_encrypt(&private.to_public_key(), &[1; 246], &mut rng).is_err());
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
        let recipient = Recipient::from_pem(&pem).unwrap();
        let thumbprint = recipient.thumbprint();
        assert_eq!(thumbprint.len(), 40);
        assert_eq!(thumbprint, expected);
    }

    #[test]
    fn non_certificates_are_refused() {
        assert!(matches!(
            Recipient::from_pem("not pem"),
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
