//! The OpenAI Responses API front door: `POST /v1/responses`, whole or `stream:
//! true` typed server-sent events, on the same listener, state and service layer
//! as chat completions, so an agent whose SDK speaks the Responses API (Codex
//! clients, `langchain-openai` for codex-style models) adopts Switchyard by
//! changing its base URL.
//!
//! The caller is chosen as on chat completions (`switchyard/primary`,
//! `switchyard/aux/<task>`, or the `X-Switchyard-Task` header, then `model`
//! overrides the first candidate). Switchyard keeps no conversation state: the
//! fields that would need it are refused by name. Errors use the Responses API's
//! shape ([`errors`]); the trail travels in `x-switchyard-*` headers and in a
//! `switchyard` field of the response object.
//!
//! [`types`] holds the wire shapes, [`convert`] maps them to and from the domain
//! chat, [`sse`] writes the typed event stream. This module holds the route and
//! the handler; it decides nothing about fallback.

mod answer;
pub(crate) mod convert;
pub(crate) mod errors;
pub(crate) mod sse;
pub(crate) mod types;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use tracing::Instrument as _;

use crate::door::request::{read_request, task_header};
use crate::door::{DoorState, NoCaller, client_timeout, close, resolve_caller, trail_headers};
use crate::openai::types::Served;
use crate::service::Completion;
use crate::validate::{self, Violations};

use convert::Echo;
use errors::{bad_request, call_error, invalid, rejected, unknown_model};
use types::ResponsesRequest;

/// Longest error text of a body that does not parse, in chars (serde's messages
/// quote the offending value).
const MAX_PARSE_ERROR_CHARS: usize = 200;

/// Top-level request fields, to name the one a parse error is in.
const TOP_LEVEL_FIELDS: [&str; 14] = [
    "model",
    "input",
    "instructions",
    "stream",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "metadata",
    "user",
];

/// The Responses route, on the doors' shared state. No fallback: the chat
/// completions door owns the 404 of unknown paths.
pub(crate) fn routes() -> Router<DoorState> {
    Router::new().route("/v1/responses", post(responses))
}

async fn responses(State(state): State<DoorState>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // The server span of the request, continuing the caller's `traceparent`.
    let span = tracing::info_span!(
        "http.server",
        otel.name = "POST /v1/responses",
        otel.kind = "server",
        http.request.method = "POST",
        http.route = "/v1/responses",
        http.response.status_code = tracing::field::Empty,
        switchyard.request_id = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, &headers);
    let response = serve(state, headers, body).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

async fn serve(state: DoorState, headers: HeaderMap, body: Body) -> Response {
    // The token and the declared size are checked before a byte of the body is read.
    let body = match read_request(&state, &headers, body).await {
        Ok(b) => b,
        Err(r) => return close(rejected(r)),
    };
    let request: ResponsesRequest = match crate::door::parse_body(&body) {
        Ok(r) => r,
        Err(e) => {
            let path = e.path().to_string();
            let field = path.split(['.', '[']).next().unwrap_or("");
            let param = TOP_LEVEL_FIELDS.iter().find(|f| **f == field).copied();
            return bad_request(
                "invalid_json",
                param,
                format!(
                    "the body is not a Responses API request: {}",
                    validate::cap(&e.to_string(), MAX_PARSE_ERROR_CHARS)
                ),
            );
        }
    };
    drop(body);
    let (caller, model_override) = match resolve_caller(&request.model, task_header(&headers)) {
        Ok(c) => c,
        Err(NoCaller::UnknownModel) => return unknown_model(&request.model),
        Err(NoCaller::Conflict) => {
            return bad_request(
                "invalid_value",
                Some("model"),
                "the model and the X-Switchyard-Task header name different callers".into(),
            );
        }
    };
    if let Err(e) = state.service.check_caller(&caller) {
        return call_error(e.into());
    }

    let stream = request.stream;
    let mut echo = Echo {
        instructions: request.instructions.clone(),
        max_output_tokens: request.max_output_tokens,
        ..Echo::default()
    };
    let mut violations: Violations = Vec::new();
    let mut draft = convert::draft(request, &mut violations);
    draft.model = model_override;
    let chat = match validate::chat_request(state.service.limits(), draft, violations) {
        Ok(chat) => chat,
        Err(v) => return invalid(&v),
    };
    echo.options = chat.options.clone();
    let deadline = client_timeout(&headers);
    if stream {
        match state.service.stream(caller.clone(), chat, deadline).await {
            Ok(stream) => sse::response(stream, &caller, echo),
            Err(e) => call_error(e),
        }
    } else {
        match state.service.complete(caller.clone(), chat, deadline).await {
            Ok(c) => whole(&c, &caller, &echo),
            Err(e) => call_error(e),
        }
    }
}

/// A whole answer: the response object, with who served and the trail.
fn whole(c: &Completion, caller: &crate::domain::Caller, echo: &Echo) -> Response {
    let id = ["resp_", &c.request_id].concat();
    let model = c.answer.model.as_deref().unwrap_or(&c.model);
    let mut body = echo.response(&id, crate::clock::wall_ms() / 1000, model);
    let (status, incomplete) = convert::status(c.answer.finish_reason);
    body.status = status;
    body.incomplete_details = incomplete;
    body.output = convert::output(&c.request_id, &c.answer);
    body.usage = Some(convert::usage(c.answer.usage));
    body.switchyard = Some(Served {
        request_id: &c.request_id,
        caller: Some(caller.label()),
        provider: Some(&c.provider),
        model: Some(&c.model),
        credential_id: Some(&c.credential_id),
        fallbacks: Some(crate::openai::convert::fallbacks(&c.steps)),
        attempts: crate::openai::convert::attempts(&c.steps),
    });
    let mut response = crate::door::json(StatusCode::OK, &body);
    trail_headers(
        response.headers_mut(),
        &c.request_id,
        Some((caller, &c.provider, &c.model)),
        &c.steps,
    );
    response
}
