//! Operations: OTLP traces received by a real OTLP/gRPC receiver (built on the
//! official opentelemetry-proto definitions), graceful SIGTERM, the metrics endpoint.
//! The trace and SIGTERM tests run the real `switchyard` binary as a child process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use switchyard::fake::FakeReply;
use switchyard_client::SwitchyardServiceClient;
use switchyard_client::pb;

use crate::support::*;

const TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#;
const PROMPT: &str = "PROMPT-TEXT-compress this conversation";

/// An OTLP/gRPC trace receiver that keeps every span it is sent.
#[derive(Default, Clone)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_receiver() -> (Receiver, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (receiver, format!("http://{addr}"))
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn attr_str(span: &Span, key: &str) -> String {
    match attr(span, key) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[tokio::test]
async fn traces_continue_the_callers_trace_with_one_span_per_attempt() {
    let (receiver, endpoint) = start_receiver().await;
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "").await;
    // chain-a holds an OAuth credential whose access token it refuses: a refresh.
    let tokens = switchyard::fake::FakeTokenEndpoint::start("otel")
        .await
        .unwrap();
    seed_oauth(
        &dir.path().join("switchyard.db"),
        "chain-a",
        &tokens,
        "otel-stale",
        "otel-refresh-0",
        "otel-client-secret",
    )
    .await;
    fakes.chain_a.require_bearer(
        tokens.bearer_check(),
        FakeReply::error(
            401,
            r#"{"error":{"message":"bad token","type":"authentication_error"}}"#,
        ),
    );
    let server = Server::start(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "switchyard-test"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    );
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let mut request = tonic::Request::new(pb::AuxCompleteRequest {
        task: "compression".into(),
        messages: vec![user(PROMPT)],
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{client_span}-01").parse().unwrap(),
    );
    let answer = server
        .client()
        .await
        .aux_complete(request)
        .await
        .unwrap()
        .into_inner();
    let tried: Vec<_> = contacted(&answer.attempts).collect();
    assert_eq!(
        tried.len(),
        3,
        "aux 401, chain-a 401 and a refresh, then chain-a answers"
    );

    // SIGTERM flushes the exporter before exit.
    server.sigterm();
    let (status, logs) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "exit {status:?}");

    let spans = receiver.spans.lock().unwrap().clone();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert!(!spans.is_empty(), "no span received");
    assert!(
        spans.iter().all(|s| hex(&s.trace_id) == trace_id),
        "every span belongs to the caller's trace"
    );
    let server_spans: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "switchyard.v1.SwitchyardService/AuxComplete")
        .collect();
    assert_eq!(server_spans.len(), 1);
    let server_span = server_spans[0];
    assert_eq!(
        hex(&server_span.parent_span_id),
        client_span,
        "server span is the client span's child"
    );
    assert_eq!(
        attr_str(server_span, "switchyard.request_id"),
        answer.request_id
    );

    let attempts: Vec<_> = spans
        .iter()
        .filter(|s| attr_str(s, "gen_ai.operation.name") == "chat")
        .collect();
    assert_eq!(
        attempts.len(),
        tried.len(),
        "one attempt span per attempt of the trail"
    );
    for (span, step) in attempts.iter().zip(&tried) {
        assert_eq!(span.parent_span_id, server_span.span_id);
        assert_eq!(span.name, format!("chat {}", step.model));
        assert_eq!(attr_str(span, "gen_ai.request.model"), step.model);
        assert_eq!(attr_str(span, "switchyard.provider"), step.provider);
        assert_eq!(
            attr_str(span, "switchyard.credential_id"),
            step.credential_id
        );
        assert_eq!(attr_str(span, "switchyard.caller"), "aux");
        assert_eq!(attr_str(span, "switchyard.task"), "compression");
        assert!(!attr_str(span, "gen_ai.provider.name").is_empty());
    }
    assert_eq!(
        attr_str(attempts[0], "switchyard.error_class"),
        "auth_terminal"
    );
    assert_eq!(attr_str(attempts[0], "error.type"), "auth_terminal");
    assert_eq!(attr_str(attempts[0], "switchyard.action"), "next_candidate");
    assert_eq!(
        attr_str(attempts[1], "switchyard.action"),
        "refresh_and_retry"
    );
    assert_eq!(attr_str(attempts[2], "switchyard.action"), "succeed");
    assert_eq!(attr_str(attempts[2], "gen_ai.usage.input_tokens"), "12");
    assert_eq!(attr_str(attempts[2], "gen_ai.response.model"), "a-model");

    // The refresh has a span of its own, in the same trace, under the server span.
    let refreshes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "credential refresh")
        .collect();
    assert_eq!(refreshes.len(), 1, "one refresh span");
    assert_eq!(refreshes[0].parent_span_id, server_span.span_id);
    assert_eq!(
        attr_str(refreshes[0], "switchyard.credential_id"),
        "chain-a-oauth"
    );
    assert_eq!(
        attr_str(refreshes[0], "switchyard.refresh.outcome"),
        "refreshed"
    );
    assert_eq!(tokens.call_count(), 1);

    // No secret and no prompt text anywhere: attributes, span names, logs.
    let everything = format!("{spans:?}\n{logs}");
    for secret in [
        "secret-of-",
        "otel-stale",
        "otel-refresh",
        "otel-access",
        "otel-client-secret",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    assert!(!everything.contains("PROMPT-TEXT"), "prompt text leaked");
}

