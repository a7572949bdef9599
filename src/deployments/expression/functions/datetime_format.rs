//! .NET date and time format strings, invariant culture, for `utcNow(format)` and
//! `dateTimeAdd(base, duration, format)`: the standard one-letter formats (`d`, `D`, `f`,
//! `F`, `g`, `G`, `M`, `o`, `r`, `s`, `t`, `T`, `u`, `U`, `Y`) and the custom specifiers
//! (`yyyy`, `MM`, `dd`, `HH`, `hh`, `mm`, `ss`, `fff`, `FFF`, `tt`, `K`, `zzz`, quoted text,
//! `\x` and `%x`). The time is always UTC, as ARM's.

use chrono::{DateTime, Datelike, Timelike, Utc};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The custom pattern a standard (one-letter) format stands for, invariant culture.
fn standard_pattern(letter: char) -> Option<&'static str> {
    Some(match letter {
        'd' => "MM/dd/yyyy",
        'D' => "dddd, dd MMMM yyyy",
        'f' => "dddd, dd MMMM yyyy HH:mm",
        'F' | 'U' => "dddd, dd MMMM yyyy HH:mm:ss",
        'g' => "MM/dd/yyyy HH:mm",
        'G' => "MM/dd/yyyy HH:mm:ss",
        'M' | 'm' => "MMMM dd",
        'O' | 'o' => "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
        'R' | 'r' => "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
        's' => "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
        't' => "HH:mm",
        'T' => "HH:mm:ss",
        'u' => "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
        'Y' | 'y' => "yyyy MMMM",
        _ => return None,
    })
}

/// Formats `time` with a .NET format string; `Err` names what is not a valid format.
pub(crate) fn format_datetime(time: &DateTime<Utc>, format: &str) -> Result<String, String> {
    let mut chars = format.chars();
    if let (Some(letter), None) = (chars.next(), chars.next()) {
        let pattern = standard_pattern(letter).ok_or_else(|| {
            format!("the format '{format}' is not a standard date and time format")
        })?;
        return format_custom(time, pattern);
    }
    format_custom(time, format)
}

fn format_custom(time: &DateTime<Utc>, pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let run = chars[at..].iter().take_while(|x| **x == c).count();
        match c {
            '\'' | '"' => {
                let close = chars[at + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .ok_or_else(|| format!("the quoted text in '{pattern}' is not closed"))?;
                out.extend(&chars[at + 1..at + 1 + close]);
                at += close + 2;
                continue;
            }
            '\\' => {
                let escaped = chars
                    .get(at + 1)
                    .ok_or_else(|| format!("the format '{pattern}' ends with '\\'"))?;
                out.push(*escaped);
                at += 2;
                continue;
            }
            '%' => {
                // `%d`: the single custom specifier `d`, not the standard format.
                at += 1;
                continue;
            }
            _ => {}
        }
        let consumed = specifier(time, c, run, &mut out)?;
        at += consumed;
    }
    Ok(out)
}

