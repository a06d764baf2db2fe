//! Tests of the store: credentials, health and trails round trips, errors,
//! file modes, incarnations and rotations.

use super::*;
use crate::domain::{
    Action, Caller, CandidateSummary, ErrorClass, FailureReason, Material, Millis, OAuthTokens,
    Step, Trail,
};

pub(crate) fn key() -> MasterKey {
    MasterKey::from_bytes([7; 32])
}

fn oauth(id: &str, access: &str, refresh: &str) -> NewCredential {
    NewCredential {
        id: id.into(),
        provider: "p".into(),
        label: String::new(),
        priority: 0,
        material: Material::OAuth(OAuthTokens {
            access_token: access.to_owned().into(),
            refresh_token: refresh.to_owned().into(),
            expires_at: Some(1_000),
            token_url: "http://127.0.0.1:1/token".into(),
            client_id: "agent".into(),
            client_secret: Some("client-secret-x".to_owned().into()),
            scope: None,
        }),
    }
}

pub(crate) fn trail(id: &str, at: Millis) -> Trail {
    Trail {
        request_id: id.into(),
        caller: Caller::Aux("compression".into()),
        created_at: at,
        failure: Some(FailureReason::AllCandidatesFailed),
        candidates: vec![CandidateSummary {
            provider: "p".into(),
            model: "m".into(),
            origin: "task".into(),
        }],
        steps: vec![Step {
            candidate_index: 0,
            provider: "p".into(),
            model: "m".into(),
            credential_id: Some("k1".into()),
            error_class: ErrorClass::AuthTerminal,
            http_status: 401,
            action: Action::NextCandidate,
            reason: "401 token_invalidated".into(),
            duration_ms: 3,
        }],
    }
}

#[tokio::test]
async fn sqlite_errors_name_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: SQLite cannot open it.
    let path = dir.path().join("is-a-dir.db");
    std::fs::create_dir(&path).unwrap();
    let err = Store::open(&path, key()).await.unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    store.close().await;
    let err = store.trail("r1").await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("database {}", dir.path().join("s.db").display())),
        "{err}"
    );
    let err = store.probe_write().await.unwrap_err();
    assert!(matches!(err, StoreError::NotWritable { .. }), "{err}");
}

#[tokio::test]
async fn a_database_with_sealed_secrets_is_told_from_one_without() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    assert!(!Store::holds_sealed_secrets(&path).await.unwrap());
    assert!(!path.exists(), "the check creates no file");
    let store = Store::open(&path, key()).await.unwrap();
    assert!(!Store::holds_sealed_secrets(&path).await.unwrap());
    store
        .put_credential(&oauth("o1", "a", "r"), false, 1)
        .await
        .unwrap();
    assert!(Store::holds_sealed_secrets(&path).await.unwrap());
    store.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_and_its_wal_and_shm_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open(&path, key()).await.unwrap();
    store
        .write_batch(&[], &[Arc::new(trail("r1", 1))])
        .await
        .unwrap();
    for file in ["s.db", "s.db-wal", "s.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {mode:o}");
    }
    store.close().await;
}

#[tokio::test]
async fn the_file_holds_no_secret_and_rekey_moves_to_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open(&path, key()).await.unwrap();
    store
        .put_credential(&oauth("o1", "access-AAAA", "refresh-BBBB"), false, 1)
        .await
        .unwrap();
    let new_key = MasterKey::from_bytes([9; 32]);
    assert_eq!(store.rekey(&new_key).await.unwrap(), 1);
    store.close().await;
    let mut bytes = std::fs::read(&path).unwrap();
    for ext in ["db-wal", "db-shm"] {
        bytes.extend(std::fs::read(path.with_extension(ext)).unwrap_or_default());
    }
    for secret in ["access-AAAA", "refresh-BBBB", "client-secret-x"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the file"
        );
    }
    assert!(matches!(
        Store::open(&path, key()).await.unwrap().credentials().await,
        Err(StoreError::Crypto { .. })
    ));
    let reopened = Store::open(&path, new_key).await.unwrap();
    let c = reopened.credential("o1").await.unwrap().unwrap();
    assert_eq!(c.material.bearer().expose_secret(), "access-AAAA");
}

