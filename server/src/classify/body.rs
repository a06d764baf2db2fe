//! Error body shapes: what a provider's error body says (code, type, message),
//! whatever its shape (OpenAI, OpenRouter, Anthropic, OAuth, Codex, Google,
//! FastAPI), and the short, redacted detail the trail shows of it.
//!
//! Never echoes raw body bytes: a body that is not JSON is described by its length.

use serde_json::{Map, Value};

use crate::redact::Scrubber;
use crate::redact::pattern::redact;

/// The error fields found in a JSON body, whatever its shape.
#[derive(Debug, Default)]
pub(super) struct ErrorInfo {
    /// String code (`insufficient_quota`, `invalid_grant`, ...).
    pub(super) code: Option<String>,
    /// Numeric code (OpenRouter repeats the status there).
    pub(super) numeric_code: Option<i64>,
    /// Type (`overloaded_error`, `invalid_request_error`, ...), or a Google-style status.
    pub(super) kind: Option<String>,
    /// Human-readable message.
    pub(super) message: Option<String>,
    /// Nested upstream message (OpenRouter `metadata.raw`), used by the rules only.
    pub(super) upstream: Option<String>,
}

impl ErrorInfo {
    /// `None` when the body is not JSON.
    pub(super) fn parse(body: &[u8]) -> Option<Self> {
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
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Upper bound of [`Classification::detail`], in chars.
pub(super) const MAX_DETAIL_CHARS: usize = 200;

/// `{status} {code}: {message}`, redacted and truncated; never raw body bytes.
///
/// The exact secrets of `scrubber` go first, from each piece as the provider
/// sent it (before whitespace is collapsed), then the pattern heuristic, then
/// the cut: a cut never leaves part of a secret behind.
pub(super) fn detail(
    status: u16,
    info: Option<&ErrorInfo>,
    body_len: usize,
    scrubber: &Scrubber,
) -> String {
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
pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Keeps at most `max` chars, ending with `…` when cut.
pub(super) fn truncate_chars(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
