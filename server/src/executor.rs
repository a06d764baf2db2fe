//! The fallback executor: drives a policy [`Run`] against an [`Upstream`].
//!
//! [`drive`] is the one loop shared by real calls ([`HttpUpstream`]: provider HTTP,
//! credential pool, write-behind) and `ExplainFallback` simulations
//! ([`crate::simulate::SimulatedUpstream`]: scripted outcomes, a virtual clock).
//! The executor does the I/O; every decision comes from the policy.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::classify::{self, Classification};
use crate::credentials::CredentialPool;
use crate::domain::{ChatRequest, CredentialId, ErrorClass, Millis, ProviderAnswer};
use crate::policy::{AttemptPlan, Effect, Finish, Next, Observed, RefreshOutcome, Run};
use crate::provider::{CallOutcome, Providers};
use crate::writer::Recorder;

/// Where attempts go: real providers, or a simulation.
pub trait Upstream {
    /// Current time, Unix ms.
    fn now(&self) -> Millis;
    /// Waits `ms` (a backoff or a Retry-After).
    fn sleep(&mut self, ms: u64) -> impl Future<Output = ()> + Send;
    /// Makes the attempt. A success carries the answer.
    fn attempt(
        &mut self,
        plan: &AttemptPlan,
    ) -> impl Future<Output = (Observed, Option<ProviderAnswer>)> + Send;
    /// Refreshes a credential.
    fn refresh(
        &mut self,
        credential_id: &CredentialId,
    ) -> impl Future<Output = RefreshOutcome> + Send;
    /// Applies and persists credential effects.
    fn apply(&mut self, effects: Vec<Effect>) -> impl Future<Output = ()> + Send;
}

/// How a driven run ended, with the answer and the plan that produced it.
#[derive(Debug)]
pub struct Driven {
    /// The run's end.
    pub finish: Finish,
    /// The successful attempt and its answer.
    pub answer: Option<(AttemptPlan, ProviderAnswer)>,
}

/// Drives `run` to its end against `upstream`. The one fallback loop.
pub async fn drive<U: Upstream>(run: &mut Run, upstream: &mut U) -> Driven {
    let mut answer = None;
    loop {
        match run.next(upstream.now()) {
            Next::Attempt(plan) => {
                if plan.delay_ms > 0 {
                    upstream.sleep(plan.delay_ms).await;
                }
                let start = upstream.now();
                let (observed, got) = upstream.attempt(&plan).await;
                let now = upstream.now();
                let effects = run.record(now, now.saturating_sub(start), &observed);
                upstream.apply(effects).await;
                if let Some(got) = got {
                    answer = Some((plan, got));
                }
            }
            Next::Refresh { credential_id } => {
                let start = upstream.now();
                let outcome = upstream.refresh(&credential_id).await;
                let now = upstream.now();
                let effects = run.record_refresh(now, now.saturating_sub(start), &outcome);
                upstream.apply(effects).await;
            }
            Next::Done(finish) => {
                if finish != Finish::Succeeded {
                    answer = None;
                }
                return Driven { finish, answer };
            }
        }
    }
}

/// Wall-clock Unix milliseconds.
pub fn wall_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

// === impl HttpUpstream ===

/// Real attempts: provider HTTP calls with pooled credentials.
#[derive(Debug)]
pub struct HttpUpstream<'a> {
    providers: &'a Providers,
    pool: &'a CredentialPool,
    recorder: &'a Recorder,
    request: &'a ChatRequest,
    /// Request body of the last candidate, reused by its retries.
    body: Option<(usize, Bytes)>,
}

impl<'a> HttpUpstream<'a> {
    /// An upstream for one request.
    pub fn new(
        providers: &'a Providers,
        pool: &'a CredentialPool,
        recorder: &'a Recorder,
        request: &'a ChatRequest,
    ) -> Self {
        Self {
            providers,
            pool,
            recorder,
            request,
            body: None,
        }
    }
}

fn failure(class: ErrorClass, status: u16, detail: &str) -> Observed {
    Observed::Failure(Classification {
        class,
        http_status: status,
        retry_after_ms: None,
        detail: detail.to_owned(),
    })
}

impl Upstream for HttpUpstream<'_> {
    fn now(&self) -> Millis {
        wall_ms()
    }

    async fn sleep(&mut self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    async fn attempt(&mut self, plan: &AttemptPlan) -> (Observed, Option<ProviderAnswer>) {
        let candidate = &plan.candidate;
        let Some(credential) = self.pool.get(&plan.credential_id) else {
            return (failure(ErrorClass::Unknown, 0, "credential removed"), None);
        };
        let body = match &self.body {
            Some((index, body)) if *index == plan.candidate_index => body.clone(),
            _ => {
                let Some(body) =
                    self.providers
                        .body(&candidate.provider, &candidate.model, self.request)
                else {
                    return (
                        failure(ErrorClass::InvalidRequest, 0, "unknown provider"),
                        None,
                    );
                };
                self.body = Some((plan.candidate_index, body.clone()));
                body
            }
        };
        let timeout = self
            .providers
            .timeout(&candidate.provider)
            .unwrap_or(Duration::MAX)
            .min(Duration::from_millis(plan.budget_ms));
        let outcome = self
            .providers
            .call(&candidate.provider, &credential.secret, body, timeout)
            .await;
        match outcome {
            CallOutcome::Answer { status, answer } => (
                Observed::Success {
                    http_status: status,
                },
                Some(answer),
            ),
            CallOutcome::Unreadable { status } => (
                failure(
                    ErrorClass::Unknown,
                    status,
                    &format!("{status} with an unreadable body"),
                ),
                None,
            ),
            CallOutcome::Http {
                status,
                headers,
                body,
            } => (
                Observed::Failure(classify::classify_http(status, &headers, &body, wall_ms())),
                None,
            ),
            CallOutcome::Transport(e) => (Observed::Failure(classify::classify_transport(e)), None),
        }
    }

    async fn refresh(&mut self, _credential_id: &CredentialId) -> RefreshOutcome {
        // Static API keys are never refreshable, so the policy never asks.
        RefreshOutcome::Transient("this credential cannot be refreshed".into())
    }

    async fn apply(&mut self, effects: Vec<Effect>) {
        let now = wall_ms();
        for effect in &effects {
            if let Some(change) = self.pool.apply(effect, now) {
                self.recorder.health(change).await;
            }
        }
    }
}
