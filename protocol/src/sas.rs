//! Service SAS (`sr=c`, `sr=b`, `sr=bs`) signed with an account key: parsing the query,
//! building the string-to-sign for every signed-version layout, the server-side check in
//! the order Azurite and Dash use, and minting.
//!
//! Layouts (fields joined by `\n`, no trailing newline; absent fields are empty lines):
//!
//! | `sv`                    | fields                                                                 |
//! |-------------------------|------------------------------------------------------------------------|
//! | < 2012-02-12            | sp st se canonRes si                                                   |
//! | 2012-02-12              | … si sv                                                                |
//! | 2013-08-15 … 2015-02-21 | … si sv rscc rscd rsce rscl rsct                                       |
//! | 2015-04-05 …            | … si sip spr sv rscc … rsct                                            |
//! | 2018-11-09 …            | … si sip spr sv sr snapshotTime rscc … rsct                            |
//! | 2020-12-06 …            | … si sip spr sv sr snapshotTime ses rscc … rsct                        |
//!
//! canonRes is `/blob/{account}/{container}[/{blob}]` from 2015-02-21 and
//! `/{account}/{container}[/{blob}]` before.

mod account;
mod builder;
mod permissions;
mod time;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub use account::{account_sas_string_to_sign, AccountSasFields};
pub use builder::{SasProtocol, ServiceSasBuilder, DEFAULT_SAS_VERSION};
pub use permissions::{Permission, Permissions, UnknownPermission};
pub use time::{format_sas_time, parse_sas_time};

use crate::signing::signed_by_any;
use time::rfc1123;

// The first signed version of each layout change. Versions are `YYYY-MM-DD`, so comparing
// them as strings orders them by date.
const ADDS_VERSION_LINE: &str = "2012-02-12";
const ADDS_RESPONSE_HEADER_OVERRIDES: &str = "2013-08-15";
const ADDS_BLOB_SERVICE_PREFIX: &str = "2015-02-21";
const ADDS_IP_AND_PROTOCOL: &str = "2015-04-05";
const ADDS_RESOURCE_AND_SNAPSHOT: &str = "2018-11-09";
const ADDS_ENCRYPTION_SCOPE: &str = "2020-12-06";

/// What `sr` says the token was signed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignedResource {
    /// `sr=c`: any blob in the container, and listing it.
    Container,
    /// `sr=b`: one blob.
    Blob,
    /// `sr=bs`: one snapshot of a blob (2018-11-09+); the request's `snapshot` is signed.
    BlobSnapshot,
}

impl SignedResource {
    pub fn as_str(self) -> &'static str {
        match self {
            SignedResource::Container => "c",
            SignedResource::Blob => "b",
            SignedResource::BlobSnapshot => "bs",
        }
    }

    fn from_sr(sr: &str) -> Option<SignedResource> {
        [
            SignedResource::Container,
            SignedResource::Blob,
            SignedResource::BlobSnapshot,
        ]
        .into_iter()
        .find(|r| r.as_str() == sr)
    }
}

/// A service SAS as found in a request's query, values URL-decoded and kept exactly as
/// sent (the string-to-sign must use them verbatim). An empty value counts as absent: it
/// signs the same empty line, and `si=` (Dash vector B) must not trigger a policy lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSas {
    /// Signed version; selects the string-to-sign layout.
    pub sv: String,
    pub sr: SignedResource,
    /// Permission letters; may come from the stored policy instead.
    pub sp: Option<String>,
    pub st: Option<String>,
    pub se: Option<String>,
    /// Stored access policy id.
    pub si: Option<String>,
    /// Allowed client IP or range; signed but, as in Azurite, not enforced.
    pub sip: Option<String>,
    pub spr: Option<String>,
    /// Encryption scope.
    pub ses: Option<String>,
    /// Response header overrides: Cache-Control, Content-Disposition, Content-Encoding,
    /// Content-Language, Content-Type.
    pub rscc: Option<String>,
    pub rscd: Option<String>,
    pub rsce: Option<String>,
    pub rscl: Option<String>,
    pub rsct: Option<String>,
    /// The Base64 signature.
    pub sig: String,
}

