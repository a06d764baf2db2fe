//! Every socket the process accepts on (gRPC, the HTTP front door, metrics) goes
//! through here. This module owns what a slow or greedy peer can hold:
//! - a cap on the connections open at once per listener (`listeners.max_connections`);
//! - a connection must start its first call within `listeners.header_read_timeout`
//!   (HTTP/1 also gets hyper's header read timeout on every request);
//! - a connection with no call in flight for `listeners.idle_timeout` is closed;
//! - the count of calls in flight, so a shutdown can wait for them ([`InFlight`]);
//! - the accept loop of the HTTP listeners ([`serve_http`]), with graceful drain.
//!
//! It knows nothing of the API served: no proto, no policy, no store.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::config::ListenerSettings;

/// Pause after a failed accept (out of file descriptors...), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The limits one listener applies to its connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest wait for a connection's first call (and, on HTTP/1, for each
    /// request's headers).
    pub header_read_timeout: Duration,
    /// Longest time a connection may stay open with no call in flight.
    pub idle_timeout: Duration,
}

impl From<&ListenerSettings> for ConnLimits {
    fn from(s: &ListenerSettings) -> Self {
        Self {
            // A zero cap would accept nothing; a zero timeout would close everything.
            max_connections: s.max_connections.max(1),
            header_read_timeout: s.header_read_timeout.max(Duration::from_millis(1)),
            idle_timeout: s.idle_timeout.max(Duration::from_millis(1)),
        }
    }
}

// === per-connection activity ===

/// What one connection is doing: calls in flight, and since when it is idle.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Whether a call ever started on the connection.
    served: AtomicBool,
    /// Milliseconds after `opened` at which the last call ended.
    idle_since_ms: AtomicU64,
    /// The connection's pending read, woken when a call ends so its idle timer starts.
    reader: AtomicWaker,
}

/// A handle on one accepted connection, found in the extensions of each request
/// it carries (tonic's connect info, or inserted by [`serve_http`]).
#[derive(Debug, Clone)]
pub struct ConnHandle(Arc<Activity>);

impl ConnHandle {
    fn new() -> Self {
        Self(Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since_ms: AtomicU64::new(0),
            reader: AtomicWaker::new(),
        }))
    }

    /// Marks a call in flight on this connection until the guard drops.
    fn enter(&self) -> ConnCallGuard {
        self.0.served.store(true, Ordering::Release);
        self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        ConnCallGuard(self.0.clone())
    }

    /// When the connection stops being allowed to sit idle, or `None` while a call
    /// is in flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        let a = &self.0;
        if a.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(if a.served.load(Ordering::Acquire) {
            a.opened
                + Duration::from_millis(a.idle_since_ms.load(Ordering::Acquire))
                + limits.idle_timeout
        } else {
            a.opened + limits.header_read_timeout
        })
    }

    /// Finds the handle of the connection a request came on.
    fn of(extensions: &http::Extensions) -> Option<&ConnHandle> {
        extensions.get::<ConnHandle>().or_else(|| {
            extensions
                .get::<tonic::transport::server::TlsConnectInfo<ConnHandle>>()
                .map(|tls| tls.get_ref())
        })
    }
}

#[derive(Debug)]
struct ConnCallGuard(Arc<Activity>);

impl Drop for ConnCallGuard {
    fn drop(&mut self) {
        let a = &self.0;
        let elapsed = u64::try_from(a.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.idle_since_ms.store(elapsed, Ordering::Release);
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            a.reader.wake();
        }
    }
}

// === accepted connections ===

/// An accepted TCP connection that holds a slot of its listener's cap and fails
/// its reads once it has been idle too long, which makes hyper (HTTP/1 and
/// HTTP/2 alike) close it.
#[derive(Debug)]
pub struct Conn {
    io: TcpStream,
    handle: ConnHandle,
    limits: ConnLimits,
    timer: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    /// The handle requests on this connection carry.
    pub fn handle(&self) -> ConnHandle {
        self.handle.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(r) = Pin::new(&mut this.io).poll_read(cx, buf) {
            return Poll::Ready(r);
        }
        // Nothing to read: is the connection allowed to wait?
        this.handle.0.reader.register(cx.waker());
        let Some(deadline) = this.handle.deadline(&this.limits) else {
            return Poll::Pending;
        };
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        if Instant::now() >= deadline || this.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connection idle: closed",
            )));
        }
        Poll::Pending
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnHandle;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.handle.clone()
    }
}

/// A listener whose accepts wait for a free slot of its connection cap: past the
/// cap, new clients wait in the kernel's accept queue.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    limits: ConnLimits,
}

