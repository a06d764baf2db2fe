//! The Anthropic Messages API (`POST /v1/messages`, version `2023-06-01`) as a
//! pure translation of the domain chat: [`request_body`] builds the request,
//! [`parse_answer`] reads a whole answer, and [`StreamParser`] reads a streamed one
//! into [`StreamEvent`]s. Typed serde structs both ways; JSON Schemas and tool
//! inputs are embedded as raw JSON text, never re-parsed or copied.
//!
//! Depends only on the domain model and on the SSE framing of [`crate::sse`]: no
//! I/O, no clock, no tracing.
//!
//! # How each part of the domain request is carried
//! | domain | Anthropic |
//! |---|---|
//! | `system` and `developer` messages | top-level `system`: each message's text, joined by a blank line, in order (empty ones left out); an image in one is [`Untranslatable`] |
//! | `user` message | `user` turn of `text` and `image` blocks |
//! | image, https URL / base64 data | `image` block with a `url` / `base64` source; `detail` has no equivalent and is not sent |
//! | `assistant` message | `assistant` turn: `text` blocks, then one `tool_use` block per call (id kept) |
//! | tool-call arguments | the `tool_use` `input`, embedded verbatim; empty arguments become `{}`; arguments that are not one JSON object are [`Untranslatable`] (the API takes an object only, and guessing would change what the model said) |
//! | `tool` message | `tool_result` block (`tool_use_id` = `tool_call_id`, its text and images as content) in a `user` turn |
//! | consecutive turns of one role | merged into one turn, blocks in order, as the API requires alternating roles |
//! | empty text parts | not sent (the API refuses empty text blocks); a message left with no block is [`Untranslatable`] |
//! | `tools` | `tools` with `name`, `description`, `input_schema` (the parameters verbatim, `{"type":"object"}` when absent); `strict` is not sent |
//! | `tool_choice` auto / none / required / function | `{type: auto}` / `{type: none}` / `{type: any}` / `{type: tool, name}`, sent only with tools |
//! | `parallel_tool_calls: false` | `disable_parallel_tool_use: true` on the tool choice (`auto` when none was given) |
//! | `max_tokens` | `max_tokens` (required by the API: [`DEFAULT_MAX_TOKENS`] when absent) |
//! | `temperature`, `top_p`, `stop` | `temperature`, `top_p`, `stop_sequences` |
//! | `user` | `metadata.user_id`; other `metadata` keys have no place in the API and are not sent |
//! | `seed` | no equivalent: [`Untranslatable`] |
//! | `reasoning_effort` | `thinking: {type: enabled, budget_tokens}`, see below |
//! | `response_format` `json_object` / `json_schema` | a forced single tool, see below |
//!
//! # Reasoning effort
//! `minimal` sends no `thinking` (Anthropic's smallest budget, 1024 tokens, is
//! already more than "minimal"); `low` 1024, `medium` 4096 and `high` 16384 tokens
//! of `budget_tokens`. With thinking on, the API wants `max_tokens` above the
//! budget, no `temperature` and no forced tool: `max_tokens` absent becomes the
//! budget plus [`DEFAULT_MAX_TOKENS`]; a given `max_tokens` at or below the budget
//! lowers the budget to `max_tokens - 1`, and below 1024 is [`Untranslatable`];
//! `temperature` is not sent (thinking fixes it at 1), nor a `top_p` below 0.95
//! (the least thinking accepts); a `required` or named `tool_choice`, or a
//! structured output, is [`Untranslatable`].
//!
//! In the middle of a tool loop (the last turn holds tool results) no `thinking`
//! is sent: the API then wants the assistant turn that made the calls to open with
//! its signed thinking block, which the domain does not carry (the calls may even
//! come from another provider). The loop's next answer is made without thinking
//! rather than refused; the turn after a new user message thinks again.
//!
//! # Structured output
//! The API has no JSON mode. `json_schema` becomes one tool named
//! [`STRUCTURED_OUTPUT_TOOL`] whose `input_schema` is the schema, forced with
//! `tool_choice: {type: tool, name}`; `json_object` does the same with the schema
//! `{"type":"object"}`. [`parse_answer`] and [`StreamParser`] turn that tool's
//! input back into the answer's text, and its `tool_use` stop into `stop`. A
//! request that also has tools is [`Untranslatable`] (forcing the answer tool
//! would forbid the caller's tools), and so is a caller tool of that reserved name.

