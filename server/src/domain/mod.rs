//! Domain types shared by every layer: callers, chat requests, candidates, error
//! classes, policy actions and trail steps.
//!
//! Depends on nothing but `std`, `serde`, `serde_json` (raw JSON values), `itoa`
//! and `secrecy`: no proto, no I/O. The chat itself (messages, options, answers,
//! stream events) lives in [`chat`].

pub mod chat;
mod origin;

pub use chat::{
    AnswerBuilder, ChatAnswer, ChatOptions, ChatRequest, FinishReason, Image, ImageDetail,
    ImageSource, JsonObject, JsonSchemaFormat, Message, Part, ReasoningEffort, ResponseFormat,
    Role, StreamEvent, Tool, ToolCall, ToolCallDelta, ToolChoice, Usage, UsageDelta,
};
pub use origin::Origin;

use std::fmt;
use std::sync::Arc;

/// Milliseconds since the Unix epoch. Time enters the policy as a value of this type.
pub type Millis = u64;

/// Who is calling: the primary turn, or an auxiliary task by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// The primary turn of the agent's conversation.
    Primary,
    /// An auxiliary task (`compression`, `vision`, ...).
    Aux(String),
}

impl Caller {
    /// `primary` or `aux`, for logs and storage.
    pub fn kind(&self) -> &'static str {
        match self {
            Caller::Primary => "primary",
            Caller::Aux(_) => "aux",
        }
    }

    /// The task name of an auxiliary caller.
    pub fn task(&self) -> Option<&str> {
        match self {
            Caller::Primary => None,
            Caller::Aux(task) => Some(task),
        }
    }

    /// `primary` or `aux:<task>`, without `fmt` (every answer carries it).
    pub fn label(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Caller::Primary => "primary".into(),
            Caller::Aux(task) => ["aux:", task].concat().into(),
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Wire protocol of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible `POST {base_url}/chat/completions` endpoint.
    Openai,
    /// Anthropic's Messages API, `POST {base_url}/v1/messages`.
    Anthropic,
    /// OpenAI's Responses API, `POST {base_url}/responses` (ChatGPT/Codex accounts).
    #[serde(rename = "openai_responses")]
    OpenaiResponses,
}

/// A provider and a model: one entry of a fallback list, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Provider name from the config.
    pub provider: Arc<str>,
    /// Model name sent to the provider.
    pub model: Arc<str>,
}

/// What a request needs of a candidate beyond text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// A message holds an image.
    pub images: bool,
    /// Tool definitions, tool calls or tool results.
    pub tools: bool,
}

/// What a candidate can serve beyond text (`providers.<name>.capabilities`). A
/// candidate lacking what a request needs is skipped, like a dead key, rather
/// than failing the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Image parts.
    pub images: bool,
    /// Tools, tool calls and tool results.
    pub tools: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            images: true,
            tools: true,
        }
    }
}

impl Capabilities {
    /// The first thing `needs` asks that this candidate cannot serve.
    pub fn missing(self, needs: Needs) -> Option<&'static str> {
        if needs.images && !self.images {
            Some("images")
        } else if needs.tools && !self.tools {
            Some("tools")
        } else {
            None
        }
    }
}

/// One candidate of a caller's ordered list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Provider name.
    pub provider: Arc<str>,
    /// Model name.
    pub model: Arc<str>,
    /// Base URL of the provider, part of the duplicate check.
    pub base_url: Arc<str>,
    /// Where it comes from.
    pub origin: Origin,
    /// What its provider is configured to serve.
    pub capabilities: Capabilities,
}

/// Identifier of a stored credential (never the secret).
pub type CredentialId = Arc<str>;

/// Classification of one upstream outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// No error.
    None,
    /// 401 that may recover by refresh.
    Auth,
    /// 401 with a terminal code: the credential is dead.
    AuthTerminal,
    /// 403.
    Forbidden,
    /// 402, out of credit or quota.
    Billing,
    /// 429.
    RateLimit,
    /// 503, 529, `overloaded_error`.
    Overloaded,
    /// Other 5xx.
    Server,
    /// No HTTP answer: refused, reset, DNS, TLS, timeout.
    Transport,
    /// 413, `context_length_exceeded`.
    ContextOverflow,
    /// 404 model, unsupported model.
    ModelUnavailable,
    /// Content refused by the provider.
    ContentPolicy,
    /// Other 4xx.
    InvalidRequest,
    /// Anything else.
    Unknown,
}

