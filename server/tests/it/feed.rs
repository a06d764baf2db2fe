//! Replicas on one PostgreSQL see each other's credential changes through the
//! change feed (LISTEN/NOTIFY, ordered by revision), within a second; a lost
//! notification is repaired by the resync after the listener reconnects, or by
//! the periodic one. The replicas are in-process `App`s on 127.0.0.1:0 sharing
//! one fresh database on `SWITCHYARD_TEST_POSTGRES_URL` (skipped without it,
//! unless `CI` is set).

use std::time::{Duration, Instant};

use super::postgres::postgres_or_skip;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Connection as _;
use switchyard::config::Config;
use switchyard::crypto::token_hash;
use switchyard::domain::Material;
use switchyard::domain::OAuthTokens;
use switchyard::fake::{FakeReply, FakeTokenEndpoint};
use switchyard::store::{Database, NewCredential, Store};
use switchyard_client::pb;
use switchyard_client::pb::Action::{RotateCredential, Succeed};
use switchyard_client::pb::credential_service_client::CredentialServiceClient;

use super::support::*;

const ADMIN_TOKEN: &str = "sy_admin-token-for-feed-tests-5e1d";
/// What "within a second" is measured against: from the end of the change (the
/// answer of the call that made it) to the other replica's next request.
const WITHIN: Duration = Duration::from_secs(1);

/// Replicas of the standard topology on one database, where `main` has two keys
/// (`main-k1` first, then `main-k2`), and the admin API takes [`ADMIN_TOKEN`].
struct Cluster {
    url: SecretString,
    fakes: Fakes,
    store: Store,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Option<Self> {
        let url = postgres_or_skip().await?;
        let dir = tempfile::tempdir().unwrap();
        // The master key file lives beside the (unused) SQLite path.
        let path = dir.path().join("switchyard.db");
        let key_file = switchyard::crypto::default_key_file(&path);
        let (key, _) = switchyard::crypto::MasterKey::load(None, &key_file).unwrap();
        let store = Store::open_at(&Database::Postgres(url.clone()), key)
            .await
            .unwrap();
        let keys = [
            ("main-k1", "main", 0),
            ("main-k2", "main", 1),
            ("main-fb-k1", "main-fb", 0),
            ("aux-k1", "aux", 0),
            ("chain-a-k1", "chain-a", 0),
            ("chain-b-k1", "chain-b", 0),
        ];
        for (id, provider, priority) in keys {
            store
                .put_credential(&api_key(id, provider, priority), false, 1)
                .await
                .unwrap();
        }
        let fakes = Fakes::start().await;
        Some(Self {
            url,
            fakes,
            store,
            dir,
        })
    }

    /// A replica resynchronising fully every `resync`.
    async fn replica(&self, resync: &str) -> TestApp {
        let path = self.dir.path().join("switchyard.db");
        let auth = format!(
            "auth:\n  admin_token_sha256: [\"{}\"]\n",
            token_hash(ADMIN_TOKEN)
        );
        let yaml = standard_yaml(&self.fakes, &path, &auth);
        let env = [
            ("DATABASE_URL", self.url.expose_secret()),
            ("SWITCHYARD__DATABASE__RESYNC_INTERVAL", resync),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let before = listeners(&self.url).await;
        let app = TestApp::spawn(Config::from_yaml(&yaml, "<test>", env).unwrap()).await;
        // The replica connects its listener after it starts serving: on a loaded
        // machine, well after. A test of notifications starts once it listens.
        let deadline = Instant::now() + Duration::from_secs(15);
        while listeners(&self.url).await <= before {
            assert!(Instant::now() < deadline, "the replica never listened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app
    }

    /// The keys `main` received since the last call of this, in order.
    fn main_keys(&self, seen: &mut usize) -> Vec<String> {
        let calls = self.fakes.main.calls();
        let new = calls[*seen..]
            .iter()
            .map(|c| c.credential.clone())
            .collect();
        *seen = calls.len();
        new
    }
}

fn api_key(id: &str, provider: &str, priority: i64) -> NewCredential {
    NewCredential {
        id: id.into(),
        provider: provider.into(),
        label: String::new(),
        priority,
        material: Material::ApiKey(SecretString::from(format!("secret-of-{id}"))),
    }
}

fn rate_limited_for_a_minute() -> FakeReply {
    FakeReply::error(
        429,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
    )
    .with_header("retry-after", "60")
}

/// Sleeps until `WITHIN` after `since`.
async fn until_within(since: Instant) {
    tokio::time::sleep_until((since + WITHIN).into()).await;
}

/// Asks `app` until `main` receives `key`, for at most `limit`; returns how long
/// it took.
async fn until_main_uses(
    cluster: &Cluster,
    app: &mut TestApp,
    key: &str,
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    let mut seen = cluster.fakes.main.call_count();
    loop {
        app.primary().await.unwrap();
        let used = cluster.main_keys(&mut seen);
        if used.iter().any(|k| k == key) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "after {limit:?} main still receives {used:?}, not {key}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Terminates the feed listeners' backends on the cluster's database, waiting
/// until they are gone. Returns how many there were.
async fn cut_listeners(url: &SecretString) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url.expose_secret())
        .await
        .unwrap();
    let killed = sqlx::query_scalar(
        // OFFSET 0 keeps the filter apart: it runs before any termination.
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM (
             SELECT pid FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database() OFFSET 0
         ) AS listeners",
    )
    .bind(switchyard::feed::APPLICATION_NAME)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    killed
}

/// Listeners that have run their `LISTEN` on the cluster's database.
async fn listeners(url: &SecretString) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url.expose_secret())
        .await
        .unwrap();
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE application_name = $1 AND datname = current_database()
           AND query LIKE 'LISTEN%'",
    )
    .bind(switchyard::feed::APPLICATION_NAME)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    n
}

