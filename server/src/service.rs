//! The service layer: one entry point per use case, shared by every front door.
//!
//! `complete` serves both callers (primary and auxiliary) through the same
//! candidate builder, policy run and executor loop; `simulate` drives that same
//! loop against a scripted upstream; `trail` reads a recorded trail. No proto types.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::clock::wall_ms;
use crate::config::{Config, Limits, ModelWindow};
use crate::credentials::CredentialPool;
use crate::domain::{
    Caller, CandidateSummary, ChatAnswer, ChatRequest, CredentialId, FailureReason, FinishReason,
    Millis, Needs, Step, ToolCallDelta, Trail, Usage,
};
use crate::executor::{Delivery, HttpUpstream, Streamed, Whole, drive};
use crate::live::{Generation, Live};
use crate::metrics::Metrics;
use crate::oauth::Refresher;
use crate::policy::{Finish, Run, UnknownTask};
use crate::provider::Providers;
use crate::simulate::{CredentialBasis, CredentialError, SimulatedUpstream, plan_with};
pub(crate) use crate::simulate::{Simulated, SimulationSpec};
use crate::steps::{StepCounts, StepKind, cut_reasons};
use crate::store::{Store, StoreError};
use crate::writer::Recorder;

mod events;

pub(crate) use events::Events;
use events::{Committed, StreamSecrets};

/// Most of the caller's deadline kept back to deliver the answer in time.
const DEADLINE_MARGIN_MS: u64 = 50;

/// A successful completion.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Request id.
    pub request_id: String,
    /// The answer.
    pub answer: ChatAnswer,
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