impl ErrorClass {
    /// Every class, for exhaustive table tests.
    pub const ALL: [ErrorClass; 14] = [
        ErrorClass::None,
        ErrorClass::Auth,
        ErrorClass::AuthTerminal,
        ErrorClass::Forbidden,
        ErrorClass::Billing,
        ErrorClass::RateLimit,
        ErrorClass::Overloaded,
        ErrorClass::Server,
        ErrorClass::Transport,
        ErrorClass::ContextOverflow,
        ErrorClass::ModelUnavailable,
        ErrorClass::ContentPolicy,
        ErrorClass::InvalidRequest,
        ErrorClass::Unknown,
    ];

    /// snake_case name, as stored and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::None => "none",
            ErrorClass::Auth => "auth",
            ErrorClass::AuthTerminal => "auth_terminal",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::Billing => "billing",
            ErrorClass::RateLimit => "rate_limit",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::Server => "server",
            ErrorClass::Transport => "transport",
            ErrorClass::ContextOverflow => "context_overflow",
            ErrorClass::ModelUnavailable => "model_unavailable",
            ErrorClass::ContentPolicy => "content_policy",
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::Unknown => "unknown",
        }
    }

    /// Inverse of [`ErrorClass::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What the policy does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The attempt succeeded.
    Succeed,
    /// Retry the same candidate and credential.
    RetrySame,
    /// Refresh the credential, then retry.
    RefreshAndRetry,
    /// Next live credential of the same provider.
    RotateCredential,
    /// Next candidate.
    NextCandidate,
    /// Stop; the caller must change the request.
    ReturnToCaller,
    /// Stop; nothing left to try.
    GiveUp,
    /// The candidate was not tried.
    SkipCandidate,
    /// Stop: a streamed answer failed after text reached the caller.
    StopStream,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 9] = [
        Action::Succeed,
        Action::RetrySame,
        Action::RefreshAndRetry,
        Action::RotateCredential,
        Action::NextCandidate,
        Action::ReturnToCaller,
        Action::GiveUp,
        Action::SkipCandidate,
        Action::StopStream,
    ];

    /// snake_case name, as stored and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Succeed => "succeed",
            Action::RetrySame => "retry_same",
            Action::RefreshAndRetry => "refresh_and_retry",
            Action::RotateCredential => "rotate_credential",
            Action::NextCandidate => "next_candidate",
            Action::ReturnToCaller => "return_to_caller",
            Action::GiveUp => "give_up",
            Action::SkipCandidate => "skip_candidate",
            Action::StopStream => "stop_stream",
        }
    }

    /// Inverse of [`Action::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether the step moved away from the credential or candidate that failed.
    pub fn is_fallback(self) -> bool {
        matches!(self, Action::NextCandidate | Action::RotateCredential)
    }
}

/// One step of a request's trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Index of the candidate in the caller's list.
    pub candidate_index: u32,
    /// Provider name.
    pub provider: Arc<str>,
    /// Model name.
    pub model: Arc<str>,
    /// Credential used, if a provider was contacted.
    pub credential_id: Option<CredentialId>,
    /// Classification of the outcome.
    pub error_class: ErrorClass,
    /// HTTP status, 0 when none.
    pub http_status: u16,
    /// What the policy did next.
    pub action: Action,
    /// Human-readable reason; never a secret.
    pub reason: String,
    /// Duration of the step in milliseconds.
    pub duration_ms: u64,
}

/// Why a request failed as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// Every candidate failed or was skipped.
    AllCandidatesFailed,
    /// The request does not fit the context window.
    ContextOverflow,
    /// The provider refused the content.
    ContentPolicy,
    /// No time left for another attempt.
    DeadlineExhausted,
    /// A streamed answer failed after text reached the caller.
    StreamInterrupted,
}

