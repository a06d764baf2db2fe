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
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::admin::AdminService;
use crate::auth::Authenticator;
use crate::config::{Config, ListenerSettings, TlsConfig};
use crate::credentials::CredentialPool;
use crate::crypto::CryptoError;
use crate::feed::Feed;
use crate::grpc::GrpcService;
use crate::listener::{self, ConnLimits, InFlight, Listener};
use crate::manage::{CredentialManager, Running};
use crate::metrics::{self, Metrics, MetricsError};
use crate::oauth::Refresher;
use crate::provider::Providers;
use crate::reload::watch::Triggers;
use crate::reload::{ConfigSource, Reloader};
use crate::service::Switchyard;
use crate::status::Status;
use crate::store::{Database, Store, StoreError};
use crate::telemetry::continue_trace;
use crate::writer::Recorder;

mod store;

pub use store::{database, open_store};
use store::{report_store_health, set_store_health};

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
    /// The master key could not be loaded.
    #[error("master key: {0}")]
    MasterKey(#[from] CryptoError),
    /// A TLS file could not be read.
    #[error("TLS: cannot read {path}: {source}")]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Metrics could not be set up.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// No master key is given, and the database holds sealed secrets: a fresh key
    /// could not open them, so none is generated.
    #[error(
        "no master key: {} does not exist and SWITCHYARD_MASTER_KEY is unset, but {} holds secrets sealed under a master key; restore the key file or set SWITCHYARD_MASTER_KEY (a new key could not open them)",
        key_file.display(),
        database
    )]
    MissingMasterKey {
        /// The key file looked for.
        key_file: std::path::PathBuf,
        /// The database (file, or URL without password).
        database: String,
    },
    /// No master key is given for a PostgreSQL store. Replicas share the database,
    /// so a key generated on one machine would not open secrets on another: none
    /// is generated.
    #[error(
        "no master key: {} does not exist and SWITCHYARD_MASTER_KEY is unset; the store is PostgreSQL ({database}), shared by replicas, so no key is generated: give every replica the same key (`switchyard token master-key` makes one)",
        key_file.display()
    )]
    MasterKeyRequired {
        /// The key file looked for.
        key_file: std::path::PathBuf,
        /// The database (file, or URL without password).
        database: String,
    },
}

/// A built service, bound and ready to run.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    store: Store,
    recorder: Arc<Recorder>,
    writer: JoinHandle<()>,
    service: Arc<Switchyard>,
    /// The credential use cases the admin API serves.
    credentials: Arc<CredentialManager>,
    /// The in-memory pool, whose use counts are persisted in the background.
    pool: Arc<CredentialPool>,
    max_message_bytes: usize,
    metrics: Metrics,
    metrics_listener: Option<TcpListener>,
    openai_listener: Option<TcpListener>,
    shutdown_grace: Duration,
    listeners: ListenerSettings,
    auth: Authenticator,
    tls: Option<ServerTlsConfig>,
    status: Status,
    /// Reloads of the config and the store's credentials, with the config the
    /// process started with (which files to watch); `None`: no reloads.
    reload: Option<(Arc<Reloader>, Config)>,
    /// On PostgreSQL: the other replicas' credential changes, fed into the pool.
    feed: Option<Arc<Feed>>,
}

// === impl App ===

