//! Azure Storage connection strings: `Key=Value` pairs separated by `;`, keys in any case,
//! values taken whole after the first `=` (Base64 account keys end in `=`).

use base64::Engine as _;
use reqwest::Url;
use secrecy::SecretSlice;

use crate::config::DEV_ACCOUNT_KEY;

/// The account `UseDevelopmentStorage=true` names (Azurite's, and vaultsim's default).
const DEVELOPMENT_ACCOUNT: &str = "devstoreaccount1";
/// Where `UseDevelopmentStorage=true` clients find that account's blobs.
const DEVELOPMENT_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";
/// Azure's public cloud, when the string names no `EndpointSuffix`.
const DEFAULT_ENDPOINT_SUFFIX: &str = "core.windows.net";

/// Keys of other services' endpoints: valid in a connection string, not used here.
const OTHER_SERVICE_KEYS: [&str; 7] = [
    "QueueEndpoint",
    "TableEndpoint",
    "FileEndpoint",
    "BlobSecondaryEndpoint",
    "QueueSecondaryEndpoint",
    "TableSecondaryEndpoint",
    "FileSecondaryEndpoint",
];

/// Why a connection string was refused. No message repeats a value that may be secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    #[error("the storage connection string is empty")]
    Empty,
    /// The part is not repeated: it may be (part of) the account key.
    #[error("part {position} of the storage connection string is not of the form Key=Value")]
    NotKeyValue { position: usize },
    #[error("the storage connection string names {key} twice")]
    Repeated { key: String },
    #[error("the storage connection string has an unknown key {key}")]
    UnknownKey { key: String },
    #[error("the storage connection string lacks {key}")]
    Missing { key: &'static str },
    /// `reason` never quotes the value.
    #[error("the storage connection string's {key} is not valid: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("UseDevelopmentStorage=true names the development account alone; remove {key}")]
    DevelopmentStorageWith { key: String },
    #[error(
        "the storage connection string uses a shared access signature; \
         only Shared Key (AccountKey) is supported"
    )]
    SharedAccessSignature,
}

/// A parsed connection string: the account, its decoded key and its blob endpoint.
/// `Debug` shows no key.
#[derive(Debug, Clone)]
pub struct ConnectionString {
    account: String,
    key: SecretSlice<u8>,
    blob_endpoint: String,
}

/// The keys this parser reads, as written in Azure's documentation.
#[derive(Debug, Default)]
struct Parts {
    protocol: Option<String>,
    account: Option<String>,
    key: Option<String>,
    blob_endpoint: Option<String>,
    endpoint_suffix: Option<String>,
    development_storage: Option<String>,
}

