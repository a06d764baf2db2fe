//! Which changed settings a reload cannot apply: the ones read once at start
//! (sockets, the store, TLS, caller auth, limits the gRPC decoder was built
//! with, OAuth client timeouts, pool strategies, telemetry export).

use crate::config::Config;

/// The settings of `next` that differ from `running` and need a restart to apply,
/// by config key. The rest of `next` applies live.
pub fn needs_restart(running: &Config, next: &Config) -> Vec<&'static str> {
    // Compared through `Debug`: these types hold no secret in clear (Debug of a
    // secret redacts it) and do not implement `PartialEq`; a derive on each would
    // spread over every config type for this one use.
    fn differs<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
        format!("{a:?}") != format!("{b:?}")
    }
    let mut out = Vec::new();
    let checks: [(&'static str, bool); 11] = [
        ("listen", running.listen != next.listen),
        ("openai_listen", running.openai_listen != next.openai_listen),
        ("database", differs(&running.database, &next.database)),
        ("listeners", differs(&running.listeners, &next.listeners)),
        (
            "telemetry.metrics_listen",
            running.telemetry.metrics_listen != next.telemetry.metrics_listen,
        ),
        ("auth", differs(&running.auth, &next.auth)),
        ("tls", differs(&running.tls, &next.tls)),
        ("limits", differs(&running.limits, &next.limits)),
        (
            "shutdown_grace",
            running.shutdown_grace != next.shutdown_grace,
        ),
        ("oauth.timeout", running.oauth.timeout != next.oauth.timeout),
        (
            "providers.*.pool_strategy",
            running.pool_strategies() != next.pool_strategies(),
        ),
    ];
    for (key, changed) in checks {
        if changed {
            out.push(key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
providers:
  a: { kind: openai, base_url: "http://127.0.0.1:1/v1" }
  b: { kind: openai, base_url: "http://127.0.0.1:2/v1" }
model: { provider: a, model: m }
"#;

    fn config(extra: &str) -> Config {
        Config::from_yaml(&format!("{BASE}{extra}"), "<test>", Vec::new()).unwrap()
    }

    #[test]
    fn routing_changes_apply_live_and_sockets_need_a_restart() {
        let running = config("");
        let routing = config("auxiliary: { compression: { provider: b, model: x } }\n");
        assert!(needs_restart(&running, &routing).is_empty());
        let moved = config("listen: 127.0.0.1:9\ndatabase: { path: other.db }\n");
        assert_eq!(needs_restart(&running, &moved), vec!["listen", "database"]);
    }
}
