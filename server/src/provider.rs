//! HTTP adapters for providers: OpenAI-compatible chat completions and Anthropic's
//! Messages API, over one pooled reqwest client.
//!
//! Turns a [`ChatRequest`] into a provider request and the answer into either a
//! [`ProviderAnswer`] or the raw failure (status, headers, body) for
//! [`crate::classify`]. Knows nothing of the policy, the store or gRPC. Secrets
//! leave this module only as HTTP headers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use std::collections::VecDeque;

use crate::config::Config;
use crate::domain::{
    ChatRequest, Message, ProviderAnswer, ProviderKind, Role, TransportError, Usage,
};
use crate::sse::{SseDecoder, SseEvent, StreamEvent};

/// `max_tokens` sent to Anthropic when the caller gives none (the field is required there).
const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 4096;
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// One provider endpoint, resolved from the config.
#[derive(Debug, Clone)]
struct Endpoint {
    kind: ProviderKind,
    url: reqwest::Url,
    timeout: Duration,
    first_token_timeout: Duration,
    idle_timeout: Duration,
}

/// What one upstream call returned. `A` is the answer: a whole
/// [`ProviderAnswer`], or an [`OpenStream`] committed at its first token.
#[derive(Debug)]
pub enum CallOutcome<A = ProviderAnswer> {
    /// A 2xx with a readable answer.
    Answer {
        /// HTTP status.
        status: u16,
        /// The answer.
        answer: A,
    },
    /// A 2xx whose body is not the expected shape.
    Unreadable {
        /// HTTP status.
        status: u16,
    },
    /// A non-2xx answer, for classification.
    Http {
        /// HTTP status.
        status: u16,
        /// Response headers.
        headers: http::HeaderMap,
        /// Response body.
        body: Bytes,
    },
    /// No HTTP answer.
    Transport(TransportError),
    /// The request could not be built, so nothing was sent: the credential is not
    /// a valid HTTP header value (a line break or another control character,
    /// stored before secrets were checked on input).
    Unsendable,
    /// An answer whose body is over `limits.max_response_bytes`: read no further.
    TooLarge {
        /// HTTP status.
        status: u16,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A 2xx stream that failed before its first token.
    Stream {
        /// HTTP status of the stream.
        status: u16,
        /// How it failed.
        failure: StreamFailure,
    },
}

/// How a provider stream failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFailure {
    /// The connection failed mid-stream.
    Transport(TransportError),
    /// No event arrived within the timeout.
    Timeout {
        /// Which timeout: `first token` or `idle`.
        which: &'static str,
        /// Its length.
        after: Duration,
    },
    /// The provider sent an error event (its JSON payload).
    ErrorEvent(Bytes),
    /// The stream ended without the provider's end event: the answer is cut.
    Truncated,
    /// Not an event stream of the expected shape.
    Malformed(&'static str),
}

impl StreamFailure {
    /// The classification the policy sees. An error event is the provider's own
    /// text: `scrubber` removes our secrets from it.
    pub fn classify(
        &self,
        status: u16,
        scrubber: &crate::redact::Scrubber,
    ) -> crate::classify::Classification {
        use crate::classify::{Classification, classify_stream_error_scrubbed, classify_transport};
        use crate::domain::ErrorClass;
        let transport = |detail: String| Classification {
            class: ErrorClass::Transport,
            http_status: status,
            retry_after_ms: None,
            detail,
        };
        match self {
            StreamFailure::Transport(e) => Classification {
                http_status: status,
                detail: format!("stream {}", e.as_str()),
                ..classify_transport(*e)
            },
            StreamFailure::Timeout { which, after } => transport(format!(
                "no stream event within the {which} timeout ({} ms)",
                after.as_millis()
            )),
            StreamFailure::ErrorEvent(payload) => {
                classify_stream_error_scrubbed(status, payload, scrubber)
            }
            StreamFailure::Truncated => {
                transport("the stream ended before the provider's end event".into())
            }
            StreamFailure::Malformed(why) => Classification {
                class: ErrorClass::Unknown,
                http_status: status,
                retry_after_ms: None,
                detail: format!("malformed stream: {why}"),
            },
        }
    }
}

/// The providers of the config behind one pooled HTTP client.
#[derive(Debug, Clone)]
pub struct Providers {
    http: reqwest::Client,
    endpoints: Arc<HashMap<Arc<str>, Endpoint>>,
    max_response_bytes: usize,
}

// === impl Providers ===

impl Providers {
    /// Builds the HTTP client and resolves every provider's endpoint.
    pub fn new(config: &Config) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            // Never follow a redirect: it would carry the provider's key (Anthropic's
            // `x-api-key` survives a cross-host redirect) and, on a 307, the prompt
            // to another host. A 3xx is a failed attempt (see `classify`).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let endpoints = config
            .providers
            .iter()
            .map(|(name, p)| {
                let base = p.base_url.trim_end_matches('/');
                let path = match p.kind {
                    ProviderKind::Openai => "/chat/completions",
                    ProviderKind::Anthropic => "/v1/messages",
                };
                // Checked by Config::check.
                let url = reqwest::Url::parse(&format!("{base}{path}"))
                    .expect("base_url validated at config load");
                let endpoint = Endpoint {
                    kind: p.kind,
                    url,
                    timeout: p.timeout,
                    first_token_timeout: p.first_token_timeout,
                    idle_timeout: p.stream_idle_timeout,
                };
                (Arc::from(name.as_str()), endpoint)
            })
            .collect();
        Ok(Self {
            http,
            endpoints: Arc::new(endpoints),
            max_response_bytes: config.limits.max_response_bytes,
        })
    }

