//! Refreshes owned by the server: callers that give up never cancel a refresh, a
//! refresh interrupted by a kill is finished at the next start (the journal), and a
//! pair the store refuses is used from memory and stored once the store recovers.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret as _;
use switchyard::app::App;
use switchyard::config::Config;
use switchyard::crypto::{MasterKey, default_key_file, token_hash};
use switchyard::domain::Material;
use switchyard::fake::{FakeReply, FakeTokenEndpoint, Rotation};
use switchyard::store::Store;
use switchyard_client::pb;
use switchyard_client::pb::credential_service_client::CredentialServiceClient;
use tonic::Code;

use crate::support::*;

type SwitchyardClient = switchyard_client::SwitchyardServiceClient<tonic::transport::Channel>;

const ADMIN_TOKEN: &str = "sy_admin-token-for-refresh-tests-51ac";

fn unauthorized() -> FakeReply {
    FakeReply::error(
        401,
        r#"{"error":{"message":"Invalid bearer token","type":"authentication_error"}}"#,
    )
}

async fn open_store(db: &Path) -> Store {
    let (key, _) = MasterKey::load(None, &default_key_file(db)).unwrap();
    Store::open(db, key).await.unwrap()
}

/// The stored refresh token, generation and dead reason of `main-oauth`.
async fn stored_state(db: &Path) -> (String, u64, Option<String>) {
    let store = open_store(db).await;
    let c = store.credential("main-oauth").await.unwrap().unwrap();
    store.close().await;
    let Material::OAuth(t) = c.material else {
        panic!("oauth")
    };
    (
        t.refresh_token.expose_secret().to_owned(),
        c.generation,
        c.health.dead_reason,
    )
}

/// Fakes whose `main` accepts only the endpoint's current access token, and a
/// database where `main-oauth` holds a stale access token and `{prefix}-refresh-0`.
async fn oauth_setup(dir: &Path, prefix: &str) -> (Fakes, FakeTokenEndpoint, std::path::PathBuf) {
    let db = dir.join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start(prefix).await.unwrap();
    let fakes = Fakes::start().await;
    fakes
        .main
        .require_bearer(endpoint.bearer_check(), unauthorized());
    seed_oauth(
        &db,
        "main",
        &endpoint,
        &format!("{prefix}-access-stale"),
        &format!("{prefix}-refresh-0"),
        "client-secret-refresh-tests",
    )
    .await;
    (fakes, endpoint, db)
}

/// Overrides with a primary budget (`model.timeout`) of 1.5 s: long enough for the
/// first attempt of 100 concurrent callers on a loaded machine, shorter than the
/// token endpoint's delay.
fn short_budget<'a>(more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![("SWITCHYARD__MODEL__TIMEOUT", "1500ms")];
    env.extend_from_slice(more);
    env
}

fn primary_with_deadline(text: &str, deadline: Duration) -> tonic::Request<pb::CompleteRequest> {
    let mut request = tonic::Request::new(pb::CompleteRequest {
        messages: vec![user(text)],
        ..Default::default()
    });
    // The deadline as the server sees it, with no timer on this side: answers that
    // a loaded test machine delivers a few ms late are still read.
    request.metadata_mut().insert(
        "grpc-timeout",
        format!("{}m", deadline.as_millis()).parse().unwrap(),
    );
    request
}

