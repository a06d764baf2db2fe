//! Validation of a chat request, shared by the front doors (gRPC and the
//! OpenAI-compatible HTTP door): each converts its wire shape to plain values and
//! renders the violations its own way. No proto, no HTTP types.
//!
//! Checks what the domain types cannot say: limits, tool results answering an
//! earlier call, image sources and sizes, tool names and the tool choice.

use crate::config::Limits;
use crate::domain::chat::unanswerable_tool_results;
use crate::domain::{ChatOptions, ChatRequest, ImageSource, Message, Role, ToolChoice};

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

/// A chat request as a front door read it, before the checks.
#[derive(Debug, Default)]
pub struct Draft {
    /// The conversation.
    pub messages: Vec<Message>,
    /// Model override.
    pub model: Option<String>,
    /// `max_tokens` as sent (checked here, then set in the options).
    pub max_tokens: Option<i64>,
    /// Every other option.
    pub options: ChatOptions,
}

/// The violation of `n` messages whose role is missing or unknown.
pub fn bad_roles(n: usize) -> (&'static str, String) {
    (
        "messages.role",
        format!("{n} message(s) without a valid role (system, developer, user, assistant or tool)"),
    )
}

/// Longest tool (function) name, as OpenAI and Anthropic accept it.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// Checks and builds a [`ChatRequest`]. `violations` may already hold the front
/// door's own findings (unknown roles, fields it does not carry, bad JSON).
pub fn chat_request(
    limits: &Limits,
    draft: Draft,
    mut violations: Violations,
) -> Result<ChatRequest, Violations> {
    let Draft {
        messages,
        model,
        max_tokens,
        mut options,
    } = draft;
    // Messages dropped for a bad role were sent: that violation says enough.
    if messages.is_empty() && !violations.iter().any(|(f, _)| *f == "messages.role") {
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
    let total: usize = messages.iter().map(Message::text_bytes).sum();
    if total > limits.max_request_bytes {
        violations.push((
            "messages",
            format!(
                "{total} bytes of content, over the limit of {} bytes",
                limits.max_request_bytes
            ),
        ));
    }
    check_messages(limits, &messages, &mut violations);
    check_tools(&options, &mut violations);
    if let Some(model) = &model
        && (model.is_empty() || model.len() > MAX_MODEL_LEN || model.chars().any(char::is_control))
    {
        violations.push((
            "model",
            format!("must be 1 to {MAX_MODEL_LEN} printable characters"),
        ));
    }
    options.max_tokens = match max_tokens {
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
    if let Some(t) = options.temperature
        && !(t.is_finite() && (0.0..=2.0).contains(&t))
    {
        violations.push(("temperature", format!("must be within [0, 2], got {t}")));
    }
    if let Some(p) = options.top_p
        && !(p.is_finite() && p > 0.0 && p <= 1.0)
    {
        violations.push(("top_p", format!("must be within (0, 1], got {p}")));
    }
    if options.stop.iter().any(String::is_empty) {
        violations.push(("stop", "a stop sequence must not be empty".into()));
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(ChatRequest {
        messages: messages.into(),
        model,
        options,
    })
}

/// Roles and their fields, tool results against earlier calls, and images.
fn check_messages(limits: &Limits, messages: &[Message], violations: &mut Violations) {
    for (i, m) in messages.iter().enumerate() {
        if !m.tool_calls.is_empty() && m.role != Role::Assistant {
            violations.push((
                "messages.tool_calls",
                format!("message {i}: only an assistant message carries tool calls"),
            ));
        }
        if m.tool_call_id.is_some() && m.role != Role::Tool {
            violations.push((
                "messages.tool_call_id",
                format!("message {i}: only a tool message carries a tool_call_id"),
            ));
        }
        for c in &m.tool_calls {
            if c.id.is_empty() || c.name.is_empty() {
                violations.push((
                    "messages.tool_calls",
                    format!("message {i}: a tool call needs an id and a function name"),
                ));
            }
        }
        if m.role != Role::User && m.role != Role::Tool && !m.is_text_only() {
            violations.push((
                "messages.content",
                format!(
                    "message {i}: images are accepted in user messages only, not {}",
                    m.role.as_str()
                ),
            ));
        }
        for image in m.images() {
            match &image.source {
                ImageSource::Url { url } => {
                    if ImageSource::from_url(url).is_err() || url.starts_with("data:") {
                        violations.push((
                            "messages.content.image_url",
                            format!("message {i}: {:?} is not an https or data URL", echo(url)),
                        ));
                    }
                }
                ImageSource::Base64 { media_type, data } => {
                    if !media_type.starts_with("image/") {
                        violations.push((
                            "messages.content.image_url",
                            format!(
                                "message {i}: media type {:?} is not an image",
                                echo(media_type)
                            ),
                        ));
                    }
                    let valid = data
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                    if !valid {
                        violations.push((
                            "messages.content.image_url",
                            format!("message {i}: the image data is not base64"),
                        ));
                    }
                    let size = image.source.inline_bytes();
                    if size > limits.max_image_bytes {
                        violations.push((
                            "messages.content.image_url",
                            format!(
                                "message {i}: a {size}-byte image is over the limit of {} bytes \
                                 (limits.max_image_bytes)",
                                limits.max_image_bytes
                            ),
                        ));
                    }
                }
            }
        }
    }
    for id in unanswerable_tool_results(messages) {
        let what = if id.is_empty() {
            "a tool message has no tool_call_id".to_owned()
        } else {
            format!(
                "tool_call_id {:?} answers no tool call of an earlier assistant message",
                echo(id)
            )
        };
        violations.push(("messages.tool_call_id", what));
    }
}

/// Tool names (valid, unique) and the tool choice against them.
fn check_tools(options: &ChatOptions, violations: &mut Violations) {
    let mut seen: Vec<&str> = Vec::with_capacity(options.tools.len());
    for t in options.tools.iter() {
        let valid = !t.name.is_empty()
            && t.name.len() <= MAX_TOOL_NAME_LEN
            && t.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            violations.push((
                "tools.function.name",
                format!(
                    "{:?}: a tool name is 1 to {MAX_TOOL_NAME_LEN} letters, digits, _ or -",
                    echo(&t.name)
                ),
            ));
        } else if seen.contains(&t.name.as_str()) {
            violations.push((
                "tools.function.name",
                format!("{:?} is defined twice", echo(&t.name)),
            ));
        }
        seen.push(&t.name);
    }
    if let Some(ToolChoice::Function(name)) = &options.tool_choice
        && !seen.contains(&name.as_str())
    {
        violations.push((
            "tool_choice",
            format!("names {:?}, which is not one of the tools", echo(name)),
        ));
    }
    if matches!(options.tool_choice, Some(ToolChoice::Required)) && options.tools.is_empty() {
        violations.push(("tool_choice", "`required` needs at least one tool".into()));
    }
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

    fn draft(messages: Vec<Message>) -> Draft {
        Draft {
            messages,
            ..Draft::default()
        }
    }

    fn image(data: &str) -> Message {
        Message {
            role: Role::User,
            parts: vec![crate::domain::Part::Image(crate::domain::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: data.into(),
                },
                detail: None,
            })],
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    #[test]
    fn inline_images_are_held_to_max_image_bytes() {
        let limits = Limits {
            max_image_bytes: 6,
            ..Limits::default()
        };
        // 6 bytes pass, 9 do not.
        assert!(chat_request(&limits, draft(vec![image("AAAAAAAA")]), Vec::new()).is_ok());
        let v = chat_request(&limits, draft(vec![image("AAAAAAAAAAAA")]), Vec::new()).unwrap_err();
        assert_eq!(v[0].0, "messages.content.image_url");
        assert!(v[0].1.contains("limits.max_image_bytes"), "{v:?}");
        let v = chat_request(&limits, draft(vec![image("AA AA")]), Vec::new()).unwrap_err();
        assert!(v[0].1.contains("not base64"), "{v:?}");
    }

    #[test]
    fn tools_need_valid_unique_names_and_roles_their_own_fields() {
        let tool = |name: &str| crate::domain::Tool {
            name: name.into(),
            description: None,
            parameters: None,
            strict: None,
        };
        let mut d = draft(vec![Message::text(Role::User, "hi")]);
        d.options.tools = vec![tool("ok_name"), tool("ok_name"), tool("bad name")].into();
        d.options.tool_choice = Some(ToolChoice::Function("missing".into()));
        let v = chat_request(&Limits::default(), d, Vec::new()).unwrap_err();
        let fields: Vec<_> = v.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            vec!["tools.function.name", "tools.function.name", "tool_choice"]
        );
        let mut user_with_calls = Message::text(Role::User, "hi");
        user_with_calls.tool_calls.push(crate::domain::ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: "{}".into(),
        });
        let v =
            chat_request(&Limits::default(), draft(vec![user_with_calls]), Vec::new()).unwrap_err();
        assert_eq!(v[0].0, "messages.tool_calls");
    }
}
