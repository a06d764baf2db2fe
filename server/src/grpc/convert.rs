//! Proto <-> domain for the four chat RPCs: a request becomes a [`ChatRequest`]
//! (every part, tool call and option carried; checked by [`crate::validate`] as
//! the HTTP door is, with the violations named by their proto field), and an
//! answer, whole or streamed, becomes proto messages. Pure: no I/O.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use switchyard_client::pb;
use tonic::Status;

use crate::config::Limits;
use crate::domain::{
    ChatAnswer, ChatOptions, ChatRequest, Image, ImageDetail, ImageSource, JsonObject,
    JsonSchemaFormat, Message, Part, ReasoningEffort, ResponseFormat, Role, Tool, ToolCall,
    ToolCallDelta, ToolChoice, Usage,
};
use crate::service::Completion;
use crate::validate::{self, Violations};

use super::status::invalid;
use super::trail::attempts;

// === requests: proto -> domain ===

/// The fields every chat RPC's request carries; `task` is set for an auxiliary call only.
#[derive(Debug)]
pub(crate) struct ChatCall {
    /// The auxiliary task, `None` for the primary turn.
    pub task: Option<String>,
    /// The conversation.
    pub messages: Vec<pb::Message>,
    /// Model override.
    pub model: Option<String>,
    /// Upper bound on generated tokens.
    pub max_tokens: Option<i32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Every other option.
    pub options: Option<pb::ChatOptions>,
}

/// The chat request of a call; `violations` may already hold the caller's own.
pub(crate) fn chat_request(
    limits: &Limits,
    call: ChatCall,
    mut violations: Violations,
) -> Result<ChatRequest, Status> {
    let ChatCall {
        messages,
        model,
        max_tokens,
        temperature,
        options,
        task: _,
    } = call;
    let mut bad_roles = 0;
    let mut converted = Vec::with_capacity(messages.len());
    for (i, m) in messages.into_iter().enumerate() {
        match message(i, m, &mut violations) {
            Some(m) => converted.push(m),
            None => bad_roles += 1,
        }
    }
    if bad_roles > 0 {
        violations.push(validate::bad_roles(bad_roles));
    }
    let mut options = chat_options(options.unwrap_or_default(), &mut violations);
    options.temperature = temperature;
    let draft = validate::Draft {
        messages: converted,
        model,
        max_tokens: max_tokens.map(i64::from),
        options,
    };
    validate::chat_request(limits, draft, violations).map_err(|v| {
        invalid(
            v.into_iter()
                .map(|(field, why)| (proto_field(field), why))
                .collect(),
        )
    })
}

