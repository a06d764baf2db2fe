//! The typed event stream of one answer, built piece by piece: items open and
//! close in order, ids stay stable, sequence numbers count from 0.

use serde_json::Value;

use super::*;

fn frames(bytes: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (event, data) = f.split_once('\n').unwrap();
            let name = event.strip_prefix("event: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name);
            (name, data)
        })
        .collect()
}

fn piece(index: u32, id: Option<&str>, arguments: &str) -> ToolCallDelta {
    ToolCallDelta {
        index,
        id: id.map(str::to_owned),
        name: id.map(|_| "f".to_owned()),
        arguments: arguments.to_owned(),
    }
}

#[test]
fn text_then_two_calls_open_and_close_three_items_in_order() {
    let mut w = Writer::new("r1".into(), "m".into(), Echo::default());
    let start = Start {
        caller: "primary".into(),
        provider: "p".into(),
        credential_id: "k".into(),
        steps: Vec::new(),
    };
    let mut out = w.start(&start);
    out.extend(w.text("Let me "));
    out.extend(w.text("check."));
    out.extend(w.tool_call(&piece(0, Some("call_a"), "")));
    out.extend(w.tool_call(&piece(0, None, "{\"x\":")));
    out.extend(w.tool_call(&piece(0, None, "1}")));
    out.extend(w.tool_call(&piece(1, Some("call_b"), "{}")));
    out.extend(w.finish(Usage::default(), FinishReason::ToolCalls, &[]));
    let events = frames(&out);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (_, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64);
    }
    assert_eq!(events[0].1["response"]["id"], "resp_r1");
    assert_eq!(events[0].1["response"]["switchyard"]["provider"], "p");
    assert_eq!(events[6].1["text"], "Let me check.");
    assert_eq!(events[12].1["arguments"], "{\"x\":1}");
    let output = &events[18].1["response"]["output"];
    assert_eq!(output[0]["id"], "msg_r1_0");
    assert_eq!(output[0]["content"][0]["text"], "Let me check.");
    assert_eq!(output[1]["id"], "fc_r1_1");
    assert_eq!(output[1]["call_id"], "call_a");
    assert_eq!(output[2]["call_id"], "call_b");
    assert_eq!(output[2]["status"], "completed");
    assert_eq!(events[18].1["response"]["status"], "completed");
}

#[test]
fn a_cut_answer_ends_incomplete() {
    let mut w = Writer::new("r2".into(), "m".into(), Echo::default());
    let mut out = w.text("Once upon");
    out.extend(w.finish(Usage::default(), FinishReason::Length, &[]));
    let events = frames(&out);
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}
