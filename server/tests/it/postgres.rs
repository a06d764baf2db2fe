//! PostgreSQL as the store: two servers on one database answer `ExplainFallback`
//! for each other's requests, `migrate-store` moves a SQLite store (seeded
//! through the CLI) into PostgreSQL, where the server uses its credential, and
//! the store's health follows a database that refuses writes.
//!
//! Each test creates its own database on `SWITCHYARD_TEST_POSTGRES_URL`
//! (`bash .ci/postgres` starts a server and sets it). Without it the tests print
//! SKIPPED, unless `CI` is set: then they fail.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Connection as _;
use switchyard::fake::FakeReply;
use switchyard::store::testdb::{POSTGRES_URL_ENV, Unavailable, fresh_postgres};
use switchyard::store::{Database, Store};
use switchyard_client::pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::support::*;

/// A fresh database, or `None` after printing why the test is skipped.
pub(crate) async fn postgres_or_skip() -> Option<SecretString> {
    match fresh_postgres().await {
        Ok(Database::Postgres(url)) => Some(url),
        Ok(other) => panic!("not PostgreSQL: {other:?}"),
        Err(Unavailable::Unset) => {
            eprintln!("SKIPPED: {}", Unavailable::Unset);
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// The standard keys, sealed under the key file beside `sqlite_path`, put into
/// the PostgreSQL database.
pub(crate) async fn seed_keys_into(url: &SecretString, sqlite_path: &Path) {
    let key_file = switchyard::crypto::default_key_file(sqlite_path);
    let (key, _) = switchyard::crypto::MasterKey::load(None, &key_file).unwrap();
    let store = Store::open_at(&Database::Postgres(url.clone()), key)
        .await
        .unwrap();
    super::replicas::seed_standard_keys(&store).await;
    store.close().await;
}

/// Asks `app` to explain `id` until the trail is there (trails are written
/// behind the answer, by the other replica's writer).
async fn explain_when_written(app: &mut TestApp, id: &str) -> pb::ExplainFallbackResponse {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = app
            .client
            .explain_fallback(pb::ExplainFallbackRequest {
                query: Some(pb::explain_fallback_request::Query::RequestId(id.into())),
            })
            .await;
        match found {
            Ok(answer) => return answer.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => {
                assert!(Instant::now() < deadline, "{id} never reached the store");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
}

#[tokio::test]
async fn a_trail_recorded_by_one_replica_is_explained_by_another() {
    let Some(url) = postgres_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Unused with a URL, but the master key file lives beside it.
    let path = dir.path().join("switchyard.db");
    seed_keys_into(&url, &path).await;
    let fakes = Fakes::start().await;
    let env = [("DATABASE_URL", url.expose_secret())];
    let mut a = TestApp::spawn(fakes.config_env(&path, "", &env)).await;
    let mut b = TestApp::spawn(fakes.config_env(&path, "", &env)).await;
    assert!(!path.exists(), "no SQLite file is made when a URL is set");

    fakes.aux.push([FakeReply::token_invalidated()]);
    let answer = a.aux("compression").await.unwrap();
    assert_eq!(answer.attempts.len(), 2, "{:?}", answer.attempts);
    let from_b = explain_when_written(&mut b, &answer.request_id).await;
    assert_eq!(from_b.steps, answer.attempts, "B explains A's request");
    let from_a = a.explain_id(&answer.request_id).await;
    assert_eq!(from_a.steps, from_b.steps);
    a.stop().await;
    b.stop().await;
}

/// The binary, with `config` and no inherited key or database variables.
fn switchyard(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("--config")
        .arg(config)
        .env_remove("SWITCHYARD_MASTER_KEY")
        .env_remove("DATABASE_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    cmd
}

#[tokio::test]
async fn migrate_store_moves_a_sqlite_store_seeded_by_the_cli_into_postgres() {
    let Some(url) = postgres_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    let db = dir.path().join("switchyard.db");
    let config = dir.path().join("switchyard.yaml");
    std::fs::write(&config, standard_yaml(&fakes, &db, "")).unwrap();
    let added = switchyard(&config)
        .args(["credentials", "add", "--provider", "aux", "--id", "aux-cli"])
        .args(["--api-key-env", "CLI_KEY"])
        .env("CLI_KEY", "sk-added-by-cli-0012")
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");

    // A request served from SQLite leaves a trail there.
    let sqlite = Server::start(&config, &[]);
    let mut client = sqlite.client().await;
    let before = client
        .aux_complete(pb::AuxCompleteRequest {
            task: "compression".into(),
            messages: vec![user("compress this")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    sqlite.sigterm();
    let (status, logs) = sqlite.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{logs}");

    let migrated = switchyard(&config)
        .args(["migrate-store", "--from"])
        .arg(&db)
        .env("DATABASE_URL", url.expose_secret())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&migrated.stdout);
    assert!(migrated.status.success(), "{migrated:?}");
    assert!(stdout.contains("copied 1 credentials"), "{stdout}");
    assert!(stdout.contains("1 trails"), "{stdout}");
    assert!(
        !stdout.contains('@'),
        "no user or password printed: {stdout}"
    );
    let again = switchyard(&config)
        .args(["migrate-store", "--from"])
        .arg(&db)
        .env("DATABASE_URL", url.expose_secret())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "a second copy is refused");
    assert!(stderr.contains("is not empty"), "{stderr}");

    // Served from PostgreSQL: the credential works, the old trail is there.
    std::fs::rename(&db, dir.path().join("moved-away.db")).unwrap();
    let pg = Server::start(&config, &[("DATABASE_URL", url.expose_secret())]);
    let mut client = pg.client().await;
    let answer = client
        .aux_complete(pb::AuxCompleteRequest {
            task: "compression".into(),
            messages: vec![user("compress this")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let served = answer.served_by.unwrap();
    assert_eq!(served.credential_id, "aux-cli");
    let calls = fakes.aux.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].credential, "sk-added-by-cli-0012");
    let explained = client
        .explain_fallback(pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::RequestId(
                before.request_id.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.steps, before.attempts);
    pg.sigterm();
    let (status, logs) = pg.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{logs}");
    assert!(!dir.path().join("switchyard.db").exists());
}

#[tokio::test]
async fn a_postgres_store_without_a_given_master_key_is_refused_and_no_key_is_made() {
    // Refused before any connection: nothing listens on port 1.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.db");
    let fakes = Fakes::start().await;
    let url = "postgres://sy:pw-secret-0012@127.0.0.1:1/switchyard";
    let config = fakes.config_env(&path, "", &[("DATABASE_URL", url)]);
    let Err(err) = switchyard::app::App::build(config).await else {
        panic!("started without a master key");
    };
    let err = err.to_string();
    assert!(err.starts_with("no master key"), "{err}");
    assert!(err.contains("postgres://127.0.0.1:1/switchyard"), "{err}");
    assert!(!err.contains("pw-secret"), "{err}");
    assert!(!switchyard::crypto::default_key_file(&path).exists());
}

pub(crate) async fn store_health(channel: tonic::transport::Channel) -> ServingStatus {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "switchyard.v1.Store".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

/// Runs `sql` as the test server's administrator.
async fn as_admin(sql: String) {
    let admin = std::env::var(POSTGRES_URL_ENV).unwrap();
    let mut conn = sqlx::postgres::PgConnection::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Makes calls (each must succeed) until the store reports `want`.
async fn call_until(app: &mut TestApp, want: ServingStatus) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        app.aux("compression").await.unwrap();
        if store_health(app.channel.clone()).await == want {
            return;
        }
        assert!(Instant::now() < deadline, "the store never became {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn store_health_goes_not_serving_while_postgres_refuses_writes_and_comes_back() {
    let Some(url) = postgres_or_skip().await else {
        return;
    };
    let name = url.expose_secret().rsplit('/').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.db");
    seed_keys_into(&url, &path).await;
    let fakes = Fakes::start().await;
    let env = [("DATABASE_URL", url.expose_secret())];
    let mut app = TestApp::spawn(fakes.config_env(&path, "", &env)).await;
    app.aux("compression").await.unwrap();
    assert_eq!(
        store_health(app.channel.clone()).await,
        ServingStatus::Serving
    );

    // The database turns read-only; sessions are cut so the pool reconnects into it.
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    );
    as_admin(format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = on; {terminate}"
    ))
    .await;
    call_until(&mut app, ServingStatus::NotServing).await;

    as_admin(format!(
        "ALTER DATABASE {name} RESET default_transaction_read_only; {terminate}"
    ))
    .await;
    call_until(&mut app, ServingStatus::Serving).await;
    // Written again: a trail of a call made now reaches the database.
    let answer = app.aux("compression").await.unwrap();
    let store = Store::open_at(
        &Database::Postgres(url.clone()),
        switchyard::crypto::MasterKey::load(None, &switchyard::crypto::default_key_file(&path))
            .unwrap()
            .0,
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.trail(&answer.request_id).await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the trail never reached PostgreSQL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
    app.stop().await;
}
