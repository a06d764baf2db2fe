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
use crate::domain::{Caller, Material, Millis};
use crate::policy::Routing;
use crate::redact::check_secret;
use crate::store::{NewCredential, Store, StoreError, StoredCredential};

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

/// Warnings for what has no usable key: per provider used by a caller (with what
/// to set), then per caller (its candidates without a key). `keyed` tells whether
/// a provider holds at least one live credential. Returns the lines and the
/// callers none of whose candidates has a key.
pub fn missing(
    routing: &Routing,
    sources: &BTreeMap<String, Vec<KeySource>>,
    keyed: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let mut keyless_callers = Vec::new();
    let mut callers = vec![Caller::Primary];
    callers.extend(routing.task_names().into_iter().map(Caller::Aux));
    let mut used = BTreeSet::new();
    let mut caller_lines = Vec::new();
    for caller in callers {
        let Ok(list) = routing.candidates(&caller, None) else {
            continue;
        };
        let without: Vec<String> = list
            .iter()
            .enumerate()
            .filter(|(_, c)| !keyed(&c.provider))
            .map(|(i, c)| {
                used.insert(c.provider.to_string());
                format!("#{i} {}/{}", c.provider, c.model)
            })
            .collect();
        if without.is_empty() {
            continue;
        }
        if without.len() == list.len() {
            keyless_callers.push(caller.to_string());
            caller_lines.push(format!(
                "caller {caller}: no candidate has a key, every call will fail ({})",
                without.join(", ")
            ));
        } else {
            caller_lines.push(format!(
                "caller {caller}: candidates without a key are skipped: {}",
                without.join(", ")
            ));
        }
    }
    for provider in &used {
        let hint = match sources.get(provider).map(Vec::as_slice) {
            Some(declared) if !declared.is_empty() => {
                let what: Vec<String> = declared
                    .iter()
                    .map(|s| match s {
                        KeySource::Env(var) => format!("set {var}"),
                        KeySource::File(path) => format!("write the key to {}", path.display()),
                    })
                    .collect();
                what.join(" or ")
            }
            _ => format!(
                "declare providers.{provider}.api_key_env (or api_key_file, or `auth: none` \
                 for a server without auth), or run `switchyard credentials add --provider {provider}`"
            ),
        };
        lines.push(format!("provider {provider} has no usable key: {hint}"));
    }
    lines.extend(caller_lines);
    (lines, keyless_callers)
}

/// The providers holding at least one credential that is not dead.
pub fn keyed_providers(stored: &[StoredCredential]) -> BTreeSet<String> {
    stored
        .iter()
        .filter(|c| c.health.dead_since.is_none())
        .map(|c| c.provider.clone())
        .collect()
}

