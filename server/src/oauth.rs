//! OAuth refresh of provider credentials (RFC 6749 §6, the refresh-token grant),
//! through the one pooled HTTP client.
//!
//! Two guarantees:
//! - **single flight**: concurrent requests that need the same credential refreshed
//!   share one call to the token endpoint (a per-credential lock plus the generation
//!   each request saw: whoever comes second finds the generation moved and reuses
//!   the result);
//! - **crash safety**: rotated tokens are committed to SQLite (one conditional
//!   UPDATE) before the new access token is used; tokens that could not be stored
//!   are never used, so the stored pair is always one the endpoint honours.

use std::time::Duration;

use opentelemetry::KeyValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::clock::wall_ms;
use crate::credentials::{Credential, OAuthClient};
use crate::domain::{Material, Millis};
use crate::metrics::Metrics;
use crate::policy::RefreshOutcome;
use crate::redact::{Scrubber, check_secret};
use crate::store::{RotatedTokens, Store, StoreError};

/// OAuth error codes after which a refresh token can never work again.
const TERMINAL_CODES: [&str; 4] = [
    "invalid_grant",
    "refresh_token_reused",
    "invalid_token",
    "unauthorized_client",
];

/// Refreshes OAuth credentials.
#[derive(Debug, Clone)]
pub struct Refresher {
    http: reqwest::Client,
    store: Store,
    metrics: Metrics,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Grant {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct GrantError {
    #[serde(default)]
    error: Option<String>,
}

// === impl Refresher ===

impl Refresher {
    /// A refresher over the shared HTTP client.
    pub fn new(http: reqwest::Client, store: Store, metrics: Metrics, timeout: Duration) -> Self {
        Self {
            http,
            store,
            metrics,
            timeout,
        }
    }

    /// Refreshes `credential`, unless another request already did since it saw
    /// `seen_generation`: then that refresh's result is reused without a call.
    pub async fn refresh(&self, credential: &Credential, seen_generation: u64) -> RefreshOutcome {
        let _flight = credential.refresh_lock.lock().await;
        let current = credential.tokens();
        if current.generation != seen_generation {
            self.count("shared");
            return RefreshOutcome::Refreshed;
        }
        if credential.is_dead() {
            return RefreshOutcome::Terminal("the credential is dead".into());
        }
        let (Some(client), Some(refresh_token)) = (&credential.oauth, &current.refresh_token)
        else {
            return RefreshOutcome::Terminal("the credential has no refresh token".into());
        };
        let grant = match self.call(client, refresh_token).await {
            Ok(grant) => grant,
            Err(outcome) => {
                self.count(match outcome {
                    RefreshOutcome::Terminal(_) => "terminal",
                    _ => "transient",
                });
                return outcome;
            }
        };
        let now = wall_ms();
        let rotated = RotatedTokens {
            access_token: SecretString::from(grant.access_token),
            refresh_token: grant
                .refresh_token
                .map(SecretString::from)
                .unwrap_or_else(|| refresh_token.clone()),
            expires_at: grant
                .expires_in
                .map(|s| now.saturating_add(s.saturating_mul(1000))),
        };
        // Commit first, use after: a crash from here on leaves the old pair (still
        // valid at the endpoint until the new one is used) or the new pair.
        match self
            .store
            .save_rotation(&credential.id, current.generation, &rotated, now)
            .await
        {
            Ok(generation) => {
                credential.install(&rotated, generation);
                self.count("refreshed");
                RefreshOutcome::Refreshed
            }
            Err(StoreError::Conflict(_)) => self.reload(credential).await,
            Err(e) => {
                tracing::error!(credential = %credential.id, error = %e, "rotated tokens not stored; not used");
                self.count("transient");
                RefreshOutcome::Transient("the rotated tokens could not be stored".into())
            }
        }
    }

    /// Another writer rotated the stored tokens: adopt them.
    async fn reload(&self, credential: &Credential) -> RefreshOutcome {
        match self.store.credential(&credential.id).await {
            Ok(Some(stored)) => {
                if let Material::OAuth(t) = stored.material {
                    let rotated = RotatedTokens {
                        access_token: t.access_token,
                        refresh_token: t.refresh_token,
                        expires_at: t.expires_at,
                    };
                    credential.install(&rotated, stored.generation);
                }
                self.count("shared");
                RefreshOutcome::Refreshed
            }
            Ok(None) => RefreshOutcome::Terminal("the credential was removed".into()),
            Err(e) => RefreshOutcome::Transient(format!("store: {e}")),
        }
    }

    async fn call(
        &self,
        client: &OAuthClient,
        refresh_token: &SecretString,
    ) -> Result<Grant, RefreshOutcome> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("client_id", &client.client_id),
        ];
        if let Some(secret) = &client.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        if let Some(scope) = &client.scope {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(&client.token_url)
            .timeout(self.timeout)
            .header(http::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                RefreshOutcome::Transient(if e.is_timeout() {
                    "token endpoint timed out".into()
                } else {
                    "token endpoint unreachable".into()
                })
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|_| RefreshOutcome::Transient("token endpoint answer cut short".into()))?;
        if (200..300).contains(&status) {
            let grant = serde_json::from_slice::<Grant>(&body).map_err(|_| {
                RefreshOutcome::Transient(format!("{status} without an access_token"))
            })?;
            // Never stored, so never sent: a token that is not a valid header value.
            let tokens = std::iter::once(&grant.access_token).chain(&grant.refresh_token);
            if let Some(e) = tokens.map(|t| check_secret(t)).find_map(Result::err) {
                return Err(RefreshOutcome::Transient(format!(
                    "token endpoint issued a token that {e}"
                )));
            }
            return Ok(grant);
        }
        let code = serde_json::from_slice::<GrantError>(&body)
            .unwrap_or_default()
            .error
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or_default();
        // The endpoint may echo what it was sent: the refresh token, the client secret.
        let sent = std::iter::once(refresh_token).chain(&client.client_secret);
        let code = Scrubber::new(sent).scrub(&code).into_owned();
        let why = if code.is_empty() {
            format!("token endpoint answered {status}")
        } else {
            format!("token endpoint answered {status} {code}")
        };
        if status == 401 || TERMINAL_CODES.contains(&code.as_str()) {
            Err(RefreshOutcome::Terminal(why))
        } else {
            Err(RefreshOutcome::Transient(why))
        }
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .refreshes
            .add(1, &[KeyValue::new("outcome", outcome)]);
    }
}

/// Whether an OAuth access token should be refreshed before use.
pub fn expires_soon(expires_at: Option<Millis>, now: Millis, skew_ms: u64) -> bool {
    expires_at.is_some_and(|t| t <= now.saturating_add(skew_ms))
}