/// Writes the specifier `c` repeated `run` times; returns how many chars it consumed.
fn specifier(time: &DateTime<Utc>, c: char, run: usize, out: &mut String) -> Result<usize, String> {
    let month = time.month0() as usize;
    match c {
        'y' => {
            let year = time.year();
            out.push_str(&match run {
                1 => (year % 100).to_string(),
                2 => format!("{:02}", year % 100),
                n => format!("{year:0n$}"),
            });
        }
        'M' => out.push_str(&match run {
            1 => time.month().to_string(),
            2 => format!("{:02}", time.month()),
            3 => MONTHS[month][..3].to_owned(),
            _ => MONTHS[month].to_owned(),
        }),
        'd' => out.push_str(&match run {
            1 => time.day().to_string(),
            2 => format!("{:02}", time.day()),
            3 => DAYS[time.weekday().num_days_from_sunday() as usize][..3].to_owned(),
            _ => DAYS[time.weekday().num_days_from_sunday() as usize].to_owned(),
        }),
        'H' => out.push_str(&two_or_one(time.hour(), run)),
        'h' => {
            let hour = match time.hour() % 12 {
                0 => 12,
                h => h,
            };
            out.push_str(&two_or_one(hour, run));
        }
        'm' => out.push_str(&two_or_one(time.minute(), run)),
        's' => out.push_str(&two_or_one(time.second(), run)),
        'f' | 'F' => {
            if run > 7 {
                return Err(format!(
                    "'{}' has more than 7 fraction digits",
                    c.to_string().repeat(run)
                ));
            }
            let digits = format!("{:09}", time.nanosecond() % 1_000_000_000);
            let digits = &digits[..run];
            if c == 'f' {
                out.push_str(digits);
            } else {
                let trimmed = digits.trim_end_matches('0');
                if trimmed.is_empty() && out.ends_with('.') {
                    // .NET drops the separator before an empty `F` fraction.
                    out.pop();
                }
                out.push_str(trimmed);
            }
        }
        't' => {
            let designator = if time.hour() < 12 { "AM" } else { "PM" };
            out.push_str(if run == 1 {
                &designator[..1]
            } else {
                designator
            });
        }
        'K' => out.push('Z'),
        'z' => out.push_str(match run {
            1 => "+0",
            2 => "+00",
            _ => "+00:00",
        }),
        'g' => out.push_str("A.D."),
        ':' | '/' => {
            // The invariant culture's separators.
            out.push(c);
            return Ok(1);
        }
        other => {
            out.push(other);
            return Ok(1);
        }
    }
    Ok(match c {
        'z' => run.min(3),
        'K' => 1,
        _ => run,
    })
}

fn two_or_one(value: u32, run: usize) -> String {
    if run == 1 {
        value.to_string()
    } else {
        format!("{value:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2019, 3, 5, 17, 53, 8).unwrap() + chrono::Duration::milliseconds(120)
    }

    #[test]
    fn standard_formats() {
        let t = time();
        // ARM's documented outputs for utcNow(), utcNow('d'), utcNow('M d') at 2019-03-05.
        assert_eq!(
            format_datetime(&t, "yyyyMMddTHHmmssZ").unwrap(),
            "20190305T175308Z"
        );
        assert_eq!(format_datetime(&t, "d").unwrap(), "03/05/2019");
        assert_eq!(format_datetime(&t, "M d").unwrap(), "3 5");
        assert_eq!(format_datetime(&t, "u").unwrap(), "2019-03-05 17:53:08Z");
        assert_eq!(format_datetime(&t, "s").unwrap(), "2019-03-05T17:53:08");
        assert_eq!(
            format_datetime(&t, "o").unwrap(),
            "2019-03-05T17:53:08.1200000Z"
        );
        assert_eq!(format_datetime(&t, "D").unwrap(), "Tuesday, 05 March 2019");
        assert_eq!(
            format_datetime(&t, "r").unwrap(),
            "Tue, 05 Mar 2019 17:53:08 GMT"
        );
        assert_eq!(format_datetime(&t, "g").unwrap(), "03/05/2019 17:53");
        assert_eq!(format_datetime(&t, "T").unwrap(), "17:53:08");
        assert_eq!(format_datetime(&t, "Y").unwrap(), "2019 March");
        assert!(format_datetime(&t, "q").is_err());
    }

    #[test]
    fn custom_specifiers() {
        let t = time();
        assert_eq!(format_datetime(&t, "yyyy-MM-dd").unwrap(), "2019-03-05");
        assert_eq!(
            format_datetime(&t, "yy y MMM MMMM ddd").unwrap(),
            "19 19 Mar March Tue"
        );
        assert_eq!(format_datetime(&t, "hh:mm tt h t").unwrap(), "05:53 PM 5 P");
        assert_eq!(format_datetime(&t, "ss.fff FFFF").unwrap(), "08.120 12");
        assert_eq!(format_datetime(&t, "HH:mm:ss.FFF").unwrap(), "17:53:08.12");
        assert_eq!(
            format_datetime(
                &Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap(),
                "ss.FFF"
            )
            .unwrap(),
            "00"
        );
        assert_eq!(
            format_datetime(&t, "'year' yyyy \\y K zzz").unwrap(),
            "year 2019 y Z +00:00"
        );
        assert_eq!(format_datetime(&t, "%d").unwrap(), "5");
        assert!(format_datetime(&t, "'open").is_err());
        assert!(format_datetime(&t, "ffffffff").is_err());
    }
}