/// The request a SAS is presented with, as the server sees it.
#[derive(Clone, Copy, Debug)]
pub struct SasRequest<'a> {
    pub account: &'a str,
    pub container: &'a str,
    /// The URL-decoded blob name, if the request addresses a blob.
    pub blob: Option<&'a str>,
    /// The request's `snapshot` query value; signed by `sr=bs` tokens.
    pub snapshot: Option<&'a str>,
    pub https: bool,
    /// The client's address, checked against `sip`.
    pub client_ip: IpAddr,
    pub now: DateTime<Utc>,
}

/// A container's stored access policy (`si`), values as stored in the container ACL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredPolicy {
    pub start: Option<String>,
    pub expiry: Option<String>,
    pub permission: Option<String>,
}

/// What a SAS that passed [`ServiceSas::check`] allows. The caller still has to check
/// that the operation is covered by `resource` and `permissions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantedSas {
    pub resource: SignedResource,
    pub permissions: Permissions,
    pub start: Option<DateTime<Utc>>,
    pub expiry: DateTime<Utc>,
}

/// Why a SAS was refused. `Display` is the AuthenticationErrorDetail text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SasError {
    /// A required field is absent from both the URL and the stored policy.
    #[error("{}", missing_parameter_detail(.0))]
    MissingParameter(&'static str),
    /// A field (from the URL or the stored policy) has a value Azure does not accept.
    #[error("The value '{value}' of SAS field {name} is not valid.")]
    InvalidParameter { name: &'static str, value: String },
    #[error("Signature did not match. String to sign used was {string_to_sign}")]
    SignatureMismatch { string_to_sign: String },
    #[error(
        "The signed identifier '{0}' does not match any stored access policy on the container."
    )]
    UnknownPolicy(String),
    /// The named field is both in the URL and in the stored policy.
    #[error("Access policy fields can be associated with signature or SAS identifier but not both ({0} is in both).")]
    PolicyConflict(&'static str),
    #[error(
        "Signature not valid in the specified time frame: Start [{}] - Expiry [{}] - Current [{}]",
        .start.as_ref().map(rfc1123).unwrap_or_default(),
        rfc1123(.expiry),
        rfc1123(.now)
    )]
    OutsideTimeWindow {
        start: Option<DateTime<Utc>>,
        expiry: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// `spr=https` on a plain HTTP request.
    #[error("This request is not authorized to perform this operation using this protocol.")]
    ProtocolMismatch,
    /// The client's address is outside `sip`.
    #[error("This request is not authorized to perform this operation using this source IP {0}.")]
    SourceIpMismatch(IpAddr),
}

fn missing_parameter_detail(name: &str) -> String {
    match name {
        "se" => "Signed expiry must be specified in signature or SAS identifier".to_owned(),
        "sp" => "Signed permission must be specified in signature or SAS identifier".to_owned(),
        _ => format!("{name} is mandatory. Cannot be empty"),
    }
}

impl SasError {
    /// The text of the AuthenticationErrorDetail element Azure sends with the 403.
    pub fn authentication_error_detail(&self) -> String {
        self.to_string()
    }

    /// The `x-ms-error-code` Azure answers with (always with status 403).
    pub fn error_code(&self) -> &'static str {
        match self {
            SasError::ProtocolMismatch => "AuthorizationProtocolMismatch",
            SasError::SourceIpMismatch(_) => "AuthorizationSourceIPMismatch",
            _ => "AuthenticationFailed",
        }
    }
}

/// How `sig` and times are escaped in minted tokens: like Python's `urllib.parse.quote`
/// (everything but unreserved characters and `/`), so `+` → `%2B`, `=` → `%3D`, `:` → `%3A`.
const SAS_QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

impl ServiceSas {
    fn unsigned(sv: String, sr: SignedResource) -> ServiceSas {
        ServiceSas {
            sv,
            sr,
            sp: None,
            st: None,
            se: None,
            si: None,
            sip: None,
            spr: None,
            ses: None,
            rscc: None,
            rscd: None,
            rsce: None,
            rscl: None,
            rsct: None,
            sig: String::new(),
        }
    }

