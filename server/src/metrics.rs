//! Metrics: OpenTelemetry instruments, exported through a Prometheus scrape endpoint
//! (always) and OTLP (when `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
//!
//! Owns the meter provider and the instruments; recording takes domain values (a
//! finished request's caller and trail). Knows nothing of gRPC or the policy's
//! internals; the policy never records anything itself. The per-request counts
//! are kept in a [`tally`] and read when the exporters collect.

mod tally;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use prometheus::{Encoder, TextEncoder};

use crate::clock::wall_ms;
use crate::config::OtelSettings;
use crate::credentials::CredentialPool;
use crate::domain::{Caller, FailureReason, Step};
use crate::feed::Feed;
use crate::status::{Component, Status};
use crate::writer::Recorder;

use tally::Tally;

/// A metrics setup failure.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The Prometheus exporter could not be built.
    #[error("prometheus exporter: {0}")]
    Prometheus(String),
    /// The OTLP exporter could not be built.
    #[error("OTLP metrics exporter: {0}")]
    Otlp(String),
}

/// The instruments and their exporters.
#[derive(Debug, Clone)]
pub struct Metrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
    /// Requests, steps, attempts and fallbacks, counted by the request path.
    tally: Arc<Tally>,
    request_duration: Histogram<f64>,
    /// Credential refreshes by outcome.
    pub refreshes: Counter<u64>,
}

// === impl Metrics ===

impl Metrics {
    /// Builds the meter provider: Prometheus always, OTLP when `otel` says so.
    /// Must run inside a Tokio runtime when OTLP is on.
    pub fn new(otel: Option<&OtelSettings>) -> Result<Self, MetricsError> {
        let registry = prometheus::Registry::new();
        let prometheus = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .build()
            .map_err(|e| MetricsError::Prometheus(e.to_string()))?;
        let mut builder = SdkMeterProvider::builder().with_reader(prometheus);
        if let Some(otel) = otel.filter(|o| o.metrics) {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(otel.endpoint.clone())
                .with_timeout(otel.timeout)
                .build()
                .map_err(|e| MetricsError::Otlp(e.to_string()))?;
            builder = builder
                .with_reader(
                    PeriodicReader::builder(exporter)
                        .with_interval(otel.metric_interval)
                        .build(),
                )
                .with_resource(otel.resource());
        }
        let provider = builder.build();
        let meter = provider.meter("switchyard");
        let tally = Arc::new(Tally::default());
        observe_tally(&meter, &tally);
        Ok(Self {
            tally,
            request_duration: meter
                .f64_histogram("switchyard.request.duration")
                .with_unit("s")
                .with_description("Duration of Complete and AuxComplete calls")
                .with_boundaries(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0,
                ])
                .build(),
            refreshes: meter
                .u64_counter("switchyard.credential.refreshes")
                .with_description("Credential refreshes, by outcome")
                .build(),
            provider,
            registry,
        })
    }

    /// Registers the gauge of credentials by provider and state (live, cooling, dead),
    /// and the gauge of credentials whose rotated tokens are held only in memory.
    pub fn observe_credentials(&self, pool: Arc<CredentialPool>) {
        let unpersisted = pool.clone();
        self.provider
            .meter("switchyard")
            .u64_observable_gauge("switchyard.credentials.unpersisted")
            .with_description(
                "Credentials whose rotated tokens the store refused: held only in memory",
            )
            .with_callback(move |gauge| gauge.observe(unpersisted.unpersisted().len() as u64, &[]))
            .build();
        self.provider
            .meter("switchyard")
            .u64_observable_gauge("switchyard.credentials")
            .with_description("Credentials by provider and state")
            .with_callback(move |gauge| {
                for (provider, live, cooling, dead) in pool.census(wall_ms()) {
                    for (state, n) in [("live", live), ("cooling", cooling), ("dead", dead)] {
                        gauge.observe(
                            n,
                            &[
                                KeyValue::new("provider", provider.clone()),
                                KeyValue::new("state", state),
                            ],
                        );
                    }
                }
            })
            .build();
    }

    /// Registers `switchyard_config_generation`: the number of the live config
    /// generation (1 at start, one more per applied reload), labelled with its
    /// `hash`. `read` returns both.
    pub fn observe_config(&self, read: impl Fn() -> (u64, String) + Send + Sync + 'static) {
        self.provider
            .meter("switchyard")
            .u64_observable_gauge("switchyard.config.generation")
            .with_description("The live config generation, labelled with the config's hash")
            .with_callback(move |gauge| {
                let (generation, hash) = read();
                gauge.observe(generation, &[KeyValue::new("hash", hash)]);
            })
            .build();
    }

    /// Registers `switchyard_credential_feed_listening`: 1 while the change feed's
    /// listener is connected and resynchronised, 0 while it reconnects (PostgreSQL
    /// only; changes made elsewhere then wait for the periodic resync).
    pub fn observe_feed(&self, feed: Arc<Feed>) {
        self.provider
            .meter("switchyard")
            .u64_observable_gauge("switchyard.credential_feed.listening")
            .with_description(
                "1 while the credential change feed listens (PostgreSQL): other replicas' changes arrive within a second",
            )
            .with_callback(move |gauge| gauge.observe(u64::from(feed.is_listening()), &[]))
            .build();
    }

    /// Registers what the write-behind reports: `switchyard_trails_dropped_total`
    /// (trails that never reached the store, by reason `queue_full`,
    /// `buffer_full` or `write_failed`) and `switchyard_degraded` (1 while a component, such as the
    /// store, is degraded; by component).
    pub fn observe_writer(&self, recorder: Arc<Recorder>, status: Status) {
        let meter = self.provider.meter("switchyard");
        meter
            .u64_observable_counter("switchyard.trails.dropped")
            .with_description(
                "Trails kept in memory only: the write queue was full, the buffer of unwritten trails was full, or the store failed them at shutdown",
            )
            .with_callback(move |counter| {
                let dropped = recorder.dropped();
                counter.observe(dropped.queue_full, &[KeyValue::new("reason", "queue_full")]);
                counter.observe(
                    dropped.buffer_full,
                    &[KeyValue::new("reason", "buffer_full")],
                );
                counter.observe(
                    dropped.write_failed,
                    &[KeyValue::new("reason", "write_failed")],
                );
            })
            .build();
        meter
            .u64_observable_gauge("switchyard.degraded")
            .with_description(
                "1 while the component is degraded: the store refuses writes, a credential is held only in memory",
            )
            .with_callback(move |gauge| {
                for component in Component::ALL {
                    let degraded = status.reason(component).is_some();
                    gauge.observe(
                        u64::from(degraded),
                        &[KeyValue::new("component", component.as_str())],
                    );
                }
            })
            .build();
    }

    /// Records a finished request and its trail.
    pub fn record_request(
        &self,
        caller: &Caller,
        failure: Option<FailureReason>,
        steps: &[Step],
        elapsed: Duration,
    ) {
        self.tally.record(caller, failure, steps);
        let outcome = failure.map_or("succeeded", FailureReason::as_str);
        let labels = [
            KeyValue::new("caller", caller.kind()),
            KeyValue::new("task", caller.task().unwrap_or("").to_owned()),
            KeyValue::new("outcome", outcome),
        ];
        self.request_duration.record(elapsed.as_secs_f64(), &labels);
    }

    /// The Prometheus text exposition of every instrument.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Flushes and stops the exporters.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "meter provider shutdown");
        }
    }
}

