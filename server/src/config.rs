//! Configuration: explicit defaults, then the YAML file, then `SWITCHYARD__SECTION__KEY`
//! environment overrides, deserialised with `serde_path_to_error` so a bad field is
//! reported with its path. Cross-references (provider names) are checked here too.
//!
//! The environment is passed in as a value: nothing here reads or mutates the process
//! environment, so tests build configs directly.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::{ProviderKind, Target};
use crate::policy::{OutlierConfig, PolicyConfig, Routing, TaskRoute};

mod keys;
mod validate;

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

/// OAuth refresh settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Access tokens expiring within this window are refreshed before use.
    #[serde(default = "defaults::refresh_skew", with = "humantime_serde")]
    pub refresh_skew: Duration,
    /// Upper bound of one call to a token endpoint.
    #[serde(default = "defaults::refresh_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            refresh_skew: defaults::refresh_skew(),
            timeout: defaults::refresh_timeout(),
        }
    }
}

/// Caller authentication: SHA-256 hashes (hex) of the bearer tokens accepted.
/// `switchyard token new` makes a token and prints its hash.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Agents' tokens: `SwitchyardService`. Empty: agent calls need no token.
    #[serde(default)]
    pub client_token_sha256: Vec<String>,
    /// Operators' tokens: `CredentialService` (and agent calls). Empty: the admin
    /// API refuses every call.
    #[serde(default)]
    pub admin_token_sha256: Vec<String>,
}

/// TLS of the listener (rustls).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// PEM CA bundle: when set, clients must present a certificate it signed.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// Telemetry settings of the file. OTLP export itself is configured by `OTEL_*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Address of the Prometheus scrape endpoint (`GET /metrics`); off when unset.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Record prompt and completion text in attempt spans. Off by default: prompts
    /// are user data.
    #[serde(default)]
    pub capture_content: bool,
}

/// OTLP export settings, read from the standard OpenTelemetry environment variables.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelSettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (gRPC).
    pub endpoint: String,
    /// Traces are exported (`OTEL_TRACES_EXPORTER` is not `none`).
    pub traces: bool,
    /// Metrics are exported (`OTEL_METRICS_EXPORTER` is not `none`).
    pub metrics: bool,
    /// `OTEL_SERVICE_NAME`, default `switchyard`.
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, `k=v,k=v`.
    pub resource_attributes: Vec<(String, String)>,
    /// `OTEL_TRACES_SAMPLER`, default `parentbased_always_on`.
    pub sampler: String,
    /// `OTEL_TRACES_SAMPLER_ARG`, the ratio of `*traceidratio` samplers.
    pub sampler_arg: Option<f64>,
    /// `OTEL_METRIC_EXPORT_INTERVAL` (ms), default 60 s.
    pub metric_interval: Duration,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` (ms), default 10 s.
    pub timeout: Duration,
}

impl OtelSettings {
    /// Reads the settings from environment pairs; `None` when export is off
    /// (`OTEL_SDK_DISABLED=true`, or no endpoint).
    pub fn from_env(env: &[(String, String)]) -> Option<Self> {
        let get = |k: &str| {
            env.iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT")?;
        let ms = |k: &str, default: u64| {
            Duration::from_millis(get(k).and_then(|v| v.parse().ok()).unwrap_or(default))
        };
        Some(Self {
            endpoint,
            traces: get("OTEL_TRACES_EXPORTER").is_none_or(|v| v != "none"),
            metrics: get("OTEL_METRICS_EXPORTER").is_none_or(|v| v != "none"),
            service_name: get("OTEL_SERVICE_NAME").unwrap_or_else(|| "switchyard".into()),
            resource_attributes: get("OTEL_RESOURCE_ATTRIBUTES")
                .map(|v| {
                    v.split(',')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            sampler: get("OTEL_TRACES_SAMPLER").unwrap_or_else(|| "parentbased_always_on".into()),
            sampler_arg: get("OTEL_TRACES_SAMPLER_ARG").and_then(|v| v.parse().ok()),
            metric_interval: ms("OTEL_METRIC_EXPORT_INTERVAL", 60_000),
            timeout: ms("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000),
        })
    }

    /// The OpenTelemetry resource: service name and resource attributes.
    pub fn resource(&self) -> opentelemetry_sdk::Resource {
        opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(self.service_name.clone())
            .with_attributes(
                self.resource_attributes
                    .iter()
                    .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone())),
            )
            .build()
    }
}

/// Store settings: a SQLite file, or PostgreSQL when `url` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Path of the SQLite file (unused when `url` is set).
    #[serde(default = "defaults::db_path")]
    pub path: PathBuf,
    /// `postgres://` URL of a PostgreSQL database; `DATABASE_URL` from the
    /// environment takes precedence. Secret: it may hold a password.
    #[serde(default)]
    pub url: Option<secrecy::SecretString>,
    /// How many request trails are kept for ExplainFallback.
    #[serde(default = "defaults::trail_retention")]
    pub trail_retention: u32,
    /// File of the master key that seals stored secrets (base64, 32 bytes), used
    /// when `SWITCHYARD_MASTER_KEY` is unset; created on first start. Default: the
    /// database path plus `.key`.
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: defaults::db_path(),
            url: None,
            trail_retention: defaults::trail_retention(),
            master_key_file: None,
        }
    }
}

