//! [`AdminClient`]: the admin API, `switchyard.v1.CredentialService`.
//!
//! Puts, lists, deletes and refreshes the provider credentials of a running server,
//! with an admin token (one whose SHA-256 the server's config lists in
//! `auth.admin_token_sha256`). Secrets go in and never come out: every answer is a
//! [`pb::CredentialInfo`]. Calls go through the same token, deadline and typed-error
//! code as [`Client`](crate::Client)'s.

use std::fmt;
use std::time::Duration;

use tonic::transport::Channel;

use crate::client::{CallOptions, call_deadline, endpoint, invoke};
use crate::error::Error;
use crate::pb;
use crate::pb::credential_service_client::CredentialServiceClient;

/// A client of `switchyard.v1.CredentialService`, the admin API.
///
/// Cheap to clone; usable from many tasks at once. A failure is an [`Error`]:
/// [`Error::PermissionDenied`] (a token that is not an admin token, or the admin API
/// is off), [`Error::Unauthenticated`] (no token), [`Error::CredentialNotFound`],
/// [`Error::NotRefreshable`], [`Error::RefreshFailed`], or
/// [`Error::InvalidArgument`] with the field violations.
///
/// ```no_run
/// # async fn example() -> Result<(), switchyard_client::Error> {
/// use switchyard_client::{AdminClient, CallOptions};
///
/// let admin = AdminClient::connect("127.0.0.1:50051").await?.with_bearer_token("sy_admin...");
/// admin
///     .put_api_key("openrouter-key", "openrouter", "sk-or-...", CallOptions::new())
///     .await?;
/// for c in admin.list_credentials(None, CallOptions::new()).await? {
///     println!("{} {} {:?}", c.id, c.provider, c.state());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AdminClient {
    rpc: CredentialServiceClient<Channel>,
    token: Option<String>,
    timeout: Option<Duration>,
}

impl fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminClient")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// Connects to `target`, as [`Client::connect`](crate::Client::connect) does.
    pub async fn connect(target: impl Into<String>) -> Result<Self, Error> {
        let channel = endpoint(target.into())?
            .connect()
            .await
            .map_err(Error::connect)?;
        Ok(Self::new(channel))
    }

    /// As [`AdminClient::connect`], but connects on the first call.
    pub fn connect_lazy(target: impl Into<String>) -> Result<Self, Error> {
        Ok(Self::new(endpoint(target.into())?.connect_lazy()))
    }

    /// An admin client over an existing channel.
    pub fn new(channel: Channel) -> Self {
        Self {
            rpc: CredentialServiceClient::new(channel),
            token: None,
            timeout: None,
        }
    }

    /// Sends `authorization: Bearer <token>` (the admin token) with every call,
    /// unless a call's [`CallOptions::bearer_token`] overrides it.
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the default timeout of every call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The generated stub, for what the verbs do not cover.
    pub fn service(&self) -> CredentialServiceClient<Channel> {
        self.rpc.clone()
    }

    /// Stores a static API key as credential `id` of `provider` (a provider of the
    /// server's config), replacing any credential with that id; a replaced dead
    /// credential is live again.
    pub async fn put_api_key(
        &self,
        id: impl Into<String>,
        provider: impl Into<String>,
        key: impl Into<String>,
        opts: CallOptions,
    ) -> Result<pb::CredentialInfo, Error> {
        let request = pb::PutCredentialRequest {
            id: id.into(),
            provider: provider.into(),
            material: Some(pb::put_credential_request::Material::ApiKey(pb::ApiKey {
                key: key.into(),
            })),
            ..Default::default()
        };
        self.put_credential(request, opts).await
    }

    /// Stores an OAuth token set as credential `id` of `provider`, replacing any
    /// credential with that id. The server refreshes it at `tokens.token_url`.
    pub async fn put_oauth(
        &self,
        id: impl Into<String>,
        provider: impl Into<String>,
        tokens: pb::OAuthTokens,
        opts: CallOptions,
    ) -> Result<pb::CredentialInfo, Error> {
        let request = pb::PutCredentialRequest {
            id: id.into(),
            provider: provider.into(),
            material: Some(pb::put_credential_request::Material::Oauth(tokens)),
            ..Default::default()
        };
        self.put_credential(request, opts).await
    }

    /// Stores any credential, with its `label` and `priority` (lower is tried
    /// first in the provider's pool).
    pub async fn put_credential(
        &self,
        request: pb::PutCredentialRequest,
        opts: CallOptions,
    ) -> Result<pb::CredentialInfo, Error> {
        let answer = self
            .call(request, &opts, |mut rpc, r| async move {
                rpc.put_credential(r).await
            })
            .await?;
        required(answer.credential)
    }

    /// Every credential, or only `provider`'s, by provider then priority, with its
    /// state and never its secret.
    pub async fn list_credentials(
        &self,
        provider: Option<&str>,
        opts: CallOptions,
    ) -> Result<Vec<pb::CredentialInfo>, Error> {
        let request = pb::ListCredentialsRequest {
            provider: provider.unwrap_or_default().to_owned(),
        };
        let answer = self
            .call(request, &opts, |mut rpc, r| async move {
                rpc.list_credentials(r).await
            })
            .await?;
        Ok(answer.credentials)
    }

    /// Removes credential `id`; [`Error::CredentialNotFound`] when there is none.
    pub async fn delete_credential(
        &self,
        id: impl Into<String>,
        opts: CallOptions,
    ) -> Result<(), Error> {
        let request = pb::DeleteCredentialRequest { id: id.into() };
        self.call(request, &opts, |mut rpc, r| async move {
            rpc.delete_credential(r).await
        })
        .await?;
        Ok(())
    }

    /// Refreshes OAuth credential `id` now. [`Error::NotRefreshable`] for a static
    /// key; [`Error::RefreshFailed`] when the token endpoint refused (code
    /// `FAILED_PRECONDITION`: the credential is now dead) or failed (code
    /// `UNAVAILABLE`: try again).
    pub async fn refresh_credential(
        &self,
        id: impl Into<String>,
        opts: CallOptions,
    ) -> Result<pb::CredentialInfo, Error> {
        let request = pb::RefreshCredentialRequest { id: id.into() };
        let answer = self
            .call(request, &opts, |mut rpc, r| async move {
                rpc.refresh_credential(r).await
            })
            .await?;
        required(answer.credential)
    }

    async fn call<Req, Resp, F, Fut>(
        &self,
        message: Req,
        opts: &CallOptions,
        send: F,
    ) -> Result<Resp, Error>
    where
        F: FnOnce(CredentialServiceClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let token = opts.token.as_ref().or(self.token.as_ref());
        let deadline = call_deadline(opts, self.timeout);
        invoke(self.rpc.clone(), token, deadline, message, send).await
    }
}

/// The server always sets the credential of an answer; one without is a broken server.
fn required(credential: Option<pb::CredentialInfo>) -> Result<pb::CredentialInfo, Error> {
    credential.ok_or_else(|| Error::protocol("the server answered without the credential"))
}
