//! The OpenAI Responses front door (`POST /v1/responses`) over the real server and
//! fake providers: the same policy as every other door, the Responses API's
//! shapes and typed events, refusals naming the field, and the exact request
//! each provider received. (The official SDKs drive it in `client/python/tests`
//! and `client/typescript/test`.)

use serde_json::{Value, json};
use switchyard::config::Config;
use switchyard::fake::{FakeProvider, FakeReply, StreamEnd};
use switchyard::fake_responses::{FakeResponses, ResponsesReply};

use crate::support::*;

const RATE_LIMITED: &str = r#"{"error":{"message":"Rate limit reached for requests.","type":"requests","code":"rate_limit_exceeded"}}"#;

/// The primary `main` (OpenAI chat) falls to `main-fb` (Anthropic); the
/// `compression` task's `aux` (OpenAI chat) to `chain-a` (Anthropic), then
/// `chain-b` (Responses).
struct Doors {
    main: FakeProvider,
    main_fb: FakeProvider,
    aux: FakeProvider,
    chain_a: FakeProvider,
    chain_b: FakeResponses,
}

impl Doors {
    async fn start() -> Self {
        let ok = |name: &str| FakeReply::ok(&format!("answer from {name}"));
        Self {
            main: FakeProvider::start("main", ok("main")).await.unwrap(),
            main_fb: FakeProvider::start("main-fb", ok("main-fb")).await.unwrap(),
            aux: FakeProvider::start("aux", ok("aux")).await.unwrap(),
            chain_a: FakeProvider::start("chain-a", ok("chain-a")).await.unwrap(),
            chain_b: FakeResponses::start(ResponsesReply::text("answer from chain-b"))
                .await
                .unwrap(),
        }
    }

    fn config(&self, db: &std::path::Path) -> Config {
        let yaml = format!(
            r#"
listen: 127.0.0.1:0
openai_listen: 127.0.0.1:0
database: {{ path: "{db}" }}
providers:
  main:    {{ kind: openai, base_url: "{main}", timeout: 5s }}
  main-fb: {{ kind: anthropic, base_url: "{main_fb}", timeout: 5s }}
  aux:     {{ kind: openai, base_url: "{aux}", timeout: 5s }}
  chain-a: {{ kind: anthropic, base_url: "{chain_a}", timeout: 5s }}
  chain-b: {{ kind: openai_responses, base_url: "{chain_b}", timeout: 5s }}
model:
  provider: main
  model: main-model
  timeout: 20s
  fallback_providers:
    - {{ provider: main-fb, model: fb-model }}
auxiliary:
  compression:
    provider: aux
    model: aux-model
    timeout: 20s
    fallback_chain:
      - {{ provider: chain-a, model: a-model }}
      - {{ provider: chain-b, model: b-model }}
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
"#,
            db = db.display(),
            main = self.main.openai_base_url(),
            main_fb = self.main_fb.anthropic_base_url(),
            aux = self.aux.openai_base_url(),
            chain_a = self.chain_a.anthropic_base_url(),
            chain_b = self.chain_b.base_url(),
        );
        Config::from_yaml(&yaml, "<test>", std::iter::empty()).unwrap()
    }
}

async fn setup() -> (Doors, TestApp, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Doors::start().await;
    let app = TestApp::spawn(fakes.config(&db)).await;
    let base = app.openai.clone().expect("the front door is enabled");
    (fakes, app, base, dir)
}

async fn post(base: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/responses"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The typed events of an SSE body: (`event:` name, data), checking each data's
/// `type` is its event name and the sequence numbers count from 0.
fn events(body: &str) -> Vec<(String, Value)> {
    let out: Vec<(String, Value)> = body
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event name in {e:?}"));
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "{data}");
            (name.to_owned(), data)
        })
        .collect();
    for (i, (_, data)) in out.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64, "{data}");
    }
    out
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

fn weather_tool() -> Value {
    json!({
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    })
}

