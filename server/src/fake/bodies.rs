//! Answers in the endpoint's shape: whole completions, tool calls, and event
//! streams (OpenAI chunks or Anthropic events).

use std::time::Duration;

use axum::body::Bytes;
use futures::StreamExt as _;

use super::*;

/// Splits text into word-sized pieces, each keeping its trailing space.
pub(super) fn split_words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if c == ' ' {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// A piece of a scripted stream: a text event, or framing sent without a pause.
pub(super) enum Piece {
    Text(String),
    Frame(String),
}

/// The events of a stream in the OpenAI or Anthropic shape, ending included
/// for [`StreamEnd::Complete`] and [`StreamEnd::Error`].
pub(super) fn sse_events(
    anthropic: bool,
    model: &str,
    name: &str,
    stream: &FakeStream,
) -> Vec<Piece> {
    let data = |v: serde_json::Value| format!("data: {v}\n\n");
    let named = |event: &str, v: serde_json::Value| format!("event: {event}\ndata: {v}\n\n");
    let mut out = Vec::new();
    let texts = stream.pieces.iter().map(|p| p.replace("{provider}", name));
    if anthropic {
        out.push(Piece::Frame(named(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        )));
        out.push(Piece::Frame(named(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        )));
        for text in texts {
            out.push(Piece::Text(named(
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            )));
        }
        match &stream.end {
            StreamEnd::Complete => {
                out.push(Piece::Frame(format!(
                    "{}{}{}",
                    named("content_block_stop", serde_json::json!({"type": "content_block_stop", "index": 0})),
                    named("message_delta", serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}})),
                    named("message_stop", serde_json::json!({"type": "message_stop"})),
                )));
            }
            StreamEnd::Error(payload) => {
                out.push(Piece::Frame(format!("event: error\ndata: {payload}\n\n")))
            }
            StreamEnd::Drop | StreamEnd::Stall | StreamEnd::Trickle(_) => {}
        }
    } else {
        let chunk = |delta: serde_json::Value, finish: Option<&str>| {
            data(
                serde_json::json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
            )
        };
        out.push(Piece::Frame(chunk(
            serde_json::json!({"role": "assistant", "content": ""}),
            None,
        )));
        for text in texts {
            out.push(Piece::Text(chunk(
                serde_json::json!({"content": text}),
                None,
            )));
        }
        match &stream.end {
            StreamEnd::Complete => {
                out.push(Piece::Frame(format!(
                    "{}{}data: [DONE]\n\n",
                    chunk(serde_json::json!({}), Some("stop")),
                    data(serde_json::json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}})),
                )));
            }
            StreamEnd::Error(payload) => out.push(Piece::Frame(format!("data: {payload}\n\n"))),
            StreamEnd::Drop | StreamEnd::Stall | StreamEnd::Trickle(_) => {}
        }
    }
    out
}

/// The body stream: each text piece after `gap`, then the ending.
pub(super) fn event_stream(
    pieces: Vec<Piece>,
    gap: Duration,
    end: StreamEnd,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let items = futures::stream::iter(pieces).then(move |piece| async move {
        match piece {
            Piece::Text(text) => {
                if !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                Ok(Bytes::from(text))
            }
            Piece::Frame(frame) => Ok(Bytes::from(frame)),
        }
    });
    let trickle = match end {
        StreamEnd::Trickle(every) => Some(every),
        _ => None,
    };
    let ending = futures::stream::once(async move {
        match end {
            StreamEnd::Complete | StreamEnd::Error(_) | StreamEnd::Trickle(_) => None,
            StreamEnd::Drop => {
                // Let what was sent reach the client before the connection is cut.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fake provider dropped the stream",
                )))
            }
            StreamEnd::Stall => std::future::pending().await,
        }
    })
    .filter_map(std::future::ready);
    // `x`, one byte at a time, on a line never ended: never a whole event.
    let trickle = futures::stream::unfold(trickle, |every| async move {
        let every = every?;
        tokio::time::sleep(every).await;
        Some((Ok(Bytes::from_static(b"x")), Some(every)))
    });
    items.chain(ending).chain(trickle)
}

/// A whole answer of tool calls.
pub(super) fn tool_call_body(anthropic: bool, model: &str, calls: &[FakeToolCall]) -> String {
    if anthropic {
        let blocks: Vec<serde_json::Value> = calls
            .iter()
            .map(|c| {
                let input: serde_json::Value =
                    serde_json::from_str(&c.arguments).unwrap_or_default();
                serde_json::json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input})
            })
            .collect();
        serde_json::json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": blocks, "stop_reason": "tool_use",
            "usage": {"input_tokens": 12, "output_tokens": 3}
        })
        .to_string()
    } else {
        let calls: Vec<serde_json::Value> = calls
            .iter()
            .map(|c| serde_json::json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        serde_json::json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": calls}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        })
        .to_string()
    }
}

/// A streamed answer of tool calls: each call opens with its id and name, then
/// its arguments come in two pieces.
pub(super) fn tool_call_events(
    anthropic: bool,
    model: &str,
    calls: &[FakeToolCall],
) -> Vec<String> {
    let halves = |a: &str| {
        let mut cut = a.len() / 2;
        while !a.is_char_boundary(cut) {
            cut -= 1;
        }
        (a[..cut].to_owned(), a[cut..].to_owned())
    };
    let mut out = Vec::new();
    if anthropic {
        let named = |event: &str, v: serde_json::Value| format!("event: {event}\ndata: {v}\n\n");
        out.push(named("message_start", serde_json::json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}})));
        for (i, c) in calls.iter().enumerate() {
            let (a, b) = halves(&c.arguments);
            out.push(named("content_block_start", serde_json::json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}})));
            for piece in [a, b] {
                out.push(named("content_block_delta", serde_json::json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": piece}})));
            }
            out.push(named(
                "content_block_stop",
                serde_json::json!({"type": "content_block_stop", "index": i}),
            ));
        }
        out.push(named("message_delta", serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}})));
        out.push(named(
            "message_stop",
            serde_json::json!({"type": "message_stop"}),
        ));
    } else {
        let chunk = |delta: serde_json::Value, finish: Option<&str>| {
            format!(
                "data: {}\n\n",
                serde_json::json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            )
        };
        out.push(chunk(
            serde_json::json!({"role": "assistant", "content": null}),
            None,
        ));
        for (i, c) in calls.iter().enumerate() {
            let (a, b) = halves(&c.arguments);
            out.push(chunk(serde_json::json!({"tool_calls": [{"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}]}), None));
            for piece in [a, b] {
                out.push(chunk(serde_json::json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}), None));
            }
        }
        out.push(chunk(serde_json::json!({}), Some("tool_calls")));
        out.push(format!(
            "data: {}\n\ndata: [DONE]\n\n",
            serde_json::json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}})
        ));
    }
    out
}

pub(super) fn completion_body(path: &str, model: &str, content: &str, name: &str) -> String {
    let content = content.replace("{provider}", name);
    if path.ends_with("/messages") {
        serde_json::json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": content}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 3}
        })
        .to_string()
    } else {
        serde_json::json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        })
        .to_string()
    }
}
