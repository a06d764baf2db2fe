use serde_json::json;

use super::*;
use crate::config::Limits;
use crate::domain::ToolCall;

fn parse(body: serde_json::Value) -> MessagesRequest {
    serde_json::from_value(body).unwrap()
}

fn read(body: serde_json::Value) -> (Draft, Violations) {
    let mut v = Vec::new();
    let d = draft(parse(body), Purpose::Answer, &mut v);
    (d, v)
}

fn fields(v: &Violations) -> Vec<&'static str> {
    v.iter().map(|(f, _)| *f).collect()
}

#[test]
fn a_tool_loop_becomes_the_domain_conversation() {
    let (d, v) = read(json!({
        "model": "switchyard/primary",
        "max_tokens": 512,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true,
                 "content": [{"type": "text", "text": "timeout"}]},
                {"type": "text", "text": "And now?"}
            ]}
        ],
        "tools": [{"name": "get_weather", "description": "d",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                   "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "metadata": {"user_id": "u-1"},
        "service_tier": "auto"
    }));
    assert!(v.is_empty(), "{v:?}");
    let roles: Vec<Role> = d.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool,
            Role::User
        ]
    );
    assert_eq!(d.messages[0].text_content(), "Be brief.");
    assert_eq!(d.messages[2].text_content(), "Looking.");
    assert_eq!(
        d.messages[2].tool_calls,
        [ToolCall {
            id: "toolu_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }]
    );
    assert_eq!(d.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
    assert_eq!(d.messages[3].text_content(), "18C");
    assert_eq!(d.messages[4].text_content(), "Error: timeout");
    assert_eq!(d.messages[5].text_content(), "And now?");
    assert_eq!(d.max_tokens, Some(512));
    let o = &d.options;
    assert_eq!(o.tools[0].name, "get_weather");
    assert!(
        o.tools[0]
            .parameters
            .as_ref()
            .unwrap()
            .get()
            .contains("city")
    );
    assert_eq!(o.tool_choice, Some(ToolChoice::Required));
    assert_eq!(o.parallel_tool_calls, Some(false));
    assert_eq!(o.stop, ["END"]);
    assert_eq!((o.temperature, o.top_p), (Some(0.5), Some(0.9)));
    assert_eq!(o.user.as_deref(), Some("u-1"));
    // And the validation shared by every door accepts it.
    assert!(validate::chat_request(&Limits::default(), d, v).is_ok());
}

#[test]
fn images_come_as_base64_or_https_url_sources() {
    let (d, v) = read(json!({
        "model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            {"type": "text", "text": "what is this?"}
        ]}]
    }));
    assert!(v.is_empty(), "{v:?}");
    let images: Vec<&ImageSource> = d.messages[0].images().map(|i| &i.source).collect();
    assert_eq!(
        images,
        [
            &ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0K".into()
            },
            &ImageSource::Url {
                url: "https://x.test/a.png".into()
            }
        ]
    );
    let (_, v) = read(json!({
        "model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "http://x.test/a.png"}},
            {"type": "image", "source": {"type": "file", "file_id": "f"}}
        ]}]
    }));
    assert_eq!(
        fields(&v),
        ["messages.content.source", "messages.content.source"]
    );
}

#[test]
fn what_the_domain_cannot_carry_is_refused_by_name() {
    let (_, v) = read(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "x"},
            {"role": "user", "content": [{"type": "document", "source": {"type": "text", "data": "d"}}]},
            {"role": "user", "content": [{"type": "text", "text": "t", "citations": [{"x": 1}]}]},
            {"role": "user", "content": []}
        ],
        "top_k": 5,
        "mcp_servers": [{"url": "https://x.test"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}, {"name": "no_schema"}],
        "tool_choice": {"type": "tool"},
        "thinking": {"type": "enabled", "budget_tokens": 100},
        "temperature": 1.5,
        "metadata": {"user_id": "u", "session": "s"}
    }));
    let mut f = fields(&v);
    f.sort_unstable();
    let mut expected = vec![
        "max_tokens",
        "mcp_servers",
        "messages.content",
        "messages.content",
        "messages.content",
        "messages.role",
        "metadata",
        "temperature",
        "thinking.budget_tokens",
        "tool_choice.name",
        "tools.input_schema",
        "tools.type",
        "top_k",
    ];
    expected.sort_unstable();
    assert_eq!(f, expected, "{v:?}");
}

