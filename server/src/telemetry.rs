//! Process-wide telemetry: the `tracing` subscriber (text or JSON logs, an env
//! filter) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, an OpenTelemetry layer
//! exporting spans over OTLP/gRPC with the W3C trace-context propagator.
//!
//! One [`init`] returns a guard to flush on shutdown. Only `main` calls it: tests
//! build `App` without touching global state. Exports run in the background batch
//! processor, so an unreachable collector drops spans instead of slowing requests.
//!
//! [`continue_trace`] joins a server span to the caller's W3C trace context; both
//! front doors (gRPC in `app.rs`, HTTP in `openai.rs`) use it, so neither imports
//! the other.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{FilterExt as _, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::OtelSettings;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flushes and stops the trace exporter when shut down.
#[derive(Debug)]
pub struct TelemetryGuard {
    tracer: Option<SdkTracerProvider>,
}

/// A telemetry setup failure.
#[derive(Debug, thiserror::Error)]
#[error("OTLP trace exporter: {0}")]
pub struct TelemetryError(String);

/// The log filter when `RUST_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "info,opentelemetry_sdk=warn,opentelemetry=warn";

/// Installs the global subscriber. Must run inside a Tokio runtime when OTLP is on.
pub fn init(
    format: LogFormat,
    otel: Option<&OtelSettings>,
) -> Result<TelemetryGuard, TelemetryError> {
    let tracer = match otel.filter(|o| o.traces) {
        Some(o) => Some(tracer_provider(o)?),
        None => None,
    };
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    subscriber(
        format,
        EnvFilter::try_from_default_env().ok(),
        std::io::stderr,
        tracer.as_ref(),
    )
    .init();
    Ok(TelemetryGuard { tracer })
}

/// The log layer, and the trace exporter's layer when there is one.
fn subscriber<W>(
    format: LogFormat,
    filter: Option<EnvFilter>,
    writer: W,
    tracer: Option<&SdkTracerProvider>,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    // Not `.with(Option<Layer>)`: a `None` layer counts as one that wants every
    // span, which would build the spans the log layer declines.
    match tracer {
        // Only Switchyard's own spans (RPC, attempts, refreshes) are exported,
        // whatever the log filter says: dependencies' spans (SQLite, HTTP/2
        // internals, the exporter's own client) would start traces of their own.
        Some(provider) => Box::new(
            tracing_subscriber::registry()
                .with(log_layer(format, filter, writer))
                .with(
                    tracing_opentelemetry::layer()
                        .with_tracer(provider.tracer("switchyard"))
                        .with_filter(Targets::new().with_target("switchyard", Level::INFO)),
                ),
        ),
        // Without an exporter the log filter is the only one: it filters the whole
        // subscriber, not the log layer. A per-layer filter carries its verdict
        // from `enabled` to the event in a thread-local, and sqlx's query logger
        // asks `enabled` for a `debug` line it then does not log: the next line
        // logged on that thread was dropped (tokio-rs/tracing#2519), i.e. the
        // first line after each query (`feed::the_listener_logs_...` shows it).
        None => {
            let (fmt, filter, spans) =
                log_parts::<tracing_subscriber::Registry, W>(format, filter, writer);
            Box::new(
                tracing_subscriber::registry()
                    .with(fmt)
                    .with(filter)
                    .with(spans),
            )
        }
    }
}

/// The log lines: `filter` is `RUST_LOG`'s, when set.
///
/// With the default filter, log lines carry no span context, so no span is built
/// for the logs: without a trace exporter, a request's spans (server, attempts) are
/// never created, and their fields never formatted: a sixth of the instructions
/// of a request at the default `info` (callgrind). An operator who sets `RUST_LOG` gets the spans
/// of the levels it names as the context of each line, as before.
fn log_layer<S, W>(format: LogFormat, filter: Option<EnvFilter>, writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let (fmt, filter, spans) = log_parts(format, filter, writer);
    // One filter: nested per-layer filters would combine their interests, and the
    // span the outer one declines would still be built for the inner one.
    fmt.with_filter(filter.and(spans))
}