use std::collections::VecDeque;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::chat::{
    ChatAnswer, ChatOptions, ChatRequest, FinishReason, Image, ImageSource, Message, Part,
    ReasoningEffort, ResponseFormat, Role, StreamEvent, ToolCall, ToolCallDelta, ToolChoice, Usage,
    UsageDelta,
};
use crate::sse::{Malformed, SseDecoder, SseEvent};

#[cfg(test)]
mod tests;

/// `max_tokens` sent when the caller gives none (the API requires the field).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Name of the tool that carries a structured-output answer (see the module doc).
pub const STRUCTURED_OUTPUT_TOOL: &str = "switchyard_structured_output";

/// The smallest thinking budget the API accepts.
const MIN_THINKING_BUDGET: u32 = 1024;

/// The smallest `top_p` the API accepts with thinking.
const MIN_THINKING_TOP_P: f64 = 0.95;

/// The thinking budget of a reasoning effort; `None` for no thinking.
pub fn thinking_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::Minimal => None,
        ReasoningEffort::Low => Some(1024),
        ReasoningEffort::Medium => Some(4096),
        ReasoningEffort::High => Some(16384),
    }
}

/// Why a domain request cannot be sent to an Anthropic provider as it is. The
/// message names the field, for the trail; it never holds message content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untranslatable {
    /// `seed` has no equivalent in the Messages API.
    #[error("seed is not supported by the Anthropic Messages API")]
    Seed,
    /// An image in a `system` or `developer` message (`system` is text only).
    #[error(
        "messages[{0}]: an image in a system or developer message is not supported by Anthropic"
    )]
    InstructionImage(usize),
    /// A message with no text, image or tool call to send.
    #[error("messages[{0}]: empty message (Anthropic refuses empty turns)")]
    EmptyMessage(usize),
    /// A tool message without `tool_call_id`.
    #[error("messages[{0}]: a tool message needs a tool_call_id")]
    MissingToolCallId(usize),
    /// Tool-call arguments that are not one JSON object.
    #[error(
        "messages[{message}].tool_calls[{call}].arguments: not a JSON object (Anthropic tool_use input must be one)"
    )]
    ToolArguments {
        /// Index of the message.
        message: usize,
        /// Index of the call in the message.
        call: usize,
    },
    /// A caller tool named like the structured-output tool.
    #[error("tools: the name {STRUCTURED_OUTPUT_TOOL} is reserved")]
    ReservedToolName,
    /// Structured output together with tools.
    #[error(
        "response_format with tools is not supported by Anthropic (structured output is a forced tool)"
    )]
    StructuredOutputWithTools,
    /// Thinking with a forced tool (structured output, `required` or a named tool).
    #[error(
        "reasoning_effort with a forced tool choice or response_format is not supported by Anthropic"
    )]
    ThinkingWithForcedTool,
    /// `max_tokens` too small for the smallest thinking budget.
    #[error("max_tokens must be above {MIN_THINKING_BUDGET} with reasoning_effort on Anthropic")]
    ThinkingBudget,
    /// The body could not be serialised (not expected: every field is checked).
    #[error("request body: {0}")]
    Serialize(String),
}

// === Request ===

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

// === Whole answers ===

/// Why an answer body is not a Messages API answer. Holds the JSON error's kind
/// and position only, never the body's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Anthropic message: {0}")]
pub struct ParseError(String);

impl ParseError {
    fn json(e: &serde_json::Error) -> Self {
        Self(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    }
}

#[derive(Deserialize)]
struct AnswerBody {
    #[serde(default)]
    model: Option<String>,
    content: Vec<AnswerBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<UsageBody>,
}

/// One content block of an answer. A flat struct rather than a tagged enum:
/// serde buffers a tagged enum's fields, and a buffered `RawValue` cannot be read.
#[derive(Deserialize)]
struct AnswerBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Box<RawValue>>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct UsageBody {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl UsageBody {
    /// Anthropic's `input_tokens` leaves out cache reads and writes; the domain's
    /// input counts every prompt token. Present only when `input_tokens` is.
    fn delta(self) -> UsageDelta {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let written = self.cache_creation_input_tokens.unwrap_or(0);
        UsageDelta {
            input: self
                .input_tokens
                .map(|n| clamp(n.saturating_add(cached).saturating_add(written))),
            output: self.output_tokens.map(clamp),
            // Reported with the input, or alone when the provider says it alone.
            cached_input: self
                .cache_read_input_tokens
                .or(self.input_tokens.map(|_| 0))
                .map(clamp),
            reasoning: None,
        }
    }
}

/// The normalised finish reason of a `stop_reason`. A `tool_use` stop for the
/// structured-output tool alone is a natural `stop`.
fn finish_reason(stop_reason: &str, real_tool_calls: bool) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" if real_tool_calls => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn, tool_use of the answer tool, and
        // reasons added later.
        _ => FinishReason::Stop,
    }
}

