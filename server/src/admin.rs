//! The admin front door: `switchyard.v1.CredentialService`.
//!
//! Puts, lists, deletes and refreshes provider credentials of the running server:
//! the store first (sealed), then the in-memory pool, so the next request sees the
//! change. Secrets go in and never come out: answers carry `CredentialInfo` only.

use std::sync::Arc;

use secrecy::SecretString;
use switchyard_client::pb;
use tonic::{Code, Request, Response, Status};

use crate::clock::wall_ms;
use crate::domain::{Material, OAuthTokens};
use crate::grpc::{error_status, invalid};
use crate::policy::RefreshOutcome;
use crate::redact::check_secret;
use crate::service::Switchyard;
use crate::store::{NewCredential, StoreError, StoredCredential};
use crate::validate::Violations;

/// The tonic service over the shared [`Switchyard`].
#[derive(Debug, Clone)]
pub struct AdminService {
    service: Arc<Switchyard>,
}

impl AdminService {
    /// Wraps the service.
    pub fn new(service: Arc<Switchyard>) -> Self {
        Self { service }
    }

    /// The stored credential `id`, with its in-memory health when loaded.
    async fn info(&self, id: &str) -> Result<pb::CredentialInfo, Status> {
        let stored = self
            .service
            .store()
            .credential(id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| not_found(id))?;
        Ok(self.describe(&stored))
    }

    fn describe(&self, c: &StoredCredential) -> pb::CredentialInfo {
        let now = wall_ms();
        let mut note = None;
        let (dead, cooldown_until, expires_at, generation) = match self.service.pool().get(&c.id) {
            Some(live) => {
                let (dead, cooldown) = live.health();
                let tokens = live.tokens();
                // States the store cannot hold: they live in this process only.
                if live.is_unpersisted() {
                    note = Some("unpersisted");
                } else if live.outcome_unknown() {
                    note = Some("refresh_outcome_unknown");
                }
                (dead, cooldown, tokens.expires_at, tokens.generation)
            }
            None => (
                c.health.dead_since.is_some(),
                c.health.cooldown_until,
                match &c.material {
                    Material::OAuth(t) => t.expires_at,
                    Material::ApiKey(_) => None,
                },
                c.generation,
            ),
        };
        let state = if dead {
            pb::CredentialState::Dead
        } else if cooldown_until.is_some_and(|t| t > now) {
            pb::CredentialState::Cooling
        } else {
            pb::CredentialState::Live
        };
        pb::CredentialInfo {
            id: c.id.to_string(),
            provider: c.provider.clone(),
            kind: match c.material {
                Material::ApiKey(_) => pb::CredentialKind::ApiKey,
                Material::OAuth(_) => pb::CredentialKind::Oauth,
            } as i32,
            label: c.label.clone(),
            priority: c.priority,
            state: state as i32,
            cooldown_until_unix_ms: cooldown_until.filter(|t| *t > now).map_or(0, |t| t as i64),
            dead_reason: if dead {
                c.health
                    .dead_reason
                    .clone()
                    .unwrap_or_else(|| "marked dead by the policy".into())
            } else {
                String::new()
            },
            last_error_class: note.map_or_else(
                || c.health.last_error_class.clone().unwrap_or_default(),
                str::to_owned,
            ),
            expires_at_unix_ms: expires_at.map_or(0, |t| t as i64),
            generation,
        }
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
        let store = self.service.store();
        store
            .put_credential(&new, true, wall_ms())
            .await
            .map_err(store_status)?;
        let stored = store
            .credential(&new.id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| not_found(&new.id))?;
        self.service.pool().upsert(stored.clone());
        tracing::info!(credential = %new.id, provider = %new.provider, kind = new.material.kind(), "credential stored");
        Ok(Response::new(pb::PutCredentialResponse {
            credential: Some(self.describe(&stored)),
        }))
    }

    async fn list_credentials(
        &self,
        request: Request<pb::ListCredentialsRequest>,
    ) -> Result<Response<pb::ListCredentialsResponse>, Status> {
        let provider = request.into_inner().provider;
        let all = self
            .service
            .store()
            .credentials()
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::ListCredentialsResponse {
            credentials: all
                .iter()
                .filter(|c| provider.is_empty() || c.provider == provider)
                .map(|c| self.describe(c))
                .collect(),
        }))
    }

    async fn delete_credential(
        &self,
        request: Request<pb::DeleteCredentialRequest>,
    ) -> Result<Response<pb::DeleteCredentialResponse>, Status> {
        let id = request.into_inner().id;
        let existed = self
            .service
            .store()
            .remove_credential(&id)
            .await
            .map_err(store_status)?;
        self.service.pool().remove(&id);
        if !existed {
            return Err(not_found(&id));
        }
        tracing::info!(credential = %id, "credential deleted");
        Ok(Response::new(pb::DeleteCredentialResponse {}))
    }

    async fn refresh_credential(
        &self,
        request: Request<pb::RefreshCredentialRequest>,
    ) -> Result<Response<pb::RefreshCredentialResponse>, Status> {
        let id = request.into_inner().id;
        let credential = self.service.pool().get(&id).ok_or_else(|| not_found(&id))?;
        if !credential.refreshable() {
            return Err(error_status(
                Code::FailedPrecondition,
                pb::ErrorReason::NotRefreshable,
                format!("credential {id:?} is a static key"),
                [("credential_id".to_owned(), id)],
            ));
        }
        let seen = credential.tokens().generation;
        match self.service.refresher().refresh(&credential, seen).await {
            RefreshOutcome::Refreshed => {}
            RefreshOutcome::Terminal(why) => {
                self.service
                    .mark_dead(&credential.id, format!("refresh refused: {why}"))
                    .await;
                return Err(refresh_failed(Code::FailedPrecondition, &id, &why));
            }
            RefreshOutcome::Transient(why) | RefreshOutcome::StillRunning(why) => {
                return Err(refresh_failed(Code::Unavailable, &id, &why));
            }
        }
        Ok(Response::new(pb::RefreshCredentialResponse {
            credential: Some(self.info(&id).await?),
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

fn not_found(id: &str) -> Status {
    // The id is the caller's input, of any length: echoed capped.
    let id = crate::validate::echo(id);
    error_status(
        Code::NotFound,
        pb::ErrorReason::CredentialNotFound,
        format!("no credential {id:?}"),
        [("credential_id".to_owned(), id)],
    )
}

fn refresh_failed(code: Code, id: &str, why: &str) -> Status {
    error_status(
        code,
        pb::ErrorReason::RefreshFailed,
        format!("refresh of {id:?} failed: {why}"),
        [("credential_id".to_owned(), id.to_owned())],
    )
}

fn store_status(e: StoreError) -> Status {
    tracing::error!(error = %e, "admin: store failure");
    error_status(
        Code::Internal,
        pb::ErrorReason::Internal,
        "store failure".into(),
        [],
    )
}
