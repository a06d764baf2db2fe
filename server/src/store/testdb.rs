//! Fresh PostgreSQL databases for the tests that run against both backends (the
//! store's unit tests and `server/tests/it/`), created on the server named by
//! `SWITCHYARD_TEST_POSTGRES_URL` (`.ci/postgres` starts one and sets it).
//!
//! Each call creates its own database, so tests never see each other's rows. Not
//! used by the server itself.

use secrecy::SecretString;
use sqlx::Connection as _;

use super::Database;

/// The variable naming a PostgreSQL server the tests may create databases on.
pub const POSTGRES_URL_ENV: &str = "SWITCHYARD_TEST_POSTGRES_URL";

/// Why no PostgreSQL database could be had.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// The variable is unset and `CI` is not: the PostgreSQL half is skipped.
    #[error("{POSTGRES_URL_ENV} is unset (run the tests under `bash .ci/postgres`)")]
    Unset,
    /// The variable is unset while `CI` is set, or the server failed.
    #[error("PostgreSQL for tests: {0}")]
    Failed(String),
}

/// Whether `CI` is set (to something other than empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A new, empty database on the test server.
pub async fn fresh_postgres() -> Result<Database, Unavailable> {
    let Ok(admin) = std::env::var(POSTGRES_URL_ENV) else {
        return Err(if in_ci() {
            Unavailable::Failed(format!("{POSTGRES_URL_ENV} is unset and CI is set"))
        } else {
            Unavailable::Unset
        });
    };
    let name = format!("sy_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::postgres::PgConnection::connect(&admin)
        .await
        .map_err(|e| Unavailable::Failed(format!("connect: {e}")))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(|e| Unavailable::Failed(format!("CREATE DATABASE: {e}")))?;
    let _ = conn.close().await;
    Ok(Database::Postgres(SecretString::from(with_database(
        &admin, &name,
    ))))
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}
