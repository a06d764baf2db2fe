//! SQLite persistence through sqlx: credentials, their state, and request trails.
//!
//! Owns the schema (`migrations/`, embedded and run by [`Store::open`]). Knows the
//! domain types only: never proto types, never the policy. The request hot path
//! does not call this module; the [`crate::writer`] task does, off the path.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use crate::domain::{
    Action, Caller, CandidateSummary, CredentialId, ErrorClass, FailureReason, Millis, Step, Trail,
};

/// The embedded migrations of `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite or sqlx failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A credential id is taken.
    #[error("credential {0:?} already exists")]
    Duplicate(String),
    /// A stored row does not decode.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// A new static API key.
#[derive(Debug)]
pub struct NewApiKey {
    /// Identifier, unique.
    pub id: String,
    /// Provider name from the config.
    pub provider: String,
    /// Free text for operators.
    pub label: String,
    /// Lower is tried first within the provider's pool.
    pub priority: i64,
    /// The key.
    pub secret: SecretString,
}

/// Persisted health of a credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialHealth {
    /// Not used before this time.
    pub cooldown_until: Option<Millis>,
    /// Error class that caused the cooldown.
    pub cooldown_class: Option<String>,
    /// Dead since this time.
    pub dead_since: Option<Millis>,
    /// Why it died.
    pub dead_reason: Option<String>,
    /// Last error class seen.
    pub last_error_class: Option<String>,
    /// When it was seen.
    pub last_error_at: Option<Millis>,
}

/// A stored credential with its health. `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// Identifier.
    pub id: CredentialId,
    /// Provider name.
    pub provider: String,
    /// `api_key` or `oauth`.
    pub kind: String,
    /// Free text.
    pub label: String,
    /// Order within the pool.
    pub priority: i64,
    /// The key or access token.
    pub secret: SecretString,
    /// Whether it has a refresh token.
    pub refreshable: bool,
    /// Health.
    pub health: CredentialHealth,
    /// Creation time.
    pub created_at: Millis,
}

/// A change of credential health, written through by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthChange {
    /// Cooling down until `until`.
    Cooldown {
        /// Credential.
        id: CredentialId,
        /// Unix ms.
        until: Millis,
        /// Cause.
        class: ErrorClass,
        /// When.
        at: Millis,
    },
    /// Dead for good.
    Dead {
        /// Credential.
        id: CredentialId,
        /// Why.
        reason: String,
        /// When.
        at: Millis,
    },
}

/// Handle to the SQLite file. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

// === impl Store ===

