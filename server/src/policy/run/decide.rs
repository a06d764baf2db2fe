//! The interpreter of the rule table ([`crate::policy::rules`]): turns the rule
//! of a failure's class, the key's state and the run's counters and budget into
//! one [`Decision`] and its trail reason, and applies the decision to the run.
//! Also the key-health bookkeeping the rules call for (failures in a row,
//! ejections, cooldowns) and the refresh-before-use rule.

use super::{Phase, Run};
use crate::domain::{ErrorClass, FailureReason, Millis};
use crate::policy::rules::{self, Again, Decision, KeyFate, Rule, Then};
use crate::policy::{Effect, Finish};

/// What a rule did to the key that failed.
struct Fate {
    /// The trail's reason, if the fate has one to tell.
    why: Option<String>,
    /// The key is out for this request (dead, cooled down, ejected or skipped).
    out: bool,
}

// === impl Run (decisions) ===

impl Run {
    /// Decides what follows a failure of `class`: the rule table's row for the
    /// class, read against the current key and the run's counters and budget.
    /// One function for every caller: it never looks at who calls.
    pub(super) fn decide(
        &mut self,
        now: Millis,
        class: ErrorClass,
        retry_after: Option<u64>,
        effects: &mut Vec<Effect>,
    ) -> (Decision, String) {
        self.decide_by(rules::rule(class), now, class, retry_after, effects)
    }

    /// Decides by `rule`: a row of the table, or the rule after a stream's first token.
    pub(super) fn decide_by(
        &mut self,
        rule: Rule,
        now: Millis,
        class: ErrorClass,
        retry_after: Option<u64>,
        effects: &mut Vec<Effect>,
    ) -> (Decision, String) {
        if rule.refresh_first
            && self.current_slot().info.refreshable
            && !self.current_slot().refreshed
        {
            return (
                Decision::RefreshAndRetry,
                "refreshing the credential once, then retrying".into(),
            );
        }
        if rule.again == Again::OnceAfterRetryAfter
            && let Some(wait) = self.retry_after_once(now, retry_after)
        {
            return (
                Decision::RetrySame,
                format!("retrying once after Retry-After {wait} ms"),
            );
        }
        let fate = self.key_fate(rule.key, now, class, retry_after, effects);
        let mut why = fate.why;
        if rule.again == Again::Backoff && !fate.out {
            match self.backoff_retry(now) {
                Ok(retry) => return (Decision::RetrySame, retry),
                Err(why_not) => why = Some(why_not),
            }
        }
        match rule.then {
            Then::Succeed => (Decision::Succeed, "answered".into()),
            Then::RotateElseNext => (self.rotate_or_next(now), why.unwrap_or_default()),
            // A key this failure ejected rotates; a key that stays in rotation is
            // not at fault alone (an overloaded provider), so the next candidate.
            Then::NextCandidate if fate.out => (self.rotate_or_next(now), why.unwrap_or_default()),
            Then::NextCandidate => (
                Decision::NextCandidate,
                why.unwrap_or_else(|| "this candidate cannot serve the request".into()),
            ),
            Then::ReturnToCaller(reason) => (
                Decision::ReturnToCaller(reason),
                format!(
                    "{}; no other candidate is tried",
                    rules::caller_must(reason)
                ),
            ),
            Then::StopStream => (
                Decision::StopStream,
                "the answer had started streaming, so no other candidate may continue it".into(),
            ),
        }
    }

    /// Applies a decision: where the run goes next, and how it ends.
    pub(super) fn apply(&mut self, decision: Decision) {
        match decision {
            Decision::RetrySame => self.phase = Phase::Attempt,
            Decision::RefreshAndRetry => self.phase = Phase::Refresh,
            Decision::RotateCredential => {
                // rotate_or_next already moved `slot` to the next live key.
                self.retries = 0;
                self.rate_limit_retried = false;
                self.delay_ms = 0;
                self.phase = Phase::Attempt;
            }
            Decision::NextCandidate => {
                self.delay_ms = 0;
                self.phase = Phase::Select;
            }
            Decision::ReturnToCaller(reason) => self.phase = Phase::Done(Finish::Failed(reason)),
            Decision::Succeed => self.phase = Phase::Done(Finish::Succeeded),
            Decision::StopStream => {
                self.phase = Phase::Done(Finish::Failed(FailureReason::StreamInterrupted));
            }
        }
    }

