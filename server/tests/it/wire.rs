//! Failover across wire formats, over the real server: a tool loop that falls
//! from an OpenAI candidate to an `anthropic` one reaches it as a valid Messages
//! request (same tool-call ids) and comes back to the caller in OpenAI's shapes;
//! a JSON-schema request that falls to an `openai_responses` candidate reaches it
//! with `text.format`.

use serde_json::{Value, json};
use switchyard::config::Config;
use switchyard::fake::{FakeProvider, FakeReply};
use switchyard::fake_responses::{FakeResponses, ResponsesReply};

use crate::support::*;

const TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#;
const OVERLOADED: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;

/// Providers of three formats (also used by `grpc_chat`): the primary `main` (OpenAI, overloaded) falls to
/// `main-fb` (Responses); the `compression` task's `aux` (OpenAI) to `chain-a`
/// (Anthropic).
pub(crate) struct Formats {
    pub main: FakeProvider,
    pub responses: FakeResponses,
    pub aux: FakeProvider,
    pub anthropic: FakeProvider,
    pub spare: FakeProvider,
}

impl Formats {
    async fn start() -> Self {
        Self {
            main: FakeProvider::start("main", FakeReply::error(529, OVERLOADED))
                .await
                .unwrap(),
            responses: FakeResponses::start(ResponsesReply::text("from responses"))
                .await
                .unwrap(),
            aux: FakeProvider::start("aux", FakeReply::error(401, TOKEN_INVALIDATED))
                .await
                .unwrap(),
            anthropic: FakeProvider::start("chain-a", FakeReply::ok("from anthropic"))
                .await
                .unwrap(),
            spare: FakeProvider::start("chain-b", FakeReply::ok("from chain-b"))
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
  main-fb: {{ kind: openai_responses, base_url: "{responses}", timeout: 5s }}
  aux:     {{ kind: openai, base_url: "{aux}", timeout: 5s }}
  chain-a: {{ kind: anthropic, base_url: "{anthropic}", timeout: 5s }}
  chain-b: {{ kind: openai, base_url: "{spare}", timeout: 5s }}
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
            responses = self.responses.base_url(),
            aux = self.aux.openai_base_url(),
            anthropic = self.anthropic.anthropic_base_url(),
            spare = self.spare.openai_base_url(),
        );
        Config::from_yaml(&yaml, "<test>", std::iter::empty()).unwrap()
    }
}

pub(crate) async fn setup() -> (Formats, TestApp, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Formats::start().await;
    let app = TestApp::spawn(fakes.config(&db)).await;
    let base = app.openai.clone().expect("the front door is enabled");
    (fakes, app, base, dir)
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
    ])
}

pub(crate) const CALLS: [(&str, &str, &str); 2] = [
    ("call_w", "get_weather", r#"{"city":"Paris"}"#),
    ("call_t", "get_time", r#"{"tz":"Europe/Paris"}"#),
];

fn openai_calls() -> Value {
    json!([
        {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_t", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\"}"}}
    ])
}

fn turn(stream: bool, history: &[Value]) -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": "Use the tools."}),
        json!({"role": "user", "content": "Weather and time in Paris?"}),
    ];
    messages.extend(history.iter().cloned());
    json!({
        "model": "switchyard/aux/compression",
        "messages": messages,
        "tools": tools(),
        "stream": stream,
    })
}

fn tool_history() -> Vec<Value> {
    vec![
        json!({"role": "assistant", "content": null, "tool_calls": openai_calls()}),
        json!({"role": "tool", "tool_call_id": "call_w", "content": "18C"}),
        json!({"role": "tool", "tool_call_id": "call_t", "content": "14:05"}),
    ]
}