/// One provider endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Wire protocol.
    pub kind: ProviderKind,
    /// Base URL: `https://api.openai.com/v1` (openai) or `https://api.anthropic.com` (anthropic).
    pub base_url: String,
    /// Upper bound of one attempt (of a streamed attempt: up to its first token).
    #[serde(default = "defaults::provider_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Streams: longest wait from the request to the first content token. A
    /// stream that has not produced one by then is a failed attempt (and fails over).
    #[serde(default = "defaults::first_token_timeout", with = "humantime_serde")]
    pub first_token_timeout: Duration,
    /// Streams: longest silence between two events once text is flowing. A stream
    /// silent for longer ends with `STREAM_INTERRUPTED`.
    #[serde(default = "defaults::stream_idle_timeout", with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
    /// Order of the provider's keys: `fill_first` (default), `round_robin`, `least_used`.
    #[serde(default)]
    pub pool_strategy: crate::credentials::PoolStrategy,
    /// Environment variable holding a key (priority 0), read at start.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding a key (priority 0), read at start.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Further keys, each `{env: VAR}` or `{file: PATH}` with a `priority`.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// `key` (default) or `none`: calls to a provider without auth carry no key.
    #[serde(default)]
    pub auth: ProviderAuth,
}

/// A provider and a model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
}

/// The main agent model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MainModelConfig {
    /// Provider name.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Budget of one primary call.
    #[serde(default = "defaults::main_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Fallbacks of the primary caller, and the tail of every task's last resort.
    #[serde(default)]
    pub fallback_providers: Vec<TargetConfig>,
    /// Context window of the primary caller's models, in tokens, reported by
    /// `GET /v1/models` so agents know when to compress.
    #[serde(default)]
    pub context_window: Option<u32>,
    /// Longest answer of the primary caller's models, in tokens, reported likewise.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
}

/// What `GET /v1/models` reports of a caller's models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelWindow {
    /// Context window, in tokens.
    pub context_window: Option<u32>,
    /// Longest answer, in tokens.
    pub max_output_tokens: Option<u32>,
}

impl MainModelConfig {
    /// The primary caller's window.
    pub fn window(&self) -> ModelWindow {
        ModelWindow {
            context_window: self.context_window,
            max_output_tokens: self.max_output_tokens,
        }
    }
}

/// An auxiliary task.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuxConfig {
    /// Provider name, or `auto` for the main provider.
    #[serde(default = "defaults::auto")]
    pub provider: String,
    /// Model; defaults to the main model's.
    #[serde(default)]
    pub model: Option<String>,
    /// Budget of one call.
    #[serde(default = "defaults::task_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The task's own fallbacks, tried in order.
    #[serde(default)]
    pub fallback_chain: Vec<TargetConfig>,
    /// Whether the main model and its fallbacks are tried last.
    #[serde(default = "defaults::yes")]
    pub last_resort: bool,
    /// Context window of the task's models, in tokens; defaults to the main model's.
    #[serde(default)]
    pub context_window: Option<u32>,
    /// Longest answer of the task's models, in tokens; defaults to the main model's.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
}

impl AuxConfig {
    /// The task's window, the main model's where the task sets none.
    pub fn window(&self, main: ModelWindow) -> ModelWindow {
        ModelWindow {
            context_window: self.context_window.or(main.context_window),
            max_output_tokens: self.max_output_tokens.or(main.max_output_tokens),
        }
    }
}