/// Registers the counters read from `tally` at each collection, under the names
/// and labels they had as synchronous counters.
fn observe_tally(meter: &Meter, tally: &Arc<Tally>) {
    let t = tally.clone();
    meter
        .u64_observable_counter("switchyard.requests")
        .with_description("Completed Complete and AuxComplete calls, by caller, task and outcome")
        .with_callback(move |counter| {
            for (task, rows) in t.read(|c| c.requests.clone()) {
                for (caller, outcome, n) in rows {
                    counter.observe(
                        n,
                        &[
                            KeyValue::new("caller", caller),
                            KeyValue::new("task", String::from(task.clone())),
                            KeyValue::new("outcome", outcome),
                        ],
                    );
                }
            }
        })
        .build();
    let t = tally.clone();
    meter
        .u64_observable_counter("switchyard.attempts")
        .with_description("Provider contacts (attempts), by provider, error class and action")
        .with_callback(move |counter| {
            for ((provider, class, action), n) in t.read(|c| c.attempts.clone()) {
                counter.observe(
                    n,
                    &[
                        KeyValue::new("provider", provider),
                        KeyValue::new("error_class", class.as_str()),
                        KeyValue::new("action", action.as_str()),
                    ],
                );
            }
        })
        .build();
    let t = tally.clone();
    meter
        .u64_observable_counter("switchyard.trail.steps")
        .with_description(
            "Steps of request trails, by kind: attempt, refresh, skip, give_up, stop_stream",
        )
        .with_callback(move |counter| {
            for (kind, n) in t.read(|c| c.steps.clone()) {
                counter.observe(n, &[KeyValue::new("kind", kind.as_str())]);
            }
        })
        .build();
    let t = tally.clone();
    meter
        .u64_observable_counter("switchyard.fallbacks")
        .with_description("Moves to another credential or candidate, by error class and action")
        .with_callback(move |counter| {
            for ((class, action), n) in t.read(|c| c.fallbacks.clone()) {
                counter.observe(
                    n,
                    &[
                        KeyValue::new("error_class", class.as_str()),
                        KeyValue::new("action", action.as_str()),
                    ],
                );
            }
        })
        .build();
}

/// The `GET /metrics` endpoint (served by [`crate::listener::serve_http`]).
pub fn router(metrics: Metrics) -> axum::Router {
    use axum::routing::get;
    axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(),
                )
            }
        }),
    )
}
