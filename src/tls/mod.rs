//! HTTPS for the management API and the blob endpoint. The certificate chain is the
//! operator's (a certificate and key given as PEM files) or, by default, one a local CA
//! makes in `<data dir>/tls/`, whose `ca.pem` clients trust.
//!
//! Everything uses rustls's `ring` provider, passed explicitly, so the process needs no
//! default provider installed.

mod local_ca;
mod pem_files;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// How the service gets its certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// A PEM file with the server certificate, then any certificates it chains to. Given
    /// with `key`, or neither is and the local CA makes the chain.
    pub cert: Option<PathBuf>,
    /// The PEM private key of `cert`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: Option<PathBuf>,
    /// Names beyond `127.0.0.1`, `::1` and `localhost` that the generated certificate must
    /// carry (`--tls-san`): an IP address becomes an IP SAN, anything else a DNS name.
    /// Ignored with `cert`, which carries whatever names it was issued for.
    pub extra_sans: Vec<String>,
}

/// What the HTTPS listeners serve with.
pub struct ServerTls {
    /// Accepts TLS on a listener's connections, offering ALPN `http/1.1` only (the servers
    /// speak HTTP/1.1).
    pub acceptor: TlsAcceptor,
    /// The CA certificate clients should trust, when the service generated the chain.
    pub ca_file: Option<PathBuf>,
}

/// Why HTTPS cannot be served. Messages name files and never quote key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("a TLS certificate and its key must be given together; the {missing} is missing")]
    HalfGiven { missing: &'static str },
    #[error("TLS subject alternative name {0:?} is neither an IP address nor a DNS name")]
    InvalidSan(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable certificate: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    Key { path: PathBuf },
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate {cert} and key {key} cannot be served: {source}")]
    Unservable {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    /// The generated CA is there but cannot be used. It is not replaced: clients trust it.
    #[error(
        "the local CA in {dir} cannot be used: {problem}. Move the directory aside to \
         generate a new CA (clients must then trust the new ca.pem)"
    )]
    UnusableLocalCa { dir: PathBuf, problem: String },
    #[error("generating a certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The acceptor for `settings`: the given certificate and key, or else the local CA's
/// chain in `<data_dir>/tls/`, made on first start and brought up to date after.
pub fn load_or_generate(data_dir: &Path, settings: &TlsSettings) -> Result<ServerTls, TlsError> {
    let (cert, key, ca_file) = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            if !settings.extra_sans.is_empty() {
                tracing::warn!("extra TLS SANs are ignored: a certificate was given");
            }
            tracing::info!(cert = %cert.display(), "HTTPS serves the given certificate");
            (cert.clone(), key.clone(), None)
        }
        (None, None) => {
            let files = local_ca::ensure(data_dir, &settings.extra_sans)?;
            (files.chain, files.chain_key, Some(files.ca))
        }
        (Some(_), None) => return Err(TlsError::HalfGiven { missing: "key" }),
        (None, Some(_)) => {
            return Err(TlsError::HalfGiven {
                missing: "certificate",
            })
        }
    };
    let config = server_config(&cert, &key)?;
    Ok(ServerTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file,
    })
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = pem_files::read_chain(cert)?;
    let private_key = pem_files::read_key(key)?;
    let unservable = |source| match source {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
        },
        source => TlsError::Unservable {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        },
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(unservable)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(unservable)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// rustls 0.23.48 deprecates the `ring` provider for lacking post-quantum key exchange,
/// which only the `aws-lc-rs` provider has; that one needs cmake and a long C build, and a
/// local simulator's connections do not need to outlast a quantum adversary.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
