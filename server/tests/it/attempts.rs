//! One meaning of "attempt" (a step where a provider was contacted) in the failure
//! message, the HTTP front door's headers and the metrics, with skipped candidates
//! and give-ups counted apart.

use std::collections::HashMap;

use serde_json::json;
use switchyard::fake::FakeReply;

use crate::support::*;

const TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#;

/// The sum of every series of `name` whose labels contain all of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn attempts_count_provider_contacts_only_in_messages_headers_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut config = fakes.config_env(&db, "", &[("SWITCHYARD__OPENAI_LISTEN", "127.0.0.1:0")]);
    config.telemetry.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = switchyard::app::App::build(config).await.unwrap();
    let metrics_url = format!("http://{}/metrics", app.metrics_addr().unwrap());
    let base = format!("http://{}/v1", app.openai_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let call = || async {
        let response = http
            .post(format!("{base}/chat/completions"))
            .json(&json!({
                "model": "switchyard/aux/compression",
                "messages": [{"role": "user", "content": "compress this"}],
            }))
            .send()
            .await
            .unwrap();
        let headers: HashMap<String, String> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let body: serde_json::Value = response.json().await.unwrap();
        (
            headers,
            body["error"]["message"].as_str().unwrap().to_owned(),
        )
    };

    // 1. Every candidate answers 401 token_invalidated: five attempts, every key dead.
    let dead = || FakeReply::error(401, TOKEN_INVALIDATED);
    push_script(
        &fakes,
        &[
            ("aux", dead()),
            ("chain-a", dead()),
            ("chain-b", dead()),
            ("main", dead()),
            ("main-fb", dead()),
        ],
    );
    let (h, message) = call().await;
    assert_eq!(h["x-switchyard-attempts"], "5", "{h:?}");
    assert_eq!(h["x-switchyard-skips"], "0");
    assert!(message.contains("after 5 attempt(s)"), "{message}");
    assert!(!message.contains("skipped"), "{message}");

    // 2. Now every candidate is skipped: no provider is contacted, and every count
    // says so, while naming the skips.
    let (h, message) = call().await;
    assert_eq!(h["x-switchyard-attempts"], "0", "{h:?}");
    assert_eq!(h["x-switchyard-skips"], "5");
    assert!(message.contains("after 0 attempt(s)"), "{message}");
    assert!(
        message.contains("5 candidate(s) skipped, last: main-fb fb-model no live credential"),
        "{message}"
    );
    assert_eq!(fakes.counts(), [1, 1, 1, 1, 1], "no second contact");

    let text = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&text, "switchyard_attempts_total", &[]),
        5.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "switchyard_attempts_total", &[r#"provider="""#]),
        0.0,
        "no attempt of a provider \"\": {text}"
    );
    let steps = |kind: &str| {
        metric(
            &text,
            "switchyard_trail_steps_total",
            &[&format!(r#"kind="{kind}""#)],
        )
    };
    assert_eq!(steps("attempt"), 5.0, "{text}");
    assert_eq!(steps("skip"), 5.0, "{text}");
    assert_eq!(steps("give_up"), 2.0, "{text}");

    let _ = stop.send(());
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_trail_reason_is_at_most_200_characters_with_the_policys_words_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    let long = format!(
        r#"{{"error":{{"code":402,"message":"Insufficient credits. {}"}}}}"#,
        "Add more credits at the billing page. ".repeat(20)
    );
    fakes.aux.push([FakeReply::error(402, &long)]);
    let answer = app.aux("compression").await.unwrap();
    let reason = &answer.attempts[0].reason;
    assert_eq!(reason.chars().count(), 200, "{reason}");
    assert!(reason.starts_with("402"), "{reason}");
    assert!(reason.contains('…'), "{reason}");
    assert!(reason.ends_with("; cooling down for 3600 s"), "{reason}");
    let recorded = app.explain_id(&answer.request_id).await;
    assert_eq!(&recorded.steps[0].reason, reason);
    app.stop().await;
}
