//! The whole answer: a Responses `response` object as a domain [`ChatAnswer`],
//! and the pieces of it (usage, finish reason) the stream parser shares.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::chat::{ChatAnswer, FinishReason, ToolCall, Usage, UsageDelta};

/// Why a body is not an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a Responses `response` object.
    #[error("not a Responses answer: {0}")]
    Malformed(String),
    /// The provider says the response failed (`status: failed`, or an `error`).
    /// `payload` is the whole body, for [`crate::classify::classify_stream_error`].
    #[error("the response failed")]
    Failed {
        /// The body as received.
        payload: String,
    },
    /// A status that is no answer yet (`in_progress`, `queued`, `cancelled`...).
    #[error("the response is `{0}`, not an answer")]
    Unfinished(String),
}

// === Wire types ===

#[derive(Deserialize)]
pub(super) struct WireResponse {
    #[serde(default)]
    pub(super) model: Option<String>,
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) incomplete_details: Option<Incomplete>,
    #[serde(default)]
    pub(super) output: Vec<OutputItem>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default)]
    pub(super) error: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
pub(super) struct Incomplete {
    #[serde(default)]
    pub(super) reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutputItem {
    Message {
        #[serde(default)]
        content: Vec<OutputContent>,
    },
    FunctionCall {
        call_id: String,
        name: String,
        #[serde(default)]
        arguments: String,
    },
    /// `reasoning`, `web_search_call`... carry nothing the domain answer holds.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutputContent {
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    output_tokens: u32,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: u32,
}

#[derive(Deserialize)]
struct OutputDetails {
    #[serde(default)]
    reasoning_tokens: u32,
}

// === impl WireUsage ===

impl WireUsage {
    pub(super) fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_input_tokens: self
                .input_tokens_details
                .as_ref()
                .map_or(0, |d| d.cached_tokens),
            reasoning_tokens: self
                .output_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
        }
    }

    pub(super) fn delta(&self) -> UsageDelta {
        let u = self.usage();
        UsageDelta {
            input: Some(u.input_tokens),
            output: Some(u.output_tokens),
            cached_input: Some(u.cached_input_tokens),
            reasoning: Some(u.reasoning_tokens),
        }
    }
}

/// What the answer's `status` says.
pub(super) enum Outcome {
    /// An answer that ended for this reason.
    Finished(FinishReason),
    /// `failed`.
    Failed,
    /// Any other status.
    Unfinished(String),
}

/// The finish reason of a response of `status`: `completed` is `stop`, or
/// `tool_calls` when the answer holds calls, or `content_filter` when the model
/// refused; `incomplete` is `length` for `max_output_tokens`, `content_filter` for
/// `content_filter`, else `length` (the answer was cut short either way).
pub(super) fn outcome(
    status: Option<&str>,
    incomplete: Option<&Incomplete>,
    has_calls: bool,
    refused: bool,
) -> Outcome {
    match status.unwrap_or("completed") {
        "completed" if refused => Outcome::Finished(FinishReason::ContentFilter),
        "completed" if has_calls => Outcome::Finished(FinishReason::ToolCalls),
        "completed" => Outcome::Finished(FinishReason::Stop),
        "incomplete" => Outcome::Finished(match incomplete.and_then(|i| i.reason.as_deref()) {
            Some("content_filter") => FinishReason::ContentFilter,
            _ => FinishReason::Length,
        }),
        "failed" => Outcome::Failed,
        other => Outcome::Unfinished(other.to_owned()),
    }
}

/// Parses a whole Responses answer. Output `message` items give the text (a
/// refusal's text too, with `content_filter`), `function_call` items the tool
/// calls, their `call_id` as id; `reasoning` and other items are ignored.
pub fn parse_answer(body: &[u8]) -> Result<ChatAnswer, ParseError> {
    let failed = || ParseError::Failed {
        payload: String::from_utf8_lossy(body).into_owned(),
    };
    let wire: WireResponse =
        crate::json_body::from_body(body).map_err(|e| ParseError::Malformed(e.to_string()))?;
    if wire.error.as_ref().is_some_and(|e| e.get() != "null") {
        return Err(failed());
    }
    let mut answer = ChatAnswer {
        model: wire.model,
        usage: wire
            .usage
            .as_ref()
            .map(WireUsage::usage)
            .unwrap_or_default(),
        ..ChatAnswer::default()
    };
    let mut refused = false;
    for item in wire.output {
        match item {
            OutputItem::Message { content } => {
                for c in content {
                    match c {
                        OutputContent::OutputText { text } => answer.content.push_str(&text),
                        OutputContent::Refusal { refusal } => {
                            refused = true;
                            answer.content.push_str(&refusal);
                        }
                        OutputContent::Other => {}
                    }
                }
            }
            OutputItem::FunctionCall {
                call_id,
                name,
                arguments,
            } => answer.tool_calls.push(ToolCall {
                id: call_id,
                name,
                arguments,
            }),
            OutputItem::Other => {}
        }
    }
    match outcome(
        wire.status.as_deref(),
        wire.incomplete_details.as_ref(),
        !answer.tool_calls.is_empty(),
        refused,
    ) {
        Outcome::Finished(reason) => answer.finish_reason = reason,
        Outcome::Failed => return Err(failed()),
        Outcome::Unfinished(status) => return Err(ParseError::Unfinished(status)),
    }
    Ok(answer)
}
