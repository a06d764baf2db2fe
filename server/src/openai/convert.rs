//! OpenAI chat completions shapes <-> the domain chat: a request becomes a
//! [`Draft`] plus the violations found on the way (every field or part the door
//! does not carry is refused by name, never dropped), and an answer, whole or
//! streamed, becomes OpenAI's exact shapes.
//!
//! Pure: no I/O, no HTTP types.

use crate::domain::{
    ChatAnswer, ChatOptions, FinishReason, Image, ImageDetail, ImageSource, JsonObject,
    JsonSchemaFormat, Message, Part, ReasoningEffort, ResponseFormat, Role, Step, Tool, ToolCall,
    ToolCallDelta, ToolChoice, Usage,
};
use crate::validate::{self, Draft, Violations};

use super::types::{
    Attempt, ChatCompletionRequest, Choice, CompletionDetails, InContent, InMessage, InPart,
    InResponseFormat, InToolChoice, OutFunctionCall, OutMessage, OutToolCall, OutUsage,
    PromptDetails, Served, Stop,
};

/// Request fields the door reads but does not forward, because they change
/// nothing in the answer the caller gets (storage and routing hints of OpenAI's
/// own platform), with why. Any other unknown field is refused.
pub const IGNORED: [(&str, &str); 4] = [
    ("store", "OpenAI-side storage of the completion"),
    ("service_tier", "OpenAI's processing tier"),
    ("prompt_cache_key", "OpenAI's cache routing hint"),
    ("safety_identifier", "OpenAI's abuse-monitoring id"),
];

/// Sampling fields refused unless they hold their neutral value, which is what
/// not sending them means.
const NEUTRAL: [(&str, &str); 5] = [
    ("frequency_penalty", "0"),
    ("presence_penalty", "0"),
    ("logprobs", "false"),
    ("top_logprobs", "0"),
    ("logit_bias", "{}"),
];

fn is_neutral(field: &str, value: &serde_json::Value) -> bool {
    NEUTRAL.iter().any(|(name, neutral)| {
        *name == field
            && (value.is_null()
                || serde_json::from_str::<serde_json::Value>(neutral)
                    .is_ok_and(|n| n == *value || value.as_f64().is_some_and(|v| v == 0.0)))
    })
}

/// Reads the request into a draft; `violations` collects what cannot be carried.
pub fn draft(request: ChatCompletionRequest, violations: &mut Violations) -> Draft {
    for (field, value) in &request.rest {
        if value.is_null()
            || IGNORED.iter().any(|(name, _)| name == field)
            || is_neutral(field, value)
        {
            continue;
        }
        let why = match field.as_str() {
            "audio" | "modalities" => "audio is not carried by Switchyard".to_owned(),
            "functions" | "function_call" => {
                "the legacy functions API is not carried; send tools and tool_choice".to_owned()
            }
            other => format!("{:?} is not carried by Switchyard", validate::echo(other)),
        };
        violations.push((field_name(field), why));
    }
    if request.n.is_some_and(|n| n != 1) {
        violations.push(("n", "only one choice (n = 1) is supported".into()));
    }
    let mut bad_roles = 0;
    let mut messages = Vec::with_capacity(request.messages.len());
    for m in request.messages {
        match message(m, violations) {
            Some(m) => messages.push(m),
            None => bad_roles += 1,
        }
    }
    if bad_roles > 0 {
        violations.push(validate::bad_roles(bad_roles));
    }
    let mut tools = Vec::new();
    for t in request.tools.unwrap_or_default() {
        if t.kind != "function" {
            violations.push((
                "tools.type",
                format!(
                    "{:?} tools are not carried; send functions",
                    validate::echo(&t.kind)
                ),
            ));
            continue;
        }
        let parameters = match t.function.parameters.map(JsonObject::from_raw) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                violations.push(("tools.function.parameters", e.to_string()));
                None
            }
        };
        tools.push(Tool {
            name: t.function.name,
            description: t.function.description,
            parameters,
            strict: t.function.strict,
        });
    }
    let tool_choice = request.tool_choice.and_then(|c| match c {
        InToolChoice::Mode(m) => match m.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            other => {
                violations.push((
                    "tool_choice",
                    format!(
                        "{:?} is not auto, none, required or a function",
                        validate::echo(other)
                    ),
                ));
                None
            }
        },
        InToolChoice::Named { kind, function } if kind == "function" => {
            Some(ToolChoice::Function(function.name))
        }
        InToolChoice::Named { kind, .. } => {
            violations.push((
                "tool_choice",
                format!("{:?} tool choices are not carried", validate::echo(&kind)),
            ));
            None
        }
    });
    let response_format = request
        .response_format
        .and_then(|f| response_format(f, violations));
    let reasoning_effort = request.reasoning_effort.and_then(|e| {
        let effort = ReasoningEffort::parse(&e);
        if effort.is_none() {
            violations.push((
                "reasoning_effort",
                format!(
                    "{:?} is not minimal, low, medium or high",
                    validate::echo(&e)
                ),
            ));
        }
        effort
    });
    Draft {
        messages,
        model: None,
        max_tokens: request.max_completion_tokens.or(request.max_tokens),
        options: ChatOptions {
            max_tokens: None,
            temperature: request.temperature,
            top_p: request.top_p,
            seed: request.seed,
            stop: match request.stop {
                None => Vec::new(),
                Some(Stop::One(s)) => vec![s],
                Some(Stop::Many(v)) => v,
            },
            tools: tools.into(),
            tool_choice,
            parallel_tool_calls: request.parallel_tool_calls,
            response_format,
            reasoning_effort,
            metadata: request.metadata.unwrap_or_default(),
            user: request.user,
        },
    }
}

