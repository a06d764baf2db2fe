//! The fake provider's HTTP server: its state, injected faults, and the handler
//! that answers each call from the script and records it.

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
use tokio::task::JoinHandle;

use super::*;

pub(super) struct Shared {
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
pub(super) enum Fault {
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

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) async fn handle(
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
            body: request.clone(),
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
        FakeBody::ToolCalls(calls) => {
            let anthropic = path.ends_with("/messages");
            let response = if wants_stream {
                let body = tool_call_events(anthropic, &model, &calls).concat();
                (status, [("content-type", "text/event-stream")], body).into_response()
            } else {
                let body = tool_call_body(anthropic, &model, &calls);
                (status, [("content-type", "application/json")], body).into_response()
            };
            return with_headers(response, reply.headers);
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
pub(super) fn splitmix64(n: u64) -> u64 {
    let mut x = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub(super) fn with_headers(mut response: Response, headers: Vec<(String, String)>) -> Response {
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
