//! The refresh lock: one refresh of a credential at a time across every process
//! that shares the store, held until the transaction that commits the answer.
//!
//! **PostgreSQL** (several replicas on one database): a transaction-scoped
//! advisory lock on the credential (`pg_advisory_xact_lock`), taken before the
//! token call and released by the commit of the new pair (or of the dead mark)
//! and of the end of the journal row, in that same transaction. Once it is held
//! the stored row is read again: a pair another process committed since the
//! caller loaded its own is handed back ([`Locked::Moved`]), so no call is made.
//! A journal row of the same pair found then was left by a holder that did not
//! commit an answer (it died, or its answer was lost): the outcome of its call
//! is unknown ([`RefreshLock::interrupted`]). PostgreSQL releases the lock of a
//! session that ends (a killed process, a cut connection), so a dead holder
//! blocks nobody. The wait is bounded (`lock_timeout`), and so is reaching the
//! database: no lock, no call. The intent is journaled, and committed, from a
//! second connection while the lock is held: the lock's own transaction dies
//! with its process, the intent must not.
//!
//! An advisory lock rather than a row lock (`SELECT ... FOR UPDATE`): the
//! credential's row stays free during the token call, so the admin API or the
//! CLI can replace it meanwhile (the commit's generation check catches that),
//! and the journal's foreign key check never waits on it.
//!
//! **SQLite** (one process per file): no lock. The single flight of
//! [`crate::oauth`] already runs one refresh of a credential at a time in the
//! process, and SQLite's only lock is the file-wide write lock: held across a
//! token call (`BEGIN IMMEDIATE`) it would stall every other write (trails,
//! health) for up to two token timeouts. The intent is journaled best effort, as
//! it was: with one process, a pair the store refuses is still the only good one,
//! used from memory and persisted later. A rotation by another process (the CLI)
//! is caught at commit by the generation check.

use std::time::Duration;

use sqlx::{Any, Transaction};

use super::{At as _, Dialect, JournalEntry, RotatedTokens, Store, StoreError, StoredCredential};
use crate::domain::{CredentialId, Millis};

/// First key of every refresh lock (`pg_advisory_xact_lock(class, hashtext(id))`):
/// "SY", so that `pg_locks` tells them from other advisory locks.
pub const REFRESH_LOCK_CLASS: i32 = 0x5359;

/// PostgreSQL's `lock_not_available`: `lock_timeout` expired.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// What a refresh is about to spend.
#[derive(Debug, Clone, Copy)]
pub struct RefreshIntent<'a> {
    /// The credential.
    pub id: &'a CredentialId,
    /// The stored row the caller holds.
    pub incarnation: i64,
    /// The stored generation of the caller's pair.
    pub generation: u64,
    /// Fingerprint of the refresh token to spend ([`crate::oauth::fingerprint`]).
    pub fingerprint: &'a str,
    /// Now, Unix ms.
    pub now: Millis,
}

/// How long taking the lock may take.
#[derive(Debug, Clone, Copy)]
pub struct LockBounds {
    /// Reaching the database: a connection, a statement.
    pub reach: Duration,
    /// Waiting for another process's refresh of the same credential.
    pub wait: Duration,
}

/// The answer to [`Store::lock_refresh`].
#[derive(Debug)]
pub enum Locked {
    /// The caller may call the token endpoint, then commit through the lock.
    Held(Box<RefreshLock>),
    /// The stored row moved on since the caller's generation: another process
    /// committed a refresh, or the row was replaced. Use it; call nothing.
    Moved(Box<StoredCredential>),
    /// Another process's refresh was refused: the credential is dead, for this
    /// stored reason.
    Dead(String),
    /// The credential is not stored any more.
    Removed,
}

/// The right to refresh one credential, until committed or released. Dropped
/// without either, its transaction is rolled back (the lock released).
#[derive(Debug)]
pub struct RefreshLock {
    store: Store,
    id: CredentialId,
    incarnation: i64,
    /// The transaction holding the lock (PostgreSQL); `None` on SQLite.
    tx: Option<Transaction<'static, Any>>,
    /// A refresh of the same pair that started before and never committed an
    /// answer: its token call's outcome is unknown (PostgreSQL only).
    pub interrupted: Option<JournalEntry>,
    /// Why the intent is not journaled (SQLite only: the refresh goes on).
    pub unjournaled: Option<StoreError>,
}

