//! Outlier detection against the real server: a sporadic failure leaves the key
//! in rotation, failures in a row eject it (persisted as a cooldown), provider
//! waits are capped, and `ExplainFallback` simulations built from the live pool
//! show ejections and refresh-before-use, as the real call would.

use std::path::Path;

use switchyard::clock::wall_ms;
use switchyard::crypto::{MasterKey, default_key_file};
use switchyard::domain::Material;
use switchyard::fake::{FakeReply, FakeTokenEndpoint};
use switchyard::store::Store;
use switchyard_client::pb;
use switchyard_client::pb::Action::{NextCandidate, RefreshAndRetry, SkipCandidate, Succeed};

use crate::support::*;

const INVALID_API_KEY: &str = r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"#;

async fn open_store(db: &Path) -> Store {
    let (key, _) = MasterKey::load(None, &default_key_file(db)).unwrap();
    Store::open(db, key).await.unwrap()
}

async fn stored_cooldown(db: &Path, id: &str) -> Option<u64> {
    let store = open_store(db).await;
    let c = store.credential(id).await.unwrap().unwrap();
    store.close().await;
    c.health.cooldown_until
}

async fn simulate(
    app: &mut TestApp,
    outcomes: Vec<pb::SimulatedOutcome>,
) -> pb::ExplainFallbackResponse {
    app.client
        .explain_fallback(pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::Simulation(
                pb::Simulation {
                    caller: Some(pb::Caller {
                        kind: Some(pb::caller::Kind::Primary(pb::PrimaryCaller {})),
                    }),
                    outcomes,
                    // The live pool, counters and all.
                    assume_all_credentials_live: false,
                    ..Default::default()
                },
            )),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_sporadic_401_leaves_the_key_in_rotation_and_three_in_a_row_eject_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    let refused = || FakeReply::error(401, INVALID_API_KEY);

    fakes.main.push([refused()]);
    let first = app.primary().await.unwrap();
    assert_eq!(
        shape(&first.attempts),
        vec![
            s("main", "main-k1", NextCandidate),
            s("main-fb", "main-fb-k1", Succeed)
        ]
    );
    assert!(first.attempts[0].reason.contains("failure 1/3 in a row"));
    // The next call starts with the same key: one 401 is not an outage.
    let second = app.primary().await.unwrap();
    assert_eq!(shape(&second.attempts), vec![s("main", "main-k1", Succeed)]);

    // Three in a row (the success above reset the count) eject it.
    for n in 1..=3 {
        fakes.main.push([refused()]);
        let answer = app.primary().await.unwrap();
        assert_eq!(answer.attempts[0].action(), NextCandidate);
        let reason = &answer.attempts[0].reason;
        if n < 3 {
            assert!(
                reason.contains(&format!("failure {n}/3 in a row")),
                "{reason}"
            );
        } else {
            assert!(
                reason.contains("3 failures in a row: key ejected for 300 s"),
                "{reason}"
            );
        }
    }
    let before = fakes.main.call_count();
    let ejected = app.primary().await.unwrap();
    assert_eq!(
        shape(&ejected.attempts),
        vec![
            s("main", "", SkipCandidate),
            s("main-fb", "main-fb-k1", Succeed)
        ]
    );
    assert_eq!(
        fakes.main.call_count(),
        before,
        "the ejected key got no call"
    );
    let at = wall_ms();
    app.stop().await;
    // The ejection is persisted as a cooldown of auth_cooldown (5 min).
    let until = stored_cooldown(&db, "main-k1").await.unwrap();
    assert!(
        until > at + 290_000 && until <= at + 300_000,
        "{until} vs {at}"
    );
}

#[tokio::test]
async fn a_retry_after_of_a_billion_seconds_ejects_for_max_cooldown_at_most() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    fakes.main.push([FakeReply::error(
        429,
        r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
    )
    .with_header("retry-after", "1000000000")]);
    let answer = app.primary().await.unwrap();
    assert_eq!(answer.attempts[0].action(), NextCandidate);
    let at = wall_ms();
    app.stop().await;
    let until = stored_cooldown(&db, "main-k1").await.unwrap();
    assert!(
        until > at + 3_590_000 && until <= at + 3_600_000,
        "capped at policy.max_cooldown (1 h), not 31.7 years: {until} vs {at}"
    );
}

#[tokio::test]
async fn a_simulation_from_the_live_pool_shows_the_ejection_its_failures_would_cause() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    let server_error =
        || FakeReply::error(500, r#"{"error":{"message":"boom","type":"server_error"}}"#);
    // A real call: three 500s in a row on main-k1 (two retries), then main-fb.
    fakes
        .main
        .push([server_error(), server_error(), server_error()]);
    app.primary().await.unwrap();

    // Two more 500s, simulated from the live pool, reach the threshold of five.
    let simulation = simulate(
        &mut app,
        vec![simulated(&server_error()), simulated(&server_error())],
    )
    .await;
    let steps = &simulation.steps;
    assert_eq!(steps[1].action(), NextCandidate, "{steps:?}");
    assert!(
        steps[1]
            .reason
            .contains("5 failures in a row: key ejected for 30 s"),
        "{}",
        steps[1].reason
    );
    // The simulation changed nothing: the live key is still in rotation.
    let answer = app.primary().await.unwrap();
    assert_eq!(shape(&answer.attempts), vec![s("main", "main-k1", Succeed)]);
    app.stop().await;
}

#[tokio::test]
async fn a_simulation_from_the_live_pool_shows_refresh_before_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("sim").await.unwrap();
    let store = open_store(&db).await;
    store.remove_credential("main-k1").await.unwrap();
    let credential = switchyard::store::NewCredential {
        id: "main-oauth".into(),
        provider: "main".into(),
        label: String::new(),
        priority: 0,
        material: Material::OAuth(switchyard::domain::OAuthTokens {
            access_token: secrecy::SecretString::from("sim-access-old".to_owned()),
            refresh_token: secrecy::SecretString::from("sim-refresh-0".to_owned()),
            expires_at: Some(wall_ms() + 20_000),
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

    let simulation = simulate(&mut app, vec![]).await;
    assert_eq!(
        shape(&simulation.steps),
        vec![
            s("main", "main-oauth", RefreshAndRetry),
            s("main", "main-oauth", Succeed),
        ]
    );
    let reason = &simulation.steps[0].reason;
    assert!(
        reason.starts_with("access token expires in ")
            && reason.ends_with("s; refreshing before use"),
        "{reason}"
    );
    assert_eq!(endpoint.call_count(), 0, "a simulation refreshes nothing");
    assert_eq!(fakes.main.call_count(), 0, "a simulation calls no provider");
    app.stop().await;
}
