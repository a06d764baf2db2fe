//! The values the store reads and writes: new and stored credentials, their
//! health, rotated tokens, health changes and the trail retention.

use secrecy::SecretString;

use crate::domain::{CredentialId, ErrorClass, Material, Millis};

/// A new static API key.
#[derive(Debug)]
pub struct NewApiKey {
    /// Identifier, unique.
    pub id: String,
    /// Provider name from the config.
    pub provider: String,
    /// Free text for operators.
    pub label: String,
    /// Lower is tried first within the provider's pool.
    pub priority: i64,
    /// The key.
    pub secret: SecretString,
}

/// A credential to store: a static key or an OAuth token set.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// Identifier, unique.
    pub id: String,
    /// Provider name from the config.
    pub provider: String,
    /// Free text for operators.
    pub label: String,
    /// Lower is tried first within the provider's pool.
    pub priority: i64,
    /// The secret material.
    pub material: Material,
}

impl From<&NewApiKey> for NewCredential {
    fn from(k: &NewApiKey) -> Self {
        Self {
            id: k.id.clone(),
            provider: k.provider.clone(),
            label: k.label.clone(),
            priority: k.priority,
            material: Material::ApiKey(k.secret.clone()),
        }
    }
}

/// Persisted health of a credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialHealth {
    /// Not used before this time.
    pub cooldown_until: Option<Millis>,
    /// Error class that caused the cooldown.
    pub cooldown_class: Option<String>,
    /// Dead since this time.
    pub dead_since: Option<Millis>,
    /// Why it died.
    pub dead_reason: Option<String>,
    /// Last error class seen.
    pub last_error_class: Option<String>,
    /// When it was seen.
    pub last_error_at: Option<Millis>,
}

/// A stored credential with its health. `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// Identifier.
    pub id: CredentialId,
    /// Provider name.
    pub provider: String,
    /// Free text.
    pub label: String,
    /// Order within the pool.
    pub priority: i64,
    /// The secret material.
    pub material: Material,
    /// Increases at every change of the secret material (rotation).
    pub generation: u64,
    /// Which row of this id: a replaced credential gets a new one.
    pub incarnation: i64,
    /// The change feed's revision of its shared state (row or health), from one
    /// store-wide sequence on PostgreSQL; always 0 on SQLite. Newer is larger.
    pub revision: u64,
    /// Health.
    pub health: CredentialHealth,
    /// Attempts made with it (for `least_used` pools).
    pub use_count: u64,
    /// Creation time.
    pub created_at: Millis,
}

/// Tokens returned by a successful refresh, to persist before use.
#[derive(Debug, Clone)]
pub struct RotatedTokens {
    /// New access token.
    pub access_token: SecretString,
    /// New refresh token (the old one when the endpoint did not rotate it).
    pub refresh_token: SecretString,
    /// Expiry of the new access token, Unix ms.
    pub expires_at: Option<Millis>,
}

/// A change of credential health, written through by the server. Each names the
/// incarnation of the row it applies to: the store ignores a change aimed at a row
/// that was replaced since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthChange {
    /// Cooling down until `until`.
    Cooldown {
        /// Credential.
        id: CredentialId,
        /// Its row ([`StoredCredential::incarnation`]).
        incarnation: i64,
        /// Unix ms.
        until: Millis,
        /// Cause.
        class: ErrorClass,
        /// When.
        at: Millis,
    },
    /// Dead for good.
    Dead {
        /// Credential.
        id: CredentialId,
        /// Its row ([`StoredCredential::incarnation`]).
        incarnation: i64,
        /// Why.
        reason: String,
        /// When.
        at: Millis,
    },
    /// Attempts made with the credential so far.
    Usage {
        /// Credential.
        id: CredentialId,
        /// Its row ([`StoredCredential::incarnation`]).
        incarnation: i64,
        /// Total count.
        uses: u64,
    },
}

impl HealthChange {
    /// The credential it applies to.
    pub fn id(&self) -> &CredentialId {
        match self {
            Self::Cooldown { id, .. } | Self::Dead { id, .. } | Self::Usage { id, .. } => id,
        }
    }
}

/// How many trails to keep, and how many at most to delete in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prune {
    /// Trails kept: the newest ones.
    pub keep: u32,
    /// Most trails deleted by one step.
    pub max_rows: u32,
}
