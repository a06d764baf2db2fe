//! A fake OpenAI Responses provider (`kind: openai_responses`): a real HTTP server
//! on 127.0.0.1 serving `POST /v1/responses`, whole or streamed as each request
//! asks, with text and function calls, answering from a script and recording every
//! request body it receives. For tests and benchmarks; never on a request path.
//!
//! Separate from [`crate::fake`] (OpenAI chat and Anthropic shapes): its own
//! script and its own record of whole bodies, so tests assert the exact request
//! each Responses candidate received.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// A function call the fake answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    /// `call_id`.
    pub call_id: String,
    /// Function name.
    pub name: String,
    /// Arguments' JSON text; streamed in two pieces.
    pub arguments: String,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsesReply {
    /// A `completed` response (or `incomplete` for `max_output_tokens` when
    /// `cut`): this text, one output_text delta per piece when streamed, then
    /// these function calls.
    Answer {
        /// Text pieces.
        pieces: Vec<String>,
        /// Function calls, after the text.
        calls: Vec<FakeCall>,
        /// Ends `incomplete` (max_output_tokens) instead of `completed`.
        cut: bool,
    },
    /// This HTTP status and JSON body.
    Status {
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
    },
    /// A 200 stream of these text pieces, then this event data (an `error` or
    /// `response.failed` event), then the end of the body.
    StreamError {
        /// Text pieces before the error.
        pieces: Vec<String>,
        /// The event's JSON data.
        payload: String,
    },
}

impl ResponsesReply {
    /// A completed text answer (split into word-sized pieces when streamed).
    pub fn text(text: &str) -> Self {
        let mut pieces: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        if pieces.is_empty() {
            pieces.push(String::new());
        }
        ResponsesReply::Answer {
            pieces,
            calls: Vec::new(),
            cut: false,
        }
    }

    /// A completed answer of function calls `(call_id, name, arguments)`.
    pub fn calls(calls: &[(&str, &str, &str)]) -> Self {
        ResponsesReply::Answer {
            pieces: Vec::new(),
            calls: calls
                .iter()
                .map(|(call_id, name, arguments)| FakeCall {
                    call_id: (*call_id).to_owned(),
                    name: (*name).to_owned(),
                    arguments: (*arguments).to_owned(),
                })
                .collect(),
            cut: false,
        }
    }

    /// A 401 refusing a revoked ChatGPT/Codex token, as the Responses endpoint does.
    pub fn token_invalidated() -> Self {
        ResponsesReply::Status {
            status: 401,
            body: r#"{"error":{"message":"Your authentication token has been invalidated. Please try signing in again.","type":"invalid_request_error","code":"token_invalidated","param":null}}"#.to_owned(),
        }
    }
}

/// A request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesCall {
    /// `Authorization` header, as sent (a test credential).
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
}

#[derive(Debug)]
struct Shared {
    script: Mutex<VecDeque<ResponsesReply>>,
    fallback: ResponsesReply,
    calls: Mutex<Vec<ResponsesCall>>,
}

/// The fake Responses provider; stops when dropped.
#[derive(Debug)]
pub struct FakeResponses {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

// === impl FakeResponses ===

impl FakeResponses {
    /// Starts a fake on an ephemeral port. Calls are answered from the script
    /// pushed with [`FakeResponses::push`], then with `fallback` forever.
    pub async fn start(fallback: ResponsesReply) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            fallback,
            calls: Mutex::new(Vec::new()),
        });
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// Queues replies for the next calls.
    pub fn push(&self, replies: impl IntoIterator<Item = ResponsesReply>) {
        lock(&self.shared.script).extend(replies);
    }

    /// Base URL for `kind: openai_responses` (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request received, in order.
    pub fn calls(&self) -> Vec<ResponsesCall> {
        lock(&self.shared.calls).clone()
    }
}

