//! Known-answer vectors of spec §1.3 (Dash `RequestAuthTests.cs` and the Python SDK) and
//! one test per refusal reason.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::TimeZone;
use percent_encoding::percent_decode_str;

use super::*;
use crate::signing::sign;

pub(crate) const DASH_PRIMARY_KEY: &str =
    "8jqRVtXUWiEthgIhR+dFwrB8gh3lFuquvJQ1v4eabObIj7okI1cZIuzY8zZHmEdpcC0f+XlUkbFwAhjTfyrLIg==";
pub(crate) const DASH_SECONDARY_KEY: &str =
    "Klari9ZbVdFQ35aULCfqqehCsd136amhusMHWynTpz2Pg+GyQMJw3GH177hvEQbaZ2oeRYk3jw0mIaV3ehNIRg==";
pub(crate) const DEV_ACCOUNT: &str = "devstoreaccount1";
pub(crate) const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub(crate) fn key(base64_key: &str) -> Vec<u8> {
    BASE64.decode(base64_key).unwrap()
}

pub(crate) fn sign_b64(base64_key: &str, string_to_sign: &str) -> String {
    sign(&key(base64_key), string_to_sign)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn parse(pairs: &[(&str, &str)]) -> ServiceSas {
    ServiceSas::from_query(pairs.iter().copied())
        .expect("token has a sig")
        .expect("token is well formed")
}

fn parse_err(pairs: &[(&str, &str)]) -> SasError {
    ServiceSas::from_query(pairs.iter().copied())
        .expect("token has a sig")
        .expect_err("token is malformed")
}

/// Parses a query string the way a server would: split, then percent-decode.
pub(crate) fn decode_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8().unwrap().into_owned();
    query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (decode(name), decode(value))
        })
        .collect()
}

fn no_policy(_: &str) -> Option<StoredPolicy> {
    panic!("no stored policy expected")
}

fn dash_request(blob: Option<&str>, now: DateTime<Utc>) -> SasRequest<'_> {
    SasRequest {
        account: "dashstorage1",
        container: "test",
        blob,
        snapshot: None,
        https: false,
        client_ip: LOOPBACK,
        now,
    }
}

/// Checks a Dash token against both Dash keys, as the Dash server did.
fn check_dash(sas: &ServiceSas, request: &SasRequest<'_>) -> Result<GrantedSas, SasError> {
    let (primary, secondary) = (key(DASH_PRIMARY_KEY), key(DASH_SECONDARY_KEY));
    sas.check(request, &[&primary, &secondary], no_policy)
}

// Vector A, sv=2014-02-14: "Blob with blob SAS based on secondary key".
const VECTOR_A: &[(&str, &str)] = &[
    ("sv", "2014-02-14"),
    ("sr", "b"),
    ("sig", "gXk4Bxt37rv65+wpEfuwa6BHz3Gk4hK6072dlUZiX0E="),
    ("st", "2015-05-22T21:21:29Z"),
    ("se", "2015-05-22T22:21:29Z"),
    ("sp", "r"),
];

fn vector_a_now() -> DateTime<Utc> {
    utc(2015, 5, 22, 21, 30, 0)
}

#[test]
fn vector_a_blob_sas_2014_02_14() {
    let sas = parse(VECTOR_A);
    let sts = sas.string_to_sign("dashstorage1", "test", Some("test.txt"), None);
    assert_eq!(
        sts,
        "r\n2015-05-22T21:21:29Z\n2015-05-22T22:21:29Z\n/dashstorage1/test/test.txt\n\n2014-02-14\n\n\n\n\n"
    );
    assert_eq!(sign_b64(DASH_SECONDARY_KEY, &sts), sas.sig);

    let granted = check_dash(&sas, &dash_request(Some("test.txt"), vector_a_now())).unwrap();
    assert_eq!(granted.resource, SignedResource::Blob);
    assert_eq!(granted.permissions, "r".parse().unwrap());
    assert_eq!(granted.start, Some(utc(2015, 5, 22, 21, 21, 29)));
    assert_eq!(granted.expiry, utc(2015, 5, 22, 22, 21, 29));
}

