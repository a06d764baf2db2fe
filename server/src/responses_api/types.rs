//! The OpenAI Responses API wire shapes the `/v1/responses` door reads and
//! writes, as serde structs: the request (every field the door carries, the rest
//! kept aside to be refused or ignored by name), the response object, its output
//! items, and the typed stream events.
//!
//! Shapes only: no validation, no conversion (see `convert`), no HTTP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::door::rest::{text_or_list, with_rest};
use crate::openai::types::Served;

// === Request ===

/// `POST /v1/responses`.
#[derive(Debug)]
pub(crate) struct ResponsesRequest {
    /// `switchyard/primary`, `switchyard/aux/<task>`, or a model override.
    pub model: String,
    /// The conversation: one user text, or a list of items.
    pub input: Option<Input>,
    /// System instructions, put before the input.
    pub instructions: Option<String>,
    /// Answer as typed server-sent events.
    pub stream: bool,
    /// Upper bound on generated tokens.
    pub max_output_tokens: Option<i64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Functions the model may call.
    pub tools: Option<Vec<InTool>>,
    /// Which tool the model may or must call.
    pub tool_choice: Option<InToolChoice>,
    /// Several tool calls per turn.
    pub parallel_tool_calls: Option<bool>,
    /// Shape of the text answer (`format`).
    pub text: Option<InText>,
    /// Reasoning options (`effort`).
    pub reasoning: Option<InReasoning>,
    /// Opaque key/value pairs.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Opaque end-user id.
    pub user: Option<String>,
    /// Every other field: refused by name, or ignored when listed as harmless.
    pub rest: Map<String, Value>,
}

with_rest!(ResponsesRequest {
    required: [model],
    defaulted: [
        input,
        instructions,
        stream,
        max_output_tokens,
        temperature,
        top_p,
        tools,
        tool_choice,
        parallel_tool_calls,
        text,
        reasoning,
        metadata,
        user
    ],
});

/// `input`.
#[derive(Debug)]
pub(crate) enum Input {
    /// One user message.
    Text(String),
    /// Messages and function call items, in order.
    Items(Vec<InItem>),
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text_or_list(d, "a string or a list of items", Input::Text, Input::Items)
    }
}

/// One input item; `type` (a `message` when absent) decides which fields matter.
#[derive(Debug)]
pub(crate) struct InItem {
    /// `message`, `function_call` or `function_call_output`.
    pub kind: Option<String>,
    /// Role of a message.
    pub role: Option<String>,
    /// Content of a message: a string or parts.
    pub content: Option<InContent>,
    /// The call a `function_call` makes or a `function_call_output` answers.
    pub call_id: Option<String>,
    /// Function name of a `function_call`.
    pub name: Option<String>,
    /// Arguments (JSON text) of a `function_call`.
    pub arguments: Option<String>,
    /// Result of a `function_call_output`: text, or parts.
    pub output: Option<InContent>,
    /// Item id, as a previous response gave it (not needed: ignored).
    pub _id: serde::de::IgnoredAny,
    /// Item status, as a previous response gave it (ignored).
    pub _status: serde::de::IgnoredAny,
    /// Other fields: refused unless null.
    pub rest: Map<String, Value>,
}

with_rest!(InItem {
    required: [],
    defaulted: [
        kind = "type",
        role,
        content,
        call_id,
        name,
        arguments,
        output,
        _id = "id",
        _status = "status"
    ],
});

/// Message content.
#[derive(Debug)]
pub(crate) enum InContent {
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
pub(crate) struct InPart {
    /// `input_text`, `output_text` or `input_image` (others are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text part.
    #[serde(default)]
    pub text: Option<String>,
    /// The URL (https or data) of an `input_image`.
    #[serde(default)]
    pub image_url: Option<String>,
    /// A stored file of an `input_image` (refused: Switchyard stores nothing).
    #[serde(default)]
    pub file_id: Option<String>,
    /// `auto`, `low` or `high`.
    #[serde(default)]
    pub detail: Option<String>,
}

/// One tool; only `function` tools are carried.
#[derive(Debug, Deserialize)]
pub(crate) struct InTool {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Function name.
    #[serde(default)]
    pub name: Option<String>,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default)]
    pub parameters: Option<Box<RawValue>>,
    /// Follow the schema exactly.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `tool_choice`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum InToolChoice {
    /// `auto`, `none` or `required`.
    Mode(String),
    /// `{"type": "function", "name": ...}`.
    Named {
        /// `function` (others are refused).
        #[serde(rename = "type")]
        kind: String,
        /// Function name.
        #[serde(default)]
        name: Option<String>,
    },
}

