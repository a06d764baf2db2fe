//! Incremental parsing of provider streams: the Server-Sent Events framing, then
//! the events of OpenAI-compatible chat-completion chunks and of Anthropic's
//! Messages stream, as [`StreamEvent`]s.
//!
//! Pure: bytes in, events out, in whatever pieces the network delivers them. No
//! I/O, no clock; the timeouts live in [`crate::provider`].

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use serde_json::Value;

use crate::domain::ProviderKind;

/// Largest SSE event accepted; a longer one makes the stream malformed.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// One SSE event: its `event:` name (if any) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The stream is not SSE, or an event is over [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event stream: {0}")]
pub struct Malformed(pub &'static str);

/// Splits a byte stream into SSE events (the WHATWG framing: `\n`, `\r\n` or `\r`
/// line ends, `:` comments, multi-line `data`, a blank line dispatches).
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: BytesMut,
    event: Option<String>,
    data: Option<String>,
    /// The last byte consumed was a `\r`: a following `\n` belongs to it.
    after_cr: bool,
}

impl SseDecoder {
    /// Feeds `chunk` and appends every completed event to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut VecDeque<SseEvent>) -> Result<(), Malformed> {
        self.buf.extend_from_slice(chunk);
        loop {
            match self.buf.first() {
                // A `\r\n` split across chunks: the `\n` ends no second line.
                Some(b'\n') if self.after_cr => {
                    self.buf.advance(1);
                    self.after_cr = false;
                    continue;
                }
                Some(_) => self.after_cr = false,
                None => break,
            }
            let Some(end) = self.buf.iter().position(|b| *b == b'\n' || *b == b'\r') else {
                break;
            };
            let line = self.buf.split_to(end);
            let terminator = self.buf[0];
            self.buf.advance(1);
            self.after_cr = terminator == b'\r';
            let line = std::str::from_utf8(&line).map_err(|_| Malformed("a line is not UTF-8"))?;
            self.line(line, out)?;
        }
        let pending = self.buf.len() + self.data.as_ref().map_or(0, String::len);
        if pending > MAX_EVENT_BYTES {
            return Err(Malformed("an event is over the size limit"));
        }
        Ok(())
    }

    fn line(&mut self, line: &str, out: &mut VecDeque<SseEvent>) -> Result<(), Malformed> {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push_back(SseEvent {
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            // `id`, `retry` and unknown fields do not matter here.
            _ => {}
        }
        Ok(())
    }
}

/// What a provider stream says, normalised across providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A piece of generated text.
    Text(String),
    /// The model that answers.
    Model(String),
    /// Token counts; either may come alone (Anthropic sends them apart).
    Usage {
        /// Prompt tokens.
        input: Option<u32>,
        /// Generated tokens.
        output: Option<u32>,
    },
    /// Why generation stopped.
    Finish(String),
    /// The provider's end of stream (`[DONE]`, `message_stop`).
    Done,
    /// An error event; the payload is the event's JSON, for classification.
    Error(Bytes),
}

/// Turns one SSE event of a `kind` provider into stream events.
pub fn interpret(kind: ProviderKind, event: &SseEvent, out: &mut Vec<StreamEvent>) {
    match kind {
        ProviderKind::Openai => openai(event, out),
        ProviderKind::Anthropic => anthropic(event, out),
    }
}

fn count(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn openai(event: &SseEvent, out: &mut Vec<StreamEvent>) {
    let data = event.data.trim();
    if data == "[DONE]" {
        out.push(StreamEvent::Done);
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        out.push(StreamEvent::Error(Bytes::copy_from_slice(data.as_bytes())));
        return;
    };
    if event.event.as_deref() == Some("error") || v.get("error").is_some_and(|e| !e.is_null()) {
        out.push(StreamEvent::Error(Bytes::copy_from_slice(data.as_bytes())));
        return;
    }
    if let Some(model) = v.get("model").and_then(Value::as_str) {
        out.push(StreamEvent::Model(model.to_owned()));
    }
    if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
        if let Some(text) = choice
            .get("delta")
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(StreamEvent::Text(text.to_owned()));
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            out.push(StreamEvent::Finish(reason.to_owned()));
        }
    }
    if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
        out.push(StreamEvent::Usage {
            input: count(usage.get("prompt_tokens")),
            output: count(usage.get("completion_tokens")),
        });
    }
}