#[test]
fn vector_a_sibling_container_sas_primary_key() {
    let sas = parse(&[
        ("sv", "2014-02-14"),
        ("sr", "c"),
        ("sig", "SPMPjAghEhfEX1RvZLJPD2dQ++npH08vrVSUyWfdPwo="),
        ("st", "2015-05-22T20:44:13Z"),
        ("se", "2015-05-22T21:44:13Z"),
        ("sp", "r"),
    ]);
    let sts = sas.string_to_sign("dashstorage1", "test", Some("test.txt"), None);
    assert_eq!(
        sts,
        "r\n2015-05-22T20:44:13Z\n2015-05-22T21:44:13Z\n/dashstorage1/test\n\n2014-02-14\n\n\n\n\n"
    );
    assert_eq!(sign_b64(DASH_PRIMARY_KEY, &sts), sas.sig);
    // A container SAS is good for any blob in the container.
    let now = utc(2015, 5, 22, 21, 0, 0);
    for blob in ["test.txt", "test1.txt"] {
        assert!(check_dash(&sas, &dash_request(Some(blob), now)).is_ok());
    }
}

#[test]
fn vector_a_sibling_blob_sas_read_write() {
    let sas = parse(&[
        ("sv", "2014-02-14"),
        ("sr", "b"),
        ("sig", "EMWn11cUlm6BuJhWH+/GdINAwbGvwWm6LscP8ZADUqM="),
        ("st", "2015-05-22T21:24:37Z"),
        ("se", "2015-05-22T22:24:37Z"),
        ("sp", "rw"),
    ]);
    let sts = sas.string_to_sign("dashstorage1", "test", Some("test.txt"), None);
    assert_eq!(sign_b64(DASH_SECONDARY_KEY, &sts), sas.sig);
    let granted = check_dash(&sas, &dash_request(Some("test.txt"), vector_a_now())).unwrap();
    // Dash refuses DELETE with this token: it has no `d`.
    assert!(granted.permissions.allows_any(&[Permission::Write]));
    assert!(!granted.permissions.allows_any(&[Permission::Delete]));
}

#[test]
fn vector_a_sibling_container_sas_read_list() {
    let sas = parse(&[
        ("sv", "2014-02-14"),
        ("sr", "c"),
        ("sig", "KFHvXPWBWxYFWv6lEapqJO+Z6WTGrVBdEHVCK7t6SQ0="),
        ("st", "2015-05-22T21:28:32Z"),
        ("se", "2015-05-22T22:28:32Z"),
        ("sp", "rl"),
    ]);
    let sts = sas.string_to_sign("dashstorage1", "test", None, None);
    assert_eq!(sign_b64(DASH_SECONDARY_KEY, &sts), sas.sig);
    let granted = check_dash(&sas, &dash_request(None, vector_a_now())).unwrap();
    assert_eq!(granted.resource, SignedResource::Container);
    assert!(granted.permissions.contains(Permission::List));
}

/// Dash's "Older version" token: the 6-line 2012-02-12 layout (not in the spec's list, but
/// from the same test file and verified the same way).
#[test]
fn dash_blob_sas_2012_02_12() {
    let sas = parse(&[
        ("sv", "2012-02-12"),
        ("sr", "b"),
        ("sig", "i/ONHWNOfiwr0QBUaAnZ8ppyPKqsGtC+HbkBKcgRMFQ="),
        ("st", "2015-05-22T21:32:13Z"),
        ("se", "2015-05-22T22:32:13Z"),
        ("sp", "rwd"),
    ]);
    let sts = sas.string_to_sign("dashstorage1", "test", Some("test.txt"), None);
    assert_eq!(
        sts,
        "rwd\n2015-05-22T21:32:13Z\n2015-05-22T22:32:13Z\n/dashstorage1/test/test.txt\n\n2012-02-12"
    );
    let now = utc(2015, 5, 22, 22, 0, 0);
    assert!(check_dash(&sas, &dash_request(Some("test.txt"), now)).is_ok());
}

