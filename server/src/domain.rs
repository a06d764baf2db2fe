//! Domain types shared by every layer: callers, chat requests, candidates, error
//! classes, policy actions and trail steps.
//!
//! Depends on nothing but `std`, `serde` and `secrecy`: no proto, no I/O.

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
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Primary => f.write_str("primary"),
            Caller::Aux(task) => write!(f, "aux:{task}"),
        }
    }
}

/// Author of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
}

/// A validated completion request. Messages are shared, never copied per attempt.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The conversation, at least one message.
    pub messages: Arc<[Message]>,
    /// Overrides the model of the first candidate.
    pub model: Option<String>,
    /// Upper bound on generated tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature in [0, 2].
    pub temperature: Option<f64>,
}

/// Token usage of a completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
}

/// The answer of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAnswer {
    /// Generated text.
    pub content: String,
    /// Token usage.
    pub usage: Usage,
    /// Model the provider says answered, when it says.
    pub model: Option<String>,
}

/// Wire protocol of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible `POST {base_url}/chat/completions` endpoint.
    Openai,
    /// Anthropic's Messages API, `POST {base_url}/v1/messages`.
    Anthropic,
}

/// A provider and a model: one entry of a fallback list, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Provider name from the config.
    pub provider: Arc<str>,
    /// Model name sent to the provider.
    pub model: Arc<str>,
}

/// Where a candidate comes from in the caller's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The main agent model.
    Main,
    /// `model.fallback_providers[i]`.
    MainFallback(usize),
    /// The task's own provider.
    Task,
    /// `auxiliary.<task>.fallback_chain[i]`.
    TaskChain(usize),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Main => f.write_str("main"),
            Origin::MainFallback(i) => write!(f, "main_fallback[{i}]"),
            Origin::Task => f.write_str("task"),
            Origin::TaskChain(i) => write!(f, "task_chain[{i}]"),
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

/// What a trail step was. One definition of "attempt" for every count Switchyard
/// shows: failure messages, the HTTP front door's headers and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A provider was contacted (whatever it answered).
    Attempt,
    /// A credential refresh, before use or after a refused token: the token
    /// endpoint was contacted, not the provider.
    Refresh,
    /// A candidate that was not tried (a duplicate, or no usable key).
    Skip,
    /// The run stopped with nothing left to try, or no time left.
    GiveUp,
    /// A streamed answer broke off: the end of an attempt already counted.
    StopStream,
}

impl StepKind {
    /// snake_case name, as in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Attempt => "attempt",
            StepKind::Refresh => "refresh",
            StepKind::Skip => "skip",
            StepKind::GiveUp => "give_up",
            StepKind::StopStream => "stop_stream",
        }
    }
}

impl Step {
    /// What this step was. A provider's answer always has a status, or the
    /// `transport` class when there was none; a refresh step has neither (status
    /// 0 and the class `none`, `auth` or `auth_terminal`).
    pub fn kind(&self) -> StepKind {
        match (self.action, &self.credential_id) {
            (Action::StopStream, _) => StepKind::StopStream,
            (Action::SkipCandidate, _) => StepKind::Skip,
            (Action::GiveUp, None) => StepKind::GiveUp,
            (_, None) => StepKind::Skip,
            (_, Some(_))
                if self.http_status == 0
                    && matches!(
                        self.error_class,
                        ErrorClass::None | ErrorClass::Auth | ErrorClass::AuthTerminal
                    ) =>
            {
                StepKind::Refresh
            }
            (_, Some(_)) => StepKind::Attempt,
        }
    }
}

/// Longest trail reason, everything included: the provider's text, notes and the
/// policy's own words. Longer ones are cut in the middle by [`Step::cut_reason`].
pub const MAX_REASON_CHARS: usize = 200;

/// Longest tail kept whole by [`Step::cut_reason`]: the policy's decision.
const MAX_REASON_TAIL_CHARS: usize = 100;

impl Step {
    /// Cuts the reason to [`MAX_REASON_CHARS`]. The policy appends its decision
    /// after the last `; ` (`credential marked dead`, `cooling down for 3600 s`):
    /// that tail is kept and the provider's text before it is shortened, with `…`
    /// where text was cut. The provider's text was scrubbed of secrets before any
    /// cut, so a cut never leaves part of one.
    pub fn cut_reason(&mut self) {
        let chars = self.reason.chars().count();
        if chars <= MAX_REASON_CHARS {
            return;
        }
        let tail: String = match self.reason.rfind("; ") {
            Some(at) if self.reason[at..].chars().count() <= MAX_REASON_TAIL_CHARS => {
                self.reason[at..].to_owned()
            }
            _ => String::new(),
        };
        let head_chars = MAX_REASON_CHARS - 1 - tail.chars().count();
        let mut cut: String = self.reason.chars().take(head_chars).collect();
        cut.push('…');
        cut.push_str(&tail);
        self.reason = cut;
    }
}

