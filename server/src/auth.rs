//! Caller authentication: bearer tokens checked against SHA-256 hashes from the
//! config (the config never holds a token). Agent RPCs take agent or admin tokens;
//! the admin API takes admin tokens only.
//!
//! Comparisons are constant-time over every configured hash, so timing does not
//! tell how close a guess was.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_client::pb;
use tonic::{Request, Status};

use crate::config::AuthConfig;
use crate::grpc::error_status;

/// Checks bearer tokens.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    agents: Arc<[[u8; 32]]>,
    admins: Arc<[[u8; 32]]>,
}

fn decode(hashes: &[String]) -> Arc<[[u8; 32]]> {
    hashes
        .iter()
        .filter_map(|h| {
            let bytes: Vec<u8> = (0..h.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
                .collect();
            bytes.try_into().ok()
        })
        .collect()
}

fn contains(set: &[[u8; 32]], digest: &[u8; 32]) -> bool {
    set.iter()
        .fold(subtle::Choice::from(0), |found, h| found | h.ct_eq(digest))
        .into()
}

// === impl Authenticator ===

impl Authenticator {
    /// From the config's hashes (validated at load).
    pub fn new(config: &AuthConfig) -> Self {
        Self {
            agents: decode(&config.client_token_sha256),
            admins: decode(&config.admin_token_sha256),
        }
    }

    /// Whether agent calls need a token.
    pub fn agents_need_a_token(&self) -> bool {
        !self.agents.is_empty()
    }

    /// Interceptor of `SwitchyardService`.
    pub fn agent(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .as_ref()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        match self.check_agent(header) {
            Ok(()) => Ok(request),
            Err(why) => Err(unauthenticated(why)),
        }
    }

    /// Checks an agent's `authorization` header value (any front door). The error
    /// says what is wrong, never echoing the token.
    pub fn check_agent(&self, authorization: Option<&str>) -> Result<(), &'static str> {
        if self.agents.is_empty() {
            return Ok(());
        }
        let digest = bearer(authorization)?;
        if contains(&self.agents, &digest) || contains(&self.admins, &digest) {
            Ok(())
        } else {
            Err("unknown bearer token")
        }
    }

    /// Checks an agent token sent bare, as Anthropic SDKs send `x-api-key`: the
    /// same hashes as [`Self::check_agent`], never echoing the token.
    pub fn check_agent_key(&self, key: &str) -> Result<(), &'static str> {
        if self.agents.is_empty() {
            return Ok(());
        }
        let key = key.trim();
        if key.is_empty() {
            return Err("empty `x-api-key`");
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if contains(&self.agents, &digest) || contains(&self.admins, &digest) {
            Ok(())
        } else {
            Err("unknown `x-api-key` token")
        }
    }

    /// Interceptor of `CredentialService`.
    pub fn admin(&self, request: Request<()>) -> Result<Request<()>, Status> {
        if self.admins.is_empty() {
            return Err(permission_denied(
                "the admin API is disabled: no auth.admin_token_sha256 is configured",
            ));
        }
        let digest = bearer_digest(&request)?;
        if contains(&self.admins, &digest) {
            Ok(request)
        } else if contains(&self.agents, &digest) {
            Err(permission_denied(
                "an agent token cannot call the admin API",
            ))
        } else {
            Err(unauthenticated("unknown bearer token"))
        }
    }
}

fn bearer_digest(request: &Request<()>) -> Result<[u8; 32], Status> {
    let header = request
        .metadata()
        .as_ref()
        .get(http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    bearer(header).map_err(unauthenticated)
}

/// The SHA-256 of the token of an `authorization: Bearer <token>` value.
fn bearer(header: Option<&str>) -> Result<[u8; 32], &'static str> {
    let value = header.ok_or("missing `authorization: Bearer <token>`")?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("`authorization` must be `Bearer <token>`")?;
    Ok(Sha256::digest(token.as_bytes()).into())
}

fn unauthenticated(message: &str) -> Status {
    error_status(
        tonic::Code::Unauthenticated,
        pb::ErrorReason::Unauthenticated,
        message.to_owned(),
        [],
    )
}

fn permission_denied(message: &str) -> Status {
    error_status(
        tonic::Code::PermissionDenied,
        pb::ErrorReason::PermissionDenied,
        message.to_owned(),
        [],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::token_hash;

    fn with_token(token: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(t) = token {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        r
    }

    fn auth() -> Authenticator {
        Authenticator::new(&AuthConfig {
            client_token_sha256: vec![token_hash("agent-token")],
            admin_token_sha256: vec![token_hash("admin-token")],
        })
    }

    #[test]
    fn agents_need_a_known_token_and_admins_may_call_too() {
        let a = auth();
        assert!(a.agent(with_token(Some("agent-token"))).is_ok());
        assert!(a.agent(with_token(Some("admin-token"))).is_ok());
        for t in [None, Some("wrong")] {
            assert_eq!(
                a.agent(with_token(t)).unwrap_err().code(),
                tonic::Code::Unauthenticated
            );
        }
    }

    #[test]
    fn a_bare_key_is_checked_against_the_same_hashes() {
        let a = auth();
        assert!(a.check_agent_key("agent-token").is_ok());
        assert!(a.check_agent_key(" admin-token ").is_ok());
        for k in ["", "wrong", "Bearer agent-token"] {
            let why = a.check_agent_key(k).unwrap_err();
            assert!(!why.contains("agent-token"), "{why}");
        }
        assert!(Authenticator::default().check_agent_key("").is_ok());
    }

    #[test]
    fn the_admin_api_takes_admin_tokens_only() {
        let a = auth();
        assert!(a.admin(with_token(Some("admin-token"))).is_ok());
        assert_eq!(
            a.admin(with_token(Some("agent-token"))).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert_eq!(
            a.admin(with_token(None)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }

    #[test]
    fn without_hashes_agents_are_open_and_the_admin_api_is_closed() {
        let a = Authenticator::default();
        assert!(a.agent(with_token(None)).is_ok());
        assert_eq!(
            a.admin(with_token(Some("anything"))).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }
}
