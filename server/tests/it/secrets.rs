//! Secrets echoed by providers, and secrets that cannot be sent.
//!
//! A provider that echoes the presented key in its errors (whole answers, error
//! events before and after the first token, OpenAI and Anthropic shapes, the key
//! as it is, percent-encoded, base64, base64url, inside a `Basic` value,
//! JSON-escaped) and a token endpoint that echoes the refresh token: no piece of
//! any secret reaches the SQLite file and its WAL, the trace-level logs, a gRPC
//! answer (message, details, `FailureDetail`), an HTTP answer of the
//! OpenAI-compatible door, `ExplainFallback` or the metrics scrape.
//!
//! Keys with a line break are refused by `PutCredential` and the CLI; one stored
//! before the check fails as a classified attempt and the next key serves.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use secrecy::SecretString;
use switchyard::config::Config;
use switchyard::crypto::{MasterKey, default_key_file, token_hash};
use switchyard::fake::{FakeProvider, FakeReply, FakeTokenEndpoint, StreamEnd};
use switchyard::store::{NewApiKey, Store};
use switchyard_client::pb;
use switchyard_client::pb::credential_service_client::CredentialServiceClient;
use tonic::Code;

use crate::support::*;

/// Keys of every shape the pattern heuristic misses or may miss.
const SECRETS: [(&str, &str); 5] = [
    ("uuid", "3f2b8c1e-4d5a-4b6c-9e7f-0a1b2c3d4e5f"),
    ("dashed", "ab12-cd34-ef56-gh78"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzd2l0Y2h5YXJkLWFnZW50In0.c2lnbmF0dXJlLW9mLXRoZS10ZXN0",
    ),
    ("opaque", "ya29.a0AfB_byC7xQ-Lm2Np3Rs4Tu5Vw6"),
    ("slashes", "1//0gSpecial+key=with/slashes~x"),
];

/// How a provider echoes the key: every placeholder of `fake::echo_credential`,
/// in the OpenAI and Anthropic error shapes, in the message and in the code.
const SHAPES: [(&str, &str); 8] = [
    (
        "message",
        r#"{"error":{"message":"Incorrect API key provided: {credential}.","type":"authentication_error","code":"invalid_api_key"}}"#,
    ),
    (
        "anthropic",
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key {credential}"}}"#,
    ),
    (
        "code",
        r#"{"error":{"type":"authentication_error","code":"{credential}","message":"refused"}}"#,
    ),
    (
        "url",
        r#"{"error":{"type":"authentication_error","message":"GET /v1/models?key={credential_url} refused"}}"#,
    ),
    (
        "b64",
        r#"{"error":{"type":"authentication_error","message":"token {credential_b64} refused"}}"#,
    ),
    (
        "b64url",
        r#"{"error":{"type":"authentication_error","message":"token {credential_b64url} refused"}}"#,
    ),
    (
        "basic",
        r#"{"error":{"type":"authentication_error","message":"Authorization: Basic {credential_basic}"}}"#,
    ),
    (
        "json",
        r#"{"error":{"type":"authentication_error","message":"request headers: {\"x-api-key\":\"{credential_json}\"}"}}"#,
    ),
];

const REFRESH_TOKEN: &str = "1//0gRefresh-token-of-the-echo-test";
const CLIENT_SECRET: &str = "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st";
const ADMIN_TOKEN: &str = "sy_admin-token-for-secret-tests-5d1c";

/// The forms in which a secret could leak.
fn forms(secret: &str) -> Vec<String> {
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let json = serde_json::to_string(secret).unwrap();
    let json = json[1..json.len() - 1].replace('/', "\\/");
    let basic = STANDARD.encode(format!("client:{secret}"));
    vec![
        secret.to_owned(),
        percent,
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        basic[12..basic.len() - 4].to_owned(),
        json,
    ]
}

/// Finds any 12-character piece of any form of any secret.
struct LeakFinder {
    needles: Vec<String>,
    automaton: AhoCorasick,
}

