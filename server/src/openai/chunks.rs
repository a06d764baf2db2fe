//! The `chat.completion.chunk` events of one committed stream, item by item.
//!
//! A text chunk differs from the stream's other text chunks only in its content,
//! so its bytes are a prefix and a suffix serialised once per stream (by serde,
//! from the same [`Chunk`] struct as every other chunk) around the content
//! escaped by serde_json: the same bytes as serialising the whole chunk, without
//! escaping the id, object and model again for every piece. Other chunks are
//! serialised whole. Pure: no I/O.

use std::cell::OnceCell;
use std::sync::Arc;

use crate::service::StreamItem;

use super::convert;
use super::sse::{choice, event, interrupted_event};
use super::types::{Chunk, ChunkChoice, Delta, Served};

/// What every chunk of one stream repeats, and the text chunk's frame.
#[derive(Debug)]
pub(super) struct ChunkEncoder {
    id: String,
    created: u64,
    model: Arc<str>,
    request_id: String,
    include_usage: bool,
    /// The bytes of a text chunk before and after its escaped content, cut at
    /// the first text (not before the opening leaves); `None` if the serde form
    /// did not have the expected shape (then text chunks are serialised whole).
    text_frame: OnceCell<Option<(Vec<u8>, Vec<u8>)>>,
}

impl ChunkEncoder {
    /// The encoder of the stream of request `request_id`, answered by `model`.
    pub(super) fn new(request_id: String, model: Arc<str>, include_usage: bool) -> Self {
        Self {
            id: ["chatcmpl-", &request_id].concat(),
            created: crate::clock::wall_ms() / 1000,
            model,
            request_id,
            include_usage,
            text_frame: OnceCell::new(),
        }
    }

    fn chunk<'a>(
        &'a self,
        choices: Vec<ChunkChoice<'a>>,
        switchyard: Option<Served<'a>>,
    ) -> Chunk<'a> {
        Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage: None,
            switchyard,
        }
    }

    /// The serde form of a text chunk with empty content, cut around that content.
    fn split_text_chunk(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        const EMPTY_CONTENT: &[u8] = b"\"content\":\"\"";
        let whole = self.text_serde("");
        // Field names are never inside a string value: there a `"` is escaped.
        let at = memchr::memmem::rfind(&whole, EMPTY_CONTENT)?;
        let value = at + EMPTY_CONTENT.len() - 2;
        Some((whole[..value].to_vec(), whole[value + 2..].to_vec()))
    }

    /// A text chunk serialised whole.
    fn text_serde(&self, text: &str) -> Vec<u8> {
        let delta = Delta {
            content: Some(text),
            ..Delta::default()
        };
        event(&self.chunk(vec![choice(delta)], None))
    }

    /// The first chunk: the role, and who serves (`served`).
    pub(super) fn opening(&self, served: Served<'_>) -> Vec<u8> {
        event(&self.chunk(
            vec![choice(Delta {
                role: Some("assistant"),
                content: Some(""),
                ..Delta::default()
            })],
            Some(served),
        ))
    }

    /// Appends the events of `item` to `out`: a text or tool-call chunk; the
    /// finish chunk (with the whole trail), the usage chunk when asked, and
    /// `[DONE]`; or the `error` event of a stream that broke off.
    pub(super) fn item(&self, item: StreamItem, out: &mut Vec<u8>) {
        match item {
            StreamItem::Text(text) => self.text(&text, out),
            StreamItem::ToolCall(piece) => {
                let delta = Delta {
                    tool_calls: vec![convert::tool_call_piece(&piece)],
                    ..Delta::default()
                };
                out.extend_from_slice(&event(&self.chunk(vec![choice(delta)], None)));
            }
            StreamItem::Finished {
                usage,
                finish_reason,
                steps,
            } => {
                let last = ChunkChoice {
                    finish_reason: Some(convert::finish_reason(finish_reason)),
                    ..choice(Delta::default())
                };
                let trail = convert::trail(&self.request_id, &steps);
                out.extend_from_slice(&event(&self.chunk(vec![last], Some(trail))));
                if self.include_usage {
                    let mut usage_chunk = self.chunk(Vec::new(), None);
                    usage_chunk.usage = Some(convert::usage(usage));
                    out.extend_from_slice(&event(&usage_chunk));
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
            StreamItem::Failed(e) => out.extend_from_slice(&interrupted_event(e)),
        }
    }

    fn text(&self, text: &str, out: &mut Vec<u8>) {
        match self.text_frame.get_or_init(|| self.split_text_chunk()) {
            Some((head, tail)) => {
                // One growth of the frame for the whole chunk (escapes aside).
                out.reserve(head.len() + text.len() + 2 + tail.len());
                out.extend_from_slice(head);
                // Escaping a string cannot fail; serde_json writes what the
                // whole chunk's serialisation would.
                serde_json::to_writer(&mut *out, text).unwrap_or_default();
                out.extend_from_slice(tail);
            }
            None => out.extend_from_slice(&self.text_serde(text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder(request_id: &str, model: &str) -> ChunkEncoder {
        ChunkEncoder::new(request_id.into(), model.into(), false)
    }

    #[test]
    fn a_text_chunk_is_the_bytes_of_its_serde_form() {
        let texts = [
            "",
            "tok ",
            "say \"hi\"",
            "back\\slash and /slash",
            "line\nbreak\r\ttab",
            "\u{0}\u{1}\u{1f}\u{7f} controls",
            "unicode: é, 漢字, 🦀, \u{2028}\u{2029}",
            "\"content\":\"\"",
            "}]}\n\ndata: [DONE]\n\n",
        ];
        let encoders = [
            encoder("r1", "gpt-4o"),
            // Identifiers that look like the cut point or need escaping.
            encoder("\"content\":\"\"", "m\"content\":\"\"}"),
            encoder("é\n", "🦀\\"),
        ];
        for e in &encoders {
            for text in texts {
                let mut fast = Vec::new();
                e.item(StreamItem::Text(text.into()), &mut fast);
                assert!(
                    matches!(e.text_frame.get(), Some(Some(_))),
                    "the serde form is cut"
                );
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    String::from_utf8(e.text_serde(text)).unwrap(),
                    "text {text:?}"
                );
            }
        }
    }

    #[test]
    fn a_text_chunk_reads_back_as_its_text() {
        let e = encoder("r1", "gpt-4o");
        let mut out = Vec::new();
        e.item(StreamItem::Text("a \"b\"\n".into()), &mut out);
        let json = out
            .strip_prefix(b"data: ")
            .and_then(|b| b.strip_suffix(b"\n\n"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(v["choices"][0]["delta"]["content"], "a \"b\"\n");
        assert_eq!(v["id"], "chatcmpl-r1");
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["model"], "gpt-4o");
        assert!(v["choices"][0]["finish_reason"].is_null());
    }
}
