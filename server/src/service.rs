//! The service layer: one entry point per use case, shared by every front door.
//!
//! `complete` serves both callers (primary and auxiliary) through the same
//! candidate builder, policy run and executor loop; `simulate` drives that same
//! loop against a scripted upstream; `trail` reads a recorded trail. No proto types.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, Limits};
use crate::credentials::CredentialPool;
use crate::domain::{
    Caller, CandidateSummary, ChatRequest, CredentialId, FailureReason, ProviderAnswer, Step, Trail,
};
use crate::executor::{HttpUpstream, drive, wall_ms};
use crate::metrics::Metrics;
use crate::oauth::Refresher;
use crate::policy::{Finish, PolicyConfig, Routing, Run, UnknownTask};
use crate::provider::Providers;
use crate::simulate::{ScriptedOutcome, SimulatedUpstream};
use crate::store::{Store, StoreError};
use crate::writer::Recorder;

/// Most of the caller's deadline kept back to deliver the answer in time.
const DEADLINE_MARGIN_MS: u64 = 50;

/// A successful completion.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Request id.
    pub request_id: String,
    /// The answer.
    pub answer: ProviderAnswer,
    /// Provider that answered.
    pub provider: Arc<str>,
    /// Model that answered.
    pub model: Arc<str>,
    /// Credential used.
    pub credential_id: CredentialId,
    /// The trail.
    pub steps: Vec<Step>,
}

/// A failed completion.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The task is neither built in nor configured.
    #[error(transparent)]
    UnknownTask(#[from] UnknownTask),
    /// No candidate answered.
    #[error("request {request_id} failed: {}", reason.as_str())]
    Failed {
        /// Request id, for ExplainFallback.
        request_id: String,
        /// Why.
        reason: FailureReason,
        /// The trail.
        steps: Vec<Step>,
    },
}

/// An ExplainFallback failure.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// No trail for that id.
    #[error("no trail is recorded for request {0:?}")]
    NotFound(String),
    /// The simulated task is unknown.
    #[error(transparent)]
    UnknownTask(#[from] UnknownTask),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
}

/// The gateway: routing, policy, providers, credentials and recording.
#[derive(Debug)]
pub struct Switchyard {
    routing: Routing,
    policy: PolicyConfig,
    limits: Limits,
    providers: Providers,
    pool: Arc<CredentialPool>,
    recorder: Arc<Recorder>,
    store: Store,
    metrics: Metrics,
    refresher: Refresher,
    refresh_skew_ms: u64,
    capture_content: bool,
}

// === impl Switchyard ===

impl Switchyard {
    /// Assembles the service from its parts.
    pub fn new(
        config: &Config,
        providers: Providers,
        pool: Arc<CredentialPool>,
        recorder: Arc<Recorder>,
        store: Store,
        metrics: Metrics,
        refresher: Refresher,
    ) -> Self {
        Self {
            routing: config.routing(),
            policy: config.policy(),
            limits: config.limits.clone(),
            providers,
            pool,
            recorder,
            store,
            metrics,
            refresher,
            refresh_skew_ms: config.oauth.refresh_skew.as_millis() as u64,
            capture_content: config.telemetry.capture_content,
        }
    }

    /// Marks a credential dead, in memory and in the store.
    pub async fn mark_dead(&self, id: &CredentialId, reason: String) {
        let effect = crate::policy::Effect::MarkDead {
            credential_id: id.clone(),
            reason,
        };
        if let Some(change) = self.pool.apply(&effect, wall_ms()) {
            self.recorder.health(change).await;
        }
    }

    /// Whether `provider` is in the config.
    pub fn knows_provider(&self, provider: &str) -> bool {
        self.routing.base_urls.contains_key(provider)
    }

    /// The credential pool (admin API).
    pub fn pool(&self) -> &Arc<CredentialPool> {
        &self.pool
    }

    /// The refresher (admin API).
    pub fn refresher(&self) -> &Refresher {
        &self.refresher
    }

    /// The store (admin API).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Request limits, for validation at the front doors.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the caller is known (primary, or a built-in or configured task).
    pub fn check_caller(&self, caller: &Caller) -> Result<(), UnknownTask> {
        self.routing.budget_ms(caller).map(|_| ())
    }