#[tokio::test]
async fn a_key_cooled_down_by_replica_a_is_skipped_by_replica_b_within_a_second() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let mut a = cluster.replica("30s").await;
    let mut b = cluster.replica("30s").await;
    let mut seen = 0;

    cluster.fakes.main.push([rate_limited_for_a_minute()]);
    let on_a = a.primary().await.unwrap();
    let changed = Instant::now();
    assert_eq!(
        shape(&on_a.attempts),
        [
            s("main", "main-k1", RotateCredential),
            s("main", "main-k2", Succeed)
        ]
    );
    assert_eq!(
        cluster.main_keys(&mut seen),
        ["secret-of-main-k1", "secret-of-main-k2"]
    );

    until_within(changed).await;
    let on_b = b.primary().await.unwrap();
    assert_eq!(
        shape(&on_b.attempts),
        [s("main", "main-k2", Succeed)],
        "B goes straight to the next key"
    );
    assert_eq!(cluster.main_keys(&mut seen), ["secret-of-main-k2"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_credential_put_through_the_admin_api_on_b_is_used_by_c_within_a_second() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let b = cluster.replica("30s").await;
    let mut c = cluster.replica("30s").await;
    let mut seen = 0;
    c.primary().await.unwrap();
    assert_eq!(cluster.main_keys(&mut seen), ["secret-of-main-k1"]);

    let mut admin = CredentialServiceClient::new(b.channel.clone());
    let mut put = tonic::Request::new(pb::PutCredentialRequest {
        id: "main-k0".into(),
        provider: "main".into(),
        priority: -1,
        material: Some(pb::put_credential_request::Material::ApiKey(pb::ApiKey {
            key: "secret-of-main-k0".into(),
        })),
        ..Default::default()
    });
    put.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    admin.put_credential(put).await.unwrap();
    let changed = Instant::now();

    until_within(changed).await;
    let on_c = c.primary().await.unwrap();
    assert_eq!(shape(&on_c.attempts), [s("main", "main-k0", Succeed)]);
    assert_eq!(cluster.main_keys(&mut seen), ["secret-of-main-k0"]);
    b.stop().await;
    c.stop().await;
}

#[tokio::test]
async fn a_change_made_while_the_listener_was_cut_off_is_repaired_by_the_resync_on_reconnect() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // No periodic resync within the test: only the reconnect can repair.
    let mut a = cluster.replica("1h").await;
    let mut seen = 0;
    a.primary().await.unwrap();
    assert_eq!(cluster.main_keys(&mut seen), ["secret-of-main-k1"]);

    // Cut the listener off (waiting until its backend is gone), then add a key
    // while nothing listens: its notification is lost.
    assert_eq!(
        cut_listeners(&cluster.url).await,
        1,
        "one listener to cut off"
    );
    cluster
        .store
        .put_credential(&api_key("main-k0", "main", -1), false, 2)
        .await
        .unwrap();

    until_main_uses(
        &cluster,
        &mut a,
        "secret-of-main-k0",
        Duration::from_secs(15),
    )
    .await;
    a.stop().await;
}

#[tokio::test]
async fn a_cooldown_whose_notification_never_came_is_repaired_by_the_periodic_resync() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let mut a = cluster.replica("1s").await;
    let mut seen = 0;
    a.primary().await.unwrap();
    assert_eq!(cluster.main_keys(&mut seen), ["secret-of-main-k1"]);

    // A cooldown committed with a new revision but without its notification:
    // triggers are off for this transaction (as if NOTIFY had been lost).
    let mut conn = sqlx::PgConnection::connect(cluster.url.expose_secret())
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    sqlx::query(
        "INSERT INTO credential_state (credential_id, cooldown_until, cooldown_class, updated_at, revision)
         VALUES ('main-k1', $1, 'rate_limit', $2, nextval('credential_revision'))",
    )
    .bind(now + 60_000)
    .bind(now)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    until_main_uses(
        &cluster,
        &mut a,
        "secret-of-main-k2",
        Duration::from_secs(10),
    )
    .await;
    // From then on main-k1 stays skipped.
    a.primary().await.unwrap();
    assert_eq!(
        cluster.main_keys(&mut seen).last().map(String::as_str),
        Some("secret-of-main-k2")
    );
    let _ = conn.close().await;
    a.stop().await;
}

