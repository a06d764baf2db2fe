//! Golden tests of the chat completions body, and parsing tests of answers whole
//! and streamed in every chunk size.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::domain::{
    AnswerBuilder, ChatOptions, JsonObject, JsonSchemaFormat, ReasoningEffort, ToolChoice,
};
use crate::sse::SseDecoder;

/// One rich conversation: system, an image by URL and one inline, two parallel
/// tool calls, their results, a JSON schema and every option.
pub(crate) fn rich_request() -> ChatRequest {
    let weather = Tool {
        name: "get_weather".into(),
        description: Some("Weather of a city".into()),
        parameters: Some(
            JsonObject::parse(
                r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#
                    .into(),
            )
            .unwrap(),
        ),
        strict: Some(true),
    };
    let time = Tool {
        name: "get_time".into(),
        description: None,
        parameters: Some(JsonObject::parse(r#"{"type":"object"}"#.into()).unwrap()),
        strict: None,
    };
    let messages = vec![
        Message::text(Role::System, "You are terse."),
        Message {
            role: Role::User,
            parts: vec![
                Part::text("Compare these, then check the weather and time in Paris."),
                Part::Image(Image {
                    source: ImageSource::Url {
                        url: "https://example.test/a.png".into(),
                    },
                    detail: Some(ImageDetail::High),
                }),
                Part::Image(Image {
                    source: ImageSource::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into(),
                    },
                    detail: None,
                }),
            ],
            tool_calls: Vec::new(),
            tool_call_id: None,
        },
        Message::assistant_calls(
            None,
            vec![
                ToolCall {
                    id: "call_w".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                },
                ToolCall {
                    id: "call_t".into(),
                    name: "get_time".into(),
                    arguments: "{}".into(),
                },
            ],
        ),
        Message::tool_result("call_w", "18C, cloudy"),
        Message::tool_result("call_t", "14:05"),
    ];
    ChatRequest {
        messages: messages.into(),
        model: None,
        options: ChatOptions {
            max_tokens: Some(300),
            temperature: Some(0.2),
            top_p: Some(0.9),
            seed: Some(7),
            stop: vec!["END".into()],
            tools: Arc::from(vec![weather, time]),
            tool_choice: Some(ToolChoice::Auto),
            parallel_tool_calls: Some(true),
            response_format: Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: "report".into(),
                description: None,
                schema: JsonObject::parse(
                    r#"{"type":"object","properties":{"summary":{"type":"string"}}}"#.into(),
                )
                .unwrap(),
                strict: Some(true),
            })),
            reasoning_effort: Some(ReasoningEffort::Low),
            metadata: [("agent".to_owned(), "hermes".to_owned())].into(),
            user: Some("u-1".into()),
        },
    }
}

#[test]
fn the_rich_conversation_becomes_this_exact_body() {
    let body: Value =
        serde_json::from_slice(&body("gpt-4o", &rich_request(), false).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Compare these, then check the weather and time in Paris."},
                    {"type": "image_url", "image_url": {"url": "https://example.test/a.png", "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_t", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
                ]},
                {"role": "tool", "content": "18C, cloudy", "tool_call_id": "call_w"},
                {"role": "tool", "content": "14:05", "tool_call_id": "call_t"}
            ],
            "max_tokens": 300,
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "stop": ["END"],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                    "strict": true}},
                {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "response_format": {"type": "json_schema", "json_schema": {"name": "report",
                "schema": {"type": "object", "properties": {"summary": {"type": "string"}}}, "strict": true}},
            "reasoning_effort": "low",
            "metadata": {"agent": "hermes"},
            "user": "u-1"
        })
    );
}

#[test]
fn a_plain_text_request_sends_nothing_it_was_not_given() {
    let r = ChatRequest::new(vec![Message::text(Role::User, "hi")]);
    let body: Value = serde_json::from_slice(&body("m", &r, true).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
               "stream": true, "stream_options": {"include_usage": true}})
    );
}

