//! Request options.

use super::*;

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
