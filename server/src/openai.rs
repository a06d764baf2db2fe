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

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::auth::Authenticator;
use crate::domain::{Caller, Role, Step};
use crate::service::{CallError, CompletionStream, StreamItem, Switchyard, failure_message};
use crate::validate::{self, Violations};

/// Model id of the primary caller.
pub const PRIMARY_MODEL: &str = "switchyard/primary";
/// Prefix of an auxiliary task's model id.
pub const AUX_MODEL_PREFIX: &str = "switchyard/aux/";
/// Header naming the auxiliary task.
pub const TASK_HEADER: &str = "x-switchyard-task";
/// Longest `x-switchyard-trail` header; longer trails are cut (the body has them whole).
const MAX_TRAIL_HEADER: usize = 4096;

/// Longest error text of a body that does not parse, in chars (serde's messages
/// quote the offending value).
const MAX_PARSE_ERROR_CHARS: usize = 200;

#[derive(Debug, Clone)]
struct DoorState {
    service: Arc<Switchyard>,
    auth: Authenticator,
    /// Largest body read, in bytes.
    body_limit: usize,
    /// Longest time to receive a body.
    body_read_timeout: Duration,
    /// Unix seconds of the start, the `created` of the models listed.
    started: u64,
}

/// The router of the front door. Bodies are read only after the bearer token
/// and the declared `Content-Length` are checked, within `body_read_timeout`.
pub fn router(
    service: Arc<Switchyard>,
    auth: Authenticator,
    body_read_timeout: Duration,
) -> Router {
    // Room for requests over the content limit, so they get a clear 400.
    let body_limit = service
        .limits()
        .max_request_bytes
        .saturating_mul(4)
        .saturating_add(1 << 20);
    let state = DoorState {
        service,
        auth,
        body_limit,
        body_read_timeout,
        started: crate::clock::wall_ms() / 1000,
    };
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
                "unknown path: this endpoint serves POST /v1/chat/completions and GET /v1/models"
                    .into(),
            )
        })
        .with_state(state)
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
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
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
            let body = json!({"error": {
                "message": message, "type": kind, "param": null, "code": code,
                "switchyard": {"request_id": request_id, "attempts": attempts_json(&steps)},
            }});
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

fn model_ids(service: &Switchyard) -> Vec<String> {
    std::iter::once(PRIMARY_MODEL.to_owned())
        .chain(
            service
                .tasks()
                .into_iter()
                .map(|t| format!("{AUX_MODEL_PREFIX}{t}")),
        )
        .collect()
}

fn model_json(id: &str, created: u64) -> Value {
    json!({"id": id, "object": "model", "created": created, "owned_by": "switchyard"})
}

