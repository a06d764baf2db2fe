//! Credentials (`credentials` table) joined with their health
//! (`credential_state`): add, replace, remove, list, decode, and the sealing of
//! their secrets (legacy clear rows at start, re-encryption under a new key).

use secrecy::ExposeSecret as _;
use sqlx::Row as _;

use super::{
    At as _, CredentialHealth, NewApiKey, NewCredential, Store, StoreError, StoredCredential,
};
use crate::crypto::MasterKey;
use crate::domain::{Material, Millis, OAuthTokens};

/// The credential columns `decode` reads, joined with their health, then `$tail`.
macro_rules! select_credentials {
    ($tail:literal) => {
        concat!(
            "SELECT c.id, c.provider, c.kind, c.label, c.priority, c.secret, c.refresh_token,
                    c.expires_at, c.token_url, c.client_id, c.client_secret, c.scope,
                    c.generation, c.created_at, c.incarnation,
                    CASE WHEN s.revision > c.revision THEN s.revision ELSE c.revision END AS revision,
                    s.cooldown_until, s.cooldown_class, s.dead_since, s.dead_reason,
                    s.last_error_class, s.last_error_at, s.use_count
             FROM credentials c LEFT JOIN credential_state s ON s.credential_id = c.id ",
            $tail
        )
    };
}

// === impl Store ===

