//! The simulated upstream of `ExplainFallback`: attempts take their outcomes from a
//! script and time from a virtual clock, so [`crate::executor::drive`] runs the very
//! loop and policy of a real call without contacting a provider or touching state.
//!
//! One script serves attempts and refreshes: a refresh takes the next outcome if it
//! is a refresh result (and succeeds otherwise); an attempt passes over refresh
//! results the policy never asked for, and [`SimulatedUpstream::unused`] names them.

use std::collections::VecDeque;

use crate::classify;
use crate::domain::{Caller, CredentialId, Millis, Trail, TransportError};
use crate::executor::Upstream;
use crate::policy::{AttemptPlan, CredentialView, Effect, Observed, RefreshOutcome};

// === What to simulate, and the answer ===

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulationSpec {
    /// The caller.
    pub caller: Caller,
    /// Outcomes of successive attempts.
    pub outcomes: Vec<ScriptedOutcome>,
    /// Budget; `None` for the caller's configured timeout.
    pub budget_ms: Option<u64>,
    /// Ignore cooldowns and dead marks.
    pub assume_all_credentials_live: bool,
    /// Overrides the first candidate's model.
    pub model: Option<String>,
    /// Changes to the credentials planned with.
    pub credentials: Vec<SimulatedCredential>,
}

/// A simulation's answer.
#[derive(Debug, Clone)]
pub struct Simulated {
    /// The steps the policy would take (no request id).
    pub trail: Trail,
    /// Which credential state it planned with.
    pub basis: CredentialBasis,
    /// The same in words, with the credentials not usable and any outcome unused.
    pub note: String,
}

// === The credentials a simulation plans with ===

/// Which credential state a simulation planned with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialBasis {
    /// The live pools as they are now (the default).
    CurrentState,
    /// As if every credential were healthy.
    AllHealthy,
}

/// A change to one credential of the pools a simulation plans with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedCredential {
    /// The credential.
    pub id: CredentialId,
    /// Seconds from now until its access token expires (negative: expired).
    pub expires_in_s: Option<i64>,
}

/// A simulated credential the pools cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No pool of the caller's providers holds it.
    #[error("credential {0:?} is not in the pool of any of this caller's providers")]
    Unknown(String),
    /// A static key has no access token to expire.
    #[error("credential {0:?} is a static key: it has no expiry (only OAuth credentials do)")]
    NotRefreshable(String),
}

/// Prepares `view` (the live pools) for a simulation at `now`: healthy if
/// `basis` says so, then `changes` applied. Returns the sentence that says,
/// plainly, which state the plan used and what in it was not usable.
pub(crate) fn plan_with(
    view: &mut CredentialView,
    basis: CredentialBasis,
    changes: &[SimulatedCredential],
    now: Millis,
) -> Result<String, CredentialError> {
    let mut unusable: Vec<String> = view
        .values()
        .flatten()
        .filter_map(|info| {
            if info.dead {
                Some(format!("{} dead", info.id))
            } else {
                info.cooldown_until.filter(|t| *t > now).map(|t| {
                    format!(
                        "{} cooling down for {} s",
                        info.id,
                        (t - now).div_ceil(1000)
                    )
                })
            }
        })
        .collect();
    unusable.sort();
    if basis == CredentialBasis::AllHealthy {
        for info in view.values_mut().flatten() {
            // Live and fresh: no cooldown, no dead mark, no outlier history.
            info.dead = false;
            info.cooldown_until = None;
            info.failures = 0;
            info.failing_class = None;
            info.ejections = 0;
        }
    }
    for change in changes {
        let info = view
            .values_mut()
            .flatten()
            .find(|info| info.id == change.id)
            .ok_or_else(|| CredentialError::Unknown(change.id.to_string()))?;
        if let Some(s) = change.expires_in_s {
            if !info.refreshable {
                return Err(CredentialError::NotRefreshable(change.id.to_string()));
            }
            let ms = s.unsigned_abs().saturating_mul(1000);
            info.expires_at = Some(if s >= 0 {
                now.saturating_add(ms)
            } else {
                now.saturating_sub(ms)
            });
        }
    }
    let state = if unusable.is_empty() {
        "every credential is usable now".to_owned()
    } else {
        format!("not usable now: {}", unusable.join(", "))
    };
    Ok(match basis {
        CredentialBasis::CurrentState => format!(
            "planned with the current credential state ({state}); set \
             assume_all_credentials_live to plan as if every credential were healthy"
        ),
        CredentialBasis::AllHealthy => format!(
            "planned as if every credential were healthy (assume_all_credentials_live); \
             in the current state, {state}"
        ),
    })
}

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
    /// How a credential refresh asked by the policy ends.
    Refresh {
        /// Refreshed, refused for good, or failed transiently (never `StillRunning`:
        /// a simulated refresh takes `duration_ms` and the budget decides the rest).
        outcome: RefreshOutcome,
        /// Simulated duration.
        duration_ms: u64,
    },
}

/// Scripted attempts and refreshes on a virtual clock. Once the script runs out,
/// attempts and refreshes succeed.
#[derive(Debug)]
pub(crate) struct SimulatedUpstream {
    now: Millis,
    /// The script, each outcome with its position in the request.
    script: VecDeque<(usize, ScriptedOutcome)>,
    /// Positions of refresh results passed over by an attempt.
    unused: Vec<usize>,
}

impl SimulatedUpstream {
    /// A simulation starting at `now` (Unix ms).
    pub(crate) fn new(now: Millis, script: Vec<ScriptedOutcome>) -> Self {
        Self {
            now,
            script: script.into_iter().enumerate().collect(),
            unused: Vec::new(),
        }
    }

