//! The VM's transport key pair, as the Linux guest agent makes it: an RSA-2048 key and a
//! self-signed certificate from `openssl req -x509 -nodes -newkey rsa:2048` (WALinuxAgent
//! does exactly this), kept under the state directory with the key readable by root only.
//! The service encrypts protected settings to the certificate; only this key opens them.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use vaultsim_protocol::certificate;

const CERTIFICATE_FILE: &str = "TransportCert.pem";
const PRIVATE_KEY_FILE: &str = "TransportPrivate.pem";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot use the key directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("openssl could not make the VM's key pair: {0}")]
    Openssl(String),
    #[error("{0} is not a PEM certificate")]
    NotACertificate(PathBuf),
}

/// A VM's key pair on disk.
#[derive(Debug, Clone)]
pub struct VmKeys {
    pub certificate_pem: String,
    /// PEM (PKCS#8) private key; never logged, never sent.
    private_key_pem: String,
    /// SHA-1 of the certificate's DER, upper-case hex: how Azure names the certificate.
    pub thumbprint: String,
}

impl VmKeys {
    /// The key pair in `dir`, made on first use. The private key file is created 0600.
    pub fn load_or_create(dir: &Path) -> Result<VmKeys, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let (certificate, private_key) = (dir.join(CERTIFICATE_FILE), dir.join(PRIVATE_KEY_FILE));
        if !certificate.exists() || !private_key.exists() {
            generate(dir, &certificate, &private_key)?;
        }
        let certificate_pem = fs::read_to_string(&certificate).map_err(io)?;
        let private_key_pem = fs::read_to_string(&private_key).map_err(io)?;
        let thumbprint =
            thumbprint(&certificate_pem).ok_or(KeyError::NotACertificate(certificate))?;
        Ok(VmKeys {
            certificate_pem,
            private_key_pem,
            thumbprint,
        })
    }

    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    /// Writes `<thumbprint>.crt` and `<thumbprint>.prv` (0600) into `dir`, where the guest
    /// agent keeps them for extensions (`/var/lib/waagent`).
    pub fn install_for_extensions(&self, dir: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        fs::write(
            dir.join(format!("{}.crt", self.thumbprint)),
            &self.certificate_pem,
        )
        .map_err(io)?;
        write_private(
            &dir.join(format!("{}.prv", self.thumbprint)),
            &self.private_key_pem,
        )
        .map_err(io)
    }
}

fn generate(dir: &Path, certificate: &Path, private_key: &Path) -> Result<(), KeyError> {
    // Made under temporary names and renamed, so a crash never leaves half a pair.
    let (new_certificate, new_key) = (dir.join("new-cert.pem"), dir.join("new-key.pem"));
    // The key file exists, 0600, before openssl writes into it.
    write_private(&new_key, "").map_err(|source| KeyError::Io {
        path: new_key.clone(),
        source,
    })?;
    let output = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-subj",
            "/CN=LinuxTransport",
            "-days",
            "730",
        ])
        .args(["-newkey", "rsa:2048", "-keyout"])
        .arg(&new_key)
        .arg("-out")
        .arg(&new_certificate)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| KeyError::Openssl(e.to_string()))?;
    if !output.status.success() {
        return Err(KeyError::Openssl(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let io = |source| KeyError::Io {
        path: dir.to_owned(),
        source,
    };
    fs::set_permissions(&new_key, fs::Permissions::from_mode(0o600)).map_err(io)?;
    fs::rename(&new_key, private_key).map_err(io)?;
    fs::rename(&new_certificate, certificate).map_err(io)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// The thumbprint of the first certificate in `pem`.
pub fn thumbprint(pem: &str) -> Option<String> {
    certificate_der(pem).map(|der| certificate::thumbprint(&der))
}

fn certificate_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(base64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_pair_is_made_once_with_a_private_key_only_its_owner_reads() {
        let dir = tempfile::tempdir().unwrap();
        let keys = VmKeys::load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(PRIVATE_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(keys.thumbprint.len(), 40);
        assert!(keys.private_key_pem().contains("PRIVATE KEY"));
        let again = VmKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(again.thumbprint, keys.thumbprint, "the pair is kept");

        // openssl agrees on the thumbprint.
        let printed = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(dir.path().join(CERTIFICATE_FILE))
            .output()
            .unwrap();
        let printed = String::from_utf8(printed.stdout).unwrap();
        assert_eq!(
            printed.trim().rsplit('=').next().unwrap().replace(':', ""),
            keys.thumbprint
        );

        let installed = dir.path().join("waagent");
        keys.install_for_extensions(&installed).unwrap();
        let prv = installed.join(format!("{}.prv", keys.thumbprint));
        assert_eq!(
            fs::metadata(&prv).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(installed.join(format!("{}.crt", keys.thumbprint)).exists());
    }

    #[test]
    fn text_without_a_certificate_has_no_thumbprint() {
        assert_eq!(thumbprint("hello"), None);
        assert_eq!(
            thumbprint("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"),
            None
        );
    }
}
