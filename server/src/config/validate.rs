//! Values with which no call can succeed, refused when the config is loaded (so by
//! `check-config` and `serve` alike), each error naming its field: zero or
//! over-large timeouts, a `policy.min_attempt` no caller's budget can fit, zero
//! limits, a zero retention.
//!
//! Over-large durations are refused as well as zero ones: a timeout of
//! `1000years` is a typo, not a budget, and deadlines computed from it overflow.

use std::time::Duration;

use super::{Config, defaults};

/// Longest budget of a call, an attempt or a token request.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Longest cooldown of a credential.
const MAX_COOLDOWN: Duration = Duration::from_secs(366 * 24 * 3600);

/// The first impossible value, as (field path, what is wrong).
pub(super) fn impossible_values(c: &Config) -> Result<(), (String, String)> {
    timeout("model.timeout", c.model.timeout)?;
    for (task, aux) in &c.auxiliary {
        timeout(&format!("auxiliary.{task}.timeout"), aux.timeout)?;
    }
    for (name, p) in &c.providers {
        timeout(&format!("providers.{name}.timeout"), p.timeout)?;
        timeout(
            &format!("providers.{name}.first_token_timeout"),
            p.first_token_timeout,
        )?;
        timeout(
            &format!("providers.{name}.stream_idle_timeout"),
            p.stream_idle_timeout,
        )?;
    }
    timeout("oauth.timeout", c.oauth.timeout)?;
    timeout("database.resync_interval", c.database.resync_interval)?;

    let p = &c.policy;
    for (field, value) in [
        ("policy.backoff_base", p.backoff_base),
        ("policy.backoff_max", p.backoff_max),
        ("policy.rate_limit_max_wait", p.rate_limit_max_wait),
        ("policy.min_attempt", p.min_attempt),
        ("oauth.refresh_skew", c.oauth.refresh_skew),
        ("shutdown_grace", c.shutdown_grace),
    ] {
        at_most(field, value, MAX_TIMEOUT)?;
    }
    for (field, value) in [
        ("policy.auth_cooldown", p.auth_cooldown),
        ("policy.billing_cooldown", p.billing_cooldown),
        ("policy.rate_limit_cooldown", p.rate_limit_cooldown),
    ] {
        at_most(field, value, MAX_COOLDOWN)?;
    }
    // No attempt starts with less than min_attempt of budget left: a caller whose
    // whole budget is not larger could never make one. Built-in tasks the config
    // does not mention run on the default task timeout.
    let mut budgets = vec![("model.timeout".to_owned(), c.model.timeout)];
    budgets.extend(
        c.auxiliary
            .iter()
            .map(|(task, aux)| (format!("auxiliary.{task}.timeout"), aux.timeout)),
    );
    budgets.push((
        "the default task timeout".to_owned(),
        defaults::task_timeout(),
    ));
    for (caller, budget) in budgets {
        if p.min_attempt >= budget {
            return Err((
                "policy.min_attempt".into(),
                format!(
                    "must be less than {caller} ({}): no attempt could start",
                    humantime_serde::re::humantime::format_duration(budget)
                ),
            ));
        }
    }

    for (field, value) in [
        (
            "limits.max_request_bytes",
            c.limits.max_request_bytes as u64,
        ),
        ("limits.max_messages", c.limits.max_messages as u64),
        ("limits.max_tokens", u64::from(c.limits.max_tokens)),
        (
            "database.trail_retention",
            u64::from(c.database.trail_retention),
        ),
        ("database.trail_buffer", u64::from(c.database.trail_buffer)),
    ] {
        if value == 0 {
            return Err((field.into(), "must be at least 1".into()));
        }
    }
    Ok(())
}

fn timeout(field: &str, value: Duration) -> Result<(), (String, String)> {
    if value.is_zero() {
        return Err((field.into(), "must be positive".into()));
    }
    at_most(field, value, MAX_TIMEOUT)
}

