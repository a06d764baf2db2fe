//! SQLite persistence through sqlx: credentials, their state, and request trails.
//!
//! Owns the schema (`migrations/`, embedded and run by [`Store::open`]). Knows the
//! domain types only: never proto types, never the policy. The request hot path
//! does not call this module; the [`crate::writer`] task does, off the path.

mod files;
pub(crate) mod trails;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use crate::crypto::{CryptoError, MasterKey};
mod journal;
mod sync;
mod tx;

pub use journal::JournalEntry;

use crate::domain::{CredentialId, ErrorClass, Material, Millis, OAuthTokens, Trail};

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

/// A store failure. Failures of SQLite name the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite or sqlx failed.
    #[error("database {}: {source}", path.display())]
    Sqlx {
        /// The database file.
        path: Arc<Path>,
        /// Cause.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database {}: migration failed: {source}", path.display())]
    Migrate {
        /// The database file.
        path: Arc<Path>,
        /// Cause.
        source: sqlx::migrate::MigrateError,
    },
    /// The database file could not be created.
    #[error("database {}: cannot create the file: {source}", path.display())]
    Create {
        /// The database file.
        path: Arc<Path>,
        /// Cause.
        source: std::io::Error,
    },
    /// The database opens but refuses writes: a read-only file, directory or
    /// filesystem, or a full disk.
    #[error("database {} is not writable: {source}", path.display())]
    NotWritable {
        /// The database file.
        path: Arc<Path>,
        /// Cause.
        source: sqlx::Error,
    },
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

/// How many trails to keep, and how many at most to delete in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prune {
    /// Trails kept: the newest ones.
    pub keep: u32,
    /// Most trails deleted by one step.
    pub max_rows: u32,
}

/// Handle to the SQLite file. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    key: MasterKey,
    path: Arc<Path>,
}

/// Names the database file in a sqlx error.
trait At<T> {
    fn at(self, path: &Arc<Path>) -> Result<T, StoreError>;
}

impl<T> At<T> for Result<T, sqlx::Error> {
    fn at(self, path: &Arc<Path>) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlx {
            path: path.clone(),
            source,
        })
    }
}

// === impl Store ===

