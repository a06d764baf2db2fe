//! Every failure of the chat service as a `tonic::Status`: one exhaustive mapping
//! from [`CallError`] and [`ExplainError`], each with an `ErrorInfo.reason` from the
//! proto's `ErrorReason` (without its `ERROR_REASON_` prefix) and, for a failed
//! call, the `FailureDetail` trail. Never echoes a credential.

use prost::Message as _;
use switchyard_client::pb;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::{FailureReason, Step};
use crate::service::{CallError, ExplainError, failure_message};
use crate::validate::{self, Violations};

use super::trail::{attempts, failure_reason};

/// `ErrorInfo.domain` of every error of the service.
pub const ERROR_DOMAIN: &str = "switchyard.dev";

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
pub(crate) fn call_status(e: CallError) -> Status {
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

pub(crate) fn explain_status(e: ExplainError) -> Status {
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
        metadata.insert("provider".into(), String::from(&*last.provider));
        metadata.insert("model".into(), String::from(&*last.model));
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
    fn reasons_drop_the_enum_prefix() {
        assert_eq!(
            reason_name(pb::ErrorReason::AllCandidatesFailed),
            "ALL_CANDIDATES_FAILED"
        );
    }
}
