//! A fake LLM provider: a real HTTP server on 127.0.0.1 that speaks the OpenAI chat
//! completions and Anthropic Messages shapes, answers from a script, and records
//! every call it receives. Used by `switchyard demo`, the integration tests and the
//! benchmark. Never used on a request path of the service.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt as _;
use tokio::task::JoinHandle;

/// Body of a scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeBody {
    /// A completion in the endpoint's shape (OpenAI or Anthropic) with this text;
    /// `{provider}` is replaced by the fake's name.
    Completion(String),
    /// This exact body.
    Raw(String),
    /// This body with the presented credential put in (see [`echo_credential`]):
    /// a provider that echoes the key it was sent.
    Echo(String),
    /// An event stream in the endpoint's shape (OpenAI SSE chunks or Anthropic
    /// events), whatever the request asked. A [`FakeBody::Completion`] is streamed
    /// too when the request asks for `stream: true`.
    Stream(FakeStream),
}

/// A scripted event stream: text pieces, then an ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeStream {
    /// Text pieces, one event each; `{provider}` is replaced by the fake's name.
    pub pieces: Vec<String>,
    /// Pause before each piece.
    pub gap: Duration,
    /// How the stream ends.
    pub end: StreamEnd,
}

/// How a scripted stream ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// Finish reason, usage and the end event (`[DONE]`, `message_stop`).
    Complete,
    /// The connection is cut, with no end event.
    Drop,
    /// Nothing more is sent, and the connection stays open.
    Stall,
    /// This error event (its JSON data), then the connection closes. Placeholders
    /// of [`echo_credential`] are replaced by the presented credential.
    Error(String),
    /// One byte every interval, forever, never completing an event: a provider
    /// that keeps the connection busy without saying anything.
    Trickle(Duration),
}