    /// The rate-limit retry: the wait, when the provider asked for one that is
    /// short enough, fits the budget, and was not waited for yet in this request.
    fn retry_after_once(&mut self, now: Millis, retry_after: Option<u64>) -> Option<u64> {
        let wait = retry_after?;
        if self.rate_limit_retried || wait > self.cfg.rate_limit_max_wait_ms {
            return None;
        }
        if !self.fits(now, wait) {
            // A retry that would have been made with more time left.
            self.starved = true;
            return None;
        }
        self.rate_limit_retried = true;
        self.delay_ms = wait;
        Some(wait)
    }

    /// A backoff retry of the same key: its trail reason, or why there is none.
    fn backoff_retry(&mut self, now: Millis) -> Result<String, String> {
        let max = self.cfg.max_retries;
        let backoff = self.backoff(self.retries);
        if self.retries < max && self.fits(now, backoff) {
            self.retries += 1;
            self.delay_ms = backoff;
            Ok(format!(
                "retry {}/{max} after {backoff} ms backoff",
                self.retries
            ))
        } else if self.retries < max {
            self.starved = true;
            Err("no budget left for a backoff retry".into())
        } else {
            Err(format!("{max} retries spent"))
        }
    }

    /// Does to the current key what the rule says, recording the effects.
    fn key_fate(
        &mut self,
        fate: KeyFate,
        now: Millis,
        class: ErrorClass,
        retry_after: Option<u64>,
        effects: &mut Vec<Effect>,
    ) -> Fate {
        let cfg = self.cfg;
        match fate {
            KeyFate::Keep => Fate {
                why: None,
                out: false,
            },
            KeyFate::CountFailure => {
                let (ejected, why) = self.count_failure(now, class, effects);
                Fate {
                    why: Some(why),
                    out: ejected,
                }
            }
            KeyFate::CountFailureAndSkip => {
                let (_, why) = self.count_failure(now, class, effects);
                // Not again in this request, ejected or not.
                self.slot_mut().excluded = true;
                Fate {
                    why: Some(why),
                    out: true,
                }
            }
            KeyFate::MarkDead => {
                let id = self.current_slot().info.id.clone();
                self.slot_mut().info.dead = true;
                effects.push(Effect::MarkDead {
                    credential_id: id,
                    reason: "provider invalidated the credential".into(),
                });
                Fate {
                    why: Some("credential marked dead".into()),
                    out: true,
                }
            }
            KeyFate::SkipForRequest => {
                self.slot_mut().excluded = true;
                Fate {
                    why: Some("key refused for this request".into()),
                    out: true,
                }
            }
            KeyFate::CoolDown => {
                let wait = cfg.capped(retry_after.unwrap_or(cfg.billing_cooldown_ms));
                self.cool_down(now.saturating_add(wait), class, effects);
                Fate {
                    why: Some(format!(
                        "no retry of an out-of-credit key; cooling down for {} s",
                        wait / 1000
                    )),
                    out: true,
                }
            }
            KeyFate::EjectAsAskedElseCount => {
                let why = match retry_after {
                    // The provider said how long: believe it (capped), at once.
                    Some(wait) => {
                        let ms = self.eject(now, class, Some(wait), effects);
                        format!("key ejected for {ms} ms as the provider asked")
                    }
                    None => self.count_failure(now, class, effects).1,
                };
                self.slot_mut().excluded = true;
                Fate {
                    why: Some(why),
                    out: true,
                }
            }
        }
    }

    /// Moves to the next usable key of the current provider if there is one.
    pub(super) fn rotate_or_next(&mut self, now: Millis) -> Decision {
        let provider = self.candidates[self.current].provider.clone();
        let pool = &self.pools[&provider];
        let current = self.slot;
        match pool
            .iter()
            .enumerate()
            .position(|(i, s)| i != current && s.usable(now))
        {
            Some(i) => {
                self.slot = i;
                Decision::RotateCredential
            }
            None => Decision::NextCandidate,
        }
    }

