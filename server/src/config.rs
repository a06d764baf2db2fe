//! Configuration: explicit defaults, then the YAML file, then `SWITCHYARD__SECTION__KEY`
//! environment overrides, deserialised with `serde_path_to_error` so a bad field is
//! reported with its path. Cross-references (provider names) are checked here too.
//!
//! The environment is passed in as a value: nothing here reads or mutates the process
//! environment, so tests build configs directly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

mod defaults;
mod keys;
mod load;
mod sections;
#[cfg(test)]
mod tests;
mod validate;

pub use sections::*;

pub use keys::{DeclaredKey, KeyConfig, KeySource, ProviderAuth};

/// The example configuration, embedded: `switchyard serve` runs on it when no
/// config file exists.
pub const EXAMPLE_YAML: &str = include_str!("../switchyard.example.yaml");

/// The PostgreSQL URL from the environment, as most tools spell it.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// Prefix of environment overrides: `SWITCHYARD__MODEL__MODEL=gpt-5`.
pub const ENV_PREFIX: &str = "SWITCHYARD__";

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Invalid YAML, or a field of the wrong type.
    #[error("{source_name}: {path}: {message}")]
    Field {
        /// File name or `<embedded example>`.
        source_name: String,
        /// Path of the bad field, e.g. `auxiliary.compression.timeout`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Listen address of the OpenAI-compatible HTTP front door
    /// (`/v1/chat/completions`, `/v1/models`); off when unset.
    #[serde(default)]
    pub openai_listen: Option<SocketAddr>,
    /// SQLite store.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Providers by name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// The main agent model.
    pub model: MainModelConfig,
    /// Auxiliary tasks by name.
    #[serde(default)]
    pub auxiliary: BTreeMap<String, AuxConfig>,
    /// Policy tunables.
    #[serde(default)]
    pub policy: PolicySettings,
    /// Request limits.
    #[serde(default)]
    pub limits: Limits,
    /// Connection limits and timeouts of every listener (gRPC, HTTP front door, metrics).
    #[serde(default)]
    pub listeners: ListenerSettings,
    /// Metrics endpoint and trace content.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// OAuth refresh of provider credentials.
    #[serde(default)]
    pub oauth: OAuthConfig,
    /// Caller authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// TLS of the gRPC listener; plaintext when absent.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// How long in-flight calls may run after SIGTERM before the process exits.
    #[serde(default = "defaults::shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// OpenTelemetry export, from the standard `OTEL_*` environment variables
    /// (not from the file). `None` when no OTLP endpoint is set.
    #[serde(skip)]
    pub otel: Option<OtelSettings>,
    /// `SWITCHYARD_MASTER_KEY` from the environment (base64), if set.
    #[serde(skip)]
    pub master_key_env: Option<secrecy::SecretString>,
}