#[tokio::test]
async fn http_front_door_requests_are_traced_like_grpc_calls() {
    let (receiver, endpoint) = start_receiver().await;
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "openai_listen: 127.0.0.1:0").await;
    let server = Server::start(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    );
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4737";
    let client_span = "00f067aa0ba902b8";
    let base = server.openai.clone().expect("the front door is on");
    let response = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&serde_json::json!({
            "model": "switchyard/aux/compression",
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.text().await.unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"));
    assert!(!body.contains(PROMPT));

    server.sigterm();
    let (status, _) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success());
    let spans = receiver.spans.lock().unwrap().clone();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let http: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "POST /v1/chat/completions")
        .collect();
    assert_eq!(http.len(), 1, "one server span");
    assert_eq!(hex(&http[0].trace_id), trace_id);
    assert_eq!(hex(&http[0].parent_span_id), client_span);
    assert_eq!(attr_str(http[0], "switchyard.request_id"), request_id);
    assert_eq!(attr_str(http[0], "http.response.status_code"), "200");
    let attempts: Vec<_> = spans
        .iter()
        .filter(|s| attr_str(s, "gen_ai.operation.name") == "chat")
        .collect();
    assert_eq!(attempts.len(), 2, "aux refused, then chain-a streams");
    assert!(
        attempts
            .iter()
            .all(|a| a.parent_span_id == http[0].span_id && hex(&a.trace_id) == trace_id)
    );
    for s in &spans {
        for kv in &s.attributes {
            let v = format!("{:?}", kv.value);
            assert!(
                !v.contains(PROMPT) && !v.contains("secret-of-"),
                "{}: {v}",
                kv.key
            );
        }
    }
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_call_finish_refuses_new_ones_and_exits_zero() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "shutdown_grace: 20s").await;
    let server = Server::start(&config, &[]);
    fakes
        .main
        .push([FakeReply::ok("slow but complete").after(Duration::from_millis(1500))]);
    let mut client = server.client().await;
    let in_flight = tokio::spawn(async move {
        client
            .complete(pb::CompleteRequest {
                messages: vec![user("hello")],
                ..Default::default()
            })
            .await
    });
    while fakes.main.call_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.sigterm();
    // Give the signal a moment to close the listener, then try a new connection.
    let addr = server.addr.clone();
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let attempt = SwitchyardServiceClient::connect(format!("http://{addr}")).await;
        let call = match attempt {
            Err(_) => Err(()),
            Ok(mut c) => c
                .complete(pb::CompleteRequest {
                    messages: vec![user("too late")],
                    ..Default::default()
                })
                .await
                .map_err(|_| ()),
        };
        if call.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "new calls are refused while draining");
    let answer = in_flight
        .await
        .unwrap()
        .expect("the in-flight call completes");
    assert_eq!(answer.into_inner().content, "slow but complete");
    let (status, _) = server.wait(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        fakes.main.call_count(),
        1,
        "the refused call reached no provider"
    );
}

