//! Write transactions that always end: committed, or rolled back explicitly.
//!
//! After a failed COMMIT (an I/O error, a full disk) SQLite may keep the
//! transaction open. A pooled connection left so would hold the write lock and
//! swallow later writes into a transaction that is never committed: the store
//! would not recover when the disk does. Every failure here ends with a ROLLBACK,
//! and a connection that cannot be rolled back is closed, not returned to the pool.

use sqlx::Sqlite;
use sqlx::pool::PoolConnection;

use super::{Store, StoreError};

// === impl Store ===

impl Store {
    /// A connection inside a fresh `BEGIN IMMEDIATE` transaction.
    pub(super) async fn begin_write(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        match sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
            Ok(_) => Ok(conn),
            Err(e) => {
                // Typically a transaction some earlier failure left open.
                abandon(conn).await;
                Err(e.into())
            }
        }
    }
}

/// Commits the transaction of `conn` when `done` succeeded; otherwise, or when the
/// COMMIT fails, rolls it back.
pub(super) async fn commit<T>(
    mut conn: PoolConnection<Sqlite>,
    done: Result<T, StoreError>,
) -> Result<T, StoreError> {
    let result = match done {
        Ok(value) => sqlx::query("COMMIT")
            .execute(&mut *conn)
            .await
            .map(|_| value)
            .map_err(StoreError::from),
        Err(e) => Err(e),
    };
    if result.is_err() {
        abandon(conn).await;
    }
    result
}

/// Rolls back whatever transaction `conn` holds; closes it when that fails.
async fn abandon(mut conn: PoolConnection<Sqlite>) {
    if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
        let _ = conn.close().await;
    }
}
