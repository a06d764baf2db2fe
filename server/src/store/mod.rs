//! SQLite persistence through sqlx: credentials, their state, and request trails.
//!
//! Owns the schema (`migrations/`, embedded and run by [`Store::open`]). Knows the
//! domain types only: never proto types, never the policy. The request hot path
//! does not call this module; the [`crate::writer`] task does, off the path.

mod credentials;
mod files;
mod health;
mod journal;
pub(crate) mod trails;
mod tx;
mod types;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::crypto::{CryptoError, MasterKey};

use health::write_health;
pub use journal::JournalEntry;
pub use types::{
    CredentialHealth, HealthChange, NewApiKey, NewCredential, Prune, RotatedTokens,
    StoredCredential,
};

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
            .at(&self.path)?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
pub(crate) mod tests;