impl App {
    /// Opens and migrates the store, loads credentials, binds `config.listen`.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let store = open_store(&config).await?;
        store.ping().await?;
        let stored = crate::declared::load(&config, &store).await?;
        let pool = Arc::new(CredentialPool::new(stored, config.pool_strategies()));
        let feed = match database(&config)? {
            Database::Postgres(url) => Some(Feed::new(
                store.clone(),
                pool.clone(),
                url,
                config.database.resync_interval,
            )),
            Database::Sqlite(_) => None,
        };
        let status = Status::new();
        let (recorder, writer) = Recorder::spawn_buffered(
            store.clone(),
            config.database.trail_retention,
            config.database.trail_buffer as usize,
            status.clone(),
        );
        let providers = Providers::new(&config)?;
        let metrics = Metrics::new(config.otel.as_ref())?;
        metrics.observe_credentials(pool.clone());
        metrics.observe_writer(recorder.clone(), status.clone());
        if let Some(feed) = &feed {
            metrics.observe_feed(feed.clone());
        }
        let listener = bind(config.listen).await?;
        let metrics_listener = match config.telemetry.metrics_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let openai_listener = match config.openai_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let refresher = Refresher::new(
            providers.http(),
            store.clone(),
            metrics.clone(),
            config.oauth.timeout,
        )
        .with_status(status.clone());
        // Refreshes a crash interrupted are finished before anything is served.
        crate::oauth::recover(&refresher, &pool).await;
        let credentials = Arc::new(CredentialManager::running(
            store.clone(),
            refresher.clone(),
            Running {
                pool: pool.clone(),
                recorder: recorder.clone(),
            },
        ));
        let service: Arc<Switchyard> = Arc::new(Switchyard::new(
            &config,
            providers,
            pool.clone(),
            recorder.clone(),
            store.clone(),
            metrics.clone(),
            refresher,
        ));
        let live = service.clone();
        metrics.observe_config(move || {
            let generation = live.live().generation.clone();
            (generation.number, generation.hash)
        });
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
            credentials,
            pool,
            max_message_bytes,
            metrics,
            metrics_listener,
            openai_listener,
            shutdown_grace: config.shutdown_grace,
            listeners: config.listeners.clone(),
            auth: Authenticator::new(&config.auth),
            tls: config.tls.as_ref().map(tls_config).transpose()?,
            status,
            reload: None,
            feed,
        })
    }

    /// [`App::build`] for a config read from `source` (whose text hashed to
    /// `hash`), reloaded while it runs: on SIGHUP, when its file or a declared
    /// key file changes, and when the store's credentials change.
    pub async fn build_reloading(
        config: Config,
        hash: String,
        source: ConfigSource,
    ) -> Result<Self, AppError> {
        let started = config.clone();
        let mut app = Self::build(config).await?;
        let reloader = Arc::new(Reloader::new(
            source,
            started.clone(),
            hash,
            app.service.clone(),
            app.store.clone(),
            app.pool.clone(),
        ));
        app.reload = Some((reloader, started));
        Ok(app)
    }

    /// The degradations reported by `switchyard.v1.Store` health (shared state).
    pub fn status(&self) -> Status {
        self.status.clone()
    }

    /// The bound address of the metrics endpoint, when enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The bound address of the OpenAI-compatible HTTP front door, when enabled.
    pub fn openai_addr(&self) -> Option<SocketAddr> {
        self.openai_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The bound address (useful with port 0).
    #[expect(
        clippy::expect_used,
        reason = "a bound TCP listener always has a local address"
    )]
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
        let (reflection, reflection_v1alpha) = reflection()?;
        let api = pb::switchyard_service_server::SwitchyardServiceServer::new(GrpcService::new(
            self.service.clone(),
        ))
        .max_decoding_message_size(self.max_message_bytes);
        // Set on the shutdown signal. While the calls in flight drain, the gRPC
        // listener stays open so probes read NOT_SERVING from health; new calls of
        // the API and the admin API are refused (UNAVAILABLE) instead.
        let (draining_tx, draining) = watch::channel(false);
        let (agents, gate) = (self.auth.clone(), draining.clone());
        let api = InterceptedService::new(api, move |r| {
            refuse_while_draining(&gate)?;
            agents.agent(r)
        });
        let (admins, gate) = (self.auth.clone(), draining.clone());
        let admin = InterceptedService::new(
            pb::credential_service_server::CredentialServiceServer::new(AdminService::new(
                self.service.clone(),
                self.credentials.clone(),
            )),
            move |r| {
                refuse_while_draining(&gate)?;
                admins.admin(r)
            },
        );
        if !self.auth.agents_need_a_token() {
            tracing::warn!("auth.client_token_sha256 is empty: agent calls need no token");
        }

        // Use counts of `least_used` pools, persisted every few seconds.
        let (usage_stop, mut usage_stopped) = watch::channel(false);
        let usage_task = {
            let (pool, recorder) = (self.pool.clone(), self.recorder.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(10));
                loop {
                    let stop = tokio::select! {
                        _ = tick.tick() => false,
                        _ = usage_stopped.wait_for(|s| *s) => true,
                    };
                    for change in pool.usage_changes() {
                        recorder.health(change).await;
                    }
                    if stop {
                        break;
                    }
                }
            })
        };

        let feed = self.feed.as_ref().map(|feed| feed.start());
        let triggers = self
            .reload
            .as_ref()
            .map(|(reloader, started)| Triggers::start(reloader.clone(), started));

        // Migrations ran in build(); the store committed a write probe: ready.
        health_reporter
            .set_serving::<pb::switchyard_service_server::SwitchyardServiceServer<GrpcService>>()
            .await;
        set_store_health(&self.status, &health_reporter).await;
        let store_health = tokio::spawn(report_store_health(
            self.status.clone(),
            health_reporter.clone(),
        ));
        tracing::info!(addr = %self.local_addr(), "serving");

        // On the signal: report NOT_SERVING, refuse new calls, let in-flight calls
        // finish; after the grace period, stop waiting for them.
        let reporter = health_reporter.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            reporter
                .set_not_serving::<pb::switchyard_service_server::SwitchyardServiceServer<GrpcService>>()
                .await;
            let _ = draining_tx.send(true);
        };
        let drained = |mut draining: watch::Receiver<bool>| async move {
            let _ = draining.wait_for(|d| *d).await;
        };
        let limits = ConnLimits::from(&self.listeners);
        let in_flight = InFlight::default();
        // Metrics stay scrapable while the calls drain.
        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics_task = self.metrics_listener.map(|listener| {
            let router = metrics::router(self.metrics.clone());
            tokio::spawn(listener::serve_http(
                Listener::new(listener, limits),
                router,
                async {
                    let _ = metrics_stopped.await;
                },
            ))
        });
        let openai_task = self.openai_listener.map(|listener| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving the OpenAI-compatible HTTP front door");
            }
            // Every HTTP door's routes, on one state; only chat completions
            // has a fallback (the 404 of an unknown path).
            let router = crate::openai::routes()
                .merge(crate::responses_api::routes())
                .merge(crate::messages_api::routes())
                .with_state(crate::door::DoorState::new(
                    self.service.clone(),
                    self.auth.clone(),
                    self.listeners.body_read_timeout,
                ));
            // The in-flight layer wraps the router as a whole: as an axum layer it
            // would wrap each route, and box each answer's body again.
            let service = tower::Layer::layer(&in_flight, router);
            tokio::spawn(listener::serve_http(
                Listener::new(listener, limits),
                service,
                drained(draining.clone()),
            ))
        });
        let mut builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(self.listeners.keepalive_interval))
            .http2_keepalive_timeout(Some(self.listeners.keepalive_timeout));
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls)?;
        }
        let server = builder
            .layer(in_flight.clone())
            .layer(crate::grpc_errors::DecodeErrors)
            .trace_fn(server_span)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(api)
            .add_service(admin)
            // No shutdown signal of its own: the listener stays open through the
            // drain (health answers NOT_SERVING), and the drain's end drops it.
            .serve_with_incoming(Listener::new(self.listener, limits).into_stream());
        let grace = self.shutdown_grace;
        // Every front door drains the same way: the process waits for the calls in
        // flight on all of them (counted by `in_flight`), whichever listener ends
        // first.
        let drain = async {
            signal.await;
            // Idle keep-alive connections must not hold the exit: once no call
            // is in flight (and its answer had a moment to flush), stop.
            let finished = tokio::time::timeout(grace, async {
                in_flight.idle().await;
                tokio::time::sleep(FLUSH_MARGIN).await;
            })
            .await
            .is_ok();
            if finished {
                tracing::info!("in-flight calls finished; closing idle connections");
            } else {
                tracing::warn!(?grace, "grace period over: abandoning in-flight calls");
            }
        };
        let server = async {
            // A failure of the server ends the run at once; otherwise the drain's
            // end does.
            server.await?;
            std::future::pending::<Result<(), AppError>>().await
        };
        let result = tokio::select! {
            r = server => r,
            () = drain => Ok(()),
        };

        // Calls still streaming past the grace period are abandoned.
        if let Some(task) = openai_task {
            task.abort();
        }
        store_health.abort();
        if let Some(triggers) = triggers {
            triggers.stop();
        }
        if let Some(feed) = feed {
            feed.stop();
        }
        let _ = usage_stop.send(true);
        let _ = usage_task.await;
        let _ = metrics_stop.send(());
        if let Some(task) = metrics_task {
            // A scrape in progress may finish; a client holding the connection may not
            // hold the exit.
            let abort = task.abort_handle();
            if tokio::time::timeout(FLUSH_MARGIN * 10, task).await.is_err() {
                abort.abort();
            }
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

/// Server reflection, in both versions tools speak: `grpc.reflection.v1` (grpcurl,
/// Postman) and `v1alpha` (ghz and older tools). Besides the API and health, it
/// serves the `google.rpc` error details (`ErrorInfo`, `BadRequest`, `RetryInfo`...),
/// so a tool can decode the details of a failed call without proto files.
fn reflection() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    AppError,
> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// Refuses a call of the API or the admin API once the drain has begun. Health and
/// reflection are not gated: a probe during the drain reads `NOT_SERVING`.
fn refuse_while_draining(draining: &watch::Receiver<bool>) -> Result<(), tonic::Status> {
    if *draining.borrow() {
        return Err(tonic::Status::unavailable(
            "switchyard is shutting down: no new calls are taken; retry on another instance",
        ));
    }
    Ok(())
}

/// Time for the last answers to reach the wire once no call is in flight.
const FLUSH_MARGIN: Duration = Duration::from_millis(100);

/// The listener's rustls config: certificate, key, and the client CA for mTLS.
fn tls_config(tls: &TlsConfig) -> Result<ServerTlsConfig, AppError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|source| AppError::Tls {
            path: path.to_owned(),
            source,
        })
    };
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(
        read(&tls.cert_file)?,
        read(&tls.key_file)?,
    ));
    if let Some(ca) = &tls.client_ca_file {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(config)
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
    continue_trace(&span, request.headers());
    span
}

/// Completes on Ctrl-C or SIGTERM. The SIGTERM handler is installed when this is
/// called, not when the future is first polled: call it before telling anyone the
/// server is up.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
    }
}
