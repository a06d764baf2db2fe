//! The config's sections below the top level: OAuth, caller auth, TLS, telemetry,
//! database, providers, callers, policy, limits and listeners, each with its defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::ProviderKind;

use super::defaults;
use super::keys::{KeyConfig, ProviderAuth};

/// OAuth refresh settings.
#[derive(Debug, Clone, Deserialize)]
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
    /// Most request trails held in memory, unwritten, while the store is down or
    /// slow; past it the oldest are dropped and counted.
    #[serde(default = "defaults::trail_buffer")]
    pub trail_buffer: u32,
    /// File of the master key that seals stored secrets (base64, 32 bytes), used
    /// when `SWITCHYARD_MASTER_KEY` is unset; created on first start. Default: the
    /// database path plus `.key`.
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    /// PostgreSQL: how often each replica re-reads every credential, the safety
    /// net of the change feed (a lost notification is repaired by then).
    #[serde(default = "defaults::resync_interval", with = "humantime_serde")]
    pub resync_interval: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: defaults::db_path(),
            url: None,
            trail_retention: defaults::trail_retention(),
            trail_buffer: defaults::trail_buffer(),
            master_key_file: None,
            resync_interval: defaults::resync_interval(),
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
    /// What its models can serve beyond text (all by default). A request that
    /// needs what a provider lacks skips it, with the reason in the trail.
    #[serde(default)]
    pub capabilities: CapabilitiesConfig,
}

/// `providers.<name>.capabilities`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesConfig {
    /// Image parts (`false` for a text-only model).
    #[serde(default = "defaults::yes")]
    pub images: bool,
    /// Tool definitions, calls and results.
    #[serde(default = "defaults::yes")]
    pub tools: bool,
}

impl Default for CapabilitiesConfig {
    fn default() -> Self {
        Self {
            images: true,
            tools: true,
        }
    }
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
