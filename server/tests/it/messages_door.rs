//! The Anthropic Messages front door (`/v1/messages`), over the real server and
//! fake providers: the same policy as every door, Anthropic's shapes and
//! statuses, the agent token as `x-api-key`, and the trail in headers, body and
//! stream events. (The official `anthropic` Python SDK drives it in
//! `client/python/tests/test_anthropic_door.py`.)

use serde_json::{Value, json};
use switchyard::fake::{FakeReply, StreamEnd};

use crate::support::*;

const TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#;

async fn setup_with(
    edit: impl FnOnce(&mut switchyard::config::Config),
) -> (Fakes, TestApp, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut config = fakes.config_env(&db, "", &[("SWITCHYARD__OPENAI_LISTEN", "127.0.0.1:0")]);
    edit(&mut config);
    let app = TestApp::spawn(config).await;
    let base = app.openai.clone().expect("the front door is enabled");
    (fakes, app, base, dir)
}

async fn setup() -> (Fakes, TestApp, String, tempfile::TempDir) {
    setup_with(|_| {}).await
}

fn message(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "system": "be brief",
        "messages": [{"role": "user", "content": "compress this"}],
        "stream": stream,
    })
}

async fn post(base: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `(event, data)` of each server-sent event; the data's `type` is the event's.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = "";
            let mut data = "";
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n;
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d;
                }
            }
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "{e}");
            (name.to_owned(), data)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn an_auxiliary_401_falls_through_and_the_answer_is_an_anthropic_message() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    let mut body = message("switchyard/aux/compression", false);
    body["stop_sequences"] = json!(["END"]);
    body["metadata"] = json!({"user_id": "agent-7"});
    body["temperature"] = json!(0.2);
    let r = post(&base, &body).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": "answer from chain-a"}])
    );
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["stop_sequence"], Value::Null);
    assert_eq!(m["usage"]["input_tokens"], 12);
    assert_eq!(m["usage"]["output_tokens"], 3);
    let sy = &m["switchyard"];
    assert_eq!(sy["provider"], "chain-a");
    assert_eq!(sy["caller"], "aux:compression");
    assert_eq!(sy["fallbacks"], 1);
    let request_id = sy["request_id"].as_str().unwrap();
    assert_eq!(m["id"], format!("msg_{request_id}"));
    assert_eq!(
        h["x-switchyard-trail"],
        "0 aux aux-model auth_terminal 401 next_candidate; 1 chain-a a-model none 200 succeed"
    );
    assert_eq!(h["x-switchyard-request-id"], request_id);
    assert_eq!(h["request-id"], request_id);
    assert!(h.get("x-should-retry").is_none());
    // Exactly the aux attempt and the chain's, each given the whole request.
    assert_eq!(fakes.counts(), [0, 0, 1, 1, 0]);
    let sent = &fakes.chain_a.calls()[0].body;
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "compress this"}])
    );
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["user"], "agent-7");
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(
        sent["max_completion_tokens"]
            .as_u64()
            .or(sent["max_tokens"].as_u64()),
        Some(256)
    );
    app.stop().await;
}