    /// Reads a service SAS from URL-decoded query pairs. Keys match exactly (lower-case),
    /// as in Azure; other keys are ignored. `None` when there is no `sig` (SAS does not
    /// apply); `Err` when there is one but the token is malformed.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Result<ServiceSas, SasError>> {
        let mut fields = QueryFields::default();
        for (key, value) in pairs {
            if let Some(slot) = fields.slot(key).filter(|_| !value.is_empty()) {
                *slot = Some(value);
            }
        }
        let sig = fields.sig?;
        Some(fields.into_service_sas(sig))
    }

    /// The string the token's signature covers, for the layout of `sv`. `blob` is the
    /// decoded blob name; `snapshot` (the request's `snapshot` value) is signed only by
    /// `sr=bs` tokens.
    pub fn string_to_sign(
        &self,
        account: &str,
        container: &str,
        blob: Option<&str>,
        snapshot: Option<&str>,
    ) -> String {
        let version = self.sv.as_str();
        fn field(value: &Option<String>) -> &str {
            value.as_deref().unwrap_or_default()
        }
        let canonical_resource = self.canonical_resource(account, container, blob);
        let snapshot_time = match self.sr {
            SignedResource::BlobSnapshot => snapshot.unwrap_or_default(),
            SignedResource::Blob | SignedResource::Container => "",
        };

        let mut lines = vec![
            field(&self.sp),
            field(&self.st),
            field(&self.se),
            &canonical_resource,
            field(&self.si),
        ];
        if version >= ADDS_IP_AND_PROTOCOL {
            lines.extend([field(&self.sip), field(&self.spr)]);
        }
        if version >= ADDS_VERSION_LINE {
            lines.push(version);
        }
        if version >= ADDS_RESOURCE_AND_SNAPSHOT {
            lines.extend([self.sr.as_str(), snapshot_time]);
        }
        if version >= ADDS_ENCRYPTION_SCOPE {
            lines.push(field(&self.ses));
        }
        if version >= ADDS_RESPONSE_HEADER_OVERRIDES {
            lines.extend([
                field(&self.rscc),
                field(&self.rscd),
                field(&self.rsce),
                field(&self.rscl),
                field(&self.rsct),
            ]);
        }
        lines.join("\n")
    }

    fn canonical_resource(&self, account: &str, container: &str, blob: Option<&str>) -> String {
        let service = if self.sv.as_str() >= ADDS_BLOB_SERVICE_PREFIX {
            "/blob"
        } else {
            ""
        };
        match (self.sr, blob) {
            (SignedResource::Blob | SignedResource::BlobSnapshot, Some(blob)) => {
                format!("{service}/{account}/{container}/{blob}")
            }
            _ => format!("{service}/{account}/{container}"),
        }
    }

    /// Checks the token against a request, in Azurite's order: signature (each key in
    /// turn), stored policy, time window, protocol. `policy` looks up the container's
    /// stored access policy by id and is only called when the token has `si`.
    pub fn check(
        &self,
        request: &SasRequest<'_>,
        keys: &[&[u8]],
        policy: impl FnOnce(&str) -> Option<StoredPolicy>,
    ) -> Result<GrantedSas, SasError> {
        let string_to_sign = self.string_to_sign(
            request.account,
            request.container,
            request.blob,
            request.snapshot,
        );
        if !signed_by_any(keys, &string_to_sign, &self.sig) {
            return Err(SasError::SignatureMismatch { string_to_sign });
        }
        let terms = self.access_terms(policy)?;
        terms.check_time(request.now)?;
        self.check_source_ip(request.client_ip)?;
        self.check_protocol(request.https)?;
        Ok(GrantedSas {
            resource: self.sr,
            permissions: terms.permissions,
            start: terms.start,
            expiry: terms.expiry,
        })
    }

    /// Start, expiry and permissions after applying the stored policy, which may supply
    /// any of them but not repeat one the URL already has.
    fn access_terms(
        &self,
        policy: impl FnOnce(&str) -> Option<StoredPolicy>,
    ) -> Result<AccessTerms, SasError> {
        let stored = match &self.si {
            None => StoredPolicy::default(),
            Some(id) => policy(id).ok_or_else(|| SasError::UnknownPolicy(id.clone()))?,
        };
        let start = pick_source("st", &self.st, &stored.start)?;
        let expiry =
            pick_source("se", &self.se, &stored.expiry)?.ok_or(SasError::MissingParameter("se"))?;
        let permission = pick_source("sp", &self.sp, &stored.permission)?
            .ok_or(SasError::MissingParameter("sp"))?;
        Ok(AccessTerms {
            start: start.map(|start| parse_time("st", start)).transpose()?,
            expiry: parse_time("se", expiry)?,
            permissions: parse_permissions(permission)?,
        })
    }

    /// `sip` is one address or an inclusive range `low-high` of one family.
    fn check_source_ip(&self, client: IpAddr) -> Result<(), SasError> {
        let Some(range) = self.sip.as_deref() else {
            return Ok(());
        };
        let (low, high) = range.split_once('-').unwrap_or((range, range));
        let parse = |text: &str| {
            text.trim()
                .parse::<IpAddr>()
                .map_err(|_| invalid("sip", range))
        };
        let (low, high) = (parse(low)?, parse(high)?);
        let inside = match (client.to_canonical(), low, high) {
            (IpAddr::V4(c), IpAddr::V4(l), IpAddr::V4(h)) => (l..=h).contains(&c),
            (IpAddr::V6(c), IpAddr::V6(l), IpAddr::V6(h)) => (l..=h).contains(&c),
            _ => false,
        };
        if inside {
            Ok(())
        } else {
            Err(SasError::SourceIpMismatch(client))
        }
    }

    fn check_protocol(&self, https: bool) -> Result<(), SasError> {
        match self.spr.as_deref().map(parse_protocol).transpose()? {
            Some(SasProtocol::Https) if !https => Err(SasError::ProtocolMismatch),
            _ => Ok(()),
        }
    }

    /// The token as a URL query string (without `?`), values escaped as the Python SDK
    /// does and fields in its order.
    pub fn to_query_string(&self) -> String {
        let fields = [
            ("st", self.st.as_deref()),
            ("se", self.se.as_deref()),
            ("sp", self.sp.as_deref()),
            ("sip", self.sip.as_deref()),
            ("spr", self.spr.as_deref()),
            ("sv", Some(self.sv.as_str())),
            ("ses", self.ses.as_deref()),
            ("si", self.si.as_deref()),
            ("sr", Some(self.sr.as_str())),
            ("rscc", self.rscc.as_deref()),
            ("rscd", self.rscd.as_deref()),
            ("rsce", self.rsce.as_deref()),
            ("rscl", self.rscl.as_deref()),
            ("rsct", self.rsct.as_deref()),
            ("sig", Some(self.sig.as_str())),
        ];
        fields
            .into_iter()
            .filter_map(|(name, value)| {
                value.map(|value| format!("{name}={}", utf8_percent_encode(value, SAS_QUERY_VALUE)))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The effective, parsed access terms of a token.
struct AccessTerms {
    start: Option<DateTime<Utc>>,
    expiry: DateTime<Utc>,
    permissions: Permissions,
}

impl AccessTerms {
    /// No clock-skew allowance, like Azurite and Dash.
    fn check_time(&self, now: DateTime<Utc>) -> Result<(), SasError> {
        let not_yet_valid = self.start.is_some_and(|start| now < start);
        if now > self.expiry || not_yet_valid {
            return Err(SasError::OutsideTimeWindow {
                start: self.start,
                expiry: self.expiry,
                now,
            });
        }
        Ok(())
    }
}

/// The value of a field from the URL or the stored policy, refusing it in both.
fn pick_source<'a>(
    name: &'static str,
    in_url: &'a Option<String>,
    in_policy: &'a Option<String>,
) -> Result<Option<&'a str>, SasError> {
    let present = |value: &'a Option<String>| value.as_deref().filter(|v| !v.is_empty());
    match (present(in_url), present(in_policy)) {
        (Some(_), Some(_)) => Err(SasError::PolicyConflict(name)),
        (url, policy) => Ok(url.or(policy)),
    }
}

fn invalid(name: &'static str, value: &str) -> SasError {
    SasError::InvalidParameter {
        name,
        value: value.to_owned(),
    }
}

fn parse_time(name: &'static str, value: &str) -> Result<DateTime<Utc>, SasError> {
    parse_sas_time(value).ok_or_else(|| invalid(name, value))
}

fn parse_permissions(value: &str) -> Result<Permissions, SasError> {
    value.parse().map_err(|_| invalid("sp", value))
}

fn parse_protocol(value: &str) -> Result<SasProtocol, SasError> {
    SasProtocol::from_spr(value).ok_or_else(|| invalid("spr", value))
}

/// The SAS fields of a query before validation.
#[derive(Default)]
struct QueryFields<'a> {
    sv: Option<&'a str>,
    sr: Option<&'a str>,
    sp: Option<&'a str>,
    st: Option<&'a str>,
    se: Option<&'a str>,
    si: Option<&'a str>,
    sip: Option<&'a str>,
    spr: Option<&'a str>,
    ses: Option<&'a str>,
    rscc: Option<&'a str>,
    rscd: Option<&'a str>,
    rsce: Option<&'a str>,
    rscl: Option<&'a str>,
    rsct: Option<&'a str>,
    sig: Option<&'a str>,
}

