//! The in-memory credential pool: every provider's keys and OAuth token sets with
//! their health, loaded from the store at start and kept current by the admin API.
//! The request hot path reads it (no SQLite); health changes are applied here first,
//! then written through by [`crate::writer`]. Pool order follows each provider's
//! strategy (`fill_first`, `round_robin`, `least_used`); the policy takes that order
//! as it is.

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::{CredentialId, CredentialState, ErrorClass, Material, Millis};
use crate::policy::{CredentialInfo, CredentialView, Effect, RefreshOutcome};
use crate::store::{HealthChange, RotatedTokens, StoredCredential};

pub mod remote;

/// How a provider's keys are ordered for each request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolStrategy {
    /// Always the first live key by priority; the next ones only when it fails.
    #[default]
    FillFirst,
    /// Each request starts at the next key.
    RoundRobin,
    /// The key with the fewest attempts first.
    LeastUsed,
}

/// How to refresh an OAuth credential (not secret but the client secret).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// Token endpoint.
    pub token_url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret of a confidential client.
    pub client_secret: Option<SecretString>,
    /// Scope of the refresh grant.
    pub scope: Option<String>,
}

/// The current token material of a credential.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// What is sent to the provider.
    pub bearer: Arc<SecretString>,
    /// The refresh token (OAuth).
    pub refresh_token: Option<SecretString>,
    /// Access token expiry, Unix ms.
    pub expires_at: Option<Millis>,
    /// Rotation count in memory: moves at every rotation, stored or not (single
    /// flight compares it).
    pub generation: u64,
    /// Generation of the row in the store; behind `generation` while a rotated
    /// pair is held only in memory.
    pub stored: u64,
}

/// The result of a refresh in flight: `None` until it ends.
pub type Flight = tokio::sync::watch::Receiver<Option<RefreshOutcome>>;

/// One credential in memory. `Debug` redacts every secret.
#[derive(Debug)]
pub struct Credential {
    /// Identifier.
    pub id: CredentialId,
    /// Provider name.
    pub provider: Arc<str>,
    /// Order within the provider's pool (lower first).
    pub priority: i64,
    /// Which stored row of this id it was loaded from: health changes name it.
    pub incarnation: i64,
    /// Refresh settings of an OAuth credential.
    pub oauth: Option<OAuthClient>,
    tokens: RwLock<Tokens>,
    health: RwLock<Health>,
    uses: AtomicU64,
    persisted_uses: AtomicU64,
    /// The refresh in flight, which concurrent requests join (see [`crate::oauth`]).
    pub flight: Mutex<Option<Flight>>,
    /// A rotated pair is held only in memory: the store refused it.
    unpersisted: AtomicBool,
    /// The last token call ended without an answer after it was sent.
    outcome_unknown: AtomicBool,
    /// The store's revision of its shared state last applied here (the change
    /// feed of [`remote`]); 0 on SQLite.
    revision: AtomicU64,
}

/// A key's health. The cooldown and the dead mark are persisted; the outlier
/// counters (`failures`, `ejections`) live in memory only and start at zero after
/// a restart (a persisted ejection still holds until its end).
#[derive(Debug, Clone, Copy, Default)]
struct Health {
    cooldown_until: Option<Millis>,
    dead: bool,
    failures: u32,
    failing_class: Option<ErrorClass>,
    ejections: u32,
}

#[derive(Debug, Default)]
struct Inner {
    by_provider: HashMap<Arc<str>, Vec<Arc<Credential>>>,
    by_id: HashMap<CredentialId, Arc<Credential>>,
}

/// What [`CredentialPool::sync`] changed, by credential id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PoolChanges {
    /// New in the pool.
    pub added: Vec<String>,
    /// Reloaded from the store.
    pub replaced: Vec<String>,
    /// Gone from the store, so from the pool.
    pub removed: Vec<String>,
}

impl PoolChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty()
    }

    pub(crate) fn sort(&mut self) {
        self.added.sort();
        self.replaced.sort();
        self.removed.sort();
    }
}

