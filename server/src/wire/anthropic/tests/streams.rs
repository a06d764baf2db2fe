//! Streams.

use super::*;

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
