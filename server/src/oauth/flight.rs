//! Refreshes owned by the server: each runs in its own task, with its own timeout,
//! to its end, and commits what the provider answered whatever happens to the
//! requests waiting for it.
//!
//! A flight is one refresh of one credential. Requests that need the credential
//! refreshed join the flight in progress (single flight) and wait for its result as
//! long as their own budget allows; giving up never cancels it. A flight:
//! 1. takes the store's refresh lock ([`crate::store::RefreshLock`]; on PostgreSQL
//!    one refresh of the credential across every replica) and records its intent
//!    in the refresh journal (durable before the call). A pair another replica
//!    committed meanwhile is adopted with no call; a store out of reach is a
//!    transient failure with no call (nothing is spent that could not be stored).
//!    A journal row of the same pair left by a holder that never committed is
//!    finished like a refresh a restart interrupted: the spent token, once;
//! 2. calls the token endpoint; when the call is sent but no answer comes back
//!    (timeout, cut short), the outcome is unknown: it retries once with the same
//!    refresh token, which a provider with a reuse grace window honours;
//! 3. commits the answer at once: the rotated pair and the end of the journal row
//!    in one transaction, or the dead mark of a refused token. A pair the store
//!    refuses is used from memory and persisted in the background.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use secrecy::SecretString;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::{CallFailure, Grant, call, fingerprint};
use crate::clock::wall_ms;
use crate::credentials::Credential;
use crate::metrics::Metrics;
use crate::policy::RefreshOutcome;
use crate::status::{Component, Status};
use crate::store::{
    LockBounds, Locked, RefreshIntent, RefreshLock, RotatedTokens, Store, StoreError,
    StoredCredential,
};

/// First and longest pause between two tries to persist a pair held in memory.
const PERSIST_RETRY: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(2));

/// Why a flight runs: a request (or an operator) asked, or a refresh interrupted
/// by a restart is being finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// A request or an operator needs fresh tokens.
    Asked,
    /// The journal holds a refresh that a restart interrupted.
    Interrupted,
    /// Under the refresh lock, the journal holds a refresh of the same pair that
    /// another holder (another replica, or an earlier flight) never committed.
    Orphaned,
}

/// Refreshes OAuth credentials. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Refresher {
    http: reqwest::Client,
    store: Store,
    metrics: Metrics,
    timeout: Duration,
    /// Where "credentials held only in memory" is reported (health, gauge, log).
    status: Status,
    /// How many credentials hold rotated tokens the store refused.
    held: Arc<AtomicUsize>,
}

/// A caller's way into a refresh: already settled, or a flight to wait for.
enum Joined {
    Settled(RefreshOutcome),
    Flight(crate::credentials::Flight),
}

// === impl Refresher ===

impl Refresher {
    /// A refresher over the shared HTTP client; `timeout` bounds one token call.
    pub fn new(http: reqwest::Client, store: Store, metrics: Metrics, timeout: Duration) -> Self {
        Self {
            http,
            store,
            metrics,
            timeout,
            status: Status::new(),
            held: Arc::default(),
        }
    }

    /// Reports credentials held only in memory on `status` (the server's health).
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// Refreshes `credential` and waits for the end, unless another refresh ended
    /// since the caller saw `seen_generation`: then that result is reused.
    pub async fn refresh(
        &self,
        credential: &Arc<Credential>,
        seen_generation: u64,
    ) -> RefreshOutcome {
        self.refresh_until(credential, seen_generation, None).await
    }

    /// [`Self::refresh`], waiting at most until `until`. Past it the caller gets
    /// [`RefreshOutcome::StillRunning`] and the refresh goes on without it.
    pub async fn refresh_until(
        &self,
        credential: &Arc<Credential>,
        seen_generation: u64,
        until: Option<Instant>,
    ) -> RefreshOutcome {
        let started = Instant::now();
        let mut flight = match self.join(credential, seen_generation, Cause::Asked) {
            Joined::Settled(outcome) => return outcome,
            Joined::Flight(flight) => flight,
        };
        let ended = flight.wait_for(Option::is_some);
        let result = match until {
            Some(until) => tokio::time::timeout_at(until, ended).await,
            None => Ok(ended.await),
        };
        match result {
            Ok(Ok(outcome)) => outcome.clone().unwrap_or_else(lost_flight),
            Ok(Err(_)) => lost_flight(),
            Err(_) => RefreshOutcome::StillRunning(format!(
                "the credential's refresh was still running after {} ms",
                started.elapsed().as_millis()
            )),
        }
    }

