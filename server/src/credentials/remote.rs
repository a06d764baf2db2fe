//! Changes made elsewhere (another replica, the admin API of another replica,
//! the CLI) to a shared store, applied to this replica's pool: the rule of the
//! change feed ([`crate::feed`]). Memory only: the caller re-reads the row from
//! the store by id and hands it over; nothing here trusts a notification.
//!
//! A row is applied only when its revision is newer than the one the pool holds
//! for the credential, so a stale or duplicate notification changes nothing. A
//! row of another incarnation (replaced), provider or priority replaces the
//! credential. On the same row, newer stored tokens are installed and the health
//! is merged: a remote cooldown never shortens a longer local one, and a remote
//! row never revives a credential this replica holds dead. Use counts and the
//! outlier counters stay local.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use super::{Credential, CredentialPool};
use crate::domain::{CredentialId, Millis};
use crate::store::StoredCredential;

/// What applying a stored row did to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The pool held this revision or a newer one: nothing changed.
    Stale,
    /// The credential was new to the pool.
    Added,
    /// Another row of the id (or another provider or priority) replaced it.
    Replaced,
    /// The same row: newer tokens installed, health merged.
    Merged,
}

/// What a full resynchronisation found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resynced {
    /// Credentials whose row was newer than the pool's (added, replaced or
    /// merged): a change whose notification never arrived, or had not yet.
    pub applied: Vec<String>,
    /// Credentials of the pool absent from the store's rows: the caller confirms
    /// each by id before removing it (the rows may predate an addition).
    pub missing: Vec<CredentialId>,
}

// === impl Credential ===

impl Credential {
    /// The store's revision of its shared state last applied to it.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Relaxed)
    }

    /// Merges a newer row of the same incarnation: tokens the store holds at a
    /// newer generation, the later cooldown, a dead mark (never a revival).
    fn merge(&self, stored: &StoredCredential) {
        if stored.generation > super::read(&self.tokens).generation {
            self.install_stored(stored);
        }
        {
            let mut h = self.health.write().unwrap_or_else(|e| e.into_inner());
            h.cooldown_until = later(h.cooldown_until, stored.health.cooldown_until);
            h.dead |= stored.health.dead_since.is_some();
        }
        self.revision.store(stored.revision, Ordering::Relaxed);
    }
}