#[tokio::test]
async fn sigterm_lets_a_stream_in_flight_finish_before_exiting() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "shutdown_grace: 20s").await;
    let server = Server::start(&config, &[]);
    // Ten pieces, 150 ms apart: the stream outlives the signal by over a second.
    fakes
        .main
        .push([FakeReply::stream(&["piece "; 10]).with_gap(Duration::from_millis(150))]);
    let mut client = server.client().await;
    let mut stream = client
        .complete_stream(pb::CompleteStreamRequest {
            messages: vec![user("hello")],
            ..Default::default()
        })
        .await
        .expect("the stream opens")
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(matches!(
        first.event,
        Some(pb::complete_stream_response::Event::Started(_))
    ));
    server.sigterm();
    let mut text = String::new();
    let finished = loop {
        use pb::complete_stream_response::Event;
        match stream.message().await.expect("no error while draining") {
            Some(pb::CompleteStreamResponse {
                event: Some(Event::Delta(d)),
            }) => text.push_str(&d),
            Some(pb::CompleteStreamResponse {
                event: Some(Event::Finished(f)),
            }) => break f,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(text, "piece ".repeat(10));
    // Anthropic's `end_turn`, normalised.
    assert_eq!(finished.finish_reason, "stop");
    let (status, _) = server.wait(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn the_metrics_endpoint_shows_counters_moving_after_calls() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut config = fakes.config(&db, "");
    config.telemetry.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = switchyard::app::App::build(config).await.unwrap();
    let metrics = format!("http://{}/metrics", app.metrics_addr().unwrap());
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let mut client = SwitchyardServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let scrape = || async {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        parse_prometheus(&text)
    };
    let before = scrape().await;
    fakes.aux.push([FakeReply::error(401, TOKEN_INVALIDATED)]);
    client
        .aux_complete(pb::AuxCompleteRequest {
            task: "compression".into(),
            messages: vec![user("x")],
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .complete(pb::CompleteRequest {
            messages: vec![user("x")],
            ..Default::default()
        })
        .await
        .unwrap();
    let after = scrape().await;
    let value = |m: &HashMap<String, f64>, name: &str, labels: &[&str]| -> f64 {
        m.iter()
            .filter(|(k, _)| {
                k.starts_with(&format!("{name}{{")) && labels.iter().all(|l| k.contains(l))
            })
            .map(|(_, v)| v)
            .sum()
    };
    let aux_ok = [
        r#"caller="aux""#,
        r#"task="compression""#,
        r#"outcome="succeeded""#,
    ];
    assert_eq!(value(&before, "switchyard_requests_total", &aux_ok), 0.0);
    assert_eq!(value(&after, "switchyard_requests_total", &aux_ok), 1.0);
    assert_eq!(
        value(
            &after,
            "switchyard_requests_total",
            &[r#"caller="primary""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "switchyard_attempts_total",
            &[
                r#"error_class="auth_terminal""#,
                r#"action="next_candidate""#
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "switchyard_fallbacks_total",
            &[r#"error_class="auth_terminal""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "switchyard_request_duration_seconds_count",
            &[r#"caller="aux""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "switchyard_credentials",
            &[r#"provider="aux""#, r#"state="dead""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "switchyard_credentials",
            &[r#"provider="main""#, r#"state="live""#]
        ),
        1.0
    );

    let _ = stop.send(());
    handle.await.unwrap().unwrap();
}

/// `name{labels} value` lines of a Prometheus text exposition.
pub(crate) fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let key = if key.contains('{') {
                key.to_owned()
            } else {
                format!("{key}{{}}")
            };
            Some((key, value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn an_unreachable_collector_fails_no_request_and_does_not_hold_the_exit() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "").await;
    // Nothing listens on port 1: every export fails.
    let server = Server::start(
        &config,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")],
    );
    let mut client = server.client().await;
    for _ in 0..20 {
        client
            .complete(pb::CompleteRequest {
                messages: vec![user("hi")],
                ..Default::default()
            })
            .await
            .expect("served while the collector is down");
    }
    server.sigterm();
    let (status, _) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "exit {status:?}");
}

/// An OTLP/gRPC metrics receiver that keeps the names of the metrics it is sent.
#[derive(Default, Clone)]
struct MetricsReceiver {
    names: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService
    for MetricsReceiver
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
        >,
        tonic::Status,
    > {
        let mut names = self.names.lock().unwrap();
        for rm in request.into_inner().resource_metrics {
            for sm in rm.scope_metrics {
                names.extend(sm.metrics.into_iter().map(|m| m.name));
            }
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tokio::test]
async fn metrics_are_exported_over_otlp_too() {
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let receiver = MetricsReceiver::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(receiver.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "").await;
    let server = Server::start(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    );
    server
        .client()
        .await
        .complete(pb::CompleteRequest {
            messages: vec![user("hi")],
            ..Default::default()
        })
        .await
        .unwrap();
    // The periodic reader exports every 200 ms; shutdown flushes a last time.
    server.sigterm();
    let (status, _) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success());
    let names = receiver.names.lock().unwrap().clone();
    for metric in [
        "switchyard.requests",
        "switchyard.request.duration",
        "switchyard.attempts",
        "switchyard.credentials",
    ] {
        assert!(
            names.iter().any(|n| n == metric),
            "{metric} not in {names:?}"
        );
    }
}
