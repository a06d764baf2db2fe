//! The gRPC front door: `switchyard.v1.SwitchyardService`.
//!
//! Thin handlers: validate and convert the request into domain values (field
//! violations become `InvalidArgument` with `BadRequest`), call one service
//! function, convert the result. Every failure maps to a status through one
//! exhaustive function with an `ErrorInfo.reason` from the proto's `ErrorReason`.

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use switchyard_client::pb;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::config::Limits;
use crate::domain::{
    Action, Caller, ChatOptions, ChatRequest, ErrorClass, FailureReason, Message, Role, Step,
    Trail, TransportError,
};
use crate::policy::RefreshOutcome;
use crate::service::{
    CallError, Completion, CompletionStream, ExplainError, SimulationSpec, StreamItem, Switchyard,
    failure_message,
};
use crate::simulate::{CredentialBasis, ScriptedOutcome, SimulatedCredential};
use crate::validate::{self, MAX_MODEL_LEN, Violations};

/// `ErrorInfo.domain` of every error of the service.
pub const ERROR_DOMAIN: &str = "switchyard.dev";
/// Longest simulated body.
const MAX_SIMULATED_BODY: usize = 64 * 1024;
/// Most simulated outcomes.
const MAX_SIMULATED_OUTCOMES: usize = 256;

/// The tonic service over the shared [`Switchyard`].
#[derive(Debug, Clone)]
pub struct GrpcService {
    service: Arc<Switchyard>,
}

impl GrpcService {
    /// Wraps the service.
    pub fn new(service: Arc<Switchyard>) -> Self {
        Self { service }
    }
}

impl GrpcService {
    /// Validates an auxiliary call: its fields, then its task.
    fn aux_request(
        &self,
        task: String,
        messages: Vec<pb::Message>,
        model: Option<String>,
        max_tokens: Option<i32>,
        temperature: Option<f64>,
    ) -> Result<(Caller, ChatRequest), Status> {
        let mut violations = Vec::new();
        if task.is_empty() {
            violations.push(("task", "the task name is required".to_owned()));
        }
        let chat = chat_request(
            self.service.limits(),
            messages,
            model,
            max_tokens,
            temperature,
            violations,
        )?;
        let caller = Caller::Aux(task);
        self.service
            .check_caller(&caller)
            .map_err(|e| call_status(e.into()))?;
        Ok((caller, chat))
    }
}

// === impl SwitchyardService ===