/// The human-readable summary of a failed request, the same at every front door:
/// for an interrupted stream the attempt that broke off, otherwise how many attempts
/// were made and the last one's reason.
pub(crate) fn failure_message(request_id: &str, reason: FailureReason, steps: &[Step]) -> String {
    if let (FailureReason::StreamInterrupted, Some(s)) = (reason, steps.last()) {
        return format!(
            "stream interrupted (request {request_id}): candidate {} {} {} (credential {}) \
             failed after text was sent: {}",
            s.candidate_index,
            s.provider,
            s.model,
            s.credential_id.as_deref().unwrap_or("-"),
            s.reason
        );
    }
    let counts = StepCounts::of(steps);
    let last = steps
        .iter()
        .rev()
        .find(|s| s.kind() != StepKind::Skip && s.kind() != StepKind::GiveUp)
        .map(|s| format!("; last: {} {} {}", s.provider, s.model, s.reason))
        .unwrap_or_default();
    // Skipped candidates are named apart: "after 0 attempt(s)" alone reads as if
    // nothing had been configured, when every candidate had, say, no usable key.
    let skipped = match steps.iter().rev().find(|s| s.kind() == StepKind::Skip) {
        Some(s) if counts.attempts == 0 => format!(
            "; {} candidate(s) skipped, last: {} {} {}",
            counts.skips, s.provider, s.model, s.reason
        ),
        Some(_) => format!(", {} candidate(s) skipped", counts.skips),
        None => String::new(),
    };
    format!(
        "{} after {} attempt(s) (request {request_id}){skipped}{last}",
        reason.as_str().replace('_', " "),
        counts.attempts,
    )
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
    /// A simulated credential the pools cannot take.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The gateway: routing, policy, providers, credentials and recording.
#[derive(Debug)]
pub struct Switchyard {
    /// The reloadable part of the config; each call holds one snapshot for its life.
    live: ArcSwap<Live>,
    limits: Limits,
    pool: Arc<CredentialPool>,
    recorder: Arc<Recorder>,
    store: Store,
    metrics: Metrics,
    refresher: Refresher,
}

// === impl Switchyard ===

impl Switchyard {
    /// Assembles the service from its parts; `config` is generation 1.
    pub fn new(
        config: &Config,
        providers: Providers,
        pool: Arc<CredentialPool>,
        recorder: Arc<Recorder>,
        store: Store,
        metrics: Metrics,
        refresher: Refresher,
    ) -> Self {
        let generation = Generation {
            number: 1,
            hash: String::new(),
        };
        Self {
            live: ArcSwap::from_pointee(Live::new(config, providers, generation)),
            limits: config.limits.clone(),
            pool,
            recorder,
            store,
            metrics,
            refresher,
        }
    }

    /// The live snapshot: what a call starting now runs with.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Makes `live` the snapshot of the calls that start from now on. Calls in
    /// flight keep the one they started with.
    pub fn replace_live(&self, live: Live) {
        self.live.store(Arc::new(live));
    }

    /// The context window and output limit of a caller's models, as configured.
    pub fn window(&self, caller: &Caller) -> ModelWindow {
        let live = self.live.load();
        let (main, tasks) = &live.windows;
        match caller {
            Caller::Primary => *main,
            Caller::Aux(task) => tasks.get(task).copied().unwrap_or(*main),
        }
    }

    /// Whether `provider` is in the config.
    pub fn knows_provider(&self, provider: &str) -> bool {
        self.live.load().routing.base_urls.contains_key(provider)
    }

    /// Request limits, for validation at the front doors. Read at start only: the
    /// gRPC decoder's message size derives from them.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Every task a caller may name: the built-in ones and the configured ones, sorted.
    pub fn tasks(&self) -> Vec<String> {
        self.live.load().routing.task_names()
    }

    /// Whether the caller is known (primary, or a built-in or configured task).
    pub fn check_caller(&self, caller: &Caller) -> Result<(), UnknownTask> {
        self.live.load().routing.budget_ms(caller).map(|_| ())
    }

    /// Serves one call of any caller. `deadline` is the caller's own (gRPC) deadline.
    pub async fn complete(
        &self,
        caller: Caller,
        request: ChatRequest,
        deadline: Option<Duration>,
    ) -> Result<Completion, CallError> {
        let live = self.live();
        let (mut run, meta) = self.prepare(&live, caller, &request, deadline)?;
        let mut upstream = self
            .upstream::<Whole>(&live, &request, &meta.caller)
            .until(meta.end);
        let driven = drive(&mut run, &mut upstream).await;
        let failure = failure_of(driven.finish);
        let request_id = meta.request_id.clone();
        let steps = conclude(&self.recorder, &self.metrics, meta, run, failure);
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

    /// Serves one streamed call of any caller, through the same policy and loop as
    /// [`Self::complete`]. Candidates fail over until one produces its first token;
    /// then the stream is committed to it and returned. The rest of its text comes
    /// through [`CompletionStream::events`]; a failure after that point ends the
    /// events with [`StreamItem::Failed`] (`StreamInterrupted`), never with a
    /// truncated answer presented as finished.
    pub async fn stream(
        &self,
        caller: Caller,
        request: ChatRequest,
        deadline: Option<Duration>,
    ) -> Result<CompletionStream, CallError> {
        let live = self.live();
        let (mut run, meta) = self.prepare(&live, caller, &request, deadline)?;
        let mut upstream = self
            .upstream::<Streamed>(&live, &request, &meta.caller)
            .until(meta.end);
        let driven = drive(&mut run, &mut upstream).await;
        let failure = failure_of(driven.finish);
        let Some((plan, open)) = driven.answer else {
            let request_id = meta.request_id.clone();
            let steps = conclude(&self.recorder, &self.metrics, meta, run, failure);
            return Err(CallError::Failed {
                request_id,
                reason: failure.unwrap_or(FailureReason::AllCandidatesFailed),
                steps,
            });
        };
        let presented = upstream.presented();
        let started = CompletionStream {
            request_id: meta.request_id.clone(),
            provider: plan.candidate.provider.clone(),
            model: plan.candidate.model,
            credential_id: plan.credential_id,
            steps: cut_reasons(run.steps().to_vec()),
            events: Events::new(Committed {
                open,
                recorder: self.recorder.clone(),
                metrics: self.metrics.clone(),
                meta,
                run,
                secrets: StreamSecrets {
                    pool: self.pool.clone(),
                    provider: plan.candidate.provider,
                    presented,
                },
                committed: Instant::now(),
                budget: None,
                span: tracing::Span::current(),
            }),
        };
        Ok(started)
    }

    /// Real attempts for one request.
    fn upstream<'a, D: Delivery>(
        &'a self,
        live: &'a Live,
        request: &'a ChatRequest,
        caller: &'a Caller,
    ) -> HttpUpstream<'a, D> {
        HttpUpstream::new(
            &live.providers,
            &self.pool,
            &self.refresher,
            &self.recorder,
            request,
            caller,
            live.capture_content,
        )
    }

    /// The policy run of a new request, and what its trail needs.
    fn prepare(
        &self,
        live: &Live,
        caller: Caller,
        request: &ChatRequest,
        deadline: Option<Duration>,
    ) -> Result<(Run, RequestMeta), CallError> {
        let candidates = live.routing.candidates(&caller, request.model.as_deref())?;
        let mut budget = live.routing.budget_ms(&caller)?;
        if let Some(d) = deadline {
            // Answer a little before the caller's own timer fires, so it receives the
            // DEADLINE_EXHAUSTED status with its trail rather than a bare timeout.
            let d = d.as_millis().min(u128::from(u64::MAX)) as u64;
            budget = budget.min(d.saturating_sub((d / 10).min(DEADLINE_MARGIN_MS)));
        }
        let id = uuid::Uuid::now_v7();
        let seed = id.as_u64_pair().1;
        // Encoded straight into the string, not through `Display`'s formatter.
        let request_id = id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .to_owned();
        tracing::Span::current().record("switchyard.request_id", request_id.as_str());
        let started = Instant::now();
        let now = wall_ms();
        let view = self.pool.view(candidates.iter().map(|c| &c.provider));
        let needs = Needs {
            images: request.has_images(),
            tools: request.uses_tools(),
        };
        let run = Run::new(
            live.policy,
            candidates,
            &view,
            now.saturating_add(budget),
            seed,
        )
        .needing(needs);
        let meta = RequestMeta {
            request_id,
            caller,
            created_at: now,
            started,
            end: tokio::time::Instant::from_std(started) + Duration::from_millis(budget),
        };
        Ok((run, meta))
    }

    /// Runs the policy against scripted outcomes: the same loop as [`Self::complete`],
    /// contacting no provider and changing no credential. Plans with the current
    /// credential state unless the spec asks for all healthy, and says which.
    pub async fn simulate(&self, spec: SimulationSpec) -> Result<Simulated, ExplainError> {
        let live = self.live();
        let candidates = live
            .routing
            .candidates(&spec.caller, spec.model.as_deref())?;
        let budget = match spec.budget_ms {
            Some(b) => b,
            None => live.routing.budget_ms(&spec.caller)?,
        };
        let now = wall_ms();
        let mut view = self.pool.view(candidates.iter().map(|c| &c.provider));
        let basis = if spec.assume_all_credentials_live {
            CredentialBasis::AllHealthy
        } else {
            CredentialBasis::CurrentState
        };
        let mut note = plan_with(&mut view, basis, &spec.credentials, now)?;
        let mut run = Run::new(
            live.policy,
            candidates,
            &view,
            now.saturating_add(budget),
            0,
        );
        let mut upstream = SimulatedUpstream::new(now, spec.outcomes);
        let driven = drive(&mut run, &mut upstream).await;
        let unused = upstream.unused();
        if !unused.is_empty() {
            let list: Vec<String> = unused.iter().map(usize::to_string).collect();
            note.push_str(&format!(
                "; outcome(s) {} not used: the policy never asked for them there",
                list.join(", ")
            ));
        }
        let trail = Trail {
            request_id: String::new(),
            caller: spec.caller,
            created_at: now,
            failure: failure_of(driven.finish),
            candidates: run
                .candidates()
                .iter()
                .map(CandidateSummary::from)
                .collect(),
            steps: cut_reasons(run.into_steps()),
        };
        Ok(Simulated { trail, basis, note })
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

/// A streamed completion, committed to the candidate that produced the first token.
#[derive(Debug)]
pub struct CompletionStream {
    /// Request id.
    pub request_id: String,
    /// Provider answering.
    pub provider: Arc<str>,
    /// Model answering.
    pub model: Arc<str>,
    /// Credential used.
    pub credential_id: CredentialId,
    /// The trail up to and including the answering attempt.
    pub steps: Vec<Step>,
    /// Text and tool-call pieces, then one final [`StreamItem::Finished`] or
    /// [`StreamItem::Failed`].
    pub events: Events,
}

/// One event of a committed stream.
#[derive(Debug)]
pub enum StreamItem {
    /// A piece of text.
    Text(String),
    /// A piece of a tool call: the first piece of each index has its id and name.
    ToolCall(ToolCallDelta),
    /// The answer is complete.
    Finished {
        /// Token usage, as far as the provider reported it.
        usage: Usage,
        /// Why generation stopped, normalised.
        finish_reason: FinishReason,
        /// The whole trail.
        steps: Vec<Step>,
    },
    /// The answer broke off; the text received is incomplete.
    Failed(CallError),
}

/// Who asked, when, and until when.
#[derive(Debug)]
struct RequestMeta {
    request_id: String,
    caller: Caller,
    created_at: Millis,
    started: Instant,
    /// The request's budget, for a stream's whole length.
    end: tokio::time::Instant,
}

fn failure_of(finish: Finish) -> Option<FailureReason> {
    match finish {
        Finish::Succeeded => None,
        Finish::Failed(reason) => Some(reason),
    }
}

/// Records the request's metrics and trail; returns its steps.
fn conclude(
    recorder: &Recorder,
    metrics: &Metrics,
    meta: RequestMeta,
    run: Run,
    failure: Option<FailureReason>,
) -> Vec<Step> {
    let candidates = run
        .candidates()
        .iter()
        .map(CandidateSummary::from)
        .collect();
    let steps = cut_reasons(run.into_steps());
    metrics.record_request(&meta.caller, failure, &steps, meta.started.elapsed());
    recorder.trail(Trail {
        request_id: meta.request_id,
        caller: meta.caller,
        created_at: meta.created_at,
        failure,
        candidates,
        steps: steps.clone(),
    });
    steps
}
