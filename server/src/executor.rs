//! The fallback executor: drives a policy [`Run`] against an [`Upstream`].
//!
//! [`drive`] is the one loop shared by real calls ([`HttpUpstream`]: provider HTTP,
//! credential pool, write-behind) and `ExplainFallback` simulations
//! ([`crate::simulate::SimulatedUpstream`]: scripted outcomes, a virtual clock).
//! The executor does the I/O; every decision comes from the policy.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use secrecy::SecretString;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::classify::{self, Classification};
use crate::clock::wall_ms;
use crate::credentials::CredentialPool;
use crate::domain::{
    Caller, ChatAnswer, ChatRequest, CredentialId, ErrorClass, Millis, ProviderKind, Step,
};
use crate::oauth::Refresher;
use crate::policy::{AttemptPlan, Effect, Finish, Next, Observed, RefreshOutcome, Run};
use crate::provider::{CallOutcome, OpenStream, Providers};
use crate::redact::Scrubber;
use crate::writer::Recorder;

/// Where attempts go: real providers, or a simulation.
pub trait Upstream {
    /// What a successful attempt returns.
    type Answer;
    /// Current time, Unix ms.
    fn now(&self) -> Millis;
    /// Waits `ms` (a backoff or a Retry-After).
    fn sleep(&mut self, ms: u64) -> impl Future<Output = ()> + Send;
    /// Makes the attempt. A success carries the answer.
    fn attempt(
        &mut self,
        plan: &AttemptPlan,
    ) -> impl Future<Output = (Observed, Option<Self::Answer>)> + Send;
    /// Refreshes a credential.
    fn refresh(
        &mut self,
        credential_id: &CredentialId,
    ) -> impl Future<Output = RefreshOutcome> + Send;
    /// Applies and persists credential effects.
    fn apply(&mut self, effects: Vec<Effect>) -> impl Future<Output = ()> + Send;
    /// The policy recorded `step` for the last attempt or refresh (for telemetry).
    fn recorded(&mut self, _step: &Step) {}
}

/// How a driven run ended, with the answer and the plan that produced it.
#[derive(Debug)]
pub struct Driven<A> {
    /// The run's end.
    pub finish: Finish,
    /// The successful attempt and its answer.
    pub answer: Option<(AttemptPlan, A)>,
}

/// Drives `run` to its end against `upstream`. The one fallback loop, for whole
/// answers and streams alike: a stream's attempt succeeds at its first token.
pub async fn drive<U: Upstream>(run: &mut Run, upstream: &mut U) -> Driven<U::Answer> {
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
                if let Some(step) = run.steps().last() {
                    upstream.recorded(step);
                }
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
                if let Some(step) = run.steps().last() {
                    upstream.recorded(step);
                }
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

// === Delivery ===

/// How an attempt's answer is received: whole, or streamed. The policy sees the
/// same [`Observed`] either way; a stream succeeds once its first token arrived.
pub trait Delivery: Send + Sync {
    /// The answer of a successful attempt.
    type Answer: Send;
    /// Whether the provider is asked to stream.
    const STREAM: bool;
    /// Makes the attempt; `budget` bounds it (for a stream: up to its first token).
    fn receive(
        providers: &Providers,
        provider: &str,
        secret: &SecretString,
        body: Bytes,
        budget: Duration,
    ) -> impl Future<Output = CallOutcome<Self::Answer>> + Send;
    /// Records what is known of a successful answer on its attempt span.
    fn annotate(span: &tracing::Span, answer: &Self::Answer, capture_content: bool);
}

/// The whole answer in one response.
#[derive(Debug, Clone, Copy)]
pub struct Whole;

/// An event stream, committed at its first content token.
#[derive(Debug, Clone, Copy)]
pub struct Streamed;

impl Delivery for Whole {
    type Answer = ChatAnswer;
    const STREAM: bool = false;

    async fn receive(
        providers: &Providers,
        provider: &str,
        secret: &SecretString,
        body: Bytes,
        budget: Duration,
    ) -> CallOutcome<ChatAnswer> {
        let timeout = providers
            .timeout(provider)
            .unwrap_or(Duration::MAX)
            .min(budget);
        providers.call(provider, secret, body, timeout).await
    }

    fn annotate(span: &tracing::Span, answer: &ChatAnswer, capture_content: bool) {
        span.record("gen_ai.usage.input_tokens", answer.usage.input_tokens);
        span.record("gen_ai.usage.output_tokens", answer.usage.output_tokens);
        if let Some(model) = &answer.model {
            span.record("gen_ai.response.model", model.as_str());
        }
        if capture_content {
            span.record("gen_ai.output.messages", answer.content.as_str());
        }
        span.record(
            "gen_ai.response.finish_reasons",
            answer.finish_reason.as_str(),
        );
    }
}

impl Delivery for Streamed {
    type Answer = OpenStream;
    const STREAM: bool = true;

    async fn receive(
        providers: &Providers,
        provider: &str,
        secret: &SecretString,
        body: Bytes,
        budget: Duration,
    ) -> CallOutcome<OpenStream> {
        let first_token = providers
            .stream_timeouts(provider)
            .map_or(Duration::MAX, |(first, _)| first)
            .min(budget);
        providers
            .open_stream(provider, secret, body, first_token)
            .await
    }

    fn annotate(span: &tracing::Span, answer: &OpenStream, _capture_content: bool) {
        if let Some(model) = answer.model() {
            span.record("gen_ai.response.model", model);
        }
    }
}

// === impl HttpUpstream ===

/// Real attempts: provider HTTP calls with pooled credentials.
#[derive(Debug)]
pub struct HttpUpstream<'a, D = Whole> {
    providers: &'a Providers,
    pool: &'a CredentialPool,
    refresher: &'a Refresher,
    /// Credential, token generation (for single-flight refresh) and incarnation of
    /// the last attempt.
    last_used: Option<(CredentialId, u64, i64)>,
    /// The secret presented on the last attempt: a committed stream's later error
    /// events are scrubbed of it even if the credential was refreshed meanwhile.
    presented: Option<Arc<SecretString>>,
    recorder: &'a Recorder,
    request: &'a ChatRequest,
    caller: &'a Caller,
    capture_content: bool,
    /// Request body of the last candidate, reused by its retries.
    body: Option<(usize, Bytes)>,
    /// Span of the attempt in flight, closed once the policy recorded its step.
    span: Option<tracing::Span>,
    /// End of the request's budget: the longest wait for a refresh.
    deadline: Option<tokio::time::Instant>,
    delivery: std::marker::PhantomData<D>,
}

