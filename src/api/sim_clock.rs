//! `/_sim/clock`: read, set and advance simulated time. Admin only, like the rest of
//! `/_sim`. Advancing walks time forward event by event (scheduled runs, task deadlines,
//! expiries), so a month of daily backups and their retention runs in order.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Months, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::arm::error::ErrorResponse;
use super::arm::{json_response, parse_json, ArmError};
use super::sim::admin;
use super::ApiState;
use crate::clock::{ClockSetting, LATEST};
use crate::control::{Backwards, EngineError};
use crate::resources::ResourceError;

/// The clock routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(get_clock, set_clock, advance_clock),
    components(schemas(ClockBody, SetClock, AdvanceClock, AdvanceBody))
)]
pub struct SimClockApi;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/_sim/clock", get(get_clock).put(set_clock))
        .route("/_sim/clock/advance", post(advance_clock))
}

/// The clock as it is now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockBody {
    /// The service's time.
    pub now: String,
    /// `system` (real time), `pinned` (stands still) or `running` (real speed from a
    /// chosen instant).
    pub mode: &'static str,
}

/// `PUT /_sim/clock`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetClock {
    /// `system`, `pinned` or `running`.
    pub mode: String,
    /// The instant to pin at or run from (RFC 3339); not for `system`. Default: now.
    pub now: Option<String>,
    /// Allow moving the clock back before the newest job's start (default false: 409
    /// `ClockWouldGoBackwards`); the move is then logged as a warning.
    pub allow_backwards: Option<bool>,
}

/// `POST /_sim/clock/advance`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdvanceClock {
    /// An ISO 8601 duration: `P1M`, `P30D`, `PT2H30M`, `P1DT12H`, `P2W`.
    pub by: Option<String>,
    /// Or an instant to advance to (RFC 3339).
    pub to: Option<String>,
    /// Real seconds each stop waits for started backups to report their snapshots
    /// (default 30; 0 to let them time out).
    pub settle_seconds: Option<f64>,
}

/// What an advance did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdvanceBody {
    pub now: String,
    /// Instants stopped at.
    pub steps: u64,
    /// Backup jobs started on the way.
    pub backups_started: u64,
}

fn clock_body(now: DateTime<Utc>, setting: ClockSetting) -> ClockBody {
    ClockBody {
        now: now.to_rfc3339_opts(SecondsFormat::Micros, true),
        mode: match setting {
            ClockSetting::System => "system",
            ClockSetting::Pinned(_) => "pinned",
            ClockSetting::Offset(_) => "running",
        },
    }
}

fn invalid(message: impl Into<String>) -> ArmError {
    ResourceError::invalid("InvalidRequestContent", message).into()
}

fn engine_failed(error: EngineError) -> ArmError {
    ResourceError::from(error).into()
}

#[utoipa::path(
    get,
    path = "/_sim/clock",
    operation_id = "Sim_GetClock",
    tag = "sim",
    responses(
        (status = 200, description = "The service's time", body = ClockBody),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
    )
)]
async fn get_clock(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    Ok(json_response(
        StatusCode::OK,
        &clock_body(state.clock.now(), state.clock.setting()),
    ))
}

#[utoipa::path(
    put,
    path = "/_sim/clock",
    operation_id = "Sim_SetClock",
    tag = "sim",
    request_body = SetClock,
    responses(
        (status = 200, description = "The clock as set; whatever became due has run", body = ClockBody),
        (status = 400, description = "`InvalidRequestContent`", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
        (status = 409, description = "`ClockWouldGoBackwards`: before the newest job's start, without `allowBackwards`", body = ErrorResponse),
    )
)]
async fn set_clock(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let request: SetClock = parse_json(&bytes?)?;
    let requested = request.now.as_deref().map(parse_instant).transpose()?;
    let at = requested.unwrap_or_else(|| state.clock.now());
    let setting = match request.mode.as_str() {
        "system" if requested.is_none() => ClockSetting::System,
        "system" => return Err(invalid("mode 'system' follows real time: give no 'now'.")),
        "pinned" => ClockSetting::Pinned(at),
        "running" => ClockSetting::Offset(at - Utc::now()),
        other => {
            return Err(invalid(format!(
                "mode '{other}' is unknown: use 'system', 'pinned' or 'running'."
            )))
        }
    };
    state
        .engine
        .set_clock(
            setting,
            if request.allow_backwards.unwrap_or(false) {
                Backwards::Allow
            } else {
                Backwards::Refuse
            },
        )
        .await
        .map_err(engine_failed)?;
    Ok(json_response(
        StatusCode::OK,
        &clock_body(state.clock.now(), state.clock.setting()),
    ))
}

