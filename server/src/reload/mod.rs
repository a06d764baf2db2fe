//! Reload without restart: the config file (and the keys it declares) read again
//! on SIGHUP or when the file changes, and credentials changed in the store by
//! another process (the CLI) picked up while the server runs.
//!
//! A reload is all or nothing for the routing: the new config is loaded and
//! checked first; an invalid one is refused, its error logged, and the live
//! generation keeps serving. A valid one syncs its declared keys into the store
//! and the pool, then replaces the service's [`Live`] snapshot in one atomic
//! store: calls in flight finish on the snapshot they started with. Settings read
//! only at start are reported as needing a restart ([`restart`]); the rest applies.
//! The triggers (signal, file watch, store poll) are in [`watch`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, ConfigError, EXAMPLE_YAML};
use crate::credentials::{CredentialPool, PoolChanges};
use crate::live::{Generation, Live, config_hash};
use crate::provider::Providers;
use crate::service::Switchyard;
use crate::store::{Store, StoreError};

pub mod restart;
pub mod watch;

pub use restart::needs_restart;

/// Where the config comes from: a file (or the embedded example), the process
/// environment, and the command line's overrides, applied the same way at start
/// and at every reload.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// The config file; `None` for the embedded example (nothing to watch).
    pub path: Option<PathBuf>,
    /// `serve --listen`.
    pub listen: Option<SocketAddr>,
    /// `serve --db`.
    pub database: Option<PathBuf>,
}

impl ConfigSource {
    /// Reads and checks the config; returns it with the hash of its text.
    pub fn load(&self) -> Result<(Config, String), ConfigError> {
        let (text, name) = match &self.path {
            None => (EXAMPLE_YAML.to_owned(), "<embedded example>".to_owned()),
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?,
                path.display().to_string(),
            ),
        };
        let mut config = Config::from_yaml(&text, &name, std::env::vars())?;
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(db) = &self.database {
            config.database.path = db.clone();
        }
        Ok((config, config_hash(&text)))
    }
}

/// Why a reload was refused. The live generation keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config does not load or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store refused the declared keys or could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// A new generation is live.
    Applied {
        /// The new generation.
        generation: Generation,
        /// Changed settings that wait for a restart.
        needs_restart: Vec<&'static str>,
        /// What changed in the credential pool.
        credentials: PoolChanges,
    },
    /// Same config text, same keys: the live generation stays.
    Unchanged,
}

#[derive(Debug)]
struct State {
    /// The config the process started with: what restart-only settings still are.
    started: Config,
    /// The live generation.
    generation: Generation,
    /// The store's change count last synced into the pool.
    store_changes: Option<i64>,
}

/// Applies reloads to a running service.
#[derive(Debug)]
pub struct Reloader {
    source: ConfigSource,
    service: Arc<Switchyard>,
    store: Store,
    pool: Arc<CredentialPool>,
    state: tokio::sync::Mutex<State>,
}

impl Reloader {
    /// A reloader of `service`, which runs `started` (of hash `hash`) as generation 1.
    pub fn new(
        source: ConfigSource,
        started: Config,
        hash: String,
        service: Arc<Switchyard>,
        store: Store,
        pool: Arc<CredentialPool>,
    ) -> Self {
        let generation = Generation { number: 1, hash };
        tracing::info!(
            generation = 1,
            hash = %generation.hash,
            "config generation 1 live (sha256 {})",
            generation.hash
        );
        let live = service.live();
        // Generation 1 takes its hash, unknown when the service was built.
        service.replace_live(Live::new(
            &started,
            live.providers.clone(),
            generation.clone(),
        ));
        Self {
            source,
            service,
            store,
            pool,
            state: tokio::sync::Mutex::new(State {
                started,
                generation,
                store_changes: None,
            }),
        }
    }

    /// The live generation.
    pub fn generation(&self) -> Generation {
        self.service.live().generation.clone()
    }

    /// The config file, if there is one to watch.
    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// Reads the config again and applies it, or refuses it. Logs the outcome,
    /// naming `trigger` (`SIGHUP`, `file change`).
    pub async fn reload(&self, trigger: &str) -> Result<Reloaded, ReloadError> {
        let mut state = self.state.lock().await;
        let result = self.apply(&mut state).await;
        match &result {
            Ok(Reloaded::Applied {
                generation,
                needs_restart,
                credentials,
            }) => {
                tracing::info!(
                    trigger,
                    generation = generation.number,
                    hash = %generation.hash,
                    added = ?credentials.added,
                    replaced = ?credentials.replaced,
                    removed = ?credentials.removed,
                    "config generation {} live (sha256 {})",
                    generation.number,
                    generation.hash
                );
                if !needs_restart.is_empty() {
                    tracing::warn!(
                        trigger,
                        settings = ?needs_restart,
                        "changed settings need a restart to apply: {}; the rest of the config applies now",
                        needs_restart.join(", ")
                    );
                }
            }
            Ok(Reloaded::Unchanged) => tracing::info!(
                trigger,
                generation = state.generation.number,
                hash = %state.generation.hash,
                "config unchanged: generation {} stays live",
                state.generation.number
            ),
            Err(e) => tracing::error!(
                trigger,
                error = %e,
                generation = state.generation.number,
                "config reload refused: {e}; generation {} (sha256 {}) keeps serving",
                state.generation.number,
                state.generation.hash
            ),
        }
        result
    }

    async fn apply(&self, state: &mut State) -> Result<Reloaded, ReloadError> {
        let (config, hash) = self.source.load()?;
        // The sync moves the store's change count: the next poll of the store
        // finds the pool already in line, and changes nothing.
        let stored = crate::declared::load(&config, &self.store).await?;
        let credentials = self.pool.sync(stored);
        if hash == state.generation.hash && credentials.is_empty() {
            return Ok(Reloaded::Unchanged);
        }
        let generation = Generation {
            number: state.generation.number.saturating_add(1),
            hash,
        };
        let providers = Providers::with_http(&config, self.service.live().providers.http());
        self.service
            .replace_live(Live::new(&config, providers, generation.clone()));
        state.generation = generation.clone();
        Ok(Reloaded::Applied {
            generation,
            needs_restart: needs_restart(&state.started, &config),
            credentials,
        })
    }

    /// Syncs the pool with the store if the store's credentials changed since the
    /// last look (the CLI added, removed or replaced one). Returns the changes.
    pub async fn sync_store(&self) -> Result<PoolChanges, StoreError> {
        let changes = self.store.credential_changes().await?;
        let mut state = self.state.lock().await;
        if state.store_changes == Some(changes) {
            return Ok(PoolChanges::default());
        }
        let stored = self.store.credentials().await?;
        state.store_changes = Some(changes);
        // The rows may predate a put through the admin API that committed (and
        // reached the pool) since they were read: each disagreement is read
        // again by id before the pool follows it.
        let mut pool = PoolChanges::default();
        for id in self.pool.differing(&stored) {
            let row = self.store.credential(&id).await?;
            self.pool.apply_confirmed(&id, row, &mut pool);
        }
        pool.sort();
        if !pool.is_empty() {
            tracing::info!(
                added = ?pool.added,
                replaced = ?pool.replaced,
                removed = ?pool.removed,
                "credentials changed in the store: pool reloaded"
            );
        }
        Ok(pool)
    }
}