#[tonic::async_trait]
impl pb::switchyard_service_server::SwitchyardService for GrpcService {
    async fn complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteResponse>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let r = request.into_inner();
        let chat = chat_request(
            self.service.limits(),
            r.messages,
            r.model,
            r.max_tokens,
            r.temperature,
            Vec::new(),
        )?;
        let c = self
            .service
            .complete(Caller::Primary, chat, deadline)
            .await
            .map_err(call_status)?;
        let (usage, served_by, attempts) = completion_parts(&c);
        Ok(Response::new(pb::CompleteResponse {
            request_id: c.request_id,
            content: c.answer.content,
            usage,
            served_by,
            attempts,
        }))
    }

    async fn aux_complete(
        &self,
        request: Request<pb::AuxCompleteRequest>,
    ) -> Result<Response<pb::AuxCompleteResponse>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let r = request.into_inner();
        let (caller, chat) =
            self.aux_request(r.task, r.messages, r.model, r.max_tokens, r.temperature)?;
        let c = self
            .service
            .complete(caller, chat, deadline)
            .await
            .map_err(call_status)?;
        let (usage, served_by, attempts) = completion_parts(&c);
        Ok(Response::new(pb::AuxCompleteResponse {
            request_id: c.request_id,
            content: c.answer.content,
            usage,
            served_by,
            attempts,
        }))
    }

    type CompleteStreamStream = EventStream<pb::CompleteStreamResponse>;

    async fn complete_stream(
        &self,
        request: Request<pb::CompleteStreamRequest>,
    ) -> Result<Response<Self::CompleteStreamStream>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let r = request.into_inner();
        let chat = chat_request(
            self.service.limits(),
            r.messages,
            r.model,
            r.max_tokens,
            r.temperature,
            Vec::new(),
        )?;
        let stream = self
            .service
            .stream(Caller::Primary, chat, deadline)
            .await
            .map_err(call_status)?;
        Ok(Response::new(event_stream(stream, |event| {
            use pb::complete_stream_response::Event as E;
            pb::CompleteStreamResponse {
                event: Some(match event {
                    Ev::Started(s) => E::Started(s),
                    Ev::Delta(d) => E::Delta(d),
                    Ev::Finished(f) => E::Finished(f),
                }),
            }
        })))
    }

    type AuxCompleteStreamStream = EventStream<pb::AuxCompleteStreamResponse>;

    async fn aux_complete_stream(
        &self,
        request: Request<pb::AuxCompleteStreamRequest>,
    ) -> Result<Response<Self::AuxCompleteStreamStream>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let r = request.into_inner();
        let (caller, chat) =
            self.aux_request(r.task, r.messages, r.model, r.max_tokens, r.temperature)?;
        let stream = self
            .service
            .stream(caller, chat, deadline)
            .await
            .map_err(call_status)?;
        Ok(Response::new(event_stream(stream, |event| {
            use pb::aux_complete_stream_response::Event as E;
            pb::AuxCompleteStreamResponse {
                event: Some(match event {
                    Ev::Started(s) => E::Started(s),
                    Ev::Delta(d) => E::Delta(d),
                    Ev::Finished(f) => E::Finished(f),
                }),
            }
        })))
    }

    async fn explain_fallback(
        &self,
        request: Request<pb::ExplainFallbackRequest>,
    ) -> Result<Response<pb::ExplainFallbackResponse>, Status> {
        use pb::explain_fallback_request::Query;
        let answer = match request.into_inner().query {
            None => {
                return Err(invalid(vec![(
                    "query",
                    "set request_id or simulation".to_owned(),
                )]));
            }
            Some(Query::RequestId(id)) => {
                if uuid::Uuid::try_parse(&id).is_err() {
                    return Err(invalid(vec![(
                        "request_id",
                        "not a request id (a UUID returned by Complete or AuxComplete)".to_owned(),
                    )]));
                }
                explain_response(self.service.trail(&id).await.map_err(explain_status)?)
            }
            Some(Query::Simulation(sim)) => {
                let spec = simulation_spec(sim)?;
                let simulated = self.service.simulate(spec).await.map_err(explain_status)?;
                pb::ExplainFallbackResponse {
                    credential_basis: match simulated.basis {
                        CredentialBasis::CurrentState => pb::CredentialBasis::CurrentState,
                        CredentialBasis::AllHealthy => pb::CredentialBasis::AllHealthy,
                    } as i32,
                    note: simulated.note,
                    ..explain_response(simulated.trail)
                }
            }
        };
        Ok(Response::new(answer))
    }
}

/// The response stream of a streaming RPC.
pub type EventStream<R> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<R, Status>> + Send>>;

/// An event of either streaming RPC, before it is wrapped in its response type.
enum Ev {
    Started(pb::StreamStarted),
    Delta(String),
    Finished(pb::StreamFinished),
}

/// `Started`, the text deltas, then `Finished` or an error status with the trail.
fn event_stream<R: Send + 'static>(s: CompletionStream, wrap: fn(Ev) -> R) -> EventStream<R> {
    let started = pb::StreamStarted {
        request_id: s.request_id,
        served_by: Some(pb::ServedBy {
            provider: s.provider.to_string(),
            model: s.model.to_string(),
            credential_id: s.credential_id.to_string(),
        }),
        attempts: attempts(&s.steps),
    };
    let first = futures::stream::once(std::future::ready(Ok(wrap(Ev::Started(started)))));
    let rest = futures::stream::unfold(Some(s.events), move |events| async move {
        let mut events = events?;
        let mut next = events.recv().await?;
        // gRPC requests carry no tools yet, so no tool call can answer them.
        while let StreamItem::ToolCall(_) = next {
            next = events.recv().await?;
        }
        let item = match next {
            StreamItem::ToolCall(_) => return None,
            StreamItem::Text(text) => (Ok(wrap(Ev::Delta(text))), Some(events)),
            StreamItem::Finished {
                usage,
                finish_reason,
                steps,
            } => (
                Ok(wrap(Ev::Finished(pb::StreamFinished {
                    usage: Some(pb::Usage {
                        input_tokens: usage.input_tokens,
                        output_tokens: usage.output_tokens,
                    }),
                    finish_reason: finish_reason.as_str().to_owned(),
                    attempts: attempts(&steps),
                }))),
                None,
            ),
            StreamItem::Failed(e) => (Err(call_status(e)), None),
        };
        Some(item)
    });
    Box::pin(futures::StreamExt::chain(first, rest))
}