#[utoipa::path(
    post,
    path = "/_sim/clock/advance",
    operation_id = "Sim_AdvanceClock",
    tag = "sim",
    request_body = AdvanceClock,
    responses(
        (status = 200, description = "Time advanced; every due backup and expiry on the way ran in order", body = AdvanceBody),
        (status = 400, description = "`InvalidRequestContent`: no or a bad duration, or a time in the past", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not an admin", body = ErrorResponse),
    )
)]
async fn advance_clock(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ArmError> {
    admin(&state, &headers).await?;
    let request: AdvanceClock = parse_json(&bytes?)?;
    let now = state.clock.now();
    let to = match (
        &request.by,
        request.to.as_deref().map(parse_instant).transpose()?,
    ) {
        (Some(by), None) => match add_iso_duration(now, by) {
            Ok(to) => simulable(to)?,
            Err(BadDuration::TooLong) => return Err(past_latest()),
            Err(BadDuration::Malformed) => {
                return Err(invalid(format!(
                    "'{by}' is not an ISO 8601 duration (e.g. P30D, PT2H)."
                )))
            }
        },
        (None, Some(to)) => to,
        _ => return Err(invalid("Give exactly one of 'by' and 'to'.")),
    };
    if to < now {
        return Err(invalid(
            "The clock only moves forward: 'to' is in the past.",
        ));
    }
    let settle = request.settle_seconds.unwrap_or(30.0);
    if !(0.0..=3600.0).contains(&settle) {
        return Err(invalid("settleSeconds must be between 0 and 3600."));
    }
    let report = state
        .engine
        .advance(to, Duration::from_secs_f64(settle))
        .await
        .map_err(engine_failed)?;
    Ok(json_response(
        StatusCode::OK,
        &AdvanceBody {
            now: report.now.to_rfc3339_opts(SecondsFormat::Micros, true),
            steps: report.steps,
            backups_started: report.backups_started,
        },
    ))
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, ArmError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid(format!("'{text}' is not an RFC 3339 time.")))
        .and_then(simulable)
}

/// `at`, if simulated time may reach it.
fn simulable(at: DateTime<Utc>) -> Result<DateTime<Utc>, ArmError> {
    if at > LATEST {
        return Err(past_latest());
    }
    Ok(at)
}

fn past_latest() -> ArmError {
    invalid(format!(
        "Simulated time goes no further than {}.",
        LATEST.to_rfc3339_opts(SecondsFormat::Secs, true)
    ))
}

/// Why a duration cannot move the clock.
#[derive(Debug, PartialEq)]
enum BadDuration {
    /// Not `PnYnMnWnDTnHnMnS`.
    Malformed,
    /// The sum is past the end of the calendar.
    TooLong,
}

/// `from` plus an ISO 8601 duration (`PnYnMnWnDTnHnMnS`, fractional seconds allowed).
/// Years and months are calendar ones (2026-01-31 plus P1M is 2026-02-28).
fn add_iso_duration(from: DateTime<Utc>, text: &str) -> Result<DateTime<Utc>, BadDuration> {
    use BadDuration::{Malformed, TooLong};
    let rest = text
        .strip_prefix('P')
        .filter(|rest| !rest.is_empty())
        .ok_or(Malformed)?;
    let (date, time) = match rest.split_once('T') {
        Some((_, "")) => return Err(Malformed),
        Some((date, time)) => (date, time),
        None => (rest, ""),
    };
    // Summed in floating point, which no size of input overflows (it saturates at
    // infinity); a sum too large for the calendar is refused below, not added.
    let mut months = 0.0;
    let mut millis = 0.0;
    for (value, unit) in components(date).ok_or(Malformed)? {
        match unit {
            'Y' | 'M' if value.fract() != 0.0 => return Err(Malformed),
            'Y' => months += value * 12.0,
            'M' => months += value,
            'W' => millis += value * 604_800_000.0,
            'D' => millis += value * 86_400_000.0,
            _ => return Err(Malformed),
        }
    }
    for (value, unit) in components(time).ok_or(Malformed)? {
        millis += value
            * match unit {
                'H' => 3_600_000.0,
                'M' => 60_000.0,
                'S' => 1_000.0,
                _ => return Err(Malformed),
            };
    }
    let months = (months <= f64::from(u32::MAX))
        .then(|| Months::new(months as u32))
        .ok_or(TooLong)?;
    let fixed = (millis < i64::MAX as f64)
        .then(|| TimeDelta::try_milliseconds(millis as i64))
        .flatten()
        .ok_or(TooLong)?;
    from.checked_add_months(months)
        .and_then(|at| at.checked_add_signed(fixed))
        .ok_or(TooLong)
}