/// A static field name for a violation: the known ones by name, others as `body`
/// (the message names them).
fn field_name(field: &str) -> &'static str {
    const KNOWN: [&str; 12] = [
        "audio",
        "modalities",
        "functions",
        "function_call",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "prediction",
        "web_search_options",
        "verbosity",
    ];
    KNOWN.into_iter().find(|k| *k == field).unwrap_or("body")
}

fn response_format(f: InResponseFormat, violations: &mut Violations) -> Option<ResponseFormat> {
    match f.kind.as_str() {
        "text" => Some(ResponseFormat::Text),
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => {
            let Some(s) = f.json_schema else {
                violations.push((
                    "response_format.json_schema",
                    "a json_schema response format needs its json_schema".into(),
                ));
                return None;
            };
            let schema = match s.schema.map(JsonObject::from_raw) {
                Some(Ok(schema)) => schema,
                Some(Err(e)) => {
                    violations.push(("response_format.json_schema.schema", e.to_string()));
                    return None;
                }
                None => {
                    violations.push((
                        "response_format.json_schema.schema",
                        "the schema is required".into(),
                    ));
                    return None;
                }
            };
            Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: s.name,
                description: s.description,
                schema,
                strict: s.strict,
            }))
        }
        other => {
            violations.push((
                "response_format",
                format!(
                    "{:?} is not text, json_object or json_schema",
                    validate::echo(other)
                ),
            ));
            None
        }
    }
}

/// One message; `None` when its role is unknown (counted by the caller).
fn message(m: InMessage, violations: &mut Violations) -> Option<Message> {
    let role = Role::parse(&m.role)?;
    for (field, value) in &m.rest {
        if value.is_null() || (field == "refusal" && value == "") {
            continue;
        }
        let field: &'static str = match field.as_str() {
            "name" => "messages.name",
            "refusal" => "messages.refusal",
            "audio" => "messages.audio",
            "function_call" => "messages.function_call",
            _ => "messages",
        };
        violations.push((field, "not carried by Switchyard".into()));
    }
    let parts = match m.content {
        None => Vec::new(),
        Some(InContent::Text(t)) => vec![Part::text(t)],
        Some(InContent::Parts(parts)) => parts
            .into_iter()
            .filter_map(|p| part(p, violations))
            .collect(),
    };
    let tool_calls = m
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            if c.kind.as_deref().is_some_and(|k| k != "function") {
                violations.push((
                    "messages.tool_calls.type",
                    "only function tool calls are carried".into(),
                ));
            }
            ToolCall {
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
            }
        })
        .collect();
    Some(Message {
        role,
        parts,
        tool_calls,
        tool_call_id: m.tool_call_id,
    })
}