fn anthropic(event: &SseEvent, out: &mut Vec<StreamEvent>) {
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        out.push(StreamEvent::Error(Bytes::copy_from_slice(
            event.data.as_bytes(),
        )));
        return;
    };
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .or(event.event.as_deref())
        .unwrap_or_default();
    match kind {
        "message_start" => {
            let message = v.get("message");
            if let Some(model) = message.and_then(|m| m.get("model")).and_then(Value::as_str) {
                out.push(StreamEvent::Model(model.to_owned()));
            }
            if let Some(usage) = message.and_then(|m| m.get("usage")) {
                out.push(StreamEvent::Usage {
                    input: count(usage.get("input_tokens")),
                    output: count(usage.get("output_tokens")),
                });
            }
        }
        "content_block_delta" => {
            if let Some(text) = v
                .get("delta")
                .filter(|d| d.get("type").and_then(Value::as_str) == Some("text_delta"))
                .and_then(|d| d.get("text"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::Text(text.to_owned()));
            }
        }
        "message_delta" => {
            if let Some(reason) = v
                .get("delta")
                .and_then(|d| d.get("stop_reason"))
                .and_then(Value::as_str)
            {
                out.push(StreamEvent::Finish(reason.to_owned()));
            }
            if let Some(usage) = v.get("usage") {
                out.push(StreamEvent::Usage {
                    input: count(usage.get("input_tokens")),
                    output: count(usage.get("output_tokens")),
                });
            }
        }
        "message_stop" => out.push(StreamEvent::Done),
        "error" => out.push(StreamEvent::Error(Bytes::copy_from_slice(
            event.data.as_bytes(),
        ))),
        // ping, content_block_start/stop, and types added later.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = VecDeque::new();
        for chunk in input.chunks(piece) {
            d.feed(chunk, &mut out).unwrap();
        }
        out.into()
    }

    #[test]
    fn events_decode_the_same_whatever_the_chunking() {
        let input = b": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: line1\ndata:line2\n\nid: 7\rdata: x\r\r";
        let whole = decode_in_pieces(input, input.len());
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: Some("message_start".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: None,
                    data: "line1\nline2".into()
                },
                SseEvent {
                    event: None,
                    data: "x".into()
                },
            ]
        );
        for piece in 1..input.len() {
            assert_eq!(decode_in_pieces(input, piece), whole, "piece {piece}");
        }
    }

    #[test]
    fn an_oversized_event_is_malformed() {
        let mut d = SseDecoder::default();
        let mut out = VecDeque::new();
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert!(d.feed(b"data: ", &mut out).is_ok());
        assert!(d.feed(&big, &mut out).is_err());
    }

    fn events(kind: ProviderKind, raw: &str) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        for e in decode_in_pieces(raw.as_bytes(), 7) {
            interpret(kind, &e, &mut out);
        }
        out
    }

    #[test]
    fn openai_chunks_give_text_finish_usage_and_done() {
        let raw = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        );
        assert_eq!(
            events(ProviderKind::Openai, raw),
            vec![
                StreamEvent::Model("m".into()),
                StreamEvent::Text("Hel".into()),
                StreamEvent::Text("lo".into()),
                StreamEvent::Finish("stop".into()),
                StreamEvent::Usage {
                    input: Some(4),
                    output: Some(2)
                },
                StreamEvent::Done,
            ]
        );
    }

    #[test]
    fn openai_error_chunks_are_errors() {
        let got = events(
            ProviderKind::Openai,
            "data: {\"error\":{\"message\":\"overloaded\",\"code\":529}}\n\n",
        );
        assert!(matches!(&got[..], [StreamEvent::Error(_)]));
    }

    #[test]
    fn anthropic_events_give_text_finish_usage_and_done() {
        let raw = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(
            events(ProviderKind::Anthropic, raw),
            vec![
                StreamEvent::Model("claude".into()),
                StreamEvent::Usage {
                    input: Some(9),
                    output: Some(1)
                },
                StreamEvent::Text("Hi".into()),
                StreamEvent::Finish("end_turn".into()),
                StreamEvent::Usage {
                    input: None,
                    output: Some(5)
                },
                StreamEvent::Done,
            ]
        );
    }

    #[test]
    fn anthropic_error_events_are_errors() {
        let got = events(
            ProviderKind::Anthropic,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        );
        assert!(matches!(&got[..], [StreamEvent::Error(_)]));
    }
}