/// Cuts every reason of a trail (see [`Step::cut_reason`]).
pub fn cut_reasons(mut steps: Vec<Step>) -> Vec<Step> {
    steps.iter_mut().for_each(Step::cut_reason);
    steps
}

/// Steps of a trail counted by [`StepKind`]: `attempts` are provider contacts only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Steps where a provider was contacted.
    pub attempts: usize,
    /// Credential refreshes.
    pub refreshes: usize,
    /// Candidates skipped.
    pub skips: usize,
    /// Give-up steps (0 or 1).
    pub give_ups: usize,
}

impl StepCounts {
    /// Counts the steps of a trail.
    pub fn of(steps: &[Step]) -> Self {
        let mut counts = StepCounts::default();
        for step in steps {
            match step.kind() {
                StepKind::Attempt => counts.attempts += 1,
                StepKind::Refresh => counts.refreshes += 1,
                StepKind::Skip => counts.skips += 1,
                StepKind::GiveUp => counts.give_ups += 1,
                StepKind::StopStream => {}
            }
        }
        counts
    }
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

/// A candidate as shown to users: provider, model and origin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CandidateSummary {
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// `main`, `main_fallback[i]`, `task`, `task_chain[i]`.
    pub origin: String,
}

impl From<&Candidate> for CandidateSummary {
    fn from(c: &Candidate) -> Self {
        Self {
            provider: c.provider.to_string(),
            model: c.model.to_string(),
            origin: c.origin.to_string(),
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

#[cfg(test)]
mod step_kind_tests {
    use super::*;

    #[test]
    fn a_long_reason_is_cut_to_200_characters_keeping_the_policys_words() {
        let mut s = step(Some("k"), ErrorClass::Billing, 402, Action::NextCandidate);
        s.reason = format!("402: {}; no retry of an out-of-credit key", "x".repeat(300));
        s.cut_reason();
        assert_eq!(s.reason.chars().count(), MAX_REASON_CHARS, "{}", s.reason);
        assert!(s.reason.starts_with("402: xxx"), "{}", s.reason);
        assert!(
            s.reason.ends_with("x…; no retry of an out-of-credit key"),
            "{}",
            s.reason
        );
        // Without a short tail, the end is cut.
        s.reason = "é".repeat(500);
        s.cut_reason();
        assert_eq!(s.reason.chars().count(), MAX_REASON_CHARS);
        assert!(s.reason.ends_with('…'));
        // A short reason is left alone.
        s.reason = "answered".into();
        s.cut_reason();
        assert_eq!(s.reason, "answered");
    }

    fn step(cred: Option<&str>, class: ErrorClass, status: u16, action: Action) -> Step {
        Step {
            candidate_index: 0,
            provider: if action == Action::GiveUp { "" } else { "p" }.into(),
            model: "m".into(),
            credential_id: cred.map(Into::into),
            error_class: class,
            http_status: status,
            action,
            reason: String::new(),
            duration_ms: 0,
        }
    }

    #[test]
    fn every_kind_of_step_is_told_apart() {
        let k = Some("k");
        let cases = [
            (
                step(k, ErrorClass::None, 200, Action::Succeed),
                StepKind::Attempt,
            ),
            (
                step(k, ErrorClass::Transport, 0, Action::RetrySame),
                StepKind::Attempt,
            ),
            (
                step(k, ErrorClass::Auth, 401, Action::RefreshAndRetry),
                StepKind::Attempt,
            ),
            // Refresh before use, and refreshes that failed: no provider contacted.
            (
                step(k, ErrorClass::None, 0, Action::RefreshAndRetry),
                StepKind::Refresh,
            ),
            (
                step(k, ErrorClass::AuthTerminal, 0, Action::NextCandidate),
                StepKind::Refresh,
            ),
            (
                step(k, ErrorClass::Auth, 0, Action::RotateCredential),
                StepKind::Refresh,
            ),
            (
                step(None, ErrorClass::None, 0, Action::SkipCandidate),
                StepKind::Skip,
            ),
            (
                step(None, ErrorClass::None, 0, Action::GiveUp),
                StepKind::GiveUp,
            ),
            (
                step(k, ErrorClass::Transport, 200, Action::StopStream),
                StepKind::StopStream,
            ),
        ];
        for (s, kind) in &cases {
            assert_eq!(s.kind(), *kind, "{s:?}");
        }
        let steps: Vec<Step> = cases.into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            StepCounts::of(&steps),
            StepCounts {
                attempts: 3,
                refreshes: 3,
                skips: 1,
                give_ups: 1
            }
        );
    }
}
