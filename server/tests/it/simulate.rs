//! `ExplainFallback` simulations of everything the policy decides, against the real
//! server: a refresh refused or failing, a token about to expire, and the credential
//! state the plan used, said in the answer. Each simulation is compared step by step
//! with the trail a real call records in the same situation.

use std::path::Path;

use secrecy::SecretString;
use switchyard::clock::wall_ms;
use switchyard::domain::{Material, OAuthTokens};
use switchyard::fake::{FakeReply, FakeTokenEndpoint};
use switchyard::store::{NewCredential, Store};
use switchyard_client::pb;
use switchyard_client::pb::Action::{NextCandidate, RefreshAndRetry, SkipCandidate, Succeed};

use crate::support::*;

/// The token endpoint's refusal of a spent or revoked refresh token.
const INVALID_GRANT: &str = r#"{"error":"invalid_grant","error_description":"revoked"}"#;

/// Puts `<provider>-oauth` in place of `<provider>-k1`, its access token expiring
/// at `expires_at`, refreshed at `endpoint` (whose first pair is `<provider>-*-0`).
async fn put_oauth(
    db: &Path,
    provider: &str,
    endpoint: &FakeTokenEndpoint,
    expires_at: Option<u64>,
) {
    let key_file = switchyard::crypto::default_key_file(db);
    let (key, _) = switchyard::crypto::MasterKey::load(None, &key_file).unwrap();
    let store = Store::open(db, key).await.unwrap();
    let _ = store.remove_credential(&format!("{provider}-k1")).await;
    let _ = store.remove_credential(&format!("{provider}-oauth")).await;
    let credential = NewCredential {
        id: format!("{provider}-oauth"),
        provider: provider.into(),
        label: String::new(),
        priority: 0,
        material: Material::OAuth(OAuthTokens {
            access_token: SecretString::from(format!("{provider}-access-0")),
            refresh_token: SecretString::from(format!("{provider}-refresh-0")),
            expires_at,
            token_url: endpoint.url(),
            client_id: "switchyard-test".into(),
            client_secret: None,
            scope: None,
        }),
    };
    store.put_credential(&credential, false, 1).await.unwrap();
    store.close().await;
}

fn refresh(result: pb::RefreshResult, reason: &str) -> pb::SimulatedOutcome {
    pb::SimulatedOutcome {
        outcome: Some(pb::simulated_outcome::Outcome::Refresh(
            pb::SimulatedRefresh {
                result: result as i32,
                reason: reason.into(),
            },
        )),
        duration_ms: 0,
    }
}

async fn simulate(app: &mut TestApp, sim: pb::Simulation) -> pb::ExplainFallbackResponse {
    app.client
        .explain_fallback(pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::Simulation(sim)),
        })
        .await
        .unwrap()
        .into_inner()
}

fn compression_sim(outcomes: Vec<pb::SimulatedOutcome>, all_healthy: bool) -> pb::Simulation {
    pb::Simulation {
        caller: Some(pb::Caller {
            kind: Some(pb::caller::Kind::Task("compression".into())),
        }),
        outcomes,
        assume_all_credentials_live: all_healthy,
        ..Default::default()
    }
}

/// Every field of each step but its duration (simulated time is not wall time).
fn whole(steps: &[pb::Attempt]) -> Vec<pb::Attempt> {
    steps
        .iter()
        .map(|a| pb::Attempt {
            duration_ms: 0,
            ..a.clone()
        })
        .collect()
}

/// The seed's case: the compression task's OAuth credential answers 401
/// `token_invalidated` and its refresh is refused. The simulation, made before the
/// call with the default (current state), returns the very steps the call records;
/// after the call, the default plan says the credential is dead and skips it.
#[tokio::test]
async fn a_refused_refresh_simulates_as_the_real_call_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("aux").await.unwrap();
    endpoint.set_failure(Some((400, INVALID_GRANT)));
    put_oauth(&db, "aux", &endpoint, None).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;

    let reply = FakeReply::token_invalidated();
    let outcomes = vec![
        simulated(&reply),
        refresh(
            pb::RefreshResult::Refused,
            "token endpoint answered 400 invalid_grant",
        ),
    ];
    let before = simulate(&mut app, compression_sim(outcomes.clone(), false)).await;
    assert_eq!(before.credential_basis(), pb::CredentialBasis::CurrentState);
    assert!(
        before.note.starts_with(
            "planned with the current credential state (every credential is usable now)"
        ),
        "{}",
        before.note
    );

    fakes.aux.push([reply]);
    let real = app.aux("compression").await.unwrap();
    assert_eq!(
        shape(&real.attempts),
        vec![
            s("aux", "aux-oauth", RefreshAndRetry),
            s("aux", "aux-oauth", NextCandidate),
            s("chain-a", "chain-a-k1", Succeed),
        ]
    );
    assert_eq!(endpoint.call_count(), 1, "one refused refresh");
    assert_eq!(
        whole(&before.steps),
        whole(&real.attempts),
        "the simulation and the real call disagree"
    );
    let recorded = app.explain_id(&real.request_id).await;
    assert_eq!(whole(&recorded.steps), whole(&before.steps));
    assert_eq!(
        recorded.credential_basis(),
        pb::CredentialBasis::Unspecified
    );

    // Now the credential is dead: the default plans with that, and says so.
    let after = simulate(&mut app, compression_sim(outcomes.clone(), false)).await;
    assert_eq!(shape(&after.steps)[0], s("aux", "", SkipCandidate));
    assert!(
        after.note.contains("not usable now: aux-oauth dead"),
        "{}",
        after.note
    );
    // The refresh result answers nothing: the policy asks for no refresh of a dead key.
    assert!(
        after.note.contains("outcome(s) 1 not used"),
        "{}",
        after.note
    );
    // As if all were healthy: the call's own steps again, and the answer says so.
    let healthy = simulate(&mut app, compression_sim(outcomes, true)).await;
    assert_eq!(healthy.credential_basis(), pb::CredentialBasis::AllHealthy);
    assert!(
        healthy
            .note
            .starts_with("planned as if every credential were healthy"),
        "{}",
        healthy.note
    );
    assert_eq!(whole(&healthy.steps), whole(&real.attempts));
    assert_eq!(endpoint.call_count(), 1, "simulations refresh nothing");
    app.stop().await;
}

