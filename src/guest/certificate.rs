//! The VM's certificate: protected settings are encrypted to it and named by its
//! thumbprint, as Azure names the `<THUMBPRINT>.crt` a Linux agent keeps.

use sqlx::Row;
use vaultsim_protocol::certificate::thumbprint;
use x509_cert::der::Decode;

use super::GuestError;
use crate::control::cms::recipient_key;
use crate::store::Db;

/// A VM's X.509 certificate as registered: one `CERTIFICATE` PEM block, re-encoded from
/// its DER so nothing else the agent sent (a private key in the same file) is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCertificate {
    pub pem: String,
    /// SHA-1 of the DER, upper-case hex: `openssl x509 -fingerprint -sha1` without colons.
    pub thumbprint: String,
}

impl GuestCertificate {
    /// The first `CERTIFICATE` block of `pem`, which must be a DER X.509 certificate of an
    /// RSA key. 400 `InvalidCertificate` otherwise.
    pub fn parse(pem: &str) -> Result<Self, GuestError> {
        let blocks = pem::parse_many(pem).map_err(|e| {
            GuestError::invalid("InvalidCertificate", format!("certificate: not PEM ({e})."))
        })?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| {
                GuestError::invalid(
                    "InvalidCertificate",
                    "certificate: no '-----BEGIN CERTIFICATE-----' block.",
                )
            })?;
        let der = block.contents();
        let certificate = x509_cert::Certificate::from_der(der).map_err(|e| {
            GuestError::invalid(
                "InvalidCertificate",
                format!("certificate: not an X.509 certificate ({e})."),
            )
        })?;
        // Refused here, not when the first backup's task is encrypted to it.
        recipient_key(&certificate).map_err(|e| {
            GuestError::invalid(
                "InvalidCertificate",
                format!(
                    "certificate: {e}; protected settings are encrypted to it with RSA key \
                     transport (CMS), so its key must be RSA."
                ),
            )
        })?;
        let thumbprint = thumbprint(der);
        let pem = pem::encode_config(
            &pem::Pem::new("CERTIFICATE", der.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        Ok(Self { pem, thumbprint })
    }
}

/// The certificate the VM's agent registered, if it registered.
pub async fn guest_certificate(
    db: &Db,
    vm_id: &str,
) -> Result<Option<GuestCertificate>, GuestError> {
    let row = sqlx::query(
        "select certificate_pem, certificate_thumbprint from vm_guest where vm_id = $1",
    )
    .bind(vm_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| {
        Ok(GuestCertificate {
            pem: row.try_get("certificate_pem")?,
            thumbprint: row.try_get("certificate_thumbprint")?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate made with `openssl req -x509 -newkey rsa:2048 -subj
    /// /CN=vaultsim-test`; its thumbprint as `openssl x509 -noout -fingerprint -sha1` prints
    /// it.
    const CERTIFICATE: &str = include_str!("testdata/certificate.pem");
    const THUMBPRINT: &str = include_str!("testdata/certificate.sha1");
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1`: X.509, but
    /// nothing can be encrypted to it with RSA key transport.
    const EC_CERTIFICATE: &str = include_str!("testdata/ec-certificate.pem");

    #[test]
    fn the_thumbprint_is_openssls_sha1_fingerprint() {
        let certificate = GuestCertificate::parse(CERTIFICATE).unwrap();
        assert_eq!(certificate.thumbprint, THUMBPRINT.trim());
        assert_eq!(certificate.pem.trim(), CERTIFICATE.trim());
    }

    #[test]
    fn a_private_key_beside_the_certificate_is_not_kept() {
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let certificate = GuestCertificate::parse(&format!("{key}{CERTIFICATE}")).unwrap();
        assert_eq!(certificate.thumbprint, THUMBPRINT.trim());
        assert!(!certificate.pem.contains("PRIVATE"));
    }

    #[test]
    fn what_is_not_a_certificate_is_refused() {
        let not_der = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        for pem in ["", "hello", not_der, EC_CERTIFICATE] {
            assert!(
                matches!(
                    GuestCertificate::parse(pem),
                    Err(GuestError::Invalid {
                        code: "InvalidCertificate",
                        ..
                    })
                ),
                "{pem:?}"
            );
        }
    }
}
