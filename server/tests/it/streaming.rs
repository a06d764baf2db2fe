//! Streaming RPCs: failover before the first token only, first-token and idle
//! timeouts, and interruptions that end the stream with an error naming the attempt.

use std::time::Duration;

use switchyard::fake::{FakeReply, StreamEnd};
use switchyard_client::pb;
use switchyard_client::pb::Action::{NextCandidate, RetrySame, StopStream, Succeed};
use tonic::Code;

use crate::support::*;

const TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#;

async fn setup(env: &[(&str, &str)]) -> (Fakes, TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let app = TestApp::spawn(fakes.config_env(&db, "", env)).await;
    (fakes, app, dir)
}

/// What a stream delivered: its start, its text, and how it ended.
struct Received {
    started: pb::StreamStarted,
    deltas: Vec<String>,
    end: Result<pb::StreamFinished, tonic::Status>,
}

async fn read_aux(app: &mut TestApp, task: &str) -> Result<Received, tonic::Status> {
    use pb::aux_complete_stream_response::Event as E;
    let stream = app
        .client
        .aux_complete_stream(pb::AuxCompleteStreamRequest {
            task: task.into(),
            messages: vec![user("compress this")],
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(collect(stream, |m| match m.event.unwrap() {
        E::Started(s) => Ev::Started(s),
        E::Delta(d) => Ev::Delta(d),
        E::Finished(f) => Ev::Finished(f),
        E::ToolCallDelta(d) => panic!("no tool was offered, got {d:?}"),
    })
    .await)
}

async fn read_primary(app: &mut TestApp) -> Result<Received, tonic::Status> {
    use pb::complete_stream_response::Event as E;
    let stream = app
        .client
        .complete_stream(pb::CompleteStreamRequest {
            messages: vec![user("hello")],
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(collect(stream, |m| match m.event.unwrap() {
        E::Started(s) => Ev::Started(s),
        E::Delta(d) => Ev::Delta(d),
        E::Finished(f) => Ev::Finished(f),
        E::ToolCallDelta(d) => panic!("no tool was offered, got {d:?}"),
    })
    .await)
}

/// An event of either streaming RPC.
enum Ev {
    Started(pb::StreamStarted),
    Delta(String),
    Finished(pb::StreamFinished),
}

/// Reads a stream to its end: Started first, then deltas, then Finished or an error.
async fn collect<M>(mut stream: tonic::Streaming<M>, event: fn(M) -> Ev) -> Received {
    let mut started = None;
    let mut deltas = Vec::new();
    let end = loop {
        match stream.message().await {
            Ok(Some(m)) => match event(m) {
                Ev::Started(s) => {
                    assert!(
                        started.is_none() && deltas.is_empty(),
                        "Started comes first, once"
                    );
                    started = Some(s);
                }
                Ev::Delta(d) => deltas.push(d),
                Ev::Finished(f) => break Ok(f),
            },
            Ok(None) => panic!("the stream ended without Finished or an error"),
            Err(status) => break Err(status),
        }
    };
    Received {
        started: started.expect("a Started event"),
        deltas,
        end,
    }
}

/// (provider, credential, class, action) of each step.
fn steps(attempts: &[pb::Attempt]) -> Vec<(String, String, pb::ErrorClass, pb::Action)> {
    attempts
        .iter()
        .map(|a| {
            (
                a.provider.clone(),
                a.credential_id.clone(),
                a.error_class(),
                a.action(),
            )
        })
        .collect()
}

fn st(
    provider: &str,
    class: pb::ErrorClass,
    action: pb::Action,
) -> (String, String, pb::ErrorClass, pb::Action) {
    (provider.into(), format!("{provider}-k1"), class, action)
}

#[tokio::test]
async fn a_failure_before_the_first_token_falls_over_and_the_caller_sees_one_clean_stream() {
    let (fakes, mut app, _dir) = setup(&[]).await;
    // The explicit provider refuses the token; chain-a opens its stream three times
    // and drops it before any text; chain-b streams.
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    let dropped = FakeReply::stream(&[]).ending(StreamEnd::Drop);
    fakes
        .chain_a
        .push([dropped.clone(), dropped.clone(), dropped]);
    fakes
        .chain_b
        .push([FakeReply::stream(&["Hello ", "from ", "{provider}"])]);

    let got = read_aux(&mut app, "compression").await.unwrap();
    let finished = got.end.expect("a complete stream");
    assert_eq!(got.deltas.concat(), "Hello from chain-b");
    assert_eq!(fakes.counts(), [0, 0, 1, 3, 1]);

    use pb::ErrorClass::{AuthTerminal, None as Ok_, Transport};
    let before_text = vec![
        st("aux", AuthTerminal, NextCandidate),
        st("chain-a", Transport, RetrySame),
        st("chain-a", Transport, RetrySame),
        st("chain-a", Transport, NextCandidate),
        st("chain-b", Ok_, Succeed),
    ];
    assert_eq!(steps(&got.started.attempts), before_text);
    assert_eq!(got.started.served_by.unwrap().provider, "chain-b");
    assert_eq!(steps(&finished.attempts), before_text);
    assert_eq!(finished.finish_reason, "stop");
    assert_eq!(finished.usage.unwrap().output_tokens, 3);

    // The same policy, as ExplainFallback simulates it.
    let reset = pb::SimulatedOutcome {
        outcome: Some(pb::simulated_outcome::Outcome::Transport(
            pb::TransportFailure::ConnectionReset as i32,
        )),
        duration_ms: 0,
    };
    let mut outcomes = vec![simulated(&FakeReply::error(401, TOKEN_INVALIDATED))];
    outcomes.extend([reset.clone(), reset.clone(), reset]);
    let simulation = app
        .client
        .explain_fallback(pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::Simulation(
                pb::Simulation {
                    caller: Some(pb::Caller {
                        kind: Some(pb::caller::Kind::Task("compression".into())),
                    }),
                    outcomes,
                    assume_all_credentials_live: true,
                    ..Default::default()
                },
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(steps(&simulation.steps), before_text);

    let recorded = app.explain_id(&got.started.request_id).await;
    assert_eq!(recorded.steps, finished.attempts);
    assert_eq!(recorded.outcome(), pb::Outcome::Succeeded);
    app.stop().await;
}

#[tokio::test]
async fn a_failure_after_some_tokens_ends_the_stream_with_an_error_naming_the_attempt() {
    let (fakes, mut app, _dir) = setup(&[]).await;
    // The main model (Anthropic events) sends two pieces, then the connection drops.
    fakes
        .main
        .push([FakeReply::stream(&["Hel", "lo"]).ending(StreamEnd::Drop)]);

    let got = read_primary(&mut app).await.unwrap();
    assert_eq!(got.deltas, ["Hel", "lo"]);
    let status = got
        .end
        .expect_err("an interrupted stream ends with an error");
    assert_eq!(status.code(), Code::Aborted);
    assert!(
        status
            .message()
            .contains("candidate 0 main main-model (credential main-k1)"),
        "{}",
        status.message()
    );
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "STREAM_INTERRUPTED");
    assert_eq!(info.metadata["provider"], "main");
    assert_eq!(info.metadata["model"], "main-model");
    assert_eq!(info.metadata["candidate_index"], "0");
    assert_eq!(info.metadata["request_id"], got.started.request_id);
    use pb::ErrorClass::{None as Ok_, Transport};
    assert_eq!(
        steps(&detail.attempts),
        vec![st("main", Ok_, Succeed), st("main", Transport, StopStream)]
    );
    // No failover after text: the fallback provider was never called.
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);

    let recorded = app.explain_id(&got.started.request_id).await;
    assert_eq!(recorded.outcome(), pb::Outcome::Failed);
    assert_eq!(recorded.error_reason(), pb::ErrorReason::StreamInterrupted);
    assert_eq!(recorded.steps, detail.attempts);
    app.stop().await;
}

#[tokio::test]
async fn an_error_event_after_some_tokens_ends_the_stream_with_its_class() {
    let (fakes, mut app, _dir) = setup(&[]).await;
    fakes
        .main
        .push([FakeReply::stream(&["partial"]).ending(StreamEnd::Error(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
        ))]);
    let got = read_primary(&mut app).await.unwrap();
    assert_eq!(got.deltas, ["partial"]);
    let status = got.end.unwrap_err();
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "STREAM_INTERRUPTED");
    assert_eq!(info.metadata["error_class"], "overloaded");
    let last = detail.attempts.last().unwrap();
    assert_eq!(last.action(), StopStream);
    assert_eq!(last.error_class(), pb::ErrorClass::Overloaded);
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_stalled_stream_hits_the_idle_timeout() {
    let (fakes, mut app, _dir) =
        setup(&[("SWITCHYARD__PROVIDERS__MAIN__STREAM_IDLE_TIMEOUT", "300ms")]).await;
    fakes
        .main
        .push([FakeReply::stream(&["thinking..."]).ending(StreamEnd::Stall)]);
    let got = read_primary(&mut app).await.unwrap();
    assert_eq!(got.deltas, ["thinking..."]);
    let status = got.end.unwrap_err();
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "STREAM_INTERRUPTED");
    let last = detail.attempts.last().unwrap();
    assert_eq!(last.action(), StopStream);
    assert_eq!(last.error_class(), pb::ErrorClass::Transport);
    assert!(
        last.reason.contains("idle timeout (300 ms)"),
        "{}",
        last.reason
    );
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_trickling_bytes_without_an_event_hits_the_idle_timeout() {
    // One byte every 50 ms, never a whole event: the idle timeout counts events,
    // so the stream still ends after 300 ms of them.
    let (fakes, mut app, _dir) =
        setup(&[("SWITCHYARD__PROVIDERS__MAIN__STREAM_IDLE_TIMEOUT", "300ms")]).await;
    fakes
        .main
        .push([FakeReply::stream(&["thinking..."])
            .ending(StreamEnd::Trickle(Duration::from_millis(50)))]);
    let got = tokio::time::timeout(Duration::from_secs(10), read_primary(&mut app))
        .await
        .expect("the trickle does not keep the stream open")
        .unwrap();
    assert_eq!(got.deltas, ["thinking..."]);
    let status = got.end.unwrap_err();
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "STREAM_INTERRUPTED");
    let last = detail.attempts.last().unwrap();
    assert_eq!(last.action(), StopStream);
    assert!(
        last.reason.contains("idle timeout (300 ms)"),
        "{}",
        last.reason
    );
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_whose_events_each_come_within_the_idle_timeout_is_not_cut() {
    // 600 ms of stream, an event every 100 ms: the idle timeout (300 ms) restarts
    // at each event (its timer is kept from read to read, moved on, not rebuilt).
    let (fakes, mut app, _dir) =
        setup(&[("SWITCHYARD__PROVIDERS__MAIN__STREAM_IDLE_TIMEOUT", "300ms")]).await;
    fakes
        .main
        .push([FakeReply::stream(&["a "; 6]).with_gap(Duration::from_millis(100))]);
    let got = read_primary(&mut app).await.unwrap();
    assert_eq!(got.deltas.concat(), "a ".repeat(6));
    assert!(got.end.is_ok(), "{:?}", got.end);
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_outliving_the_request_budget_is_interrupted_mid_stream() {
    // A 2 s stream against a 600 ms budget: the budget's timer fires between
    // events, though none is late for the idle timeout.
    let (fakes, mut app, _dir) = setup(&[("SWITCHYARD__MODEL__TIMEOUT", "600ms")]).await;
    fakes
        .main
        .push([FakeReply::stream(&["a "; 20]).with_gap(Duration::from_millis(100))]);
    let got = tokio::time::timeout(Duration::from_secs(10), read_primary(&mut app))
        .await
        .expect("the budget ends the stream")
        .unwrap();
    assert!(
        !got.deltas.is_empty() && got.deltas.len() < 20,
        "{} pieces",
        got.deltas.len()
    );
    let status = got.end.unwrap_err();
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "STREAM_INTERRUPTED");
    let last = detail.attempts.last().unwrap();
    assert_eq!(last.action(), StopStream);
    assert!(last.reason.contains("time budget"), "{}", last.reason);
    assert_eq!(fakes.counts(), [1, 0, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_silent_before_its_first_token_hits_the_first_token_timeout_and_fails_over() {
    let (fakes, mut app, _dir) =
        setup(&[("SWITCHYARD__PROVIDERS__MAIN__FIRST_TOKEN_TIMEOUT", "200ms")]).await;
    let silent = FakeReply::stream(&[]).ending(StreamEnd::Stall);
    fakes.main.push([silent.clone(), silent.clone(), silent]);
    fakes
        .main_fb
        .push([FakeReply::stream(&["from ", "{provider}"])]);
    let got = read_primary(&mut app).await.unwrap();
    assert_eq!(got.deltas.concat(), "from main-fb");
    assert!(got.end.is_ok());
    use pb::ErrorClass::{None as Ok_, Transport};
    assert_eq!(
        steps(&got.started.attempts),
        vec![
            st("main", Transport, RetrySame),
            st("main", Transport, RetrySame),
            st("main", Transport, NextCandidate),
            st("main-fb", Ok_, Succeed),
        ]
    );
    assert!(
        got.started.attempts[0]
            .reason
            .contains("first token timeout (200 ms)"),
        "{}",
        got.started.attempts[0].reason
    );
    assert_eq!(fakes.counts(), [3, 1, 0, 0, 0]);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_whose_every_candidate_fails_before_text_is_an_error_with_the_trail() {
    let (fakes, mut app, _dir) = setup(&[]).await;
    for name in ["aux", "chain-a", "chain-b", "main", "main-fb"] {
        fakes
            .get(name)
            .push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    }
    let status = read_aux(&mut app, "compression").await.err().unwrap();
    assert_eq!(status.code(), Code::Unavailable);
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "ALL_CANDIDATES_FAILED");
    // One refused attempt per candidate, then the closing give-up step.
    assert_eq!(detail.attempts.len(), 6);
    assert_eq!(detail.attempts.last().unwrap().action(), pb::Action::GiveUp);
    assert_eq!(fakes.counts(), [1, 1, 1, 1, 1]);
    app.stop().await;
}

#[tokio::test]
async fn a_caller_that_stops_reading_closes_the_provider_stream() {
    let (fakes, mut app, _dir) = setup(&[]).await;
    fakes
        .main
        .push([FakeReply::stream(&["a"; 50]).with_gap(Duration::from_millis(20))]);
    let mut stream = app
        .client
        .complete_stream(pb::CompleteStreamRequest {
            messages: vec![user("hello")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    let Some(pb::complete_stream_response::Event::Started(started)) = first.event else {
        panic!("expected Started")
    };
    drop(stream);
    // The trail is recorded as soon as the server lets go of the stream.
    let recorded = app.explain_id_when_recorded(&started.request_id).await;
    let recorded = recorded.expect("a trail is recorded");
    assert_eq!(recorded.outcome(), pb::Outcome::Failed);
    // Far fewer than 50 pieces were read from the provider.
    let last = recorded.steps.last().unwrap();
    assert_eq!(last.action(), StopStream);
    assert!(last.reason.contains("the caller closed the stream"));
    app.stop().await;
}
