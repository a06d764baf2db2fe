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

use crate::config::Config;
use crate::domain::{
    ChatRequest, Message, ProviderAnswer, ProviderKind, Role, TransportError, Usage,
};

/// Largest provider response body read; a larger one counts as a transport failure.
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
/// `max_tokens` sent to Anthropic when the caller gives none (the field is required there).
const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 4096;
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// One provider endpoint, resolved from the config.
#[derive(Debug, Clone)]
struct Endpoint {
    kind: ProviderKind,
    url: reqwest::Url,
    timeout: Duration,
}

/// What one upstream call returned.
#[derive(Debug)]
pub enum CallOutcome {
    /// A 2xx with a readable answer.
    Answer {
        /// HTTP status.
        status: u16,
        /// The answer.
        answer: ProviderAnswer,
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
}

/// The providers of the config behind one pooled HTTP client.
#[derive(Debug, Clone)]
pub struct Providers {
    http: reqwest::Client,
    endpoints: Arc<HashMap<Arc<str>, Endpoint>>,
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
                };
                (Arc::from(name.as_str()), endpoint)
            })
            .collect();
        Ok(Self {
            http,
            endpoints: Arc::new(endpoints),
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

    /// Serialises the provider request body once; retries reuse it.
    pub fn body(&self, provider: &str, model: &str, request: &ChatRequest) -> Option<Bytes> {
        let endpoint = self.endpoints.get(provider)?;
        let body = match endpoint.kind {
            ProviderKind::Openai => serde_json::to_vec(&OpenAiRequest {
                model,
                messages: &request.messages,
                max_tokens: request.max_tokens,
                temperature: request.temperature,
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
                })
            }
        };
        // Serialising plain strings and numbers cannot fail.
        body.ok().map(Bytes::from)
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
        let mut builder = self
            .http
            .post(endpoint.url.clone())
            .timeout(timeout)
            .header(http::header::CONTENT_TYPE, "application/json");
        builder = match endpoint.kind {
            ProviderKind::Openai => builder.bearer_auth(secret.expose_secret()),
            ProviderKind::Anthropic => builder
                .header("x-api-key", secret.expose_secret())
                .header("anthropic-version", ANTHROPIC_VERSION),
        };
        let response = match builder.body(body).send().await {
            Ok(r) => r,
            Err(e) => return CallOutcome::Transport(transport_error(&e)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match read_body(response).await {
            Ok(b) => b,
            Err(e) => return CallOutcome::Transport(e),
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
}

async fn read_body(mut response: reqwest::Response) -> Result<Bytes, TransportError> {
    let mut buf = BytesMut::with_capacity(
        response
            .content_length()
            .map_or(8 * 1024, |n| n as usize)
            .min(MAX_RESPONSE_BYTES),
    );
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(TransportError::ConnectionReset);
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(transport_error(&e)),
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
