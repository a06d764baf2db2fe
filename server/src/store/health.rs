//! Health changes and trails written by the write-behind task, in one
//! transaction per batch.

use std::sync::Arc;

use sqlx::AnyConnection;

use super::{At as _, HealthChange, Prune, Store, StoreError, trail_insert, trails, tx};
use crate::domain::Trail;

// === impl Store ===

impl Store {
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
        // In credential id order (a stable sort keeps one credential's changes in
        // theirs): on PostgreSQL a change locks the credential's row, then its
        // state's, and replicas writing batches at once never lock in a cycle.
        let mut ordered: Vec<&HealthChange> = changes.iter().collect();
        ordered.sort_by(|a, b| a.id().cmp(b.id()));
        let mut conn = self.begin_write().await?;
        let done = async {
            for change in ordered {
                write_health(&mut conn, change).await?;
            }
            trail_insert::write_trails(&mut conn, self.dialect, trails).await?;
            Ok(match prune {
                Some(p) => trails::prune(&mut conn, self.dialect, p.keep, p.max_rows).await?,
                None => 0,
            })
        }
        .await
        .at(&self.name);
        tx::commit(conn, done, &self.name).await
    }
}

/// The statement of a health change, in both dialects: on PostgreSQL the
/// credential's row is locked (`FOR NO KEY UPDATE`) before its state is written.
/// A replacement (`put_credential` with `replace`) deletes the row in another
/// transaction; the lock waits for it, then finds the old incarnation gone, so a
/// change queued for the replaced row never lands on the new one. It also takes
/// the locks in the order a replacement does (credential row, then state).
macro_rules! guarded {
    ($head:literal, $tail:literal) => {
        [
            concat!($head, " ", $tail),
            concat!($head, " FOR NO KEY UPDATE ", $tail),
        ]
    };
}

const COOLDOWN: [&str; 2] = guarded!(
    "INSERT INTO credential_state
         (credential_id, cooldown_until, cooldown_class, last_error_class, last_error_at, updated_at)
     SELECT id, $2, $3, $3, $4, $4 FROM credentials WHERE id = $1 AND incarnation = $5",
    "ON CONFLICT (credential_id) DO UPDATE SET
         cooldown_until = excluded.cooldown_until, cooldown_class = excluded.cooldown_class,
         last_error_class = excluded.last_error_class, last_error_at = excluded.last_error_at,
         updated_at = excluded.updated_at"
);

const DEAD: [&str; 2] = guarded!(
    "INSERT INTO credential_state
         (credential_id, dead_since, dead_reason, last_error_class, last_error_at, updated_at)
     SELECT id, $3, $2, 'auth_terminal', $3, $3 FROM credentials WHERE id = $1 AND incarnation = $4",
    "ON CONFLICT (credential_id) DO UPDATE SET
         dead_since = COALESCE(credential_state.dead_since, excluded.dead_since),
         dead_reason = COALESCE(credential_state.dead_reason, excluded.dead_reason),
         last_error_class = excluded.last_error_class, last_error_at = excluded.last_error_at,
         updated_at = excluded.updated_at"
);

const USAGE: [&str; 2] = guarded!(
    "INSERT INTO credential_state (credential_id, use_count, updated_at)
     SELECT id, $2, 0 FROM credentials WHERE id = $1 AND incarnation = $3",
    "ON CONFLICT (credential_id) DO UPDATE SET use_count = excluded.use_count"
);

pub(super) async fn write_health(
    tx: &mut AnyConnection,
    change: &HealthChange,
) -> Result<(), sqlx::Error> {
    let dialect = usize::from(tx.backend_name() == "PostgreSQL");
    match change {
        HealthChange::Cooldown {
            id,
            incarnation,
            until,
            class,
            at,
        } => {
            sqlx::query(COOLDOWN[dialect])
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
            sqlx::query(DEAD[dialect])
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
            sqlx::query(USAGE[dialect])
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
mod tests {
    use std::time::Duration;

    use secrecy::{ExposeSecret as _, SecretString};
    use sqlx::Connection as _;

    use crate::store::tests::{key, postgres_or_skip};
    use crate::store::{Database, HealthChange, NewApiKey, Store};

    /// A dead mark queued for a row that another transaction is replacing waits
    /// for the replacement, then finds its row gone: the new row stays live.
    #[tokio::test]
    async fn on_postgres_a_change_for_a_row_being_replaced_never_lands_on_the_new_row() {
        let Some(db) = postgres_or_skip().await else {
            return;
        };
        let Database::Postgres(url) = &db else {
            panic!("not PostgreSQL")
        };
        let store = Store::open_at(&db, key()).await.unwrap();
        let k = NewApiKey {
            id: "k".into(),
            provider: "p".into(),
            label: String::new(),
            priority: 0,
            secret: SecretString::from("sk-test-1".to_owned()),
        };
        store.add_api_key(&k, 1).await.unwrap();
        let old = store.credential("k").await.unwrap().unwrap().incarnation;

        // A replacement in progress, as `put_credential(replace)` does it: the row
        // deleted and inserted again with another incarnation, not yet committed.
        let mut other = sqlx::postgres::PgConnection::connect(url.expose_secret())
            .await
            .unwrap();
        let mut replacing = other.begin().await.unwrap();
        for sql in [
            "CREATE TEMP TABLE copy AS SELECT * FROM credentials WHERE id = 'k'",
            "DELETE FROM credentials WHERE id = 'k'",
            "UPDATE copy SET incarnation = incarnation + 1",
            "INSERT INTO credentials SELECT * FROM copy",
        ] {
            sqlx::query(sql).execute(&mut *replacing).await.unwrap();
        }

        let dead = HealthChange::Dead {
            id: "k".into(),
            incarnation: old,
            reason: "refused".into(),
            at: 2,
        };
        let writer = store.clone();
        let write = tokio::spawn(async move { writer.write_batch(&[dead], &[]).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!write.is_finished(), "the write did not wait for the row");
        replacing.commit().await.unwrap();
        write.await.unwrap().unwrap();

        let now = store.credential("k").await.unwrap().unwrap();
        assert_eq!(now.incarnation, old + 1);
        assert_eq!(now.health.dead_since, None, "{:?}", now.health);
    }
}
