//! Credentials: OAuth refresh (single flight, rotation, crash safety), dead
//! credentials, secrets at rest and in logs, caller tokens, key pool strategies.

use std::path::Path;
use std::time::Duration;

use switchyard::config::Config;
use switchyard::crypto::{MasterKey, default_key_file, token_hash};
use switchyard::domain::Material;
use switchyard::fake::{FakeReply, FakeTokenEndpoint};
use switchyard::store::Store;
use switchyard_client::pb;
use switchyard_client::pb::credential_service_client::CredentialServiceClient;
use tonic::Code;

use crate::support::*;

const AGENT_TOKEN: &str = "sy_agent-token-for-tests-7f3a9c";
const ADMIN_TOKEN: &str = "sy_admin-token-for-tests-b41e02";
const CLIENT_SECRET: &str = "oauth-client-secret-9d2c";

fn unauthorized() -> FakeReply {
    FakeReply::error(
        401,
        r#"{"error":{"message":"Invalid bearer token","type":"authentication_error"}}"#,
    )
}

async fn open_store(db: &Path) -> Store {
    let (key, _) = MasterKey::load(None, &default_key_file(db)).unwrap();
    Store::open(db, key).await.unwrap()
}

/// Replaces `main`'s static key with an OAuth credential `main-oauth` whose access
/// token the provider may no longer accept.
async fn seed_main_oauth(db: &Path, endpoint: &FakeTokenEndpoint, access: &str, refresh: &str) {
    seed_oauth(db, "main", endpoint, access, refresh, CLIENT_SECRET).await;
}

fn auth_yaml() -> String {
    format!(
        "auth:\n  client_token_sha256: [\"{}\"]\n  admin_token_sha256: [\"{}\"]\n",
        token_hash(AGENT_TOKEN),
        token_hash(ADMIN_TOKEN)
    )
}

/// The standard server with caller and admin tokens required.
async fn spawn_with_auth(fakes: &Fakes, db: &Path) -> TestApp {
    let yaml = standard_yaml(fakes, db, &auth_yaml());
    TestApp::spawn(Config::from_yaml(&yaml, "<test>", []).unwrap()).await
}

fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

#[tokio::test]
async fn two_hundred_concurrent_401s_share_one_refresh_and_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("tok").await.unwrap();
    seed_main_oauth(&db, &endpoint, "tok-access-stale", "tok-refresh-0").await;
    let fakes = Fakes::start().await;
    fakes
        .main
        .require_bearer(endpoint.bearer_check(), unauthorized());
    let app = TestApp::spawn(fakes.config(&db, "")).await;

    let calls = (0..200).map(|i| {
        let mut client = app.client.clone();
        tokio::spawn(async move {
            client
                .complete(pb::CompleteRequest {
                    messages: vec![user(&format!("call {i}"))],
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner())
        })
    });
    let answers = futures::future::join_all(calls).await;
    for answer in answers {
        let answer = answer.unwrap().expect("every request succeeds");
        assert_eq!(answer.served_by.unwrap().credential_id, "main-oauth");
    }
    assert_eq!(
        endpoint.call_count(),
        1,
        "one refresh call for 200 requests"
    );
    assert_eq!(fakes.main_fb.call_count(), 0, "no request fell back");
    assert_eq!(endpoint.presented(), ["tok-refresh-0"]);
    app.stop().await;
}