/// Policy tunables (see the README's policy table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// Retries of the same candidate on overloaded, server, transport, unknown.
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// First backoff delay.
    #[serde(default = "defaults::backoff_base", with = "humantime_serde")]
    pub backoff_base: Duration,
    /// Largest backoff delay.
    #[serde(default = "defaults::backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Longest Retry-After waited for on a 429.
    #[serde(default = "defaults::rate_limit_max_wait", with = "humantime_serde")]
    pub rate_limit_max_wait: Duration,
    /// Cooldown of a key refused with 401.
    #[serde(default = "defaults::auth_cooldown", with = "humantime_serde")]
    pub auth_cooldown: Duration,
    /// Cooldown of a key out of credit, without a provider reset time.
    #[serde(default = "defaults::billing_cooldown", with = "humantime_serde")]
    pub billing_cooldown: Duration,
    /// Cooldown of a rate-limited key, without a provider reset time.
    #[serde(default = "defaults::rate_limit_cooldown", with = "humantime_serde")]
    pub rate_limit_cooldown: Duration,
    /// Smallest budget an attempt may start with.
    #[serde(default = "defaults::min_attempt", with = "humantime_serde")]
    pub min_attempt: Duration,
    /// Longest cooldown or ejection, provider `Retry-After` and reset times included.
    #[serde(default = "defaults::max_cooldown", with = "humantime_serde")]
    pub max_cooldown: Duration,
    /// Outlier detection: when failures in a row eject a key.
    #[serde(default)]
    pub outlier: OutlierSettings,
}

/// Failures in a row that eject a key, per error class (see the README's policy).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierSettings {
    /// 401 without a refresh to recover it.
    #[serde(default = "defaults::outlier_auth")]
    pub auth: u32,
    /// 429 without `Retry-After`.
    #[serde(default = "defaults::outlier_rate_limit")]
    pub rate_limit: u32,
    /// 529 / 503 overloaded.
    #[serde(default = "defaults::outlier_5xx")]
    pub overloaded: u32,
    /// Other 5xx and unreadable answers.
    #[serde(default = "defaults::outlier_5xx")]
    pub server: u32,
    /// Connection failures and timeouts.
    #[serde(default = "defaults::outlier_5xx")]
    pub transport: u32,
    /// First ejection of an overloaded, server or transport outlier (doubles with
    /// each ejection; `auth` and `rate_limit` start at their own cooldowns).
    #[serde(default = "defaults::base_ejection", with = "humantime_serde")]
    pub base_ejection: Duration,
}

impl Default for OutlierSettings {
    fn default() -> Self {
        Self {
            auth: defaults::outlier_auth(),
            rate_limit: defaults::outlier_rate_limit(),
            overloaded: defaults::outlier_5xx(),
            server: defaults::outlier_5xx(),
            transport: defaults::outlier_5xx(),
            base_ejection: defaults::base_ejection(),
        }
    }
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            max_retries: defaults::max_retries(),
            backoff_base: defaults::backoff_base(),
            backoff_max: defaults::backoff_max(),
            rate_limit_max_wait: defaults::rate_limit_max_wait(),
            auth_cooldown: defaults::auth_cooldown(),
            billing_cooldown: defaults::billing_cooldown(),
            rate_limit_cooldown: defaults::rate_limit_cooldown(),
            min_attempt: defaults::min_attempt(),
            max_cooldown: defaults::max_cooldown(),
            outlier: OutlierSettings::default(),
        }
    }
}

/// Request limits; larger requests are refused with `InvalidArgument`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Total bytes of message content.
    #[serde(default = "defaults::max_request_bytes")]
    pub max_request_bytes: usize,
    /// Number of messages.
    #[serde(default = "defaults::max_messages")]
    pub max_messages: usize,
    /// Largest accepted `max_tokens`.
    #[serde(default = "defaults::max_tokens")]
    pub max_tokens: u32,
    /// Largest provider response body read; a larger one is a failed attempt
    /// (`invalid_request`: not retried on the same candidate).
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: usize,
    /// Largest inline (base64) image of a request, in decoded bytes.
    #[serde(default = "defaults::max_image_bytes")]
    pub max_image_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: defaults::max_request_bytes(),
            max_messages: defaults::max_messages(),
            max_tokens: defaults::max_tokens(),
            max_response_bytes: defaults::max_response_bytes(),
            max_image_bytes: defaults::max_image_bytes(),
        }
    }
}

/// Limits of every listener: how many connections it holds, and how long a
/// connection may stay silent or idle. They bound what a slow or greedy client
/// can hold; each listener (gRPC, the HTTP front door, metrics) has its own cap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSettings {
    /// Most connections open at once on one listener; further clients wait in the
    /// accept queue until one closes.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Longest time to receive a request's headers (HTTP/1), or a connection's first
    /// request (HTTP/2, gRPC), once the connection is open.
    #[serde(default = "defaults::header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection with no call in flight for this long is closed.
    #[serde(default = "defaults::idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// HTTP front door: longest time to receive a request body.
    #[serde(default = "defaults::body_read_timeout", with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// gRPC: interval of the HTTP/2 keep-alive pings the server sends.
    #[serde(default = "defaults::keepalive_interval", with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// gRPC: a ping unanswered for this long closes the connection (a dead peer).
    #[serde(default = "defaults::keepalive_timeout", with = "humantime_serde")]
    pub keepalive_timeout: Duration,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        Self {
            max_connections: defaults::max_connections(),
            header_read_timeout: defaults::header_read_timeout(),
            idle_timeout: defaults::idle_timeout(),
            body_read_timeout: defaults::body_read_timeout(),
            keepalive_interval: defaults::keepalive_interval(),
            keepalive_timeout: defaults::keepalive_timeout(),
        }
    }
}