/// Puts the credential presented to the fake into `template`, a JSON text, in
/// the shapes a provider may echo it. Each placeholder is replaced by the
/// credential, escaped to stay valid inside a JSON string:
/// - `{credential}`: as it is;
/// - `{credential_url}`: percent-encoded (RFC 3986);
/// - `{credential_b64}`: base64 (padded);
/// - `{credential_b64url}`: base64url (unpadded);
/// - `{credential_basic}`: base64 of `client:{credential}`, as in `Basic` auth;
/// - `{credential_json}`: JSON-escaped with `/` as `\/`, as inside a quoted JSON
///   document (so the decoded message holds the escaped form).
pub fn echo_credential(template: &str, credential: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let json = |text: &str| {
        let quoted = serde_json::to_string(text).unwrap_or_default();
        quoted
            .get(1..quoted.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned()
    };
    let url: String = credential
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    template
        .replace("{credential_url}", &json(&url))
        .replace("{credential_b64url}", &URL_SAFE_NO_PAD.encode(credential))
        .replace("{credential_b64}", &STANDARD.encode(credential))
        .replace(
            "{credential_basic}",
            &STANDARD.encode(format!("client:{credential}")),
        )
        .replace(
            "{credential_json}",
            &json(&json(credential).replace('/', "\\/")),
        )
        .replace("{credential}", &json(credential))
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeReply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: FakeBody,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// And up to this much more, varying from call to call (deterministically), as a
    /// real provider's latency does.
    pub jitter: Duration,
}

impl FakeReply {
    /// A 200 completion whose text is `content`.
    pub fn ok(content: &str) -> Self {
        Self {
            status: 200,
            body: FakeBody::Completion(content.to_owned()),
            headers: Vec::new(),
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }

    /// An error status with a JSON body.
    pub fn error(status: u16, body: &str) -> Self {
        Self {
            status,
            body: FakeBody::Raw(body.to_owned()),
            headers: Vec::new(),
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }

    /// An error status whose body echoes the presented credential in its message,
    /// as some providers' 401 answers do (`Incorrect API key provided: ...`).
    pub fn echo_key(status: u16) -> Self {
        Self::echo(
            status,
            r#"{"error":{"message":"Incorrect API key provided: {credential}. You can find your API key at https://example.com.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        )
    }

    /// An error status whose body is `template` with the presented credential put
    /// in (see [`echo_credential`] for the placeholders).
    pub fn echo(status: u16, template: &str) -> Self {
        Self {
            body: FakeBody::Echo(template.to_owned()),
            ..Self::error(status, "")
        }
    }

    /// 401 `token_invalidated`, as a Codex / ChatGPT-backed provider answers it.
    pub fn token_invalidated() -> Self {
        Self::error(
            401,
            r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#,
        )
    }

    /// A 200 event stream of `pieces` that ends normally.
    pub fn stream(pieces: &[&str]) -> Self {
        Self {
            status: 200,
            body: FakeBody::Stream(FakeStream {
                pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
                gap: Duration::ZERO,
                end: StreamEnd::Complete,
            }),
            headers: Vec::new(),
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }

    /// Ends the stream with `end` instead of normally (streams only).
    pub fn ending(mut self, end: StreamEnd) -> Self {
        if let FakeBody::Stream(s) = &mut self.body {
            s.end = end;
        }
        self
    }

    /// Pauses `gap` before each piece of the stream (streams only).
    pub fn with_gap(mut self, gap: Duration) -> Self {
        if let FakeBody::Stream(s) = &mut self.body {
            s.gap = gap;
        }
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answers up to `jitter` later than its delay, a different amount for each call.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }
}

/// A call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedCall {
    /// Request path.
    pub path: String,
    /// `model` of the request body.
    pub model: String,
    /// The credential presented (bearer token or x-api-key).
    pub credential: String,
}

/// Decides whether a presented credential is accepted.
pub type BearerCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

struct Shared {
    name: String,
    script: Mutex<VecDeque<FakeReply>>,
    fallback: Mutex<FakeReply>,
    calls: Mutex<Vec<ReceivedCall>>,
    /// When set, credentials it refuses get `refusal` instead of the script.
    auth: Mutex<Option<(BearerCheck, FakeReply)>>,
    /// Random faults: (parts per million of calls in each fault, seed).
    faults: Mutex<Option<(u64, u64)>>,
    /// Faults injected so far.
    injected: std::sync::atomic::AtomicUsize,
}

/// The faults of [`FakeProvider::set_fault_rate`], one chosen per faulty call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// 401 `invalid_api_key` (not terminal).
    InvalidApiKey,
    /// 429 without `Retry-After`.
    RateLimited,
    /// 500.
    ServerError,
    /// 529 overloaded.
    Overloaded,
    /// The connection is cut before an answer.
    ConnectionReset,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::InvalidApiKey,
        Fault::RateLimited,
        Fault::ServerError,
        Fault::Overloaded,
        Fault::ConnectionReset,
    ];

    fn response(self) -> Response {
        let (status, body) = match self {
            Fault::InvalidApiKey => (
                StatusCode::UNAUTHORIZED,
                r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            ),
            Fault::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"error":{"message":"Rate limit reached for requests.","type":"requests","code":"rate_limit_exceeded"}}"#,
            ),
            Fault::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":{"message":"The server had an error.","type":"server_error"}}"#,
            ),
            Fault::Overloaded => (
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
            Fault::ConnectionReset => {
                // The body fails at once: the server aborts the connection before
                // any answer reaches the client.
                let cut = futures::stream::once(async {
                    Err::<Bytes, _>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "fake provider cut the connection",
                    ))
                });
                return (StatusCode::OK, axum::body::Body::from_stream(cut)).into_response();
            }
        };
        (status, [("content-type", "application/json")], body).into_response()
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A running fake provider. Stops when dropped.
#[derive(Debug)]
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

// === impl FakeProvider ===

impl FakeProvider {
    /// Starts a fake on an ephemeral port. Calls are answered from the script pushed
    /// with [`FakeProvider::push`], then with `fallback` forever.
    pub async fn start(name: &str, fallback: FakeReply) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(fallback),
            calls: Mutex::new(Vec::new()),
            auth: Mutex::new(None),
            faults: Mutex::new(None),
            injected: std::sync::atomic::AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .route("/v1/messages", post(handle))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// Queues replies for the next calls.
    pub fn push(&self, replies: impl IntoIterator<Item = FakeReply>) {
        lock(&self.shared.script).extend(replies);
    }

