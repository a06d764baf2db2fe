//! Loading a config: YAML, environment overrides, defaults resolved, and the
//! cross-references checked; and what the rest of the program reads from it.

use foldhash::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Capabilities, Target};
use crate::policy::{OutlierConfig, PolicyConfig, Routing, TaskRoute};

use super::*;

// === impl Config ===

impl Config {
    /// Parses YAML text, applies `env` overrides and checks cross-references.
    /// `source_name` names the text in errors.
    pub fn from_yaml(
        text: &str,
        source_name: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let field = |path: String, message: String| ConfigError::Field {
            source_name: source_name.to_owned(),
            path,
            message,
        };
        let mut value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| field(".".into(), e.to_string()))?;
        for (key, raw) in &env {
            let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            apply_override(&mut value, rest, raw).map_err(|m| field(format!("env {key}"), m))?;
        }
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            field(path, e.into_inner().to_string())
        })?;
        config.check().map_err(|(path, m)| field(path, m))?;
        validate::impossible_values(&config).map_err(|(path, m)| field(path, m))?;
        config.otel = OtelSettings::from_env(&env);
        config.master_key_env = env
            .iter()
            .rev()
            .find(|(k, _)| k == crate::crypto::MASTER_KEY_ENV)
            .map(|(_, v)| secrecy::SecretString::from(v.clone()));
        if let Some((_, url)) = env.iter().rev().find(|(k, _)| k == DATABASE_URL_ENV) {
            config.database.url = Some(secrecy::SecretString::from(url.clone()));
        }
        Ok(config)
    }

    /// Reads `path`, or the embedded example when `path` is `None`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        match path {
            None => Self::from_yaml(EXAMPLE_YAML, "<embedded example>", env),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::from_yaml(&text, &path.display().to_string(), env)
            }
        }
    }

    fn check(&self) -> Result<(), (String, String)> {
        for (name, p) in &self.providers {
            keys::check_keys(name, p)?;
            let url = reqwest::Url::parse(&p.base_url)
                .map_err(|e| (format!("providers.{name}.base_url"), e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err((
                    format!("providers.{name}.base_url"),
                    "scheme must be http or https".into(),
                ));
            }
            for (field, value) in [
                ("timeout", p.timeout),
                ("first_token_timeout", p.first_token_timeout),
                ("stream_idle_timeout", p.stream_idle_timeout),
            ] {
                if value.is_zero() {
                    return Err((
                        format!("providers.{name}.{field}"),
                        "must be positive".into(),
                    ));
                }
            }
        }
        let known = |path: String, provider: &str| -> Result<(), (String, String)> {
            if self.providers.contains_key(provider) {
                Ok(())
            } else {
                Err((path, format!("unknown provider {provider:?}")))
            }
        };
        known("model.provider".into(), &self.model.provider)?;
        for (i, t) in self.model.fallback_providers.iter().enumerate() {
            known(
                format!("model.fallback_providers[{i}].provider"),
                &t.provider,
            )?;
        }
        for (task, aux) in &self.auxiliary {
            if task.is_empty()
                || !task
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return Err((
                    format!("auxiliary.{task}"),
                    "task names use lowercase letters, digits, '_' and '-'".into(),
                ));
            }
            if aux.provider != "auto" {
                known(format!("auxiliary.{task}.provider"), &aux.provider)?;
            }
            for (i, t) in aux.fallback_chain.iter().enumerate() {
                known(
                    format!("auxiliary.{task}.fallback_chain[{i}].provider"),
                    &t.provider,
                )?;
            }
        }
        for (field, hashes) in [
            ("auth.client_token_sha256", &self.auth.client_token_sha256),
            ("auth.admin_token_sha256", &self.auth.admin_token_sha256),
        ] {
            for (i, h) in hashes.iter().enumerate() {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err((
                        format!("{field}[{i}]"),
                        "a SHA-256 hash in hex (64 characters); `switchyard token new` prints one"
                            .into(),
                    ));
                }
            }
        }
        if self.policy.backoff_base > self.policy.backoff_max {
            return Err((
                "policy.backoff_base".into(),
                "must not exceed policy.backoff_max".into(),
            ));
        }
        self.check_outlier()?;
        Ok(())
    }

    /// Refuses cooldown and outlier settings that cannot mean what they say.
    fn check_outlier(&self) -> Result<(), (String, String)> {
        let p = &self.policy;
        let positive = [
            ("policy.max_cooldown", p.max_cooldown),
            ("policy.outlier.base_ejection", p.outlier.base_ejection),
        ];
        for (field, value) in positive {
            if value.is_zero() {
                return Err((field.into(), "must be positive".into()));
            }
        }
        let capped = [
            ("policy.auth_cooldown", p.auth_cooldown),
            ("policy.billing_cooldown", p.billing_cooldown),
            ("policy.rate_limit_cooldown", p.rate_limit_cooldown),
            ("policy.outlier.base_ejection", p.outlier.base_ejection),
        ];
        for (field, value) in capped {
            if value > p.max_cooldown {
                return Err((
                    field.into(),
                    "must not exceed policy.max_cooldown, which caps every cooldown".into(),
                ));
            }
        }
        let o = &p.outlier;
        let thresholds = [
            ("auth", o.auth),
            ("rate_limit", o.rate_limit),
            ("overloaded", o.overloaded),
            ("server", o.server),
            ("transport", o.transport),
        ];
        for (class, n) in thresholds {
            if !(1..=1000).contains(&n) {
                return Err((
                    format!("policy.outlier.{class}"),
                    "failures in a row that eject a key: from 1 (eject at once) to 1000".into(),
                ));
            }
        }
        Ok(())
    }

    /// The routing table of the policy.
    pub fn routing(&self) -> Routing {
        let target = |t: &TargetConfig| Target {
            provider: t.provider.as_str().into(),
            model: t.model.as_str().into(),
        };
        let tasks = self
            .auxiliary
            .iter()
            .map(|(name, aux)| {
                let route = TaskRoute {
                    provider: (aux.provider != "auto").then(|| aux.provider.as_str().into()),
                    model: aux.model.as_deref().map(Arc::from),
                    fallback_chain: aux.fallback_chain.iter().map(target).collect(),
                    last_resort: aux.last_resort,
                    timeout_ms: millis(aux.timeout),
                };
                (name.clone(), route)
            })
            .collect();
        let base_urls: HashMap<Arc<str>, Arc<str>> = self
            .providers
            .iter()
            .map(|(name, p)| {
                (
                    Arc::from(name.as_str()),
                    Arc::from(p.base_url.trim_end_matches('/')),
                )
            })
            .collect();
        let capabilities = self
            .providers
            .iter()
            .map(|(name, p)| {
                let c = Capabilities {
                    images: p.capabilities.images,
                    tools: p.capabilities.tools,
                };
                (Arc::from(name.as_str()), c)
            })
            .collect();
        Routing {
            main: Target {
                provider: self.model.provider.as_str().into(),
                model: self.model.model.as_str().into(),
            },
            main_fallbacks: self.model.fallback_providers.iter().map(target).collect(),
            main_timeout_ms: millis(self.model.timeout),
            tasks,
            default_task_timeout_ms: millis(defaults::task_timeout()),
            base_urls,
            capabilities,
        }
    }

    /// The policy tunables, in milliseconds.
    pub fn policy(&self) -> PolicyConfig {
        let p = &self.policy;
        PolicyConfig {
            max_retries: p.max_retries,
            backoff_base_ms: millis(p.backoff_base),
            backoff_max_ms: millis(p.backoff_max),
            rate_limit_max_wait_ms: millis(p.rate_limit_max_wait),
            auth_cooldown_ms: millis(p.auth_cooldown),
            billing_cooldown_ms: millis(p.billing_cooldown),
            rate_limit_cooldown_ms: millis(p.rate_limit_cooldown),
            min_attempt_ms: millis(p.min_attempt),
            max_cooldown_ms: millis(p.max_cooldown),
            refresh_skew_ms: millis(self.oauth.refresh_skew),
            outlier: OutlierConfig {
                auth: p.outlier.auth,
                rate_limit: p.outlier.rate_limit,
                overloaded: p.outlier.overloaded,
                server: p.outlier.server,
                transport: p.outlier.transport,
                base_ejection_ms: millis(p.outlier.base_ejection),
            },
        }
    }

    /// The master key file in use.
    pub fn master_key_file(&self) -> PathBuf {
        self.database
            .master_key_file
            .clone()
            .unwrap_or_else(|| crate::crypto::default_key_file(&self.database.path))
    }

    /// Each provider's key pool strategy.
    pub fn pool_strategies(&self) -> HashMap<Arc<str>, crate::credentials::PoolStrategy> {
        self.providers
            .iter()
            .map(|(name, p)| (Arc::from(name.as_str()), p.pool_strategy))
            .collect()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sets `MODEL__FALLBACK_PROVIDERS__0__MODEL`-style paths inside a YAML value.
/// A segment names an existing key whatever its case (a new key is lower case); a
/// number indexes a sequence, made if absent and grown by one at its end; the value
/// is parsed as YAML.
fn apply_override(root: &mut serde_norway::Value, path: &str, raw: &str) -> Result<(), String> {
    use serde_norway::Value;
    let parsed: Value = serde_norway::from_str(raw).unwrap_or_else(|_| Value::String(raw.into()));
    let mut node = root;
    let segments: Vec<&str> = path.split("__").collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("empty path segment".into());
    }
    let mut parsed = Some(parsed);
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let index = seg.parse::<usize>().ok();
        // An absent list is made by its first index, so `..__FALLBACK_PROVIDERS__0__MODEL`
        // works whether or not the file has the list.
        if index.is_some() && !matches!(node, Value::Sequence(_) | Value::Mapping(_)) {
            *node = Value::Sequence(Vec::new());
        }
        if let Value::Sequence(items) = node {
            let idx = index.ok_or_else(|| format!("{seg:?} is not an index of a list"))?;
            if idx == items.len() {
                items.push(Value::Null);
            }
            let len = items.len();
            let item = items.get_mut(idx).ok_or_else(|| {
                format!("index {idx} is past the end of the list ({len} items; add them in order)")
            })?;
            if last {
                *item = parsed.take().unwrap_or(Value::Null);
                return Ok(());
            }
            node = item;
            continue;
        }
        if !matches!(node, Value::Mapping(_)) {
            *node = Value::Mapping(Default::default());
        }
        let Value::Mapping(map) = node else {
            return Err("internal: not a mapping".into());
        };
        // Environment names are upper case: match the keys the file already has
        // whatever their case (a provider `OpenAI` or `a`), refuse an ambiguous
        // match, and write a new key in lower case like every field name.
        let matches: Vec<Value> = map
            .keys()
            .filter(|k| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(seg)))
            .cloned()
            .collect();
        let key = match &matches[..] {
            [] => Value::String(seg.to_ascii_lowercase()),
            [one] => one.clone(),
            many => {
                let names: Vec<&str> = many.iter().filter_map(Value::as_str).collect();
                return Err(format!(
                    "{seg:?} matches several keys that differ only in case: {}",
                    names.join(", ")
                ));
            }
        };
        if last {
            map.insert(key, parsed.take().unwrap_or(Value::Null));
            return Ok(());
        }
        node = map.entry(key).or_insert(Value::Null);
    }
    Ok(())
}