    /// Whether waiting `wait` ms still leaves room for an attempt.
    fn fits(&self, now: Millis, wait: u64) -> bool {
        now.saturating_add(wait)
            .saturating_add(self.cfg.min_attempt_ms)
            <= self.deadline
    }

    /// Counts a failure of the current key against its class's threshold and
    /// ejects the key when the threshold is reached. Returns whether it did, and
    /// the trail's reason.
    fn count_failure(
        &mut self,
        now: Millis,
        class: ErrorClass,
        effects: &mut Vec<Effect>,
    ) -> (bool, String) {
        let Some(threshold) = self.cfg.outlier.threshold(class) else {
            return (false, String::new());
        };
        let failures = self.current_slot().info.next_failure_count(class);
        if failures >= threshold {
            let ms = self.eject(now, class, None, effects);
            let nth = self.current_slot().info.ejections;
            let why = format!(
                "{failures} failures in a row: key ejected for {} (ejection {nth})",
                human_ms(ms)
            );
            return (true, why);
        }
        let slot = self.slot_mut();
        let effect = Effect::Failed {
            credential_id: slot.info.id.clone(),
            class,
        };
        slot.info.apply(&effect);
        effects.push(effect);
        let why = format!("failure {failures}/{threshold} in a row; the key stays in rotation");
        (false, why)
    }

    /// Takes the current key out of rotation: for `wait` (a provider's word,
    /// capped), else for `base * 2^(ejections-1)` (capped). Returns the length.
    fn eject(
        &mut self,
        now: Millis,
        class: ErrorClass,
        wait: Option<u64>,
        effects: &mut Vec<Effect>,
    ) -> u64 {
        let cfg = self.cfg;
        let slot = self.slot_mut();
        let nth = slot.info.ejections.saturating_add(1);
        let ms = match wait {
            Some(wait) => cfg.capped(wait),
            None => cfg.ejection_ms(class, nth),
        };
        let effect = Effect::Eject {
            credential_id: slot.info.id.clone(),
            until: now.saturating_add(ms),
            class,
            ejections: nth,
        };
        slot.info.apply(&effect);
        effects.push(effect);
        ms
    }

    /// A success of the current key resets its failure count and decays its
    /// ejection count, when it has any (the happy path emits nothing).
    pub(super) fn recovered(&mut self, effects: &mut Vec<Effect>) {
        let slot = self.slot_mut();
        if slot.info.failures > 0 || slot.info.ejections > 0 {
            let effect = Effect::Recovered {
                credential_id: slot.info.id.clone(),
            };
            slot.info.apply(&effect);
            effects.push(effect);
        }
    }

    /// Why the current credential must be refreshed before the attempt starting
    /// at `start`, if it must: refreshable, not refreshed yet by this request,
    /// and its access token expires within the skew.
    pub(super) fn refresh_before_use(&self, start: Millis) -> Option<String> {
        let slot = self.current_slot();
        let expires = slot.info.expires_at?;
        if !slot.info.refreshable
            || slot.refreshed
            || expires > start.saturating_add(self.cfg.refresh_skew_ms)
        {
            return None;
        }
        Some(if expires > start {
            format!(
                "access token expires in {} s; refreshing before use",
                (expires - start) / 1000
            )
        } else {
            format!(
                "access token expired {} s ago; refreshing before use",
                (start - expires) / 1000
            )
        })
    }

    pub(super) fn cool_down(
        &mut self,
        until: Millis,
        class: ErrorClass,
        effects: &mut Vec<Effect>,
    ) {
        let slot = self.slot_mut();
        slot.info.cooldown_until = Some(until);
        effects.push(Effect::Cooldown {
            credential_id: slot.info.id.clone(),
            until,
            class,
        });
    }
}

/// `1500 ms`, or `30 s` for whole seconds.
fn human_ms(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}