    /// Accepts only credentials `check` approves; others get `refusal`.
    pub fn require_bearer(&self, check: BearerCheck, refusal: FakeReply) {
        *lock(&self.shared.auth) = Some((check, refusal));
    }

    /// Fails `rate` of calls in each of five faults (so `5 * rate` of calls in
    /// all): 401 `invalid_api_key`, 429 without `Retry-After`, 500, 529 and a cut
    /// connection. Which calls fail follows from `seed` and the call's rank, so a
    /// run is reproducible. A rate of 0 turns faults off.
    pub fn set_fault_rate(&self, rate: f64, seed: u64) {
        let ppm = (rate.clamp(0.0, 0.2) * 1_000_000.0) as u64;
        *lock(&self.shared.faults) = (ppm > 0).then_some((ppm, seed));
    }

    /// Faults injected by [`FakeProvider::set_fault_rate`] so far.
    pub fn faults_injected(&self) -> usize {
        self.shared
            .injected
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Base URL for `kind: openai` (`http://127.0.0.1:PORT/v1`).
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Base URL for `kind: anthropic` (`http://127.0.0.1:PORT`).
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Number of calls received.
    pub fn call_count(&self) -> usize {
        lock(&self.shared.calls).len()
    }

    /// Every call received, in order.
    pub fn calls(&self) -> Vec<ReceivedCall> {
        lock(&self.shared.calls).clone()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = request
        .get("model")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_owned();
    let credential = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_owned())
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let path = uri.path().to_owned();
    let refusal = lock(&shared.auth)
        .as_ref()
        .filter(|(check, _)| !check(&credential))
        .map(|(_, refusal)| refusal.clone());
    let nth = {
        let mut calls = lock(&shared.calls);
        calls.push(ReceivedCall {
            path: path.clone(),
            model: model.clone(),
            credential: credential.clone(),
        });
        calls.len() as u64
    };
    let fault = lock(&shared.faults).and_then(|(ppm, seed)| {
        let x = splitmix64(seed ^ nth.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let draw = x % 1_000_000;
        (refusal.is_none() && draw < ppm * Fault::ALL.len() as u64)
            .then(|| Fault::ALL[(draw / ppm) as usize % Fault::ALL.len()])
    });
    if let Some(fault) = fault {
        shared
            .injected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return fault.response();
    }
    let mut reply = refusal.unwrap_or_else(|| {
        lock(&shared.script)
            .pop_front()
            .unwrap_or_else(|| lock(&shared.fallback).clone())
    });
    if let FakeBody::Stream(FakeStream {
        end: StreamEnd::Error(payload),
        ..
    }) = &mut reply.body
    {
        *payload = echo_credential(payload, &credential);
    }
    let extra = if reply.jitter.is_zero() {
        Duration::ZERO
    } else {
        // splitmix64 of the call's rank: spread, reproducible, no RNG needed.
        let x = splitmix64(nth);
        reply.jitter.mul_f64((x % 1000) as f64 / 1000.0)
    };
    if !(reply.delay + extra).is_zero() {
        tokio::time::sleep(reply.delay + extra).await;
    }
    let wants_stream = request.get("stream").and_then(serde_json::Value::as_bool) == Some(true);
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let stream = match reply.body {
        FakeBody::Stream(stream) => Some(stream),
        FakeBody::Completion(text) if wants_stream => Some(FakeStream {
            pieces: split_words(&text),
            gap: Duration::ZERO,
            end: StreamEnd::Complete,
        }),
        FakeBody::Completion(text) => {
            return with_headers(
                (
                    status,
                    [("content-type", "application/json")],
                    completion_body(&path, &model, &text, &shared.name),
                )
                    .into_response(),
                reply.headers,
            );
        }
        FakeBody::Echo(template) => {
            let body = echo_credential(&template, &credential);
            return with_headers(
                (status, [("content-type", "application/json")], body).into_response(),
                reply.headers,
            );
        }
        FakeBody::Raw(body) => {
            return with_headers(
                (status, [("content-type", "application/json")], body).into_response(),
                reply.headers,
            );
        }
    };
    let stream = stream.unwrap_or_else(|| FakeStream {
        pieces: Vec::new(),
        gap: Duration::ZERO,
        end: StreamEnd::Complete,
    });
    let events = sse_events(path.ends_with("/messages"), &model, &shared.name, &stream);
    let body = axum::body::Body::from_stream(event_stream(events, stream.gap, stream.end));
    let response = (status, [("content-type", "text/event-stream")], body).into_response();
    with_headers(response, reply.headers)
}

/// splitmix64: a well-spread, reproducible hash of a counter.
fn splitmix64(n: u64) -> u64 {
    let mut x = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn with_headers(mut response: Response, headers: Vec<(String, String)>) -> Response {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

/// Splits text into word-sized pieces, each keeping its trailing space.
fn split_words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if c == ' ' {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// A piece of a scripted stream: a text event, or framing sent without a pause.
enum Piece {
    Text(String),
    Frame(String),
}

/// The events of a stream in the OpenAI or Anthropic shape, ending included
/// for [`StreamEnd::Complete`] and [`StreamEnd::Error`].
fn sse_events(anthropic: bool, model: &str, name: &str, stream: &FakeStream) -> Vec<Piece> {
    let data = |v: serde_json::Value| format!("data: {v}\n\n");
    let named = |event: &str, v: serde_json::Value| format!("event: {event}\ndata: {v}\n\n");
    let mut out = Vec::new();
    let texts = stream.pieces.iter().map(|p| p.replace("{provider}", name));
    if anthropic {
        out.push(Piece::Frame(named(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        )));
        out.push(Piece::Frame(named(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        )));
        for text in texts {
            out.push(Piece::Text(named(
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            )));
        }
        match &stream.end {
            StreamEnd::Complete => {
                out.push(Piece::Frame(format!(
                    "{}{}{}",
                    named("content_block_stop", serde_json::json!({"type": "content_block_stop", "index": 0})),
                    named("message_delta", serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}})),
                    named("message_stop", serde_json::json!({"type": "message_stop"})),
                )));
            }
            StreamEnd::Error(payload) => {
                out.push(Piece::Frame(format!("event: error\ndata: {payload}\n\n")))
            }
            StreamEnd::Drop | StreamEnd::Stall | StreamEnd::Trickle(_) => {}
        }
    } else {
        let chunk = |delta: serde_json::Value, finish: Option<&str>| {
            data(
                serde_json::json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
            )
        };
        out.push(Piece::Frame(chunk(
            serde_json::json!({"role": "assistant", "content": ""}),
            None,
        )));
        for text in texts {
            out.push(Piece::Text(chunk(
                serde_json::json!({"content": text}),
                None,
            )));
        }
        match &stream.end {
            StreamEnd::Complete => {
                out.push(Piece::Frame(format!(
                    "{}{}data: [DONE]\n\n",
                    chunk(serde_json::json!({}), Some("stop")),
                    data(serde_json::json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}})),
                )));
            }
            StreamEnd::Error(payload) => out.push(Piece::Frame(format!("data: {payload}\n\n"))),
            StreamEnd::Drop | StreamEnd::Stall | StreamEnd::Trickle(_) => {}
        }
    }
    out
}

