//! The fallback policy: one candidate-list builder and one decision state machine
//! for every caller, primary or auxiliary.
//!
//! This module is pure. It must not depend on tokio, reqwest, sqlx, tracing or the
//! clock: time, credential state and upstream outcomes come in as values, decisions
//! and effects go out as values. The executor (real calls) and `ExplainFallback`
//! (simulations) drive the very same [`Run`]. Nothing in here branches on the kind
//! of caller once the candidate list is built.

use std::collections::HashMap;
use std::sync::Arc;

use crate::classify::Classification;
use crate::domain::{
    Action, Caller, Candidate, CredentialId, ErrorClass, FailureReason, Millis, Origin, Step,
    Target,
};

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
        }
    }
}

/// An auxiliary task's routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRoute {
    /// The task's explicit provider; `None` means `auto` (the main provider).
    pub provider: Option<Arc<str>>,
    /// The task's model; `None` means the main model's.
    pub model: Option<Arc<str>>,
    /// The task's own fallback chain.
    pub fallback_chain: Vec<Target>,
    /// Whether the main model and its fallbacks close the list.
    pub last_resort: bool,
    /// Time budget of one call.
    pub timeout_ms: u64,
}

/// Tasks every deployment knows, configured or not. Unconfigured ones route `auto`.
pub const BUILTIN_TASKS: [&str; 7] = [
    "compression",
    "vision",
    "web_extract",
    "title_generation",
    "approval",
    "mcp",
    "skills_hub",
];

/// Everything the candidate builder needs, derived once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The main agent model.
    pub main: Target,
    /// `model.fallback_providers`.
    pub main_fallbacks: Vec<Target>,
    /// Time budget of a primary call.
    pub main_timeout_ms: u64,
    /// Configured auxiliary tasks.
    pub tasks: HashMap<String, TaskRoute>,
    /// Budget of a built-in task that the config does not mention.
    pub default_task_timeout_ms: u64,
    /// Base URL of every provider, for the duplicate check.
    pub base_urls: HashMap<Arc<str>, Arc<str>>,
}

/// The caller named a task that is neither built in nor configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task {0:?}")]
pub struct UnknownTask(pub String);

impl Routing {
    /// The task route of an auxiliary caller (a default `auto` route for an
    /// unconfigured built-in task).
    fn route(&self, task: &str) -> Result<TaskRoute, UnknownTask> {
        match self.tasks.get(task) {
            Some(route) => Ok(route.clone()),
            None if BUILTIN_TASKS.contains(&task) => Ok(TaskRoute {
                provider: None,
                model: None,
                fallback_chain: Vec::new(),
                last_resort: true,
                timeout_ms: self.default_task_timeout_ms,
            }),
            None => Err(UnknownTask(task.to_owned())),
        }
    }

    /// Every task a caller may name: the built-in ones and the configured ones, sorted.
    pub fn task_names(&self) -> Vec<String> {
        let mut tasks: Vec<String> = BUILTIN_TASKS
            .iter()
            .map(|t| (*t).to_owned())
            .chain(self.tasks.keys().cloned())
            .collect();
        tasks.sort_unstable();
        tasks.dedup();
        tasks
    }

    /// Time budget of one call of this caller.
    pub fn budget_ms(&self, caller: &Caller) -> Result<u64, UnknownTask> {
        match caller {
            Caller::Primary => Ok(self.main_timeout_ms),
            Caller::Aux(task) => Ok(self.route(task)?.timeout_ms),
        }
    }

    fn candidate(&self, provider: &Arc<str>, model: &Arc<str>, origin: Origin) -> Candidate {
        Candidate {
            provider: provider.clone(),
            model: model.clone(),
            base_url: self
                .base_urls
                .get(provider)
                .cloned()
                .unwrap_or_else(|| "".into()),
            origin,
        }
    }

    fn main_candidates(&self, out: &mut Vec<Candidate>) {
        out.push(self.candidate(&self.main.provider, &self.main.model, Origin::Main));
        for (i, t) in self.main_fallbacks.iter().enumerate() {
            out.push(self.candidate(&t.provider, &t.model, Origin::MainFallback(i)));
        }
    }

