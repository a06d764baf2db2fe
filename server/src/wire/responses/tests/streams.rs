//! The stream.

use super::*;

/// A Responses stream as the API sends it: text, two parallel calls with their
/// argument deltas, the `.done` echoes, and `response.completed`.
const STREAM: &str = concat!(
    "event: response.created\n",
    r#"data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","model":"gpt-5-codex","output":[]}}"#,
    "\n\n",
    "event: response.in_progress\n",
    r#"data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","status":"in_progress","output":[]}}"#,
    "\n\n",
    r#"data: {"type":"response.output_item.added","output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}}"#,
    "\n\n",
    r#"data: {"type":"response.output_item.added","output_index":1,"item":{"type":"message","id":"msg_1","role":"assistant","content":[]}}"#,
    "\r\n\r\n",
    r#"data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"Checking "}"#,
    "\n\n",
    r#"data: {"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"both. ✈"}"#,
    "\n\n",
    r#"data: {"type":"response.output_text.done","item_id":"msg_1","output_index":1,"content_index":0,"text":"Checking both. ✈"}"#,
    "\n\n",
    r#"data: {"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":"","status":"in_progress"}}"#,
    "\n\n",
    r#"data: {"type":"response.output_item.added","output_index":3,"item":{"type":"function_call","id":"fc_2","call_id":"call_b","name":"get_time","arguments":"","status":"in_progress"}}"#,
    "\n\n",
    r#"data: {"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":2,"delta":"{\"city\":"}"#,
    "\n\n",
    r#"data: {"type":"response.function_call_arguments.delta","item_id":"fc_2","output_index":3,"delta":"{}"}"#,
    "\n\n",
    r#"data: {"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":2,"delta":"\"Paris\"}"}"#,
    "\n\n",
    r#"data: {"type":"response.function_call_arguments.done","item_id":"fc_1","output_index":2,"arguments":"{\"city\":\"Paris\"}"}"#,
    "\n\n",
    r#"data: {"type":"response.output_item.done","output_index":3,"item":{"type":"function_call","id":"fc_2","call_id":"call_b","name":"get_time","arguments":"{}","status":"completed"}}"#,
    "\n\n",
    ": keep-alive\n\n",
    "event: response.completed\n",
    r#"data: {"type":"response.completed","response":{"id":"resp_1","status":"completed","model":"gpt-5-codex","output":[],"usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":16}}}}"#,
    "\n\n",
);

fn call(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> StreamEvent {
    StreamEvent::ToolCall(ToolCallDelta {
        index,
        id: id.map(Into::into),
        name: name.map(Into::into),
        arguments: arguments.into(),
    })
}

fn parse_in_pieces(stream: &[u8], piece: usize) -> Vec<StreamEvent> {
    let mut parser = StreamParser::new();
    let mut out = Vec::new();
    for chunk in stream.chunks(piece) {
        parser.feed(chunk, &mut out).unwrap();
    }
    out
}

#[test]
fn a_stream_gives_text_tool_call_pieces_usage_finish_and_done() {
    assert_eq!(
        parse_in_pieces(STREAM.as_bytes(), STREAM.len()),
        vec![
            StreamEvent::Model("gpt-5-codex".into()),
            StreamEvent::Text("Checking ".into()),
            StreamEvent::Text("both. ✈".into()),
            call(0, Some("call_a"), Some("get_weather"), ""),
            call(1, Some("call_b"), Some("get_time"), ""),
            call(0, None, None, "{\"city\":"),
            call(1, None, None, "{}"),
            call(0, None, None, "\"Paris\"}"),
            StreamEvent::Usage(UsageDelta {
                input: Some(120),
                output: Some(40),
                cached_input: Some(100),
                reasoning: Some(16),
            }),
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn a_stream_cut_into_every_chunk_size_gives_the_same_events() {
    let whole = parse_in_pieces(STREAM.as_bytes(), STREAM.len());
    for piece in 1..STREAM.len() {
        assert_eq!(
            parse_in_pieces(STREAM.as_bytes(), piece),
            whole,
            "pieces of {piece} bytes"
        );
    }
}

#[test]
fn the_stream_assembles_into_the_whole_answer() {
    let mut builder = AnswerBuilder::default();
    parse_in_pieces(STREAM.as_bytes(), 7)
        .iter()
        .for_each(|e| builder.push(e));
    let whole = br#"{"status":"completed","model":"gpt-5-codex","output":[
        {"type":"message","content":[{"type":"output_text","text":"Checking both. \u2708"}]},
        {"type":"function_call","call_id":"call_a","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
        {"type":"function_call","call_id":"call_b","name":"get_time","arguments":"{}"}],
        "usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":16}}}"#;
    assert_eq!(builder.build().unwrap(), parse_answer(whole).unwrap());
}

#[test]
fn calls_sent_only_whole_in_done_events_lose_nothing() {
    let stream = concat!(
        r#"data: {"type":"response.output_item.done","output_index":0,"item":{"type":"function_call","id":"fc_9","call_id":"call_9","name":"f","arguments":"{\"a\":1}"}}"#,
        "\n\n",
        r#"data: {"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","id":"fc_8","call_id":"call_8","name":"g"}}"#,
        "\n\n",
        r#"data: {"type":"response.function_call_arguments.done","item_id":"fc_8","output_index":1,"arguments":"{}"}"#,
        "\n\n",
        r#"data: {"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[]}}"#,
        "\n\n",
    );
    assert_eq!(
        parse_in_pieces(stream.as_bytes(), 5),
        vec![
            call(0, Some("call_9"), Some("f"), "{\"a\":1}"),
            call(1, Some("call_8"), Some("g"), ""),
            call(1, None, None, "{}"),
            StreamEvent::Finish(FinishReason::Length),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn error_events_keep_their_payload_and_classify_like_any_provider() {
    let cases = [
        // A refused Codex token, as an `error` event.
        (
            r#"{"type":"error","code":"token_invalidated","message":"Your authentication token has been invalidated. Please try signing in again.","param":null,"sequence_number":2}"#,
            ErrorClass::AuthTerminal,
        ),
        (
            r#"{"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached","param":null}"#,
            ErrorClass::RateLimit,
        ),
        (
            r#"{"type":"response.failed","response":{"id":"resp_1","status":"failed","error":{"code":"server_error","message":"The server had an error"},"output":[]}}"#,
            ErrorClass::Server,
        ),
        (
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"context_length_exceeded","message":"Your input exceeds the context window of this model."}}}"#,
            ErrorClass::ContextOverflow,
        ),
    ];
    for (payload, class) in cases {
        let stream = format!("data: {payload}\n\n");
        let events = parse_in_pieces(stream.as_bytes(), 3);
        assert_eq!(events, vec![StreamEvent::Error(payload.into())]);
        assert_eq!(
            classify_stream_error(200, payload.as_bytes()).class,
            class,
            "{payload}"
        );
    }
    // Not JSON, or a known event without its shape: an error, never a panic.
    for bad in [
        "not json",
        r#"{"type":"response.output_text.delta","delta":7}"#,
        r#"{"type":"response.function_call_arguments.delta","item_id":"nope","delta":"x"}"#,
    ] {
        let stream = format!("data: {bad}\n\n");
        assert_eq!(
            parse_in_pieces(stream.as_bytes(), 4),
            vec![StreamEvent::Error(bad.into())]
        );
    }
}