/// The body stream: each text piece after `gap`, then the ending.
fn event_stream(
    pieces: Vec<Piece>,
    gap: Duration,
    end: StreamEnd,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let items = futures::stream::iter(pieces).then(move |piece| async move {
        match piece {
            Piece::Text(text) => {
                if !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                Ok(Bytes::from(text))
            }
            Piece::Frame(frame) => Ok(Bytes::from(frame)),
        }
    });
    let trickle = match end {
        StreamEnd::Trickle(every) => Some(every),
        _ => None,
    };
    let ending = futures::stream::once(async move {
        match end {
            StreamEnd::Complete | StreamEnd::Error(_) | StreamEnd::Trickle(_) => None,
            StreamEnd::Drop => {
                // Let what was sent reach the client before the connection is cut.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fake provider dropped the stream",
                )))
            }
            StreamEnd::Stall => std::future::pending().await,
        }
    })
    .filter_map(std::future::ready);
    // `x`, one byte at a time, on a line never ended: never a whole event.
    let trickle = futures::stream::unfold(trickle, |every| async move {
        let every = every?;
        tokio::time::sleep(every).await;
        Some((Ok(Bytes::from_static(b"x")), Some(every)))
    });
    items.chain(ending).chain(trickle)
}

fn completion_body(path: &str, model: &str, content: &str, name: &str) -> String {
    let content = content.replace("{provider}", name);
    if path.ends_with("/messages") {
        serde_json::json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": content}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 3}
        })
        .to_string()
    } else {
        serde_json::json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        })
        .to_string()
    }
}

