//! Golden.

use super::*;

const GOLDEN: &str = "src/wire/golden/anthropic_request.json";
const GOLDEN_SCHEMA: &str = "src/wire/golden/anthropic_request_json_schema.json";

/// Compares with a committed golden file; `SWITCHYARD_BLESS=1` rewrites it.
fn golden(path: &str, got: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let pretty = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var_os("SWITCHYARD_BLESS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(pretty, want, "golden {}", path.display());
}

#[test]
fn a_rich_conversation_matches_the_golden_request() {
    let got = body(&rich_conversation());
    golden(GOLDEN, &got);
    // The points the golden file proves, spelled out.
    assert_eq!(
        got["system"],
        "You are a travel agent.\n\nAnswer in French."
    );
    let turns = got["messages"].as_array().unwrap();
    let roles: Vec<&str> = turns.iter().map(|t| t["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(turns[1]["content"][1]["id"], "toolu_01");
    assert_eq!(
        turns[1]["content"][2]["input"],
        json!({"tz": "Europe/Paris"})
    );
    assert_eq!(turns[2]["content"][0]["type"], "tool_result");
    assert_eq!(turns[2]["content"][1]["tool_use_id"], "toolu_02");
    assert_eq!(turns[2]["content"][2]["text"], "Thanks! Any advice?");
    assert_eq!(got["metadata"], json!({"user_id": "user-42"}));
}

#[test]
fn a_json_schema_answer_matches_the_golden_request() {
    let mut request = rich_conversation();
    request.options.tools = Arc::from(Vec::new());
    request.options.tool_choice = None;
    request.options.parallel_tool_calls = None;
    request.options.response_format = Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
        name: "advice".into(),
        description: Some("Travel advice".into()),
        schema: schema(
            r#"{"type":"object","properties":{"tips":{"type":"array","items":{"type":"string"}}},"required":["tips"]}"#,
        ),
        strict: Some(true),
    }));
    let got = body(&request);
    golden(GOLDEN_SCHEMA, &got);
    assert_eq!(
        got["tool_choice"],
        json!({"type": "tool", "name": STRUCTURED_OUTPUT_TOOL})
    );
    assert_eq!(got["tools"].as_array().unwrap().len(), 1);
}

#[test]
fn schemas_and_tool_inputs_are_embedded_verbatim() {
    let raw = String::from_utf8(
        request_body("m", &rich_conversation(), false)
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    // Spacing as the caller wrote it: embedded, not re-serialised.
    assert!(raw.contains(r#""input":{"city": "Paris"}"#), "{raw}");
    assert!(
        raw.contains(r#""input_schema":{"type": "object", "properties""#),
        "{raw}"
    );
    assert!(raw.contains(r#""input_schema":{"type":"object"}"#), "{raw}");
}
