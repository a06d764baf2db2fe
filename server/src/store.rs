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

use crate::crypto::{CryptoError, MasterKey};
mod journal;
mod tx;

pub use journal::JournalEntry;

use crate::domain::{
    Action, Caller, CandidateSummary, CredentialId, ErrorClass, FailureReason, Material, Millis,
    OAuthTokens, Step, Trail,
};

/// The credential columns `decode` reads, joined with their health, then `$tail`.
macro_rules! select_credentials {
    ($tail:literal) => {
        concat!(
            "SELECT c.id, c.provider, c.kind, c.label, c.priority, c.secret, c.refresh_token,
                    c.expires_at, c.token_url, c.client_id, c.client_secret, c.scope,
                    c.generation, c.created_at, c.incarnation,
                    s.cooldown_until, s.cooldown_class, s.dead_since, s.dead_reason,
                    s.last_error_class, s.last_error_at, s.use_count
             FROM credentials c LEFT JOIN credential_state s ON s.credential_id = c.id ",
            $tail
        )
    };
}

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
    /// A secret does not open with the master key.
    #[error("credential {id:?}: {source}")]
    Crypto {
        /// Credential.
        id: String,
        /// Cause.
        source: CryptoError,
    },
    /// Another writer rotated the credential's tokens first.
    #[error("credential {0:?} changed concurrently")]
    Conflict(String),
    /// No such credential.
    #[error("no credential {0:?}")]
    NotFound(String),
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

/// A credential to store: a static key or an OAuth token set.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// Identifier, unique.
    pub id: String,
    /// Provider name from the config.
    pub provider: String,
    /// Free text for operators.
    pub label: String,
    /// Lower is tried first within the provider's pool.
    pub priority: i64,
    /// The secret material.
    pub material: Material,
}

impl From<&NewApiKey> for NewCredential {
    fn from(k: &NewApiKey) -> Self {
        Self {
            id: k.id.clone(),
            provider: k.provider.clone(),
            label: k.label.clone(),
            priority: k.priority,
            material: Material::ApiKey(k.secret.clone()),
        }
    }
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
    /// Free text.
    pub label: String,
    /// Order within the pool.
    pub priority: i64,
    /// The secret material.
    pub material: Material,
    /// Increases at every change of the secret material (rotation).
    pub generation: u64,
    /// Which row of this id: a replaced credential gets a new one.
    pub incarnation: i64,
    /// Health.
    pub health: CredentialHealth,
    /// Attempts made with it (for `least_used` pools).
    pub use_count: u64,
    /// Creation time.
    pub created_at: Millis,
}

/// Tokens returned by a successful refresh, to persist before use.
#[derive(Debug, Clone)]
pub struct RotatedTokens {
    /// New access token.
    pub access_token: SecretString,
    /// New refresh token (the old one when the endpoint did not rotate it).
    pub refresh_token: SecretString,
    /// Expiry of the new access token, Unix ms.
    pub expires_at: Option<Millis>,
}

/// A change of credential health, written through by the server. Each names the
/// incarnation of the row it applies to: the store ignores a change aimed at a row
/// that was replaced since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthChange {
    /// Cooling down until `until`.
    Cooldown {
        /// Credential.
        id: CredentialId,
        /// Its row ([`StoredCredential::incarnation`]).
        incarnation: i64,
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
        /// Its row ([`StoredCredential::incarnation`]).
        incarnation: i64,
        /// Why.
        reason: String,
        /// When.
        at: Millis,
    },
    /// Attempts made with the credential so far.
    Usage {
        /// Credential.
        id: CredentialId,
        /// Its row ([`StoredCredential::incarnation`]).
        incarnation: i64,
        /// Total count.
        uses: u64,
    },
}

/// Handle to the SQLite file. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    key: MasterKey,
}

// === impl Store ===

