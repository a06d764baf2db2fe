//! The whole answer.

use super::*;

#[test]
fn a_whole_answer_gives_text_calls_finish_and_usage() {
    let body = br#"{
      "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5-codex",
      "output": [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Checking ", "annotations": []},
                     {"type": "output_text", "text": "both.", "annotations": []}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
        {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "get_time", "arguments": "{}", "status": "completed"}
      ],
      "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 100},
                "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 16}, "total_tokens": 160},
      "error": null, "incomplete_details": null
    }"#;
    assert_eq!(
        parse_answer(body).unwrap(),
        ChatAnswer {
            content: "Checking both.".into(),
            tool_calls: vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "get_time".into(),
                    arguments: "{}".into()
                },
            ],
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                input_tokens: 120,
                output_tokens: 40,
                cached_input_tokens: 100,
                reasoning_tokens: 16
            },
            model: Some("gpt-5-codex".into()),
        }
    );
}

#[test]
fn statuses_map_to_finish_reasons() {
    let answer = |status: &str, details: &str, content: &str| {
        parse_answer(
            format!(
                r#"{{"status":"{status}","incomplete_details":{details},"output":[{{"type":"message","content":[{content}]}}]}}"#
            )
            .as_bytes(),
        )
    };
    let text = r#"{"type":"output_text","text":"hi"}"#;
    assert_eq!(
        answer("completed", "null", text).unwrap().finish_reason,
        FinishReason::Stop
    );
    assert_eq!(
        answer("incomplete", r#"{"reason":"max_output_tokens"}"#, text)
            .unwrap()
            .finish_reason,
        FinishReason::Length
    );
    assert_eq!(
        answer("incomplete", r#"{"reason":"content_filter"}"#, text)
            .unwrap()
            .finish_reason,
        FinishReason::ContentFilter
    );
    let refused = answer(
        "completed",
        "null",
        r#"{"type":"refusal","refusal":"I can't help with that."}"#,
    )
    .unwrap();
    assert_eq!(
        (refused.finish_reason, refused.content.as_str()),
        (FinishReason::ContentFilter, "I can't help with that.")
    );
    assert_eq!(
        answer("in_progress", "null", text),
        Err(ParseError::Unfinished("in_progress".into()))
    );
}

#[test]
fn a_failed_answer_keeps_its_body_for_the_classifier() {
    let body = br#"{"status":"failed","output":[],"error":{"code":"rate_limit_exceeded","message":"Slow down"}}"#;
    let Err(ParseError::Failed { payload }) = parse_answer(body) else {
        panic!("not failed");
    };
    assert_eq!(payload.as_bytes(), body);
    assert_eq!(
        classify_stream_error(200, payload.as_bytes()).class,
        ErrorClass::RateLimit
    );
    assert!(matches!(
        parse_answer(b"<html>"),
        Err(ParseError::Malformed(_))
    ));
    assert!(matches!(
        parse_answer(br#"{"output":[{"type":"function_call"}]}"#),
        Err(ParseError::Malformed(_))
    ));
}
