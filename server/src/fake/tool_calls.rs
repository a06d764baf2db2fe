//! Scripted tool-call answers of the fake provider ([`FakeBody::ToolCalls`]): the
//! whole answer and the event stream, in the Anthropic Messages shape (`tool_use`
//! blocks, `input_json_delta` pieces, `stop_reason: tool_use`) or the OpenAI chat
//! shape (`message.tool_calls`, chunk `delta.tool_calls[index]`, `finish_reason:
//! tool_calls`), chosen by the endpoint like every other fake answer.
//!
//! [`FakeBody::ToolCalls`]: super::FakeBody::ToolCalls

use serde_json::{Value, json};

use super::Piece;

/// A scripted answer of tool calls, after an optional text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeToolCalls {
    /// Text before the calls (none when empty); `{provider}` is replaced by the
    /// fake's name.
    pub text: String,
    /// The calls, in order.
    pub calls: Vec<FakeToolCall>,
}

/// One scripted tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeToolCall {
    /// Call id, as the provider gives it (`toolu_...`, `call_...`).
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as JSON text (an object, for the Anthropic shape).
    pub arguments: String,
}

impl FakeToolCall {
    /// A call of `name` with `arguments` (JSON text), identified by `id`.
    pub fn new(id: &str, name: &str, arguments: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        }
    }

    /// The arguments as the JSON value a `tool_use` block's `input` holds; `{}`
    /// for arguments that are not JSON.
    fn input(&self) -> Value {
        serde_json::from_str(&self.arguments).unwrap_or_else(|_| json!({}))
    }
}