impl<'a> QueryFields<'a> {
    fn slot(&mut self, key: &str) -> Option<&mut Option<&'a str>> {
        Some(match key {
            "sv" => &mut self.sv,
            "sr" => &mut self.sr,
            "sp" => &mut self.sp,
            "st" => &mut self.st,
            "se" => &mut self.se,
            "si" => &mut self.si,
            "sip" => &mut self.sip,
            "spr" => &mut self.spr,
            "ses" => &mut self.ses,
            "rscc" => &mut self.rscc,
            "rscd" => &mut self.rscd,
            "rsce" => &mut self.rsce,
            "rscl" => &mut self.rscl,
            "rsct" => &mut self.rsct,
            "sig" => &mut self.sig,
            _ => return None,
        })
    }

    /// Validates what can be validated without keys or policies (steps 2-3 of the
    /// documented order, plus value syntax).
    fn into_service_sas(self, sig: &str) -> Result<ServiceSas, SasError> {
        let sv = self.sv.ok_or(SasError::MissingParameter("sv"))?;
        if sv.len() != 10 || parse_sas_time(sv).is_none() {
            return Err(invalid("sv", sv));
        }
        let sr_value = self.sr.ok_or(SasError::MissingParameter("sr"))?;
        let sr = SignedResource::from_sr(sr_value).ok_or_else(|| invalid("sr", sr_value))?;
        if sr == SignedResource::BlobSnapshot && sv < ADDS_RESOURCE_AND_SNAPSHOT {
            // Older layouts do not sign the snapshot time, so the token would open every snapshot.
            return Err(invalid("sr", sr_value));
        }
        if self.si.is_none() {
            for (name, value) in [("sp", self.sp), ("se", self.se)] {
                if value.is_none() {
                    return Err(SasError::MissingParameter(name));
                }
            }
        }
        self.sp.map(parse_permissions).transpose()?;
        self.st.map(|st| parse_time("st", st)).transpose()?;
        self.se.map(|se| parse_time("se", se)).transpose()?;
        self.spr.map(parse_protocol).transpose()?;

        let owned = |value: Option<&str>| value.map(str::to_owned);
        Ok(ServiceSas {
            sv: sv.to_owned(),
            sr,
            sp: owned(self.sp),
            st: owned(self.st),
            se: owned(self.se),
            si: owned(self.si),
            sip: owned(self.sip),
            spr: owned(self.spr),
            ses: owned(self.ses),
            rscc: owned(self.rscc),
            rscd: owned(self.rscd),
            rsce: owned(self.rsce),
            rscl: owned(self.rscl),
            rsct: owned(self.rsct),
            sig: sig.to_owned(),
        })
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod tests;
