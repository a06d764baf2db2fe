//! Golden, parsing and property tests of the Anthropic translation.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::domain::chat::*;

fn schema(text: &str) -> JsonObject {
    JsonObject::parse(text.to_owned()).unwrap()
}

fn body(request: &ChatRequest) -> Value {
    serde_json::from_slice(&request_body("claude-test", request, false).unwrap()).unwrap()
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn image(source: ImageSource) -> Part {
    Part::Image(Image {
        source,
        detail: Some(ImageDetail::High),
    })
}

/// One rich conversation: system and developer instructions, images of both
/// sources, two parallel tool calls and their results, tools, a JSON Schema.
fn rich_conversation() -> ChatRequest {
    let messages = vec![
        Message::text(Role::System, "You are a travel agent."),
        Message::text(Role::Developer, "Answer in French."),
        Message {
            role: Role::User,
            parts: vec![
                Part::text("What is the weather where this photo was taken, and the time?"),
                image(ImageSource::Url {
                    url: "https://images.test/paris.jpg".into(),
                }),
                image(ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into(),
                }),
            ],
            tool_calls: Vec::new(),
            tool_call_id: None,
        },
        Message::assistant_calls(
            Some("Let me check.".into()),
            vec![
                call("toolu_01", "get_weather", r#"{"city": "Paris"}"#),
                call("toolu_02", "get_time", r#"{"tz":"Europe/Paris"}"#),
            ],
        ),
        Message::tool_result("toolu_01", "18°C, \"sunny\""),
        Message::tool_result("toolu_02", "14:05"),
        Message::text(Role::User, "Thanks! Any advice?"),
    ];
    let mut request = ChatRequest::new(messages);
    request.options = ChatOptions {
        max_tokens: Some(1000),
        temperature: Some(0.2),
        top_p: Some(0.9),
        stop: vec!["\n\nHuman:".into()],
        tools: Arc::from(vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Current weather of a city".into()),
                parameters: Some(schema(
                    r#"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"#,
                )),
                strict: Some(true),
            },
            Tool {
                name: "get_time".into(),
                description: None,
                parameters: None,
                strict: None,
            },
        ]),
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(true),
        user: Some("user-42".into()),
        metadata: [("team".to_owned(), "a".to_owned())].into_iter().collect(),
        ..ChatOptions::default()
    };
    request
}

// === Golden ===

const GOLDEN: &str = "src/wire/golden/anthropic_request.json";
const GOLDEN_SCHEMA: &str = "src/wire/golden/anthropic_request_json_schema.json";

/// Compares with a committed golden file; `SWITCHYARD_BLESS=1` rewrites it.
fn golden(path: &str, got: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let pretty = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var_os("SWITCHYARD_BLESS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(pretty, want, "golden {}", path.display());
}

#[test]
fn a_rich_conversation_matches_the_golden_request() {
    let got = body(&rich_conversation());
    golden(GOLDEN, &got);
    // The points the golden file proves, spelled out.
    assert_eq!(
        got["system"],
        "You are a travel agent.\n\nAnswer in French."
    );
    let turns = got["messages"].as_array().unwrap();
    let roles: Vec<&str> = turns.iter().map(|t| t["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(turns[1]["content"][1]["id"], "toolu_01");
    assert_eq!(
        turns[1]["content"][2]["input"],
        json!({"tz": "Europe/Paris"})
    );
    assert_eq!(turns[2]["content"][0]["type"], "tool_result");
    assert_eq!(turns[2]["content"][1]["tool_use_id"], "toolu_02");
    assert_eq!(turns[2]["content"][2]["text"], "Thanks! Any advice?");
    assert_eq!(got["metadata"], json!({"user_id": "user-42"}));
}

#[test]
fn a_json_schema_answer_matches_the_golden_request() {
    let mut request = rich_conversation();
    request.options.tools = Arc::from(Vec::new());
    request.options.tool_choice = None;
    request.options.parallel_tool_calls = None;
    request.options.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "advice".into(),
        description: Some("Travel advice".into()),
        schema: schema(
            r#"{"type":"object","properties":{"tips":{"type":"array","items":{"type":"string"}}},"required":["tips"]}"#,
        ),
        strict: Some(true),
    }));
    let got = body(&request);
    golden(GOLDEN_SCHEMA, &got);
    assert_eq!(
        got["tool_choice"],
        json!({"type": "tool", "name": STRUCTURED_OUTPUT_TOOL})
    );
    assert_eq!(got["tools"].as_array().unwrap().len(), 1);
}