/// The proto path of a field the shared validation names as the HTTP door
/// spells it, so a gRPC caller reads the field it actually set.
fn proto_field(field: &'static str) -> &'static str {
    match field {
        "messages.content" => "messages.parts",
        "messages.content.image_url" => "messages.parts.image",
        "tools.function.name" => "options.tools.name",
        "tools.function.parameters" => "options.tools.parameters",
        "tool_choice" => "options.tool_choice",
        "top_p" => "options.top_p",
        "stop" => "options.stop",
        other => other,
    }
}

/// One message; `None` when its role is missing or unknown (counted by the caller).
fn message(i: usize, m: pb::Message, violations: &mut Violations) -> Option<Message> {
    let role = match pb::Role::try_from(m.role) {
        Ok(pb::Role::System) => Role::System,
        Ok(pb::Role::Developer) => Role::Developer,
        Ok(pb::Role::User) => Role::User,
        Ok(pb::Role::Assistant) => Role::Assistant,
        Ok(pb::Role::Tool) => Role::Tool,
        Ok(pb::Role::Unspecified) | Err(_) => return None,
    };
    let parts = if !m.parts.is_empty() {
        if !m.content.is_empty() {
            violations.push((
                "messages.parts",
                format!("message {i}: set content or parts, not both"),
            ));
        }
        m.parts
            .into_iter()
            .filter_map(|p| part(i, p, violations))
            .collect()
    } else if m.content.is_empty() && !m.tool_calls.is_empty() {
        // An assistant turn of tool calls alone has no text part.
        Vec::new()
    } else {
        vec![Part::text(m.content)]
    };
    Some(Message {
        role,
        parts,
        tool_calls: m.tool_calls.into_iter().map(tool_call).collect(),
        tool_call_id: m.tool_call_id,
    })
}

fn part(i: usize, p: pb::ContentPart, violations: &mut Violations) -> Option<Part> {
    use pb::content_part::Part as P;
    use pb::image::Source;
    match p.part {
        Some(P::Text(text)) => Some(Part::Text { text }),
        Some(P::Image(image)) => {
            let detail = match pb::ImageDetail::try_from(image.detail) {
                Ok(pb::ImageDetail::Unspecified) => None,
                Ok(pb::ImageDetail::Auto) => Some(ImageDetail::Auto),
                Ok(pb::ImageDetail::Low) => Some(ImageDetail::Low),
                Ok(pb::ImageDetail::High) => Some(ImageDetail::High),
                Err(_) => {
                    violations.push((
                        "messages.parts.image.detail",
                        format!("message {i}: unknown image detail {}", image.detail),
                    ));
                    None
                }
            };
            let source = match image.source {
                Some(Source::Url(url)) => match ImageSource::from_url(&url) {
                    Ok(source) => source,
                    Err(e) => {
                        violations.push((
                            "messages.parts.image.url",
                            format!("message {i}: {e}, got {:?}", validate::echo(&url)),
                        ));
                        return None;
                    }
                },
                Some(Source::Data(d)) => ImageSource::Base64 {
                    media_type: d.media_type,
                    data: B64.encode(&d.data),
                },
                None => {
                    violations.push((
                        "messages.parts.image",
                        format!("message {i}: set the image's url or data"),
                    ));
                    return None;
                }
            };
            Some(Part::Image(Image { source, detail }))
        }
        None => {
            violations.push((
                "messages.parts",
                format!("message {i}: a content part is empty; set text or image"),
            ));
            None
        }
    }
}

fn tool_call(c: pb::ToolCall) -> ToolCall {
    ToolCall {
        id: c.id,
        name: c.name,
        arguments: c.arguments,
    }
}

fn chat_options(o: pb::ChatOptions, violations: &mut Violations) -> ChatOptions {
    let tools = o
        .tools
        .into_iter()
        .map(|t| Tool {
            parameters: json_object(t.parameters, "options.tools.parameters", violations),
            name: t.name,
            description: t.description,
            strict: t.strict,
        })
        .collect::<Vec<_>>();
    let tool_choice = o.tool_choice.and_then(|c| {
        use pb::tool_choice::Choice;
        match c.choice {
            Some(Choice::Function(name)) => Some(ToolChoice::Function(name)),
            Some(Choice::Mode(m)) => match pb::ToolChoiceMode::try_from(m) {
                Ok(pb::ToolChoiceMode::Auto) => Some(ToolChoice::Auto),
                Ok(pb::ToolChoiceMode::None) => Some(ToolChoice::None),
                Ok(pb::ToolChoiceMode::Required) => Some(ToolChoice::Required),
                Ok(pb::ToolChoiceMode::Unspecified) | Err(_) => {
                    violations.push((
                        "options.tool_choice.mode",
                        "set auto, none or required".into(),
                    ));
                    None
                }
            },
            None => {
                violations.push((
                    "options.tool_choice",
                    "set mode or function (or leave tool_choice unset)".into(),
                ));
                None
            }
        }
    });
    let response_format = o
        .response_format
        .and_then(|f| response_format(f, violations));
    let reasoning_effort = match pb::ReasoningEffort::try_from(o.reasoning_effort) {
        Ok(pb::ReasoningEffort::Unspecified) => None,
        Ok(pb::ReasoningEffort::Minimal) => Some(ReasoningEffort::Minimal),
        Ok(pb::ReasoningEffort::Low) => Some(ReasoningEffort::Low),
        Ok(pb::ReasoningEffort::Medium) => Some(ReasoningEffort::Medium),
        Ok(pb::ReasoningEffort::High) => Some(ReasoningEffort::High),
        Err(_) => {
            violations.push((
                "options.reasoning_effort",
                format!("unknown reasoning effort {}", o.reasoning_effort),
            ));
            None
        }
    };
    ChatOptions {
        max_tokens: None,
        temperature: None,
        top_p: o.top_p,
        seed: o.seed,
        stop: o.stop,
        tools: tools.into(),
        tool_choice,
        parallel_tool_calls: o.parallel_tool_calls,
        response_format,
        reasoning_effort,
        metadata: o.metadata.into_iter().collect(),
        user: o.user,
    }
}

/// A JSON-Schema text: `None` when empty, a violation when not one JSON object.
fn json_object(
    text: String,
    field: &'static str,
    violations: &mut Violations,
) -> Option<JsonObject> {
    if text.trim().is_empty() {
        return None;
    }
    match JsonObject::parse(text) {
        Ok(o) => Some(o),
        Err(e) => {
            violations.push((field, e.to_string()));
            None
        }
    }
}

fn response_format(f: pb::ResponseFormat, violations: &mut Violations) -> Option<ResponseFormat> {
    let kind = pb::ResponseFormatKind::try_from(f.kind);
    if f.json_schema.is_some() && kind != Ok(pb::ResponseFormatKind::JsonSchema) {
        violations.push((
            "options.response_format.json_schema",
            "a schema goes with kind RESPONSE_FORMAT_KIND_JSON_SCHEMA only".into(),
        ));
        return None;
    }
    match kind {
        Ok(pb::ResponseFormatKind::Text) => Some(ResponseFormat::Text),
        Ok(pb::ResponseFormatKind::JsonObject) => Some(ResponseFormat::JsonObject),
        Ok(pb::ResponseFormatKind::JsonSchema) => {
            let Some(s) = f.json_schema else {
                violations.push((
                    "options.response_format.json_schema",
                    "kind RESPONSE_FORMAT_KIND_JSON_SCHEMA needs its json_schema".into(),
                ));
                return None;
            };
            if s.name.is_empty() {
                violations.push((
                    "options.response_format.json_schema.name",
                    "the schema's name is required".into(),
                ));
            }
            let field = "options.response_format.json_schema.schema";
            let Some(schema) = json_object(s.schema, field, violations) else {
                if !violations.iter().any(|(f, _)| *f == field) {
                    violations.push((field, "the schema is required".into()));
                }
                return None;
            };
            Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: s.name,
                description: s.description,
                schema,
                strict: s.strict,
            }))
        }
        Ok(pb::ResponseFormatKind::Unspecified) | Err(_) => {
            violations.push((
                "options.response_format.kind",
                "set text, json_object or json_schema".into(),
            ));
            None
        }
    }
}