/// The log lines' layer, unfiltered; the log filter; and the filter that keeps
/// spans out unless `RUST_LOG` is set (see [`log_layer`]).
#[allow(
    clippy::type_complexity,
    reason = "a tuple of three layers, named where it is used"
)]
fn log_parts<S, W>(
    format: LogFormat,
    filter: Option<EnvFilter>,
    writer: W,
) -> (
    Box<dyn Layer<S> + Send + Sync + 'static>,
    EnvFilter,
    tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool + Clone>,
)
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let spans_in_logs = filter.is_some();
    let filter = filter.unwrap_or_else(|| EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colour codes only for a person at a terminal: a log file or a collector
    // reading a pipe would keep them as noise.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    (
        fmt,
        filter,
        filter_fn(move |meta| spans_in_logs || !meta.is_span()),
    )
}

fn tracer_provider(o: &OtelSettings) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(o.endpoint.clone())
        .with_timeout(o.timeout)
        .build()
        .map_err(|e| TelemetryError(e.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler(&o.sampler, o.sampler_arg))
        .with_resource(o.resource())
        .build())
}

/// The sampler named by `OTEL_TRACES_SAMPLER`; unknown names fall back to the default.
fn sampler(name: &str, arg: Option<f64>) -> Sampler {
    let ratio = arg.unwrap_or(1.0).clamp(0.0, 1.0);
    match name {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
        _ => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    }
}

impl TelemetryGuard {
    /// Flushes pending spans, waiting at most `limit` (an unreachable collector
    /// must not hold the exit).
    pub async fn shutdown(self, limit: Duration) {
        let Some(provider) = self.tracer else {
            return;
        };
        let flush = tokio::task::spawn_blocking(move || provider.shutdown());
        match tokio::time::timeout(limit, flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "trace exporter shutdown"),
            Ok(Err(e)) => tracing::warn!(error = %e, "trace exporter shutdown task"),
            Err(_) => tracing::warn!("trace exporter did not flush in time; spans dropped"),
        }
    }
}

// === Trace continuation ===

/// Makes `span` a child of the caller's W3C `traceparent` in `headers`, if any.
/// Without an OpenTelemetry layer installed this is a no-op.
pub(crate) fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    // No layer wants the span (no exporter, default log filter): nothing to join.
    if span.is_disabled() {
        return;
    }
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let _ = span.set_parent(parent);
}

/// Reads trace-context headers for the propagator.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log sink the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Whether a request's server span was built, and the log lines of a warning
    /// logged inside it, under the log layer alone (no exporter).
    fn request_under(filter: Option<EnvFilter>) -> (bool, String) {
        let out = Captured::default();
        // The subscriber `init` installs without an exporter.
        let subscriber = subscriber(LogFormat::Text, filter, out.clone(), None);
        let built = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("http.server", switchyard.request_id = "req-1");
            continue_trace(&span, &http::HeaderMap::new());
            let _entered = span.enter();
            tracing::warn!("inside the request");
            !span.is_disabled()
        });
        let logs = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        (built, logs)
    }

    #[test]
    fn without_an_exporter_the_default_filter_builds_no_request_span() {
        let (built, logs) = request_under(None);
        assert!(!built, "a span was built that nothing reads");
        assert!(logs.contains("inside the request"), "{logs}");
        assert!(!logs.contains("req-1"), "{logs}");
    }

    #[test]
    fn an_explicit_rust_log_keeps_spans_as_the_context_of_log_lines() {
        let (built, logs) = request_under(Some(EnvFilter::new("info")));
        assert!(built);
        assert!(logs.contains("http.server"), "{logs}");
        assert!(logs.contains("req-1"), "{logs}");
        assert!(logs.contains("inside the request"), "{logs}");
    }
}