impl LeakFinder {
    fn new(secrets: &[&str]) -> Self {
        let mut needles: Vec<String> = Vec::new();
        for secret in secrets {
            for form in forms(secret) {
                let chars: Vec<char> = form.chars().collect();
                for piece in chars.windows(12) {
                    needles.push(piece.iter().collect());
                }
            }
        }
        needles.sort();
        needles.dedup();
        let automaton = AhoCorasick::new(&needles).unwrap();
        Self { needles, automaton }
    }

    fn assert_clean(&self, what: &str, haystack: &[u8]) {
        if let Some(m) = self.automaton.find(haystack) {
            let from = m.start().saturating_sub(120);
            let to = (m.end() + 120).min(haystack.len());
            panic!(
                "{:?} (a piece of a secret) is in {what}: ...{}...",
                self.needles[m.pattern().as_usize()],
                String::from_utf8_lossy(&haystack[from..to])
            );
        }
    }
}

async fn open_store(db: &Path) -> Store {
    let (key, _) = MasterKey::load(None, &default_key_file(db)).unwrap();
    Store::open(db, key).await.unwrap()
}

/// Stores `keys` (id, provider, secret) as API keys, in priority order.
async fn seed(db: &Path, keys: &[(String, String, String)]) {
    let store = open_store(db).await;
    for (i, (id, provider, secret)) in keys.iter().enumerate() {
        let key = NewApiKey {
            id: id.clone(),
            provider: provider.clone(),
            label: String::new(),
            priority: i as i64,
            secret: SecretString::from(secret.clone()),
        };
        store.add_api_key(&key, 1).await.unwrap();
    }
    store.close().await;
}

/// The steps of a trail that contacted a provider.
fn attempts(detail: &pb::FailureDetail) -> Vec<&pb::Attempt> {
    contacted(&detail.attempts).collect()
}

/// gRPC failure as text: message, `ErrorInfo`, `FailureDetail` and the raw
/// details bytes; and the request id.
fn failure_text(status: &tonic::Status) -> (String, String, pb::FailureDetail) {
    let (info, detail) = failure_details(status);
    let id = info.metadata["request_id"].clone();
    (
        format!(
            "{} {:?} {info:?} {detail:?} {}",
            status.message(),
            status.code(),
            String::from_utf8_lossy(status.details())
        ),
        id,
        detail,
    )
}

