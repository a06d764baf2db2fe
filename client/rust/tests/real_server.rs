//! The client against the real `switchyard` binary: fake OpenAI-compatible providers
//! (one axum server on 127.0.0.1, one path prefix per provider), the server started
//! on a fresh SQLite file in a temporary directory with credentials added through
//! its CLI, and the client over gRPC/TCP. Each test has its own server and fakes.
//!
//! The binary is `$SWITCHYARD_BIN`, else `${CARGO_TARGET_DIR:-<workspace>/target}/debug/switchyard`
//! (`cargo test --workspace` builds it; `cargo build -p switchyard` otherwise). A
//! missing binary fails the tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test: a failure should stop it loudly, and what it prints is its output"
)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use switchyard_client::{
    CallOptions, Client, Error, Message, SimulatedOutcome, Simulation, pb, trail,
};
use tonic::Code;

#[path = "real_server/admin.rs"]
mod admin;
#[path = "real_server/chat.rs"]
mod chat;

/// The providers of the test config: the main agent model, the explicit provider
/// of the `compression` task, and its fallback chain.
const PROVIDERS: [&str; 3] = ["main", "codex", "cheap"];

const TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated.","type":"invalid_request_error","code":"token_invalidated"}}"#;

const BAD_REQUEST: &str = r#"{"error":{"message":"bad","type":"invalid_request_error"}}"#;

// === fake providers ===

/// One scripted answer of a fake provider; the default is a 200 completion.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
    /// Streamed text pieces (for `stream: true` requests), and whether the
    /// connection then drops instead of ending with `[DONE]`.
    stream: Option<(Vec<String>, bool)>,
}

impl Reply {
    fn error(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
            stream: None,
        }
    }

    fn ok_after(delay: Duration) -> Self {
        Self {
            status: 200,
            body: String::new(),
            delay,
            stream: None,
        }
    }

    /// A stream of `pieces`, ending normally or, with `drop`, cut.
    fn stream(pieces: &[&str], drop: bool) -> Self {
        Self {
            stream: Some((pieces.iter().map(|p| (*p).to_owned()).collect(), drop)),
            ..Self::ok_after(Duration::ZERO)
        }
    }
}

