//! Credentials for the benchmark, minted with `vaultsim-protocol`: a container SAS for every
//! data-plane request, and Shared Key for the one request no service SAS can make (Create
//! Container).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use vaultsim_protocol::sas::{Permission, Permissions, ServiceSasBuilder};
use vaultsim_protocol::shared_key::{self, SignedRequest};

/// The storage service version sent in `x-ms-version` and signed into every SAS (`sv`).
pub const API_VERSION: &str = "2025-11-05";

/// Everything but the RFC 3986 unreserved characters is escaped in query values.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one query parameter value.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// A storage account name with its decoded key.
pub struct Account {
    name: String,
    key: Vec<u8>,
}

impl Account {
    pub fn new(name: &str, base64_key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            key: BASE64.decode(base64_key)?,
        })
    }

    /// Query string (without `?`) of a container SAS allowing `racwdl`, valid until `expiry`.
    pub fn container_sas(&self, container: &str, expiry: DateTime<Utc>) -> String {
        let permissions: Permissions = [
            Permission::Read,
            Permission::Add,
            Permission::Create,
            Permission::Write,
            Permission::Delete,
            Permission::List,
        ]
        .into_iter()
        .collect();
        ServiceSasBuilder::for_container(container, permissions, expiry)
            .version(API_VERSION)
            .query_string(&self.name, &self.key)
    }

    /// Query string of a read-only SAS for one snapshot of a blob (`sr=bs`); the request URL
    /// still carries `snapshot=`. Reads that name a snapshot use this rather than the container
    /// SAS because Azurite signs the request's `snapshot` into every SAS it checks, whatever
    /// `sr` says, and so refuses a container SAS there.
    pub fn blob_snapshot_sas(
        &self,
        container: &str,
        blob: &str,
        snapshot: &str,
        expiry: DateTime<Utc>,
    ) -> String {
        let read = Permissions::NONE.with(Permission::Read);
        ServiceSasBuilder::for_blob_snapshot(container, blob, snapshot, read, expiry)
            .version(API_VERSION)
            .query_string(&self.name, &self.key)
    }

    /// `Authorization: SharedKey …` value for a request sent with exactly `headers`.
    pub fn shared_key_authorization(
        &self,
        method: &str,
        uri: &http::Uri,
        headers: &[(&str, &str)],
    ) -> String {
        let request = SignedRequest {
            method,
            headers,
            path: uri.path(),
            query: uri.query().unwrap_or_default(),
        };
        shared_key::authorization_header(&self.name, &self.key, &request)
    }
}