impl Store {
    /// Opens (creating it if needed, mode 0600) the SQLite file in WAL mode, runs
    /// the migrations, proves that a write commits, and seals any secret a previous
    /// version stored in the clear. `synchronous = FULL`: a committed rotation
    /// survives a crash of the process or of the machine.
    pub async fn open(path: &Path, key: MasterKey) -> Result<Self, StoreError> {
        let path: Arc<Path> = Arc::from(path);
        files::create_private(&path).map_err(|source| StoreError::Create {
            path: path.clone(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // A write batch touches both ends of the trail b-trees (inserts at the
            // top, the prune at the bottom): with SQLite's default 2 MiB cache its
            // dirty pages spill to the WAL mid-transaction. 16 MiB holds them.
            .pragma("cache_size", "-16384")
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .at(&path)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        let store = Self { pool, key, path };
        // Migrations of an up-to-date file only read: a read-only file would pass
        // them and fail every write later, silently. Refuse it now.
        store.probe_write().await?;
        store.seal_legacy_secrets().await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits a one-row write: the store accepts writes now. Fails with
    /// [`StoreError::NotWritable`] when it does not.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO store_probe (id, written_at) VALUES (1, unixepoch())")
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::NotWritable {
                path: self.path.clone(),
                source,
            })?;
        Ok(())
    }

    /// Whether the database at `path` holds secrets sealed under some master key.
    /// Read only, with no key: a missing file, or one without credentials, holds
    /// none. A fresh master key could not open sealed secrets, so the caller must
    /// not generate one for such a file.
    pub async fn holds_sealed_secrets(path: &Path) -> Result<bool, StoreError> {
        let at: Arc<Path> = Arc::from(path);
        if !path.exists() {
            return Ok(false);
        }
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let mut conn = sqlx::ConnectOptions::connect(&options).await.at(&at)?;
        let has_table: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'credentials'",
        )
        .fetch_optional(&mut conn)
        .await
        .at(&at)?;
        let mut sealed = false;
        if has_table.is_some() {
            let secrets: Vec<Vec<u8>> = sqlx::query_scalar("SELECT secret FROM credentials")
                .fetch_all(&mut conn)
                .await
                .at(&at)?;
            sealed = secrets.iter().any(|s| MasterKey::is_sealed(s));
        }
        let _ = sqlx::Connection::close(conn).await;
        Ok(sealed)
    }

    /// Id of the master key in use (not secret).
    pub fn key_id(&self) -> String {
        self.key.id_hex()
    }

    /// Version 0.1 stored API keys in the clear: seal them in place, once.
    async fn seal_legacy_secrets(&self) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT id, secret FROM credentials")
            .fetch_all(&self.pool)
            .await
            .at(&self.path)?;
        let mut tx = self.pool.begin().await.at(&self.path)?;
        for row in &rows {
            let id: String = row.try_get("id").at(&self.path)?;
            let secret: Vec<u8> = row.try_get("secret").at(&self.path)?;
            if !MasterKey::is_sealed(&secret) {
                sqlx::query("UPDATE credentials SET secret = ? WHERE id = ?")
                    .bind(self.key.seal(&secret, &format!("{id}/secret")))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .at(&self.path)?;
            }
        }
        tx.commit().await.at(&self.path)?;
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
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .at(&self.path)?;
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
        let mut tx = self.pool.begin().await.at(&self.path)?;
        if replace {
            sqlx::query("DELETE FROM credentials WHERE id = ?")
                .bind(&c.id)
                .execute(&mut *tx)
                .await
                .at(&self.path)?;
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
            Err(source) => {
                return Err(StoreError::Sqlx {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        tx.commit().await.at(&self.path)?;
        Ok(())
    }

    /// Re-encrypts every stored secret under `new_key`, in one transaction.
    /// Returns how many credentials were re-encrypted.
    pub async fn rekey(&self, new_key: &MasterKey) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await.at(&self.path)?;
        let rows = sqlx::query("SELECT id, secret, refresh_token, client_secret FROM credentials")
            .fetch_all(&mut *tx)
            .await
            .at(&self.path)?;
        for row in &rows {
            let id: String = row.try_get("id").at(&self.path)?;
            let mut sealed = Vec::new();
            for column in ["secret", "refresh_token", "client_secret"] {
                let value: Option<Vec<u8>> = row.try_get(column).at(&self.path)?;
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
            .await.at(&self.path)?;
        }
        tx.commit().await.at(&self.path)?;
        Ok(rows.len())
    }

    /// Removes a credential and its state. Returns whether it existed.
    pub async fn remove_credential(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM credentials WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .at(&self.path)?;
        Ok(done.rows_affected() > 0)
    }

    /// Every credential with its health, secrets opened, by provider then priority.
    pub async fn credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        let rows = sqlx::query(select_credentials!("ORDER BY c.provider, c.priority, c.id"))
            .fetch_all(&self.pool)
            .await
            .at(&self.path)?;
        rows.iter().map(|row| self.decode(row)).collect()
    }

    /// One credential, if it exists (only its own secrets are opened).
    pub async fn credential(&self, id: &str) -> Result<Option<StoredCredential>, StoreError> {
        let row = sqlx::query(select_credentials!("WHERE c.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .at(&self.path)?;
        row.as_ref().map(|row| self.decode(row)).transpose()
    }

    fn decode(&self, row: &sqlx::sqlite::SqliteRow) -> Result<StoredCredential, StoreError> {
        let id: String = row.try_get("id").at(&self.path)?;
        let ms = |name: &str| -> Result<Option<Millis>, sqlx::Error> {
            Ok(row
                .try_get::<Option<i64>, _>(name)?
                .map(|v| v.max(0) as Millis))
        };
        let secret = self.open_secret(
            &id,
            "secret",
            &row.try_get::<Vec<u8>, _>("secret").at(&self.path)?,
        )?;
        let kind: String = row.try_get("kind").at(&self.path)?;
        let material = match kind.as_str() {
            "api_key" => Material::ApiKey(secret),
            "oauth" => {
                let refresh: Option<Vec<u8>> = row.try_get("refresh_token").at(&self.path)?;
                let refresh = refresh.ok_or_else(|| {
                    StoreError::Corrupt(format!("{id}: oauth without a refresh token"))
                })?;
                let client_secret: Option<Vec<u8>> = row.try_get("client_secret").at(&self.path)?;
                Material::OAuth(OAuthTokens {
                    access_token: secret,
                    refresh_token: self.open_secret(&id, "refresh_token", &refresh)?,
                    expires_at: ms("expires_at").at(&self.path)?,
                    token_url: row
                        .try_get::<Option<String>, _>("token_url")
                        .at(&self.path)?
                        .unwrap_or_default(),
                    client_id: row
                        .try_get::<Option<String>, _>("client_id")
                        .at(&self.path)?
                        .unwrap_or_default(),
                    client_secret: client_secret
                        .map(|v| self.open_secret(&id, "client_secret", &v))
                        .transpose()?,
                    scope: row.try_get("scope").at(&self.path)?,
                })
            }
            other => return Err(StoreError::Corrupt(format!("{id}: kind {other:?}"))),
        };
        Ok(StoredCredential {
            provider: row.try_get("provider").at(&self.path)?,
            label: row.try_get("label").at(&self.path)?,
            priority: row.try_get("priority").at(&self.path)?,
            material,
            generation: row.try_get::<i64, _>("generation").at(&self.path)?.max(0) as u64,
            incarnation: row.try_get("incarnation").at(&self.path)?,
            use_count: row
                .try_get::<Option<i64>, _>("use_count")
                .at(&self.path)?
                .unwrap_or(0)
                .max(0) as u64,
            created_at: row.try_get::<i64, _>("created_at").at(&self.path)?.max(0) as Millis,
            health: CredentialHealth {
                cooldown_until: ms("cooldown_until").at(&self.path)?,
                cooldown_class: row.try_get("cooldown_class").at(&self.path)?,
                dead_since: ms("dead_since").at(&self.path)?,
                dead_reason: row.try_get("dead_reason").at(&self.path)?,
                last_error_class: row.try_get("last_error_class").at(&self.path)?,
                last_error_at: ms("last_error_at").at(&self.path)?,
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
        self.write_and_prune(changes, trails, None)
            .await
            .map(|_| ())
    }

    /// Writes a batch of health changes and trails, then prunes at most
    /// `prune.max_rows` trails beyond the newest `prune.keep`, in one transaction
    /// (one commit, one fsync). Returns how many trails were pruned.
    pub async fn write_and_prune(
        &self,
        changes: &[HealthChange],
        trails: &[Arc<Trail>],
        prune: Option<Prune>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.begin_write().await?;
        let done = async {
            for change in changes {
                write_health(&mut conn, change).await?;
            }
            trails::write_trails(&mut conn, trails).await?;
            Ok(match prune {
                Some(p) => trails::prune(&mut conn, p.keep, p.max_rows).await?,
                None => 0,
            })
        }
        .await
        .at(&self.path);
        tx::commit(conn, done, &self.path).await
    }
}

async fn write_health(tx: &mut SqliteConnection, change: &HealthChange) -> Result<(), sqlx::Error> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{Action, Caller, CandidateSummary, FailureReason, Step};

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
