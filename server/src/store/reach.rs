//! Why the database cannot be reached. A pool that finds no connection within
//! its acquire timeout says only "pool timed out": it retried a refused
//! connection quietly until then. The store's health names the cause instead,
//! learnt from one direct connection attempt.

use sqlx::Connection as _;

use super::{ACQUIRE_TIMEOUT, Store, StoreError};

// === impl StoreError ===

impl StoreError {
    /// Whether the pool found no connection in time (the database is down, or
    /// every connection is busy).
    pub fn is_pool_timeout(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlx {
                source: sqlx::Error::PoolTimedOut,
                ..
            } | StoreError::NotWritable {
                source: sqlx::Error::PoolTimedOut,
                ..
            }
        )
    }
}

// === impl Store ===

impl Store {
    /// Connects once outside the pool: `None` when that works (the pool was only
    /// busy), else why not (`Connection refused`, a TLS failure...). The error
    /// names no password: sqlx's connection errors do not repeat the URL.
    pub async fn unreachable_cause(&self) -> Option<String> {
        let options = self.pool.connect_options();
        match tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::AnyConnection::connect_with(&options))
            .await
        {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                None
            }
            Ok(Err(e)) => Some(super::backend::tls_named(e).to_string()),
            Err(_) => Some(format!(
                "no connection within {}s",
                ACQUIRE_TIMEOUT.as_secs()
            )),
        }
    }
}
