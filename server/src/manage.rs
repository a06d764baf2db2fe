//! The credential use cases, written once: put, list with state, delete, refresh
//! and rekey. The gRPC admin API ([`crate::admin`]) and the CLI (`main.rs`) both
//! call [`CredentialManager`]; they only convert their input and render the answer.
//!
//! The seam is [`Running`]: a running server hands over its in-memory pool and its
//! health recorder, so a change is seen by the next request; the offline CLI has
//! neither, works on the store alone and loads a one-credential pool for a refresh.
//! Depends on the store, the pool and the refresher; never on proto or CLI types.

use std::sync::Arc;

use crate::clock::wall_ms;
use crate::credentials::{Credential, CredentialPool};
use crate::crypto::MasterKey;
use crate::domain::{CredentialId, CredentialState, Material, Millis};
use crate::oauth::Refresher;
use crate::policy::{Effect, RefreshOutcome};
use crate::store::{HealthChange, NewCredential, Store, StoreError, StoredCredential};
use crate::writer::Recorder;

/// Why a credential use case failed. Messages never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// No credential has this id.
    #[error("no credential {0:?}")]
    NotFound(String),
    /// A refresh was asked of a static key.
    #[error("{0:?} is a static key: nothing to refresh")]
    NotRefreshable(String),
    /// The token endpoint refused the refresh: the credential is now dead.
    #[error("refresh of {id} refused ({why}): the credential is now dead")]
    RefreshRefused {
        /// Credential id.
        id: String,
        /// The endpoint's reason.
        why: String,
    },
    /// The refresh failed for now (transient, or another refresh still running).
    #[error("refresh of {id} failed ({why}); try again")]
    RefreshFailed {
        /// Credential id.
        id: String,
        /// Why.
        why: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A state only a running process holds about a credential (the store cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// A rotated pair is held only in memory: the store refused it.
    Unpersisted,
    /// The last token call ended without an answer after it was sent.
    RefreshOutcomeUnknown,
}

impl Note {
    /// The short name shown in place of the last error class.
    pub fn as_str(self) -> &'static str {
        match self {
            Note::Unpersisted => "unpersisted",
            Note::RefreshOutcomeUnknown => "refresh_outcome_unknown",
        }
    }
}

/// What a credential's secret material is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A static API key.
    ApiKey,
    /// An OAuth token set.
    OAuth,
}

impl CredentialKind {
    /// The name shown by the CLI (`api_key`, `oauth`).
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::OAuth => "oauth",
        }
    }
}

/// What may be shown of a credential: never a secret.
#[derive(Debug, Clone)]
pub struct CredentialStatus {
    /// Identifier.
    pub id: CredentialId,
    /// Provider name.
    pub provider: String,
    /// API key or OAuth.
    pub kind: CredentialKind,
    /// Free text.
    pub label: String,
    /// Order within the pool.
    pub priority: i64,
    /// Live, cooling or dead at the time of the answer.
    pub state: CredentialState,
    /// End of a cooldown still running.
    pub cooldown_until: Option<Millis>,
    /// The stored reason of a dead mark.
    pub dead_reason: Option<String>,
    /// The stored class of the last error.
    pub last_error_class: Option<String>,
    /// A state of this process only.
    pub note: Option<Note>,
    /// Access token expiry (OAuth), Unix ms.
    pub expires_at: Option<Millis>,
    /// Rotation count.
    pub generation: u64,
}

/// What a running server shares with the credential use cases.
#[derive(Debug, Clone)]
pub struct Running {
    /// The in-memory pool the request path reads.
    pub pool: Arc<CredentialPool>,
    /// Where health changes are written through.
    pub recorder: Arc<Recorder>,
}

/// The credential use cases over a store, and a running server's pool when there is one.
#[derive(Debug, Clone)]
pub struct CredentialManager {
    store: Store,
    refresher: Refresher,
    running: Option<Running>,
}

// === impl CredentialManager ===

impl CredentialManager {
    /// Over the store alone (the offline CLI).
    pub fn offline(store: Store, refresher: Refresher) -> Self {
        Self {
            store,
            refresher,
            running: None,
        }
    }

    /// Over a running server's store, pool and recorder.
    pub fn running(store: Store, refresher: Refresher, running: Running) -> Self {
        Self {
            store,
            refresher,
            running: Some(running),
        }
    }

