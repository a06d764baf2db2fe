//! OAuth refresh of provider credentials (RFC 6749 §6, the refresh-token grant),
//! through the one pooled HTTP client.
//!
//! Guarantees:
//! - **owned by the server**: a refresh runs in its own task ([`flight`]) with its
//!   own timeout and commits what the provider answered, whatever happens to the
//!   request that started it; callers wait for it only as long as their budget;
//! - **single flight**: concurrent requests that need the same credential refreshed
//!   share one call to the token endpoint; on PostgreSQL, so do the replicas (the
//!   store's refresh lock, taken in the transaction that commits the answer);
//! - **a journal**: the intent of a refresh is stored before the token endpoint is
//!   called, and ended in the transaction that stores the answer; a refresh
//!   interrupted by a crash is finished at the next start ([`recover`]);
//! - **nothing the provider returned is thrown away**: a pair the store cannot take
//!   is used from memory and persisted in the background.
//!
//! This module owns the grant call itself; it knows the store and the credential
//! pool, never the policy's internals.

mod flight;
mod recover;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use flight::Refresher;
pub use recover::recover;

use crate::credentials::OAuthClient;
use crate::redact::{Scrubber, check_secret};

/// OAuth error codes after which a refresh token can never work again.
const TERMINAL_CODES: [&str; 4] = [
    "invalid_grant",
    "refresh_token_reused",
    "invalid_token",
    "unauthorized_client",
];

/// A successful answer of the token endpoint.
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

/// How a token call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CallFailure {
    /// The endpoint refused the refresh token for good.
    Refused(String),
    /// The endpoint failed without spending the token (unreachable, 5xx).
    Failed(String),
    /// The request was sent but no usable answer came back (timeout, cut short):
    /// the provider may have rotated the token.
    Unknown(String),
}

/// Makes one refresh-token grant call, bounded by `timeout`.
async fn call(
    http: &reqwest::Client,
    timeout: Duration,
    client: &OAuthClient,
    refresh_token: &SecretString,
) -> Result<Grant, CallFailure> {
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
    let response = http
        .post(&client.token_url)
        .timeout(timeout)
        .header(http::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                CallFailure::Failed("token endpoint unreachable".into())
            } else if e.is_timeout() {
                CallFailure::Unknown(format!(
                    "token endpoint timed out after {} ms",
                    timeout.as_millis()
                ))
            } else {
                CallFailure::Unknown("token endpoint connection broke off".into())
            }
        })?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|_| CallFailure::Unknown("token endpoint answer cut short".into()))?;
    if (200..300).contains(&status) {
        let grant = serde_json::from_slice::<Grant>(&body)
            .map_err(|_| CallFailure::Unknown(format!("{status} without an access_token")))?;
        // Never stored, so never sent: a token that is not a valid header value. The
        // endpoint may already have spent the old refresh token, so the outcome is
        // unknown, not a plain failure.
        let tokens = std::iter::once(&grant.access_token).chain(&grant.refresh_token);
        if let Some(e) = tokens.map(|t| check_secret(t)).find_map(Result::err) {
            return Err(CallFailure::Unknown(format!(
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
        Err(CallFailure::Refused(why))
    } else {
        Err(CallFailure::Failed(why))
    }
}

/// A fingerprint of a refresh token for the journal: enough to tell two tokens
/// apart, useless to recover one (16 hex digits of its SHA-256).
pub fn fingerprint(token: &SecretString) -> String {
    let mut hash = crate::crypto::token_hash(token.expose_secret());
    hash.truncate(16);
    hash
}
