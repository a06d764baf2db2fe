//! Anthropic Messages shapes <-> the domain chat: a request becomes a [`Draft`]
//! plus the violations found on the way (every field or block the door does not
//! carry is refused by name, never dropped), and an answer becomes Anthropic's
//! content blocks, stop reason and usage.
//!
//! Pure: no I/O, no HTTP types.
//!
//! | Anthropic | domain |
//! |---|---|
//! | `system` string or text blocks | one `system` message |
//! | `user` turn: text and image blocks | a `user` message; each `tool_result` block becomes a `tool` message, in order |
//! | `tool_result` `content` (string, or text and image blocks), `is_error` | the tool message's parts; `is_error: true` prefixes [`TOOL_ERROR_PREFIX`] (the domain has no such flag) |
//! | `assistant` turn: text and `tool_use` blocks | an `assistant` message with tool calls (the `input` verbatim as arguments) |
//! | `thinking` / `redacted_thinking` blocks of an assistant turn | ignored: the API itself drops earlier turns' thinking from the context |
//! | `thinking.budget_tokens` | reasoning effort: below 4096 `low`, below 16384 `medium`, else `high` |
//! | `tool_choice` `auto` / `any` / `tool` / `none`, `disable_parallel_tool_use` | auto / required / function / none, `parallel_tool_calls: false` |
//! | `metadata.user_id` | `user` |
//! | `stop_sequences`, `temperature` ([0, 1]), `top_p`, `max_tokens` | the same options |

use crate::domain::{
    ChatAnswer, ChatOptions, FinishReason, Image, ImageSource, JsonObject, Message, Part,
    ReasoningEffort, Role, Tool, ToolCall, ToolChoice, Usage,
};
use crate::validate::{self, Draft, Violations};

use super::types::{
    InBlock, InContent, InMessage, InMetadata, InResultBlock, InSource, InSystem, InThinking,
    InTool, InToolChoice, MessagesRequest, OutBlock, OutUsage,
};

/// Text put before the content of a `tool_result` with `is_error: true`.
pub(crate) const TOOL_ERROR_PREFIX: &str = "Error: ";

/// The smallest thinking budget the API accepts.
pub(crate) const MIN_THINKING_BUDGET: i64 = 1024;

/// Request fields read but not forwarded, because they change nothing in the
/// answer the caller gets, with why. Any other unknown field is refused.
pub(crate) const IGNORED: [(&str, &str); 2] = [
    ("service_tier", "Anthropic's capacity tier"),
    ("cache_control", "Anthropic's prompt-caching hint"),
];

/// Fields of blocks and tools ignored wherever they appear.
const IGNORED_IN_BLOCKS: [&str; 1] = ["cache_control"];

/// What the request is read for: an answer needs `max_tokens`, as the API
/// requires; a token count does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `POST /v1/messages`: `max_tokens` is required.
    Answer,
    /// `POST /v1/messages/count_tokens`: no `max_tokens`.
    Count,
}

/// Reads the request into a draft; `violations` collects what cannot be carried.
pub(crate) fn draft(
    request: MessagesRequest,
    purpose: Purpose,
    violations: &mut Violations,
) -> Draft {
    for (field, value) in &request.rest {
        if value.is_null() || IGNORED.iter().any(|(name, _)| name == field) {
            continue;
        }
        let why = match field.as_str() {
            "top_k" => "top_k is not carried by Switchyard (most providers have no top_k)".into(),
            other => format!("{:?} is not carried by Switchyard", validate::echo(other)),
        };
        violations.push((field_name(field), why));
    }
    if purpose == Purpose::Answer && request.max_tokens.is_none() {
        violations.push(("max_tokens", "required by the Messages API".into()));
    }
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system {
        system_message(system, &mut messages, violations);
    }
    for m in request.messages {
        turn(m, &mut messages, violations);
    }
    let tools = request
        .tools
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| tool(t, violations))
        .collect::<Vec<_>>();
    let (tool_choice, parallel_tool_calls) = match request.tool_choice {
        None => (None, None),
        Some(c) => tool_choice(c, violations),
    };
    let reasoning_effort = request
        .thinking
        .and_then(|t| effort(t, request.max_tokens, violations));
    if let Some(t) = request.temperature
        && !(t.is_finite() && (0.0..=1.0).contains(&t))
    {
        violations.push(("temperature", format!("must be within [0, 1], got {t}")));
    }
    let user = request.metadata.and_then(|m| metadata(m, violations));
    Draft {
        messages,
        model: None,
        max_tokens: request.max_tokens,
        options: ChatOptions {
            max_tokens: None,
            temperature: request.temperature,
            top_p: request.top_p,
            seed: None,
            stop: request.stop_sequences.unwrap_or_default(),
            tools: tools.into(),
            tool_choice,
            parallel_tool_calls,
            response_format: None,
            reasoning_effort,
            metadata: Default::default(),
            user,
        },
    }
}