    /// Finishes a refresh that a restart interrupted, and waits for the end.
    pub(super) async fn finish_interrupted(&self, credential: &Arc<Credential>) -> RefreshOutcome {
        let generation = credential.tokens().generation;
        match self.join(credential, generation, Cause::Interrupted) {
            Joined::Settled(outcome) => outcome,
            Joined::Flight(mut flight) => match flight.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone().unwrap_or_else(lost_flight),
                Err(_) => lost_flight(),
            },
        }
    }

    /// The store the journal lives in.
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// Joins the flight of `credential`, or starts one.
    fn join(&self, credential: &Arc<Credential>, seen_generation: u64, cause: Cause) -> Joined {
        let mut slot = credential.flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = slot.as_ref()
            && flight.borrow().is_none()
        {
            self.count("shared");
            return Joined::Flight(flight.clone());
        }
        if credential.tokens().generation != seen_generation {
            self.count("shared");
            return Joined::Settled(RefreshOutcome::Adopted);
        }
        if credential.is_dead() {
            return Joined::Settled(RefreshOutcome::Terminal("the credential is dead".into()));
        }
        let (tx, rx) = watch::channel(None);
        *slot = Some(rx.clone());
        drop(slot);
        let span = tracing::info_span!(
            "credential.refresh.grant",
            otel.name = "credential refresh grant",
            switchyard.credential_id = %credential.id,
        );
        let (this, credential) = (self.clone(), credential.clone());
        tokio::spawn(
            async move {
                let outcome = this.fly(&credential, cause).await;
                this.count(match &outcome {
                    RefreshOutcome::Refreshed => "refreshed",
                    RefreshOutcome::Adopted => "shared",
                    RefreshOutcome::Terminal(_) => "terminal",
                    RefreshOutcome::Transient(_) | RefreshOutcome::StillRunning(_) => "transient",
                });
                // Published before the slot is freed: a request that comes after
                // sees the flight ended, then the generation it moved to.
                tx.send_replace(Some(outcome));
            }
            .instrument(span),
        );
        Joined::Flight(rx)
    }

    /// One refresh, from the journal row to the commit of the answer.
    async fn fly(&self, credential: &Arc<Credential>, cause: Cause) -> RefreshOutcome {
        let current = credential.tokens();
        let (Some(client), Some(refresh_token)) = (&credential.oauth, &current.refresh_token)
        else {
            return RefreshOutcome::Terminal("the credential has no refresh token".into());
        };
        let id = &credential.id;
        let fingerprint = fingerprint(refresh_token);
        let intent = RefreshIntent {
            id,
            incarnation: credential.incarnation,
            generation: current.stored,
            fingerprint: &fingerprint,
            now: wall_ms(),
        };
        let lock = match self.store.lock_refresh(&intent, self.lock_bounds()).await {
            Ok(Locked::Held(lock)) => *lock,
            Ok(Locked::Moved(stored)) => return adopt(credential, *stored),
            Ok(Locked::Dead(reason)) => {
                // The reason as the store holds it: the policy's dead mark of this
                // outcome writes it back unchanged.
                credential.mark_dead();
                let reason = reason.strip_prefix("refresh refused: ").unwrap_or(&reason);
                return RefreshOutcome::Terminal(reason.to_owned());
            }
            Ok(Locked::Removed) => {
                return RefreshOutcome::Terminal("the credential was removed".into());
            }
            // Never a token call that could not be committed: the provider would
            // rotate a pair nobody can store, and other replicas would spend the old one.
            Err(e) => {
                return RefreshOutcome::Transient(format!(
                    "not refreshed, the store it commits to is out of reach: {e}"
                ));
            }
        };
        if let Some(e) = &lock.unjournaled {
            // Refreshing anyway: the access token is unusable without it.
            tracing::warn!(credential = %id, error = %e, "refresh intent not journaled; refreshing anyway");
        }
        let cause = match (&lock.interrupted, cause) {
            (Some(entry), Cause::Asked) => {
                tracing::warn!(credential = %id, outcome_unknown = entry.outcome_unknown, "a refresh of this pair never committed its answer: presenting the spent refresh token once more");
                Cause::Orphaned
            }
            _ => cause,
        };
        let mut result = call(&self.http, self.timeout, client, refresh_token).await;
        let mut lost_answer = None;
        if cause == Cause::Asked
            && let Err(CallFailure::Unknown(why)) = &result
        {
            credential.set_outcome_unknown(true);
            if let Err(e) = self.store.journal_outcome_unknown(id).await {
                tracing::warn!(credential = %id, error = %e, "unknown refresh outcome not journaled");
            }
            tracing::warn!(credential = %id, why = %why, "refresh outcome unknown; retrying once with the same refresh token");
            lost_answer = Some(why.clone());
            result = call(&self.http, self.timeout, client, refresh_token).await;
        }
        match result {
            Ok(grant) => {
                self.commit(credential, &current, refresh_token, grant, lock)
                    .await
            }
            Err(CallFailure::Refused(why)) => {
                let why = match (cause, lost_answer) {
                    (Cause::Interrupted, _) => format!(
                        "refresh interrupted by a restart; the provider refused the spent refresh token ({why}): it had rotated it, and its answer was lost with the process"
                    ),
                    (Cause::Orphaned, _) => format!(
                        "refresh interrupted: the holder that spent this refresh token before never committed the answer (its process died, or the answer was lost); the provider refused the spent refresh token ({why}): it had rotated it"
                    ),
                    (Cause::Asked, Some(lost)) => format!(
                        "{lost}, then the provider refused the spent refresh token ({why}): it had rotated it, and its answer was lost"
                    ),
                    (Cause::Asked, None) => why,
                };
                self.refuse(credential, &why, lock).await;
                RefreshOutcome::Terminal(why)
            }
            Err(CallFailure::Failed(why)) if cause == Cause::Asked && lost_answer.is_none() => {
                // Nothing was spent: the stored pair stays good.
                credential.set_outcome_unknown(false);
                if let Err(e) = lock.clear().await {
                    tracing::warn!(credential = %id, error = %e, "refresh journal row not cleared");
                }
                RefreshOutcome::Transient(why)
            }
            Err(CallFailure::Failed(why)) => {
                // An earlier answer may have been lost (a timeout before this retry,
                // or a restart): the journal row stays, to be finished later.
                lock.release().await;
                RefreshOutcome::Transient(why)
            }
            Err(CallFailure::Unknown(why)) => {
                credential.set_outcome_unknown(true);
                lock.release().await;
                RefreshOutcome::Transient(format!(
                    "{why}; the outcome is unknown, the next refresh spends the same token"
                ))
            }
        }
    }

    /// Bounds of the refresh lock: the database within one token timeout; another
    /// holder for as long as a live one may hold it (two token calls), and a second.
    fn lock_bounds(&self) -> LockBounds {
        LockBounds {
            reach: self.timeout,
            wait: self
                .timeout
                .saturating_mul(2)
                .saturating_add(Duration::from_secs(1)),
        }
    }

    /// Stores and installs the pair of a successful grant.
    async fn commit(
        &self,
        credential: &Arc<Credential>,
        spent: &crate::credentials::Tokens,
        refresh_token: &SecretString,
        grant: Grant,
        lock: RefreshLock,
    ) -> RefreshOutcome {
        let now = wall_ms();
        let rotated = RotatedTokens {
            access_token: SecretString::from(grant.access_token),
            refresh_token: grant
                .refresh_token
                .map(SecretString::from)
                .unwrap_or_else(|| refresh_token.clone()),
            expires_at: grant
                .expires_in
                .map(|s| now.saturating_add(s.saturating_mul(1000))),
        };
        credential.set_outcome_unknown(false);
        match lock.commit_rotation(spent.stored, &rotated, now).await {
            Ok(generation) => {
                credential.install(&rotated, generation);
                RefreshOutcome::Refreshed
            }
            Err(StoreError::Conflict(_)) => self.reload(credential).await,
            Err(e) => {
                // The provider has invalidated the stored pair: this one is the
                // only one that works. Use it, and keep trying to store it.
                tracing::warn!(credential = %credential.id, error = %e, "rotated tokens held only in memory: the store refused them; persisting in the background");
                if !credential.install_unpersisted(&rotated) {
                    let held = Held::enter(&self.held, &self.status);
                    tokio::spawn(persist(self.store.clone(), credential.clone(), held));
                }
                RefreshOutcome::Refreshed
            }
        }
    }

    /// The provider refused the token for good: dead, in memory and in the store.
    async fn refuse(&self, credential: &Credential, why: &str, lock: RefreshLock) {
        credential.set_outcome_unknown(false);
        credential.mark_dead();
        let reason = format!("refresh refused: {why}");
        if let Err(e) = lock.commit_refusal(&reason, wall_ms()).await {
            tracing::warn!(credential = %credential.id, error = %e, "dead mark not stored");
        }
    }

    /// Another writer rotated the stored tokens: adopt them.
    async fn reload(&self, credential: &Credential) -> RefreshOutcome {
        match self.store.credential(&credential.id).await {
            Ok(Some(stored)) => adopt(credential, stored),
            Ok(None) => RefreshOutcome::Terminal("the credential was removed".into()),
            Err(e) => RefreshOutcome::Transient(format!("store: {e}")),
        }
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .refreshes
            .add(1, &[KeyValue::new("outcome", outcome)]);
    }
}