#[tokio::test]
async fn a_whole_response_after_a_429_comes_from_anthropic_with_the_trail() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.aux.push([FakeReply::error(429, RATE_LIMITED)]);
    let r = post(
        &base,
        &json!({
            "model": "switchyard/aux/compression",
            "instructions": "be brief",
            "input": "compress this",
            "max_output_tokens": 100,
            "temperature": 0.5,
            "metadata": {"run": "r1"},
            "store": false,
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    let request_id = h["x-switchyard-request-id"].to_str().unwrap().to_owned();
    assert_eq!(body["id"], format!("resp_{request_id}"));
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["instructions"], "be brief");
    assert_eq!(body["max_output_tokens"], 100);
    assert_eq!(body["metadata"], json!({"run": "r1"}));
    let output = body["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "{body}");
    assert_eq!(output[0]["type"], "message");
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["content"][0]["type"], "output_text");
    assert_eq!(output[0]["content"][0]["text"], "answer from chain-a");
    assert_eq!(body["usage"]["total_tokens"], 15, "{body}");
    assert_eq!(body["switchyard"]["provider"], "chain-a");
    assert_eq!(body["switchyard"]["caller"], "aux:compression");
    assert_eq!(h["x-switchyard-provider"], "chain-a");
    assert_eq!(
        h["x-switchyard-trail"],
        "0 aux aux-model rate_limit 429 next_candidate; 1 chain-a a-model none 200 succeed"
    );
    // The instructions reach Anthropic as its top-level system; the options too.
    let sent = &fakes.chain_a.calls()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.body["model"], "a-model");
    assert_eq!(sent.body["system"], "be brief", "{}", sent.body);
    assert_eq!(
        sent.body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "compress this"}]}])
    );
    assert_eq!(sent.body["max_tokens"], 100);
    assert_eq!(sent.body["temperature"], 0.5);
    assert_eq!(fakes.aux.call_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn function_call_items_reach_anthropic_as_tool_use_and_come_back_as_function_calls() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.main.push([FakeReply::error(429, RATE_LIMITED)]);
    fakes.main_fb.push([FakeReply::tool_calls(&[(
        "toolu_2",
        "get_weather",
        r#"{"city":"Lyon"}"#,
    )])]);
    let r = post(
        &base,
        &json!({
            "model": "switchyard/primary",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris, then Lyon?"}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                 "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            ],
            "tools": [weather_tool()],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(
        body["output"],
        json!([{
            "type": "function_call",
            "id": format!("fc_{}_0", body["switchyard"]["request_id"].as_str().unwrap()),
            "call_id": "toolu_2",
            "name": "get_weather",
            "arguments": "{\"city\":\"Lyon\"}",
            "status": "completed",
        }]),
        "{body}"
    );
    assert_eq!(body["tools"][0]["name"], "get_weather");
    assert_eq!(body["parallel_tool_calls"], false);
    let sent = &fakes.main_fb.calls()[0].body;
    assert_eq!(sent["tools"][0]["name"], "get_weather", "{sent}");
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{sent}");
    assert_eq!(
        messages[1],
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
        ]})
    );
    assert_eq!(messages[2]["role"], "user");
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], "call_1");
    // The first candidate got the same conversation in chat completions' shape.
    let first = &fakes.main.calls()[0].body;
    assert_eq!(first["messages"][1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(first["messages"][2]["tool_call_id"], "call_1");
    assert_eq!(first["parallel_tool_calls"], false);
    app.stop().await;
}

#[tokio::test]
async fn a_streamed_response_sends_the_typed_events_once_a_candidate_answers() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.aux.push([FakeReply::error(429, RATE_LIMITED)]);
    fakes
        .chain_a
        .push([FakeReply::stream(&["Hello ", "from ", "{provider}"])]);
    let r = reqwest::Client::new()
        .post(format!("{base}/responses"))
        .header("x-switchyard-task", "compression")
        .json(&json!({"model": "gpt-4o-mini", "input": "compress this", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["x-switchyard-provider"], "chain-a");
    let events = events(&r.text().await.unwrap());
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    // The first event says who answers and why (the 429 before it never showed).
    let created = &events[0].1["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["switchyard"]["provider"], "chain-a");
    assert_eq!(created["switchyard"]["fallbacks"], 1);
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello from chain-a");
    assert_eq!(events[7].1["text"], "Hello from chain-a");
    let item_id = &events[2].1["item"]["id"];
    assert!(
        events[3..10]
            .iter()
            .all(|(_, d)| d["item_id"] == *item_id || d["item"]["id"] == *item_id)
    );
    let done = &events[10].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["output"][0]["content"][0]["text"],
        "Hello from chain-a"
    );
    assert_eq!(done["usage"]["output_tokens"], 3, "{done}");
    assert_eq!(done["switchyard"]["attempts"].as_array().unwrap().len(), 2);
    // The header's model overrides the task's first candidate only.
    assert_eq!(fakes.aux.calls()[0].model, "gpt-4o-mini");
    assert_eq!(fakes.chain_a.calls()[0].model, "a-model");
    app.stop().await;
}

#[tokio::test]
async fn streamed_function_calls_arrive_as_argument_deltas() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.main.push([FakeReply::tool_calls(&[
        ("call_a", "get_weather", r#"{"city":"Paris"}"#),
        ("call_b", "get_weather", r#"{"city":"Lyon"}"#),
    ])]);
    let r = post(
        &base,
        &json!({
            "model": "switchyard/primary",
            "input": "Weather in Paris and Lyon?",
            "tools": [weather_tool()],
            "stream": true,
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let events = events(&r.text().await.unwrap());
    let added: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "response.output_item.added")
        .map(|(_, d)| &d["item"])
        .collect();
    assert_eq!(added.len(), 2, "{events:?}");
    assert_eq!(added[0]["type"], "function_call");
    assert_eq!(added[0]["call_id"], "call_a");
    assert_eq!(added[0]["name"], "get_weather");
    assert_eq!(added[1]["call_id"], "call_b");
    // An SDK assembles the arguments from the deltas of each item.
    for (index, want) in [(0, r#"{"city":"Paris"}"#), (1, r#"{"city":"Lyon"}"#)] {
        let assembled: String = events
            .iter()
            .filter(|(n, d)| {
                n == "response.function_call_arguments.delta" && d["output_index"] == index
            })
            .map(|(_, d)| d["delta"].as_str().unwrap())
            .collect();
        assert_eq!(assembled, want);
        let done = events
            .iter()
            .find(|(n, d)| {
                n == "response.function_call_arguments.done" && d["output_index"] == index
            })
            .unwrap();
        assert_eq!(done.1["arguments"], want);
    }
    let (last, completed) = events.last().unwrap();
    assert_eq!(last, "response.completed");
    let output = completed["response"]["output"].as_array().unwrap();
    assert_eq!(output.len(), 2);
    assert_eq!(output[1]["arguments"], r#"{"city":"Lyon"}"#);
    assert_eq!(output[1]["status"], "completed");
    app.stop().await;
}

#[tokio::test]
async fn a_stream_broken_after_text_ends_with_response_failed_and_an_error_event() {
    let (fakes, app, base, _dir) = setup().await;
    fakes
        .main
        .push([FakeReply::stream(&["Hel", "lo"]).ending(StreamEnd::Drop)]);
    let r = post(
        &base,
        &json!({"model": "switchyard/primary", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let events = events(&r.text().await.unwrap());
    let n = events.len();
    assert_eq!(names(&events)[n - 2..], ["response.failed", "error"]);
    assert!(!names(&events).contains(&"response.completed"));
    let failed = &events[n - 2].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["output"][0]["content"][0]["text"], "Hello");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("candidate 0 main main-model"), "{message}");
    let attempts = failed["switchyard"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.last().unwrap()["action"], "stop_stream");
    let error = &events[n - 1].1;
    assert_eq!(error["code"], "stream_interrupted");
    assert_eq!(error["error"]["code"], "stream_interrupted");
    assert_eq!(
        error["error"]["switchyard"]["attempts"],
        failed["switchyard"]["attempts"]
    );
    // No failover after text was sent.
    assert_eq!(fakes.main_fb.call_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_call_is_a_503_in_the_responses_shape_that_sdks_do_not_retry() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.main.push(vec![FakeReply::error(500, "{}"); 3]);
    fakes.main_fb.push(vec![FakeReply::error(500, "{}"); 3]);
    let r = post(
        &base,
        &json!({"model": "switchyard/primary", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-should-retry"], "false");
    assert!(r.headers().contains_key("x-switchyard-trail"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(body["error"]["code"], "all_candidates_failed");
    assert!(
        !body["error"]["switchyard"]["attempts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.stop().await;
}

/// Each refused field is named in `param`, with a 400, and reaches no provider.
#[tokio::test]
async fn server_side_state_and_uncarried_fields_are_refused_by_name() {
    let (fakes, app, base, _dir) = setup().await;
    let cases = [
        (
            json!({"previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (json!({"conversation": "conv_1"}), "conversation"),
        (json!({"background": true}), "background"),
        (json!({"prompt": {"id": "pmpt_1"}}), "prompt"),
        (json!({"tools": [{"type": "web_search"}]}), "tools.type"),
        (
            json!({"tool_choice": {"type": "file_search"}}),
            "tool_choice",
        ),
        (
            json!({"text": {"format": {"type": "json_schema", "name": "x", "schema": [1]}}}),
            "text.format.schema",
        ),
        (
            json!({"reasoning": {"effort": "extreme"}}),
            "reasoning.effort",
        ),
        (json!({"max_output_tokens": 0}), "max_output_tokens"),
        (
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input.type",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
            "input.content",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://x.test/a.png"}]}]}),
            "input.content.image_url",
        ),
        (
            json!({"input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]}),
            "input.call_id",
        ),
        (
            json!({"input": [{"role": "tool", "content": "x"}]}),
            "input.role",
        ),
        (json!({"input": null}), "input"),
        (json!({"frequency_penalty": 1}), "body"),
    ];
    for (extra, param) in cases {
        let mut body = json!({"model": "switchyard/primary", "input": "hi"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = post(&base, &body).await;
        assert_eq!(r.status(), 400, "{extra}");
        let error: Value = r.json().await.unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
        assert_eq!(error["error"]["param"], param, "{extra}: {error}");
    }
    // Neutral values and ignored fields are accepted.
    let r = post(
        &base,
        &json!({"model": "switchyard/primary", "input": "hi", "store": true, "background": false,
                "truncation": "disabled", "include": ["reasoning.encrypted_content"],
                "reasoning": {"effort": "low", "summary": "auto"}, "previous_response_id": null}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(fakes.main.calls()[0].body["reasoning_effort"], "low");
    // An unknown model is a 404 naming `model`; a body that is not a request, a 400.
    let r = post(&base, &json!({"model": "gpt-4o", "input": "hi"})).await;
    assert_eq!(r.status(), 404);
    let r = post(&base, &json!({"model": "switchyard/primary", "input": 7})).await;
    assert_eq!(r.status(), 400);
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["error"]["param"], "input", "{error}");
    // The chat completions door's 404 of unknown paths lists this door too.
    let r = reqwest::Client::new()
        .post(format!("{base}/responses/resp_1/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let error: Value = r.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("POST /v1/responses"), "{message}");
    assert_eq!(fakes.main.call_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn images_and_a_json_schema_format_reach_the_providers_in_their_shapes() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.aux.push([FakeReply::error(429, RATE_LIMITED)]);
    // Overloaded is retried on the same candidate, then the chain moves on.
    fakes.chain_a.push(vec![
        FakeReply::error(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
        );
        3
    ]);
    fakes
        .chain_b
        .push([ResponsesReply::text(r#"{"name":"Ada"}"#)]);
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false});
    let r = post(
        &base,
        &json!({
            "model": "switchyard/aux/compression",
            "input": [{"role": "user", "content": [
                {"type": "input_text", "text": "Who is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K", "detail": "low"},
            ]}],
            "text": {"format": {"type": "json_schema", "name": "Person", "schema": schema, "strict": true}},
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["output"][0]["content"][0]["text"], r#"{"name":"Ada"}"#,
        "{body}"
    );
    assert_eq!(body["text"]["format"]["name"], "Person");
    assert_eq!(body["text"]["format"]["schema"], schema);
    // OpenAI chat: response_format and an image_url part.
    let aux = &fakes.aux.calls()[0].body;
    assert_eq!(
        aux["response_format"]["json_schema"]["name"], "Person",
        "{aux}"
    );
    assert_eq!(
        aux["messages"][0]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0K"
    );
    // Anthropic: an image block.
    let anthropic = &fakes.chain_a.calls()[0].body;
    assert_eq!(
        anthropic["messages"][0]["content"][1]["type"], "image",
        "{anthropic}"
    );
    // Responses: text.format and input_image, as sent.
    let responses = &fakes.chain_b.calls()[0].body;
    assert_eq!(
        responses["text"]["format"]["type"], "json_schema",
        "{responses}"
    );
    assert_eq!(responses["text"]["format"]["schema"], schema);
    assert_eq!(responses["input"][0]["content"][1]["type"], "input_image");
    app.stop().await;
}

#[tokio::test]
async fn a_provider_echoing_its_key_never_reaches_the_caller() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.main.push(vec![FakeReply::echo_key(500); 3]);
    fakes.main_fb.push(vec![FakeReply::echo_key(500); 3]);
    let r = post(
        &base,
        &json!({"model": "switchyard/primary", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 503);
    let headers = format!("{:?}", r.headers());
    let body = r.text().await.unwrap();
    assert!(
        fakes.main.calls()[0]
            .credential
            .contains("secret-of-main-k1")
    );
    for secret in ["secret-of-main-k1", "secret-of-main-fb-k1"] {
        assert!(!body.contains(secret), "{body}");
        assert!(!headers.contains(secret), "{headers}");
    }
    // The same after text: the error event of a broken stream is scrubbed too.
    fakes
        .main
        .push([FakeReply::stream(&["Hel", "lo"]).ending(StreamEnd::Error(
            r#"{"error":{"message":"key {credential} overloaded","type":"server_error"}}"#.into(),
        ))]);
    let r = post(
        &base,
        &json!({"model": "switchyard/primary", "input": "hi", "stream": true}),
    )
    .await;
    let body = r.text().await.unwrap();
    assert!(body.contains("response.failed"), "{body}");
    assert!(body.contains("key [redacted] overloaded"), "{body}");
    assert!(!body.contains("secret-of-main-k1"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_sdks_timeout_header_bounds_the_call() {
    let (fakes, app, base, _dir) = setup().await;
    let slow = std::time::Duration::from_secs(3);
    fakes.main.push([FakeReply::ok("late").after(slow)]);
    fakes.main_fb.push([FakeReply::ok("late").after(slow)]);
    let started = std::time::Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{base}/responses"))
        .header("x-stainless-timeout", "0.4")
        .json(&json!({"model": "switchyard/primary", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < slow, "{:?}", started.elapsed());
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["error"]["code"], "deadline_exhausted", "{error}");
    app.stop().await;
}
