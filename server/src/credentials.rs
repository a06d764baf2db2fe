//! The in-memory credential pool: every provider's keys with their health, loaded
//! from the store at start. The request hot path reads it (no SQLite); health
//! changes are applied here first, then written through by [`crate::writer`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use secrecy::SecretString;

use crate::domain::{CredentialId, Millis};
use crate::policy::{CredentialInfo, CredentialView, Effect};
use crate::store::{HealthChange, StoredCredential};

/// One credential in memory. `Debug` redacts the secret.
#[derive(Debug)]
pub struct Credential {
    /// Identifier.
    pub id: CredentialId,
    /// Provider name.
    pub provider: Arc<str>,
    /// The key or access token.
    pub secret: SecretString,
    /// Whether a refresh may recover it.
    pub refreshable: bool,
    health: RwLock<Health>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Health {
    cooldown_until: Option<Millis>,
    dead: bool,
}

/// Every provider's pool, in try order.
#[derive(Debug, Default)]
pub struct CredentialPool {
    by_provider: HashMap<Arc<str>, Vec<Arc<Credential>>>,
    by_id: HashMap<CredentialId, Arc<Credential>>,
}

// === impl CredentialPool ===

impl CredentialPool {
    /// Builds the pool from stored credentials (already in provider, priority order).
    pub fn new(stored: Vec<StoredCredential>) -> Self {
        let mut pool = Self::default();
        for c in stored {
            let credential = Arc::new(Credential {
                id: c.id.clone(),
                provider: c.provider.as_str().into(),
                secret: c.secret,
                refreshable: c.refreshable,
                health: RwLock::new(Health {
                    cooldown_until: c.health.cooldown_until,
                    dead: c.health.dead_since.is_some(),
                }),
            });
            pool.by_provider
                .entry(credential.provider.clone())
                .or_default()
                .push(credential.clone());
            pool.by_id.insert(c.id, credential);
        }
        pool
    }

    /// The credential with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Credential>> {
        self.by_id.get(id)
    }

    /// The state of the pools of `providers`, as the policy takes it.
    pub fn view<'a>(&self, providers: impl IntoIterator<Item = &'a Arc<str>>) -> CredentialView {
        let mut view = CredentialView::new();
        for provider in providers {
            if view.contains_key(provider) {
                continue;
            }
            let infos = self
                .by_provider
                .get(provider)
                .map(|creds| creds.iter().map(|c| c.info()).collect())
                .unwrap_or_default();
            view.insert(provider.clone(), infos);
        }
        view
    }

    /// Per provider: how many credentials are live, cooling down and dead at `now`.
    pub fn census(&self, now: Millis) -> Vec<(Arc<str>, u64, u64, u64)> {
        self.by_provider
            .iter()
            .map(|(provider, creds)| {
                let (mut live, mut cooling, mut dead) = (0, 0, 0);
                for c in creds {
                    let info = c.info();
                    if info.dead {
                        dead += 1;
                    } else if info.cooldown_until.is_some_and(|t| t > now) {
                        cooling += 1;
                    } else {
                        live += 1;
                    }
                }
                (provider.clone(), live, cooling, dead)
            })
            .collect()
    }

    /// Applies a policy effect in memory and returns the change to persist.
    pub fn apply(&self, effect: &Effect, now: Millis) -> Option<HealthChange> {
        match effect {
            Effect::Cooldown {
                credential_id,
                until,
                class,
            } => {
                let c = self.by_id.get(credential_id)?;
                let mut h = c.health.write().unwrap_or_else(|e| e.into_inner());
                // Keep the later of two cooldowns set by concurrent requests.
                h.cooldown_until = Some(h.cooldown_until.map_or(*until, |t| t.max(*until)));
                Some(HealthChange::Cooldown {
                    id: credential_id.clone(),
                    until: h.cooldown_until.unwrap_or(*until),
                    class: *class,
                    at: now,
                })
            }
            Effect::MarkDead {
                credential_id,
                reason,
            } => {
                let c = self.by_id.get(credential_id)?;
                c.health.write().unwrap_or_else(|e| e.into_inner()).dead = true;
                Some(HealthChange::Dead {
                    id: credential_id.clone(),
                    reason: reason.clone(),
                    at: now,
                })
            }
        }
    }
}

impl Credential {
    fn info(&self) -> CredentialInfo {
        let h = *self.health.read().unwrap_or_else(|e| e.into_inner());
        CredentialInfo {
            id: self.id.clone(),
            refreshable: self.refreshable,
            cooldown_until: h.cooldown_until,
            dead: h.dead,
        }
    }
}
