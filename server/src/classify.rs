//! Classification of one upstream outcome of an LLM provider call.
//!
//! This module owns the mapping from what a provider answered (HTTP status,
//! headers and an optional body) or how the call failed (a [`TransportError`])
//! to an [`ErrorClass`], together with the wait the provider asks for and a
//! short, redacted detail for the trail. The detail is scrubbed of the exact
//! secrets a [`Scrubber`] holds (see [`crate::redact`]), then of anything that
//! looks like a key, then cut.
//!
//! It must stay pure: no I/O, no clock (time enters as a `now` value), no
//! logging, no async runtime, no HTTP client. Every function is total: any
//! status, header or body, however malformed, yields a classification and
//! never panics.
//!
//! A 3xx is a redirect, never followed: [`ErrorClass::InvalidRequest`], its detail
//! naming the location (without query string). Then rules are tried in this
//! order, the first match wins (4xx and 5xx only; 2xx is [`ErrorClass::None`],
//! anything else [`ErrorClass::Unknown`]):
//!
//! 1. `auth_terminal`: 400/401/403 with a terminal code (`token_invalidated`...).
//! 2. `billing`: 402, a billing code on any status, or an out-of-credit
//!    message on a 4xx (so OpenAI's `insufficient_quota` 429 is billing).
//! 3. `auth`: 401, or a 4xx with `authentication_error`/`invalid_api_key`.
//! 4. `context_overflow`: 413, a context code on a 4xx, or a context message on a 400.
//! 5. `content_policy`: a content code on a 4xx, or a policy message on a 400/403.
//! 6. `overloaded`: 503, 529, or an overloaded code/type on any status.
//! 7. `rate_limit`: 429, or a rate-limit code on a 4xx.
//! 8. `model_unavailable`: 404, a model code on a 4xx, or a missing-model message on a 400.
//! 9. `forbidden`: 403, or a 4xx with `permission_error`.
//! 10. `server`: any other 5xx.
//! 11. `invalid_request`: any other 4xx.

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::domain::{ErrorClass, Millis, TransportError};
use crate::redact::Scrubber;

/// Result of classifying one upstream outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The class of the outcome.
    pub class: ErrorClass,
    /// HTTP status, 0 for a transport failure.
    pub http_status: u16,
    /// How long the provider asks us to wait (Retry-After, retry-after-ms, provider reset headers), in ms.
    pub retry_after_ms: Option<u64>,
    /// Short human-readable summary for the trail, e.g. `401 token_invalidated: Your authentication token has been invalidated`.
    /// Redacted: never echoes a secret, at most 200 chars.
    pub detail: String,
}

/// Classifies an HTTP answer of a provider.
///
/// `body` may be empty, non-JSON, truncated or not UTF-8. `now` (Unix ms) only
/// turns absolute reset times into a delay, which saturates at 0. The retry
/// hint is filled for `rate_limit` and `billing` (Retry-After family, then
/// provider reset headers) and for `overloaded` (Retry-After family only).
///
/// Only the pattern heuristic redacts the detail: for text that holds none of
/// our secrets (simulations). Real provider answers go through
/// [`classify_http_scrubbed`].
pub fn classify_http(status: u16, headers: &HeaderMap, body: &[u8], now: Millis) -> Classification {
    classify_http_scrubbed(status, headers, body, now, &Scrubber::default())
}

/// [`classify_http`], with every secret of `scrubber` removed from the detail
/// before it is redacted by pattern and truncated.
pub fn classify_http_scrubbed(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Millis,
    scrubber: &Scrubber,
) -> Classification {
    if (200..300).contains(&status) {
        return Classification {
            class: ErrorClass::None,
            http_status: status,
            retry_after_ms: None,
            detail: status.to_string(),
        };
    }
    if (300..400).contains(&status) {
        return redirect(status, headers, scrubber);
    }
    let info = ErrorInfo::parse(body);
    let class = class_of(status, &Signals::new(info.as_ref()));
    let retry_after_ms = match class {
        ErrorClass::RateLimit | ErrorClass::Billing => {
            requested_delay(headers, now).or_else(|| reset_delay(headers, now))
        }
        ErrorClass::Overloaded => requested_delay(headers, now),
        _ => None,
    };
    Classification {
        class,
        http_status: status,
        retry_after_ms,
        detail: detail(status, info.as_ref(), body.len(), scrubber),
    }
}

