//! `switchyard demo`: the point of the project in one command.
//!
//! Starts three fake providers on loopback, the real server on a temporary SQLite
//! file, and makes the call that broke agents before Switchyard: an auxiliary
//! `compression` task whose explicit provider answers 401 `token_invalidated`.
//! Prints the trail, the recorded `ExplainFallback` answer and a simulation.

#![allow(
    clippy::print_stdout,
    reason = "the demo is a CLI command: what it prints is its output"
)]

use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use switchyard_client::pb;
use switchyard_client::trail;

use crate::app::App;
use crate::clock::wall_ms;
use crate::config::Config;
use crate::fake::{FakeProvider, FakeReply};
use crate::store::NewApiKey;

/// Runs the demo, printing to stdout. The server listens on `listen`; with
/// `keep_running` it stays up after the demo (until Ctrl-C or SIGTERM), so a client
/// can be tried against it.
/// With `openai_listen`, the OpenAI-compatible front door is served too.
pub async fn run(
    listen: std::net::SocketAddr,
    openai_listen: Option<std::net::SocketAddr>,
    keep_running: bool,
) -> anyhow::Result<()> {
    let codex = FakeProvider::start("codex", FakeReply::token_invalidated()).await?;
    let cheap = FakeProvider::start(
        "cheap",
        FakeReply::error(
            402,
            r#"{"error":{"code":402,"message":"Insufficient credits. Add more using https://example.invalid/credits"}}"#,
        ),
    )
    .await?;
    let main = FakeProvider::start(
        "main",
        FakeReply::ok("A short summary, written by {provider}."),
    )
    .await?;

    let dir = tempfile::tempdir()?;
    let yaml = format!(
        r#"
listen: "{listen}"
{openai}
database: {{ path: "{db}" }}
providers:
  codex:  {{ kind: openai, base_url: "{codex}" }}
  cheap:  {{ kind: openai, base_url: "{cheap}" }}
  main:   {{ kind: anthropic, base_url: "{main}" }}
model:
  provider: main
  model: claude-sonnet-4-5
auxiliary:
  compression:
    provider: codex
    model: gpt-5-codex-mini
    fallback_chain:
      - {{ provider: cheap, model: gemini-2.5-flash }}
policy: {{ backoff_base: 10ms, backoff_max: 50ms }}
"#,
        db = dir.path().join("demo.db").display(),
        listen = listen,
        openai = openai_listen.map_or(String::new(), |a| format!("openai_listen: \"{a}\"")),
        codex = codex.openai_base_url(),
        cheap = cheap.openai_base_url(),
        main = main.anthropic_base_url(),
    );
    let config = Config::from_yaml(&yaml, "<demo>", [])?;

    let store = crate::app::open_store(&config).await?;
    for (id, provider) in [
        ("codex-oauth", "codex"),
        ("cheap-key", "cheap"),
        ("main-key", "main"),
    ] {
        let key = NewApiKey {
            id: id.into(),
            provider: provider.into(),
            label: "demo".into(),
            priority: 0,
            secret: SecretString::from(format!("demo-secret-of-{id}")),
        };
        store.add_api_key(&key, wall_ms()).await?;
    }
    store.close().await;

    let app = App::build(config).await?;
    let addr = app.local_addr();
    let openai_base = app.openai_addr().map(|a| format!("http://{a}/v1"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let mut client = switchyard_client::SwitchyardServiceClient::connect(format!("http://{addr}"))
        .await
        .context("connect to the demo server")?;

    println!("Switchyard demo: server on {addr}, SQLite in a temporary directory.");
    println!();
    println!("The agent's `compression` task is configured with an explicit provider (codex),");
    println!("a fallback chain (cheap), and the main agent model (main) as the last resort.");
    println!("codex answers 401 token_invalidated; cheap answers 402 out of credit.");
    println!("An agent without Switchyard refreshes codex once and raises. Switchyard:");
    println!();

    let request = pb::AuxCompleteRequest {
        task: "compression".into(),
        messages: vec![pb::Message::user("Summarise the conversation so far.")],
        ..Default::default()
    };
    let answer = client.aux_complete(request).await?.into_inner();
    let served = answer.served_by.clone().unwrap_or_default();
    println!("AuxComplete(task=compression) -> {:?}", answer.content);
    println!(
        "served by {}/{} with credential {} (request {})",
        served.provider, served.model, served.credential_id, answer.request_id
    );
    println!("trail:");
    print!("{}", trail::format(&answer.attempts));
    println!(
        "provider calls: codex={} cheap={} main={}",
        codex.call_count(),
        cheap.call_count(),
        main.call_count()
    );
    println!();

    let explained = client
        .explain_fallback(pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::RequestId(
                answer.request_id.clone(),
            )),
        })
        .await?
        .into_inner();
    println!(
        "ExplainFallback(request_id={}) -> recorded trail:",
        answer.request_id
    );
    print!("{}", trail::format(&explained.steps));
    println!();

    // The second call: codex's key is now dead, so it is skipped without a call.
    let again = client
        .aux_complete(pb::AuxCompleteRequest {
            task: "compression".into(),
            messages: vec![pb::Message::user("And again.")],
            ..Default::default()
        })
        .await?
        .into_inner();
    println!("A second AuxComplete: the dead codex key and the cooling cheap key are skipped:");
    print!("{}", trail::format(&again.attempts));
    println!();

    let simulated = client
        .explain_fallback(pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::Simulation(pb::Simulation {
                caller: Some(pb::Caller {
                    kind: Some(pb::caller::Kind::Primary(pb::PrimaryCaller {})),
                }),
                outcomes: vec![
                    pb::SimulatedOutcome {
                        outcome: Some(pb::simulated_outcome::Outcome::Http(pb::HttpOutcome {
                            status: 529,
                            body: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
                            headers: Default::default(),
                        })),
                        duration_ms: 40,
                    };
                    3
                ],
                budget_ms: 0,
                assume_all_credentials_live: true,
                model: None,
                credentials: Vec::new(),
            })),
        })
        .await?
        .into_inner();
    println!("ExplainFallback(simulation: primary caller, main answers 529 three times):");
    print!("{}", trail::format(&simulated.steps));
    println!(
        "({}; the same policy code as a real call; no provider was contacted)",
        simulated.note
    );

    if keep_running {
        println!();
        println!(
            "The demo server keeps running on {addr} (task `compression` falls back as above; \
             Ctrl-C stops it)."
        );
        if let Some(base) = openai_base {
            println!(
                "OpenAI-compatible API: {base} (model `switchyard/aux/compression`, any api key)."
            );
        }
        crate::app::shutdown_signal().await;
    }
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .context("server shutdown")???;
    Ok(())
}