#[tokio::test]
async fn a_process_killed_during_a_rotation_keeps_a_working_token_pair() {
    let fakes = Fakes::start().await;
    let endpoint = FakeTokenEndpoint::start("kill").await.unwrap();
    fakes
        .main
        .require_bearer(endpoint.bearer_check(), unauthorized());
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "").await;
    let db = dir.path().join("switchyard.db");
    seed_main_oauth(&db, &endpoint, "kill-access-stale", "kill-refresh-0").await;

    // The token endpoint takes its time; the process dies while it answers.
    endpoint.set_delay(Duration::from_secs(3));
    let mut server = Server::start(&config, &[]);
    let mut client = server.client().await;
    let doomed = tokio::spawn(async move {
        client
            .complete(pb::CompleteRequest {
                messages: vec![user("hello")],
                ..Default::default()
            })
            .await
    });
    while endpoint.call_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    assert!(
        doomed.await.unwrap().is_err(),
        "the killed server never answered"
    );

    // The stored pair is intact: the old one (the new one never reached the disk).
    let store = open_store(&db).await;
    let stored = store.credential("main-oauth").await.unwrap().unwrap();
    assert_eq!(stored.generation, 0);
    store.close().await;

    endpoint.set_delay(Duration::ZERO);
    // The start finishes the interrupted refresh against the fake endpoint, which
    // this test's runtime serves: wait for the start beside it.
    let server = tokio::task::spawn_blocking(move || Server::start(&config, &[]))
        .await
        .unwrap();
    let answer = server
        .client()
        .await
        .complete(pb::CompleteRequest {
            messages: vec![user("hello again")],
            ..Default::default()
        })
        .await
        .expect("the credential still refreshes after the crash")
        .into_inner();
    assert_eq!(answer.served_by.unwrap().credential_id, "main-oauth");
    assert_eq!(endpoint.presented(), ["kill-refresh-0", "kill-refresh-0"]);
    server.sigterm();
    let (status, _) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success());

    let store = open_store(&db).await;
    let stored = store.credential("main-oauth").await.unwrap().unwrap();
    assert_eq!(
        stored.generation, 1,
        "the rotation of the second run was committed"
    );
    let Material::OAuth(t) = stored.material else {
        panic!("oauth")
    };
    use secrecy::ExposeSecret;
    assert_eq!(t.refresh_token.expose_secret(), "kill-refresh-2");
}

