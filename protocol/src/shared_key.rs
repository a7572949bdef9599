//! Shared Key authorization (`Authorization: SharedKey {account}:{signature}`): the
//! string-to-sign as the Python SDK builds it, the server-side check, and a signing helper
//! for Rust clients (load generator, tests).
//!
//! String-to-sign: the verb and eleven standard headers, each followed by `\n`; one
//! `name:value\n` line per `x-ms-*` header; then `/{account}{path}` and one
//! `\n{name}:{value}` line per query parameter. With path-style URLs
//! (`/devstoreaccount1/container/blob`) the account therefore appears twice.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use crate::signing::{sign, signed_by_any};

/// The parts of an HTTP request that Shared Key signs.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    /// The HTTP verb, upper-case as sent.
    pub method: &'a str,
    /// Every request header, names in any case; a repeated header appears once per value.
    pub headers: &'a [(&'a str, &'a str)],
    /// The URL path as sent (still percent-encoded), including the account segment of
    /// path-style URLs.
    pub path: &'a str,
    /// The raw query string without `?` (empty if none).
    pub query: &'a str,
}

/// Why a Shared Key request was refused. `Display` is the AuthenticationErrorDetail text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SharedKeyError {
    /// The header's value is not echoed: it may carry a signature, and secrets never
    /// reach an error message.
    #[error("The Authorization header is not of the form 'SharedKey account:signature'.")]
    MalformedHeader,
    /// A scheme the simulator does not implement, such as `SharedKeyLite`.
    #[error("The authorization scheme '{0}' is not supported; use SharedKey.")]
    UnsupportedScheme(String),
    #[error("The account '{found}' in the Authorization header is not the account '{expected}' the request addresses.")]
    AccountMismatch { found: String, expected: String },
    /// Azure quotes the signature it received; vaultsim does not, since secrets never reach
    /// an error message. The string-to-sign holds no secret and is what a client needs.
    #[error("The MAC signature found in the HTTP request is not the same as any computed signature. Server used following string to sign: '{string_to_sign}'.")]
    SignatureMismatch { string_to_sign: String },
}

impl SharedKeyError {
    /// The text of the AuthenticationErrorDetail element.
    pub fn authentication_error_detail(&self) -> String {
        self.to_string()
    }

    /// The `x-ms-error-code` to answer with: `InvalidAuthenticationInfo` (status 400) when
    /// the header cannot be read, `AuthenticationFailed` (403) otherwise.
    pub fn error_code(&self) -> &'static str {
        match self {
            SharedKeyError::MalformedHeader | SharedKeyError::UnsupportedScheme(_) => {
                "InvalidAuthenticationInfo"
            }
            SharedKeyError::AccountMismatch { .. } | SharedKeyError::SignatureMismatch { .. } => {
                "AuthenticationFailed"
            }
        }
    }
}

/// The standard headers signed after the verb, in order. `Range` stays empty for the
/// Python SDK, which sends `x-ms-range` instead.
const STANDARD_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// One way of canonicalising a request. The default is the Python SDK's (and Azure's
/// documented) form; each flag is a deviation some client is known to sign, which Azure
/// (per Dash) also accepts, so the server does too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Canonicalization {
    /// Sign the percent-decoded path rather than the path as sent.
    decoded_path: bool,
    /// Sort `x-ms-*` headers by byte order (Go SDK) rather than the service collation.
    ordinal_header_order: bool,
    /// Sign `Content-Length: 0` as `0` rather than empty (clients of versions before
    /// 2015-02-21, e.g. the Dash vectors).
    literal_zero_length: bool,
}

impl Canonicalization {
    /// Every combination, the default first.
    fn all() -> impl Iterator<Item = Canonicalization> {
        (0..8u8).map(|bits| Canonicalization {
            decoded_path: bits & 1 != 0,
            ordinal_header_order: bits & 2 != 0,
            literal_zero_length: bits & 4 != 0,
        })
    }
}

/// The string-to-sign for `request` on `account`, exactly as the Python SDK builds it.
pub fn string_to_sign(account: &str, request: &SignedRequest<'_>) -> String {
    string_to_sign_as(account, request, Canonicalization::default())
}

