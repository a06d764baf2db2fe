//! CPU a request spends in Switchyard's own handling of its body, plain text
//! against one carrying 40 tool definitions (about 60 KB) and a history of 100
//! turns of 2 KB each (about 200 KB): the front door's
//! parse into typed structs, the conversion to the domain chat, validation, and
//! the provider body serialised once per candidate (here, three candidates).
//! Tool schemas are kept as raw JSON, so the cost grows with the bytes copied,
//! not with a parsed tree per candidate.
//!
//! `cargo bench -p switchyard --bench chat_body -- [ITERATIONS]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark: a failure should stop it loudly, and what it prints is its output"
)]

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::config::Limits;
use switchyard::openai::{convert, types::ChatCompletionRequest};
use switchyard::provider::openai_chat;
use switchyard::validate;

/// Candidates a failing request walks: each gets its own serialised body.
const CANDIDATES: usize = 3;

fn request(tools: usize) -> Vec<u8> {
    let tool = |i: usize| {
        let properties: serde_json::Map<String, serde_json::Value> = (0..12)
            .map(|p| {
                (
                    format!("field_{p}"),
                    json!({"type": "string", "description": format!("Parameter {p} of tool {i}: what it holds and how the model should fill it in.")}),
                )
            })
            .collect();
        json!({"type": "function", "function": {
            "name": format!("tool_{i}"),
            "description": format!("Tool {i}: a paragraph of documentation for the model, as agents send it."),
            "parameters": {"type": "object", "properties": properties, "required": ["field_0"]}
        }})
    };
    let tools: Vec<_> = (0..tools).map(tool).collect();
    let mut body = json!({
        "model": "switchyard/primary",
        "messages": [
            {"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": "Refactor the parser and run the tests."}
        ]
    });
    if !tools.is_empty() {
        body["tools"] = json!(tools);
    }
    serde_json::to_vec(&body).unwrap()
}

/// A conversation of `turns` alternating user and assistant turns of 2 KB each.
fn history(turns: usize) -> Vec<u8> {
    let text = "The parser reads the tokens and builds the tree. ".repeat(41);
    let messages: Vec<_> = (0..turns)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            json!({"role": role, "content": format!("{i}: {text}")})
        })
        .collect();
    serde_json::to_vec(&json!({"model": "switchyard/primary", "messages": messages})).unwrap()
}

fn handle(body: &[u8], limits: &Limits) -> usize {
    let request: ChatCompletionRequest = serde_json::from_slice(body).unwrap();
    let mut violations = Vec::new();
    let draft = convert::draft(request, &mut violations);
    let chat = validate::chat_request(limits, draft, violations).unwrap();
    (0..CANDIDATES)
        .map(|_| openai_chat::body("gpt-4o", &chat, false).unwrap().len())
        .sum()
}

fn measure(body: &[u8], iterations: u32, limits: &Limits) -> Duration {
    // Warm up.
    for _ in 0..iterations / 10 {
        std::hint::black_box(handle(body, limits));
    }
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(handle(body, limits));
    }
    start.elapsed() / iterations
}

fn main() {
    let iterations: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let limits = Limits::default();
    let plain = request(0);
    let tools = request(40);
    let plain_t = measure(&plain, iterations, &limits);
    let tools_t = measure(&tools, iterations, &limits);
    let long = history(100);
    let long_t = measure(&long, iterations, &limits);
    println!(
        "plain text: {} bytes in, {:?} per request ({CANDIDATES} candidate bodies)",
        plain.len(),
        plain_t
    );
    println!(
        "40 tools:   {} bytes in, {:?} per request ({CANDIDATES} candidate bodies)",
        tools.len(),
        tools_t
    );
    println!(
        "100 turns:  {} bytes in, {:?} per request ({CANDIDATES} candidate bodies)",
        long.len(),
        long_t
    );
}