impl<'a, D: Delivery> HttpUpstream<'a, D> {
    /// An upstream for one request of `caller`. With `capture_content`, attempt
    /// spans record the prompt and the completion.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        providers: &'a Providers,
        pool: &'a CredentialPool,
        refresher: &'a Refresher,
        recorder: &'a Recorder,
        request: &'a ChatRequest,
        caller: &'a Caller,
        capture_content: bool,
    ) -> Self {
        Self {
            providers,
            pool,
            refresher,
            last_used: None,
            presented: None,
            recorder,
            request,
            caller,
            capture_content,
            body: None,
            span: None,
            deadline: None,
            delivery: std::marker::PhantomData,
        }
    }

    /// The secret presented on the last attempt made.
    pub fn presented(&self) -> Option<Arc<SecretString>> {
        self.presented.clone()
    }

    /// Bounds the waits for refreshes by the end of the request's budget. The
    /// refresh itself runs on without the request.
    pub fn until(mut self, deadline: tokio::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The client span of one attempt, with the OpenTelemetry GenAI attributes.
    /// Never carries a secret; prompt text only with `capture_content`.
    fn attempt_span(&self, plan: &AttemptPlan) -> tracing::Span {
        let c = &plan.candidate;
        let system = match self.providers.kind(&c.provider) {
            Some(ProviderKind::Anthropic) => "anthropic",
            Some(ProviderKind::Openai | ProviderKind::OpenaiResponses) | None => "openai",
        };
        let span = tracing::info_span!(
            "gen_ai.attempt",
            otel.name = %format_args!("chat {}", c.model),
            otel.kind = "client",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = system,
            gen_ai.request.model = %c.model,
            gen_ai.response.model = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.input.messages = Empty,
            gen_ai.output.messages = Empty,
            error.type = Empty,
            otel.status_code = Empty,
            http.response.status_code = Empty,
            switchyard.caller = self.caller.kind(),
            switchyard.task = self.caller.task().unwrap_or(""),
            switchyard.provider = %c.provider,
            switchyard.candidate_index = plan.candidate_index,
            switchyard.credential_id = %plan.credential_id,
            switchyard.error_class = Empty,
            switchyard.action = Empty,
        );
        if self.capture_content
            && let Ok(json) = serde_json::to_string(&*self.request.messages)
        {
            span.record("gen_ai.input.messages", json);
        }
        span
    }
}

/// A scrubber of every secret held for `provider`, plus `presented` (the secret
/// of the attempt, which a concurrent refresh may have replaced in the pool).
fn secrets_of(pool: &CredentialPool, provider: &str, presented: &SecretString) -> Scrubber {
    let mut secrets = pool.provider_secrets(provider);
    secrets.push(presented.clone());
    Scrubber::new(&secrets)
}

