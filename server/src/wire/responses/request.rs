//! The request body: a domain [`ChatRequest`] as a Responses `POST /responses` body.
//!
//! Borrowing serde structs: the messages, tool schemas and JSON Schema of the
//! domain request are written straight into the body, never copied.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::domain::chat::{
    ChatRequest, ImageDetail, Message, Part, ResponseFormat, Role, ToolChoice,
};

/// A request field or part the Responses API cannot carry. The request is refused
/// for this candidate rather than sent without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` cannot be sent to an openai_responses provider: {reason}")]
pub struct Untranslatable {
    /// The field, as the domain names it (`stop`, `seed`, `messages[3].content`...).
    pub field: String,
    /// Why it cannot be carried.
    pub reason: &'static str,
}

impl Untranslatable {
    fn new(field: impl Into<String>, reason: &'static str) -> Self {
        Self {
            field: field.into(),
            reason,
        }
    }
}

// === Wire types ===

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    input: Vec<Item<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<FunctionTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<TextConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<Reasoning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    /// Switchyard never asks a provider to keep a conversation: every request
    /// carries the whole of it, so any candidate can serve the next turn.
    store: bool,
    stream: bool,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item<'a> {
    Message {
        role: &'static str,
        content: Vec<Content<'a>>,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: Cow<'a, str>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Content<'a> {
    InputText {
        text: &'a str,
    },
    InputImage {
        image_url: String,
        detail: &'static str,
    },
    OutputText {
        text: &'a str,
    },
}

#[derive(Serialize)]
struct FunctionTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RawValue>,
    strict: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        name: &'a str,
    },
}

#[derive(Serialize)]
struct TextConfig<'a> {
    format: Format<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Format<'a> {
    Text,
    JsonObject,
    JsonSchema {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        schema: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

#[derive(Serialize)]
struct Reasoning {
    effort: &'static str,
}

// === Translation ===

/// The body of `POST {base_url}/responses` asking `model` for `request`, streamed
/// when `stream`.
///
/// A leading `system` message of one text part becomes `instructions`; every other
/// message is an `input` item in order (later `system`/`developer` messages keep
/// their role). Assistant tool calls become `function_call` items and tool
/// messages `function_call_output` items, by the same `call_id` (a tool result of
/// several text parts is sent as their joined text, its `output` being one string).
/// Images go in `input_image` parts (an https URL or a data URL), `detail: auto`
/// when the caller did not say. A tool without
/// `strict` is sent `strict: false`, the chat-completions default (the Responses
/// API would otherwise default to strict). Always `store: false`.
pub fn request_body(
    model: &str,
    request: &ChatRequest,
    stream: bool,
) -> Result<Bytes, Untranslatable> {
    let options = &request.options;
    if !options.stop.is_empty() {
        return Err(Untranslatable::new(
            "stop",
            "the Responses API has no stop sequences",
        ));
    }
    if options.seed.is_some() {
        return Err(Untranslatable::new(
            "seed",
            "the Responses API has no sampling seed",
        ));
    }
    // serde_json would write a non-finite float as `null`: the provider's default, silently.
    for (field, value) in [
        ("temperature", options.temperature),
        ("top_p", options.top_p),
    ] {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(Untranslatable::new(field, "not a finite number"));
        }
    }
    let messages: &[Message] = &request.messages;
    let (instructions, rest) = match messages.split_first() {
        Some((first, rest)) if first.role == Role::System && first.parts.len() == 1 => {
            match (&first.parts[0], first.tool_calls.is_empty()) {
                (Part::Text { text }, true) => (Some(text.as_str()), rest),
                _ => (None, messages),
            }
        }
        _ => (None, messages),
    };
    let skipped = messages.len() - rest.len();
    let mut input = Vec::with_capacity(rest.len());
    for (i, message) in rest.iter().enumerate() {
        push_items(skipped + i, message, &mut input)?;
    }
    let tools = options
        .tools
        .iter()
        .map(|t| FunctionTool {
            kind: "function",
            name: &t.name,
            description: t.description.as_deref(),
            parameters: t.parameters.as_ref().map(|p| p.raw()),
            strict: t.strict.unwrap_or(false),
        })
        .collect();
    let tool_choice = options.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => WireToolChoice::Mode("auto"),
        ToolChoice::None => WireToolChoice::Mode("none"),
        ToolChoice::Required => WireToolChoice::Mode("required"),
        ToolChoice::Function(name) => WireToolChoice::Function {
            kind: "function",
            name,
        },
    });
    let text = options.response_format.as_ref().map(|f| TextConfig {
        format: match f {
            ResponseFormat::Text => Format::Text,
            ResponseFormat::JsonObject => Format::JsonObject,
            ResponseFormat::JsonSchema(s) => Format::JsonSchema {
                name: &s.name,
                description: s.description.as_deref(),
                schema: s.schema.raw(),
                strict: s.strict,
            },
        },
    });
    let body = Body {
        model,
        instructions,
        input,
        tools,
        tool_choice,
        parallel_tool_calls: options.parallel_tool_calls,
        text,
        reasoning: options
            .reasoning_effort
            .map(|e| Reasoning { effort: e.as_str() }),
        max_output_tokens: options.max_tokens,
        temperature: options.temperature,
        top_p: options.top_p,
        metadata: &options.metadata,
        user: options.user.as_deref(),
        store: false,
        stream,
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        // Cannot fail (string map keys, no custom serialiser); an error, never a panic.
        .map_err(|_| Untranslatable::new("body", "could not be serialised"))
}

