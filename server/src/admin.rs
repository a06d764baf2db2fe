//! The admin front door: `switchyard.v1.CredentialService`.
//!
//! Puts, lists, deletes and refreshes provider credentials of the running server
//! through [`crate::manage`] (the store first, sealed, then the in-memory pool, so
//! the next request sees the change): this module only checks the input and maps
//! the answer and its errors. Secrets go in and never come out: answers carry
//! `CredentialInfo` only.

use std::sync::Arc;

use secrecy::SecretString;
use switchyard_client::pb;
use tonic::{Code, Request, Response, Status};

use crate::domain::{CredentialState, Material, OAuthTokens};
use crate::grpc::{error_status, invalid};
use crate::manage::{CredentialKind, CredentialManager, CredentialStatus, ManageError};
use crate::redact::check_secret;
use crate::service::Switchyard;
use crate::store::NewCredential;
use crate::validate::Violations;

/// The tonic service over the credential use cases of the running server.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    service: Arc<Switchyard>,
    credentials: Arc<CredentialManager>,
}

impl AdminService {
    /// Wraps the service (for the providers it knows) and the credential use cases.
    pub(crate) fn new(service: Arc<Switchyard>, credentials: Arc<CredentialManager>) -> Self {
        Self {
            service,
            credentials,
        }
    }
}

/// The answer's view of a credential's status.
fn info(c: CredentialStatus) -> pb::CredentialInfo {
    let dead = c.state == CredentialState::Dead;
    let state = match c.state {
        CredentialState::Live => pb::CredentialState::Live,
        CredentialState::Cooling => pb::CredentialState::Cooling,
        CredentialState::Dead => pb::CredentialState::Dead,
    };
    pb::CredentialInfo {
        id: c.id.to_string(),
        provider: c.provider,
        kind: match c.kind {
            CredentialKind::ApiKey => pb::CredentialKind::ApiKey,
            CredentialKind::OAuth => pb::CredentialKind::Oauth,
        } as i32,
        label: c.label,
        priority: c.priority,
        state: state as i32,
        cooldown_until_unix_ms: c.cooldown_until.map_or(0, |t| t as i64),
        dead_reason: if dead {
            c.dead_reason
                .unwrap_or_else(|| "marked dead by the policy".into())
        } else {
            String::new()
        },
        last_error_class: c.note.map_or_else(
            || c.last_error_class.unwrap_or_default(),
            |n| n.as_str().to_owned(),
        ),
        expires_at_unix_ms: c.expires_at.map_or(0, |t| t as i64),
        generation: c.generation,
    }
}

// === impl CredentialService ===

#[tonic::async_trait]
impl pb::credential_service_server::CredentialService for AdminService {
    async fn put_credential(
        &self,
        request: Request<pb::PutCredentialRequest>,
    ) -> Result<Response<pb::PutCredentialResponse>, Status> {
        let new = self.new_credential(request.into_inner())?;
        let stored = self.credentials.put(&new, true).await.map_err(status)?;
        Ok(Response::new(pb::PutCredentialResponse {
            credential: Some(info(stored)),
        }))
    }

    async fn list_credentials(
        &self,
        request: Request<pb::ListCredentialsRequest>,
    ) -> Result<Response<pb::ListCredentialsResponse>, Status> {
        let provider = request.into_inner().provider;
        let all = self
            .credentials
            .list((!provider.is_empty()).then_some(provider.as_str()))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListCredentialsResponse {
            credentials: all.into_iter().map(info).collect(),
        }))
    }

    async fn delete_credential(
        &self,
        request: Request<pb::DeleteCredentialRequest>,
    ) -> Result<Response<pb::DeleteCredentialResponse>, Status> {
        let id = request.into_inner().id;
        self.credentials.delete(&id).await.map_err(status)?;
        Ok(Response::new(pb::DeleteCredentialResponse {}))
    }

    async fn refresh_credential(
        &self,
        request: Request<pb::RefreshCredentialRequest>,
    ) -> Result<Response<pb::RefreshCredentialResponse>, Status> {
        let id = request.into_inner().id;
        let refreshed = self.credentials.refresh(&id).await.map_err(status)?;
        Ok(Response::new(pb::RefreshCredentialResponse {
            credential: Some(info(refreshed)),
        }))
    }
}