impl<D> HttpUpstream<'_, D> {
    /// Whether `effect` is aimed at a credential that PutCredential replaced since
    /// this request used it: the verdict on the old secret is not the new one's.
    fn replaced_since_used(&self, effect: &Effect) -> bool {
        let id = effect.credential_id();
        match (&self.last_used, self.pool.get(id)) {
            (Some((used, _, incarnation)), Some(now)) if used == id => {
                now.incarnation != *incarnation
            }
            _ => false,
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

impl<D: Delivery> Upstream for HttpUpstream<'_, D> {
    type Answer = D::Answer;

    fn now(&self) -> Millis {
        wall_ms()
    }

    async fn sleep(&mut self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    async fn attempt(&mut self, plan: &AttemptPlan) -> (Observed, Option<D::Answer>) {
        let candidate = &plan.candidate;
        let Some(credential) = self.pool.get(&plan.credential_id) else {
            return (failure(ErrorClass::Unknown, 0, "credential removed"), None);
        };
        // An expiring access token was refreshed before this attempt: the policy
        // decides that (`refresh_before_use`), so simulations show it too.
        let (bearer, generation, _) = credential.bearer();
        self.last_used = Some((credential.id.clone(), generation, credential.incarnation));
        credential.count_use();
        let body = match &self.body {
            Some((index, body)) if *index == plan.candidate_index => body.clone(),
            _ => {
                let body = match self.providers.body(
                    &candidate.provider,
                    &candidate.model,
                    self.request,
                    D::STREAM,
                ) {
                    Ok(body) => body,
                    // The same classification whatever the format: the policy
                    // passes this candidate over and the next one may carry it.
                    Err(why) => {
                        return (
                            failure(ErrorClass::InvalidRequest, 0, &format!("{why} (not sent)")),
                            None,
                        );
                    }
                };
                self.body = Some((plan.candidate_index, body.clone()));
                body
            }
        };
        let span = self.attempt_span(plan);
        let outcome = D::receive(
            self.providers,
            &candidate.provider,
            &bearer,
            body,
            Duration::from_millis(plan.budget_ms),
        )
        .instrument(span.clone())
        .await;
        if let CallOutcome::Answer { answer, .. } = &outcome {
            D::annotate(&span, answer, self.capture_content);
        }
        self.span = Some(span);
        // Built only for a failed attempt, whose text may echo a secret: a success pays nothing.
        let scrubber = || secrets_of(self.pool, &candidate.provider, &bearer);
        let observed = match outcome {
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
                Observed::Failure(classify::classify_http_scrubbed(
                    status,
                    &headers,
                    &body,
                    wall_ms(),
                    &scrubber(),
                )),
                None,
            ),
            CallOutcome::Transport(e) => (Observed::Failure(classify::classify_transport(e)), None),
            CallOutcome::Unsendable => (
                // Nothing was sent, and nothing sent with this secret ever will be:
                // the credential is dead (or refreshed), and the next key serves.
                failure(
                    ErrorClass::AuthTerminal,
                    0,
                    "the credential is not a valid HTTP header value (control character); \
                     not sent, replace it",
                ),
                None,
            ),
            // Not transient: the same candidate would send the same answer again.
            CallOutcome::TooLarge { status, limit } => (
                failure(
                    ErrorClass::InvalidRequest,
                    status,
                    &format!("response larger than {limit} bytes (limits.max_response_bytes)"),
                ),
                None,
            ),
            CallOutcome::Stream { status, failure } => (
                Observed::Failure(failure.classify(status, &scrubber())),
                None,
            ),
        };
        self.presented = Some(bearer);
        observed
    }

    async fn refresh(&mut self, credential_id: &CredentialId) -> RefreshOutcome {
        let span = tracing::info_span!(
            "credential.refresh",
            otel.name = "credential refresh",
            otel.kind = "client",
            switchyard.credential_id = %credential_id,
            switchyard.refresh.outcome = Empty,
            switchyard.error_class = Empty,
            switchyard.action = Empty,
            error.type = Empty,
            otel.status_code = Empty,
            http.response.status_code = Empty,
        );
        let Some(credential) = self.pool.get(credential_id) else {
            return RefreshOutcome::Terminal("the credential was removed".into());
        };
        let seen = match &self.last_used {
            Some((id, generation, _)) if id == credential_id => *generation,
            _ => credential.tokens().generation,
        };
        let outcome = self
            .refresher
            .refresh_until(&credential, seen, self.deadline)
            .instrument(span.clone())
            .await;
        span.record(
            "switchyard.refresh.outcome",
            match &outcome {
                RefreshOutcome::Refreshed => "refreshed",
                RefreshOutcome::Adopted => "adopted",
                RefreshOutcome::Terminal(_) => "terminal",
                RefreshOutcome::Transient(_) => "transient",
                RefreshOutcome::StillRunning(_) => "still_running",
            },
        );
        if matches!(outcome, RefreshOutcome::Refreshed | RefreshOutcome::Adopted) {
            // Closed now: a successful refresh records no step of its own.
            drop(span);
        } else {
            self.span = Some(span);
        }
        outcome
    }

    fn recorded(&mut self, step: &Step) {
        let Some(span) = self.span.take() else {
            return;
        };
        span.record("switchyard.error_class", step.error_class.as_str());
        span.record("switchyard.action", step.action.as_str());
        if step.http_status != 0 {
            span.record("http.response.status_code", step.http_status);
        }
        if step.error_class != ErrorClass::None {
            span.record("error.type", step.error_class.as_str());
            span.record("otel.status_code", "ERROR");
        }
    }

    async fn apply(&mut self, effects: Vec<Effect>) {
        let now = wall_ms();
        for effect in &effects {
            if self.replaced_since_used(effect) {
                continue;
            }
            if let Some(change) = self.pool.apply(effect, now) {
                self.recorder.health(change).await;
            }
        }
    }
}