mod defaults {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    pub fn listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 50051))
    }
    pub fn db_path() -> PathBuf {
        PathBuf::from("switchyard.db")
    }
    pub fn trail_retention() -> u32 {
        10_000
    }
    pub fn provider_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub fn first_token_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub fn stream_idle_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn main_timeout() -> Duration {
        Duration::from_secs(120)
    }
    pub fn task_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub fn auto() -> String {
        "auto".into()
    }
    pub fn yes() -> bool {
        true
    }
    pub fn max_retries() -> u32 {
        2
    }
    pub fn backoff_base() -> Duration {
        Duration::from_millis(250)
    }
    pub fn backoff_max() -> Duration {
        Duration::from_secs(5)
    }
    pub fn rate_limit_max_wait() -> Duration {
        Duration::from_secs(10)
    }
    pub fn auth_cooldown() -> Duration {
        Duration::from_secs(300)
    }
    pub fn billing_cooldown() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn rate_limit_cooldown() -> Duration {
        Duration::from_secs(60)
    }
    pub fn max_cooldown() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn outlier_auth() -> u32 {
        3
    }
    pub fn outlier_rate_limit() -> u32 {
        3
    }
    pub fn outlier_5xx() -> u32 {
        5
    }
    pub fn base_ejection() -> Duration {
        Duration::from_secs(30)
    }
    pub fn min_attempt() -> Duration {
        Duration::from_millis(200)
    }
    pub fn max_request_bytes() -> usize {
        4 * 1024 * 1024
    }
    pub fn max_messages() -> usize {
        2048
    }
    pub fn max_tokens() -> u32 {
        1_000_000
    }
    pub fn max_response_bytes() -> usize {
        32 * 1024 * 1024
    }
    pub fn max_image_bytes() -> usize {
        20 * 1024 * 1024
    }
    pub fn max_connections() -> usize {
        1024
    }
    pub fn header_read_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn idle_timeout() -> Duration {
        Duration::from_secs(120)
    }
    pub fn body_read_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn keepalive_interval() -> Duration {
        Duration::from_secs(30)
    }
    pub fn keepalive_timeout() -> Duration {
        Duration::from_secs(20)
    }
    pub fn refresh_skew() -> Duration {
        Duration::from_secs(60)
    }
    pub fn refresh_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn shutdown_grace() -> Duration {
        Duration::from_secs(30)
    }
}

// === impl Config ===

