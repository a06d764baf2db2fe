//! A committed stream as Anthropic's event stream: `message_start` (who serves),
//! `ping`, then content blocks (`content_block_start`, `text_delta` or
//! `input_json_delta` pieces, `content_block_stop`), then `message_delta` (stop
//! reason, usage, the whole trail) and `message_stop`; a failure after content
//! is one `error` event carrying the request id and the trail.
//!
//! [`Encoder`] is pure: it turns each [`StreamItem`] into the bytes of its events,
//! so the event sequence is tested without a server.

use serde::Serialize;

use crate::domain::{FinishReason, Step, ToolCallDelta, Usage};
use crate::openai::convert::trail;
use crate::service::StreamItem;

use super::convert;
use super::types::{BlockDelta, Event, MessageDeltaBody, OutBlock};

/// The blocks of one streamed message, and the bytes of each next event.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    /// Index of the next block.
    next: u32,
    /// The open text block, if the last block opened is text.
    text: Option<u32>,
    /// Open blocks, in order.
    open: Vec<u32>,
    /// Block index of each tool call (by its stream index).
    tools: Vec<(u32, u32)>,
}

impl Encoder {
    /// The events of one stream item. `request_id` names the request in the
    /// closing events.
    pub(crate) fn item(&mut self, item: &StreamItem, request_id: &str) -> Vec<u8> {
        match item {
            StreamItem::Text(text) => self.text(text),
            StreamItem::ToolCall(piece) => self.tool_call(piece),
            StreamItem::Finished {
                usage,
                finish_reason,
                steps,
            } => self.finish(*usage, *finish_reason, request_id, steps),
            StreamItem::Failed(e) => super::errors::stream_error(e),
        }
    }

    fn text(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let index = match self.text {
            Some(i) => i,
            None => {
                // Text after a tool call opens a new block; the calls are done.
                self.close_all(&mut out);
                let i = self.open_block(&mut out, OutBlock::Text { text: "" });
                self.text = Some(i);
                i
            }
        };
        if !text.is_empty() {
            event(
                &mut out,
                &Event::ContentBlockDelta {
                    index,
                    delta: BlockDelta::TextDelta { text },
                },
            );
        }
        out
    }

    fn tool_call(&mut self, piece: &ToolCallDelta) -> Vec<u8> {
        let mut out = Vec::new();
        let known = self
            .tools
            .iter()
            .find(|(call, _)| *call == piece.index)
            .map(|(_, block)| *block);
        let index = match known {
            Some(i) => i,
            None => {
                // A call opens its own block; the text before it is done. Other
                // calls stay open: a provider may interleave their pieces, and
                // clients assemble by index.
                if let Some(t) = self.text.take() {
                    self.close(&mut out, t);
                }
                let empty = serde_json::value::RawValue::from_string("{}".to_owned())
                    .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned());
                let i = self.open_block(
                    &mut out,
                    OutBlock::ToolUse {
                        id: piece.id.as_deref().unwrap_or(""),
                        name: piece.name.as_deref().unwrap_or(""),
                        input: &empty,
                    },
                );
                self.tools.push((piece.index, i));
                i
            }
        };
        if !piece.arguments.is_empty() {
            event(
                &mut out,
                &Event::ContentBlockDelta {
                    index,
                    delta: BlockDelta::InputJsonDelta {
                        partial_json: &piece.arguments,
                    },
                },
            );
        }
        out
    }

    fn finish(
        &mut self,
        usage: Usage,
        finish_reason: FinishReason,
        request_id: &str,
        steps: &[Step],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        self.close_all(&mut out);
        event(
            &mut out,
            &Event::MessageDelta {
                delta: MessageDeltaBody {
                    stop_reason: convert::stop_reason(finish_reason),
                    stop_sequence: None,
                },
                usage: convert::usage(usage),
                switchyard: trail(request_id, steps),
            },
        );
        event(&mut out, &Event::MessageStop);
        out
    }

    fn open_block(&mut self, out: &mut Vec<u8>, block: OutBlock<'_>) -> u32 {
        let index = self.next;
        self.next += 1;
        event(
            out,
            &Event::ContentBlockStart {
                index,
                content_block: block,
            },
        );
        self.open.push(index);
        index
    }

    fn close(&mut self, out: &mut Vec<u8>, index: u32) {
        if let Some(at) = self.open.iter().position(|i| *i == index) {
            self.open.remove(at);
            event(out, &Event::ContentBlockStop { index });
        }
    }

    fn close_all(&mut self, out: &mut Vec<u8>) {
        self.text = None;
        for index in std::mem::take(&mut self.open) {
            event(out, &Event::ContentBlockStop { index });
        }
    }
}

