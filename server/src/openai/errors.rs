//! The chat completions door's answers of failure, in OpenAI's shape and status
//! codes: refusals before the body was parsed, invalid requests, unknown models,
//! and the one mapping of call failures (with the trail, and `x-should-retry:
//! false` so SDKs do not retry what the policy already retried).

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use crate::door::{Rejection, trail_headers};
use crate::service::{CallError, failure_message};
use crate::validate::{self, Violations};

use super::{convert, types};
use types::{ErrorBody, ErrorDetail};

use crate::door::{AUX_MODEL_PREFIX, PRIMARY_MODEL};

/// An OpenAI-shaped error answer.
pub(super) fn error(
    status: StatusCode,
    kind: &str,
    code: &str,
    param: Option<&str>,
    message: String,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            message: &message,
            kind,
            param,
            code,
            switchyard: None,
        },
    };
    crate::door::json(status, &body)
}

pub(super) fn invalid(violations: &Violations) -> Response {
    let message = violations
        .iter()
        .map(|(f, d)| format!("{f}: {d}"))
        .collect::<Vec<_>>()
        .join("; ");
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_value",
        violations.first().map(|(f, _)| *f),
        format!("invalid request: {message}"),
    )
}

pub(super) fn unknown_model(model: &str) -> Response {
    let model = validate::echo(model);
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "model_not_found",
        Some("model"),
        format!(
            "the model {model:?} does not exist here: use {PRIMARY_MODEL} or \
             {AUX_MODEL_PREFIX}<task> (GET /v1/models lists them), or name the task \
             in an X-Switchyard-Task header"
        ),
    )
}

/// Status, error type and code of a failure of the policy, in OpenAI's terms:
/// the one table of the chat completions and Responses doors.
pub(crate) fn failure_shape(
    reason: crate::domain::FailureReason,
) -> (StatusCode, &'static str, &'static str) {
    use crate::domain::FailureReason as R;
    match reason {
        R::AllCandidatesFailed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "all_candidates_failed",
        ),
        // OpenAI's own code, so agents' context-compression logic triggers.
        R::ContextOverflow => (
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "context_length_exceeded",
        ),
        R::ContentPolicy => (
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "content_policy_violation",
        ),
        R::DeadlineExhausted => (
            StatusCode::GATEWAY_TIMEOUT,
            "timeout_error",
            "deadline_exhausted",
        ),
        R::StreamInterrupted => (StatusCode::BAD_GATEWAY, "api_error", "stream_interrupted"),
    }
}

/// The one mapping of call failures to HTTP answers. The policy already retried
/// and failed over, so `x-should-retry: false` tells OpenAI SDKs not to retry.
pub(super) fn call_error(e: CallError) -> Response {
    match e {
        CallError::UnknownTask(u) => unknown_model(&format!("{AUX_MODEL_PREFIX}{}", u.0)),
        CallError::Failed {
            request_id,
            reason,
            steps,
        } => {
            let (status, kind, code) = failure_shape(reason);
            let message = failure_message(&request_id, reason, &steps);
            let body = ErrorBody {
                error: ErrorDetail {
                    message: &message,
                    kind,
                    param: None,
                    code,
                    switchyard: Some(convert::trail(&request_id, &steps)),
                },
            };
            let mut response = crate::door::json(status, &body);
            trail_headers(response.headers_mut(), &request_id, None, &steps);
            response
                .headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
            response
        }
    }
}

/// A refusal before the body was parsed, in OpenAI's shape.
pub(super) fn rejected(r: Rejection) -> Response {
    let (status, code) = match &r {
        Rejection::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
        Rejection::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
        Rejection::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
        Rejection::Unreadable(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
    };
    error(status, "invalid_request_error", code, None, r.to_string())
}