/// Reads a declared key's file.
pub fn read_key_file(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "
providers:
  a:
    kind: openai
    base_url: 'http://127.0.0.1:1/v1'
    api_key_env: A_KEY
    keys: [ {file: /run/keys/a.key, priority: 2}, {env: A_SPARE, priority: 1} ]
  b: {kind: openai, base_url: 'http://127.0.0.1:2/v1', api_key_env: B_KEY}
  local: {kind: openai, base_url: 'http://127.0.0.1:3/v1', auth: none}
model: {provider: a, model: m, fallback_providers: [{provider: b, model: n}]}
auxiliary:
  title: {provider: b, model: n}
";

    fn config() -> Config {
        Config::from_yaml(YAML, "t", []).unwrap()
    }

    fn resolved(env: &[(&str, &str)]) -> Resolved {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(
            &config(),
            |var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()),
            |path| {
                if path == Path::new("/run/keys/a.key") {
                    Ok("key-from-the-file\n".to_owned())
                } else {
                    Err(std::io::Error::from(std::io::ErrorKind::NotFound))
                }
            },
        )
    }

    fn ids(r: &Resolved) -> Vec<(String, i64, String)> {
        r.keys
            .iter()
            .map(|k| {
                let c = &k.credential;
                (c.id.clone(), c.priority, c.label.clone())
            })
            .collect()
    }

    #[test]
    fn every_source_gives_a_key_with_an_id_derived_from_it() {
        let r = resolved(&[("A_KEY", "key-of-a-0001"), ("A_SPARE", "key-of-a-0002")]);
        assert_eq!(
            ids(&r),
            [
                ("a-env-A_KEY".into(), 0, "config: env A_KEY".into()),
                (
                    "a-file-run-keys-a-key".into(),
                    2,
                    "config: file /run/keys/a.key".into()
                ),
                ("a-env-A_SPARE".into(), 1, "config: env A_SPARE".into()),
                ("local-none".into(), 0, "config: auth none".into()),
            ]
        );
        let Material::ApiKey(file_key) = &r.keys[1].credential.material else {
            panic!("an api key")
        };
        assert_eq!(file_key.expose_secret(), "key-from-the-file", "trimmed");
        assert_eq!(
            r.warnings,
            ["provider b: environment variable B_KEY is not set: no key from it"]
        );
    }

    #[test]
    fn a_malformed_secret_is_a_warning_and_no_key() {
        let r = resolved(&[("A_KEY", "has space in it"), ("A_SPARE", "short")]);
        assert_eq!(r.keys.len(), 2, "the file and the synthetic credential");
        assert!(r.warnings[0].starts_with("provider a: the key from env A_KEY "));
        assert!(r.warnings[1].starts_with("provider a: the key from env A_SPARE "));
        assert!(
            !r.warnings.iter().any(|w| w.contains("has space")),
            "never the value: {:?}",
            r.warnings
        );
    }

    fn stored_ids(stored: &[StoredCredential]) -> Vec<(String, String)> {
        stored
            .iter()
            .map(|c| (c.id.to_string(), c.label.clone()))
            .collect()
    }

    #[tokio::test]
    async fn the_store_follows_the_declared_keys_and_leaves_the_cli_ones_alone() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::crypto::MasterKey::from_bytes([7; 32]);
        let store = Store::open(&dir.path().join("s.db"), key).await.unwrap();
        let cli = crate::store::NewApiKey {
            id: "b-env-B_KEY".into(),
            provider: "b".into(),
            label: "added by hand".into(),
            priority: 0,
            secret: SecretString::from("cli-key-0001".to_owned()),
        };
        store.add_api_key(&cli, 1).await.unwrap();

        let first = resolved(&[("A_KEY", "key-of-a-0001"), ("B_KEY", "key-of-b-0001")]);
        let report = sync(&store, &first, 2).await.unwrap();
        assert_eq!(report.added.len(), 3, "{report:?}");
        assert_eq!(report.conflicts, ["b-env-B_KEY"], "the CLI's row is kept");

        // Same values: nothing moves. A dead `auth: none` credential is revived.
        let dead = crate::store::HealthChange::Dead {
            id: "local-none".into(),
            incarnation: store
                .credential("local-none")
                .await
                .unwrap()
                .unwrap()
                .incarnation,
            reason: "401".into(),
            at: 3,
        };
        store.write_batch(&[dead], &[]).await.unwrap();
        let report = sync(&store, &first, 4).await.unwrap();
        assert_eq!(report.replaced, ["local-none"], "{report:?}");
        assert!(
            report.added.is_empty() && report.removed.is_empty(),
            "{report:?}"
        );

        // A changed value replaces; an unset variable removes its key.
        let second = resolved(&[("A_KEY", "key-of-a-0002")]);
        let report = sync(&store, &second, 5).await.unwrap();
        assert_eq!(report.replaced, ["a-env-A_KEY"], "{report:?}");
        assert!(report.removed.is_empty(), "{report:?}");
        let stored = store.credentials().await.unwrap();
        let Material::ApiKey(a) = &stored
            .iter()
            .find(|c| &*c.id == "a-env-A_KEY")
            .unwrap()
            .material
        else {
            panic!("an api key")
        };
        assert_eq!(a.expose_secret(), "key-of-a-0002");

        let third = resolved(&[]);
        let report = sync(&store, &third, 6).await.unwrap();
        assert_eq!(report.removed, ["a-env-A_KEY"], "{report:?}");
        assert_eq!(
            stored_ids(&store.credentials().await.unwrap()),
            [
                (
                    "a-file-run-keys-a-key".to_owned(),
                    "config: file /run/keys/a.key".to_owned()
                ),
                ("b-env-B_KEY".to_owned(), "added by hand".to_owned()),
                ("local-none".to_owned(), "config: auth none".to_owned()),
            ]
        );
        store.close().await;
    }

    #[test]
    fn a_caller_with_no_keyed_candidate_is_named_and_the_variable_to_set_is_said() {
        let c = config();
        let r = resolved(&[]);
        let (lines, keyless) = missing(&c.routing(), &r.sources, |p| p == "local");
        assert!(
            lines.contains(&"provider b has no usable key: set B_KEY".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(
                &"provider a has no usable key: set A_KEY or write the key to /run/keys/a.key or set A_SPARE"
                    .to_owned()
            ),
            "{lines:?}"
        );
        assert!(keyless.contains(&"primary".to_owned()), "{keyless:?}");
        assert!(keyless.contains(&"aux:title".to_owned()), "{keyless:?}");

        // With b keyed, the primary caller still has a candidate: only a warning.
        let (lines, keyless) = missing(&c.routing(), &r.sources, |p| p == "b");
        assert!(!keyless.contains(&"primary".to_owned()), "{keyless:?}");
        assert!(
            lines.contains(
                &"caller primary: candidates without a key are skipped: #0 a/m".to_owned()
            ),
            "{lines:?}"
        );
    }
}
