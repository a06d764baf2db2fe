//! The `/v1/responses` door's error answers, in the Responses API's shape (the
//! OpenAI `{"error": {message, type, param, code}}` object) and status codes: one
//! exhaustive mapping of call failures, the refusals before the body is read,
//! and field violations named as the Responses API names its fields.
//!
//! The policy's failures carry `x-should-retry: false` (Switchyard already
//! retried and failed over) and the trail in `x-switchyard-*` headers.

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use crate::door::{AUX_MODEL_PREFIX, PRIMARY_MODEL, Rejection, trail_headers};
use crate::openai::convert::trail;
use crate::openai::types::{ErrorBody, ErrorDetail};
use crate::service::{CallError, failure_message};
use crate::validate::{self, Violations};

/// An error answer in the Responses API's shape.
pub(crate) fn error(
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

/// A 400 naming the field.
pub(crate) fn bad_request(code: &str, param: Option<&str>, message: String) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        code,
        param,
        message,
    )
}

/// The Responses API's name of a field the shared validation names in chat
/// terms (`messages` is `input`, `max_tokens` is `max_output_tokens`).
pub(crate) fn field(name: &'static str) -> &'static str {
    match name {
        "max_tokens" => "max_output_tokens",
        "messages.role" => "input.role",
        "messages.content" => "input.content",
        "messages.content.image_url" => "input.content.image_url",
        "messages.tool_call_id" => "input.call_id",
        "messages.tool_calls" => "input.call_id",
        "tools.function.name" => "tools.name",
        other if other.starts_with("messages") => "input",
        other => other,
    }
}

/// Field violations as one 400: `param` is the first field.
pub(crate) fn invalid(violations: &Violations) -> Response {
    let message = violations
        .iter()
        .map(|(f, d)| format!("{}: {d}", field(f)))
        .collect::<Vec<_>>()
        .join("; ");
    bad_request(
        "invalid_value",
        violations.first().map(|(f, _)| field(f)),
        format!("invalid request: {message}"),
    )
}

/// A 404 for a model that names no caller.
pub(crate) fn unknown_model(model: &str) -> Response {
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

/// A refusal before the body was parsed.
pub(crate) fn rejected(r: Rejection) -> Response {
    let (status, code) = match &r {
        Rejection::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
        Rejection::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
        Rejection::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
        Rejection::Unreadable(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
    };
    error(status, "invalid_request_error", code, None, r.to_string())
}

/// The one mapping of call failures to HTTP answers.
pub(crate) fn call_error(e: CallError) -> Response {
    match e {
        CallError::UnknownTask(u) => unknown_model(&format!("{AUX_MODEL_PREFIX}{}", u.0)),
        CallError::Failed {
            request_id,
            reason,
            steps,
        } => {
            let (status, kind, code) = crate::openai::failure_shape(reason);
            let message = failure_message(&request_id, reason, &steps);
            let body = ErrorBody {
                error: ErrorDetail {
                    message: &message,
                    kind,
                    param: None,
                    code,
                    switchyard: Some(trail(&request_id, &steps)),
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
