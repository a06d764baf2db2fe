//! The Anthropic Messages front door: `POST /v1/messages` (whole, or `stream:
//! true` as Anthropic's event stream) and `POST /v1/messages/count_tokens` (an
//! estimate, marked as one), on the doors' shared listener and over the same
//! service layer as every other door, so an agent built on an Anthropic SDK
//! adopts Switchyard by changing its base URL.
//!
//! The caller is chosen as on chat completions ([`crate::door::resolve_caller`]).
//! The agent token comes as `x-api-key` (what Anthropic SDKs send) or a bearer.
//! Errors use Anthropic's shape and status codes ([`errors`]). Nothing here
//! decides anything about fallback.
//!
//! [`types`] holds the wire shapes, [`convert`] maps them to and from the domain
//! chat, [`sse`] encodes a committed stream, [`count`] estimates prompt tokens.
//! This module holds the routes and the handlers.

pub(crate) mod convert;
pub(crate) mod count;
pub(crate) mod errors;
pub(crate) mod sse;
pub(crate) mod types;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tracing::Instrument as _;

use crate::domain::Caller;
use crate::door::request::{read_request, task_header};
use crate::door::{
    DoorState, NoCaller, client_timeout, close, relay, resolve_caller, trail_headers,
};
use crate::openai::convert::fallbacks;
use crate::service::{Completion, CompletionStream};
use crate::validate;

use convert::Purpose;
use errors::DoorError;
use types::{Estimate, Event, MessageOut, MessagesRequest, OutUsage, Served, TokenCount};

/// Longest error text of a body that does not parse, in chars (serde's messages
/// quote the offending value).
const MAX_PARSE_ERROR_CHARS: usize = 200;

/// Header saying how `count_tokens` counted.
pub(crate) const TOKEN_COUNT_HEADER: &str = "x-switchyard-token-count";

/// The Messages routes, on the doors' shared state. No fallback: the app's
/// merged router has one.
pub(crate) fn routes() -> Router<DoorState> {
    Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
}

/// The server span of a request, continuing the caller's `traceparent`.
async fn traced<F>(route: &'static str, headers: &HeaderMap, serve: F) -> Response
where
    F: std::future::Future<Output = Response>,
{
    let span = tracing::info_span!(
        "http.server",
        otel.name = route,
        otel.kind = "server",
        http.request.method = "POST",
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        switchyard.request_id = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, headers);
    let response = serve.instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

async fn messages(State(state): State<DoorState>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    traced(
        "POST /v1/messages",
        &headers,
        serve_messages(&state, &headers, body),
    )
    .await
}

async fn count_tokens(State(state): State<DoorState>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    traced(
        "POST /v1/messages/count_tokens",
        &headers,
        serve_count(&state, &headers, body),
    )
    .await
}

/// A request read, parsed, its caller resolved and its chat validated.
struct Prepared {
    caller: Caller,
    chat: crate::domain::ChatRequest,
    stream: bool,
}

async fn prepare(
    state: &DoorState,
    headers: &HeaderMap,
    body: Body,
    purpose: Purpose,
) -> Result<Prepared, Response> {
    // The token and the declared size are checked before a byte of the body is
    // read: a client without a token, or announcing too much, holds no memory.
    let body = read_request(state, headers, body)
        .await
        .map_err(|r| close(DoorError::Rejected(r).into_response()))?;
    let request: MessagesRequest = crate::door::parse_body(&body).map_err(|e| {
        DoorError::BadJson(validate::cap(&e.to_string(), MAX_PARSE_ERROR_CHARS)).into_response()
    })?;
    drop(body);
    let (caller, model_override) = resolve_caller(&request.model, task_header(headers))
        .map_err(|e| match e {
            NoCaller::UnknownModel => DoorError::UnknownModel(request.model.clone()),
            NoCaller::Conflict => DoorError::Conflict,
        })
        .map_err(IntoResponse::into_response)?;
    state
        .service
        .check_caller(&caller)
        .map_err(|e| DoorError::Call(e.into()).into_response())?;
    let stream = request.stream;
    let mut violations = Vec::new();
    let mut draft = convert::draft(request, purpose, &mut violations);
    draft.model = model_override;
    let chat = validate::chat_request(state.service.limits(), draft, violations)
        .map_err(|v| DoorError::Invalid(v).into_response())?;
    Ok(Prepared {
        caller,
        chat,
        stream,
    })
}

async fn serve_messages(state: &DoorState, headers: &HeaderMap, body: Body) -> Response {
    let Prepared {
        caller,
        chat,
        stream,
    } = match prepare(state, headers, body, Purpose::Answer).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let deadline = client_timeout(headers);
    if stream {
        match state.service.stream(caller.clone(), chat, deadline).await {
            Ok(s) => sse_response(s, &caller),
            Err(e) => DoorError::Call(e).into_response(),
        }
    } else {
        match state.service.complete(caller.clone(), chat, deadline).await {
            Ok(c) => whole(&c, &caller),
            Err(e) => DoorError::Call(e).into_response(),
        }
    }
}

/// `count_tokens`: the request checked as `/v1/messages` would check it, then
/// estimated; no provider is called. The estimate is marked in the body and in
/// the [`TOKEN_COUNT_HEADER`] header.
async fn serve_count(state: &DoorState, headers: &HeaderMap, body: Body) -> Response {
    let Prepared { chat, .. } = match prepare(state, headers, body, Purpose::Count).await {
        Ok(p) => p,
        Err(response) => return response,
    };
    let body = TokenCount {
        input_tokens: count::estimate_tokens(&chat.messages, &chat.options.tools),
        switchyard: Estimate {
            estimate: true,
            method: count::ESTIMATE_METHOD,
        },
    };
    let mut response = crate::door::json(StatusCode::OK, &body);
    response
        .headers_mut()
        .insert(TOKEN_COUNT_HEADER, HeaderValue::from_static("estimate"));
    response
}

fn served<'a>(
    request_id: &'a str,
    caller: &Caller,
    provider: &'a str,
    model: &'a str,
    credential_id: &'a str,
    steps: &'a [crate::domain::Step],
) -> Served<'a> {
    Served {
        request_id,
        caller: Some(caller.label()),
        provider: Some(provider),
        model: Some(model),
        credential_id: Some(credential_id),
        fallbacks: Some(fallbacks(steps)),
        attempts: crate::openai::convert::attempts(steps),
    }
}