/// `GET /v1/models`: one model per caller.
async fn list_models(State(state): State<DoorState>, headers: HeaderMap) -> Response {
    if let Err(response) = authenticate(&state, &headers) {
        return response;
    }
    let data: Vec<Value> = model_ids(&state.service)
        .iter()
        .map(|id| model_json(id, state.started))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /v1/models/{id}`.
async fn get_model(
    State(state): State<DoorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authenticate(&state, &headers) {
        return response;
    }
    if model_ids(&state.service).contains(&id) {
        axum::Json(model_json(&id, state.started)).into_response()
    } else {
        unknown_model(&id)
    }
}

/// Checks the agent's bearer token; the error is the 401 answer.
#[allow(clippy::result_large_err)]
fn authenticate(state: &DoorState, headers: &HeaderMap) -> Result<(), Response> {
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    state.auth.check_agent(authorization).map_err(|why| {
        error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            None,
            format!("{why}: send `Authorization: Bearer <a Switchyard agent token>`"),
        )
    })
}

/// Marks an answer sent before the body was read whole: the connection closes
/// after it, rather than reading the rest of an unwanted body.
fn close(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn too_large(limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        "request_too_large",
        None,
        format!("the body is over the limit of {limit} bytes"),
    )
}

/// Reads a body of at most `limit` bytes within `timeout`; the error is the answer.
#[allow(clippy::result_large_err)]
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, Response> {
    use http_body_util::BodyExt as _;
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "request_timeout",
            None,
            format!("the body did not arrive within {} ms", timeout.as_millis()),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_body",
            None,
            format!("the body could not be read: {e}"),
        )),
    }
}

// === requests ===

/// `POST /v1/chat/completions`, as far as Switchyard serves it.
#[derive(Debug, Deserialize)]
struct ChatCompletionRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<i64>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    n: Option<i64>,
    /// Everything else: refused when it changes the answer's shape, else ignored.
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<InContent>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum InContent {
    Text(String),
    Parts(Vec<InPart>),
}

#[derive(Debug, Deserialize)]
struct InPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

/// Fields that ask for something this door does not do; ignoring them would
/// return an answer of another shape than the caller expects.
const UNSUPPORTED: [&str; 6] = [
    "tools",
    "functions",
    "tool_choice",
    "function_call",
    "response_format",
    "audio",
];

/// Why a request names no caller.
#[derive(Debug, PartialEq, Eq)]
enum NoCaller {
    /// Neither a Switchyard model nor a task header.
    UnknownModel,
    /// The model and the header name different callers.
    Conflict,
}

/// The caller a request names, and its model override.
fn resolve_caller(model: &str, header: Option<&str>) -> Result<(Caller, Option<String>), NoCaller> {
    let named = if model == PRIMARY_MODEL {
        Some(Caller::Primary)
    } else {
        model
            .strip_prefix(AUX_MODEL_PREFIX)
            .map(|task| Caller::Aux(task.to_owned()))
    };
    match (named, header) {
        (Some(caller), None) => Ok((caller, None)),
        (Some(Caller::Aux(task)), Some(h)) if task == h => Ok((Caller::Aux(task), None)),
        (Some(_), Some(_)) => Err(NoCaller::Conflict),
        (None, Some(task)) => Ok((Caller::Aux(task.to_owned()), Some(model.to_owned()))),
        (None, None) => Err(NoCaller::UnknownModel),
    }
}

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
    if let Err(response) = authenticate(&state, &headers) {
        return close(response);
    }
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.body_limit as u64) {
        return close(too_large(state.body_limit));
    }
    let body = match read_body(body, state.body_limit, state.body_read_timeout).await {
        Ok(b) => b,
        Err(response) => return close(response),
    };
    let request: ChatCompletionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_json",
                None,
                format!(
                    "the body is not a chat completion request: {}",
                    validate::cap(&e.to_string(), MAX_PARSE_ERROR_CHARS)
                ),
            );
        }
    };
    drop(body);
    let task_header = headers.get(TASK_HEADER).map(|v| v.to_str().unwrap_or(""));
    let (caller, model_override) = match resolve_caller(&request.model, task_header) {
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
    for field in UNSUPPORTED {
        if request.rest.get(field).is_some_and(|v| !v.is_null()) {
            violations.push((field, "not supported by Switchyard's front door".into()));
        }
    }
    if request.n.is_some_and(|n| n != 1) {
        violations.push(("n", "only one choice (n = 1) is supported".into()));
    }
    let mut messages = Vec::with_capacity(request.messages.len());
    for m in request.messages {
        let role = match m.role.as_str() {
            "system" | "developer" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        };
        let content = match m.content {
            None => String::new(),
            Some(InContent::Text(t)) => t,
            Some(InContent::Parts(parts)) => {
                let mut text = String::new();
                for part in parts {
                    match (part.kind.as_str(), part.text) {
                        ("text", Some(t)) => text.push_str(&t),
                        _ => violations.push((
                            "messages.content",
                            format!(
                                "{:?} content parts are not supported; send text",
                                validate::echo(&part.kind)
                            ),
                        )),
                    }
                }
                text
            }
        };
        messages.push((role, content));
    }
    let chat = match validate::chat_request(
        state.service.limits(),
        messages,
        model_override,
        request.max_completion_tokens.or(request.max_tokens),
        request.temperature,
        violations,
    ) {
        Ok(chat) => chat,
        Err(v) => return invalid(&v),
    };
    let deadline = client_timeout(&headers);
    if request.stream {
        let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
        match state.service.stream(caller.clone(), chat, deadline).await {
            Ok(stream) => sse_response(stream, &caller, include_usage),
            Err(e) => call_error(e),
        }
    } else {
        match state.service.complete(caller.clone(), chat, deadline).await {
            Ok(c) => {
                let body = json!({
                    "id": format!("chatcmpl-{}", c.request_id),
                    "object": "chat.completion",
                    "created": crate::clock::wall_ms() / 1000,
                    "model": c.answer.model.as_deref().unwrap_or(&c.model),
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": c.answer.content, "refusal": null},
                        "finish_reason": "stop",
                        "logprobs": null,
                    }],
                    "usage": {
                        "prompt_tokens": c.answer.usage.input_tokens,
                        "completion_tokens": c.answer.usage.output_tokens,
                        "total_tokens": c.answer.usage.input_tokens + c.answer.usage.output_tokens,
                    },
                    "switchyard": served_json(&c.request_id, &caller, &c.provider, &c.model, &c.credential_id, &c.steps),
                });
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

/// The caller's own timeout: the `x-stainless-timeout` seconds OpenAI SDKs send,
/// or `x-switchyard-timeout-ms`.
fn client_timeout(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("x-switchyard-timeout-ms").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms));
    }
    get("x-stainless-timeout")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

// === responses ===

fn attempts_json(steps: &[Step]) -> Value {
    steps
        .iter()
        .map(|s| {
            json!({
                "candidate_index": s.candidate_index,
                "provider": &*s.provider,
                "model": &*s.model,
                "credential_id": s.credential_id.as_deref().unwrap_or(""),
                "error_class": s.error_class.as_str(),
                "http_status": s.http_status,
                "action": s.action.as_str(),
                "reason": s.reason,
                "duration_ms": s.duration_ms,
            })
        })
        .collect()
}

fn fallbacks(steps: &[Step]) -> usize {
    steps.iter().filter(|s| s.action.is_fallback()).count()
}

fn served_json(
    request_id: &str,
    caller: &Caller,
    provider: &str,
    model: &str,
    credential_id: &str,
    steps: &[Step],
) -> Value {
    json!({
        "request_id": request_id,
        "caller": caller.to_string(),
        "provider": provider,
        "model": model,
        "credential_id": credential_id,
        "fallbacks": fallbacks(steps),
        "attempts": attempts_json(steps),
    })
}

/// `x-switchyard-*` headers: request id, who answered, and the trail, one step per
/// `;`-separated entry: `index provider model error_class http_status action`.
fn trail_headers(
    headers: &mut HeaderMap,
    request_id: &str,
    served: Option<(&Caller, &str, &str)>,
    steps: &[Step],
) {
    let mut put = |name: &'static str, value: String| {
        let clean: String = value
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&clean) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-switchyard-request-id", request_id.to_owned());
    if let Some((caller, provider, model)) = served {
        put("x-switchyard-caller", caller.to_string());
        put("x-switchyard-provider", provider.to_owned());
        put("x-switchyard-model", model.to_owned());
    }
    let counts = crate::steps::StepCounts::of(steps);
    put("x-switchyard-attempts", counts.attempts.to_string());
    put("x-switchyard-skips", counts.skips.to_string());
    put("x-switchyard-fallbacks", fallbacks(steps).to_string());
    let mut trail = String::new();
    for (i, s) in steps.iter().enumerate() {
        let or_dash = |v: &str| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.to_owned()
            }
        };
        let entry = format!(
            "{} {} {} {} {} {}",
            s.candidate_index,
            or_dash(&s.provider),
            or_dash(&s.model),
            s.error_class.as_str(),
            s.http_status,
            s.action.as_str()
        );
        if trail.len() + entry.len() + 2 > MAX_TRAIL_HEADER {
            trail.push_str(&format!("; ... {} more", steps.len() - i));
            break;
        }
        if !trail.is_empty() {
            trail.push_str("; ");
        }
        trail.push_str(&entry);
    }
    put("x-switchyard-trail", trail);
}

/// An OpenAI finish reason from a provider's (`end_turn` is `stop`...).
fn finish_reason(provider_reason: &str) -> &str {
    match provider_reason {
        "end_turn" | "stop_sequence" | "stop" => "stop",
        "max_tokens" | "length" => "length",
        "tool_use" | "tool_calls" => "tool_calls",
        "refusal" | "content_filter" => "content_filter",
        other => other,
    }
}

/// The stream committed to its candidate, as OpenAI `chat.completion.chunk` events:
/// a role chunk (with the `switchyard` start), text chunks, the finish chunk (with
/// the whole trail), the usage chunk when asked, then `[DONE]`. A failure after
/// text is an `error` event, and no `[DONE]`: OpenAI SDKs raise it.
fn sse_response(stream: CompletionStream, caller: &Caller, include_usage: bool) -> Response {
    let id = format!("chatcmpl-{}", stream.request_id);
    let created = crate::clock::wall_ms() / 1000;
    let model = stream.model.to_string();
    let chunk = {
        let (id, model) = (id.clone(), model.clone());
        move |delta: Value, finish: Option<&str>| {
            json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
            })
        }
    };
    let mut first = chunk(json!({"role": "assistant", "content": ""}), None);
    first["switchyard"] = served_json(
        &stream.request_id,
        caller,
        &stream.provider,
        &stream.model,
        &stream.credential_id,
        &stream.steps,
    );
    let mut headers = HeaderMap::new();
    trail_headers(
        &mut headers,
        &stream.request_id,
        Some((caller, &stream.provider, &stream.model)),
        &stream.steps,
    );
    let opening = futures::stream::once(std::future::ready(Ok::<_, std::convert::Infallible>(
        Bytes::from(event(&first)),
    )));
    let request_id = stream.request_id.clone();
    let rest = futures::stream::unfold(Some(stream.events), move |events| {
        let chunk = chunk.clone();
        let request_id = request_id.clone();
        let (id, model) = (id.clone(), model.clone());
        async move {
            let mut events = events?;
            let (bytes, next) = match events.recv().await? {
                StreamItem::Text(text) => {
                    (event(&chunk(json!({"content": text}), None)), Some(events))
                }
                StreamItem::Finished {
                    usage,
                    finish_reason: reason,
                    steps,
                } => {
                    let mut last = chunk(json!({}), Some(finish_reason(&reason)));
                    last["switchyard"] = json!({
                        "request_id": request_id,
                        "fallbacks": fallbacks(&steps),
                        "attempts": attempts_json(&steps),
                    });
                    let mut out = event(&last);
                    if include_usage {
                        out.extend_from_slice(&event(&json!({
                            "id": id, "object": "chat.completion.chunk", "created": created,
                            "model": model, "choices": [],
                            "usage": {
                                "prompt_tokens": usage.input_tokens,
                                "completion_tokens": usage.output_tokens,
                                "total_tokens": usage.input_tokens + usage.output_tokens,
                            },
                        })));
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

/// The `error` event that ends a stream which broke off after text.
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
    event(&json!({"error": {
        "message": message, "type": "api_error", "param": null, "code": "stream_interrupted",
        "switchyard": {"request_id": request_id, "attempts": attempts_json(&steps)},
    }}))
}

fn event(value: &Value) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    // Serialising a Value cannot fail.
    serde_json::to_writer(&mut out, value).unwrap_or_default();
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
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
        h.insert("x-switchyard-timeout-ms", HeaderValue::from_static("250"));
        assert_eq!(client_timeout(&h), Some(Duration::from_millis(250)));
    }

    #[test]
    fn provider_finish_reasons_map_to_openai_ones() {
        for (provider, openai) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("stop", "stop"),
            ("max_tokens", "length"),
            ("length", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("something_new", "something_new"),
        ] {
            assert_eq!(finish_reason(provider), openai);
        }
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
        assert!(trail.len() <= MAX_TRAIL_HEADER + 32, "{}", trail.len());
        assert!(trail.starts_with("0 p? "), "{trail}");
        assert!(trail.ends_with("more"), "{trail}");
        assert_eq!(h["x-switchyard-attempts"], "100");
    }
}
