//! The store-wide change count of the credentials table (moved by triggers, see
//! the `credential_changes` migration): a running server reads it every second
//! and reloads its pool only when it moved, so credentials changed by the CLI
//! in the same file reach it without a restart.

use super::{At as _, Store, StoreError};

impl Store {
    /// How many times the credentials table changed, by any process, since the
    /// database was created. Cheap: one row by primary key.
    pub async fn credential_changes(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT generation FROM credential_changes WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .at(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use crate::store::tests::{both_backends, key};
    use crate::store::{NewApiKey, Store};

    both_backends! {
        async fn adding_and_removing_a_credential_moves_the_count(db) {
            let store = Store::open_at(&db, key()).await.unwrap();
            let start = store.credential_changes().await.unwrap();
            let key = NewApiKey {
                id: "k".into(),
                provider: "p".into(),
                label: String::new(),
                priority: 0,
                secret: SecretString::from("sk-test-1".to_owned()),
            };
            store.add_api_key(&key, 1).await.unwrap();
            let added = store.credential_changes().await.unwrap();
            assert!(added > start);
            store.remove_credential("k").await.unwrap();
            assert!(store.credential_changes().await.unwrap() > added);
        }
    }
}
