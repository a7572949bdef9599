//! Query parameters of management requests: `api-version` (any is accepted), `$filter` in
//! the OData subset Azure Backup clients send (`key eq 'value' and ...`), and `$skipToken`
//! paging with the `nextLink` that carries it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

use super::error::ArmError;

/// Decoded query parameters, in order. `%24filter` and `$filter` are the same key, and
/// `+` is a space, as clients encode it either way.
#[derive(Debug, Clone, Default)]
pub struct ArmQuery(Vec<(String, String)>);

impl ArmQuery {
    pub fn parse(raw: Option<&str>) -> Self {
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        Self(
            raw.unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The value of `name`, matched case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn filter(&self) -> Result<Filter, ArmError> {
        self.get("$filter")
            .map_or(Ok(Filter::default()), Filter::parse)
    }

    pub fn skip_token(&self) -> Option<&str> {
        self.get("$skipToken")
    }

    /// The query with `$skipToken` set to `token`, encoded, for a `nextLink`.
    pub fn with_skip_token(&self, token: &str) -> String {
        let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        self.0
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skipToken"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(std::iter::once(("$skipToken", token)))
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A conjunction of `key eq 'value'` terms. Keys are matched case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<(String, String)>,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Self, ArmError> {
        let mut terms = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (key, after_key) = rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad_filter(text))?;
            let after_key = after_key.trim_start();
            let after_op = after_key
                .strip_prefix("eq")
                .filter(|r| r.starts_with(char::is_whitespace))
                .ok_or_else(|| bad_filter(text))?
                .trim_start();
            let (value, after_value) = if let Some(quoted) = after_op.strip_prefix('\'') {
                let end = quoted.find('\'').ok_or_else(|| bad_filter(text))?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                after_op
                    .split_once(char::is_whitespace)
                    .unwrap_or((after_op, ""))
            };
            terms.push((key.to_owned(), value.to_owned()));
            rest = after_value.trim_start();
            if rest.is_empty() {
                break;
            }
            rest = rest
                .strip_prefix("and")
                .filter(|r| r.starts_with(char::is_whitespace))
                .ok_or_else(|| bad_filter(text))?
                .trim_start();
        }
        Ok(Self { terms })
    }

    /// The value a key must equal, if the filter names it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every key the filter names, for rejecting keys an operation does not support.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|(k, _)| k.as_str())
    }
}

fn bad_filter(text: &str) -> ArmError {
    ArmError::InvalidQueryParameter(format!(
        "The $filter '{text}' is not valid: expected terms of the form key eq 'value' joined by 'and'."
    ))
}

