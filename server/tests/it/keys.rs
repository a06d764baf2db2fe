//! Keys declared in the config (`api_key_env`, `api_key_file`, `keys`, `auth:
//! none`), against the real binary: read at start with no other step, synced into
//! the store, and what is missing said by `serve` and `check-config`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard::fake::{FakeProvider, FakeReply};
use switchyard_client::SwitchyardServiceClient;
use switchyard_client::pb;

use crate::support::user;

/// The variable the declared configs name. The tests pass or remove it per child
/// with `Command::env`/`env_remove`; the test process environment is never changed.
const VAR: &str = "OPENAI_API_KEY";
const KEY: &str = "sk-declared-key-0001";

/// A config whose only provider, `openai`, is `fake`, with `provider_extra` in
/// its entry (e.g. `api_key_env: OPENAI_API_KEY`).
fn write_config(dir: &Path, fake: &FakeProvider, provider_extra: &str) -> PathBuf {
    let db = dir.join("switchyard.db");
    let yaml = format!(
        r#"listen: 127.0.0.1:0
database: {{ path: "{db}" }}
providers:
  openai: {{ kind: openai, base_url: "{url}"{provider_extra} }}
model: {{ provider: openai, model: gpt-test }}
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
"#,
        db = db.display(),
        url = fake.openai_base_url(),
    );
    let path = dir.join("switchyard.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn switchyard(config: &Path, key: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("--config")
        .arg(config)
        .arg("--log-format")
        .arg("json")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("SWITCHYARD_MASTER_KEY")
        .env("RUST_LOG", "info");
    match key {
        Some(k) => cmd.env(VAR, k),
        None => cmd.env_remove(VAR),
    };
    cmd
}

/// `serve` running, its address, and its stderr collected.
struct Serving {
    child: Child,
    addr: String,
    logs: Arc<Mutex<String>>,
}

impl Serving {
    fn start(config: &Path, key: Option<&str>) -> Self {
        let mut child = switchyard(config, key)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (sink, stderr) = (logs.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("switchyard listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, addr, logs }
    }

    async fn complete(&self) -> Result<pb::CompleteResponse, tonic::Status> {
        let mut client = SwitchyardServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap();
        client
            .complete(pb::CompleteRequest {
                messages: vec![user("hello")],
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
    }

    /// Stderr so far; the warnings are logged before the address is printed.
    fn logs(&self) -> String {
        // The reader thread may lag the first stdout line by a moment.
        for _ in 0..100 {
            let logs = self.logs.lock().unwrap().clone();
            if logs.contains("no usable key") || logs.contains("listening") {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn credentials_list(config: &Path) -> String {
    let out = switchyard(config, None)
        .args(["credentials", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_key_declared_by_env_serves_with_no_other_step() {
    let fake = FakeProvider::start("openai", FakeReply::ok("hi"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, ", api_key_env: OPENAI_API_KEY");
    let server = Serving::start(&config, Some(KEY));
    let answer = server.complete().await.unwrap();
    assert_eq!(
        answer.attempts.last().unwrap().credential_id,
        "openai-env-OPENAI_API_KEY"
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].credential, KEY,
        "the fake received the declared key"
    );
    assert!(
        !server.logs().contains("no usable key"),
        "{}",
        server.logs()
    );
    drop(server);

    // Sealed into the store like a key added by the CLI, listed with its source.
    let list = credentials_list(&config);
    assert!(list.contains("openai-env-OPENAI_API_KEY"), "{list}");
    assert!(list.contains("config: env OPENAI_API_KEY"), "{list}");
    let db = std::fs::read(dir.path().join("switchyard.db")).unwrap();
    assert!(
        !db.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
        "the key is stored sealed"
    );
}

#[tokio::test]
async fn without_the_variable_serve_warns_naming_the_provider_and_the_variable() {
    let fake = FakeProvider::start("openai", FakeReply::ok("hi"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, ", api_key_env: OPENAI_API_KEY");
    let server = Serving::start(&config, None);
    let logs = server.logs();
    assert!(
        logs.contains("provider openai has no usable key: set OPENAI_API_KEY"),
        "{logs}"
    );
    assert!(
        logs.contains("environment variable OPENAI_API_KEY is not set"),
        "{logs}"
    );
    assert!(
        logs.contains("caller primary: no candidate has a key"),
        "{logs}"
    );
    assert!(server.complete().await.is_err());
    assert_eq!(fake.call_count(), 0);
}

#[tokio::test]
async fn a_changed_key_replaces_the_stored_one_and_an_undeclared_one_is_removed() {
    let fake = FakeProvider::start("openai", FakeReply::ok("hi"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("openai.key");
    std::fs::write(&key_file, "sk-from-file-0002\n").unwrap();
    let extra = format!(
        ", keys: [ {{ env: OPENAI_API_KEY, priority: 0 }}, {{ file: \"{}\", priority: 1 }} ]",
        key_file.display()
    );
    let config = write_config(dir.path(), &fake, &extra);
    drop(Serving::start(&config, Some(KEY)));
    let list = credentials_list(&config);
    assert!(list.contains("openai-env-OPENAI_API_KEY"), "{list}");
    assert!(list.contains("config: file"), "{list}");

    // The variable changed: the new key is used. The file key is no longer declared.
    let config = write_config(dir.path(), &fake, ", api_key_env: OPENAI_API_KEY");
    let server = Serving::start(&config, Some("sk-declared-key-0003"));
    server.complete().await.unwrap();
    assert_eq!(fake.calls()[0].credential, "sk-declared-key-0003");
    drop(server);
    let list = credentials_list(&config);
    assert!(!list.contains("config: file"), "{list}");
    assert_eq!(list.lines().count(), 2, "header and one key: {list}");
}

/// An OpenAI-compatible upstream that records the headers of every request (the
/// shared fake reports a missing and an empty key alike).
async fn header_recorder() -> (String, Arc<Mutex<Vec<axum::http::HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(headers);
                axum::Json(serde_json::json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn auth_none_reaches_the_provider_without_a_key_header() {
    let fake = FakeProvider::start("openai", FakeReply::ok("hi"))
        .await
        .unwrap();
    let (url, seen) = header_recorder().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, ", auth: none");
    let yaml = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&fake.openai_base_url(), &url);
    std::fs::write(&config, yaml).unwrap();
    let server = Serving::start(&config, None);
    let answer = server.complete().await.unwrap();
    assert_eq!(answer.attempts.last().unwrap().credential_id, "openai-none");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].get("authorization").is_none(), "{:?}", seen[0]);
    assert!(seen[0].get("x-api-key").is_none(), "{:?}", seen[0]);
    assert!(
        !server.logs().contains("no usable key"),
        "{}",
        server.logs()
    );
}

#[tokio::test]
async fn check_config_strict_fails_when_a_caller_has_no_keyed_candidate() {
    let fake = FakeProvider::start("openai", FakeReply::ok("hi"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, ", api_key_env: OPENAI_API_KEY");
    let run = |strict: bool, key: Option<&str>| {
        let mut cmd = switchyard(&config, key);
        cmd.arg("check-config");
        if strict {
            cmd.arg("--strict");
        }
        cmd.output().unwrap()
    };

    let lenient = run(false, None);
    let stdout = String::from_utf8_lossy(&lenient.stdout);
    assert!(lenient.status.success(), "{lenient:?}");
    assert!(
        stdout.contains("warning: provider openai has no usable key: set OPENAI_API_KEY"),
        "{stdout}"
    );

    let strict = run(true, None);
    assert!(!strict.status.success(), "{strict:?}");
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        stderr.contains("--strict: no candidate has a key for primary"),
        "{stderr}"
    );

    let keyed = run(true, Some(KEY));
    assert!(keyed.status.success(), "{keyed:?}");
    assert!(!String::from_utf8_lossy(&keyed.stdout).contains("warning"));
    assert!(
        !dir.path().join("switchyard.db").exists(),
        "check-config creates no database"
    );
}

#[tokio::test]
async fn a_malformed_declaration_is_refused_naming_its_field() {
    let fake = FakeProvider::start("openai", FakeReply::ok("hi"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (extra, field) in [
        (", keys: [ { priority: 1 } ]", "providers.openai.keys[0]"),
        (", api_key_env: \"A B\"", "providers.openai.api_key_env"),
        (", auth: none, api_key_env: X", "providers.openai.auth"),
    ] {
        let config = write_config(dir.path(), &fake, extra);
        let out = switchyard(&config, None)
            .arg("check-config")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(field), "{extra}: {stderr}");
    }
}

#[tokio::test]
async fn check_config_counts_a_key_added_with_the_cli() {
    let fake = FakeProvider::start("openai", FakeReply::ok("hi"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, ", api_key_env: OPENAI_API_KEY");
    let added = switchyard(&config, None)
        .args([
            "credentials",
            "add",
            "--provider",
            "openai",
            "--id",
            "openai-1",
        ])
        .args(["--api-key-env", "CLI_KEY"])
        .env("CLI_KEY", "sk-added-by-cli-0004")
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let out = switchyard(&config, None)
        .args(["check-config", "--strict"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(!stdout.contains("no usable key"), "{stdout}");
    assert!(
        stdout.contains("environment variable OPENAI_API_KEY is not set"),
        "the unset variable is still said: {stdout}"
    );
}
