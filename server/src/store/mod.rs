//! Persistence through sqlx, on SQLite (the default) or PostgreSQL: credentials,
//! their state, the refresh journal, and request trails.
//!
//! Owns the schema (`migrations/sqlite/`, `migrations/postgres/`, embedded and run
//! by [`Store::open_at`]). Knows the domain types only: never proto types, never
//! the policy. The request hot path does not call this module; the
//! [`crate::writer`] task does, off the path.

mod backend;
mod copy;
mod credentials;
mod files;
mod health;
mod journal;
mod reach;
mod refresh_lock;
mod sync;
pub mod testdb;
mod trail_insert;
pub(crate) mod trails;
mod tx;
mod types;

use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sqlx::AnyPool;

use crate::crypto::{CryptoError, MasterKey};

use backend::Name;
pub use backend::{
    ACQUIRE_TIMEOUT, Database, Dialect, POSTGRES_MIGRATOR, SQLITE_MIGRATOR, UnsupportedUrl,
};
pub use copy::Copied;
use health::write_health;
pub use journal::JournalEntry;
pub use refresh_lock::{LockBounds, Locked, REFRESH_LOCK_CLASS, RefreshIntent, RefreshLock};
pub use types::{
    CredentialHealth, HealthChange, NewApiKey, NewCredential, Prune, RotatedTokens,
    StoredCredential,
};

/// A store failure. Failures of the database name it: the SQLite file, or the
/// PostgreSQL URL without its password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database or sqlx failed.
    #[error("database {database}: {source}")]
    Sqlx {
        /// The database: file, or URL without password.
        database: Name,
        /// Cause.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database {database}: migration failed: {source}")]
    Migrate {
        /// The database: file, or URL without password.
        database: Name,
        /// Cause.
        source: sqlx::migrate::MigrateError,
    },
    /// The database file could not be created.
    #[error("database {database}: cannot create the file: {source}")]
    Create {
        /// The database: file, or URL without password.
        database: Name,
        /// Cause.
        source: std::io::Error,
    },
    /// The database opens but refuses writes: a read-only file, directory or
    /// filesystem, or a full disk.
    #[error("database {database} is not writable: {source}")]
    NotWritable {
        /// The database: file, or URL without password.
        database: Name,
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
    /// The database did not answer in time: nothing that needs a commit may
    /// start (a refresh is not made).
    #[error("database {database}: {what} within {after_ms} ms: out of reach")]
    Unreachable {
        /// The database: file, or URL without password.
        database: Name,
        /// What was not had.
        what: &'static str,
        /// How long it was waited for.
        after_ms: u64,
    },
    /// Another process held the credential's refresh lock past the wait.
    #[error("credential {id:?}: another process held its refresh lock for over {waited_ms} ms")]
    LockBusy {
        /// Credential.
        id: String,
        /// How long it was waited for.
        waited_ms: u64,
    },
    /// No such credential.
    #[error("no credential {0:?}")]
    NotFound(String),
    /// The target of a copy already holds data.
    #[error(
        "database {database} is not empty ({rows} rows in {table}): a copy needs an empty target"
    )]
    TargetNotEmpty {
        /// The target.
        database: Name,
        /// A table holding rows.
        table: &'static str,
        /// How many.
        rows: i64,
    },
    /// `database.url` names no supported database.
    #[error(transparent)]
    Url(#[from] UnsupportedUrl),
    /// The system gave no random bytes for a new incarnation.
    #[error("no randomness for a credential incarnation: {0}")]
    Entropy(String),
}

/// Handle to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    key: MasterKey,
    name: Name,
    dialect: Dialect,
}

/// Names the database in a sqlx error.
trait At<T> {
    fn at(self, name: &Name) -> Result<T, StoreError>;
}

impl<T> At<T> for Result<T, sqlx::Error> {
    fn at(self, name: &Name) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlx {
            database: name.clone(),
            source,
        })
    }
}

// === impl Store ===

impl Store {
    /// Opens the SQLite file at `path`: see [`Store::open_at`].
    pub async fn open(path: &Path, key: MasterKey) -> Result<Self, StoreError> {
        Self::open_at(&Database::Sqlite(path.to_path_buf()), key).await
    }

    /// Opens the database (a SQLite file is created if needed, mode 0600, and
    /// opened in WAL mode), runs the migrations, proves that a write commits, and
    /// seals any secret a previous version stored in the clear. On PostgreSQL the
    /// migrations hold an advisory lock: replicas starting together run them once.
    pub async fn open_at(db: &Database, key: MasterKey) -> Result<Self, StoreError> {
        let name: Name = Arc::from(db.name());
        if let Database::Sqlite(path) = db {
            files::create_private(path).map_err(|source| StoreError::Create {
                database: name.clone(),
                source,
            })?;
        }
        let pool = backend::connect(db, false).await.at(&name)?;
        let dialect = db.dialect();
        dialect
            .migrator()
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                database: name.clone(),
                source,
            })?;
        let store = Self {
            pool,
            key,
            name,
            dialect,
        };
        // Migrations of an up-to-date file only read: a read-only file would pass
        // them and fail every write later, silently. Refuse it now.
        store.probe_write().await?;
        store.seal_legacy_secrets().await?;
        Ok(store)
    }

    /// How errors name the database: its file, or its URL without password.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SQL dialect of the database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Commits a one-row write: the store accepts writes now. Fails with
    /// [`StoreError::NotWritable`] when it does not.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        sqlx::query(
            "INSERT INTO store_probe (id, written_at) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|source| StoreError::NotWritable {
            database: self.name.clone(),
            source,
        })?;
        Ok(())
    }

    /// Whether the SQLite file at `path` holds sealed secrets: see
    /// [`Store::holds_sealed_secrets_at`].
    pub async fn holds_sealed_secrets(path: &Path) -> Result<bool, StoreError> {
        Self::holds_sealed_secrets_at(&Database::Sqlite(path.to_path_buf())).await
    }

    /// Whether the database holds secrets sealed under some master key. Read
    /// only, with no key: a missing file, or a database without credentials,
    /// holds none. A fresh master key could not open sealed secrets, so the caller
    /// must not generate one for such a database.
    pub async fn holds_sealed_secrets_at(db: &Database) -> Result<bool, StoreError> {
        let name: Name = Arc::from(db.name());
        if let Database::Sqlite(path) = db
            && !path.exists()
        {
            return Ok(false);
        }
        let pool = backend::connect(db, true).await.at(&name)?;
        let sealed = async {
            let tables: i64 = sqlx::query_scalar(db.dialect().credentials_table_sql())
                .fetch_one(&pool)
                .await?;
            if tables == 0 {
                return Ok(false);
            }
            let secrets: Vec<Vec<u8>> = sqlx::query_scalar("SELECT secret FROM credentials")
                .fetch_all(&pool)
                .await?;
            Ok(secrets.iter().any(|s| MasterKey::is_sealed(s)))
        }
        .await
        .at(&name);
        pool.close().await;
        sealed
    }

    /// The master key sealing this store's secrets (its `Debug` shows no byte).
    pub fn master_key(&self) -> &MasterKey {
        &self.key
    }

    /// Id of the master key in use (not secret).
    pub fn key_id(&self) -> String {
        self.key.id_hex()
    }

    pub(super) fn seal(&self, id: &str, column: &str, secret: &SecretString) -> Vec<u8> {
        self.key
            .seal(secret.expose_secret().as_bytes(), &format!("{id}/{column}"))
    }

    pub(super) fn open_secret(
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
            .at(&self.name)?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
pub(crate) mod tests;