impl AdminService {
    fn new_credential(&self, r: pb::PutCredentialRequest) -> Result<NewCredential, Status> {
        let mut violations: Violations = Vec::new();
        if r.id.is_empty()
            || r.id.len() > 128
            || !r
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            violations.push(("id", "1 to 128 letters, digits, '-', '_' or '.'".into()));
        }
        if !self.service.knows_provider(&r.provider) {
            violations.push((
                "provider",
                format!("unknown provider {:?}", crate::validate::echo(&r.provider)),
            ));
        }
        let material = match r.material {
            None => {
                violations.push(("material", "set api_key or oauth".into()));
                None
            }
            Some(pb::put_credential_request::Material::ApiKey(k)) => {
                check_field(&mut violations, "api_key.key", &k.key);
                Some(Material::ApiKey(SecretString::from(k.key)))
            }
            Some(pb::put_credential_request::Material::Oauth(t)) => {
                check_field(&mut violations, "oauth.access_token", &t.access_token);
                check_field(&mut violations, "oauth.refresh_token", &t.refresh_token);
                if !t.client_secret.is_empty() {
                    check_field(&mut violations, "oauth.client_secret", &t.client_secret);
                }
                if t.client_id.is_empty() {
                    violations.push(("oauth.client_id", "must not be empty".into()));
                }
                if !reqwest::Url::parse(&t.token_url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
                {
                    violations.push(("oauth.token_url", "an http or https URL".into()));
                }
                if t.expires_at_unix_ms < 0 {
                    violations.push(("oauth.expires_at_unix_ms", "must not be negative".into()));
                }
                Some(Material::OAuth(OAuthTokens {
                    access_token: SecretString::from(t.access_token),
                    refresh_token: SecretString::from(t.refresh_token),
                    expires_at: (t.expires_at_unix_ms > 0).then_some(t.expires_at_unix_ms as u64),
                    token_url: t.token_url,
                    client_id: t.client_id,
                    client_secret: (!t.client_secret.is_empty())
                        .then(|| SecretString::from(t.client_secret)),
                    scope: (!t.scope.is_empty()).then_some(t.scope),
                }))
            }
        };
        match material {
            Some(material) if violations.is_empty() => Ok(NewCredential {
                id: r.id,
                provider: r.provider,
                label: r.label,
                priority: r.priority,
                material,
            }),
            _ => Err(invalid(violations)),
        }
    }
}

/// Adds a violation of `field` when `secret` cannot be stored and sent (see
/// [`check_secret`]). The description never quotes the secret.
fn check_field(violations: &mut Violations, field: &'static str, secret: &str) {
    if let Err(e) = check_secret(secret) {
        violations.push((field, e.to_string()));
    }
}

/// The one mapping of a credential use case's failure to a status.
fn status(e: ManageError) -> Status {
    match e {
        ManageError::NotFound(id) => {
            // The id is the caller's input, of any length: echoed capped.
            let id = crate::validate::echo(&id);
            error_status(
                Code::NotFound,
                pb::ErrorReason::CredentialNotFound,
                format!("no credential {id:?}"),
                [("credential_id".to_owned(), id)],
            )
        }
        ManageError::NotRefreshable(id) => error_status(
            Code::FailedPrecondition,
            pb::ErrorReason::NotRefreshable,
            format!("credential {id:?} is a static key"),
            [("credential_id".to_owned(), id)],
        ),
        ManageError::RefreshRefused { id, why } => {
            refresh_failed(Code::FailedPrecondition, &id, &why)
        }
        ManageError::RefreshFailed { id, why } => refresh_failed(Code::Unavailable, &id, &why),
        ManageError::Store(e) => {
            tracing::error!(error = %e, "admin: store failure");
            error_status(
                Code::Internal,
                pb::ErrorReason::Internal,
                "store failure".into(),
                [],
            )
        }
    }
}

fn refresh_failed(code: Code, id: &str, why: &str) -> Status {
    error_status(
        code,
        pb::ErrorReason::RefreshFailed,
        format!("refresh of {id:?} failed: {why}"),
        [("credential_id".to_owned(), id.to_owned())],
    )
}