/// Dash's "Stored policy - attempt to override unset expiry time": the policy supplies only
/// the permission, the URL the times.
#[test]
fn dash_stored_policy_supplies_permission() {
    let sas = parse(&[
        ("sv", "2014-02-14"),
        ("sr", "b"),
        ("si", "testpolicy-nodates"),
        ("sig", "Fvdh21mrNY/BGaeVuVAFt0rdnabO6qAYWVWsiG3kTwQ="),
        ("st", "2015-05-22T22:53:24Z"),
        ("se", "2015-05-22T23:53:24Z"),
    ]);
    let secondary = key(DASH_SECONDARY_KEY);
    let request = dash_request(Some("test.txt"), utc(2015, 5, 22, 23, 0, 0));
    let granted = sas
        .check(&request, &[&secondary], |id| {
            assert_eq!(id, "testpolicy-nodates");
            Some(StoredPolicy {
                permission: Some("r".to_owned()),
                ..StoredPolicy::default()
            })
        })
        .unwrap();
    assert_eq!(granted.permissions, "r".parse().unwrap());
    assert_eq!(granted.expiry, utc(2015, 5, 22, 23, 53, 24));
}

#[test]
fn vector_b_container_sas_2015_04_05_with_ip_and_protocol() {
    let sas = parse(&[
        ("sv", "2015-04-05"),
        ("sr", "c"),
        ("si", ""),
        ("sig", "1urZ3PGr2r8p6aX8/DkUY2d/Gnjj+wx2DCmNRQEx+M0="),
        ("spr", "https,http"),
        ("sip", "127.0.0.1"),
        ("se", "2015-10-09T19:22:15Z"),
        ("sp", "rl"),
    ]);
    assert_eq!(sas.si, None, "an empty si is no stored policy");
    let sts = sas.string_to_sign("dashstorage1", "test", Some("test.txt"), None);
    assert_eq!(
        sts,
        "rl\n\n2015-10-09T19:22:15Z\n/blob/dashstorage1/test\n\n127.0.0.1\nhttps,http\n2015-04-05\n\n\n\n\n"
    );
    assert_eq!(sign_b64(DASH_SECONDARY_KEY, &sts), sas.sig);
    let request = dash_request(Some("test.txt"), utc(2015, 10, 9, 19, 0, 0));
    assert!(check_dash(&sas, &request).is_ok(), "https,http allows http");
}

const VECTOR_C_BLOB: &[(&str, &str)] = &[
    ("st", "2024-01-01T00:00:00Z"),
    ("se", "2030-01-01T00:00:00Z"),
    ("sp", "rcw"),
    ("spr", "https,http"),
    ("sv", "2026-10-06"),
    ("sr", "b"),
    ("sig", "CB6Wro4qxnvOnLZC+El3i5EvlMvZZLhZYzDNMvMeq3Q="),
];

fn dev_request<'a>(blob: Option<&'a str>, snapshot: Option<&'a str>) -> SasRequest<'a> {
    SasRequest {
        account: DEV_ACCOUNT,
        container: "backups",
        blob,
        snapshot,
        https: false,
        client_ip: LOOPBACK,
        now: utc(2026, 11, 25, 10, 0, 0),
    }
}

const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A container token for `backups` limited to `sip`.
fn ip_limited_token(sip: &str) -> ServiceSas {
    let mut sas = parse(&[
        ("sv", "2026-10-06"),
        ("sr", "c"),
        ("sp", "r"),
        ("se", "2030-01-01T00:00:00Z"),
        ("sip", sip),
        ("sig", "x"),
    ]);
    sas.sig = sign_b64(
        DEV_KEY,
        &sas.string_to_sign(DEV_ACCOUNT, "backups", None, None),
    );
    sas
}