// === requests: proto -> domain ===

fn chat_request(
    limits: &Limits,
    messages: Vec<pb::Message>,
    model: Option<String>,
    max_tokens: Option<i32>,
    temperature: Option<f64>,
    violations: Violations,
) -> Result<ChatRequest, Status> {
    let mut violations = violations;
    let mut bad_roles = 0;
    let messages = messages
        .into_iter()
        .filter_map(|m| {
            let role = match pb::Role::try_from(m.role) {
                Ok(pb::Role::System) => Role::System,
                Ok(pb::Role::User) => Role::User,
                Ok(pb::Role::Assistant) => Role::Assistant,
                Ok(pb::Role::Unspecified) | Err(_) => {
                    bad_roles += 1;
                    return None;
                }
            };
            Some(Message::text(role, m.content))
        })
        .collect();
    if bad_roles > 0 {
        violations.push(validate::bad_roles(bad_roles));
    }
    let draft = validate::Draft {
        messages,
        model,
        max_tokens: max_tokens.map(i64::from),
        options: ChatOptions {
            temperature,
            ..ChatOptions::default()
        },
    };
    validate::chat_request(limits, draft, violations).map_err(invalid)
}

fn caller_from(caller: Option<pb::Caller>) -> Result<Caller, Status> {
    match caller.and_then(|c| c.kind) {
        Some(pb::caller::Kind::Primary(_)) => Ok(Caller::Primary),
        Some(pb::caller::Kind::Task(task)) if !task.is_empty() => Ok(Caller::Aux(task)),
        Some(pb::caller::Kind::Task(_)) => Err(invalid(vec![(
            "simulation.caller.task",
            "the task name is required".into(),
        )])),
        None => Err(invalid(vec![(
            "simulation.caller",
            "set primary or task".into(),
        )])),
    }
}

