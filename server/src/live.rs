//! The live routing snapshot: everything of the config that a reload may change
//! (routing, policy tunables, provider endpoints, model windows, trace content).
//!
//! The service holds one [`Live`] behind an atomic pointer; a call takes it once,
//! at its start, and keeps it for its whole life, so a reload never changes the
//! candidates or the policy of a call in flight. Settings read once at start
//! (listen addresses, database, TLS, auth, limits) are not here.

use std::collections::BTreeMap;

use crate::config::{Config, ModelWindow};
use crate::policy::{PolicyConfig, Routing};
use crate::provider::Providers;

/// Which config a snapshot came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// 1 at start, then one more at each applied reload.
    pub number: u64,
    /// The first 12 hex digits of the SHA-256 of the config text (no secret:
    /// the config names where keys are, never the keys).
    pub hash: String,
}

/// One generation of the reloadable config.
#[derive(Debug)]
pub struct Live {
    /// Which config this is.
    pub generation: Generation,
    /// Candidate lists and budgets.
    pub routing: Routing,
    /// Policy tunables.
    pub policy: PolicyConfig,
    /// Provider endpoints.
    pub providers: Providers,
    /// Whether attempt spans record prompts and completions.
    pub capture_content: bool,
    /// What `GET /v1/models` reports: the primary caller's window, then each
    /// configured task's (a built-in task not configured has the primary's).
    pub windows: (ModelWindow, BTreeMap<String, ModelWindow>),
}

impl Live {
    /// The snapshot of `config`, with `providers` built from it.
    pub fn new(config: &Config, providers: Providers, generation: Generation) -> Self {
        let main = config.model.window();
        let tasks = config
            .auxiliary
            .iter()
            .map(|(name, task)| (name.clone(), task.window(main)))
            .collect();
        Self {
            generation,
            routing: config.routing(),
            policy: config.policy(),
            providers,
            capture_content: config.telemetry.capture_content,
            windows: (main, tasks),
        }
    }
}

/// The short hash of a config text that names its generation.
pub(crate) fn config_hash(text: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
