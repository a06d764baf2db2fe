//! The `openai` provider wire format: OpenAI chat completions
//! (`POST {base_url}/chat/completions`), translated both ways with typed serde
//! structs. A [`ChatRequest`] becomes one request body (messages of text and
//! `image_url` parts, assistant `tool_calls`, `tool` messages, tools,
//! `tool_choice`, `response_format`, sampling and reasoning options); a whole
//! answer becomes a [`ChatAnswer`]; each stream chunk becomes [`StreamEvent`]s,
//! tool calls arriving as `tool_calls[index]` pieces.
//!
//! Pure: no I/O, no clock. Schemas are embedded as raw JSON, never re-parsed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::{
    ChatAnswer, ChatRequest, FinishReason, Image, ImageDetail, ImageSource, Message, Part,
    ResponseFormat, Role, StreamEvent, Tool, ToolCall, ToolCallDelta, ToolChoice, Usage,
    UsageDelta,
};
use crate::sse::SseEvent;

// === Request ===

/// A chat completions request body, borrowing from the domain request.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    model: &'a str,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<OutResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Debug, Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    /// `null` only for an assistant turn of tool calls alone, as OpenAI sends it.
    content: Option<OutContent<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

/// A lone text part goes as a string, the form every compatible server reads.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OutContent<'a> {
    Text(&'a str),
    Parts(Vec<OutPart<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: OutImageUrl },
}

#[derive(Debug, Serialize)]
struct OutImageUrl {
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct OutToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunctionCall<'a>,
}

#[derive(Debug, Serialize)]
struct OutFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Debug, Serialize)]
struct OutTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'a>,
}

#[derive(Debug, Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OutToolChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: OutName<'a>,
    },
}

#[derive(Debug, Serialize)]
struct OutName<'a> {
    name: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutResponseFormat<'a> {
    Text,
    JsonObject,
    JsonSchema { json_schema: OutJsonSchema<'a> },
}

#[derive(Debug, Serialize)]
struct OutJsonSchema<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    schema: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

fn role(r: Role) -> &'static str {
    r.as_str()
}

fn detail(d: ImageDetail) -> &'static str {
    d.as_str()
}

fn image(i: &Image) -> OutPart<'_> {
    OutPart::ImageUrl {
        image_url: OutImageUrl {
            url: match &i.source {
                ImageSource::Url { url } => url.clone(),
                source @ ImageSource::Base64 { .. } => source.to_url(),
            },
            detail: i.detail.map(detail),
        },
    }
}

fn message(m: &Message) -> OutMessage<'_> {
    let content = match m.parts.as_slice() {
        [] if !m.tool_calls.is_empty() => None,
        [] => Some(OutContent::Text("")),
        [Part::Text { text }] => Some(OutContent::Text(text)),
        parts => Some(OutContent::Parts(
            parts
                .iter()
                .map(|p| match p {
                    Part::Text { text } => OutPart::Text { text },
                    Part::Image(i) => image(i),
                })
                .collect(),
        )),
    };
    OutMessage {
        role: role(m.role),
        content,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| OutToolCall {
                id: &c.id,
                kind: "function",
                function: OutFunctionCall {
                    name: &c.name,
                    arguments: &c.arguments,
                },
            })
            .collect(),
        tool_call_id: m.tool_call_id.as_deref(),
    }
}

fn tool(t: &Tool) -> OutTool<'_> {
    OutTool {
        kind: "function",
        function: OutFunction {
            name: &t.name,
            description: t.description.as_deref(),
            parameters: t.parameters.as_ref().map(|p| p.raw()),
            strict: t.strict,
        },
    }
}

fn tool_choice(c: &ToolChoice) -> OutToolChoice<'_> {
    match c {
        ToolChoice::Auto => OutToolChoice::Mode("auto"),
        ToolChoice::None => OutToolChoice::Mode("none"),
        ToolChoice::Required => OutToolChoice::Mode("required"),
        ToolChoice::Function(name) => OutToolChoice::Named {
            kind: "function",
            function: OutName { name },
        },
    }
}

fn response_format(f: &ResponseFormat) -> OutResponseFormat<'_> {
    match f {
        ResponseFormat::Text => OutResponseFormat::Text,
        ResponseFormat::JsonObject => OutResponseFormat::JsonObject,
        ResponseFormat::JsonSchema(s) => OutResponseFormat::JsonSchema {
            json_schema: OutJsonSchema {
                name: &s.name,
                description: s.description.as_deref(),
                schema: s.schema.raw(),
                strict: s.strict,
            },
        },
    }
}

impl<'a> Request<'a> {
    /// The body for `model`; with `stream`, an event stream that ends with usage.
    pub fn new(model: &'a str, request: &'a ChatRequest, stream: bool) -> Self {
        let o = &request.options;
        Self {
            model,
            messages: request.messages.iter().map(message).collect(),
            max_tokens: o.max_tokens,
            temperature: o.temperature,
            top_p: o.top_p,
            seed: o.seed,
            stop: &o.stop,
            tools: o.tools.iter().map(tool).collect(),
            tool_choice: o.tool_choice.as_ref().map(tool_choice),
            parallel_tool_calls: o.parallel_tool_calls,
            response_format: o.response_format.as_ref().map(response_format),
            reasoning_effort: o.reasoning_effort.map(|e| e.as_str()),
            metadata: &o.metadata,
            user: o.user.as_deref(),
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
        }
    }
}