impl Drop for FakeResponses {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The router of one fake: `POST /v1/responses`.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/responses", post(handle))
        .with_state(shared)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let wants_stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    lock(&shared.calls).push(ResponsesCall {
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: request,
    });
    let reply = lock(&shared.script)
        .pop_front()
        .unwrap_or_else(|| shared.fallback.clone());
    let json = |status: StatusCode, body: String| {
        (status, [("content-type", "application/json")], body).into_response()
    };
    let sse = |body: String| {
        (
            StatusCode::OK,
            [("content-type", "text/event-stream")],
            body,
        )
            .into_response()
    };
    match reply {
        ResponsesReply::Status { status, body } => json(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        ),
        ResponsesReply::Answer { pieces, calls, cut } if wants_stream => {
            sse(stream_body(&model, &pieces, &calls, cut))
        }
        ResponsesReply::Answer { pieces, calls, cut } => json(
            StatusCode::OK,
            response_object(&model, &pieces.concat(), &calls, cut).to_string(),
        ),
        ResponsesReply::StreamError { pieces, payload } => {
            let mut body = event(
                &json!({"type": "response.created", "response": {"id": "resp_fake", "status": "in_progress", "model": model, "output": []}}),
            );
            for piece in &pieces {
                body.push_str(&event(&json!({"type": "response.output_text.delta", "item_id": "msg_fake", "output_index": 0, "content_index": 0, "delta": piece})));
            }
            body.push_str(&format!("data: {payload}\n\n"));
            sse(body)
        }
    }
}

/// One SSE event named after its `type`.
fn event(data: &Value) -> String {
    let kind = data.get("type").and_then(Value::as_str).unwrap_or_default();
    format!("event: {kind}\ndata: {data}\n\n")
}

fn usage() -> Value {
    json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 15})
}

/// The whole `response` object.
fn response_object(model: &str, text: &str, calls: &[FakeCall], cut: bool) -> Value {
    let mut output = vec![json!({"type": "reasoning", "id": "rs_fake", "summary": []})];
    if !text.is_empty() {
        output.push(
            json!({"type": "message", "id": "msg_fake", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}),
        );
    }
    for (i, call) in calls.iter().enumerate() {
        output.push(
            json!({"type": "function_call", "id": format!("fc_fake_{i}"), "call_id": call.call_id,
            "name": call.name, "arguments": call.arguments, "status": "completed"}),
        );
    }
    let (status, details) = if cut {
        ("incomplete", json!({"reason": "max_output_tokens"}))
    } else {
        ("completed", Value::Null)
    };
    json!({"id": "resp_fake", "object": "response", "status": status, "model": model,
        "output": output, "incomplete_details": details, "error": null, "usage": usage()})
}

