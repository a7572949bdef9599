//! Times as they appear in a SAS (`st`, `se`, stored policies) and in Azure's error texts.

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike as _, Utc};

/// Parses an `st`/`se` value in one of the ISO-8601 UTC forms Azure accepts:
/// `YYYY-MM-DD`, `YYYY-MM-DDThh:mmZ`, `YYYY-MM-DDThh:mm:ssZ` or
/// `YYYY-MM-DDThh:mm:ss.fffffffZ` (1 to 7 fraction digits). A bare date means midnight UTC.
///
/// Only the checks use the parsed value: the string-to-sign always uses the text as sent.
pub fn parse_sas_time(value: &str) -> Option<DateTime<Utc>> {
    if let Some(date) = parse_date(value) {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    }
    let (date, time) = value.strip_suffix('Z')?.split_once('T')?;
    Some(
        parse_date(date)?
            .and_time(parse_time_of_day(time)?)
            .and_utc(),
    )
}

/// Formats a time the way the Python SDK writes `st`/`se` when minting
/// (`YYYY-MM-DDThh:mm:ssZ`, whole seconds).
pub fn format_sas_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 1123 form (`Mon, 25 Nov 2026 10:00:00 GMT`) used in AuthenticationErrorDetail.
pub(crate) fn rfc1123(time: &DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_date(value: &str) -> Option<NaiveDate> {
    // The length check keeps chrono from accepting unpadded forms such as `2024-1-2`.
    (value.len() == 10)
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
}

fn parse_time_of_day(value: &str) -> Option<NaiveTime> {
    let (whole, fraction) = match value.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (value, None),
    };
    let format = match (whole.len(), fraction) {
        (5, None) => "%H:%M",
        (8, _) => "%H:%M:%S",
        _ => return None,
    };
    let time = NaiveTime::parse_from_str(whole, format).ok()?;
    match fraction {
        None => Some(time),
        Some(digits) => time.with_nanosecond(fraction_nanos(digits)?),
    }
}

/// Nanoseconds for a fraction of 1 to 7 digits (Azure's precision is 100 ns).
fn fraction_nanos(digits: &str) -> Option<u32> {
    let valid = (1..=7).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    let value: u32 = digits.parse().ok().filter(|_| valid)?;
    Some(value * 10u32.pow(9 - digits.len() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(
            parse_sas_time("2015-05-22"),
            Some(utc(2015, 5, 22, 0, 0, 0))
        );
        assert_eq!(
            parse_sas_time("2015-05-22T21:21Z"),
            Some(utc(2015, 5, 22, 21, 21, 0))
        );
        assert_eq!(
            parse_sas_time("2015-05-22T21:21:29Z"),
            Some(utc(2015, 5, 22, 21, 21, 29))
        );
        let fine = parse_sas_time("2024-05-06T07:08:09.1234567Z").unwrap();
        assert_eq!(fine.timestamp_subsec_nanos(), 123_456_700);
        let coarse = parse_sas_time("2024-05-06T07:08:09.5Z").unwrap();
        assert_eq!(coarse.timestamp_subsec_nanos(), 500_000_000);
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "",
            "2015-5-22",
            "2015-05-22T21:21:29",
            "2015-05-22T21:21:29+00:00",
            "2015-05-22T21Z",
            "2015-05-22T21:21.5Z",
            "2015-05-22T21:21:29.12345678Z",
            "2015-05-22T21:21:29.Z",
            "2015-13-22",
            "yesterday",
        ] {
            assert_eq!(parse_sas_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_like_the_python_sdk_and_rfc1123() {
        let t = utc(2026, 11, 25, 10, 0, 0);
        assert_eq!(format_sas_time(t), "2026-11-25T10:00:00Z");
        assert_eq!(rfc1123(&t), "Wed, 25 Nov 2026 10:00:00 GMT");
    }
}