/// An OpenAI chat-completion event stream of `pieces`; a `drop`ped one is cut
/// after them, without a finish reason or `[DONE]`.
fn sse(pieces: Vec<String>, drop: bool) -> Response {
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let c = serde_json::json!({"id": "x", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        Ok::<_, std::io::Error>(Bytes::from(format!("data: {c}\n\n")))
    };
    let mut events = vec![chunk(
        serde_json::json!({"role": "assistant", "content": ""}),
        None,
    )];
    events.extend(
        pieces
            .into_iter()
            .map(|p| chunk(serde_json::json!({"content": p}), None)),
    );
    if !drop {
        events.push(chunk(serde_json::json!({}), Some("stop")));
        events.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    }
    let ending = futures::stream::once(async move {
        if drop {
            // Let the pieces reach the server before the connection is cut.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some(Err(std::io::Error::other("dropped")))
        } else {
            None
        }
    });
    let body = futures::StreamExt::chain(
        futures::stream::iter(events),
        futures::StreamExt::filter_map(ending, std::future::ready),
    );
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// One request a fake provider received.
#[derive(Debug, Clone)]
struct Call {
    authorization: String,
    body: serde_json::Value,
}

#[derive(Debug, Default)]
struct FakeState {
    scripts: HashMap<String, VecDeque<Reply>>,
    calls: HashMap<String, Vec<Call>>,
}

/// Answers `POST /{provider}/v1/chat/completions` from per-provider scripts (then
/// with a success) and records every call.
#[derive(Debug, Clone)]
struct Fakes {
    state: Arc<Mutex<FakeState>>,
    url: String,
}

impl Fakes {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake providers");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(fake_provider)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { state, url }
    }

    fn base_url(&self, provider: &str) -> String {
        format!("{}/{provider}/v1", self.url)
    }

    /// Queues replies for the next calls to `provider`.
    fn push(&self, provider: &str, reply: Reply) {
        let mut state = self.state.lock().unwrap();
        state
            .scripts
            .entry(provider.to_owned())
            .or_default()
            .push_back(reply);
    }

    fn calls(&self, provider: &str) -> Vec<Call> {
        let state = self.state.lock().unwrap();
        state.calls.get(provider).cloned().unwrap_or_default()
    }

    /// Calls received by main, codex and cheap.
    fn counts(&self) -> [usize; 3] {
        PROVIDERS.map(|p| self.calls(p).len())
    }
}

async fn fake_provider(
    State(state): State<Arc<Mutex<FakeState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = |status: u16, body: String| {
        (
            StatusCode::from_u16(status).unwrap(),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    };
    let path = uri.path().trim_start_matches('/');
    let Some((provider, "v1/chat/completions")) = path.split_once('/') else {
        return json(404, r#"{"error":{"message":"no such route"}}"#.into());
    };
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return json(400, r#"{"error":{"message":"unreadable body"}}"#.into());
    };
    if method != Method::POST {
        return json(405, r#"{"error":{"message":"POST only"}}"#.into());
    }
    let reply = {
        let mut state = state.lock().unwrap();
        state
            .calls
            .entry(provider.to_owned())
            .or_default()
            .push(Call {
                authorization: headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                body: request.clone(),
            });
        state
            .scripts
            .get_mut(provider)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Reply::ok_after(Duration::ZERO))
    };
    tokio::time::sleep(reply.delay).await;
    if reply.body.starts_with("data: ") {
        // A scripted event stream, sent as it is.
        return ([(header::CONTENT_TYPE, "text/event-stream")], reply.body).into_response();
    }
    if request["stream"] == true && reply.status == 200 && reply.body.is_empty() {
        let (pieces, drop) = reply.stream.unwrap_or_else(|| {
            (
                vec!["answer ".into(), "from ".into(), provider.into()],
                false,
            )
        });
        return sse(pieces, drop);
    }
    if reply.status == 200 && reply.body.is_empty() {
        let completion = serde_json::json!({
            "id": "x",
            "object": "chat.completion",
            "model": request["model"],
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": format!("answer from {provider}") },
                "finish_reason": "stop",
            }],
            "usage": { "prompt_tokens": 3, "completion_tokens": 2 },
        });
        return json(200, completion.to_string());
    }
    json(reply.status, reply.body)
}

// === the real server ===

/// `$SWITCHYARD_BIN`, else `${CARGO_TARGET_DIR:-<workspace>/target}/debug/switchyard`
/// (a relative `CARGO_TARGET_DIR` is taken from the workspace root).
fn switchyard_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SWITCHYARD_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "SWITCHYARD_BIN={} is not a file: build the server with `cargo build -p switchyard`",
            bin.display()
        );
        return bin;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let bin = target
        .join("debug")
        .join(format!("switchyard{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "switchyard binary not found at {} (SWITCHYARD_BIN is not set): build it with \
         `cargo build -p switchyard` (with the same CARGO_TARGET_DIR), or set SWITCHYARD_BIN",
        bin.display()
    );
    bin
}

