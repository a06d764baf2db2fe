//! The OpenAI chat completions wire shapes the front door reads and writes, as
//! serde structs: the request (with every field the door carries, and the rest
//! kept aside to be refused or ignored by name), the whole answer, the stream
//! chunk, and Switchyard's own `switchyard` extension (who served, the trail).
//!
//! Shapes only: no validation, no conversion (see `convert`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::door::rest::{text_or_list, with_rest};

// === Request ===

/// `POST /v1/chat/completions`.
#[derive(Debug)]
pub struct ChatCompletionRequest {
    /// `switchyard/primary`, `switchyard/aux/<task>`, or a model override.
    pub model: String,
    /// The conversation.
    pub messages: Vec<InMessage>,
    /// Answer as server-sent events.
    pub stream: bool,
    /// Stream options.
    pub stream_options: Option<StreamOptions>,
    /// Legacy name of `max_completion_tokens`.
    pub max_tokens: Option<i64>,
    /// Upper bound on generated tokens.
    pub max_completion_tokens: Option<i64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// Number of choices; only 1.
    pub n: Option<i64>,
    /// Stop sequences: one string or a list.
    pub stop: Option<Stop>,
    /// Functions the model may call.
    pub tools: Option<Vec<InTool>>,
    /// Which tool the model may or must call.
    pub tool_choice: Option<InToolChoice>,
    /// Several tool calls per turn.
    pub parallel_tool_calls: Option<bool>,
    /// Shape of the answer.
    pub response_format: Option<InResponseFormat>,
    /// `minimal`, `low`, `medium` or `high`.
    pub reasoning_effort: Option<String>,
    /// Opaque key/value pairs.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Opaque end-user id.
    pub user: Option<String>,
    /// Every other field: refused by name, or ignored when listed as harmless.
    pub rest: Map<String, Value>,
}

/// `stream_options`.
#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    /// End the stream with a usage chunk.
    #[serde(default)]
    pub include_usage: bool,
}

/// `stop`: one sequence or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

with_rest!(ChatCompletionRequest {
    required: [model, messages],
    defaulted: [
        stream,
        stream_options,
        max_tokens,
        max_completion_tokens,
        temperature,
        top_p,
        seed,
        n,
        stop,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        reasoning_effort,
        metadata,
        user,
    ],
});

/// One message of the request.
#[derive(Debug)]
pub struct InMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// A string, or a list of parts; `null` on an assistant turn of tool calls.
    pub content: Option<InContent>,
    /// Tool calls of an assistant message.
    pub tool_calls: Option<Vec<InToolCall>>,
    /// The call a tool message answers.
    pub tool_call_id: Option<String>,
    /// Other fields (`name`, `refusal`, `audio`...): refused unless null.
    pub rest: Map<String, Value>,
}

with_rest!(InMessage {
    required: [role],
    defaulted: [content, tool_calls, tool_call_id],
});

/// Message content.
#[derive(Debug)]
pub enum InContent {
    /// Plain text.
    Text(String),
    /// Ordered parts.
    Parts(Vec<InPart>),
}

impl<'de> Deserialize<'de> for InContent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text_or_list(
            d,
            "a string or a list of content parts",
            InContent::Text,
            InContent::Parts,
        )
    }
}

/// One content part; `type` decides which field matters.
#[derive(Debug, Deserialize)]
pub struct InPart {
    /// `text` or `image_url` (others are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
    /// The image of an `image_url` part.
    #[serde(default)]
    pub image_url: Option<InImageUrl>,
}

/// `image_url` of a part.
#[derive(Debug, Deserialize)]
pub struct InImageUrl {
    /// `https://...` or `data:<media type>;base64,...`.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default)]
    pub detail: Option<String>,
}

/// An assistant message's tool call.
#[derive(Debug, Deserialize)]
pub struct InToolCall {
    /// Call id.
    pub id: String,
    /// `function`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The function called.
    pub function: InFunctionCall,
}

/// Function of a tool call.
#[derive(Debug, Deserialize)]
pub struct InFunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments, JSON text.
    #[serde(default)]
    pub arguments: String,
}

/// A tool definition.
#[derive(Debug, Deserialize)]
pub struct InTool {
    /// `function` (others are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: InFunction,
}

/// A function definition.
#[derive(Debug, Deserialize)]
pub struct InFunction {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of the arguments, kept as raw text.
    #[serde(default)]
    pub parameters: Option<Box<RawValue>>,
    /// Strict schema adherence.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `tool_choice`: a mode, or one named function.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum InToolChoice {
    /// `auto`, `none` or `required`.
    Mode(String),
    /// `{"type": "function", "function": {"name": ...}}`.
    Named {
        /// `function`.
        #[serde(rename = "type")]
        kind: String,
        /// The function.
        function: InName,
    },
}

/// A function named by `tool_choice`.
#[derive(Debug, Deserialize)]
pub struct InName {
    /// Name.
    pub name: String,
}

/// `response_format`.
#[derive(Debug, Deserialize)]
pub struct InResponseFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema of `json_schema`.
    #[serde(default)]
    pub json_schema: Option<InJsonSchema>,
}

/// `response_format.json_schema`.
#[derive(Debug, Deserialize)]
pub struct InJsonSchema {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// The schema, raw.
    #[serde(default)]
    pub schema: Option<Box<RawValue>>,
    /// Strict adherence.
    #[serde(default)]
    pub strict: Option<bool>,
}

// === Answers ===