    /// The pooled HTTP client, shared with the OAuth refresher.
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The wire protocol of a provider.
    pub fn kind(&self, provider: &str) -> Option<ProviderKind> {
        self.endpoints.get(provider).map(|e| e.kind)
    }

    /// The configured timeout of a provider.
    pub fn timeout(&self, provider: &str) -> Option<Duration> {
        self.endpoints.get(provider).map(|e| e.timeout)
    }

    /// The first-token and idle timeouts of a provider's streams.
    pub fn stream_timeouts(&self, provider: &str) -> Option<(Duration, Duration)> {
        self.endpoints
            .get(provider)
            .map(|e| (e.first_token_timeout, e.idle_timeout))
    }

    /// Serialises the provider request body once; retries reuse it. With `stream`,
    /// asks for an event stream (with usage, from OpenAI-compatible providers).
    pub fn body(
        &self,
        provider: &str,
        model: &str,
        request: &ChatRequest,
        stream: bool,
    ) -> Option<Bytes> {
        let endpoint = self.endpoints.get(provider)?;
        let body = match endpoint.kind {
            ProviderKind::Openai => serde_json::to_vec(&OpenAiRequest {
                model,
                messages: &request.messages,
                max_tokens: request.max_tokens,
                temperature: request.temperature,
                stream,
                stream_options: stream.then_some(StreamOptions {
                    include_usage: true,
                }),
            }),
            ProviderKind::Anthropic => {
                let system: Vec<&str> = request
                    .messages
                    .iter()
                    .filter(|m| m.role == Role::System)
                    .map(|m| m.content.as_str())
                    .collect();
                serde_json::to_vec(&AnthropicRequest {
                    model,
                    system: (!system.is_empty()).then(|| system.join("\n\n")),
                    messages: request
                        .messages
                        .iter()
                        .filter(|m| m.role != Role::System)
                        .collect(),
                    max_tokens: request.max_tokens.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS),
                    temperature: request.temperature,
                    stream,
                })
            }
        };
        // Serialising plain strings and numbers cannot fail.
        body.ok().map(Bytes::from)
    }

    fn post(&self, endpoint: &Endpoint, secret: &SecretString) -> reqwest::RequestBuilder {
        let builder = self
            .http
            .post(endpoint.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json");
        match endpoint.kind {
            ProviderKind::Openai => builder.bearer_auth(secret.expose_secret()),
            ProviderKind::Anthropic => builder
                .header("x-api-key", secret.expose_secret())
                .header("anthropic-version", ANTHROPIC_VERSION),
        }
    }

    /// Makes one call with `body` (from [`Providers::body`]), bounded by `timeout`.
    pub async fn call(
        &self,
        provider: &str,
        secret: &SecretString,
        body: Bytes,
        timeout: Duration,
    ) -> CallOutcome {
        let Some(endpoint) = self.endpoints.get(provider) else {
            return CallOutcome::Transport(TransportError::Dns);
        };
        let builder = self.post(endpoint, secret).timeout(timeout);
        let response = match builder.body(body).send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return CallOutcome::Unsendable,
            Err(e) => return CallOutcome::Transport(transport_error(&e)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match read_body(response, self.max_response_bytes).await {
            Ok(b) => b,
            Err(e) => return e.outcome(status),
        };
        if !(200..300).contains(&status) {
            return CallOutcome::Http {
                status,
                headers,
                body,
            };
        }
        match parse_answer(endpoint.kind, &body) {
            Some(answer) => CallOutcome::Answer { status, answer },
            None => CallOutcome::Unreadable { status },
        }
    }

    /// Opens a stream with `body` (from [`Providers::body`] with `stream`) and
    /// reads it up to its first content token, all within `first_token`. A failure
    /// before that token is an ordinary failed attempt; after it, the caller reads
    /// the rest from the [`OpenStream`], each event within the idle timeout.
    pub async fn open_stream(
        &self,
        provider: &str,
        secret: &SecretString,
        body: Bytes,
        first_token: Duration,
    ) -> CallOutcome<OpenStream> {
        let Some(endpoint) = self.endpoints.get(provider) else {
            return CallOutcome::Transport(TransportError::Dns);
        };
        let started = tokio::time::Instant::now();
        let limit = started + first_token;
        let send = self
            .post(endpoint, secret)
            .header(http::header::ACCEPT, "text/event-stream")
            .body(body)
            .send();
        let response = match tokio::time::timeout_at(limit, send).await {
            Err(_) => {
                return CallOutcome::Transport(TransportError::Timeout);
            }
            Ok(Err(e)) if e.is_builder() => return CallOutcome::Unsendable,
            Ok(Err(e)) => return CallOutcome::Transport(transport_error(&e)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let headers = response.headers().clone();
            return match tokio::time::timeout_at(
                limit,
                read_body(response, self.max_response_bytes),
            )
            .await
            {
                Err(_) => CallOutcome::Transport(TransportError::Timeout),
                Ok(Err(e)) => e.outcome(status),
                Ok(Ok(body)) => CallOutcome::Http {
                    status,
                    headers,
                    body,
                },
            };
        }
        let mut stream = OpenStream {
            response,
            kind: endpoint.kind,
            status,
            decoder: SseDecoder::default(),
            raw: VecDeque::new(),
            parsed: Vec::new(),
            ready: VecDeque::new(),
            idle: endpoint.idle_timeout,
            done: false,
            finish_reason: None,
            model: None,
            usage: Usage::default(),
        };
        // Commit at the first text, or at a clean end without text.
        let first = tokio::time::timeout_at(limit, stream.next_text_within(None)).await;
        match first {
            Err(_) => CallOutcome::Stream {
                status,
                failure: StreamFailure::Timeout {
                    which: "first token",
                    after: first_token,
                },
            },
            Ok(Err(failure)) => CallOutcome::Stream { status, failure },
            Ok(Ok(text)) => {
                if let Some(text) = text {
                    stream.ready.push_front(text);
                }
                CallOutcome::Answer {
                    status,
                    answer: stream,
                }
            }
        }
    }
}

/// A provider stream that has produced its first token (or ended cleanly).
/// Read the rest with [`OpenStream::next_text`].
pub struct OpenStream {
    response: reqwest::Response,
    kind: ProviderKind,
    status: u16,
    decoder: SseDecoder,
    raw: VecDeque<SseEvent>,
    parsed: Vec<StreamEvent>,
    ready: VecDeque<String>,
    idle: Duration,
    done: bool,
    finish_reason: Option<String>,
    model: Option<String>,
    usage: Usage,
}

impl std::fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStream")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl OpenStream {
    /// HTTP status of the stream.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Token usage reported so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Why generation stopped, once the provider said it.
    pub fn finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_deref()
    }

    /// The model the provider says answers, once it said it.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The next piece of text; `Ok(None)` at the provider's end of stream. Each
    /// read waits at most the idle timeout.
    pub async fn next_text(&mut self) -> Result<Option<String>, StreamFailure> {
        let idle = self.idle;
        self.next_text_within(Some(idle)).await
    }

    async fn next_text_within(
        &mut self,
        idle: Option<Duration>,
    ) -> Result<Option<String>, StreamFailure> {
        // Silence is counted in events, not bytes: a provider sending a byte now
        // and then, never completing an event, still times out.
        let mut deadline = idle.map(|d| tokio::time::Instant::now() + d);
        loop {
            if let Some(text) = self.ready.pop_front() {
                return Ok(Some(text));
            }
            if let Some(event) = self.raw.pop_front() {
                if let Some(d) = idle {
                    deadline = Some(tokio::time::Instant::now() + d);
                }
                crate::sse::interpret(self.kind, &event, &mut self.parsed);
                for e in self.parsed.drain(..) {
                    match e {
                        StreamEvent::Text(t) => self.ready.push_back(t),
                        StreamEvent::Model(m) => {
                            self.model.get_or_insert(m);
                        }
                        StreamEvent::Usage { input, output } => {
                            if let Some(n) = input {
                                self.usage.input_tokens = n;
                            }
                            if let Some(n) = output {
                                self.usage.output_tokens = n;
                            }
                        }
                        StreamEvent::Finish(r) => self.finish_reason = Some(r),
                        StreamEvent::Done => self.done = true,
                        StreamEvent::Error(payload) => {
                            return Err(StreamFailure::ErrorEvent(payload));
                        }
                    }
                }
                continue;
            }
            if self.done {
                return Ok(None);
            }
            let chunk = match (idle, deadline) {
                (Some(idle), Some(at)) => {
                    match tokio::time::timeout_at(at, self.response.chunk()).await {
                        Ok(r) => r,
                        Err(_) => {
                            return Err(StreamFailure::Timeout {
                                which: "idle",
                                after: idle,
                            });
                        }
                    }
                }
                _ => self.response.chunk().await,
            };
            match chunk {
                Ok(Some(bytes)) => self
                    .decoder
                    .feed(&bytes, &mut self.raw)
                    .map_err(|m| StreamFailure::Malformed(m.0))?,
                // Some OpenAI-compatible servers omit `[DONE]` after the finish reason.
                Ok(None) if self.kind == ProviderKind::Openai && self.finish_reason.is_some() => {
                    self.done = true;
                }
                Ok(None) => return Err(StreamFailure::Truncated),
                Err(e) => return Err(StreamFailure::Transport(transport_error(&e))),
            }
        }
    }
}

