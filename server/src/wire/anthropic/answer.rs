//! A whole Messages answer as a domain answer, and the usage and finish
//! reason the stream parser shares.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::STRUCTURED_OUTPUT_TOOL;
use crate::domain::chat::{ChatAnswer, FinishReason, ToolCall, Usage, UsageDelta};

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
pub(super) struct UsageBody {
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
    pub(super) fn delta(self) -> UsageDelta {
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
pub(super) fn finish_reason(stop_reason: &str, real_tool_calls: bool) -> FinishReason {
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
    let parsed: AnswerBody = crate::json_body::from_body(body).map_err(|e| ParseError::json(&e))?;
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
