//! The whole chat through the OpenAI-compatible door, over the real server: tool
//! definitions, tool calls and tool results, images and structured output reach
//! every candidate intact, and the caller gets OpenAI's exact shapes back, whole
//! and streamed, after a failover.

use serde_json::{Value, json};
use switchyard::fake::FakeReply;

use crate::support::*;

const TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#;

async fn setup() -> (Fakes, TestApp, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let config = fakes.config_env(&db, "", &[("SWITCHYARD__OPENAI_LISTEN", "127.0.0.1:0")]);
    let app = TestApp::spawn(config).await;
    let base = app.openai.clone().expect("the front door is enabled");
    (fakes, app, base, dir)
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "strict": true}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
    ])
}

fn first_turn(stream: bool) -> Value {
    json!({
        "model": "switchyard/aux/compression",
        "messages": [
            {"role": "system", "content": "Use the tools."},
            {"role": "user", "content": "Weather and time in Paris?"}
        ],
        "tools": tools(),
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "stream": stream,
    })
}

const CALLS: [(&str, &str, &str); 2] = [
    ("call_w", "get_weather", r#"{"city":"Paris"}"#),
    ("call_t", "get_time", r#"{"tz":"Europe/Paris"}"#),
];

fn second_turn() -> Value {
    json!({
        "model": "switchyard/aux/compression",
        "messages": [
            {"role": "system", "content": "Use the tools."},
            {"role": "user", "content": "Weather and time in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_t", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_w", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_t", "content": "14:05"}
        ],
        "tools": tools(),
    })
}

#[tokio::test]
async fn a_tool_loop_survives_a_dead_token_and_reaches_the_chain_intact() {
    let (fakes, app, base, _dir) = setup().await;
    let http = reqwest::Client::new();
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    fakes.chain_a.push([FakeReply::tool_calls(&CALLS)]);
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&first_turn(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([
            {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_t", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\"}"}}
        ])
    );
    assert_eq!(body["switchyard"]["provider"], "chain-a");
    // Both candidates received the same request: tools exactly as sent.
    for fake in [&fakes.aux, &fakes.chain_a] {
        let sent = &fake.calls()[0].body;
        assert_eq!(sent["tools"], tools(), "{sent}");
        assert_eq!(sent["tool_choice"], "auto");
        assert_eq!(sent["parallel_tool_calls"], true);
    }

    // The tool results go back; the dead key is skipped, the chain answers.
    fakes
        .chain_a
        .push([FakeReply::ok("18C and 14:05 in Paris.")]);
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&second_turn())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "18C and 14:05 in Paris."
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let sent = &fakes.chain_a.calls()[1].body;
    assert_eq!(sent["messages"][2]["tool_calls"][1]["id"], "call_t");
    assert_eq!(sent["messages"][2]["content"], Value::Null);
    assert_eq!(
        sent["messages"][3],
        json!({"role": "tool", "content": "18C", "tool_call_id": "call_w"})
    );
    assert_eq!(
        sent["messages"][4],
        json!({"role": "tool", "content": "14:05", "tool_call_id": "call_t"})
    );
    // aux got one call (the 401), then its key was dead: never tried again.
    assert_eq!(fakes.counts(), [0, 0, 1, 2, 0]);
    app.stop().await;
}

