//! A fake OAuth token endpoint: refresh grants, rotation rules, faults.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::task::JoinHandle;

use super::*;

// === FakeTokenEndpoint ===

/// A fake OAuth token endpoint (RFC 6749 refresh grant). Each refresh issues a new
/// access token and a new refresh token; what happens to the superseded refresh
/// token depends on the [`Rotation`] mode. The rotation is decided and committed
/// when the request arrives, before the (optionally delayed) answer: a client that
/// dies while the answer is on its way has lost the new pair, as with a real one.
#[derive(Debug)]
pub struct FakeTokenEndpoint {
    addr: SocketAddr,
    state: Arc<Mutex<TokenState>>,
    task: JoinHandle<()>,
}

/// What a token endpoint does with a refresh token once a newer one is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// Honoured (and rotated again) until the newer one is presented.
    #[default]
    UntilNextUse,
    /// Refused with `invalid_grant` as soon as a newer one is issued.
    Strict,
    /// Honoured for this long after it was superseded, answering with the same
    /// new pair (providers with a reuse window do this); refused after.
    Grace(Duration),
}

#[derive(Debug)]
pub(super) struct TokenState {
    prefix: String,
    rotation: Rotation,
    issued: u64,
    access: String,
    /// The newest refresh token issued.
    current: String,
    /// The one it superseded, when it was superseded, and the pair that replaced it.
    superseded: Option<(String, tokio::time::Instant, String)>,
    presented: Vec<String>,
    arrivals: Vec<tokio::time::Instant>,
    /// Wall-clock arrival of each call (compared with times another process
    /// recorded, such as a database's commit times).
    arrived_at: Vec<std::time::SystemTime>,
    delay: Duration,
    failure: Option<(u16, String)>,
}

impl FakeTokenEndpoint {
    /// Starts an endpoint whose first valid pair is `{prefix}-access-0` /
    /// `{prefix}-refresh-0`.
    pub async fn start(prefix: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(TokenState {
            prefix: prefix.to_owned(),
            rotation: Rotation::default(),
            issued: 0,
            access: format!("{prefix}-access-0"),
            current: format!("{prefix}-refresh-0"),
            superseded: None,
            presented: Vec::new(),
            arrivals: Vec::new(),
            arrived_at: Vec::new(),
            delay: Duration::ZERO,
            failure: None,
        }));
        let app = Router::new()
            .route("/oauth/token", post(token))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// The token endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// The access token the provider accepts now.
    pub fn current_access(&self) -> String {
        lock(&self.state).access.clone()
    }

    /// A check for [`FakeProvider::require_bearer`]: the current access token only.
    pub fn bearer_check(&self) -> BearerCheck {
        let state = self.state.clone();
        Arc::new(move |token: &str| lock(&state).access == token)
    }

    /// Refresh tokens presented so far, in order (one per call).
    pub fn presented(&self) -> Vec<String> {
        lock(&self.state).presented.clone()
    }

    /// Number of calls received.
    pub fn call_count(&self) -> usize {
        lock(&self.state).presented.len()
    }

    /// When each call arrived, in order.
    pub fn arrivals(&self) -> Vec<tokio::time::Instant> {
        lock(&self.state).arrivals.clone()
    }

    /// Each call's presented refresh token with its wall-clock arrival, in order.
    pub fn presented_at(&self) -> Vec<(String, std::time::SystemTime)> {
        let s = lock(&self.state);
        s.presented
            .iter()
            .cloned()
            .zip(s.arrived_at.clone())
            .collect()
    }

    /// Stops honouring the current access token (the provider revoked it): the
    /// next refresh issues one that works.
    pub fn revoke_access(&self) {
        let mut s = lock(&self.state);
        s.access = format!("{}-access-revoked-{}", s.prefix, s.issued);
    }

    /// How superseded refresh tokens are treated from now on.
    pub fn set_rotation(&self, rotation: Rotation) {
        lock(&self.state).rotation = rotation;
    }

    /// The newest refresh token issued.
    pub fn current_refresh(&self) -> String {
        lock(&self.state).current.clone()
    }

    /// Answers after `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Answers every call with `status` and `body` from now on (`None`: normal).
    pub fn set_failure(&self, failure: Option<(u16, &str)>) {
        lock(&self.state).failure = failure.map(|(s, b)| (s, b.to_owned()));
    }
}

impl Drop for FakeTokenEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) async fn token(State(state): State<Arc<Mutex<TokenState>>>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url_decode(&body);
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let presented = get("refresh_token");
    // Decide, and commit the rotation, before answering: a client that dies while
    // the answer is on its way has lost the new pair, as with a real endpoint.
    let (status, body, delay) = {
        let mut s = lock(&state);
        let now = tokio::time::Instant::now();
        s.presented.push(presented.clone());
        s.arrivals.push(now);
        s.arrived_at.push(std::time::SystemTime::now());
        let delay = s.delay;
        let pair = |s: &TokenState| {
            serde_json::json!({
                "access_token": s.access,
                "refresh_token": s.current,
                "token_type": "Bearer",
                "expires_in": 3600
            })
            .to_string()
        };
        let superseded = s.superseded.as_ref().filter(|(old, ..)| *old == presented);
        let rotate = presented == s.current
            || (s.rotation == Rotation::UntilNextUse && superseded.is_some());
        let replay = match (s.rotation, superseded) {
            (Rotation::Grace(window), Some((_, at, current))) => {
                now.duration_since(*at) <= window && *current == s.current
            }
            _ => false,
        };
        if let Some((status, body)) = s.failure.clone() {
            (status, body, delay)
        } else if get("grant_type") != "refresh_token" || !(rotate || replay) {
            (
                400,
                r#"{"error":"invalid_grant","error_description":"refresh token is invalid or was rotated"}"#.to_owned(),
                delay,
            )
        } else if replay {
            // Within the reuse window: the same answer as the first time.
            (200, pair(&s), delay)
        } else {
            s.issued += 1;
            let n = s.issued;
            s.access = format!("{}-access-{n}", s.prefix);
            s.current = format!("{}-refresh-{n}", s.prefix);
            s.superseded = Some((presented, now, s.current.clone()));
            (200, pair(&s), delay)
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [("content-type", "application/json")], body).into_response()
}

pub(super) fn url_decode(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