fn simulation_spec(sim: pb::Simulation) -> Result<SimulationSpec, Status> {
    use pb::simulated_outcome::Outcome;
    let caller = caller_from(sim.caller)?;
    let mut violations: Violations = Vec::new();
    if sim.outcomes.len() > MAX_SIMULATED_OUTCOMES {
        violations.push((
            "simulation.outcomes",
            format!("at most {MAX_SIMULATED_OUTCOMES} outcomes"),
        ));
    }
    let mut outcomes = Vec::with_capacity(sim.outcomes.len());
    for (i, o) in sim.outcomes.into_iter().enumerate() {
        match o.outcome {
            Some(Outcome::Http(h)) => {
                if !(100..=599).contains(&h.status) {
                    violations.push((
                        "simulation.outcomes.http.status",
                        format!("outcome {i}: status {} is not an HTTP status", h.status),
                    ));
                    continue;
                }
                if h.body.len() > MAX_SIMULATED_BODY {
                    violations.push((
                        "simulation.outcomes.http.body",
                        format!("outcome {i}: body over {MAX_SIMULATED_BODY} bytes"),
                    ));
                    continue;
                }
                let mut headers = http::HeaderMap::new();
                for (name, value) in &h.headers {
                    match (
                        http::HeaderName::from_bytes(name.as_bytes()),
                        http::HeaderValue::from_str(value),
                    ) {
                        (Ok(n), Ok(v)) => {
                            headers.insert(n, v);
                        }
                        _ => violations.push((
                            "simulation.outcomes.http.headers",
                            format!("outcome {i}: invalid header {:?}", validate::echo(name)),
                        )),
                    }
                }
                outcomes.push(ScriptedOutcome::Http {
                    status: h.status as u16,
                    headers,
                    body: h.body.into_bytes(),
                    duration_ms: o.duration_ms,
                });
            }
            Some(Outcome::Transport(t)) => {
                let error = match pb::TransportFailure::try_from(t) {
                    Ok(pb::TransportFailure::ConnectionRefused) => {
                        TransportError::ConnectionRefused
                    }
                    Ok(pb::TransportFailure::ConnectionReset) => TransportError::ConnectionReset,
                    Ok(pb::TransportFailure::Timeout) => TransportError::Timeout,
                    Ok(pb::TransportFailure::Dns) => TransportError::Dns,
                    Ok(pb::TransportFailure::Tls) => TransportError::Tls,
                    Ok(pb::TransportFailure::Unspecified) | Err(_) => {
                        violations.push((
                            "simulation.outcomes.transport",
                            format!("outcome {i}: set a transport failure kind"),
                        ));
                        continue;
                    }
                };
                outcomes.push(ScriptedOutcome::Transport {
                    error,
                    duration_ms: o.duration_ms,
                });
            }
            Some(Outcome::Refresh(r)) => {
                let reason = || {
                    if r.reason.is_empty() {
                        "simulated".to_owned()
                    } else {
                        validate::cap(&r.reason, crate::steps::MAX_REASON_CHARS)
                    }
                };
                let outcome = match pb::RefreshResult::try_from(r.result) {
                    Ok(pb::RefreshResult::Succeeded) => RefreshOutcome::Refreshed,
                    Ok(pb::RefreshResult::Refused) => RefreshOutcome::Terminal(reason()),
                    Ok(pb::RefreshResult::FailedTransiently) => RefreshOutcome::Transient(reason()),
                    Ok(pb::RefreshResult::Unspecified) | Err(_) => {
                        violations.push((
                            "simulation.outcomes.refresh.result",
                            format!("outcome {i}: set a refresh result"),
                        ));
                        continue;
                    }
                };
                outcomes.push(ScriptedOutcome::Refresh {
                    outcome,
                    duration_ms: o.duration_ms,
                });
            }
            None => violations.push((
                "simulation.outcomes.outcome",
                format!("outcome {i}: set http, transport or refresh"),
            )),
        }
    }
    if let Some(model) = &sim.model
        && (model.is_empty() || model.len() > MAX_MODEL_LEN)
    {
        violations.push((
            "simulation.model",
            format!("must be 1 to {MAX_MODEL_LEN} characters"),
        ));
    }
    if sim.credentials.len() > MAX_SIMULATED_OUTCOMES {
        violations.push((
            "simulation.credentials",
            format!("at most {MAX_SIMULATED_OUTCOMES} credentials"),
        ));
    }
    let credentials = sim
        .credentials
        .into_iter()
        .map(|c| SimulatedCredential {
            id: c.credential_id.into(),
            expires_in_s: c.expires_in_s,
        })
        .collect();
    if !violations.is_empty() {
        return Err(invalid(violations));
    }
    Ok(SimulationSpec {
        caller,
        outcomes,
        budget_ms: (sim.budget_ms > 0).then_some(sim.budget_ms),
        assume_all_credentials_live: sim.assume_all_credentials_live,
        model: sim.model,
        credentials,
    })
}

