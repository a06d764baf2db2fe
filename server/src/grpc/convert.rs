//! Proto <-> domain for the chat RPCs and `ExplainFallback`'s answer: requests
//! become a [`ChatRequest`] (validated by [`crate::validate`], as the HTTP door
//! does), answers and trails become proto messages. Pure: no I/O.

use switchyard_client::pb;
use tonic::Status;

use crate::config::Limits;
use crate::domain::{
    Action, Caller, ChatOptions, ChatRequest, ErrorClass, FailureReason, Message, Role, Step, Trail,
};
use crate::service::Completion;
use crate::validate::{self, Violations};

use super::status::invalid;

// === requests: proto -> domain ===

/// The fields every chat RPC's request carries; `task` is set for an auxiliary call only.
#[derive(Debug)]
pub(crate) struct ChatCall {
    /// The auxiliary task, `None` for the primary turn.
    pub task: Option<String>,
    /// The conversation.
    pub messages: Vec<pb::Message>,
    /// Model override.
    pub model: Option<String>,
    /// Upper bound on generated tokens.
    pub max_tokens: Option<i32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
}

/// The chat request of a call; `violations` may already hold the caller's own.
pub(crate) fn chat_request(
    limits: &Limits,
    call: ChatCall,
    violations: Violations,
) -> Result<ChatRequest, Status> {
    let ChatCall {
        messages,
        model,
        max_tokens,
        temperature,
        task: _,
    } = call;
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

// === responses: domain -> proto ===

/// Usage, served-by and trail of a whole answer.
pub(crate) fn completion_parts(
    c: &Completion,
) -> (Option<pb::Usage>, Option<pb::ServedBy>, Vec<pb::Attempt>) {
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

/// The trail as proto attempts.
pub(crate) fn attempts(steps: &[Step]) -> Vec<pb::Attempt> {
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

/// The proto reason of a failure.
pub(crate) fn failure_reason(r: FailureReason) -> pb::ErrorReason {
    match r {
        FailureReason::AllCandidatesFailed => pb::ErrorReason::AllCandidatesFailed,
        FailureReason::ContextOverflow => pb::ErrorReason::ContextOverflow,
        FailureReason::ContentPolicy => pb::ErrorReason::ContentPolicy,
        FailureReason::DeadlineExhausted => pb::ErrorReason::DeadlineExhausted,
        FailureReason::StreamInterrupted => pb::ErrorReason::StreamInterrupted,
    }
}

/// `ExplainFallback`'s answer.
pub(crate) fn explain_response(t: Trail) -> pb::ExplainFallbackResponse {
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
    }
}