/// A static field name for a violation: the known ones by name, others as `body`
/// (the message names them).
fn field_name(field: &str) -> &'static str {
    const KNOWN: [&str; 6] = [
        "top_k",
        "container",
        "mcp_servers",
        "context_management",
        "output_format",
        "output_config",
    ];
    KNOWN.into_iter().find(|k| *k == field).unwrap_or("body")
}

/// Refuses the fields of a block, tool or turn that are neither read nor ignored.
fn refuse_rest(
    rest: &serde_json::Map<String, serde_json::Value>,
    field: &'static str,
    violations: &mut Violations,
) {
    for (name, value) in rest {
        let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
        if empty || IGNORED_IN_BLOCKS.contains(&name.as_str()) {
            continue;
        }
        violations.push((
            field,
            format!("{:?} is not carried by Switchyard", validate::echo(name)),
        ));
    }
}

fn system_message(system: InSystem, out: &mut Vec<Message>, violations: &mut Violations) {
    let parts: Vec<Part> = match system {
        InContent::Text(text) => vec![Part::text(text)],
        InContent::Blocks(blocks) => blocks
            .into_iter()
            .filter_map(|b| {
                refuse_rest(&b.rest, "system", violations);
                match (b.kind.as_str(), b.text) {
                    ("text", Some(text)) => Some(Part::text(text)),
                    (kind, _) => {
                        violations.push((
                            "system",
                            format!(
                                "{:?} blocks are not carried in system; send text",
                                validate::echo(kind)
                            ),
                        ));
                        None
                    }
                }
            })
            .collect(),
    };
    if parts
        .iter()
        .any(|p| p.as_text().is_some_and(|t| !t.is_empty()))
    {
        out.push(Message {
            role: Role::System,
            parts,
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
    }
}

/// One turn: a user turn may become several messages (its tool results, then
/// its other blocks, in order).
fn turn(m: InMessage, out: &mut Vec<Message>, violations: &mut Violations) {
    refuse_rest(&m.rest, "messages", violations);
    let role = match m.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            violations.push((
                "messages.role",
                format!("{:?} is not user or assistant", validate::echo(other)),
            ));
            return;
        }
    };
    let blocks = match m.content {
        InContent::Text(text) => {
            out.push(Message::text(role, text));
            return;
        }
        InContent::Blocks(blocks) => blocks,
    };
    if blocks.is_empty() {
        violations.push((
            "messages.content",
            "a turn needs at least one content block".into(),
        ));
        return;
    }
    match role {
        Role::Assistant => assistant_turn(blocks, out, violations),
        _ => user_turn(blocks, out, violations),
    }
}

fn user_turn(blocks: Vec<InBlock>, out: &mut Vec<Message>, violations: &mut Violations) {
    let mut parts = Vec::new();
    let flush = |parts: &mut Vec<Part>, out: &mut Vec<Message>| {
        if !parts.is_empty() {
            out.push(Message {
                role: Role::User,
                parts: std::mem::take(parts),
                tool_calls: Vec::new(),
                tool_call_id: None,
            });
        }
    };
    for b in blocks {
        if b.kind == "tool_result" {
            flush(&mut parts, out);
            out.push(tool_result(b, violations));
            continue;
        }
        if let Some(part) = content_part(b, "messages.content", violations) {
            parts.push(part);
        }
    }
    flush(&mut parts, out);
}

fn assistant_turn(blocks: Vec<InBlock>, out: &mut Vec<Message>, violations: &mut Violations) {
    let mut message = Message::assistant_calls(None, Vec::new());
    let mut thinking = 0;
    for b in blocks {
        match b.kind.as_str() {
            "tool_use" => {
                refuse_rest(&b.rest, "messages.content", violations);
                message.tool_calls.push(ToolCall {
                    id: b.id.unwrap_or_default(),
                    name: b.name.unwrap_or_default(),
                    arguments: b
                        .input
                        .map_or_else(|| "{}".to_owned(), |i| i.get().to_owned()),
                });
            }
            "thinking" | "redacted_thinking" => thinking += 1,
            _ => {
                if let Some(part) = content_part(b, "messages.content", violations) {
                    message.parts.push(part);
                }
            }
        }
    }
    if message.parts.is_empty() && message.tool_calls.is_empty() {
        if thinking > 0 {
            violations.push((
                "messages.content",
                "an assistant turn of thinking blocks alone carries nothing".into(),
            ));
        }
        return;
    }
    out.push(message);
}

