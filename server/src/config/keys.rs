//! Provider keys declared in the config: where each secret is read from (an
//! environment variable or a file), never the secret itself, and whether the
//! provider needs a key at all. Reading the sources and syncing them into the store
//! is [`crate::declared`]'s job; this module owns the shape and its validation.

use std::path::PathBuf;

use serde::Deserialize;

/// Whether a provider's calls carry a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderAuth {
    /// Calls carry a key from the provider's pool (default).
    #[default]
    Key,
    /// Calls carry no `Authorization`/`x-api-key` header (a local vLLM, Ollama or
    /// llama.cpp server). The pool holds one synthetic credential without a secret.
    None,
}

/// One declared key: exactly one of `env` or `file`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Environment variable holding the key.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the key (surrounding whitespace is trimmed, as a mounted
    /// Secret often ends with a newline).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Order within the provider's pool (lower first).
    #[serde(default)]
    pub priority: i64,
}

/// Where a declared key is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable.
    Env(String),
    /// A file.
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(var) => write!(f, "env {var}"),
            Self::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// A declared key with its source resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredKey {
    /// Where it is read from.
    pub source: KeySource,
    /// Order within the pool.
    pub priority: i64,
}

impl super::ProviderConfig {
    /// Every key the provider declares: `api_key_env`, then `api_key_file` (both
    /// priority 0), then the `keys` list. Assumes [`check_keys`] passed.
    pub fn declared_keys(&self) -> Vec<DeclaredKey> {
        let shorthand = self
            .api_key_env
            .iter()
            .map(|v| KeySource::Env(v.clone()))
            .chain(self.api_key_file.iter().map(|p| KeySource::File(p.clone())))
            .map(|source| DeclaredKey {
                source,
                priority: 0,
            });
        let listed = self.keys.iter().filter_map(|k| {
            let source = match (&k.env, &k.file) {
                (Some(v), None) => KeySource::Env(v.clone()),
                (None, Some(p)) => KeySource::File(p.clone()),
                _ => return None,
            };
            Some(DeclaredKey {
                source,
                priority: k.priority,
            })
        });
        shorthand.chain(listed).collect()
    }
}

/// The first malformed key declaration of provider `name`, as (field, what is wrong).
pub(super) fn check_keys(name: &str, p: &super::ProviderConfig) -> Result<(), (String, String)> {
    let field = |f: &str| format!("providers.{name}.{f}");
    if let Some(var) = &p.api_key_env {
        env_name(&field("api_key_env"), var)?;
    }
    for (i, k) in p.keys.iter().enumerate() {
        match (&k.env, &k.file) {
            (Some(var), None) => env_name(&field(&format!("keys[{i}].env")), var)?,
            (None, Some(_)) => {}
            _ => {
                return Err((
                    field(&format!("keys[{i}]")),
                    "give exactly one of env or file".to_owned(),
                ));
            }
        }
    }
    if p.auth == ProviderAuth::None && !p.declared_keys().is_empty() {
        return Err((
            field("auth"),
            "`none` sends no key: remove the declared keys or the `auth: none`".to_owned(),
        ));
    }
    let mut seen = Vec::new();
    for k in p.declared_keys() {
        if seen.contains(&k.source) {
            return Err((field("keys"), format!("{} is declared twice", k.source)));
        }
        seen.push(k.source);
    }
    Ok(())
}

fn env_name(field: &str, var: &str) -> Result<(), (String, String)> {
    let valid = !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err((
            field.to_owned(),
            format!("{var:?} is not an environment variable name (letters, digits, _)"),
        ))
    }
}
