//! Responses API shapes <-> the domain chat. A request becomes a [`Draft`] plus
//! the violations found on the way: every field, item or part the door does not
//! carry is refused by name, never dropped, and the server-side state the API
//! offers (`previous_response_id`, `conversation`, `background`) is refused
//! because Switchyard keeps none. An answer becomes the response object's
//! output items and usage.
//!
//! Pure: no I/O, no HTTP types.

use crate::domain::{
    ChatOptions, Image, ImageDetail, ImageSource, JsonObject, JsonSchemaFormat, Message, Part,
    ReasoningEffort, ResponseFormat, Role, Tool, ToolCall, ToolChoice,
};
use crate::validate::{self, Draft, Violations};

use super::types::{
    InContent, InFormat, InItem, InPart, InText, InToolChoice, Input, ResponseObject,
    ResponsesRequest,
};

/// Request fields the door reads but does not forward, because they change
/// nothing in the answer the caller gets, with why. Any other unknown field is
/// refused.
pub(crate) const IGNORED: [(&str, &str); 7] = [
    (
        "store",
        "Switchyard stores no response: nothing is kept either way",
    ),
    (
        "include",
        "no extra output data (encrypted reasoning, logprobs) is produced",
    ),
    ("service_tier", "OpenAI's processing tier"),
    ("prompt_cache_key", "OpenAI's cache routing hint"),
    ("prompt_cache_retention", "OpenAI's cache retention hint"),
    ("safety_identifier", "OpenAI's abuse-monitoring id"),
    (
        "stream_options",
        "stream obfuscation padding is never added",
    ),
];

/// Fields refused unless they hold their neutral value, which is what not
/// sending them means.
const NEUTRAL: [(&str, &str); 3] = [
    ("background", "false"),
    ("truncation", "\"disabled\""),
    ("top_logprobs", "0"),
];

/// Fields refused by name, with why.
const REFUSED: [(&str, &str); 6] = [
    (
        "previous_response_id",
        "Switchyard keeps no conversation state: send the whole conversation in input",
    ),
    (
        "conversation",
        "Switchyard keeps no conversation state: send the whole conversation in input",
    ),
    (
        "background",
        "background responses are not carried: Switchyard stores no response to poll",
    ),
    (
        "prompt",
        "stored prompt templates are not carried: send instructions and input",
    ),
    ("max_tool_calls", "not carried by Switchyard"),
    ("truncation", "only \"disabled\" is carried"),
];

/// What the response object echoes of its request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Echo {
    /// `instructions` as sent.
    pub instructions: Option<String>,
    /// `max_output_tokens` as sent.
    pub max_output_tokens: Option<i64>,
    /// The checked options (tools, tool choice, format, sampling, metadata).
    pub options: ChatOptions,
}

impl Echo {
    /// A response object for this request, `in_progress`, with no output yet.
    pub(crate) fn response<'a>(
        &'a self,
        id: &'a str,
        created_at: u64,
        model: &'a str,
    ) -> ResponseObject<'a> {
        let o = &self.options;
        ResponseObject {
            id,
            object: "response",
            created_at,
            status: "in_progress",
            error: None,
            incomplete_details: None,
            instructions: self.instructions.as_deref(),
            max_output_tokens: self.max_output_tokens,
            model,
            output: Vec::new(),
            parallel_tool_calls: o.parallel_tool_calls.unwrap_or(true),
            temperature: o.temperature,
            top_p: o.top_p,
            tool_choice: echo_tool_choice(o),
            tools: echo_tools(o),
            text: echo_text(o),
            reasoning: echo_reasoning(o),
            usage: None,
            metadata: &o.metadata,
            switchyard: None,
        }
    }
}

fn is_neutral(field: &str, value: &serde_json::Value) -> bool {
    NEUTRAL.iter().any(|(name, neutral)| {
        *name == field
            && serde_json::from_str::<serde_json::Value>(neutral).is_ok_and(|n| {
                n == *value || (value.as_f64().is_some_and(|v| v == 0.0) && n.as_f64().is_some())
            })
    })
}