/// A redirect, which is never followed (it would carry the key, and on a 307 the
/// prompt, to another host): [`ErrorClass::InvalidRequest`], so the policy moves
/// to the next candidate without retrying one that will redirect again. The
/// detail names the location without its query string, fragment or user info.
fn redirect(status: u16, headers: &HeaderMap, scrubber: &Scrubber) -> Classification {
    let location = headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| {
            let l = l.split(['?', '#']).next().unwrap_or("");
            // `scheme://user:pass@host/...`: drop what precedes the `@` of the authority.
            match l.split_once("://") {
                Some((scheme, rest)) => {
                    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    let host = authority.rsplit('@').next().unwrap_or(authority);
                    format!("{scheme}://{host}{path}")
                }
                None => l.to_owned(),
            }
        });
    let detail = match location {
        Some(l) if !l.is_empty() => format!("{status} redirect to {} (not followed)", one_line(&l)),
        _ => format!("{status} redirect (not followed)"),
    };
    Classification {
        class: ErrorClass::InvalidRequest,
        http_status: status,
        retry_after_ms: None,
        detail: truncate_chars(redact(&scrubber.scrub(&detail)), MAX_DETAIL_CHARS),
    }
}

/// Classifies a call that got no HTTP answer: always [`ErrorClass::Transport`], status 0.
pub fn classify_transport(error: TransportError) -> Classification {
    Classification {
        class: ErrorClass::Transport,
        http_status: 0,
        retry_after_ms: None,
        detail: error.as_str().to_owned(),
    }
}

/// Classifies an error event received inside a 2xx stream (an OpenAI-style
/// `data: {"error": ...}` or Anthropic's `event: error`), before or after text.
///
/// Such events carry no HTTP status of their own: the status the rules see is the
/// error's numeric code when it is one (OpenRouter), else the one its type implies
/// (`overloaded_error` 529, `rate_limit_error` 429, ...), else 500. The
/// classification keeps `http_status` (the stream's own, normally 200).
///
/// Like [`classify_http`], redacts by pattern only; see [`classify_stream_error_scrubbed`].
pub fn classify_stream_error(http_status: u16, payload: &[u8]) -> Classification {
    classify_stream_error_scrubbed(http_status, payload, &Scrubber::default())
}

/// [`classify_stream_error`], with every secret of `scrubber` removed from the
/// detail before it is redacted by pattern and truncated.
pub fn classify_stream_error_scrubbed(
    http_status: u16,
    payload: &[u8],
    scrubber: &Scrubber,
) -> Classification {
    let info = ErrorInfo::parse(payload);
    let implied = info.as_ref().and_then(|i| {
        i.numeric_code
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .or_else(|| {
                i.kind
                    .as_deref()
                    .or(i.code.as_deref())
                    .and_then(implied_status)
            })
    });
    let status = implied.unwrap_or(500);
    let class = class_of(status, &Signals::new(info.as_ref()));
    let detail = detail(status, info.as_ref(), payload.len(), scrubber);
    Classification {
        class,
        http_status,
        retry_after_ms: None,
        detail: truncate_chars(format!("stream error event {detail}"), MAX_DETAIL_CHARS),
    }
}

