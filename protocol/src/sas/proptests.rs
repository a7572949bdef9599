//! Generated-input tests of the SAS parsers: `st`/`se` times, query pairs and signatures.
//! Outside input must give a value or the area's error, never a panic, and a minted token
//! must verify while any one-character change to its `sig` must not.

use chrono::TimeZone;
use proptest::prelude::*;

use super::tests::{decode_query, key, DEV_ACCOUNT, DEV_KEY};
use super::*;

/// Times near the documented forms: digit runs of any length, signs, fractions and
/// separators in and out of place.
fn near_sas_time() -> impl Strategy<Value = String> {
    let digits = "[0-9]{0,9}";
    (
        digits,
        "[-+/]?",
        digits,
        "[-+/]?",
        digits,
        "[T ]?",
        digits,
        ":?",
        digits,
        "(:[0-9]{0,3})?",
        "(\\.[0-9]{0,12})?",
        "[Z+z]?",
    )
        .prop_map(|parts| {
            let (y, s1, mo, s2, d, t, h, c, mi, sec, frac, z) = parts;
            format!("{y}{s1}{mo}{s2}{d}{t}{h}{c}{mi}{sec}{frac}{z}")
        })
}

fn any_sas_time() -> impl Strategy<Value = String> {
    prop_oneof![near_sas_time(), any::<String>()]
}

/// Query keys: every one a SAS reads, in and out of case, and others.
fn query_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "sv", "sr", "sp", "st", "se", "si", "sip", "spr", "ses", "rscc", "rscd", "rsce",
            "rscl", "rsct", "sig", "SIG", "Sv", "snapshot",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "c",
            "b",
            "bs",
            "r",
            "racwd",
            "https",
            "https,http",
            "2026-10-06",
            "2015-04-05",
            "2012-02-12",
            "127.0.0.1",
            "10.0.0.1-10.0.0.9",
            "x",
        ])
        .prop_map(str::to_owned),
        near_sas_time(),
        any::<String>(),
    ]
}

fn request(now: DateTime<Utc>, https: bool) -> SasRequest<'static> {
    SasRequest {
        account: DEV_ACCOUNT,
        container: "backups",
        blob: Some("vm1/disk0.vhd"),
        snapshot: None,
        https,
        client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        now,
    }
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 to 2099-12-31, whole seconds: what `format_sas_time` writes.
    (946_684_800i64..4_102_444_799).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
}

fn permissions() -> impl Strategy<Value = Permissions> {
    prop::sample::subsequence(Permission::ALL.to_vec(), 1..=Permission::ALL.len())
        .prop_map(|chosen| chosen.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn sas_times_parse_or_are_refused_without_panicking(text in any_sas_time()) {
        if let Some(at) = parse_sas_time(&text) {
            // Every accepted form starts with the padded date it names.
            prop_assert_eq!(&text[..10], at.format("%Y-%m-%d").to_string());
        }
    }

    #[test]
    fn minted_times_parse_back(at in instant()) {
        prop_assert_eq!(parse_sas_time(&format_sas_time(at)), Some(at));
    }

    #[test]
    fn any_query_pairs_read_as_no_sas_a_token_or_a_sas_error(
        pairs in prop::collection::vec((query_key(), query_value()), 0..12),
        now in instant(),
    ) {
        let parsed = ServiceSas::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(Ok(sas)) = parsed {
            // Checking a token that is not signed by the key is refused, never a panic.
            let dev_key = key(DEV_KEY);
            let checked = sas.check(&request(now, false), &[&dev_key], |_| None);
            if let Err(error) = checked {
                prop_assert!(!error.error_code().is_empty());
                prop_assert!(!error.authentication_error_detail().is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn minted_tokens_verify_and_any_changed_signature_character_fails(
        permissions in permissions(),
        start_offset in 0i64..86_400,
        lifetime in 1i64..86_400 * 30,
        version in prop::sample::select(vec!["2026-10-06", "2020-12-06", "2018-11-09", "2015-04-05"]),
        https_only in any::<bool>(),
        position in any::<prop::sample::Index>(),
        replacement in prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".chars().collect::<Vec<_>>()
        ),
        now in instant(),
    ) {
        let start = now - chrono::TimeDelta::seconds(start_offset);
        let expiry = now + chrono::TimeDelta::seconds(lifetime);
        let mut builder = ServiceSasBuilder::for_blob("backups", "vm1/disk0.vhd", permissions, expiry)
            .start(start)
            .version(version);
        if https_only {
            builder = builder.protocol(SasProtocol::Https);
        }
        let dev_key = key(DEV_KEY);
        let token = builder.sign(DEV_ACCOUNT, &dev_key);
        let pairs = decode_query(&token.to_query_string());
        let parsed = ServiceSas::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("a minted token has a sig")
            .expect("a minted token is well formed");
        prop_assert_eq!(&parsed, &token);
        let granted = parsed.check(&request(now, true), &[&dev_key], |_| None);
        prop_assert!(granted.is_ok(), "{:?}", granted);

        let mut forged = parsed.clone();
        let i = position.index(forged.sig.len());
        prop_assume!(forged.sig.as_bytes()[i] != replacement as u8);
        forged.sig.replace_range(i..=i, &replacement.to_string());
        let refused = forged.check(&request(now, true), &[&dev_key], |_| None);
        prop_assert!(
            matches!(refused, Err(SasError::SignatureMismatch { .. })),
            "{:?}",
            refused
        );
    }
}
