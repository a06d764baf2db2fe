//! Finishing, at start, the refreshes that a crash interrupted.
//!
//! A row of the refresh journal outlives its refresh only when the process died
//! between recording the intent and committing the answer. The provider may have
//! rotated the token meanwhile. The spent token is presented once more: a provider
//! with a reuse grace window answers it (the pair is committed); a strict one
//! refuses it, and the credential is marked dead with a reason saying so. Runs in
//! `App::build`, before the service reports SERVING. Each runs as a flight, under
//! the store's refresh lock: with replicas on PostgreSQL, a pair another replica
//! committed meanwhile is adopted, and nothing is presented again.

use futures::future::join_all;

use super::{Refresher, fingerprint};
use crate::credentials::CredentialPool;
use crate::policy::RefreshOutcome;
use crate::store::JournalEntry;

/// Finishes every refresh the journal holds. Returns how many it found. A store
/// that cannot be read is logged, not fatal: the service can still serve.
pub async fn recover(refresher: &Refresher, pool: &CredentialPool) -> usize {
    let store = refresher.store();
    let entries = match store.journal().await {
        Ok(entries) => entries,
        Err(e) => {
            tracing::error!(error = %e, "refresh journal unreadable; interrupted refreshes not finished");
            return 0;
        }
    };
    let found = entries.len();
    join_all(entries.into_iter().map(|e| finish(refresher, pool, e))).await;
    found
}

async fn finish(refresher: &Refresher, pool: &CredentialPool, entry: JournalEntry) {
    let id = &entry.credential_id;
    let current = pool.get(id).filter(|c| !c.is_dead()).filter(|c| {
        let tokens = c.tokens();
        tokens.stored == entry.generation
            && tokens
                .refresh_token
                .as_ref()
                .is_some_and(|t| fingerprint(t) == entry.fingerprint)
    });
    let Some(credential) = current else {
        // A row newer than the pool loaded at start belongs to a refresh another
        // replica is making now (it holds the refresh lock): not this process's.
        if pool
            .get(id)
            .is_some_and(|c| entry.generation > c.tokens().stored)
        {
            return;
        }
        // The credential changed since (replaced, rotated by the CLI, dead): the
        // journaled token is not the stored one any more.
        if let Err(e) = refresher.store().journal_clear(id).await {
            tracing::warn!(credential = %id, error = %e, "stale refresh journal row not cleared");
        }
        return;
    };
    tracing::warn!(
        credential = %id,
        outcome_unknown = entry.outcome_unknown,
        "finishing a refresh interrupted by a restart: presenting the spent refresh token again"
    );
    match refresher.finish_interrupted(&credential).await {
        RefreshOutcome::Refreshed | RefreshOutcome::Adopted => {
            tracing::info!(credential = %id, "interrupted refresh finished: the new pair is stored")
        }
        RefreshOutcome::Terminal(why) => {
            tracing::error!(credential = %id, why = %why, "interrupted refresh lost the pair: credential marked dead")
        }
        RefreshOutcome::Transient(why) | RefreshOutcome::StillRunning(why) => {
            tracing::warn!(credential = %id, why = %why, "interrupted refresh not finished; retried at the next refresh or start")
        }
    }
}
