//! The refresh journal (`refresh_journal` table): the durable intent of a refresh
//! grant in flight, and the transactions that end it.
//!
//! A row is written before the token endpoint is called and removed in the same
//! transaction that stores what the endpoint answered (the rotated pair, or the
//! dead mark of a refused token). A row found at start is a refresh interrupted by
//! a crash ([`crate::oauth::recover`] finishes it). Holds a fingerprint of the
//! refresh token spent, never the token.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::tx::commit;
use super::{At as _, HealthChange, RotatedTokens, Store, StoreError, write_health};
use crate::domain::{CredentialId, Millis};

/// A refresh whose end was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The credential being refreshed.
    pub credential_id: CredentialId,
    /// Its generation when the refresh started.
    pub generation: u64,
    /// Fingerprint of the refresh token spent ([`crate::oauth::fingerprint`]).
    pub fingerprint: String,
    /// When the refresh started, Unix ms.
    pub started_at: Millis,
    /// The token call timed out or broke off after it was sent: the provider may
    /// have rotated the token.
    pub outcome_unknown: bool,
}

// === impl Store ===

impl Store {
    /// Records, durably, that a refresh of `id` at `generation` spends the refresh
    /// token with `fingerprint`. Replaces an older row of the same credential.
    pub async fn journal_begin(
        &self,
        id: &str,
        generation: u64,
        fingerprint: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut conn = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO refresh_journal
                 (credential_id, generation, token_fingerprint, started_at, outcome)
             SELECT id, $2, $3, $4, NULL FROM credentials WHERE id = $1
             ON CONFLICT (credential_id) DO UPDATE SET
                 generation = excluded.generation, token_fingerprint = excluded.token_fingerprint,
                 started_at = excluded.started_at, outcome = NULL",
        )
        .bind(id)
        .bind(generation as i64)
        .bind(fingerprint)
        .bind(now as i64)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .at(&self.name);
        commit(conn, done, &self.name).await
    }

    /// Records that the token call of `id` ended without an answer after it was sent.
    pub async fn journal_outcome_unknown(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE refresh_journal SET outcome = 'unknown' WHERE credential_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
                .at(&self.name);
        commit(conn, done, &self.name).await
    }

    /// Forgets the refresh of `id` (it ended without changing the credential).
    pub async fn journal_clear(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM refresh_journal WHERE credential_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .at(&self.name);
        commit(conn, done, &self.name).await
    }

    /// The refresh of `id` whose end was not recorded, if any, read on `conn`.
    pub(super) async fn journal_entry_in(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<JournalEntry>, StoreError> {
        let row = sqlx::query(
            "SELECT credential_id, generation, token_fingerprint, started_at, outcome
             FROM refresh_journal WHERE credential_id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .at(&self.name)?;
        row.as_ref().map(entry).transpose().at(&self.name)
    }

    /// Every refresh whose end was not recorded.
    pub async fn journal(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT credential_id, generation, token_fingerprint, started_at, outcome
             FROM refresh_journal ORDER BY credential_id",
        )
        .fetch_all(&self.pool)
        .await
        .at(&self.name)?;
        rows.iter()
            .map(entry)
            .collect::<Result<_, _>>()
            .at(&self.name)
    }

    /// Stores the pair a refresh returned and ends its journal row, in one
    /// transaction, if nobody rotated the credential since `generation` nor replaced
    /// its row (`incarnation`). The row holds the old pair or the new pair, never a
    /// mix. Returns the new generation.
    pub async fn commit_rotation(
        &self,
        id: &str,
        incarnation: i64,
        generation: u64,
        tokens: &RotatedTokens,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let mut conn = self.begin_write().await?;
        let done = self
            .rotate_in(&mut conn, id, incarnation, generation, tokens, now)
            .await;
        commit(conn, done, &self.name).await
    }

    /// The statements of [`Self::commit_rotation`], in the caller's transaction.
    pub(super) async fn rotate_in(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        incarnation: i64,
        generation: u64,
        tokens: &RotatedTokens,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let secret = self.seal(id, "secret", &tokens.access_token);
        let refresh = self.seal(id, "refresh_token", &tokens.refresh_token);
        let updated = sqlx::query(
            "UPDATE credentials
             SET secret = $1, refresh_token = $2, expires_at = $3, generation = generation + 1,
                 updated_at = $4
             WHERE id = $5 AND kind = 'oauth' AND generation = $6 AND incarnation = $7",
        )
        .bind(secret)
        .bind(refresh)
        .bind(tokens.expires_at.map(|v| v as i64))
        .bind(now as i64)
        .bind(id)
        .bind(generation as i64)
        .bind(incarnation)
        .execute(&mut *conn)
        .await
        .at(&self.name)?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict(id.to_owned()));
        }
        sqlx::query("DELETE FROM refresh_journal WHERE credential_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .at(&self.name)?;
        Ok(generation + 1)
    }

    /// Marks `id` (the row `incarnation`) dead for `reason` and ends its journal
    /// row, in one transaction.
    pub async fn commit_refusal(
        &self,
        id: &CredentialId,
        incarnation: i64,
        reason: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut conn = self.begin_write().await?;
        let done = self
            .refuse_in(&mut conn, id, incarnation, reason, now)
            .await;
        commit(conn, done, &self.name).await
    }

    /// The statements of [`Self::commit_refusal`], in the caller's transaction.
    pub(super) async fn refuse_in(
        &self,
        conn: &mut AnyConnection,
        id: &CredentialId,
        incarnation: i64,
        reason: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let dead = HealthChange::Dead {
            id: id.clone(),
            incarnation,
            reason: reason.to_owned(),
            at: now,
        };
        async {
            write_health(conn, &dead).await?;
            sqlx::query("DELETE FROM refresh_journal WHERE credential_id = $1")
                .bind(&**id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        .await
        .at(&self.name)
    }
}

fn entry(r: &AnyRow) -> Result<JournalEntry, sqlx::Error> {
    Ok(JournalEntry {
        credential_id: r.try_get::<String, _>("credential_id")?.into(),
        generation: r.try_get::<i64, _>("generation")?.max(0) as u64,
        fingerprint: r.try_get("token_fingerprint")?,
        started_at: r.try_get::<i64, _>("started_at")?.max(0) as Millis,
        outcome_unknown: r.try_get::<Option<String>, _>("outcome")?.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::domain::{Material, OAuthTokens};
    use crate::store::NewCredential;
    use secrecy::ExposeSecret as _;

    async fn store_with_oauth(db: &crate::store::Database) -> Store {
        let store = Store::open_at(db, MasterKey::from_bytes([3; 32]))
            .await
            .unwrap();
        let c = NewCredential {
            id: "o1".into(),
            provider: "p".into(),
            label: String::new(),
            priority: 0,
            material: Material::OAuth(OAuthTokens {
                access_token: "a0".to_owned().into(),
                refresh_token: "r0".to_owned().into(),
                expires_at: None,
                token_url: "http://127.0.0.1:1/token".into(),
                client_id: "agent".into(),
                client_secret: None,
                scope: None,
            }),
        };
        store.put_credential(&c, false, 1).await.unwrap();
        store
    }

    crate::store::tests::both_backends! {
        async fn a_rotation_ends_its_journal_row_in_the_same_transaction(db) {
            let store = store_with_oauth(&db).await;
            let inc = store.credential("o1").await.unwrap().unwrap().incarnation;
            store.journal_begin("o1", 0, "fp", 5).await.unwrap();
            store.journal_outcome_unknown("o1").await.unwrap();
            let rows = store.journal().await.unwrap();
            assert_eq!(rows.len(), 1);
            assert!(rows[0].outcome_unknown);
            assert_eq!(rows[0].fingerprint, "fp");
            let tokens = RotatedTokens {
                access_token: "a1".to_owned().into(),
                refresh_token: "r1".to_owned().into(),
                expires_at: None,
            };
            assert_eq!(
                store
                    .commit_rotation("o1", inc, 0, &tokens, 6)
                    .await
                    .unwrap(),
                1
            );
            assert!(store.journal().await.unwrap().is_empty());
            // A stale generation changes nothing, and keeps a newer journal row.
            store.journal_begin("o1", 1, "fp2", 7).await.unwrap();
            assert!(matches!(
                store.commit_rotation("o1", inc, 0, &tokens, 8).await,
                Err(StoreError::Conflict(_))
            ));
            assert!(matches!(
                store
                    .commit_rotation("o1", inc.wrapping_add(1), 1, &tokens, 8)
                    .await,
                Err(StoreError::Conflict(_))
            ));
            assert_eq!(store.journal().await.unwrap().len(), 1);
            let c = store.credential("o1").await.unwrap().unwrap();
            assert_eq!(c.material.bearer().expose_secret(), "a1");
        }

        async fn a_refusal_marks_dead_and_ends_the_row(db) {
            let store = store_with_oauth(&db).await;
            store.journal_begin("o1", 0, "fp", 5).await.unwrap();
            let incarnation = store.credential("o1").await.unwrap().unwrap().incarnation;
            store
                .commit_refusal(&"o1".into(), incarnation, "refused", 6)
                .await
                .unwrap();
            assert!(store.journal().await.unwrap().is_empty());
            let c = store.credential("o1").await.unwrap().unwrap();
            assert_eq!(c.health.dead_reason.as_deref(), Some("refused"));
            // A replaced credential loses the row of its predecessor.
            store.journal_begin("o1", 0, "fp", 7).await.unwrap();
            store.remove_credential("o1").await.unwrap();
            assert!(store.journal().await.unwrap().is_empty());
        }
    }
}
