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
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Whether the listener is connected and has resynchronised since: what
    /// `switchyard_credential_feed_listening` reports.
    listening: AtomicBool,
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
            listening: AtomicBool::new(false),
        })
    }

    /// Whether the listener is connected and has resynchronised since it
    /// connected: while not, changes made elsewhere reach this replica only by
    /// the periodic resync.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
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
                    self.listening.store(true, Ordering::Relaxed);
                    let lost = loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => self.on_change(n.payload()).await,
                            Ok(None) => break "connection lost".to_owned(),
                            Err(e) => break e.to_string(),
                        }
                    };
                    self.listening.store(false, Ordering::Relaxed);
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
mod tests;
