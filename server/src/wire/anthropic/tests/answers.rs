//! Whole answers.

use super::*;

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
