//! The one clock everything that schedules, expires or stamps reads.

use chrono::{DateTime, Utc};

/// The service clock. It follows the system clock; simulated time (pin and advance) plugs
/// in here, so that every reader sees the same time.
#[derive(Debug, Clone, Default)]
pub struct Clock;

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