impl Store {
    /// Version 0.1 stored API keys in the clear: seal them in place, once.
    pub(super) async fn seal_legacy_secrets(&self) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT id, secret FROM credentials")
            .fetch_all(&self.pool)
            .await
            .at(&self.name)?;
        let mut tx = self.pool.begin().await.at(&self.name)?;
        for row in &rows {
            let id: String = row.try_get("id").at(&self.name)?;
            let secret: Vec<u8> = row.try_get("secret").at(&self.name)?;
            if !MasterKey::is_sealed(&secret) {
                sqlx::query("UPDATE credentials SET secret = $1 WHERE id = $2")
                    .bind(self.key.seal(&secret, &format!("{id}/secret")))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .at(&self.name)?;
            }
        }
        tx.commit().await.at(&self.name)?;
        Ok(())
    }

    /// Adds a static API key; fails if the id exists.
    pub async fn add_api_key(&self, key: &NewApiKey, now: Millis) -> Result<(), StoreError> {
        self.put_credential(&NewCredential::from(key), false, now)
            .await
    }

    /// Stores a credential, sealed. With `replace`, an existing one with the same id
    /// is replaced and its health reset (a replaced dead credential is live again);
    /// without, an existing id is an error.
    pub async fn put_credential(
        &self,
        c: &NewCredential,
        replace: bool,
        now: Millis,
    ) -> Result<(), StoreError> {
        let (kind, secret, oauth) = match &c.material {
            Material::ApiKey(key) => ("api_key", self.seal(&c.id, "secret", key), None),
            Material::OAuth(t) => (
                "oauth",
                self.seal(&c.id, "secret", &t.access_token),
                Some(t),
            ),
        };
        // A random incarnation: a change queued for a replaced row cannot match.
        let incarnation = getrandom::u64()
            .map(|v| v as i64)
            .map_err(|e| StoreError::Entropy(e.to_string()))?;
        let mut tx = self.pool.begin().await.at(&self.name)?;
        if replace {
            sqlx::query("DELETE FROM credentials WHERE id = $1")
                .bind(&c.id)
                .execute(&mut *tx)
                .await
                .at(&self.name)?;
        }
        let result = sqlx::query(
            "INSERT INTO credentials (id, provider, kind, label, priority, secret, refresh_token,
                                      expires_at, token_url, client_id, client_secret, scope,
                                      created_at, updated_at, incarnation)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&c.id)
        .bind(&c.provider)
        .bind(kind)
        .bind(&c.label)
        .bind(c.priority)
        .bind(secret)
        .bind(oauth.map(|t| self.seal(&c.id, "refresh_token", &t.refresh_token)))
        .bind(oauth.and_then(|t| t.expires_at).map(|v| v as i64))
        .bind(oauth.map(|t| t.token_url.as_str()))
        .bind(oauth.map(|t| t.client_id.as_str()))
        .bind(
            oauth
                .and_then(|t| t.client_secret.as_ref())
                .map(|s| self.seal(&c.id, "client_secret", s)),
        )
        .bind(oauth.and_then(|t| t.scope.as_deref()))
        .bind(now as i64)
        .bind(now as i64)
        .bind(incarnation)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Duplicate(c.id.clone()));
            }
            Err(source) => {
                return Err(StoreError::Sqlx {
                    database: self.name.clone(),
                    source,
                });
            }
        }
        tx.commit().await.at(&self.name)?;
        Ok(())
    }

    /// Re-encrypts every stored secret under `new_key`, in one transaction.
    /// Returns how many credentials were re-encrypted.
    pub async fn rekey(&self, new_key: &MasterKey) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await.at(&self.name)?;
        let rows = sqlx::query("SELECT id, secret, refresh_token, client_secret FROM credentials")
            .fetch_all(&mut *tx)
            .await
            .at(&self.name)?;
        for row in &rows {
            let id: String = row.try_get("id").at(&self.name)?;
            let mut sealed = Vec::new();
            for column in ["secret", "refresh_token", "client_secret"] {
                let value: Option<Vec<u8>> = row.try_get(column).at(&self.name)?;
                sealed.push(match value {
                    None => None,
                    Some(v) => {
                        let plain = self.open_secret(&id, column, &v)?;
                        Some(
                            new_key
                                .seal(plain.expose_secret().as_bytes(), &format!("{id}/{column}")),
                        )
                    }
                });
            }
            sqlx::query(
                "UPDATE credentials SET secret = $1, refresh_token = $2, client_secret = $3 WHERE id = $4",
            )
            .bind(&sealed[0])
            .bind(&sealed[1])
            .bind(&sealed[2])
            .bind(&id)
            .execute(&mut *tx)
            .await.at(&self.name)?;
        }
        tx.commit().await.at(&self.name)?;
        Ok(rows.len())
    }

    /// Removes a credential and its state. Returns whether it existed.
    pub async fn remove_credential(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM credentials WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .at(&self.name)?;
        Ok(done.rows_affected() > 0)
    }

    /// Every credential with its health, secrets opened, by provider then priority.
    pub async fn credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        let rows = sqlx::query(select_credentials!("ORDER BY c.provider, c.priority, c.id"))
            .fetch_all(&self.pool)
            .await
            .at(&self.name)?;
        rows.iter().map(|row| self.decode(row)).collect()
    }

    /// One credential, if it exists (only its own secrets are opened).
    pub async fn credential(&self, id: &str) -> Result<Option<StoredCredential>, StoreError> {
        let row = sqlx::query(select_credentials!("WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .at(&self.name)?;
        row.as_ref().map(|row| self.decode(row)).transpose()
    }

    /// [`Self::credential`], read on `conn` (inside the caller's transaction).
    pub(super) async fn credential_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
    ) -> Result<Option<StoredCredential>, StoreError> {
        let row = sqlx::query(select_credentials!("WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .at(&self.name)?;
        row.as_ref().map(|row| self.decode(row)).transpose()
    }

    fn decode(&self, row: &sqlx::any::AnyRow) -> Result<StoredCredential, StoreError> {
        let id: String = row.try_get("id").at(&self.name)?;
        let ms = |name: &str| -> Result<Option<Millis>, sqlx::Error> {
            Ok(row
                .try_get::<Option<i64>, _>(name)?
                .map(|v| v.max(0) as Millis))
        };
        let secret = self.open_secret(
            &id,
            "secret",
            &row.try_get::<Vec<u8>, _>("secret").at(&self.name)?,
        )?;
        let kind: String = row.try_get("kind").at(&self.name)?;
        let material = match kind.as_str() {
            "api_key" => Material::ApiKey(secret),
            "oauth" => {
                let refresh: Option<Vec<u8>> = row.try_get("refresh_token").at(&self.name)?;
                let refresh = refresh.ok_or_else(|| {
                    StoreError::Corrupt(format!("{id}: oauth without a refresh token"))
                })?;
                let client_secret: Option<Vec<u8>> = row.try_get("client_secret").at(&self.name)?;
                Material::OAuth(OAuthTokens {
                    access_token: secret,
                    refresh_token: self.open_secret(&id, "refresh_token", &refresh)?,
                    expires_at: ms("expires_at").at(&self.name)?,
                    token_url: row
                        .try_get::<Option<String>, _>("token_url")
                        .at(&self.name)?
                        .unwrap_or_default(),
                    client_id: row
                        .try_get::<Option<String>, _>("client_id")
                        .at(&self.name)?
                        .unwrap_or_default(),
                    client_secret: client_secret
                        .map(|v| self.open_secret(&id, "client_secret", &v))
                        .transpose()?,
                    scope: row.try_get("scope").at(&self.name)?,
                })
            }
            other => return Err(StoreError::Corrupt(format!("{id}: kind {other:?}"))),
        };
        Ok(StoredCredential {
            provider: row.try_get("provider").at(&self.name)?,
            label: row.try_get("label").at(&self.name)?,
            priority: row.try_get("priority").at(&self.name)?,
            material,
            generation: row.try_get::<i64, _>("generation").at(&self.name)?.max(0) as u64,
            incarnation: row.try_get("incarnation").at(&self.name)?,
            revision: row.try_get::<i64, _>("revision").at(&self.name)?.max(0) as u64,
            use_count: row
                .try_get::<Option<i64>, _>("use_count")
                .at(&self.name)?
                .unwrap_or(0)
                .max(0) as u64,
            created_at: row.try_get::<i64, _>("created_at").at(&self.name)?.max(0) as Millis,
            health: CredentialHealth {
                cooldown_until: ms("cooldown_until").at(&self.name)?,
                cooldown_class: row.try_get("cooldown_class").at(&self.name)?,
                dead_since: ms("dead_since").at(&self.name)?,
                dead_reason: row.try_get("dead_reason").at(&self.name)?,
                last_error_class: row.try_get("last_error_class").at(&self.name)?,
                last_error_at: ms("last_error_at").at(&self.name)?,
            },
            id: id.into(),
        })
    }
}
