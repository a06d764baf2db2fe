//! The fallback policy: one candidate-list builder and one decision state machine
//! for every caller, primary or auxiliary.
//!
//! This module is pure. It must not depend on tokio, reqwest, sqlx, tracing or the
//! clock: time, credential state and upstream outcomes come in as values, decisions
//! and effects go out as values. The executor (real calls) and `ExplainFallback`
//! (simulations) drive the very same [`Run`]. Nothing in here branches on the kind
//! of caller once the candidate list is built.
//!
//! Seams: [`routing`] builds candidate lists, [`rules`] is the table from error
//! class to decision (the README's table is rendered from it), [`run`] is the
//! state machine that interprets it, [`outlier`] holds the key-health rules
//! (consecutive failures, ejections, caps).

use foldhash::HashMap;
use std::sync::Arc;

use crate::classify::Classification;
use crate::domain::{Candidate, CredentialId, ErrorClass, FailureReason, Millis};

mod outlier;
mod routing;
mod rules;
mod run;

pub use outlier::OutlierConfig;
pub use routing::{BUILTIN_TASKS, Routing, TaskRoute, UnknownTask};
pub use rules::error_class_table;
pub use run::Run;

// === Configuration ===

/// Tunables of the policy. Durations in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Retries of the same candidate for overloaded, server, transport and unknown errors.
    pub max_retries: u32,
    /// First backoff delay; doubled at each retry, then jittered.
    pub backoff_base_ms: u64,
    /// Upper bound of one backoff delay.
    pub backoff_max_ms: u64,
    /// Longest `Retry-After` the policy waits for on a 429 before moving on.
    pub rate_limit_max_wait_ms: u64,
    /// Cooldown of a key refused with 401 that cannot be refreshed.
    pub auth_cooldown_ms: u64,
    /// Cooldown of a key out of credit when the provider gives no reset time.
    pub billing_cooldown_ms: u64,
    /// Cooldown of a rate-limited key when the provider gives no reset time.
    pub rate_limit_cooldown_ms: u64,
    /// No attempt starts with less than this much budget left.
    pub min_attempt_ms: u64,
    /// Upper bound of every cooldown and ejection, `Retry-After` and reset times included.
    pub max_cooldown_ms: u64,
    /// Refreshable credentials whose access token expires within this window are
    /// refreshed before use.
    pub refresh_skew_ms: u64,
    /// When consecutive failures eject a key, and for how long.
    pub outlier: OutlierConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            max_retries: 2,
            backoff_base_ms: 250,
            backoff_max_ms: 5_000,
            rate_limit_max_wait_ms: 10_000,
            auth_cooldown_ms: 5 * 60_000,
            billing_cooldown_ms: 60 * 60_000,
            rate_limit_cooldown_ms: 60_000,
            min_attempt_ms: 200,
            max_cooldown_ms: 60 * 60_000,
            refresh_skew_ms: 60_000,
            outlier: OutlierConfig::default(),
        }
    }
}

// === Credential state, as the policy sees it ===

/// A credential of a provider's pool, as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// Identifier.
    pub id: CredentialId,
    /// Whether a refresh may recover it after a 401 (OAuth).
    pub refreshable: bool,
    /// Not used before this time (a cooldown or an ejection).
    pub cooldown_until: Option<Millis>,
    /// Never used again.
    pub dead: bool,
    /// Expiry of the access token (refreshable credentials), Unix ms.
    pub expires_at: Option<Millis>,
    /// Failures in a row of the class `failing_class`, since the last success,
    /// ejection or failure of another class (outlier detection).
    pub failures: u32,
    /// The class of the current run of failures.
    pub failing_class: Option<ErrorClass>,
    /// Ejections so far, decayed by successes: the next ejection lasts
    /// `base * 2^ejections`.
    pub ejections: u32,
}

impl CredentialInfo {
    /// A live key with no history.
    pub fn new(id: CredentialId) -> Self {
        Self {
            id,
            refreshable: false,
            cooldown_until: None,
            dead: false,
            expires_at: None,
            failures: 0,
            failing_class: None,
            ejections: 0,
        }
    }
}

/// Every provider's pool, in the order keys are tried.
pub type CredentialView = HashMap<Arc<str>, Vec<CredentialInfo>>;

/// How a credential refresh ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens are in place.
    Refreshed,
    /// Newer tokens that another refresh obtained (another request's flight,
    /// another replica's commit) are in place, with no refresh made for this
    /// request. They may be stale too: if they fail, the request may still
    /// refresh once.
    Adopted,
    /// The refresh grant was refused for good (`invalid_grant`, 401...).
    Terminal(String),
    /// The refresh failed in a way that may pass (token endpoint down).
    Transient(String),
    /// The request's budget ran out while the refresh was still running. The
    /// refresh goes on without the request; its result serves later requests.
    StillRunning(String),
}

/// A change of credential state the executor must apply (and persist, for
/// cooldowns, ejections and dead marks; failure counters live in memory only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Do not use the credential before `until` (billing, a failed refresh).
    Cooldown {
        /// The credential.
        credential_id: CredentialId,
        /// Unix ms.
        until: Millis,
        /// Error class that caused it.
        class: ErrorClass,
    },
    /// Never use the credential again.
    MarkDead {
        /// The credential.
        credential_id: CredentialId,
        /// Why, for operators.
        reason: String,
    },
    /// One more failure in a row, below the class's ejection threshold.
    Failed {
        /// The credential.
        credential_id: CredentialId,
        /// Error class of the failure.
        class: ErrorClass,
    },
    /// Out of rotation until `until`: too many failures in a row, or a provider's
    /// `Retry-After` / reset time. Clears the failure count.
    Eject {
        /// The credential.
        credential_id: CredentialId,
        /// Unix ms.
        until: Millis,
        /// Error class that caused it.
        class: ErrorClass,
        /// The key's ejection count once this one is counted.
        ejections: u32,
    },
    /// The key answered after failures or ejections: the failure count resets and
    /// the ejection count decays by one. Emitted only when there was something to
    /// reset, so the happy path emits no effect.
    Recovered {
        /// The credential.
        credential_id: CredentialId,
    },
}

impl Effect {
    /// The credential the effect applies to.
    pub fn credential_id(&self) -> &CredentialId {
        match self {
            Effect::Cooldown { credential_id, .. }
            | Effect::MarkDead { credential_id, .. }
            | Effect::Failed { credential_id, .. }
            | Effect::Eject { credential_id, .. }
            | Effect::Recovered { credential_id } => credential_id,
        }
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Call a provider.
    Attempt(AttemptPlan),
    /// Refresh a credential, then report with [`Run::record_refresh`].
    Refresh {
        /// The credential.
        credential_id: CredentialId,
    },
    /// The run is over.
    Done(Finish),
}

/// One upstream call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptPlan {
    /// Index in the candidate list.
    pub candidate_index: usize,
    /// The candidate.
    pub candidate: Candidate,
    /// The credential to use.
    pub credential_id: CredentialId,
    /// Wait this long before starting (backoff or Retry-After).
    pub delay_ms: u64,
    /// Budget left for the attempt after the delay; the driver bounds its timeout by it.
    pub budget_ms: u64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The attempt of the last step answered.
    Succeeded,
    /// No answer.
    Failed(FailureReason),
}

/// The outcome of one attempt, as reported by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The provider answered.
    Success {
        /// HTTP status (2xx).
        http_status: u16,
    },
    /// The attempt failed.
    Failure(Classification),
}

#[cfg(test)]
mod tests;
