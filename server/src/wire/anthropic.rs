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

use crate::domain::chat::ReasoningEffort;

mod answer;
mod request;
mod stream;
#[cfg(test)]
mod tests;

pub use answer::*;
pub use request::*;
pub use stream::*;

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