/// The HTTP status an in-stream error type or code stands for (Anthropic's error
/// types, OpenAI Responses codes).
fn implied_status(kind: &str) -> Option<u16> {
    Some(match kind.trim().to_ascii_lowercase().as_str() {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "overloaded_error" => 529,
        // OpenAI Responses `error` / `response.failed` codes (Codex included).
        "token_invalidated" | "token_revoked" | "invalid_token" | "invalid_api_key" => 401,
        "context_length_exceeded" | "invalid_prompt" | "invalid_image" => 400,
        "rate_limit_exceeded" => 429,
        "server_error" => 500,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

/// Codes/types meaning the credential is dead for good.
const TERMINAL_AUTH_CODES: &[&str] = &[
    "token_invalidated",
    "token_revoked",
    "invalid_token",
    "invalid_grant",
    "refresh_token_reused",
];
/// Codes/types of a (possibly recoverable) authentication failure.
const AUTH_CODES: &[&str] = &["authentication_error", "invalid_api_key"];
/// Codes/types of a refused permission.
const FORBIDDEN_CODES: &[&str] = &["permission_error"];
/// Codes/types meaning out of credit or quota.
const BILLING_CODES: &[&str] = &[
    "insufficient_quota",
    "billing_hard_limit_reached",
    "billing_not_active",
    "billing_error",
    "credit_balance_too_low",
    "insufficient_credits",
    "insufficient_balance",
    "payment_required",
];
/// Lowercase message fragments meaning out of credit or quota.
const BILLING_PHRASES: &[&str] = &[
    "exceeded your current quota",
    "insufficient quota",
    "insufficient_quota",
    "insufficient credit",
    "insufficient balance",
    "insufficient account balance",
    "insufficient funds",
    "credit balance is too low",
    "credit balance too low",
    "balance is too low",
    "out of credit",
    "no credits",
    "not enough credits",
    "requires more credits",
    "billing hard limit",
    "payment required",
];
/// Codes/types of an overloaded provider.
const OVERLOADED_CODES: &[&str] = &["overloaded_error", "server_is_overloaded", "overloaded"];
/// Codes/types of a rate limit.
const RATE_LIMIT_CODES: &[&str] = &["rate_limit_error", "rate_limit_exceeded"];
/// Codes/types of a request too large for the model.
const CONTEXT_CODES: &[&str] = &[
    "context_length_exceeded",
    "string_above_max_length",
    "request_too_large",
];
/// Lowercase message fragments of a request too large for the model.
const CONTEXT_PHRASES: &[&str] = &[
    "maximum context length",
    "context length",
    "context_length",
    "context window",
    "context limit",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "reduce the length of the messages",
];
/// Codes/types of content refused by the provider.
const CONTENT_CODES: &[&str] = &["content_policy_violation", "content_filter"];
/// Lowercase message fragments of content refused by the provider.
const CONTENT_PHRASES: &[&str] = &[
    "content management policy",
    "content policy",
    "content filter",
    "usage policy",
    "usage policies",
    "flagged",
];
/// Codes/types of a missing or unsupported model.
const MODEL_CODES: &[&str] = &["model_not_found", "unsupported_model"];
/// Lowercase message fragments naming a missing or unsupported model.
const MODEL_PHRASES: &[&str] = &[
    "model_not_found",
    "model not found",
    "no such model",
    "unknown model",
    "unsupported model",
    "invalid model",
    "not a valid model",
    "is not a supported model",
];
/// What may follow the word `model` to mean the model itself is missing or unsupported.
const MODEL_MISSING_AFTER: &[&str] = &[
    "does not exist",
    "not found",
    "not supported",
    "not available",
];
/// How far after `model` [`MODEL_MISSING_AFTER`] is looked for, in bytes.
const MODEL_WINDOW: usize = 120;

/// Applies the rules, in the order of the module doc, to a non-2xx status.
fn class_of(status: u16, s: &Signals) -> ErrorClass {
    if !(400..600).contains(&status) {
        return ErrorClass::Unknown;
    }
    let client = status < 500;
    if matches!(status, 400 | 401 | 403) && s.has_id(TERMINAL_AUTH_CODES) {
        ErrorClass::AuthTerminal
    } else if status == 402 || s.has_id(BILLING_CODES) || (client && s.says(BILLING_PHRASES)) {
        ErrorClass::Billing
    } else if status == 401 || (client && s.has_id(AUTH_CODES)) {
        ErrorClass::Auth
    } else if status == 413
        || (client && s.has_id(CONTEXT_CODES))
        || (status == 400 && s.says(CONTEXT_PHRASES))
    {
        ErrorClass::ContextOverflow
    } else if (client && s.has_id(CONTENT_CODES))
        || (matches!(status, 400 | 403) && (s.says(CONTENT_PHRASES) || s.mentions_safety()))
    {
        ErrorClass::ContentPolicy
    } else if matches!(status, 503 | 529) || s.has_id(OVERLOADED_CODES) {
        ErrorClass::Overloaded
    } else if status == 429 || (client && s.has_id(RATE_LIMIT_CODES)) {
        ErrorClass::RateLimit
    } else if status == 404
        || (client && s.has_id(MODEL_CODES))
        || (status == 400 && s.mentions_missing_model())
    {
        ErrorClass::ModelUnavailable
    } else if status == 403 || (client && s.has_id(FORBIDDEN_CODES)) {
        ErrorClass::Forbidden
    } else if client {
        ErrorClass::InvalidRequest
    } else {
        ErrorClass::Server
    }
}

/// What the rules look at: lowercase codes/types and lowercase message text.
#[derive(Debug, Default)]
struct Signals {
    /// Lowercase code and type strings.
    ids: Vec<String>,
    /// Lowercase message, plus any nested upstream message.
    text: String,
}

impl Signals {
    fn new(info: Option<&ErrorInfo>) -> Self {
        let Some(info) = info else {
            return Self::default();
        };
        let ids = [&info.code, &info.kind]
            .into_iter()
            .flatten()
            .map(|id| id.trim().to_ascii_lowercase())
            .collect();
        let text = [&info.message, &info.upstream]
            .into_iter()
            .flatten()
            .map(|t| t.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        Self { ids, text }
    }

    /// Whether a code or type is one of `list`.
    fn has_id(&self, list: &[&str]) -> bool {
        self.ids.iter().any(|id| list.contains(&id.as_str()))
    }

    /// Whether the message contains one of `phrases`.
    fn says(&self, phrases: &[&str]) -> bool {
        phrases.iter().any(|p| self.text.contains(p))
    }

    /// "safety" as a refusal, not as the name of a `safety_settings` parameter.
    fn mentions_safety(&self) -> bool {
        self.text.contains("safety")
            && self
                .text
                .replace("safety_setting", "")
                .replace("safety setting", "")
                .contains("safety")
    }

    /// A message saying the model itself is missing or unsupported: `model`
    /// followed closely by "does not exist"/"not supported"/..., so that
    /// "'max_tokens' is not supported with this model" does not count.
    fn mentions_missing_model(&self) -> bool {
        if self.says(MODEL_PHRASES) {
            return true;
        }
        let text = self.text.as_str();
        text.match_indices("model").any(|(at, word)| {
            let start = at + word.len();
            let mut end = (start + MODEL_WINDOW).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let window = &text[start..end];
            MODEL_MISSING_AFTER.iter().any(|p| window.contains(p))
        })
    }
}

// ---------------------------------------------------------------------------
// Body
// ---------------------------------------------------------------------------

/// The error fields found in a JSON body, whatever its shape.
#[derive(Debug, Default)]
struct ErrorInfo {
    /// String code (`insufficient_quota`, `invalid_grant`, ...).
    code: Option<String>,
    /// Numeric code (OpenRouter repeats the status there).
    numeric_code: Option<i64>,
    /// Type (`overloaded_error`, `invalid_request_error`, ...), or a Google-style status.
    kind: Option<String>,
    /// Human-readable message.
    message: Option<String>,
    /// Nested upstream message (OpenRouter `metadata.raw`), used by the rules only.
    upstream: Option<String>,
}

impl ErrorInfo {
    /// `None` when the body is not JSON.
    fn parse(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let mut info = Self::default();
        let value = match &value {
            Value::Array(items) => items.first().unwrap_or(&Value::Null),
            other => other,
        };
        match value {
            Value::Object(map) => info.read_top(map),
            Value::String(text) => info.message = non_empty(text),
            _ => {}
        }
        Some(info)
    }

    /// Reads the top level: `error` (object or OAuth string), `detail` (Codex),
    /// `response.error` (a Responses `response.failed` event), fallbacks.
    fn read_top(&mut self, map: &Map<String, Value>) {
        if let Some(Value::Object(error)) = map.get("response").and_then(|r| r.get("error")) {
            self.read_error(error);
        }
        match map.get("error") {
            Some(Value::Object(error)) => self.read_error(error),
            Some(Value::String(error)) if is_identifier(error) => {
                self.code = non_empty(error);
            }
            Some(Value::String(error)) => self.message = non_empty(error),
            _ => {}
        }
        match map.get("detail") {
            Some(Value::Object(detail)) => self.read_error(detail),
            Some(Value::String(detail)) => fill(&mut self.message, Some(detail)),
            Some(Value::Array(items)) => {
                if let Some(Value::Object(first)) = items.first() {
                    fill_from(&mut self.message, first, &["msg", "message"]);
                }
            }
            _ => {}
        }
        fill_from(
            &mut self.message,
            map,
            &["error_description", "message", "msg"],
        );
        fill_from(&mut self.code, map, &["code"]);
        if self.numeric_code.is_none() {
            self.numeric_code = map.get("code").and_then(Value::as_i64);
        }
    }

    /// Reads an error object: OpenAI, OpenRouter, Anthropic, Codex `detail`, Google.
    fn read_error(&mut self, error: &Map<String, Value>) {
        match error.get("code") {
            Some(Value::String(code)) => fill(&mut self.code, Some(code)),
            Some(Value::Number(code)) if self.numeric_code.is_none() => {
                self.numeric_code = code.as_i64();
            }
            _ => {}
        }
        fill_from(&mut self.kind, error, &["type", "status"]);
        fill_from(&mut self.message, error, &["message", "msg"]);
        if let Some(Value::Object(metadata)) = error.get("metadata") {
            fill_from(&mut self.upstream, metadata, &["raw"]);
        }
    }

    /// The code shown in the detail: string code, else type, else a numeric
    /// code that differs from the status.
    fn label(&self, status: u16) -> Option<String> {
        self.code.clone().or_else(|| self.kind.clone()).or_else(|| {
            self.numeric_code
                .filter(|code| *code != i64::from(status))
                .map(|code| code.to_string())
        })
    }
}

/// Sets `slot` to the first non-empty string among `keys` of `map`, unless already set.
fn fill_from(slot: &mut Option<String>, map: &Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(Value::String(text)) = map.get(*key) {
            fill(slot, Some(text));
        }
    }
}

/// Sets `slot` to `text` if it is unset and `text` is not blank.
fn fill(slot: &mut Option<String>, text: Option<&String>) {
    if slot.is_none() {
        *slot = text.and_then(|t| non_empty(t));
    }
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// An OAuth-style error code: a short word of `[A-Za-z0-9_.-]`.
fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.chars().all(is_run_char)
}

// ---------------------------------------------------------------------------
// Detail and redaction
// ---------------------------------------------------------------------------

/// Upper bound of [`Classification::detail`], in chars.
const MAX_DETAIL_CHARS: usize = 200;
/// What replaces a secret.
const REDACTED: &str = crate::redact::REDACTED;
/// Shortest run of `[A-Za-z0-9_.-]` that may be a key or token.
const MIN_SECRET_LEN: usize = 20;

/// `{status} {code}: {message}`, redacted and truncated; never raw body bytes.
///
/// The exact secrets of `scrubber` go first, from each piece as the provider
/// sent it (before whitespace is collapsed), then the pattern heuristic, then
/// the cut: a cut never leaves part of a secret behind.
fn detail(status: u16, info: Option<&ErrorInfo>, body_len: usize, scrubber: &Scrubber) -> String {
    let raw = match info {
        None if body_len == 0 => format!("{status} (empty body)"),
        None => format!("{status} (unparsed body, {body_len} bytes)"),
        Some(info) => {
            let label = info.label(status).map(|l| one_line(&scrubber.scrub(&l)));
            let message = info
                .message
                .as_deref()
                .map(|m| one_line(&scrubber.scrub(m)));
            match (label, message) {
                (Some(label), Some(message)) => format!("{status} {label}: {message}"),
                (Some(label), None) => format!("{status} {label}"),
                (None, Some(message)) => format!("{status}: {message}"),
                (None, None) => status.to_string(),
            }
        }
    };
    truncate_chars(redact(&scrubber.scrub(&raw)), MAX_DETAIL_CHARS)
}

/// Collapses every whitespace run, newlines included, into one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Keeps at most `max` chars, ending with `…` when cut.
fn truncate_chars(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Replaces what looks like a secret with [`REDACTED`]: the token after
/// `Bearer`, and any run of 20+ `[A-Za-z0-9_.-]` that starts with a key prefix
/// (`sk-`, `eyJ`...) or holds a 16+ character segment mixing letters and digits.
fn redact(text: &str) -> String {
    redact_runs(&redact_bearer(text))
}

fn is_run_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn looks_like_secret(run: &str) -> bool {
    if run.len() < MIN_SECRET_LEN {
        return false;
    }
    if ["sk-", "sk_", "Bearer", "eyJ", "xai-", "gsk_", "AIza"]
        .iter()
        .any(|p| run.starts_with(p))
    {
        return true;
    }
    // Keys carry a long unbroken alphanumeric segment mixing letters and digits;
    // model names (`claude-3-5-sonnet-20241022`) are short segments between dashes.
    run.split(['-', '_', '.']).any(|segment| {
        segment.len() >= SECRET_SEGMENT_LEN
            && segment.bytes().any(|b| b.is_ascii_alphabetic())
            && segment.bytes().any(|b| b.is_ascii_digit())
    })
}

/// Shortest unbroken alphanumeric segment that makes a run look like a key.
const SECRET_SEGMENT_LEN: usize = 16;

fn redact_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_run_char) {
        out.push_str(&rest[..start]);
        let from = &rest[start..];
        let len = from.find(|c| !is_run_char(c)).unwrap_or(from.len());
        // A trailing `.` ends a sentence, not a key: it stays.
        let run = from[..len].trim_end_matches('.');
        if looks_like_secret(run) {
            out.push_str(REDACTED);
            rest = &from[run.len()..];
        } else {
            out.push_str(&from[..len]);
            rest = &from[len..];
        }
    }
    out.push_str(rest);
    out
}

/// `Bearer <anything>` (any case) becomes `Bearer [redacted]`.
fn redact_bearer(text: &str) -> String {
    const WORD: &str = "bearer";
    // ASCII lowercasing keeps byte offsets, so indices into `lower` are valid in `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(WORD) {
        let at = search + found;
        let after = at + WORD.len();
        search = after;
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let tail = &text[after..];
        let gap = tail.len() - tail.trim_start().len();
        if !starts_word || gap == 0 || gap == tail.len() {
            continue;
        }
        let token_start = after + gap;
        let token_len = text[token_start..]
            .find(char::is_whitespace)
            .unwrap_or(text.len() - token_start);
        out.push_str(&text[copied..token_start]);
        out.push_str(REDACTED);
        copied = token_start + token_len;
        search = copied;
    }
    out.push_str(&text[copied..]);
    out
}

// ---------------------------------------------------------------------------
// Retry hints
// ---------------------------------------------------------------------------

/// OpenAI reset headers: Go-style durations.
const OPENAI_RESET_HEADERS: &[&str] = &["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"];
/// Anthropic reset headers: RFC 3339 timestamps.
const ANTHROPIC_RESET_HEADERS: &[&str] = &[
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
];
/// OpenRouter reset header: Unix ms timestamp.
const OPENROUTER_RESET_HEADER: &str = "x-ratelimit-reset";

/// The wait asked by `retry-after-ms`, else `retry-after` (seconds or HTTP-date).
fn requested_delay(headers: &HeaderMap, now: Millis) -> Option<u64> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(parse_decimal) {
        return Some(round_ms(ms));
    }
    let value = header(headers, "retry-after")?;
    match parse_decimal(value) {
        Some(seconds) => Some(round_ms(seconds * 1000.0)),
        None => parse_http_date(value).map(|at| delay_until(at, now)),
    }
}

