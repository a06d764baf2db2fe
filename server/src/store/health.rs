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
        let mut conn = self.begin_write().await?;
        let done = async {
            for change in changes {
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

pub(super) async fn write_health(
    tx: &mut AnyConnection,
    change: &HealthChange,
) -> Result<(), sqlx::Error> {
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
                 SELECT id, $2, $3, $3, $4, $4 FROM credentials WHERE id = $1 AND incarnation = $5
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
                 SELECT id, $3, $2, 'auth_terminal', $3, $3 FROM credentials WHERE id = $1 AND incarnation = $4
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
                 SELECT id, $2, 0 FROM credentials WHERE id = $1 AND incarnation = $3
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