/// Why a response body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyError {
    Transport(TransportError),
    /// Over the limit (bytes).
    TooLarge(usize),
}

impl BodyError {
    fn outcome<A>(self, status: u16) -> CallOutcome<A> {
        match self {
            BodyError::Transport(e) => CallOutcome::Transport(e),
            BodyError::TooLarge(limit) => CallOutcome::TooLarge { status, limit },
        }
    }
}

/// Reads a body of at most `limit` bytes; a longer one (declared or sent) is
/// refused without reading the rest.
async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut buf = BytesMut::with_capacity(
        response
            .content_length()
            .map_or(8 * 1024, |n| usize::try_from(n).unwrap_or(limit))
            .min(limit),
    );
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(BodyError::Transport(transport_error(&e))),
        }
    }
}

/// Maps a reqwest failure to a transport class by walking its cause chain.
fn transport_error(e: &reqwest::Error) -> TransportError {
    if e.is_timeout() {
        return TransportError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return TransportError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return TransportError::Timeout,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => return TransportError::ConnectionReset,
                _ => {}
            }
        }
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("dns") || text.contains("resolve") || text.contains("lookup") {
            return TransportError::Dns;
        }
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return TransportError::Tls;
        }
        source = err.source();
    }
    if e.is_connect() {
        TransportError::ConnectionRefused
    } else {
        TransportError::ConnectionReset
    }
}