/// `data:` payloads of an SSE body.
fn sse_data(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn streamed_tool_calls_reach_the_caller_as_indexed_pieces_after_a_failover() {
    let (fakes, app, base, _dir) = setup().await;
    let http = reqwest::Client::new();
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    fakes.chain_a.push([FakeReply::tool_calls(&CALLS)]);
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&first_turn(true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks = sse_data(&text);
    // Assemble as an SDK does: by index, id and name from the first piece.
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = None;
    for c in &chunks {
        let Some(choice) = c["choices"].get(0) else {
            continue;
        };
        for piece in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = piece["index"].as_u64().unwrap() as usize;
            if calls.len() <= i {
                calls.resize(i + 1, Default::default());
            }
            if let Some(id) = piece["id"].as_str() {
                calls[i].0 = id.to_owned();
                assert_eq!(piece["type"], "function");
            }
            if let Some(name) = piece["function"]["name"].as_str() {
                calls[i].1 = name.to_owned();
            }
            calls[i].2 += piece["function"]["arguments"].as_str().unwrap();
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
    }
    let expected: Vec<(String, String, String)> = CALLS
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(calls, expected);
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    // The stream was committed to chain-a: the trail says so in the first chunk.
    assert_eq!(chunks[0]["switchyard"]["provider"], "chain-a");
    assert_eq!(fakes.chain_a.calls()[0].body["stream"], true);
    assert_eq!(fakes.chain_a.calls()[0].body["tools"], tools());
    app.stop().await;
}

#[tokio::test]
async fn images_and_json_schemas_reach_the_provider_as_sent() {
    let (fakes, app, base, _dir) = setup().await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&json!({
            "model": "switchyard/aux/compression",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Describe both."},
                {"type": "image_url", "image_url": {"url": "https://images.test/cat.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "desc", "strict": true,
                "schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}},
            "seed": 4,
            "stop": ["\n\n"],
            "reasoning_effort": "low",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = &fakes.aux.calls()[0].body;
    assert_eq!(
        sent["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Describe both."},
            {"type": "image_url", "image_url": {"url": "https://images.test/cat.png", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        ])
    );
    assert_eq!(
        sent["response_format"]["json_schema"]["schema"]["required"],
        json!(["text"])
    );
    assert_eq!(sent["seed"], 4);
    assert_eq!(sent["stop"], json!(["\n\n"]));
    assert_eq!(sent["reasoning_effort"], "low");
    app.stop().await;
}

#[tokio::test]
async fn malformed_chats_are_refused_naming_the_field_before_any_provider() {
    let (fakes, app, base, _dir) = setup().await;
    let http = reqwest::Client::new();
    let refused = |body: Value| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .post(format!("{base}/chat/completions"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{body}");
            let e: Value = r.json().await.unwrap();
            e["error"]["param"].as_str().unwrap_or("").to_owned()
        }
    };
    let user = json!({"role": "user", "content": "hi"});
    // A tool result answering no call.
    let p = refused(json!({"model": "switchyard/primary", "messages": [
        user, {"role": "tool", "tool_call_id": "call_nowhere", "content": "x"}
    ]}))
    .await;
    assert_eq!(p, "messages.tool_call_id");
    // An image over plain http.
    let p = refused(json!({"model": "switchyard/primary", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x.test/a.png"}}]}
    ]}))
    .await;
    assert_eq!(p, "messages.content.image_url");
    // A schema that is not an object.
    let p = refused(json!({"model": "switchyard/primary", "messages": [user],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": true}}}))
    .await;
    assert_eq!(p, "response_format.json_schema.schema");
    // A field Switchyard does not carry, and n > 1.
    assert_eq!(
        refused(json!({"model": "switchyard/primary", "messages": [user], "logit_bias": {"1": 5}}))
            .await,
        "logit_bias"
    );
    assert_eq!(
        refused(json!({"model": "switchyard/primary", "messages": [user], "n": 2})).await,
        "n"
    );
    // A tool choice naming no tool.
    assert_eq!(
        refused(
            json!({"model": "switchyard/primary", "messages": [user], "tools": tools(),
            "tool_choice": {"type": "function", "function": {"name": "nope"}}})
        )
        .await,
        "tool_choice"
    );
    assert_eq!(fakes.counts(), [0, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn models_report_each_callers_context_window_and_output_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let vision = "  vision:\n    provider: aux\n    model: v-model\n    context_window: 128000\n";
    let config = fakes.config_env(
        &db,
        vision,
        &[
            ("SWITCHYARD__OPENAI_LISTEN", "127.0.0.1:0"),
            ("SWITCHYARD__MODEL__CONTEXT_WINDOW", "200000"),
            ("SWITCHYARD__MODEL__MAX_OUTPUT_TOKENS", "8192"),
        ],
    );
    let app = TestApp::spawn(config).await;
    let base = app.openai.clone().unwrap();
    let list: Value = reqwest::get(format!("{base}/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let find = |id: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap()
    };
    let primary = find("switchyard/primary");
    assert_eq!(
        (&primary["context_window"], &primary["max_output_tokens"]),
        (&json!(200000), &json!(8192))
    );
    // The task's own window, and the main model's output limit it did not set.
    let vision = find("switchyard/aux/vision");
    assert_eq!(
        (&vision["context_window"], &vision["max_output_tokens"]),
        (&json!(128000), &json!(8192))
    );
    let one: Value = reqwest::get(format!("{base}/models/switchyard/aux/vision"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["context_window"], 128000);
    app.stop().await;
}

#[tokio::test]
async fn a_candidate_whose_format_cannot_carry_a_field_is_passed_over_unsent() {
    // `main` speaks Anthropic, whose Messages API has no `seed`: the request is
    // not sent there half-translated; `main-fb` (OpenAI) serves it.
    let (fakes, app, base, _dir) = setup().await;
    fakes.main_fb.push([FakeReply::tool_calls(&CALLS)]);
    let mut turn = first_turn(false);
    turn["model"] = json!("switchyard/primary");
    turn["seed"] = json!(7);
    let r = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&turn)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let attempts = body["switchyard"]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["provider"], "main");
    assert_eq!(attempts[0]["error_class"], "invalid_request");
    assert_eq!(attempts[0]["action"], "next_candidate");
    assert_eq!(fakes.counts(), [0, 1, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_text_only_provider_is_skipped_by_a_request_with_images_and_kept_for_text() {
    // `aux` is configured as text-only: an image request to its task skips it,
    // with the reason in the trail, and never reaches it; a text request does.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let config = fakes.config_env(
        &db,
        "",
        &[
            ("SWITCHYARD__OPENAI_LISTEN", "127.0.0.1:0"),
            ("SWITCHYARD__PROVIDERS__AUX__CAPABILITIES__IMAGES", "false"),
        ],
    );
    let app = TestApp::spawn(config).await;
    let base = app.openai.clone().expect("the front door is enabled");
    let http = reqwest::Client::new();
    let image = json!({"model": "switchyard/aux/compression", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Describe it."},
        {"type": "image_url", "image_url": {"url": "https://images.test/cat.png"}}
    ]}]});
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&image)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let attempts = body["switchyard"]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["provider"], "aux");
    assert_eq!(attempts[0]["action"], "skip_candidate");
    let reason = attempts[0]["reason"].as_str().unwrap();
    assert!(reason.contains("cannot serve images"), "{reason}");
    assert!(
        fakes.aux.calls().is_empty(),
        "the text-only provider got the image"
    );
    assert_ne!(body["switchyard"]["provider"], "aux");

    let text = json!({"model": "switchyard/aux/compression",
        "messages": [{"role": "user", "content": "Summarise."}]});
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fakes.aux.calls().len(), 1);
    app.stop().await;
}