#[test]
fn schemas_are_embedded_verbatim_not_reparsed() {
    // Key order and spacing inside the schema survive: the raw text is copied.
    let mut r = ChatRequest::new(vec![Message::text(Role::User, "hi")]);
    r.options.tools = Arc::from(vec![Tool {
        name: "f".into(),
        description: None,
        parameters: Some(JsonObject::parse(r#"{"z": 1, "a": [ 2 ]}"#.into()).unwrap()),
        strict: None,
    }]);
    r.options.tool_choice = Some(ToolChoice::Function("f".into()));
    let text = String::from_utf8(body("m", &r, false).unwrap()).unwrap();
    assert!(
        text.contains(r#""parameters":{"z": 1, "a": [ 2 ]}"#),
        "{text}"
    );
    assert!(
        text.contains(r#""tool_choice":{"type":"function","function":{"name":"f"}}"#),
        "{text}"
    );
}

const WHOLE_TOOL_ANSWER: &str = r#"{
  "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-2024",
  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
    "role": "assistant", "content": null, "refusal": null,
    "tool_calls": [
      {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
      {"id": "call_t", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    ]}}],
  "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 12}}
}"#;

fn expected_tool_answer() -> ChatAnswer {
    ChatAnswer {
        content: String::new(),
        tool_calls: vec![
            ToolCall {
                id: "call_w".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            },
            ToolCall {
                id: "call_t".into(),
                name: "get_time".into(),
                arguments: "{}".into(),
            },
        ],
        finish_reason: FinishReason::ToolCalls,
        usage: Usage {
            input_tokens: 120,
            output_tokens: 30,
            cached_input_tokens: 64,
            reasoning_tokens: 12,
        },
        model: Some("gpt-4o-2024".into()),
    }
}

#[test]
fn whole_answers_parse_with_tool_calls_and_detailed_usage() {
    assert_eq!(
        parse_answer(WHOLE_TOOL_ANSWER.as_bytes()),
        Some(expected_tool_answer())
    );
    let text = br#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
    let a = parse_answer(text).unwrap();
    assert_eq!(a.content, "hi");
    assert_eq!(a.finish_reason, FinishReason::Length);
    assert_eq!((a.usage.input_tokens, a.usage.output_tokens), (3, 1));
}

#[test]
fn a_refusal_is_text_flagged_content_filter() {
    let body = br#"{"choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}"#;
    let a = parse_answer(body).unwrap();
    assert_eq!(a.content, "I can't help with that.");
    assert_eq!(a.finish_reason, FinishReason::ContentFilter);
}

#[test]
fn unexpected_success_bodies_are_unreadable() {
    assert!(parse_answer(b"{}").is_none());
    assert!(parse_answer(b"not json").is_none());
    assert!(parse_answer(br#"{"choices":[]}"#).is_none());
    assert!(parse_answer(br#"{"choices":[{"message":{"content":3}}]}"#).is_none());
}

/// The same tool-call answer as a stream, as OpenAI sends it: ids and names on
/// each call's first piece, arguments cut anywhere, usage in a last chunk.
const STREAMED_TOOL_ANSWER: &str = concat!(
    "data: {\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_w\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":\\\"Paris\\\"}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_t\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":30,\"prompt_tokens_details\":{\"cached_tokens\":64},\"completion_tokens_details\":{\"reasoning_tokens\":12}}}\n\n",
    "data: [DONE]\n\n",
);

fn stream_events(raw: &str, piece: usize) -> Vec<StreamEvent> {
    let mut d = SseDecoder::default();
    let mut sse = VecDeque::new();
    for chunk in raw.as_bytes().chunks(piece) {
        d.feed(chunk, &mut sse).unwrap();
    }
    let mut out = Vec::new();
    for e in sse {
        interpret(&e, &mut out);
    }
    out
}

#[test]
fn a_streamed_tool_answer_assembles_to_the_whole_one_in_every_chunk_size() {
    for piece in 1..=STREAMED_TOOL_ANSWER.len() {
        let events = stream_events(STREAMED_TOOL_ANSWER, piece);
        assert_eq!(events.last(), Some(&StreamEvent::Done), "piece {piece}");
        let mut b = AnswerBuilder::default();
        events.iter().for_each(|e| b.push(e));
        assert_eq!(b.build().unwrap(), expected_tool_answer(), "piece {piece}");
    }
}

#[test]
fn stream_chunks_give_text_tool_pieces_finish_usage_and_done() {
    let raw = concat!(
        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n",
        "data: [DONE]\n\n",
    );
    assert_eq!(
        stream_events(raw, 7),
        vec![
            StreamEvent::Model("m".into()),
            StreamEvent::Text("Hel".into()),
            StreamEvent::Text("lo".into()),
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::Usage(UsageDelta {
                input: Some(4),
                output: Some(2),
                ..UsageDelta::default()
            }),
            StreamEvent::Done,
        ]
    );
    // A compatible server that leaves out `index` still gets its pieces placed.
    let no_index = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n";
    assert_eq!(
        stream_events(no_index, 5),
        vec![StreamEvent::ToolCall(ToolCallDelta {
            index: 0,
            id: Some("c".into()),
            name: Some("f".into()),
            arguments: "{}".into(),
        })]
    );
}

#[test]
fn error_chunks_are_errors() {
    let got = stream_events(
        "data: {\"error\":{\"message\":\"overloaded\",\"code\":529}}\n\n",
        3,
    );
    assert!(matches!(&got[..], [StreamEvent::Error(_)]));
    let got = stream_events("event: error\ndata: {\"choices\":[]}\n\n", 3);
    assert!(matches!(&got[..], [StreamEvent::Error(_)]));
    // `"error": null` is no error.
    let got = stream_events("data: {\"error\":null,\"choices\":[]}\n\n", 3);
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn finish_reasons_are_normalised() {
    for (wire, ours) in [
        ("stop", FinishReason::Stop),
        ("length", FinishReason::Length),
        ("tool_calls", FinishReason::ToolCalls),
        ("function_call", FinishReason::ToolCalls),
        ("content_filter", FinishReason::ContentFilter),
        ("something_new", FinishReason::Stop),
    ] {
        assert_eq!(finish_reason(wire), ours, "{wire}");
    }
}