/// The Anthropic tool definitions the two OpenAI tools become.
pub(crate) fn anthropic_tools() -> Value {
    json!([
        {"name": "get_weather", "description": "Weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
    ])
}

pub(crate) fn assert_anthropic_tool_results(sent: &Value) {
    assert_eq!(sent["system"], "Use the tools.", "{sent}");
    assert_eq!(sent["tools"], anthropic_tools(), "{sent}");
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{sent}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(
        messages[1],
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_w", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_t", "name": "get_time", "input": {"tz": "Europe/Paris"}}
        ]}),
        "{sent}"
    );
    // Both results in one user turn, by the same ids.
    assert_eq!(messages[2]["role"], "user", "{sent}");
    let results = messages[2]["content"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{sent}");
    for (block, (id, text)) in results.iter().zip([("call_w", "18C"), ("call_t", "14:05")]) {
        assert_eq!(block["type"], "tool_result", "{sent}");
        assert_eq!(block["tool_use_id"], id, "{sent}");
        assert!(block["content"].to_string().contains(text), "{sent}");
    }
}

#[tokio::test]
async fn a_tool_loop_falls_from_a_dead_openai_token_to_an_anthropic_chain_intact() {
    let (fakes, app, base, _dir) = setup().await;
    let http = reqwest::Client::new();
    fakes.anthropic.push([FakeReply::tool_calls(&CALLS)]);
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&turn(false, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["switchyard"]["provider"], "chain-a", "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["tool_calls"], openai_calls());
    let calls = fakes.anthropic.calls();
    assert_eq!(calls[0].path, "/v1/messages");
    let sent = &calls[0].body;
    assert_eq!(sent["model"], "a-model");
    assert_eq!(sent["tools"], anthropic_tools(), "{sent}");
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Weather and time in Paris?"}]}]),
        "{sent}"
    );

    // The tool results go back: tool_use / tool_result blocks by the same ids.
    fakes
        .anthropic
        .push([FakeReply::ok("18C and 14:05 in Paris.")]);
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&turn(false, &tool_history()))
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
    assert_anthropic_tool_results(&fakes.anthropic.calls()[1].body);
    // The dead OpenAI token was refused once, then skipped.
    assert_eq!(fakes.aux.call_count(), 1);
    assert_eq!(fakes.spare.call_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_streamed_tool_loop_reaches_the_caller_as_openai_pieces_from_anthropic() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.anthropic.push([FakeReply::tool_calls(&CALLS)]);
    let r = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&turn(true, &tool_history()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    // Assemble the OpenAI chunk pieces as an SDK does.
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = Value::Null;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        let Some(choice) = chunk["choices"].get(0) else {
            continue;
        };
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].clone();
        }
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
            }
            if let Some(name) = piece["function"]["name"].as_str() {
                calls[i].1 = name.to_owned();
            }
            if let Some(args) = piece["function"]["arguments"].as_str() {
                calls[i].2.push_str(args);
            }
        }
    }
    assert_eq!(finish, "tool_calls", "{text}");
    let want: Vec<(String, String, String)> = CALLS
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(calls, want, "{text}");
    let sent = &fakes.anthropic.calls()[0].body;
    assert_eq!(sent["stream"], true, "{sent}");
    assert_anthropic_tool_results(sent);
    app.stop().await;
}

fn schema_request(stream: bool) -> Value {
    json!({
        "model": "switchyard/primary",
        "messages": [{"role": "user", "content": "Where is the Louvre?"}],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "place", "strict": true,
            "schema": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"], "additionalProperties": false}}},
        "stream": stream,
    })
}