impl Config {
    /// Parses YAML text, applies `env` overrides and checks cross-references.
    /// `source_name` names the text in errors.
    pub fn from_yaml(
        text: &str,
        source_name: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let field = |path: String, message: String| ConfigError::Field {
            source_name: source_name.to_owned(),
            path,
            message,
        };
        let mut value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| field(".".into(), e.to_string()))?;
        for (key, raw) in &env {
            let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            apply_override(&mut value, rest, raw).map_err(|m| field(format!("env {key}"), m))?;
        }
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            field(path, e.into_inner().to_string())
        })?;
        config.check().map_err(|(path, m)| field(path, m))?;
        validate::impossible_values(&config).map_err(|(path, m)| field(path, m))?;
        config.otel = OtelSettings::from_env(&env);
        config.master_key_env = env
            .iter()
            .rev()
            .find(|(k, _)| k == crate::crypto::MASTER_KEY_ENV)
            .map(|(_, v)| secrecy::SecretString::from(v.clone()));
        if let Some((_, url)) = env.iter().rev().find(|(k, _)| k == DATABASE_URL_ENV) {
            config.database.url = Some(secrecy::SecretString::from(url.clone()));
        }
        Ok(config)
    }

    /// Reads `path`, or the embedded example when `path` is `None`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        match path {
            None => Self::from_yaml(EXAMPLE_YAML, "<embedded example>", env),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::from_yaml(&text, &path.display().to_string(), env)
            }
        }
    }

    fn check(&self) -> Result<(), (String, String)> {
        for (name, p) in &self.providers {
            keys::check_keys(name, p)?;
            let url = reqwest::Url::parse(&p.base_url)
                .map_err(|e| (format!("providers.{name}.base_url"), e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err((
                    format!("providers.{name}.base_url"),
                    "scheme must be http or https".into(),
                ));
            }
            for (field, value) in [
                ("timeout", p.timeout),
                ("first_token_timeout", p.first_token_timeout),
                ("stream_idle_timeout", p.stream_idle_timeout),
            ] {
                if value.is_zero() {
                    return Err((
                        format!("providers.{name}.{field}"),
                        "must be positive".into(),
                    ));
                }
            }
        }
        let known = |path: String, provider: &str| -> Result<(), (String, String)> {
            if self.providers.contains_key(provider) {
                Ok(())
            } else {
                Err((path, format!("unknown provider {provider:?}")))
            }
        };
        known("model.provider".into(), &self.model.provider)?;
        for (i, t) in self.model.fallback_providers.iter().enumerate() {
            known(
                format!("model.fallback_providers[{i}].provider"),
                &t.provider,
            )?;
        }
        for (task, aux) in &self.auxiliary {
            if task.is_empty()
                || !task
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return Err((
                    format!("auxiliary.{task}"),
                    "task names use lowercase letters, digits, '_' and '-'".into(),
                ));
            }
            if aux.provider != "auto" {
                known(format!("auxiliary.{task}.provider"), &aux.provider)?;
            }
            for (i, t) in aux.fallback_chain.iter().enumerate() {
                known(
                    format!("auxiliary.{task}.fallback_chain[{i}].provider"),
                    &t.provider,
                )?;
            }
        }
        for (field, hashes) in [
            ("auth.client_token_sha256", &self.auth.client_token_sha256),
            ("auth.admin_token_sha256", &self.auth.admin_token_sha256),
        ] {
            for (i, h) in hashes.iter().enumerate() {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err((
                        format!("{field}[{i}]"),
                        "a SHA-256 hash in hex (64 characters); `switchyard token new` prints one"
                            .into(),
                    ));
                }
            }
        }
        if self.policy.backoff_base > self.policy.backoff_max {
            return Err((
                "policy.backoff_base".into(),
                "must not exceed policy.backoff_max".into(),
            ));
        }
        self.check_outlier()?;
        Ok(())
    }

    /// Refuses cooldown and outlier settings that cannot mean what they say.
    fn check_outlier(&self) -> Result<(), (String, String)> {
        let p = &self.policy;
        let positive = [
            ("policy.max_cooldown", p.max_cooldown),
            ("policy.outlier.base_ejection", p.outlier.base_ejection),
        ];
        for (field, value) in positive {
            if value.is_zero() {
                return Err((field.into(), "must be positive".into()));
            }
        }
        let capped = [
            ("policy.auth_cooldown", p.auth_cooldown),
            ("policy.billing_cooldown", p.billing_cooldown),
            ("policy.rate_limit_cooldown", p.rate_limit_cooldown),
            ("policy.outlier.base_ejection", p.outlier.base_ejection),
        ];
        for (field, value) in capped {
            if value > p.max_cooldown {
                return Err((
                    field.into(),
                    "must not exceed policy.max_cooldown, which caps every cooldown".into(),
                ));
            }
        }
        let o = &p.outlier;
        let thresholds = [
            ("auth", o.auth),
            ("rate_limit", o.rate_limit),
            ("overloaded", o.overloaded),
            ("server", o.server),
            ("transport", o.transport),
        ];
        for (class, n) in thresholds {
            if !(1..=1000).contains(&n) {
                return Err((
                    format!("policy.outlier.{class}"),
                    "failures in a row that eject a key: from 1 (eject at once) to 1000".into(),
                ));
            }
        }
        Ok(())
    }

    /// The routing table of the policy.
    pub fn routing(&self) -> Routing {
        let target = |t: &TargetConfig| Target {
            provider: t.provider.as_str().into(),
            model: t.model.as_str().into(),
        };
        let tasks = self
            .auxiliary
            .iter()
            .map(|(name, aux)| {
                let route = TaskRoute {
                    provider: (aux.provider != "auto").then(|| aux.provider.as_str().into()),
                    model: aux.model.as_deref().map(Arc::from),
                    fallback_chain: aux.fallback_chain.iter().map(target).collect(),
                    last_resort: aux.last_resort,
                    timeout_ms: millis(aux.timeout),
                };
                (name.clone(), route)
            })
            .collect();
        let base_urls: HashMap<Arc<str>, Arc<str>> = self
            .providers
            .iter()
            .map(|(name, p)| {
                (
                    Arc::from(name.as_str()),
                    Arc::from(p.base_url.trim_end_matches('/')),
                )
            })
            .collect();
        Routing {
            main: Target {
                provider: self.model.provider.as_str().into(),
                model: self.model.model.as_str().into(),
            },
            main_fallbacks: self.model.fallback_providers.iter().map(target).collect(),
            main_timeout_ms: millis(self.model.timeout),
            tasks,
            default_task_timeout_ms: millis(defaults::task_timeout()),
            base_urls,
        }
    }

    /// The policy tunables, in milliseconds.
    pub fn policy(&self) -> PolicyConfig {
        let p = &self.policy;
        PolicyConfig {
            max_retries: p.max_retries,
            backoff_base_ms: millis(p.backoff_base),
            backoff_max_ms: millis(p.backoff_max),
            rate_limit_max_wait_ms: millis(p.rate_limit_max_wait),
            auth_cooldown_ms: millis(p.auth_cooldown),
            billing_cooldown_ms: millis(p.billing_cooldown),
            rate_limit_cooldown_ms: millis(p.rate_limit_cooldown),
            min_attempt_ms: millis(p.min_attempt),
            max_cooldown_ms: millis(p.max_cooldown),
            refresh_skew_ms: millis(self.oauth.refresh_skew),
            outlier: OutlierConfig {
                auth: p.outlier.auth,
                rate_limit: p.outlier.rate_limit,
                overloaded: p.outlier.overloaded,
                server: p.outlier.server,
                transport: p.outlier.transport,
                base_ejection_ms: millis(p.outlier.base_ejection),
            },
        }
    }

    /// The master key file in use.
    pub fn master_key_file(&self) -> PathBuf {
        self.database
            .master_key_file
            .clone()
            .unwrap_or_else(|| crate::crypto::default_key_file(&self.database.path))
    }

    /// Each provider's key pool strategy.
    pub fn pool_strategies(&self) -> HashMap<Arc<str>, crate::credentials::PoolStrategy> {
        self.providers
            .iter()
            .map(|(name, p)| (Arc::from(name.as_str()), p.pool_strategy))
            .collect()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sets `MODEL__FALLBACK_PROVIDERS__0__MODEL`-style paths inside a YAML value.
/// A segment names an existing key whatever its case (a new key is lower case); a
/// number indexes a sequence, made if absent and grown by one at its end; the value
/// is parsed as YAML.
fn apply_override(root: &mut serde_norway::Value, path: &str, raw: &str) -> Result<(), String> {
    use serde_norway::Value;
    let parsed: Value = serde_norway::from_str(raw).unwrap_or_else(|_| Value::String(raw.into()));
    let mut node = root;
    let segments: Vec<&str> = path.split("__").collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("empty path segment".into());
    }
    let mut parsed = Some(parsed);
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let index = seg.parse::<usize>().ok();
        // An absent list is made by its first index, so `..__FALLBACK_PROVIDERS__0__MODEL`
        // works whether or not the file has the list.
        if index.is_some() && !matches!(node, Value::Sequence(_) | Value::Mapping(_)) {
            *node = Value::Sequence(Vec::new());
        }
        if let Value::Sequence(items) = node {
            let idx = index.ok_or_else(|| format!("{seg:?} is not an index of a list"))?;
            if idx == items.len() {
                items.push(Value::Null);
            }
            let len = items.len();
            let item = items.get_mut(idx).ok_or_else(|| {
                format!("index {idx} is past the end of the list ({len} items; add them in order)")
            })?;
            if last {
                *item = parsed.take().unwrap_or(Value::Null);
                return Ok(());
            }
            node = item;
            continue;
        }
        if !matches!(node, Value::Mapping(_)) {
            *node = Value::Mapping(Default::default());
        }
        let Value::Mapping(map) = node else {
            return Err("internal: not a mapping".into());
        };
        // Environment names are upper case: match the keys the file already has
        // whatever their case (a provider `OpenAI` or `a`), refuse an ambiguous
        // match, and write a new key in lower case like every field name.
        let matches: Vec<Value> = map
            .keys()
            .filter(|k| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(seg)))
            .cloned()
            .collect();
        let key = match &matches[..] {
            [] => Value::String(seg.to_ascii_lowercase()),
            [one] => one.clone(),
            many => {
                let names: Vec<&str> = many.iter().filter_map(Value::as_str).collect();
                return Err(format!(
                    "{seg:?} matches several keys that differ only in case: {}",
                    names.join(", ")
                ));
            }
        };
        if last {
            map.insert(key, parsed.take().unwrap_or(Value::Null));
            return Ok(());
        }
        node = map.entry(key).or_insert(Value::Null);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "
