//! Date functions: `utcNow`, `dateTimeAdd`, `dateTimeFromEpoch`, `dateTimeToEpoch`.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::super::{ExpressionError, Scope};
use super::datetime_format::format_datetime;
use super::Args;

/// `utcNow()`'s format when none is given (ARM's documentation).
const DEFAULT_NOW_FORMAT: &str = "yyyyMMddTHHmmssZ";

/// How a computed date-time prints when no format is given: ISO 8601, fraction only when
/// there is one, `Z` (Newtonsoft's date format, which ARM's results pass through). ARM's
/// documentation: `dateTimeAdd('2023-01-01 00:00:00Z', 'P1Y')` is `2024-01-01T00:00:00Z`;
/// Bicep's baseline: `dateTimeAdd(dateTimeFromEpoch(1680224438), 'P1D')` is
/// `2023-04-01T01:00:38Z`.
const ISO_FORMAT: &str = "yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFFK";

pub(super) fn call(
    name: &str,
    args: &Args,
    scope: &dyn Scope,
) -> Option<Result<Value, ExpressionError>> {
    Some(match name {
        "utcnow" => utc_now(args, scope),
        "datetimeadd" => date_time_add(args),
        "datetimefromepoch" => args
            .exactly(1)
            .and_then(|()| args.int(0))
            .and_then(|seconds| {
                DateTime::<Utc>::from_timestamp(seconds, 0)
                    .ok_or_else(|| {
                        args.error(format!("the epoch time '{seconds}' is out of range"))
                    })
                    .and_then(|time| formatted(args, &time, ISO_FORMAT))
            }),
        "datetimetoepoch" => args
            .exactly(1)
            .and_then(|()| args.string(0))
            .and_then(|text| parse_datetime(text).ok_or_else(|| not_a_datetime(args, text)))
            .map(|time| Value::from(time.timestamp())),
        _ => return None,
    })
}

fn formatted(args: &Args, time: &DateTime<Utc>, format: &str) -> Result<Value, ExpressionError> {
    format_datetime(time, format)
        .map(Value::String)
        .map_err(|message| args.error(message))
}

fn not_a_datetime(args: &Args, text: &str) -> ExpressionError {
    args.error(format!(
        "the value '{text}' is not a valid ISO 8601 date and time"
    ))
}

/// `utcNow([format])`: the scope decides whether it may be called here.
fn utc_now(args: &Args, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    args.between(0, 1)?;
    let format = if args.len() == 1 {
        args.string(0)?
    } else {
        DEFAULT_NOW_FORMAT
    };
    let now = scope.utc_now()?;
    formatted(args, &now, format)
}

/// `dateTimeAdd(base, duration, [format])`.
fn date_time_add(args: &Args) -> Result<Value, ExpressionError> {
    args.between(2, 3)?;
    let base_text = args.string(0)?;
    let base = parse_datetime(base_text).ok_or_else(|| not_a_datetime(args, base_text))?;
    let duration_text = args.string(1)?;
    let duration = parse_duration(duration_text).ok_or_else(|| {
        args.error(format!(
            "the value '{duration_text}' is not a valid ISO 8601 duration"
        ))
    })?;
    let result = base
        .checked_add_signed(duration)
        .ok_or_else(|| args.error("the resulting date and time is out of range"))?;
    let format = if args.len() == 3 {
        args.string(2)?
    } else {
        ISO_FORMAT
    };
    formatted(args, &result, format)
}

/// An ISO 8601 date-time: `2020-04-07T14:53:14Z`, with a space for the `T` (`utcNow('u')`),
/// with a fraction, an offset (converted to UTC) or no zone (taken as UTC), or a date alone.
pub(crate) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(time) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(time.with_timezone(&Utc));
    }
    let without_zone = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .unwrap_or(text);
    for pattern in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(time) = NaiveDateTime::parse_from_str(without_zone, pattern) {
            return Some(time.and_utc());
        }
    }
    NaiveDate::parse_from_str(without_zone, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
}

/// An ISO 8601 duration: `[-]P[nY][nM][nW][nD][T[nH][nM][nS]]`, seconds may have a fraction.
/// A year is 365 days and a month 30 (ARM's documentation of `dateTimeAdd`).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let mut total = Duration::zero();
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            'T' | 't' if number.is_empty() && !in_time => in_time = true,
            unit => {
                if number.is_empty() {
                    return None;
                }
                let part = unit_duration(&number, unit.to_ascii_uppercase(), in_time)?;
                total = total.checked_add(&part)?;
                number.clear();
                any = true;
            }
        }
    }
    if !number.is_empty() || !any {
        return None;
    }
    Some(if negative { -total } else { total })
}

/// `number` of `unit`; only seconds may have a fraction.
fn unit_duration(number: &str, unit: char, in_time: bool) -> Option<Duration> {
    let seconds_per_unit: i64 = match (unit, in_time) {
        ('Y', false) => 365 * 86_400,
        ('M', false) => 30 * 86_400,
        ('W', false) => 7 * 86_400,
        ('D', false) => 86_400,
        ('H', true) => 3_600,
        ('M', true) => 60,
        ('S', true) => 1,
        _ => return None,
    };
    if unit == 'S' {
        let seconds: f64 = number.parse().ok()?;
        let nanos = (seconds * 1e9).round();
        if !nanos.is_finite() || nanos > i64::MAX as f64 {
            return None;
        }
        return Some(Duration::nanoseconds(nanos as i64));
    }
    let count: i64 = number.parse().ok()?;
    Duration::try_seconds(count.checked_mul(seconds_per_unit)?)
}