/// `3D12H` → [(3, 'D'), (12, 'H')]; `None` when malformed.
fn components(text: &str) -> Option<Vec<(f64, char)>> {
    let mut parts = Vec::new();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
        } else {
            let value: f64 = number.parse().ok()?;
            if !value.is_finite() || value < 0.0 {
                return None;
            }
            parts.push((value, c));
            number.clear();
        }
    }
    number.is_empty().then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn iso_durations_add_calendar_months_and_fixed_time() {
        let from = at("2026-01-31T10:00:00Z");
        assert_eq!(
            add_iso_duration(from, "P1M"),
            Ok(at("2026-02-28T10:00:00Z"))
        );
        assert_eq!(
            add_iso_duration(from, "P30D"),
            Ok(at("2026-03-02T10:00:00Z"))
        );
        assert_eq!(
            add_iso_duration(from, "PT2H30M"),
            Ok(at("2026-01-31T12:30:00Z"))
        );
        assert_eq!(
            add_iso_duration(from, "P1DT0.5S"),
            Ok(at("2026-02-01T10:00:00.5Z"))
        );
        assert_eq!(
            add_iso_duration(from, "P2W"),
            Ok(at("2026-02-14T10:00:00Z"))
        );
        assert_eq!(
            add_iso_duration(from, "P1Y"),
            Ok(at("2027-01-31T10:00:00Z"))
        );
    }

    #[test]
    fn malformed_durations_are_refused() {
        let from = at("2026-01-31T10:00:00Z");
        for bad in [
            "", "P", "PT", "30D", "P1H", "PT1D", "P1.5M", "P-1D", "P1D2", "PXD",
        ] {
            assert_eq!(
                add_iso_duration(from, bad),
                Err(BadDuration::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations_past_the_calendar_are_too_long_not_a_panic() {
        let from = at("2026-01-31T10:00:00Z");
        for huge in [
            "P99999999999999999999D",
            "P99999999999999999999DT99999999999999999999H",
            "P9999999999W9999999999D",
            &format!("P{}D", "9".repeat(300)),
            "P1000000Y",
            "P4294967296M",
            "P99999999999999999999YT1H",
        ] {
            assert_eq!(
                add_iso_duration(from, huge),
                Err(BadDuration::TooLong),
                "{huge}"
            );
        }
    }

    mod generated {
        use proptest::prelude::*;

        use super::*;
        use crate::generated_input::{near_iso_duration, near_iso_instant, or_any};

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn any_duration_moves_forward_or_is_refused(text in or_any(near_iso_duration())) {
                let from = at("2026-01-31T10:00:00Z");
                if let Ok(to) = add_iso_duration(from, &text) {
                    prop_assert!(to >= from);
                }
            }

            #[test]
            fn any_instant_is_simulable_or_invalid_request_content(text in or_any(near_iso_instant())) {
                match parse_instant(&text) {
                    Ok(at) => prop_assert!(at <= LATEST),
                    Err(error) => {
                        let refused_as_content = matches!(
                            &error,
                            ArmError::Resource(ResourceError::Invalid { code, .. }) if code == "InvalidRequestContent"
                        );
                        prop_assert!(refused_as_content, "{:?}", error);
                    }
                }
            }
        }
    }
}