providers:
  p: {kind: openai, base_url: 'http://127.0.0.1:1/v1'}
model: {provider: p, model: m}
";

    #[test]
    fn the_embedded_example_is_valid() {
        let c = Config::load(None, []).unwrap();
        assert!(c.providers.len() >= 2);
    }

    #[test]
    fn defaults_fill_what_the_file_omits() {
        let c = Config::from_yaml(MINIMAL, "t", []).unwrap();
        assert_eq!(c.policy.max_retries, 2);
        assert_eq!(c.database.path, PathBuf::from("switchyard.db"));
        assert_eq!(c.model.timeout, Duration::from_secs(120));
    }

    #[test]
    fn a_bad_field_is_reported_with_its_path() {
        let text = format!("{MINIMAL}auxiliary:\n  compression:\n    timeout: soon\n");
        let err = Config::from_yaml(&text, "t.yaml", [])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.yaml: auxiliary.compression.timeout:"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = format!("{MINIMAL}polcy: {{}}\n");
        let err = Config::from_yaml(&text, "t", []).unwrap_err().to_string();
        assert!(err.contains("polcy"), "{err}");
    }

    #[test]
    fn an_unknown_provider_reference_names_the_field() {
        let text = format!(
            "{MINIMAL}auxiliary:\n  vision:\n    provider: p\n    fallback_chain: [{{provider: nope, model: x}}]\n"
        );
        let err = Config::from_yaml(&text, "t", []).unwrap_err().to_string();
        assert!(
            err.contains("auxiliary.vision.fallback_chain[0].provider"),
            "{err}"
        );
    }

    #[test]
    fn database_url_from_the_file_or_database_url_selects_postgres() {
        use secrecy::ExposeSecret as _;
        let c = Config::from_yaml(MINIMAL, "t", []).unwrap();
        assert!(c.database.url.is_none(), "SQLite stays the default");
        let text = format!("{MINIMAL}\ndatabase: {{ url: 'postgres://file/db' }}\n");
        let c = Config::from_yaml(&text, "t", []).unwrap();
        let url = c
            .database
            .url
            .as_ref()
            .map(|u| u.expose_secret().to_owned());
        assert_eq!(url.as_deref(), Some("postgres://file/db"));
        let env = [(DATABASE_URL_ENV.to_owned(), "postgres://env/db".to_owned())];
        let c = Config::from_yaml(&text, "t", env).unwrap();
        let url = c
            .database
            .url
            .as_ref()
            .map(|u| u.expose_secret().to_owned());
        assert_eq!(
            url.as_deref(),
            Some("postgres://env/db"),
            "the environment wins"
        );
        assert!(
            !format!("{c:?}").contains("postgres://env"),
            "Debug redacts the URL"
        );
    }

    #[test]
    fn an_env_override_matches_an_existing_provider_whatever_its_case() {
        let text = MINIMAL
            .replace("  p:", "  MyProv:")
            .replace("provider: p", "provider: MyProv");
        let env = [(
            "SWITCHYARD__PROVIDERS__MYPROV__TIMEOUT".to_owned(),
            "7s".to_owned(),
        )];
        let c = Config::from_yaml(&text, "t", env).unwrap();
        assert_eq!(c.providers.len(), 1, "{:?}", c.providers.keys());
        assert_eq!(c.providers["MyProv"].timeout, Duration::from_secs(7));
    }

    #[test]
    fn an_env_override_matching_two_keys_by_case_is_refused() {
        let text = "
providers:
  p: {kind: openai, base_url: 'http://127.0.0.1:1/v1'}
  P: {kind: openai, base_url: 'http://127.0.0.1:2/v1'}
model: {provider: p, model: m}
";
        Config::from_yaml(text, "t", []).unwrap();
        let env = [(
            "SWITCHYARD__PROVIDERS__P__TIMEOUT".to_owned(),
            "7s".to_owned(),
        )];
        let err = Config::from_yaml(text, "t", env).unwrap_err().to_string();
        assert!(
            err.contains("env SWITCHYARD__PROVIDERS__P__TIMEOUT"),
            "{err}"
        );
        assert!(err.contains("differ only in case"), "{err}");
    }

    #[test]
    fn a_numeric_env_segment_makes_a_list_the_file_does_not_have() {
        let env = [
            (
                "SWITCHYARD__MODEL__FALLBACK_PROVIDERS__0__PROVIDER".to_owned(),
                "p".to_owned(),
            ),
            (
                "SWITCHYARD__MODEL__FALLBACK_PROVIDERS__0__MODEL".to_owned(),
                "x".to_owned(),
            ),
        ];
        let c = Config::from_yaml(MINIMAL, "t", env).unwrap();
        assert_eq!(c.model.fallback_providers.len(), 1);
        assert_eq!(c.model.fallback_providers[0].model, "x");
        // An index past the end is a clear error, not a silent gap.
        let env = [(
            "SWITCHYARD__MODEL__FALLBACK_PROVIDERS__3__MODEL".to_owned(),
            "x".to_owned(),
        )];
        let err = Config::from_yaml(MINIMAL, "t", env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("past the end"), "{err}");
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let env = [
            ("SWITCHYARD__MODEL__MODEL".to_owned(), "m2".to_owned()),
            ("SWITCHYARD__POLICY__MAX_RETRIES".to_owned(), "5".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let c = Config::from_yaml(MINIMAL, "t", env).unwrap();
        assert_eq!(c.model.model, "m2");
        assert_eq!(c.policy.max_retries, 5);
    }

    #[test]
    fn a_bad_env_override_names_the_variable() {
        let env = [(
            "SWITCHYARD__POLICY__MAX_RETRIES".to_owned(),
            "many".to_owned(),
        )];
        let err = Config::from_yaml(MINIMAL, "t", env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.max_retries"), "{err}");
    }

    #[test]
    fn otel_export_is_off_without_an_endpoint_and_reads_the_standard_variables() {
        assert_eq!(Config::from_yaml(MINIMAL, "t", []).unwrap().otel, None);
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_SERVICE_NAME", "gw"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let otel = Config::from_yaml(MINIMAL, "t", env.clone())
            .unwrap()
            .otel
            .unwrap();
        assert_eq!(otel.service_name, "gw");
        assert_eq!(otel.sampler_arg, Some(0.25));
        assert!(otel.traces && !otel.metrics);
        let mut disabled = env.to_vec();
        disabled.push(("OTEL_SDK_DISABLED".into(), "true".into()));
        assert_eq!(
            Config::from_yaml(MINIMAL, "t", disabled).unwrap().otel,
            None
        );
    }

    #[test]
    fn outlier_settings_have_defaults_and_reach_the_policy() {
        let c = Config::from_yaml(MINIMAL, "t", []).unwrap();
        let p = c.policy();
        assert_eq!(p.max_cooldown_ms, 3_600_000);
        assert_eq!(p.refresh_skew_ms, 60_000);
        assert_eq!(p.outlier, OutlierConfig::default());
        let text = format!(
            "{MINIMAL}policy: {{max_cooldown: 2h, outlier: {{auth: 1, transport: 7, base_ejection: 5s}}}}\n"
        );
        let p = Config::from_yaml(&text, "t", []).unwrap().policy();
        assert_eq!(p.max_cooldown_ms, 7_200_000);
        assert_eq!((p.outlier.auth, p.outlier.rate_limit), (1, 3));
        assert_eq!(
            (p.outlier.transport, p.outlier.base_ejection_ms),
            (7, 5_000)
        );
        let env = [(
            "SWITCHYARD__POLICY__OUTLIER__SERVER".to_owned(),
            "9".to_owned(),
        )];
        let p = Config::from_yaml(MINIMAL, "t", env).unwrap().policy();
        assert_eq!(p.outlier.server, 9);
    }

    #[test]
    fn nonsense_cooldown_and_outlier_settings_are_refused_with_their_path() {
        for (policy, field) in [
            ("{max_cooldown: 0s}", "policy.max_cooldown"),
            (
                "{outlier: {base_ejection: 0s}}",
                "policy.outlier.base_ejection",
            ),
            ("{outlier: {auth: 0}}", "policy.outlier.auth"),
            ("{outlier: {server: 100000}}", "policy.outlier.server"),
            ("{max_cooldown: 1m}", "policy.auth_cooldown"),
            (
                "{max_cooldown: 2h, billing_cooldown: 3h}",
                "policy.billing_cooldown",
            ),
            (
                "{outlier: {base_ejection: 2h}}",
                "policy.outlier.base_ejection",
            ),
            ("{outlier: {rate_limit: -1}}", "policy.outlier.rate_limit"),
            ("{outlier: {overlaoded: 3}}", "overlaoded"),
        ] {
            let text = format!("{MINIMAL}policy: {policy}\n");
            let err = Config::from_yaml(&text, "t", []).unwrap_err().to_string();
            assert!(err.contains(field), "{policy}: {err}");
        }
    }

    #[test]
    fn auto_tasks_route_to_the_main_provider() {
        let text = format!("{MINIMAL}auxiliary:\n  title_generation: {{}}\n");
        let c = Config::from_yaml(&text, "t", []).unwrap();
        assert_eq!(c.routing().tasks["title_generation"].provider, None);
    }
}
