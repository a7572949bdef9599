//! The one clock everything that schedules, expires or stamps reads.
//!
//! It follows the system clock until told otherwise through `/_sim/clock`: pinned at an
//! instant (time stands still until advanced), or running at real speed from a chosen
//! instant (a fixed offset from system time). Every clone shares the same setting, so the
//! scheduler, the blob store's stamps and SAS checks all see the same time. Bearer tokens
//! are the exception: they are stamped with system time, so that moving simulated time
//! does not sign clients out.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use parking_lot::RwLock;

/// The latest instant simulated time may reach: a century before the end of year 9999, so
/// that everything derived from it (recovery points kept up to 99 years, .NET ticks, the
/// four-digit years of RFC 3339 and SAS times) stays representable.
pub const LATEST: DateTime<Utc> = match NaiveDate::from_ymd_opt(9899, 12, 31) {
    Some(day) => match day.and_hms_opt(23, 59, 59) {
        Some(at) => at.and_utc(),
        None => unreachable!(),
    },
    None => unreachable!(),
};

/// How the clock derives the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSetting {
    /// System time.
    System,
    /// Stands still at this instant.
    Pinned(DateTime<Utc>),
    /// System time plus this offset.
    Offset(TimeDelta),
}

impl ClockSetting {
    /// The time this setting gives now.
    pub fn now(self) -> DateTime<Utc> {
        match self {
            ClockSetting::System => Utc::now(),
            ClockSetting::Pinned(at) => at,
            ClockSetting::Offset(offset) => Utc::now() + offset,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Clock {
    setting: Arc<RwLock<ClockSetting>>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(ClockSetting::System)
    }
}

impl Clock {
    pub fn new(setting: ClockSetting) -> Self {
        Self {
            setting: Arc::new(RwLock::new(setting)),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.setting.read().now()
    }

    pub fn setting(&self) -> ClockSetting {
        *self.setting.read()
    }

    pub fn set(&self, setting: ClockSetting) {
        *self.setting.write() = setting;
    }

    /// Moves the clock forward to `to` (never back): a pinned clock stays pinned there, a
    /// running clock keeps running from there.
    pub fn advance_to(&self, to: DateTime<Utc>) {
        let mut setting = self.setting.write();
        *setting = match *setting {
            ClockSetting::Pinned(at) => ClockSetting::Pinned(at.max(to)),
            ClockSetting::System | ClockSetting::Offset(_) => {
                let now = Utc::now();
                let current = match *setting {
                    ClockSetting::Offset(offset) => now + offset,
                    _ => now,
                };
                ClockSetting::Offset(current.max(to) - now)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_clock_stands_still_and_clones_share_it() {
        let clock = Clock::default();
        let at = "2026-03-08T09:00:00Z".parse().unwrap();
        let other = clock.clone();
        clock.set(ClockSetting::Pinned(at));
        assert_eq!(other.now(), at);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(other.now(), at);
    }

    #[test]
    fn advancing_never_goes_back() {
        let at: DateTime<Utc> = "2026-03-08T09:00:00Z".parse().unwrap();
        let clock = Clock::new(ClockSetting::Pinned(at));
        clock.advance_to(at + TimeDelta::days(30));
        assert_eq!(clock.now(), at + TimeDelta::days(30));
        clock.advance_to(at);
        assert_eq!(clock.now(), at + TimeDelta::days(30));
    }

    #[test]
    fn an_offset_clock_runs_from_the_chosen_instant() {
        let at: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let clock = Clock::default();
        clock.advance_to(at);
        let now = clock.now();
        assert!(now >= at && now < at + TimeDelta::seconds(5), "{now}");
        assert!(matches!(clock.setting(), ClockSetting::Offset(_)));
    }
}