    /// The caller's ordered candidate list, duplicates included (the [`Run`]
    /// records them as skipped). `model` overrides the first candidate's model.
    pub fn candidates(
        &self,
        caller: &Caller,
        model: Option<&str>,
    ) -> Result<Vec<Candidate>, UnknownTask> {
        let mut out = Vec::new();
        match caller {
            Caller::Primary => self.main_candidates(&mut out),
            Caller::Aux(task) => {
                let route = self.route(task)?;
                let provider = route.provider.as_ref().unwrap_or(&self.main.provider);
                let first_model = route.model.as_ref().unwrap_or(&self.main.model);
                let origin = if route.provider.is_some() {
                    Origin::Task
                } else {
                    Origin::Main
                };
                out.push(self.candidate(provider, first_model, origin));
                for (i, t) in route.fallback_chain.iter().enumerate() {
                    out.push(self.candidate(&t.provider, &t.model, Origin::TaskChain(i)));
                }
                if route.last_resort {
                    self.main_candidates(&mut out);
                }
            }
        }
        if let (Some(model), Some(first)) = (model, out.first_mut()) {
            first.model = model.into();
        }
        Ok(out)
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
    /// Not used before this time.
    pub cooldown_until: Option<Millis>,
    /// Never used again.
    pub dead: bool,
}

/// Every provider's pool, in the order keys are tried.
pub type CredentialView = HashMap<Arc<str>, Vec<CredentialInfo>>;

/// How a credential refresh ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens are in place.
    Refreshed,
    /// The refresh grant was refused for good (`invalid_grant`, 401...).
    Terminal(String),
    /// The refresh failed in a way that may pass (token endpoint down).
    Transient(String),
    /// The request's budget ran out while the refresh was still running. The
    /// refresh goes on without the request; its result serves later requests.
    StillRunning(String),
}

/// A change of credential state the executor must apply and persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Do not use the credential before `until`.
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

// === impl Run ===

