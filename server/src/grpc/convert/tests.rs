//! Proto -> domain of a whole chat, and the violations a gRPC caller reads.

use super::*;

fn text(role: pb::Role, content: &str) -> pb::Message {
    pb::Message {
        role: role as i32,
        content: content.into(),
        ..Default::default()
    }
}

fn call(messages: Vec<pb::Message>, options: Option<pb::ChatOptions>) -> ChatCall {
    ChatCall {
        task: None,
        messages,
        model: None,
        max_tokens: Some(100),
        temperature: Some(0.5),
        options,
    }
}

fn violations(s: &Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    s.get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_whole_tool_conversation_reaches_the_domain_intact() {
    let image = pb::ContentPart {
        part: Some(pb::content_part::Part::Image(pb::Image {
            source: Some(pb::image::Source::Data(pb::ImageData {
                media_type: "image/png".into(),
                data: vec![1, 2, 3],
            })),
            detail: pb::ImageDetail::High as i32,
        })),
    };
    let messages = vec![
        text(pb::Role::Developer, "be brief"),
        pb::Message {
            role: pb::Role::User as i32,
            parts: vec![
                pb::ContentPart {
                    part: Some(pb::content_part::Part::Text("what is this".into())),
                },
                image,
            ],
            ..Default::default()
        },
        pb::Message {
            role: pb::Role::Assistant as i32,
            tool_calls: vec![pb::ToolCall {
                id: "call_1".into(),
                name: "look".into(),
                arguments: r#"{"q":1}"#.into(),
            }],
            ..Default::default()
        },
        pb::Message {
            role: pb::Role::Tool as i32,
            content: "a cat".into(),
            tool_call_id: Some("call_1".into()),
            ..Default::default()
        },
    ];
    let options = pb::ChatOptions {
        tools: vec![pb::Tool {
            name: "look".into(),
            description: Some("looks".into()),
            parameters: r#"{"type":"object","properties":{"q":{"type":"integer","maximum":3}}}"#
                .into(),
            strict: Some(true),
        }],
        tool_choice: Some(pb::ToolChoice {
            choice: Some(pb::tool_choice::Choice::Function("look".into())),
        }),
        parallel_tool_calls: Some(false),
        response_format: Some(pb::ResponseFormat {
            kind: pb::ResponseFormatKind::JsonSchema as i32,
            json_schema: Some(pb::JsonSchemaFormat {
                name: "answer".into(),
                description: None,
                schema: r#"{"type":"object"}"#.into(),
                strict: Some(true),
            }),
        }),
        stop: vec!["END".into()],
        top_p: Some(0.9),
        seed: Some(7),
        reasoning_effort: pb::ReasoningEffort::Low as i32,
        metadata: [("k".to_owned(), "v".to_owned())].into(),
        user: Some("u1".into()),
    };
    let r = chat_request(
        &Limits::default(),
        call(messages, Some(options)),
        Vec::new(),
    )
    .unwrap();
    let roles: Vec<_> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![Role::Developer, Role::User, Role::Assistant, Role::Tool]
    );
    assert_eq!(
        r.messages[1].parts[1],
        Part::Image(Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "AQID".into(),
            },
            detail: Some(ImageDetail::High),
        })
    );
    // A turn of tool calls alone has no (empty) text part.
    assert!(r.messages[2].parts.is_empty());
    assert_eq!(r.messages[2].tool_calls[0].arguments, r#"{"q":1}"#);
    assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("call_1"));
    let o = &r.options;
    // The schema is forwarded verbatim: an integer stays an integer.
    assert!(
        o.tools[0]
            .parameters
            .as_ref()
            .unwrap()
            .get()
            .contains(r#""maximum":3}"#)
    );
    assert_eq!(o.tool_choice, Some(ToolChoice::Function("look".into())));
    assert_eq!(o.parallel_tool_calls, Some(false));
    assert!(matches!(
        &o.response_format,
        Some(ResponseFormat::JsonSchema(s)) if s.name == "answer" && s.strict == Some(true)
    ));
    assert_eq!(o.stop, vec!["END".to_owned()]);
    assert_eq!((o.top_p, o.seed), (Some(0.9), Some(7)));
    assert_eq!(o.reasoning_effort, Some(ReasoningEffort::Low));
    assert_eq!(o.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(o.user.as_deref(), Some("u1"));
    assert_eq!((o.max_tokens, o.temperature), (Some(100), Some(0.5)));
}

#[test]
fn the_plain_content_string_keeps_working() {
    let r = chat_request(
        &Limits::default(),
        call(vec![text(pb::Role::User, "hi")], None),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(r.messages[0].parts, vec![Part::text("hi")]);
    assert!(r.options.tools.is_empty());
}

#[test]
fn malformed_chats_are_refused_by_their_proto_fields() {
    let mut tool_msg = text(pb::Role::Tool, "result");
    tool_msg.tool_call_id = Some("call_nobody_made".into());
    let mut both = text(pb::Role::User, "hi");
    both.parts.push(pb::ContentPart {
        part: Some(pb::content_part::Part::Text("again".into())),
    });
    let http_image = pb::Message {
        role: pb::Role::User as i32,
        parts: vec![pb::ContentPart {
            part: Some(pb::content_part::Part::Image(pb::Image {
                source: Some(pb::image::Source::Url("http://example.com/a.png".into())),
                detail: 0,
            })),
        }],
        ..Default::default()
    };
    let options = pb::ChatOptions {
        tools: vec![pb::Tool {
            name: "bad name".into(),
            parameters: "[1]".into(),
            ..Default::default()
        }],
        response_format: Some(pb::ResponseFormat {
            kind: pb::ResponseFormatKind::JsonSchema as i32,
            json_schema: Some(pb::JsonSchemaFormat {
                name: "x".into(),
                schema: "\"not an object\"".into(),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let e = chat_request(
        &Limits::default(),
        call(vec![tool_msg, both, http_image], Some(options)),
        Vec::new(),
    )
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    for want in [
        "messages.tool_call_id",
        "messages.parts",
        "messages.parts.image.url",
        "options.tools.name",
        "options.tools.parameters",
        "options.response_format.json_schema.schema",
    ] {
        assert!(fields.iter().any(|f| f == want), "{want} not in {fields:?}");
    }
    let why = violations(&e)
        .into_iter()
        .find(|(f, _)| f == "messages.tool_call_id")
        .unwrap()
        .1;
    assert!(why.contains("call_nobody_made"), "{why}");
}
