//! The whole chat through the client against the real server: a tool loop after a
//! failover, tool calls streamed as pieces, images and structured output reaching
//! the provider as sent.

use serde_json::json;
use switchyard_client::{
    CallOptions, ContentPart, Message, StreamPiece, Tool, ToolCall, ToolChoice, pb,
};

use super::{Harness, Reply, TOKEN_INVALIDATED};

fn weather() -> Tool {
    Tool::function(
        "get_weather",
        "Weather of a city",
        r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#,
    )
}

fn time() -> Tool {
    Tool::function(
        "get_time",
        "Time of a zone",
        r#"{"type":"object","properties":{}}"#,
    )
}

/// An OpenAI completion of two tool calls.
fn tool_calls_reply() -> Reply {
    let body = json!({
        "id": "x", "object": "chat.completion", "model": "cheap-model",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "tool_calls": [
                {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_t", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9,
            "prompt_tokens_details": {"cached_tokens": 16}}
    });
    Reply::error(200, &body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_loop_survives_a_dead_token_through_the_client() {
    let h = Harness::start().await;
    h.fakes.push("codex", Reply::error(401, TOKEN_INVALIDATED));
    h.fakes.push("cheap", tool_calls_reply());
    let mut conversation = vec![
        Message::system("Use the tools."),
        Message::user("Weather and time in Paris?"),
    ];
    let opts = || {
        CallOptions::new()
            .tools([weather(), time()])
            .tool_choice(ToolChoice::auto())
            .parallel_tool_calls(true)
    };
    let answer = h
        .client
        .aux_complete("compression", conversation.clone(), opts())
        .await
        .expect("the tool call");
    assert_eq!(answer.finish_reason, "tool_calls");
    let ids: Vec<_> = answer.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["call_w", "call_t"]);
    assert_eq!(answer.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    let usage = answer.usage.unwrap_or_default();
    assert_eq!(usage.cached_input_tokens, 16);
    assert_eq!(answer.served_by.unwrap_or_default().provider, "cheap");
    let sent = &h.fakes.calls("cheap")[0].body;
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(
        sent["tools"][0]["function"]["parameters"]["required"],
        json!(["city"])
    );
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["parallel_tool_calls"], true);

    // Run the tools, send the results back.
    conversation.push(Message::assistant_tool_calls(answer.tool_calls.clone()));
    for call in &answer.tool_calls {
        let result = match call.name.as_str() {
            "get_weather" => "18C",
            _ => "14:05",
        };
        conversation.push(Message::tool_result(&call.id, result));
    }
    let last = h
        .client
        .aux_complete("compression", conversation, opts())
        .await
        .expect("the final answer");
    assert_eq!(last.content, "answer from cheap");
    assert_eq!(last.finish_reason, "stop");
    let sent = &h.fakes.calls("cheap")[1].body;
    assert_eq!(sent["messages"][2]["tool_calls"][1]["id"], "call_t");
    assert_eq!(
        sent["messages"][3],
        json!({"role": "tool", "content": "18C", "tool_call_id": "call_w"})
    );
    assert_eq!(
        h.fakes.counts(),
        [0, 1, 2],
        "the dead token was not tried again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_tool_calls_arrive_as_pieces_and_assembled() {
    let h = Harness::start().await;
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let c = json!({"id": "x", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let sse = [
        chunk(json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_w", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    h.fakes.push("main", Reply::error(200, &sse));
    let mut stream = h
        .client
        .complete_stream(
            [Message::user("Weather in Paris?")],
            CallOptions::new().tool(weather()),
        )
        .await
        .expect("the stream opens");
    let mut pieces = Vec::new();
    while let Some(piece) = stream.next_piece().await.expect("a piece") {
        pieces.push(piece);
    }
    let deltas: Vec<pb::ToolCallDelta> = pieces
        .into_iter()
        .map(|p| match p {
            StreamPiece::ToolCall(d) => d,
            StreamPiece::Text(t) => panic!("no text was sent, got {t:?}"),
        })
        .collect();
    assert_eq!(deltas[0].id.as_deref(), Some("call_w"));
    assert_eq!(deltas[0].name.as_deref(), Some("get_weather"));
    let arguments: String = deltas.iter().map(|d| d.arguments.as_str()).collect();
    assert_eq!(arguments, r#"{"city":"Paris"}"#);
    assert!(deltas.len() >= 2, "{deltas:?}");
    let finished = stream.finished().expect("complete");
    assert_eq!(finished.finish_reason, "tool_calls");
    assert_eq!(
        finished.tool_calls,
        vec![ToolCall {
            id: "call_w".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_and_json_schemas_reach_the_provider_as_sent() {
    let h = Harness::start().await;
    let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let answer = h
        .client
        .complete(
            [Message::user_parts([
                ContentPart::text("Describe it."),
                ContentPart::image_data("image/png", png.to_vec()),
                ContentPart::image_url("https://images.test/cat.png"),
            ])],
            CallOptions::new()
                .json_schema(
                    "desc",
                    r#"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"#,
                )
                .seed(4)
                .stop("\n\n")
                .reasoning_effort(pb::ReasoningEffort::Low),
        )
        .await
        .expect("complete");
    assert_eq!(answer.content, "answer from main");
    let sent = &h.fakes.calls("main")[0].body;
    assert_eq!(
        sent["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Describe it."},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://images.test/cat.png"}}
        ])
    );
    let format = &sent["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "desc");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(format["json_schema"]["schema"]["required"], json!(["text"]));
    assert_eq!(sent["seed"], 4);
    assert_eq!(sent["stop"], json!(["\n\n"]));
    assert_eq!(sent["reasoning_effort"], "low");
}
