//! The trail (attempts, error classes, actions, failure reasons) and
//! `ExplainFallback`'s answer, domain -> proto.

use switchyard_client::pb;

use crate::domain::{Action, Caller, ErrorClass, FailureReason, Step, Trail};

/// The trail as proto attempts.
pub(crate) fn attempts(steps: &[Step]) -> Vec<pb::Attempt> {
    steps.iter().map(attempt).collect()
}

fn attempt(s: &Step) -> pb::Attempt {
    pb::Attempt {
        candidate_index: s.candidate_index,
        provider: String::from(&*s.provider),
        model: String::from(&*s.model),
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
                provider: String::from(&*c.provider),
                model: String::from(&*c.model),
                origin: c.origin.into_owned(),
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