#[test]
fn source_ip_ranges_are_inclusive_and_checked_after_the_signature() {
    let dev_key = key(DEV_KEY);
    let from = |ip: &str| SasRequest {
        client_ip: ip.parse().unwrap(),
        ..dev_request(None, None)
    };
    let range = ip_limited_token("10.0.0.1-10.0.0.9");
    for inside in ["10.0.0.1", "10.0.0.5", "10.0.0.9", "::ffff:10.0.0.5"] {
        assert!(
            range.check(&from(inside), &[&dev_key], no_policy).is_ok(),
            "{inside}"
        );
    }
    for outside in ["10.0.0.10", "127.0.0.1", "::1"] {
        let err = range
            .check(&from(outside), &[&dev_key], no_policy)
            .unwrap_err();
        assert_eq!(
            err.error_code(),
            "AuthorizationSourceIPMismatch",
            "{outside}"
        );
    }
    let single = ip_limited_token("127.0.0.1");
    assert!(single
        .check(&from("127.0.0.1"), &[&dev_key], no_policy)
        .is_ok());
    let bad = ip_limited_token("not-an-ip");
    assert!(matches!(
        bad.check(&from("127.0.0.1"), &[&dev_key], no_policy),
        Err(SasError::InvalidParameter { name: "sip", .. })
    ));
}

#[test]
fn vector_c_blob_sas_2026_10_06() {
    let sas = parse(VECTOR_C_BLOB);
    let sts = sas.string_to_sign(DEV_ACCOUNT, "backups", Some("vm1/disk0.vhd"), None);
    assert_eq!(
        sts,
        "rcw\n2024-01-01T00:00:00Z\n2030-01-01T00:00:00Z\n/blob/devstoreaccount1/backups/vm1/disk0.vhd\n\n\nhttps,http\n2026-10-06\nb\n\n\n\n\n\n\n"
    );
    assert_eq!(sign_b64(DEV_KEY, &sts), sas.sig);
    let dev_key = key(DEV_KEY);
    let granted = sas
        .check(
            &dev_request(Some("vm1/disk0.vhd"), None),
            &[&dev_key],
            no_policy,
        )
        .unwrap();
    assert!(granted
        .permissions
        .allows_any(&[Permission::Create, Permission::Write]));
}

#[test]
fn vector_c_snapshot_sas_signs_the_request_snapshot() {
    let snapshot = "2024-05-06T07:08:09.1234567Z";
    let sas = parse(&[
        ("se", "2030-01-01T00:00:00Z"),
        ("sp", "r"),
        ("sv", "2026-10-06"),
        ("sr", "bs"),
        ("sig", "pNawYxStR2s27Hj3/SgADye58SBNQnQBq4e8a1rgtog="),
    ]);
    let sts = sas.string_to_sign(
        DEV_ACCOUNT,
        "backups",
        Some("vm1/disk0.vhd"),
        Some(snapshot),
    );
    assert_eq!(
        sts,
        "r\n\n2030-01-01T00:00:00Z\n/blob/devstoreaccount1/backups/vm1/disk0.vhd\n\n\n\n2026-10-06\nbs\n2024-05-06T07:08:09.1234567Z\n\n\n\n\n\n"
    );
    assert_eq!(sign_b64(DEV_KEY, &sts), sas.sig);
    let dev_key = key(DEV_KEY);
    let on_snapshot = dev_request(Some("vm1/disk0.vhd"), Some(snapshot));
    assert!(sas.check(&on_snapshot, &[&dev_key], no_policy).is_ok());
    let other_snapshot = dev_request(Some("vm1/disk0.vhd"), Some("2024-05-06T07:08:10.0000000Z"));
    assert!(matches!(
        sas.check(&other_snapshot, &[&dev_key], no_policy),
        Err(SasError::SignatureMismatch { .. })
    ));
}

