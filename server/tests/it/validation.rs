//! Malformed requests get `InvalidArgument` with `BadRequest` field violations and an
//! `ErrorInfo` reason; no provider is called, nothing panics, the server keeps serving.

use switchyard_client::pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

fn violations(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .expect("BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .expect("ErrorInfo detail")
        .reason
}

async fn setup() -> (Fakes, TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut config = fakes.config(&db, "");
    config.limits.max_request_bytes = 64 * 1024;
    let app = TestApp::spawn(config).await;
    (fakes, app, dir)
}

#[tokio::test]
async fn malformed_requests_get_field_violations_and_never_reach_a_provider() {
    let (fakes, mut app, _dir) = setup().await;
    let ok_messages = vec![user("hi")];
    let cases: Vec<(&str, pb::AuxCompleteRequest, Vec<&str>, &str)> = vec![
        (
            "empty messages",
            pb::AuxCompleteRequest {
                task: "compression".into(),
                ..Default::default()
            },
            vec!["messages"],
            "INVALID_ARGUMENT",
        ),
        (
            "unknown task",
            pb::AuxCompleteRequest {
                task: "astrology".into(),
                messages: ok_messages.clone(),
                ..Default::default()
            },
            vec!["task"],
            "UNKNOWN_TASK",
        ),
        (
            "missing task",
            pb::AuxCompleteRequest {
                messages: ok_messages.clone(),
                ..Default::default()
            },
            vec!["task"],
            "INVALID_ARGUMENT",
        ),
        (
            "negative max_tokens",
            pb::AuxCompleteRequest {
                task: "compression".into(),
                messages: ok_messages.clone(),
                max_tokens: Some(-5),
                ..Default::default()
            },
            vec!["max_tokens"],
            "INVALID_ARGUMENT",
        ),
        (
            "huge payload",
            pb::AuxCompleteRequest {
                task: "compression".into(),
                messages: vec![user(&"x".repeat(200 * 1024))],
                ..Default::default()
            },
            vec!["messages"],
            "INVALID_ARGUMENT",
        ),
        (
            "several at once",
            pb::AuxCompleteRequest {
                task: "compression".into(),
                messages: vec![pb::Message {
                    role: 0,
                    content: "no role".into(),
                    ..Default::default()
                }],
                temperature: Some(f64::NAN),
                max_tokens: Some(0),
                model: Some(String::new()),
                options: None,
            },
            vec!["messages.role", "model", "max_tokens", "temperature"],
            "INVALID_ARGUMENT",
        ),
    ];
    for (name, request, fields, want_reason) in cases {
        let status = app.client.aux_complete(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
        assert_eq!(violations(&status), fields, "{name}");
        assert_eq!(reason(&status), want_reason, "{name}");
    }

    let status = app
        .client
        .complete(pb::CompleteRequest {
            messages: vec![user("hi")],
            temperature: Some(7.0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&status), ["temperature"]);

    assert_eq!(fakes.counts(), [0; 5], "no provider was called");
    // Still serving.
    assert!(app.primary().await.is_ok());
    app.stop().await;
}

#[tokio::test]
async fn malformed_explain_requests_are_refused_clearly() {
    let (_fakes, mut app, _dir) = setup().await;
    let explain = |query| pb::ExplainFallbackRequest { query };

    let status = app
        .client
        .explain_fallback(explain(None))
        .await
        .unwrap_err();
    assert_eq!(violations(&status), ["query"]);

    let bad_id = Some(pb::explain_fallback_request::Query::RequestId(
        "nope".into(),
    ));
    let status = app
        .client
        .explain_fallback(explain(bad_id))
        .await
        .unwrap_err();
    assert_eq!(violations(&status), ["request_id"]);

    let unknown = Some(pb::explain_fallback_request::Query::RequestId(
        "01900000-0000-7000-8000-000000000000".into(),
    ));
    let status = app
        .client
        .explain_fallback(explain(unknown))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason(&status), "REQUEST_NOT_FOUND");

    let sim = |caller: Option<pb::caller::Kind>, outcomes| {
        Some(pb::explain_fallback_request::Query::Simulation(
            pb::Simulation {
                caller: caller.map(|kind| pb::Caller { kind: Some(kind) }),
                outcomes,
                ..Default::default()
            },
        ))
    };
    let status = app
        .client
        .explain_fallback(explain(sim(None, vec![])))
        .await
        .unwrap_err();
    assert_eq!(violations(&status), ["simulation.caller"]);

    let weird = vec![
        pb::SimulatedOutcome {
            outcome: Some(pb::simulated_outcome::Outcome::Http(pb::HttpOutcome {
                status: 999,
                ..Default::default()
            })),
            duration_ms: 0,
        },
        pb::SimulatedOutcome {
            outcome: Some(pb::simulated_outcome::Outcome::Transport(0)),
            duration_ms: 0,
        },
        pb::SimulatedOutcome {
            outcome: None,
            duration_ms: 0,
        },
    ];
    let primary = Some(pb::caller::Kind::Primary(pb::PrimaryCaller {}));
    let status = app
        .client
        .explain_fallback(explain(sim(primary, weird)))
        .await
        .unwrap_err();
    assert_eq!(
        violations(&status),
        [
            "simulation.outcomes.http.status",
            "simulation.outcomes.transport",
            "simulation.outcomes.outcome"
        ]
    );

    let unknown_task = Some(pb::caller::Kind::Task("astrology".into()));
    let status = app
        .client
        .explain_fallback(explain(sim(unknown_task, vec![])))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "UNKNOWN_TASK");
    app.stop().await;
}