#[cfg(test)]
mod tests {
    use super::super::super::test_scope::{eval, eval_err, eval_in, TestScope};
    use super::*;
    use serde_json::json;

    #[test]
    fn utc_now_formats() {
        // The test scope's clock reads 2019-03-05T17:53:18Z; ARM's documented outputs.
        assert_eq!(eval("[utcNow()]"), json!("20190305T175318Z"));
        assert_eq!(eval("[utcNow('d')]"), json!("03/05/2019"));
        assert_eq!(eval("[utcNow('M d')]"), json!("3 5"));
        assert_eq!(eval("[utcNow('u')]"), json!("2019-03-05 17:53:18Z"));
        assert_eq!(eval("[utcNow('yyyy-MM-dd')]"), json!("2019-03-05"));
        assert!(eval_err("[utcNow('q')]").contains("not a standard date and time format"));
        let err = eval_in("[utcNow()]", &TestScope::without_now()).unwrap_err();
        assert!(err.to_string().contains("'utcNow' is not expected"));
    }

    #[test]
    fn date_time_add_documented_examples() {
        // ARM's documentation: a year is 365 days, a month 30.
        assert_eq!(
            eval("[dateTimeAdd('2023-01-01 00:00:00Z', 'P1Y')]"),
            json!("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            eval("[dateTimeAdd('2024-01-01 00:00:00Z', 'P1Y')]"),
            json!("2024-12-31T00:00:00Z")
        );
        assert_eq!(
            eval("[dateTimeAdd('2023-02-01 00:00:00Z', 'P1M')]"),
            json!("2023-03-03T00:00:00Z")
        );
        assert_eq!(
            eval("[dateTimeAdd('2024-02-01 00:00:00Z', 'P1M')]"),
            json!("2024-03-02T00:00:00Z")
        );
        // Bicep's baseline.
        assert_eq!(
            eval("[dateTimeAdd(dateTimeFromEpoch(1680224438), 'P1D')]"),
            json!("2023-04-01T01:00:38Z")
        );
    }

    #[test]
    fn date_time_add_durations_and_formats() {
        assert_eq!(
            eval("[dateTimeAdd('2020-04-07T14:53:14Z', '-P9D')]"),
            json!("2020-03-29T14:53:14Z")
        );
        assert_eq!(
            eval("[dateTimeAdd('2020-04-07T14:53:14Z', 'PT1H')]"),
            json!("2020-04-07T15:53:14Z")
        );
        assert_eq!(
            eval("[dateTimeAdd('2020-04-07T14:53:14Z', 'P1DT2H3M4.5S')]"),
            json!("2020-04-08T16:56:18.5Z")
        );
        assert_eq!(
            eval("[dateTimeAdd('2020-04-07T14:53:14+02:00', 'P1W')]"),
            json!("2020-04-14T12:53:14Z")
        );
        assert_eq!(
            eval("[dateTimeAdd('2020-04-07', 'PT30M', 'u')]"),
            json!("2020-04-07 00:30:00Z")
        );
        assert!(eval_err("[dateTimeAdd('yesterday', 'P1D')]").contains("ISO 8601 date"));
        assert!(
            eval_err("[dateTimeAdd('2020-04-07', '1D')]").contains("not a valid ISO 8601 duration")
        );
        assert!(eval_err("[dateTimeAdd('2020-04-07', 'P1H')]").contains("duration"));
        assert!(eval_err("[dateTimeAdd('2020-04-07', 'PT')]").contains("duration"));
    }

    #[test]
    fn epoch_conversions() {
        // ARM's documented pair.
        assert_eq!(
            eval("[dateTimeFromEpoch(1683040573)]"),
            json!("2023-05-02T15:16:13Z")
        );
        assert_eq!(
            eval("[dateTimeToEpoch('2023-05-02T15:16:13Z')]"),
            json!(1683040573)
        );
        // Bicep's baseline.
        assert_eq!(
            eval("[dateTimeToEpoch(dateTimeFromEpoch(1680224438))]"),
            json!(1680224438)
        );
        assert!(eval_err("[dateTimeFromEpoch('1')]").contains("must be an integer"));
        assert!(eval_err("[dateTimeToEpoch('x')]").contains("not a valid ISO 8601"));
    }

    #[test]
    fn duration_parsing() {
        assert_eq!(
            parse_duration("P1Y2M3W4DT5H6M7S"),
            Some(Duration::seconds(
                365 * 86_400 + 60 * 86_400 + 21 * 86_400 + 4 * 86_400 + 5 * 3_600 + 6 * 60 + 7
            ))
        );
        assert_eq!(
            parse_duration("-PT1,5S"),
            Some(-Duration::milliseconds(1500))
        );
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("P1"), None);
        assert_eq!(parse_duration("P1.5D"), None);
        assert_eq!(parse_duration("P99999999999999999Y"), None);
    }
}
