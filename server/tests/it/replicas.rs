//! Several `switchyard serve` processes on one PostgreSQL database: the harness
//! ([`Cluster`]), and the one-refresh-across-the-cluster guarantees proved with it.
//!
//! Each replica is the real binary on 127.0.0.1:0, sharing one fresh database
//! and one master key, with its own PostgreSQL `application_name`
//! (`switchyard-replica-<i>`), so a test can tell from `pg_locks` and
//! `pg_stat_activity` which process holds what. A replica can be SIGKILLed and
//! restarted. [`PgProxy`] puts a TCP hop in front of PostgreSQL that a test can
//! cut, to make the database unreachable for one server while others keep it.
//!
//! Skipped (SKIPPED printed) without `SWITCHYARD_TEST_POSTGRES_URL`, unless `CI`
//! is set: then they fail. `bash .ci/postgres cargo test ...` provides one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Connection as _;
use switchyard::crypto::{MasterKey, default_key_file};
use switchyard::domain::{Material, OAuthTokens};
use switchyard::fake::{FakeReply, FakeTokenEndpoint, Rotation};
use switchyard::store::testdb::{Unavailable, fresh_postgres};
use switchyard::store::{Database, NewApiKey, NewCredential, REFRESH_LOCK_CLASS, Store};
use switchyard_client::SwitchyardServiceClient;
use switchyard_client::pb;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::support::*;

// === Cluster ===

/// N replicas of the binary on one fresh PostgreSQL database.
pub(crate) struct Cluster {
    /// The database (no `application_name`).
    pub url: SecretString,
    /// Holds the config file and the master key file.
    pub dir: tempfile::TempDir,
    /// Slot `i` is replica `i`; `None` while it is down.
    pub replicas: Vec<Option<Server>>,
}

impl Cluster {
    /// A fresh database, migrated, with a master key; no replica yet. `None`
    /// (SKIPPED printed) when no PostgreSQL server is given outside CI.
    pub(crate) async fn new() -> Option<Self> {
        let url = match fresh_postgres().await {
            Ok(Database::Postgres(url)) => url,
            Ok(other) => panic!("not PostgreSQL: {other:?}"),
            Err(Unavailable::Unset) => {
                eprintln!("SKIPPED: {}", Unavailable::Unset);
                return None;
            }
            Err(e) => panic!("{e}"),
        };
        let cluster = Self {
            url,
            dir: tempfile::tempdir().unwrap(),
            replicas: Vec::new(),
        };
        cluster.store().await.close().await;
        Some(cluster)
    }

    /// `database.path` of the config: never created with a URL, but the master
    /// key file lives beside it.
    pub(crate) fn db_path(&self) -> PathBuf {
        self.dir.path().join("switchyard.db")
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.path().join("switchyard.yaml")
    }

    /// The master key every replica reads.
    pub(crate) fn key(&self) -> MasterKey {
        MasterKey::load(None, &default_key_file(&self.db_path()))
            .unwrap()
            .0
    }

    /// The store, opened as the replicas open it.
    pub(crate) async fn store(&self) -> Store {
        Store::open_at(&Database::Postgres(self.url.clone()), self.key())
            .await
            .unwrap()
    }

    /// A direct connection to the database, for what the store does not offer.
    pub(crate) async fn sql(&self) -> sqlx::postgres::PgConnection {
        sqlx::postgres::PgConnection::connect(self.url.expose_secret())
            .await
            .unwrap()
    }

    /// The PostgreSQL `application_name` of replica `i`.
    pub(crate) fn application_name(i: usize) -> String {
        format!("switchyard-replica-{i}")
    }

    /// Writes `yaml` as the replicas' config file.
    pub(crate) fn write_config(&self, yaml: &str) {
        std::fs::write(self.config_path(), yaml).unwrap();
    }

    /// Starts `n` replicas at once.
    pub(crate) async fn start(&mut self, n: usize) {
        let started = (0..n).map(|i| self.spawn_replica(i));
        self.replicas = futures::future::join_all(started)
            .await
            .into_iter()
            .map(|r| Some(r.unwrap()))
            .collect();
    }

