//! The feed's triggers and locks on a real PostgreSQL (skipped without
//! `SWITCHYARD_TEST_POSTGRES_URL`, unless `CI` is set).

use secrecy::SecretString;
use sqlx::Connection as _;

use super::*;
use crate::domain::{ErrorClass, Material, OAuthTokens};
use crate::store::tests::{key, postgres_or_skip};
use crate::store::{Database, HealthChange, NewCredential, RotatedTokens};

fn oauth(access: &str) -> NewCredential {
    NewCredential {
        id: "k".into(),
        provider: "p".into(),
        label: String::new(),
        priority: 0,
        material: Material::OAuth(OAuthTokens {
            access_token: SecretString::from(access.to_owned()),
            refresh_token: SecretString::from("rt-secret-1".to_owned()),
            expires_at: None,
            token_url: "http://127.0.0.1:1/token".into(),
            client_id: "c".into(),
            client_secret: None,
            scope: None,
        }),
    }
}

/// The next notification, which must name `k` and carry no secret.
async fn next(listener: &mut PgListener) -> Change {
    let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notification")
        .unwrap();
    assert!(!n.payload().contains("secret"), "{}", n.payload());
    let change: Change = serde_json::from_str(n.payload()).unwrap();
    assert_eq!(change.id, "k");
    change
}

async fn revision(store: &Store) -> u64 {
    store.credential("k").await.unwrap().unwrap().revision
}

#[tokio::test]
async fn every_shared_change_notifies_a_newer_revision_and_a_use_count_does_not() {
    let Some(db) = postgres_or_skip().await else {
        return;
    };
    let Database::Postgres(url) = &db else {
        panic!("not PostgreSQL")
    };
    let store = Store::open_at(&db, key()).await.unwrap();
    let mut listener = PgListener::connect(url.expose_secret()).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();

    store
        .put_credential(&oauth("at-secret-1"), false, 1)
        .await
        .unwrap();
    let put = next(&mut listener).await;
    assert_eq!(put.revision, revision(&store).await);
    let incarnation = store.credential("k").await.unwrap().unwrap().incarnation;

    // A use count is not shared: no notification, no new revision. The next
    // notification is the cooldown's.
    let id: crate::domain::CredentialId = "k".into();
    let usage = HealthChange::Usage {
        id: id.clone(),
        incarnation,
        uses: 3,
    };
    store.write_batch(&[usage], &[]).await.unwrap();
    assert_eq!(revision(&store).await, put.revision);
    let cooldown = HealthChange::Cooldown {
        id: id.clone(),
        incarnation,
        until: 60_000,
        class: ErrorClass::RateLimit,
        at: 2,
    };
    store.write_batch(&[cooldown], &[]).await.unwrap();
    let cooled = next(&mut listener).await;
    assert!(cooled.revision > put.revision);
    assert_eq!(cooled.revision, revision(&store).await);

    let rotated = RotatedTokens {
        access_token: SecretString::from("at-secret-2".to_owned()),
        refresh_token: SecretString::from("rt-secret-2".to_owned()),
        expires_at: None,
    };
    store
        .commit_rotation("k", incarnation, 0, &rotated, 3)
        .await
        .unwrap();
    let rotation = next(&mut listener).await;
    assert!(rotation.revision > cooled.revision);
    assert_eq!(rotation.revision, revision(&store).await);

    let dead = HealthChange::Dead {
        id,
        incarnation,
        reason: "invalid_grant".into(),
        at: 4,
    };
    store.write_batch(&[dead], &[]).await.unwrap();
    let died = next(&mut listener).await;
    assert!(died.revision > rotation.revision);

    // A replacement: its deletion, then its insertion, each newer.
    store
        .put_credential(&oauth("at-secret-3"), true, 5)
        .await
        .unwrap();
    let deleted = next(&mut listener).await;
    let inserted = next(&mut listener).await;
    assert!(died.revision < deleted.revision && deleted.revision < inserted.revision);
    assert_eq!(inserted.revision, revision(&store).await);

    assert!(store.remove_credential("k").await.unwrap());
    let removed = next(&mut listener).await;
    assert!(removed.revision > inserted.revision);
    store.close().await;
}