/// The longest wait announced by the provider reset headers.
fn reset_delay(headers: &HeaderMap, now: Millis) -> Option<u64> {
    let openai = OPENAI_RESET_HEADERS
        .iter()
        .filter_map(|name| header(headers, name).and_then(parse_duration_ms));
    let anthropic = ANTHROPIC_RESET_HEADERS.iter().filter_map(|name| {
        header(headers, name)
            .and_then(parse_rfc3339)
            .map(|at| delay_until(at, now))
    });
    let openrouter = header(headers, OPENROUTER_RESET_HEADER)
        .and_then(parse_decimal)
        .map(|at| round_ms(at).saturating_sub(now));
    openai.chain(anthropic).chain(openrouter).max()
}

/// A header as trimmed, non-empty text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then_some(value)
}

/// Milliseconds from `now` until `at` (Unix ms), 0 when already past.
fn delay_until(at: i64, now: Millis) -> u64 {
    let delta = i128::from(at) - i128::from(now);
    u64::try_from(delta.max(0)).unwrap_or(u64::MAX)
}

/// Rounds a non-negative number of ms; saturates on overflow.
fn round_ms(ms: f64) -> u64 {
    // `as` saturates, and maps NaN to 0.
    ms.round() as u64
}

/// A non-negative decimal number: digits with at most one `.`.
fn parse_decimal(text: &str) -> Option<f64> {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let dots = text.bytes().filter(|b| *b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != text.len() {
        return None;
    }
    text.parse().ok().filter(|v: &f64| v.is_finite())
}

/// A Go-style duration as sent by OpenAI (`1s`, `6m0s`, `120ms`, `1h2m3.5s`),
/// in ms; a bare number is seconds.
fn parse_duration_ms(text: &str) -> Option<u64> {
    if let Some(seconds) = parse_decimal(text) {
        return Some(round_ms(seconds * 1000.0));
    }
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let value = parse_decimal(&rest[..number_len])?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            "us" | "µs" => 1e-3,
            "ns" => 1e-6,
            _ => return None,
        };
        total += value * unit_ms;
        rest = &rest[unit_len..];
    }
    Some(round_ms(total))
}