/// 100 callers whose deadlines (the primary caller's `model.timeout`, see
/// [`short_budget`]) pass while the token endpoint rotates: each gets
/// DEADLINE_EXHAUSTED with its trail, and the refresh goes on to its end.
///
/// The budget is the configured one, not a gRPC deadline: with a gRPC deadline,
/// tonic's own timer also runs from the request's arrival, and on a loaded test
/// machine 100 requests arriving at once can reach the handler more than the 50 ms
/// margin late, so that timer (a bare CANCELLED) would race the answer.
async fn hundred_callers_give_up(client: &SwitchyardClient) {
    let calls = (0..100u64).map(|i| {
        let mut client = client.clone();
        tokio::spawn(async move {
            client
                .complete(pb::CompleteRequest {
                    messages: vec![user(&format!("call {i}"))],
                    ..Default::default()
                })
                .await
        })
    });
    for result in futures::future::join_all(calls).await {
        let status = result.unwrap().expect_err("the deadline passes first");
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
        let (info, detail) = failure_details(&status);
        assert_eq!(info.reason, "DEADLINE_EXHAUSTED");
        assert_eq!(
            shape(&detail.attempts),
            vec![
                s("main", "main-oauth", pb::Action::RefreshAndRetry),
                s("main", "main-oauth", pb::Action::GiveUp),
            ]
        );
        let last = detail.attempts.last().unwrap();
        assert!(
            last.reason.contains("refresh was still running"),
            "{}",
            last.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_whose_deadlines_pass_during_a_slow_rotation_never_cancel_it() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, endpoint, db) = oauth_setup(dir.path(), "slow").await;
    endpoint.set_rotation(Rotation::Strict);
    endpoint.set_delay(Duration::from_secs(3));
    let app = TestApp::spawn(fakes.config_env(&db, "", &short_budget(&[]))).await;
    let started = Instant::now();

    // A caller bounded by its gRPC deadline rather than the configured budget
    // (alone, so that the answer is not late on a loaded machine): DEADLINE_EXHAUSTED
    // with the trail, before its own timer fires.
    let mut client = app.client.clone();
    let status = client
        .complete(primary_with_deadline(
            "deadline",
            Duration::from_millis(600),
        ))
        .await
        .expect_err("the deadline passes first");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let (info, detail) = failure_details(&status);
    assert_eq!(info.reason, "DEADLINE_EXHAUSTED");
    let last = detail.attempts.last().unwrap();
    assert!(
        last.reason.contains("refresh was still running"),
        "{last:?}"
    );
    // 100 more join the same refresh, and give up too.
    hundred_callers_give_up(&app.client).await;
    assert_eq!(endpoint.call_count(), 1, "one refresh for 101 callers");

    // The refresh ends without any caller, and its pair is committed.
    while stored_state(&db).await.1 == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = app.client.clone();
    let answer = client
        .complete(primary_with_deadline("after", Duration::from_secs(5)))
        .await
        .expect("the credential stays live")
        .into_inner();
    assert_eq!(
        shape(&answer.attempts),
        vec![s("main", "main-oauth", pb::Action::Succeed)]
    );
    assert_eq!(endpoint.call_count(), 1, "no second refresh");
    let last = fakes.main.calls().last().unwrap().credential.clone();
    assert_eq!(
        last, "slow-access-1",
        "the provider got the new access token"
    );
    assert_eq!(stored_state(&db).await, ("slow-refresh-1".into(), 1, None));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_call_that_times_out_is_retried_once_with_the_same_token() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, endpoint, db) = oauth_setup(dir.path(), "tmo").await;
    endpoint.set_rotation(Rotation::Grace(Duration::from_secs(10)));
    endpoint.set_delay(Duration::from_secs(3));
    let config = fakes.config_env(
        &db,
        "",
        &short_budget(&[("SWITCHYARD__OAUTH__TIMEOUT", "2s")]),
    );
    let app = TestApp::spawn(config).await;
    let started = Instant::now();

    let callers = tokio::spawn({
        let client = app.client.clone();
        async move { hundred_callers_give_up(&client).await }
    });
    // The provider rotates at once but answers in 3 s, past oauth.timeout (2 s):
    // the outcome is unknown. The retry with the same token is answered quickly.
    while endpoint.call_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    endpoint.set_delay(Duration::ZERO);
    callers.await.unwrap();
    while stored_state(&db).await.1 == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(endpoint.presented(), ["tmo-refresh-0", "tmo-refresh-0"]);
    let mut client = app.client.clone();
    let answer = client
        .complete(primary_with_deadline("after", Duration::from_secs(5)))
        .await
        .expect("the credential stays live")
        .into_inner();
    assert_eq!(answer.attempts.len(), 1);
    assert_eq!(
        fakes.main.calls().last().unwrap().credential,
        "tmo-access-1"
    );
    assert_eq!(stored_state(&db).await, ("tmo-refresh-1".into(), 1, None));
    app.stop().await;
}