/// Every provider's pool.
#[derive(Debug, Default)]
pub struct CredentialPool {
    inner: RwLock<Inner>,
    strategies: HashMap<Arc<str>, PoolStrategy>,
    cursors: HashMap<Arc<str>, AtomicUsize>,
}

/// Whether the pool's `c` is behind the store's `s`: another row (replaced),
/// provider or priority, or tokens rotated to a newer generation.
fn stale(c: &Credential, s: &StoredCredential) -> bool {
    c.incarnation != s.incarnation
        || *c.provider != *s.provider
        || c.priority != s.priority
        || s.generation > c.tokens().generation
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

// === impl Credential ===

impl Credential {
    fn from_stored(c: StoredCredential) -> Self {
        let (bearer, refresh_token, expires_at, oauth) = match c.material {
            Material::ApiKey(key) => (key, None, None, None),
            Material::OAuth(t) => (
                t.access_token,
                Some(t.refresh_token),
                t.expires_at,
                Some(OAuthClient {
                    token_url: t.token_url,
                    client_id: t.client_id,
                    client_secret: t.client_secret,
                    scope: t.scope,
                }),
            ),
        };
        Self {
            id: c.id,
            provider: c.provider.as_str().into(),
            priority: c.priority,
            incarnation: c.incarnation,
            oauth,
            tokens: RwLock::new(Tokens {
                bearer: Arc::new(bearer),
                refresh_token,
                expires_at,
                generation: c.generation,
                stored: c.generation,
            }),
            health: RwLock::new(Health {
                cooldown_until: c.health.cooldown_until,
                dead: c.health.dead_since.is_some(),
                failures: 0,
                failing_class: None,
                ejections: 0,
            }),
            uses: AtomicU64::new(c.use_count),
            persisted_uses: AtomicU64::new(c.use_count),
            flight: Mutex::new(None),
            unpersisted: AtomicBool::new(false),
            outcome_unknown: AtomicBool::new(false),
            revision: AtomicU64::new(c.revision),
        }
    }

    /// The current tokens (clones the refresh token: for refreshes, not the hot path).
    pub fn tokens(&self) -> Tokens {
        read(&self.tokens).clone()
    }

    /// What an attempt needs: the bearer secret, its generation and expiry.
    pub fn bearer(&self) -> (Arc<SecretString>, u64, Option<Millis>) {
        let t = read(&self.tokens);
        (t.bearer.clone(), t.generation, t.expires_at)
    }

    /// Whether a refresh may recover it.
    pub fn refreshable(&self) -> bool {
        self.oauth.is_some()
    }

    /// Dead, and the end of its cooldown.
    pub fn health(&self) -> (bool, Option<Millis>) {
        let h = *read(&self.health);
        (h.dead, h.cooldown_until)
    }

    /// Whether it is dead.
    pub fn is_dead(&self) -> bool {
        read(&self.health).dead
    }

    /// Counts one attempt made with it.
    pub fn count_use(&self) {
        self.uses.fetch_add(1, Ordering::Relaxed);
    }

    /// Installs tokens that the store has committed as `generation`.
    pub fn install(&self, rotated: &RotatedTokens, generation: u64) {
        let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        t.bearer = Arc::new(rotated.access_token.clone());
        t.refresh_token = Some(rotated.refresh_token.clone());
        t.expires_at = rotated.expires_at;
        t.generation = generation;
        t.stored = generation;
        self.unpersisted.store(false, Ordering::Relaxed);
    }

    /// Installs the tokens of a stored row (another writer's rotation: another
    /// replica, the CLI) at the row's generation. A row without tokens (an API
    /// key) changes nothing.
    pub fn install_stored(&self, stored: &StoredCredential) {
        if let Material::OAuth(t) = &stored.material {
            let rotated = RotatedTokens {
                access_token: t.access_token.clone(),
                refresh_token: t.refresh_token.clone(),
                expires_at: t.expires_at,
            };
            self.install(&rotated, stored.generation);
        }
    }

    /// Installs tokens the store could not take: they are used from memory (the
    /// provider has invalidated the stored ones) until [`Self::persisted`].
    /// Returns whether the credential was already held only in memory.
    pub fn install_unpersisted(&self, rotated: &RotatedTokens) -> bool {
        let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        t.bearer = Arc::new(rotated.access_token.clone());
        t.refresh_token = Some(rotated.refresh_token.clone());
        t.expires_at = rotated.expires_at;
        t.generation = t.generation.max(t.stored).saturating_add(1);
        self.unpersisted.swap(true, Ordering::Relaxed)
    }

    /// The tokens held in memory were committed to the store as `generation`.
    pub fn persisted(&self, generation: u64) {
        let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        t.stored = generation;
        t.generation = t.generation.max(generation);
        self.unpersisted.store(false, Ordering::Relaxed);
    }

    /// Whether a rotated pair is held only in memory.
    pub fn is_unpersisted(&self) -> bool {
        self.unpersisted.load(Ordering::Relaxed)
    }

    /// Whether the last token call ended without an answer after it was sent.
    pub fn outcome_unknown(&self) -> bool {
        self.outcome_unknown.load(Ordering::Relaxed)
    }

    /// Records whether the last token call's outcome is unknown.
    pub fn set_outcome_unknown(&self, unknown: bool) {
        self.outcome_unknown.store(unknown, Ordering::Relaxed);
    }

    /// Marks it dead in memory (the caller persists the reason).
    pub fn mark_dead(&self) {
        self.health.write().unwrap_or_else(|e| e.into_inner()).dead = true;
    }

    fn info(&self) -> CredentialInfo {
        let h = *read(&self.health);
        CredentialInfo {
            id: self.id.clone(),
            refreshable: self.refreshable(),
            cooldown_until: h.cooldown_until,
            dead: h.dead,
            // Only a refreshable credential's expiry matters to the policy; skip
            // the tokens lock for static keys.
            expires_at: if self.refreshable() {
                read(&self.tokens).expires_at
            } else {
                None
            },
            failures: h.failures,
            failing_class: h.failing_class,
            ejections: h.ejections,
        }
    }

    /// Applies a policy effect to the in-memory health, with the policy's own
    /// semantics ([`CredentialInfo::apply`]).
    fn apply(&self, effect: &Effect) {
        let mut h = self.health.write().unwrap_or_else(|e| e.into_inner());
        let mut info = CredentialInfo {
            cooldown_until: h.cooldown_until,
            dead: h.dead,
            failures: h.failures,
            failing_class: h.failing_class,
            ejections: h.ejections,
            ..CredentialInfo::new(self.id.clone())
        };
        info.apply(effect);
        *h = Health {
            cooldown_until: info.cooldown_until,
            dead: info.dead,
            failures: info.failures,
            failing_class: info.failing_class,
            ejections: info.ejections,
        };
    }
}

// === impl CredentialPool ===

impl CredentialPool {
    /// Builds the pool from stored credentials (in provider, priority order) and
    /// each provider's strategy.
    pub fn new(stored: Vec<StoredCredential>, strategies: HashMap<Arc<str>, PoolStrategy>) -> Self {
        let cursors = strategies
            .keys()
            .map(|p| (p.clone(), AtomicUsize::new(0)))
            .collect();
        let pool = Self {
            inner: RwLock::default(),
            strategies,
            cursors,
        };
        for c in stored {
            pool.upsert(c);
        }
        pool
    }

    /// Adds or replaces a credential (a replaced one starts with its stored health).
    pub fn upsert(&self, stored: StoredCredential) {
        let credential = Arc::new(Credential::from_stored(stored));
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        remove_locked(&mut inner, &credential.id);
        inner
            .by_id
            .insert(credential.id.clone(), credential.clone());
        let list = inner
            .by_provider
            .entry(credential.provider.clone())
            .or_default();
        list.push(credential);
        list.sort_by(|a, b| (a.priority, &a.id).cmp(&(b.priority, &b.id)));
    }

    /// Brings the pool in line with `stored` (every credential in the store): a
    /// credential new to the pool is added, one missing from the store removed,
    /// one whose stored row differs (replaced, moved, reprioritised, or rotated by
    /// another process) reloaded. The others keep their state in memory (outlier
    /// counts, a refresh in flight). Rows that may predate a concurrent put go
    /// through [`Self::differing`] and [`Self::apply_confirmed`] instead.
    pub fn sync(&self, stored: Vec<StoredCredential>) -> PoolChanges {
        let ids = self.differing(&stored);
        let mut by_id: HashMap<CredentialId, StoredCredential> =
            stored.into_iter().map(|s| (s.id.clone(), s)).collect();
        let mut changes = PoolChanges::default();
        for id in ids {
            let row = by_id.remove(&id);
            self.apply_confirmed(&id, row, &mut changes);
        }
        changes.sort();
        changes
    }

    /// The credentials on which the pool and `stored` disagree: new in the
    /// store, replaced (another row, provider or priority), rotated to a newer
    /// generation, or absent from the store.
    pub fn differing(&self, stored: &[StoredCredential]) -> Vec<CredentialId> {
        let mut ids = Vec::new();
        for s in stored {
            let differs = match self.get(&s.id) {
                None => true,
                Some(c) => stale(&c, s),
            };
            if differs {
                ids.push(s.id.clone());
            }
        }
        let keep: std::collections::HashSet<&CredentialId> = stored.iter().map(|s| &s.id).collect();
        ids.extend(
            read(&self.inner)
                .by_id
                .keys()
                .filter(|id| !keep.contains(id))
                .cloned(),
        );
        ids
    }

    /// Applies the store's current row of `id` (`None`: the store no longer holds
    /// it), read after [`Self::differing`] named it: a row read before a
    /// concurrent put must not remove or replace what that put added.
    pub fn apply_confirmed(
        &self,
        id: &CredentialId,
        row: Option<StoredCredential>,
        changes: &mut PoolChanges,
    ) {
        match (row, self.get(id)) {
            (Some(s), None) => {
                changes.added.push(s.id.to_string());
                self.upsert(s);
            }
            (Some(s), Some(c)) => {
                if stale(&c, &s) {
                    changes.replaced.push(s.id.to_string());
                    self.upsert(s);
                }
            }
            (None, Some(_)) => {
                if self.remove(id) {
                    changes.removed.push(id.to_string());
                }
            }
            (None, None) => {}
        }
    }

    /// Removes a credential. Returns whether it existed.
    pub fn remove(&self, id: &str) -> bool {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        remove_locked(&mut inner, id)
    }

    /// The credential with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Credential>> {
        read(&self.inner).by_id.get(id).cloned()
    }

    /// The state of the pools of `providers`, in each provider's strategy order.
    pub fn view<'a>(&self, providers: impl IntoIterator<Item = &'a Arc<str>>) -> CredentialView {
        let inner = read(&self.inner);
        let mut view = CredentialView::default();
        for provider in providers {
            if view.contains_key(provider) {
                continue;
            }
            let Some(creds) = inner.by_provider.get(provider) else {
                view.insert(provider.clone(), Vec::new());
                continue;
            };
            let infos: Vec<CredentialInfo> = match self.strategy(provider) {
                PoolStrategy::FillFirst => creds.iter().map(|c| c.info()).collect(),
                PoolStrategy::RoundRobin => {
                    let start = self
                        .cursors
                        .get(provider)
                        .map_or(0, |c| c.fetch_add(1, Ordering::Relaxed));
                    let n = creds.len().max(1);
                    (0..creds.len())
                        .map(|i| creds[(start + i) % n].info())
                        .collect()
                }
                PoolStrategy::LeastUsed => {
                    let mut sorted: Vec<_> = creds.iter().collect();
                    sorted.sort_by_key(|c| c.uses.load(Ordering::Relaxed));
                    sorted.into_iter().map(|c| c.info()).collect()
                }
            };
            view.insert(provider.clone(), infos);
        }
        view
    }

    /// Every secret held for `provider`: each credential's bearer (API key or
    /// access token), refresh token and client secret. For scrubbing what the
    /// provider sent back after a failed attempt; never on the success path.
    pub fn provider_secrets(&self, provider: &str) -> Vec<SecretString> {
        let inner = read(&self.inner);
        let Some(creds) = inner.by_provider.get(provider) else {
            return Vec::new();
        };
        let mut secrets = Vec::with_capacity(creds.len() * 3);
        for c in creds {
            let t = read(&c.tokens);
            secrets.push(SecretString::clone(&t.bearer));
            secrets.extend(t.refresh_token.clone());
            if let Some(secret) = c.oauth.as_ref().and_then(|o| o.client_secret.clone()) {
                secrets.push(secret);
            }
        }
        secrets
    }

    fn strategy(&self, provider: &str) -> PoolStrategy {
        self.strategies.get(provider).copied().unwrap_or_default()
    }

    /// Per provider: how many credentials are live, cooling down and dead at `now`.
    pub fn census(&self, now: Millis) -> Vec<(Arc<str>, u64, u64, u64)> {
        read(&self.inner)
            .by_provider
            .iter()
            .map(|(provider, creds)| {
                let (mut live, mut cooling, mut dead) = (0, 0, 0);
                for c in creds {
                    let (is_dead, cooldown_until) = c.health();
                    match CredentialState::at(is_dead, cooldown_until, now) {
                        CredentialState::Live => live += 1,
                        CredentialState::Cooling => cooling += 1,
                        CredentialState::Dead => dead += 1,
                    }
                }
                (provider.clone(), live, cooling, dead)
            })
            .collect()
    }

    /// Credentials whose rotated tokens are held only in memory: the store refused
    /// them and they are being persisted in the background.
    pub fn unpersisted(&self) -> Vec<CredentialId> {
        let mut ids: Vec<_> = read(&self.inner)
            .by_id
            .values()
            .filter(|c| c.is_unpersisted())
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Use counts that changed since the last call, to persist.
    pub fn usage_changes(&self) -> Vec<HealthChange> {
        read(&self.inner)
            .by_id
            .values()
            .filter_map(|c| {
                let uses = c.uses.load(Ordering::Relaxed);
                (c.persisted_uses.swap(uses, Ordering::Relaxed) != uses).then(|| {
                    HealthChange::Usage {
                        id: c.id.clone(),
                        incarnation: c.incarnation,
                        uses,
                    }
                })
            })
            .collect()
    }

    /// Applies a policy effect in memory and returns the change to persist.
    /// Ejections persist as cooldowns; failure counts are not persisted.
    pub fn apply(&self, effect: &Effect, now: Millis) -> Option<HealthChange> {
        let id = effect.credential_id();
        let c = self.get(id)?;
        c.apply(effect);
        match effect {
            Effect::Cooldown { class, .. } | Effect::Eject { class, .. } => {
                // The later of two cooldowns set by concurrent requests is kept.
                let until = c.health().1?;
                Some(HealthChange::Cooldown {
                    id: id.clone(),
                    incarnation: c.incarnation,
                    until,
                    class: *class,
                    at: now,
                })
            }
            Effect::MarkDead { reason, .. } => Some(HealthChange::Dead {
                id: id.clone(),
                incarnation: c.incarnation,
                reason: reason.clone(),
                at: now,
            }),
            Effect::Failed { .. } | Effect::Recovered { .. } => None,
        }
    }
}

fn remove_locked(inner: &mut Inner, id: &str) -> bool {
    let Some(old) = inner.by_id.remove(id) else {
        return false;
    };
    if let Some(list) = inner.by_provider.get_mut(&old.provider) {
        list.retain(|c| &*c.id != id);
    }
    true
}
