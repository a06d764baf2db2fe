//! Soak: 32 concurrent primary callers against the real server, two candidates
//! (each its own fake provider with one key), both fakes failing a fixed share of
//! attempts in each of five faults (401 `invalid_api_key`, 429 without
//! `Retry-After`, 500, 529, a cut connection). Sporadic faults must not become
//! outages: nearly every call succeeds, and no call fails without contacting a
//! provider.
//!
//! `SWITCHYARD_SOAK_SECS` sets the length of each run (default 10 s; the README
//! gives the figures of a 60 s run). `SOAK_DEBUG=1` prints the trail of each
//! failed call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use switchyard::config::Config;
use switchyard::fake::{FakeProvider, FakeReply};
use switchyard::store::{NewApiKey, Store};
use switchyard_client::pb;

use crate::support::{TestApp, failure_details, user};

const CALLERS: usize = 32;

fn soak_secs() -> u64 {
    std::env::var("SWITCHYARD_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// What a soak run saw.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Failed calls whose trail holds no attempt: no provider was contacted.
    failed_uncontacted: AtomicU64,
}

async fn soak(rate: f64, seed: u64) -> (u64, u64, u64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    let key_file = switchyard::crypto::default_key_file(&db);
    let (key, _) = switchyard::crypto::MasterKey::load(None, &key_file).unwrap();
    let store = Store::open(&db, key).await.unwrap();
    for (i, provider) in ["a", "b"].into_iter().enumerate() {
        let key = NewApiKey {
            secret: SecretString::from(format!("secret-of-{provider}")),
            id: format!("{provider}-k1"),
            provider: provider.to_owned(),
            label: String::new(),
            priority: i as i64,
        };
        store.add_api_key(&key, 1).await.unwrap();
    }
    store.close().await;

    // A little latency, as real providers have, so the callers do not spin.
    let reply = |name: &str| {
        FakeReply::ok(&format!("answer from {name}"))
            .after(Duration::from_millis(2))
            .with_jitter(Duration::from_millis(3))
    };
    let a = FakeProvider::start("a", reply("a")).await.unwrap();
    let b = FakeProvider::start("b", reply("b")).await.unwrap();
    a.set_fault_rate(rate, seed);
    b.set_fault_rate(rate, seed.wrapping_add(1));
    let yaml = format!(
        r#"
listen: 127.0.0.1:0
database: {{ path: "{db}" }}
providers:
  a: {{ kind: openai, base_url: "{a}", timeout: 5s }}
  b: {{ kind: openai, base_url: "{b}", timeout: 5s }}
model:
  provider: a
  model: a-model
  timeout: 20s
  fallback_providers: [ {{ provider: b, model: b-model }} ]
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
"#,
        db = db.display(),
        a = a.openai_base_url(),
        b = b.openai_base_url(),
    );
    let config = Config::from_yaml(&yaml, "<soak>", std::iter::empty()).unwrap();
    let app = TestApp::spawn(config).await;

    let tally = Arc::new(Tally::default());
    let end = tokio::time::Instant::now() + Duration::from_secs(soak_secs());
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let mut client = app.client.clone();
        let tally = tally.clone();
        callers.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < end {
                let request = pb::CompleteRequest {
                    messages: vec![user("hello")],
                    ..Default::default()
                };
                match client.complete(request).await {
                    Ok(_) => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) => {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                        let (_, detail) = failure_details(&status);
                        if std::env::var("SOAK_DEBUG").is_ok() {
                            for a in &detail.attempts {
                                eprintln!(
                                    "  {} {} {:?} {} {:?}: {}",
                                    a.candidate_index,
                                    a.credential_id,
                                    a.error_class(),
                                    a.http_status,
                                    a.action(),
                                    a.reason
                                );
                            }
                            eprintln!("--");
                        }
                        if detail.attempts.iter().all(|s| s.credential_id.is_empty()) {
                            tally.failed_uncontacted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }
    for caller in callers {
        caller.await.unwrap();
    }
    app.stop().await;
    let faults = a.faults_injected() + b.faults_injected();
    let ok = tally.ok.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let uncontacted = tally.failed_uncontacted.load(Ordering::Relaxed);
    println!(
        "soak rate={rate} per fault, {}s: {} calls, {:.3}% ok, {failed} failed, \
         {uncontacted} failed without contacting a provider, {faults} faults injected",
        soak_secs(),
        ok + failed,
        100.0 * ok as f64 / (ok + failed).max(1) as f64
    );
    (ok, failed, uncontacted, faults)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_percent_of_attempts_failing_in_each_fault_class_leaves_99_percent_of_calls_served() {
    let (ok, failed, uncontacted, faults) = soak(0.01, 7).await;
    let calls = ok + failed;
    assert!(calls >= 100, "the soak made too few calls: {calls}");
    assert!(faults > 0, "no fault was injected");
    assert_eq!(uncontacted, 0, "calls failed without contacting a provider");
    assert!(
        ok * 100 >= calls * 99,
        "{ok} of {calls} calls succeeded, below 99 %"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_of_attempts_failing_in_each_fault_class_leaves_95_percent_of_calls_served() {
    let (ok, failed, uncontacted, faults) = soak(0.05, 11).await;
    let calls = ok + failed;
    assert!(calls >= 100, "the soak made too few calls: {calls}");
    assert!(faults > 0, "no fault was injected");
    assert_eq!(uncontacted, 0, "calls failed without contacting a provider");
    assert!(
        ok * 100 >= calls * 95,
        "{ok} of {calls} calls succeeded, below 95 %"
    );
}
