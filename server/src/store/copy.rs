//! Copying one store into another (`switchyard migrate-store`): credentials with
//! their sealed secrets as stored, their health, the refresh journal and the
//! trails, in one transaction of the target.
//!
//! Secrets are copied sealed, byte for byte: each is bound to its credential id
//! and column, not to the database, so the same master key opens them in the
//! target. The target must be empty: a copy never merges two stores.

use sqlx::{AnyConnection, Row as _};

use super::tx::commit;
use super::{At as _, Dialect, Name, Store, StoreError, trail_insert};

/// What a copy moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Credentials.
    pub credentials: u64,
    /// Rows of credential health.
    pub health: u64,
    /// Refreshes in flight (refresh journal rows).
    pub journal: u64,
    /// Request trails.
    pub trails: u64,
}

#[derive(Clone, Copy)]
enum Col {
    Text,
    Int,
    Blob,
}

const CREDENTIALS: &[(&str, Col)] = &[
    ("id", Col::Text),
    ("provider", Col::Text),
    ("kind", Col::Text),
    ("label", Col::Text),
    ("priority", Col::Int),
    ("secret", Col::Blob),
    ("refresh_token", Col::Blob),
    ("expires_at", Col::Int),
    ("token_url", Col::Text),
    ("client_id", Col::Text),
    ("client_secret", Col::Blob),
    ("scope", Col::Text),
    ("generation", Col::Int),
    ("created_at", Col::Int),
    ("updated_at", Col::Int),
    ("incarnation", Col::Int),
];

const HEALTH: &[(&str, Col)] = &[
    ("credential_id", Col::Text),
    ("cooldown_until", Col::Int),
    ("cooldown_class", Col::Text),
    ("dead_since", Col::Int),
    ("dead_reason", Col::Text),
    ("last_error_class", Col::Text),
    ("last_error_at", Col::Int),
    ("last_refresh_at", Col::Int),
    ("updated_at", Col::Int),
    ("use_count", Col::Int),
];

const JOURNAL: &[(&str, Col)] = &[
    ("credential_id", Col::Text),
    ("generation", Col::Int),
    ("token_fingerprint", Col::Text),
    ("started_at", Col::Int),
    ("outcome", Col::Text),
];

/// Trails read per page of the source, and written per statement.
const TRAIL_PAGE: i64 = 500;

// === impl Store ===

impl Store {
    /// Copies everything this store holds into `target`, which must hold no
    /// credential, journal row or trail ([`StoreError::TargetNotEmpty`]). One
    /// transaction of the target: a failed copy leaves it empty.
    pub async fn copy_into(&self, target: &Store) -> Result<Copied, StoreError> {
        target.refuse_if_not_empty().await?;
        let mut conn = target.begin_write().await?;
        let done = async {
            let credentials = self
                .copy_table(&mut conn, &target.name, "credentials", CREDENTIALS, "id")
                .await?;
            let health = self
                .copy_table(
                    &mut conn,
                    &target.name,
                    "credential_state",
                    HEALTH,
                    "credential_id",
                )
                .await?;
            let journal = self
                .copy_table(
                    &mut conn,
                    &target.name,
                    "refresh_journal",
                    JOURNAL,
                    "credential_id",
                )
                .await?;
            let trails = self
                .copy_trails(&mut conn, &target.name, target.dialect)
                .await?;
            Ok(Copied {
                credentials,
                health,
                journal,
                trails,
            })
        }
        .await;
        commit(conn, done, &target.name).await
    }