    /// Positions (from 0) of the scripted outcomes the run never used: refresh
    /// results where the policy asked for an attempt, and whatever was left over.
    pub(crate) fn unused(&self) -> Vec<usize> {
        let mut unused = self.unused.clone();
        unused.extend(self.script.iter().map(|(i, _)| *i));
        unused
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
        // A refresh result here answers a refresh the policy did not ask for.
        while let Some((i, ScriptedOutcome::Refresh { .. })) = self.script.front() {
            self.unused.push(*i);
            self.script.pop_front();
        }
        match self.script.pop_front().map(|(_, o)| o) {
            None | Some(ScriptedOutcome::Refresh { .. }) => success,
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
        match self.script.front() {
            Some((_, ScriptedOutcome::Refresh { .. })) => {}
            _ => return RefreshOutcome::Refreshed,
        }
        match self.script.pop_front() {
            Some((
                _,
                ScriptedOutcome::Refresh {
                    outcome,
                    duration_ms,
                },
            )) => {
                self.now = self.now.saturating_add(duration_ms);
                outcome
            }
            _ => RefreshOutcome::Refreshed,
        }
    }

    async fn apply(&mut self, _effects: Vec<Effect>) {
        // A simulation changes no credential: the run keeps its own copy of state.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> ScriptedOutcome {
        ScriptedOutcome::Http {
            status,
            headers: http::HeaderMap::new(),
            body: Vec::new(),
            duration_ms: 0,
        }
    }

    fn refused() -> ScriptedOutcome {
        ScriptedOutcome::Refresh {
            outcome: RefreshOutcome::Terminal("invalid_grant".into()),
            duration_ms: 7,
        }
    }

    fn plan() -> AttemptPlan {
        AttemptPlan {
            candidate_index: 0,
            candidate: crate::domain::Candidate {
                provider: "p".into(),
                model: "m".into(),
                base_url: "http://127.0.0.1:1".into(),
                origin: crate::domain::Origin::Main,
                capabilities: crate::domain::Capabilities::default(),
            },
            credential_id: "k".into(),
            delay_ms: 0,
            budget_ms: 1000,
        }
    }

    fn view() -> CredentialView {
        use crate::policy::CredentialInfo;
        let oauth = CredentialInfo {
            refreshable: true,
            dead: true,
            ..CredentialInfo::new("p-oauth".into())
        };
        let cooling = CredentialInfo {
            cooldown_until: Some(31_000),
            ..CredentialInfo::new("p-key".into())
        };
        CredentialView::from_iter([("p".into(), vec![oauth, cooling])])
    }

    #[test]
    fn the_current_state_is_planned_with_and_said() {
        let mut v = view();
        let note = plan_with(&mut v, CredentialBasis::CurrentState, &[], 1_000).unwrap();
        assert!(v["p"][0].dead, "the dead mark stays");
        assert_eq!(
            note,
            "planned with the current credential state (not usable now: p-key cooling down \
             for 30 s, p-oauth dead); set assume_all_credentials_live to plan as if every \
             credential were healthy"
        );
    }

    #[test]
    fn all_healthy_clears_the_state_and_still_says_what_it_is() {
        let mut v = view();
        let note = plan_with(&mut v, CredentialBasis::AllHealthy, &[], 1_000).unwrap();
        assert!(!v["p"][0].dead && v["p"][1].cooldown_until.is_none());
        assert!(note.starts_with("planned as if every credential were healthy"));
        assert!(note.ends_with("not usable now: p-key cooling down for 30 s, p-oauth dead"));
    }

    #[test]
    fn an_expiry_applies_to_an_oauth_credential_only() {
        let change = |id: &str, s| SimulatedCredential {
            id: id.into(),
            expires_in_s: Some(s),
        };
        let mut v = view();
        plan_with(
            &mut v,
            CredentialBasis::CurrentState,
            &[change("p-oauth", -5)],
            10_000,
        )
        .unwrap();
        assert_eq!(v["p"][0].expires_at, Some(5_000));
        let static_key = plan_with(
            &mut v,
            CredentialBasis::CurrentState,
            &[change("p-key", 10)],
            0,
        );
        assert_eq!(
            static_key,
            Err(CredentialError::NotRefreshable("p-key".into()))
        );
        let unknown = plan_with(&mut v, CredentialBasis::CurrentState, &[change("x", 10)], 0);
        assert_eq!(unknown, Err(CredentialError::Unknown("x".into())));
    }

    #[tokio::test]
    async fn a_refresh_takes_the_next_refresh_result_and_its_time() {
        let mut up = SimulatedUpstream::new(0, vec![refused()]);
        let got = up.refresh(&"k".into()).await;
        assert_eq!(got, RefreshOutcome::Terminal("invalid_grant".into()));
        assert_eq!(up.now(), 7);
        assert!(up.unused().is_empty());
        // The script is spent: the next refresh succeeds.
        assert_eq!(up.refresh(&"k".into()).await, RefreshOutcome::Refreshed);
    }

    #[tokio::test]
    async fn a_refresh_leaves_an_attempt_outcome_for_the_attempt() {
        let mut up = SimulatedUpstream::new(0, vec![http(500)]);
        assert_eq!(up.refresh(&"k".into()).await, RefreshOutcome::Refreshed);
        let (observed, _) = up.attempt(&plan()).await;
        assert!(matches!(observed, Observed::Failure(_)));
    }

    #[tokio::test]
    async fn an_attempt_passes_over_refresh_results_and_names_them_unused() {
        let mut up = SimulatedUpstream::new(0, vec![refused(), http(500), http(200)]);
        let (observed, _) = up.attempt(&plan()).await;
        assert!(matches!(observed, Observed::Failure(_)));
        assert_eq!(up.unused(), vec![0, 2]);
    }
}
