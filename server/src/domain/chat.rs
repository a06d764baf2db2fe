//! The whole chat an agent sends and the whole answer it gets back, in one
//! provider-neutral model: messages of ordered parts (text, images), assistant tool
//! calls and tool results, the request options (tools, tool choice, structured
//! output, sampling, reasoning effort), the answer (text, tool calls, normalised
//! finish reason, usage) and the [`StreamEvent`]s a provider stream yields.
//!
//! Every wire format (the gRPC API, the OpenAI-compatible door, and each provider
//! translation) converts to and from these types and nothing else. No proto, no
//! HTTP, no I/O; `serde` only for derives, and `serde_json::value::RawValue` so a
//! JSON Schema is carried as checked text, never re-parsed or copied per candidate.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

// === Messages ===

/// Author of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System instructions.
    System,
    /// Developer instructions (OpenAI's successor of `system` for reasoning models).
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// The result of one tool call, answering it by `tool_call_id`.
    Tool,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::System,
        Role::Developer,
        Role::User,
        Role::Assistant,
        Role::Tool,
    ];

    /// Lowercase name, as every wire format spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// Inverse of [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the role carries instructions (`system` or `developer`).
    pub fn is_instruction(self) -> bool {
        matches!(self, Role::System | Role::Developer)
    }
}

/// How closely the model should look at an image (OpenAI's `detail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageDetail {
    /// The provider decides.
    Auto,
    /// A low-resolution pass.
    Low,
    /// A high-resolution pass.
    High,
}

impl ImageDetail {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageDetail::Auto => "auto",
            ImageDetail::Low => "low",
            ImageDetail::High => "high",
        }
    }

    /// Inverse of [`ImageDetail::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [ImageDetail::Auto, ImageDetail::Low, ImageDetail::High]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ImageSource {
    /// An `https` URL the provider fetches.
    Url {
        /// The URL.
        url: String,
    },
    /// Inline bytes, base64 (standard alphabet, padded) with their media type.
    Base64 {
        /// `image/png`, `image/jpeg`, ...
        media_type: String,
        /// The base64 text.
        data: String,
    },
}

/// Why an image URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageUrlError {
    /// Neither `https://` nor `data:`.
    #[error("an image URL must be https or a data URL")]
    Scheme,
    /// A `data:` URL that is not `data:<media type>;base64,<data>`.
    #[error("a data URL must be data:<media type>;base64,<data>")]
    DataUrl,
}

impl ImageSource {
    /// Reads an image URL as the OpenAI format sends it: `https://...`, or a
    /// `data:<media type>;base64,<data>` URL (taken apart, so every provider gets
    /// the bytes in its own shape).
    pub fn from_url(url: &str) -> Result<Self, ImageUrlError> {
        if let Some(rest) = url.strip_prefix("data:") {
            let (head, data) = rest.split_once(',').ok_or(ImageUrlError::DataUrl)?;
            let media_type = head.strip_suffix(";base64").ok_or(ImageUrlError::DataUrl)?;
            if media_type.is_empty() || media_type.contains(';') {
                return Err(ImageUrlError::DataUrl);
            }
            return Ok(ImageSource::Base64 {
                media_type: media_type.to_owned(),
                data: data.to_owned(),
            });
        }
        let is_https = url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if is_https && url.len() > 8 {
            Ok(ImageSource::Url {
                url: url.to_owned(),
            })
        } else {
            Err(ImageUrlError::Scheme)
        }
    }

    /// The image as one URL: the https URL, or a base64 data URL.
    pub fn to_url(&self) -> String {
        match self {
            ImageSource::Url { url } => url.clone(),
            ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }

    /// Size of the decoded bytes of an inline image, from its base64 length (no
    /// decoding); 0 for a URL.
    pub fn inline_bytes(&self) -> usize {
        match self {
            ImageSource::Url { .. } => 0,
            ImageSource::Base64 { data, .. } => {
                let b = data.trim_end().as_bytes();
                let padding = b.iter().rev().take_while(|c| **c == b'=').count().min(2);
                let len = b.len() - padding;
                len / 4 * 3 + (len % 4 * 3) / 4
            }
        }
    }
}

/// An image part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    /// Where the image comes from.
    pub source: ImageSource,
    /// How closely to look, when the caller said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<ImageDetail>,
}