/// Appends one `event: <type>` / `data: <json>` event; the type is the data's.
pub(crate) fn event(out: &mut Vec<u8>, e: &Event<'_>) {
    let name = match e {
        Event::MessageStart { .. } => "message_start",
        Event::Ping => "ping",
        Event::ContentBlockStart { .. } => "content_block_start",
        Event::ContentBlockDelta { .. } => "content_block_delta",
        Event::ContentBlockStop { .. } => "content_block_stop",
        Event::MessageDelta { .. } => "message_delta",
        Event::MessageStop => "message_stop",
    };
    named(out, name, e);
}

/// Appends an event of type `name` with `data` as its JSON.
pub(crate) fn named<T: Serialize>(out: &mut Vec<u8>, name: &str, data: &T) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serialising these shapes (strings, numbers, raw JSON) cannot fail.
    serde_json::to_writer(&mut *out, data).unwrap_or_default();
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(bytes: &[u8]) -> Vec<(String, serde_json::Value)> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = e.split_once('\n').unwrap();
                let name = name.strip_prefix("event: ").unwrap().to_owned();
                let data: serde_json::Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(
                    data["type"],
                    name.as_str(),
                    "the data's type is the event's"
                );
                (name, data)
            })
            .collect()
    }

    fn piece(index: u32, id: Option<&str>, args: &str) -> StreamItem {
        StreamItem::ToolCall(ToolCallDelta {
            index,
            id: id.map(Into::into),
            name: id.map(|_| "get_weather".into()),
            arguments: args.into(),
        })
    }

    #[test]
    fn text_then_tool_calls_become_indexed_blocks_then_the_stop() {
        let mut e = Encoder::default();
        let mut out = Vec::new();
        for item in [
            StreamItem::Text("Let me ".into()),
            StreamItem::Text("look.".into()),
            piece(0, Some("toolu_a"), ""),
            piece(0, None, "{\"city\":"),
            piece(1, Some("toolu_b"), "{\"city\":"),
            piece(0, None, "\"Paris\"}"),
            piece(1, None, "\"Oslo\"}"),
            StreamItem::Finished {
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 5,
                    cached_input_tokens: 4,
                    reasoning_tokens: 0,
                },
                finish_reason: FinishReason::ToolCalls,
                steps: Vec::new(),
            },
        ] {
            out.extend(e.item(&item, "rid"));
        }
        let ev = events(&out);
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(
            ev[0].1["content_block"],
            serde_json::json!({"type": "text", "text": ""})
        );
        assert_eq!(ev[1].1["delta"]["text"], "Let me ");
        assert_eq!(
            ev[4].1["content_block"],
            serde_json::json!({"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}})
        );
        assert_eq!(ev[4].1["index"], 1);
        assert_eq!(ev[6].1["index"], 2);
        // The interleaved piece of call 0 goes to block 1.
        assert_eq!(ev[8].1["index"], 1);
        assert_eq!(ev[8].1["delta"]["type"], "input_json_delta");
        assert_eq!(ev[8].1["delta"]["partial_json"], "\"Paris\"}");
        let delta = &ev[12].1;
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
        assert_eq!(delta["usage"]["input_tokens"], 6);
        assert_eq!(delta["usage"]["cache_read_input_tokens"], 4);
        assert_eq!(delta["usage"]["output_tokens"], 5);
        assert_eq!(delta["switchyard"]["request_id"], "rid");
    }

    #[test]
    fn text_after_a_tool_call_opens_a_new_block() {
        let mut e = Encoder::default();
        let mut out = Vec::new();
        for item in [piece(0, Some("t"), "{}"), StreamItem::Text("done".into())] {
            out.extend(e.item(&item, "rid"));
        }
        let ev = events(&out);
        let shape: Vec<(&str, i64)> = ev
            .iter()
            .map(|(n, d)| (n.as_str(), d["index"].as_i64().unwrap()))
            .collect();
        assert_eq!(
            shape,
            [
                ("content_block_start", 0),
                ("content_block_delta", 0),
                ("content_block_stop", 0),
                ("content_block_start", 1),
                ("content_block_delta", 1),
            ]
        );
    }
}