/// `text`.
#[derive(Debug)]
pub(crate) struct InText {
    /// The answer's format.
    pub format: Option<InFormat>,
    /// Other fields (`verbosity`): refused unless null.
    pub rest: Map<String, Value>,
}

with_rest!(InText {
    required: [],
    defaulted: [format],
});

/// `text.format`: `text`, `json_object` or `json_schema` (flat).
#[derive(Debug, Deserialize)]
pub(crate) struct InFormat {
    /// The format's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Schema name of `json_schema`.
    #[serde(default)]
    pub name: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default)]
    pub schema: Option<Box<RawValue>>,
    /// Follow the schema exactly.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `reasoning`.
#[derive(Debug)]
pub(crate) struct InReasoning {
    /// `minimal`, `low`, `medium` or `high`.
    pub effort: Option<String>,
    /// Other fields (`summary`, `generate_summary`): ignored, as no provider
    /// summary is carried back (the API makes summaries best-effort).
    pub rest: Map<String, Value>,
}

with_rest!(InReasoning {
    required: [],
    defaulted: [effort],
});

// === Response ===

/// The response object, whole or in a stream's lifecycle events.
#[derive(Debug, Serialize)]
pub(crate) struct ResponseObject<'a> {
    /// `resp_<request id>`.
    pub id: &'a str,
    /// `response`.
    pub object: &'static str,
    /// Unix seconds.
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    /// Why it failed.
    pub error: Option<ResponseError<'a>>,
    /// Why it is incomplete.
    pub incomplete_details: Option<Incomplete>,
    /// The request's instructions, echoed.
    pub instructions: Option<&'a str>,
    /// The request's output bound, echoed.
    pub max_output_tokens: Option<i64>,
    /// Model that answered.
    pub model: &'a str,
    /// Output items: a message, function calls.
    pub output: Vec<OutItem<'a>>,
    /// The request's choice, echoed.
    pub parallel_tool_calls: bool,
    /// Echoed.
    pub temperature: Option<f64>,
    /// Echoed.
    pub top_p: Option<f64>,
    /// The request's tool choice, echoed.
    pub tool_choice: OutToolChoice<'a>,
    /// The request's tools, echoed.
    pub tools: Vec<OutTool<'a>>,
    /// The request's text format, echoed.
    pub text: OutTextConfig<'a>,
    /// The request's reasoning effort, echoed.
    pub reasoning: OutReasoning,
    /// Token usage, once known.
    pub usage: Option<OutUsage>,
    /// The request's metadata, echoed.
    pub metadata: &'a BTreeMap<String, String>,
    /// Switchyard's extension: who served and the trail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switchyard: Option<Served<'a>>,
}

/// An echoed function tool.
#[derive(Debug, Serialize)]
pub(crate) struct OutTool<'a> {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Function name.
    pub name: &'a str,
    /// What it does.
    pub description: Option<&'a str>,
    /// JSON Schema of the arguments.
    pub parameters: Option<&'a RawValue>,
    /// Follow the schema exactly.
    pub strict: Option<bool>,
}

/// An echoed tool choice.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OutToolChoice<'a> {
    /// `auto`, `none` or `required`.
    Mode(&'static str),
    /// One function.
    Function {
        /// `function`.
        #[serde(rename = "type")]
        kind: &'static str,
        /// Its name.
        name: &'a str,
    },
}

/// An echoed `text`.
#[derive(Debug, Serialize)]
pub(crate) struct OutTextConfig<'a> {
    /// The format.
    pub format: OutFormat<'a>,
}

/// An echoed `text.format`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutFormat<'a> {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON following a schema.
    JsonSchema {
        /// Schema name.
        name: &'a str,
        /// Its description.
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        /// The schema.
        schema: &'a RawValue,
        /// Follow it exactly.
        strict: Option<bool>,
    },
}

/// An echoed `reasoning`.
#[derive(Debug, Serialize)]
pub(crate) struct OutReasoning {
    /// The effort asked, if any.
    pub effort: Option<&'static str>,
    /// Never carried back.
    pub summary: Option<&'static str>,
}

/// `incomplete_details`.
#[derive(Debug, Serialize)]
pub(crate) struct Incomplete {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}

