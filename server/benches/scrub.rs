//! Cost of exact-secret scrubbing on a failed attempt: building the
//! [`Scrubber`] from a provider's secrets, then scrubbing a 1 KB error text.
//! A successful attempt never pays it.
//!
//! `cargo bench -p switchyard --bench scrub -- [ITERATIONS]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark: a failure should stop it loudly, and what it prints is its output"
)]

use std::time::Instant;

use secrecy::SecretString;
use switchyard::redact::Scrubber;

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let echoed = "3f2b8c1e-4d5a-4b6c-9e7f-000000000001";
    let text = format!("{} {echoed} {}", "x".repeat(500), "y".repeat(500));
    for credentials in [1usize, 4, 16] {
        // An OAuth credential holds three secrets: access, refresh token, client secret.
        let secrets: Vec<SecretString> = (0..credentials * 3)
            .map(|i| SecretString::from(format!("3f2b8c1e-4d5a-4b6c-9e7f-{i:012}")))
            .collect();
        let start = Instant::now();
        let mut bytes = 0;
        for _ in 0..iterations {
            bytes += Scrubber::new(&secrets).scrub(&text).len();
        }
        let per = start.elapsed() / iterations;
        println!(
            "{credentials:>2} credentials ({:>2} secrets): build + scrub of 1 KB: {per:?} per failed attempt ({bytes} bytes out)",
            credentials * 3
        );
    }
}