/// The event stream of an answer: text deltas, each call opened then its
/// arguments in two deltas, the `.done` echoes, and the final event.
fn stream_body(model: &str, pieces: &[String], calls: &[FakeCall], cut: bool) -> String {
    let mut body = event(
        &json!({"type": "response.created", "response": {"id": "resp_fake", "status": "in_progress", "model": model, "output": []}}),
    );
    body.push_str(&event(&json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_fake", "summary": []}})));
    let text = pieces.concat();
    if !text.is_empty() {
        body.push_str(&event(&json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "id": "msg_fake", "role": "assistant", "content": []}})));
        for piece in pieces {
            body.push_str(&event(&json!({"type": "response.output_text.delta", "item_id": "msg_fake", "output_index": 1, "content_index": 0, "delta": piece})));
        }
        body.push_str(&event(&json!({"type": "response.output_text.done", "item_id": "msg_fake", "output_index": 1, "content_index": 0, "text": text})));
    }
    for (i, call) in calls.iter().enumerate() {
        let item_id = format!("fc_fake_{i}");
        let output_index = i + 2;
        body.push_str(&event(&json!({"type": "response.output_item.added", "output_index": output_index,
            "item": {"type": "function_call", "id": item_id, "call_id": call.call_id, "name": call.name, "arguments": "", "status": "in_progress"}})));
        let mut middle = call.arguments.len() / 2;
        while !call.arguments.is_char_boundary(middle) {
            middle -= 1;
        }
        let (first, second) = call.arguments.split_at(middle);
        for delta in [first, second] {
            body.push_str(&event(&json!({"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": output_index, "delta": delta})));
        }
        body.push_str(&event(&json!({"type": "response.function_call_arguments.done", "item_id": item_id, "output_index": output_index, "arguments": call.arguments})));
    }
    let done = response_object(model, &text, calls, cut);
    let kind = if cut {
        "response.incomplete"
    } else {
        "response.completed"
    };
    body.push_str(&event(&json!({"type": kind, "response": done})));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{classify_http, classify_stream_error};
    use crate::domain::ErrorClass;
    use crate::domain::chat::*;
    use crate::wire::responses::{StreamParser, parse_answer, request_body};

    fn conversation() -> ChatRequest {
        ChatRequest::new(vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Weather in Paris and Rome?"),
        ])
    }

    async fn post(fake: &FakeResponses, body: bytes::Bytes) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/responses", fake.base_url()))
            .bearer_auth("test-token")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn streamed(fake: &FakeResponses, request: &ChatRequest) -> Vec<StreamEvent> {
        let mut response = post(fake, request_body("gpt-5", request, true).unwrap()).await;
        let mut parser = StreamParser::new();
        let mut events = Vec::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            parser.feed(&chunk, &mut events).unwrap();
        }
        events
    }

    fn assemble(events: &[StreamEvent]) -> ChatAnswer {
        let mut builder = AnswerBuilder::default();
        events.iter().for_each(|e| builder.push(e));
        builder.build().unwrap()
    }

    #[tokio::test]
    async fn the_fake_serves_calls_whole_and_streamed_and_records_the_exact_body() {
        let calls = ResponsesReply::calls(&[
            ("call_p", "get_weather", r#"{"city":"Paris"}"#),
            ("call_r", "get_weather", r#"{"city":"Rome ☀"}"#),
        ]);
        let fake = FakeResponses::start(calls).await.unwrap();
        let request = conversation();
        let body = request_body("gpt-5", &request, false).unwrap();
        let whole = post(&fake, body.clone()).await;
        assert_eq!(whole.status(), 200);
        let whole = parse_answer(&whole.bytes().await.unwrap()).unwrap();
        assert_eq!(whole.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            whole
                .tool_calls
                .iter()
                .map(|c| (c.id.as_str(), c.arguments.as_str()))
                .collect::<Vec<_>>(),
            [
                ("call_p", r#"{"city":"Paris"}"#),
                ("call_r", r#"{"city":"Rome ☀"}"#)
            ]
        );
        let events = streamed(&fake, &request).await;
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StreamEvent::ToolCall(d) if d.id.is_none()))
        );
        assert_eq!(assemble(&events), whole);

        let received = fake.calls();
        assert_eq!(received.len(), 2);
        assert_eq!(
            received[0].body,
            serde_json::from_slice::<Value>(&body).unwrap()
        );
        assert_eq!(received[0].body["instructions"], "Be brief.");
        assert_eq!(received[1].body["stream"], true);
        assert_eq!(
            received[0].authorization.as_deref(),
            Some("Bearer test-token")
        );
    }

    #[tokio::test]
    async fn the_fake_serves_text_and_scripted_failures() {
        let fake = FakeResponses::start(ResponsesReply::text("Sunny in both."))
            .await
            .unwrap();
        fake.push([
            ResponsesReply::token_invalidated(),
            ResponsesReply::StreamError {
                pieces: vec!["Sun".into()],
                payload: r#"{"type":"error","code":"token_invalidated","message":"invalidated","param":null}"#.into(),
            },
        ]);
        let request = conversation();
        let refused = post(&fake, request_body("gpt-5", &request, false).unwrap()).await;
        let status = refused.status().as_u16();
        let body = refused.bytes().await.unwrap();
        assert_eq!(
            classify_http(status, &HeaderMap::new(), &body, 0).class,
            ErrorClass::AuthTerminal
        );
        let events = streamed(&fake, &request).await;
        let Some(StreamEvent::Error(payload)) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(events[1], StreamEvent::Text("Sun".into()));
        assert_eq!(
            classify_stream_error(200, payload.as_bytes()).class,
            ErrorClass::AuthTerminal
        );
        let events = streamed(&fake, &request).await;
        let answer = assemble(&events);
        assert_eq!(answer.content, "Sunny in both.");
        assert_eq!(answer.finish_reason, FinishReason::Stop);
        assert_eq!(answer.usage.cached_input_tokens, 4);
        assert_eq!(events.last(), Some(&StreamEvent::Done));

        fake.push([ResponsesReply::Answer {
            pieces: vec!["Sunny ".into(), "in".into()],
            calls: Vec::new(),
            cut: true,
        }]);
        let cut = assemble(&streamed(&fake, &request).await);
        assert_eq!(
            (cut.content.as_str(), cut.finish_reason),
            ("Sunny in", FinishReason::Length)
        );
    }
}
