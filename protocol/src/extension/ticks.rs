//! .NET ticks: 100-nanosecond intervals since 0001-01-01T00:00:00Z, leap seconds ignored.
//! The extension reads `commandStartTimeUTCTicks` as `datetime(1,1,1) + ticks/10 µs`.

use chrono::{DateTime, Utc};

/// Ticks at 1970-01-01T00:00:00Z: 719,162 days × 86,400 s × 10⁷.
pub const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;
const TICKS_PER_SECOND: i64 = 10_000_000;
const NANOS_PER_TICK: u32 = 100;

/// The instant in ticks, truncated to whole ticks. Saturates past year ~29,000, which
/// `DateTime<Utc>` can hold and an `i64` of ticks cannot.
pub fn ticks_from_datetime(instant: DateTime<Utc>) -> i64 {
    let whole_seconds = instant.timestamp().saturating_mul(TICKS_PER_SECOND);
    let sub_second = i64::from(instant.timestamp_subsec_nanos() / NANOS_PER_TICK);
    UNIX_EPOCH_TICKS
        .saturating_add(whole_seconds)
        .saturating_add(sub_second)
}

/// The instant `ticks` names; `None` for negative ticks (before .NET's `DateTime.MinValue`).
pub fn datetime_from_ticks(ticks: i64) -> Option<DateTime<Utc>> {
    if ticks < 0 {
        return None;
    }
    let since_epoch = ticks - UNIX_EPOCH_TICKS;
    let seconds = since_epoch.div_euclid(TICKS_PER_SECOND);
    let sub_second_ticks = since_epoch.rem_euclid(TICKS_PER_SECOND);
    let nanos = u32::try_from(sub_second_ticks).ok()? * NANOS_PER_TICK;
    DateTime::from_timestamp(seconds, nanos)
}

/// Ticks as the decimal string `commandStartTimeUTCTicks` carries. The extension parses it
/// with `int()`, so a float like the docs' `6.36458E+17` would break it.
pub fn ticks_string(instant: DateTime<Utc>) -> String {
    ticks_from_datetime(instant).to_string()
}

/// Reads a `commandStartTimeUTCTicks` string: decimal digits only, as `int()` accepts them
/// after trimming.
pub fn parse_ticks_string(text: &str) -> Option<DateTime<Utc>> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    datetime_from_ticks(digits.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_docs_example_is_2017_05_04_13_16_22_47() {
        let instant = datetime_from_ticks(636_295_005_824_665_976).unwrap();
        assert_eq!(instant, utc("2017-05-04T13:16:22.4665976Z"));
        assert_eq!(ticks_from_datetime(instant), 636_295_005_824_665_976);
    }

    #[test]
    fn the_rounded_seed_is_2017_11_09_04_53_20() {
        let instant = datetime_from_ticks(636_458_000_000_000_000).unwrap();
        assert_eq!(instant, utc("2017-11-09T04:53:20Z"));
    }

    #[test]
    fn the_unix_epoch_and_the_first_instant() {
        let epoch = Utc.timestamp_opt(0, 0).unwrap();
        assert_eq!(ticks_from_datetime(epoch), UNIX_EPOCH_TICKS);
        assert_eq!(datetime_from_ticks(UNIX_EPOCH_TICKS), Some(epoch));
        assert_eq!(datetime_from_ticks(0), Some(utc("0001-01-01T00:00:00Z")));
        assert_eq!(ticks_from_datetime(utc("0001-01-01T00:00:00Z")), 0);
        assert_eq!(datetime_from_ticks(-1), None);
    }

    #[test]
    fn instants_before_1970_keep_their_sub_second_part() {
        let instant = utc("1969-12-31T23:59:59.25Z");
        let ticks = ticks_from_datetime(instant);
        assert_eq!(ticks, UNIX_EPOCH_TICKS - 7_500_000);
        assert_eq!(datetime_from_ticks(ticks), Some(instant));
    }

    #[test]
    fn sub_tick_precision_is_truncated() {
        let instant = utc("2024-02-29T12:00:00.123456789Z");
        let back = datetime_from_ticks(ticks_from_datetime(instant)).unwrap();
        assert_eq!(back, utc("2024-02-29T12:00:00.1234567Z"));
    }

    #[test]
    fn tick_strings_are_plain_decimal() {
        let instant = utc("2017-05-04T13:16:22.4665976Z");
        assert_eq!(ticks_string(instant), "636295005824665976");
        assert_eq!(parse_ticks_string("636295005824665976"), Some(instant));
        assert_eq!(parse_ticks_string(" 636295005824665976\n"), Some(instant));
        for bad in ["6.36458E+17", "", "-5", "0x10", "99999999999999999999"] {
            assert_eq!(parse_ticks_string(bad), None, "{bad}");
        }
    }
}
