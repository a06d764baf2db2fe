//! `AdminClient` against the real server: put, list, delete and refresh credentials
//! with the admin token, and each typed error of the admin API.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use switchyard_client::{AdminClient, CallOptions, Client, Error, pb};
use tonic::Code;

use super::{Harness, sha256_hex, user};

const ADMIN_TOKEN: &str = "admin-token-of-the-rust-client-tests";
const AGENT_TOKEN: &str = "agent-token-of-the-rust-client-tests";

/// An OAuth token endpoint: refresh token `good-refresh-token` gets a new access token, any other
/// is refused with 400 `invalid_grant`. Records the refresh tokens it saw.
#[derive(Clone)]
struct TokenEndpoint {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn grant(State(seen): State<Arc<Mutex<Vec<String>>>>, body: Bytes) -> impl IntoResponse {
    let body = String::from_utf8_lossy(&body);
    let refresh = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("refresh_token="))
        .unwrap_or_default()
        .to_owned();
    seen.lock().unwrap().push(refresh.clone());
    let (status, json) = if refresh == "good-refresh-token" {
        (
            StatusCode::OK,
            r#"{"access_token":"fresh-access","expires_in":3600}"#,
        )
    } else {
        (StatusCode::BAD_REQUEST, r#"{"error":"invalid_grant"}"#)
    };
    (status, [(header::CONTENT_TYPE, "application/json")], json)
}

impl TokenEndpoint {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(grant).with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn start() -> (Harness, AdminClient) {
    let h = Harness::start_with(&format!(
        "auth: {{ client_token_sha256: [\"{}\"], admin_token_sha256: [\"{}\"] }}",
        sha256_hex(AGENT_TOKEN),
        sha256_hex(ADMIN_TOKEN)
    ))
    .await;
    let admin = AdminClient::connect(h.server.addr.clone())
        .await
        .expect("connect the admin client")
        .with_bearer_token(ADMIN_TOKEN);
    (h, admin)
}

fn ids(list: &[pb::CredentialInfo]) -> Vec<&str> {
    list.iter().map(|c| c.id.as_str()).collect()
}

fn oauth(refresh_token: &str, token_url: &str) -> pb::OAuthTokens {
    pb::OAuthTokens {
        access_token: "old-access".into(),
        refresh_token: refresh_token.into(),
        token_url: token_url.into(),
        client_id: "switchyard-test".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_list_delete_with_the_admin_token() {
    let (h, admin) = start().await;

    let request = pb::PutCredentialRequest {
        id: "main-new".into(),
        provider: "main".into(),
        label: "rotated".into(),
        priority: -1,
        material: Some(pb::put_credential_request::Material::ApiKey(pb::ApiKey {
            key: "secret-new-main".into(),
        })),
    };
    let info = admin
        .put_credential(request, CallOptions::new())
        .await
        .expect("put");
    assert_eq!(
        (
            info.id.as_str(),
            info.provider.as_str(),
            info.label.as_str(),
            info.priority
        ),
        ("main-new", "main", "rotated", -1)
    );
    assert_eq!(info.kind(), pb::CredentialKind::ApiKey);
    assert_eq!(info.state(), pb::CredentialState::Live);
    assert!(!format!("{info:?}").contains("secret-new-main"));

    // The server uses the new key at once.
    let agent = Client::connect(h.server.addr.clone())
        .await
        .unwrap()
        .with_bearer_token(AGENT_TOKEN);
    let answer = agent
        .complete(user("hi"), CallOptions::new())
        .await
        .expect("complete");
    assert_eq!(
        answer.served_by.unwrap_or_default().credential_id,
        "main-new"
    );
    let last = h.fakes.calls("main").pop().expect("main was called");
    assert_eq!(last.authorization, "Bearer secret-new-main");

    let all = admin
        .list_credentials(None, CallOptions::new())
        .await
        .expect("list");
    for id in ["main-k1", "codex-k1", "cheap-k1", "main-new"] {
        assert!(ids(&all).contains(&id), "{id} in {:?}", ids(&all));
    }
    let codex = admin
        .list_credentials(Some("codex"), CallOptions::new())
        .await
        .expect("list codex");
    assert_eq!(ids(&codex), ["codex-k1"]);

    admin
        .put_api_key("to-delete", "cheap", "secret-to-delete", CallOptions::new())
        .await
        .expect("put");
    admin
        .delete_credential("to-delete", CallOptions::new())
        .await
        .expect("delete");
    let err = admin
        .delete_credential("to-delete", CallOptions::new())
        .await
        .expect_err("a second delete");
    let Error::CredentialNotFound(failure) = &err else {
        panic!("want CredentialNotFound, got {err:?}")
    };
    assert_eq!(failure.code, Code::NotFound);
    assert_eq!(failure.error_reason(), pb::ErrorReason::CredentialNotFound);

    let err = admin
        .put_api_key("x", "no-such-provider", "secret-x", CallOptions::new())
        .await
        .expect_err("an unknown provider");
    let fields: Vec<&str> = err
        .field_violations()
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert_eq!(fields, ["provider"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_credential_refreshes_refuses_and_reports() {
    let (_h, admin) = start().await;
    let endpoint = TokenEndpoint::start().await;

    let put = admin
        .put_oauth(
            "codex-oauth",
            "codex",
            oauth("good-refresh-token", &endpoint.url),
            CallOptions::new(),
        )
        .await
        .expect("put oauth");
    assert_eq!(put.kind(), pb::CredentialKind::Oauth);
    let info = admin
        .refresh_credential("codex-oauth", CallOptions::new())
        .await
        .expect("refresh");
    assert_eq!(endpoint.seen(), ["good-refresh-token"]);
    assert_eq!(info.state(), pb::CredentialState::Live);
    assert!(info.generation > put.generation, "{put:?} -> {info:?}");
    assert!(info.expires_at_unix_ms > 0);

    // Refused by the token endpoint: REFRESH_FAILED, and the credential is dead.
    admin
        .put_oauth(
            "codex-refused",
            "codex",
            oauth("revoked-refresh-token", &endpoint.url),
            CallOptions::new(),
        )
        .await
        .expect("put oauth");
    let err = admin
        .refresh_credential("codex-refused", CallOptions::new())
        .await
        .expect_err("a refused refresh");
    assert!(matches!(err, Error::RefreshFailed(_)), "{err:?}");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let codex = admin
        .list_credentials(Some("codex"), CallOptions::new())
        .await
        .expect("list");
    let refused = codex
        .iter()
        .find(|c| c.id == "codex-refused")
        .expect("listed");
    assert_eq!(refused.state(), pb::CredentialState::Dead);

    // A static key has nothing to refresh.
    let err = admin
        .refresh_credential("main-k1", CallOptions::new())
        .await
        .expect_err("a static key");
    assert!(matches!(err, Error::NotRefreshable(_)), "{err:?}");
    assert_eq!(err.code(), Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_the_admin_token() {
    let (_h, admin) = start().await;
    let err = admin
        .list_credentials(None, CallOptions::new().bearer_token(AGENT_TOKEN))
        .await
        .expect_err("an agent token");
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert_eq!(
        err.failure().error_reason(),
        pb::ErrorReason::PermissionDenied
    );
    let err = admin
        .list_credentials(None, CallOptions::new().bearer_token(""))
        .await
        .expect_err("no token");
    assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
}