#[test]
fn vector_c_container_sas() {
    let sas = parse(&[
        ("se", "2030-01-01T00:00:00Z"),
        ("sp", "rl"),
        ("sv", "2026-10-06"),
        ("sr", "c"),
        ("sig", "OqYFP3IU7E5CC6zXOG7/97HvvQ0kVZXsoS+VJFxrviw="),
    ]);
    let sts = sas.string_to_sign(DEV_ACCOUNT, "backups", None, None);
    assert_eq!(
        sts,
        "rl\n\n2030-01-01T00:00:00Z\n/blob/devstoreaccount1/backups\n\n\n\n2026-10-06\nc\n\n\n\n\n\n\n"
    );
    assert_eq!(sign_b64(DEV_KEY, &sts), sas.sig);
}

#[test]
fn layout_line_counts_and_prefix_follow_the_signed_version() {
    let cases = [
        ("2009-09-19", 5, "/acct/c/b"),
        ("2012-02-12", 6, "/acct/c/b"),
        ("2014-02-14", 11, "/acct/c/b"),
        ("2015-02-21", 11, "/blob/acct/c/b"),
        ("2015-04-05", 13, "/blob/acct/c/b"),
        ("2018-03-28", 13, "/blob/acct/c/b"),
        ("2018-11-09", 15, "/blob/acct/c/b"),
        ("2020-10-02", 15, "/blob/acct/c/b"),
        ("2020-12-06", 16, "/blob/acct/c/b"),
    ];
    for (version, lines, canonical_resource) in cases {
        let sas = parse(&[
            ("sv", version),
            ("sr", "b"),
            ("sp", "r"),
            ("se", "2030-01-01"),
            ("sig", "x"),
        ]);
        let sts = sas.string_to_sign("acct", "c", Some("b"), Some("ignored for sr=b"));
        let fields: Vec<&str> = sts.split('\n').collect();
        assert_eq!(fields.len(), lines, "{version}: {sts:?}");
        assert_eq!(fields[3], canonical_resource, "{version}");
    }
}

#[test]
fn layout_2020_12_06_places_every_field() {
    let sas = parse(&[
        ("sv", "2020-12-06"),
        ("sr", "bs"),
        ("sp", "r"),
        ("st", "2024-01-01"),
        ("se", "2030-01-01"),
        ("si", "policy"),
        ("sip", "10.0.0.1-10.0.0.9"),
        ("spr", "https"),
        ("ses", "scope"),
        ("rscc", "no-cache"),
        ("rscd", "attachment"),
        ("rsce", "gzip"),
        ("rscl", "en"),
        ("rsct", "text/plain"),
        ("sig", "x"),
    ]);
    assert_eq!(
        sas.string_to_sign("acct", "c", Some("dir/b"), Some("snap")),
        "r\n2024-01-01\n2030-01-01\n/blob/acct/c/dir/b\npolicy\n10.0.0.1-10.0.0.9\nhttps\n2020-12-06\nbs\nsnap\nscope\nno-cache\nattachment\ngzip\nen\ntext/plain"
    );
}

#[test]
fn minting_reproduces_the_python_sdk_token() {
    let permissions = "rcw".parse().unwrap();
    let query = ServiceSasBuilder::for_blob(
        "backups",
        "vm1/disk0.vhd",
        permissions,
        utc(2030, 1, 1, 0, 0, 0),
    )
    .start(utc(2024, 1, 1, 0, 0, 0))
    .protocol(SasProtocol::HttpsAndHttp)
    .query_string(DEV_ACCOUNT, &key(DEV_KEY));
    assert_eq!(
        query,
        "st=2024-01-01T00%3A00%3A00Z&se=2030-01-01T00%3A00%3A00Z&sp=rcw&spr=https%2Chttp&sv=2026-10-06&sr=b&sig=CB6Wro4qxnvOnLZC%2BEl3i5EvlMvZZLhZYzDNMvMeq3Q%3D"
    );
}