// === FakeTokenEndpoint ===

/// A fake OAuth token endpoint (RFC 6749 refresh grant) that rotates refresh
/// tokens the way strict providers do: each refresh issues a new access token and a
/// new refresh token; the presented refresh token stays valid only until the new
/// one is used (so a client that crashed before storing the new pair can retry
/// with the old one), and is refused for good after that.
#[derive(Debug)]
pub struct FakeTokenEndpoint {
    addr: SocketAddr,
    state: Arc<Mutex<TokenState>>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct TokenState {
    prefix: String,
    issued: u64,
    access: String,
    /// Refresh tokens honoured now: the last one used, and the newest issued.
    honoured: Vec<String>,
    presented: Vec<String>,
    delay: Duration,
    failure: Option<(u16, String)>,
}

impl FakeTokenEndpoint {
    /// Starts an endpoint whose first valid pair is `{prefix}-access-0` /
    /// `{prefix}-refresh-0`.
    pub async fn start(prefix: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(TokenState {
            prefix: prefix.to_owned(),
            issued: 0,
            access: format!("{prefix}-access-0"),
            honoured: vec![format!("{prefix}-refresh-0")],
            presented: Vec::new(),
            delay: Duration::ZERO,
            failure: None,
        }));
        let app = Router::new()
            .route("/oauth/token", post(token))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// The token endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// The access token the provider accepts now.
    pub fn current_access(&self) -> String {
        lock(&self.state).access.clone()
    }

    /// A check for [`FakeProvider::require_bearer`]: the current access token only.
    pub fn bearer_check(&self) -> BearerCheck {
        let state = self.state.clone();
        Arc::new(move |token: &str| lock(&state).access == token)
    }

    /// Refresh tokens presented so far, in order (one per call).
    pub fn presented(&self) -> Vec<String> {
        lock(&self.state).presented.clone()
    }

    /// Number of calls received.
    pub fn call_count(&self) -> usize {
        lock(&self.state).presented.len()
    }

    /// Answers after `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Answers every call with `status` and `body` from now on (`None`: normal).
    pub fn set_failure(&self, failure: Option<(u16, &str)>) {
        lock(&self.state).failure = failure.map(|(s, b)| (s, b.to_owned()));
    }
}

impl Drop for FakeTokenEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn token(State(state): State<Arc<Mutex<TokenState>>>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url_decode(&body);
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let presented = get("refresh_token");
    // Decide, and commit the rotation, before answering: a client that dies while
    // the answer is on its way has lost the new pair, as with a real endpoint.
    let (status, body, delay) = {
        let mut s = lock(&state);
        s.presented.push(presented.clone());
        let delay = s.delay;
        if let Some((status, body)) = s.failure.clone() {
            (status, body, delay)
        } else if get("grant_type") != "refresh_token" || !s.honoured.contains(&presented) {
            (
                400,
                r#"{"error":"invalid_grant","error_description":"refresh token is invalid or was rotated"}"#.to_owned(),
                delay,
            )
        } else {
            s.issued += 1;
            let n = s.issued;
            s.access = format!("{}-access-{n}", s.prefix);
            let refresh = format!("{}-refresh-{n}", s.prefix);
            // The presented token stays honoured until the new one is used.
            s.honoured = vec![presented, refresh.clone()];
            let body = serde_json::json!({
                "access_token": s.access,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "expires_in": 3600
            })
            .to_string();
            (200, body, delay)
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [("content-type", "application/json")], body).into_response()
}

fn url_decode(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