impl Listener {
    /// Wraps a bound listener.
    pub fn new(listener: TcpListener, limits: ConnLimits) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
        }
    }

    /// The next connection, once a slot is free. Sockets set `TCP_NODELAY`: small
    /// answers and stream events must not wait for delayed ACKs.
    pub async fn accept(&self) -> std::io::Result<Conn> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| std::io::Error::other("listener closed"))?;
        let (io, _) = self.listener.accept().await?;
        let _ = io.set_nodelay(true);
        let handle = ConnHandle::new();
        let first = handle.0.opened + self.limits.header_read_timeout;
        Ok(Conn {
            io,
            handle,
            limits: self.limits,
            timer: Box::pin(tokio::time::sleep_until(first)),
            _slot: slot,
        })
    }

    /// The accepted connections as a stream, for tonic.
    pub fn into_stream(self) -> impl futures::Stream<Item = std::io::Result<Conn>> + Send {
        futures::stream::unfold(self, |listener| async move {
            let conn = listener.accept().await;
            if let Err(e) = &conn {
                // Out of file descriptors and the like: tonic skips the error and
                // accepts again at once; do not let it spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            Some((conn, listener))
        })
    }
}

// === HTTP accept loop ===

/// Serves `service` (an axum router, or one inside the [`InFlight`] layer) on
/// `listener` until `shutdown` completes, then stops accepting, closes idle
/// connections and lets calls in flight finish (the caller bounds how long it waits
/// for this future).
pub async fn serve_http<S, B>(
    listener: Listener,
    service: S,
    shutdown: impl Future<Output = ()> + Send,
) where
    S: tower::Service<
            http::Request<axum::body::Body>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let limits = listener.limits;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let conn = tokio::select! {
            conn = listener.accept() => conn,
            () = &mut shutdown => break,
        };
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: do not spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let handle = conn.handle();
        let service = service.clone();
        let per_request = hyper::service::service_fn(move |mut request: http::Request<_>| {
            request.extensions_mut().insert(handle.clone());
            service.clone().call(request.map(axum::body::Body::new))
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(conn), per_request)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A peer that goes away or idles out is not an error of the server.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

// === calls in flight ===

/// Counts calls in flight on every listener, for draining, and marks each call
/// on its connection (so a connection with a call in flight is never idle): a
/// tower layer over every service.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    state: Arc<(AtomicUsize, Notify)>,
}

#[derive(Debug)]
struct InFlightGuard(Arc<(AtomicUsize, Notify)>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.1.notify_waiters();
        }
    }
}

impl InFlight {
    fn enter(&self) -> InFlightGuard {
        self.state.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.state.clone())
    }

    /// Completes once no call is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.state.1.notified();
            if self.state.0.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl<S> tower::Layer<S> for InFlight {
    type Service = InFlightService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InFlightService {
            inner,
            tracker: self.clone(),
        }
    }
}

/// The service of the [`InFlight`] layer.
#[derive(Debug, Clone)]
pub struct InFlightService<S> {
    inner: S,
    tracker: InFlight,
}

impl<S, R, B> tower::Service<http::Request<R>> for InFlightService<S>
where
    S: tower::Service<http::Request<R>, Response = http::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Guarded<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<R>) -> Self::Future {
        let guard = self.tracker.enter();
        let conn = ConnHandle::of(request.extensions()).map(ConnHandle::enter);
        let future = self.inner.call(request);
        Box::pin(async move {
            // A streamed answer is in flight until its body ends: the guards move
            // into the body.
            let response = future.await?;
            Ok(response.map(|inner| Guarded {
                inner,
                guards: Some((guard, conn)),
            }))
        })
    }
}

/// A response body that holds its call's guards until it ends (or is dropped,
/// when the client goes away).
#[derive(Debug)]
pub struct Guarded<B> {
    inner: B,
    guards: Option<(InFlightGuard, Option<ConnCallGuard>)>,
}

impl<B> http_body::Body for Guarded<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            this.guards = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_connection_with_a_call_in_flight_is_never_idle() {
        let handle = ConnHandle::new();
        let opened = handle.0.opened;
        // Before any call: the first call must start within the header timeout.
        assert_eq!(
            handle.deadline(&limits()),
            Some(opened + Duration::from_secs(2))
        );
        let guard = handle.enter();
        assert_eq!(handle.deadline(&limits()), None);
        drop(guard);
        // After it: idle from the end of the call.
        let deadline = handle.deadline(&limits()).unwrap();
        assert!(deadline >= opened + Duration::from_secs(60));
    }
}
