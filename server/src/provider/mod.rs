//! HTTP calls to providers over one pooled reqwest client, and the dispatch to each
//! provider wire format's translation: [`openai_chat`] here, the Anthropic
//! Messages and OpenAI Responses formats in [`crate::wire`].
//!
//! Turns a [`ChatRequest`] into a provider request and the answer into either a
//! [`ChatAnswer`] (whole) or an [`OpenStream`] of [`StreamEvent`]s, or the raw
//! failure (status, headers, body) for [`crate::classify`]. Knows nothing of the
//! policy, the store or gRPC. Secrets leave this module only as HTTP headers.

mod body;
pub mod openai_chat;
mod stream;

use body::*;
pub use stream::*;

use foldhash::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use std::collections::VecDeque;

use crate::config::Config;
use crate::domain::{ChatAnswer, ChatRequest, ProviderKind, TransportError, Usage};
use crate::sse::SseDecoder;
use crate::wire::{anthropic, responses};

/// The `anthropic-version` header sent to `kind: anthropic` providers.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Why a request was not sent to a candidate. Names the provider or the field,
/// never message content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSent {
    /// The provider is not in the config.
    #[error("unknown provider")]
    UnknownProvider,
    /// The request body could not be serialised.
    #[error("the request could not be serialised")]
    Serialise,
    /// The provider's wire format cannot carry a field or part of the request.
    #[error(transparent)]
    Anthropic(#[from] anthropic::Untranslatable),
    /// The provider's wire format cannot carry a field or part of the request.
    #[error(transparent)]
    Responses(#[from] responses::Untranslatable),
}

/// One provider endpoint, resolved from the config.
#[derive(Debug, Clone)]
struct Endpoint {
    kind: ProviderKind,
    url: reqwest::Url,
    timeout: Duration,
    first_token_timeout: Duration,
    idle_timeout: Duration,
    /// `auth: none`: no key header at all (a local server without auth).
    keyless: bool,
}

/// What one upstream call returned. `A` is the answer: a whole
/// [`ChatAnswer`], or an [`OpenStream`] committed at its first content event.
#[derive(Debug)]
pub enum CallOutcome<A = ChatAnswer> {
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
            // Never replay a request either: reqwest retries HTTP/2 refusals on its
            // own by default, and cloned every request for it. Every attempt is the
            // policy's, in the trail and the metrics; a refused stream is a failed
            // attempt like a reset connection (tests/it/refused_streams.rs). `never()`
            // alone would still clone each request in case; the limit of 0 does not.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self::with_http(config, http))
    }

    /// The providers of `config` over an existing HTTP client: a reloaded config
    /// keeps the pooled connections.
    #[expect(
        clippy::expect_used,
        reason = "`Config::check` refused any base_url that does not parse"
    )]
    pub fn with_http(config: &Config, http: reqwest::Client) -> Self {
        let endpoints = config
            .providers
            .iter()
            .map(|(name, p)| {
                let base = p.base_url.trim_end_matches('/');
                let path = match p.kind {
                    ProviderKind::Openai => "/chat/completions",
                    ProviderKind::Anthropic => "/v1/messages",
                    ProviderKind::OpenaiResponses => responses::PATH,
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
                    keyless: p.auth == crate::config::ProviderAuth::None,
                };
                (Arc::from(name.as_str()), endpoint)
            })
            .collect();
        Self {
            http,
            endpoints: Arc::new(endpoints),
            max_response_bytes: config.limits.max_response_bytes,
        }
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

    /// Serialises the provider request body once per candidate; retries reuse it.
    /// With `stream`, asks for an event stream (with usage where the format needs
    /// asking). [`NotSent`] for an unknown provider, or a request its format
    /// cannot carry (naming the field).
    pub fn body(
        &self,
        provider: &str,
        model: &str,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<Bytes, NotSent> {
        let endpoint = self
            .endpoints
            .get(provider)
            .ok_or(NotSent::UnknownProvider)?;
        match endpoint.kind {
            ProviderKind::Openai => openai_chat::body(model, request, stream)
                .map(Bytes::from)
                .ok_or(NotSent::Serialise),
            ProviderKind::Anthropic => Ok(anthropic::request_body(model, request, stream)?),
            ProviderKind::OpenaiResponses => Ok(responses::request_body(model, request, stream)?),
        }
    }

    /// The POST of a call, with its content type and credential; `None` when the
    /// secret cannot be a header value (the call is then unsendable). Headers are
    /// built from constants and the secret without `fmt` (reqwest's `bearer_auth`
    /// formats), and the secret's header is marked sensitive on both kinds.
    fn post(&self, endpoint: &Endpoint, secret: &SecretString) -> Option<reqwest::RequestBuilder> {
        const API_KEY: HeaderName = HeaderName::from_static("x-api-key");
        const VERSION: HeaderName = HeaderName::from_static("anthropic-version");
        let builder = self.http.post(endpoint.url.clone()).header(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let version = HeaderValue::from_static(ANTHROPIC_VERSION);
        Some(match (endpoint.kind, endpoint.keyless) {
            (ProviderKind::Openai | ProviderKind::OpenaiResponses, true) => builder,
            (ProviderKind::Openai | ProviderKind::OpenaiResponses, false) => builder.header(
                http::header::AUTHORIZATION,
                secret_value("Bearer ", secret)?,
            ),
            (ProviderKind::Anthropic, true) => builder.header(VERSION, version),
            (ProviderKind::Anthropic, false) => builder
                .header(API_KEY, secret_value("", secret)?)
                .header(VERSION, version),
        })
    }

    /// Makes one call with `body` (from [`Providers::body`]), bounded by `timeout`
    /// from the send to the answer's last byte.
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
        let Some(builder) = self.post(endpoint, secret) else {
            return CallOutcome::Unsendable;
        };
        // One timer of our own, not reqwest's `timeout`: that one is an extension
        // map allocated on every request, and a timer for the send and another for
        // the body.
        let exchange = self.exchange(endpoint.kind, builder.body(body));
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(CallOutcome::Transport(TransportError::Timeout))
    }

    /// Sends a call and reads its whole answer.
    async fn exchange(&self, kind: ProviderKind, request: reqwest::RequestBuilder) -> CallOutcome {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return CallOutcome::Unsendable,
            Err(e) => return CallOutcome::Transport(transport_error(&e)),
        };
        let status = response.status().as_u16();
        let success = (200..300).contains(&status);
        // Only a failure's headers are read (`retry-after`, for classification).
        let headers = if success {
            http::HeaderMap::new()
        } else {
            response.headers().clone()
        };
        let body = match read_body(response, self.max_response_bytes).await {
            Ok(b) => b,
            Err(e) => return e.outcome(status),
        };
        if !success {
            return CallOutcome::Http {
                status,
                headers,
                body,
            };
        }
        let answer = match kind {
            ProviderKind::Openai => openai_chat::parse_answer(&body),
            ProviderKind::Anthropic => anthropic::parse_answer(&body).ok(),
            ProviderKind::OpenaiResponses => match responses::parse_answer(&body) {
                Ok(answer) => Some(answer),
                // A 2xx saying the response failed: classified like an error
                // event, so a refused Codex token is still `auth_terminal`.
                Err(responses::ParseError::Failed { payload }) => {
                    return CallOutcome::Stream {
                        status,
                        failure: StreamFailure::ErrorEvent(Bytes::from(payload)),
                    };
                }
                Err(responses::ParseError::Malformed(_) | responses::ParseError::Unfinished(_)) => {
                    None
                }
            },
        };
        match answer {
            Some(answer) => CallOutcome::Answer { status, answer },
            None => CallOutcome::Unreadable { status },
        }
    }

    /// Opens a stream with `body` (from [`Providers::body`] with `stream`) and
    /// reads it up to its first content event (a text token or a tool-call piece),
    /// all within `first_token`. A failure
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
        let Some(builder) = self.post(endpoint, secret) else {
            return CallOutcome::Unsendable;
        };
        let send = builder
            .header(
                http::header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            )
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
            body: http::Response::<reqwest::Body>::from(response).into_body(),
            kind: endpoint.kind,
            parser: EventParser::new(endpoint.kind),
            status,
            decoder: SseDecoder::default(),
            raw: VecDeque::new(),
            parsed: Vec::new(),
            ready: VecDeque::new(),
            idle: endpoint.idle_timeout,
            idle_timer: None,
            wait_deadline: None,
            done: false,
            finish_reason: None,
            model: None,
            usage: Usage::default(),
        };
        // Commit at the first content event, or at a clean end without content.
        let first = tokio::time::timeout_at(limit, stream.next_within(None)).await;
        match first {
            Err(_) => CallOutcome::Stream {
                status,
                failure: StreamFailure::Timeout {
                    which: "first token",
                    after: first_token,
                },
            },
            Ok(Err(failure)) => CallOutcome::Stream { status, failure },
            Ok(Ok(first)) => {
                if let Some(first) = first {
                    stream.ready.push_front(first);
                }
                CallOutcome::Answer {
                    status,
                    answer: stream,
                }
            }
        }
    }
}

/// `prefix` and the secret as a sensitive header value, or `None` when the secret
/// holds a byte no header value may.
fn secret_value(prefix: &str, secret: &SecretString) -> Option<HeaderValue> {
    let secret = secret.expose_secret();
    let mut value = String::with_capacity(prefix.len() + secret.len());
    value.push_str(prefix);
    value.push_str(secret);
    let mut value = HeaderValue::try_from(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}
