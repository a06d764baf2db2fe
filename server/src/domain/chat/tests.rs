use super::*;

#[test]
fn roles_round_trip_their_names() {
    for r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Some(r));
    }
    assert_eq!(Role::parse("function"), None);
    assert!(Role::Developer.is_instruction() && !Role::Tool.is_instruction());
}

#[test]
fn image_urls_are_https_or_base64_data() {
    assert_eq!(
        ImageSource::from_url("https://x.test/a.png"),
        Ok(ImageSource::Url {
            url: "https://x.test/a.png".into()
        })
    );
    let data = ImageSource::from_url("data:image/png;base64,iVBORw0K").unwrap();
    assert_eq!(
        data,
        ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "iVBORw0K".into()
        }
    );
    assert_eq!(data.to_url(), "data:image/png;base64,iVBORw0K");
    for bad in [
        "http://x.test/a.png",
        "file:///etc/passwd",
        "https://",
        "ftp://x",
    ] {
        assert_eq!(
            ImageSource::from_url(bad),
            Err(ImageUrlError::Scheme),
            "{bad}"
        );
    }
    for bad in [
        "data:image/png,abc",
        "data:;base64,abc",
        "data:image/png;base64",
    ] {
        assert_eq!(
            ImageSource::from_url(bad),
            Err(ImageUrlError::DataUrl),
            "{bad}"
        );
    }
}

#[test]
fn inline_image_size_is_computed_from_base64_length() {
    use base64::Engine as _;
    for n in 0..40 {
        let data = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        let src = ImageSource::Base64 {
            media_type: "image/png".into(),
            data,
        };
        assert_eq!(src.inline_bytes(), n, "{n} bytes");
    }
}

#[test]
fn json_objects_are_checked_once_and_kept_verbatim() {
    let schema = JsonObject::parse(r#" {"type": "object"}"#.into()).unwrap();
    // Surrounding whitespace goes; the object's own text is kept as written.
    assert_eq!(schema.get(), r#"{"type": "object"}"#);
    assert_eq!(
        serde_json::to_string(&schema).unwrap(),
        r#"{"type": "object"}"#
    );
    assert_eq!(
        JsonObject::parse("[1]".into()),
        Err(JsonObjectError::NotAnObject)
    );
    assert!(matches!(
        JsonObject::parse("{".into()),
        Err(JsonObjectError::Invalid(_))
    ));
    // Clones share the text.
    let copy = schema.clone();
    assert!(std::ptr::eq(copy.get(), schema.get()));
}

#[test]
fn finish_reasons_and_efforts_round_trip() {
    for r in [
        FinishReason::Stop,
        FinishReason::Length,
        FinishReason::ToolCalls,
        FinishReason::ContentFilter,
    ] {
        assert_eq!(FinishReason::parse(r.as_str()), Some(r));
    }
    assert_eq!(
        ReasoningEffort::parse("minimal"),
        Some(ReasoningEffort::Minimal)
    );
    assert_eq!(ReasoningEffort::parse("max"), None);
}

#[test]
fn text_content_joins_text_parts_only() {
    let m = Message {
        role: Role::User,
        parts: vec![
            Part::text("a"),
            Part::Image(Image {
                source: ImageSource::Url {
                    url: "https://x.test/i.png".into(),
                },
                detail: None,
            }),
            Part::text("b"),
            Part::text("c"),
        ],
        tool_calls: Vec::new(),
        tool_call_id: None,
    };
    assert_eq!(m.text_content(), "abc");
    assert!(!m.is_text_only());
    assert_eq!(m.images().count(), 1);
}

fn delta(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> StreamEvent {
    StreamEvent::ToolCall(ToolCallDelta {
        index,
        id: id.map(Into::into),
        name: name.map(Into::into),
        arguments: args.into(),
    })
}

#[test]
fn stream_events_assemble_into_the_whole_answer() {
    let events = [
        StreamEvent::Model("m".into()),
        StreamEvent::Text("Let me ".into()),
        StreamEvent::Text("look.".into()),
        delta(0, Some("call_a"), Some("get_weather"), ""),
        delta(1, Some("call_b"), Some("get_time"), "{\"tz\":"),
        delta(0, None, None, "{\"city\":\"Paris\"}"),
        delta(1, None, None, "\"UTC\"}"),
        StreamEvent::Finish(FinishReason::ToolCalls),
        StreamEvent::Usage(UsageDelta {
            input: Some(10),
            output: Some(5),
            cached_input: Some(4),
            reasoning: None,
        }),
        StreamEvent::Usage(UsageDelta {
            output: Some(6),
            reasoning: Some(2),
            ..UsageDelta::default()
        }),
        StreamEvent::Done,
    ];
    let mut b = AnswerBuilder::default();
    events.iter().for_each(|e| b.push(e));
    assert!(b.finished());
    assert_eq!(
        b.build().unwrap(),
        ChatAnswer {
            content: "Let me look.".into(),
            tool_calls: vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "get_weather".into(),
                    arguments: "{\"city\":\"Paris\"}".into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "get_time".into(),
                    arguments: "{\"tz\":\"UTC\"}".into()
                },
            ],
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 6,
                cached_input_tokens: 4,
                reasoning_tokens: 2
            },
            model: Some("m".into()),
        }
    );
}

#[test]
fn a_tool_call_piece_without_its_opening_is_an_error() {
    let mut b = AnswerBuilder::default();
    b.push(&delta(3, None, None, "{}"));
    assert_eq!(b.build(), Err(AssembleError::UnnamedToolCall(3)));
}

#[test]
fn only_text_and_tool_call_pieces_commit_a_stream() {
    assert!(StreamEvent::Text("a".into()).is_content());
    assert!(!StreamEvent::Text(String::new()).is_content());
    assert!(delta(0, Some("c"), Some("f"), "").is_content());
    assert!(!StreamEvent::Finish(FinishReason::Stop).is_content());
    assert!(!StreamEvent::Usage(UsageDelta::default()).is_content());
}

#[test]
fn tool_results_must_answer_an_earlier_call() {
    let call = ToolCall {
        id: "call_1".into(),
        name: "f".into(),
        arguments: "{}".into(),
    };
    let good = [
        Message::text(Role::User, "hi"),
        Message::assistant_calls(None, vec![call]),
        Message::tool_result("call_1", "42"),
    ];
    assert!(unanswerable_tool_results(&good).is_empty());
    let bad = [
        Message::tool_result("call_9", "42"),
        Message {
            tool_call_id: None,
            ..Message::tool_result("x", "y")
        },
    ];
    assert_eq!(unanswerable_tool_results(&bad), vec!["call_9", ""]);
}
