//! The `/v1/messages` door's failures in Anthropic's shape and status codes:
//! `{"type": "error", "error": {"type", "message"}}`, plus the `request_id` and
//! the `switchyard` trail when the request ran. One exhaustive mapping from
//! [`DoorError`] to a response. Failures of the policy carry
//! `x-should-retry: false` (Switchyard already retried and failed over) and the
//! trail in `x-switchyard-*` headers.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::FailureReason;
use crate::door::{AUX_MODEL_PREFIX, PRIMARY_MODEL, Rejection, trail_headers};
use crate::openai::convert::trail;
use crate::service::{CallError, failure_message};
use crate::validate::{self, Violations};

use super::types::{ErrorBody, ErrorDetail};

/// Anthropic's status for an overloaded API, which its SDKs raise as
/// `OverloadedError`.
const OVERLOADED: u16 = 529;

/// Why the door answers with an error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DoorError {
    /// Refused before the body was parsed (token, size, time).
    #[error("{0}")]
    Rejected(Rejection),
    /// The body is not a Messages request.
    #[error("the body is not a Messages request: {0}")]
    BadJson(String),
    /// Fields that cannot be carried, or bad values.
    #[error("invalid request")]
    Invalid(Violations),
    /// Neither a Switchyard model nor a task header.
    #[error("unknown model {0:?}")]
    UnknownModel(String),
    /// The model and the task header name different callers.
    #[error("the model and the X-Switchyard-Task header name different callers")]
    Conflict,
    /// The call failed (or the task is unknown).
    #[error(transparent)]
    Call(#[from] CallError),
}

impl IntoResponse for DoorError {
    fn into_response(self) -> Response {
        let invalid = "invalid_request_error";
        match self {
            DoorError::Rejected(r) => {
                let (status, kind) = match &r {
                    Rejection::Unauthorized(_) => {
                        (StatusCode::UNAUTHORIZED, "authentication_error")
                    }
                    Rejection::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
                    Rejection::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, invalid),
                    Rejection::Unreadable(_) => (StatusCode::BAD_REQUEST, invalid),
                };
                plain(status, kind, &r.to_string())
            }
            DoorError::BadJson(why) => plain(
                StatusCode::BAD_REQUEST,
                invalid,
                &format!("the body is not a Messages request: {why}"),
            ),
            DoorError::Invalid(v) => {
                let message = v
                    .iter()
                    .map(|(f, d)| format!("{f}: {d}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                plain(StatusCode::BAD_REQUEST, invalid, &message)
            }
            DoorError::UnknownModel(model) => unknown_model(&model),
            DoorError::Conflict => plain(
                StatusCode::BAD_REQUEST,
                invalid,
                "model: the model and the X-Switchyard-Task header name different callers",
            ),
            DoorError::Call(CallError::UnknownTask(u)) => {
                unknown_model(&format!("{AUX_MODEL_PREFIX}{}", u.0))
            }
            DoorError::Call(CallError::Failed {
                request_id,
                reason,
                steps,
            }) => {
                let (status, kind) = failure_status(reason);
                let mut message = failure_message(&request_id, reason, &steps);
                if reason == FailureReason::ContextOverflow {
                    // Anthropic's words, which agents' compaction logic looks for.
                    message = format!("prompt is too long: {message}");
                }
                let body = ErrorBody {
                    kind: "error",
                    error: ErrorDetail {
                        kind,
                        message: &message,
                    },
                    request_id: Some(&request_id),
                    switchyard: Some(trail(&request_id, &steps)),
                };
                let mut response = crate::door::json(status, &body);
                let headers = response.headers_mut();
                trail_headers(headers, &request_id, None, &steps);
                headers.insert("x-should-retry", HeaderValue::from_static("false"));
                if let Ok(v) = HeaderValue::from_str(&request_id) {
                    headers.insert("request-id", v);
                }
                response
            }
        }
    }
}

/// The status and error type of a failed call.
fn failure_status(reason: FailureReason) -> (StatusCode, &'static str) {
    match reason {
        FailureReason::AllCandidatesFailed => (
            StatusCode::from_u16(OVERLOADED).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error",
        ),
        FailureReason::ContextOverflow | FailureReason::ContentPolicy => {
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        }
        FailureReason::DeadlineExhausted => (StatusCode::GATEWAY_TIMEOUT, "timeout_error"),
        FailureReason::StreamInterrupted => (StatusCode::BAD_GATEWAY, "api_error"),
    }
}

fn unknown_model(model: &str) -> Response {
    let model = validate::echo(model);
    plain(
        StatusCode::NOT_FOUND,
        "not_found_error",
        &format!(
            "model: {model:?} does not exist here: use {PRIMARY_MODEL} or \
             {AUX_MODEL_PREFIX}<task> (GET /v1/models lists them), or name the task \
             in an X-Switchyard-Task header"
        ),
    )
}

/// An error answer of a request that did not run.
fn plain(status: StatusCode, kind: &'static str, message: &str) -> Response {
    let body = ErrorBody {
        kind: "error",
        error: ErrorDetail { kind, message },
        request_id: None,
        switchyard: None,
    };
    crate::door::json(status, &body)
}

/// The `error` event that ends a stream which broke off after content: the
/// failure message (request id included) and the trail.
pub(crate) fn stream_error(e: &CallError) -> Vec<u8> {
    let mut out = Vec::new();
    match e {
        CallError::Failed {
            request_id,
            reason,
            steps,
        } => {
            let message = failure_message(request_id, *reason, steps);
            let body = ErrorBody {
                kind: "error",
                error: ErrorDetail {
                    kind: failure_status(*reason).1,
                    message: &message,
                },
                request_id: Some(request_id),
                switchyard: Some(trail(request_id, steps)),
            };
            super::sse::named(&mut out, "error", &body);
        }
        CallError::UnknownTask(u) => {
            let message = format!("unknown task {:?}", validate::echo(&u.0));
            let body = ErrorBody {
                kind: "error",
                error: ErrorDetail {
                    kind: "not_found_error",
                    message: &message,
                },
                request_id: None,
                switchyard: None,
            };
            super::sse::named(&mut out, "error", &body);
        }
    }
    out
}
