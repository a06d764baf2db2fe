//! The Anthropic Messages wire shapes the `/v1/messages` door reads and writes,
//! as serde structs: the request (every field the door carries, the rest kept
//! aside to be refused or ignored by name), the whole answer, the stream events,
//! the token count and the error body, each with Switchyard's own `switchyard`
//! extension (who served, the trail).
//!
//! Shapes only: no validation, no conversion (see `convert`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::door::rest::{text_or_list, with_rest};

pub(crate) use crate::openai::types::Served;

// === Request ===

/// `POST /v1/messages` (and the body of `/v1/messages/count_tokens`).
#[derive(Debug)]
pub(crate) struct MessagesRequest {
    /// `switchyard/primary`, `switchyard/aux/<task>`, or a model override.
    pub model: String,
    /// The conversation: `user` and `assistant` turns.
    pub messages: Vec<InMessage>,
    /// Upper bound on generated tokens; required by the API (not by count_tokens).
    pub max_tokens: Option<i64>,
    /// Instructions: a string or text blocks.
    pub system: Option<InSystem>,
    /// Answer as server-sent events.
    pub stream: bool,
    /// Stop sequences.
    pub stop_sequences: Option<Vec<String>>,
    /// Sampling temperature, [0, 1].
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Tools the model may call.
    pub tools: Option<Vec<InTool>>,
    /// Which tool the model may or must call.
    pub tool_choice: Option<InToolChoice>,
    /// Extended thinking.
    pub thinking: Option<InThinking>,
    /// `user_id` only.
    pub metadata: Option<InMetadata>,
    /// Every other field (`top_k`, `service_tier`...): refused by name, or
    /// ignored when listed as harmless.
    pub rest: Map<String, Value>,
}

with_rest!(MessagesRequest {
    required: [model, messages],
    defaulted: [
        max_tokens,
        system,
        stream,
        stop_sequences,
        temperature,
        top_p,
        tools,
        tool_choice,
        thinking,
        metadata
    ],
});

/// `system`: a string or text blocks (`cache_control` ignored), read as
/// [`InContent`].
pub(crate) type InSystem = InContent;

/// One turn of the conversation.
#[derive(Debug)]
pub(crate) struct InMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// A string, or content blocks.
    pub content: InContent,
    /// Other fields: refused.
    pub rest: Map<String, Value>,
}

with_rest!(InMessage {
    required: [role, content],
    defaulted: [],
});

/// Content of a turn (blocks of [`InBlock`]) or of a tool result (blocks of
/// [`InResultBlock`], which nest no further): a string, or blocks.
#[derive(Debug)]
pub(crate) enum InContent<B = InBlock> {
    /// Plain text.
    Text(String),
    /// Ordered blocks.
    Blocks(Vec<B>),
}

impl<'de, B: Deserialize<'de>> Deserialize<'de> for InContent<B> {
    /// Read by the JSON type it meets, in the same pass as the rest of the body
    /// (`door::rest::text_or_list`): a tool `input` in a block stays raw JSON text.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text_or_list(
            d,
            "a string or a list of blocks",
            InContent::Text,
            InContent::Blocks,
        )
    }
}

/// A block of a tool result's content: `text` or `image` (others are refused).
#[derive(Debug)]
pub(crate) struct InResultBlock {
    /// `text` or `image`.
    pub kind: String,
    /// The text of a `text` block.
    pub text: Option<String>,
    /// The source of an `image` block.
    pub source: Option<InSource>,
    /// Other fields (`cache_control` ignored, the rest refused).
    pub rest: Map<String, Value>,
}

with_rest!(InResultBlock {
    required: [kind = "type"],
    defaulted: [text, source],
});

/// One content block; `type` decides which fields matter.
#[derive(Debug)]
pub(crate) struct InBlock {
    /// `text`, `image`, `tool_use`, `tool_result`, `thinking`,
    /// `redacted_thinking` (others are refused).
    pub kind: String,
    /// The text of a `text` block.
    pub text: Option<String>,
    /// The source of an `image` block.
    pub source: Option<InSource>,
    /// Call id of a `tool_use` block.
    pub id: Option<String>,
    /// Tool name of a `tool_use` block.
    pub name: Option<String>,
    /// Arguments of a `tool_use` block, raw JSON.
    pub input: Option<Box<RawValue>>,
    /// The call a `tool_result` answers.
    pub tool_use_id: Option<String>,
    /// The content of a `tool_result`: a string or text and image blocks.
    pub content: Option<InContent<InResultBlock>>,
    /// A `tool_result` reporting a failed call.
    pub is_error: Option<bool>,
    /// Other fields (`cache_control` ignored, `citations`... refused).
    pub rest: Map<String, Value>,
}

with_rest!(InBlock {
    required: [kind = "type"],
    defaulted: [
        text,
        source,
        id,
        name,
        input,
        tool_use_id,
        content,
        is_error
    ],
});

/// An image `source`.
#[derive(Debug, Deserialize)]
pub(crate) struct InSource {
    /// `base64` or `url` (others are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// `image/png`... of a base64 source.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Base64 data.
    #[serde(default)]
    pub data: Option<String>,
    /// URL of a `url` source.
    #[serde(default)]
    pub url: Option<String>,
}

/// A tool definition.
#[derive(Debug)]
pub(crate) struct InTool {
    /// Absent or `custom` for a client tool; a server tool's versioned type
    /// (`web_search_20250305`...) is refused.
    pub kind: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// JSON Schema of the input, raw.
    pub input_schema: Option<Box<RawValue>>,
    /// Strict schema adherence.
    pub strict: Option<bool>,
    /// Other fields (`cache_control` ignored, the rest refused).
    pub rest: Map<String, Value>,
}