    /// Serves one call of any caller. `deadline` is the caller's own (gRPC) deadline.
    pub async fn complete(
        &self,
        caller: Caller,
        request: ChatRequest,
        deadline: Option<Duration>,
    ) -> Result<Completion, CallError> {
        let candidates = self.routing.candidates(&caller, request.model.as_deref())?;
        let mut budget = self.routing.budget_ms(&caller)?;
        if let Some(d) = deadline {
            // Answer a little before the caller's own timer fires, so it receives the
            // DEADLINE_EXHAUSTED status with its trail rather than a bare timeout.
            let d = d.as_millis().min(u128::from(u64::MAX)) as u64;
            budget = budget.min(d.saturating_sub((d / 10).min(DEADLINE_MARGIN_MS)));
        }
        let id = uuid::Uuid::now_v7();
        let seed = id.as_u64_pair().1;
        let request_id = id.to_string();
        tracing::Span::current().record("switchyard.request_id", request_id.as_str());
        let started = Instant::now();
        let now = wall_ms();
        let view = self.pool.view(candidates.iter().map(|c| &c.provider));
        let mut run = Run::new(
            self.policy,
            candidates,
            &view,
            now.saturating_add(budget),
            seed,
        );
        let mut upstream = HttpUpstream::new(
            &self.providers,
            &self.pool,
            &self.refresher,
            self.refresh_skew_ms,
            &self.recorder,
            &request,
            &caller,
            self.capture_content,
        );
        let driven = drive(&mut run, &mut upstream).await;
        let failure = match driven.finish {
            Finish::Succeeded => None,
            Finish::Failed(reason) => Some(reason),
        };
        let candidates = run
            .candidates()
            .iter()
            .map(CandidateSummary::from)
            .collect();
        let steps = run.into_steps();
        self.metrics
            .record_request(&caller, failure, &steps, started.elapsed());
        let trail = Trail {
            request_id: request_id.clone(),
            caller,
            created_at: now,
            failure,
            candidates,
            steps: steps.clone(),
        };
        self.recorder.trail(trail);
        match driven.answer {
            Some((plan, answer)) => Ok(Completion {
                request_id,
                answer,
                provider: plan.candidate.provider,
                model: plan.candidate.model,
                credential_id: plan.credential_id,
                steps,
            }),
            None => Err(CallError::Failed {
                request_id,
                reason: failure.unwrap_or(FailureReason::AllCandidatesFailed),
                steps,
            }),
        }
    }

    /// Runs the policy against scripted outcomes: the same loop as [`Self::complete`],
    /// contacting no provider and changing no credential.
    pub async fn simulate(&self, spec: SimulationSpec) -> Result<Trail, ExplainError> {
        let candidates = self
            .routing
            .candidates(&spec.caller, spec.model.as_deref())?;
        let budget = match spec.budget_ms {
            Some(b) => b,
            None => self.routing.budget_ms(&spec.caller)?,
        };
        let now = wall_ms();
        let mut view = self.pool.view(candidates.iter().map(|c| &c.provider));
        if spec.assume_all_credentials_live {
            for info in view.values_mut().flatten() {
                info.dead = false;
                info.cooldown_until = None;
            }
        }
        let mut run = Run::new(
            self.policy,
            candidates,
            &view,
            now.saturating_add(budget),
            0,
        );
        let mut upstream = SimulatedUpstream::new(now, spec.outcomes);
        let driven = drive(&mut run, &mut upstream).await;
        Ok(Trail {
            request_id: String::new(),
            caller: spec.caller,
            created_at: now,
            failure: match driven.finish {
                Finish::Succeeded => None,
                Finish::Failed(reason) => Some(reason),
            },
            candidates: run
                .candidates()
                .iter()
                .map(CandidateSummary::from)
                .collect(),
            steps: run.into_steps(),
        })
    }

    /// The recorded trail of a past request.
    pub async fn trail(&self, request_id: &str) -> Result<Trail, ExplainError> {
        if let Some(trail) = self.recorder.recent(request_id) {
            return Ok(Trail::clone(&trail));
        }
        self.store
            .trail(request_id)
            .await?
            .ok_or_else(|| ExplainError::NotFound(request_id.to_owned()))
    }
}