#[test]
fn count_tokens_needs_no_max_tokens() {
    let mut v = Vec::new();
    let d = draft(
        parse(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
        Purpose::Count,
        &mut v,
    );
    assert!(v.is_empty(), "{v:?}");
    assert_eq!(d.max_tokens, None);
}

#[test]
fn thinking_budgets_map_to_efforts_that_round_trip_the_provider_side() {
    use crate::wire::anthropic::thinking_budget;
    for e in [
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
    ] {
        let budget = thinking_budget(e).unwrap();
        assert_eq!(effort_of_budget(budget), e);
    }
    assert_eq!(effort_of_budget(2048), ReasoningEffort::Low);
    assert_eq!(effort_of_budget(10_000), ReasoningEffort::Medium);
    assert_eq!(effort_of_budget(64_000), ReasoningEffort::High);
    let (d, v) = read(json!({
        "model": "m", "max_tokens": 20000,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "enabled", "budget_tokens": 16000}
    }));
    assert!(v.is_empty());
    assert_eq!(d.options.reasoning_effort, Some(ReasoningEffort::Medium));
    let (_, v) = read(json!({
        "model": "m", "max_tokens": 2000,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "enabled", "budget_tokens": 4000}
    }));
    assert_eq!(fields(&v), ["thinking.budget_tokens"]);
    let (d, v) = read(json!({
        "model": "m", "max_tokens": 2000,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "disabled"}
    }));
    assert!(v.is_empty());
    assert_eq!(d.options.reasoning_effort, None);
}

#[test]
fn answers_use_anthropic_blocks_stop_reasons_and_usage() {
    let answer = ChatAnswer {
        content: "Checking.".into(),
        tool_calls: vec![
            ToolCall {
                id: "toolu_1".into(),
                name: "f".into(),
                arguments: r#"{"a": 1}"#.into(),
            },
            ToolCall {
                id: "toolu_2".into(),
                name: "g".into(),
                arguments: String::new(),
            },
            ToolCall {
                id: "toolu_3".into(),
                name: "h".into(),
                arguments: "{not json".into(),
            },
        ],
        finish_reason: FinishReason::ToolCalls,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 7,
            cached_input_tokens: 60,
            reasoning_tokens: 0,
        },
        model: None,
    };
    let inputs: Vec<_> = answer
        .tool_calls
        .iter()
        .map(|c| tool_input(&c.arguments))
        .collect();
    assert_eq!(
        serde_json::to_value(content(&answer, &inputs)).unwrap(),
        json!([
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}},
            {"type": "tool_use", "id": "toolu_3", "name": "h", "input": "{not json"}
        ])
    );
    // The object is kept byte for byte.
    assert_eq!(inputs[0].get(), r#"{"a": 1}"#);
    assert_eq!(stop_reason(answer.finish_reason), "tool_use");
    assert_eq!(stop_reason(FinishReason::Stop), "end_turn");
    assert_eq!(stop_reason(FinishReason::Length), "max_tokens");
    assert_eq!(stop_reason(FinishReason::ContentFilter), "refusal");
    assert_eq!(
        serde_json::to_value(usage(answer.usage)).unwrap(),
        json!({"input_tokens": 40, "output_tokens": 7, "cache_read_input_tokens": 60,
               "cache_creation_input_tokens": 0})
    );
    let empty = ChatAnswer::default();
    assert_eq!(
        serde_json::to_value(content(&empty, &[])).unwrap(),
        json!([{"type": "text", "text": ""}])
    );
}

#[test]
fn deeply_nested_tool_results_are_refused_not_a_crash() {
    let nested = |depth: usize| {
        let open = r#"[{"type":"tool_result","tool_use_id":"t","content":"#.repeat(depth);
        let close = "}]".repeat(depth);
        format!(
            r#"{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":{open}"leaf"{close}}}]}}"#
        )
    };
    // Past serde_json's recursion limit: a parse error.
    assert!(serde_json::from_str::<MessagesRequest>(&nested(200)).is_err());
    // Within it: parsed, and the nested results refused by name.
    let request: MessagesRequest = serde_json::from_str(&nested(50)).unwrap();
    let mut v = Vec::new();
    draft(request, Purpose::Answer, &mut v);
    assert!(!v.is_empty());
    assert!(
        v.iter().all(|(f, _)| *f == "messages.content.content"),
        "{v:?}"
    );
    // Far past it, in a body within the size limit: refused, not a stack overflow.
    assert!(serde_json::from_str::<MessagesRequest>(&nested(100_000)).is_err());
}