with_rest!(InTool {
    required: [name],
    defaulted: [kind = "type", description, input_schema, strict],
});

/// `tool_choice`.
#[derive(Debug, Deserialize)]
pub(crate) struct InToolChoice {
    /// `auto`, `any`, `tool` or `none`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tool of `tool`.
    #[serde(default)]
    pub name: Option<String>,
    /// At most one tool call per turn.
    #[serde(default)]
    pub disable_parallel_tool_use: Option<bool>,
}

/// `thinking`.
#[derive(Debug, Deserialize)]
pub(crate) struct InThinking {
    /// `enabled` or `disabled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Tokens the model may think with (`enabled`).
    #[serde(default)]
    pub budget_tokens: Option<i64>,
}

/// `metadata`.
#[derive(Debug)]
pub(crate) struct InMetadata {
    /// Opaque end-user id.
    pub user_id: Option<String>,
    /// Other keys: refused (the API has none).
    pub rest: Map<String, Value>,
}

with_rest!(InMetadata {
    required: [],
    defaulted: [user_id],
});

// === Answers ===

/// A whole answer, `type: message` (also the `message` of `message_start`).
#[derive(Debug, Serialize)]
pub(crate) struct MessageOut<'a> {
    /// `msg_<request id>`.
    pub id: &'a str,
    /// `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `assistant`.
    pub role: &'static str,
    /// Model that answered.
    pub model: &'a str,
    /// Text and `tool_use` blocks (empty in `message_start`).
    pub content: Vec<OutBlock<'a>>,
    /// `end_turn`, `max_tokens`, `tool_use` or `refusal`; null in `message_start`.
    pub stop_reason: Option<&'static str>,
    /// Always null: providers do not say which sequence stopped them.
    pub stop_sequence: Option<()>,
    /// Token usage.
    pub usage: OutUsage,
    /// Who served, and the trail.
    pub switchyard: Served<'a>,
}

/// A content block of an answer.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutBlock<'a> {
    /// Text.
    Text {
        /// The text (empty when a stream opens the block).
        text: &'a str,
    },
    /// A tool call.
    ToolUse {
        /// Call id.
        id: &'a str,
        /// Tool name.
        name: &'a str,
        /// Arguments: the model's JSON object verbatim (`{}` when a stream opens
        /// the block; a JSON string when the model wrote no object).
        input: &'a RawValue,
    },
}

/// `usage`, Anthropic's way: `input_tokens` excludes cache reads.
#[derive(Debug, Default, Serialize)]
pub(crate) struct OutUsage {
    /// Prompt tokens not read from cache.
    pub input_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
    /// Prompt tokens read from cache.
    pub cache_read_input_tokens: u32,
    /// Always 0: Switchyard writes no cache entries of its own.
    pub cache_creation_input_tokens: u32,
}

/// One server-sent event of a streamed answer, `data` of `event: <type>`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Event<'a> {
    /// The opening: the message with no content, and who serves.
    MessageStart {
        /// The message so far.
        message: MessageOut<'a>,
    },
    /// Keep-alive, once after the opening.
    Ping,
    /// A block opens.
    ContentBlockStart {
        /// Block index.
        index: u32,
        /// The empty block.
        content_block: OutBlock<'a>,
    },
    /// A piece of a block.
    ContentBlockDelta {
        /// Block index.
        index: u32,
        /// The piece.
        delta: BlockDelta<'a>,
    },
    /// A block closes.
    ContentBlockStop {
        /// Block index.
        index: u32,
    },
    /// The stop reason and the usage, with the whole trail.
    MessageDelta {
        /// Stop reason.
        delta: MessageDeltaBody,
        /// Usage (input tokens too: they are known only at the end).
        usage: OutUsage,
        /// The whole trail.
        switchyard: Served<'a>,
    },
    /// The end.
    MessageStop,
}

/// `delta` of a `content_block_delta`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockDelta<'a> {
    /// Text.
    TextDelta {
        /// The piece.
        text: &'a str,
    },
    /// A piece of a tool call's input JSON.
    InputJsonDelta {
        /// The piece.
        partial_json: &'a str,
    },
}

/// `delta` of `message_delta`.
#[derive(Debug, Serialize)]
pub(crate) struct MessageDeltaBody {
    /// Why generation stopped.
    pub stop_reason: &'static str,
    /// Always null.
    pub stop_sequence: Option<()>,
}

/// `POST /v1/messages/count_tokens`: an estimate, marked as one.
#[derive(Debug, Serialize)]
pub(crate) struct TokenCount {
    /// Estimated prompt tokens.
    pub input_tokens: u32,
    /// How the number was made.
    pub switchyard: Estimate,
}

/// What `count_tokens` says about its number.
#[derive(Debug, Serialize)]
pub(crate) struct Estimate {
    /// Always true: no tokenizer is run and no provider is asked.
    pub estimate: bool,
    /// The method, in words.
    pub method: &'static str,
}

// === Errors ===

/// An error answer, `{"type": "error", "error": {...}}` (also the data of a
/// stream's `error` event).
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody<'a> {
    /// `error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The error.
    pub error: ErrorDetail<'a>,
    /// Request id, when the request ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
    /// The trail, when the request ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switchyard: Option<Served<'a>>,
}

/// The error of an error answer.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorDetail<'a> {
    /// Anthropic's error type (`invalid_request_error`, `overloaded_error`...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Human-readable.
    pub message: &'a str,
}