fn at_most(field: &str, value: Duration, max: Duration) -> Result<(), (String, String)> {
    if value > max {
        return Err((
            field.into(),
            format!(
                "must be at most {}",
                humantime_serde::re::humantime::format_duration(max)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const MINIMAL: &str = "
providers:
  p: {kind: openai, base_url: 'http://127.0.0.1:1/v1'}
model: {provider: p, model: m}
";

    /// The error of `MINIMAL` plus `extra`, which must name `field`.
    fn refused(extra: &str, field: &str) -> String {
        let text = format!("{MINIMAL}{extra}");
        let err = Config::from_yaml(&text, "t.yaml", [])
            .err()
            .unwrap_or_else(|| panic!("accepted: {extra}"))
            .to_string();
        assert!(err.starts_with(&format!("t.yaml: {field}: ")), "{err}");
        err
    }

    #[test]
    fn zero_and_over_large_timeouts_are_refused_with_their_field() {
        refused("policy: {}\nshutdown_grace: 1000years\n", "shutdown_grace");
        let text = MINIMAL.replace("model: m}", "model: m, timeout: 0s}");
        let err = Config::from_yaml(&text, "t.yaml", [])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.yaml: model.timeout: must be positive"),
            "{err}"
        );
        let text = MINIMAL.replace("model: m}", "model: m, timeout: 1000years}");
        let err = Config::from_yaml(&text, "t.yaml", [])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.yaml: model.timeout: must be at most"),
            "{err}"
        );
        refused(
            "auxiliary:\n  vision: {timeout: 0s}\n",
            "auxiliary.vision.timeout",
        );
        let text = MINIMAL.replace(
            "base_url: 'http://127.0.0.1:1/v1'}",
            "base_url: 'http://127.0.0.1:1/v1', stream_idle_timeout: 100days}",
        );
        let err = Config::from_yaml(&text, "t.yaml", [])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.yaml: providers.p.stream_idle_timeout: must be at most"),
            "{err}"
        );
        refused("oauth: {timeout: 0s}\n", "oauth.timeout");
        refused(
            "policy: {billing_cooldown: 1000years}\n",
            "policy.billing_cooldown",
        );
    }

    #[test]
    fn a_min_attempt_no_caller_budget_can_fit_is_refused() {
        let err = refused("policy: {min_attempt: 1000years}\n", "policy.min_attempt");
        assert!(err.contains("must be at most"), "{err}");
        let err = refused("policy: {min_attempt: 120s}\n", "policy.min_attempt");
        assert!(err.contains("less than model.timeout (2m)"), "{err}");
        let err = refused(
            "auxiliary:\n  vision: {timeout: 1s}\npolicy: {min_attempt: 1s}\n",
            "policy.min_attempt",
        );
        assert!(err.contains("auxiliary.vision.timeout"), "{err}");
        // Built-in tasks not in the config get the default task timeout (60 s).
        let err = refused("policy: {min_attempt: 90s}\n", "policy.min_attempt");
        assert!(err.contains("default task timeout"), "{err}");
        assert!(
            Config::from_yaml(&format!("{MINIMAL}policy: {{min_attempt: 59s}}\n"), "t", []).is_ok()
        );
    }

    #[test]
    fn zero_limits_and_a_zero_retention_are_refused() {
        refused(
            "limits: {max_request_bytes: 0}\n",
            "limits.max_request_bytes",
        );
        refused("limits: {max_messages: 0}\n", "limits.max_messages");
        refused("limits: {max_tokens: 0}\n", "limits.max_tokens");
        refused(
            "database: {trail_retention: 0}\n",
            "database.trail_retention",
        );
        refused(
            "database: {resync_interval: 0s}\n",
            "database.resync_interval",
        );
        refused("database: {trail_buffer: 0}\n", "database.trail_buffer");
    }

    #[test]
    fn the_environment_overrides_are_checked_too() {
        let env = [(
            "SWITCHYARD__LIMITS__MAX_REQUEST_BYTES".to_owned(),
            "0".to_owned(),
        )];
        let err = Config::from_yaml(MINIMAL, "t.yaml", env)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.yaml: limits.max_request_bytes:"),
            "{err}"
        );
    }
}
