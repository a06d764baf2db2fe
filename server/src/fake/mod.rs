//! A fake LLM provider: a real HTTP server on 127.0.0.1 that speaks the OpenAI chat
//! completions and Anthropic Messages shapes, answers from a script, and records
//! every call it receives. Used by `switchyard demo`, the integration tests and the
//! benchmark. Never used on a request path of the service.

use std::sync::Arc;
use std::time::Duration;

mod bodies;
mod server;
mod token;

use bodies::*;
pub use server::*;
pub use token::*;

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
    /// An answer of tool calls (id, function name, arguments JSON) in the
    /// endpoint's shape: OpenAI `message.tool_calls` / `finish_reason: tool_calls`,
    /// or Anthropic `tool_use` blocks; streamed when the request asks, the
    /// arguments cut in two pieces.
    ToolCalls(Vec<FakeToolCall>),
    /// An event stream in the endpoint's shape (OpenAI SSE chunks or Anthropic
    /// events), whatever the request asked. A [`FakeBody::Completion`] is streamed
    /// too when the request asks for `stream: true`.
    Stream(FakeStream),
}

/// A tool call a fake answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeToolCall {
    /// Call id.
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments, JSON text.
    pub arguments: String,
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

    /// A 200 answer of tool calls, each `(id, name, arguments)`.
    pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Self {
        Self {
            body: FakeBody::ToolCalls(
                calls
                    .iter()
                    .map(|(id, name, arguments)| FakeToolCall {
                        id: (*id).to_owned(),
                        name: (*name).to_owned(),
                        arguments: (*arguments).to_owned(),
                    })
                    .collect(),
            ),
            ..Self::ok("")
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
    /// The request body as received (`null` when it was not JSON).
    pub body: serde_json::Value,
}

/// Decides whether a presented credential is accepted.
pub type BearerCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;