/// Reads the request into a draft; `violations` collects what cannot be carried.
pub(crate) fn draft(request: ResponsesRequest, violations: &mut Violations) -> Draft {
    for (field, value) in &request.rest {
        if value.is_null()
            || IGNORED.iter().any(|(name, _)| name == field)
            || is_neutral(field, value)
        {
            continue;
        }
        match REFUSED.iter().find(|(name, _)| name == field) {
            Some((name, why)) => violations.push((name, (*why).to_owned())),
            None => violations.push((
                "body",
                format!("{:?} is not carried by Switchyard", validate::echo(field)),
            )),
        }
    }
    let mut messages = Vec::new();
    if let Some(instructions) = request.instructions {
        messages.push(Message::text(Role::System, instructions));
    }
    match request.input {
        None => violations.push(("input", "the input is required".into())),
        Some(Input::Text(text)) => messages.push(Message::text(Role::User, text)),
        Some(Input::Items(items)) => input_items(items, &mut messages, violations),
    }
    let tools = tools(request.tools.unwrap_or_default(), violations);
    let tool_choice = request.tool_choice.and_then(|c| tool_choice(c, violations));
    let response_format = request.text.and_then(|t| text(t, violations));
    let reasoning_effort = request.reasoning.and_then(|r| {
        for (field, value) in &r.rest {
            // `summary` asks for something best-effort that is never produced;
            // anything else is unknown.
            if !value.is_null() && field != "summary" && field != "generate_summary" {
                violations.push((
                    "reasoning",
                    format!("{:?} is not carried by Switchyard", validate::echo(field)),
                ));
            }
        }
        let e = r.effort?;
        let effort = ReasoningEffort::parse(&e);
        if effort.is_none() {
            violations.push((
                "reasoning.effort",
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
        max_tokens: request.max_output_tokens,
        options: ChatOptions {
            max_tokens: None,
            temperature: request.temperature,
            top_p: request.top_p,
            seed: None,
            stop: Vec::new(),
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

/// Input items in order: messages, and `function_call` items joined to the
/// assistant turn they follow (one assistant message carries text and calls, as
/// every provider format wants), `function_call_output` items as tool messages.
fn input_items(items: Vec<InItem>, messages: &mut Vec<Message>, violations: &mut Violations) {
    let mut bad_roles = 0;
    for item in items {
        for (field, value) in &item.rest {
            if !value.is_null() {
                violations.push((
                    "input",
                    format!(
                        "the item field {:?} is not carried by Switchyard",
                        validate::echo(field)
                    ),
                ));
            }
        }
        match item.kind.as_deref().unwrap_or("message") {
            "message" => {
                let Some(role) = item
                    .role
                    .as_deref()
                    .and_then(Role::parse)
                    .filter(|r| *r != Role::Tool)
                else {
                    bad_roles += 1;
                    continue;
                };
                let parts = match item.content {
                    None => Vec::new(),
                    Some(InContent::Text(t)) => vec![Part::text(t)],
                    Some(InContent::Parts(parts)) => parts
                        .into_iter()
                        .filter_map(|p| part(p, violations))
                        .collect(),
                };
                messages.push(Message {
                    role,
                    parts,
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                });
            }
            "function_call" => {
                let (Some(call_id), Some(name)) = (item.call_id, item.name) else {
                    violations.push((
                        "input.call_id",
                        "a function_call item needs its call_id and name".into(),
                    ));
                    continue;
                };
                let call = ToolCall {
                    id: call_id,
                    name,
                    arguments: item.arguments.unwrap_or_default(),
                };
                match messages.last_mut() {
                    Some(last) if last.role == Role::Assistant => last.tool_calls.push(call),
                    _ => messages.push(Message::assistant_calls(None, vec![call])),
                }
            }
            "function_call_output" => {
                let Some(call_id) = item.call_id else {
                    violations.push((
                        "input.call_id",
                        "a function_call_output item needs the call_id it answers".into(),
                    ));
                    continue;
                };
                let text = match item.output {
                    None => String::new(),
                    Some(InContent::Text(t)) => t,
                    Some(InContent::Parts(parts)) => parts
                        .into_iter()
                        .filter_map(|p| match part(p, violations) {
                            Some(Part::Text { text }) => Some(text),
                            Some(Part::Image(_)) => {
                                violations.push((
                                    "input.output",
                                    "images in a function_call_output are not carried".into(),
                                ));
                                None
                            }
                            None => None,
                        })
                        .collect(),
                };
                messages.push(Message::tool_result(call_id, text));
            }
            "item_reference" => violations.push((
                "input.type",
                "item references are not carried: Switchyard keeps no conversation state".into(),
            )),
            other => violations.push((
                "input.type",
                format!(
                    "{:?} items are not carried; send message, function_call or \
                     function_call_output items",
                    validate::echo(other)
                ),
            )),
        }
    }
    if bad_roles > 0 {
        violations.push((
            "input.role",
            format!(
                "{bad_roles} message item(s) without a valid role (system, developer, user or \
                 assistant)"
            ),
        ));
    }
}

fn part(p: InPart, violations: &mut Violations) -> Option<Part> {
    match (p.kind.as_str(), p.text) {
        ("input_text" | "output_text", Some(text)) => Some(Part::Text { text }),
        ("input_image", _) => {
            let detail = match p.detail.as_deref() {
                None => None,
                Some(d) => {
                    let parsed = ImageDetail::parse(d);
                    if parsed.is_none() {
                        violations.push((
                            "input.content.detail",
                            format!("{:?} is not auto, low or high", validate::echo(d)),
                        ));
                    }
                    parsed
                }
            };
            match (p.image_url, p.file_id) {
                (Some(url), _) => match ImageSource::from_url(&url) {
                    Ok(source) => Some(Part::Image(Image { source, detail })),
                    Err(e) => {
                        violations.push((
                            "input.content.image_url",
                            format!("{e}, got {:?}", validate::echo(&url)),
                        ));
                        None
                    }
                },
                (None, _) => {
                    violations.push((
                        "input.content.file_id",
                        "stored files are not carried: send the image as an https or data URL"
                            .into(),
                    ));
                    None
                }
            }
        }
        (kind, _) => {
            violations.push((
                "input.content",
                format!(
                    "{:?} content parts are not carried; send input_text or input_image",
                    validate::echo(kind)
                ),
            ));
            None
        }
    }
}

fn tools(tools: Vec<super::types::InTool>, violations: &mut Violations) -> Vec<Tool> {
    let mut out = Vec::with_capacity(tools.len());
    for t in tools {
        if t.kind != "function" {
            violations.push((
                "tools.type",
                format!(
                    "{:?} tools are not carried (Switchyard runs no hosted tools); send functions",
                    validate::echo(&t.kind)
                ),
            ));
            continue;
        }
        let Some(name) = t.name else {
            violations.push(("tools.name", "a function tool needs its name".into()));
            continue;
        };
        let parameters = match t.parameters.map(JsonObject::from_raw) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                violations.push(("tools.parameters", e.to_string()));
                None
            }
        };
        out.push(Tool {
            name,
            description: t.description,
            parameters,
            strict: t.strict,
        });
    }
    out
}

fn tool_choice(c: InToolChoice, violations: &mut Violations) -> Option<ToolChoice> {
    match c {
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
        InToolChoice::Named {
            kind,
            name: Some(name),
        } if kind == "function" => Some(ToolChoice::Function(name)),
        InToolChoice::Named { kind, .. } => {
            violations.push((
                "tool_choice",
                format!(
                    "{:?} tool choices are not carried; name a function",
                    validate::echo(&kind)
                ),
            ));
            None
        }
    }
}

fn text(t: InText, violations: &mut Violations) -> Option<ResponseFormat> {
    for (field, value) in &t.rest {
        // `verbosity: medium` is what not sending it means.
        if value.is_null() || (field == "verbosity" && value == "medium") {
            continue;
        }
        violations.push((
            "text",
            format!("{:?} is not carried by Switchyard", validate::echo(field)),
        ));
    }
    t.format.and_then(|f| format(f, violations))
}

fn format(f: InFormat, violations: &mut Violations) -> Option<ResponseFormat> {
    match f.kind.as_str() {
        "text" => Some(ResponseFormat::Text),
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => {
            let Some(name) = f.name else {
                violations.push((
                    "text.format.name",
                    "a json_schema format needs its name".into(),
                ));
                return None;
            };
            let schema = match f.schema.map(JsonObject::from_raw) {
                Some(Ok(schema)) => schema,
                Some(Err(e)) => {
                    violations.push(("text.format.schema", e.to_string()));
                    return None;
                }
                None => {
                    violations.push(("text.format.schema", "the schema is required".into()));
                    return None;
                }
            };
            Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name,
                description: f.description,
                schema,
                strict: f.strict,
            }))
        }
        other => {
            violations.push((
                "text.format",
                format!(
                    "{:?} is not text, json_object or json_schema",
                    validate::echo(other)
                ),
            ));
            None
        }
    }
}

pub(crate) use super::answer::{
    call_item_id, echo_reasoning, echo_text, echo_tool_choice, echo_tools, message_id, output,
    status, usage,
};

#[cfg(test)]
mod tests;