impl ConnectionString {
    pub fn parse(text: &str) -> Result<Self, ConnectionStringError> {
        let parts = Parts::read(text)?;
        if let Some(value) = &parts.development_storage {
            return Self::development(value, &parts);
        }
        let account = parts
            .account
            .ok_or(ConnectionStringError::Missing { key: "AccountName" })?;
        if !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConnectionStringError::Invalid {
                key: "AccountName",
                reason: "an account name has only letters and digits".into(),
            });
        }
        let key = decode_key(
            parts
                .key
                .as_deref()
                .ok_or(ConnectionStringError::Missing { key: "AccountKey" })?,
        )?;
        let blob_endpoint = match parts.blob_endpoint {
            Some(endpoint) => blob_endpoint(&endpoint)?,
            None => {
                let protocol = parts.protocol.as_deref().unwrap_or("https");
                if !matches!(protocol, "http" | "https") {
                    return Err(ConnectionStringError::Invalid {
                        key: "DefaultEndpointsProtocol",
                        reason: format!("expected http or https, not {protocol:?}"),
                    });
                }
                let suffix = parts
                    .endpoint_suffix
                    .as_deref()
                    .unwrap_or(DEFAULT_ENDPOINT_SUFFIX);
                blob_endpoint(&format!("{protocol}://{account}.blob.{suffix}")).map_err(|_| {
                    ConnectionStringError::Invalid {
                        key: "EndpointSuffix",
                        reason: format!("{suffix:?} does not make a valid host name"),
                    }
                })?
            }
        };
        Ok(Self {
            account,
            key,
            blob_endpoint,
        })
    }

    /// `UseDevelopmentStorage=true`: the well-known development account, on its own.
    fn development(value: &str, parts: &Parts) -> Result<Self, ConnectionStringError> {
        if !value.eq_ignore_ascii_case("true") {
            return Err(ConnectionStringError::Invalid {
                key: "UseDevelopmentStorage",
                reason: "the only value is true".into(),
            });
        }
        let others = [
            ("DefaultEndpointsProtocol", parts.protocol.is_some()),
            ("AccountName", parts.account.is_some()),
            ("AccountKey", parts.key.is_some()),
            ("BlobEndpoint", parts.blob_endpoint.is_some()),
            ("EndpointSuffix", parts.endpoint_suffix.is_some()),
        ];
        if let Some((key, _)) = others.iter().find(|(_, given)| *given) {
            return Err(ConnectionStringError::DevelopmentStorageWith {
                key: (*key).to_owned(),
            });
        }
        Ok(Self {
            account: DEVELOPMENT_ACCOUNT.to_owned(),
            key: decode_key(DEV_ACCOUNT_KEY)?,
            blob_endpoint: DEVELOPMENT_BLOB_ENDPOINT.to_owned(),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The decoded account key.
    pub fn key(&self) -> &SecretSlice<u8> {
        &self.key
    }

    /// The blob service's base URL, without a trailing `/`: host-style
    /// (`https://acct.blob.core.windows.net`) or with the account as its path
    /// (`http://127.0.0.1:10000/devstoreaccount1`).
    pub fn blob_endpoint(&self) -> &str {
        &self.blob_endpoint
    }
}

impl Parts {
    fn read(text: &str) -> Result<Self, ConnectionStringError> {
        let mut parts = Parts::default();
        let mut any = false;
        for (index, part) in text.split(';').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            any = true;
            let Some((key, value)) = part.split_once('=') else {
                return Err(ConnectionStringError::NotKeyValue {
                    position: index + 1,
                });
            };
            let (key, value) = (key.trim(), value.trim());
            // A pasted key's Base64 padding looks like `=`; only a name is ever repeated.
            if !looks_like_a_name(key) {
                return Err(ConnectionStringError::NotKeyValue {
                    position: index + 1,
                });
            }
            parts.set(key, value)?;
        }
        if !any {
            return Err(ConnectionStringError::Empty);
        }
        Ok(parts)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ConnectionStringError> {
        let is = |name: &str| key.eq_ignore_ascii_case(name);
        let slot = if is("DefaultEndpointsProtocol") {
            &mut self.protocol
        } else if is("AccountName") {
            &mut self.account
        } else if is("AccountKey") {
            &mut self.key
        } else if is("BlobEndpoint") {
            &mut self.blob_endpoint
        } else if is("EndpointSuffix") {
            &mut self.endpoint_suffix
        } else if is("UseDevelopmentStorage") {
            &mut self.development_storage
        } else if is("SharedAccessSignature") {
            return Err(ConnectionStringError::SharedAccessSignature);
        } else if OTHER_SERVICE_KEYS.iter().any(|name| is(name)) {
            return Ok(());
        } else {
            return Err(ConnectionStringError::UnknownKey {
                key: key.to_owned(),
            });
        };
        if slot.is_some() {
            return Err(ConnectionStringError::Repeated {
                key: key.to_owned(),
            });
        }
        if value.is_empty() {
            return Err(ConnectionStringError::Invalid {
                key: documented_name(key),
                reason: "the value is empty".into(),
            });
        }
        *slot = Some(value.to_owned());
        Ok(())
    }
}

/// Letters only, and short: every documented key is, and no account key is.
fn looks_like_a_name(key: &str) -> bool {
    key.len() <= 32 && key.bytes().all(|b| b.is_ascii_alphabetic())
}

/// The documented spelling of one of the keys [`Parts::set`] accepts.
fn documented_name(key: &str) -> &'static str {
    [
        "DefaultEndpointsProtocol",
        "AccountName",
        "AccountKey",
        "BlobEndpoint",
        "EndpointSuffix",
        "UseDevelopmentStorage",
    ]
    .into_iter()
    .find(|name| key.eq_ignore_ascii_case(name))
    .unwrap_or("key")
}

fn decode_key(key: &str) -> Result<SecretSlice<u8>, ConnectionStringError> {
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes.into()),
        _ => Err(ConnectionStringError::Invalid {
            key: "AccountKey",
            reason: "an account key is Base64".into(),
        }),
    }
}