#[tokio::test]
async fn a_timed_out_token_call_against_a_strict_provider_says_the_pair_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, endpoint, db) = oauth_setup(dir.path(), "lost").await;
    let endpoint = Arc::new(endpoint);
    endpoint.set_rotation(Rotation::Strict);
    endpoint.set_delay(Duration::from_millis(1500));
    let config = fakes.config_env(&db, "", &[("SWITCHYARD__OAUTH__TIMEOUT", "1s")]);
    let mut app = TestApp::spawn(config).await;
    // The retry with the spent token is answered at once (and refused).
    let quick_retry = {
        let endpoint_calls = endpoint.clone();
        tokio::spawn(async move {
            while endpoint_calls.call_count() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            endpoint_calls.set_delay(Duration::ZERO);
        })
    };

    let answer = app.primary().await.expect("the fallback answers");
    quick_retry.await.unwrap();
    assert_eq!(
        shape(&answer.attempts),
        vec![
            s("main", "main-oauth", pb::Action::RefreshAndRetry),
            s("main", "main-oauth", pb::Action::NextCandidate),
            s("main-fb", "main-fb-k1", pb::Action::Succeed),
        ]
    );
    assert_eq!(endpoint.presented(), ["lost-refresh-0", "lost-refresh-0"]);
    let reason = stored_state(&db).await.2.expect("marked dead");
    assert!(
        reason.contains("token endpoint timed out after 1000 ms, then the provider refused the spent refresh token (token endpoint answered 400 invalid_grant)"),
        "{reason}"
    );
    app.stop().await;
}

// === kills ===

/// Iterations of each kill scenario: `SWITCHYARD_KILL_ITERATIONS`, default 16 (CI).
fn kill_iterations() -> usize {
    std::env::var("SWITCHYARD_KILL_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

/// What one kill did to the pair.
#[derive(Debug)]
struct KillRun {
    kill_after_ms: u64,
    /// The kill fell after the call left the server (it reached the endpoint) and
    /// before the end of its answer (plus slack for the commit).
    in_flight: bool,
    lost: bool,
}

/// Starts the real binary (beside the runtime that serves the fakes: a start
/// finishes interrupted refreshes against them).
async fn start_server(config: &Path) -> Server {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || Server::start(&config, &[]))
        .await
        .unwrap()
}

/// One kill: a refresh starts (stale token, 401), the server dies `kill_after` later,
/// it restarts and is checked.
async fn kill_once(rotation: Rotation, kill_after: Duration, answer_in: Duration) -> KillRun {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, endpoint, _) = oauth_setup_for_binary(dir.path()).await;
    endpoint.set_rotation(rotation);
    endpoint.set_delay(answer_in);
    let config = dir.path().join("switchyard.yaml");
    let db = dir.path().join("switchyard.db");

    let mut server = start_server(&config).await;
    let mut client = server.client().await;
    let sent = tokio::time::Instant::now();
    let call = tokio::spawn(async move {
        client
            .complete(primary_with_deadline("hello", Duration::from_secs(5)))
            .await
    });
    tokio::time::sleep_until(sent + kill_after).await;
    let killed_at = tokio::time::Instant::now();
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let _ = call.await;
    drop(server);

    // A call that reached the endpoint left the server before the kill; the answer
    // is committed shortly after the endpoint sends it. The fake, on this loaded
    // runtime, may read what the killed server sent well after the kill (once,
    // after this was read: a kill at 25 ms lost a pair "outside the window"), so
    // none counts as none only after a while.
    let settled = tokio::time::Instant::now() + Duration::from_secs(2);
    while endpoint.arrivals().is_empty() && tokio::time::Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let in_flight = endpoint
        .arrivals()
        .first()
        .is_some_and(|arrived| killed_at <= *arrived + answer_in + Duration::from_millis(250));
    endpoint.set_delay(Duration::ZERO);
    let server = start_server(&config).await;
    let answer = server
        .client()
        .await
        .complete(primary_with_deadline("again", Duration::from_secs(5)))
        .await
        .expect("a call after the restart is answered")
        .into_inner();
    let served_by = answer.served_by.unwrap().credential_id;
    drop(server);
    let (_, _, dead_reason) = stored_state(&db).await;
    let lost = match dead_reason {
        None => {
            assert_eq!(served_by, "main-oauth", "{:?}", answer.attempts);
            assert_eq!(
                fakes.main.calls().last().unwrap().credential,
                endpoint.current_access(),
                "the live credential works after the restart"
            );
            false
        }
        Some(reason) => {
            assert!(
                reason.starts_with("refresh refused: refresh interrupted by a restart; the provider refused the spent refresh token (token endpoint answered 400 invalid_grant)"),
                "{reason}"
            );
            true
        }
    };
    KillRun {
        kill_after_ms: kill_after.as_millis() as u64,
        in_flight,
        lost,
    }
}

