//! Messages Server-Sent Events as domain stream events.

use std::collections::VecDeque;

use serde::Deserialize;

use super::STRUCTURED_OUTPUT_TOOL;
use super::answer::{UsageBody, finish_reason};
use crate::domain::chat::{StreamEvent, ToolCallDelta};
use crate::sse::{Malformed, SseDecoder, SseEvent};

/// Why a stream is not a Messages API stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The SSE framing is broken.
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// An event whose data is not the JSON its type needs.
    #[error("malformed Anthropic {0} event")]
    InvalidEvent(String),
    /// A tool-input piece for a content block never opened, or opened as text.
    #[error("input_json_delta for content block {0}, which is not a tool_use block")]
    UnknownBlock(u64),
}

/// What an open content block of the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    /// A tool call: its index among the answer's tool calls, and whether a
    /// non-empty input piece arrived.
    Tool {
        index: u32,
        has_input: bool,
    },
    /// The structured-output tool: its input is the answer's text.
    Answer,
    /// Thinking and block types this translation does not carry.
    Ignored,
}

#[derive(Deserialize)]
struct EventBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(default)]
    content_block: Option<StartBlock>,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct StartBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    stop_reason: Option<String>,
}

/// Reads a Messages API event stream incrementally into [`StreamEvent`]s: text
/// deltas as text, each `tool_use` block as a tool call with a stable index (its
/// id and name first, then its `input_json_delta` pieces), the stop reason and
/// usage, `message_stop` as [`StreamEvent::Done`], and an `error` event as
/// [`StreamEvent::Error`] holding the event's JSON text for
/// [`crate::classify::classify_stream_error`]. `ping` says nothing.
#[derive(Debug, Default)]
pub struct StreamParser {
    decoder: SseDecoder,
    pending: VecDeque<SseEvent>,
    /// Open content blocks by the stream's block index.
    blocks: Vec<(u64, OpenBlock)>,
    next_tool: u32,
}

impl StreamParser {
    /// Feeds raw bytes, as the network delivers them, and appends the events of
    /// every completed SSE event to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        self.decoder.feed(chunk, &mut self.pending)?;
        while let Some(event) = self.pending.pop_front() {
            self.push(&event, out)?;
        }
        Ok(())
    }

    /// Appends the events of one SSE event to `out`.
    pub fn push(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), StreamError> {
        let name = event.event.as_deref().unwrap_or_default();
        if name == "error" {
            out.push(StreamEvent::Error(event.data.clone()));
            return Ok(());
        }
        let invalid =
            || StreamError::InvalidEvent(if name.is_empty() { "unnamed" } else { name }.into());
        let body: EventBody = serde_json::from_str(&event.data).map_err(|_| invalid())?;
        match body.kind.as_str() {
            "message_start" => {
                let message = body.message.ok_or_else(invalid)?;
                if let Some(model) = message.model {
                    out.push(StreamEvent::Model(model));
                }
                if let Some(usage) = message.usage {
                    out.push(StreamEvent::Usage(usage.delta()));
                }
            }
            "content_block_start" => {
                let (Some(index), Some(block)) = (body.index, body.content_block) else {
                    return Err(invalid());
                };
                let open = match block.kind.as_str() {
                    "text" => {
                        if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text));
                        }
                        OpenBlock::Text
                    }
                    "tool_use" => {
                        let (Some(id), Some(name)) = (block.id, block.name) else {
                            return Err(invalid());
                        };
                        if name == STRUCTURED_OUTPUT_TOOL {
                            OpenBlock::Answer
                        } else {
                            let tool = self.next_tool;
                            self.next_tool += 1;
                            out.push(StreamEvent::ToolCall(ToolCallDelta {
                                index: tool,
                                id: Some(id),
                                name: Some(name),
                                arguments: String::new(),
                            }));
                            OpenBlock::Tool {
                                index: tool,
                                has_input: false,
                            }
                        }
                    }
                    _ => OpenBlock::Ignored,
                };
                self.blocks.retain(|(i, _)| *i != index);
                self.blocks.push((index, open));
            }
            "content_block_delta" => {
                let (Some(index), Some(delta)) = (body.index, body.delta) else {
                    return Err(invalid());
                };
                let open = self.blocks.iter_mut().find(|(i, _)| *i == index);
                match delta.kind.as_deref() {
                    Some("text_delta") => {
                        if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text));
                        }
                    }
                    Some("input_json_delta") => {
                        let piece = delta.partial_json.unwrap_or_default();
                        match open {
                            Some((_, OpenBlock::Tool { index, has_input })) => {
                                *has_input |= !piece.is_empty();
                                out.push(StreamEvent::ToolCall(ToolCallDelta {
                                    index: *index,
                                    id: None,
                                    name: None,
                                    arguments: piece,
                                }));
                            }
                            Some((_, OpenBlock::Answer)) => {
                                if !piece.is_empty() {
                                    out.push(StreamEvent::Text(piece));
                                }
                            }
                            // Input of a block not carried (a server tool's).
                            Some((_, OpenBlock::Ignored)) => {}
                            Some((_, OpenBlock::Text)) | None => {
                                return Err(StreamError::UnknownBlock(index));
                            }
                        }
                    }
                    // thinking_delta, signature_delta, and types added later.
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = body.index.ok_or_else(invalid)?;
                if let Some(pos) = self.blocks.iter().position(|(i, _)| *i == index) {
                    // A call with no input pieces has the input `{}`, as whole.
                    if let (
                        _,
                        OpenBlock::Tool {
                            index,
                            has_input: false,
                        },
                    ) = self.blocks[pos]
                    {
                        out.push(StreamEvent::ToolCall(ToolCallDelta {
                            index,
                            id: None,
                            name: None,
                            arguments: "{}".into(),
                        }));
                    }
                    self.blocks.remove(pos);
                }
            }
            "message_delta" => {
                if let Some(reason) = body.delta.and_then(|d| d.stop_reason) {
                    out.push(StreamEvent::Finish(finish_reason(
                        &reason,
                        self.next_tool > 0,
                    )));
                }
                if let Some(usage) = body.usage {
                    out.push(StreamEvent::Usage(usage.delta()));
                }
            }
            "message_stop" => out.push(StreamEvent::Done),
            // An error in a stream not named `error` on the SSE line.
            "error" => out.push(StreamEvent::Error(event.data.clone())),
            // ping, and event types added later.
            _ => {}
        }
        Ok(())
    }
}
