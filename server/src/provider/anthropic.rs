//! The `anthropic` provider wire format: Anthropic's Messages API
//! (`POST {base_url}/v1/messages`), for text conversations. System and developer
//! messages go to the top-level `system`; the answer's text blocks are joined.
//!
//! Tools, tool results and images are not translated yet: [`body`] refuses such a
//! request (`None`) rather than drop them, so the attempt fails visibly.
//! Pure: no I/O.

use serde::Serialize;
use serde_json::Value;

use crate::domain::{ChatAnswer, ChatRequest, FinishReason, Role, StreamEvent, Usage, UsageDelta};
use crate::sse::SseEvent;

/// `max_tokens` sent when the caller gives none (the field is required there).
const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The `anthropic-version` header.
pub const VERSION: &str = "2023-06-01";

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<OutMessage>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct OutMessage {
    role: &'static str,
    content: String,
}

/// The serialised body, or `None` for a request this translation cannot carry
/// (tools, tool calls or results, images).
pub fn body(model: &str, request: &ChatRequest, stream: bool) -> Option<Vec<u8>> {
    if request.uses_tools() || request.has_images() {
        return None;
    }
    let system: Vec<String> = request
        .messages
        .iter()
        .filter(|m| m.role.is_instruction())
        .map(|m| m.text_content())
        .collect();
    let messages = request
        .messages
        .iter()
        .filter(|m| !m.role.is_instruction())
        .map(|m| OutMessage {
            role: if m.role == Role::Assistant {
                "assistant"
            } else {
                "user"
            },
            content: m.text_content(),
        })
        .collect();
    serde_json::to_vec(&Request {
        model,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages,
        max_tokens: request.options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        temperature: request.options.temperature,
        stream,
    })
    .ok()
}

/// A normalised finish reason from Anthropic's `stop_reason`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

fn count(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn usage(u: &Value) -> UsageDelta {
    UsageDelta {
        input: count(u.get("input_tokens")),
        output: count(u.get("output_tokens")),
        cached_input: count(u.get("cache_read_input_tokens")),
        reasoning: None,
    }
}

/// Reads a whole answer; `None` when the body is not a message.
pub fn parse_answer(body: &[u8]) -> Option<ChatAnswer> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let model = v.get("model").and_then(|m| m.as_str()).map(str::to_owned);
    let blocks = v.get("content")?.as_array()?;
    let content = blocks
        .iter()
        .filter(|b| b.get("type").and_then(|t| t.as_str()) == Some("text"))
        .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
        .collect::<Vec<_>>()
        .join("");
    let mut total = Usage::default();
    if let Some(u) = v.get("usage") {
        total.apply(usage(u));
    }
    Some(ChatAnswer {
        content,
        tool_calls: Vec::new(),
        finish_reason: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map_or(FinishReason::Stop, finish_reason),
        usage: total,
        model,
    })
}

/// Turns one SSE event of a Messages stream into stream events.
pub fn interpret(event: &SseEvent, out: &mut Vec<StreamEvent>) {
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        out.push(StreamEvent::Error(event.data.clone()));
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
            if let Some(u) = message.and_then(|m| m.get("usage")) {
                out.push(StreamEvent::Usage(usage(u)));
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
                out.push(StreamEvent::Finish(finish_reason(reason)));
            }
            if let Some(u) = v.get("usage") {
                out.push(StreamEvent::Usage(usage(u)));
            }
        }
        "message_stop" => out.push(StreamEvent::Done),
        "error" => out.push(StreamEvent::Error(event.data.clone())),
        // ping, content_block_start/stop, and types added later.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseDecoder;
    use std::collections::VecDeque;

    fn events(raw: &str) -> Vec<StreamEvent> {
        let mut d = SseDecoder::default();
        let mut raw_events = VecDeque::new();
        for chunk in raw.as_bytes().chunks(7) {
            d.feed(chunk, &mut raw_events).unwrap();
        }
        let mut out = Vec::new();
        for e in raw_events {
            interpret(&e, &mut out);
        }
        out
    }

    #[test]
    fn anthropic_answers_join_text_blocks() {
        let body = br#"{"content":[{"type":"text","text":"a"},{"type":"tool_use"},{"type":"text","text":"b"}],"usage":{"input_tokens":5,"output_tokens":2}}"#;
        let a = parse_answer(body).unwrap();
        assert_eq!(a.content, "ab");
        assert_eq!(a.usage.input_tokens, 5);
        assert!(parse_answer(br#"{"content":3}"#).is_none());
    }

    #[test]
    fn anthropic_events_give_text_finish_usage_and_done() {
        let raw = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(
            events(raw),
            vec![
                StreamEvent::Model("claude".into()),
                StreamEvent::Usage(UsageDelta {
                    input: Some(9),
                    output: Some(1),
                    ..UsageDelta::default()
                }),
                StreamEvent::Text("Hi".into()),
                StreamEvent::Finish(FinishReason::Stop),
                StreamEvent::Usage(UsageDelta {
                    output: Some(5),
                    ..UsageDelta::default()
                }),
                StreamEvent::Done,
            ]
        );
    }

    #[test]
    fn anthropic_error_events_are_errors() {
        let got = events(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        );
        assert!(matches!(&got[..], [StreamEvent::Error(_)]));
    }

    #[test]
    fn requests_with_tools_or_images_are_not_sent_half_translated() {
        let mut r = ChatRequest::new(vec![crate::domain::Message::tool_result("c", "x")]);
        assert!(body("m", &r, false).is_none());
        r = ChatRequest::new(vec![
            crate::domain::Message::text(Role::System, "be brief"),
            crate::domain::Message::text(Role::User, "hi"),
        ]);
        let v: Value = serde_json::from_slice(&body("m", &r, false).unwrap()).unwrap();
        assert_eq!(v["system"], "be brief");
        assert_eq!(v["messages"][0]["content"], "hi");
        assert_eq!(v["max_tokens"], 4096);
    }
}