/// [`oauth_setup`] plus the config file the binary reads.
async fn oauth_setup_for_binary(dir: &Path) -> (Fakes, FakeTokenEndpoint, std::path::PathBuf) {
    let (fakes, endpoint, db) = oauth_setup(dir, "kill").await;
    let yaml = standard_yaml(&fakes, &db, "shutdown_grace: 1s\n");
    std::fs::write(dir.join("switchyard.yaml"), yaml).unwrap();
    (fakes, endpoint, db)
}

/// Kill delays spread over [0, 600 ms], from a seed printed for reproduction.
fn kill_delays(n: usize) -> Vec<Duration> {
    let mut seed = std::env::var("SWITCHYARD_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill delays: SWITCHYARD_KILL_SEED={seed}");
    (0..n)
        .map(|_| {
            // xorshift64
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            Duration::from_millis(seed % 601)
        })
        .collect()
}

async fn kill_loop(rotation: Rotation) -> Vec<KillRun> {
    let delays = kill_delays(kill_iterations());
    let started = Instant::now();
    let mut runs = Vec::new();
    // A few servers at a time: each iteration is mostly waiting.
    for chunk in delays.chunks(4) {
        let batch = chunk
            .iter()
            .map(|d| tokio::spawn(kill_once(rotation, *d, Duration::from_millis(300))));
        for run in futures::future::join_all(batch).await {
            runs.push(run.unwrap());
        }
    }
    let lost = runs.iter().filter(|r| r.lost).count();
    let in_flight = runs.iter().filter(|r| r.in_flight).count();
    let lost_at: Vec<_> = runs
        .iter()
        .filter(|r| r.lost)
        .map(|r| r.kill_after_ms)
        .collect();
    eprintln!(
        "{rotation:?}: {} kills in {:?}: {in_flight} inside the in-flight window, {lost} pairs lost (kills at {lost_at:?} ms)",
        runs.len(),
        started.elapsed()
    );
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_around_refreshes_lose_no_pair_with_a_grace_window() {
    let runs = kill_loop(Rotation::Grace(Duration::from_secs(10))).await;
    assert!(
        runs.iter().any(|r| r.in_flight),
        "some kill hit the in-flight window"
    );
    let lost: Vec<_> = runs.iter().filter(|r| r.lost).collect();
    assert!(lost.is_empty(), "pairs lost: {lost:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_around_refreshes_with_strict_rotation_lose_only_in_flight_pairs_and_say_so() {
    let runs = kill_loop(Rotation::Strict).await;
    for run in &runs {
        assert!(
            !run.lost || run.in_flight,
            "a pair lost outside the in-flight window: {run:?}"
        );
    }
}

// === an unwritable store ===

/// Makes the database file and its WAL immutable (`chattr +i`): writes fail even as
/// root, which ignores file modes. The shared-memory index stays writable (SQLite
/// maps it; an immutable one faults). Undone on drop.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(db: &Path) -> Option<Self> {
        let files: Vec<_> = [db.to_owned(), db.with_extension("db-wal")]
            .into_iter()
            .filter(|f| f.exists())
            .collect();
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .args(&files)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self(files))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .args(&self.0)
            .status();
    }
}

/// Log lines written while the guard lives (current-thread runtime: every task
/// of the test runs on this thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn unpersisted_gauge(metrics: &str) -> String {
    let text = reqwest::get(metrics).await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("switchyard_credentials_unpersisted"))
        .unwrap_or_default()
        .to_owned()
}