/// The `x-switchyard-*` trail headers and Anthropic's `request-id`.
fn answer_headers(
    headers: &mut HeaderMap,
    request_id: &str,
    caller: &Caller,
    provider: &str,
    model: &str,
    steps: &[crate::domain::Step],
) {
    trail_headers(headers, request_id, Some((caller, provider, model)), steps);
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", v);
    }
}

fn whole(c: &Completion, caller: &Caller) -> Response {
    let id = ["msg_", &c.request_id].concat();
    let inputs: Vec<_> = c
        .answer
        .tool_calls
        .iter()
        .map(|call| convert::tool_input(&call.arguments))
        .collect();
    let body = MessageOut {
        id: &id,
        kind: "message",
        role: "assistant",
        model: c.answer.model.as_deref().unwrap_or(&c.model),
        content: convert::content(&c.answer, &inputs),
        stop_reason: Some(convert::stop_reason(c.answer.finish_reason)),
        stop_sequence: None,
        usage: convert::usage(c.answer.usage),
        switchyard: served(
            &c.request_id,
            caller,
            &c.provider,
            &c.model,
            &c.credential_id,
            &c.steps,
        ),
    };
    let mut response = crate::door::json(StatusCode::OK, &body);
    answer_headers(
        response.headers_mut(),
        &c.request_id,
        caller,
        &c.provider,
        &c.model,
        &c.steps,
    );
    response
}

/// The stream committed to its candidate: `message_start` (who serves, the
/// trail so far) and `ping` at once, then each item's events from [`sse::Encoder`].
fn sse_response(stream: CompletionStream, caller: &Caller) -> Response {
    let id = ["msg_", &stream.request_id].concat();
    let mut opening = Vec::new();
    sse::event(
        &mut opening,
        &Event::MessageStart {
            message: MessageOut {
                id: &id,
                kind: "message",
                role: "assistant",
                model: &stream.model,
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: OutUsage::default(),
                switchyard: served(
                    &stream.request_id,
                    caller,
                    &stream.provider,
                    &stream.model,
                    &stream.credential_id,
                    &stream.steps,
                ),
            },
        },
    );
    sse::event(&mut opening, &Event::Ping);
    let mut headers = HeaderMap::new();
    answer_headers(
        &mut headers,
        &stream.request_id,
        caller,
        &stream.provider,
        &stream.model,
        &stream.steps,
    );
    let request_id = stream.request_id;
    let mut encoder = sse::Encoder::default();
    let body = relay::body(opening, stream.events, move |item, out| {
        out.extend_from_slice(&encoder.item(&item, &request_id));
    });
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