/// One ordered piece of a message's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image(Image),
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Part::Text { text: text.into() }
    }

    /// The text of a text part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Part::Text { text } => Some(text),
            Part::Image(_) => None,
        }
    }
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCall {
    /// Provider-given id; the tool message answering it carries it back, and it
    /// is kept as is across formats.
    pub id: String,
    /// Name of the function (one of the request's tools).
    pub name: String,
    /// Arguments as JSON text, exactly as the model wrote them (possibly invalid).
    pub arguments: String,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Content, in order. May be empty (an assistant turn of tool calls only).
    pub parts: Vec<Part>,
    /// Tool calls of an assistant message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a `tool` message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message of one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            parts: vec![Part::text(text)],
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// An assistant message with tool calls (and optional text).
    pub fn assistant_calls(text: Option<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            parts: text.map(Part::text).into_iter().collect(),
            tool_calls,
            tool_call_id: None,
        }
    }

    /// A tool message answering `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            parts: vec![Part::text(text)],
            tool_calls: Vec::new(),
            tool_call_id: Some(tool_call_id.into()),
        }
    }

    /// The text parts joined, images left out.
    pub fn text_content(&self) -> String {
        let mut texts = self.parts.iter().filter_map(Part::as_text);
        match (texts.next(), texts.next()) {
            (None, _) => String::new(),
            (Some(one), None) => one.to_owned(),
            (Some(a), Some(b)) => {
                let mut out = format!("{a}{b}");
                texts.for_each(|t| out.push_str(t));
                out
            }
        }
    }

    /// Whether every part is text (no image).
    pub fn is_text_only(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text { .. }))
    }

    /// The images of the message.
    pub fn images(&self) -> impl Iterator<Item = &Image> {
        self.parts.iter().filter_map(|p| match p {
            Part::Image(i) => Some(i),
            Part::Text { .. } => None,
        })
    }

    /// Bytes of text content (for size limits).
    pub fn text_bytes(&self) -> usize {
        self.parts
            .iter()
            .filter_map(Part::as_text)
            .map(str::len)
            .sum::<usize>()
            + self
                .tool_calls
                .iter()
                .map(|c| c.id.len() + c.name.len() + c.arguments.len())
                .sum::<usize>()
    }
}

// === Options ===

/// A JSON object kept as checked text: parsed once on input to prove it is an
/// object, then serialised verbatim into each provider's body. Clones share it.
#[derive(Clone)]
pub struct JsonObject(Arc<RawValue>);

/// Why a text is not a [`JsonObject`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonObjectError {
    /// Not valid JSON.
    #[error("not valid JSON: {0}")]
    Invalid(String),
    /// Valid JSON, but not an object.
    #[error("must be a JSON object")]
    NotAnObject,
}

impl JsonObject {
    /// Checks that `text` is one JSON object.
    pub fn parse(text: String) -> Result<Self, JsonObjectError> {
        let raw =
            RawValue::from_string(text).map_err(|e| JsonObjectError::Invalid(e.to_string()))?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(JsonObjectError::NotAnObject);
        }
        Ok(Self(Arc::from(raw)))
    }

    /// Takes a raw value already checked to be an object by its parser.
    pub fn from_raw(raw: Box<RawValue>) -> Result<Self, JsonObjectError> {
        if !raw.get().trim_start().starts_with('{') {
            return Err(JsonObjectError::NotAnObject);
        }
        Ok(Self(Arc::from(raw)))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The raw value, to embed in a serialised body without re-parsing.
    pub fn raw(&self) -> &RawValue {
        &self.0
    }
}

impl fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonObject({} bytes)", self.get().len())
    }
}

impl PartialEq for JsonObject {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for JsonObject {}

impl Serialize for JsonObject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tool {
    /// Function name.
    pub name: String,
    /// What it does, for the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (an object), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<JsonObject>,
    /// Whether the provider must follow the schema exactly, when the caller said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// Which tool the model may or must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool call.
    None,
    /// At least one tool call.
    Required,
    /// This function.
    Function(String),
}

/// A JSON Schema the answer must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonSchemaFormat {
    /// Name of the schema.
    pub name: String,
    /// What the schema is for.
    pub description: Option<String>,
    /// The schema (an object).
    pub schema: JsonObject,
    /// Strict adherence, when the caller said.
    pub strict: Option<bool>,
}

/// The shape of the answer's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON following a schema.
    JsonSchema(JsonSchemaFormat),
}