/// A whole answer, `chat.completion`.
#[derive(Debug, Serialize)]
pub struct ChatCompletion<'a> {
    /// `chatcmpl-<request id>`.
    pub id: &'a str,
    /// `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// Model that answered.
    pub model: &'a str,
    /// The one choice.
    pub choices: [Choice<'a>; 1],
    /// Token usage.
    pub usage: OutUsage,
    /// Who served, and the trail.
    pub switchyard: Served<'a>,
}

/// The choice of a whole answer.
#[derive(Debug, Serialize)]
pub struct Choice<'a> {
    /// 0.
    pub index: u32,
    /// The assistant message.
    pub message: OutMessage<'a>,
    /// `stop`, `length`, `tool_calls` or `content_filter`.
    pub finish_reason: &'static str,
    /// Always null.
    pub logprobs: Option<()>,
}

/// The assistant message of a whole answer.
#[derive(Debug, Serialize)]
pub struct OutMessage<'a> {
    /// `assistant`.
    pub role: &'static str,
    /// Text; null when the answer is tool calls alone.
    pub content: Option<&'a str>,
    /// Always null (a refusal arrives as content with `content_filter`).
    pub refusal: Option<()>,
    /// Tool calls, when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutToolCall<'a>>,
}

/// A tool call of an answer or a chunk.
#[derive(Debug, Serialize)]
pub struct OutToolCall<'a> {
    /// Position (chunks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Call id (in a chunk: on the first piece).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// `function` (in a chunk: on the first piece).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Name and arguments.
    pub function: OutFunctionCall<'a>,
}

/// Function of an answered tool call.
#[derive(Debug, Serialize)]
pub struct OutFunctionCall<'a> {
    /// Name (in a chunk: on the first piece).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Arguments, or their next piece.
    pub arguments: &'a str,
}

/// `usage`.
#[derive(Debug, Serialize)]
pub struct OutUsage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
    /// Cached prompt tokens.
    pub prompt_tokens_details: PromptDetails,
    /// Reasoning tokens.
    pub completion_tokens_details: CompletionDetails,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Serialize)]
pub struct PromptDetails {
    /// Prompt tokens read from cache.
    pub cached_tokens: u32,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Serialize)]
pub struct CompletionDetails {
    /// Reasoning tokens.
    pub reasoning_tokens: u32,
}

/// `chat.completion.chunk`.
#[derive(Debug, Serialize)]
pub struct Chunk<'a> {
    /// Same id on every chunk.
    pub id: &'a str,
    /// `chat.completion.chunk`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// Model answering.
    pub model: &'a str,
    /// One choice, or none on the usage chunk.
    pub choices: Vec<ChunkChoice<'a>>,
    /// On the usage chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<OutUsage>,
    /// On the first chunk (who serves) and the finish chunk (the trail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switchyard: Option<Served<'a>>,
}

/// The choice of a chunk.
#[derive(Debug, Serialize)]
pub struct ChunkChoice<'a> {
    /// 0.
    pub index: u32,
    /// What is new.
    pub delta: Delta<'a>,
    /// On the finish chunk.
    pub finish_reason: Option<&'static str>,
    /// Always null.
    pub logprobs: Option<()>,
}

/// `delta` of a chunk.
#[derive(Debug, Default, Serialize)]
pub struct Delta<'a> {
    /// `assistant`, on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// A piece of text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    /// Tool-call pieces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutToolCall<'a>>,
}

/// Switchyard's extension: the request, who served it, and the attempt trail.
#[derive(Debug, Default, Serialize)]
pub struct Served<'a> {
    /// Request id, for `ExplainFallback`.
    pub request_id: &'a str,
    /// `primary` or `aux:<task>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<std::borrow::Cow<'static, str>>,
    /// Provider that served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'a str>,
    /// Model that served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    /// Credential id (never the secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<&'a str>,
    /// Steps that moved to another credential or candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<usize>,
    /// The trail.
    pub attempts: Vec<Attempt<'a>>,
}

/// One step of the trail.
#[derive(Debug, Serialize)]
pub struct Attempt<'a> {
    /// Candidate index.
    pub candidate_index: u32,
    /// Provider.
    pub provider: &'a str,
    /// Model.
    pub model: &'a str,
    /// Credential id, or empty.
    pub credential_id: &'a str,
    /// Error class.
    pub error_class: &'static str,
    /// HTTP status, 0 when none.
    pub http_status: u16,
    /// What the policy did next.
    pub action: &'static str,
    /// Why.
    pub reason: &'a str,
    /// Duration in ms.
    pub duration_ms: u64,
}

/// An error answer, `{"error": {...}}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// The error.
    pub error: ErrorDetail<'a>,
}

/// The error of an error answer.
#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    /// Human-readable.
    pub message: &'a str,
    /// OpenAI's error type.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// The offending field, when one.
    pub param: Option<&'a str>,
    /// Machine-readable code.
    pub code: &'a str,
    /// The request and its trail, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switchyard: Option<Served<'a>>,
}

// === Models ===

/// `GET /v1/models`.
#[derive(Debug, Serialize)]
pub struct ModelList {
    /// `list`.
    pub object: &'static str,
    /// One model per caller.
    pub data: Vec<Model>,
}

/// One caller as a model.
#[derive(Debug, Serialize)]
pub struct Model {
    /// `switchyard/primary` or `switchyard/aux/<task>`.
    pub id: String,
    /// `model`.
    pub object: &'static str,
    /// Unix seconds of the server's start.
    pub created: u64,
    /// `switchyard`.
    pub owned_by: &'static str,
    /// Context window in tokens (`model.context_window`, or the task's), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Longest answer in tokens (`model.max_output_tokens`, or the task's), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
}