// === impl Store ===

impl Store {
    /// Takes the refresh lock of `intent.id` and journals the intent. An error
    /// means nothing may be spent: the store is out of reach, or another process
    /// held the lock past `bounds.wait`.
    pub async fn lock_refresh(
        &self,
        intent: &RefreshIntent<'_>,
        bounds: LockBounds,
    ) -> Result<Locked, StoreError> {
        match self.dialect {
            Dialect::Sqlite => {
                let unjournaled = self
                    .journal_begin(intent.id, intent.generation, intent.fingerprint, intent.now)
                    .await
                    .err();
                Ok(Locked::Held(Box::new(RefreshLock {
                    store: self.clone(),
                    id: intent.id.clone(),
                    incarnation: intent.incarnation,
                    tx: None,
                    interrupted: None,
                    unjournaled,
                })))
            }
            Dialect::Postgres => self.lock_postgres(intent, bounds).await,
        }
    }

    async fn lock_postgres(
        &self,
        intent: &RefreshIntent<'_>,
        bounds: LockBounds,
    ) -> Result<Locked, StoreError> {
        let unreachable = |what: &'static str| StoreError::Unreachable {
            database: self.name.clone(),
            what,
            after_ms: bounds.reach.as_millis() as u64,
        };
        let mut tx = tokio::time::timeout(bounds.reach, self.pool.begin())
            .await
            .map_err(|_| unreachable("no connection"))?
            .at(&self.name)?;
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(format!("{}ms", bounds.wait.as_millis().max(1)))
            .execute(&mut *tx)
            .await
            .at(&self.name)?;
        let lock = sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1, hashtext($2))) l")
            .bind(REFRESH_LOCK_CLASS)
            .bind(&**intent.id)
            .execute(&mut *tx);
        let busy = || StoreError::LockBusy {
            id: intent.id.to_string(),
            waited_ms: bounds.wait.as_millis() as u64,
        };
        match tokio::time::timeout(bounds.wait + bounds.reach, lock).await {
            Err(_) => return Err(busy()),
            Ok(Err(sqlx::Error::Database(e)))
                if e.code().as_deref() == Some(LOCK_NOT_AVAILABLE) =>
            {
                return Err(busy());
            }
            Ok(result) => result.at(&self.name)?,
        };
        let settled = match self.credential_in(&mut tx, intent.id).await? {
            None => Some(Locked::Removed),
            Some(stored)
                if stored.generation != intent.generation
                    || stored.incarnation != intent.incarnation =>
            {
                Some(Locked::Moved(Box::new(stored)))
            }
            Some(stored) if stored.health.dead_since.is_some() => {
                Some(Locked::Dead(stored.health.dead_reason.unwrap_or_default()))
            }
            Some(_) => None,
        };
        if let Some(settled) = settled {
            // Released now, not whenever the pooled connection is next used.
            let _ = tx.rollback().await;
            return Ok(settled);
        }
        let interrupted = self
            .journal_entry_in(&mut tx, intent.id)
            .await?
            .filter(|e| e.generation == intent.generation && e.fingerprint == intent.fingerprint);
        let begin =
            self.journal_begin(intent.id, intent.generation, intent.fingerprint, intent.now);
        let journaled = tokio::time::timeout(bounds.reach, begin)
            .await
            .map_err(|_| unreachable("the refresh journal"))
            .and_then(|done| done);
        if let Err(e) = journaled {
            let _ = tx.rollback().await;
            return Err(e);
        }
        Ok(Locked::Held(Box::new(RefreshLock {
            store: self.clone(),
            id: intent.id.clone(),
            incarnation: intent.incarnation,
            tx: Some(tx),
            interrupted,
            unjournaled: None,
        })))
    }
}

