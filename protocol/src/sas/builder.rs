//! Minting service SAS tokens (for the service later, and for the load generator now).

use chrono::{DateTime, Utc};

use super::{format_sas_time, Permissions, ServiceSas, SignedResource};
use crate::signing::sign;

/// The `sv` minted tokens carry unless told otherwise: the version azure-storage-blob
/// 12.31.1 signs with, so minted tokens look like the Python SDK's.
pub const DEFAULT_SAS_VERSION: &str = "2026-10-06";

/// The `spr` values Azure accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SasProtocol {
    /// `spr=https`: the token is refused over plain HTTP.
    Https,
    /// `spr=https,http`: any protocol (also the meaning of no `spr`).
    HttpsAndHttp,
}

impl SasProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SasProtocol::Https => "https",
            SasProtocol::HttpsAndHttp => "https,http",
        }
    }

    pub(crate) fn from_spr(spr: &str) -> Option<SasProtocol> {
        [SasProtocol::Https, SasProtocol::HttpsAndHttp]
            .into_iter()
            .find(|p| p.as_str() == spr)
    }
}

/// Describes a service SAS to mint; [`ServiceSasBuilder::sign`] turns it into a signed
/// [`ServiceSas`] and [`ServiceSasBuilder::query_string`] into `st=..&se=..&sp=..&sig=..`.
#[derive(Clone, Debug)]
pub struct ServiceSasBuilder<'a> {
    resource: SignedResource,
    container: &'a str,
    blob: Option<&'a str>,
    snapshot: Option<&'a str>,
    permissions: Permissions,
    start: Option<DateTime<Utc>>,
    expiry: DateTime<Utc>,
    protocol: Option<SasProtocol>,
    version: &'a str,
}

impl<'a> ServiceSasBuilder<'a> {
    fn new(
        resource: SignedResource,
        container: &'a str,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Self {
        ServiceSasBuilder {
            resource,
            container,
            blob: None,
            snapshot: None,
            permissions,
            start: None,
            expiry,
            protocol: None,
            version: DEFAULT_SAS_VERSION,
        }
    }

    /// A container SAS (`sr=c`): valid for every blob in `container`.
    pub fn for_container(
        container: &'a str,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Self {
        Self::new(SignedResource::Container, container, permissions, expiry)
    }

    /// A blob SAS (`sr=b`); `blob` is the decoded blob name.
    pub fn for_blob(
        container: &'a str,
        blob: &'a str,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Self {
        let mut builder = Self::new(SignedResource::Blob, container, permissions, expiry);
        builder.blob = Some(blob);
        builder
    }

    /// A blob snapshot SAS (`sr=bs`). The snapshot time is signed but, as with the Python
    /// SDK, not part of the token: the URL carries it as `snapshot=`. Needs a version of
    /// 2018-11-09 or later.
    pub fn for_blob_snapshot(
        container: &'a str,
        blob: &'a str,
        snapshot: &'a str,
        permissions: Permissions,
        expiry: DateTime<Utc>,
    ) -> Self {
        let mut builder = Self::new(SignedResource::BlobSnapshot, container, permissions, expiry);
        builder.blob = Some(blob);
        builder.snapshot = Some(snapshot);
        builder
    }

    /// `st`; without it the token is valid from whenever it is first used.
    #[must_use]
    pub fn start(mut self, start: DateTime<Utc>) -> Self {
        self.start = Some(start);
        self
    }

    /// `spr`; without it any protocol is allowed.
    #[must_use]
    pub fn protocol(mut self, protocol: SasProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// `sv`, which selects the string-to-sign layout; defaults to [`DEFAULT_SAS_VERSION`].
    #[must_use]
    pub fn version(mut self, version: &'a str) -> Self {
        self.version = version;
        self
    }

    /// Signs the token for `account` with its Base64-decoded key.
    pub fn sign(&self, account: &str, account_key: &[u8]) -> ServiceSas {
        let mut sas = ServiceSas::unsigned(self.version.to_owned(), self.resource);
        sas.sp = Some(self.permissions.to_string());
        sas.st = self.start.map(format_sas_time);
        sas.se = Some(format_sas_time(self.expiry));
        sas.spr = self.protocol.map(|p| p.as_str().to_owned());
        let string_to_sign = sas.string_to_sign(account, self.container, self.blob, self.snapshot);
        sas.sig = sign(account_key, &string_to_sign);
        sas
    }

    /// The signed token as a URL query string (without `?`), ready to append to the
    /// resource URL.
    pub fn query_string(&self, account: &str, account_key: &[u8]) -> String {
        self.sign(account, account_key).to_query_string()
    }
}
