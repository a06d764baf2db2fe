//! Keys declared in the config (`providers.<name>.api_key_env`, `api_key_file`,
//! `keys`, `auth: none`): read from their sources at start and synced into the
//! store, sealed like keys added by the CLI, and the report of what is missing.
//!
//! A declared key's id is derived from its source (`<provider>-env-<VAR>`,
//! `<provider>-file-<path>`), its label starts with [`LABEL_PREFIX`] and names the
//! source: that label is how a later start knows which stored rows came from the
//! config (and may replace or remove them) and which the CLI added (never touched).
//! Secrets never leave this module but into the store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use secrecy::{ExposeSecret as _, SecretString};

use crate::config::{Config, KeySource, ProviderAuth};
use crate::domain::{Material, Millis};
use crate::redact::check_secret;
use crate::store::{NewCredential, Store, StoreError, StoredCredential};

mod missing;

pub use missing::{keyed_providers, missing};

/// Labels of the store rows that came from the config start with this.
pub const LABEL_PREFIX: &str = "config: ";

/// One key read from a declared source, ready to store.
#[derive(Debug, Clone)]
pub struct ResolvedKey {
    /// The row to store (`material` holds the secret).
    pub credential: NewCredential,
}

/// What the declared sources gave: the keys to store, and a warning for each
/// source that gave none (unset variable, unreadable file, malformed key).
#[derive(Debug, Default)]
pub struct Resolved {
    /// Keys to hold in the store.
    pub keys: Vec<ResolvedKey>,
    /// One line per source that gave no key, naming the provider and the source.
    pub warnings: Vec<String>,
    /// Every declared source per provider, usable or not (for the hints).
    pub sources: BTreeMap<String, Vec<KeySource>>,
}

/// What a sync changed in the store, by credential id.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Stored for the first time.
    pub added: Vec<String>,
    /// Replaced: the secret, the priority or the source changed.
    pub replaced: Vec<String>,
    /// Removed: no longer declared, or its source gave no key.
    pub removed: Vec<String>,
    /// Declared ids already held by a credential the CLI added (left alone).
    pub conflicts: Vec<String>,
}

/// The id of a key declared by `provider` from `source`.
pub fn key_id(provider: &str, source: &KeySource) -> String {
    match source {
        KeySource::Env(var) => format!("{provider}-env-{var}"),
        KeySource::File(path) => {
            let flat: String = path
                .display()
                .to_string()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let mut id = format!("{provider}-file");
            for part in flat.split('-').filter(|p| !p.is_empty()) {
                id.push('-');
                id.push_str(part);
            }
            id
        }
    }
}

/// Reads every declared source with `env` (a variable's value) and `file` (a
/// file's text). `auth: none` gives one synthetic credential with an empty secret,
/// `<provider>-none`, which the provider layer sends without any header.
pub fn resolve(
    config: &Config,
    env: impl Fn(&str) -> Option<String>,
    file: impl Fn(&Path) -> std::io::Result<String>,
) -> Resolved {
    let mut out = Resolved::default();
    for (provider, p) in &config.providers {
        if p.auth == ProviderAuth::None {
            out.keys.push(ResolvedKey {
                credential: NewCredential {
                    id: format!("{provider}-none"),
                    provider: provider.clone(),
                    label: format!("{LABEL_PREFIX}auth none"),
                    priority: 0,
                    material: Material::ApiKey(SecretString::from(String::new())),
                },
            });
            continue;
        }
        for declared in p.declared_keys() {
            out.sources
                .entry(provider.clone())
                .or_default()
                .push(declared.source.clone());
            let value = match &declared.source {
                KeySource::Env(var) => match env(var) {
                    Some(v) => v,
                    None => {
                        out.warnings.push(format!(
                            "provider {provider}: environment variable {var} is not set: no key from it"
                        ));
                        continue;
                    }
                },
                KeySource::File(path) => match file(path) {
                    Ok(text) => text.trim().to_owned(),
                    Err(e) => {
                        out.warnings.push(format!(
                            "provider {provider}: cannot read key file {}: {e}",
                            path.display()
                        ));
                        continue;
                    }
                },
            };
            if let Err(e) = check_secret(&value) {
                out.warnings.push(format!(
                    "provider {provider}: the key from {} {e}: not used",
                    declared.source
                ));
                continue;
            }
            out.keys.push(ResolvedKey {
                credential: NewCredential {
                    id: key_id(provider, &declared.source),
                    provider: provider.clone(),
                    label: format!("{LABEL_PREFIX}{}", declared.source),
                    priority: declared.priority,
                    material: Material::ApiKey(SecretString::from(value)),
                },
            });
        }
    }
    out
}