/// The caller's deadline from the `grpc-timeout` header (`<digits><H|M|S|m|u|n>`).
fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let raw = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = raw.split_at(raw.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

// === responses: domain -> proto ===

fn completion_parts(c: &Completion) -> (Option<pb::Usage>, Option<pb::ServedBy>, Vec<pb::Attempt>) {
    (
        Some(pb::Usage {
            input_tokens: c.answer.usage.input_tokens,
            output_tokens: c.answer.usage.output_tokens,
        }),
        Some(pb::ServedBy {
            provider: c.provider.to_string(),
            model: c.model.to_string(),
            credential_id: c.credential_id.to_string(),
        }),
        attempts(&c.steps),
    )
}

fn attempts(steps: &[Step]) -> Vec<pb::Attempt> {
    steps.iter().map(attempt).collect()
}

fn attempt(s: &Step) -> pb::Attempt {
    pb::Attempt {
        candidate_index: s.candidate_index,
        provider: s.provider.to_string(),
        model: s.model.to_string(),
        credential_id: s.credential_id.as_deref().unwrap_or("").to_owned(),
        error_class: error_class(s.error_class) as i32,
        http_status: u32::from(s.http_status),
        action: action(s.action) as i32,
        reason: s.reason.clone(),
        duration_ms: s.duration_ms,
    }
}

fn error_class(c: ErrorClass) -> pb::ErrorClass {
    match c {
        ErrorClass::None => pb::ErrorClass::None,
        ErrorClass::Auth => pb::ErrorClass::Auth,
        ErrorClass::AuthTerminal => pb::ErrorClass::AuthTerminal,
        ErrorClass::Forbidden => pb::ErrorClass::Forbidden,
        ErrorClass::Billing => pb::ErrorClass::Billing,
        ErrorClass::RateLimit => pb::ErrorClass::RateLimit,
        ErrorClass::Overloaded => pb::ErrorClass::Overloaded,
        ErrorClass::Server => pb::ErrorClass::Server,
        ErrorClass::Transport => pb::ErrorClass::Transport,
        ErrorClass::ContextOverflow => pb::ErrorClass::ContextOverflow,
        ErrorClass::ModelUnavailable => pb::ErrorClass::ModelUnavailable,
        ErrorClass::ContentPolicy => pb::ErrorClass::ContentPolicy,
        ErrorClass::InvalidRequest => pb::ErrorClass::InvalidRequest,
        ErrorClass::Unknown => pb::ErrorClass::Unknown,
    }
}

fn action(a: Action) -> pb::Action {
    match a {
        Action::Succeed => pb::Action::Succeed,
        Action::RetrySame => pb::Action::RetrySame,
        Action::RefreshAndRetry => pb::Action::RefreshAndRetry,
        Action::RotateCredential => pb::Action::RotateCredential,
        Action::NextCandidate => pb::Action::NextCandidate,
        Action::ReturnToCaller => pb::Action::ReturnToCaller,
        Action::GiveUp => pb::Action::GiveUp,
        Action::SkipCandidate => pb::Action::SkipCandidate,
        Action::StopStream => pb::Action::StopStream,
    }
}

fn failure_reason(r: FailureReason) -> pb::ErrorReason {
    match r {
        FailureReason::AllCandidatesFailed => pb::ErrorReason::AllCandidatesFailed,
        FailureReason::ContextOverflow => pb::ErrorReason::ContextOverflow,
        FailureReason::ContentPolicy => pb::ErrorReason::ContentPolicy,
        FailureReason::DeadlineExhausted => pb::ErrorReason::DeadlineExhausted,
        FailureReason::StreamInterrupted => pb::ErrorReason::StreamInterrupted,
    }
}

fn explain_response(t: Trail) -> pb::ExplainFallbackResponse {
    let caller = match t.caller {
        Caller::Primary => pb::caller::Kind::Primary(pb::PrimaryCaller {}),
        Caller::Aux(task) => pb::caller::Kind::Task(task),
    };
    pb::ExplainFallbackResponse {
        simulated: t.request_id.is_empty(),
        request_id: t.request_id,
        caller: Some(pb::Caller { kind: Some(caller) }),
        candidates: t
            .candidates
            .into_iter()
            .map(|c| pb::Candidate {
                provider: c.provider,
                model: c.model,
                origin: c.origin,
            })
            .collect(),
        steps: attempts(&t.steps),
        outcome: match t.failure {
            None => pb::Outcome::Succeeded,
            Some(_) => pb::Outcome::Failed,
        } as i32,
        error_reason: t
            .failure
            .map_or(pb::ErrorReason::Unspecified, failure_reason) as i32,
        credential_basis: pb::CredentialBasis::Unspecified as i32,
        note: String::new(),
    }
}

// === errors -> status ===

/// `ErrorInfo.reason`: the `ErrorReason` value name without its prefix.
pub fn reason_name(reason: pb::ErrorReason) -> &'static str {
    let name = reason.as_str_name();
    name.strip_prefix("ERROR_REASON_").unwrap_or(name)
}

/// A status with an `ErrorInfo` of `reason` and `metadata`.
pub(crate) fn error_status(
    code: Code,
    reason: pb::ErrorReason,
    message: String,
    metadata: impl IntoIterator<Item = (String, String)>,
) -> Status {
    let details = ErrorDetails::with_error_info(
        reason_name(reason),
        ERROR_DOMAIN,
        metadata
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    );
    Status::with_error_details(code, message, details)
}