#[test]
fn minted_tokens_round_trip_through_from_query_and_check() {
    let dev_key = key(DEV_KEY);
    let expiry = utc(2030, 1, 1, 0, 0, 0);
    let snapshot = "2024-05-06T07:08:09.1234567Z";
    let read: Permissions = "r".parse().unwrap();
    let cases = [
        (
            ServiceSasBuilder::for_container("backups", read, expiry),
            None,
            None,
        ),
        (
            ServiceSasBuilder::for_blob("backups", "vm1/a b+c.vhd", read, expiry)
                .protocol(SasProtocol::Https),
            Some("vm1/a b+c.vhd"),
            None,
        ),
        (
            ServiceSasBuilder::for_blob_snapshot(
                "backups",
                "vm1/disk0.vhd",
                snapshot,
                read,
                expiry,
            )
            .start(utc(2024, 1, 1, 0, 0, 0))
            .version("2018-11-09"),
            Some("vm1/disk0.vhd"),
            Some(snapshot),
        ),
    ];
    for (builder, blob, snapshot) in cases {
        let query = builder.query_string(DEV_ACCOUNT, &dev_key);
        assert!(!query.contains(':') && !query.contains('+'), "{query}");
        let pairs = decode_query(&query);
        let sas = ServiceSas::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap()
            .unwrap();
        let request = SasRequest {
            https: true,
            ..dev_request(blob, snapshot)
        };
        let granted = sas.check(&request, &[&dev_key], no_policy).unwrap();
        assert_eq!(granted.permissions, read);
        assert_eq!(granted.expiry, expiry);
    }
}

// ---- refusals -------------------------------------------------------------------------

#[test]
fn no_sig_means_sas_does_not_apply() {
    assert_eq!(
        ServiceSas::from_query([("sv", "2026-10-06"), ("sr", "b")]),
        None
    );
    assert_eq!(
        ServiceSas::from_query([("SIG", "abc")]),
        None,
        "keys are case-sensitive"
    );
}

#[test]
fn tampered_signature_is_refused_with_the_string_to_sign() {
    let mut sas = parse(VECTOR_A);
    sas.sig = "hXk4Bxt37rv65+wpEfuwa6BHz3Gk4hK6072dlUZiX0E=".to_owned();
    let err = check_dash(&sas, &dash_request(Some("test.txt"), vector_a_now())).unwrap_err();
    let expected_sts =
        "r\n2015-05-22T21:21:29Z\n2015-05-22T22:21:29Z\n/dashstorage1/test/test.txt\n\n2014-02-14\n\n\n\n\n";
    assert_eq!(
        err,
        SasError::SignatureMismatch {
            string_to_sign: expected_sts.to_owned()
        }
    );
    assert_eq!(
        err.authentication_error_detail(),
        format!("Signature did not match. String to sign used was {expected_sts}")
    );
    assert_eq!(err.error_code(), "AuthenticationFailed");
}

#[test]
fn blob_sas_is_refused_on_another_blob() {
    let sas = parse(VECTOR_A);
    let err = check_dash(&sas, &dash_request(Some("test1.txt"), vector_a_now())).unwrap_err();
    assert!(matches!(err, SasError::SignatureMismatch { .. }));
}

#[test]
fn secondary_key_is_accepted_and_primary_alone_is_not() {
    let sas = parse(VECTOR_A);
    let request = dash_request(Some("test.txt"), vector_a_now());
    let (primary, secondary) = (key(DASH_PRIMARY_KEY), key(DASH_SECONDARY_KEY));
    assert!(sas
        .check(&request, &[&primary, &secondary], no_policy)
        .is_ok());
    assert!(sas.check(&request, &[&primary], no_policy).is_err());
}

#[test]
fn expired_token_is_refused_with_rfc1123_times() {
    let sas = parse(VECTOR_A);
    let now = utc(2015, 5, 22, 22, 21, 30);
    let err = check_dash(&sas, &dash_request(Some("test.txt"), now)).unwrap_err();
    assert_eq!(
        err,
        SasError::OutsideTimeWindow {
            start: Some(utc(2015, 5, 22, 21, 21, 29)),
            expiry: utc(2015, 5, 22, 22, 21, 29),
            now,
        }
    );
    assert_eq!(
        err.authentication_error_detail(),
        "Signature not valid in the specified time frame: Start [Fri, 22 May 2015 21:21:29 GMT] - \
         Expiry [Fri, 22 May 2015 22:21:29 GMT] - Current [Fri, 22 May 2015 22:21:30 GMT]"
    );
}