    /// Starts replica `i` (on a blocking thread: the start reads its stdout, and
    /// finishes interrupted refreshes against fakes served by this runtime).
    pub(crate) fn spawn_replica(&self, i: usize) -> JoinHandle<Server> {
        let config = self.config_path();
        let url = format!(
            "{}?application_name={}",
            self.url.expose_secret(),
            Self::application_name(i)
        );
        tokio::task::spawn_blocking(move || Server::start(&config, &[("DATABASE_URL", &url)]))
    }

    /// SIGKILLs replica `i` and reaps it.
    pub(crate) fn kill(&mut self, i: usize) {
        let mut server = self.replicas[i].take().expect("replica is up");
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }

    /// A client of replica `i`.
    pub(crate) async fn client(&self, i: usize) -> SwitchyardServiceClient<Channel> {
        self.replicas[i]
            .as_ref()
            .expect("replica is up")
            .client()
            .await
    }

    /// Which replica holds a refresh lock now, by the `application_name` of the
    /// session holding it in `pg_locks`.
    pub(crate) async fn refresh_lock_holder(
        &self,
        sql: &mut sqlx::postgres::PgConnection,
    ) -> Option<usize> {
        let names: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.classid = {REFRESH_LOCK_CLASS} AND l.granted
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )))
        .fetch_all(sql)
        .await
        .unwrap();
        let name = names.first()?;
        (0..self.replicas.len()).find(|i| *name == Self::application_name(*i))
    }
}

/// The standard keys (`<provider>-k1`) into `store`.
pub(crate) async fn seed_standard_keys(store: &Store) {
    for (i, provider) in ["main", "main-fb", "aux", "chain-a", "chain-b"]
        .into_iter()
        .enumerate()
    {
        let key = NewApiKey {
            id: format!("{provider}-k1"),
            provider: provider.into(),
            label: String::new(),
            priority: i as i64,
            secret: SecretString::from(format!("secret-of-{provider}-k1")),
        };
        store.add_api_key(&key, 1).await.unwrap();
    }
}

/// Puts (or replaces) `main-oauth` in `main`'s pool, refreshed at `endpoint`.
pub(crate) async fn put_main_oauth(
    store: &Store,
    endpoint: &FakeTokenEndpoint,
    access: &str,
    refresh: &str,
) {
    let credential = NewCredential {
        id: "main-oauth".into(),
        provider: "main".into(),
        label: "cluster".into(),
        priority: 0,
        material: Material::OAuth(OAuthTokens {
            access_token: SecretString::from(access.to_owned()),
            refresh_token: SecretString::from(refresh.to_owned()),
            expires_at: None,
            token_url: endpoint.url(),
            client_id: "switchyard-cluster-test".into(),
            client_secret: Some(SecretString::from("client-secret-cluster".to_owned())),
            scope: None,
        }),
    };
    store.put_credential(&credential, true, 1).await.unwrap();
}

// === PgProxy ===