/// How hard a reasoning model thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasoningEffort {
    /// The least reasoning.
    Minimal,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl ReasoningEffort {
    /// Lowercase name, as OpenAI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }

    /// Inverse of [`ReasoningEffort::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            ReasoningEffort::Minimal,
            ReasoningEffort::Low,
            ReasoningEffort::Medium,
            ReasoningEffort::High,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

/// Everything about a request but its messages and model. Every field is
/// optional: `None` (or empty) means the provider's default, and nothing is sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatOptions {
    /// Upper bound on generated tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature in [0, 2].
    pub temperature: Option<f64>,
    /// Nucleus sampling in (0, 1].
    pub top_p: Option<f64>,
    /// Sampling seed, for providers that honour it.
    pub seed: Option<i64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Functions the model may call. Shared: a 60 KB list is never copied per candidate.
    pub tools: Arc<[Tool]>,
    /// Which tool the model may or must call.
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come in one turn.
    pub parallel_tool_calls: Option<bool>,
    /// Shape of the answer.
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort of reasoning models.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Opaque key/value pairs passed where the provider accepts them.
    pub metadata: BTreeMap<String, String>,
    /// Opaque end-user id passed where the provider accepts it.
    pub user: Option<String>,
}

/// A validated chat request. Cheap to share: messages and tools are behind `Arc`,
/// never copied per candidate or attempt.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The conversation, at least one message.
    pub messages: Arc<[Message]>,
    /// Overrides the model of the first candidate.
    pub model: Option<String>,
    /// Options.
    pub options: ChatOptions,
}

impl ChatRequest {
    /// A request of `messages` with default options.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages: messages.into(),
            model: None,
            options: ChatOptions::default(),
        }
    }

    /// Whether any message holds an image.
    pub fn has_images(&self) -> bool {
        self.messages.iter().any(|m| !m.is_text_only())
    }

    /// Whether the request uses tools: definitions, calls or results.
    pub fn uses_tools(&self) -> bool {
        !self.options.tools.is_empty()
            || self
                .messages
                .iter()
                .any(|m| !m.tool_calls.is_empty() || m.role == Role::Tool)
    }
}

// === The answer ===

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

// === Streams ===

/// One piece of a streamed tool call. The first piece of a call carries its id and
/// name; later pieces of the same `index` add to its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// Position of the call in the answer (0, 1, ...), stable across its pieces.
    pub index: u32,
    /// Id, on the first piece.
    pub id: Option<String>,
    /// Function name, on the first piece.
    pub name: Option<String>,
    /// Next piece of the arguments' JSON text (may be empty).
    pub arguments: String,
}

/// Token counts a stream reports; each may come alone (Anthropic sends input and
/// output in different events). A later value replaces an earlier one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageDelta {
    /// Prompt tokens.
    pub input: Option<u32>,
    /// Generated tokens.
    pub output: Option<u32>,
    /// Prompt tokens read from cache.
    pub cached_input: Option<u32>,
    /// Reasoning tokens.
    pub reasoning: Option<u32>,
}

impl Usage {
    /// Applies the counts a stream reported.
    pub fn apply(&mut self, delta: UsageDelta) {
        let set = |slot: &mut u32, v: Option<u32>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut self.input_tokens, delta.input);
        set(&mut self.output_tokens, delta.output);
        set(&mut self.cached_input_tokens, delta.cached_input);
        set(&mut self.reasoning_tokens, delta.reasoning);
    }
}

/// What a provider stream says, normalised across wire formats. A provider
/// translation turns each of its events into zero or more of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A piece of generated text.
    Text(String),
    /// A piece of a tool call.
    ToolCall(ToolCallDelta),
    /// The model that answers.
    Model(String),
    /// Token counts.
    Usage(UsageDelta),
    /// Why generation stopped.
    Finish(FinishReason),
    /// The provider's end of stream (`[DONE]`, `message_stop`, `response.completed`).
    Done,
    /// An error event; the payload is the event's JSON text, for classification.
    Error(String),
}

impl StreamEvent {
    /// Whether the event is content the caller sees (text or a tool-call piece):
    /// the first such event commits a stream to its candidate.
    pub fn is_content(&self) -> bool {
        match self {
            StreamEvent::Text(t) => !t.is_empty(),
            StreamEvent::ToolCall(_) => true,
            StreamEvent::Model(_)
            | StreamEvent::Usage(_)
            | StreamEvent::Finish(_)
            | StreamEvent::Done
            | StreamEvent::Error(_) => false,
        }
    }
}

/// Why stream events do not make an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    /// A tool-call piece of an index never opened with an id and a name.
    #[error("tool call {0} has no id or name")]
    UnnamedToolCall(u32),
}