#[test]
fn token_is_valid_at_its_exact_start_and_expiry() {
    let sas = parse(VECTOR_A);
    for now in [utc(2015, 5, 22, 21, 21, 29), utc(2015, 5, 22, 22, 21, 29)] {
        assert!(check_dash(&sas, &dash_request(Some("test.txt"), now)).is_ok());
    }
}

#[test]
fn not_yet_valid_token_is_refused() {
    let sas = parse(VECTOR_A);
    let now = utc(2015, 5, 22, 21, 21, 28);
    let err = check_dash(&sas, &dash_request(Some("test.txt"), now)).unwrap_err();
    assert!(matches!(err, SasError::OutsideTimeWindow { .. }));
}

#[test]
fn https_only_token_is_refused_over_http() {
    let dev_key = key(DEV_KEY);
    let sas = ServiceSasBuilder::for_blob(
        "backups",
        "b",
        "r".parse().unwrap(),
        utc(2030, 1, 1, 0, 0, 0),
    )
    .protocol(SasProtocol::Https)
    .sign(DEV_ACCOUNT, &dev_key);
    let over_http = dev_request(Some("b"), None);
    let err = sas.check(&over_http, &[&dev_key], no_policy).unwrap_err();
    assert_eq!(err, SasError::ProtocolMismatch);
    assert_eq!(err.error_code(), "AuthorizationProtocolMismatch");
    let over_https = SasRequest {
        https: true,
        ..over_http
    };
    assert!(sas.check(&over_https, &[&dev_key], no_policy).is_ok());
}

fn policy_token(extra: &[(&str, &str)]) -> ServiceSas {
    let mut pairs = vec![
        ("sv", "2026-10-06"),
        ("sr", "c"),
        ("si", "backup-readers"),
        ("sig", "x"),
    ];
    pairs.extend_from_slice(extra);
    let mut sas = parse(&pairs);
    sas.sig = sign_b64(
        DEV_KEY,
        &sas.string_to_sign(DEV_ACCOUNT, "backups", None, None),
    );
    sas
}

fn readers_policy() -> StoredPolicy {
    StoredPolicy {
        start: None,
        expiry: Some("2030-01-01T00:00:00Z".to_owned()),
        permission: Some("rl".to_owned()),
    }
}

#[test]
fn stored_policy_supplies_expiry_and_permission() {
    let sas = policy_token(&[]);
    let granted = sas
        .check(&dev_request(None, None), &[&key(DEV_KEY)], |_| {
            Some(readers_policy())
        })
        .unwrap();
    assert_eq!(granted.permissions, "rl".parse().unwrap());
    assert_eq!(granted.expiry, utc(2030, 1, 1, 0, 0, 0));
}

#[test]
fn unknown_stored_policy_is_refused() {
    let sas = policy_token(&[]);
    let err = sas
        .check(&dev_request(None, None), &[&key(DEV_KEY)], |_| None)
        .unwrap_err();
    assert_eq!(err, SasError::UnknownPolicy("backup-readers".to_owned()));
}

#[test]
fn field_in_both_url_and_policy_is_refused() {
    let sas = policy_token(&[("se", "2029-01-01")]);
    let err = sas
        .check(&dev_request(None, None), &[&key(DEV_KEY)], |_| {
            Some(readers_policy())
        })
        .unwrap_err();
    assert_eq!(err, SasError::PolicyConflict("se"));
}

#[test]
fn expiry_missing_from_url_and_policy_is_refused() {
    let sas = policy_token(&[]);
    let no_expiry = StoredPolicy {
        expiry: None,
        ..readers_policy()
    };
    let err = sas
        .check(&dev_request(None, None), &[&key(DEV_KEY)], |_| {
            Some(no_expiry)
        })
        .unwrap_err();
    assert_eq!(err, SasError::MissingParameter("se"));
    assert_eq!(
        err.authentication_error_detail(),
        "Signed expiry must be specified in signature or SAS identifier"
    );
}

