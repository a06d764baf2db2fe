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
use tokio::task::JoinHandle;

/// Body of a scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeBody {
    /// A completion in the endpoint's shape (OpenAI or Anthropic) with this text;
    /// `{provider}` is replaced by the fake's name.
    Completion(String),
    /// This exact body.
    Raw(String),
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
}

impl FakeReply {
    /// A 200 completion whose text is `content`.
    pub fn ok(content: &str) -> Self {
        Self {
            status: 200,
            body: FakeBody::Completion(content.to_owned()),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// An error status with a JSON body.
    pub fn error(status: u16, body: &str) -> Self {
        Self {
            status,
            body: FakeBody::Raw(body.to_owned()),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// 401 `token_invalidated`, as a Codex / ChatGPT-backed provider answers it.
    pub fn token_invalidated() -> Self {
        Self::error(
            401,
            r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#,
        )
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

#[derive(Debug)]
struct Shared {
    name: String,
    script: Mutex<VecDeque<FakeReply>>,
    fallback: Mutex<FakeReply>,
    calls: Mutex<Vec<ReceivedCall>>,
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

    /// Replaces the reply used once the script is empty.
    pub fn set_fallback(&self, reply: FakeReply) {
        *lock(&self.shared.fallback) = reply;
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

    /// Forgets the calls received so far.
    pub fn reset_calls(&self) {
        lock(&self.shared.calls).clear();
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
    lock(&shared.calls).push(ReceivedCall {
        path: path.clone(),
        model: model.clone(),
        credential,
    });
    let reply = lock(&shared.script)
        .pop_front()
        .unwrap_or_else(|| lock(&shared.fallback).clone());
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = match reply.body {
        FakeBody::Completion(text) => completion_body(&path, &model, &text, &shared.name),
        FakeBody::Raw(body) => body,
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [("content-type", "application/json")], body).into_response();
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
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