fn tool_result(b: InBlock, violations: &mut Violations) -> Message {
    refuse_rest(&b.rest, "messages.content", violations);
    let mut parts = Vec::new();
    if b.is_error == Some(true) {
        parts.push(Part::text(TOOL_ERROR_PREFIX));
    }
    match b.content {
        None => {}
        Some(InContent::Text(text)) => parts.push(Part::text(text)),
        Some(InContent::Blocks(blocks)) => parts.extend(
            blocks
                .into_iter()
                .filter_map(|b| part(b, "messages.content.content", violations)),
        ),
    }
    let id = b.tool_use_id.unwrap_or_default();
    if id.is_empty() {
        violations.push((
            "messages.content.tool_use_id",
            "a tool_result needs the tool_use_id it answers".into(),
        ));
    }
    Message {
        role: Role::Tool,
        parts,
        tool_calls: Vec::new(),
        tool_call_id: Some(id),
    }
}

/// A text or image block as a part; anything else is refused under `field`.
fn content_part(b: InBlock, field: &'static str, violations: &mut Violations) -> Option<Part> {
    let InBlock {
        kind,
        text,
        source,
        rest,
        ..
    } = b;
    part(
        InResultBlock {
            kind,
            text,
            source,
            rest,
        },
        field,
        violations,
    )
}

/// A text or image block as a part; anything else is refused under `field`.
fn part(b: InResultBlock, field: &'static str, violations: &mut Violations) -> Option<Part> {
    refuse_rest(&b.rest, field, violations);
    match (b.kind.as_str(), b.text, b.source) {
        ("text", Some(text), _) => Some(Part::text(text)),
        ("image", _, Some(source)) => image(source, violations).map(Part::Image),
        (kind, _, _) => {
            violations.push((
                field,
                format!(
                    "{:?} blocks are not carried here; send text, image, tool_use or tool_result",
                    validate::echo(kind)
                ),
            ));
            None
        }
    }
}

fn image(source: InSource, violations: &mut Violations) -> Option<Image> {
    let source = match (
        source.kind.as_str(),
        source.media_type,
        source.data,
        source.url,
    ) {
        ("base64", Some(media_type), Some(data), _) => ImageSource::Base64 { media_type, data },
        ("url", _, _, Some(url)) => match ImageSource::from_url(&url) {
            Ok(s) => s,
            Err(e) => {
                violations.push((
                    "messages.content.source",
                    format!("{e}, got {:?}", validate::echo(&url)),
                ));
                return None;
            }
        },
        (kind, ..) => {
            violations.push((
                "messages.content.source",
                format!(
                    "{:?} image sources are not carried; send base64 (with media_type and data) or url",
                    validate::echo(kind)
                ),
            ));
            return None;
        }
    };
    Some(Image {
        source,
        detail: None,
    })
}

fn tool(t: InTool, violations: &mut Violations) -> Option<Tool> {
    match t.kind.as_deref() {
        None | Some("custom") => {}
        Some(kind) => {
            violations.push((
                "tools.type",
                format!(
                    "{:?} (a server tool) is not carried; send client tools",
                    validate::echo(kind)
                ),
            ));
            return None;
        }
    }
    refuse_rest(&t.rest, "tools", violations);
    let parameters = match t.input_schema.map(JsonObject::from_raw) {
        Some(Ok(schema)) => schema,
        Some(Err(e)) => {
            violations.push(("tools.input_schema", e.to_string()));
            return None;
        }
        None => {
            violations.push(("tools.input_schema", "required".into()));
            return None;
        }
    };
    Some(Tool {
        name: t.name,
        description: t.description,
        parameters: Some(parameters),
        strict: t.strict,
    })
}