#[test]
fn signature_is_checked_before_the_stored_policy() {
    let mut sas = policy_token(&[]);
    sas.sig = sign_b64(DEV_KEY, "something else");
    let err = sas
        .check(&dev_request(None, None), &[&key(DEV_KEY)], |_| {
            panic!("policy looked up before signature")
        })
        .unwrap_err();
    assert!(matches!(err, SasError::SignatureMismatch { .. }));
}

#[test]
fn bad_permission_letter_is_malformed() {
    let err = parse_err(&[
        ("sv", "2026-10-06"),
        ("sr", "b"),
        ("sp", "rz"),
        ("se", "2030-01-01"),
        ("sig", "x"),
    ]);
    assert_eq!(
        err,
        SasError::InvalidParameter {
            name: "sp",
            value: "rz".to_owned()
        }
    );
}

#[test]
fn missing_expiry_without_policy_is_malformed() {
    let err = parse_err(&[("sv", "2026-10-06"), ("sr", "b"), ("sp", "r"), ("sig", "x")]);
    assert_eq!(err, SasError::MissingParameter("se"));
}

#[test]
fn missing_permission_without_policy_is_malformed() {
    let err = parse_err(&[
        ("sv", "2026-10-06"),
        ("sr", "b"),
        ("se", "2030-01-01"),
        ("sig", "x"),
    ]);
    assert_eq!(err, SasError::MissingParameter("sp"));
}

#[test]
fn unknown_signed_resource_is_malformed() {
    for sr in ["d", "bv", "B", "container"] {
        let err = parse_err(&[
            ("sv", "2026-10-06"),
            ("sr", sr),
            ("sp", "r"),
            ("se", "2030-01-01"),
            ("sig", "x"),
        ]);
        assert!(
            matches!(err, SasError::InvalidParameter { name: "sr", .. }),
            "{sr}"
        );
    }
}

#[test]
fn snapshot_resource_needs_a_layout_that_signs_the_snapshot() {
    let err = parse_err(&[
        ("sv", "2018-03-28"),
        ("sr", "bs"),
        ("sp", "r"),
        ("se", "2030-01-01"),
        ("sig", "x"),
    ]);
    assert!(matches!(err, SasError::InvalidParameter { name: "sr", .. }));
}

#[test]
fn missing_or_bad_version_is_malformed() {
    let err = parse_err(&[("sr", "b"), ("sp", "r"), ("se", "2030-01-01"), ("sig", "x")]);
    assert_eq!(err, SasError::MissingParameter("sv"));
    assert_eq!(
        err.authentication_error_detail(),
        "sv is mandatory. Cannot be empty"
    );
    let err = parse_err(&[
        ("sv", "latest"),
        ("sr", "b"),
        ("sp", "r"),
        ("se", "2030-01-01"),
        ("sig", "x"),
    ]);
    assert!(matches!(err, SasError::InvalidParameter { name: "sv", .. }));
}

#[test]
fn unparseable_times_are_malformed() {
    let err = parse_err(&[
        ("sv", "2026-10-06"),
        ("sr", "b"),
        ("sp", "r"),
        ("se", "tomorrow"),
        ("sig", "x"),
    ]);
    assert!(matches!(err, SasError::InvalidParameter { name: "se", .. }));
    let err = parse_err(&[
        ("sv", "2026-10-06"),
        ("sr", "b"),
        ("sp", "r"),
        ("st", "2024-01-01 00:00:00"),
        ("se", "2030-01-01"),
        ("sig", "x"),
    ]);
    assert!(matches!(err, SasError::InvalidParameter { name: "st", .. }));
}

#[test]
fn unknown_protocol_is_malformed() {
    let err = parse_err(&[
        ("sv", "2026-10-06"),
        ("sr", "b"),
        ("sp", "r"),
        ("se", "2030-01-01"),
        ("spr", "http"),
        ("sig", "x"),
    ]);
    assert!(matches!(
        err,
        SasError::InvalidParameter { name: "spr", .. }
    ));
}
