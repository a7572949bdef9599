//! The local CA: with no certificate given, the service makes its own chain in
//! `<data dir>/tls/` so HTTPS works out of the box, and clients trust `ca.pem`. The CA is
//! made once and kept, so a client that trusts it keeps working; the leaf is re-issued from
//! it whenever it lacks a name asked for, nears its end, or is missing or damaged.
//!
//! The certificates pass strict verifiers (`openssl verify -x509_strict`, Python 3.13's
//! default `VERIFY_X509_STRICT`): critical basic constraints and key usage on the CA, key
//! identifiers on both, and an authority key identifier on the leaf.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{Datelike, Days, Utc};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use x509_cert::der::{DecodePem, Encode};

use super::{pem_files, provider, TlsError};

const CA_COMMON_NAME: &str = "vaultsim local CA";
const LEAF_COMMON_NAME: &str = "vaultsim";
const ORGANIZATION: &str = "vaultsim";
const CA_LIFETIME_DAYS: u64 = 3650;
/// The longest lifetime browsers accept for a server certificate (398 days).
const LEAF_LIFETIME_DAYS: u64 = 397;
/// A leaf that ends sooner than this is re-issued at start, so a long-running service is
/// not caught by its expiry.
const LEAF_RENEWAL_MARGIN: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// What every local client dials: the loopback addresses and `localhost`.
const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// The files of the local chain, all in one directory.
pub(super) struct LocalChainFiles {
    dir: PathBuf,
    /// The CA certificate, what clients trust.
    pub(super) ca: PathBuf,
    ca_key: PathBuf,
    /// The leaf followed by the CA certificate.
    pub(super) chain: PathBuf,
    pub(super) chain_key: PathBuf,
}

impl LocalChainFiles {
    fn in_dir(dir: PathBuf) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            chain: dir.join("server.pem"),
            chain_key: dir.join("server-key.pem"),
            dir,
        }
    }
}

/// The CA, able to sign leaves.
struct LocalCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// The chain in `<data_dir>/tls/`, made or brought up to date: a new CA and leaf when there
/// is no `ca.pem`; otherwise the CA as it is (an unusable one is an error, never silently
/// replaced) and a leaf re-issued from it when the one there will not do for `extra_sans`.
pub(super) fn ensure(data_dir: &Path, extra_sans: &[String]) -> Result<LocalChainFiles, TlsError> {
    let names = server_names(extra_sans)?;
    let files = LocalChainFiles::in_dir(data_dir.join("tls"));
    std::fs::create_dir_all(&files.dir).map_err(|source| TlsError::Write {
        path: files.dir.clone(),
        source,
    })?;
    let ca_exists = files.ca.try_exists().map_err(|source| TlsError::Read {
        path: files.ca.clone(),
        source,
    })?;
    if ca_exists {
        let ca = load_ca(&files)?;
        if let Err(reason) = check_leaf(&files, &ca, &names) {
            tracing::info!(%reason, "re-issuing the HTTPS certificate from the local CA");
            issue_leaf(&files, &ca, &names)?;
        }
        tracing::info!(ca_file = %files.ca.display(), "HTTPS uses the local CA; clients trust its certificate");
    } else {
        let ca = new_ca()?;
        // The key first: a crash before `ca.pem` is written leaves no CA, and the next
        // start makes a new one.
        pem_files::write(&files.ca_key, &ca.issuer.key().serialize_pem(), true)?;
        pem_files::write(&files.ca, &ca.pem, false)?;
        issue_leaf(&files, &ca, &names)?;
        tracing::info!(ca_file = %files.ca.display(), "generated a local CA for HTTPS; clients trust its certificate");
    }
    Ok(files)
}

/// The loopback names, then each of `extra` that is an IP address or a DNS name (no
/// wildcards), without repeats.
fn server_names(extra: &[String]) -> Result<Vec<ServerName<'static>>, TlsError> {
    let mut names = Vec::new();
    for name in LOOPBACK_NAMES
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        let parsed = ServerName::try_from(name)
            .map_err(|_| TlsError::InvalidSan(name.to_owned()))?
            .to_owned();
        if !names.contains(&parsed) {
            names.push(parsed);
        }
    }
    Ok(names)
}

fn new_ca() -> Result<LocalCa, TlsError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_LIFETIME_DAYS);
    let pem = params.self_signed(&key)?.pem();
    Ok(LocalCa {
        pem,
        issuer: Issuer::new(params, key),
    })
}