/// Assembles stream events into a whole [`ChatAnswer`]: text appended, tool-call
/// pieces joined by index, usage and finish reason kept. The reference for every
/// format's "whole and streamed give the same answer" tests, and how a streamed
/// provider answer serves a whole call.
#[derive(Debug, Clone, Default)]
pub struct AnswerBuilder {
    answer: ChatAnswer,
    /// Tool calls by stream index, in order of first appearance.
    calls: Vec<(u32, Option<String>, Option<String>, String)>,
    finished: bool,
}

impl AnswerBuilder {
    /// Applies one event. `Error` and `Done` change nothing.
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Text(t) => self.answer.content.push_str(t),
            StreamEvent::ToolCall(d) => {
                let slot = match self.calls.iter().position(|c| c.0 == d.index) {
                    Some(i) => &mut self.calls[i],
                    None => {
                        self.calls.push((d.index, None, None, String::new()));
                        let last = self.calls.len() - 1;
                        &mut self.calls[last]
                    }
                };
                if let Some(id) = &d.id {
                    slot.1.get_or_insert_with(|| id.clone());
                }
                if let Some(name) = &d.name {
                    slot.2.get_or_insert_with(|| name.clone());
                }
                slot.3.push_str(&d.arguments);
            }
            StreamEvent::Model(m) => {
                self.answer.model.get_or_insert_with(|| m.clone());
            }
            StreamEvent::Usage(u) => self.answer.usage.apply(*u),
            StreamEvent::Finish(r) => {
                self.answer.finish_reason = *r;
                self.finished = true;
            }
            StreamEvent::Done | StreamEvent::Error(_) => {}
        }
    }

    /// Whether a finish reason arrived.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The answer so far. Tool calls come in index order.
    pub fn build(mut self) -> Result<ChatAnswer, AssembleError> {
        self.calls.sort_by_key(|c| c.0);
        for (index, id, name, arguments) in self.calls {
            let (Some(id), Some(name)) = (id, name) else {
                return Err(AssembleError::UnnamedToolCall(index));
            };
            self.answer.tool_calls.push(ToolCall {
                id,
                name,
                arguments,
            });
        }
        Ok(self.answer)
    }
}