/// A refresh that fails transiently (token endpoint down) cools the credential
/// down and moves on: simulated and real alike.
#[tokio::test]
async fn a_transient_refresh_failure_simulates_as_the_real_call_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("aux").await.unwrap();
    endpoint.set_failure(Some((503, "down for maintenance")));
    put_oauth(&db, "aux", &endpoint, None).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;

    let reply = FakeReply::token_invalidated();
    let sim = simulate(
        &mut app,
        compression_sim(
            vec![
                simulated(&reply),
                refresh(
                    pb::RefreshResult::FailedTransiently,
                    "token endpoint answered 503",
                ),
            ],
            false,
        ),
    )
    .await;
    fakes.aux.push([reply]);
    let real = app.aux("compression").await.unwrap();
    assert_eq!(
        shape(&real.attempts),
        vec![
            s("aux", "aux-oauth", RefreshAndRetry),
            s("aux", "aux-oauth", NextCandidate),
            s("chain-a", "chain-a-k1", Succeed),
        ]
    );
    assert_eq!(real.attempts[1].error_class(), pb::ErrorClass::Auth);
    assert_eq!(whole(&sim.steps), whole(&real.attempts));
    app.stop().await;
}

/// Issue 14: a credential whose access token expires in 10 s. The simulation,
/// given that expiry, shows the refresh before the first attempt; the real call
/// on such a credential records the same steps.
#[tokio::test]
async fn a_token_expiring_in_ten_seconds_is_refreshed_first_in_a_simulation_as_in_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    let endpoint = FakeTokenEndpoint::start("main").await.unwrap();
    // No expiry known: a plan with the live state refreshes nothing.
    put_oauth(&db, "main", &endpoint, None).await;
    let fakes = Fakes::start().await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    let primary = |credentials| pb::Simulation {
        caller: Some(pb::Caller {
            kind: Some(pb::caller::Kind::Primary(pb::PrimaryCaller {})),
        }),
        credentials,
        ..Default::default()
    };
    let live = simulate(&mut app, primary(vec![])).await;
    assert_eq!(shape(&live.steps), vec![s("main", "main-oauth", Succeed)]);
    let expiring = vec![pb::SimulatedCredential {
        credential_id: "main-oauth".into(),
        expires_in_s: Some(10),
    }];
    let sim = simulate(&mut app, primary(expiring)).await;
    assert_eq!(
        shape(&sim.steps),
        vec![
            s("main", "main-oauth", RefreshAndRetry),
            s("main", "main-oauth", Succeed),
        ]
    );
    assert_eq!(
        sim.steps[0].reason,
        "access token expires in 10 s; refreshing before use"
    );
    assert_eq!(endpoint.call_count(), 0, "a simulation refreshes nothing");
    assert_eq!(fakes.main.call_count(), 0, "a simulation calls no provider");

    // A static key has no expiry to simulate; an unknown id is named.
    for (id, why) in [("main-fb-k1", "static key"), ("nope", "not in the pool")] {
        let status = app
            .client
            .explain_fallback(pb::ExplainFallbackRequest {
                query: Some(pb::explain_fallback_request::Query::Simulation(primary(
                    vec![pb::SimulatedCredential {
                        credential_id: id.into(),
                        expires_in_s: Some(10),
                    }],
                ))),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains(why), "{}", status.message());
    }
    app.stop().await;

    // The same credential, really expiring in 10 s.
    put_oauth(&db, "main", &endpoint, Some(wall_ms() + 10_000)).await;
    let mut app = TestApp::spawn(fakes.config(&db, "")).await;
    let real = app.primary().await.unwrap();
    assert_eq!(keys(&real.attempts), keys(&sim.steps));
    let reason = &real.attempts[0].reason;
    assert!(
        [9, 10]
            .map(|n| format!("access token expires in {n} s; refreshing before use"))
            .contains(reason),
        "{reason}"
    );
    assert_eq!(real.attempts[1].reason, sim.steps[1].reason);
    assert_eq!(endpoint.call_count(), 1, "the real call refreshed first");
    assert_eq!(fakes.main.calls()[0].credential, "main-access-1");
    app.stop().await;
}
