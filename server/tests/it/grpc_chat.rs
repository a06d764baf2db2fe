//! The whole chat over gRPC, against the real server: a tool loop that falls from
//! a dead OpenAI token to an `anthropic` chain entry reaches it as tool_use /
//! tool_result blocks with the caller's ids, whole and streamed (tool-call pieces
//! arrive as `tool_call_delta` events); a vision task carries its image parts; a
//! malformed chat is refused naming the proto field, before any provider.

use serde_json::json;
use switchyard::fake::FakeReply;
use switchyard_client::pb;
use switchyard_client::pb::Action::{NextCandidate, Succeed};
use tonic::Code;

use crate::support::*;
use crate::wire::{CALLS, anthropic_tools, assert_anthropic_tool_results, setup};

fn tools() -> pb::ChatOptions {
    pb::ChatOptions {
        tools: vec![
            pb::Tool::function(
                "get_weather",
                "Weather of a city",
                r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#,
            ),
            pb::Tool {
                name: "get_time".into(),
                parameters: r#"{"type":"object","properties":{}}"#.into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn calls() -> Vec<pb::ToolCall> {
    CALLS
        .iter()
        .map(|(id, name, arguments)| pb::ToolCall {
            id: (*id).into(),
            name: (*name).into(),
            arguments: (*arguments).into(),
        })
        .collect()
}

/// The conversation, with the tool history when `answered`.
fn messages(answered: bool) -> Vec<pb::Message> {
    let mut m = vec![
        pb::Message::system("Use the tools."),
        pb::Message::user("Weather and time in Paris?"),
    ];
    if answered {
        m.push(pb::Message::assistant_tool_calls(calls()));
        m.push(pb::Message::tool_result("call_w", "18C"));
        m.push(pb::Message::tool_result("call_t", "14:05"));
    }
    m
}

fn turn(answered: bool) -> pb::AuxCompleteRequest {
    pb::AuxCompleteRequest {
        task: "compression".into(),
        messages: messages(answered),
        options: Some(tools()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_grpc_tool_loop_falls_from_a_dead_token_to_an_anthropic_chain_intact() {
    let (fakes, mut app, _base, _dir) = setup().await;
    fakes.anthropic.push([FakeReply::tool_calls(&CALLS)]);
    let r = app
        .client
        .aux_complete(turn(false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.tool_calls, calls());
    assert_eq!(r.finish_reason, "tool_calls");
    assert_eq!(r.content, "");
    assert_eq!(
        shape(&r.attempts),
        vec![
            s("aux", "aux-k1", NextCandidate),
            s("chain-a", "chain-a-k1", Succeed)
        ]
    );
    assert_eq!(r.attempts[0].error_class(), pb::ErrorClass::AuthTerminal);
    // The OpenAI candidate got the tools as OpenAI functions...
    let openai = &fakes.aux.calls()[0].body;
    assert_eq!(openai["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(
        openai["tools"][0]["function"]["parameters"]["required"],
        json!(["city"])
    );
    // ...and the Anthropic one exactly its own shape.
    let sent = &fakes.anthropic.calls()[0].body;
    assert_eq!(fakes.anthropic.calls()[0].path, "/v1/messages");
    assert_eq!(sent["system"], "Use the tools.");
    assert_eq!(sent["tools"], anthropic_tools(), "{sent}");
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Weather and time in Paris?"}]}]),
        "{sent}"
    );

    // The tool results go back; the dead token is skipped, Anthropic answers.
    fakes
        .anthropic
        .push([FakeReply::ok("18C and 14:05 in Paris.")]);
    let r = app
        .client
        .aux_complete(turn(true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.content, "18C and 14:05 in Paris.");
    assert_eq!(r.finish_reason, "stop");
    assert!(r.tool_calls.is_empty());
    assert_eq!(r.served_by.unwrap().provider, "chain-a");
    assert_anthropic_tool_results(&fakes.anthropic.calls()[1].body);
    assert_eq!(
        fakes.aux.call_count(),
        1,
        "the dead token was not tried again"
    );
    assert_eq!(fakes.spare.call_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn streamed_tool_calls_arrive_as_incremental_deltas_from_anthropic() {
    use pb::aux_complete_stream_response::Event as E;
    let (fakes, mut app, _base, _dir) = setup().await;
    fakes.anthropic.push([FakeReply::tool_calls(&CALLS)]);
    let mut stream = app
        .client
        .aux_complete_stream(pb::AuxCompleteStreamRequest {
            task: "compression".into(),
            messages: messages(false),
            options: Some(tools()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        events.push(m.event.unwrap());
    }
    let Some(E::Started(started)) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(started.served_by.as_ref().unwrap().provider, "chain-a");
    let Some(E::Finished(finished)) = events.last() else {
        panic!("{events:?}")
    };
    let deltas: Vec<&pb::ToolCallDelta> = events
        .iter()
        .filter_map(|e| match e {
            E::ToolCallDelta(d) => Some(d),
            E::Delta(t) => panic!("no text was sent, got {t:?}"),
            _ => None,
        })
        .collect();
    for (index, (id, name, arguments)) in CALLS.iter().enumerate() {
        let pieces: Vec<_> = deltas
            .iter()
            .filter(|d| d.index as usize == index)
            .collect();
        // The first piece names the call; the arguments come in several pieces.
        assert_eq!(pieces[0].id.as_deref(), Some(*id));
        assert_eq!(pieces[0].name.as_deref(), Some(*name));
        assert!(
            pieces[1..]
                .iter()
                .all(|p| p.id.is_none() && p.name.is_none())
        );
        let non_empty = pieces.iter().filter(|p| !p.arguments.is_empty()).count();
        assert!(non_empty >= 2, "arguments in one piece: {pieces:?}");
        let joined: String = pieces.iter().map(|p| p.arguments.as_str()).collect();
        assert_eq!(joined, *arguments);
    }
    // Finished repeats the calls assembled, the normalised reason and usage.
    assert_eq!(finished.tool_calls, calls());
    assert_eq!(finished.finish_reason, "tool_calls");
    let usage = finished.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 3));
    assert_eq!(fakes.anthropic.calls()[0].body["stream"], true);
    assert_eq!(fakes.anthropic.calls()[0].body["tools"], anthropic_tools());
    app.stop().await;
}

#[tokio::test]
async fn a_vision_task_carries_its_image_parts_to_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let r = app
        .client
        .aux_complete(pb::AuxCompleteRequest {
            task: "vision".into(),
            messages: vec![pb::Message::user_parts([
                pb::ContentPart::text("Describe both."),
                pb::ContentPart::image_url("https://images.test/cat.png"),
                pb::ContentPart::image_data("image/png", png.to_vec()),
            ])],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.finish_reason, "stop");
    // The built-in vision task runs on the main model, an Anthropic provider.
    let sent = &fakes.main.calls()[0].body;
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "Describe both."},
            {"type": "image", "source": {"type": "url", "url": "https://images.test/cat.png"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
        ]}]),
        "{sent}"
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_chats_are_refused_by_proto_field_before_any_provider() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let limits = [("SWITCHYARD__LIMITS__MAX_IMAGE_BYTES", "64")];
    let mut app = TestApp::spawn(fakes.config_env(&db, "", &limits)).await;
    let cases: Vec<(&str, pb::CompleteRequest, &str)> = vec![
        (
            "an inline image over limits.max_image_bytes",
            pb::CompleteRequest {
                messages: vec![pb::Message::user_parts([pb::ContentPart::image_data(
                    "image/png",
                    vec![7u8; 65],
                )])],
                ..Default::default()
            },
            "messages.parts.image",
        ),
        (
            "a tool result answering no call",
            pb::CompleteRequest {
                messages: vec![
                    pb::Message::user("hi"),
                    pb::Message::tool_result("call_nobody_made", "18C"),
                ],
                ..Default::default()
            },
            "messages.tool_call_id",
        ),
        (
            "a schema that is not an object",
            pb::CompleteRequest {
                messages: vec![pb::Message::user("hi")],
                options: Some(pb::ChatOptions {
                    response_format: Some(pb::ResponseFormat::json_schema("x", "[1, 2]")),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "options.response_format.json_schema.schema",
        ),
        (
            "an image by plain http",
            pb::CompleteRequest {
                messages: vec![pb::Message::user_parts([pb::ContentPart::image_url(
                    "http://images.test/cat.png",
                )])],
                ..Default::default()
            },
            "messages.parts.image.url",
        ),
        (
            "a tool choice naming no tool",
            pb::CompleteRequest {
                messages: vec![pb::Message::user("hi")],
                options: Some(pb::ChatOptions {
                    tool_choice: Some(pb::ToolChoice::function("nowhere")),
                    ..tools()
                }),
                ..Default::default()
            },
            "options.tool_choice",
        ),
    ];
    for (name, request, field) in cases {
        let status = app.client.complete(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
        use tonic_types::StatusExt;
        let fields: Vec<String> = status
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, vec![field.to_owned()], "{name}");
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "INVALID_ARGUMENT", "{name}");
    }
    assert_eq!(fakes.counts(), [0, 0, 0, 0, 0], "no provider was called");
    app.stop().await;
}