/// An http(s) URL with a host and no query, normalised without a trailing `/`.
fn blob_endpoint(text: &str) -> Result<String, ConnectionStringError> {
    let invalid = |reason: &str| ConnectionStringError::Invalid {
        key: "BlobEndpoint",
        reason: format!("{reason}: {text:?}"),
    };
    let url = Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("expected an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const KEY: &str = "a2V5LW9mLXRoZS1hY2NvdW50LXdpdGgtcGFkZGluZw==";

    fn refused(text: &str) -> ConnectionStringError {
        ConnectionString::parse(text).unwrap_err()
    }

    #[test]
    fn the_portal_form_builds_a_host_style_endpoint() {
        let parsed = ConnectionString::parse(&format!(
            "DefaultEndpointsProtocol=https;AccountName=backups01;AccountKey={KEY};EndpointSuffix=core.chinacloudapi.cn"
        ))
        .unwrap();
        assert_eq!(parsed.account(), "backups01");
        assert_eq!(
            parsed.blob_endpoint(),
            "https://backups01.blob.core.chinacloudapi.cn"
        );
        assert_eq!(
            parsed.key().expose_secret(),
            b"key-of-the-account-with-padding"
        );
    }

    #[test]
    fn protocol_and_suffix_default_to_https_and_the_public_cloud() {
        let parsed =
            ConnectionString::parse(&format!("AccountName=acct;AccountKey={KEY}")).unwrap();
        assert_eq!(parsed.blob_endpoint(), "https://acct.blob.core.windows.net");
    }

    #[test]
    fn keys_are_case_insensitive_and_values_keep_their_equals_signs() {
        let parsed = ConnectionString::parse(&format!(
            " accountname = acct ; ACCOUNTKEY={KEY} ;blobendpoint=http://127.0.0.1:10000/acct/;"
        ))
        .unwrap();
        assert_eq!(parsed.account(), "acct");
        assert_eq!(parsed.blob_endpoint(), "http://127.0.0.1:10000/acct");
        assert_eq!(
            parsed.key().expose_secret(),
            b"key-of-the-account-with-padding"
        );
    }

    #[test]
    fn blob_endpoint_wins_over_protocol_and_suffix_and_other_services_are_ignored() {
        let parsed = ConnectionString::parse(&format!(
            "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey={KEY};\
             BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;\
             QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;EndpointSuffix=example.org"
        ))
        .unwrap();
        assert_eq!(
            parsed.blob_endpoint(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
    }

    #[test]
    fn development_storage_is_the_well_known_account() {
        let parsed = ConnectionString::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(parsed.account(), "devstoreaccount1");
        assert_eq!(
            parsed.blob_endpoint(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        let well_known = base64::engine::general_purpose::STANDARD
            .decode(DEV_ACCOUNT_KEY)
            .unwrap();
        assert_eq!(parsed.key().expose_secret(), well_known.as_slice());
        assert!(ConnectionString::parse("usedevelopmentstorage=TRUE;").is_ok());
    }

    #[test]
    fn refusals_name_the_key_at_fault() {
        let key = format!("AccountKey={KEY}");
        let cases = [
            ("", ConnectionStringError::Empty),
            (" ; ;", ConnectionStringError::Empty),
            (
                &format!("AccountName=acct;{KEY}"),
                ConnectionStringError::NotKeyValue { position: 2 },
            ),
            (
                &format!("AccountName=a;accountname=b;{key}"),
                ConnectionStringError::Repeated {
                    key: "accountname".into(),
                },
            ),
            (
                &format!("AccountNme=acct;{key}"),
                ConnectionStringError::UnknownKey {
                    key: "AccountNme".into(),
                },
            ),
            (&key, ConnectionStringError::Missing { key: "AccountName" }),
            (
                "AccountName=acct",
                ConnectionStringError::Missing { key: "AccountKey" },
            ),
            (
                "AccountName=acct;SharedAccessSignature=sv=2020&sig=abc",
                ConnectionStringError::SharedAccessSignature,
            ),
            (
                "UseDevelopmentStorage=true;AccountName=acct",
                ConnectionStringError::DevelopmentStorageWith {
                    key: "AccountName".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(refused(text), expected, "{text}");
        }
        for (text, key) in [
            ("AccountName=acct;AccountKey=not base64!", "AccountKey"),
            ("AccountName=acct;AccountKey=", "AccountKey"),
            (&format!("AccountName=ac/ct;{key}"), "AccountName"),
            (
                &format!("AccountName=acct;{key};DefaultEndpointsProtocol=ftp"),
                "DefaultEndpointsProtocol",
            ),
            (
                &format!("AccountName=acct;{key};BlobEndpoint=ftp://host/acct"),
                "BlobEndpoint",
            ),
            (
                &format!("AccountName=acct;{key};BlobEndpoint=http://host/acct?x=1"),
                "BlobEndpoint",
            ),
            (
                &format!("AccountName=acct;{key};BlobEndpoint=not a url"),
                "BlobEndpoint",
            ),
            (
                &format!("AccountName=acct;{key};EndpointSuffix=bad host"),
                "EndpointSuffix",
            ),
            ("UseDevelopmentStorage=yes", "UseDevelopmentStorage"),
        ] {
            match refused(text) {
                ConnectionStringError::Invalid { key: named, .. } => {
                    assert_eq!(named, key, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn no_error_or_debug_output_shows_the_key() {
        let secret_looking = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        let texts = [
            format!("AccountName=acct;{secret_looking}"),
            format!("AccountName=acct;AccountKey={secret_looking};AccountKey={secret_looking}"),
            format!("AccountName=acct;AccountKey={secret_looking}x"),
            format!("AccountName=a/b;AccountKey={secret_looking}"),
            format!("AccountKey={secret_looking}"),
        ];
        for text in &texts {
            let error = refused(text);
            for shown in [error.to_string(), format!("{error:?}")] {
                assert!(!shown.contains(secret_looking), "{shown}");
                assert!(!shown.contains("c2VjcmV0"), "{shown}");
            }
        }
        let parsed =
            ConnectionString::parse(&format!("AccountName=acct;AccountKey={secret_looking}"))
                .unwrap();
        let shown = format!("{parsed:?}");
        assert!(!shown.contains(secret_looking), "{shown}");
        assert!(!shown.contains("secret-key-material"), "{shown}");
        assert!(!shown.contains("115, 101, 99"), "{shown}");
    }
}