#[test]
fn schemas_and_tool_inputs_are_embedded_verbatim() {
    let raw = String::from_utf8(
        request_body("m", &rich_conversation(), false)
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    // Spacing as the caller wrote it: embedded, not re-serialised.
    assert!(raw.contains(r#""input":{"city": "Paris"}"#), "{raw}");
    assert!(
        raw.contains(r#""input_schema":{"type": "object", "properties""#),
        "{raw}"
    );
    assert!(raw.contains(r#""input_schema":{"type":"object"}"#), "{raw}");
}

// === Request options ===

fn with(options: ChatOptions) -> ChatRequest {
    let mut request = ChatRequest::new(vec![Message::text(Role::User, "hi")]);
    request.options = options;
    request
}

fn tools() -> Arc<[Tool]> {
    Arc::from(vec![Tool {
        name: "f".into(),
        description: None,
        parameters: None,
        strict: None,
    }])
}

#[test]
fn max_tokens_defaults_to_4096_and_stream_is_sent_when_asked() {
    let got = body(&with(ChatOptions::default()));
    assert_eq!(
        got,
        json!({"model": "claude-test", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_tokens": 4096})
    );
    let streamed: Value =
        serde_json::from_slice(&request_body("m", &with(ChatOptions::default()), true).unwrap())
            .unwrap();
    assert_eq!(streamed["stream"], true);
}

#[test]
fn tool_choices_map_to_anthropic_types() {
    let cases = [
        (Some(ToolChoice::Auto), None, json!({"type": "auto"})),
        (Some(ToolChoice::None), None, json!({"type": "none"})),
        (Some(ToolChoice::Required), None, json!({"type": "any"})),
        (
            Some(ToolChoice::Function("f".into())),
            None,
            json!({"type": "tool", "name": "f"}),
        ),
        (
            Some(ToolChoice::Required),
            Some(false),
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (
            None,
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (Some(ToolChoice::None), Some(false), json!({"type": "none"})),
        (None, Some(true), Value::Null),
        (None, None, Value::Null),
    ];
    for (choice, parallel, want) in cases {
        let got = body(&with(ChatOptions {
            tools: tools(),
            tool_choice: choice.clone(),
            parallel_tool_calls: parallel,
            ..ChatOptions::default()
        }));
        assert_eq!(got["tool_choice"], want, "{choice:?} {parallel:?}");
    }
    // Without tools there is nothing to choose from: no tool_choice is sent.
    let got = body(&with(ChatOptions {
        tool_choice: Some(ToolChoice::Required),
        ..ChatOptions::default()
    }));
    assert!(got.get("tool_choice").is_none());
}

#[test]
fn sampling_stop_and_user_map_and_other_metadata_is_not_sent() {
    let got = body(&with(ChatOptions {
        max_tokens: Some(10),
        temperature: Some(0.5),
        top_p: Some(0.8),
        stop: vec!["END".into()],
        user: Some("u1".into()),
        metadata: [("k".to_owned(), "v".to_owned())].into_iter().collect(),
        ..ChatOptions::default()
    }));
    assert_eq!(got["max_tokens"], 10);
    assert_eq!(got["temperature"], 0.5);
    assert_eq!(got["top_p"], 0.8);
    assert_eq!(got["stop_sequences"], json!(["END"]));
    assert_eq!(got["metadata"], json!({"user_id": "u1"}));
}

#[test]
fn reasoning_effort_becomes_a_thinking_budget_below_max_tokens() {
    let think = |effort, max_tokens, temperature| {
        request_body(
            "m",
            &with(ChatOptions {
                reasoning_effort: Some(effort),
                max_tokens,
                temperature,
                ..ChatOptions::default()
            }),
            false,
        )
        .map(|b| serde_json::from_slice::<Value>(&b).unwrap())
    };
    let got = think(ReasoningEffort::High, None, Some(0.3)).unwrap();
    assert_eq!(
        got["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert_eq!(got["max_tokens"], 16384 + 4096);
    assert!(got.get("temperature").is_none(), "temperature is unset");
    let got = think(ReasoningEffort::Low, Some(8000), None).unwrap();
    assert_eq!(got["thinking"]["budget_tokens"], 1024);
    assert_eq!(got["max_tokens"], 8000);
    let got = think(ReasoningEffort::Medium, Some(2000), None).unwrap();
    assert_eq!(got["thinking"]["budget_tokens"], 1999);
    assert_eq!(got["max_tokens"], 2000);
    assert_eq!(
        think(ReasoningEffort::Low, Some(1024), None),
        Err(Untranslatable::ThinkingBudget)
    );
    let got = think(ReasoningEffort::Minimal, Some(50), Some(0.3)).unwrap();
    assert!(got.get("thinking").is_none());
    assert_eq!(got["temperature"], 0.3);
    assert_eq!(thinking_budget(ReasoningEffort::Medium), Some(4096));
}

#[test]
fn thinking_keeps_only_a_top_p_it_accepts() {
    for (top_p, sent) in [(0.5, Value::Null), (0.95, json!(0.95)), (1.0, json!(1.0))] {
        let got = body(&with(ChatOptions {
            reasoning_effort: Some(ReasoningEffort::Low),
            top_p: Some(top_p),
            ..ChatOptions::default()
        }));
        assert_eq!(got["top_p"], sent, "{top_p}");
    }
}

#[test]
fn no_thinking_is_sent_in_the_middle_of_a_tool_loop() {
    let mut messages = vec![
        Message::text(Role::User, "weather?"),
        Message::assistant_calls(None, vec![call("toolu_1", "f", "{}")]),
        Message::tool_result("toolu_1", "sunny"),
    ];
    let effort = |messages: Vec<Message>| {
        let mut request = ChatRequest::new(messages);
        request.options.tools = tools();
        request.options.reasoning_effort = Some(ReasoningEffort::Medium);
        body(&request)
    };
    let got = effort(messages.clone());
    assert!(got.get("thinking").is_none(), "{got}");
    assert_eq!(got["max_tokens"], 4096);
    // A new user message opens a new turn, which thinks again.
    messages.push(Message::assistant_calls(Some("Sunny.".into()), Vec::new()));
    messages.push(Message::text(Role::User, "and tomorrow?"));
    let got = effort(messages);
    assert_eq!(got["thinking"]["budget_tokens"], 4096);
}

#[test]
fn json_object_is_a_forced_tool_of_any_object() {
    let got = body(&with(ChatOptions {
        response_format: Some(ResponseFormat::JsonObject),
        ..ChatOptions::default()
    }));
    assert_eq!(got["tools"][0]["name"], STRUCTURED_OUTPUT_TOOL);
    assert_eq!(got["tools"][0]["input_schema"], json!({"type": "object"}));
    assert_eq!(got["tool_choice"]["name"], STRUCTURED_OUTPUT_TOOL);
    // Text is the default: nothing is sent.
    let got = body(&with(ChatOptions {
        response_format: Some(ResponseFormat::Text),
        ..ChatOptions::default()
    }));
    assert!(got.get("tools").is_none());
}

#[test]
fn what_anthropic_cannot_carry_is_refused_with_the_field_named() {
    let refuse = |request: ChatRequest| request_body("m", &request, false).unwrap_err();
    assert_eq!(
        refuse(with(ChatOptions {
            seed: Some(7),
            ..ChatOptions::default()
        })),
        Untranslatable::Seed
    );
    assert_eq!(
        refuse(with(ChatOptions {
            tools: tools(),
            response_format: Some(ResponseFormat::JsonObject),
            ..ChatOptions::default()
        })),
        Untranslatable::StructuredOutputWithTools
    );
    assert_eq!(
        refuse(with(ChatOptions {
            response_format: Some(ResponseFormat::JsonObject),
            reasoning_effort: Some(ReasoningEffort::Low),
            ..ChatOptions::default()
        })),
        Untranslatable::ThinkingWithForcedTool
    );
    assert_eq!(
        refuse(with(ChatOptions {
            tools: tools(),
            tool_choice: Some(ToolChoice::Function("f".into())),
            reasoning_effort: Some(ReasoningEffort::High),
            ..ChatOptions::default()
        })),
        Untranslatable::ThinkingWithForcedTool
    );
    assert_eq!(
        refuse(with(ChatOptions {
            tools: Arc::from(vec![Tool {
                name: STRUCTURED_OUTPUT_TOOL.into(),
                description: None,
                parameters: None,
                strict: None,
            }]),
            ..ChatOptions::default()
        })),
        Untranslatable::ReservedToolName
    );
    let mut system_image = Message::text(Role::System, "x");
    system_image.parts.push(image(ImageSource::Url {
        url: "https://i.test/a.png".into(),
    }));
    assert_eq!(
        refuse(ChatRequest::new(vec![
            system_image,
            Message::text(Role::User, "hi")
        ])),
        Untranslatable::InstructionImage(0)
    );
    assert_eq!(
        refuse(ChatRequest::new(vec![Message::text(Role::User, "")])),
        Untranslatable::EmptyMessage(0)
    );
    assert_eq!(
        refuse(ChatRequest::new(vec![Message {
            tool_call_id: None,
            ..Message::tool_result("x", "y")
        }])),
        Untranslatable::MissingToolCallId(0)
    );
    for bad in ["{", "[1]", "\"s\"", "{} {}"] {
        let request = ChatRequest::new(vec![
            Message::text(Role::User, "hi"),
            Message::assistant_calls(None, vec![call("c0", "f", "{}"), call("c1", "f", bad)]),
        ]);
        assert_eq!(
            refuse(request),
            Untranslatable::ToolArguments {
                message: 1,
                call: 1
            },
            "{bad}"
        );
    }
    // The reason names fields, never content.
    let reason = Untranslatable::ToolArguments {
        message: 1,
        call: 1,
    }
    .to_string();
    assert!(
        reason.contains("messages[1].tool_calls[1].arguments"),
        "{reason}"
    );
}

#[test]
fn empty_arguments_become_an_empty_object_and_empty_texts_are_left_out() {
    let request = ChatRequest::new(vec![
        Message::text(Role::User, "hi"),
        Message::assistant_calls(Some(String::new()), vec![call("c0", "f", " ")]),
        Message {
            parts: Vec::new(),
            ..Message::tool_result("c0", "")
        },
    ]);
    let got = body(&request);
    assert_eq!(
        got["messages"][1]["content"],
        json!([{"type": "tool_use", "id": "c0", "name": "f", "input": {}}])
    );
    assert_eq!(
        got["messages"][2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "c0"}])
    );
}

#[test]
fn each_instruction_message_is_one_paragraph_of_system() {
    let mut two_parts = Message::text(Role::System, "Be ");
    two_parts.parts.push(Part::text("brief."));
    let request = ChatRequest::new(vec![
        two_parts,
        Message::text(Role::User, "hi"),
        Message::text(Role::Developer, ""),
        Message::text(Role::Developer, "No emoji."),
        Message::text(Role::User, "again"),
    ]);
    let got = body(&request);
    assert_eq!(got["system"], "Be brief.\n\nNo emoji.");
    // The user turns around the instruction merge into one.
    assert_eq!(
        got["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}])
    );
}

// === Whole answers ===

#[test]
fn whole_answers_give_text_tool_calls_finish_and_usage() {
    let raw = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
      "content":[{"type":"thinking","thinking":"hmm","signature":"s"},
                 {"type":"text","text":"Let me "},{"type":"text","text":"check."},
                 {"type":"tool_use","id":"toolu_a","name":"get_weather","input":{"city":"Paris"}},
                 {"type":"tool_use","id":"toolu_b","name":"get_time","input":{}}],
      "stop_reason":"tool_use","stop_sequence":null,
      "usage":{"input_tokens":10,"output_tokens":7,"cache_read_input_tokens":30,"cache_creation_input_tokens":5}}"#;
    assert_eq!(
        parse_answer(raw).unwrap(),
        ChatAnswer {
            content: "Let me check.".into(),
            tool_calls: vec![
                call("toolu_a", "get_weather", r#"{"city":"Paris"}"#),
                call("toolu_b", "get_time", "{}"),
            ],
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                input_tokens: 45,
                output_tokens: 7,
                cached_input_tokens: 30,
                reasoning_tokens: 0,
            },
            model: Some("claude-x".into()),
        }
    );
}

#[test]
fn stop_reasons_are_normalised() {
    for (reason, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
        ("pause_turn", FinishReason::Stop),
    ] {
        let raw = format!(
            r#"{{"content":[{{"type":"tool_use","id":"t","name":"f","input":{{}}}}],"stop_reason":"{reason}"}}"#
        );
        assert_eq!(
            parse_answer(raw.as_bytes()).unwrap().finish_reason,
            want,
            "{reason}"
        );
    }
}

#[test]
fn a_structured_output_answer_is_text_with_a_natural_stop() {
    let raw = format!(
        r#"{{"content":[{{"type":"tool_use","id":"t","name":"{STRUCTURED_OUTPUT_TOOL}","input":{{"tips":["go"]}}}}],"stop_reason":"tool_use"}}"#
    );
    let got = parse_answer(raw.as_bytes()).unwrap();
    assert_eq!(got.content, r#"{"tips":["go"]}"#);
    assert!(got.tool_calls.is_empty());
    assert_eq!(got.finish_reason, FinishReason::Stop);
}

#[test]
fn a_body_that_is_not_a_message_is_a_parse_error_without_its_text() {
    for bad in [
        &b"{"[..],
        br#"{"content":3}"#,
        br#"{"type":"error","error":{"message":"sk-secret-123"}}"#,
        br#"{"content":[{"type":"tool_use","id":"t"}]}"#,
    ] {
        let err = parse_answer(bad).unwrap_err().to_string();
        assert!(!err.contains("sk-secret"), "{err}");
    }
}

// === Streams ===

/// A streamed answer: thinking, text, two tool calls (one without input pieces),
/// usage with cache reads, and the end; with a ping and a comment in between.
const STREAM: &str = concat!(
    ": keep-alive\n\n",
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1,\"cache_read_input_tokens\":30,\"cache_creation_input_tokens\":5}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"check. é\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"get_time\",\"input\":{}}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

fn tool_delta(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> StreamEvent {
    StreamEvent::ToolCall(ToolCallDelta {
        index,
        id: id.map(Into::into),
        name: name.map(Into::into),
        arguments: args.into(),
    })
}

fn parse_in_pieces(raw: &[u8], piece: usize) -> Result<Vec<StreamEvent>, StreamError> {
    let mut parser = StreamParser::default();
    let mut out = Vec::new();
    for chunk in raw.chunks(piece) {
        parser.feed(chunk, &mut out)?;
    }
    Ok(out)
}

#[test]
fn a_streamed_answer_gives_its_events_in_order() {
    assert_eq!(
        parse_in_pieces(STREAM.as_bytes(), STREAM.len()).unwrap(),
        vec![
            StreamEvent::Model("claude-x".into()),
            StreamEvent::Usage(UsageDelta {
                input: Some(45),
                output: Some(1),
                cached_input: Some(30),
                reasoning: None,
            }),
            StreamEvent::Text("Let me ".into()),
            StreamEvent::Text("check. é".into()),
            tool_delta(0, Some("toolu_a"), Some("get_weather"), ""),
            tool_delta(0, None, None, ""),
            tool_delta(0, None, None, "{\"city\":"),
            tool_delta(0, None, None, "\"Paris\"}"),
            tool_delta(1, Some("toolu_b"), Some("get_time"), ""),
            tool_delta(1, None, None, "{}"),
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(UsageDelta {
                output: Some(7),
                ..UsageDelta::default()
            }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn a_stream_cut_into_every_chunk_size_gives_the_same_events_and_the_whole_answer() {
    let whole = parse_in_pieces(STREAM.as_bytes(), STREAM.len()).unwrap();
    for piece in 1..STREAM.len() {
        assert_eq!(
            parse_in_pieces(STREAM.as_bytes(), piece).unwrap(),
            whole,
            "piece {piece}"
        );
    }
    let mut builder = AnswerBuilder::default();
    whole.iter().for_each(|e| builder.push(e));
    let streamed = builder.build().unwrap();
    let same_whole = r#"{"model":"claude-x","content":[{"type":"text","text":"Let me check. é"},
      {"type":"tool_use","id":"toolu_a","name":"get_weather","input":{"city":"Paris"}},
      {"type":"tool_use","id":"toolu_b","name":"get_time","input":{}}],"stop_reason":"tool_use",
      "usage":{"input_tokens":10,"output_tokens":7,"cache_read_input_tokens":30,"cache_creation_input_tokens":5}}"#;
    assert_eq!(streamed, parse_answer(same_whole.as_bytes()).unwrap());
}

#[test]
fn a_streamed_structured_output_is_text() {
    let raw = format!(
        concat!(
            "event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"{}\",\"input\":{{}}}}}}\n\n",
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{\\\"a\\\":\"}}}}\n\n",
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"1}}\"}}}}\n\n",
            "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"tool_use\"}}}}\n\n",
        ),
        STRUCTURED_OUTPUT_TOOL
    );
    assert_eq!(
        parse_in_pieces(raw.as_bytes(), 5).unwrap(),
        vec![
            StreamEvent::Text("{\"a\":".into()),
            StreamEvent::Text("1}".into()),
            StreamEvent::Finish(FinishReason::Stop),
        ]
    );
}

#[test]
fn an_error_event_keeps_its_payload_for_the_classifier() {
    let payload = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let raw =
        format!("event: ping\ndata: {{\"type\":\"ping\"}}\n\nevent: error\ndata: {payload}\n\n");
    let got = parse_in_pieces(raw.as_bytes(), 3).unwrap();
    assert_eq!(got, vec![StreamEvent::Error(payload.into())]);
    let StreamEvent::Error(kept) = &got[0] else {
        unreachable!()
    };
    let c = crate::classify::classify_stream_error(200, kept.as_bytes());
    assert_eq!(c.http_status, 200);
    // An unnamed event of type error is one too.
    let got = parse_in_pieces(format!("data: {payload}\n\n").as_bytes(), 4).unwrap();
    assert_eq!(got, vec![StreamEvent::Error(payload.into())]);
}

#[test]
fn blocks_not_carried_say_nothing() {
    let raw = concat!(
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: some_future_event\ndata: {\"type\":\"some_future_event\"}\n\n",
    );
    assert_eq!(parse_in_pieces(raw.as_bytes(), 9).unwrap(), Vec::new());
}

#[test]
fn a_broken_stream_is_an_error_not_a_panic() {
    let cases = [
        "event: content_block_delta\ndata: {not json\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":5,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\"}}\n\n",
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
    ];
    for raw in cases {
        assert!(parse_in_pieces(raw.as_bytes(), 2).is_err(), "{raw}");
    }
    assert!(matches!(
        parse_in_pieces(b"data: \xff\n\n", 1),
        Err(StreamError::Malformed(_))
    ));
}

// === Property: nothing is lost ===

/// A small reproducible generator (splitmix64), so the property runs the same
/// cases everywhere without a dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn text(&mut self) -> String {
        const ALPHABET: [&str; 12] = [
            "a", "Z", " ", "\"", "\\", "\n", "é", "漢", "🙂", "{", "}", "\u{0}",
        ];
        let len = 1 + self.below(12);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }

    fn image(&mut self) -> Part {
        let source = if self.below(2) == 0 {
            ImageSource::Url {
                url: format!("https://img.test/{}.png", self.next()),
            }
        } else {
            ImageSource::Base64 {
                media_type: "image/jpeg".into(),
                data: format!("{:x}==", self.next()),
            }
        };
        Part::Image(Image {
            source,
            detail: None,
        })
    }

    fn parts(&mut self, min: u64, images: bool) -> Vec<Part> {
        (0..min + self.below(3))
            .map(|_| {
                if images && self.below(3) == 0 {
                    self.image()
                } else {
                    Part::text(self.text())
                }
            })
            .collect()
    }

    fn arguments(&mut self) -> String {
        let fields: Vec<String> = (0..self.below(3))
            .map(|i| {
                let value = serde_json::to_string(&self.text()).unwrap();
                format!("\"k{i}\":{value}")
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    }

    fn conversation(&mut self) -> Vec<Message> {
        let mut messages = Vec::new();
        let mut open_calls: Vec<String> = Vec::new();
        for _ in 0..1 + self.below(10) {
            let message = match self.below(5) {
                0 => Message {
                    parts: self.parts(1, false),
                    ..Message::text(
                        if self.below(2) == 0 {
                            Role::System
                        } else {
                            Role::Developer
                        },
                        "",
                    )
                },
                1 => Message {
                    parts: self.parts(1, true),
                    ..Message::text(Role::User, "")
                },
                2 => {
                    let calls: Vec<ToolCall> = (0..self.below(3))
                        .map(|_| ToolCall {
                            id: format!("toolu_{}", self.next()),
                            name: format!("f{}", self.below(4)),
                            arguments: self.arguments(),
                        })
                        .collect();
                    open_calls.extend(calls.iter().map(|c| c.id.clone()));
                    let min = u64::from(calls.is_empty());
                    Message {
                        parts: self.parts(min, false),
                        ..Message::assistant_calls(None, calls)
                    }
                }
                _ if !open_calls.is_empty() => {
                    let id = open_calls.remove(self.below(open_calls.len() as u64) as usize);
                    Message {
                        parts: self.parts(0, true),
                        ..Message::tool_result(id, "")
                    }
                }
                _ => Message::text(Role::User, self.text()),
            };
            messages.push(message);
        }
        messages
    }
}

/// What a non-instruction message carries, in a flat sequence.
#[derive(Debug, PartialEq)]
enum Item {
    Text(&'static str, String),
    Image(&'static str, ImageSource),
    Call(String, String, String),
    Result(String, Vec<Item>),
}

fn role_name(role: Role) -> &'static str {
    if role == Role::Assistant {
        "assistant"
    } else {
        "user"
    }
}

fn expected_items(messages: &[Message]) -> (Option<String>, Vec<Item>) {
    let system: Vec<String> = messages
        .iter()
        .filter(|m| m.role.is_instruction())
        .map(Message::text_content)
        .collect();
    let part_items = |role, parts: &[Part]| -> Vec<Item> {
        parts
            .iter()
            .map(|p| match p {
                Part::Text { text } => Item::Text(role, text.clone()),
                Part::Image(i) => Item::Image(role, i.source.clone()),
            })
            .collect()
    };
    let mut items = Vec::new();
    for m in messages.iter().filter(|m| !m.role.is_instruction()) {
        let role = role_name(m.role);
        if m.role == Role::Tool {
            items.push(Item::Result(
                m.tool_call_id.clone().unwrap(),
                part_items(role, &m.parts),
            ));
            continue;
        }
        items.extend(part_items(role, &m.parts));
        items.extend(
            m.tool_calls
                .iter()
                .map(|c| Item::Call(c.id.clone(), c.name.clone(), c.arguments.clone())),
        );
    }
    ((!system.is_empty()).then(|| system.join("\n\n")), items)
}

/// The reference decoder: reads an Anthropic request back, independently of the
/// serialiser's types, and checks the API's alternation of roles.
fn decode(body: &[u8]) -> (Option<String>, Vec<Item>) {
    #[derive(serde::Deserialize)]
    struct Req {
        system: Option<String>,
        messages: Vec<TurnIn>,
    }
    #[derive(serde::Deserialize)]
    struct TurnIn {
        role: String,
        content: Vec<Value>,
    }
    fn block(role: &'static str, b: &Value) -> Item {
        match b["type"].as_str().unwrap() {
            "text" => Item::Text(role, b["text"].as_str().unwrap().to_owned()),
            "image" => {
                let s = &b["source"];
                Item::Image(
                    role,
                    match s["type"].as_str().unwrap() {
                        "url" => ImageSource::Url {
                            url: s["url"].as_str().unwrap().into(),
                        },
                        "base64" => ImageSource::Base64 {
                            media_type: s["media_type"].as_str().unwrap().into(),
                            data: s["data"].as_str().unwrap().into(),
                        },
                        other => panic!("image source {other}"),
                    },
                )
            }
            "tool_use" => Item::Call(
                b["id"].as_str().unwrap().into(),
                b["name"].as_str().unwrap().into(),
                b["input"].to_string(),
            ),
            "tool_result" => Item::Result(
                b["tool_use_id"].as_str().unwrap().into(),
                b.get("content")
                    .map(|c| {
                        c.as_array()
                            .unwrap()
                            .iter()
                            .map(|b| block(role, b))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            other => panic!("block {other}"),
        }
    }
    let req: Req = serde_json::from_slice(body).unwrap();
    let mut items = Vec::new();
    let mut last_role = None;
    for turn in &req.messages {
        assert_ne!(last_role, Some(turn.role.clone()), "roles must alternate");
        assert!(!turn.content.is_empty(), "turns are never empty");
        let role = if turn.role == "assistant" {
            "assistant"
        } else {
            assert_eq!(turn.role, "user");
            "user"
        };
        items.extend(turn.content.iter().map(|b| block(role, b)));
        last_role = Some(turn.role.clone());
    }
    (req.system, items)
}

/// Tool inputs are compared as JSON values (the decoder re-serialises them).
fn normalise(items: Vec<Item>) -> Vec<Item> {
    items
        .into_iter()
        .map(|i| match i {
            Item::Call(id, name, args) => Item::Call(
                id,
                name,
                serde_json::from_str::<Value>(&args).unwrap().to_string(),
            ),
            Item::Result(id, inner) => Item::Result(id, normalise(inner)),
            other => other,
        })
        .collect()
}

#[test]
fn any_conversation_survives_translation_with_every_message_part_call_and_id() {
    let cases = std::env::var("SWITCHYARD_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500u64);
    for seed in 0..cases {
        let mut g = Gen(seed);
        let messages = g.conversation();
        let request = ChatRequest::new(messages.clone());
        let bytes = match request_body("m", &request, g.below(2) == 0) {
            Ok(b) => b,
            // Only a conversation of instructions alone has nothing to send... and
            // that is still a valid body; nothing else may be refused here.
            Err(e) => panic!("seed {seed}: {e}"),
        };
        let (want_system, want_items) = expected_items(&messages);
        let (system, items) = decode(&bytes);
        assert_eq!(system, want_system, "seed {seed}");
        assert_eq!(normalise(items), normalise(want_items), "seed {seed}");
    }
}