/// `InvalidArgument` with a `BadRequest` listing every violation.
pub(crate) fn invalid(violations: Violations) -> Status {
    let summary = violations
        .iter()
        .map(|(f, d)| format!("{f}: {d}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut details = ErrorDetails::with_error_info(
        reason_name(pb::ErrorReason::InvalidArgument),
        ERROR_DOMAIN,
        [],
    );
    for (field, description) in violations {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {summary}"),
        details,
    )
}

/// The one mapping of call failures to statuses. Exhaustive: a new failure kind
/// does not compile until it has a status.
fn call_status(e: CallError) -> Status {
    match e {
        CallError::UnknownTask(u) => {
            // The task name is the caller's input: echoed capped, never whole.
            let task = validate::echo(&u.0);
            let mut details = ErrorDetails::with_error_info(
                reason_name(pb::ErrorReason::UnknownTask),
                ERROR_DOMAIN,
                [("task".to_owned(), task.clone())],
            );
            details.add_bad_request_violation(
                "task",
                format!("unknown task {task:?}: not built in and not in the config"),
            );
            Status::with_error_details(
                Code::InvalidArgument,
                format!("unknown task {task:?}"),
                details,
            )
        }
        CallError::Failed {
            request_id,
            reason,
            steps,
        } => {
            let code = match reason {
                FailureReason::AllCandidatesFailed => Code::Unavailable,
                FailureReason::ContextOverflow => Code::OutOfRange,
                FailureReason::ContentPolicy => Code::FailedPrecondition,
                FailureReason::DeadlineExhausted => Code::DeadlineExceeded,
                // The caller holds part of an answer: retry the whole request, or not.
                FailureReason::StreamInterrupted => Code::Aborted,
            };
            let message = failure_message(&request_id, reason, &steps);
            failure_status(code, message, failure_reason(reason), request_id, &steps)
        }
    }
}

fn explain_status(e: ExplainError) -> Status {
    match e {
        ExplainError::NotFound(id) => {
            let details = ErrorDetails::with_error_info(
                reason_name(pb::ErrorReason::RequestNotFound),
                ERROR_DOMAIN,
                [("request_id".to_owned(), id.clone())],
            );
            Status::with_error_details(
                Code::NotFound,
                format!("no trail is recorded for request {id} (unknown, or past retention)"),
                details,
            )
        }
        ExplainError::UnknownTask(u) => call_status(CallError::UnknownTask(u)),
        ExplainError::Credential(e) => invalid(vec![("simulation.credentials", e.to_string())]),
        ExplainError::Store(e) => {
            tracing::error!(error = %e, "explain: store failure");
            let details = ErrorDetails::with_error_info(
                reason_name(pb::ErrorReason::Internal),
                ERROR_DOMAIN,
                [],
            );
            Status::with_error_details(Code::Internal, "store failure", details)
        }
    }
}

/// A status with `ErrorInfo` and the `FailureDetail` trail in its details.
fn failure_status(
    code: Code,
    message: String,
    reason: pb::ErrorReason,
    request_id: String,
    steps: &[Step],
) -> Status {
    let mut metadata: std::collections::HashMap<String, String> =
        [("request_id".to_owned(), request_id.clone())].into();
    if reason == pb::ErrorReason::StreamInterrupted
        && let Some(last) = steps.last()
    {
        // The attempt whose stream broke off.
        metadata.insert("provider".into(), last.provider.to_string());
        metadata.insert("model".into(), last.model.to_string());
        metadata.insert("candidate_index".into(), last.candidate_index.to_string());
        metadata.insert("error_class".into(), last.error_class.as_str().to_owned());
    }
    let info = tonic_types::pb::ErrorInfo {
        reason: reason_name(reason).to_owned(),
        domain: ERROR_DOMAIN.to_owned(),
        metadata,
    };
    let detail = pb::FailureDetail {
        request_id,
        attempts: attempts(steps),
    };
    let status = tonic_types::pb::Status {
        code: code as i32,
        message: message.clone(),
        details: vec![
            prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
                value: info.encode_to_vec(),
            },
            prost_types::Any {
                type_url: "type.googleapis.com/switchyard.v1.FailureDetail".into(),
                value: detail.encode_to_vec(),
            },
        ],
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_every_unit() {
        let mut m = MetadataMap::new();
        for (raw, want) in [
            ("2S", Duration::from_secs(2)),
            ("150m", Duration::from_millis(150)),
            ("1H", Duration::from_secs(3600)),
            ("7u", Duration::from_micros(7)),
        ] {
            m.insert("grpc-timeout", raw.parse().unwrap());
            assert_eq!(grpc_timeout(&m), Some(want), "{raw}");
        }
        m.insert("grpc-timeout", "x".parse().unwrap());
        assert_eq!(grpc_timeout(&m), None);
    }

    #[test]
    fn reasons_drop_the_enum_prefix() {
        assert_eq!(
            reason_name(pb::ErrorReason::AllCandidatesFailed),
            "ALL_CANDIDATES_FAILED"
        );
    }
}