// === answers: domain -> proto ===

/// The proto usage.
pub(crate) fn usage(u: Usage) -> pb::Usage {
    pb::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cached_input_tokens: u.cached_input_tokens,
        reasoning_tokens: u.reasoning_tokens,
    }
}

/// The proto tool calls of an answer.
pub(crate) fn tool_calls(calls: Vec<ToolCall>) -> Vec<pb::ToolCall> {
    calls
        .into_iter()
        .map(|c| pb::ToolCall {
            id: c.id,
            name: c.name,
            arguments: c.arguments,
        })
        .collect()
}

/// A streamed tool-call piece.
pub(crate) fn tool_call_delta(d: ToolCallDelta) -> pb::ToolCallDelta {
    pb::ToolCallDelta {
        index: d.index,
        id: d.id,
        name: d.name,
        arguments: d.arguments,
    }
}

/// Everything a whole chat RPC's response carries, for either response type.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Request id.
    pub request_id: String,
    /// The answer's text.
    pub content: String,
    /// Token usage.
    pub usage: Option<pb::Usage>,
    /// The candidate that answered.
    pub served_by: Option<pb::ServedBy>,
    /// The trail.
    pub attempts: Vec<pb::Attempt>,
    /// The answer's tool calls.
    pub tool_calls: Vec<pb::ToolCall>,
    /// Why generation stopped.
    pub finish_reason: String,
}

/// A whole answer as proto values.
pub(crate) fn reply(c: Completion) -> Reply {
    let ChatAnswer {
        content,
        tool_calls: calls,
        finish_reason,
        usage: u,
        model: _,
    } = c.answer;
    Reply {
        attempts: attempts(&c.steps),
        served_by: Some(pb::ServedBy {
            provider: String::from(&*c.provider),
            model: String::from(&*c.model),
            credential_id: String::from(&*c.credential_id),
        }),
        request_id: c.request_id,
        content,
        usage: Some(usage(u)),
        tool_calls: tool_calls(calls),
        finish_reason: finish_reason.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests;
