//! The domain chat as a Messages request body.

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{
    DEFAULT_MAX_TOKENS, MIN_THINKING_BUDGET, MIN_THINKING_TOP_P, STRUCTURED_OUTPUT_TOOL,
    Untranslatable, thinking_budget,
};
use crate::domain::chat::{
    ChatOptions, ChatRequest, Image, ImageSource, Message, Part, ReasoningEffort, ResponseFormat,
    Role, ToolChoice,
};

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Turn<'a>>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolDef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoiceBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: Source<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a RawValue,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        content: Vec<Block<'a>>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
struct ToolDef<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a RawValue,
}

#[derive(Serialize)]
struct ToolChoiceBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_parallel_tool_use: bool,
}

#[derive(Serialize)]
struct Thinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u32,
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

/// The tool input of a call without arguments.
fn empty_object() -> &'static RawValue {
    raw_literal("{}")
}

/// The input schema of a tool without parameters, and of `json_object` answers.
fn any_object_schema() -> &'static RawValue {
    raw_literal(r#"{"type":"object"}"#)
}

/// A JSON literal of this module as a raw value. Every literal passed is valid
/// JSON, so the `null` fallback is never used; it stands in for a panic.
fn raw_literal(json: &'static str) -> &'static RawValue {
    serde_json::from_str::<&RawValue>(json).unwrap_or(RawValue::NULL)
}

/// Builds the Messages API body for `request` sent to `model` (streamed when
/// `stream`). See the module doc for how each field is carried or refused.
pub fn request_body(
    model: &str,
    request: &ChatRequest,
    stream: bool,
) -> Result<Bytes, Untranslatable> {
    let options = &request.options;
    if options.seed.is_some() {
        return Err(Untranslatable::Seed);
    }
    // Tool-call arguments parsed once, borrowed by the body below.
    let mut inputs: Vec<Vec<Box<RawValue>>> = Vec::with_capacity(request.messages.len());
    for (i, m) in request.messages.iter().enumerate() {
        let mut parsed = Vec::with_capacity(m.tool_calls.len());
        for (j, call) in m.tool_calls.iter().enumerate() {
            parsed.push(
                tool_input(&call.arguments).ok_or(Untranslatable::ToolArguments {
                    message: i,
                    call: j,
                })?,
            );
        }
        inputs.push(parsed);
    }

    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<Turn<'_>> = Vec::new();
    for (i, m) in request.messages.iter().enumerate() {
        if m.role.is_instruction() {
            if !m.is_text_only() {
                return Err(Untranslatable::InstructionImage(i));
            }
            // A message's parts make one text, as everywhere in the domain.
            let text = m.text_content();
            if !text.is_empty() {
                system.push(text);
            }
            continue;
        }
        let (role, blocks) = turn_blocks(i, m, &inputs[i])?;
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(Turn {
                role,
                content: blocks,
            }),
        }
    }

    let (tools, tool_choice) = tools_and_choice(options)?;
    let mid_tool_loop = turns.last().is_some_and(|t| {
        t.content
            .iter()
            .any(|b| matches!(b, Block::ToolResult { .. }))
    });
    let effort = options.reasoning_effort.filter(|_| !mid_tool_loop);
    let sampling = sampling(options, effort, tool_choice.as_ref())?;

    let body = Request {
        model,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages: turns,
        max_tokens: sampling.max_tokens,
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        stop_sequences: &options.stop,
        tools,
        tool_choice,
        thinking: sampling.thinking,
        metadata: options.user.as_deref().map(|user_id| Metadata { user_id }),
        stream,
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| Untranslatable::Serialize(e.to_string()))
}

/// The tool definitions and tool choice: the caller's, or the one forced tool of
/// a structured output.
fn tools_and_choice(
    options: &ChatOptions,
) -> Result<(Vec<ToolDef<'_>>, Option<ToolChoiceBody<'_>>), Untranslatable> {
    if options
        .tools
        .iter()
        .any(|t| t.name == STRUCTURED_OUTPUT_TOOL)
    {
        return Err(Untranslatable::ReservedToolName);
    }
    let structured = match &options.response_format {
        Some(ResponseFormat::JsonSchema(f)) => Some((f.description.as_deref(), f.schema.raw())),
        Some(ResponseFormat::JsonObject) => Some((None, any_object_schema())),
        Some(ResponseFormat::Text) | None => None,
    };
    if let Some((description, schema)) = structured {
        if !options.tools.is_empty() {
            return Err(Untranslatable::StructuredOutputWithTools);
        }
        let tool = ToolDef {
            name: STRUCTURED_OUTPUT_TOOL,
            description: Some(description.unwrap_or("Give the answer as this tool's input.")),
            input_schema: schema,
        };
        let choice = ToolChoiceBody {
            kind: "tool",
            name: Some(STRUCTURED_OUTPUT_TOOL),
            disable_parallel_tool_use: false,
        };
        return Ok((vec![tool], Some(choice)));
    }
    let tools: Vec<ToolDef<'_>> = options
        .tools
        .iter()
        .map(|t| ToolDef {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: t
                .parameters
                .as_ref()
                .map_or(any_object_schema(), |p| p.raw()),
        })
        .collect();
    // The API refuses a tool choice without tools.
    if tools.is_empty() {
        return Ok((tools, None));
    }
    let no_parallel = options.parallel_tool_calls == Some(false);
    let (kind, name) = match &options.tool_choice {
        None | Some(ToolChoice::Auto) => ("auto", None),
        Some(ToolChoice::None) => ("none", None),
        Some(ToolChoice::Required) => ("any", None),
        Some(ToolChoice::Function(name)) => ("tool", Some(name.as_str())),
    };
    let choice = (options.tool_choice.is_some() || no_parallel).then_some(ToolChoiceBody {
        kind,
        name,
        // `none` takes no such flag, and forbids every call anyway.
        disable_parallel_tool_use: no_parallel && kind != "none",
    });
    Ok((tools, choice))
}