fn tool_choice(c: InToolChoice, violations: &mut Violations) -> (Option<ToolChoice>, Option<bool>) {
    let choice = match (c.kind.as_str(), c.name) {
        ("auto", _) => Some(ToolChoice::Auto),
        ("any", _) => Some(ToolChoice::Required),
        ("none", _) => Some(ToolChoice::None),
        ("tool", Some(name)) => Some(ToolChoice::Function(name)),
        ("tool", None) => {
            violations.push(("tool_choice.name", "a `tool` choice names its tool".into()));
            None
        }
        (other, _) => {
            violations.push((
                "tool_choice",
                format!("{:?} is not auto, any, tool or none", validate::echo(other)),
            ));
            None
        }
    };
    let parallel = (c.disable_parallel_tool_use == Some(true)).then_some(false);
    (choice, parallel)
}

/// The reasoning effort of a thinking budget (see the module doc).
pub(crate) fn effort_of_budget(budget: u32) -> ReasoningEffort {
    match budget {
        0..4096 => ReasoningEffort::Low,
        4096..16384 => ReasoningEffort::Medium,
        _ => ReasoningEffort::High,
    }
}

fn effort(
    t: InThinking,
    max_tokens: Option<i64>,
    violations: &mut Violations,
) -> Option<ReasoningEffort> {
    match (t.kind.as_str(), t.budget_tokens) {
        ("disabled", _) => None,
        ("enabled", None) => {
            violations.push(("thinking.budget_tokens", "required when enabled".into()));
            None
        }
        ("enabled", Some(b)) if b < MIN_THINKING_BUDGET => {
            violations.push((
                "thinking.budget_tokens",
                format!("must be at least {MIN_THINKING_BUDGET}, got {b}"),
            ));
            None
        }
        ("enabled", Some(b)) if max_tokens.is_some_and(|m| b >= m) => {
            violations.push((
                "thinking.budget_tokens",
                format!("must be less than max_tokens, got {b}"),
            ));
            None
        }
        ("enabled", Some(b)) => Some(effort_of_budget(u32::try_from(b).unwrap_or(u32::MAX))),
        (other, _) => {
            violations.push((
                "thinking.type",
                format!("{:?} is not enabled or disabled", validate::echo(other)),
            ));
            None
        }
    }
}

fn metadata(m: InMetadata, violations: &mut Violations) -> Option<String> {
    for (name, value) in &m.rest {
        if !value.is_null() {
            violations.push((
                "metadata",
                format!(
                    "{:?} is not a metadata key of the Messages API (only user_id)",
                    validate::echo(name)
                ),
            ));
        }
    }
    m.user_id
}

// === answers ===

/// Anthropic's stop reason.
pub(crate) fn stop_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// Anthropic's `usage`: `input_tokens` without the cache reads.
pub(crate) fn usage(u: Usage) -> OutUsage {
    OutUsage {
        input_tokens: u.input_tokens.saturating_sub(u.cached_input_tokens),
        output_tokens: u.output_tokens,
        cache_read_input_tokens: u.cached_input_tokens,
        cache_creation_input_tokens: 0,
    }
}

/// A tool call's `input`: the model's JSON object verbatim, `{}` for empty
/// arguments, or else the arguments as one JSON string, so the caller sees what
/// the model wrote rather than a guess.
pub(crate) fn tool_input(arguments: &str) -> Box<serde_json::value::RawValue> {
    let empty = || serde_json::value::RawValue::from_string("{}".to_owned());
    let parsed = if arguments.trim().is_empty() {
        empty()
    } else {
        match serde_json::from_str::<Box<serde_json::value::RawValue>>(arguments) {
            Ok(raw) if raw.get().starts_with('{') => Ok(raw),
            _ => {
                serde_json::to_string(arguments).and_then(serde_json::value::RawValue::from_string)
            }
        }
    };
    // Serialising a string always gives valid JSON; `null` stands in for a panic.
    parsed.unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
}

/// The content blocks of a whole answer: its text (an empty one when the answer
/// has nothing at all), then one `tool_use` per call. `inputs` are the calls'
/// [`tool_input`]s, in order.
pub(crate) fn content<'a>(
    a: &'a ChatAnswer,
    inputs: &'a [Box<serde_json::value::RawValue>],
) -> Vec<OutBlock<'a>> {
    let mut blocks = Vec::with_capacity(1 + a.tool_calls.len());
    if !a.content.is_empty() || a.tool_calls.is_empty() {
        blocks.push(OutBlock::Text { text: &a.content });
    }
    blocks.extend(
        a.tool_calls
            .iter()
            .zip(inputs)
            .map(|(c, input)| OutBlock::ToolUse {
                id: &c.id,
                name: &c.name,
                input,
            }),
    );
    blocks
}

#[cfg(test)]
mod tests;
