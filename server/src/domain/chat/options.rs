//! Request options: tools, tool choice, structured output, reasoning effort,
//! sampling; and the whole request.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use super::*;

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
