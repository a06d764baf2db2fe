//! Integration tests: the real server on 127.0.0.1:0, a real SQLite file, fake
//! providers that are real HTTP servers counting their calls, gRPC over TCP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test: a failure should stop it loudly, and what it prints is its output"
)]

mod attempts;
mod chat;
mod credentials;
mod drain;
mod feed;
mod grpc_chat;
mod hostile;
mod keys;
mod layout;
mod messages_door;
mod openai;
mod operations;
mod outlier;
mod pg_outage;
mod pg_tls;
mod postgres;
mod refresh;
mod refused_streams;
mod reload;
mod replicas;
mod responses_door;
mod secrets;
mod serve_output;
mod simulate;
mod soak;
mod store;
mod streaming;
mod support;
mod tools;
mod validation;
mod wire;

use std::time::Duration;

use switchyard::fake::FakeReply;
use switchyard_client::pb;
use switchyard_client::pb::Action::{
    NextCandidate, RetrySame, RotateCredential, SkipCandidate, Succeed,
};
use tonic::Code;

use support::*;

const TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#;

fn primary() -> pb::caller::Kind {
    pb::caller::Kind::Primary(pb::PrimaryCaller {})
}

fn compression() -> pb::caller::Kind {
    pb::caller::Kind::Task("compression".into())
}

async fn setup(
    extra_keys: &[(&str, &str)],
    extra_yaml: &str,
) -> (Fakes, TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, extra_keys).await;
    let fakes = Fakes::start().await;
    let app = TestApp::spawn(fakes.config(&db, extra_yaml)).await;
    (fakes, app, dir)
}

/// Runs a scenario: simulates it first, then pushes the script to the fakes and
/// makes the real call. Asserts the simulation, the response trail and the recorded
/// trail agree, and returns the real outcome.
async fn scenario(
    app: &mut TestApp,
    fakes: &Fakes,
    caller: pb::caller::Kind,
    script: &[(&str, FakeReply)],
) -> Result<Vec<pb::Attempt>, (tonic::Status, Vec<pb::Attempt>)> {
    let simulated = app.simulate(caller.clone(), script).await;
    assert!(simulated.simulated);
    push_script(fakes, script);
    let result = match caller {
        pb::caller::Kind::Primary(_) => app.primary().await.map(|r| (r.request_id, r.attempts)),
        pb::caller::Kind::Task(t) => app.aux(&t).await.map(|r| (r.request_id, r.attempts)),
    };
    let (request_id, attempts, failed) = match result {
        Ok((id, attempts)) => (id, attempts, None),
        Err(status) => {
            let (info, detail) = failure_details(&status);
            assert_eq!(info.domain, "switchyard.dev");
            assert_eq!(info.metadata["request_id"], detail.request_id);
            (detail.request_id.clone(), detail.attempts, Some(status))
        }
    };
    assert_eq!(
        keys(&simulated.steps),
        keys(&attempts),
        "ExplainFallback simulation and the real call disagree"
    );
    let recorded = app.explain_id(&request_id).await;
    assert!(!recorded.simulated);
    assert_eq!(
        recorded.steps, attempts,
        "recorded trail differs from the response's"
    );
    assert_eq!(recorded.outcome(), simulated.outcome());
    match failed {
        None => Ok(attempts),
        Some(status) => Err((status, attempts)),
    }
}

#[tokio::test]
async fn aux_token_invalidated_walks_the_task_chain_then_reaches_the_main_model() {
    let (fakes, mut app, _dir) = setup(&[], "").await;
    let script = [
        ("aux", FakeReply::error(401, TOKEN_INVALIDATED)),
        ("chain-a", FakeReply::error(401, TOKEN_INVALIDATED)),
        ("chain-b", FakeReply::error(401, TOKEN_INVALIDATED)),
    ];
    let attempts = scenario(&mut app, &fakes, compression(), &script)
        .await
        .unwrap();
    assert_eq!(
        shape(&attempts),
        vec![
            s("aux", "aux-k1", NextCandidate),
            s("chain-a", "chain-a-k1", NextCandidate),
            s("chain-b", "chain-b-k1", NextCandidate),
            s("main", "main-k1", Succeed),
        ]
    );
    assert_eq!(attempts[0].error_class(), pb::ErrorClass::AuthTerminal);
    assert_eq!(
        fakes.counts(),
        [1, 0, 1, 1, 1],
        "main, main-fb, aux, chain-a, chain-b"
    );
    assert_eq!(fakes.main.calls()[0].model, "main-model");
    assert_eq!(fakes.aux.calls()[0].credential, "secret-of-aux-k1");

    // The dead keys are skipped without a call from now on.
    let again = app.aux("compression").await.unwrap();
    assert_eq!(
        shape(&again.attempts),
        vec![
            s("aux", "", SkipCandidate),
            s("chain-a", "", SkipCandidate),
            s("chain-b", "", SkipCandidate),
            s("main", "main-k1", Succeed),
        ]
    );
    assert_eq!(fakes.counts(), [2, 0, 1, 1, 1]);
    app.stop().await;
}

