//! The door's request conversion: everything carried arrives in the domain
//! model, everything else is refused by name.

use serde_json::{Value, json};

use super::*;
use crate::domain::ChatAnswer;

fn read(body: Value) -> (Draft, Violations) {
    let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
    let mut violations = Vec::new();
    let d = draft(request, &mut violations);
    (d, violations)
}

fn fields(v: &Violations) -> Vec<&'static str> {
    v.iter().map(|(f, _)| *f).collect()
}

#[test]
fn a_whole_tool_conversation_is_carried() {
    let (d, v) = read(json!({
        "model": "switchyard/primary",
        "messages": [
            {"role": "developer", "content": "Be terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
            ]},
            {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
        ],
        "tools": [{"type": "function", "function": {"name": "look", "description": "Look",
                   "parameters": {"type": "object"}, "strict": true}}],
        "tool_choice": {"type": "function", "function": {"name": "look"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": true}},
        "stop": "END",
        "top_p": 0.5,
        "seed": 3,
        "reasoning_effort": "minimal",
        "metadata": {"k": "v"},
        "user": "u",
        "max_completion_tokens": 99,
        "store": false,
        "frequency_penalty": 0
    }));
    assert!(v.is_empty(), "{v:?}");
    assert_eq!(d.max_tokens, Some(99));
    assert_eq!(d.messages.len(), 4);
    assert_eq!(d.messages[0].role, Role::Developer);
    assert_eq!(
        d.messages[1].parts[1],
        Part::Image(Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "AAAA".into()
            },
            detail: Some(ImageDetail::Low),
        })
    );
    assert_eq!(d.messages[2].tool_calls[0].arguments, "{\"x\":1}");
    assert_eq!(d.messages[3].tool_call_id.as_deref(), Some("call_1"));
    let o = &d.options;
    assert_eq!(
        o.tools[0].parameters.as_ref().unwrap().get(),
        r#"{"type":"object"}"#
    );
    assert_eq!(o.tools[0].strict, Some(true));
    assert_eq!(o.tool_choice, Some(ToolChoice::Function("look".into())));
    assert_eq!(o.parallel_tool_calls, Some(false));
    assert!(matches!(
        &o.response_format,
        Some(ResponseFormat::JsonSchema(s)) if s.name == "r" && s.strict == Some(true)
    ));
    assert_eq!(o.stop, vec!["END".to_owned()]);
    assert_eq!((o.top_p, o.seed), (Some(0.5), Some(3)));
    assert_eq!(o.reasoning_effort, Some(ReasoningEffort::Minimal));
    assert_eq!(o.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(o.user.as_deref(), Some("u"));
}

#[test]
fn what_is_not_carried_is_refused_by_name() {
    let (_, v) = read(json!({
        "model": "m",
        "messages": [
            {"role": "user", "name": "bob", "content": [
                {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
                {"type": "image_url", "image_url": {"url": "http://plain.test/a.png"}}
            ]}
        ],
        "n": 2,
        "audio": {"voice": "alloy"},
        "functions": [],
        "logit_bias": {"50256": -100},
        "prediction": {"type": "content", "content": "x"},
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": [1]}},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": "not an object"}}],
        "reasoning_effort": "max",
        "tool_choice": "sometimes"
    }));
    let f = fields(&v);
    for expected in [
        "audio",
        "functions",
        "logit_bias",
        "prediction",
        "n",
        "messages.name",
        "messages.content",
        "messages.content.image_url",
        "response_format.json_schema.schema",
        "tools.function.parameters",
        "reasoning_effort",
        "tool_choice",
    ] {
        assert!(f.contains(&expected), "{expected} missing from {v:?}");
    }
}

#[test]
fn unknown_roles_are_counted() {
    let (d, v) = read(json!({"model": "m", "messages": [
        {"role": "function", "content": "x"}, {"role": "user", "content": "y"}
    ]}));
    assert_eq!(d.messages.len(), 1);
    assert_eq!(fields(&v), vec!["messages.role"]);
}

#[test]
fn answers_use_openais_exact_shapes() {
    let answer = ChatAnswer {
        content: String::new(),
        tool_calls: vec![ToolCall {
            id: "call_1".into(),
            name: "look".into(),
            arguments: "{}".into(),
        }],
        finish_reason: FinishReason::ToolCalls,
        usage: Usage {
            input_tokens: 5,
            output_tokens: 2,
            cached_input_tokens: 1,
            reasoning_tokens: 0,
        },
        model: None,
    };
    assert_eq!(
        serde_json::to_value(choice(&answer)).unwrap(),
        json!({"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
            "role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}]
        }})
    );
    assert_eq!(
        serde_json::to_value(usage(answer.usage)).unwrap(),
        json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
               "prompt_tokens_details": {"cached_tokens": 1},
               "completion_tokens_details": {"reasoning_tokens": 0}})
    );
    // A chunk's first piece of a call has its id, type and name; later ones only
    // the index and arguments.
    let first = ToolCallDelta {
        index: 1,
        id: Some("call_2".into()),
        name: Some("look".into()),
        arguments: String::new(),
    };
    assert_eq!(
        serde_json::to_value(tool_call_piece(&first)).unwrap(),
        json!({"index": 1, "id": "call_2", "type": "function", "function": {"name": "look", "arguments": ""}})
    );
    let next = ToolCallDelta {
        index: 1,
        id: None,
        name: None,
        arguments: "{\"a\"".into(),
    };
    assert_eq!(
        serde_json::to_value(tool_call_piece(&next)).unwrap(),
        json!({"index": 1, "function": {"arguments": "{\"a\""}})
    );
}