fn part(p: InPart, violations: &mut Violations) -> Option<Part> {
    match (p.kind.as_str(), p.text, p.image_url) {
        ("text", Some(text), _) => Some(Part::Text { text }),
        ("image_url", _, Some(image)) => {
            let detail = match image.detail.as_deref() {
                None => None,
                Some(d) => {
                    let parsed = ImageDetail::parse(d);
                    if parsed.is_none() {
                        violations.push((
                            "messages.content.image_url.detail",
                            format!("{:?} is not auto, low or high", validate::echo(d)),
                        ));
                    }
                    parsed
                }
            };
            match ImageSource::from_url(&image.url) {
                Ok(source) => Some(Part::Image(Image { source, detail })),
                Err(e) => {
                    violations.push((
                        "messages.content.image_url",
                        format!("{e}, got {:?}", validate::echo(&image.url)),
                    ));
                    None
                }
            }
        }
        (kind, _, _) => {
            violations.push((
                "messages.content",
                format!(
                    "{:?} content parts are not carried; send text or image_url",
                    validate::echo(kind)
                ),
            ));
            None
        }
    }
}

// === answers ===

/// OpenAI's `usage`.
pub fn usage(u: Usage) -> OutUsage {
    OutUsage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.input_tokens.saturating_add(u.output_tokens),
        prompt_tokens_details: PromptDetails {
            cached_tokens: u.cached_input_tokens,
        },
        completion_tokens_details: CompletionDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
    }
}

/// The choice of a whole answer: `message.tool_calls`, `content` null when the
/// answer is tool calls alone.
pub fn choice(a: &ChatAnswer) -> Choice<'_> {
    Choice {
        index: 0,
        message: OutMessage {
            role: "assistant",
            content: (!a.content.is_empty() || a.tool_calls.is_empty())
                .then_some(a.content.as_str()),
            refusal: None,
            tool_calls: a
                .tool_calls
                .iter()
                .map(|c| OutToolCall {
                    index: None,
                    id: Some(&c.id),
                    kind: Some("function"),
                    function: OutFunctionCall {
                        name: Some(&c.name),
                        arguments: &c.arguments,
                    },
                })
                .collect(),
        },
        finish_reason: finish_reason(a.finish_reason),
        logprobs: None,
    }
}

/// OpenAI's finish reason.
pub fn finish_reason(r: FinishReason) -> &'static str {
    r.as_str()
}

/// A chunk's tool-call piece: `index` always, `id`, `type` and `name` on the first.
pub fn tool_call_piece(d: &ToolCallDelta) -> OutToolCall<'_> {
    OutToolCall {
        index: Some(d.index),
        id: d.id.as_deref(),
        kind: d.id.as_ref().map(|_| "function"),
        function: OutFunctionCall {
            name: d.name.as_deref(),
            arguments: &d.arguments,
        },
    }
}

/// The trail as the `switchyard` extension lists it.
pub fn attempts(steps: &[Step]) -> Vec<Attempt<'_>> {
    steps
        .iter()
        .map(|s| Attempt {
            candidate_index: s.candidate_index,
            provider: &s.provider,
            model: &s.model,
            credential_id: s.credential_id.as_deref().unwrap_or(""),
            error_class: s.error_class.as_str(),
            http_status: s.http_status,
            action: s.action.as_str(),
            reason: &s.reason,
            duration_ms: s.duration_ms,
        })
        .collect()
}

pub use crate::steps::fallbacks;

/// The trail alone (the finish chunk, errors).
pub fn trail<'a>(request_id: &'a str, steps: &'a [Step]) -> Served<'a> {
    Served {
        request_id,
        fallbacks: Some(fallbacks(steps)),
        attempts: attempts(steps),
        ..Served::default()
    }
}

#[cfg(test)]
mod tests;