#[tokio::test]
async fn primary_token_invalidated_takes_the_same_path_shape() {
    let (fakes, mut app, _dir) = setup(&[], "").await;
    let script = [("main", FakeReply::error(401, TOKEN_INVALIDATED))];
    let attempts = scenario(&mut app, &fakes, primary(), &script)
        .await
        .unwrap();
    assert_eq!(
        shape(&attempts),
        vec![
            s("main", "main-k1", NextCandidate),
            s("main-fb", "main-fb-k1", Succeed)
        ]
    );
    assert_eq!(attempts[0].error_class(), pb::ErrorClass::AuthTerminal);
    assert_eq!(fakes.counts(), [1, 1, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn billing_402_skips_the_key_without_retrying_it() {
    let (fakes, mut app, _dir) = setup(&[("main-k2", "main")], "").await;
    let script = [(
        "main",
        FakeReply::error(
            402,
            r#"{"error":{"code":402,"message":"Insufficient credits"}}"#,
        ),
    )];
    let attempts = scenario(&mut app, &fakes, primary(), &script)
        .await
        .unwrap();
    assert_eq!(
        shape(&attempts),
        vec![
            s("main", "main-k1", RotateCredential),
            s("main", "main-k2", Succeed)
        ]
    );
    let creds: Vec<_> = fakes
        .main
        .calls()
        .into_iter()
        .map(|c| c.credential)
        .collect();
    assert_eq!(
        creds,
        ["secret-of-main-k1", "secret-of-main-k2"],
        "k1 is called once, never retried"
    );
    app.stop().await;
}

#[tokio::test]
async fn rate_limit_with_a_short_retry_after_retries_once() {
    let (fakes, mut app, _dir) = setup(&[], "").await;
    let script = [(
        "main",
        FakeReply::error(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        )
        .with_header("retry-after-ms", "100"),
    )];
    let attempts = scenario(&mut app, &fakes, primary(), &script)
        .await
        .unwrap();
    assert_eq!(
        shape(&attempts),
        vec![
            s("main", "main-k1", RetrySame),
            s("main", "main-k1", Succeed)
        ]
    );
    assert_eq!(fakes.counts(), [2, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn overloaded_529_three_times_gives_retries_then_the_next_candidate() {
    let (fakes, mut app, _dir) = setup(&[], "").await;
    let overloaded = || {
        FakeReply::error(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
    };
    let script = [
        ("main", overloaded()),
        ("main", overloaded()),
        ("main", overloaded()),
    ];
    let attempts = scenario(&mut app, &fakes, primary(), &script)
        .await
        .unwrap();
    assert_eq!(
        shape(&attempts),
        vec![
            s("main", "main-k1", RetrySame),
            s("main", "main-k1", RetrySame),
            s("main", "main-k1", NextCandidate),
            s("main-fb", "main-fb-k1", Succeed),
        ]
    );
    assert_eq!(fakes.counts(), [3, 1, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn context_overflow_returns_to_the_caller_with_zero_fallbacks() {
    let (fakes, mut app, _dir) = setup(&[], "").await;
    let script = [(
        "aux",
        FakeReply::error(
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
        ),
    )];
    let (status, attempts) = scenario(&mut app, &fakes, compression(), &script)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    assert_eq!(failure_details(&status).0.reason, "CONTEXT_OVERFLOW");
    assert_eq!(
        shape(&attempts),
        vec![s("aux", "aux-k1", pb::Action::ReturnToCaller)]
    );
    assert_eq!(fakes.counts(), [0, 0, 1, 0, 0], "no fallback was called");
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_candidate_is_skipped_and_recorded() {
    // The task's chain repeats the main model: the last resort must not call it twice.
    let extra = r#"
  dedup:
    provider: chain-a
    model: a-model
    fallback_chain:
      - { provider: main, model: main-model }
"#;
    let (fakes, mut app, _dir) = setup(&[], extra).await;
    let server_error = || FakeReply::error(500, r#"{"error":{"message":"boom"}}"#);
    let script = [
        ("chain-a", server_error()),
        ("chain-a", server_error()),
        ("chain-a", server_error()),
        ("main", server_error()),
        ("main", server_error()),
        ("main", server_error()),
    ];
    let attempts = scenario(
        &mut app,
        &fakes,
        pb::caller::Kind::Task("dedup".into()),
        &script,
    )
    .await
    .unwrap();
    assert_eq!(
        shape(&attempts),
        vec![
            s("chain-a", "chain-a-k1", RetrySame),
            s("chain-a", "chain-a-k1", RetrySame),
            s("chain-a", "chain-a-k1", NextCandidate),
            s("main", "main-k1", RetrySame),
            s("main", "main-k1", RetrySame),
            s("main", "main-k1", NextCandidate),
            s("main", "", SkipCandidate),
            s("main-fb", "main-fb-k1", Succeed),
        ]
    );
    assert!(
        attempts[6].reason.starts_with("duplicate of candidate 1"),
        "{}",
        attempts[6].reason
    );
    assert_eq!(fakes.counts(), [3, 1, 0, 3, 0]);
    app.stop().await;
}

#[tokio::test]
async fn every_candidate_failing_returns_error_info_and_the_full_trail() {
    let (fakes, mut app, _dir) = setup(&[], "").await;
    let bad = || {
        FakeReply::error(
            400,
            r#"{"error":{"message":"bad parameter","type":"invalid_request_error"}}"#,
        )
    };
    let script = [
        ("aux", bad()),
        ("chain-a", bad()),
        ("chain-b", bad()),
        ("main", bad()),
        ("main-fb", bad()),
    ];
    let (status, attempts) = scenario(&mut app, &fakes, compression(), &script)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "ALL_CANDIDATES_FAILED");
    assert_eq!(
        detail.attempts.len(),
        6,
        "five attempts and the give-up step"
    );
    assert_eq!(attempts.last().unwrap().action(), pb::Action::GiveUp);
    assert_eq!(fakes.counts(), [1, 1, 1, 1, 1]);
    assert!(
        !status.message().contains("secret-of"),
        "{}",
        status.message()
    );
    app.stop().await;
}

#[tokio::test]
async fn the_task_timeout_bounds_the_whole_request() {
    let extra = "
  slow:
    provider: aux
    timeout: 400ms
    fallback_chain:
      - { provider: chain-a, model: a-model }
";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut config = fakes.config(&db, extra);
    config.policy.min_attempt = Duration::from_millis(100);
    let mut app = TestApp::spawn(config).await;
    fakes
        .aux
        .push([FakeReply::ok("late").after(Duration::from_secs(3))]);
    let status = app.aux("slow").await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "DEADLINE_EXHAUSTED");
    assert_eq!(detail.attempts[0].error_class(), pb::ErrorClass::Transport);
    assert_eq!(
        fakes.counts(),
        [0, 0, 1, 0, 0],
        "no attempt started without the budget to finish"
    );
    app.stop().await;
}

#[tokio::test]
async fn dead_credentials_stay_dead_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    let first = app.aux("compression").await.unwrap();
    assert_eq!(first.served_by.unwrap().provider, "chain-a");
    app.stop().await;

    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    let second = app.aux("compression").await.unwrap();
    assert_eq!(second.attempts[0].action(), SkipCandidate);
    assert_eq!(second.attempts[0].reason, "no live credential (1 dead)");
    assert_eq!(
        fakes.aux.call_count(),
        1,
        "the dead key was not called after the restart"
    );
    // The recorded trail of the first request survived the restart too.
    let recorded = app.explain_id(&first.request_id).await;
    assert_eq!(recorded.steps, first.attempts);
    app.stop().await;
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let (_fakes, app, _dir) = setup(&[], "").await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "switchyard.v1.SwitchyardService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    app.stop().await;
}
