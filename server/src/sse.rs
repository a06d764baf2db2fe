//! Incremental parsing of the Server-Sent Events framing of provider streams. Each
//! provider wire format (`crate::provider::*`) then reads its events as
//! [`crate::domain::StreamEvent`]s.
//!
//! Pure: bytes in, events out, in whatever pieces the network delivers them. No
//! I/O, no clock; the timeouts live in [`crate::provider`].

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};

/// Largest SSE event accepted; a longer one makes the stream malformed.
pub(crate) const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

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
pub(crate) struct SseDecoder {
    buf: BytesMut,
    event: Option<String>,
    data: Option<String>,
    /// The last byte consumed was a `\r`: a following `\n` belongs to it.
    after_cr: bool,
}

impl SseDecoder {
    /// Feeds `chunk` and appends every completed event to `out`.
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        out: &mut VecDeque<SseEvent>,
    ) -> Result<(), Malformed> {
        if self.buf.is_empty() {
            // The usual case: the lines are read in place, and only an
            // unfinished last line is kept.
            let used = self.lines(chunk, out)?;
            self.buf.extend_from_slice(&chunk[used..]);
        } else {
            self.buf.extend_from_slice(chunk);
            let mut buf = std::mem::take(&mut self.buf);
            let read = self.lines(&buf, out);
            if let Ok(used) = read {
                buf.advance(used);
            }
            self.buf = buf;
            read?;
        }
        let pending = self.buf.len() + self.data.as_ref().map_or(0, String::len);
        if pending > MAX_EVENT_BYTES {
            return Err(Malformed("an event is over the size limit"));
        }
        Ok(())
    }

    /// Reads the complete lines at the start of `bytes`; returns how many bytes
    /// they took.
    fn lines(&mut self, bytes: &[u8], out: &mut VecDeque<SseEvent>) -> Result<usize, Malformed> {
        let mut at = 0;
        loop {
            match bytes.get(at) {
                // A `\r\n` split across chunks: the `\n` ends no second line.
                Some(b'\n') if self.after_cr => {
                    at += 1;
                    self.after_cr = false;
                    continue;
                }
                Some(_) => self.after_cr = false,
                None => break,
            }
            let rest = &bytes[at..];
            let Some(end) = memchr::memchr2(b'\n', b'\r', rest) else {
                break;
            };
            self.after_cr = rest[end] == b'\r';
            at += end + 1;
            let line =
                std::str::from_utf8(&rest[..end]).map_err(|_| Malformed("a line is not UTF-8"))?;
            self.line(line, out)?;
        }
        Ok(at)
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
}