/// The CA from `ca.pem` and `ca-key.pem`, which must both be there, parse, belong
/// together, and not have expired.
fn load_ca(files: &LocalChainFiles) -> Result<LocalCa, TlsError> {
    let unusable = |problem: String| TlsError::UnusableLocalCa {
        dir: files.dir.clone(),
        problem,
    };
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| unusable(format!("{}: {e}", path.display())))
    };
    let pem = read(&files.ca)?;
    let key = KeyPair::from_pem(&read(&files.ca_key)?)
        .map_err(|_| unusable("ca-key.pem is not a PEM PKCS#8 private key".into()))?;
    let certificate = x509_cert::Certificate::from_pem(&pem)
        .map_err(|e| unusable(format!("ca.pem is not a PEM certificate ({e})")))?;
    let tbs = &certificate.tbs_certificate;
    let public_key = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| unusable(format!("ca.pem's public key does not encode ({e})")))?;
    if public_key != key.subject_public_key_info() {
        return Err(unusable("ca-key.pem is not the key of ca.pem".into()));
    }
    if tbs.validity.not_after.to_system_time() <= SystemTime::now() {
        return Err(unusable(format!(
            "ca.pem expired on {}",
            tbs.validity.not_after
        )));
    }
    let issuer = Issuer::from_ca_cert_pem(&pem, key)
        .map_err(|e| unusable(format!("ca.pem cannot sign ({e})")))?;
    Ok(LocalCa { pem, issuer })
}

/// Whether the leaf there will do: both files parse and belong together, and a client
/// trusting only the CA accepts it for every name, today and for the renewal margin.
fn check_leaf(
    files: &LocalChainFiles,
    ca: &LocalCa,
    names: &[ServerName<'static>],
) -> Result<(), String> {
    let chain = pem_files::read_chain(&files.chain).map_err(|e| e.to_string())?;
    let key = pem_files::read_key(&files.chain_key).map_err(|e| e.to_string())?;
    CertifiedKey::from_der(chain.clone(), key, &provider())
        .map_err(|e| format!("server-key.pem does not fit server.pem ({e})"))?;

    let mut roots = RootCertStore::empty();
    let ca_der =
        CertificateDer::from_pem_slice(ca.pem.as_bytes()).map_err(|e| format!("ca.pem: {e}"))?;
    roots.add(ca_der).map_err(|e| format!("ca.pem: {e}"))?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| e.to_string())?;
    let renewal_due = UnixTime::since_unix_epoch(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            + LEAF_RENEWAL_MARGIN,
    );
    let (leaf, intermediates) = chain.split_first().ok_or("server.pem is empty")?;
    for name in names {
        verifier
            .verify_server_cert(leaf, intermediates, name, &[], renewal_due)
            .map_err(|e| {
                format!(
                    "server.pem will not do for {} in 30 days ({e})",
                    name.to_str()
                )
            })?;
    }
    Ok(())
}

/// A new key and leaf for `names`, signed by `ca`, written as `server-key.pem` and
/// `server.pem` (the leaf, then the CA so clients get the whole chain).
fn issue_leaf(
    files: &LocalChainFiles,
    ca: &LocalCa,
    names: &[ServerName<'static>],
) -> Result<(), TlsError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(LEAF_COMMON_NAME);
    params.subject_alt_names = names
        .iter()
        .map(|name| match name {
            ServerName::IpAddress(ip) => Ok(SanType::IpAddress((*ip).into())),
            other => Ok(SanType::DnsName(other.to_str().as_ref().try_into()?)),
        })
        .collect::<Result<_, rcgen::Error>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, LEAF_LIFETIME_DAYS);
    let leaf = params.signed_by(&key, &ca.issuer)?;
    // The key first: a crash between the two leaves a mismatched pair, which the next
    // start re-issues.
    pem_files::write(&files.chain_key, &key.serialize_pem(), true)?;
    pem_files::write(&files.chain, &format!("{}{}", leaf.pem(), ca.pem), false)
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, ORGANIZATION);
    name
}

/// Valid from midnight UTC yesterday, so a client whose clock lags still accepts it, for
/// `days`. Wall-clock time, not the service's `Clock`: clients check against theirs.
fn set_validity(params: &mut CertificateParams, days: u64) {
    let start = Utc::now().date_naive() - Days::new(1);
    let end = start + Days::new(days);
    let midnight =
        |date: chrono::NaiveDate| date_time_ymd(date.year(), date.month() as u8, date.day() as u8);
    params.not_before = midnight(start);
    params.not_after = midnight(end);
}
