//! Added latency of a successful `AuxComplete` through Switchyard, against calling
//! the same fake provider directly, at 16 concurrent callers.
//!
//! `cargo bench -p switchyard --bench overhead` (optionally
//! `-- REQUESTS CONCURRENCY PROVIDER_MS JITTER_MS`; defaults 20000 16 0 0). The provider
//! answers after PROVIDER_MS plus up to JITTER_MS more, varying per call.
//! Both paths hit the same loopback fake provider with the same body; the difference
//! of their latency distributions is what the gateway adds (gRPC hop, validation,
//! policy run, provider call through the pooled client, trail recording).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark: a failure should stop it loudly, and what it prints is its output"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use secrecy::SecretString;
use switchyard::app::App;
use switchyard::config::Config;
use switchyard::fake::{FakeProvider, FakeReply};
use switchyard::store::{NewApiKey, Store};
use switchyard_client::SwitchyardServiceClient;
use switchyard_client::pb;
use tokio::sync::Mutex;

// The same allocator as the `switchyard` binary.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(20_000);
    let concurrency = args.get(1).copied().unwrap_or(16);
    let provider_ms = args.get(2).copied().unwrap_or(0) as u64;
    let jitter_ms = args.get(3).copied().unwrap_or(0) as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(requests, concurrency, provider_ms, jitter_ms));
}

async fn run(requests: usize, concurrency: usize, provider_ms: u64, jitter_ms: u64) {
    // An instant provider measures the gateway's CPU cost on a saturated machine; a
    // provider that takes `provider_ms`, as real ones do, measures the latency added
    // when the machine is not saturated.
    // With a constant delay, the callers fall into step: every answer leaves on the same
    // timer tick, and the gateway serves them as one burst. Jitter, as real providers
    // have, spreads them.
    let reply = FakeReply::ok("a short summary")
        .after(Duration::from_millis(provider_ms))
        .with_jitter(Duration::from_millis(jitter_ms));
    let fake = FakeProvider::start("fake", reply)
        .await
        .expect("fake provider");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bench.db");
    let key = switchyard::crypto::MasterKey::from_bytes([7; 32]);
    let store = Store::open(&db, key).await.expect("store");
    store
        .add_api_key(
            &NewApiKey {
                id: "k1".into(),
                provider: "p".into(),
                label: String::new(),
                priority: 0,
                secret: SecretString::from("bench-key".to_owned()),
            },
            0,
        )
        .await
        .expect("key");
    store.close().await;
    let yaml = format!(
        r#"
listen: 127.0.0.1:0
database: {{ path: "{}" }}
providers:
  p: {{ kind: openai, base_url: "{}" }}
model: {{ provider: p, model: m }}
auxiliary:
  compression: {{ provider: p, model: small }}
"#,
        db.display(),
        fake.openai_base_url()
    );
    let env = [(
        "SWITCHYARD_MASTER_KEY".to_owned(),
        "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".to_owned(),
    )];
    let config = Config::from_yaml(&yaml, "<bench>", env).expect("config");
    let app = App::build(config).await.expect("app");
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    // One connection per caller, as each agent has its own (and as the direct path's
    // pooled HTTP/1 client has, one per concurrent call).
    let mut callers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        callers.push(SwitchyardServiceClient::new(channel));
    }
    let grpc = Arc::new(callers);
    let grpc_for_sim = grpc.clone();
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", fake.openai_base_url());
    let body = serde_json::json!({
        "model": "small",
        "messages": [{"role": "user", "content": "Summarise the conversation so far."}]
    })
    .to_string();

    let direct_call = move |_| {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        async move {
            let r = http
                .post(&url)
                .bearer_auth("bench-key")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("direct call");
            assert!(r.status().is_success());
            r.bytes().await.expect("body");
        }
    };
    let direct = measure("direct", requests, concurrency, direct_call.clone()).await;
    let via = measure("switchyard", requests, concurrency, move |caller| {
        let mut grpc = grpc[caller].clone();
        async move {
            let r = grpc
                .aux_complete(pb::AuxCompleteRequest {
                    task: "compression".into(),
                    messages: vec![pb::Message::user("Summarise the conversation so far.")],
                    ..Default::default()
                })
                .await
                .expect("aux call");
            assert_eq!(r.get_ref().attempts.len(), 1);
        }
    })
    .await;

    // The gRPC hop and the policy alone: a simulation contacts no provider.
    let sim_client = grpc_for_sim.clone();
    measure("grpc-only", requests, concurrency, move |caller| {
        let mut grpc = sim_client[caller].clone();
        async move {
            let simulation = pb::Simulation {
                caller: Some(pb::Caller {
                    kind: Some(pb::caller::Kind::Task("compression".into())),
                }),
                ..Default::default()
            };
            grpc.explain_fallback(pb::ExplainFallbackRequest {
                query: Some(pb::explain_fallback_request::Query::Simulation(simulation)),
            })
            .await
            .expect("explain");
        }
    })
    .await;
    // The same direct calls again: how far two runs of one path differ here (the
    // machine's noise floor for the figures below).
    let again = measure("direct again", requests, concurrency, direct_call).await;
    println!();
    println!(
        "added latency at {concurrency} concurrent callers, provider answering in {provider_ms} ms \
         + up to {jitter_ms} ms ({requests} requests each way):"
    );
    for (label, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
        let d = direct.value_at_quantile(q);
        let v = via.value_at_quantile(q);
        println!(
            "  {label}: direct {:>7.3} ms, via switchyard {:>7.3} ms, added {:>7.3} ms",
            d as f64 / 1000.0,
            v as f64 / 1000.0,
            (v as f64 - d as f64) / 1000.0
        );
    }
    println!("noise floor (direct run twice; the same path, so ideally 0):");
    for (label, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
        let (d, a) = (direct.value_at_quantile(q), again.value_at_quantile(q));
        println!(
            "  {label}: {:>7.3} ms vs {:>7.3} ms, difference {:>7.3} ms",
            d as f64 / 1000.0,
            a as f64 / 1000.0,
            (a as f64 - d as f64) / 1000.0
        );
    }
    let _ = stop.send(());
    let _ = server.await;
}

/// Runs `requests` calls of `call` from `concurrency` tasks after a warm-up and
/// returns the latency histogram in microseconds.
async fn measure<F, Fut>(
    label: &str,
    requests: usize,
    concurrency: usize,
    call: F,
) -> Histogram<u64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    for i in 0..(requests / 10).max(100) {
        call(i % concurrency).await;
    }
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
    ));
    let started = Instant::now();
    let per_task = requests / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|caller| {
            let (call, hist) = (call.clone(), hist.clone());
            tokio::spawn(async move {
                let mut local =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                for _ in 0..per_task {
                    let t = Instant::now();
                    call(caller).await;
                    local.saturating_record(t.elapsed().as_micros() as u64);
                }
                hist.lock().await.add(&local).expect("merge");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = started.elapsed();
    let hist = Arc::try_unwrap(hist).expect("sole owner").into_inner();
    println!(
        "{label:>10}: {} calls in {:.2} s ({:.0}/s), p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        hist.len(),
        elapsed.as_secs_f64(),
        hist.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        Duration::from_micros(hist.max()).as_secs_f64() * 1000.0,
    );
    hist
}