#[tokio::test]
async fn the_agent_token_is_accepted_as_x_api_key_or_bearer() {
    let token = "sy_agent-token";
    let (fakes, app, base, _dir) = setup_with(|c| {
        c.auth.client_token_sha256 = vec![switchyard::crypto::token_hash(token)];
    })
    .await;
    let http = reqwest::Client::new();
    let send = |key: Option<(&'static str, String)>| {
        let mut r = http
            .post(format!("{base}/messages"))
            .json(&message("switchyard/primary", false));
        if let Some((name, value)) = key {
            r = r.header(name, value);
        }
        r.send()
    };
    let r = send(Some(("x-api-key", token.to_owned()))).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = send(Some(("authorization", format!("Bearer {token}"))))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for refused in [
        None,
        Some(("x-api-key", "sy_wrong".to_owned())),
        Some(("authorization", "Bearer sy_wrong".to_owned())),
    ] {
        let r = send(refused).await.unwrap();
        assert_eq!(r.status(), 401);
        let text = r.text().await.unwrap();
        assert!(!text.contains("sy_wrong"), "{text}");
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(e["type"], "error");
        assert_eq!(e["error"]["type"], "authentication_error");
    }
    // The models list of the OpenAI door takes the key too.
    let r = http
        .get(format!("{base}/models"))
        .header("x-api-key", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(fakes.counts(), [2, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_streamed_tool_loop_on_the_anthropic_primary() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.main.push([FakeReply::tool_calls(&[(
        "toolu_1",
        "get_weather",
        r#"{"city":"Paris"}"#,
    )])]);
    let tools = json!([{"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let mut first = message("switchyard/primary", true);
    first["tools"] = tools.clone();
    let r = post(&base, &first).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["x-switchyard-provider"], "main");
    let ev = events(&r.text().await.unwrap());
    let n = names(&ev);
    assert_eq!(&n[..2], ["message_start", "ping"]);
    assert_eq!(&n[n.len() - 2..], ["message_delta", "message_stop"]);
    let start = &ev[0].1["message"];
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["switchyard"]["provider"], "main");
    let block = ev
        .iter()
        .find(|(n, _)| n == "content_block_start")
        .map(|(_, d)| d)
        .unwrap();
    assert_eq!(
        block["content_block"],
        json!({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}})
    );
    let json_text: String = ev
        .iter()
        .filter(|(n, d)| n == "content_block_delta" && d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(json_text, r#"{"city":"Paris"}"#);
    let delta = &ev[ev.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["switchyard"]["attempts"][0]["action"], "succeed");

    // The tool result goes back; the Anthropic provider gets it as a tool_result.
    let second = json!({
        "model": "switchyard/primary",
        "max_tokens": 256,
        "tools": tools,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]}]}
        ]
    });
    let r = post(&base, &second).await;
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["content"][0]["text"], "answer from main");
    let calls = fakes.main.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body["stream"], true);
    assert_eq!(calls[0].body["tools"][0]["name"], "get_weather");
    assert_eq!(
        calls[1].body["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]}]})
    );
    assert_eq!(fakes.counts(), [2, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn failover_before_the_first_token_is_invisible_in_the_stream() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.main.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    fakes
        .main_fb
        .push([FakeReply::stream(&["Hello ", "from ", "{provider}"])]);
    let r = post(&base, &message("switchyard/primary", true)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-fallbacks"], "1");
    let ev = events(&r.text().await.unwrap());
    assert_eq!(
        names(&ev),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let start = &ev[0].1["message"]["switchyard"];
    assert_eq!(start["provider"], "main-fb");
    let actions: Vec<&str> = start["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["next_candidate", "succeed"]);
    let text: String = ev
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello from main-fb");
    assert_eq!(ev[7].1["usage"]["output_tokens"], 3);
    assert_eq!(fakes.counts(), [1, 1, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_broken_after_text_ends_with_an_error_event_carrying_the_trail() {
    let (fakes, app, base, _dir) = setup().await;
    fakes
        .main
        .push([FakeReply::stream(&["Hel", "lo"]).ending(StreamEnd::Drop)]);
    let r = post(&base, &message("switchyard/primary", true)).await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let ev = events(&r.text().await.unwrap());
    let n = names(&ev);
    assert!(!n.contains(&"message_stop"), "{n:?}");
    assert!(!n.contains(&"message_delta"), "{n:?}");
    let (last, error) = ev.last().unwrap();
    assert_eq!(last, "error");
    assert_eq!(error["error"]["type"], "api_error");
    let text = error["error"]["message"].as_str().unwrap();
    assert!(text.contains("stream interrupted"), "{text}");
    assert!(text.contains(&request_id), "{text}");
    assert_eq!(error["request_id"], request_id.as_str());
    let attempts = error["switchyard"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.last().unwrap()["action"], "stop_stream");
    // No failover after text.
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn failures_use_anthropic_error_shapes_and_status_codes() {
    let (fakes, app, base, _dir) = setup().await;
    let kind = |v: &Value| v["error"]["type"].as_str().unwrap_or_default().to_owned();

    // Every candidate refuses: 529 overloaded_error, the trail, and no SDK retry.
    for name in ["main", "main-fb"] {
        fakes
            .get(name)
            .push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    }
    let r = post(&base, &message("switchyard/primary", false)).await;
    assert_eq!(r.status(), 529);
    assert_eq!(r.headers()["x-should-retry"], "false");
    assert_eq!(r.headers()["x-switchyard-attempts"], "2");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(kind(&e), "overloaded_error");
    assert!(e["request_id"].is_string());
    assert_eq!(e["switchyard"]["attempts"].as_array().unwrap().len(), 3);

    // A context overflow says so in Anthropic's words, for agents' compaction.
    fakes.aux.push([FakeReply::error(
        400,
        r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
    )]);
    let r = post(&base, &message("switchyard/aux/compression", false)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-should-retry"], "false");
    let e: Value = r.json().await.unwrap();
    assert_eq!(kind(&e), "invalid_request_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("prompt is too long"),
        "{e}"
    );

    // Refused before any provider: each names its field.
    let cases: [(Value, u16, &str, &str); 7] = [
        (
            message("claude-sonnet-4-5", false),
            404,
            "not_found_error",
            "claude-sonnet-4-5",
        ),
        (
            message("switchyard/aux/no-such-task", false),
            404,
            "not_found_error",
            "no-such-task",
        ),
        (
            json!({"model": "switchyard/primary", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "invalid_request_error",
            "max_tokens: required",
        ),
        (
            {
                let mut b = message("switchyard/primary", false);
                b["top_k"] = json!(40);
                b
            },
            400,
            "invalid_request_error",
            "top_k:",
        ),
        (
            {
                let mut b = message("switchyard/primary", false);
                b["temperature"] = json!(1.5);
                b
            },
            400,
            "invalid_request_error",
            "temperature: must be within [0, 1]",
        ),
        (
            {
                let mut b = message("switchyard/primary", false);
                b["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
                b
            },
            400,
            "invalid_request_error",
            "tools.type:",
        ),
        (
            json!({"model": "switchyard/primary", "max_tokens": 5, "messages": "hi"}),
            400,
            "invalid_request_error",
            "messages",
        ),
    ];
    for (body, status, error_type, says) in cases {
        let r = post(&base, &body).await;
        assert_eq!(r.status(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(kind(&e), error_type, "{e}");
        let text = e["error"]["message"].as_str().unwrap();
        assert!(text.contains(says), "{says}: {text}");
    }
    // The model and the task header must name the same caller.
    let r = reqwest::Client::new()
        .post(format!("{base}/messages"))
        .header("x-switchyard-task", "compression")
        .json(&message("switchyard/primary", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Not JSON at all.
    let r = reqwest::Client::new()
        .post(format!("{base}/messages"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(kind(&r.json().await.unwrap()), "invalid_request_error");
    // Tool results nested 20 000 deep: a 400, and the server still answers.
    let depth = 20_000;
    let deep = format!(
        r#"{{"model":"switchyard/primary","max_tokens":5,"messages":[{{"role":"user","content":{}"x"{}}}]}}"#,
        r#"[{"type":"tool_result","tool_use_id":"t","content":"#.repeat(depth),
        "}]".repeat(depth)
    );
    let r = reqwest::Client::new()
        .post(format!("{base}/messages"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(kind(&r.json().await.unwrap()), "invalid_request_error");
    // An unknown path lists this door.
    let r = reqwest::Client::new()
        .post(format!("{base}/messages/batches"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("POST /v1/messages"));
    // Only the refused and the overflowing calls reached a provider.
    assert_eq!(fakes.counts(), [1, 1, 1, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn the_task_header_picks_the_caller_and_the_model_overrides_its_first_candidate() {
    let (fakes, app, base, _dir) = setup().await;
    let r = reqwest::Client::new()
        .post(format!("{base}/messages"))
        .header("x-switchyard-task", "compression")
        .json(&message("claude-haiku-4-5", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-caller"], "aux:compression");
    assert_eq!(fakes.aux.calls()[0].model, "claude-haiku-4-5");
    assert_eq!(fakes.counts(), [0, 0, 1, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn count_tokens_is_an_estimate_marked_as_such_and_calls_no_provider() {
    let (fakes, app, base, _dir) = setup().await;
    let r = reqwest::Client::new()
        .post(format!("{base}/messages/count_tokens"))
        .json(&json!({
            "model": "switchyard/primary",
            "system": "be brief",
            "messages": [{"role": "user", "content": "x".repeat(400)}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-token-count"], "estimate");
    let c: Value = r.json().await.unwrap();
    // 408 bytes of text -> 102, two messages -> 8.
    assert_eq!(c["input_tokens"], 110);
    assert_eq!(c["switchyard"]["estimate"], true);
    // The same checks as /v1/messages: a bad request is refused, not estimated.
    let r = reqwest::Client::new()
        .post(format!("{base}/messages/count_tokens"))
        .json(&json!({"model": "switchyard/primary", "messages": [], "top_k": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(fakes.counts(), [0, 0, 0, 0, 0]);
    app.stop().await;
}

/// Both callers' first candidate is an `openai_responses` provider that answers
/// 401 `token_invalidated`; an `openai` candidate serves (the Python SDK test's
/// topology, here on the in-process App).
#[tokio::test]
async fn a_responses_401_falls_to_an_openai_candidate_for_both_callers() {
    use switchyard::fake::FakeProvider;
    use switchyard::fake_responses::{FakeResponses, ResponsesReply};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(
        &db,
        &[
            ("codex-k1", "codex"),
            ("codex-aux-k1", "codex-aux"),
            ("cheap-k1", "cheap"),
        ],
    )
    .await;
    let codex = FakeResponses::start(ResponsesReply::token_invalidated())
        .await
        .unwrap();
    let codex_aux = FakeResponses::start(ResponsesReply::token_invalidated())
        .await
        .unwrap();
    let main = FakeProvider::start("main", FakeReply::ok("answer from main"))
        .await
        .unwrap();
    let cheap = FakeProvider::start("cheap", FakeReply::ok("unused"))
        .await
        .unwrap();
    main.push([FakeReply::tool_calls(&[(
        "call_1",
        "get_weather",
        r#"{"city":"Paris"}"#,
    )])]);
    cheap.push([FakeReply::stream(&["A ", "summary."])]);
    let yaml = format!(
        r#"
listen: 127.0.0.1:0
openai_listen: 127.0.0.1:0
database: {{ path: "{db}" }}
providers:
  codex:     {{ kind: openai_responses, base_url: "{codex}", timeout: 5s }}
  codex-aux: {{ kind: openai_responses, base_url: "{codex_aux}", timeout: 5s }}
  main:      {{ kind: openai, base_url: "{main}", timeout: 5s }}
  cheap:     {{ kind: openai, base_url: "{cheap}", timeout: 5s }}
model:
  provider: codex
  model: codex-main
  fallback_providers: [ {{ provider: main, model: main-model }} ]
auxiliary:
  compression:
    provider: codex-aux
    model: codex-mini
    fallback_chain: [ {{ provider: cheap, model: cheap-model }} ]
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
"#,
        db = db.display(),
        codex = codex.base_url(),
        codex_aux = codex_aux.base_url(),
        main = main.openai_base_url(),
        cheap = cheap.openai_base_url(),
    );
    let config =
        switchyard::config::Config::from_yaml(&yaml, "<test>", std::iter::empty()).unwrap();
    let app = TestApp::spawn(config).await;
    let base = app.openai.clone().unwrap();

    let mut primary = message("switchyard/primary", false);
    primary["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let r = post(&base, &primary).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-switchyard-trail"],
        "0 codex codex-main auth_terminal 401 next_candidate; 1 main main-model none 200 succeed"
    );
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(
        m["content"],
        json!([{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}])
    );

    let r = post(&base, &message("switchyard/aux/compression", true)).await;
    assert_eq!(r.status(), 200);
    let ev = events(&r.text().await.unwrap());
    assert_eq!(ev[0].1["message"]["switchyard"]["provider"], "cheap");
    let text: String = ev
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "A summary.");
    assert_eq!(ev.last().unwrap().0, "message_stop");

    assert_eq!(codex.calls().len(), 1);
    assert_eq!(codex_aux.calls().len(), 1);
    assert_eq!(codex_aux.calls()[0].body["stream"], true);
    assert_eq!((main.call_count(), cheap.call_count()), (1, 1));
    app.stop().await;
}
