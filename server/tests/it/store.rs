//! The store under faults: the health of `switchyard.v1.Store` while writes fail,
//! refusals at start (a read-only database, an empty or missing master key), and
//! owner-only database files.
//!
//! Root ignores file modes, so a read-only file is made with `chattr +i` (honoured
//! by root, and by writes through descriptors already open); without that, as an
//! unprivileged user, with `chmod`. A test that can do neither says so and skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_client::pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::*;

/// A file or directory made read-only for the test, restored on drop (so the
/// temporary directory can be removed even when the test fails).
struct ReadOnly {
    path: PathBuf,
    immutable: bool,
}

impl ReadOnly {
    /// `chattr +i`: refuses writes even to root and through open descriptors.
    fn immutable(path: &Path) -> Option<Self> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self {
            path: path.to_owned(),
            immutable: true,
        })
    }

    /// `chattr +i`, else (not root) the write bits removed.
    fn any(path: &Path) -> Option<Self> {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        if let Some(ro) = Self::immutable(path) {
            return Some(ro);
        }
        let meta = std::fs::metadata(path).ok()?;
        if is_root() {
            return None;
        }
        let mode = meta.permissions().mode() & !0o222;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).ok()?;
        let _ = meta.uid();
        Some(Self {
            path: path.to_owned(),
            immutable: false,
        })
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        } else {
            use std::os::unix::fs::PermissionsExt as _;
            if let Ok(meta) = std::fs::metadata(&self.path) {
                let mode = meta.permissions().mode() | 0o200;
                let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(mode));
            }
        }
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

/// Runs `switchyard serve` to its exit (it must fail to start): status and stderr.
fn run_to_exit(config: &Path, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("--config")
        .arg(config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("SWITCHYARD_MASTER_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn switchyard");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status, stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("switchyard started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn health(channel: tonic::transport::Channel, service: &str) -> ServingStatus {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

#[tokio::test]
async fn store_health_goes_not_serving_while_writes_fail_and_comes_back_after_repair() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    let config = config_file(&fakes, dir.path(), "").await;
    let server = Server::start(&config, &[]);
    let mut client = server.client().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let call = || pb::AuxCompleteRequest {
        task: "compression".into(),
        messages: vec![user("compress this")],
        ..Default::default()
    };
    client.aux_complete(call()).await.unwrap();
    assert_eq!(
        health(channel.clone(), "switchyard.v1.Store").await,
        ServingStatus::Serving
    );

    // Writes to the WAL fail from now on (EPERM), as on a broken disk.
    let db = dir.path().join("switchyard.db");
    let wal = dir.path().join("switchyard.db-wal");
    let Some(broken) = ReadOnly::immutable(&wal) else {
        eprintln!("SKIPPED: `chattr +i` is not available here (needs root and ext4/xfs/btrfs)");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut during = Vec::new();
    loop {
        // Calls are still answered while the store fails.
        let answer = client.aux_complete(call()).await.unwrap().into_inner();
        during.push(answer.request_id);
        if health(channel.clone(), "switchyard.v1.Store").await == ServingStatus::NotServing {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store never went NOT_SERVING"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        health(channel.clone(), "switchyard.v1.SwitchyardService").await,
        ServingStatus::Serving,
        "calls are still served: the service stays SERVING"
    );
    // Their trails are kept in memory meanwhile.
    let explained = client
        .explain_fallback(pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::RequestId(
                during[0].clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.steps.len(), 1);

    drop(broken);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        client.aux_complete(call()).await.unwrap();
        if health(channel.clone(), "switchyard.v1.Store").await == ServingStatus::Serving {
            break;
        }
        assert!(Instant::now() < deadline, "the store never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.sigterm();
    let (status, logs) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{logs}");
    let degraded = logs
        .lines()
        .find(|l| l.contains("\"degraded\""))
        .unwrap_or_else(|| panic!("no degraded log line in {logs}"));
    assert!(
        degraded.contains(&db.display().to_string()),
        "the log line names the file: {degraded}"
    );
    assert!(logs.contains("\"recovered\""), "{logs}");
}

#[tokio::test]
async fn a_read_only_database_file_fails_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    let config = config_file(&fakes, dir.path(), "").await;
    let db = dir.path().join("switchyard.db");
    let Some(_ro) = ReadOnly::any(&db) else {
        eprintln!("SKIPPED: cannot make a file read-only here (root without `chattr +i`)");
        return;
    };
    let (status, stderr) = run_to_exit(&config, &[]);
    assert!(!status.success());
    assert!(
        stderr.contains(&db.display().to_string()),
        "the error names the file: {stderr}"
    );
    assert!(
        stderr.contains("readonly") || stderr.contains("not writable"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_database_in_a_read_only_directory_fails_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    let sub = dir.path().join("ro");
    std::fs::create_dir(&sub).unwrap();
    let db = sub.join("switchyard.db");
    let config = dir.path().join("switchyard.yaml");
    std::fs::write(&config, standard_yaml(&fakes, &db, "")).unwrap();
    let Some(_ro) = ReadOnly::any(&sub) else {
        eprintln!("SKIPPED: cannot make a directory read-only here (root without `chattr +i`)");
        return;
    };
    let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let (status, stderr) = run_to_exit(&config, &[("SWITCHYARD_MASTER_KEY", key)]);
    assert!(!status.success());
    assert!(
        stderr.contains(&db.display().to_string()),
        "the error names the file: {stderr}"
    );
}

#[tokio::test]
async fn an_empty_master_key_is_refused_and_no_key_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    let config = config_file(&fakes, dir.path(), "").await;
    let key_file = dir.path().join("switchyard.db.key");
    std::fs::remove_file(&key_file).unwrap();
    let (status, stderr) = run_to_exit(&config, &[("SWITCHYARD_MASTER_KEY", "")]);
    assert!(!status.success());
    assert!(
        stderr.contains("SWITCHYARD_MASTER_KEY is set but empty"),
        "{stderr}"
    );
    assert!(!key_file.exists(), "no key file is written");
}

#[tokio::test]
async fn no_key_file_is_generated_beside_a_database_with_sealed_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    let config = config_file(&fakes, dir.path(), "").await;
    let key_file = dir.path().join("switchyard.db.key");
    std::fs::remove_file(&key_file).unwrap();
    let (status, stderr) = run_to_exit(&config, &[]);
    assert!(!status.success());
    assert!(stderr.contains("holds secrets sealed"), "{stderr}");
    assert!(stderr.contains(&key_file.display().to_string()), "{stderr}");
    assert!(!key_file.exists(), "no key file is generated");
}

#[tokio::test]
async fn the_database_and_its_wal_and_shm_files_are_owner_only_after_a_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::start().await;
    // No file yet: the server creates it.
    let db = dir.path().join("switchyard.db");
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    let _ = app.aux("compression").await;
    for file in [
        "switchyard.db",
        "switchyard.db-wal",
        "switchyard.db-shm",
        "switchyard.db.key",
    ] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {:o}", mode & 0o777);
    }
    assert_eq!(
        health(app.channel.clone(), "switchyard.v1.Store").await,
        ServingStatus::Serving
    );
    app.stop().await;
}