/// Installs the pair another writer stored (another replica's refresh, the CLI):
/// newer than the caller's, not obtained for it.
fn adopt(credential: &Credential, stored: StoredCredential) -> RefreshOutcome {
    credential.install_stored(&stored);
    RefreshOutcome::Adopted
}

fn lost_flight() -> RefreshOutcome {
    RefreshOutcome::Transient("the refresh task ended without an outcome".into())
}

/// Persists the tokens `credential` holds only in memory, retrying until the store
/// takes them (or the stored row changed under it: replaced or removed).
async fn persist(store: Store, credential: Arc<Credential>, _held: Held) {
    let mut pause = PERSIST_RETRY.0;
    loop {
        tokio::time::sleep(pause).await;
        let tokens = credential.tokens();
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return;
        };
        let rotated = RotatedTokens {
            access_token: (*tokens.bearer).clone(),
            refresh_token,
            expires_at: tokens.expires_at,
        };
        match store
            .commit_rotation(
                &credential.id,
                credential.incarnation,
                tokens.stored,
                &rotated,
                wall_ms(),
            )
            .await
        {
            Ok(generation) => {
                credential.persisted(generation);
                tracing::info!(credential = %credential.id, "rotated tokens held in memory are stored now");
                return;
            }
            Err(StoreError::Conflict(_)) => {
                credential.persisted(tokens.stored);
                tracing::error!(credential = %credential.id, "the stored credential changed while its rotated tokens were held in memory; the memory copy is not stored");
                return;
            }
            Err(e) => {
                tracing::warn!(credential = %credential.id, error = %e, "rotated tokens still held only in memory");
                pause = (pause * 2).min(PERSIST_RETRY.1);
            }
        }
    }
}

/// One credential counted as held only in memory, from the store's refusal until
/// its tokens are stored (or abandoned): the `credentials` component of the
/// server's status is degraded while any is held.
struct Held {
    count: Arc<AtomicUsize>,
    status: Status,
}

impl Held {
    fn enter(count: &Arc<AtomicUsize>, status: &Status) -> Self {
        let n = count.fetch_add(1, Ordering::AcqRel) + 1;
        status.set_degraded(
            Component::Credentials,
            format!("{n} credential(s) hold rotated tokens only in memory: the store refused them"),
        );
        Self {
            count: count.clone(),
            status: status.clone(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.status.clear(Component::Credentials);
        }
    }
}