/// Reads a whole Messages API answer: text blocks joined, `tool_use` blocks as
/// tool calls (input as its JSON text), the structured-output tool's input as
/// the text, the stop reason normalised, and usage with cache reads as cached input.
pub fn parse_answer(body: &[u8]) -> Result<ChatAnswer, ParseError> {
    let parsed: AnswerBody = serde_json::from_slice(body).map_err(|e| ParseError::json(&e))?;
    let missing = || ParseError("a text or tool_use block lacks a field".into());
    let mut answer = ChatAnswer {
        model: parsed.model,
        ..ChatAnswer::default()
    };
    for block in parsed.content {
        match (block.kind.as_str(), block.id, block.name, block.input) {
            ("text", ..) => answer.content.push_str(&block.text.ok_or_else(missing)?),
            ("tool_use", _, Some(name), Some(input)) if name == STRUCTURED_OUTPUT_TOOL => {
                answer.content.push_str(input.get());
            }
            ("tool_use", Some(id), Some(name), Some(input)) => answer.tool_calls.push(ToolCall {
                id,
                name,
                arguments: input.get().to_owned(),
            }),
            ("tool_use", ..) => return Err(missing()),
            // thinking, redacted_thinking, server tools, and types added later.
            _ => {}
        }
    }
    answer.finish_reason = parsed
        .stop_reason
        .as_deref()
        .map_or(FinishReason::Stop, |r| {
            finish_reason(r, !answer.tool_calls.is_empty())
        });
    if let Some(usage) = parsed.usage {
        let mut total = Usage::default();
        total.apply(usage.delta());
        answer.usage = total;
    }
    Ok(answer)
}

// === Streams ===

/// Why a stream is not a Messages API stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The SSE framing is broken.
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// An event whose data is not the JSON its type needs.
    #[error("malformed Anthropic {0} event")]
    InvalidEvent(String),
    /// A tool-input piece for a content block never opened, or opened as text.
    #[error("input_json_delta for content block {0}, which is not a tool_use block")]
    UnknownBlock(u64),
}

/// What an open content block of the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    /// A tool call: its index among the answer's tool calls, and whether a
    /// non-empty input piece arrived.
    Tool {
        index: u32,
        has_input: bool,
    },
    /// The structured-output tool: its input is the answer's text.
    Answer,
    /// Thinking and block types this translation does not carry.
    Ignored,
}

#[derive(Deserialize)]
struct EventBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(default)]
    content_block: Option<StartBlock>,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct StartBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    stop_reason: Option<String>,
}

/// Reads a Messages API event stream incrementally into [`StreamEvent`]s: text
/// deltas as text, each `tool_use` block as a tool call with a stable index (its
/// id and name first, then its `input_json_delta` pieces), the stop reason and
/// usage, `message_stop` as [`StreamEvent::Done`], and an `error` event as
/// [`StreamEvent::Error`] holding the event's JSON text for
/// [`crate::classify::classify_stream_error`]. `ping` says nothing.
#[derive(Debug, Default)]
pub struct StreamParser {
    decoder: SseDecoder,
    pending: VecDeque<SseEvent>,
    /// Open content blocks by the stream's block index.
    blocks: Vec<(u64, OpenBlock)>,
    next_tool: u32,
}