/// Reads an `AuxCompleteStream` to its end: every event, and how it ended.
async fn aux_stream(
    client: &mut switchyard_client::SwitchyardServiceClient<tonic::transport::Channel>,
    task: &str,
) -> (String, Option<String>, Result<(), tonic::Status>) {
    use pb::aux_complete_stream_response::Event as E;
    let mut stream = client
        .aux_complete_stream(pb::AuxCompleteStreamRequest {
            task: task.into(),
            messages: vec![user("compress this")],
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner());
    let mut text = String::new();
    let mut id = None;
    let stream = match &mut stream {
        Ok(s) => s,
        Err(status) => return (String::new(), None, Err(status.clone())),
    };
    let end = loop {
        match stream.message().await {
            Ok(Some(m)) => {
                if let Some(E::Started(s)) = &m.event {
                    id = Some(s.request_id.clone());
                }
                text += &format!("{m:?}\n");
            }
            Ok(None) => break Ok(()),
            Err(status) => break Err(status),
        }
    };
    (text, id, end)
}

#[tokio::test]
async fn echoed_secrets_reach_no_file_log_answer_explanation_or_metric() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    let mut fakes: BTreeMap<String, (&str, FakeProvider)> = BTreeMap::new();
    let mut keys: Vec<(String, String, String)> = Vec::new();
    let mut tasks = String::new();
    let echo_401 = |t: &str| FakeReply::echo(401, t);
    let stream_error = |t: &str| FakeReply::stream(&[]).ending(StreamEnd::Error(t.to_owned()));
    let mid_error = |t: &str| {
        FakeReply::stream(&["partial ", "answer "]).ending(StreamEnd::Error(t.to_owned()))
    };

    // One task per secret and delivery: its Anthropic provider, then its OpenAI
    // one, each with one key per shape, each key echoed in its shape. (One
    // request per task keeps each trail, and so each gRPC error, small.)
    for (lane, reply) in [
        ("whole", &echo_401 as &dyn Fn(&str) -> FakeReply),
        ("stream", &stream_error),
    ] {
        for (name, secret) in SECRETS {
            let mut pair = Vec::new();
            for kind in ["anthropic", "openai"] {
                let provider = format!("{lane}-{name}-{kind}");
                let fake = FakeProvider::start(&provider, FakeReply::ok("x"))
                    .await
                    .unwrap();
                for (shape, template) in SHAPES {
                    keys.push((
                        format!("{provider}-{shape}"),
                        provider.clone(),
                        secret.into(),
                    ));
                    fake.push([reply(template)]);
                }
                fakes.insert(provider.clone(), (kind, fake));
                pair.push(provider);
            }
            tasks += &task(&format!("{lane}_{name}"), &pair[0], &pair[1]);
        }
    }
    // Mid-stream: one key per secret, used in turn (round robin), each stream
    // broken after text by an error event echoing the key. Six turns on OpenAI:
    // the last one through the HTTP door.
    for (kind, turns) in [("anthropic", SECRETS.len()), ("openai", SECRETS.len() + 1)] {
        let provider = format!("mid-{kind}");
        let fake = FakeProvider::start(&provider, FakeReply::ok("x"))
            .await
            .unwrap();
        for (name, secret) in SECRETS {
            keys.push((
                format!("{provider}-{name}"),
                provider.clone(),
                secret.into(),
            ));
        }
        for turn in 0..turns {
            fake.push([mid_error(SHAPES[turn % SHAPES.len()].1)]);
        }
        fakes.insert(provider.clone(), (kind, fake));
        tasks += &task(&format!("mid_{kind}"), &provider, "");
    }
    // The HTTP door: every secret, as it is, from both kinds.
    let mut pair = Vec::new();
    for kind in ["anthropic", "openai"] {
        let provider = format!("door-{kind}");
        let fake = FakeProvider::start(&provider, FakeReply::ok("x"))
            .await
            .unwrap();
        for (name, secret) in SECRETS {
            keys.push((
                format!("{provider}-{name}"),
                provider.clone(),
                secret.into(),
            ));
            fake.push([FakeReply::echo_key(401)]);
        }
        fakes.insert(provider.clone(), (kind, fake));
        pair.push(provider);
    }
    tasks += &task("door", &pair[0], &pair[1]);
    // OAuth: the provider echoes the access token; the token endpoint refuses the
    // refresh, echoing the refresh token as its error code.
    let endpoint = FakeTokenEndpoint::start("echo").await.unwrap();
    let refusal = format!(r#"{{"error":"{REFRESH_TOKEN}","error_description":"bad grant"}}"#);
    endpoint.set_failure(Some((401, &refusal)));
    let oauth = FakeProvider::start("oauth", FakeReply::ok("x"))
        .await
        .unwrap();
    oauth.push([FakeReply::echo_key(401)]);
    fakes.insert("oauth".into(), ("openai", oauth));
    tasks += &task("oauth", "oauth", "");
    let ok = FakeProvider::start("ok", FakeReply::ok("x")).await.unwrap();
    fakes.insert("ok".into(), ("openai", ok));

    seed(&db, &keys).await;
    seed_oauth(
        &db,
        "oauth",
        &endpoint,
        SECRETS[3].1,
        REFRESH_TOKEN,
        CLIENT_SECRET,
    )
    .await;
    let providers: String = fakes
        .iter()
        .map(|(name, (kind, fake))| {
            let url = match *kind {
                "anthropic" => fake.anthropic_base_url(),
                _ => fake.openai_base_url(),
            };
            let strategy = if name.starts_with("mid-") {
                ", pool_strategy: round_robin"
            } else {
                ""
            };
            format!("  {name}: {{ kind: {kind}, base_url: \"{url}\"{strategy} }}\n")
        })
        .collect();
    let metrics_port = free_port();
    let yaml = format!(
        r#"listen: 127.0.0.1:0
openai_listen: 127.0.0.1:0
database: {{ path: "{db}" }}
telemetry: {{ metrics_listen: "127.0.0.1:{metrics_port}" }}
auth: {{ admin_token_sha256: ["{admin}"] }}
providers:
{providers}model: {{ provider: ok, model: ok-model }}
auxiliary:
{tasks}policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
"#,
        db = db.display(),
        admin = token_hash(ADMIN_TOKEN),
    );
    let config = dir.path().join("switchyard.yaml");
    std::fs::write(&config, yaml).unwrap();

    let server = Server::start(&config, &[("RUST_LOG", "trace")]);
    let mut client = server.client().await;
    let mut answers = String::new();
    let mut ids = Vec::new();

    for (name, _) in SECRETS {
        // Whole answers: every shape, Anthropic then OpenAI.
        let status = client
            .aux_complete(pb::AuxCompleteRequest {
                task: format!("whole_{name}"),
                messages: vec![user("compress this")],
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let (text, id, detail) = failure_text(&status);
        let tried = attempts(&detail);
        assert_eq!(tried.len(), 2 * SHAPES.len(), "{text}");
        for a in tried {
            assert_eq!(
                (a.error_class(), a.http_status),
                (pb::ErrorClass::Auth, 401),
                "{a:?}"
            );
            assert!(a.reason.contains("[redacted]"), "{a:?}");
        }
        answers += &text;
        ids.push(id);

        // Error events before the first token: every shape, both kinds, failed over.
        let (text, _, end) = aux_stream(&mut client, &format!("stream_{name}")).await;
        let status = end.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let (failure, id, detail) = failure_text(&status);
        let tried = attempts(&detail);
        assert_eq!(tried.len(), 2 * SHAPES.len(), "{failure}");
        for a in tried {
            assert_eq!(a.error_class(), pb::ErrorClass::Auth, "{a:?}");
            assert!(a.reason.contains("[redacted]"), "{a:?}");
        }
        answers += &text;
        answers += &failure;
        ids.push(id);

        // Error events after text: STREAM_INTERRUPTED, both kinds.
        for task in ["mid_anthropic", "mid_openai"] {
            let (text, id, end) = aux_stream(&mut client, task).await;
            let status = end.unwrap_err();
            assert_eq!(status.code(), Code::Aborted, "{status:?}");
            let (failure, _, detail) = failure_text(&status);
            let last = detail.attempts.last().unwrap();
            assert_eq!(last.action(), pb::Action::StopStream);
            assert!(last.reason.contains("[redacted]"), "{last:?}");
            answers += &text;
            answers += &failure;
            ids.push(id.unwrap());
        }
    }

    // The OpenAI-compatible door: whole, OAuth, streamed after text.
    let base = server.openai.clone().unwrap();
    let http = reqwest::Client::new();
    for (model, stream) in [
        ("switchyard/aux/door", false),
        ("switchyard/aux/oauth", false),
        ("switchyard/aux/mid_openai", true),
    ] {
        let response = http
            .post(format!("{base}/chat/completions"))
            .json(&serde_json::json!({
                "model": model,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": stream,
            }))
            .send()
            .await
            .unwrap();
        let headers = format!("{:?}", response.headers());
        let id = response.headers()["x-switchyard-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let code = response.status();
        let body = response.text().await.unwrap();
        assert!(body.contains("[redacted]"), "{model}: {code} {body}");
        answers += &format!("{code} {headers} {body}\n");
        ids.push(id);
    }
    // The token endpoint's refusal, echoing the refresh token, was scrubbed too.
    assert_eq!(endpoint.call_count(), 1);
    assert!(
        answers.contains("refresh refused (token endpoint answered 401 [redacted])"),
        "{answers}"
    );

    // The admin API's view of the credentials (dead reasons, last errors).
    let mut admin = CredentialServiceClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let list = admin_request(pb::ListCredentialsRequest::default());
    answers += &format!("{:?}", admin.list_credentials(list).await.unwrap());

    for id in &ids {
        let explained = client
            .explain_fallback(pb::ExplainFallbackRequest {
                query: Some(pb::explain_fallback_request::Query::RequestId(id.clone())),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!explained.steps.is_empty());
        answers += &format!("{explained:?}\n");
    }
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("switchyard_attempts_total"), "{metrics}");

    // Every key was presented once and echoed as scripted.
    for (name, (_, fake)) in &fakes {
        let expected = match name.as_str() {
            "ok" => 0,
            "oauth" => 1,
            "mid-openai" => SECRETS.len() + 1,
            n if n.starts_with("mid-") || n.starts_with("door-") => SECRETS.len(),
            _ => SHAPES.len(),
        };
        assert_eq!(fake.call_count(), expected, "{name}");
    }
    let presented: Vec<String> = fakes["mid-openai"]
        .1
        .calls()
        .into_iter()
        .map(|c| c.credential)
        .collect();
    let expected: Vec<&str> = SECRETS.iter().cycle().take(6).map(|(_, s)| *s).collect();
    assert_eq!(presented, expected);

    server.sigterm();
    let (exit, logs) = server.wait(Duration::from_secs(20)).await;
    assert!(exit.success());
    assert!(logs.contains("TRACE"), "trace logs were captured");

    let mut file = std::fs::read(&db).unwrap();
    for ext in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(ext);
        file.extend(std::fs::read(Path::new(&name)).unwrap_or_default());
    }
    let mut all: Vec<&str> = SECRETS.iter().map(|(_, s)| *s).collect();
    all.extend([REFRESH_TOKEN, CLIENT_SECRET]);
    let finder = LeakFinder::new(&all);
    finder.assert_clean("an answer or explanation", answers.as_bytes());
    finder.assert_clean("the metrics scrape", metrics.as_bytes());
    finder.assert_clean("the logs", logs.as_bytes());
    finder.assert_clean("the SQLite file or its WAL", &file);
}

/// An auxiliary task over `first`, then `then` (if any), with no last resort.
fn task(name: &str, first: &str, then: &str) -> String {
    let chain = if then.is_empty() {
        String::new()
    } else {
        format!("{{ provider: {then}, model: m }}")
    };
    format!(
        "  {name}: {{ provider: {first}, model: m, fallback_chain: [{chain}], last_resort: false }}\n"
    )
}

async fn spawn_with_admin(fakes: &Fakes, db: &Path) -> TestApp {
    let auth = format!(
        "auth:\n  admin_token_sha256: [\"{}\"]\n",
        token_hash(ADMIN_TOKEN)
    );
    let yaml = standard_yaml(fakes, db, &auth);
    TestApp::spawn(Config::from_yaml(&yaml, "<test>", []).unwrap()).await
}

fn admin_request<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    r
}

/// The `BadRequest` field violations of a status.
fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

#[tokio::test]
async fn put_credential_refuses_secrets_with_line_breaks_whitespace_or_non_ascii() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let app = spawn_with_admin(&fakes, &db).await;
    let mut admin = CredentialServiceClient::new(app.channel.clone());
    let api_key = |key: &str| pb::PutCredentialRequest {
        id: "bad-1".into(),
        provider: "main".into(),
        material: Some(pb::put_credential_request::Material::ApiKey(pb::ApiKey {
            key: key.into(),
        })),
        ..Default::default()
    };
    for (key, why) in [
        ("sk-good-part\r\nX-Injected: 1", "line break"),
        ("sk-good-part\n", "line break"),
        ("sk-good part", "whitespace"),
        ("sk-clé-européenne", "ASCII"),
        ("short", "at least 8"),
        ("", "empty"),
    ] {
        let status = admin
            .put_credential(admin_request(api_key(key)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{key:?}");
        let v = violations(&status);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].0, "api_key.key");
        assert!(v[0].1.contains(why), "{key:?}: {v:?}");
        if key.len() >= 8 {
            assert!(!format!("{status:?}").contains(&key[..8]), "{status:?}");
        }
    }
    let status = admin
        .put_credential(admin_request(pb::PutCredentialRequest {
            id: "bad-2".into(),
            provider: "main".into(),
            material: Some(pb::put_credential_request::Material::Oauth(
                pb::OAuthTokens {
                    access_token: "access-token\r\n".into(),
                    refresh_token: "refresh\ttoken-1".into(),
                    token_url: "https://auth.example.com/token".into(),
                    client_id: "c".into(),
                    client_secret: "secret with space".into(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "oauth.access_token",
            "oauth.refresh_token",
            "oauth.client_secret"
        ]
    );
    // Nothing was stored.
    app.stop().await;
    let store = open_store(&db).await;
    let ids: Vec<String> = store
        .credentials()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert!(!ids.iter().any(|id| id.starts_with("bad-")), "{ids:?}");
    store.close().await;
}

#[tokio::test]
async fn the_cli_refuses_secrets_with_line_breaks_and_stores_nothing() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "").await;
    let cli = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.arg("--config")
            .arg(&config)
            .arg("credentials")
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let add = [
        "add",
        "--provider",
        "main",
        "--id",
        "bad-cli",
        "--api-key-env",
        "K",
    ];
    let out = cli(&add, &[("K", "sk-good-part\r\nX-Injected: 1")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line break"), "{stderr}");
    assert!(!stderr.contains("sk-good-part"), "{stderr}");

    let oauth = [
        "add-oauth",
        "--provider",
        "main",
        "--id",
        "bad-oauth",
        "--access-token-env",
        "AT",
        "--refresh-token-env",
        "RT",
        "--token-url",
        "https://auth.example.com/token",
        "--client-id",
        "c",
    ];
    let out = cli(
        &oauth,
        &[("AT", "access-token-ok"), ("RT", "refresh\r\ntoken-x")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("RT") && stderr.contains("line break"),
        "{stderr}"
    );

    // A good key still goes in, and only it is listed.
    assert!(cli(&add, &[("K", "sk-good-key-0123")]).status.success());
    let list = String::from_utf8_lossy(&cli(&["list"], &[]).stdout).into_owned();
    assert!(list.contains("bad-cli"), "{list}");
    assert!(!list.contains("bad-oauth"), "{list}");
}

#[tokio::test]
async fn a_stored_key_with_a_line_break_fails_classified_and_the_next_key_serves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    // Stored before secrets were checked on input: straight through the store.
    let store = open_store(&db).await;
    store.remove_credential("main-k1").await.unwrap();
    store.remove_credential("aux-k1").await.unwrap();
    for (i, (id, provider, secret)) in [
        ("main-crlf", "main", "sk-main-broken\r\nkey"),
        ("main-good", "main", "sk-main-good-key"),
        ("aux-crlf", "aux", "sk-aux-broken\nkey"),
        ("aux-good", "aux", "sk-aux-good-key"),
    ]
    .into_iter()
    .enumerate()
    {
        let key = NewApiKey {
            id: id.into(),
            provider: provider.into(),
            label: String::new(),
            priority: i as i64,
            secret: SecretString::from(secret.to_owned()),
        };
        store.add_api_key(&key, 1).await.unwrap();
    }
    store.close().await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;

    let started = std::time::Instant::now();
    let answer = app.primary().await.unwrap();
    assert_eq!(answer.content, "answer from main");
    assert_eq!(
        shape(&answer.attempts),
        [
            s("main", "main-crlf", pb::Action::RotateCredential),
            s("main", "main-good", pb::Action::Succeed),
        ]
    );
    let first = &answer.attempts[0];
    assert_eq!(
        (first.error_class(), first.http_status),
        (pb::ErrorClass::AuthTerminal, 0)
    );
    assert!(
        first.reason.contains("not a valid HTTP header value"),
        "{first:?}"
    );
    // Not a transport failure retried with backoff: nothing was sent.
    let presented: Vec<String> = fakes
        .main
        .calls()
        .into_iter()
        .map(|c| c.credential)
        .collect();
    assert_eq!(presented, ["sk-main-good-key"]);
    assert!(started.elapsed() < Duration::from_secs(5));

    // The broken key is dead: the next call does not try it.
    let answer = app.primary().await.unwrap();
    assert_eq!(
        shape(&answer.attempts),
        [s("main", "main-good", pb::Action::Succeed)]
    );
    assert_eq!(fakes.main.call_count(), 2);

    // The same on a streamed call (OpenAI kind), before the first token.
    let (events, _, end) = aux_stream(&mut app.client, "compression").await;
    end.unwrap();
    assert!(
        events.contains("aux-crlf") && events.contains("AuthTerminal"),
        "{events}"
    );
    assert!(events.contains("Finished"), "{events}");
    let presented: Vec<String> = fakes
        .aux
        .calls()
        .into_iter()
        .map(|c| c.credential)
        .collect();
    assert_eq!(presented, ["sk-aux-good-key"]);
    app.stop().await;
}

#[tokio::test]
async fn a_provider_echoing_another_secret_of_its_pool_has_it_scrubbed_too() {
    use switchyard::domain::{Material, OAuthTokens};
    const ACCESS: &str = "7c1d2e3f-aaaa-4bbb-8ccc-0d1e2f3a4b5c";
    const REFRESH: &str = "rt12-ab34-cd56-ef78";
    const SECRET: &str = "cs12-ab34-cd56-ef78";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    // `aux` holds its static key first, then an OAuth token set.
    let store = open_store(&db).await;
    let oauth = switchyard::store::NewCredential {
        id: "aux-oauth".into(),
        provider: "aux".into(),
        label: String::new(),
        priority: 10,
        material: Material::OAuth(OAuthTokens {
            access_token: SecretString::from(ACCESS.to_owned()),
            refresh_token: SecretString::from(REFRESH.to_owned()),
            expires_at: None,
            token_url: "http://127.0.0.1:9/token".into(),
            client_id: "c".into(),
            client_secret: Some(SecretString::from(SECRET.to_owned())),
            scope: None,
        }),
    };
    store.put_credential(&oauth, false, 1).await.unwrap();
    store.close().await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    // Refusing the static key, the provider names the pool's other secrets.
    let body = format!(
        r#"{{"error":{{"message":"key refused; this account also uses {ACCESS}, {REFRESH} and {SECRET}","type":"authentication_error"}}}}"#
    );
    fakes.aux.push([FakeReply::error(401, &body)]);

    let answer = app.aux("compression").await.unwrap();
    assert_eq!(
        shape(&answer.attempts),
        [
            s("aux", "aux-k1", pb::Action::RotateCredential),
            s("aux", "aux-oauth", pb::Action::Succeed),
        ]
    );
    let reason = &answer.attempts[0].reason;
    assert!(
        reason.contains("also uses [redacted], [redacted] and [redacted]"),
        "{reason}"
    );
    let explained = app.explain_id(&answer.request_id).await;
    let text = format!("{answer:?} {explained:?}");
    LeakFinder::new(&[ACCESS, REFRESH, SECRET]).assert_clean("the answer", text.as_bytes());
    app.stop().await;
}

#[tokio::test]
async fn a_token_endpoint_issuing_an_unsendable_token_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("bad").await.unwrap();
    seed_oauth(
        &db,
        "main",
        &endpoint,
        "bad-access-stale",
        "bad-refresh-0",
        "client-secret-x",
    )
    .await;
    endpoint.set_failure(Some((
        200,
        r#"{"access_token":"new-access\r\nX-Injected: 1","refresh_token":"new-refresh-1","expires_in":3600}"#,
    )));
    let fakes = Fakes::start().await;
    fakes.main.push([FakeReply::error(
        401,
        r#"{"error":{"message":"expired","type":"authentication_error"}}"#,
    )]);
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;

    let answer = app.primary().await.unwrap();
    assert_eq!(answer.content, "answer from main-fb");
    let refresh = &answer.attempts[1];
    assert_eq!(refresh.error_class(), pb::ErrorClass::Auth);
    assert!(
        refresh
            .reason
            .contains("token endpoint issued a token that must not contain a line break"),
        "{refresh:?}"
    );
    // The endpoint may have spent the old refresh token when it answered, so the
    // outcome counts as unknown and the grant is asked once more (refresh journal).
    assert_eq!(endpoint.call_count(), 2);
    app.stop().await;

    // The stored pair is still the old one: the bad token was never stored.
    let store = open_store(&db).await;
    let stored = store.credential("main-oauth").await.unwrap().unwrap();
    let switchyard::domain::Material::OAuth(t) = stored.material else {
        panic!("an OAuth credential");
    };
    use secrecy::ExposeSecret as _;
    assert_eq!(t.access_token.expose_secret(), "bad-access-stale");
    assert_eq!(t.refresh_token.expose_secret(), "bad-refresh-0");
    store.close().await;
}
