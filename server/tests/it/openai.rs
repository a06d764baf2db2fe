//! The OpenAI-compatible HTTP front door, over the real server and fake providers:
//! the same policy as gRPC, OpenAI's shapes, and the trail in headers and body.
//! (The official `openai` Python SDK drives it in `client/python/tests`.)

use std::process::Command;

use serde_json::{Value, json};
use switchyard::fake::{FakeReply, StreamEnd};

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

fn chat(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "compress this"}],
        "stream": stream,
    })
}

/// `data:` payloads of an SSE body.
fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_auxiliary_401_falls_through_and_the_trail_is_in_headers_and_body() {
    let (fakes, app, base, _dir) = setup().await;
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    let response = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&chat("switchyard/aux/compression", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "answer from chain-a"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["total_tokens"], 15);
    let sy = &body["switchyard"];
    assert_eq!(sy["provider"], "chain-a");
    assert_eq!(sy["caller"], "aux:compression");
    assert_eq!(sy["fallbacks"], 1);
    let actions: Vec<&str> = sy["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["next_candidate", "succeed"]);
    assert_eq!(h["x-switchyard-provider"], "chain-a");
    assert_eq!(h["x-switchyard-fallbacks"], "1");
    assert_eq!(
        h["x-switchyard-trail"],
        "0 aux aux-model auth_terminal 401 next_candidate; 1 chain-a a-model none 200 succeed"
    );
    assert_eq!(
        h["x-switchyard-request-id"].to_str().unwrap(),
        sy["request_id"].as_str().unwrap()
    );
    assert_eq!(
        body["id"],
        format!("chatcmpl-{}", sy["request_id"].as_str().unwrap())
    );
    assert_eq!(fakes.counts(), [0, 0, 1, 1, 0]);
    app.stop().await;
}

#[tokio::test]
async fn curl_streams_server_sent_events_with_the_task_header() {
    let (fakes, app, base, dir) = setup().await;
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    fakes
        .chain_a
        .push([FakeReply::stream(&["Hello ", "from ", "{provider}"])]);
    let headers = dir.path().join("headers.txt");
    let body = serde_json::to_string(&json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "compress this"}],
        "stream": true,
        "stream_options": {"include_usage": true},
    }))
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "-N", "--fail-with-body", "-D"])
            .arg(&headers)
            .args(["-H", "content-type: application/json"])
            .args(["-H", "x-switchyard-task: compression"])
            .args(["--data-binary", &body])
            .arg(format!("{base}/chat/completions"))
            .output()
            .map(|o| (o, std::fs::read_to_string(&headers).unwrap_or_default()))
    })
    .await
    .unwrap()
    .expect("curl runs");
    let (out, headers) = out;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers = headers.to_ascii_lowercase();
    assert!(
        headers.contains("content-type: text/event-stream"),
        "{headers}"
    );
    assert!(
        headers.contains("x-switchyard-provider: chain-a"),
        "{headers}"
    );
    let data = sse_data(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from chain-a");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    // The first chunk says who answers and why; the finish chunk has the whole trail.
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["switchyard"]["provider"], "chain-a");
    assert_eq!(chunks[0]["switchyard"]["fallbacks"], 1);
    let finish = chunks
        .iter()
        .find(|c| c["choices"][0]["finish_reason"].is_string())
        .unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        finish["switchyard"]["attempts"].as_array().unwrap().len(),
        2
    );
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 3);
    // The header's model overrides the task's first candidate only.
    assert_eq!(fakes.aux.calls()[0].model, "gpt-4o-mini");
    assert_eq!(fakes.chain_a.calls()[0].model, "a-model");
    assert_eq!(fakes.counts(), [0, 0, 1, 1, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_broken_after_text_ends_with_an_error_event_and_no_done() {
    let (fakes, app, base, _dir) = setup().await;
    fakes
        .main
        .push([FakeReply::stream(&["Hel", "lo"]).ending(StreamEnd::Drop)]);
    let response = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&chat("switchyard/primary", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let data = sse_data(&response.text().await.unwrap());
    assert!(!data.contains(&"[DONE]".to_owned()));
    let error: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "stream_interrupted");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("candidate 0 main main-model"), "{message}");
    let attempts = error["error"]["switchyard"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.last().unwrap()["action"], "stop_stream");
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_caller_that_leaves_mid_stream_closes_the_provider_stream_and_its_trail_says_so() {
    use switchyard_client::pb;
    let (fakes, mut app, base, _dir) = setup().await;
    fakes
        .main
        .push([FakeReply::stream(&["a"; 50]).with_gap(std::time::Duration::from_millis(20))]);
    let mut response = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&chat("switchyard/primary", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    // The opening, then the first piece of text: the stream is committed.
    let mut read = String::new();
    while !read.contains("\"content\":\"a\"") {
        let chunk = response.chunk().await.unwrap().expect("more of the stream");
        read.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    drop(response);
    // The trail is recorded as soon as the door lets go of the stream.
    let recorded = app.explain_id_when_recorded(&request_id).await;
    let recorded = recorded.expect("a trail is recorded");
    assert_eq!(recorded.outcome(), pb::Outcome::Failed);
    let last = recorded.steps.last().unwrap();
    assert_eq!(last.action(), pb::Action::StopStream);
    assert!(
        last.reason.contains("the caller closed the stream"),
        "{}",
        last.reason
    );
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn failures_use_openai_error_shapes_and_status_codes() {
    let (fakes, app, base, _dir) = setup().await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(format!("{base}/chat/completions"))
            .json(&body)
            .send()
    };

    // A context overflow keeps OpenAI's code, so agents compress and retry.
    fakes.main.push([FakeReply::error(
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 300000 tokens > 200000 maximum"}}"#,
    )]);
    let r = post(chat("switchyard/primary", false)).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded");

    // Every candidate refuses (and is marked dead): 503, the trail, and no SDK retry.
    for name in ["main", "main-fb"] {
        fakes
            .get(name)
            .push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    }
    let r = post(chat("switchyard/primary", false)).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-should-retry"], "false");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "all_candidates_failed");
    assert_eq!(
        body["error"]["switchyard"]["attempts"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let r = post(chat("gpt-4o", false)).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");

    let r = post(chat("switchyard/aux/no-such-task", false))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = post(json!({"model": "switchyard/primary", "messages": [], "max_tokens": -1}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "messages");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("max_tokens: must be positive"),
        "{message}"
    );

    let r = post(json!({"model": "switchyard/primary", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "tools");

    let r = http
        .post(format!("{base}/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );

    let r = http.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"].is_object());
    // Only the overflow and the refused calls reached a provider.
    assert_eq!(fakes.counts(), [2, 1, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn models_list_every_caller() {
    let (_fakes, app, base, _dir) = setup().await;
    let http = reqwest::Client::new();
    let list: Value = http
        .get(format!("{base}/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], "switchyard/primary");
    assert!(ids.contains(&"switchyard/aux/compression"));
    assert!(ids.contains(&"switchyard/aux/title_generation"));
    let one = http
        .get(format!("{base}/models/switchyard/aux/compression"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    assert_eq!(one.json::<Value>().await.unwrap()["object"], "model");
    let missing = http
        .get(format!("{base}/models/gpt-4"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn oversized_and_conflicting_requests_are_refused_before_any_provider() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let config = fakes.config_env(
        &db,
        "",
        &[
            ("SWITCHYARD__OPENAI_LISTEN", "127.0.0.1:0"),
            ("SWITCHYARD__LIMITS__MAX_REQUEST_BYTES", "1000"),
        ],
    );
    let app = TestApp::spawn(config).await;
    let base = app.openai.clone().unwrap();
    let http = reqwest::Client::new();

    // Over the content limit, within the body limit: a 400 naming the field.
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(&json!({"model": "switchyard/primary", "messages": [{"role": "user", "content": "x".repeat(2000)}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["param"], "messages");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit of 1000 bytes")
    );

    // Over the body limit (4 x the content limit + 1 MiB): 413 in OpenAI's shape.
    let huge = "x".repeat(2 << 20);
    let r = http
        .post(format!("{base}/chat/completions"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"model":"switchyard/primary","messages":[{{"role":"user","content":"{huge}"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "request_too_large"
    );

    // The model and the task header must name the same caller.
    let r = http
        .post(format!("{base}/chat/completions"))
        .header("x-switchyard-task", "compression")
        .json(&chat("switchyard/primary", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "model");

    // A content part the door does not carry is refused rather than silently dropped.
    let r = http
        .post(format!("{base}/chat/completions"))
        .json(
            &json!({"model": "switchyard/primary", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
            ]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["param"],
        "messages.content"
    );
    assert_eq!(fakes.counts(), [0, 0, 0, 0, 0]);
    app.stop().await;
}
