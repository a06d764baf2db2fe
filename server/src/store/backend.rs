//! Which database the store talks to, and the few places where SQLite and
//! PostgreSQL need different SQL.
//!
//! Every query of the store is written once, with `$n` placeholders (SQLite reads
//! `$n` as the n-th bound value, as PostgreSQL does) and `ON CONFLICT ... DO`
//! upserts, which both accept. What differs is said here, once: how a pool is
//! opened, the migrations, how a write transaction begins, and what pruning counts
//! rows by (SQLite's `rowid`, PostgreSQL's `seq` identity column).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// The embedded SQLite migrations (`migrations/sqlite/`).
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The embedded PostgreSQL migrations (`migrations/postgres/`).
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Where the store lives: a SQLite file (the default) or a PostgreSQL database.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file, created owner-only when missing.
    Sqlite(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL. It may hold a password: it is
    /// secret, and shown only through [`Database::name`].
    Postgres(SecretString),
}

/// A `database.url` that names no PostgreSQL database.
#[derive(Debug, thiserror::Error)]
#[error("database.url must start with postgres:// or postgresql:// (got {scheme:?}://...)")]
pub struct UnsupportedUrl {
    /// The scheme given (never the rest: it may hold a password).
    pub scheme: String,
}

// === impl Database ===

impl Database {
    /// The PostgreSQL database at `url`.
    pub fn postgres(url: SecretString) -> Result<Self, UnsupportedUrl> {
        let scheme = url
            .expose_secret()
            .split_once("://")
            .map(|(s, _)| s.to_owned())
            .unwrap_or_default();
        match scheme.as_str() {
            "postgres" | "postgresql" => Ok(Self::Postgres(url)),
            _ => Err(UnsupportedUrl { scheme }),
        }
    }

    /// How errors and logs name the database: the file, or the URL without its
    /// user information and query (which may hold a password).
    pub fn name(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(url) => redact_url(url.expose_secret()),
        }
    }

    pub(super) fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// `postgres://user:pw@host:5432/db?sslmode=x` -> `postgres://host:5432/db`.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/{path}")
}

/// The SQL dialect of an open store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (bundled).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

// === impl Dialect ===

impl Dialect {
    pub(super) fn migrator(self) -> &'static sqlx::migrate::Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATOR,
            Self::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// Starts a write transaction. SQLite takes its write lock now (`IMMEDIATE`), so
    /// a transaction never fails half-way on a lock upgrade; PostgreSQL locks rows.
    pub(super) fn begin_write(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
            Self::Postgres => "BEGIN",
        }
    }

    /// Deletes the trails below the retention bound (`$1` kept), at most `$2` of
    /// them, lowest first. Both bounds are read from the ends of the key b-tree: on
    /// SQLite the plan is a `SEARCH ... USING INTEGER PRIMARY KEY`, never a `SCAN`
    /// (a test checks); on PostgreSQL an index range on the `seq` primary key.
    pub(super) fn prune_sql(self) -> &'static str {
        match self {
            Self::Sqlite => {
                "DELETE FROM requests
                 WHERE rowid <= (SELECT max(rowid) FROM requests) - $1
                   AND rowid < (SELECT min(rowid) FROM requests) + $2"
            }
            Self::Postgres => {
                "DELETE FROM requests
                 WHERE seq <= (SELECT max(seq) FROM requests) - $1
                   AND seq < (SELECT min(seq) FROM requests) + $2"
            }
        }
    }

    /// The column trails are appended in: SQLite's `rowid`, PostgreSQL's `seq`.
    pub(super) fn trail_order(self) -> &'static str {
        match self {
            Self::Sqlite => "rowid",
            Self::Postgres => "seq",
        }
    }

    /// Counts the `credentials` tables of the database (0 before the migrations).
    pub(super) fn credentials_table_sql(self) -> &'static str {
        match self {
            Self::Sqlite => {
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'credentials'"
            }
            Self::Postgres => {
                "SELECT count(*) FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = 'credentials'"
            }
        }
    }
}

/// Opens a pool on `db`. SQLite: WAL, `synchronous = FULL` (a committed rotation
/// survives a crash of the process or of the machine), foreign keys, and a 2 MiB
/// page cache that a write transaction may grow to 16 MB. `read_only` opens an
/// existing file without writing to it.
pub(super) async fn connect(db: &Database, read_only: bool) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    match db {
        Database::Sqlite(path) => {
            let url = sqlite_url(path, read_only)?;
            let pragmas = if read_only {
                "PRAGMA busy_timeout = 5000"
            } else {
                // A write batch touches both ends of the trail b-trees (inserts at the
                // top, the prune at the bottom): its dirty pages may reach a few MiB.
                // `cache_spill` lets them grow to 4,000 pages (16 MB) before any
                // spills to the WAL mid-transaction, while `cache_size` keeps 2 MiB of
                // clean pages between transactions. (Not 4,096: SQLite also reads the
                // value as an on/off switch from its low byte, and 4,096 turns
                // spilling off, which a copy of a million trails in one transaction
                // would need.) A 16 MiB cache kept up to 16 MiB
                // of pages once written and never read again on each of the pooled
                // connections, which take the writes in turn: resident memory grew
                // with the trails written, up to 64 MiB.
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -2048; PRAGMA cache_spill = 4000; PRAGMA busy_timeout = 5000"
            };
            AnyPoolOptions::new()
                .max_connections(if read_only { 1 } else { 4 })
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(pragmas).execute(conn).await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
        }
        Database::Postgres(url) => AnyPoolOptions::new()
            .max_connections(if read_only { 1 } else { 8 })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url.expose_secret())
            .await
            .map_err(tls_named),
    }
}

/// A failed TLS handshake with PostgreSQL as sqlx's TLS error ("error occurred
/// while attempting to establish a TLS connection: invalid peer certificate:
/// UnknownIssuer"): sqlx reports it as a bare I/O error, which does not say TLS.
pub(super) fn tls_named(e: sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            sqlx::Error::Tls(Box::new(io))
        }
        e => e,
    }
}

/// A `sqlite://` URL for `path`: `%`, `?` and `#` are escaped (sqlx decodes them).
fn sqlite_url(path: &Path, read_only: bool) -> Result<String, sqlx::Error> {
    let text = path
        .to_str()
        .ok_or_else(|| sqlx::Error::Configuration("the database path is not valid UTF-8".into()))?;
    let mut url = String::from("sqlite://");
    for c in text.chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url.push_str(if read_only { "?mode=ro" } else { "?mode=rwc" });
    Ok(url)
}

/// Longest wait of a PostgreSQL query for a connection. sqlx retries a refused
/// connection quietly until then, so this is also how long a stopped database
/// goes unnoticed by the store's health; the write-behind never waits for it
/// (it keeps taking writes meanwhile), and nothing on the request path does.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The name errors give the database.
pub(super) type Name = Arc<str>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_named_without_its_password() {
        assert_eq!(
            redact_url("postgres://sy:hunter2@db.example:5432/switchyard?sslmode=require"),
            "postgres://db.example:5432/switchyard"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        let db = Database::postgres("postgresql://u:p%40ss@h/d".to_owned().into()).unwrap();
        assert!(!db.name().contains("p%40ss"), "{}", db.name());
        let err = Database::postgres("mysql://u:pw@h/d".to_owned().into()).unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn a_sqlite_path_with_url_characters_stays_one_path() {
        let url = sqlite_url(Path::new("/tmp/a?b#c%d.db"), false).unwrap();
        assert_eq!(url, "sqlite:///tmp/a%3Fb%23c%25d.db?mode=rwc");
    }
}
