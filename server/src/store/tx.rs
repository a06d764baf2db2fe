//! Write transactions that always end: committed, or rolled back explicitly.
//!
//! After a failed COMMIT (an I/O error, a full disk) SQLite may keep the
//! transaction open. A pooled connection left so would hold the write lock and
//! swallow later writes into a transaction that is never committed: the store
//! would not recover when the disk does. Every failure here ends with a ROLLBACK,
//! and the connection is closed, not returned to the pool.

use sqlx::Any;
use sqlx::pool::PoolConnection;

use super::{At as _, Name, Store, StoreError};

// === impl Store ===

impl Store {
    /// A connection inside a fresh write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub(super) async fn begin_write(&self) -> Result<PoolConnection<Any>, StoreError> {
        let mut conn = self.pool.acquire().await.at(&self.name)?;
        match sqlx::query(self.dialect.begin_write())
            .execute(&mut *conn)
            .await
        {
            Ok(_) => Ok(conn),
            Err(e) => {
                // Typically a transaction some earlier failure left open.
                abandon(conn).await;
                Err(e).at(&self.name)
            }
        }
    }
}

/// Commits the transaction of `conn` when `done` succeeded; otherwise, or when the
/// COMMIT fails, rolls it back.
pub(super) async fn commit<T>(
    mut conn: PoolConnection<Any>,
    done: Result<T, StoreError>,
    name: &Name,
) -> Result<T, StoreError> {
    let result = match done {
        Ok(value) => sqlx::query("COMMIT")
            .execute(&mut *conn)
            .await
            .map(|_| value)
            .at(name),
        Err(e) => Err(e),
    };
    if result.is_err() {
        abandon(conn).await;
    }
    result
}

/// Rolls back whatever transaction `conn` holds, then closes it rather than
/// returning it to the pool: a connection that failed a write may also have been
/// opened read-only (SQLite falls back to that when the file cannot be opened for
/// writing) and would stay so. The pool opens a fresh one when needed.
async fn abandon(mut conn: PoolConnection<Any>) {
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    let _ = conn.close().await;
}