    /// Stores a credential, sealed; with `replace`, over one of the same id (its
    /// health reset). A running pool takes it at once.
    pub async fn put(
        &self,
        new: &NewCredential,
        replace: bool,
    ) -> Result<CredentialStatus, ManageError> {
        self.store.put_credential(new, replace, wall_ms()).await?;
        let stored = self
            .store
            .credential(&new.id)
            .await?
            .ok_or_else(|| ManageError::NotFound(new.id.clone()))?;
        if let Some(running) = &self.running {
            running.pool.upsert(stored.clone());
        }
        tracing::info!(credential = %new.id, provider = %new.provider, kind = new.material.kind(), "credential stored");
        Ok(self.describe(&stored, wall_ms()))
    }

    /// Every credential (of `provider` when given), by provider then priority.
    pub async fn list(&self, provider: Option<&str>) -> Result<Vec<CredentialStatus>, ManageError> {
        let now = wall_ms();
        Ok(self
            .store
            .credentials()
            .await?
            .iter()
            .filter(|c| provider.is_none_or(|p| c.provider == p))
            .map(|c| self.describe(c, now))
            .collect())
    }

    /// Removes a credential from the store and the running pool.
    pub async fn delete(&self, id: &str) -> Result<(), ManageError> {
        let existed = self.store.remove_credential(id).await?;
        if let Some(running) = &self.running {
            running.pool.remove(id);
        }
        if !existed {
            return Err(ManageError::NotFound(id.to_owned()));
        }
        tracing::info!(credential = %id, "credential deleted");
        Ok(())
    }

    /// Refreshes an OAuth credential now (RFC 6749 refresh grant), through the one
    /// single flight; a refusal marks it dead. Returns its state afterwards.
    pub async fn refresh(&self, id: &str) -> Result<CredentialStatus, ManageError> {
        let not_found = || ManageError::NotFound(id.to_owned());
        let (credential, offline_pool) = match &self.running {
            Some(running) => (running.pool.get(id).ok_or_else(not_found)?, None),
            None => {
                let stored = self.store.credential(id).await?.ok_or_else(not_found)?;
                let pool = CredentialPool::new(vec![stored], Default::default());
                (pool.get(id).ok_or_else(not_found)?, Some(pool))
            }
        };
        if !credential.refreshable() {
            return Err(ManageError::NotRefreshable(id.to_owned()));
        }
        let seen = credential.tokens().generation;
        match self.refresher.refresh(&credential, seen).await {
            RefreshOutcome::Refreshed | RefreshOutcome::Adopted => {}
            RefreshOutcome::Terminal(why) => {
                self.mark_dead(&credential, format!("refresh refused: {why}"))
                    .await?;
                return Err(ManageError::RefreshRefused {
                    id: id.to_owned(),
                    why,
                });
            }
            RefreshOutcome::Transient(why) | RefreshOutcome::StillRunning(why) => {
                return Err(ManageError::RefreshFailed {
                    id: id.to_owned(),
                    why,
                });
            }
        }
        let stored = self.store.credential(id).await?.ok_or_else(not_found)?;
        let now = wall_ms();
        Ok(match offline_pool {
            // Offline, the pool of this call is the only one that holds what the
            // refresh did in memory (a pair the store refused).
            Some(_) => describe(&stored, Some(&credential), now),
            None => self.describe(&stored, now),
        })
    }

    /// Re-encrypts every stored secret under `new_key`. Returns how many credentials.
    pub async fn rekey(&self, new_key: &MasterKey) -> Result<usize, ManageError> {
        Ok(self.store.rekey(new_key).await?)
    }

    /// The id of the master key the store is open with.
    pub fn key_id(&self) -> String {
        self.store.key_id()
    }

    /// Marks a credential dead: in the running pool and through the recorder, or
    /// offline straight in the store (for its incarnation only).
    async fn mark_dead(&self, credential: &Credential, reason: String) -> Result<(), ManageError> {
        match &self.running {
            Some(running) => {
                let effect = Effect::MarkDead {
                    credential_id: credential.id.clone(),
                    reason,
                };
                if let Some(change) = running.pool.apply(&effect, wall_ms()) {
                    running.recorder.health(change).await;
                }
            }
            None => {
                let dead = HealthChange::Dead {
                    id: credential.id.clone(),
                    incarnation: credential.incarnation,
                    reason,
                    at: wall_ms(),
                };
                self.store.write_batch(&[dead], &[]).await?;
            }
        }
        Ok(())
    }