impl Store {
    /// Opens (creating it if needed) the SQLite file in WAL mode, runs the
    /// migrations, and seals any secret a previous version stored in the clear.
    /// `synchronous = FULL`: a committed rotation survives a crash of the process or
    /// of the machine.
    pub async fn open(path: &Path, key: MasterKey) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let store = Self { pool, key };
        store.seal_legacy_secrets().await?;
        Ok(store)
    }

    /// Id of the master key in use (not secret).
    pub fn key_id(&self) -> String {
        self.key.id_hex()
    }

    /// Version 0.1 stored API keys in the clear: seal them in place, once.
    async fn seal_legacy_secrets(&self) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT id, secret FROM credentials")
            .fetch_all(&self.pool)
            .await?;
        let mut tx = self.pool.begin().await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let secret: Vec<u8> = row.try_get("secret")?;
            if !MasterKey::is_sealed(&secret) {
                sqlx::query("UPDATE credentials SET secret = ? WHERE id = ?")
                    .bind(self.key.seal(&secret, &format!("{id}/secret")))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    fn seal(&self, id: &str, column: &str, secret: &SecretString) -> Vec<u8> {
        self.key
            .seal(secret.expose_secret().as_bytes(), &format!("{id}/{column}"))
    }

    fn open_secret(
        &self,
        id: &str,
        column: &str,
        sealed: &[u8],
    ) -> Result<SecretString, StoreError> {
        let plain = self
            .key
            .open(sealed, &format!("{id}/{column}"))
            .map_err(|source| StoreError::Crypto {
                id: id.to_owned(),
                source,
            })?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| StoreError::Corrupt(format!("{id}/{column} is not UTF-8")))
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

    /// Adds a static API key; fails if the id exists.
    pub async fn add_api_key(&self, key: &NewApiKey, now: Millis) -> Result<(), StoreError> {
        self.put_credential(&NewCredential::from(key), false, now)
            .await
    }

    /// Stores a credential, sealed. With `replace`, an existing one with the same id
    /// is replaced and its health reset (a replaced dead credential is live again);
    /// without, an existing id is an error.
    pub async fn put_credential(
        &self,
        c: &NewCredential,
        replace: bool,
        now: Millis,
    ) -> Result<(), StoreError> {
        let (kind, secret, oauth) = match &c.material {
            Material::ApiKey(key) => ("api_key", self.seal(&c.id, "secret", key), None),
            Material::OAuth(t) => (
                "oauth",
                self.seal(&c.id, "secret", &t.access_token),
                Some(t),
            ),
        };
        let mut tx = self.pool.begin().await?;
        if replace {
            sqlx::query("DELETE FROM credentials WHERE id = ?")
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
        }
        let result = sqlx::query(
            "INSERT INTO credentials (id, provider, kind, label, priority, secret, refresh_token,
                                      expires_at, token_url, client_id, client_secret, scope,
                                      created_at, updated_at, incarnation)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, random())",
        )
        .bind(&c.id)
        .bind(&c.provider)
        .bind(kind)
        .bind(&c.label)
        .bind(c.priority)
        .bind(secret)
        .bind(oauth.map(|t| self.seal(&c.id, "refresh_token", &t.refresh_token)))
        .bind(oauth.and_then(|t| t.expires_at).map(|v| v as i64))
        .bind(oauth.map(|t| t.token_url.as_str()))
        .bind(oauth.map(|t| t.client_id.as_str()))
        .bind(
            oauth
                .and_then(|t| t.client_secret.as_ref())
                .map(|s| self.seal(&c.id, "client_secret", s)),
        )
        .bind(oauth.and_then(|t| t.scope.as_deref()))
        .bind(now as i64)
        .bind(now as i64)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Duplicate(c.id.clone()));
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(())
    }

    /// Re-encrypts every stored secret under `new_key`, in one transaction.
    /// Returns how many credentials were re-encrypted.
    pub async fn rekey(&self, new_key: &MasterKey) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("SELECT id, secret, refresh_token, client_secret FROM credentials")
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let mut sealed = Vec::new();
            for column in ["secret", "refresh_token", "client_secret"] {
                let value: Option<Vec<u8>> = row.try_get(column)?;
                sealed.push(match value {
                    None => None,
                    Some(v) => {
                        let plain = self.open_secret(&id, column, &v)?;
                        Some(
                            new_key
                                .seal(plain.expose_secret().as_bytes(), &format!("{id}/{column}")),
                        )
                    }
                });
            }
            sqlx::query(
                "UPDATE credentials SET secret = ?, refresh_token = ?, client_secret = ? WHERE id = ?",
            )
            .bind(&sealed[0])
            .bind(&sealed[1])
            .bind(&sealed[2])
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Removes a credential and its state. Returns whether it existed.
    pub async fn remove_credential(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM credentials WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every credential with its health, secrets opened, by provider then priority.
    pub async fn credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        let rows = sqlx::query(select_credentials!("ORDER BY c.provider, c.priority, c.id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| self.decode(row)).collect()
    }

    /// One credential, if it exists (only its own secrets are opened).
    pub async fn credential(&self, id: &str) -> Result<Option<StoredCredential>, StoreError> {
        let row = sqlx::query(select_credentials!("WHERE c.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|row| self.decode(row)).transpose()
    }

    fn decode(&self, row: &sqlx::sqlite::SqliteRow) -> Result<StoredCredential, StoreError> {
        let id: String = row.try_get("id")?;
        let ms = |name: &str| -> Result<Option<Millis>, sqlx::Error> {
            Ok(row
                .try_get::<Option<i64>, _>(name)?
                .map(|v| v.max(0) as Millis))
        };
        let secret = self.open_secret(&id, "secret", &row.try_get::<Vec<u8>, _>("secret")?)?;
        let kind: String = row.try_get("kind")?;
        let material = match kind.as_str() {
            "api_key" => Material::ApiKey(secret),
            "oauth" => {
                let refresh: Option<Vec<u8>> = row.try_get("refresh_token")?;
                let refresh = refresh.ok_or_else(|| {
                    StoreError::Corrupt(format!("{id}: oauth without a refresh token"))
                })?;
                let client_secret: Option<Vec<u8>> = row.try_get("client_secret")?;
                Material::OAuth(OAuthTokens {
                    access_token: secret,
                    refresh_token: self.open_secret(&id, "refresh_token", &refresh)?,
                    expires_at: ms("expires_at")?,
                    token_url: row
                        .try_get::<Option<String>, _>("token_url")?
                        .unwrap_or_default(),
                    client_id: row
                        .try_get::<Option<String>, _>("client_id")?
                        .unwrap_or_default(),
                    client_secret: client_secret
                        .map(|v| self.open_secret(&id, "client_secret", &v))
                        .transpose()?,
                    scope: row.try_get("scope")?,
                })
            }
            other => return Err(StoreError::Corrupt(format!("{id}: kind {other:?}"))),
        };
        Ok(StoredCredential {
            provider: row.try_get("provider")?,
            label: row.try_get("label")?,
            priority: row.try_get("priority")?,
            material,
            generation: row.try_get::<i64, _>("generation")?.max(0) as u64,
            incarnation: row.try_get("incarnation")?,
            use_count: row
                .try_get::<Option<i64>, _>("use_count")?
                .unwrap_or(0)
                .max(0) as u64,
            created_at: row.try_get::<i64, _>("created_at")?.max(0) as Millis,
            health: CredentialHealth {
                cooldown_until: ms("cooldown_until")?,
                cooldown_class: row.try_get("cooldown_class")?,
                dead_since: ms("dead_since")?,
                dead_reason: row.try_get("dead_reason")?,
                last_error_class: row.try_get("last_error_class")?,
                last_error_at: ms("last_error_at")?,
            },
            id: id.into(),
        })
    }

    /// Writes a batch of health changes and trails in one transaction.
    pub async fn write_batch(
        &self,
        changes: &[HealthChange],
        trails: &[Arc<Trail>],
    ) -> Result<(), StoreError> {
        let mut conn = self.begin_write().await?;
        let done = async {
            for change in changes {
                write_health(&mut conn, change).await?;
            }
            write_trails(&mut conn, trails).await
        }
        .await;
        tx::commit(conn, done).await
    }

    /// Steps of a trail written by 0.1, one `attempts` row each.
    async fn legacy_steps(&self, request_id: &str) -> Result<Vec<Step>, StoreError> {
        let rows = sqlx::query(
            "SELECT candidate_index, provider, model, credential_id, error_class, http_status,
                    action, reason, duration_ms
             FROM attempts WHERE request_id = ? ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
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
            .collect()
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
            "SELECT caller_kind, task, created_at, failure_reason, candidates, steps FROM requests WHERE id = ?",
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
        let steps = match row.try_get::<Option<String>, _>("steps")? {
            Some(json) => steps_from_json(&json)?,
            None => self.legacy_steps(request_id).await?,
        };
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
            incarnation,
            until,
            class,
            at,
        } => {
            sqlx::query(
                "INSERT INTO credential_state
                     (credential_id, cooldown_until, cooldown_class, last_error_class, last_error_at, updated_at)
                 SELECT id, ?2, ?3, ?3, ?4, ?4 FROM credentials WHERE id = ?1 AND incarnation = ?5
                 ON CONFLICT (credential_id) DO UPDATE SET
                     cooldown_until = excluded.cooldown_until, cooldown_class = excluded.cooldown_class,
                     last_error_class = excluded.last_error_class, last_error_at = excluded.last_error_at,
                     updated_at = excluded.updated_at",
            )
            .bind(&**id)
            .bind(*until as i64)
            .bind(class.as_str())
            .bind(*at as i64)
            .bind(*incarnation)
            .execute(&mut *tx)
            .await?;
        }
        HealthChange::Dead {
            id,
            incarnation,
            reason,
            at,
        } => {
            sqlx::query(
                "INSERT INTO credential_state
                     (credential_id, dead_since, dead_reason, last_error_class, last_error_at, updated_at)
                 SELECT id, ?3, ?2, 'auth_terminal', ?3, ?3 FROM credentials WHERE id = ?1 AND incarnation = ?4
                 ON CONFLICT (credential_id) DO UPDATE SET
                     dead_since = COALESCE(credential_state.dead_since, excluded.dead_since),
                     dead_reason = COALESCE(credential_state.dead_reason, excluded.dead_reason),
                     last_error_class = excluded.last_error_class, last_error_at = excluded.last_error_at,
                     updated_at = excluded.updated_at",
            )
            .bind(&**id)
            .bind(reason)
            .bind(*at as i64)
            .bind(*incarnation)
            .execute(&mut *tx)
            .await?;
        }
        HealthChange::Usage {
            id,
            incarnation,
            uses,
        } => {
            sqlx::query(
                "INSERT INTO credential_state (credential_id, use_count, updated_at)
                 SELECT id, ?2, 0 FROM credentials WHERE id = ?1 AND incarnation = ?3
                 ON CONFLICT (credential_id) DO UPDATE SET use_count = excluded.use_count",
            )
            .bind(&**id)
            .bind(*uses as i64)
            .bind(*incarnation)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// A step as stored in `requests.steps` (JSON).
#[derive(serde::Serialize, serde::Deserialize)]
struct StepRow<'a> {
    #[serde(rename = "i")]
    candidate_index: u32,
    #[serde(rename = "p", borrow)]
    provider: std::borrow::Cow<'a, str>,
    #[serde(rename = "m", borrow)]
    model: std::borrow::Cow<'a, str>,
    #[serde(rename = "k", borrow, default, skip_serializing_if = "Option::is_none")]
    credential_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "c")]
    error_class: &'a str,
    #[serde(rename = "s")]
    http_status: u16,
    #[serde(rename = "a")]
    action: &'a str,
    #[serde(rename = "r", borrow)]
    reason: std::borrow::Cow<'a, str>,
    #[serde(rename = "d")]
    duration_ms: u64,
}

fn steps_json(steps: &[Step]) -> String {
    let rows: Vec<StepRow<'_>> = steps
        .iter()
        .map(|s| StepRow {
            candidate_index: s.candidate_index,
            provider: (&*s.provider).into(),
            model: (&*s.model).into(),
            credential_id: s.credential_id.as_deref().map(Into::into),
            error_class: s.error_class.as_str(),
            http_status: s.http_status,
            action: s.action.as_str(),
            reason: s.reason.as_str().into(),
            duration_ms: s.duration_ms,
        })
        .collect();
    // Plain strings and numbers: serialisation cannot fail.
    serde_json::to_string(&rows).unwrap_or_default()
}

fn steps_from_json(text: &str) -> Result<Vec<Step>, StoreError> {
    let rows: Vec<StepRow<'_>> =
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("steps: {e}")))?;
    rows.into_iter()
        .map(|r| {
            Ok(Step {
                candidate_index: r.candidate_index,
                provider: r.provider.as_ref().into(),
                model: r.model.as_ref().into(),
                credential_id: r.credential_id.map(|c| c.as_ref().into()),
                error_class: ErrorClass::parse(r.error_class).ok_or_else(|| {
                    StoreError::Corrupt(format!("error class {:?}", r.error_class))
                })?,
                http_status: r.http_status,
                action: Action::parse(r.action)
                    .ok_or_else(|| StoreError::Corrupt(format!("action {:?}", r.action)))?,
                reason: r.reason.into_owned(),
                duration_ms: r.duration_ms,
            })
        })
        .collect()
}

/// Rows per multi-row INSERT (8 bound values each, far under SQLite's limit).
const TRAIL_ROWS_PER_INSERT: usize = 256;

/// Inserts trails, one row each, in multi-row statements: one round trip to the
/// SQLite thread per few hundred requests.
async fn write_trails(tx: &mut SqliteConnection, trails: &[Arc<Trail>]) -> Result<(), StoreError> {
    for chunk in trails.chunks(TRAIL_ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT OR IGNORE INTO requests
                 (id, caller_kind, task, created_at, outcome, failure_reason, candidates, steps) ",
        );
        insert.push_values(chunk, |mut row, trail| {
            row.push_bind(trail.request_id.clone())
                .push_bind(trail.caller.kind())
                .push_bind(trail.caller.task().map(str::to_owned))
                .push_bind(trail.created_at as i64)
                .push_bind(if trail.failure.is_some() {
                    "failed"
                } else {
                    "succeeded"
                })
                .push_bind(trail.failure.map(FailureReason::as_str))
                .push_bind(serde_json::to_string(&trail.candidates).unwrap_or_default())
                .push_bind(steps_json(&trail.steps));
        });
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FailureReason;

    fn key() -> MasterKey {
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
        let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
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

    #[tokio::test]
    async fn pruning_keeps_the_newest_trails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
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
        let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
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

    #[tokio::test]
    async fn a_dead_mark_queued_for_a_replaced_credential_spares_its_successor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
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

    #[tokio::test]
    async fn rotations_are_conditional_on_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
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
}
