//! The one HTTP client a [`RemoteStorage`](super::RemoteStorage) sends every call with:
//! pooled HTTP/1.1, rustls with the system's roots and any extra CA the caller trusts.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for a connection to the account before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a [`RemoteStorage`](super::RemoteStorage) could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the CA file {} could not be read: {source}", path.display())]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {} holds no usable PEM certificate: {reason}", path.display())]
    CaCertificate { path: PathBuf, reason: String },
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// A client that also trusts the PEM certificates in `tls_ca`.
pub(super) fn http_client(tls_ca: Option<&Path>) -> Result<reqwest::Client, ConnectError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("vaultsim/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        // A signed request is not replayed to another URL.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = tls_ca {
        let unusable = |reason: String| ConnectError::CaCertificate {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|source| ConnectError::CaFile {
            path: path.to_owned(),
            source,
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|error| unusable(error.to_string()))?;
        if certificates.is_empty() {
            return Err(unusable("no CERTIFICATE block".into()));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|error| ConnectError::Client(error.to_string()))
}