/// Whether a stored row came from the config.
pub fn from_config(c: &StoredCredential) -> bool {
    c.label.starts_with(LABEL_PREFIX)
}

/// Makes the store hold exactly the resolved keys among the rows that came from
/// the config: new ones are added, changed ones replaced (health reset), the rest
/// removed. A row the CLI added is never touched, even when its id collides.
pub async fn sync(
    store: &Store,
    resolved: &Resolved,
    now: Millis,
) -> Result<SyncReport, StoreError> {
    let stored: BTreeMap<String, StoredCredential> = store
        .credentials()
        .await?
        .into_iter()
        .map(|c| (c.id.to_string(), c))
        .collect();
    let mut report = SyncReport::default();
    let mut wanted = BTreeSet::new();
    for key in &resolved.keys {
        let c = &key.credential;
        wanted.insert(c.id.clone());
        match stored.get(&c.id) {
            Some(old) if !from_config(old) => report.conflicts.push(c.id.clone()),
            // A restart does not revive a dead key whose value is the same (the
            // provider refused it); the keyless credential of `auth: none` has no
            // value to change, so its dead mark is not carried over a restart.
            Some(old) if same(old, c) && !(keyless(c) && old.health.dead_since.is_some()) => {}
            Some(_) => {
                store.put_credential(c, true, now).await?;
                report.replaced.push(c.id.clone());
            }
            None => {
                store.put_credential(c, false, now).await?;
                report.added.push(c.id.clone());
            }
        }
    }
    for (id, old) in &stored {
        if from_config(old) && !wanted.contains(id) && store.remove_credential(id).await? {
            report.removed.push(id.clone());
        }
    }
    Ok(report)
}

fn keyless(c: &NewCredential) -> bool {
    matches!(&c.material, Material::ApiKey(k) if k.expose_secret().is_empty())
}

fn same(old: &StoredCredential, new: &NewCredential) -> bool {
    let secret = |m: &Material| match m {
        Material::ApiKey(k) => Some(k.expose_secret().to_owned()),
        Material::OAuth(_) => None,
    };
    old.provider == new.provider
        && old.label == new.label
        && old.priority == new.priority
        && secret(&old.material).is_some()
        && secret(&old.material) == secret(&new.material)
}

/// Reads a declared key's file.
pub fn read_key_file(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

/// Reads the keys the config declares, syncs them into the store, warns about
/// what has no usable key, and returns every stored credential.
pub async fn load(config: &Config, store: &Store) -> Result<Vec<StoredCredential>, StoreError> {
    let resolved = resolve(config, |var| std::env::var(var).ok(), read_key_file);
    for warning in &resolved.warnings {
        tracing::warn!("{warning}");
    }
    let report = sync(store, &resolved, crate::clock::wall_ms()).await?;
    if report != SyncReport::default() {
        tracing::info!(
            added = ?report.added,
            replaced = ?report.replaced,
            removed = ?report.removed,
            "declared keys synced into the store"
        );
    }
    for id in &report.conflicts {
        tracing::warn!(
            id = %id,
            "a credential added by the CLI holds the id of a declared key: the declared key is not used"
        );
    }
    let stored = store.credentials().await?;
    let keyed = keyed_providers(&stored);
    let (lines, _) = missing(&config.routing(), &resolved.sources, |p| keyed.contains(p));
    for line in lines {
        tracing::warn!("{line}");
    }
    Ok(stored)
}

#[cfg(test)]
mod tests;