/// Ids of the tool calls that `tool` messages answer without an earlier assistant
/// message having made that call, in order. Empty for a well-formed conversation.
pub fn unanswerable_tool_results(messages: &[Message]) -> Vec<&str> {
    let mut made: Vec<&str> = Vec::new();
    let mut orphans = Vec::new();
    for m in messages {
        made.extend(m.tool_calls.iter().map(|c| c.id.as_str()));
        if m.role == Role::Tool {
            match m.tool_call_id.as_deref() {
                Some(id) if made.contains(&id) => {}
                Some(id) => orphans.push(id),
                None => orphans.push(""),
            }
        }
    }
    orphans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("function"), None);
        assert!(Role::Developer.is_instruction() && !Role::Tool.is_instruction());
    }

    #[test]
    fn image_urls_are_https_or_base64_data() {
        assert_eq!(
            ImageSource::from_url("https://x.test/a.png"),
            Ok(ImageSource::Url {
                url: "https://x.test/a.png".into()
            })
        );
        let data = ImageSource::from_url("data:image/png;base64,iVBORw0K").unwrap();
        assert_eq!(
            data,
            ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0K".into()
            }
        );
        assert_eq!(data.to_url(), "data:image/png;base64,iVBORw0K");
        for bad in [
            "http://x.test/a.png",
            "file:///etc/passwd",
            "https://",
            "ftp://x",
        ] {
            assert_eq!(
                ImageSource::from_url(bad),
                Err(ImageUrlError::Scheme),
                "{bad}"
            );
        }
        for bad in [
            "data:image/png,abc",
            "data:;base64,abc",
            "data:image/png;base64",
        ] {
            assert_eq!(
                ImageSource::from_url(bad),
                Err(ImageUrlError::DataUrl),
                "{bad}"
            );
        }
    }

    #[test]
    fn inline_image_size_is_computed_from_base64_length() {
        use base64::Engine as _;
        for n in 0..40 {
            let data = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
            let src = ImageSource::Base64 {
                media_type: "image/png".into(),
                data,
            };
            assert_eq!(src.inline_bytes(), n, "{n} bytes");
        }
    }

    #[test]
    fn json_objects_are_checked_once_and_kept_verbatim() {
        let schema = JsonObject::parse(r#" {"type": "object"}"#.into()).unwrap();
        // Surrounding whitespace goes; the object's own text is kept as written.
        assert_eq!(schema.get(), r#"{"type": "object"}"#);
        assert_eq!(
            serde_json::to_string(&schema).unwrap(),
            r#"{"type": "object"}"#
        );
        assert_eq!(
            JsonObject::parse("[1]".into()),
            Err(JsonObjectError::NotAnObject)
        );
        assert!(matches!(
            JsonObject::parse("{".into()),
            Err(JsonObjectError::Invalid(_))
        ));
        // Clones share the text.
        let copy = schema.clone();
        assert!(std::ptr::eq(copy.get(), schema.get()));
    }

    #[test]
    fn finish_reasons_and_efforts_round_trip() {
        for r in [
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter,
        ] {
            assert_eq!(FinishReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(
            ReasoningEffort::parse("minimal"),
            Some(ReasoningEffort::Minimal)
        );
        assert_eq!(ReasoningEffort::parse("max"), None);
    }

    #[test]
    fn text_content_joins_text_parts_only() {
        let m = Message {
            role: Role::User,
            parts: vec![
                Part::text("a"),
                Part::Image(Image {
                    source: ImageSource::Url {
                        url: "https://x.test/i.png".into(),
                    },
                    detail: None,
                }),
                Part::text("b"),
                Part::text("c"),
            ],
            tool_calls: Vec::new(),
            tool_call_id: None,
        };
        assert_eq!(m.text_content(), "abc");
        assert!(!m.is_text_only());
        assert_eq!(m.images().count(), 1);
    }

    fn delta(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> StreamEvent {
        StreamEvent::ToolCall(ToolCallDelta {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            arguments: args.into(),
        })
    }

    #[test]
    fn stream_events_assemble_into_the_whole_answer() {
        let events = [
            StreamEvent::Model("m".into()),
            StreamEvent::Text("Let me ".into()),
            StreamEvent::Text("look.".into()),
            delta(0, Some("call_a"), Some("get_weather"), ""),
            delta(1, Some("call_b"), Some("get_time"), "{\"tz\":"),
            delta(0, None, None, "{\"city\":\"Paris\"}"),
            delta(1, None, None, "\"UTC\"}"),
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(UsageDelta {
                input: Some(10),
                output: Some(5),
                cached_input: Some(4),
                reasoning: None,
            }),
            StreamEvent::Usage(UsageDelta {
                output: Some(6),
                reasoning: Some(2),
                ..UsageDelta::default()
            }),
            StreamEvent::Done,
        ];
        let mut b = AnswerBuilder::default();
        events.iter().for_each(|e| b.push(e));
        assert!(b.finished());
        assert_eq!(
            b.build().unwrap(),
            ChatAnswer {
                content: "Let me look.".into(),
                tool_calls: vec![
                    ToolCall {
                        id: "call_a".into(),
                        name: "get_weather".into(),
                        arguments: "{\"city\":\"Paris\"}".into()
                    },
                    ToolCall {
                        id: "call_b".into(),
                        name: "get_time".into(),
                        arguments: "{\"tz\":\"UTC\"}".into()
                    },
                ],
                finish_reason: FinishReason::ToolCalls,
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 6,
                    cached_input_tokens: 4,
                    reasoning_tokens: 2
                },
                model: Some("m".into()),
            }
        );
    }

    #[test]
    fn a_tool_call_piece_without_its_opening_is_an_error() {
        let mut b = AnswerBuilder::default();
        b.push(&delta(3, None, None, "{}"));
        assert_eq!(b.build(), Err(AssembleError::UnnamedToolCall(3)));
    }

    #[test]
    fn only_text_and_tool_call_pieces_commit_a_stream() {
        assert!(StreamEvent::Text("a".into()).is_content());
        assert!(!StreamEvent::Text(String::new()).is_content());
        assert!(delta(0, Some("c"), Some("f"), "").is_content());
        assert!(!StreamEvent::Finish(FinishReason::Stop).is_content());
        assert!(!StreamEvent::Usage(UsageDelta::default()).is_content());
    }

    #[test]
    fn tool_results_must_answer_an_earlier_call() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            arguments: "{}".into(),
        };
        let good = [
            Message::text(Role::User, "hi"),
            Message::assistant_calls(None, vec![call]),
            Message::tool_result("call_1", "42"),
        ];
        assert!(unanswerable_tool_results(&good).is_empty());
        let bad = [
            Message::tool_result("call_9", "42"),
            Message {
                tool_call_id: None,
                ..Message::tool_result("x", "y")
            },
        ];
        assert_eq!(unanswerable_tool_results(&bad), vec!["call_9", ""]);
    }
}
