//! Outlier detection of credentials, after Envoy's: a key leaves the rotation only
//! after several failures in a row (or when the provider says for how long), for a
//! time that doubles with each ejection and never exceeds `max_cooldown`.
//!
//! Pure rules and arithmetic; the counters themselves live in the credential pool
//! and reach the policy as [`CredentialInfo`] values.

use super::{CredentialInfo, Effect, PolicyConfig};
use crate::domain::{ErrorClass, Millis};

/// Consecutive failures that eject a key, per error class, and the base ejection
/// time of the classes without a cooldown of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierConfig {
    /// 401 (`auth`) failures in a row.
    pub auth: u32,
    /// 429 without `Retry-After` in a row.
    pub rate_limit: u32,
    /// 529 / 503 overloaded in a row.
    pub overloaded: u32,
    /// Other 5xx (and unreadable answers) in a row.
    pub server: u32,
    /// Connection failures and timeouts in a row.
    pub transport: u32,
    /// First ejection of an overloaded, server or transport outlier; `auth` and
    /// `rate_limit` use `auth_cooldown_ms` and `rate_limit_cooldown_ms`.
    pub base_ejection_ms: u64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            auth: 3,
            rate_limit: 3,
            overloaded: 5,
            server: 5,
            transport: 5,
            base_ejection_ms: 30_000,
        }
    }
}

impl OutlierConfig {
    /// Failures in a row that eject a key for `class`; `None` for classes that
    /// say nothing about the key's health (or that act at once).
    pub fn threshold(&self, class: ErrorClass) -> Option<u32> {
        match class {
            ErrorClass::Auth => Some(self.auth),
            ErrorClass::RateLimit => Some(self.rate_limit),
            ErrorClass::Overloaded => Some(self.overloaded),
            ErrorClass::Server | ErrorClass::Unknown => Some(self.server),
            ErrorClass::Transport => Some(self.transport),
            ErrorClass::None
            | ErrorClass::AuthTerminal
            | ErrorClass::Forbidden
            | ErrorClass::Billing
            | ErrorClass::ContextOverflow
            | ErrorClass::ContentPolicy
            | ErrorClass::ModelUnavailable
            | ErrorClass::InvalidRequest => None,
        }
    }
}

impl PolicyConfig {
    /// Length of the `nth` ejection (1-based) of a key for `class`:
    /// `base * 2^(nth-1)`, capped by `max_cooldown_ms`.
    pub fn ejection_ms(&self, class: ErrorClass, nth: u32) -> u64 {
        let base = match class {
            ErrorClass::Auth => self.auth_cooldown_ms,
            ErrorClass::RateLimit => self.rate_limit_cooldown_ms,
            _ => self.outlier.base_ejection_ms,
        };
        let factor = 1u64 << nth.saturating_sub(1).min(32);
        base.saturating_mul(factor).min(self.max_cooldown_ms)
    }

    /// A provider-given wait (`Retry-After`, a reset header), capped by
    /// `max_cooldown_ms`: 10^9 seconds must not cool a key for decades.
    pub fn capped(&self, wait_ms: u64) -> u64 {
        wait_ms.min(self.max_cooldown_ms)
    }
}

impl CredentialInfo {
    /// Applies an effect to this value, as the pool applies it to a live key. A
    /// cooldown keeps the later of two ends; counters are deltas, so concurrent
    /// requests working from the same snapshot add up.
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Cooldown { until, .. } => {
                self.cooldown_until = Some(later(self.cooldown_until, *until));
            }
            Effect::MarkDead { .. } => self.dead = true,
            Effect::Failed { class, .. } => {
                self.failures = self.next_failure_count(*class);
                self.failing_class = Some(*class);
            }
            Effect::Eject {
                until, ejections, ..
            } => {
                self.cooldown_until = Some(later(self.cooldown_until, *until));
                self.ejections = self.ejections.max(*ejections);
                self.failures = 0;
                self.failing_class = None;
            }
            Effect::Recovered { .. } => {
                self.failures = 0;
                self.failing_class = None;
                self.ejections = self.ejections.saturating_sub(1);
            }
        }
    }

    /// The failure count once one more failure of `class` is counted: a failure
    /// of another class starts a new run. Per class, so that "three 429s in a
    /// row" means that, not "two 500s and a 429".
    pub fn next_failure_count(&self, class: ErrorClass) -> u32 {
        if self.failing_class == Some(class) {
            self.failures.saturating_add(1)
        } else {
            1
        }
    }
}

fn later(current: Option<Millis>, until: Millis) -> Millis {
    current.map_or(until, |t| t.max(until))
}
