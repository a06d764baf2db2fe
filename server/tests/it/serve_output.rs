//! What `switchyard serve` prints on stdout: one line per bound address (gRPC, the
//! HTTP front door, metrics), and a closed stdout does not stop the server.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::support::*;

const EXTRA: &str = "openai_listen: 127.0.0.1:0\ntelemetry: { metrics_listen: 127.0.0.1:0 }";

fn serve(config: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("--config")
        .arg(config)
        .arg("--log-format")
        .arg("json")
        .arg("serve")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("RUST_LOG", "info");
    cmd
}

#[tokio::test]
async fn serve_prints_the_grpc_the_http_and_the_metrics_address() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), EXTRA).await;
    let mut child = serve(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(3)
        .map(Result::unwrap)
        .collect();
    assert!(
        lines[0].starts_with("switchyard listening on 127.0.0.1:"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("switchyard openai api on http://127.0.0.1:"),
        "{lines:?}"
    );
    let metrics = lines[2]
        .strip_prefix("switchyard metrics on ")
        .unwrap_or_else(|| panic!("{lines:?}"));
    let scrape = reqwest::get(metrics).await.unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape
            .text()
            .await
            .unwrap()
            .contains("switchyard_credentials")
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn a_closed_stdout_does_not_stop_the_server() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), EXTRA).await;
    // Every write to stdout fails (a script that read nothing and closed the pipe).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = serve(&config)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The address from the JSON log line `serving`.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    for line in stderr.lines().map_while(Result::ok) {
        if line.contains(r#""message":"serving""#) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            addr = v["fields"]["addr"].as_str().map(str::to_owned);
            break;
        }
    }
    let addr = addr.expect("the server logged its address");
    // Past the address lines: the server must still answer.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut logged = String::new();
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        logged.push_str(&line);
        logged.push('\n');
        if line.contains("serving") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(logged.contains(" INFO "), "{logged}");
    assert!(
        !logged.contains('\x1b'),
        "escape codes in a piped log: {logged:?}"
    );
}
