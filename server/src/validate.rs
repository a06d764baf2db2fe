//! Validation of a chat request, shared by the front doors (gRPC and the
//! OpenAI-compatible HTTP door): each converts its wire shape to plain values and
//! renders the violations its own way. No proto, no HTTP types.

use crate::config::Limits;
use crate::domain::{ChatRequest, Message, Role};

/// Longest accepted model name.
pub const MAX_MODEL_LEN: usize = 256;

/// Longest piece of a caller's input echoed in an error, in chars.
pub const MAX_ECHO_CHARS: usize = 64;

/// A caller-supplied value as it may appear in an error message: at most
/// [`MAX_ECHO_CHARS`] chars, then an ellipsis and the full length. An error must
/// stay small whatever the request held (a 16 KB task name echoed whole pushes
/// the status past the header limits, and the client then sees no details).
pub fn echo(value: &str) -> String {
    cap(value, MAX_ECHO_CHARS)
}

/// `text` cut to `max` chars, then an ellipsis and the full length.
pub fn cap(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}… ({count} chars)")
}

/// Field violations: field path and description.
pub type Violations = Vec<(&'static str, String)>;

/// Checks and builds a [`ChatRequest`]. `messages` carry their role when it is
/// valid; `violations` may already hold the front door's own findings.
pub fn chat_request(
    limits: &Limits,
    messages: Vec<(Option<Role>, String)>,
    model: Option<String>,
    max_tokens: Option<i64>,
    temperature: Option<f64>,
    mut violations: Violations,
) -> Result<ChatRequest, Violations> {
    if messages.is_empty() {
        violations.push(("messages", "at least one message is required".into()));
    }
    if messages.len() > limits.max_messages {
        violations.push((
            "messages",
            format!(
                "{} messages, over the limit of {}",
                messages.len(),
                limits.max_messages
            ),
        ));
    }
    let total: usize = messages.iter().map(|(_, content)| content.len()).sum();
    if total > limits.max_request_bytes {
        violations.push((
            "messages",
            format!(
                "{total} bytes of content, over the limit of {} bytes",
                limits.max_request_bytes
            ),
        ));
    }
    let mut out = Vec::with_capacity(messages.len());
    let mut bad_roles = 0usize;
    for (role, content) in messages {
        match role {
            Some(role) => out.push(Message { role, content }),
            None => bad_roles += 1,
        }
    }
    if bad_roles > 0 {
        violations.push((
            "messages.role",
            format!("{bad_roles} message(s) without a valid role (system, user or assistant)"),
        ));
    }
    if let Some(model) = &model
        && (model.is_empty() || model.len() > MAX_MODEL_LEN || model.chars().any(char::is_control))
    {
        violations.push((
            "model",
            format!("must be 1 to {MAX_MODEL_LEN} printable characters"),
        ));
    }
    let max_tokens = match max_tokens {
        None => None,
        Some(n) if n <= 0 => {
            violations.push(("max_tokens", format!("must be positive, got {n}")));
            None
        }
        Some(n) if n > i64::from(limits.max_tokens) => {
            violations.push((
                "max_tokens",
                format!("{n} is over the limit of {}", limits.max_tokens),
            ));
            None
        }
        Some(n) => u32::try_from(n).ok(),
    };
    if let Some(t) = temperature
        && !(t.is_finite() && (0.0..=2.0).contains(&t))
    {
        violations.push(("temperature", format!("must be within [0, 2], got {t}")));
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(ChatRequest {
        messages: out.into(),
        model,
        max_tokens,
        temperature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_values_are_capped() {
        assert_eq!(echo("vision"), "vision");
        let long = "x".repeat(16 * 1024);
        let e = echo(&long);
        assert!(e.starts_with(&"x".repeat(MAX_ECHO_CHARS)), "{e}");
        assert!(e.ends_with("… (16384 chars)"), "{e}");
        assert!(e.chars().count() < MAX_ECHO_CHARS + 20);
        // Multi-byte characters are cut on a char boundary.
        assert!(echo(&"é".repeat(100)).starts_with(&"é".repeat(MAX_ECHO_CHARS)));
    }
}
