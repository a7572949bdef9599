//! Python's `str(timedelta)`, the form the extension's telemetry gives durations in
//! (`FreezeTime`, `ThawTime`, `snapshotTimeTaken`): `H:MM:SS`, with `.ffffff` when there
//! are microseconds.

use std::time::Duration;

/// `duration` as Python writes a `timedelta` of under a day: `0:00:01.250000`, `1:02:03`.
pub fn text(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let micros = duration.subsec_micros();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if micros == 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{hours}:{minutes:02}:{seconds:02}.{micros:06}")
    }
}

/// Reads [`text`]'s form back; `None` for anything else (a day count, a bare number).
pub fn parse(text: &str) -> Option<Duration> {
    let (clock, micros) = match text.split_once('.') {
        Some((clock, fraction)) if fraction.len() == 6 => (clock, digits(fraction)?),
        Some(_) => return None,
        None => (text, 0),
    };
    let mut parts = clock.split(':');
    let (hours, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || minutes.len() != 2 || seconds.len() != 2 {
        return None;
    }
    let (hours, minutes, seconds) = (digits(hours)?, digits(minutes)?, digits(seconds)?);
    if minutes > 59 || seconds > 59 {
        return None;
    }
    let whole = hours.checked_mul(3600)? + minutes * 60 + seconds;
    Some(Duration::from_secs(whole) + Duration::from_micros(micros))
}

fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_python_timedeltas_and_back() {
        assert_eq!(text(Duration::from_millis(1250)), "0:00:01.250000");
        assert_eq!(text(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(text(Duration::ZERO), "0:00:00");
        for duration in [
            Duration::from_millis(1250),
            Duration::from_secs(3723),
            Duration::ZERO,
            Duration::from_micros(59_999_999),
        ] {
            assert_eq!(parse(&text(duration)), Some(duration));
        }
        for bad in [
            "",
            "1250",
            "1 day, 0:00:00",
            "0:0:01",
            "0:00:60",
            "0:00:01.25",
            "a:00:00",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