/// An HTTP-date (IMF-fixdate, RFC 850 or asctime), as Unix ms.
fn parse_http_date(text: &str) -> Option<i64> {
    const WEEKDAYS: &[&str] = &[
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let (mut day, mut month, mut year, mut time) = (None, None, None, None);
    for token in text.split([' ', ',', '-']).filter(|t| !t.is_empty()) {
        let lower = token.to_ascii_lowercase();
        if let Some(m) = month_number(&lower) {
            if month.replace(m).is_some() {
                return None;
            }
        } else if token.contains(':') {
            if time.replace(parse_hms(token)?).is_some() {
                return None;
            }
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            let number: i64 = token.parse().ok()?;
            if day.is_none() && token.len() <= 2 {
                day = Some(u32::try_from(number).ok()?);
            } else if year.is_none() && token.len() == 4 {
                year = Some(number);
            } else if year.is_none() && token.len() == 2 {
                // RFC 850 two-digit year.
                year = Some(if number < 70 {
                    2000 + number
                } else {
                    1900 + number
                });
            } else {
                return None;
            }
        } else if !(WEEKDAYS.contains(&lower.as_str()) || lower == "gmt" || lower == "utc") {
            return None;
        }
    }
    let (hour, minute, second) = time?;
    unix_ms(year?, month?, day?, (hour, minute, second, 0))
}

fn month_number(lower: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let index = MONTHS.iter().position(|m| *m == lower)?;
    u32::try_from(index + 1).ok()
}

/// `HH:MM:SS`.
fn parse_hms(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split(':').map(|p| {
        (!p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    });
    let hms = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(hms)
}

/// An RFC 3339 timestamp (`2024-05-01T12:00:30.5Z`, `...+02:00`), as Unix ms.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if bytes.len() < 20
        || separators.iter().any(|(i, c)| bytes[*i] != *c)
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let field = |from: usize, to: usize| -> Option<u32> {
        let part = text.get(from..to)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let year = i64::from(field(0, 4)?);
    let (month, day) = (field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    let mut rest = text.get(19..)?;
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        for position in 0..3 {
            let digit = fraction.as_bytes().get(position).filter(|_| position < len);
            millis = millis * 10 + digit.map_or(0, |d| u32::from(*d - b'0'));
        }
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, minutes) = rest.get(1..)?.split_once(':')?;
            let two_digits = |p: &str| -> Option<i64> {
                (p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            };
            let (hours, minutes) = (two_digits(hours)?, two_digits(minutes)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 60 + minutes)
        }
    };
    let local = unix_ms(year, month, day, (hour, minute, second, millis))?;
    Some(local - offset_minutes * 60_000)
}

/// Unix ms of a UTC civil time; `None` when a field is out of range.
fn unix_ms(
    year: i64,
    month: u32,
    day: u32,
    (hour, minute, second, millis): (u32, u32, u32, u32),
) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    // A leap second (:60) counts as the next second.
    if !(1..=9999).contains(&year)
        || !(1..=month_days).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || millis > 999
    {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3_600 + minute * 60 + second);
    Some(seconds * 1_000 + i64::from(millis))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Count years from March so that the leap day ends the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests;