fn later(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

// === impl CredentialPool ===

impl CredentialPool {
    /// The revision the pool holds for `id`, if it holds the credential.
    pub fn revision(&self, id: &str) -> Option<u64> {
        self.get(id).map(|c| c.revision())
    }

    /// Applies a row re-read from the store if it is newer than what the pool
    /// holds. The caller serialises calls (one feed applies at a time).
    pub fn apply_stored(&self, stored: StoredCredential) -> Applied {
        match self.get(&stored.id) {
            None => {
                self.upsert(stored);
                Applied::Added
            }
            Some(c) if stored.revision <= c.revision() => Applied::Stale,
            Some(c)
                if c.incarnation != stored.incarnation
                    || *c.provider != *stored.provider
                    || c.priority != stored.priority =>
            {
                self.upsert(stored);
                Applied::Replaced
            }
            Some(c) => {
                c.merge(&stored);
                Applied::Merged
            }
        }
    }

    /// The store no longer holds `id`, deleted at `revision`: removes it unless
    /// the pool holds a newer revision (a later row of the id). Returns whether
    /// it was removed.
    pub fn apply_deleted(&self, id: &str, revision: u64) -> bool {
        match self.get(id) {
            Some(c) if c.revision() < revision => self.remove(id),
            _ => false,
        }
    }

    /// Applies every row of the store (the feed's safety net) by the rule of
    /// [`Self::apply_stored`], and names the credentials the rows lack.
    pub fn resync(&self, stored: Vec<StoredCredential>) -> Resynced {
        let mut found = Resynced::default();
        let present: HashSet<CredentialId> = stored.iter().map(|s| s.id.clone()).collect();
        for s in stored {
            let id = s.id.to_string();
            if self.apply_stored(s) != Applied::Stale {
                found.applied.push(id);
            }
        }
        found.missing = super::read(&self.inner)
            .by_id
            .keys()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect();
        found.applied.sort();
        found.missing.sort();
        found
    }
}

#[cfg(test)]
mod tests {
    use foldhash::{HashMap, HashMapExt};

    use secrecy::{ExposeSecret as _, SecretString};

    use super::*;
    use crate::domain::{Material, OAuthTokens};
    use crate::store::CredentialHealth;

    fn row(revision: u64) -> StoredCredential {
        StoredCredential {
            id: "k1".into(),
            provider: "openai".into(),
            label: String::new(),
            priority: 0,
            material: Material::OAuth(OAuthTokens {
                access_token: SecretString::from("at-1"),
                refresh_token: SecretString::from("rt-1"),
                expires_at: Some(1_000),
                token_url: "http://127.0.0.1:1/token".into(),
                client_id: "c".into(),
                client_secret: None,
                scope: None,
            }),
            generation: 1,
            incarnation: 7,
            revision,
            health: CredentialHealth::default(),
            use_count: 0,
            created_at: 0,
        }
    }

    fn cooled(revision: u64, until: Millis) -> StoredCredential {
        let mut r = row(revision);
        r.health.cooldown_until = Some(until);
        r
    }

    fn rotated(revision: u64, generation: u64, token: &str) -> StoredCredential {
        let mut r = row(revision);
        r.generation = generation;
        if let Material::OAuth(t) = &mut r.material {
            t.access_token = SecretString::from(token.to_owned());
        }
        r
    }

    fn pool(first: StoredCredential) -> CredentialPool {
        CredentialPool::new(vec![first], HashMap::new())
    }

    fn bearer(pool: &CredentialPool) -> String {
        let c = pool.get("k1").unwrap();
        c.bearer().0.expose_secret().to_owned()
    }

    #[test]
    fn an_older_revision_arriving_after_a_newer_one_changes_nothing() {
        let pool = pool(row(5));
        assert_eq!(pool.apply_stored(rotated(9, 3, "at-3")), Applied::Merged);
        assert_eq!(bearer(&pool), "at-3");
        // Revision 7 (tokens of generation 2, a cooldown) was overtaken by 9.
        let mut older = cooled(7, 50_000);
        older.generation = 2;
        assert_eq!(pool.apply_stored(older), Applied::Stale);
        assert_eq!(bearer(&pool), "at-3");
        assert_eq!(pool.get("k1").unwrap().health(), (false, None));
        assert_eq!(pool.revision("k1"), Some(9));
        // A duplicate of 9 is stale too.
        assert_eq!(pool.apply_stored(cooled(9, 50_000)), Applied::Stale);
        assert_eq!(pool.get("k1").unwrap().health(), (false, None));
    }

    #[test]
    fn a_newer_remote_cooldown_applies_but_never_shortens_a_longer_local_one() {
        let pool = pool(row(1));
        assert_eq!(pool.apply_stored(cooled(2, 10_000)), Applied::Merged);
        assert_eq!(pool.get("k1").unwrap().health(), (false, Some(10_000)));
        assert_eq!(pool.apply_stored(cooled(3, 4_000)), Applied::Merged);
        assert_eq!(pool.get("k1").unwrap().health(), (false, Some(10_000)));
        // A row without a cooldown (it ended, or none was written) keeps ours.
        assert_eq!(pool.apply_stored(row(4)), Applied::Merged);
        assert_eq!(pool.get("k1").unwrap().health(), (false, Some(10_000)));
    }

    #[test]
    fn a_remote_row_never_revives_a_dead_credential_but_a_remote_dead_mark_applies() {
        let pool = pool(row(1));
        pool.get("k1").unwrap().mark_dead();
        assert_eq!(pool.apply_stored(row(2)), Applied::Merged);
        assert!(pool.get("k1").unwrap().is_dead());

        let other = self::pool(row(1));
        let mut dead = row(2);
        dead.health.dead_since = Some(5);
        assert_eq!(other.apply_stored(dead), Applied::Merged);
        assert!(other.get("k1").unwrap().is_dead());
    }

    #[test]
    fn stored_tokens_are_installed_only_when_their_generation_is_newer() {
        let pool = pool(rotated(1, 4, "at-4"));
        // A newer revision (a cooldown, say) with the same generation keeps ours.
        assert_eq!(
            pool.apply_stored(rotated(2, 4, "at-other")),
            Applied::Merged
        );
        assert_eq!(bearer(&pool), "at-4");
        assert_eq!(pool.apply_stored(rotated(3, 5, "at-5")), Applied::Merged);
        assert_eq!(bearer(&pool), "at-5");
        let t = pool.get("k1").unwrap().tokens();
        assert_eq!((t.generation, t.stored), (5, 5));
    }

    #[test]
    fn a_replaced_row_replaces_the_credential_with_its_own_health() {
        let pool = pool(row(1));
        pool.get("k1").unwrap().mark_dead();
        let mut replaced = row(2);
        replaced.incarnation = 8;
        assert_eq!(pool.apply_stored(replaced), Applied::Replaced);
        let c = pool.get("k1").unwrap();
        assert_eq!((c.incarnation, c.is_dead()), (8, false));
    }

    #[test]
    fn a_deletion_older_than_the_held_revision_removes_nothing() {
        let pool = pool(row(6));
        assert!(!pool.apply_deleted("k1", 5));
        assert!(!pool.apply_deleted("k1", 6));
        assert!(pool.get("k1").is_some());
        assert!(pool.apply_deleted("k1", 7));
        assert!(pool.get("k1").is_none());
        assert!(!pool.apply_deleted("k1", 8), "already gone");
    }

    #[test]
    fn a_resync_applies_newer_rows_adds_new_ones_and_names_the_missing() {
        let pool = CredentialPool::new(
            vec![row(3), {
                let mut gone = row(1);
                gone.id = "gone".into();
                gone
            }],
            HashMap::new(),
        );
        let mut new = row(4);
        new.id = "new".into();
        let found = pool.resync(vec![cooled(5, 9_000), new]);
        assert_eq!(found.applied, ["k1", "new"]);
        assert_eq!(found.missing, [CredentialId::from("gone")]);
        assert_eq!(pool.get("k1").unwrap().health(), (false, Some(9_000)));
        // The same rows again: nothing to repair.
        let again = pool.resync(vec![cooled(5, 9_000)]);
        assert!(again.applied.is_empty(), "{again:?}");
    }

    /// The store poll's race (SQLite): rows read before a put through the admin
    /// API lack the credential the put added to the pool meanwhile. The poll
    /// reads each disagreement again by id: the credential stays, and one the
    /// store really lost goes.
    #[test]
    fn a_snapshot_that_predates_a_put_removes_nothing_once_read_again_by_id() {
        let pool = pool(row(1));
        let snapshot: Vec<StoredCredential> = Vec::new();
        let named = pool.differing(&snapshot);
        assert_eq!(named, vec![CredentialId::from("k1")]);

        let mut changes = crate::credentials::PoolChanges::default();
        pool.apply_confirmed(&named[0], Some(row(1)), &mut changes);
        assert!(changes.is_empty(), "{changes:?}");
        assert!(pool.get("k1").is_some());

        pool.apply_confirmed(&named[0], None, &mut changes);
        assert_eq!(changes.removed, vec!["k1".to_owned()]);
        assert!(pool.get("k1").is_none());
    }
}