/// A running `switchyard serve`, stopped with SIGTERM on drop; its stderr goes to a
/// file in its temporary directory, printed when the test fails.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The server for `fakes`, with one credential per provider, `<provider>-k1`
    /// whose secret is `secret-of-<provider>-k1`; `extra` is appended to the config.
    fn start(fakes: &Fakes, extra: &str) -> Self {
        let bin = switchyard_bin();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("switchyard.yaml");
        let yaml = format!(
            r#"listen: 127.0.0.1:0
database: {{ path: "{db}" }}
providers:
  main:  {{ kind: openai, base_url: "{main}", timeout: 5s }}
  codex: {{ kind: openai, base_url: "{codex}", timeout: 5s }}
  cheap: {{ kind: openai, base_url: "{cheap}", timeout: 5s }}
model: {{ provider: main, model: main-model, timeout: 20s }}
auxiliary:
  compression:
    provider: codex
    model: codex-mini
    fallback_chain: [ {{ provider: cheap, model: cheap-model }} ]
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
{extra}
"#,
            db = dir.path().join("switchyard.db").display(),
            main = fakes.base_url("main"),
            codex = fakes.base_url("codex"),
            cheap = fakes.base_url("cheap"),
        );
        std::fs::write(&config, yaml).unwrap();

        for provider in PROVIDERS {
            let id = format!("{provider}-k1");
            let out = Command::new(&bin)
                .arg("--config")
                .arg(&config)
                .args(["credentials", "add", "--provider", provider, "--id", &id])
                .args(["--api-key-env", "SWITCHYARD_TEST_API_KEY"])
                .env("SWITCHYARD_TEST_API_KEY", format!("secret-of-{id}"))
                .output()
                .expect("run switchyard credentials add");
            assert!(
                out.status.success(),
                "credentials add {id}: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let log = dir.path().join("stderr.log");
        let mut child = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));

        // The first stdout line names the address; the rest is drained.
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut server = Self {
            child,
            addr: String::new(),
            log,
            _dir: dir,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("switchyard printed no line within 15 s");
        server.addr = line
            .trim()
            .strip_prefix("switchyard listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first stdout line {line:?}; stderr:\n{}",
                    server.logs()
                )
            })
            .to_owned();
        server
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let stop_by = Instant::now() + Duration::from_secs(10);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < stop_by => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        if std::thread::panicking() {
            eprintln!("switchyard exit: {status:?}; stderr:\n{}", self.logs());
        }
    }
}

/// Fakes, a server and a client; dropped in that order reversed (client, server,
/// then the fakes), so the server stops before its providers.
struct Harness {
    client: Client,
    server: Server,
    fakes: Fakes,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with("").await
    }

    async fn start_with(extra_config: &str) -> Self {
        let fakes = Fakes::start().await;
        let server = Server::start(&fakes, extra_config);
        let client = Client::connect(server.addr.clone())
            .await
            .expect("connect to switchyard")
            .with_timeout(Duration::from_secs(15));
        Self {
            client,
            server,
            fakes,
        }
    }
}

// === assertions ===

fn user(text: &str) -> Vec<Message> {
    vec![Message::user(text)]
}

fn name(s: &str, prefix: &str) -> String {
    s.trim_start_matches(prefix).to_ascii_lowercase()
}

/// Each step as `provider/model [credential] class -> action`.
fn shape(attempts: &[pb::Attempt]) -> Vec<String> {
    attempts
        .iter()
        .map(|a| {
            let target = if a.provider.is_empty() {
                "-".to_owned()
            } else {
                format!("{}/{}", a.provider, a.model)
            };
            format!(
                "{target} [{}] {} -> {}",
                a.credential_id,
                name(a.error_class().as_str_name(), "ERROR_CLASS_"),
                name(a.action().as_str_name(), "ACTION_")
            )
        })
        .collect()
}

/// Everything of each step but its duration: what a simulation shares with the
/// real call.
fn without_durations(attempts: &[pb::Attempt]) -> Vec<pb::Attempt> {
    attempts
        .iter()
        .map(|a| pb::Attempt {
            duration_ms: 0,
            ..a.clone()
        })
        .collect()
}

#[track_caller]
fn assert_shape(what: &str, attempts: &[pb::Attempt], want: &[&str]) {
    assert_eq!(
        shape(attempts),
        want,
        "{what} trail:\n{}",
        trail::format(attempts)
    );
}

fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn fields(e: &Error) -> Vec<&str> {
    e.field_violations()
        .iter()
        .map(|v| v.field.as_str())
        .collect()
}

// === tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_is_served_by_the_main_model() {
    let h = Harness::start().await;
    let answer = h
        .client
        .complete(
            [Message::system("be brief"), Message::user("hello")],
            CallOptions::new().max_tokens(16).temperature(0.25),
        )
        .await
        .expect("complete");
    assert_eq!(answer.content, "answer from main");
    let served = answer.served_by.clone().unwrap_or_default();
    assert_eq!(
        (
            served.provider.as_str(),
            served.model.as_str(),
            served.credential_id.as_str()
        ),
        ("main", "main-model", "main-k1")
    );
    let usage = answer.usage.unwrap_or_default();
    assert_eq!((usage.input_tokens, usage.output_tokens), (3, 2));
    assert!(!answer.request_id.is_empty());
    assert_shape(
        "complete",
        &answer.attempts,
        &["main/main-model [main-k1] none -> succeed"],
    );
    assert_eq!(h.fakes.counts(), [1, 0, 0]);

    let call = &h.fakes.calls("main")[0];
    assert_eq!(call.authorization, "Bearer secret-of-main-k1");
    assert_eq!(call.body["model"], "main-model");
    assert_eq!(call.body["max_tokens"], 16);
    assert_eq!(call.body["temperature"], 0.25);
    assert_eq!(call.body["messages"][0]["role"], "system");
    assert_eq!(call.body["messages"][1]["content"], "hello");

    // The model option overrides the model of the first candidate; unset options
    // are not sent.
    let again = h
        .client
        .complete(user("again"), CallOptions::new().model("override-model"))
        .await
        .expect("complete with a model");
    let call = &h.fakes.calls("main")[1];
    assert_eq!(call.body["model"], "override-model");
    assert!(
        call.body.get("max_tokens").is_none_or(|v| v.is_null()),
        "{}",
        call.body
    );
    assert_eq!(again.served_by.unwrap_or_default().model, "override-model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aux_token_invalidated_falls_through_to_the_chain() {
    let h = Harness::start().await;
    h.fakes.push("codex", Reply::error(401, TOKEN_INVALIDATED));

    let answer = h
        .client
        .aux_complete(
            "compression",
            user("Summarise the conversation so far."),
            CallOptions::new(),
        )
        .await
        .expect("aux_complete");
    let printed = trail::format(&answer.attempts);
    println!(
        "aux_complete(compression) -> {:?}\n{printed}",
        answer.content
    );
    assert_eq!(answer.content, "answer from cheap");
    let served = answer.served_by.clone().unwrap_or_default();
    assert_eq!(
        (
            served.provider.as_str(),
            served.model.as_str(),
            served.credential_id.as_str()
        ),
        ("cheap", "cheap-model", "cheap-k1")
    );
    assert_shape(
        "aux_complete",
        &answer.attempts,
        &[
            "codex/codex-mini [codex-k1] auth_terminal -> next_candidate",
            "cheap/cheap-model [cheap-k1] none -> succeed",
        ],
    );
    assert_eq!(answer.attempts[0].http_status, 401);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].starts_with(
            "  #0 codex/codex-mini [codex-k1] auth_terminal 401 -> next_candidate: 401 token_invalidated"
        ),
        "{printed}"
    );
    assert_eq!(
        lines[1],
        "  #1 cheap/cheap-model [cheap-k1] 200 -> succeed: answered"
    );
    assert_eq!(h.fakes.counts(), [0, 1, 1]);
    assert_eq!(
        h.fakes.calls("codex")[0].authorization,
        "Bearer secret-of-codex-k1"
    );
    let cheap = &h.fakes.calls("cheap")[0];
    assert_eq!(cheap.authorization, "Bearer secret-of-cheap-k1");
    assert_eq!(cheap.body["model"], "cheap-model");

    // The codex key is dead now: the next call skips it without contacting codex.
    let again = h
        .client
        .aux_complete("compression", user("And again."), CallOptions::new())
        .await
        .expect("second aux_complete");
    assert_shape(
        "second aux_complete",
        &again.attempts,
        &[
            "codex/codex-mini [] none -> skip_candidate",
            "cheap/cheap-model [cheap-k1] none -> succeed",
        ],
    );
    assert_eq!(h.fakes.counts(), [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aux_stream_falls_through_before_the_first_token_and_reads_cleanly() {
    let h = Harness::start().await;
    h.fakes.push("codex", Reply::error(401, TOKEN_INVALIDATED));
    h.fakes
        .push("cheap", Reply::stream(&["Sum", "mary"], false));

    let mut stream = h
        .client
        .aux_complete_stream("compression", user("Summarise."), CallOptions::new())
        .await
        .expect("aux_complete_stream");
    assert_eq!(stream.served_by().unwrap().provider, "cheap");
    assert_shape(
        "started",
        &stream.started().attempts,
        &[
            "codex/codex-mini [codex-k1] auth_terminal -> next_candidate",
            "cheap/cheap-model [cheap-k1] none -> succeed",
        ],
    );
    let mut text = String::new();
    while let Some(piece) = stream.next_text().await.expect("no interruption") {
        text.push_str(&piece);
    }
    assert_eq!(text, "Summary");
    let finished = stream.finished().expect("a complete answer");
    assert_eq!(finished.finish_reason, "stop");
    assert_eq!(finished.attempts.len(), 2);
    assert_eq!(h.fakes.counts(), [0, 1, 1]);
    assert_eq!(h.fakes.calls("cheap")[0].body["stream"], true);
    let recorded = h
        .client
        .explain_request(stream.request_id())
        .await
        .expect("recorded trail");
    assert_eq!(recorded.steps, finished.attempts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_after_text_is_stream_interrupted_without_failover() {
    let h = Harness::start().await;
    h.fakes.push("main", Reply::stream(&["Hel", "lo"], true));

    let mut stream = h
        .client
        .complete_stream(user("Hi"), CallOptions::new())
        .await
        .expect("complete_stream");
    let mut text = String::new();
    let error = loop {
        match stream.next_text().await {
            Ok(Some(piece)) => text.push_str(&piece),
            Ok(None) => panic!("a cut stream must not finish"),
            Err(e) => break e,
        }
    };
    assert_eq!(text, "Hello");
    let Error::StreamInterrupted(failure) = &error else {
        panic!("expected StreamInterrupted, got {error:?}");
    };
    assert_eq!(failure.code, Code::Aborted);
    assert_eq!(failure.metadata["provider"], "main");
    assert_eq!(failure.request_id.as_deref(), Some(stream.request_id()));
    let last = error.attempts().last().unwrap();
    assert_eq!(last.action(), pb::Action::StopStream);
    assert!(stream.finished().is_none());
    assert_eq!(stream.next_text().await.unwrap(), None);
    assert_eq!(h.fakes.counts(), [1, 0, 0]);
}

/// `CompletionStream` is a `futures::Stream`: `StreamExt` reads the pieces, the one
/// error that ends a cut stream, and nothing after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_is_a_futures_stream() {
    use futures::StreamExt as _;

    let h = Harness::start().await;
    h.fakes.push("main", Reply::stream(&["Hel", "lo"], false));
    let stream = h
        .client
        .complete_stream(user("Hi"), CallOptions::new())
        .await
        .expect("complete_stream");
    let pieces: Vec<String> = stream
        .map(|piece| piece.expect("no interruption"))
        .collect()
        .await;
    assert_eq!(pieces.concat(), "Hello");

    h.fakes.push("main", Reply::stream(&["Hel", "lo"], true));
    let stream = h
        .client
        .complete_stream(user("Hi"), CallOptions::new())
        .await
        .expect("complete_stream");
    let items: Vec<Result<String, Error>> = stream.collect().await;
    let (last, text) = items.split_last().expect("items");
    assert!(matches!(last, Err(Error::StreamInterrupted(_))), "{last:?}");
    let text: String = text.iter().map(|p| p.as_deref().expect("text")).collect();
    assert_eq!(text, "Hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulation_matches_the_real_call_and_the_recorded_trail() {
    let h = Harness::start().await;

    let simulated = h
        .client
        .simulate(
            Simulation::task("compression")
                .with_outcome(SimulatedOutcome::http(401, TOKEN_INVALIDATED))
                .assuming_all_credentials_live(),
        )
        .await
        .expect("simulate");
    println!("simulation:\n{}", trail::format(&simulated.steps));
    assert!(simulated.simulated);
    assert!(simulated.request_id.is_empty());
    assert_eq!(simulated.outcome(), pb::Outcome::Succeeded);
    let candidates: Vec<String> = simulated
        .candidates
        .iter()
        .map(|c| format!("{}/{} {}", c.provider, c.model, c.origin))
        .collect();
    assert_eq!(
        candidates,
        [
            "codex/codex-mini task",
            "cheap/cheap-model task_chain[0]",
            "main/main-model main"
        ]
    );
    assert_shape(
        "simulation",
        &simulated.steps,
        &[
            "codex/codex-mini [codex-k1] auth_terminal -> next_candidate",
            "cheap/cheap-model [cheap-k1] none -> succeed",
        ],
    );
    assert_eq!(
        h.fakes.counts(),
        [0, 0, 0],
        "a simulation contacts no provider"
    );

    // The real call with the same outcomes takes the same steps.
    h.fakes.push("codex", Reply::error(401, TOKEN_INVALIDATED));
    let answer = h
        .client
        .aux_complete("compression", user("compress this"), CallOptions::new())
        .await
        .expect("aux_complete");
    assert_eq!(
        without_durations(&answer.attempts),
        without_durations(&simulated.steps),
        "real:\n{}simulated:\n{}",
        trail::format(&answer.attempts),
        trail::format(&simulated.steps)
    );

    // The recorded trail, by request id, is the response's.
    let recorded = h
        .client
        .explain_request(answer.request_id.clone())
        .await
        .expect("explain_request");
    assert!(!recorded.simulated);
    assert_eq!(recorded.request_id, answer.request_id);
    assert_eq!(recorded.outcome(), pb::Outcome::Succeeded);
    assert_eq!(recorded.caller, Some(pb::Caller::task("compression")));
    assert_eq!(
        recorded.steps,
        answer.attempts,
        "recorded:\n{}response:\n{}",
        trail::format(&recorded.steps),
        trail::format(&answer.attempts)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_candidate_failing_is_all_candidates_failed_with_the_trail() {
    let h = Harness::start().await;
    for provider in PROVIDERS {
        h.fakes.push(provider, Reply::error(400, BAD_REQUEST));
    }

    let err = h
        .client
        .aux_complete("compression", user("compress this"), CallOptions::new())
        .await
        .expect_err("every candidate fails");
    println!("{err}\n{}", trail::format(err.attempts()));
    let Error::AllCandidatesFailed(failure) = &err else {
        panic!("want AllCandidatesFailed, got {err:?}")
    };
    assert!(!err.is_deadline());
    assert_eq!(failure.code, Code::Unavailable);
    assert_eq!(failure.error_reason(), pb::ErrorReason::AllCandidatesFailed);
    let request_id = err.request_id().expect("a request id").to_owned();
    assert_eq!(failure.metadata.get("request_id"), Some(&request_id));
    assert_shape(
        "failed aux_complete",
        err.attempts(),
        &[
            "codex/codex-mini [codex-k1] invalid_request -> next_candidate",
            "cheap/cheap-model [cheap-k1] invalid_request -> next_candidate",
            "main/main-model [main-k1] invalid_request -> next_candidate",
            "- [] none -> give_up",
        ],
    );
    assert_eq!(h.fakes.counts(), [1, 1, 1]);
    let text = err.to_string();
    assert!(text.starts_with("ALL_CANDIDATES_FAILED: "), "{text}");
    assert!(!text.contains("secret-of"), "{text}");

    let recorded = h
        .client
        .explain_request(&request_id)
        .await
        .expect("explain the failed request");
    assert_eq!(recorded.outcome(), pb::Outcome::Failed);
    assert_eq!(
        recorded.error_reason(),
        pb::ErrorReason::AllCandidatesFailed
    );
    assert_eq!(recorded.steps, err.attempts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_arguments_carry_field_violations() {
    let h = Harness::start().await;

    let err = h
        .client
        .aux_complete(
            "compression",
            [Message::new(pb::Role::Unspecified, "no role")],
            CallOptions::new().model("").max_tokens(0).temperature(7.0),
        )
        .await
        .expect_err("invalid request");
    let Error::InvalidArgument {
        field_violations,
        failure,
    } = &err
    else {
        panic!("want InvalidArgument, got {err:?}")
    };
    assert_eq!(failure.code, Code::InvalidArgument);
    assert_eq!(
        fields(&err),
        ["messages.role", "model", "max_tokens", "temperature"]
    );
    assert!(field_violations.iter().all(|v| !v.description.is_empty()));
    assert_eq!(err.request_id(), None, "a refused request has no id");
    assert!(err.attempts().is_empty());

    let err = h
        .client
        .complete(Vec::new(), CallOptions::new())
        .await
        .expect_err("no messages");
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert_eq!(fields(&err), ["messages"]);

    let err = h
        .client
        .aux_complete("astrology", user("hi"), CallOptions::new())
        .await
        .expect_err("unknown task");
    let Error::UnknownTask(failure) = &err else {
        panic!("want UnknownTask, got {err:?}")
    };
    assert_eq!(failure.code, Code::InvalidArgument);
    assert_eq!(
        failure.metadata.get("task").map(String::as_str),
        Some("astrology")
    );

    let err = h
        .client
        .explain_request("nope")
        .await
        .expect_err("malformed request id");
    assert_eq!(fields(&err), ["request_id"], "{err:?}");

    let err = h
        .client
        .explain_request("01900000-0000-7000-8000-000000000000")
        .await
        .expect_err("unknown request id");
    assert!(matches!(err, Error::RequestNotFound(_)), "{err:?}");
    assert_eq!(err.code(), Code::NotFound);

    let err = h
        .client
        .simulate(Simulation::default())
        .await
        .expect_err("simulation without a caller");
    assert_eq!(fields(&err), ["simulation.caller"], "{err:?}");

    assert_eq!(h.fakes.counts(), [0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_need_the_right_bearer_token() {
    let token = "agent-token-of-the-rust-client-tests";
    let h = Harness::start_with(&format!(
        "auth: {{ client_token_sha256: [\"{}\"] }}",
        sha256_hex(token)
    ))
    .await;

    // No token (a client of its own, connected on its first call).
    let anonymous = Client::connect_lazy(h.server.addr.clone()).expect("a valid target");
    let err = anonymous
        .complete(user("hello"), CallOptions::new())
        .await
        .expect_err("a call without a token");
    let Error::Unauthenticated(failure) = &err else {
        panic!("want Unauthenticated, got {err:?}")
    };
    assert_eq!(failure.code, Code::Unauthenticated);
    assert_eq!(failure.reason.as_deref(), Some("UNAUTHENTICATED"));
    let err = h
        .client
        .explain_request("01900000-0000-7000-8000-000000000000")
        .await
        .expect_err("explain without a token");
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");

    // A wrong token, per client and per call.
    let wrong = h.client.clone().with_bearer_token("not-the-token");
    let err = wrong
        .aux_complete("compression", user("hi"), CallOptions::new())
        .await
        .expect_err("a wrong token");
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    let err = h
        .client
        .complete(user("hello"), CallOptions::new().bearer_token("also-wrong"))
        .await
        .expect_err("a wrong token per call");
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    assert_eq!(h.fakes.counts(), [0, 0, 0]);

    // The right token: per client, and per call over a client's wrong one.
    let right = h.client.clone().with_bearer_token(token);
    let answer = right
        .complete(user("hello"), CallOptions::new())
        .await
        .expect("the right token");
    assert_eq!(answer.content, "answer from main");
    right
        .explain_request(&answer.request_id)
        .await
        .expect("explain with the right token");
    wrong
        .complete(user("hello"), CallOptions::new().bearer_token(token))
        .await
        .expect("the right token per call");
    // An empty per-call token sends none.
    let err = right
        .complete(user("hello"), CallOptions::new().bearer_token(""))
        .await
        .expect_err("an empty token per call");
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    assert_eq!(h.fakes.counts(), [2, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_deadline_is_a_deadline_error() {
    let h = Harness::start().await;
    // codex stalls past the caller's deadline; cheap, next in the chain, then has no
    // time left, so the server's own answer is DEADLINE_EXHAUSTED too.
    h.fakes
        .push("codex", Reply::ok_after(Duration::from_secs(3)));

    let start = Instant::now();
    let err = h
        .client
        .aux_complete(
            "compression",
            user("compress this"),
            CallOptions::new().timeout(Duration::from_millis(500)),
        )
        .await
        .expect_err("the deadline expires");
    let elapsed = start.elapsed();
    assert!(err.is_deadline(), "want a deadline error, got {err:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "the call took {elapsed:?} despite a 500 ms deadline"
    );
    match &err {
        // The server answered just before the client's timer, with its trail.
        Error::DeadlineExhausted(failure) => {
            assert_eq!(failure.code, Code::DeadlineExceeded);
            assert!(failure.request_id.is_some());
            assert_eq!(
                err.attempts()[0].provider,
                "codex",
                "{}",
                trail::format(err.attempts())
            );
            println!(
                "server answered after {elapsed:?}: {err}\n{}",
                trail::format(err.attempts())
            );
        }
        // The client's deadline fired first: no request id, no trail.
        Error::Deadline(failure) => {
            assert!(failure.request_id.is_none() && failure.attempts.is_empty());
            println!("client deadline fired after {elapsed:?}: {err}");
        }
        other => panic!("{other:?}"),
    }
    // No attempt started without the budget to finish it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.fakes.counts(), [0, 1, 0]);

    // A deadline already passed fails without a call.
    let err = h
        .client
        .complete(user("hello"), CallOptions::new().deadline(Instant::now()))
        .await
        .expect_err("a passed deadline");
    assert!(matches!(err, Error::Deadline(_)), "{err:?}");
    assert_eq!(h.fakes.counts(), [0, 1, 0]);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error() {
    // A port nothing listens on: bind, read it, close.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Client::connect(addr.to_string())
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");

    let lazy = Client::connect_lazy(format!("http://{addr}")).expect("a valid target");
    let err = lazy
        .complete(
            user("hello"),
            CallOptions::new().timeout(Duration::from_secs(5)),
        )
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.reason(), None);
}

#[tokio::test]
async fn a_silent_server_hits_the_client_deadline() {
    // Accepts connections and never answers: only the client's own timer can end
    // the call.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });

    let client = Client::connect_lazy(addr.to_string()).expect("a valid target");
    let start = Instant::now();
    let err = client
        .complete(
            user("hello"),
            CallOptions::new().timeout(Duration::from_millis(300)),
        )
        .await
        .expect_err("no answer");
    let elapsed = start.elapsed();
    let Error::Deadline(failure) = &err else {
        panic!("want Deadline, got {err:?}")
    };
    assert_eq!(failure.code, Code::DeadlineExceeded);
    assert!(failure.request_id.is_none() && failure.attempts.is_empty());
    assert!(err.is_deadline());
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    silent.abort();
}