#[derive(Debug, Clone)]
struct Slot {
    info: CredentialInfo,
    refreshed: bool,
    /// Refused for this request only (403).
    excluded: bool,
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
    steps: Vec<Step>,
}

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
                                excluded: false,
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
            steps: Vec::new(),
        }
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
                    self.phase = Phase::InFlight;
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
                self.push_step(
                    ErrorClass::None,
                    *http_status,
                    Action::Succeed,
                    "answered".into(),
                    duration_ms,
                    used,
                );
                self.phase = Phase::Done(Finish::Succeeded);
                return effects;
            }
            Observed::Failure(c) => (c.class, c.http_status, c.retry_after_ms, c.detail.as_str()),
        };
        let used = Some(self.current_slot().info.id.clone());
        let (action, why) = self.decide(now, class, retry_after, &mut effects);
        self.push_step(
            class,
            http_status,
            action,
            format!("{detail}; {why}"),
            duration_ms,
            used,
        );
        self.apply(action);
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
        self.slot_mut().refreshed = true;
        let used = Some(self.current_slot().info.id.clone());
        match outcome {
            RefreshOutcome::Refreshed => {
                self.phase = Phase::Attempt;
            }
            RefreshOutcome::Terminal(detail) => {
                let id = self.current_slot().info.id.clone();
                self.slot_mut().info.dead = true;
                effects.push(Effect::MarkDead {
                    credential_id: id,
                    reason: format!("refresh refused: {detail}"),
                });
                let action = self.rotate_or_next(now);
                let why = format!("refresh refused ({detail}), credential marked dead");
                self.push_step(ErrorClass::AuthTerminal, 0, action, why, duration_ms, used);
                self.apply(action);
            }
            RefreshOutcome::Transient(detail) => {
                let until = now.saturating_add(self.cfg.auth_cooldown_ms);
                self.cool_down(until, ErrorClass::Auth, &mut effects);
                let action = self.rotate_or_next(now);
                let why = format!("refresh failed ({detail}), credential cooling down");
                self.push_step(ErrorClass::Auth, 0, action, why, duration_ms, used);
                self.apply(action);
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
        self.push_step(
            failure.class,
            failure.http_status,
            Action::StopStream,
            format!(
                "{}; the answer had started streaming, so no other candidate may continue it",
                failure.detail
            ),
            duration_ms,
            used,
        );
        self.apply(Action::StopStream);
    }

    // --- decisions ---

    /// The rule table. One function for every caller: it never looks at who calls.
    fn decide(
        &mut self,
        now: Millis,
        class: ErrorClass,
        retry_after: Option<u64>,
        effects: &mut Vec<Effect>,
    ) -> (Action, String) {
        let cfg = self.cfg;
        match class {
            ErrorClass::None => (Action::Succeed, "answered".into()),
            ErrorClass::Auth | ErrorClass::AuthTerminal
                if self.current_slot().info.refreshable && !self.current_slot().refreshed =>
            {
                (
                    Action::RefreshAndRetry,
                    "refreshing the credential once, then retrying".into(),
                )
            }
            ErrorClass::Auth => {
                let until = now.saturating_add(cfg.auth_cooldown_ms);
                self.cool_down(until, class, effects);
                let action = self.rotate_or_next(now);
                (
                    action,
                    format!(
                        "credential cooling down for {} s",
                        cfg.auth_cooldown_ms / 1000
                    ),
                )
            }
            ErrorClass::AuthTerminal => {
                let id = self.current_slot().info.id.clone();
                self.slot_mut().info.dead = true;
                effects.push(Effect::MarkDead {
                    credential_id: id,
                    reason: "provider invalidated the credential".into(),
                });
                (self.rotate_or_next(now), "credential marked dead".into())
            }
            ErrorClass::Forbidden => {
                self.slot_mut().excluded = true;
                (
                    self.rotate_or_next(now),
                    "key refused for this request".into(),
                )
            }
            ErrorClass::Billing => {
                let wait = retry_after.unwrap_or(cfg.billing_cooldown_ms);
                self.cool_down(now.saturating_add(wait), class, effects);
                (
                    self.rotate_or_next(now),
                    format!(
                        "no retry of an out-of-credit key; cooling down for {} s",
                        wait / 1000
                    ),
                )
            }
            ErrorClass::RateLimit => match retry_after {
                Some(wait)
                    if !self.rate_limit_retried
                        && wait <= cfg.rate_limit_max_wait_ms
                        && self.fits(now, wait) =>
                {
                    self.rate_limit_retried = true;
                    self.delay_ms = wait;
                    (
                        Action::RetrySame,
                        format!("retrying once after Retry-After {wait} ms"),
                    )
                }
                _ => {
                    if retry_after.is_some_and(|w| {
                        !self.rate_limit_retried && w <= cfg.rate_limit_max_wait_ms
                    }) {
                        // A retry that would have been made with more time left.
                        self.starved = true;
                    }
                    let wait = retry_after.unwrap_or(cfg.rate_limit_cooldown_ms);
                    self.cool_down(now.saturating_add(wait), class, effects);
                    (
                        self.rotate_or_next(now),
                        format!("key cooling down for {wait} ms"),
                    )
                }
            },
            ErrorClass::Overloaded
            | ErrorClass::Server
            | ErrorClass::Transport
            | ErrorClass::Unknown => {
                let backoff = self.backoff(self.retries);
                if self.retries < cfg.max_retries && self.fits(now, backoff) {
                    self.retries += 1;
                    self.delay_ms = backoff;
                    (
                        Action::RetrySame,
                        format!(
                            "retry {}/{} after {backoff} ms backoff",
                            self.retries, cfg.max_retries
                        ),
                    )
                } else if self.retries < cfg.max_retries {
                    self.starved = true;
                    (
                        Action::NextCandidate,
                        "no budget left for a backoff retry".into(),
                    )
                } else {
                    (
                        Action::NextCandidate,
                        format!("{} retries spent", cfg.max_retries),
                    )
                }
            }
            ErrorClass::ContextOverflow => (
                Action::ReturnToCaller,
                "the caller must shrink the request; no other candidate is tried".into(),
            ),
            ErrorClass::ContentPolicy => (
                Action::ReturnToCaller,
                "the caller must change the request; no other candidate is tried".into(),
            ),
            ErrorClass::ModelUnavailable | ErrorClass::InvalidRequest => (
                Action::NextCandidate,
                "this candidate cannot serve the request".into(),
            ),
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::RetrySame => self.phase = Phase::Attempt,
            Action::RefreshAndRetry => self.phase = Phase::Refresh,
            Action::RotateCredential => {
                // rotate_or_next already moved `slot` to the next live key.
                self.retries = 0;
                self.rate_limit_retried = false;
                self.delay_ms = 0;
                self.phase = Phase::Attempt;
            }
            Action::NextCandidate => {
                self.delay_ms = 0;
                self.phase = Phase::Select;
            }
            Action::ReturnToCaller => {
                let reason = match self.steps.last().map(|s| s.error_class) {
                    Some(ErrorClass::ContentPolicy) => FailureReason::ContentPolicy,
                    _ => FailureReason::ContextOverflow,
                };
                self.phase = Phase::Done(Finish::Failed(reason));
            }
            Action::Succeed => self.phase = Phase::Done(Finish::Succeeded),
            Action::StopStream => {
                self.phase = Phase::Done(Finish::Failed(FailureReason::StreamInterrupted));
            }
            Action::GiveUp | Action::SkipCandidate => self.phase = Phase::Select,
        }
    }

    /// Moves to the next usable key of the current provider if there is one.
    fn rotate_or_next(&mut self, now: Millis) -> Action {
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
                Action::RotateCredential
            }
            None => Action::NextCandidate,
        }
    }

    /// Whether waiting `wait` ms still leaves room for an attempt.
    fn fits(&self, now: Millis, wait: u64) -> bool {
        now.saturating_add(wait)
            .saturating_add(self.cfg.min_attempt_ms)
            <= self.deadline
    }

    /// Jittered exponential backoff: `base * 2^n`, capped, times a factor in [0.5, 1).
    fn backoff(&self, n: u32) -> u64 {
        let exp = self
            .cfg
            .backoff_base_ms
            .saturating_mul(1u64 << n.min(20))
            .min(self.cfg.backoff_max_ms);
        let r = splitmix64(self.seed ^ (self.steps.len() as u64).wrapping_mul(0x9E37_79B9));
        let frac = (r >> 11) as f64 / (1u64 << 53) as f64;
        (exp as f64 * (0.5 + 0.5 * frac)) as u64
    }

    fn cool_down(&mut self, until: Millis, class: ErrorClass, effects: &mut Vec<Effect>) {
        let slot = self.slot_mut();
        slot.info.cooldown_until = Some(until);
        effects.push(Effect::Cooldown {
            credential_id: slot.info.id.clone(),
            until,
            class,
        });
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

#[cfg(test)]
mod tests;