async fn main_oauth_note(admin: &mut CredentialServiceClient<tonic::transport::Channel>) -> String {
    let mut request = tonic::Request::new(pb::ListCredentialsRequest {
        provider: "main".into(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    let list = admin.list_credentials(request).await.unwrap().into_inner();
    let c = list
        .credentials
        .into_iter()
        .find(|c| c.id == "main-oauth")
        .unwrap();
    assert_eq!(c.state(), pb::CredentialState::Live);
    c.last_error_class
}

#[tokio::test]
async fn a_pair_the_store_refuses_is_used_from_memory_and_stored_when_it_can() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let c = captured.clone();
            move || c.clone()
        })
        .with_ansi(false)
        .finish();
    let _logs = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let (fakes, endpoint, db) = oauth_setup(dir.path(), "ro").await;
    endpoint.set_rotation(Rotation::Strict);
    let yaml = standard_yaml(
        &fakes,
        &db,
        &format!(
            "auth:\n  admin_token_sha256: [\"{}\"]\ntelemetry: {{ metrics_listen: 127.0.0.1:0 }}\n",
            token_hash(ADMIN_TOKEN)
        ),
    );
    let app = App::build(Config::from_yaml(&yaml, "<test>", []).unwrap())
        .await
        .unwrap();
    let (addr, metrics) = (
        app.local_addr(),
        format!("http://{}/metrics", app.metrics_addr().unwrap()),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = switchyard_client::SwitchyardServiceClient::new(channel.clone());
    let mut admin = CredentialServiceClient::new(channel);

    let Some(immutable) = Immutable::set(&db) else {
        eprintln!("SKIPPED: chattr +i is not available here; nothing makes SQLite writes fail");
        return;
    };
    let answer = client
        .complete(primary_with_deadline("hello", Duration::from_secs(5)))
        .await
        .expect("the call succeeds on the new pair")
        .into_inner();
    assert_eq!(
        shape(&answer.attempts),
        vec![
            s("main", "main-oauth", pb::Action::RefreshAndRetry),
            s("main", "main-oauth", pb::Action::Succeed),
        ]
    );
    assert_eq!(fakes.main.calls().last().unwrap().credential, "ro-access-1");
    assert_eq!(main_oauth_note(&mut admin).await, "unpersisted");
    assert!(unpersisted_gauge(&metrics).await.ends_with(" 1"));
    assert!(
        captured
            .text()
            .contains("rotated tokens held only in memory: the store refused them"),
        "{}",
        captured.text()
    );
    // Still usable, from memory, with no second refresh.
    client
        .complete(primary_with_deadline("again", Duration::from_secs(5)))
        .await
        .expect("still usable");
    assert_eq!(endpoint.call_count(), 1);

    // Persisting is retried, and fails, while the files stay immutable.
    let started = Instant::now();
    while !captured
        .text()
        .contains("rotated tokens still held only in memory")
    {
        assert!(started.elapsed() < Duration::from_secs(5), "no retry seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(main_oauth_note(&mut admin).await, "unpersisted");

    drop(immutable);
    let started = Instant::now();
    while main_oauth_note(&mut admin).await == "unpersisted" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never stored: {}",
            captured.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(unpersisted_gauge(&metrics).await.ends_with(" 0"));
    // Read once the server has closed the store, as a restart would.
    let _ = stop.send(());
    served.await.unwrap().unwrap();
    assert_eq!(
        stored_state(&db).await,
        ("ro-refresh-1".into(), 1, None),
        "{}",
        captured.text()
    );
}

// === a replaced credential ===

#[tokio::test]
async fn a_credential_replaced_during_a_request_is_not_blamed_for_the_old_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let yaml = standard_yaml(
        &fakes,
        &db,
        &format!(
            "auth:\n  admin_token_sha256: [\"{}\"]\n",
            token_hash(ADMIN_TOKEN)
        ),
    );
    let app = TestApp::spawn(Config::from_yaml(&yaml, "<test>", []).unwrap()).await;
    let mut admin = CredentialServiceClient::new(app.channel.clone());

    // The old key is refused for good, slowly: the operator replaces it meanwhile.
    fakes
        .main
        .push([FakeReply::token_invalidated().after(Duration::from_millis(500))]);
    let mut client = app.client.clone();
    let call = tokio::spawn(async move {
        client
            .complete(primary_with_deadline("hello", Duration::from_secs(5)))
            .await
    });
    while fakes.main.call_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut put = tonic::Request::new(pb::PutCredentialRequest {
        id: "main-k1".into(),
        provider: "main".into(),
        material: Some(pb::put_credential_request::Material::ApiKey(pb::ApiKey {
            key: "secret-of-main-k1-new".into(),
        })),
        ..Default::default()
    });
    put.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    admin.put_credential(put).await.unwrap();
    let answer = call.await.unwrap().unwrap().into_inner();
    assert_eq!(
        shape(&answer.attempts),
        vec![
            s("main", "main-k1", pb::Action::NextCandidate),
            s("main-fb", "main-fb-k1", pb::Action::Succeed),
        ]
    );

    // The new key is live: in memory, and in the store after a restart.
    let mut client = app.client.clone();
    let again = client
        .complete(primary_with_deadline("again", Duration::from_secs(5)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.served_by.unwrap().credential_id, "main-k1");
    assert_eq!(
        fakes.main.calls().last().unwrap().credential,
        "secret-of-main-k1-new"
    );
    app.stop().await;
    let store = open_store(&db).await;
    let stored = store.credential("main-k1").await.unwrap().unwrap();
    assert_eq!(stored.health.dead_since, None);
}