// === impl RefreshLock ===

impl RefreshLock {
    /// Stores the pair a refresh returned and ends the journal row, in the lock's
    /// transaction, if the stored pair is still `generation`. Releases the lock.
    pub async fn commit_rotation(
        self,
        generation: u64,
        tokens: &RotatedTokens,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let Some(mut tx) = self.tx else {
            return self
                .store
                .commit_rotation(&self.id, self.incarnation, generation, tokens, now)
                .await;
        };
        let generation = self
            .store
            .rotate_in(&mut tx, &self.id, self.incarnation, generation, tokens, now)
            .await?;
        tx.commit().await.at(&self.store.name)?;
        Ok(generation)
    }

    /// Marks the credential dead for `reason` and ends the journal row, in the
    /// lock's transaction. Releases the lock.
    pub async fn commit_refusal(self, reason: &str, now: Millis) -> Result<(), StoreError> {
        let Some(mut tx) = self.tx else {
            return self
                .store
                .commit_refusal(&self.id, self.incarnation, reason, now)
                .await;
        };
        self.store
            .refuse_in(&mut tx, &self.id, self.incarnation, reason, now)
            .await?;
        tx.commit().await.at(&self.store.name)
    }

    /// Ends the journal row (nothing was spent) and releases the lock.
    pub async fn clear(self) -> Result<(), StoreError> {
        let Some(mut tx) = self.tx else {
            return self.store.journal_clear(&self.id).await;
        };
        sqlx::query("DELETE FROM refresh_journal WHERE credential_id = $1")
            .bind(&*self.id)
            .execute(&mut *tx)
            .await
            .at(&self.store.name)?;
        tx.commit().await.at(&self.store.name)
    }