/// The serialised request body. `None` only if serialisation failed, which
/// strings, numbers and checked raw JSON cannot make happen.
pub fn body(model: &str, request: &ChatRequest, stream: bool) -> Option<Vec<u8>> {
    serde_json::to_vec(&Request::new(model, request, stream)).ok()
}

// === Answers ===

#[derive(Debug, Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunctionCall,
}

#[derive(Debug, Deserialize)]
struct WireFunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

fn tokens(n: Option<u64>) -> Option<u32> {
    n.map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

impl WireUsage {
    fn delta(&self) -> UsageDelta {
        UsageDelta {
            input: tokens(self.prompt_tokens),
            output: tokens(self.completion_tokens),
            cached_input: tokens(
                self.prompt_tokens_details
                    .as_ref()
                    .and_then(|d| d.cached_tokens),
            ),
            reasoning: tokens(
                self.completion_tokens_details
                    .as_ref()
                    .and_then(|d| d.reasoning_tokens),
            ),
        }
    }
}

/// A normalised finish reason from OpenAI's (and compatible servers'). An
/// unknown reason is a natural stop.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Reads a whole answer; `None` when the body is not a chat completion.
pub fn parse_answer(body: &[u8]) -> Option<ChatAnswer> {
    let c: Completion = crate::json_body::from_body(body).ok()?;
    let choice = c.choices.into_iter().next()?;
    let mut usage = Usage::default();
    usage.apply(c.usage.unwrap_or_default().delta());
    let refused = choice.message.refusal.filter(|r| !r.is_empty());
    let mut finish = choice
        .finish_reason
        .as_deref()
        .map_or(FinishReason::Stop, finish_reason);
    let content = match (choice.message.content, refused) {
        (Some(c), _) if !c.is_empty() => c,
        // A refusal is the answer's text, flagged as filtered.
        (_, Some(r)) => {
            finish = FinishReason::ContentFilter;
            r
        }
        (c, None) => c.unwrap_or_default(),
    };
    let tool_calls: Vec<ToolCall> = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: c.function.arguments,
        })
        .collect();
    Some(ChatAnswer {
        content,
        tool_calls,
        finish_reason: finish,
        usage,
        model: c.model,
    })
}

// === Streams ===

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    /// The first choice: a stream asks for one (`n` is never sent).
    #[serde(default, rename = "choices", deserialize_with = "first_choice")]
    choice: Option<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<DeltaToolCall>>,
}

#[derive(Debug, Deserialize)]
struct DeltaToolCall {
    /// Some compatible servers leave it out: the position in the list then serves.
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Debug, Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// The first element of `choices`, the others skipped unread: no list is built
/// for every chunk.
fn first_choice<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ChunkChoice>, D::Error> {
    struct First;
    impl<'de> serde::de::Visitor<'de> for First {
        type Value = Option<ChunkChoice>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of choices")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let first = seq.next_element()?;
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    deserializer.deserialize_seq(First)
}

/// Turns one SSE event of a chat completions stream into stream events.
pub fn interpret(event: &SseEvent, out: &mut Vec<StreamEvent>) {
    let data = event.data.trim();
    if data == "[DONE]" {
        out.push(StreamEvent::Done);
        return;
    }
    let chunk = match serde_json::from_str::<Chunk>(data) {
        Ok(c) if event.event.as_deref() != Some("error") => c,
        _ => {
            out.push(StreamEvent::Error(data.to_owned()));
            return;
        }
    };
    if chunk.error.as_ref().is_some_and(|e| e.get() != "null") {
        out.push(StreamEvent::Error(data.to_owned()));
        return;
    }
    if let Some(model) = chunk.model {
        out.push(StreamEvent::Model(model));
    }
    if let Some(choice) = chunk.choice {
        if let Some(delta) = choice.delta {
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Text(text));
            }
            // A refusal streams as text; its finish reason says `content_filter`.
            if let Some(text) = delta.refusal.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Text(text));
            }
            for (position, call) in delta.tool_calls.into_iter().flatten().enumerate() {
                let (name, arguments) = call
                    .function
                    .map_or((None, None), |f| (f.name, f.arguments));
                out.push(StreamEvent::ToolCall(ToolCallDelta {
                    index: call
                        .index
                        .unwrap_or(u32::try_from(position).unwrap_or(u32::MAX)),
                    id: call.id.filter(|i| !i.is_empty()),
                    name: name.filter(|n| !n.is_empty()),
                    arguments: arguments.unwrap_or_default(),
                }));
            }
        }
        if let Some(reason) = choice.finish_reason {
            out.push(StreamEvent::Finish(finish_reason(&reason)));
        }
    }
    if let Some(usage) = chunk.usage {
        out.push(StreamEvent::Usage(usage.delta()));
    }
}

#[cfg(test)]
mod tests;
