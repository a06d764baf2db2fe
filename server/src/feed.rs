//! The change feed of a PostgreSQL store: how a replica learns, within a second,
//! what other replicas, the admin API and the CLI changed in the shared
//! credentials (a cooldown, a dead mark, rotated tokens, a new, replaced or
//! deleted credential).
//!
//! Triggers (migration `credential_feed`) give each change a revision and send
//! `NOTIFY switchyard_credentials` with the credential id and that revision at
//! commit. One task LISTENs on a connection of its own; for each notification
//! newer than what the pool holds it re-reads the row by id and applies it by
//! the rule of [`crate::credentials::remote`] (the payload names a row, it never
//! carries its content: no secret goes through it). A lost notification is
//! repaired by a full resynchronisation right after each (re)connection and every
//! `database.resync_interval`. The listener's failures are logged (the database
//! is named without its password) and it reconnects with a growing backoff.
//!
//! Owns no policy: it moves rows into the pool. The request path never waits for
//! it (the pool is read from memory).

use std::str::FromStr as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::task::JoinHandle;

use crate::credentials::CredentialPool;
use crate::credentials::remote::Applied;
use crate::store::{Store, StoreError};

/// The channel the triggers notify.
pub const CHANNEL: &str = "switchyard_credentials";
/// How the listener's connection names itself (`pg_stat_activity`).
pub const APPLICATION_NAME: &str = "switchyard-feed";
/// First wait before reconnecting a lost listener; doubled up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest wait between two attempts to reconnect the listener.
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Longest wait for the listener's connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One notification's payload: which credential changed, at which revision.
#[derive(Debug, Deserialize)]
struct Change {
    id: String,
    revision: u64,
}

/// The feed of one replica: its store, its pool, where to listen.
#[derive(Debug)]
pub struct Feed {
    store: Store,
    pool: Arc<CredentialPool>,
    url: SecretString,
    resync_every: Duration,
    /// One apply at a time: the listener's and the periodic resync's, so that a
    /// revision compared is still the revision held when the row is applied.
    applying: Mutex<()>,
}

/// The feed's running tasks.
#[derive(Debug)]
pub struct FeedTasks {
    tasks: Vec<JoinHandle<()>>,
}

