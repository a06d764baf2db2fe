//! The fast fake provider of the comparison benchmark (`server/benches/compare/run`):
//! the same fake as the tests (`switchyard::fake`), answering every OpenAI chat call
//! at once with a short completion, on one runtime thread so it stays on the core
//! it is pinned to.
//!
//! `cargo run --release -p switchyard --example bench_fake` prints its base URL
//! (`http://127.0.0.1:PORT/v1`) on one line, then serves until it is killed. Not
//! part of the release CLI. With `BENCH_FAKE_STREAM_PIECES=N` every answer is an
//! event stream of N text pieces instead (what a streaming benchmark relays), all
//! sent at once, or each after `BENCH_FAKE_STREAM_GAP_MS` milliseconds (then each
//! piece reaches the gateway in a read of its own).

#![allow(
    clippy::print_stdout,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark tool: it prints its address, and a failure should stop it loudly"
)]

use switchyard::fake::{FakeProvider, FakeReply};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let pieces: usize = std::env::var("BENCH_FAKE_STREAM_PIECES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let gap_ms: u64 = std::env::var("BENCH_FAKE_STREAM_GAP_MS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let reply = if pieces == 0 {
            FakeReply::ok("a short summary")
        } else {
            FakeReply::stream(&vec!["tok "; pieces])
                .with_gap(std::time::Duration::from_millis(gap_ms))
        };
        let fake = FakeProvider::start("fake", reply).await?;
        println!("{}", fake.openai_base_url());
        // Flushed at once: the benchmark reads the address from a pipe.
        std::io::Write::flush(&mut std::io::stdout())?;
        std::future::pending::<()>().await;
        drop(fake);
        Ok(())
    })
}