#[tokio::test]
async fn three_rotations_in_a_row_keep_working_and_old_refresh_tokens_die() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("rot").await.unwrap();
    seed_main_oauth(&db, &endpoint, "rot-access-0", "rot-refresh-0").await;
    let fakes = Fakes::start().await;
    fakes
        .main
        .require_bearer(endpoint.bearer_check(), unauthorized());
    let mut app = spawn_with_auth(&fakes, &db).await;
    let mut admin = CredentialServiceClient::new(app.channel.clone());

    for round in 1..=3u64 {
        let info = admin
            .refresh_credential(bearer(
                pb::RefreshCredentialRequest {
                    id: "main-oauth".into(),
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner()
            .credential
            .unwrap();
        assert_eq!(info.generation, round);
        assert_eq!(info.state(), pb::CredentialState::Live);
        let answer = app
            .client
            .complete(bearer(
                pb::CompleteRequest {
                    messages: vec![user("after a rotation")],
                    ..Default::default()
                },
                AGENT_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            answer.attempts.len(),
            1,
            "the new access token works at once"
        );
    }
    assert_eq!(
        endpoint.presented(),
        ["rot-refresh-0", "rot-refresh-1", "rot-refresh-2"]
    );
    assert_eq!(
        fakes.main.calls().last().unwrap().credential,
        "rot-access-3"
    );

    // Refresh tokens of earlier rotations are refused, as real ones are.
    let http = reqwest::Client::new();
    for old in ["rot-refresh-0", "rot-refresh-1"] {
        let response = http
            .post(endpoint.url())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", old)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{old} still works");
    }
    let _ = app.primary().await;
    app.stop().await;
}

#[tokio::test]
async fn token_invalidated_then_a_failed_refresh_marks_dead_and_falls_through() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("dead").await.unwrap();
    seed_main_oauth(&db, &endpoint, "dead-access-0", "dead-refresh-x").await;
    endpoint.set_failure(Some((400, r#"{"error":"invalid_grant"}"#)));
    let fakes = Fakes::start().await;
    fakes.main.require_bearer(
        std::sync::Arc::new(|_: &str| false),
        FakeReply::token_invalidated(),
    );
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;

    let first = app.primary().await.unwrap();
    assert_eq!(
        shape(&first.attempts),
        vec![
            s("main", "main-oauth", pb::Action::RefreshAndRetry),
            s("main", "main-oauth", pb::Action::NextCandidate),
            s("main-fb", "main-fb-k1", pb::Action::Succeed),
        ]
    );
    assert_eq!(
        first.attempts[0].error_class(),
        pb::ErrorClass::AuthTerminal
    );
    assert_eq!(
        first.attempts[1].error_class(),
        pb::ErrorClass::AuthTerminal
    );
    assert!(
        first.attempts[1].reason.contains("invalid_grant"),
        "{}",
        first.attempts[1].reason
    );

    let second = app.primary().await.unwrap();
    assert_eq!(second.attempts[0].action(), pb::Action::SkipCandidate);
    assert_eq!(second.attempts[0].reason, "no live credential (1 dead)");
    assert_eq!(
        fakes.main.call_count(),
        1,
        "the dead credential is never called again"
    );
    assert_eq!(endpoint.call_count(), 1, "nor refreshed again");
    app.stop().await;
}

#[tokio::test]
async fn caller_tokens_are_required_and_an_agent_token_cannot_administer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let app = spawn_with_auth(&fakes, &db).await;
    let mut agent = app.client.clone();
    let mut admin = CredentialServiceClient::new(app.channel.clone());
    let hello = || pb::CompleteRequest {
        messages: vec![user("hi")],
        ..Default::default()
    };

    let missing = agent.complete(hello()).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    let wrong = agent
        .complete(bearer(hello(), "sy_wrong"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert!(agent.complete(bearer(hello(), AGENT_TOKEN)).await.is_ok());
    assert!(agent.complete(bearer(hello(), ADMIN_TOKEN)).await.is_ok());

    let list = || pb::ListCredentialsRequest::default();
    let denied = admin
        .list_credentials(bearer(list(), AGENT_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let anonymous = admin.list_credentials(list()).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let listed = admin
        .list_credentials(bearer(list(), ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.credentials.len(), 5);
    assert_eq!(
        fakes.main.call_count(),
        2,
        "refused calls reached no provider"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_admin_api_puts_lists_and_deletes_credentials_live() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut app = spawn_with_auth(&fakes, &db).await;
    let mut admin = CredentialServiceClient::new(app.channel.clone());

    // A new first key for main, live at once.
    let put = pb::PutCredentialRequest {
        id: "main-k0".into(),
        provider: "main".into(),
        priority: -1,
        material: Some(pb::put_credential_request::Material::ApiKey(pb::ApiKey {
            key: "secret-of-main-k0".into(),
        })),
        ..Default::default()
    };
    let info = admin
        .put_credential(bearer(put, ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    assert_eq!(info.kind(), pb::CredentialKind::ApiKey);
    let answer = app
        .client
        .complete(bearer(
            pb::CompleteRequest {
                messages: vec![user("hi")],
                ..Default::default()
            },
            AGENT_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.served_by.unwrap().credential_id, "main-k0");

    let bad = pb::PutCredentialRequest {
        id: "bad id".into(),
        provider: "nope".into(),
        ..Default::default()
    };
    let status = admin
        .put_credential(bearer(bad, ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    admin
        .delete_credential(bearer(
            pb::DeleteCredentialRequest {
                id: "main-k0".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let gone = admin
        .delete_credential(bearer(
            pb::DeleteCredentialRequest {
                id: "main-k0".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let not_oauth = admin
        .refresh_credential(bearer(
            pb::RefreshCredentialRequest {
                id: "main-k1".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(not_oauth.code(), Code::FailedPrecondition);
    app.stop().await;
}

#[tokio::test]
async fn round_robin_pools_spread_requests_over_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[("main-k2", "main"), ("main-k3", "main")]).await;
    let fakes = Fakes::start().await;
    let mut config = fakes.config(&db, "");
    config.providers.get_mut("main").unwrap().pool_strategy =
        switchyard::credentials::PoolStrategy::RoundRobin;
    let mut app = TestApp::spawn(config).await;
    for _ in 0..6 {
        app.primary().await.unwrap();
    }
    let used: Vec<_> = fakes
        .main
        .calls()
        .into_iter()
        .map(|c| c.credential)
        .collect();
    assert_eq!(
        used,
        [
            "secret-of-main-k1",
            "secret-of-main-k2",
            "secret-of-main-k3",
            "secret-of-main-k1",
            "secret-of-main-k2",
            "secret-of-main-k3"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn no_secret_reaches_the_sqlite_file_the_logs_or_an_answer() {
    let fakes = Fakes::start().await;
    let endpoint = FakeTokenEndpoint::start("grep").await.unwrap();
    fakes
        .main
        .require_bearer(endpoint.bearer_check(), unauthorized());
    fakes.aux.push([FakeReply::token_invalidated()]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), &auth_yaml()).await;
    let db = dir.path().join("switchyard.db");
    seed_main_oauth(&db, &endpoint, "grep-access-stale", "grep-refresh-0").await;
    let master_key = std::fs::read_to_string(default_key_file(&db)).unwrap();

    let server = Server::start(&config, &[("RUST_LOG", "debug")]);
    let mut agent = server.client().await;
    let mut admin = CredentialServiceClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let mut answers = String::new();
    let put = pb::PutCredentialRequest {
        id: "chain-oauth".into(),
        provider: "chain-a".into(),
        material: Some(pb::put_credential_request::Material::Oauth(
            pb::OAuthTokens {
                access_token: "grep-put-access".into(),
                refresh_token: "grep-put-refresh".into(),
                token_url: endpoint.url(),
                client_id: "c".into(),
                client_secret: "grep-put-client-secret".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    answers += &format!(
        "{:?}",
        admin
            .put_credential(bearer(put, ADMIN_TOKEN))
            .await
            .unwrap()
    );
    for _ in 0..2 {
        answers += &format!(
            "{:?}",
            agent
                .complete(bearer(
                    pb::CompleteRequest {
                        messages: vec![user("hi")],
                        ..Default::default()
                    },
                    AGENT_TOKEN
                ))
                .await
                .unwrap()
        );
        answers += &format!(
            "{:?}",
            agent
                .aux_complete(bearer(
                    pb::AuxCompleteRequest {
                        task: "compression".into(),
                        messages: vec![user("compress")],
                        ..Default::default()
                    },
                    AGENT_TOKEN
                ))
                .await
        );
    }
    answers += &format!(
        "{:?}",
        admin
            .list_credentials(bearer(pb::ListCredentialsRequest::default(), ADMIN_TOKEN))
            .await
            .unwrap()
    );
    answers += &format!("{:?}", agent.complete(pb::CompleteRequest::default()).await);
    assert!(endpoint.call_count() >= 1, "a refresh happened");
    server.sigterm();
    let (status, logs) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success());
    assert!(logs.contains("DEBUG"), "debug logs were captured");

    let mut file = std::fs::read(&db).unwrap();
    for ext in ["db-wal", "db-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(&ext[2..]);
        file.extend(std::fs::read(Path::new(&name)).unwrap_or_default());
    }
    let mut secrets: Vec<String> = vec![
        AGENT_TOKEN.into(),
        ADMIN_TOKEN.into(),
        CLIENT_SECRET.into(),
        master_key.trim().into(),
        "grep-access-stale".into(),
        "grep-put-access".into(),
        "grep-put-refresh".into(),
        "grep-put-client-secret".into(),
    ];
    for n in 0..=endpoint.call_count() {
        secrets.push(format!("grep-access-{n}"));
        secrets.push(format!("grep-refresh-{n}"));
    }
    for p in ["main", "main-fb", "aux", "chain-a", "chain-b"] {
        secrets.push(format!("secret-of-{p}-k1"));
    }
    for secret in &secrets {
        let needle = secret.as_bytes();
        assert!(
            !file.windows(needle.len()).any(|w| w == needle),
            "{secret} is in the SQLite file"
        );
        assert!(!logs.contains(secret.as_str()), "{secret} is in the logs");
        assert!(
            !answers.contains(secret.as_str()),
            "{secret} is in an answer"
        );
    }
}

#[tokio::test]
async fn tls_with_client_certificates_refuses_clients_without_one() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

    let ca = test_ca("switchyard test CA");
    let pem_pair = |name: &str| {
        let (cert, key) = issue(&ca, name);
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = pem_pair("localhost");
    let (agent_cert, agent_key) = pem_pair("agent");

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let tls = format!(
        "tls: {{ cert_file: \"{}\", key_file: \"{}\", client_ca_file: \"{}\" }}\n",
        write("server.pem", &server_cert),
        write("server.key", &server_key),
        write("ca.pem", &ca.pem())
    );
    let fakes = Fakes::start().await;
    let config = Config::from_yaml(&standard_yaml(&fakes, &db, &tls), "<tls>", []).unwrap();
    let app = switchyard::app::App::build(config).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let tls_client = |identity: bool| {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca.pem()))
            .domain_name("localhost");
        if identity {
            tls = tls.identity(Identity::from_pem(&agent_cert, &agent_key));
        }
        tls
    };
    let call = |channel: Channel| async move {
        switchyard_client::SwitchyardServiceClient::new(channel)
            .complete(pb::CompleteRequest {
                messages: vec![user("over TLS")],
                ..Default::default()
            })
            .await
    };
    let endpoint = || Channel::from_shared(format!("https://{addr}")).unwrap();
    let with_cert = endpoint()
        .tls_config(tls_client(true))
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert!(
        call(with_cert).await.is_ok(),
        "a client with a certificate is served"
    );
    let refused = match endpoint()
        .tls_config(tls_client(false))
        .unwrap()
        .connect()
        .await
    {
        Err(_) => true,
        Ok(channel) => call(channel).await.is_err(),
    };
    assert!(refused, "a client without a certificate is refused");
    let plaintext = match Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
    {
        Err(_) => true,
        Ok(channel) => call(channel).await.is_err(),
    };
    assert!(plaintext, "plaintext is refused");
    assert_eq!(fakes.main.call_count(), 1);
    let _ = stop.send(());
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_cli_refreshes_offline_and_a_refused_refresh_marks_dead() {
    let fakes = Fakes::start().await;
    let endpoint = FakeTokenEndpoint::start("cli").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&fakes, dir.path(), "").await;
    let db = dir.path().join("switchyard.db");
    seed_main_oauth(&db, &endpoint, "cli-access-0", "cli-refresh-0").await;
    // The CLI runs beside this test's runtime, which serves the fake endpoint.
    let refresh = || {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
                .arg("--config")
                .arg(&config)
                .args(["credentials", "refresh", "main-oauth"])
                .output()
                .unwrap()
        })
    };
    let first = refresh().await.unwrap();
    assert!(first.status.success(), "{first:?}");
    assert_eq!(endpoint.presented(), ["cli-refresh-0"]);

    endpoint.set_failure(Some((400, r#"{"error":"invalid_grant"}"#)));
    let second = refresh().await.unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert!(
        !stderr.contains("cli-refresh-1"),
        "no token in the error: {stderr}"
    );
    let store = open_store(&db).await;
    let stored = store.credential("main-oauth").await.unwrap().unwrap();
    assert!(stored.health.dead_since.is_some(), "marked dead");
    assert_eq!(stored.generation, 1);
}

#[tokio::test]
async fn an_access_token_about_to_expire_is_refreshed_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("exp").await.unwrap();
    // Stored as expiring in 10 s: inside the 60 s refresh window.
    let store = open_store(&db).await;
    store.remove_credential("main-k1").await.unwrap();
    let credential = switchyard::store::NewCredential {
        id: "main-oauth".into(),
        provider: "main".into(),
        label: String::new(),
        priority: 0,
        material: Material::OAuth(switchyard::domain::OAuthTokens {
            access_token: secrecy::SecretString::from("exp-access-old".to_owned()),
            refresh_token: secrecy::SecretString::from("exp-refresh-0".to_owned()),
            expires_at: Some(switchyard::clock::wall_ms() + 10_000),
            token_url: endpoint.url(),
            client_id: "switchyard-test".into(),
            client_secret: None,
            scope: None,
        }),
    };
    store.put_credential(&credential, false, 1).await.unwrap();
    store.close().await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;

    let answer = app.primary().await.unwrap();
    assert_eq!(
        shape(&answer.attempts),
        vec![
            s("main", "main-oauth", pb::Action::RefreshAndRetry),
            s("main", "main-oauth", pb::Action::Succeed),
        ]
    );
    assert_eq!(
        answer.attempts[0].http_status, 0,
        "the old token was not sent"
    );
    let sent: Vec<_> = fakes
        .main
        .calls()
        .into_iter()
        .map(|c| c.credential)
        .collect();
    assert_eq!(
        sent,
        ["exp-access-1"],
        "only the refreshed token reached the provider"
    );
    // The new token is valid for an hour: the next call sends it at once.
    let again = app.primary().await.unwrap();
    assert_eq!(again.attempts.len(), 1);
    assert_eq!(endpoint.call_count(), 1);
    app.stop().await;
}