    /// Releases the lock and keeps the journal row: the outcome is unknown, the
    /// next holder presents the same refresh token once more.
    pub async fn release(self) {
        if let Some(tx) = self.tx {
            // A failed rollback ends the session, which releases the lock too.
            let _ = tx.rollback().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;
    use crate::domain::{Material, OAuthTokens};
    use crate::store::tests::{key, postgres_or_skip};
    use crate::store::{Database, NewCredential};

    const BOUNDS: LockBounds = LockBounds {
        reach: Duration::from_secs(5),
        wait: Duration::from_millis(300),
    };

    async fn seeded(db: &Database) -> (Store, i64) {
        let store = Store::open_at(db, key()).await.unwrap();
        let c = NewCredential {
            id: "o1".into(),
            provider: "p".into(),
            label: String::new(),
            priority: 0,
            material: Material::OAuth(OAuthTokens {
                access_token: "a0".to_owned().into(),
                refresh_token: "r0".to_owned().into(),
                expires_at: None,
                token_url: "http://127.0.0.1:1/token".into(),
                client_id: "agent".into(),
                client_secret: None,
                scope: None,
            }),
        };
        store.put_credential(&c, false, 1).await.unwrap();
        let incarnation = store.credential("o1").await.unwrap().unwrap().incarnation;
        (store, incarnation)
    }

    fn intent(id: &CredentialId, incarnation: i64, generation: u64) -> RefreshIntent<'_> {
        RefreshIntent {
            id,
            incarnation,
            generation,
            fingerprint: "fp0",
            now: 5,
        }
    }

    fn held(locked: Locked) -> RefreshLock {
        match locked {
            Locked::Held(lock) => *lock,
            other => panic!("not held: {other:?}"),
        }
    }

    fn pair(n: u32) -> RotatedTokens {
        RotatedTokens {
            access_token: format!("a{n}").into(),
            refresh_token: format!("r{n}").into(),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn on_postgres_a_second_holder_waits_then_adopts_the_committed_pair() {
        let Some(db) = postgres_or_skip().await else {
            return;
        };
        let (a, inc) = seeded(&db).await;
        let b = Store::open_at(&db, key()).await.unwrap();
        let id: CredentialId = "o1".into();
        let first = held(a.lock_refresh(&intent(&id, inc, 0), BOUNDS).await.unwrap());
        assert!(first.interrupted.is_none());
        assert_eq!(
            a.journal().await.unwrap().len(),
            1,
            "the intent is committed"
        );

        // Held by A: B waits its bound, then gives up without anything to spend.
        let err = b
            .lock_refresh(&intent(&id, inc, 0), BOUNDS)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LockBusy { .. }), "{err}");

        // B waits while A commits; B then sees A's pair, not a lock to refresh with.
        let waiting = tokio::spawn({
            let (b, id) = (b.clone(), id.clone());
            async move {
                let bounds = LockBounds {
                    wait: Duration::from_secs(10),
                    ..BOUNDS
                };
                b.lock_refresh(&intent(&id, inc, 0), bounds).await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "B waits for A's lock");
        assert_eq!(first.commit_rotation(0, &pair(1), 6).await.unwrap(), 1);
        match waiting.await.unwrap().unwrap() {
            Locked::Moved(stored) => {
                assert_eq!(stored.generation, 1);
                let Material::OAuth(t) = stored.material else {
                    panic!("oauth")
                };
                assert_eq!(t.refresh_token.expose_secret(), "r1");
            }
            other => panic!("{other:?}"),
        }
        assert!(a.journal().await.unwrap().is_empty());
        a.close().await;
        b.close().await;
    }

    #[tokio::test]
    async fn on_postgres_a_holder_that_dies_frees_the_lock_and_leaves_its_intent() {
        let Some(db) = postgres_or_skip().await else {
            return;
        };
        let (a, inc) = seeded(&db).await;
        let b = Store::open_at(&db, key()).await.unwrap();
        let id: CredentialId = "o1".into();
        let first = held(a.lock_refresh(&intent(&id, inc, 0), BOUNDS).await.unwrap());
        // The holder's session ends (its process died): PostgreSQL releases the lock.
        // pg_locks spans the cluster: only this test's database, or the sessions of
        // a test running beside it on another database would be ended too.
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND classid = $1 AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(REFRESH_LOCK_CLASS)
        .fetch_all(&b.pool)
        .await
        .unwrap();
        assert_eq!(ended, [true]);
        let bounds = LockBounds {
            wait: Duration::from_secs(10),
            ..BOUNDS
        };
        let second = held(b.lock_refresh(&intent(&id, inc, 0), bounds).await.unwrap());
        let entry = second
            .interrupted
            .clone()
            .expect("the dead holder's intent");
        assert_eq!((entry.generation, entry.fingerprint.as_str()), (0, "fp0"));
        // A refused token: dead, in the lock's transaction; the next holder is told.
        second
            .commit_refusal("refresh refused: gone", 7)
            .await
            .unwrap();
        match b.lock_refresh(&intent(&id, inc, 0), BOUNDS).await.unwrap() {
            Locked::Dead(reason) => assert_eq!(reason, "refresh refused: gone"),
            other => panic!("{other:?}"),
        }
        assert!(b.journal().await.unwrap().is_empty());
        // The dead holder's late commit changes nothing.
        assert!(first.commit_rotation(0, &pair(1), 8).await.is_err());
        assert_eq!(b.credential("o1").await.unwrap().unwrap().generation, 0);
        a.close().await;
        b.close().await;
    }

    #[tokio::test]
    async fn on_sqlite_nothing_is_locked_and_the_commit_checks_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (store, inc) = seeded(&Database::Sqlite(dir.path().join("s.db"))).await;
        let id: CredentialId = "o1".into();
        let first = held(
            store
                .lock_refresh(&intent(&id, inc, 0), BOUNDS)
                .await
                .unwrap(),
        );
        let second = held(
            store
                .lock_refresh(&intent(&id, inc, 0), BOUNDS)
                .await
                .unwrap(),
        );
        assert!(first.unjournaled.is_none() && first.interrupted.is_none());
        assert_eq!(first.commit_rotation(0, &pair(1), 6).await.unwrap(), 1);
        assert!(matches!(
            second.commit_rotation(0, &pair(2), 7).await,
            Err(StoreError::Conflict(_))
        ));
        store.close().await;
    }
}
