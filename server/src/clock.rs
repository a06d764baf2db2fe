//! The wall clock, in one place: Unix milliseconds for the executor, the
//! refresher, the metrics census and the CLI.
//!
//! A leaf module: it depends on nothing in the crate but [`crate::domain`], so any
//! module may read the time without importing the executor. The policy never
//! calls it: time enters the policy as a value.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::Millis;

/// Wall-clock Unix milliseconds (0 if the system clock is before 1970).
pub fn wall_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}
