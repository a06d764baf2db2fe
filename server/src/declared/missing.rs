//! The report of what has no usable key, for `serve` and `check-config`: per
//! provider used by a caller (with what to set), then per caller. Wording only: the
//! candidate lists come from [`Routing`], so what is reported is what a call tries.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::KeySource;
use crate::domain::Caller;
use crate::policy::Routing;
use crate::store::StoredCredential;

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