/// Splits `text` into pieces of about `size` bytes, on character boundaries, so
/// a streamed answer comes in several deltas.
fn pieces(text: &str, size: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if current.len() >= size {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl FakeToolCalls {
    fn text(&self, name: &str) -> String {
        self.text.replace("{provider}", name)
    }

    /// The whole answer, in the endpoint's shape.
    pub(super) fn body(&self, anthropic: bool, model: &str, name: &str) -> String {
        let text = self.text(name);
        if anthropic {
            let mut content: Vec<Value> = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            content.extend(self.calls.iter().map(
                |c| json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input()}),
            ));
            json!({
                "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 12, "output_tokens": 3}
            })
            .to_string()
        } else {
            let calls: Vec<Value> = self
                .calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
            let content = (!text.is_empty()).then_some(text);
            json!({
                "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "tool_calls": calls}, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
            })
            .to_string()
        }
    }

    /// The event stream, in the endpoint's shape, ending normally. Each
    /// call's arguments come in several pieces.
    pub(super) fn events(&self, anthropic: bool, model: &str, name: &str) -> Vec<Piece> {
        let text = self.text(name);
        let mut out = Vec::new();
        if anthropic {
            let named =
                |event: &str, v: Value| Piece::Frame(format!("event: {event}\ndata: {v}\n\n"));
            out.push(named(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}}),
            ));
            let mut block = 0;
            if !text.is_empty() {
                out.push(named(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ));
                for piece in super::split_words(&text) {
                    out.push(named(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                    ));
                }
                out.push(named(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                ));
                block = 1;
            }
            for call in &self.calls {
                out.push(named(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": block, "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}}),
                ));
                // Compact JSON, as Anthropic streams it, in pieces.
                for piece in pieces(&call.input().to_string(), 7) {
                    out.push(named(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": block, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                    ));
                }
                out.push(named(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": block}),
                ));
                block += 1;
            }
            out.push(named(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 3}}),
            ));
            out.push(named("message_stop", json!({"type": "message_stop"})));
        } else {
            let chunk = |delta: Value, finish: Option<&str>| {
                Piece::Frame(format!(
                    "data: {}\n\n",
                    json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
                ))
            };
            out.push(chunk(json!({"role": "assistant", "content": null}), None));
            for piece in super::split_words(&text) {
                out.push(chunk(json!({"content": piece}), None));
            }
            for (index, call) in self.calls.iter().enumerate() {
                out.push(chunk(
                    json!({"tool_calls": [{"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}]}),
                    None,
                ));
                for piece in pieces(&call.arguments, 7) {
                    out.push(chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                        None,
                    ));
                }
            }
            out.push(chunk(json!({}), Some("tool_calls")));
            out.push(Piece::Frame(format!(
                "data: {}\n\ndata: [DONE]\n\n",
                json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}})
            )));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chat::{ChatAnswer, FinishReason, StreamEvent, ToolCall, Usage};
    use crate::fake::{FakeProvider, FakeReply};
    use crate::wire::anthropic;

    fn script() -> FakeReply {
        FakeReply::tool_calls(
            "Checking {provider}.",
            vec![
                FakeToolCall::new("toolu_a", "get_weather", r#"{"city": "Paris, \"FR\""}"#),
                FakeToolCall::new("toolu_b", "get_time", "{}"),
            ],
        )
    }

    fn want() -> ChatAnswer {
        ChatAnswer {
            content: "Checking fake-a.".into(),
            tool_calls: vec![
                ToolCall {
                    id: "toolu_a".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris, \"FR\""}"#.into(),
                },
                ToolCall {
                    id: "toolu_b".into(),
                    name: "get_time".into(),
                    arguments: "{}".into(),
                },
            ],
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                input_tokens: 12,
                output_tokens: 3,
                cached_input_tokens: 0,
                reasoning_tokens: 0,
            },
            model: Some("claude-x".into()),
        }
    }

    async fn post(fake: &FakeProvider, body: &'static str) -> bytes::Bytes {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/messages", fake.anthropic_base_url()))
            .header("x-api-key", "k-1")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    }

    #[tokio::test]
    async fn the_anthropic_fake_answers_tool_use_whole_and_streamed_and_records_the_body() {
        let fake = FakeProvider::start("fake-a", script()).await.unwrap();
        let whole = post(&fake, r#"{"model":"claude-x","max_tokens":9}"#).await;
        assert_eq!(anthropic::parse_answer(&whole).unwrap(), want());

        let streamed = post(
            &fake,
            r#"{"model":"claude-x","max_tokens":9,"stream":true}"#,
        )
        .await;
        let mut parser = anthropic::StreamParser::default();
        let mut events = Vec::new();
        parser.feed(&streamed, &mut events).unwrap();
        assert_eq!(events.last(), Some(&StreamEvent::Done));
        let argument_pieces = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::ToolCall(d) if d.index == 0 && d.id.is_none()))
            .count();
        assert!(argument_pieces > 1, "arguments come in pieces: {events:?}");
        let mut builder = crate::domain::chat::AnswerBuilder::default();
        events.iter().for_each(|e| builder.push(e));
        assert_eq!(builder.build().unwrap(), want());

        let calls = fake.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].credential, "k-1");
        assert_eq!(calls[1].json()["stream"], true);
        assert_eq!(
            &calls[0].body[..],
            br#"{"model":"claude-x","max_tokens":9}"#
        );
    }

    #[tokio::test]
    async fn the_openai_fake_answers_tool_calls_whole_and_streamed() {
        let fake = FakeProvider::start("fake-a", script()).await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/chat/completions", fake.openai_base_url());
        let whole: Value = client
            .post(&url)
            .body(r#"{"model":"gpt-x"}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let choice = &whole["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["tool_calls"][1]["id"], "toolu_b");
        assert_eq!(
            choice["message"]["tool_calls"][0]["function"]["arguments"],
            r#"{"city": "Paris, \"FR\""}"#
        );
        let streamed = client
            .post(&url)
            .body(r#"{"model":"gpt-x","stream":true}"#)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // Argument pieces of call 0 put back together give its arguments.
        let mut arguments = String::new();
        for line in streamed.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let Ok(chunk) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(call) = chunk["choices"][0]["delta"]["tool_calls"].get(0)
                && call["index"] == 0
            {
                arguments.push_str(call["function"]["arguments"].as_str().unwrap());
            }
        }
        assert_eq!(arguments, r#"{"city": "Paris, \"FR\""}"#);
        assert!(streamed.contains(r#""finish_reason":"tool_calls""#));
        assert!(streamed.ends_with("data: [DONE]\n\n"));
    }
}
