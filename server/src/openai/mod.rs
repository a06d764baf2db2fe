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

pub mod convert;
pub mod types;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use tracing::Instrument as _;

use crate::domain::{Caller, Step};
use crate::door::request::{authenticate, read_request, task_header};
use crate::door::{
    DoorState, NoCaller, Rejection, client_timeout, close, resolve_caller, trail_headers,
};
use crate::service::{CallError, CompletionStream, StreamItem, Switchyard, failure_message};
use crate::validate::{self, Violations};

use types::{
    ChatCompletion, ChatCompletionRequest, Chunk, ChunkChoice, Delta, ErrorBody, ErrorDetail,
    Model, ModelList, Served,
};

pub use crate::door::{AUX_MODEL_PREFIX, PRIMARY_MODEL, TASK_HEADER};

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
                "unknown path: this endpoint serves POST /v1/chat/completions, POST /v1/messages, \
                 POST /v1/messages/count_tokens and GET /v1/models"
                    .into(),
            )
        })
}

// === errors ===

/// An OpenAI-shaped error answer.
fn error(
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
    (status, axum::Json(body)).into_response()
}

fn invalid(violations: &Violations) -> Response {
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

fn unknown_model(model: &str) -> Response {
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

/// The one mapping of call failures to HTTP answers. The policy already retried
/// and failed over, so `x-should-retry: false` tells OpenAI SDKs not to retry.
fn call_error(e: CallError) -> Response {
    match e {
        CallError::UnknownTask(u) => unknown_model(&format!("{AUX_MODEL_PREFIX}{}", u.0)),
        CallError::Failed {
            request_id,
            reason,
            steps,
        } => {
            use crate::domain::FailureReason as R;
            let (status, kind, code) = match reason {
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
                R::StreamInterrupted => {
                    (StatusCode::BAD_GATEWAY, "api_error", "stream_interrupted")
                }
            };
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
            let mut response = (status, axum::Json(body)).into_response();
            trail_headers(response.headers_mut(), &request_id, None, &steps);
            response
                .headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
            response
        }
    }
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

/// A refusal before the body was parsed, in OpenAI's shape.
fn rejected(r: Rejection) -> Response {
    let (status, code) = match &r {
        Rejection::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
        Rejection::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
        Rejection::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
        Rejection::Unreadable(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
    };
    error(status, "invalid_request_error", code, None, r.to_string())
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
    let mut de = serde_json::Deserializer::from_slice(&body);
    let request: ChatCompletionRequest = match serde_path_to_error::deserialize(&mut de) {
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
                let id = format!("chatcmpl-{}", c.request_id);
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
                let mut response = (StatusCode::OK, axum::Json(body)).into_response();
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

fn served<'a>(
    request_id: &'a str,
    caller: &Caller,
    provider: &'a str,
    model: &'a str,
    credential_id: &'a str,
    steps: &'a [Step],
) -> Served<'a> {
    Served {
        request_id,
        caller: Some(caller.to_string()),
        provider: Some(provider),
        model: Some(model),
        credential_id: Some(credential_id),
        fallbacks: Some(convert::fallbacks(steps)),
        attempts: convert::attempts(steps),
    }
}

/// The stream committed to its candidate, as OpenAI `chat.completion.chunk` events:
/// a role chunk (with the `switchyard` start), text and `tool_calls[index]` chunks,
/// the finish chunk (with the whole trail), the usage chunk when asked, then
/// `[DONE]`. A failure after content is an `error` event, and no `[DONE]`: OpenAI
/// SDKs raise it.
fn sse_response(stream: CompletionStream, caller: &Caller, include_usage: bool) -> Response {
    let id: Arc<str> = format!("chatcmpl-{}", stream.request_id).into();
    let created = crate::clock::wall_ms() / 1000;
    let model: Arc<str> = stream.model.clone();
    let first = Chunk {
        id: &id,
        object: "chat.completion.chunk",
        created,
        model: &model,
        choices: vec![choice(Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Delta::default()
        })],
        usage: None,
        switchyard: Some(served(
            &stream.request_id,
            caller,
            &stream.provider,
            &stream.model,
            &stream.credential_id,
            &stream.steps,
        )),
    };
    let opening = event(&first);
    let mut headers = HeaderMap::new();
    trail_headers(
        &mut headers,
        &stream.request_id,
        Some((caller, &stream.provider, &stream.model)),
        &stream.steps,
    );
    let opening = futures::stream::once(std::future::ready(Ok::<_, std::convert::Infallible>(
        Bytes::from(opening),
    )));
    let request_id: Arc<str> = stream.request_id.into();
    let rest = futures::stream::unfold(Some(stream.events), move |events| {
        let (id, model, request_id) = (id.clone(), model.clone(), request_id.clone());
        async move {
            let mut events = events?;
            let chunk = |choices, switchyard| Chunk {
                id: &id,
                object: "chat.completion.chunk",
                created,
                model: &model,
                choices,
                usage: None,
                switchyard,
            };
            let (bytes, next) = match events.recv().await? {
                StreamItem::Text(text) => {
                    let delta = Delta {
                        content: Some(&text),
                        ..Delta::default()
                    };
                    (event(&chunk(vec![choice(delta)], None)), Some(events))
                }
                StreamItem::ToolCall(piece) => {
                    let delta = Delta {
                        tool_calls: vec![convert::tool_call_piece(&piece)],
                        ..Delta::default()
                    };
                    (event(&chunk(vec![choice(delta)], None)), Some(events))
                }
                StreamItem::Finished {
                    usage,
                    finish_reason,
                    steps,
                } => {
                    let last = ChunkChoice {
                        finish_reason: Some(convert::finish_reason(finish_reason)),
                        ..choice(Delta::default())
                    };
                    let mut out = event(&chunk(
                        vec![last],
                        Some(convert::trail(&request_id, &steps)),
                    ));
                    if include_usage {
                        let mut usage_chunk = chunk(Vec::new(), None);
                        usage_chunk.usage = Some(convert::usage(usage));
                        out.extend_from_slice(&event(&usage_chunk));
                    }
                    out.extend_from_slice(b"data: [DONE]\n\n");
                    (out, None)
                }
                StreamItem::Failed(e) => (interrupted_event(e), None),
            };
            Some((Ok(Bytes::from(bytes)), next))
        }
    });
    let body = Body::from_stream(futures::StreamExt::chain(opening, rest));
    let mut response = (StatusCode::OK, body).into_response();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response.headers_mut().extend(headers);
    response
}

fn choice(delta: Delta<'_>) -> ChunkChoice<'_> {
    ChunkChoice {
        index: 0,
        delta,
        finish_reason: None,
        logprobs: None,
    }
}

/// The `error` event that ends a stream which broke off after content.
fn interrupted_event(e: CallError) -> Vec<u8> {
    let (message, request_id, steps) = match e {
        CallError::Failed {
            request_id,
            reason,
            steps,
        } => (
            failure_message(&request_id, reason, &steps),
            request_id,
            steps,
        ),
        CallError::UnknownTask(u) => (
            format!("unknown task {:?}", validate::echo(&u.0)),
            String::new(),
            Vec::new(),
        ),
    };
    event(&ErrorBody {
        error: ErrorDetail {
            message: &message,
            kind: "api_error",
            param: None,
            code: "stream_interrupted",
            switchyard: Some(convert::trail(&request_id, &steps)),
        },
    })
}

fn event<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    // Serialising strings and numbers cannot fail.
    serde_json::to_writer(&mut out, value).unwrap_or_default();
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_model_or_the_task_header_names_the_caller() {
        assert_eq!(
            resolve_caller("switchyard/primary", None),
            Ok((Caller::Primary, None))
        );
        assert_eq!(
            resolve_caller("switchyard/aux/vision", None),
            Ok((Caller::Aux("vision".into()), None))
        );
        assert_eq!(
            resolve_caller("switchyard/aux/vision", Some("vision")),
            Ok((Caller::Aux("vision".into()), None))
        );
        // With the header, another model overrides the task's first candidate.
        assert_eq!(
            resolve_caller("gpt-4o-mini", Some("compression")),
            Ok((
                Caller::Aux("compression".into()),
                Some("gpt-4o-mini".into())
            ))
        );
        assert_eq!(
            resolve_caller("switchyard/primary", Some("vision")),
            Err(NoCaller::Conflict)
        );
        assert_eq!(
            resolve_caller("switchyard/aux/a", Some("b")),
            Err(NoCaller::Conflict)
        );
        assert_eq!(resolve_caller("gpt-4o", None), Err(NoCaller::UnknownModel));
    }

    #[test]
    fn the_sdks_timeout_header_becomes_the_deadline() {
        let mut h = HeaderMap::new();
        assert_eq!(client_timeout(&h), None);
        h.insert("x-stainless-timeout", HeaderValue::from_static("600"));
        assert_eq!(client_timeout(&h), Some(Duration::from_secs(600)));
        h.insert("x-stainless-timeout", HeaderValue::from_static("0.5"));
        assert_eq!(client_timeout(&h), Some(Duration::from_millis(500)));
        h.insert("x-stainless-timeout", HeaderValue::from_static("-1"));
        assert_eq!(client_timeout(&h), None);
        // The SDK's read timeout counts too; the shorter of the two wins.
        h.insert("x-stainless-read-timeout", HeaderValue::from_static("0.25"));
        assert_eq!(client_timeout(&h), Some(Duration::from_millis(250)));
        h.remove("x-stainless-timeout");
        h.insert("x-stainless-read-timeout", HeaderValue::from_static("30"));
        assert_eq!(client_timeout(&h), Some(Duration::from_secs(30)));
        h.insert("x-switchyard-timeout-ms", HeaderValue::from_static("250"));
        assert_eq!(client_timeout(&h), Some(Duration::from_millis(250)));
    }

    #[test]
    fn trail_headers_are_printable_and_bounded() {
        let step = |i: u32| Step {
            candidate_index: i,
            provider: "p\u{e9}".into(),
            model: "m".repeat(100).into(),
            credential_id: Some("k".into()),
            error_class: crate::domain::ErrorClass::Server,
            http_status: 500,
            action: crate::domain::Action::RetrySame,
            reason: "x".into(),
            duration_ms: 1,
        };
        let steps: Vec<Step> = (0..100).map(step).collect();
        let mut h = HeaderMap::new();
        trail_headers(&mut h, "id", None, &steps);
        let trail = h["x-switchyard-trail"].to_str().unwrap();
        assert!(
            trail.len() <= crate::door::MAX_TRAIL_HEADER + 32,
            "{}",
            trail.len()
        );
        assert!(trail.starts_with("0 p? "), "{trail}");
        assert!(trail.ends_with("more"), "{trail}");
        assert_eq!(h["x-switchyard-attempts"], "100");
    }
}
