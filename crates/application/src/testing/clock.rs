//! A clock tests control.

use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};

use crate::Clock;

/// A clock that stands still at 2026-01-02T03:04:05Z until a test moves
/// it forward.
#[derive(Debug, Default)]
pub struct FixedClock(Mutex<i64>);

impl FixedClock {
    /// Moves the clock forward by whole seconds.
    pub fn advance(&self, by: chrono::Duration) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += by.num_seconds();
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .unwrap_or_default()
            + chrono::Duration::seconds(offset)
    }
}
