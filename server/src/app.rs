//! Assembly and lifecycle: open the store (migrations run before anything is
//! served), load credentials into memory, bind the listener, serve the API beside
//! `grpc.health.v1` and reflection, and shut down cleanly: stop accepting, let
//! in-flight calls finish, flush the write-behind, close the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_client::pb;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::config::Config;
use crate::credentials::CredentialPool;
use crate::grpc::GrpcService;
use crate::metrics::{self, Metrics, MetricsError};
use crate::provider::Providers;
use crate::service::Switchyard;
use crate::store::{Store, StoreError};
use crate::writer::Recorder;

/// A failure to start or run the service.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// Reflection could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// Metrics could not be set up.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// A built service, bound and ready to run.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    store: Store,
    recorder: Arc<Recorder>,
    writer: JoinHandle<()>,
    service: Arc<Switchyard>,
    max_message_bytes: usize,
    metrics: Metrics,
    metrics_listener: Option<TcpListener>,
    shutdown_grace: Duration,
}

// === impl App ===

impl App {
    /// Opens and migrates the store, loads credentials, binds `config.listen`.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let store = Store::open(&config.database.path).await?;
        store.ping().await?;
        let pool = Arc::new(CredentialPool::new(store.credentials().await?));
        let (recorder, writer) = Recorder::spawn(store.clone(), config.database.trail_retention);
        let providers = Providers::new(&config)?;
        let metrics = Metrics::new(config.otel.as_ref())?;
        metrics.observe_credentials(pool.clone());
        let listener = bind(config.listen).await?;
        let metrics_listener = match config.telemetry.metrics_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let service = Arc::new(Switchyard::new(
            &config,
            providers,
            pool,
            recorder.clone(),
            store.clone(),
            metrics.clone(),
        ));
        // Room for requests over the content limit, so they get a clear InvalidArgument.
        let max_message_bytes = config
            .limits
            .max_request_bytes
            .saturating_mul(4)
            .saturating_add(1 << 20);
        Ok(Self {
            listener,
            store,
            recorder,
            writer,
            service,
            max_message_bytes,
            metrics,
            metrics_listener,
            shutdown_grace: config.shutdown_grace,
        })
    }

    /// The bound address of the metrics endpoint, when enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> Result<(), AppError> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then drains and closes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), AppError> {
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let api = pb::switchyard_service_server::SwitchyardServiceServer::new(GrpcService::new(
            self.service.clone(),
        ))
        .max_decoding_message_size(self.max_message_bytes);

        // Migrations ran in build(); the store answered a ping: ready.
        health_reporter
            .set_serving::<pb::switchyard_service_server::SwitchyardServiceServer<GrpcService>>()
            .await;
        tracing::info!(addr = %self.local_addr(), "serving");

        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics_task = self.metrics_listener.map(|listener| {
            tokio::spawn(metrics::serve(listener, self.metrics.clone(), async {
                let _ = metrics_stopped.await;
            }))
        });

        // On the signal: report NOT_SERVING, stop accepting, let in-flight calls
        // finish; after the grace period, stop waiting for them.
        let (draining_tx, mut draining) = watch::channel(false);
        let reporter = health_reporter.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            reporter
                .set_not_serving::<pb::switchyard_service_server::SwitchyardServiceServer<GrpcService>>()
                .await;
            let _ = draining_tx.send(true);
        };
        let server = tonic::transport::Server::builder()
            .trace_fn(server_span)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(api)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), signal);
        let grace = self.shutdown_grace;
        let result = tokio::select! {
            r = server => r,
            _ = async {
                let _ = draining.wait_for(|d| *d).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(?grace, "grace period over: abandoning in-flight calls");
                Ok(())
            }
        };

        let _ = metrics_stop.send(());
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        self.recorder.close();
        if let Err(e) = self.writer.await {
            tracing::error!(error = %e, "write-behind task failed");
        }
        self.store.close().await;
        self.metrics.shutdown();
        result?;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { addr, source })
}

/// The server span of one RPC. It continues the caller's W3C `traceparent`, so an
/// agent's trace and Switchyard's are one trace.
fn server_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", path));
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        switchyard.request_id = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(request.headers()))
    });
    // Without an OpenTelemetry layer installed this is a no-op.
    let _ = span.set_parent(parent);
    span
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

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
