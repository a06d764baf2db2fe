//! The whole answer: text, tool calls, normalised finish reason, usage.

use super::*;

/// Why generation stopped, normalised across providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    #[default]
    Stop,
    /// The token limit.
    Length,
    /// The model asked for tool calls.
    ToolCalls,
    /// The provider filtered or refused the content.
    ContentFilter,
}

impl FinishReason {
    /// snake_case name, as OpenAI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }

    /// Inverse of [`FinishReason::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Token usage of a completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u32,
    /// Generated tokens, reasoning ones included.
    pub output_tokens: u32,
    /// Prompt tokens read from the provider's cache.
    pub cached_input_tokens: u32,
    /// Generated tokens spent on reasoning.
    pub reasoning_tokens: u32,
}

/// The answer of a provider, whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatAnswer {
    /// Generated text (may be empty when the answer is tool calls).
    pub content: String,
    /// Tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Token usage.
    pub usage: Usage,
    /// Model the provider says answered, when it says.
    pub model: Option<String>,
}
