//! The decision state machine: one [`Run`] per request, driven by the executor or
//! by a simulation. Pure: time, credential state and outcomes come in as values.

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use super::rules::AFTER_FIRST_TOKEN;
use super::{
    AttemptPlan, CredentialInfo, CredentialView, Effect, Finish, Next, Observed, PolicyConfig,
    RefreshOutcome,
};
use crate::classify::Classification;
use crate::domain::{
    Action, Candidate, CredentialId, ErrorClass, FailureReason, Millis, Needs, Step,
};

mod decide;

// === impl Run ===

#[derive(Debug, Clone)]
struct Slot {
    info: CredentialInfo,
    refreshed: bool,
    /// Newer tokens another refresh obtained were adopted once by this request.
    adopted: bool,
    /// Not used again by this request (a 403, or a failure below the ejection
    /// threshold: the key stays in rotation for other requests).
    excluded: bool,
    /// Attempted by this request (panic mode tries each ejected key at most once).
    tried: bool,
}

impl Slot {
    fn usable(&self, now: Millis) -> bool {
        !self.info.dead && !self.excluded && self.info.cooldown_until.is_none_or(|t| t <= now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Pick the next candidate from `next_candidate` on.
    Select,
    /// Attempt the current candidate and credential after `delay_ms`.
    Attempt,
    /// Refresh the current credential.
    Refresh,
    /// Waiting for `record` / `record_refresh`.
    InFlight,
    Done(Finish),
}

/// The decision state machine of one request. Drive it with [`Run::next`] and
/// report each outcome with [`Run::record`] (or [`Run::record_refresh`]).
#[derive(Debug, Clone)]
pub struct Run {
    cfg: PolicyConfig,
    candidates: Vec<Candidate>,
    pools: HashMap<Arc<str>, Vec<Slot>>,
    deadline: Millis,
    seed: u64,
    phase: Phase,
    next_candidate: usize,
    current: usize,
    slot: usize,
    retries: u32,
    rate_limit_retried: bool,
    delay_ms: u64,
    /// A retry or an attempt was given up for lack of time.
    starved: bool,
    /// Prefix of the next attempt's step reason (panic mode says so in the trail).
    note: Option<&'static str>,
    /// What the request needs of a candidate beyond text.
    needs: Needs,
    steps: Vec<Step>,
}

/// Trail note of an attempt made in panic mode when no candidate had a live key.
const PANIC_ALL_EJECTED: &str =
    "every candidate is ejected; trying the one whose ejection ends soonest (panic mode)";
/// Trail note of an attempt made in panic mode once the live keys have failed.
const PANIC_LAST_RESORT: &str =
    "no live candidate left; trying the ejected key whose ejection ends soonest (panic mode)";

impl Run {
    /// Starts a run over `candidates` with the credential state `creds`, ending
    /// at `deadline` (Unix ms). `seed` drives the backoff jitter.
    pub fn new(
        cfg: PolicyConfig,
        candidates: Vec<Candidate>,
        creds: &CredentialView,
        deadline: Millis,
        seed: u64,
    ) -> Self {
        let mut pools = HashMap::new();
        for c in &candidates {
            pools.entry(c.provider.clone()).or_insert_with(|| {
                creds
                    .get(&c.provider)
                    .map(|infos| {
                        infos
                            .iter()
                            .map(|info| Slot {
                                info: info.clone(),
                                refreshed: false,
                                adopted: false,
                                excluded: false,
                                tried: false,
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            });
        }
        Self {
            cfg,
            candidates,
            pools,
            deadline,
            seed,
            phase: Phase::Select,
            next_candidate: 0,
            current: 0,
            slot: 0,
            retries: 0,
            rate_limit_retried: false,
            delay_ms: 0,
            starved: false,
            note: None,
            needs: Needs::default(),
            steps: Vec::new(),
        }
    }

    /// The same run for a request that needs `needs`: candidates whose provider
    /// cannot serve it are skipped, with the reason in the trail.
    pub fn needing(mut self, needs: Needs) -> Self {
        self.needs = needs;
        self
    }

    /// The candidate list, in order.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The trail so far.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Consumes the run, returning its trail.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps
    }

    /// What to do next, at time `now`.
    pub fn next(&mut self, now: Millis) -> Next {
        loop {
            match self.phase {
                Phase::Done(finish) => return Next::Done(finish),
                Phase::InFlight => {
                    // A driver bug: asking again without reporting. Refuse to loop.
                    return Next::Done(Finish::Failed(FailureReason::AllCandidatesFailed));
                }
                Phase::Select => self.select(now),
                Phase::Refresh => {
                    self.phase = Phase::InFlight;
                    return Next::Refresh {
                        credential_id: self.current_slot().info.id.clone(),
                    };
                }
                Phase::Attempt => {
                    let start = now.saturating_add(self.delay_ms);
                    let left = self.deadline.saturating_sub(start);
                    if left < self.cfg.min_attempt_ms {
                        self.give_up(
                            FailureReason::DeadlineExhausted,
                            format!(
                                "time budget exhausted: {left} ms left, an attempt needs at least {} ms",
                                self.cfg.min_attempt_ms
                            ),
                        );
                        continue;
                    }
                    if let Some(why) = self.refresh_before_use(start) {
                        let used = Some(self.current_slot().info.id.clone());
                        self.push_step(ErrorClass::None, 0, Action::RefreshAndRetry, why, 0, used);
                        self.phase = Phase::Refresh;
                        continue;
                    }
                    self.phase = Phase::InFlight;
                    self.slot_mut().tried = true;
                    let candidate = self.candidates[self.current].clone();
                    return Next::Attempt(AttemptPlan {
                        candidate_index: self.current,
                        credential_id: self.current_slot().info.id.clone(),
                        candidate,
                        delay_ms: std::mem::take(&mut self.delay_ms),
                        budget_ms: left,
                    });
                }
            }
        }
    }

    /// Reports the outcome of the attempt returned by the last [`Run::next`].
    /// Returns the credential effects to apply.
    pub fn record(&mut self, now: Millis, duration_ms: u64, observed: &Observed) -> Vec<Effect> {
        let mut effects = Vec::new();
        let (class, http_status, retry_after, detail) = match observed {
            Observed::Success { http_status } => {
                let used = Some(self.current_slot().info.id.clone());
                self.recovered(&mut effects);
                let why = self.noted("answered".into());
                self.push_step(
                    ErrorClass::None,
                    *http_status,
                    Action::Succeed,
                    why,
                    duration_ms,
                    used,
                );
                self.phase = Phase::Done(Finish::Succeeded);
                return effects;
            }
            Observed::Failure(c) => (c.class, c.http_status, c.retry_after_ms, c.detail.as_str()),
        };
        let used = Some(self.current_slot().info.id.clone());
        let (decision, why) = self.decide(now, class, retry_after, &mut effects);
        let why = self.noted(format!("{detail}; {why}"));
        let action = decision.action();
        self.push_step(class, http_status, action, why, duration_ms, used);
        self.apply(decision);
        effects
    }

    /// Reports how the refresh asked by [`Next::Refresh`] ended.
    pub fn record_refresh(
        &mut self,
        now: Millis,
        duration_ms: u64,
        outcome: &RefreshOutcome,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let slot = self.slot_mut();
        if *outcome == RefreshOutcome::Adopted && !slot.adopted {
            // Not this request's refresh: if the adopted tokens fail too, it may
            // still make one. Once only, so a run always ends.
            slot.adopted = true;
        } else {
            slot.refreshed = true;
        }
        let used = Some(self.current_slot().info.id.clone());
        match outcome {
            RefreshOutcome::Refreshed | RefreshOutcome::Adopted => {
                self.phase = Phase::Attempt;
            }
            RefreshOutcome::Terminal(detail) => {
                let id = self.current_slot().info.id.clone();
                self.slot_mut().info.dead = true;
                effects.push(Effect::MarkDead {
                    credential_id: id,
                    reason: format!("refresh refused: {detail}"),
                });
                let decision = self.rotate_or_next(now);
                let why = format!("refresh refused ({detail}), credential marked dead");
                let action = decision.action();
                self.push_step(ErrorClass::AuthTerminal, 0, action, why, duration_ms, used);
                self.apply(decision);
            }
            RefreshOutcome::Transient(detail) => {
                let wait = self.cfg.capped(self.cfg.auth_cooldown_ms);
                self.cool_down(now.saturating_add(wait), ErrorClass::Auth, &mut effects);
                let decision = self.rotate_or_next(now);
                let why = format!("refresh failed ({detail}), credential cooling down");
                let action = decision.action();
                self.push_step(ErrorClass::Auth, 0, action, why, duration_ms, used);
                self.apply(decision);
            }
            RefreshOutcome::StillRunning(detail) => {
                // Not the credential's fault: no cooldown, no rotation. The request
                // has no time left for another attempt.
                let why =
                    format!("time budget exhausted: {detail}; it goes on without this request");
                self.push_step(ErrorClass::Auth, 0, Action::GiveUp, why, duration_ms, used);
                self.phase = Phase::Done(Finish::Failed(FailureReason::DeadlineExhausted));
            }
        }
        effects
    }

    /// Reports that the streamed answer of the last, successful attempt failed
    /// after its first content token reached the caller. No candidate may continue
    /// a half-delivered answer: whatever the class, the run ends with
    /// [`FailureReason::StreamInterrupted`]. The same rule for every caller.
    ///
    /// Ignored unless the run ended with a success (the committed attempt).
    pub fn record_interrupted(&mut self, duration_ms: u64, failure: &Classification) {
        if self.phase != Phase::Done(Finish::Succeeded) {
            return;
        }
        let used = Some(self.current_slot().info.id.clone());
        // The rule after a first token has no key fate and no clock: no effects.
        let (decision, why) =
            self.decide_by(AFTER_FIRST_TOKEN, 0, failure.class, None, &mut Vec::new());
        let why = format!("{}; {why}", failure.detail);
        self.push_step(
            failure.class,
            failure.http_status,
            decision.action(),
            why,
            duration_ms,
            used,
        );
        self.apply(decision);
    }

    /// Jittered exponential backoff: `base * 2^n`, capped, times a factor in [0.5, 1).
    pub(super) fn backoff(&self, n: u32) -> u64 {
        let exp = self
            .cfg
            .backoff_base_ms
            .saturating_mul(1u64 << n.min(20))
            .min(self.cfg.backoff_max_ms);
        let r = splitmix64(self.seed ^ (self.steps.len() as u64).wrapping_mul(0x9E37_79B9));
        let frac = (r >> 11) as f64 / (1u64 << 53) as f64;
        (exp as f64 * (0.5 + 0.5 * frac)) as u64
    }

    /// Prefixes `why` with the pending trail note, if any.
    fn noted(&mut self, why: String) -> String {
        match self.note.take() {
            Some(note) => format!("{note}; {why}"),
            None => why,
        }
    }

    /// The key, over every distinct candidate, whose ejection ends soonest; dead
    /// keys and keys tried or refused earlier in this request excluded.
    fn soonest_ejected(&self, now: Millis) -> Option<(usize, usize)> {
        let mut best: Option<(Millis, usize, usize)> = None;
        for (index, c) in self.candidates.iter().enumerate() {
            if self.candidates[..index]
                .iter()
                .any(|p| p.provider == c.provider && p.model == c.model && p.base_url == c.base_url)
                || c.capabilities.missing(self.needs).is_some()
            {
                continue;
            }
            for (i, s) in self.pools[&c.provider].iter().enumerate() {
                let Some(until) = s.info.cooldown_until.filter(|t| *t > now) else {
                    continue;
                };
                if !s.info.dead && !s.excluded && !s.tried && best.is_none_or(|(b, _, _)| until < b)
                {
                    best = Some((until, index, i));
                }
            }
        }
        best.map(|(_, index, slot)| (index, slot))
    }

    /// Picks the next candidate with a usable key, recording skips.
    fn select(&mut self, now: Millis) {
        while self.next_candidate < self.candidates.len() {
            let index = self.next_candidate;
            self.next_candidate += 1;
            let c = &self.candidates[index];
            if let Some(first) = self.candidates[..index].iter().position(|p| {
                p.provider == c.provider && p.model == c.model && p.base_url == c.base_url
            }) {
                self.current = index;
                self.push_step(
                    ErrorClass::None,
                    0,
                    Action::SkipCandidate,
                    format!(
                        "duplicate of candidate {first} ({} {})",
                        c.provider, c.model
                    ),
                    0,
                    None,
                );
                continue;
            }
            if let Some(missing) = c.capabilities.missing(self.needs) {
                let reason = format!(
                    "{} {} cannot serve {missing} (providers.{}.capabilities)",
                    c.provider, c.model, c.provider
                );
                self.current = index;
                self.push_step(ErrorClass::None, 0, Action::SkipCandidate, reason, 0, None);
                continue;
            }
            let pool = &self.pools[&c.provider];
            match pool.iter().position(|s| s.usable(now)) {
                Some(slot) => {
                    self.current = index;
                    self.slot = slot;
                    self.retries = 0;
                    self.rate_limit_retried = false;
                    self.phase = Phase::Attempt;
                    return;
                }
                None => {
                    let reason = describe_empty_pool(pool, now);
                    self.current = index;
                    self.push_step(ErrorClass::None, 0, Action::SkipCandidate, reason, 0, None);
                }
            }
        }
        // Panic mode: rather than fail the caller (or fail without contacting any
        // provider) while keys are merely ejected, try the one coming back first.
        // Ejection steers traffic away; it must not turn a sporadic fault into an
        // outage when nothing else is left.
        if let Some((index, slot)) = self.soonest_ejected(now) {
            let contacted = self.steps.iter().any(|s| s.action != Action::SkipCandidate);
            self.note = Some(if contacted {
                PANIC_LAST_RESORT
            } else {
                PANIC_ALL_EJECTED
            });
            self.current = index;
            self.slot = slot;
            self.retries = 0;
            self.rate_limit_retried = false;
            self.phase = Phase::Attempt;
            return;
        }
        let tried = self
            .steps
            .iter()
            .filter(|s| s.action != Action::SkipCandidate)
            .count();
        // Out of candidates because time ran short is a deadline failure, not an
        // exhausted list: the caller should know a longer deadline could succeed.
        let reason = if self.starved {
            FailureReason::DeadlineExhausted
        } else {
            FailureReason::AllCandidatesFailed
        };
        self.give_up(
            reason,
            format!(
                "no candidate left: {} candidates, {tried} attempts{}",
                self.candidates.len(),
                if self.starved {
                    "; retries were cut short by the time budget"
                } else {
                    ""
                }
            ),
        );
    }

    fn give_up(&mut self, reason: FailureReason, why: String) {
        self.steps.push(Step {
            candidate_index: self.candidates.len() as u32,
            provider: "".into(),
            model: "".into(),
            credential_id: None,
            error_class: ErrorClass::None,
            http_status: 0,
            action: Action::GiveUp,
            reason: why,
            duration_ms: 0,
        });
        self.phase = Phase::Done(Finish::Failed(reason));
    }

    fn push_step(
        &mut self,
        error_class: ErrorClass,
        http_status: u16,
        action: Action,
        reason: String,
        duration_ms: u64,
        credential_id: Option<CredentialId>,
    ) {
        let c = &self.candidates[self.current];
        self.steps.push(Step {
            candidate_index: self.current as u32,
            provider: c.provider.clone(),
            model: c.model.clone(),
            credential_id,
            error_class,
            http_status,
            action,
            reason,
            duration_ms,
        });
    }

    fn current_slot(&self) -> &Slot {
        &self.pools[&self.candidates[self.current].provider][self.slot]
    }

    #[expect(
        clippy::expect_used,
        reason = "the run builds a pool for every candidate's provider"
    )]
    fn slot_mut(&mut self) -> &mut Slot {
        let provider = self.candidates[self.current].provider.clone();
        &mut self
            .pools
            .get_mut(&provider)
            .expect("pool of every candidate")[self.slot]
    }
}

fn describe_empty_pool(pool: &[Slot], now: Millis) -> String {
    if pool.is_empty() {
        return "no credential configured for this provider".into();
    }
    let dead = pool.iter().filter(|s| s.info.dead).count();
    let cooling = pool
        .iter()
        .filter(|s| !s.info.dead && s.info.cooldown_until.is_some_and(|t| t > now))
        .count();
    let refused = pool.len() - dead - cooling;
    let mut parts = Vec::new();
    if dead > 0 {
        parts.push(format!("{dead} dead"));
    }
    if cooling > 0 {
        parts.push(format!("{cooling} cooling down"));
    }
    if refused > 0 {
        parts.push(format!("{refused} refused earlier in this request"));
    }
    format!("no live credential ({})", parts.join(", "))
}

/// A tiny, well-known mixing function: jitter without a clock or an RNG.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