impl Store {
    /// Opens (creating it if needed) the SQLite file in WAL mode and runs the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Answers a trivial query: the store is usable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Adds a static API key.
    pub async fn add_api_key(&self, key: &NewApiKey, now: Millis) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO credentials (id, provider, kind, label, priority, secret, created_at, updated_at)
             VALUES (?, ?, 'api_key', ?, ?, ?, ?, ?)",
        )
        .bind(&key.id)
        .bind(&key.provider)
        .bind(&key.label)
        .bind(key.priority)
        .bind(key.secret.expose_secret().as_bytes())
        .bind(now as i64)
        .bind(now as i64)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Duplicate(key.id.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a credential and its state. Returns whether it existed.
    pub async fn remove_credential(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM credentials WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every credential with its health, by provider then priority.
    pub async fn credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.provider, c.kind, c.label, c.priority, c.secret,
                    c.refresh_token IS NOT NULL AS refreshable, c.created_at,
                    s.cooldown_until, s.cooldown_class, s.dead_since, s.dead_reason,
                    s.last_error_class, s.last_error_at
             FROM credentials c LEFT JOIN credential_state s ON s.credential_id = c.id
             ORDER BY c.provider, c.priority, c.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let secret: Vec<u8> = row.try_get("secret")?;
                let secret = String::from_utf8(secret)
                    .map_err(|_| StoreError::Corrupt("secret is not UTF-8".into()))?;
                let opt_ms = |name: &str| -> Result<Option<Millis>, sqlx::Error> {
                    Ok(row
                        .try_get::<Option<i64>, _>(name)?
                        .map(|v| v.max(0) as Millis))
                };
                Ok(StoredCredential {
                    id: row.try_get::<String, _>("id")?.into(),
                    provider: row.try_get("provider")?,
                    kind: row.try_get("kind")?,
                    label: row.try_get("label")?,
                    priority: row.try_get("priority")?,
                    secret: SecretString::from(secret),
                    refreshable: row.try_get("refreshable")?,
                    created_at: row.try_get::<i64, _>("created_at")?.max(0) as Millis,
                    health: CredentialHealth {
                        cooldown_until: opt_ms("cooldown_until")?,
                        cooldown_class: row.try_get("cooldown_class")?,
                        dead_since: opt_ms("dead_since")?,
                        dead_reason: row.try_get("dead_reason")?,
                        last_error_class: row.try_get("last_error_class")?,
                        last_error_at: opt_ms("last_error_at")?,
                    },
                })
            })
            .collect()
    }

    /// Writes a batch of health changes and trails in one transaction.
    pub async fn write_batch(
        &self,
        changes: &[HealthChange],
        trails: &[Arc<Trail>],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for change in changes {
            write_health(&mut tx, change).await?;
        }
        for trail in trails {
            write_trail(&mut tx, trail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the oldest trails beyond the newest `keep`. Returns how many went.
    pub async fn prune_trails(&self, keep: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM requests WHERE id IN (
                 SELECT id FROM requests ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)",
        )
        .bind(i64::from(keep))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The recorded trail of a request.
    pub async fn trail(&self, request_id: &str) -> Result<Option<Trail>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT caller_kind, task, created_at, failure_reason, candidates FROM requests WHERE id = ?",
        )
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let caller = match (
            row.try_get::<String, _>("caller_kind")?.as_str(),
            row.try_get::<Option<String>, _>("task")?,
        ) {
            ("aux", Some(task)) => Caller::Aux(task),
            _ => Caller::Primary,
        };
        let failure = match row.try_get::<Option<String>, _>("failure_reason")? {
            None => None,
            Some(s) => Some(
                FailureReason::parse(&s)
                    .ok_or_else(|| StoreError::Corrupt(format!("failure reason {s:?}")))?,
            ),
        };
        let candidates: Vec<CandidateSummary> =
            serde_json::from_str(&row.try_get::<String, _>("candidates")?)
                .map_err(|e| StoreError::Corrupt(format!("candidates: {e}")))?;
        let rows = sqlx::query(
            "SELECT candidate_index, provider, model, credential_id, error_class, http_status,
                    action, reason, duration_ms
             FROM attempts WHERE request_id = ? ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        let steps = rows
            .iter()
            .map(|r| {
                let class: String = r.try_get("error_class")?;
                let action: String = r.try_get("action")?;
                Ok(Step {
                    candidate_index: r.try_get::<i64, _>("candidate_index")? as u32,
                    provider: r.try_get::<String, _>("provider")?.into(),
                    model: r.try_get::<String, _>("model")?.into(),
                    credential_id: r
                        .try_get::<Option<String>, _>("credential_id")?
                        .map(Into::into),
                    error_class: ErrorClass::parse(&class)
                        .ok_or_else(|| StoreError::Corrupt(format!("error class {class:?}")))?,
                    http_status: r.try_get::<i64, _>("http_status")? as u16,
                    action: Action::parse(&action)
                        .ok_or_else(|| StoreError::Corrupt(format!("action {action:?}")))?,
                    reason: r.try_get("reason")?,
                    duration_ms: r.try_get::<i64, _>("duration_ms")?.max(0) as u64,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(Trail {
            request_id: request_id.to_owned(),
            caller,
            created_at: row.try_get::<i64, _>("created_at")?.max(0) as Millis,
            failure,
            candidates,
            steps,
        }))
    }
}

async fn write_health(tx: &mut SqliteConnection, change: &HealthChange) -> Result<(), StoreError> {
    match change {
        HealthChange::Cooldown {
            id,
            until,
            class,
            at,
        } => {
            sqlx::query(
                "INSERT INTO credential_state
                     (credential_id, cooldown_until, cooldown_class, last_error_class, last_error_at, updated_at)
                 SELECT id, ?2, ?3, ?3, ?4, ?4 FROM credentials WHERE id = ?1
                 ON CONFLICT (credential_id) DO UPDATE SET
                     cooldown_until = excluded.cooldown_until, cooldown_class = excluded.cooldown_class,
                     last_error_class = excluded.last_error_class, last_error_at = excluded.last_error_at,
                     updated_at = excluded.updated_at",
            )
            .bind(&**id)
            .bind(*until as i64)
            .bind(class.as_str())
            .bind(*at as i64)
            .execute(&mut *tx)
            .await?;
        }
        HealthChange::Dead { id, reason, at } => {
            sqlx::query(
                "INSERT INTO credential_state
                     (credential_id, dead_since, dead_reason, last_error_class, last_error_at, updated_at)
                 SELECT id, ?3, ?2, 'auth_terminal', ?3, ?3 FROM credentials WHERE id = ?1
                 ON CONFLICT (credential_id) DO UPDATE SET
                     dead_since = COALESCE(credential_state.dead_since, excluded.dead_since),
                     dead_reason = COALESCE(credential_state.dead_reason, excluded.dead_reason),
                     last_error_class = excluded.last_error_class, last_error_at = excluded.last_error_at,
                     updated_at = excluded.updated_at",
            )
            .bind(&**id)
            .bind(reason)
            .bind(*at as i64)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

async fn write_trail(tx: &mut SqliteConnection, trail: &Trail) -> Result<(), StoreError> {
    let candidates = serde_json::to_string(&trail.candidates)
        .map_err(|e| StoreError::Corrupt(format!("candidates: {e}")))?;
    sqlx::query(
        "INSERT OR IGNORE INTO requests (id, caller_kind, task, created_at, outcome, failure_reason, candidates)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&trail.request_id)
    .bind(trail.caller.kind())
    .bind(trail.caller.task())
    .bind(trail.created_at as i64)
    .bind(if trail.failure.is_some() { "failed" } else { "succeeded" })
    .bind(trail.failure.map(FailureReason::as_str))
    .bind(candidates)
    .execute(&mut *tx)
    .await?;
    for (seq, s) in trail.steps.iter().enumerate() {
        sqlx::query(
            "INSERT OR IGNORE INTO attempts (request_id, seq, candidate_index, provider, model, credential_id,
                                   error_class, http_status, action, reason, duration_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&trail.request_id)
        .bind(seq as i64)
        .bind(i64::from(s.candidate_index))
        .bind(&*s.provider)
        .bind(&*s.model)
        .bind(s.credential_id.as_deref())
        .bind(s.error_class.as_str())
        .bind(i64::from(s.http_status))
        .bind(s.action.as_str())
        .bind(&s.reason)
        .bind(s.duration_ms.min(i64::MAX as u64) as i64)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FailureReason;

    fn trail(id: &str, at: Millis) -> Trail {
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
    async fn credentials_health_and_trails_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
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
            reason: "token_invalidated".into(),
            at: 5,
        };
        store
            .write_batch(&[dead], &[Arc::new(trail("r1", 10))])
            .await
            .unwrap();
        let creds = store.credentials().await.unwrap();
        assert_eq!(creds[0].health.dead_since, Some(5));
        assert_eq!(creds[0].secret.expose_secret(), "sk-test");
        assert_eq!(store.trail("r1").await.unwrap(), Some(trail("r1", 10)));
        assert_eq!(store.trail("nope").await.unwrap(), None);
    }

    #[tokio::test]
    async fn pruning_keeps_the_newest_trails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        let trails: Vec<_> = (0..5)
            .map(|i| Arc::new(trail(&format!("r{i}"), i)))
            .collect();
        store.write_batch(&[], &trails).await.unwrap();
        assert_eq!(store.prune_trails(2).await.unwrap(), 3);
        assert!(store.trail("r4").await.unwrap().is_some());
        assert!(store.trail("r0").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn health_of_a_removed_credential_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        let change = HealthChange::Cooldown {
            id: "gone".into(),
            until: 9,
            class: ErrorClass::Billing,
            at: 1,
        };
        store.write_batch(&[change], &[]).await.unwrap();
        assert!(store.credentials().await.unwrap().is_empty());
    }
}