impl StreamParser {
    /// Feeds raw bytes, as the network delivers them, and appends the events of
    /// every completed SSE event to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        self.decoder.feed(chunk, &mut self.pending)?;
        while let Some(event) = self.pending.pop_front() {
            self.push(&event, out)?;
        }
        Ok(())
    }

    /// Appends the events of one SSE event to `out`.
    pub fn push(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), StreamError> {
        let name = event.event.as_deref().unwrap_or_default();
        if name == "error" {
            out.push(StreamEvent::Error(event.data.clone()));
            return Ok(());
        }
        let invalid =
            || StreamError::InvalidEvent(if name.is_empty() { "unnamed" } else { name }.into());
        let body: EventBody = serde_json::from_str(&event.data).map_err(|_| invalid())?;
        match body.kind.as_str() {
            "message_start" => {
                let message = body.message.ok_or_else(invalid)?;
                if let Some(model) = message.model {
                    out.push(StreamEvent::Model(model));
                }
                if let Some(usage) = message.usage {
                    out.push(StreamEvent::Usage(usage.delta()));
                }
            }
            "content_block_start" => {
                let (Some(index), Some(block)) = (body.index, body.content_block) else {
                    return Err(invalid());
                };
                let open = match block.kind.as_str() {
                    "text" => {
                        if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text));
                        }
                        OpenBlock::Text
                    }
                    "tool_use" => {
                        let (Some(id), Some(name)) = (block.id, block.name) else {
                            return Err(invalid());
                        };
                        if name == STRUCTURED_OUTPUT_TOOL {
                            OpenBlock::Answer
                        } else {
                            let tool = self.next_tool;
                            self.next_tool += 1;
                            out.push(StreamEvent::ToolCall(ToolCallDelta {
                                index: tool,
                                id: Some(id),
                                name: Some(name),
                                arguments: String::new(),
                            }));
                            OpenBlock::Tool {
                                index: tool,
                                has_input: false,
                            }
                        }
                    }
                    _ => OpenBlock::Ignored,
                };
                self.blocks.retain(|(i, _)| *i != index);
                self.blocks.push((index, open));
            }
            "content_block_delta" => {
                let (Some(index), Some(delta)) = (body.index, body.delta) else {
                    return Err(invalid());
                };
                let open = self.blocks.iter_mut().find(|(i, _)| *i == index);
                match delta.kind.as_deref() {
                    Some("text_delta") => {
                        if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text));
                        }
                    }
                    Some("input_json_delta") => {
                        let piece = delta.partial_json.unwrap_or_default();
                        match open {
                            Some((_, OpenBlock::Tool { index, has_input })) => {
                                *has_input |= !piece.is_empty();
                                out.push(StreamEvent::ToolCall(ToolCallDelta {
                                    index: *index,
                                    id: None,
                                    name: None,
                                    arguments: piece,
                                }));
                            }
                            Some((_, OpenBlock::Answer)) => {
                                if !piece.is_empty() {
                                    out.push(StreamEvent::Text(piece));
                                }
                            }
                            // Input of a block not carried (a server tool's).
                            Some((_, OpenBlock::Ignored)) => {}
                            Some((_, OpenBlock::Text)) | None => {
                                return Err(StreamError::UnknownBlock(index));
                            }
                        }
                    }
                    // thinking_delta, signature_delta, and types added later.
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = body.index.ok_or_else(invalid)?;
                if let Some(pos) = self.blocks.iter().position(|(i, _)| *i == index) {
                    // A call with no input pieces has the input `{}`, as whole.
                    if let (
                        _,
                        OpenBlock::Tool {
                            index,
                            has_input: false,
                        },
                    ) = self.blocks[pos]
                    {
                        out.push(StreamEvent::ToolCall(ToolCallDelta {
                            index,
                            id: None,
                            name: None,
                            arguments: "{}".into(),
                        }));
                    }
                    self.blocks.remove(pos);
                }
            }
            "message_delta" => {
                if let Some(reason) = body.delta.and_then(|d| d.stop_reason) {
                    out.push(StreamEvent::Finish(finish_reason(
                        &reason,
                        self.next_tool > 0,
                    )));
                }
                if let Some(usage) = body.usage {
                    out.push(StreamEvent::Usage(usage.delta()));
                }
            }
            "message_stop" => out.push(StreamEvent::Done),
            // An error in a stream not named `error` on the SSE line.
            "error" => out.push(StreamEvent::Error(event.data.clone())),
            // ping, and event types added later.
            _ => {}
        }
        Ok(())
    }
}