/// The `Authorization` header value for a client request: `SharedKey {account}:{sig}`.
/// `account_key` is already Base64-decoded.
pub fn authorization_header(
    account: &str,
    account_key: &[u8],
    request: &SignedRequest<'_>,
) -> String {
    let signature = sign(account_key, &string_to_sign(account, request));
    format!("SharedKey {account}:{signature}")
}

/// Checks an `Authorization` header value against a request addressed to `account`,
/// trying each key (key1, then key2) and every known client canonicalisation.
pub fn check(
    authorization: &str,
    account: &str,
    request: &SignedRequest<'_>,
    keys: &[&[u8]],
) -> Result<(), SharedKeyError> {
    let (found_account, signature) = parse_authorization(authorization)?;
    if found_account != account {
        return Err(SharedKeyError::AccountMismatch {
            found: found_account.to_owned(),
            expected: account.to_owned(),
        });
    }
    let signed = Canonicalization::all()
        .any(|form| signed_by_any(keys, &string_to_sign_as(account, request, form), signature));
    if signed {
        return Ok(());
    }
    Err(SharedKeyError::SignatureMismatch {
        string_to_sign: string_to_sign(account, request),
    })
}

/// Splits `SharedKey account:signature` into account and signature.
fn parse_authorization(authorization: &str) -> Result<(&str, &str), SharedKeyError> {
    let malformed = || SharedKeyError::MalformedHeader;
    let (scheme, credentials) = authorization.trim().split_once(' ').ok_or_else(malformed)?;
    if scheme != "SharedKey" {
        return Err(SharedKeyError::UnsupportedScheme(scheme.to_owned()));
    }
    match credentials.trim().split_once(':') {
        Some((account, signature)) if !account.is_empty() && !signature.is_empty() => {
            Ok((account, signature))
        }
        _ => Err(malformed()),
    }
}

fn string_to_sign_as(account: &str, request: &SignedRequest<'_>, form: Canonicalization) -> String {
    let mut sts = format!("{}\n", request.method);
    for name in STANDARD_HEADERS {
        sts.push_str(&standard_header(request.headers, name, form));
        sts.push('\n');
    }
    sts.push_str(&canonicalized_headers(request.headers, form));
    sts.push_str(&canonicalized_resource(account, request, form));
    sts
}

fn standard_header(headers: &[(&str, &str)], name: &str, form: Canonicalization) -> String {
    let value = header_value(headers, |candidate| candidate.eq_ignore_ascii_case(name));
    if name == "content-length" && value == "0" && !form.literal_zero_length {
        return String::new();
    }
    value
}

/// All values of the matching headers, trimmed, joined with `,` (the HTTP meaning of a
/// repeated header); empty if there are none.
fn header_value(headers: &[(&str, &str)], mut matches: impl FnMut(&str) -> bool) -> String {
    headers
        .iter()
        .filter(|(name, _)| matches(name))
        .map(|(_, value)| value.trim())
        .collect::<Vec<_>>()
        .join(",")
}

/// `name:value\n` for each `x-ms-*` header, names lower-cased.
fn canonicalized_headers(headers: &[(&str, &str)], form: Canonicalization) -> String {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| name.starts_with("x-ms-"))
        .collect();
    if form.ordinal_header_order {
        names.sort();
    } else {
        names.sort_by_cached_key(|name| service_collation_key(name));
    }
    names.dedup();
    names
        .iter()
        .map(|name| {
            let value = header_value(headers, |candidate| candidate.eq_ignore_ascii_case(name));
            format!("{name}:{value}\n")
        })
        .collect()
}

/// Sort key reproducing the header-name collation of the service, which the Python SDK
/// emulates with weight tables (for lower-case ASCII names): first compare the characters
/// that carry weight (`-`, `'` and, in the SDK's table, `0` carry none; punctuation sorts
/// before digits before letters); on a tie, compare position by position where the
/// ignored `'`/`-` sit, an ordinary character sorting before the end of the name, and that
/// before `'`, before `-`. So `x-ms-meta-ab` sorts before `x-ms-meta-a-z`.
fn service_collation_key(name: &str) -> (Vec<u16>, Vec<u8>) {
    const PUNCTUATION_IN_WEIGHT_ORDER: &str = "!#$%&*.^_`|~+";
    let weight = |c: char| -> Option<u16> {
        match c {
            'a'..='z' => Some(200 + (c as u16 - 'a' as u16)),
            '1'..='9' => Some(100 + (c as u16 - '0' as u16)),
            _ => PUNCTUATION_IN_WEIGHT_ORDER
                .find(c)
                .map(|index| 1 + index as u16),
        }
    };
    let primary = name.chars().filter_map(weight).collect();
    let tie_break = name
        .chars()
        .map(|c| match c {
            '\'' => 2,
            '-' => 3,
            _ => 0,
        })
        .chain([1]) // the end of the name
        .collect();
    (primary, tie_break)
}