impl FailureReason {
    /// snake_case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::AllCandidatesFailed => "all_candidates_failed",
            FailureReason::ContextOverflow => "context_overflow",
            FailureReason::ContentPolicy => "content_policy",
            FailureReason::DeadlineExhausted => "deadline_exhausted",
            FailureReason::StreamInterrupted => "stream_interrupted",
        }
    }

    /// Inverse of [`FailureReason::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            FailureReason::AllCandidatesFailed,
            FailureReason::ContextOverflow,
            FailureReason::ContentPolicy,
            FailureReason::DeadlineExhausted,
            FailureReason::StreamInterrupted,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A transport failure (no HTTP answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// Connection refused.
    ConnectionRefused,
    /// Connection reset or closed mid-answer.
    ConnectionReset,
    /// Timed out.
    Timeout,
    /// Name resolution failed.
    Dns,
    /// TLS handshake failed.
    Tls,
}

impl TransportError {
    /// Human-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportError::ConnectionRefused => "connection refused",
            TransportError::ConnectionReset => "connection reset",
            TransportError::Timeout => "timeout",
            TransportError::Dns => "DNS failure",
            TransportError::Tls => "TLS failure",
        }
    }
}

/// A candidate as shown to users: provider, model and origin. Every request's
/// trail holds its candidates, so the names are shared with the config's, not
/// copied. The origin is kept as its label: a stored trail reads back whatever
/// label it was written with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CandidateSummary {
    /// Provider name.
    pub provider: Arc<str>,
    /// Model name.
    pub model: Arc<str>,
    /// `main`, `main_fallback[i]`, `task`, `task_chain[i]`.
    pub origin: std::borrow::Cow<'static, str>,
}

impl From<&Candidate> for CandidateSummary {
    fn from(c: &Candidate) -> Self {
        Self {
            provider: c.provider.clone(),
            model: c.model.clone(),
            origin: c.origin.label(),
        }
    }
}

/// The recorded trail of one request, for `ExplainFallback`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    /// Request id.
    pub request_id: String,
    /// Who called.
    pub caller: Caller,
    /// When the request started, Unix ms.
    pub created_at: Millis,
    /// `None` when a candidate answered.
    pub failure: Option<FailureReason>,
    /// The caller's candidates, in order.
    pub candidates: Vec<CandidateSummary>,
    /// Every step, in order.
    pub steps: Vec<Step>,
}

/// Secret material of a provider credential. Every secret is a redacting type.
#[derive(Debug, Clone)]
pub enum Material {
    /// A static API key.
    ApiKey(secrecy::SecretString),
    /// An OAuth token set, refreshed with the RFC 6749 refresh grant.
    OAuth(OAuthTokens),
}

/// An OAuth token set and how to refresh it.
#[derive(Debug, Clone)]
pub struct OAuthTokens {
    /// Bearer access token sent to the provider.
    pub access_token: secrecy::SecretString,
    /// Refresh token; rotated by the token endpoint at each refresh.
    pub refresh_token: secrecy::SecretString,
    /// When the access token expires, Unix ms.
    pub expires_at: Option<Millis>,
    /// Token endpoint URL.
    pub token_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret, for confidential clients.
    pub client_secret: Option<secrecy::SecretString>,
    /// Scope sent with the refresh grant.
    pub scope: Option<String>,
}

impl Material {
    /// `api_key` or `oauth`.
    pub fn kind(&self) -> &'static str {
        match self {
            Material::ApiKey(_) => "api_key",
            Material::OAuth(_) => "oauth",
        }
    }

    /// What is sent to the provider: the key, or the access token.
    pub fn bearer(&self) -> &secrecy::SecretString {
        match self {
            Material::ApiKey(key) => key,
            Material::OAuth(t) => &t.access_token,
        }
    }
}

/// Where a credential stands at a moment: the one live / cooling / dead rule that
/// the admin API, the CLI's `list` and the metrics census all read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialState {
    /// Usable now.
    Live,
    /// In a cooldown that has not ended yet.
    Cooling,
    /// Marked dead (a dead mark wins over a cooldown).
    Dead,
}

impl CredentialState {
    /// The state of a credential that is `dead` or cools down until `cooldown_until`, at `now`.
    pub fn at(dead: bool, cooldown_until: Option<Millis>, now: Millis) -> Self {
        if dead {
            Self::Dead
        } else if cooldown_until.is_some_and(|t| t > now) {
            Self::Cooling
        } else {
            Self::Live
        }
    }
}