/// The race a revision must survive: a state change (revision r) still open
/// while a change of the credential row commits. Were the row's change given
/// r + 1 and committed first, a replica would apply r + 1 and then drop r as
/// stale, losing the cooldown. The state change locks the credential's row,
/// so the row's change waits for its commit and takes the next revision.
#[tokio::test]
async fn a_row_change_waits_for_an_open_state_change_and_takes_a_later_revision() {
    let Some(db) = postgres_or_skip().await else {
        return;
    };
    let Database::Postgres(url) = &db else {
        panic!("not PostgreSQL")
    };
    let store = Store::open_at(&db, key()).await.unwrap();
    store
        .put_credential(&oauth("at-secret-1"), false, 1)
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(url.expose_secret()).await.unwrap();

    let mut state = pool.begin().await.unwrap();
    let cooled: i64 = sqlx::query_scalar(
        "INSERT INTO credential_state (credential_id, cooldown_until, updated_at)
         VALUES ('k', 60000, 2) RETURNING revision",
    )
    .fetch_one(&mut *state)
    .await
    .unwrap();
    let row_change = {
        let pool = pool.clone();
        tokio::spawn(async move {
            sqlx::query_scalar::<_, i64>(
                "UPDATE credentials SET updated_at = 3 WHERE id = 'k' RETURNING revision",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        })
    };
    // The row's change waits for the state change's lock.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE 'UPDATE credentials SET updated_at = 3%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting == 1 {
            break;
        }
        assert!(!row_change.is_finished(), "the row's change did not wait");
        assert!(tokio::time::Instant::now() < deadline, "never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    state.commit().await.unwrap();
    let changed = row_change.await.unwrap();
    assert!(changed > cooled, "{changed} after {cooled}");
    assert_eq!(revision(&store).await, changed as u64);
    pool.close().await;
    store.close().await;
}

/// Two replicas writing health batches for the same credentials in opposite
/// orders: each change locks its credential's row, so unordered batches
/// would deadlock (PostgreSQL aborts one). Batches are written in id order.
#[tokio::test]
async fn health_batches_in_opposite_orders_from_two_replicas_never_deadlock() {
    let Some(db) = postgres_or_skip().await else {
        return;
    };
    let a = Store::open_at(&db, key()).await.unwrap();
    let b = Store::open_at(&db, key()).await.unwrap();
    let mut changes = Vec::new();
    for i in 0..8 {
        let mut c = oauth("at-secret");
        c.id = format!("k{i}");
        a.put_credential(&c, false, 1).await.unwrap();
        let stored = a.credential(&c.id).await.unwrap().unwrap();
        changes.push(HealthChange::Cooldown {
            id: stored.id.clone(),
            incarnation: stored.incarnation,
            until: 60_000,
            class: ErrorClass::RateLimit,
            at: 2,
        });
    }
    let reversed: Vec<HealthChange> = changes.iter().rev().cloned().collect();
    let writer = |store: Store, batch: Vec<HealthChange>| {
        tokio::spawn(async move {
            for round in 0..40u64 {
                let batch: Vec<HealthChange> = batch
                    .iter()
                    .map(|c| match c {
                        HealthChange::Cooldown {
                            id,
                            incarnation,
                            class,
                            ..
                        } => HealthChange::Cooldown {
                            id: id.clone(),
                            incarnation: *incarnation,
                            until: 60_000 + round,
                            class: *class,
                            at: 2 + round,
                        },
                        other => other.clone(),
                    })
                    .collect();
                store.write_batch(&batch, &[]).await?;
            }
            Ok::<_, StoreError>(())
        })
    };
    let (one, two) = (writer(a.clone(), changes), writer(b.clone(), reversed));
    one.await.unwrap().unwrap();
    two.await.unwrap().unwrap();
    a.close().await;
    b.close().await;
}

/// The listening flag (`switchyard_credential_feed_listening`) follows the
/// listener: set once it has connected and resynchronised, cleared when its
/// connection is cut, set again after the reconnection.
#[tokio::test]
async fn the_listening_flag_follows_the_listener_through_a_lost_connection() {
    let Some(db) = postgres_or_skip().await else {
        return;
    };
    let Database::Postgres(url) = &db else {
        panic!("not PostgreSQL")
    };
    let store = Store::open_at(&db, key()).await.unwrap();
    let pool = Arc::new(CredentialPool::new(Vec::new(), Default::default()));
    let feed = Feed::new(store.clone(), pool, url.clone(), Duration::from_secs(3600));
    assert!(!feed.is_listening());
    let tasks = feed.start();
    let until = |want: bool| {
        let feed = feed.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(10), async {
                while feed.is_listening() != want {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("listening never became {want}"));
        }
    };
    until(true).await;

    let mut admin = sqlx::postgres::PgConnection::connect(url.expose_secret())
        .await
        .unwrap();
    let cut: bool = sqlx::query_scalar(
        "SELECT bool_or(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(APPLICATION_NAME)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(cut, "no listener connection to cut");
    until(false).await;
    until(true).await;
    tasks.stop();
    store.close().await;
}
