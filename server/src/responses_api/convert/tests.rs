//! Translation tests of the Responses door: a rich request read into the domain
//! chat, refusals named, and answers written in the Responses shapes.

use serde_json::json;

use super::*;
use crate::domain::{ChatAnswer, FinishReason, ToolCall};

fn read(body: serde_json::Value) -> (Draft, Violations) {
    let request: ResponsesRequest = serde_json::from_value(body).unwrap();
    let mut violations = Vec::new();
    let draft = draft(request, &mut violations);
    (draft, violations)
}

#[test]
fn a_rich_request_becomes_the_domain_chat_in_order() {
    let (draft, violations) = read(json!({
        "model": "switchyard/primary",
        "instructions": "be brief",
        "input": [
            {"role": "developer", "content": "use metric units"},
            {"role": "user", "content": [
                {"type": "input_text", "text": "Weather here?"},
                {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "high"},
            ]},
            {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_2", "name": "time", "arguments": "{\"tz\":1}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2",
             "output": [{"type": "input_text", "text": "14:"}, {"type": "input_text", "text": "05"}]},
        ],
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "function", "name": "weather"},
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "minimal"},
        "max_output_tokens": 64,
        "top_p": 0.9,
        "user": "u1",
    }));
    assert_eq!(violations, []);
    let m = &draft.messages;
    assert_eq!(m.len(), 6, "{m:?}");
    assert_eq!(m[0], Message::text(Role::System, "be brief"));
    assert_eq!(m[1], Message::text(Role::Developer, "use metric units"));
    assert_eq!(m[2].parts.len(), 2);
    assert!(matches!(&m[2].parts[1], Part::Image(i) if i.detail == Some(ImageDetail::High)));
    // The assistant's text and both calls are one turn, as every provider wants.
    assert_eq!(
        m[3],
        Message::assistant_calls(
            Some("Checking.".into()),
            vec![
                ToolCall {
                    id: "call_1".into(),
                    name: "weather".into(),
                    arguments: "{}".into()
                },
                ToolCall {
                    id: "call_2".into(),
                    name: "time".into(),
                    arguments: "{\"tz\":1}".into()
                },
            ]
        )
    );
    assert_eq!(m[4], Message::tool_result("call_1", "18C"));
    assert_eq!(m[5], Message::tool_result("call_2", "14:05"));
    assert_eq!(draft.max_tokens, Some(64));
    let o = &draft.options;
    assert_eq!(o.tools[0].name, "weather");
    assert_eq!(o.tools[0].strict, Some(true));
    assert_eq!(o.tool_choice, Some(ToolChoice::Function("weather".into())));
    assert_eq!(o.response_format, Some(ResponseFormat::JsonObject));
    assert_eq!(o.reasoning_effort, Some(ReasoningEffort::Minimal));
    assert_eq!(o.top_p, Some(0.9));
    assert_eq!(o.user.as_deref(), Some("u1"));
}

#[test]
fn a_function_call_without_a_preceding_assistant_turn_opens_one() {
    let (draft, violations) = read(json!({
        "model": "m",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        ],
    }));
    assert_eq!(violations, []);
    assert_eq!(draft.messages[1].role, Role::Assistant);
    assert!(draft.messages[1].parts.is_empty());
    assert_eq!(draft.messages[1].tool_calls[0].id, "c");
}

#[test]
fn stored_state_and_hosted_tools_are_refused_by_name() {
    let (_, violations) = read(json!({
        "model": "m",
        "input": "hi",
        "previous_response_id": "resp_1",
        "conversation": {"id": "conv_1"},
        "background": true,
        "truncation": "auto",
        "store": true,
        "include": ["reasoning.encrypted_content"],
        "tools": [{"type": "web_search_preview"}],
        "text": {"verbosity": "low"},
    }));
    let fields: Vec<&str> = violations.iter().map(|(f, _)| *f).collect();
    for want in [
        "previous_response_id",
        "conversation",
        "background",
        "truncation",
        "tools.type",
        "text",
    ] {
        assert!(fields.contains(&want), "{want} in {violations:?}");
    }
    assert!(!fields.contains(&"store") && !fields.contains(&"include"));
    let (_, violations) = read(
        json!({"model": "m", "input": "hi", "background": false, "truncation": "disabled", "top_logprobs": 0}),
    );
    assert_eq!(violations, []);
}

#[test]
fn answers_become_a_message_and_function_call_items() {
    let answer = ChatAnswer {
        content: "Calling.".into(),
        tool_calls: vec![ToolCall {
            id: "toolu_1".into(),
            name: "f".into(),
            arguments: "{\"a\":1}".into(),
        }],
        finish_reason: FinishReason::ToolCalls,
        ..ChatAnswer::default()
    };
    let items = serde_json::to_value(output("r1", &answer)).unwrap();
    assert_eq!(
        items,
        json!([
            {"type": "message", "id": "msg_r1_0", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Calling.", "annotations": [], "logprobs": []}]},
            {"type": "function_call", "id": "fc_r1_1", "call_id": "toolu_1", "name": "f",
             "arguments": "{\"a\":1}", "status": "completed"},
        ])
    );
    // A tool-call-only answer has no empty message; a cut one is incomplete.
    let calls_only = ChatAnswer {
        content: String::new(),
        ..answer
    };
    assert_eq!(output("r1", &calls_only).len(), 1);
    assert_eq!(status(FinishReason::ToolCalls).0, "completed");
    let (s, why) = status(FinishReason::Length);
    assert_eq!(
        (s, why.map(|w| w.reason)),
        ("incomplete", Some("max_output_tokens"))
    );
}
