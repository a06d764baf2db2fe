//! Messages: roles, ordered parts (text, images), tool calls and tool results.

use serde::Serialize;

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
