//! The floor of any HTTP proxy on Switchyard's stack: a benchmark fixture, not
//! product code (`server/benches/compare/run`, targets `floor` and `floor-hyper`).
//!
//! It relays `POST /v1/chat/completions` to `UPSTREAM/chat/completions` and does
//! nothing else: the body bytes and the `content-type` and `authorization` headers
//! go up unchanged; the upstream's status, `content-type` and body bytes come back.
//! No JSON, no auth check, no trail, no metrics, no tracing. An answer of type
//! `text/event-stream` is relayed frame by frame as it arrives (hyper writes what
//! is ready in one write), any other is read whole first, as Switchyard does: the
//! floor of a relayed stream too (`per_request bench_floor ... --stream N`). It runs what
//! Switchyard runs underneath: tokio multi-thread (one worker per core), jemalloc,
//! hyper-util's HTTP/1+2 server with `TCP_NODELAY` and the header read timeout,
//! and a reqwest client built with the provider client's settings. With
//! `BENCH_FLOOR_CLIENT=hyper` the upstream call goes through hyper-util's legacy
//! client directly, which shows what reqwest's layers cost.
//!
//! It also serves the floor of a gRPC door on a second port ([`grpc`]):
//! `AuxComplete` on tonic, translated to one chat-completions call with the
//! least work such a door can do.
//!
//! With `BENCH_FLOOR_WORK=least`, the HTTP port serves instead the least an
//! OpenAI-compatible gateway keeping issue 13's targets can do ([`least`]): the
//! bearer checked, the JSON read and written on both sides, and a trail persisted
//! to SQLite (`BENCH_FLOOR_DB`, default a file in the temporary directory). Its
//! provider call goes through the relay's client, `BENCH_FLOOR_CLIENT` included.
//!
//! `bench_floor UPSTREAM` (or `BENCH_FLOOR_UPSTREAM`; `UPSTREAM` is what
//! `bench_fake` prints, `http://127.0.0.1:PORT/v1`) prints its own base URL
//! (`http://127.0.0.1:PORT`) on one line and its gRPC address
//! (`grpc://127.0.0.1:PORT`) on the next, then serves until it is killed.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark tool: it prints its address for the script that started it"
)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

mod grpc;
mod least;

// Switchyard's allocator, with the options `.cargo/config.toml` compiles in.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The user agent of Switchyard's provider client.
const USER_AGENT_VALUE: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));
/// A whole answer, or a stream relayed as it comes.
type Answer = Response<Either<Full<Bytes>, BoxBody<Bytes, BoxError>>>;

/// The upstream client, reqwest as Switchyard uses it or hyper's own client, and
/// the URL it calls, parsed once as Switchyard's providers do.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value for the whole process, never moved after start-up"
)]
enum Upstream {
    Reqwest(reqwest::Client, reqwest::Url),
    Hyper(Client<HttpConnector, Full<Bytes>>, http::Uri),
}

/// Whether the upstream answers with an event stream, relayed as it comes.
fn is_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// The answer relayed: the upstream's status, content type and body.
fn answer(
    status: StatusCode,
    content_type: Option<http::HeaderValue>,
    body: Either<Full<Bytes>, BoxBody<Bytes, BoxError>>,
) -> Answer {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

/// A reqwest client with the settings of Switchyard's provider client
/// (`provider/mod.rs`: `Providers::new`).
fn reqwest_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .user_agent(USER_AGENT_VALUE)
        .build()
}

impl Upstream {
    fn new(kind: &str, url: &str) -> Result<Self, BoxError> {
        // The settings of Switchyard's provider client (`provider/mod.rs`).
        Ok(if kind == "hyper" {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            connector.set_connect_timeout(Some(Duration::from_secs(10)));
            Self::Hyper(
                Client::builder(TokioExecutor::new())
                    .pool_timer(TokioTimer::new())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .pool_max_idle_per_host(64)
                    .build(connector),
                url.parse()?,
            )
        } else {
            Self::Reqwest(reqwest_client()?, reqwest::Url::parse(url)?)
        })
    }