/// `error` of a failed response.
#[derive(Debug, Serialize)]
pub(crate) struct ResponseError<'a> {
    /// `server_error`.
    pub code: &'a str,
    /// What happened, with the request id.
    pub message: &'a str,
}

/// One output item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutItem<'a> {
    /// The assistant's text.
    Message {
        /// `msg_...`.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// `assistant`.
        role: &'static str,
        /// One `output_text` part (none while it opens).
        content: Vec<OutText<'a>>,
    },
    /// A function call.
    FunctionCall {
        /// `fc_...`.
        id: String,
        /// The provider's call id, kept across formats.
        call_id: &'a str,
        /// Function name.
        name: &'a str,
        /// Arguments, JSON text.
        arguments: &'a str,
        /// `in_progress` or `completed`.
        status: &'static str,
    },
}

/// An `output_text` content part.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutText<'a> {
    /// `output_text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text.
    pub text: &'a str,
    /// Always empty.
    pub annotations: [(); 0],
    /// Always empty.
    pub logprobs: [(); 0],
}

impl<'a> OutText<'a> {
    /// An `output_text` part of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            kind: "output_text",
            text,
            annotations: [],
            logprobs: [],
        }
    }
}

/// `usage`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct OutUsage {
    /// Input tokens.
    pub input_tokens: u32,
    /// Of which cached.
    pub input_tokens_details: InputDetails,
    /// Output tokens.
    pub output_tokens: u32,
    /// Of which reasoning.
    pub output_tokens_details: OutputDetails,
    /// Sum.
    pub total_tokens: u32,
}

/// `usage.input_tokens_details`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct InputDetails {
    /// Cached input tokens.
    pub cached_tokens: u32,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct OutputDetails {
    /// Reasoning tokens.
    pub reasoning_tokens: u32,
}

// === Stream events ===

/// One typed stream event; `type` names it, `sequence_number` orders it.
#[derive(Debug, Serialize)]
pub(crate) struct Event<'a> {
    /// `response.created`, `response.output_text.delta`, ...
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// 0, 1, 2... within the stream.
    pub sequence_number: u64,
    /// The fields of this event type.
    #[serde(flatten)]
    pub body: EventBody<'a>,
}

/// The fields that follow an event's `type`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum EventBody<'a> {
    /// `response.created`, `.in_progress`, `.completed`, `.incomplete`, `.failed`.
    Response {
        /// The response so far.
        response: Box<ResponseObject<'a>>,
    },
    /// `response.output_item.added` / `.done`.
    Item {
        /// Position in `output`.
        output_index: usize,
        /// The item.
        item: OutItem<'a>,
    },
    /// `response.content_part.added` / `.done`.
    Part {
        /// The message item.
        item_id: &'a str,
        /// Its position in `output`.
        output_index: usize,
        /// Position in the item's content.
        content_index: usize,
        /// The part.
        part: OutText<'a>,
    },
    /// `response.output_text.delta`.
    TextDelta {
        /// The message item.
        item_id: &'a str,
        /// Its position in `output`.
        output_index: usize,
        /// Position in the item's content.
        content_index: usize,
        /// The new text.
        delta: &'a str,
        /// Always empty.
        logprobs: [(); 0],
    },
    /// `response.output_text.done`.
    TextDone {
        /// The message item.
        item_id: &'a str,
        /// Its position in `output`.
        output_index: usize,
        /// Position in the item's content.
        content_index: usize,
        /// The whole text.
        text: &'a str,
        /// Always empty.
        logprobs: [(); 0],
    },
    /// `response.function_call_arguments.delta`.
    ArgumentsDelta {
        /// The function call item.
        item_id: &'a str,
        /// Its position in `output`.
        output_index: usize,
        /// The new piece of the arguments.
        delta: &'a str,
    },
    /// `response.function_call_arguments.done`.
    ArgumentsDone {
        /// The function call item.
        item_id: &'a str,
        /// Its position in `output`.
        output_index: usize,
        /// Function name.
        name: &'a str,
        /// The whole arguments.
        arguments: &'a str,
    },
    /// `error`: Responses' fields, and an OpenAI `error` object so the SDKs'
    /// stream readers raise it.
    Error {
        /// `stream_interrupted`.
        code: &'a str,
        /// What happened.
        message: &'a str,
        /// Always null.
        param: Option<&'a str>,
        /// The error, with the trail.
        error: crate::openai::types::ErrorDetail<'a>,
    },
}