/// `max_tokens`, sampling and thinking, which depend on each other.
struct Sampling {
    max_tokens: u32,
    temperature: Option<f64>,
    top_p: Option<f64>,
    thinking: Option<Thinking>,
}

/// The sampling settings of `options` with thinking for `effort` (see the module
/// doc for the rules thinking imposes).
fn sampling(
    options: &ChatOptions,
    effort: Option<ReasoningEffort>,
    tool_choice: Option<&ToolChoiceBody<'_>>,
) -> Result<Sampling, Untranslatable> {
    let plain = Sampling {
        max_tokens: options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        temperature: options.temperature,
        top_p: options.top_p,
        thinking: None,
    };
    let Some(budget) = effort.and_then(thinking_budget) else {
        return Ok(plain);
    };
    if tool_choice.is_some_and(|c| matches!(c.kind, "any" | "tool")) {
        return Err(Untranslatable::ThinkingWithForcedTool);
    }
    let (max_tokens, budget) = match options.max_tokens {
        None => (budget.saturating_add(DEFAULT_MAX_TOKENS), budget),
        Some(max) if max > budget => (max, budget),
        Some(max) => (max, max.saturating_sub(1)),
    };
    if budget < MIN_THINKING_BUDGET {
        return Err(Untranslatable::ThinkingBudget);
    }
    Ok(Sampling {
        max_tokens,
        temperature: None,
        top_p: options.top_p.filter(|p| *p >= MIN_THINKING_TOP_P),
        thinking: Some(Thinking {
            kind: "enabled",
            budget_tokens: budget,
        }),
    })
}

/// The `tool_use` input of tool-call arguments: one JSON object kept as written,
/// `{}` for empty arguments, `None` for anything else.
fn tool_input(arguments: &str) -> Option<Box<RawValue>> {
    if arguments.trim().is_empty() {
        return Some(empty_object().to_owned());
    }
    let raw = serde_json::from_str::<Box<RawValue>>(arguments).ok()?;
    raw.get().starts_with('{').then_some(raw)
}

/// The role and blocks of one non-instruction message.
fn turn_blocks<'a>(
    index: usize,
    m: &'a Message,
    inputs: &'a [Box<RawValue>],
) -> Result<(&'static str, Vec<Block<'a>>), Untranslatable> {
    let content: Vec<Block<'a>> = m.parts.iter().filter_map(part_block).collect();
    let (role, blocks) =
        match m.role {
            Role::Tool => {
                let id = m
                    .tool_call_id
                    .as_deref()
                    .ok_or(Untranslatable::MissingToolCallId(index))?;
                (
                    "user",
                    vec![Block::ToolResult {
                        tool_use_id: id,
                        content,
                    }],
                )
            }
            Role::Assistant => {
                let mut blocks = content;
                blocks.extend(m.tool_calls.iter().zip(inputs).map(|(call, input)| {
                    Block::ToolUse {
                        id: &call.id,
                        name: &call.name,
                        input,
                    }
                }));
                ("assistant", blocks)
            }
            // Instructions never get here; a user message is a user turn.
            Role::User | Role::System | Role::Developer => ("user", content),
        };
    if blocks.is_empty() {
        return Err(Untranslatable::EmptyMessage(index));
    }
    Ok((role, blocks))
}

fn part_block(part: &Part) -> Option<Block<'_>> {
    match part {
        Part::Text { text } if text.is_empty() => None,
        Part::Text { text } => Some(Block::Text { text }),
        Part::Image(Image { source, .. }) => Some(Block::Image {
            source: match source {
                ImageSource::Url { url } => Source::Url { url },
                ImageSource::Base64 { media_type, data } => Source::Base64 { media_type, data },
            },
        }),
    }
}