    async fn refuse_if_not_empty(&self) -> Result<(), StoreError> {
        for table in ["credentials", "refresh_journal", "requests"] {
            let sql = format!("SELECT count(*) FROM {table}");
            let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&self.pool)
                .await
                .at(&self.name)?;
            if rows > 0 {
                return Err(StoreError::TargetNotEmpty {
                    database: self.name.clone(),
                    table,
                    rows,
                });
            }
        }
        Ok(())
    }

    /// Copies the rows of `table`, its columns as they are.
    async fn copy_table(
        &self,
        target: &mut AnyConnection,
        target_name: &Name,
        table: &str,
        cols: &[(&str, Col)],
        order: &str,
    ) -> Result<u64, StoreError> {
        let names: Vec<&str> = cols.iter().map(|(name, _)| *name).collect();
        let names = names.join(", ");
        let select = format!("SELECT {names} FROM {table} ORDER BY {order}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(select))
            .fetch_all(&self.pool)
            .await
            .at(&self.name)?;
        let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
        let insert = format!(
            "INSERT INTO {table} ({names}) VALUES ({})",
            placeholders.join(", ")
        );
        for row in &rows {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
            for (i, (_, col)) in cols.iter().enumerate() {
                query = match col {
                    Col::Text => query.bind(row.try_get::<Option<String>, _>(i).at(&self.name)?),
                    Col::Int => query.bind(row.try_get::<Option<i64>, _>(i).at(&self.name)?),
                    Col::Blob => query.bind(row.try_get::<Option<Vec<u8>>, _>(i).at(&self.name)?),
                };
            }
            query.execute(&mut *target).await.at(target_name)?;
        }
        Ok(rows.len() as u64)
    }

    /// Copies the trails oldest first (the target prunes from its oldest), each
    /// read as a trail: steps a former version kept in `attempts` arrive as JSON.
    async fn copy_trails(
        &self,
        target: &mut AnyConnection,
        target_name: &Name,
        target_dialect: Dialect,
    ) -> Result<u64, StoreError> {
        let key = self.dialect.trail_order();
        let page_sql = format!(
            "SELECT {key}, id FROM requests WHERE {key} > $1 ORDER BY {key} LIMIT {TRAIL_PAGE}"
        );
        let mut after = i64::MIN;
        let mut copied = 0;
        loop {
            let page = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()))
                .bind(after)
                .fetch_all(&self.pool)
                .await
                .at(&self.name)?;
            let Some(last) = page.last() else {
                return Ok(copied);
            };
            after = last.try_get::<i64, _>(0).at(&self.name)?;
            let mut batch = Vec::with_capacity(page.len());
            for row in &page {
                let id: String = row.try_get(1).at(&self.name)?;
                if let Some(trail) = self.trail(&id).await? {
                    batch.push(std::sync::Arc::new(trail));
                }
            }
            trail_insert::write_trails(target, target_dialect, &batch)
                .await
                .at(target_name)?;
            copied += batch.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use secrecy::ExposeSecret as _;

    use super::*;
    use crate::domain::{ErrorClass, Material, OAuthTokens};
    use crate::store::tests::{key, trail};
    use crate::store::{HealthChange, NewCredential};

    async fn seeded_sqlite(dir: &std::path::Path) -> Store {
        let source = Store::open(&dir.join("source.db"), key()).await.unwrap();
        let oauth = NewCredential {
            id: "o1".into(),
            provider: "p".into(),
            label: "team".into(),
            priority: 2,
            material: Material::OAuth(OAuthTokens {
                access_token: "access-A".to_owned().into(),
                refresh_token: "refresh-R".to_owned().into(),
                expires_at: Some(9_000),
                token_url: "http://127.0.0.1:1/token".into(),
                client_id: "agent".into(),
                client_secret: Some("client-S".to_owned().into()),
                scope: Some("model.request".into()),
            }),
        };
        source.put_credential(&oauth, false, 1).await.unwrap();
        let key_cred = NewCredential {
            id: "k1".into(),
            provider: "p".into(),
            label: String::new(),
            priority: 1,
            material: Material::ApiKey("sk-K".to_owned().into()),
        };
        source.put_credential(&key_cred, false, 1).await.unwrap();
        let inc = source.credential("k1").await.unwrap().unwrap().incarnation;
        let cooldown = HealthChange::Cooldown {
            id: "k1".into(),
            incarnation: inc,
            until: 5_000,
            class: ErrorClass::RateLimit,
            at: 4_000,
        };
        let trails: Vec<_> = (0..1_200)
            .map(|i| Arc::new(trail(&format!("r{i:05}"), i)))
            .collect();
        source.write_batch(&[cooldown], &trails).await.unwrap();
        source.journal_begin("o1", 0, "fp", 7).await.unwrap();
        source
    }

    crate::store::tests::both_backends! {
        async fn a_copy_moves_credentials_health_journal_and_trails_and_refuses_a_full_target(db) {
            let dir = tempfile::tempdir().unwrap();
            let source = seeded_sqlite(dir.path()).await;
            let target = Store::open_at(&db, key()).await.unwrap();
            let copied = source.copy_into(&target).await.unwrap();
            assert_eq!(
                copied,
                Copied { credentials: 2, health: 1, journal: 1, trails: 1_200 }
            );
            let (before, after) = (
                source.credentials().await.unwrap(),
                target.credentials().await.unwrap(),
            );
            assert_eq!(after.len(), 2);
            for (b, a) in before.iter().zip(&after) {
                assert_eq!((&b.id, b.generation, b.incarnation), (&a.id, a.generation, a.incarnation));
                assert_eq!(b.health, a.health);
                assert_eq!((b.priority, &b.label, b.created_at), (a.priority, &a.label, a.created_at));
                assert_eq!(
                    b.material.bearer().expose_secret(),
                    a.material.bearer().expose_secret(),
                    "the same master key opens the copied secret"
                );
            }
            let Material::OAuth(t) = &after[1].material else { panic!("{:?}", after[1]) };
            assert_eq!(t.refresh_token.expose_secret(), "refresh-R");
            assert_eq!(t.client_secret.as_ref().unwrap().expose_secret(), "client-S");
            assert_eq!(source.journal().await.unwrap(), target.journal().await.unwrap());
            for id in ["r00000", "r00777", "r01199"] {
                assert_eq!(source.trail(id).await.unwrap(), target.trail(id).await.unwrap());
            }
            // Oldest first: pruning the target keeps the newest.
            assert_eq!(target.prune_trails(200, 2_000).await.unwrap(), 1_000);
            assert!(target.trail("r00999").await.unwrap().is_none());
            assert!(target.trail("r01000").await.unwrap().is_some());
            let err = source.copy_into(&target).await.unwrap_err();
            assert!(matches!(err, StoreError::TargetNotEmpty { table: "credentials", .. }), "{err}");
            assert!(err.to_string().contains("is not empty"), "{err}");
        }
    }
}
