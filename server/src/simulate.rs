//! The simulated upstream of `ExplainFallback`: attempts take their outcomes from a
//! script and time from a virtual clock, so [`crate::executor::drive`] runs the very
//! loop and policy of a real call without contacting a provider or touching state.

use std::collections::VecDeque;

use crate::classify;
use crate::domain::{CredentialId, Millis, TransportError};
use crate::executor::Upstream;
use crate::policy::{AttemptPlan, Effect, Observed, RefreshOutcome};

/// One scripted upstream outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedOutcome {
    /// An HTTP answer; 2xx succeeds.
    Http {
        /// Status.
        status: u16,
        /// Headers that matter to the policy (`retry-after`...).
        headers: http::HeaderMap,
        /// Body.
        body: Vec<u8>,
        /// Simulated duration.
        duration_ms: u64,
    },
    /// No HTTP answer.
    Transport {
        /// Which failure.
        error: TransportError,
        /// Simulated duration.
        duration_ms: u64,
    },
}

/// Scripted attempts on a virtual clock. Once the script runs out, attempts
/// succeed; refreshes always succeed.
#[derive(Debug)]
pub struct SimulatedUpstream {
    now: Millis,
    script: VecDeque<ScriptedOutcome>,
}

impl SimulatedUpstream {
    /// A simulation starting at `now` (Unix ms).
    pub fn new(now: Millis, script: Vec<ScriptedOutcome>) -> Self {
        Self {
            now,
            script: script.into(),
        }
    }
}

impl Upstream for SimulatedUpstream {
    /// A simulation has no text to return.
    type Answer = ();

    fn now(&self) -> Millis {
        self.now
    }

    async fn sleep(&mut self, ms: u64) {
        self.now = self.now.saturating_add(ms);
    }

    async fn attempt(&mut self, _plan: &AttemptPlan) -> (Observed, Option<()>) {
        let success = (Observed::Success { http_status: 200 }, Some(()));
        match self.script.pop_front() {
            None => success,
            Some(ScriptedOutcome::Http {
                status,
                headers,
                body,
                duration_ms,
            }) => {
                self.now = self.now.saturating_add(duration_ms);
                if (200..300).contains(&status) {
                    (
                        Observed::Success {
                            http_status: status,
                        },
                        Some(()),
                    )
                } else {
                    let c = classify::classify_http(status, &headers, &body, self.now);
                    (Observed::Failure(c), None)
                }
            }
            Some(ScriptedOutcome::Transport { error, duration_ms }) => {
                self.now = self.now.saturating_add(duration_ms);
                (Observed::Failure(classify::classify_transport(error)), None)
            }
        }
    }

    async fn refresh(&mut self, _credential_id: &CredentialId) -> RefreshOutcome {
        RefreshOutcome::Refreshed
    }

    async fn apply(&mut self, _effects: Vec<Effect>) {
        // A simulation changes no credential: the run keeps its own copy of state.
    }
}
