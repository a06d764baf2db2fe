//! The OpenAI-compatible HTTP front door: `POST /v1/chat/completions` (whole or
//! `stream: true` server-sent events) and `GET /v1/models`, in the same process and
//! over the same service layer as gRPC, so an agent adopts Switchyard by changing
//! its SDK's base URL.
//!
//! The caller is chosen by `model` (`switchyard/primary`, `switchyard/aux/<task>`)
//! or by an `X-Switchyard-Task` header (then `model` overrides the task's first
//! candidate, as the gRPC `model` field does). Agents authenticate with the same
//! bearer tokens as on gRPC. Errors use OpenAI's shape and status codes. The
//! attempt trail travels in `x-switchyard-*` response headers and in a
//! `switchyard` field of the body (of `error` on failures).
//!
//! The wire shapes are serde structs ([`types`]); [`convert`] maps them to and
//! from the domain chat (tools, tool calls, images, structured output), refusing
//! by name whatever it does not carry. This module holds the routes, the
//! handler, authentication, and the trail headers.

mod chunks;
pub mod convert;
mod errors;
mod sse;
pub mod types;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use tracing::Instrument as _;

use crate::domain::Caller;
use crate::door::request::{authenticate, read_request, task_header};
use crate::door::{DoorState, NoCaller, client_timeout, close, resolve_caller, trail_headers};
use crate::service::Switchyard;
use crate::validate::{self, Violations};

use types::{ChatCompletion, ChatCompletionRequest, Model, ModelList};

pub use crate::door::{AUX_MODEL_PREFIX, PRIMARY_MODEL, TASK_HEADER};
pub(crate) use errors::failure_shape;
use errors::*;
use sse::*;

/// Longest error text of a body that does not parse, in chars (serde's messages
/// quote the offending value).
const MAX_PARSE_ERROR_CHARS: usize = 200;

/// The chat completions and models routes, on the doors' shared state.
pub fn routes() -> Router<DoorState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*id}", get(get_model))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "not_found",
                None,
                "unknown path: this endpoint serves POST /v1/chat/completions, POST /v1/responses, \
                 POST /v1/messages, POST /v1/messages/count_tokens and GET /v1/models"
                    .into(),
            )
        })
}

// === models ===

/// Every caller, with its model id.
fn callers(service: &Switchyard) -> Vec<(String, Caller)> {
    std::iter::once((PRIMARY_MODEL.to_owned(), Caller::Primary))
        .chain(
            service
                .tasks()
                .into_iter()
                .map(|t| (format!("{AUX_MODEL_PREFIX}{t}"), Caller::Aux(t))),
        )
        .collect()
}

fn model(service: &Switchyard, id: String, caller: &Caller, created: u64) -> Model {
    let window = service.window(caller);
    Model {
        id,
        object: "model",
        created,
        owned_by: "switchyard",
        context_window: window.context_window,
        max_output_tokens: window.max_output_tokens,
    }
}

/// `GET /v1/models`: one model per caller, with its context window and output
/// limit where configured.
async fn list_models(State(state): State<DoorState>, headers: HeaderMap) -> Response {
    if let Err(r) = authenticate(&state, &headers) {
        return rejected(r);
    }
    let data = callers(&state.service)
        .into_iter()
        .map(|(id, caller)| model(&state.service, id, &caller, state.started))
        .collect();
    axum::Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

/// `GET /v1/models/{id}`.
async fn get_model(
    State(state): State<DoorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authenticate(&state, &headers) {
        return rejected(r);
    }
    match callers(&state.service).into_iter().find(|(m, _)| *m == id) {
        Some((id, caller)) => {
            axum::Json(model(&state.service, id, &caller, state.started)).into_response()
        }
        None => unknown_model(&id),
    }
}

// === requests ===

async fn chat_completions(
    State(state): State<DoorState>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // The server span of the request, continuing the caller's `traceparent`, as
    // gRPC calls do.
    let span = tracing::info_span!(
        "http.server",
        otel.name = "POST /v1/chat/completions",
        otel.kind = "server",
        http.request.method = "POST",
        http.route = "/v1/chat/completions",
        http.response.status_code = tracing::field::Empty,
        switchyard.request_id = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, &headers);
    let response = serve_chat(state, headers, body)
        .instrument(span.clone())
        .await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

async fn serve_chat(state: DoorState, headers: HeaderMap, body: Body) -> Response {
    // The token and the declared size are checked before a byte of the body is
    // read: a client without a token, or announcing too much, holds no memory.
    let body = match read_request(&state, &headers, body).await {
        Ok(b) => b,
        Err(r) => return close(rejected(r)),
    };
    let request: ChatCompletionRequest = match crate::door::parse_body(&body) {
        Ok(r) => r,
        Err(e) => {
            // The top-level field at fault, so SDKs see which one (`tools`, ...).
            let path = e.path().to_string();
            let field = path.split(['.', '[']).next().unwrap_or("");
            let param = TOP_LEVEL_FIELDS.iter().find(|f| **f == field).copied();
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_json",
                param,
                format!(
                    "the body is not a chat completion request: {}",
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
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_value",
                Some("model"),
                "the model and the X-Switchyard-Task header name different callers".into(),
            );
        }
    };
    if let Err(e) = state.service.check_caller(&caller) {
        return call_error(e.into());
    }

    let mut violations: Violations = Vec::new();
    let stream = request.stream;
    let include_usage = request
        .stream_options
        .as_ref()
        .is_some_and(|o| o.include_usage);
    let mut draft = convert::draft(request, &mut violations);
    draft.model = model_override;
    let chat = match validate::chat_request(state.service.limits(), draft, violations) {
        Ok(chat) => chat,
        Err(v) => return invalid(&v),
    };
    let deadline = client_timeout(&headers);
    if stream {
        match state.service.stream(caller.clone(), chat, deadline).await {
            Ok(stream) => sse_response(stream, &caller, include_usage),
            Err(e) => call_error(e),
        }
    } else {
        match state.service.complete(caller.clone(), chat, deadline).await {
            Ok(c) => {
                let id = ["chatcmpl-", &c.request_id].concat();
                let body = ChatCompletion {
                    id: &id,
                    object: "chat.completion",
                    created: crate::clock::wall_ms() / 1000,
                    model: c.answer.model.as_deref().unwrap_or(&c.model),
                    choices: [convert::choice(&c.answer)],
                    usage: convert::usage(c.answer.usage),
                    switchyard: served(
                        &c.request_id,
                        &caller,
                        &c.provider,
                        &c.model,
                        &c.credential_id,
                        &c.steps,
                    ),
                };
                let mut response = crate::door::json(StatusCode::OK, &body);
                trail_headers(
                    response.headers_mut(),
                    &c.request_id,
                    Some((&caller, &c.provider, &c.model)),
                    &c.steps,
                );
                response
            }
            Err(e) => call_error(e),
        }
    }
}

/// Top-level request fields, to name the one a parse error is in.
const TOP_LEVEL_FIELDS: [&str; 17] = [
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "seed",
    "n",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "metadata",
];

// === responses ===