fn assert_responses_format(sent: &Value, stream: bool) {
    assert_eq!(sent["model"], "fb-model", "{sent}");
    assert_eq!(sent["store"], false, "{sent}");
    assert_eq!(
        sent["text"]["format"],
        json!({"type": "json_schema", "name": "place", "strict": true,
            "schema": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"], "additionalProperties": false}}),
        "{sent}"
    );
    assert_eq!(sent["stream"].as_bool().unwrap_or(false), stream, "{sent}");
}

#[tokio::test]
async fn a_json_schema_request_is_served_by_a_responses_candidate_after_a_529() {
    let (fakes, app, base, _dir) = setup().await;
    fakes
        .responses
        .push([ResponsesReply::text(r#"{"city":"Paris"}"#)]);
    let r = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&schema_request(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["switchyard"]["provider"], "main-fb", "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        r#"{"city":"Paris"}"#
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(fakes.main.call_count() >= 1);
    let calls = fakes.responses.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bearer secret-of-main-fb-k1")
    );
    assert_responses_format(&calls[0].body, false);
    assert_eq!(
        calls[0].body["input"],
        json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Where is the Louvre?"}]}]),
    );
    app.stop().await;
}

#[tokio::test]
async fn a_streamed_json_schema_request_is_served_by_a_responses_candidate_after_a_529() {
    let (fakes, app, base, _dir) = setup().await;
    fakes
        .responses
        .push([ResponsesReply::text(r#"{"city": "Paris"}"#)]);
    let r = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&schema_request(true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let mut content = String::new();
    for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(piece);
        }
    }
    assert_eq!(content, r#"{"city": "Paris"}"#, "{text}");
    let calls = fakes.responses.calls();
    assert_eq!(calls.len(), 1);
    assert_responses_format(&calls[0].body, true);
    app.stop().await;
}

fn plain(extra: Value) -> Value {
    let mut r = json!({
        "model": "switchyard/primary",
        "messages": [{"role": "user", "content": "hi"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

/// The attempts of a call every candidate failed, as `(provider, error_class)`.
async fn failed_attempts(base: &str, request: Value) -> Vec<(String, String)> {
    let r = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "all_candidates_failed", "{body}");
    body["error"]["switchyard"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap().to_owned(),
                a["error_class"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_refused_responses_token_is_auth_terminal_as_a_status_or_a_failed_answer() {
    let failed_answer = r#"{"id":"resp_1","object":"response","status":"failed","output":[],"error":{"code":"token_invalidated","message":"Your authentication token has been invalidated."}}"#;
    for reply in [
        ResponsesReply::token_invalidated(),
        ResponsesReply::Status {
            status: 200,
            body: failed_answer.to_owned(),
        },
    ] {
        let (fakes, app, base, _dir) = setup().await;
        fakes.responses.push([reply.clone()]);
        let attempts = failed_attempts(&base, plain(json!({}))).await;
        assert!(
            attempts.contains(&("main-fb".into(), "auth_terminal".into())),
            "{reply:?}: {attempts:?}"
        );
        assert_eq!(fakes.responses.calls().len(), 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_field_the_responses_format_cannot_carry_is_not_sent_there() {
    let (fakes, app, base, _dir) = setup().await;
    let attempts = failed_attempts(&base, plain(json!({"stop": ["END"]}))).await;
    assert!(
        attempts.contains(&("main-fb".into(), "invalid_request".into())),
        "{attempts:?}"
    );
    assert_eq!(fakes.responses.calls().len(), 0);
    // The OpenAI candidate received the stop sequence.
    assert_eq!(fakes.main.calls()[0].body["stop"], json!(["END"]));
    app.stop().await;
}

#[tokio::test]
async fn a_tool_loop_reaches_a_responses_candidate_as_function_call_items_by_call_id() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.responses.push([ResponsesReply::calls(&CALLS)]);
    let mut request = turn(false, &tool_history());
    request["model"] = json!("switchyard/primary");
    let r = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["switchyard"]["provider"], "main-fb", "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(body["choices"][0]["message"]["tool_calls"], openai_calls());
    let sent = &fakes.responses.calls()[0].body;
    assert_eq!(sent["instructions"], "Use the tools.", "{sent}");
    let items = sent["input"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&Value> { items.iter().filter(|i| i["type"] == kind).collect() };
    let calls = of("function_call");
    assert_eq!(calls.len(), 2, "{sent}");
    for (item, (id, name, arguments)) in calls.iter().zip(CALLS) {
        assert_eq!(
            (&item["call_id"], &item["name"], &item["arguments"]),
            (&json!(id), &json!(name), &json!(arguments)),
            "{sent}"
        );
    }
    let outputs = of("function_call_output");
    assert_eq!(
        outputs
            .iter()
            .map(|o| (o["call_id"].clone(), o["output"].clone()))
            .collect::<Vec<_>>(),
        vec![
            (json!("call_w"), json!("18C")),
            (json!("call_t"), json!("14:05"))
        ],
        "{sent}"
    );
    assert_eq!(
        sent["tools"][0],
        json!({"type": "function", "name": "get_weather", "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "strict": false}),
        "{sent}"
    );
    app.stop().await;
}
