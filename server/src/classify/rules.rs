//! The class rules: which status, code, type or message means which
//! [`ErrorClass`], tried in the order of the [`crate::classify`] module doc.
//!
//! Owns the code and phrase lists and the order of the rules. It reads the
//! fields [`super::body::ErrorInfo`] found in a body; it never sees raw bytes.

use super::body::ErrorInfo;
use crate::domain::ErrorClass;

/// The HTTP status an in-stream error type stands for (Anthropic's error types).
pub(super) fn implied_status(kind: &str) -> Option<u16> {
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
pub(super) fn class_of(status: u16, s: &Signals) -> ErrorClass {
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
pub(super) struct Signals {
    /// Lowercase code and type strings.
    ids: Vec<String>,
    /// Lowercase message, plus any nested upstream message.
    text: String,
}

impl Signals {
    pub(super) fn new(info: Option<&ErrorInfo>) -> Self {
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

/// What the rules read as `class`, in words (the "from" column of the README's
/// error-class table), built from the code lists above where they are short.
pub(super) fn signals_of(class: ErrorClass) -> String {
    let codes = |list: &[&str]| {
        list.iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match class {
        ErrorClass::None => "2xx".into(),
        ErrorClass::Auth => format!("401, or a 4xx with {}", codes(AUTH_CODES)),
        ErrorClass::AuthTerminal => {
            format!("400, 401 or 403 with {}", codes(TERMINAL_AUTH_CODES))
        }
        ErrorClass::Forbidden => format!("403, or a 4xx with {}", codes(FORBIDDEN_CODES)),
        ErrorClass::Billing => {
            "402, `insufficient_quota` or another billing code, a credit or quota message on a 4xx"
                .into()
        }
        ErrorClass::RateLimit => format!("429, or a 4xx with {}", codes(RATE_LIMIT_CODES)),
        ErrorClass::Overloaded => format!("503, 529, {}", codes(OVERLOADED_CODES)),
        ErrorClass::Server => "other 5xx".into(),
        ErrorClass::Transport => "refused, reset, DNS, TLS, timeout".into(),
        ErrorClass::Unknown => "anything else, such as an unreadable 200".into(),
        ErrorClass::ContextOverflow => {
            "413, `context_length_exceeded` or another context code on a 4xx, \
             \"maximum context length\" or another context message on a 400"
                .into()
        }
        ErrorClass::ContentPolicy => format!(
            "{} on a 4xx, a policy or safety message on a 400 or 403",
            codes(CONTENT_CODES)
        ),
        ErrorClass::ModelUnavailable => format!(
            "404, {} on a 4xx, a missing-model message on a 400",
            codes(MODEL_CODES)
        ),
        ErrorClass::InvalidRequest => {
            "other 4xx; a 3xx redirect; a response over `limits.max_response_bytes`".into()
        }
    }
}
