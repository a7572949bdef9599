//! Host time as the VM sees it. The extension judges a task's age by the host's clock
//! (Azure's presnapshot `responseTime`); vaultsim's host clock may be pinned or moved, so
//! the agent keeps the offset the guest API last reported and applies it to its own clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Default)]
pub struct HostClock {
    /// Host time minus local time, in milliseconds.
    offset_ms: Arc<AtomicI64>,
}

impl HostClock {
    /// Notes the host's time as just reported.
    pub fn observe(&self, host_time: DateTime<Utc>) {
        let offset = (host_time - Utc::now()).num_milliseconds();
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_clock_follows_the_last_reported_host_time() {
        let clock = HostClock::default();
        assert!((clock.now() - Utc::now()).num_seconds().abs() < 2);
        let pinned = DateTime::parse_from_rfc3339("2026-03-01T02:00:00Z")
            .unwrap()
            .to_utc();
        clock.observe(pinned);
        assert!((clock.now() - pinned).num_seconds().abs() < 2);
    }
}