    /// A stored credential with the running pool's health when it is loaded there.
    fn describe(&self, c: &StoredCredential, now: Millis) -> CredentialStatus {
        let live = self.running.as_ref().and_then(|r| r.pool.get(&c.id));
        describe(c, live.as_deref(), now)
    }
}

/// A stored credential's status; `live` (its in-memory copy, when loaded) wins for
/// health, expiry and rotation, which move in memory first.
fn describe(c: &StoredCredential, live: Option<&Credential>, now: Millis) -> CredentialStatus {
    let (dead, cooldown_until, expires_at, generation, note) = match live {
        Some(live) => {
            let (dead, cooldown) = live.health();
            let tokens = live.tokens();
            let note = if live.is_unpersisted() {
                Some(Note::Unpersisted)
            } else if live.outcome_unknown() {
                Some(Note::RefreshOutcomeUnknown)
            } else {
                None
            };
            (dead, cooldown, tokens.expires_at, tokens.generation, note)
        }
        None => (
            c.health.dead_since.is_some(),
            c.health.cooldown_until,
            match &c.material {
                Material::OAuth(t) => t.expires_at,
                Material::ApiKey(_) => None,
            },
            c.generation,
            None,
        ),
    };
    CredentialStatus {
        id: c.id.clone(),
        provider: c.provider.clone(),
        kind: match c.material {
            Material::ApiKey(_) => CredentialKind::ApiKey,
            Material::OAuth(_) => CredentialKind::OAuth,
        },
        label: c.label.clone(),
        priority: c.priority,
        state: CredentialState::at(dead, cooldown_until, now),
        cooldown_until: cooldown_until.filter(|t| *t > now),
        dead_reason: c.health.dead_reason.clone(),
        last_error_class: c.health.last_error_class.clone(),
        note,
        expires_at,
        generation,
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::store::CredentialHealth;

    fn stored(health: CredentialHealth) -> StoredCredential {
        StoredCredential {
            id: "k1".into(),
            provider: "openai".into(),
            label: String::new(),
            priority: 0,
            material: Material::ApiKey(SecretString::from("sk-test-1234")),
            generation: 3,
            incarnation: 1,
            revision: 0,
            health,
            use_count: 0,
            created_at: 0,
        }
    }

    #[test]
    fn a_dead_mark_wins_over_a_cooldown_and_an_ended_cooldown_is_live() {
        assert_eq!(
            CredentialState::at(true, Some(200), 100),
            CredentialState::Dead
        );
        assert_eq!(
            CredentialState::at(false, Some(200), 100),
            CredentialState::Cooling
        );
        assert_eq!(
            CredentialState::at(false, Some(100), 100),
            CredentialState::Live
        );
        assert_eq!(CredentialState::at(false, None, 100), CredentialState::Live);
    }

    #[test]
    fn offline_status_reads_the_stored_health_and_hides_an_ended_cooldown() {
        let cooling = stored(CredentialHealth {
            cooldown_until: Some(200),
            last_error_class: Some("rate_limit".into()),
            ..Default::default()
        });
        let s = describe(&cooling, None, 100);
        assert_eq!(s.state, CredentialState::Cooling);
        assert_eq!(s.cooldown_until, Some(200));
        assert_eq!(s.kind, CredentialKind::ApiKey);
        assert_eq!(s.generation, 3);
        let s = describe(&cooling, None, 300);
        assert_eq!(s.state, CredentialState::Live);
        assert_eq!(s.cooldown_until, None);
        assert_eq!(s.last_error_class.as_deref(), Some("rate_limit"));
    }

    #[test]
    fn the_in_memory_copy_wins_over_the_stored_health() {
        let row = stored(CredentialHealth::default());
        let pool = CredentialPool::new(vec![row.clone()], Default::default());
        let live = pool.get("k1").expect("loaded");
        live.mark_dead();
        let s = describe(&row, Some(&live), 100);
        assert_eq!(s.state, CredentialState::Dead);
        assert_eq!(s.note, None);
        assert_eq!(describe(&row, None, 100).state, CredentialState::Live);
    }
}