/// A TCP hop in front of PostgreSQL that a test can cut: connections through it
/// then fail (refused), and the ones open are closed.
pub(crate) struct PgProxy {
    addr: std::net::SocketAddr,
    task: JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl PgProxy {
    /// Forwards to the server of `url`.
    pub(crate) async fn start(url: &str) -> Self {
        let target = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split('/').next())
            .map(|authority| authority.rsplit('@').next().unwrap_or(authority).to_owned())
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let conns = conns.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let target = target.clone();
                    let conn = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    conns.lock().unwrap().push(conn);
                }
            }
        });
        Self { addr, task, conns }
    }

    /// `url` with its server replaced by this proxy.
    pub(crate) fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').unwrap();
        let user = authority
            .rsplit_once('@')
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}/{path}", self.addr)
    }

    /// Stops listening and closes every connection through it.
    pub(crate) fn cut(&self) {
        self.task.abort();
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

// === tests ===

fn complete(text: &str) -> tonic::Request<pb::CompleteRequest> {
    let mut request = tonic::Request::new(pb::CompleteRequest {
        messages: vec![user(text)],
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("grpc-timeout", "20000m".parse().unwrap());
    request
}

/// Fakes whose `main` refuses all but the endpoint's current access token with
/// a 401 `token_invalidated`; a cluster database holding the standard keys and
/// `main-oauth` with a stale access token; the standard config.
async fn oauth_cluster(
    prefix: &str,
    extra_yaml: &str,
) -> Option<(Cluster, Fakes, FakeTokenEndpoint)> {
    let cluster = Cluster::new().await?;
    let endpoint = FakeTokenEndpoint::start(prefix).await.unwrap();
    let fakes = Fakes::start().await;
    fakes
        .main
        .require_bearer(endpoint.bearer_check(), FakeReply::token_invalidated());
    log_commits(&cluster).await;
    let store = cluster.store().await;
    seed_standard_keys(&store).await;
    // `main-oauth` is main's only key: a refused refresh goes to the fallback.
    store.remove_credential("main-k1").await.unwrap();
    put_main_oauth(
        &store,
        &endpoint,
        &format!("{prefix}-access-stale"),
        &format!("{prefix}-refresh-0"),
    )
    .await;
    store.close().await;
    cluster.write_config(&standard_yaml(&fakes, &cluster.db_path(), extra_yaml));
    Some((cluster, fakes, endpoint))
}

/// The stored generation, refresh token and dead reason of `main-oauth`.
async fn stored_main_oauth(store: &Store) -> (u64, String, Option<String>) {
    let c = store.credential("main-oauth").await.unwrap().unwrap();
    let Material::OAuth(t) = c.material else {
        panic!("oauth")
    };
    (
        c.generation,
        t.refresh_token.expose_secret().to_owned(),
        c.health.dead_reason,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_requests_over_three_replicas_make_one_token_call() {
    let Some((mut cluster, fakes, endpoint)) = oauth_cluster("herd", "").await else {
        return;
    };
    // Slow enough that every replica asks for a refresh while the first is running.
    endpoint.set_delay(Duration::from_millis(300));
    cluster.start(3).await;
    let mut clients = Vec::new();
    for i in 0..3 {
        clients.push(cluster.client(i).await);
    }

    let calls = (0..600).map(|n| {
        let mut client = clients[n % 3].clone();
        tokio::spawn(async move { client.complete(complete(&format!("call {n}"))).await })
    });
    let answers: Vec<pb::CompleteResponse> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().expect("every call succeeds").into_inner())
        .collect();

    assert_eq!(endpoint.presented(), ["herd-refresh-0"], "one token call");
    let mut refreshed = 0;
    for answer in &answers {
        assert_eq!(
            answer.served_by.as_ref().unwrap().credential_id,
            "main-oauth"
        );
        let steps = shape(&answer.attempts);
        if steps.len() == 2 {
            assert_eq!(
                steps,
                vec![
                    s("main", "main-oauth", pb::Action::RefreshAndRetry),
                    s("main", "main-oauth", pb::Action::Succeed),
                ]
            );
            refreshed += 1;
        } else {
            assert_eq!(steps, vec![s("main", "main-oauth", pb::Action::Succeed)]);
        }
    }
    // What the provider got: each refused call carried the stale token, each
    // answered one the new token.
    let main_calls = fakes.main.calls();
    let stale = main_calls
        .iter()
        .filter(|c| c.credential == "herd-access-stale")
        .count();
    let fresh = main_calls
        .iter()
        .filter(|c| c.credential == "herd-access-1")
        .count();
    assert_eq!(
        (stale, fresh),
        (refreshed, 600),
        "{} calls",
        main_calls.len()
    );
    assert_eq!(fakes.main_fb.call_count(), 0, "no fallback was needed");
    let store = cluster.store().await;
    assert_eq!(
        stored_main_oauth(&store).await,
        (1, "herd-refresh-1".into(), None)
    );
    assert!(store.journal().await.unwrap().is_empty());
    store.close().await;
    eprintln!("600 calls: {refreshed} refreshed and retried, one token call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_call_is_made_while_postgres_is_out_of_reach() {
    let Some((cluster, fakes, endpoint)) = oauth_cluster("dark", "").await else {
        return;
    };
    let proxy = PgProxy::start(cluster.url.expose_secret()).await;
    let url = proxy.url(cluster.url.expose_secret());
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("SWITCHYARD__OAUTH__TIMEOUT", "1s"),
    ];
    let mut app = TestApp::spawn(fakes.config_env(&cluster.db_path(), "", &env)).await;
    proxy.cut();
    let started = Instant::now();

    let answer = app.primary().await.expect("the fallback answers");
    assert_eq!(
        shape(&answer.attempts),
        vec![
            s("main", "main-oauth", pb::Action::RefreshAndRetry),
            s("main", "main-oauth", pb::Action::NextCandidate),
            s("main-fb", "main-fb-k1", pb::Action::Succeed),
        ]
    );
    let reason = &answer.attempts[1].reason;
    assert!(
        reason.contains("not refreshed, the store it commits to is out of reach"),
        "{reason}"
    );
    assert!(
        !reason.contains("postgres@"),
        "no user in the reason: {reason}"
    );
    assert_eq!(endpoint.call_count(), 0, "no token call without a store");
    // Bounded by the refresh timeout (1 s), with slack for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Not stopped: a shutdown flushes trails to the store, which is out of reach
    // (the trail buffer of an outage is another test's subject).
    drop(app);
}

// === kills ===

/// Rounds of each kill test: `SWITCHYARD_CLUSTER_KILLS`, default 20.
fn kill_rounds() -> usize {
    std::env::var("SWITCHYARD_CLUSTER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// How long the token endpoint takes to answer in the kill tests.
const ANSWER_IN: Duration = Duration::from_millis(250);

/// Where, relative to the holder's token call, one kill fell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillPoint {
    /// Before its call reached the endpoint.
    BeforeCall,
    /// After its call reached the endpoint, before its answer was committed.
    InFlight,
    /// After its answer arrived and was committed.
    AfterAnswer,
}

#[derive(Debug)]
struct Round {
    kill_after_ms: u64,
    point: KillPoint,
    /// The credential ended dead, with this reason.
    lost: Option<String>,
}

/// A xorshift64 sequence from a seed printed for reproduction.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let seed = std::env::var("SWITCHYARD_KILL_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("cluster kills: SWITCHYARD_KILL_SEED={seed}");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Logs every change of `main-oauth`'s stored pair with its time (a test-only
/// trigger), to check presented refresh tokens against the committed history.
async fn log_commits(cluster: &Cluster) {
    let mut sql = cluster.sql().await;
    sqlx::raw_sql(
        "CREATE TABLE test_commits (refresh_token BYTEA, at_us BIGINT);
         CREATE FUNCTION test_log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF TG_OP = 'INSERT' OR NEW.generation <> OLD.generation THEN
                 INSERT INTO test_commits
                 VALUES (NEW.refresh_token, (extract(epoch FROM clock_timestamp()) * 1e6)::bigint);
             END IF;
             RETURN NULL;
         END $$;
         CREATE TRIGGER test_log_commit AFTER INSERT OR UPDATE ON credentials
             FOR EACH ROW WHEN (NEW.id = 'main-oauth') EXECUTE FUNCTION test_log_commit();",
    )
    .execute(&mut sql)
    .await
    .unwrap();
    sql.close().await.unwrap();
}

/// Checks every refresh token the endpoint was shown against the committed
/// history: each was committed, and presented before a newer pair was committed.
async fn assert_no_superseded_token_presented(cluster: &Cluster, endpoint: &FakeTokenEndpoint) {
    let mut sql = cluster.sql().await;
    let rows: Vec<(Vec<u8>, i64)> =
        sqlx::query_as("SELECT refresh_token, at_us FROM test_commits ORDER BY at_us")
            .fetch_all(&mut sql)
            .await
            .unwrap();
    sql.close().await.unwrap();
    let key = cluster.key();
    let history: Vec<(String, i64)> = rows
        .into_iter()
        .map(|(sealed, at)| {
            let plain = key.open(&sealed, "main-oauth/refresh_token").unwrap();
            (String::from_utf8(plain).unwrap(), at)
        })
        .collect();
    for (token, at) in endpoint.presented_at() {
        let at = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        let committed = history
            .iter()
            .rposition(|(t, c)| *t == token && *c <= at)
            .unwrap_or_else(|| panic!("{token} presented, never committed before: {history:?}"));
        if let Some((next, when)) = history.get(committed + 1) {
            assert!(
                *when > at,
                "{token} presented at {at} µs after {next} replaced it at {when} µs"
            );
        }
    }
}

/// One round: the current access token is revoked, two calls go to each
/// replica, the replica holding the refresh lock is SIGKILLed after a random
/// delay (restarted in parallel), the others finish.
async fn kill_round(
    cluster: &mut Cluster,
    endpoint: &FakeTokenEndpoint,
    rng: &mut Rng,
    store: &Store,
) -> Round {
    let (generation, ..) = stored_main_oauth(store).await;
    let calls_before = endpoint.call_count();
    endpoint.revoke_access();
    let mut calls = Vec::new();
    for i in 0..cluster.replicas.len() {
        let client = cluster.client(i).await;
        for n in 0..2 {
            let mut client = client.clone();
            calls.push((
                i,
                tokio::spawn(async move { client.complete(complete(&format!("{i}/{n}"))).await }),
            ));
        }
    }
    let mut sql = cluster.sql().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let holder = loop {
        if let Some(i) = cluster.refresh_lock_holder(&mut sql).await {
            break i;
        }
        if Instant::now() > deadline {
            let mut seen = Vec::new();
            for (i, call) in calls {
                seen.push((i, call.await.unwrap().map(|a| a.into_inner().attempts)));
            }
            panic!("nobody took the refresh lock: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    sql.close().await.unwrap();
    // A third of the kills at once (often before the call), the rest anywhere
    // up to well after the answer.
    let kill_after = match rng.below(3) {
        0 => Duration::ZERO,
        _ => Duration::from_millis(rng.below(ANSWER_IN.as_millis() as u64 + 200)),
    };
    tokio::time::sleep(kill_after).await;
    let killed_at = SystemTime::now();
    cluster.kill(holder);
    let restart = cluster.spawn_replica(holder);

    let mut trails = Vec::new();
    for (i, call) in calls {
        let result = call.await.unwrap();
        if i != holder {
            let answer = result.expect("a surviving replica answers").into_inner();
            assert_eq!(
                answer.attempts.last().unwrap().action(),
                pb::Action::Succeed
            );
            trails.push((i, answer.attempts));
        }
    }
    cluster.replicas[holder] = Some(restart.await.unwrap());

    // Only a lock holder calls, once: a second call in the round is the next
    // holder presenting the same token again, because the killed one's answer
    // was never committed.
    let round_calls = endpoint.presented_at().split_off(calls_before);
    let point = match round_calls.as_slice() {
        [(_, arrived)] if *arrived > killed_at => KillPoint::BeforeCall,
        [_] => KillPoint::AfterAnswer,
        [(first, _), (second, _)] => {
            assert_eq!(first, second, "the next holder presents the same token");
            KillPoint::InFlight
        }
        other => panic!("{} token calls in one round: {other:?}", other.len()),
    };
    let (after, _, dead) = stored_main_oauth(store).await;
    // A dead mark other than a lost answer's would be a bug: show the trails.
    assert!(
        dead.as_deref().is_none_or(|d| d.contains("interrupted")),
        "holder {holder}, {point:?}: {dead:?}\n{trails:#?}"
    );
    if dead.is_none() {
        assert!(
            after > generation,
            "the refresh was completed: {after} <= {generation}"
        );
    }
    Round {
        kill_after_ms: kill_after.as_millis() as u64,
        point,
        lost: dead,
    }
}

/// Waits until every replica serves `main-oauth` again (after a replacement).
async fn until_every_replica_serves_main_oauth(cluster: &Cluster) {
    for i in 0..cluster.replicas.len() {
        let mut client = cluster.client(i).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = client
                .complete(complete("probe"))
                .await
                .unwrap()
                .into_inner();
            if answer.served_by.as_ref().unwrap().credential_id == "main-oauth" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica {i} never served main-oauth again: {:?}",
                answer.attempts
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn kill_rounds_with(rotation: Rotation, prefix: &str) -> Option<Vec<Round>> {
    let (mut cluster, _fakes, endpoint) = oauth_cluster(prefix, "oauth: { timeout: 2s }\n").await?;
    endpoint.set_rotation(rotation);
    endpoint.set_delay(ANSWER_IN);
    cluster.start(3).await;
    let store = cluster.store().await;
    let mut rng = Rng::seeded();
    let started = Instant::now();
    let mut rounds = Vec::new();
    for _ in 0..kill_rounds() {
        let round = kill_round(&mut cluster, &endpoint, &mut rng, &store).await;
        if round.lost.is_some() {
            // Put back for the next round, with the pair the provider holds now,
            // once the survivors' write-behind of the dead mark is done (a health
            // write racing a replacement can land on the new row).
            tokio::time::sleep(Duration::from_millis(300)).await;
            put_main_oauth(
                &store,
                &endpoint,
                &endpoint.current_access(),
                &endpoint.current_refresh(),
            )
            .await;
            until_every_replica_serves_main_oauth(&cluster).await;
        }
        rounds.push(round);
    }
    let count = |p: KillPoint| rounds.iter().filter(|r| r.point == p).count();
    let lost: Vec<_> = rounds
        .iter()
        .filter(|r| r.lost.is_some())
        .map(|r| (r.kill_after_ms, r.point, r.lost.clone()))
        .collect();
    eprintln!(
        "{rotation:?}: {} kills of the lock holder in {:?}: {} before the call, {} in flight, {} after the answer; {} lost {lost:?}; {} token calls",
        rounds.len(),
        started.elapsed(),
        count(KillPoint::BeforeCall),
        count(KillPoint::InFlight),
        count(KillPoint::AfterAnswer),
        lost.len(),
        endpoint.call_count(),
    );
    assert_no_superseded_token_presented(&cluster, &endpoint).await;
    store.close().await;
    Some(rounds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_refresh_lock_holder_loses_nothing_with_a_grace_window() {
    let Some(rounds) = kill_rounds_with(Rotation::Grace(Duration::from_secs(10)), "grace").await
    else {
        return;
    };
    let lost: Vec<_> = rounds.iter().filter(|r| r.lost.is_some()).collect();
    assert!(lost.is_empty(), "credentials dead: {lost:?}");
    assert!(
        rounds.iter().any(|r| r.point == KillPoint::InFlight),
        "some kill fell while the answer was in flight: {rounds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_refresh_lock_holder_with_strict_rotation_loses_only_answers_in_flight() {
    let Some(rounds) = kill_rounds_with(Rotation::Strict, "strict").await else {
        return;
    };
    for round in &rounds {
        // The answer of a call in flight dies with its holder; the next holder
        // presents the spent token once, and is refused.
        assert_eq!(
            round.lost.is_some(),
            round.point == KillPoint::InFlight,
            "{round:?}"
        );
        let Some(reason) = &round.lost else {
            continue;
        };
        assert!(
            reason.starts_with("refresh refused: refresh interrupted")
                && reason.contains("the provider refused the spent refresh token"),
            "{reason}"
        );
    }
}
