//! Off-the-shelf gRPC tools against the real server, with no proto files: grpcurl
//! (reflection `v1`) describes and decodes the `google.rpc` error details, and ghz
//! (reflection `v1alpha` only) load-tests `AuxComplete`.
//!
//! The binaries come from `client/tools/grpc-tools` (run by `.ci/run`). Without them
//! a test prints why and passes, unless `CI` is set: then a missing tool fails it.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::support::*;

/// The tool's path: `SWITCHYARD_<NAME>` (then required: a wrong path fails the
/// test), then the cache `client/tools/grpc-tools` fills, then `PATH`.
fn tool(name: &str) -> Option<PathBuf> {
    let env = format!("SWITCHYARD_{}", name.to_ascii_uppercase());
    if let Some(path) = std::env::var_os(&env) {
        return Some(PathBuf::from(path));
    }
    let cached = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/switchyard/bin").join(name));
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    cached.into_iter().chain(on_path).find(|p| p.is_file())
}

/// The tool, or `None` after saying why the test is skipped. Under CI a missing
/// tool is a failure: the guarantee must not go untested there.
fn require(name: &str) -> Option<PathBuf> {
    let found = tool(name);
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    match found {
        Some(path) => Some(path),
        None if ci => panic!("{name} is not installed (run client/tools/grpc-tools); CI is set"),
        None => {
            eprintln!("SKIPPED: {name} not found (run client/tools/grpc-tools); CI is not set");
            None
        }
    }
}

async fn run(program: PathBuf, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
    })
    .await
    .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn grpcurl_describes_and_decodes_error_details_through_reflection() {
    let Some(grpcurl) = require("grpcurl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let app = TestApp::spawn(fakes.config(&db, "")).await;
    let addr = app.addr.to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["-plaintext".to_owned()];
        v.extend(rest.iter().map(|s| (*s).to_owned()));
        v
    };

    let out = run(
        grpcurl.clone(),
        args(&[&addr, "describe", "google.rpc.ErrorInfo"]),
    )
    .await;
    let described = text(&out);
    assert!(out.status.success(), "{described}");
    assert!(
        described.contains("message ErrorInfo") && described.contains("string reason"),
        "{described}"
    );
    let out = run(
        grpcurl.clone(),
        args(&[&addr, "describe", "google.rpc.BadRequest"]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));

    // A failing call: an unknown task. grpcurl decodes its details (ErrorInfo and
    // BadRequest) only if reflection serves their descriptors; else it prints base64.
    let request = r#"{"task":"no-such-task","messages":[{"role":"ROLE_USER","content":"hi"}]}"#;
    let out = run(
        grpcurl.clone(),
        args(&[
            "-d",
            request,
            &addr,
            "switchyard.v1.SwitchyardService/AuxComplete",
        ]),
    )
    .await;
    let failed = text(&out);
    assert!(!out.status.success(), "{failed}");
    assert!(failed.contains("InvalidArgument"), "{failed}");
    assert!(
        failed.contains("type.googleapis.com/google.rpc.ErrorInfo"),
        "{failed}"
    );
    assert!(failed.contains(r#""reason": "UNKNOWN_TASK""#), "{failed}");
    assert!(failed.contains(r#""domain": "switchyard.dev""#), "{failed}");
    assert!(failed.contains(r#""field": "task""#), "{failed}");

    // And a failed completion: its switchyard.v1.FailureDetail is decoded too.
    let bad =
        || switchyard::fake::FakeReply::error(400, r#"{"error":{"message":"bad parameter"}}"#);
    push_script(
        &fakes,
        &[
            ("aux", bad()),
            ("chain-a", bad()),
            ("chain-b", bad()),
            ("main", bad()),
            ("main-fb", bad()),
        ],
    );
    let request = r#"{"task":"compression","messages":[{"role":"ROLE_USER","content":"hi"}]}"#;
    let out = run(
        grpcurl,
        args(&[
            "-d",
            request,
            &addr,
            "switchyard.v1.SwitchyardService/AuxComplete",
        ]),
    )
    .await;
    let failed = text(&out);
    assert!(failed.contains("Unavailable"), "{failed}");
    assert!(failed.contains("after 5 attempt(s)"), "{failed}");
    assert!(
        failed.contains(r#""reason": "ALL_CANDIDATES_FAILED""#),
        "{failed}"
    );
    assert!(
        failed.contains("type.googleapis.com/switchyard.v1.FailureDetail"),
        "{failed}"
    );
    app.stop().await;
}

#[tokio::test]
async fn ghz_load_tests_aux_complete_with_v1alpha_reflection() {
    let Some(ghz) = require("ghz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let app = TestApp::spawn(fakes.config(&db, "")).await;
    let request = r#"{"task":"compression","messages":[{"role":"ROLE_USER","content":"hi"}]}"#;
    let out = run(
        ghz,
        [
            "--insecure",
            "--call",
            "switchyard.v1.SwitchyardService/AuxComplete",
            "-n",
            "50",
            "-c",
            "4",
            "-d",
            request,
            "--format",
            "json",
            &app.addr.to_string(),
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .await;
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {report}"));
    assert_eq!(json["count"], 50, "{report}");
    assert_eq!(json["statusCodeDistribution"]["OK"], 50, "{report}");
    assert_eq!(
        fakes.aux.call_count(),
        50,
        "every call reached the task's provider"
    );
    app.stop().await;
}