    async fn call(&self, headers: &HeaderMap, body: Bytes) -> Result<Answer, BoxError> {
        let relayed = [CONTENT_TYPE, AUTHORIZATION];
        match self {
            Self::Reqwest(client, url) => {
                let mut request = client.post(url.clone()).body(body);
                for name in relayed.iter().filter(|n| headers.contains_key(*n)) {
                    request = request.header(name, &headers[name]);
                }
                let response = request.send().await?;
                let status = response.status();
                let content_type = response.headers().get(CONTENT_TYPE).cloned();
                let body = if is_stream(response.headers()) {
                    let body: reqwest::Body = http::Response::from(response).into_body();
                    Either::Right(body.map_err(BoxError::from).boxed())
                } else {
                    Either::Left(Full::new(response.bytes().await?))
                };
                Ok(answer(status, content_type, body))
            }
            Self::Hyper(client, uri) => {
                let mut request = Request::post(uri.clone()).header(USER_AGENT, USER_AGENT_VALUE);
                for name in relayed.iter().filter(|n| headers.contains_key(*n)) {
                    request = request.header(name, &headers[name]);
                }
                let response = client.request(request.body(Full::new(body))?).await?;
                let (parts, body) = response.into_parts();
                let body = if is_stream(&parts.headers) {
                    Either::Right(body.map_err(BoxError::from).boxed())
                } else {
                    Either::Left(Full::new(body.collect().await?.to_bytes()))
                };
                Ok(answer(
                    parts.status,
                    parts.headers.get(CONTENT_TYPE).cloned(),
                    body,
                ))
            }
        }
    }
}

/// An answer with no body.
fn empty(status: StatusCode) -> Answer {
    answer(status, None, Either::Left(Full::new(Bytes::new())))
}

/// One chat call relayed, 502 when the upstream fails.
async fn relay(upstream: &Upstream, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return empty(StatusCode::BAD_REQUEST);
    };
    upstream
        .call(&parts.headers, body)
        .await
        .unwrap_or_else(|_| empty(StatusCode::BAD_GATEWAY))
}

/// The chat call to the least gateway's door when it is on, to the relay
/// otherwise; 404 for anything else.
async fn route(
    upstream: &'static Upstream,
    least: Option<&'static least::Least>,
    request: Request<Incoming>,
) -> Result<Answer, Infallible> {
    if request.method() != Method::POST || request.uri().path() != "/v1/chat/completions" {
        return Ok(empty(StatusCode::NOT_FOUND));
    }
    Ok(match least {
        Some(least) => least.serve(request).await,
        None => relay(upstream, request).await,
    })
}

async fn serve(base: String, client: String) -> Result<(), BoxError> {
    let url = format!("{}/chat/completions", base.trim_end_matches('/'));
    // Live as long as the process: the handlers borrow them, no clone per request.
    let upstream: &'static Upstream = Box::leak(Box::new(Upstream::new(&client, &url)?));
    let least: Option<&'static least::Least> =
        if std::env::var("BENCH_FLOOR_WORK").is_ok_and(|w| w == "least") {
            let db = std::env::var_os("BENCH_FLOOR_DB").map_or_else(
                || std::env::temp_dir().join(format!("bench_floor-{}.db", std::process::id())),
                std::path::PathBuf::from,
            );
            let least = least::Least::new(upstream, "sk-bench-fake", &db).await?;
            Some(Box::leak(Box::new(least)))
        } else {
            None
        };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}", listener.local_addr()?);
    let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("grpc://{}", grpc_listener.local_addr()?);
    tokio::spawn(serve_grpc(grpc_listener, url.clone()));
    // Flushed at once: the benchmark reads the address from a pipe.
    std::io::Write::flush(&mut std::io::stdout())?;
    // The door's server settings (`listener.rs`: `serve_http`).
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    builder.http2().timer(TokioTimer::new());
    loop {
        let (io, _) = listener.accept().await?;
        let _ = io.set_nodelay(true);
        let service = hyper::service::service_fn(move |request| route(upstream, least, request));
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

/// The gRPC floor, with the provider client's settings and TCP_NODELAY as
/// Switchyard's gRPC listener sets it.
async fn serve_grpc(listener: tokio::net::TcpListener, url: String) -> Result<(), BoxError> {
    let (client, url) = (reqwest_client()?, reqwest::Url::parse(&url)?);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    // ghz reads the schema by reflection (`v1alpha`).
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(switchyard_client::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    tonic::transport::Server::builder()
        .add_service(reflection)
        .add_service(
            switchyard_client::pb::switchyard_service_server::SwitchyardServiceServer::new(
                grpc::Floor::new(client, url),
            ),
        )
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    // As `main.rs` does: no transparent huge pages for the allocator's arenas.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .or_else(|| std::env::var("BENCH_FLOOR_UPSTREAM").ok())
        .ok_or("usage: bench_floor UPSTREAM_BASE_URL (or BENCH_FLOOR_UPSTREAM)")?;
    let client = std::env::var("BENCH_FLOOR_CLIENT").unwrap_or_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(base, client))
}