#[derive(Serialize)]
struct OpenAiRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct AnthropicRequest<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<&'a Message>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

fn parse_answer(kind: ProviderKind, body: &[u8]) -> Option<ProviderAnswer> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let model = v.get("model").and_then(|m| m.as_str()).map(str::to_owned);
    let tokens = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    match kind {
        ProviderKind::Openai => {
            let message = v.get("choices")?.get(0)?.get("message")?;
            let content = match message.get("content") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(_) => return None,
            };
            let usage = v.get("usage").map_or(Usage::default(), |u| Usage {
                input_tokens: tokens(u, "prompt_tokens"),
                output_tokens: tokens(u, "completion_tokens"),
            });
            Some(ProviderAnswer {
                content,
                usage,
                model,
            })
        }
        ProviderKind::Anthropic => {
            let blocks = v.get("content")?.as_array()?;
            let content = blocks
                .iter()
                .filter(|b| b.get("type").and_then(|t| t.as_str()) == Some("text"))
                .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
                .collect::<Vec<_>>()
                .join("");
            let usage = v.get("usage").map_or(Usage::default(), |u| Usage {
                input_tokens: tokens(u, "input_tokens"),
                output_tokens: tokens(u, "output_tokens"),
            });
            Some(ProviderAnswer {
                content,
                usage,
                model,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_answers_parse_with_usage() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
        let a = parse_answer(ProviderKind::Openai, body).unwrap();
        assert_eq!(a.content, "hi");
        assert_eq!(
            a.usage,
            Usage {
                input_tokens: 3,
                output_tokens: 1
            }
        );
    }

    #[test]
    fn anthropic_answers_join_text_blocks() {
        let body = br#"{"content":[{"type":"text","text":"a"},{"type":"tool_use"},{"type":"text","text":"b"}],"usage":{"input_tokens":5,"output_tokens":2}}"#;
        let a = parse_answer(ProviderKind::Anthropic, body).unwrap();
        assert_eq!(a.content, "ab");
        assert_eq!(a.usage.input_tokens, 5);
    }

    #[test]
    fn unexpected_success_bodies_are_unreadable() {
        assert!(parse_answer(ProviderKind::Openai, b"{}").is_none());
        assert!(parse_answer(ProviderKind::Openai, b"not json").is_none());
        assert!(parse_answer(ProviderKind::Anthropic, br#"{"content":3}"#).is_none());
    }
}