/// `/{account}{path}` then `\n{name}:{value}` per query parameter: names lower-cased,
/// names and values percent-decoded, sorted by name; a repeated parameter's values are
/// sorted and joined with `,` (as the REST docs specify).
fn canonicalized_resource(
    account: &str,
    request: &SignedRequest<'_>,
    form: Canonicalization,
) -> String {
    let path = if form.decoded_path {
        decode(request.path)
    } else {
        request.path.to_owned()
    };
    let mut parameters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in request.query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        parameters
            .entry(decode(name).to_lowercase())
            .or_default()
            .push(decode(value));
    }
    let query: String = parameters
        .into_iter()
        .map(|(name, mut values)| {
            values.sort();
            format!("\n{name}:{}", values.join(","))
        })
        .collect();
    format!("/{account}{path}{query}")
}

/// Percent-decodes without turning `+` into a space, as Python's `unquote` does.
fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sas::tests::{
        key, sign_b64, DASH_PRIMARY_KEY, DASH_SECONDARY_KEY, DEV_ACCOUNT, DEV_KEY,
    };

    /// Dash `SignatureValidationTests.cs`, case 3: a .NET Storage client PUT.
    const DASH_CASE_3_HEADERS: &[(&str, &str)] = &[
        (
            "User-Agent",
            "WA-Storage/4.3.0 (.NET CLR 4.0.30319.34014; Win32NT 6.2.9200.0)",
        ),
        ("Content-Length", "423"),
        ("Content-MD5", "LHmMkMS8mTXh0bRP4e4Ptw=="),
        ("x-ms-version", "2014-02-14"),
        ("x-ms-blob-type", "BlockBlob"),
        (
            "x-ms-client-request-id",
            "d0863cd4-ae43-4dd4-aa27-eff01d30b5cf",
        ),
        ("x-ms-date", "Thu, 30 Oct 2014 20:15:46 GMT"),
        ("If-Modified-Since", "Thu, 30 Oct 2014 20:15:41 GMT"),
        ("Connection", "Keep-Alive"),
        ("Expect", "100-continue"),
        ("Host", "dashstorage1.blob.core.windows.net"),
    ];

    #[test]
    fn dash_case_3_put_blob() {
        let request = SignedRequest {
            method: "PUT",
            headers: DASH_CASE_3_HEADERS,
            path: "/test/test.txt",
            query: "",
        };
        let sts = string_to_sign("dashstorage1", &request);
        assert_eq!(
            sts,
            "PUT\n\n\n423\nLHmMkMS8mTXh0bRP4e4Ptw==\n\n\nThu, 30 Oct 2014 20:15:41 GMT\n\n\n\n\n\
             x-ms-blob-type:BlockBlob\nx-ms-client-request-id:d0863cd4-ae43-4dd4-aa27-eff01d30b5cf\n\
             x-ms-date:Thu, 30 Oct 2014 20:15:46 GMT\nx-ms-version:2014-02-14\n/dashstorage1/test/test.txt"
        );
        assert_eq!(
            sign_b64(DASH_PRIMARY_KEY, &sts),
            "21rAYhnoRQQu6MmxXj6W5Rx3YWI8OCjO50CNNniohAA="
        );
        let header = authorization_header("dashstorage1", &key(DASH_PRIMARY_KEY), &request);
        assert_eq!(
            header,
            "SharedKey dashstorage1:21rAYhnoRQQu6MmxXj6W5Rx3YWI8OCjO50CNNniohAA="
        );
    }

    /// Dash case 5 (inputs from `SignatureValidationTests.cs` at commit 5d5a40f): a List
    /// Blobs GET with `Content-Length: 0` and `include` given twice, in two cases.
    #[test]
    fn dash_case_5_list_blobs_with_repeated_query_parameter() {
        let headers = [
            (
                "User-Agent",
                "WA-Storage/4.3.0 (.NET CLR 4.0.30319.34014; Win32NT 6.2.9200.0)",
            ),
            ("x-ms-version", "2014-02-14"),
            (
                "x-ms-client-request-id",
                "9e51b5a3-2dff-4fb2-98f8-c7cfe05a223a",
            ),
            ("x-ms-date", "Thu, 30 Oct 2014 20:55:13 GMT"),
            ("Content-Length", "0"),
            ("Connection", "Keep-Alive"),
            ("Expect", "100-continue"),
            ("Host", "dashstorage1.blob.core.windows.net"),
        ];
        let request = SignedRequest {
            method: "GET",
            headers: &headers,
            path: "/test",
            query: "restype=container&comp=list&prefix=te&include=snapshots&INCLUDE=uncommittedblobs%2Cmetadata%2Ccopy",
        };
        let sts = string_to_sign("dashstorage1", &request);
        assert_eq!(
            sts,
            "GET\n\n\n\n\n\n\n\n\n\n\n\n\
             x-ms-client-request-id:9e51b5a3-2dff-4fb2-98f8-c7cfe05a223a\n\
             x-ms-date:Thu, 30 Oct 2014 20:55:13 GMT\nx-ms-version:2014-02-14\n\
             /dashstorage1/test\ncomp:list\ninclude:snapshots,uncommittedblobs,metadata,copy\nprefix:te\nrestype:container"
        );
        assert_eq!(
            sign_b64(DASH_PRIMARY_KEY, &sts),
            "C0mPsPAiMs+4qlDQXGXMXpRGUkQgyMLzOHBiCmoC4LE="
        );
    }

    /// Dash `RequestAuthTests.cs` "Encoded URI": one client signs the path as sent, another
    /// the decoded path; both with a literal `Content-Length: 0` (x-ms-version 2014-02-14).
    #[test]
    fn dash_encoded_and_decoded_paths_are_both_accepted() {
        let headers = [
            ("x-ms-version", "2014-02-14"),
            (
                "x-ms-client-request-id",
                "adfb540e-1050-4c9b-a53a-be6cb71688d3",
            ),
            ("x-ms-date", "Fri, 31 Oct 2014 22:50:34 GMT"),
            ("Content-Length", "0"),
        ];
        let request = SignedRequest {
            method: "PUT",
            headers: &headers,
            path: "/test%20encoded",
            query: "",
        };
        let (primary, secondary) = (key(DASH_PRIMARY_KEY), key(DASH_SECONDARY_KEY));
        for signature in [
            "CVlJHA7FdyqJ75pPkufGavOsXEtzcr5RAWd3R5fEolA=",
            "w6D7S11x58ueIvRKEWZGe1MRVvMkQFO+18wPlfm6f+A=",
        ] {
            let authorization = format!("SharedKey dashstorage1:{signature}");
            assert_eq!(
                check(
                    &authorization,
                    "dashstorage1",
                    &request,
                    &[&primary, &secondary]
                ),
                Ok(())
            );
        }
    }

    fn dev_put<'a>(headers: &'a [(&'a str, &'a str)]) -> SignedRequest<'a> {
        SignedRequest {
            method: "PUT",
            headers,
            path: "/devstoreaccount1/backups/vm1/disk%200.vhd",
            query: "comp=page",
        }
    }

    const DEV_HEADERS: &[(&str, &str)] = &[
        ("Content-Length", "512"),
        ("x-ms-date", "Wed, 25 Nov 2026 10:00:00 GMT"),
        ("x-ms-version", "2026-10-06"),
        ("x-ms-range", "bytes=0-511"),
        ("x-ms-page-write", "update"),
    ];

    #[test]
    fn path_style_url_signs_the_account_twice() {
        let sts = string_to_sign(DEV_ACCOUNT, &dev_put(DEV_HEADERS));
        assert!(
            sts.ends_with(
                "\n/devstoreaccount1/devstoreaccount1/backups/vm1/disk%200.vhd\ncomp:page"
            ),
            "{sts}"
        );
    }

    #[test]
    fn signed_requests_pass_and_key2_is_accepted() {
        let (key1, key2) = (key(DEV_KEY), key(DASH_SECONDARY_KEY));
        let request = dev_put(DEV_HEADERS);
        let authorization = authorization_header(DEV_ACCOUNT, &key2, &request);
        assert_eq!(
            check(&authorization, DEV_ACCOUNT, &request, &[&key1, &key2]),
            Ok(())
        );
        assert!(check(&authorization, DEV_ACCOUNT, &request, &[&key1]).is_err());
    }

    #[test]
    fn canonicalization_rules() {
        let headers = [
            ("Content-Length", "0"),
            ("X-MS-Date", "  Wed, 25 Nov 2026 10:00:00 GMT "),
            ("x-ms-meta-a-z", "1"),
            ("x-ms-meta-ab", "2"),
            ("x-ms-version", "2026-10-06"),
            ("Range", "bytes=0-1"),
        ];
        let request = SignedRequest {
            method: "GET",
            headers: &headers,
            path: "/acct/c/b",
            query: "snapshot=2024-05-06T07%3A08%3A09.1234567Z&Timeout=30&flag",
        };
        assert_eq!(
            string_to_sign("acct", &request),
            "GET\n\n\n\n\n\n\n\n\n\n\nbytes=0-1\n\
             x-ms-date:Wed, 25 Nov 2026 10:00:00 GMT\nx-ms-meta-ab:2\nx-ms-meta-a-z:1\nx-ms-version:2026-10-06\n\
             /acct/acct/c/b\nflag:\nsnapshot:2024-05-06T07:08:09.1234567Z\ntimeout:30"
        );
    }

    #[test]
    fn service_collation_matches_the_python_sdk_order() {
        let mut names = vec![
            "x-ms-meta-a-z",
            "x-ms-meta-ab",
            "x-ms-meta-a",
            "x-ms-date",
            "x-ms-meta-b",
        ];
        names.sort_by_key(|name| service_collation_key(name));
        assert_eq!(
            names,
            [
                "x-ms-date",
                "x-ms-meta-a",
                "x-ms-meta-ab",
                "x-ms-meta-a-z",
                "x-ms-meta-b"
            ]
        );
    }

    #[test]
    fn byte_order_header_sorting_is_tolerated() {
        let headers = [("x-ms-meta-ab", "2"), ("x-ms-meta-a-z", "1")];
        let request = SignedRequest {
            method: "GET",
            headers: &headers,
            path: "/acct/c/b",
            query: "",
        };
        let byte_order_sts =
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-meta-a-z:1\nx-ms-meta-ab:2\n/acct/acct/c/b";
        assert_ne!(string_to_sign("acct", &request), byte_order_sts);
        let authorization = format!("SharedKey acct:{}", sign_b64(DEV_KEY, byte_order_sts));
        assert_eq!(
            check(&authorization, "acct", &request, &[&key(DEV_KEY)]),
            Ok(())
        );
    }

    #[test]
    fn tampered_signature_is_refused_with_the_string_to_sign() {
        let request = dev_put(DEV_HEADERS);
        let bad = "SharedKey devstoreaccount1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let err = check(bad, DEV_ACCOUNT, &request, &[&key(DEV_KEY)]).unwrap_err();
        let sts = string_to_sign(DEV_ACCOUNT, &request);
        assert_eq!(
            err.authentication_error_detail(),
            format!(
                "The MAC signature found in the HTTP request is not the same as any computed \
                 signature. Server used following string to sign: '{sts}'."
            )
        );
        assert_eq!(err.error_code(), "AuthenticationFailed");
    }

    #[test]
    fn header_for_another_account_is_refused() {
        let request = dev_put(DEV_HEADERS);
        let authorization = authorization_header("otheraccount", &key(DEV_KEY), &request);
        assert_eq!(
            check(&authorization, DEV_ACCOUNT, &request, &[&key(DEV_KEY)]),
            Err(SharedKeyError::AccountMismatch {
                found: "otheraccount".to_owned(),
                expected: DEV_ACCOUNT.to_owned()
            })
        );
    }

    #[test]
    fn unreadable_headers_are_refused() {
        let request = dev_put(DEV_HEADERS);
        let keys: &[&[u8]] = &[b"k"];
        for malformed in [
            "SharedKey",
            "SharedKey devstoreaccount1",
            "SharedKey :sig",
            "SharedKey acct:",
        ] {
            let err = check(malformed, DEV_ACCOUNT, &request, keys).unwrap_err();
            assert!(
                matches!(err, SharedKeyError::MalformedHeader),
                "{malformed}"
            );
            assert_eq!(err.error_code(), "InvalidAuthenticationInfo");
        }
        assert_eq!(
            check(
                "SharedKeyLite devstoreaccount1:sig",
                DEV_ACCOUNT,
                &request,
                keys
            ),
            Err(SharedKeyError::UnsupportedScheme(
                "SharedKeyLite".to_owned()
            ))
        );
        assert_eq!(
            check("Bearer token", DEV_ACCOUNT, &request, keys),
            Err(SharedKeyError::UnsupportedScheme("Bearer".to_owned()))
        );
    }

    mod generated {
        //! Generated requests and `Authorization` values: never a panic, a signed request
        //! verifies, and any one-character change to its signature is refused.

        use proptest::prelude::*;

        use super::*;

        fn header_name() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "x-ms-date",
                    "x-ms-version",
                    "X-MS-Meta-A",
                    "Content-Length",
                    "Content-Type",
                    "Range",
                    "If-Match",
                    "x-ms-range",
                    "Content-MD5",
                ])
                .prop_map(str::to_owned),
                "[ -~]{0,12}",
            ]
        }

        fn request_parts() -> impl Strategy<Value = (String, Vec<(String, String)>, String, String)>
        {
            (
                prop::sample::select(vec!["GET", "PUT", "HEAD", "DELETE", "post"])
                    .prop_map(str::to_owned),
                prop::collection::vec((header_name(), any::<String>()), 0..6),
                prop_oneof!["(/[-a-zA-Z0-9%._ ]{0,10}){0,4}", any::<String>()],
                prop_oneof!["([a-z]{1,6}=[-a-zA-Z0-9%,:]{0,8}&?){0,4}", any::<String>()],
            )
        }

        fn authorization() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                (
                    "(SharedKey|SharedKeyLite|Bearer| )?",
                    "[ ]{0,2}",
                    "[a-z0-9]{0,16}",
                    ":?",
                    "[A-Za-z0-9+/=]{0,48}"
                )
                    .prop_map(|(s, sp, a, c, sig)| format!("{s}{sp}{a}{c}{sig}")),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

            #[test]
            fn any_authorization_is_checked_or_refused_without_panicking(
                authorization in authorization(),
                (method, headers, path, query) in request_parts(),
            ) {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let request = SignedRequest { method: &method, headers: &headers, path: &path, query: &query };
                let dev_key = key(DEV_KEY);
                if let Err(error) = check(&authorization, DEV_ACCOUNT, &request, &[&dev_key]) {
                    prop_assert!(!error.error_code().is_empty());
                    prop_assert!(!error.authentication_error_detail().is_empty());
                }
            }

            #[test]
            fn signed_requests_verify_and_any_changed_signature_character_fails(
                (method, headers, path, query) in request_parts(),
                position in any::<prop::sample::Index>(),
                replacement in prop::sample::select(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".chars().collect::<Vec<_>>()
                ),
            ) {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let request = SignedRequest { method: &method, headers: &headers, path: &path, query: &query };
                let dev_key = key(DEV_KEY);
                let header = authorization_header(DEV_ACCOUNT, &dev_key, &request);
                prop_assert_eq!(check(&header, DEV_ACCOUNT, &request, &[&dev_key]), Ok(()));

                let signature_start = header.find(':').expect("account:signature") + 1;
                let i = signature_start + position.index(header.len() - signature_start);
                prop_assume!(header.as_bytes()[i] != replacement as u8);
                let mut forged = header.clone();
                forged.replace_range(i..=i, &replacement.to_string());
                let refused = check(&forged, DEV_ACCOUNT, &request, &[&dev_key]);
                prop_assert!(
                    matches!(refused, Err(SharedKeyError::SignatureMismatch { .. })),
                    "{:?}",
                    refused
                );
            }
        }
    }
}