impl FeedTasks {
    /// Stops the feed (at shutdown).
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

// === impl Feed ===

impl Feed {
    /// A feed of `store` (PostgreSQL at `url`) into `pool`, resynchronising fully
    /// every `resync_every`.
    pub fn new(
        store: Store,
        pool: Arc<CredentialPool>,
        url: SecretString,
        resync_every: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            pool,
            url,
            resync_every,
            applying: Mutex::new(()),
        })
    }

    /// Starts the listener and the periodic resynchronisation.
    pub fn start(self: &Arc<Self>) -> FeedTasks {
        FeedTasks {
            tasks: vec![
                tokio::spawn(self.clone().listen()),
                tokio::spawn(self.clone().resync_periodically()),
            ],
        }
    }

    async fn listen(self: Arc<Self>) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match self.connect().await {
                Ok(mut listener) => {
                    tracing::info!(database = %self.store.name(), channel = CHANNEL, "listening for credential changes");
                    let since = tokio::time::Instant::now();
                    // Whatever changed while nothing listened is read now.
                    self.resync_logged("listener connected").await;
                    let lost = loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => self.on_change(n.payload()).await,
                            Ok(None) => break "connection lost".to_owned(),
                            Err(e) => break e.to_string(),
                        }
                    };
                    // A connection that held a while starts the backoff over; one
                    // dropped at once backs off like a failed connect (each
                    // reconnection reads every credential).
                    if since.elapsed() >= BACKOFF_MAX {
                        backoff = BACKOFF_MIN;
                    }
                    tracing::warn!(
                        database = %self.store.name(),
                        error = %lost,
                        retry_in = ?backoff,
                        "credential change listener lost its connection: reconnecting, then resynchronising"
                    );
                }
                Err(e) => tracing::warn!(
                    database = %self.store.name(),
                    error = %e,
                    retry_in = ?backoff,
                    "cannot listen for credential changes: retrying"
                ),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// A listener on a connection of its own (a one-connection pool, dropped
    /// with it), LISTENing on [`CHANNEL`].
    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        let options = PgConnectOptions::from_str(self.url.expose_secret())?
            .application_name(APPLICATION_NAME);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&pool).await?;
        // A lost connection ends the loop in `listen`, which reconnects itself
        // (with a backoff) and resynchronises after.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    async fn on_change(&self, payload: &str) {
        let change: Change = match serde_json::from_str(payload) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "credential change notification not understood: ignored (the next resync covers it)");
                return;
            }
        };
        if self
            .pool
            .revision(&change.id)
            .is_some_and(|held| change.revision <= held)
        {
            return; // Ours, a duplicate, or overtaken.
        }
        match self.store.credential(&change.id).await {
            Ok(Some(row)) => {
                let applied = {
                    let _one = self.applying.lock().unwrap_or_else(|e| e.into_inner());
                    self.pool.apply_stored(row)
                };
                if applied != Applied::Stale {
                    tracing::debug!(credential = %change.id, revision = change.revision, ?applied, "credential changed in the store");
                }
            }
            Ok(None) => {
                let _one = self.applying.lock().unwrap_or_else(|e| e.into_inner());
                if self.pool.apply_deleted(&change.id, change.revision) {
                    tracing::info!(credential = %change.id, "credential deleted in the store: removed from the pool");
                }
            }
            Err(e) => tracing::warn!(
                credential = %change.id,
                error = %e,
                "cannot read a changed credential: the next resync applies it"
            ),
        }
    }

    /// Brings the pool in line with every row of the store. Returns how many
    /// credentials it changed (each a change whose notification was lost, or not
    /// yet delivered).
    pub async fn resync(&self) -> Result<usize, StoreError> {
        let rows = self.store.credentials().await?;
        let found = {
            let _one = self.applying.lock().unwrap_or_else(|e| e.into_inner());
            self.pool.resync(rows)
        };
        let mut changed = found.applied.len();
        for id in found.missing {
            // The rows may predate a credential added since: confirm by id.
            if self.store.credential(&id).await?.is_none() {
                let _one = self.applying.lock().unwrap_or_else(|e| e.into_inner());
                if self.pool.remove(&id) {
                    changed += 1;
                }
            }
        }
        if !found.applied.is_empty() {
            tracing::info!(credentials = ?found.applied, "resynchronised credentials changed in the store");
        }
        Ok(changed)
    }

    async fn resync_logged(&self, why: &str) {
        if let Err(e) = self.resync().await {
            tracing::warn!(why, error = %e, "credential resynchronisation failed: retried at the next");
        }
    }

    async fn resync_periodically(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.resync_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: the listener resyncs when it connects.
        tick.tick().await;
        loop {
            tick.tick().await;
            self.resync_logged("periodic").await;
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::domain::{ErrorClass, Material, OAuthTokens};
    use crate::store::testdb::{Unavailable, fresh_postgres};
    use crate::store::tests::key;
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
        let db = match fresh_postgres().await {
            Ok(db) => db,
            Err(Unavailable::Unset) => return eprintln!("SKIPPED: {}", Unavailable::Unset),
            Err(e) => panic!("{e}"),
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
        let db = match fresh_postgres().await {
            Ok(db) => db,
            Err(Unavailable::Unset) => return eprintln!("SKIPPED: {}", Unavailable::Unset),
            Err(e) => panic!("{e}"),
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
        let db = match fresh_postgres().await {
            Ok(db) => db,
            Err(Unavailable::Unset) => return eprintln!("SKIPPED: {}", Unavailable::Unset),
            Err(e) => panic!("{e}"),
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
}