#[tokio::test]
async fn tokens_rotated_by_replica_a_are_used_by_replica_b_within_a_second_without_a_refresh() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // main-k1 becomes an OAuth credential whose access token the provider refuses.
    let endpoint = FakeTokenEndpoint::start("feed").await.unwrap();
    cluster.fakes.main.require_bearer(
        endpoint.bearer_check(),
        FakeReply::error(
            401,
            r#"{"error":{"message":"Invalid bearer token","type":"authentication_error"}}"#,
        ),
    );
    let mut oauth = api_key("main-k1", "main", 0);
    oauth.material = Material::OAuth(OAuthTokens {
        access_token: SecretString::from("feed-access-stale"),
        refresh_token: SecretString::from("feed-refresh-0"),
        expires_at: None,
        token_url: endpoint.url(),
        client_id: "switchyard-test".into(),
        client_secret: None,
        scope: None,
    });
    cluster.store.put_credential(&oauth, true, 2).await.unwrap();
    let mut a = cluster.replica("30s").await;
    let mut b = cluster.replica("30s").await;
    let mut seen = 0;

    a.primary().await.unwrap();
    let changed = Instant::now();
    assert_eq!(endpoint.call_count(), 1, "A refreshed");
    let fresh = endpoint.current_access();
    assert_eq!(
        cluster.main_keys(&mut seen),
        ["feed-access-stale", fresh.as_str()]
    );

    until_within(changed).await;
    let on_b = b.primary().await.unwrap();
    assert_eq!(shape(&on_b.attempts), [s("main", "main-k1", Succeed)]);
    assert_eq!(cluster.main_keys(&mut seen), [fresh]);
    assert_eq!(
        endpoint.call_count(),
        1,
        "B used A's rotation, no refresh of its own"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_credential_replica_a_found_dead_is_skipped_by_replica_b_within_a_second() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // main-k1 becomes an OAuth credential whose token is invalidated and whose
    // refresh is refused for good: it dies on the replica that tries it.
    let endpoint = FakeTokenEndpoint::start("dead").await.unwrap();
    endpoint.set_failure(Some((400, r#"{"error":"invalid_grant"}"#)));
    cluster.fakes.main.require_bearer(
        std::sync::Arc::new(|token: &str| token == "secret-of-main-k2"),
        FakeReply::token_invalidated(),
    );
    let mut oauth = api_key("main-k1", "main", 0);
    oauth.material = Material::OAuth(OAuthTokens {
        access_token: SecretString::from("dead-access-0"),
        refresh_token: SecretString::from("dead-refresh-x"),
        expires_at: None,
        token_url: endpoint.url(),
        client_id: "switchyard-test".into(),
        client_secret: None,
        scope: None,
    });
    cluster.store.put_credential(&oauth, true, 2).await.unwrap();
    let mut a = cluster.replica("30s").await;
    let mut b = cluster.replica("30s").await;
    let mut seen = 0;

    let on_a = a.primary().await.unwrap();
    let changed = Instant::now();
    assert_eq!(
        on_a.attempts
            .last()
            .map(|at| (at.credential_id.as_str(), at.action())),
        Some(("main-k2", Succeed)),
        "{:?}",
        shape(&on_a.attempts)
    );
    assert_eq!(endpoint.call_count(), 1, "A's refresh was refused");
    assert_eq!(
        cluster.main_keys(&mut seen),
        ["dead-access-0", "secret-of-main-k2"]
    );

    until_within(changed).await;
    let on_b = b.primary().await.unwrap();
    assert_eq!(shape(&on_b.attempts), [s("main", "main-k2", Succeed)]);
    assert_eq!(cluster.main_keys(&mut seen), ["secret-of-main-k2"]);
    assert_eq!(
        endpoint.call_count(),
        1,
        "B never tried the dead credential"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_listener_logs_its_lost_connection_without_the_password_and_reconnects() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // Trust authentication ignores the password: it is there to be kept secret.
    let url =
        cluster
            .url
            .expose_secret()
            .replacen("://postgres@", "://postgres:hunter2-feed-0012@", 1);
    assert!(url.contains("hunter2"), "{url}");
    let path = cluster.dir.path().join("switchyard.db");
    let config = cluster.dir.path().join("switchyard.yaml");
    std::fs::write(&config, standard_yaml(&cluster.fakes, &path, "")).unwrap();
    // At the default `info`: each line here follows a sqlx query on its thread,
    // the case a per-layer log filter dropped (tokio-rs/tracing#2519).
    let server = Server::start(&config, &[("DATABASE_URL", &url)]);
    let listening = |logs: &str| logs.matches("listening for credential changes").count();

    let deadline = Instant::now() + Duration::from_secs(10);
    while listening(&server.logs()) < 1 {
        assert!(Instant::now() < deadline, "{}", server.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cut_listeners(&cluster.url).await, 1);
    while listening(&server.logs()) < 2 {
        assert!(
            Instant::now() < deadline,
            "never reconnected: {}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.sigterm();
    let (status, logs) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{logs}");
    assert!(
        logs.contains("credential change listener lost its connection"),
        "{logs}"
    );
    assert!(!logs.contains("hunter2"), "{logs}");
}