/// Runs each test body against a fresh database of each backend, as the tests
/// `name::sqlite` and `name::postgres` (see [`postgres_or_skip`]).
macro_rules! both_backends {
    ($(async fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let $db = $crate::store::Database::Sqlite(dir.path().join("s.db"));
                $body
            }

            #[tokio::test]
            async fn postgres() {
                let Some($db) = $crate::store::tests::postgres_or_skip().await else {
                    return;
                };
                $body
            }
        }
    )*};
}
pub(crate) use both_backends;

/// A fresh PostgreSQL database, or `None` (printed: SKIPPED) when no test server
/// is given and `CI` is unset. Under `CI` a missing server fails the test.
pub(crate) async fn postgres_or_skip() -> Option<Database> {
    match super::testdb::fresh_postgres().await {
        Ok(db) => Some(db),
        Err(super::testdb::Unavailable::Unset) => {
            eprintln!(
                "SKIPPED: the PostgreSQL half: {}",
                super::testdb::Unavailable::Unset
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

both_backends! {
    async fn credentials_health_and_trails_round_trip(db) {
        let store = Store::open_at(&db, key()).await.unwrap();
        let key = NewApiKey {
            id: "k1".into(),
            provider: "p".into(),
            label: "".into(),
            priority: 0,
            secret: "sk-test".to_owned().into(),
        };
        store.add_api_key(&key, 1).await.unwrap();
        assert!(matches!(
            store.add_api_key(&key, 1).await,
            Err(StoreError::Duplicate(_))
        ));
        let dead = HealthChange::Dead {
            id: "k1".into(),
            incarnation: store.credential("k1").await.unwrap().unwrap().incarnation,
            reason: "token_invalidated".into(),
            at: 5,
        };
        store
            .write_batch(&[dead], &[Arc::new(trail("r1", 10))])
            .await
            .unwrap();
        let creds = store.credentials().await.unwrap();
        assert_eq!(creds[0].health.dead_since, Some(5));
        assert_eq!(creds[0].material.bearer().expose_secret(), "sk-test");
        assert_eq!(store.trail("r1").await.unwrap(), Some(trail("r1", 10)));
        assert_eq!(store.trail("nope").await.unwrap(), None);
    }

    async fn health_of_a_removed_credential_is_ignored(db) {
        let store = Store::open_at(&db, key()).await.unwrap();
        let change = HealthChange::Cooldown {
            id: "gone".into(),
            incarnation: 0,
            until: 9,
            class: ErrorClass::Billing,
            at: 1,
        };
        store.write_batch(&[change], &[]).await.unwrap();
        assert!(store.credentials().await.unwrap().is_empty());
    }

    async fn a_dead_mark_queued_for_a_replaced_credential_spares_its_successor(db) {
        let store = Store::open_at(&db, key()).await.unwrap();
        store
            .put_credential(&oauth("o1", "a0", "r0"), false, 1)
            .await
            .unwrap();
        let old = store.credential("o1").await.unwrap().unwrap().incarnation;
        let dead = |incarnation| HealthChange::Dead {
            id: "o1".into(),
            incarnation,
            reason: "refresh refused".into(),
            at: 5,
        };
        // Revived by PutCredential before the writer stored the dead mark.
        store
            .put_credential(&oauth("o1", "a9", "r9"), true, 2)
            .await
            .unwrap();
        let new = store.credential("o1").await.unwrap().unwrap().incarnation;
        assert_ne!(old, new);
        store.write_batch(&[dead(old)], &[]).await.unwrap();
        let c = store.credential("o1").await.unwrap().unwrap();
        assert_eq!(c.health.dead_since, None, "the new row stays live");
        store.write_batch(&[dead(new)], &[]).await.unwrap();
        let c = store.credential("o1").await.unwrap().unwrap();
        assert_eq!(c.health.dead_since, Some(5));
    }

    async fn rotations_are_conditional_on_the_generation(db) {
        let store = Store::open_at(&db, key()).await.unwrap();
        store
            .put_credential(&oauth("o1", "a0", "r0"), false, 1)
            .await
            .unwrap();
        let tokens = RotatedTokens {
            access_token: "a1".to_owned().into(),
            refresh_token: "r1".to_owned().into(),
            expires_at: Some(2_000),
        };
        let inc = store.credential("o1").await.unwrap().unwrap().incarnation;
        assert_eq!(
            store
                .commit_rotation("o1", inc, 0, &tokens, 2)
                .await
                .unwrap(),
            1
        );
        assert!(matches!(
            store.commit_rotation("o1", inc, 0, &tokens, 3).await,
            Err(StoreError::Conflict(_))
        ));
        let c = store.credential("o1").await.unwrap().unwrap();
        assert_eq!(c.generation, 1);
        let Material::OAuth(t) = c.material else {
            panic!()
        };
        assert_eq!(t.refresh_token.expose_secret(), "r1");
        assert_eq!(t.expires_at, Some(2_000));
    }

    async fn sealed_secrets_are_told_apart_on_each_backend(db) {
        assert!(!Store::holds_sealed_secrets_at(&db).await.unwrap());
        let store = Store::open_at(&db, key()).await.unwrap();
        assert!(!Store::holds_sealed_secrets_at(&db).await.unwrap());
        store
            .put_credential(&oauth("o1", "a", "r"), false, 1)
            .await
            .unwrap();
        assert!(Store::holds_sealed_secrets_at(&db).await.unwrap());
        store.close().await;
    }

    async fn the_database_holds_secrets_only_sealed(db) {
        let store = Store::open_at(&db, key()).await.unwrap();
        store
            .put_credential(&oauth("o1", "access-AAAA", "refresh-BBBB"), false, 1)
            .await
            .unwrap();
        let rows = sqlx::query("SELECT secret, refresh_token, client_secret FROM credentials")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        for row in &rows {
            for column in 0..3 {
                let sealed: Vec<u8> = sqlx::Row::get(row, column);
                assert!(MasterKey::is_sealed(&sealed), "column {column}");
                for secret in ["access-AAAA", "refresh-BBBB", "client-secret-x"] {
                    assert!(
                        !sealed.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{secret} in column {column}"
                    );
                }
            }
        }
        assert_eq!(rows.len(), 1);
    }

    async fn credentials_list_by_provider_priority_then_id_bytewise(db) {
        let store = Store::open_at(&db, key()).await.unwrap();
        for (id, provider, priority) in [("b", "p", 1), ("B", "p", 1), ("a", "p", 2), ("z", "P", 9)] {
            let mut c = oauth(id, "a", "r");
            c.provider = provider.into();
            c.priority = priority;
            store.put_credential(&c, false, 1).await.unwrap();
        }
        let ids: Vec<String> = store
            .credentials()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(ids, ["z", "B", "b", "a"]);
    }
}

#[tokio::test]
async fn postgres_errors_name_the_url_without_its_password() {
    // Nothing listens on port 1: the connection fails, and the error names the
    // database without the password the URL holds.
    let db = Database::postgres(
        "postgres://sy:hunter2-secret@127.0.0.1:1/switchyard"
            .to_owned()
            .into(),
    )
    .unwrap();
    let err = Store::open_at(&db, key()).await.unwrap_err().to_string();
    assert!(
        err.starts_with("database postgres://127.0.0.1:1/switchyard"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn sqlite_connections_use_wal_full_sync_foreign_keys_and_a_2_mib_cache_spilling_past_16() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
    // Several connections at once: each one must carry the settings.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(store.pool.acquire().await.unwrap());
    }
    for conn in &mut conns {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        for (pragma, want) in [
            ("PRAGMA synchronous", 2),
            ("PRAGMA foreign_keys", 1),
            ("PRAGMA cache_size", -2048),
            // Spilling on (0 would be off), past 4,000 pages.
            ("PRAGMA cache_spill", 4000),
            ("PRAGMA busy_timeout", 5000),
        ] {
            let got: i64 = sqlx::query_scalar(pragma)
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(got, want, "{pragma}");
        }
    }
}

/// Replicas starting together on one PostgreSQL database: the migrations hold an
/// advisory lock, so every open succeeds and the schema is made once. (Several
/// processes on one SQLite file are no supported deployment.)
#[tokio::test]
async fn concurrent_opens_of_a_fresh_postgres_database_migrate_it_once() {
    let Some(db) = postgres_or_skip().await else {
        return;
    };
    let opens = (0..4).map(|_| Store::open_at(&db, key()));
    let stores: Vec<Store> = futures::future::join_all(opens)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    stores[0]
        .put_credential(&oauth("o1", "a", "r"), false, 1)
        .await
        .unwrap();
    for store in &stores {
        assert_eq!(store.credentials().await.unwrap().len(), 1);
        store.close().await;
    }
}

/// A trail of 0.1 kept its steps in `attempts`, one row each: the migration
/// `attempts_into_steps` moves them into `requests.steps` in their order, read back
/// as any later trail's, and drops the table (whose cascade cost every prune).
/// Runs the migrations' own SQL on a database built as 0.1 left it.
#[tokio::test]
async fn the_steps_of_a_trail_of_0_1_move_into_its_row() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let run = |sql: &'static str| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
    // The schema 0.1 left: `requests` with `steps`, and `attempts`.
    for sql in [
        include_str!("../../../migrations/sqlite/20261129000001_init.sql"),
        include_str!("../../../migrations/sqlite/20261129000003_trail_steps_json.sql"),
    ] {
        run(sql).execute(&mut conn).await.unwrap();
    }
    run(
        "INSERT INTO requests (id, caller_kind, task, created_at, outcome, candidates)
         VALUES ('old', 'aux', 'vision', 1, 'succeeded', '[]'),
                ('bare', 'primary', NULL, 2, 'failed', '[]');
         INSERT INTO attempts VALUES
             ('old', 1, 1, 'fb', 'fb-model', NULL, 'none', 200, 'succeed', 'served', 12),
             ('old', 0, 0, 'main', 'main-model', 'main-k1', 'auth', 401, 'next_candidate',
              'token \"invalidated\"', 30);",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    run(include_str!(
        "../../../migrations/sqlite/20261203000001_attempts_into_steps.sql"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let steps: String = sqlx::query_scalar("SELECT steps FROM requests WHERE id = 'old'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let steps = super::trails::steps_from_json(&steps).unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    let (first, second) = (&steps[0], &steps[1]);
    assert_eq!(
        (first.candidate_index, &*first.provider, &*first.model),
        (0, "main", "main-model")
    );
    assert_eq!(first.credential_id.as_deref(), Some("main-k1"));
    assert_eq!(
        (first.error_class, first.http_status, first.action),
        (ErrorClass::Auth, 401, Action::NextCandidate)
    );
    assert_eq!(
        (first.reason.as_str(), first.duration_ms),
        ("token \"invalidated\"", 30)
    );
    assert_eq!(
        (
            second.candidate_index,
            &*second.provider,
            second.credential_id.as_deref()
        ),
        (1, "fb", None)
    );
    assert_eq!((second.action, second.duration_ms), (Action::Succeed, 12));
    let bare: String = sqlx::query_scalar("SELECT steps FROM requests WHERE id = 'bare'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(bare, "[]");
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'attempts'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(tables, 0, "attempts is dropped");
}
