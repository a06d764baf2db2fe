//! Reload without restart, on the real binary: SIGHUP after an edit switches the
//! routing of the next call while a call in flight finishes on the one it started
//! with; a broken edit is refused and the old config keeps serving; a change of
//! the file alone reloads; credentials added or removed with the CLI reach the
//! running server. `switchyard_config_generation` says which generation is live.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use switchyard::fake::FakeReply;
use switchyard_client::pb;
use switchyard_client::pb::Action::{NextCandidate, Succeed};

use crate::support::*;

/// Polls `check` every 50 ms until it holds, for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `switchyard_config_generation` as scraped: (generation, hash).
async fn generation(metrics_port: u16) -> (u64, String) {
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("switchyard_config_generation{"))
        .unwrap_or_else(|| panic!("no switchyard_config_generation in\n{text}"));
    let hash = line
        .split("hash=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let value = line.rsplit(' ').next().unwrap().parse().unwrap();
    (value, hash)
}

async fn compress(
    client: &mut switchyard_client::SwitchyardServiceClient<tonic::transport::Channel>,
) -> pb::AuxCompleteResponse {
    client
        .aux_complete(pb::AuxCompleteRequest {
            task: "compression".into(),
            messages: vec![user("compress this")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// The standard config, metrics on `port`; `compression` rerouted when `rerouted`
/// (main-fb first, then chain-b), and `extra` appended.
fn yaml(fakes: &Fakes, db: &Path, port: u16, rerouted: bool, extra: &str) -> String {
    let mut text = standard_yaml(
        fakes,
        db,
        &format!("telemetry: {{ metrics_listen: \"127.0.0.1:{port}\" }}\n{extra}"),
    );
    if rerouted {
        text = text.replace(
            "    provider: aux\n    model: aux-model\n    fallback_chain: [ { provider: chain-a, model: a-model }, { provider: chain-b, model: b-model } ]",
            "    provider: main-fb\n    model: fb-model\n    fallback_chain: [ { provider: chain-b, model: b-model } ]",
        );
        assert!(
            text.contains("provider: main-fb\n    model: fb-model"),
            "{text}"
        );
    }
    text
}

const BILLING: &str = r#"{"error":{"message":"Insufficient credits","type":"insufficient_quota"}}"#;

/// The Must show of issue 16. The config path is a symlink to a file in another
/// directory: editing the target is invisible to the directory watch, so only
/// SIGHUP can apply it.
#[tokio::test]
async fn sighup_after_an_edit_reroutes_the_next_call_while_a_call_in_flight_finishes_on_the_old_routing()
 {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let target_dir = dir.path().join("real");
    std::fs::create_dir(&target_dir).unwrap();
    let target = target_dir.join("switchyard.yaml");
    let port = free_port();
    std::fs::write(&target, yaml(&fakes, &db, port, false, "")).unwrap();
    let link = dir.path().join("switchyard.yaml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let server = Server::start(&link, &[]);
    let mut client = server.client().await;
    let (first, first_hash) = generation(port).await;
    assert_eq!(first, 1);
    assert!(
        server
            .logs()
            .contains(&format!("config generation 1 live (sha256 {first_hash})")),
        "{}",
        server.logs()
    );

    // A call in flight: its explicit provider answers 402, slowly; its chain is
    // the old one (chain-a next).
    fakes
        .aux
        .push([FakeReply::error(402, BILLING).after(Duration::from_millis(2500))]);
    let in_flight = {
        let mut client = client.clone();
        tokio::spawn(async move { compress(&mut client).await })
    };
    eventually(
        Duration::from_secs(5),
        "the slow attempt starts",
        async || fakes.aux.call_count() == 1,
    )
    .await;

    std::fs::write(&target, yaml(&fakes, &db, port, true, "")).unwrap();
    server.sighup();
    eventually(Duration::from_secs(5), "generation 2 is live", async || {
        generation(port).await.0 == 2
    })
    .await;
    assert!(
        !in_flight.is_finished(),
        "the reload must land while the call is in flight"
    );
    assert!(
        server.logs().contains("config generation 2 live"),
        "{}",
        server.logs()
    );
    assert!(
        server.logs().contains(r#""trigger":"SIGHUP""#),
        "{}",
        server.logs()
    );
    assert_ne!(generation(port).await.1, first_hash);

    // The next call: the new routing.
    let next = compress(&mut client).await;
    assert_eq!(
        shape(&next.attempts),
        vec![s("main-fb", "main-fb-k1", Succeed)]
    );
    // The call in flight: the old routing, to its end.
    let old = in_flight.await.unwrap();
    assert_eq!(
        shape(&old.attempts),
        vec![
            s("aux", "aux-k1", NextCandidate),
            s("chain-a", "chain-a-k1", Succeed),
        ]
    );
    assert_eq!(
        fakes.counts(),
        [0, 1, 1, 1, 0],
        "main, main-fb, aux, chain-a, chain-b"
    );

    // A broken edit: refused, logged, and generation 2 keeps serving.
    std::fs::write(
        &target,
        yaml(&fakes, &db, port, true, "").replace(
            "provider: main-fb\n    model: fb-model",
            "provider: nowhere\n    model: fb-model",
        ),
    )
    .unwrap();
    server.sighup();
    eventually(
        Duration::from_secs(5),
        "the refusal is logged",
        async || server.logs().contains("config reload refused"),
    )
    .await;
    let logs = server.logs();
    assert!(logs.contains("unknown provider"), "{logs}");
    assert!(logs.contains("generation 2 (sha256"), "{logs}");
    assert_eq!(generation(port).await.0, 2);
    let still = compress(&mut client).await;
    assert_eq!(
        shape(&still.attempts),
        vec![s("main-fb", "main-fb-k1", Succeed)]
    );
}

/// No signal: writing the file is enough (debounced). A changed listen address is
/// reported as needing a restart while the rest applies.
#[tokio::test]
async fn a_change_of_the_file_alone_reloads_and_says_what_needs_a_restart() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let config = dir.path().join("switchyard.yaml");
    let port = free_port();
    std::fs::write(&config, yaml(&fakes, &db, port, false, "")).unwrap();
    let server = Server::start(&config, &[]);
    let mut client = server.client().await;
    assert_eq!(
        shape(&compress(&mut client).await.attempts),
        vec![s("aux", "aux-k1", Succeed)]
    );

    // Rewritten through a rename, as editors and Kubernetes do.
    let edited = yaml(&fakes, &db, port, true, "shutdown_grace: 7s\n");
    let tmp = dir.path().join(".switchyard.yaml.tmp");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, &config).unwrap();
    eventually(Duration::from_secs(5), "generation 2 is live", async || {
        generation(port).await.0 == 2
    })
    .await;
    assert_eq!(
        shape(&compress(&mut client).await.attempts),
        vec![s("main-fb", "main-fb-k1", Succeed)]
    );
    let logs = server.logs();
    assert!(logs.contains(r#""trigger":"file change""#), "{logs}");
    assert!(
        logs.contains("changed settings need a restart to apply: shutdown_grace"),
        "{logs}"
    );
    // Writes to the database beside the file reload nothing.
    for _ in 0..3 {
        compress(&mut client).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(generation(port).await.0, 2);

    // Rewritten in place (truncated, written, closed), as `>` in a shell does.
    std::fs::write(&config, yaml(&fakes, &db, port, false, "")).unwrap();
    eventually(Duration::from_secs(5), "generation 3 is live", async || {
        generation(port).await.0 == 3
    })
    .await;
    assert_eq!(
        shape(&compress(&mut client).await.attempts),
        vec![s("aux", "aux-k1", Succeed)]
    );
}

fn cli(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("--config").arg(config);
    cmd
}

/// Credentials added and removed with the CLI, against the SQLite file of a
/// running server, reach its pool without a restart.
#[tokio::test]
async fn credentials_added_and_removed_with_the_cli_reach_a_running_server() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "").await;
    let server = Server::start(&config, &[]);
    let mut client = server.client().await;
    let primary = async |client: &mut switchyard_client::SwitchyardServiceClient<_>| {
        client
            .complete(pb::CompleteRequest {
                messages: vec![user("hello")],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    };
    let served_by = |r: &pb::CompleteResponse| {
        r.served_by
            .as_ref()
            .map(|s| s.credential_id.clone())
            .unwrap_or_default()
    };
    assert_eq!(served_by(&primary(&mut client).await), "main-k1");

    // Tried before main-k1 (a lower priority number).
    let added = cli(&config)
        .args([
            "credentials",
            "add",
            "--provider",
            "main",
            "--id",
            "main-k0",
        ])
        .args(["--api-key-env", "NEW_KEY", "--priority=-1"])
        .env("NEW_KEY", "sk-added-while-serving-0001")
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let mut answer = None;
    eventually(
        Duration::from_secs(3),
        "the added key is used",
        async || {
            let r = primary(&mut client).await;
            let used = served_by(&r) == "main-k0";
            answer = Some(r);
            used
        },
    )
    .await;
    assert_eq!(
        fakes.main.calls().last().unwrap().credential,
        "sk-added-while-serving-0001"
    );
    assert!(
        server
            .logs()
            .contains("credentials changed in the store: pool reloaded"),
        "{}",
        server.logs()
    );

    let removed = cli(&config)
        .args(["credentials", "remove", "main-k0"])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{removed:?}");
    eventually(
        Duration::from_secs(3),
        "the removed key is not used",
        async || served_by(&primary(&mut client).await) == "main-k1",
    )
    .await;
    // Once gone, never again.
    let before = fakes.main.call_count();
    for _ in 0..3 {
        assert_eq!(served_by(&primary(&mut client).await), "main-k1");
    }
    assert!(
        fakes.main.calls()[before..]
            .iter()
            .all(|c| c.credential == "secret-of-main-k1")
    );
}

/// A key declared from a file of a Kubernetes Secret volume: the kubelet writes
/// the new version beside the old and swaps the `..data` symlink. The swap alone
/// reloads the key; the next calls present the new one.
#[tokio::test]
async fn a_swapped_secret_volume_reloads_its_declared_key() {
    use std::os::unix::fs::symlink;
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let secret = dir.path().join("secret");
    std::fs::create_dir_all(secret.join("..v1")).unwrap();
    std::fs::write(secret.join("..v1/main-key"), "sk-secret-volume-v1-0001\n").unwrap();
    symlink("..v1", secret.join("..data")).unwrap();
    symlink("..data/main-key", secret.join("main-key")).unwrap();
    let port = free_port();
    let text = yaml(&fakes, &db, port, false, "").replacen(
        "main: { kind: anthropic, base_url: ",
        &format!(
            "main: {{ kind: anthropic, api_key_file: \"{}\", base_url: ",
            secret.join("main-key").display()
        ),
        1,
    );
    assert!(text.contains("api_key_file"), "{text}");
    let config = dir.path().join("switchyard.yaml");
    std::fs::write(&config, text).unwrap();
    let server = Server::start(&config, &[]);
    let mut client = server.client().await;
    let call = async |client: &mut switchyard_client::SwitchyardServiceClient<_>| {
        client
            .complete(pb::CompleteRequest {
                messages: vec![user("hello")],
                ..Default::default()
            })
            .await
            .unwrap();
    };
    call(&mut client).await;
    assert_eq!(
        fakes.main.calls().last().unwrap().credential,
        "sk-secret-volume-v1-0001"
    );

    // The kubelet's update: a new version directory, then an atomic swap.
    std::fs::create_dir_all(secret.join("..v2")).unwrap();
    std::fs::write(secret.join("..v2/main-key"), "sk-secret-volume-v2-0002\n").unwrap();
    symlink("..v2", secret.join("..data_tmp")).unwrap();
    std::fs::rename(secret.join("..data_tmp"), secret.join("..data")).unwrap();
    eventually(
        Duration::from_secs(5),
        "the new key is presented",
        async || {
            call(&mut client).await;
            fakes.main.calls().last().unwrap().credential == "sk-secret-volume-v2-0002"
        },
    )
    .await;
    let logs = server.logs();
    assert!(logs.contains(r#""trigger":"file change""#), "{logs}");
    assert!(
        !logs.contains("sk-secret-volume"),
        "a key reached the logs: {logs}"
    );
}