/// Refuses `$filter` keys an operation does not support (400, naming the supported ones).
pub fn check_filter_keys(filter: &Filter, supported: &[&str]) -> Result<(), ArmError> {
    match filter
        .keys()
        .find(|k| !supported.iter().any(|s| s.eq_ignore_ascii_case(k)))
    {
        Some(unsupported) => Err(ArmError::InvalidQueryParameter(format!(
            "The $filter key '{unsupported}' is not supported here; supported keys: {}.",
            supported.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Whether a filter term, when present, equals `value` (any case).
pub fn filter_allows(filter: &Filter, key: &str, value: &str) -> bool {
    filter_allows_any(filter, key, &[value])
}

/// Whether a filter term, when present, equals one of `values` (any case).
pub fn filter_allows_any(filter: &Filter, key: &str, values: &[&str]) -> bool {
    filter
        .get(key)
        .is_none_or(|v| values.iter().any(|value| v.eq_ignore_ascii_case(value)))
}

/// A time in a `$filter`: the CLI's `2022-05-01 12:00:00 AM` (UTC), or ISO 8601 with or
/// without an offset (no offset means UTC), or a bare date (midnight UTC).
pub fn parse_filter_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %I:%M:%S %p",
        "%Y-%m-%d %I:%M %p",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

/// The time a `$filter` term gives, if present; 400 when it is not a time.
pub fn filter_time(filter: &Filter, key: &str) -> Result<Option<DateTime<Utc>>, ArmError> {
    filter
        .get(key)
        .map(|text| {
            parse_filter_time(text).ok_or_else(|| {
                ArmError::InvalidQueryParameter(format!(
                    "The $filter value {key} eq '{text}' is not a time: use \
                     'YYYY-MM-DD hh:mm:ss AM' or ISO 8601 (2022-05-01T00:00:00Z)."
                ))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_as_the_cli_encodes_them() {
        for raw in [
            "%24filter=backupManagementType+eq+%27AzureIaasVM%27+and+itemType+eq+%27VM%27",
            "$filter=backupManagementType%20eq%20'AzureIaasVM'%20and%20itemType%20eq%20'VM'",
        ] {
            let filter = ArmQuery::parse(Some(raw)).filter().unwrap();
            assert_eq!(filter.get("backupmanagementtype"), Some("AzureIaasVM"));
            assert_eq!(filter.get("itemType"), Some("VM"));
        }
    }

    #[test]
    fn quoted_values_keep_spaces() {
        let filter =
            Filter::parse("startTime eq '2022-05-01 12:00:00 AM' and status eq 'InProgress'")
                .unwrap();
        assert_eq!(filter.get("startTime"), Some("2022-05-01 12:00:00 AM"));
        assert_eq!(filter.get("status"), Some("InProgress"));
    }

    #[test]
    fn malformed_filters_are_refused() {
        for text in [
            "status",
            "status gt 'x'",
            "status eq 'x",
            "a eq 'b' or c eq 'd'",
        ] {
            assert!(Filter::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn filter_times_in_the_cli_format_and_iso_8601() {
        for (text, want) in [
            ("2022-05-01 12:00:00 AM", "2022-05-01T00:00:00Z"),
            ("2022-05-01 12:30:05 PM", "2022-05-01T12:30:05Z"),
            ("2022-05-01 01:00:00 pm", "2022-05-01T13:00:00Z"),
            ("2022-05-01T10:00:00Z", "2022-05-01T10:00:00Z"),
            ("2022-05-01T10:00:00+02:00", "2022-05-01T08:00:00Z"),
            ("2022-05-01T10:00:00.5", "2022-05-01T10:00:00.5Z"),
            ("2022-05-01", "2022-05-01T00:00:00Z"),
        ] {
            assert_eq!(
                parse_filter_time(text),
                Some(want.parse::<DateTime<Utc>>().unwrap()),
                "{text}"
            );
        }
        for text in ["", "yesterday", "2022-13-01", "01-05-2022"] {
            assert_eq!(parse_filter_time(text), None, "{text}");
        }
    }

    #[test]
    fn next_link_queries_replace_the_skip_token() {
        let query = ArmQuery::parse(Some("api-version=2026-07-01&$skipToken=old"));
        assert_eq!(
            query.with_skip_token("n/1"),
            "api%2Dversion=2026%2D07%2D01&%24skipToken=n%2F1"
        );
    }

    mod generated {
        use proptest::prelude::*;

        use super::*;
        use crate::generated_input::{near_filter, near_iso_instant, or_any};

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn any_filter_parses_or_is_an_invalid_query_parameter(text in or_any(near_filter())) {
                match Filter::parse(&text) {
                    Ok(filter) => prop_assert!(filter.keys().all(|k| !k.is_empty())),
                    Err(error) => prop_assert!(matches!(error, ArmError::InvalidQueryParameter(_))),
                }
            }

            #[test]
            fn any_filter_time_parses_or_is_refused(text in or_any(near_iso_instant())) {
                let _ = parse_filter_time(&text);
            }

            #[test]
            fn any_query_string_reads_and_reencodes(
                raw in or_any("([$%a-zA-Z0-9+'=]{0,10}&?){0,5}"),
                token in any::<String>(),
            ) {
                let query = ArmQuery::parse(Some(&raw));
                let _ = query.filter();
                // A nextLink's query reads back with the new token in place of any old one.
                let next = ArmQuery::parse(Some(&query.with_skip_token(&token)));
                prop_assert_eq!(next.skip_token(), Some(token.as_str()));
            }
        }
    }
}