/// Appends the input items of `messages[i]`.
fn push_items<'a>(
    i: usize,
    message: &'a Message,
    input: &mut Vec<Item<'a>>,
) -> Result<(), Untranslatable> {
    match message.role {
        Role::Tool => {
            let call_id = message.tool_call_id.as_deref().ok_or_else(|| {
                Untranslatable::new(
                    format!("messages[{i}].tool_call_id"),
                    "a tool message must answer a call",
                )
            })?;
            if !message.is_text_only() {
                return Err(Untranslatable::new(
                    format!("messages[{i}].content"),
                    "a tool result can carry only text",
                ));
            }
            let output = match message.parts.as_slice() {
                [Part::Text { text }] => Cow::Borrowed(text.as_str()),
                _ => Cow::Owned(message.text_content()),
            };
            input.push(Item::FunctionCallOutput { call_id, output });
        }
        Role::Assistant => {
            let mut content = Vec::with_capacity(message.parts.len());
            for part in &message.parts {
                match part {
                    Part::Text { text } => content.push(Content::OutputText { text }),
                    Part::Image(_) => {
                        return Err(Untranslatable::new(
                            format!("messages[{i}].content"),
                            "an assistant message can carry only text",
                        ));
                    }
                }
            }
            // An assistant turn of tool calls only has no message item.
            if !content.is_empty() || message.tool_calls.is_empty() {
                input.push(Item::Message {
                    role: "assistant",
                    content,
                });
            }
            input.extend(message.tool_calls.iter().map(|c| Item::FunctionCall {
                call_id: &c.id,
                name: &c.name,
                arguments: &c.arguments,
            }));
        }
        Role::System | Role::Developer | Role::User => {
            if !message.tool_calls.is_empty() {
                return Err(Untranslatable::new(
                    format!("messages[{i}].tool_calls"),
                    "only an assistant message can carry tool calls",
                ));
            }
            let content = message
                .parts
                .iter()
                .map(|part| match part {
                    Part::Text { text } => Content::InputText { text },
                    Part::Image(image) => Content::InputImage {
                        image_url: image.source.to_url(),
                        detail: image.detail.unwrap_or(ImageDetail::Auto).as_str(),
                    },
                })
                .collect();
            input.push(Item::Message {
                role: message.role.as_str(),
                content,
            });
        }
    }
    Ok(())
}
