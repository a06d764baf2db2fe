use super::*;
use crate::policy::OutlierConfig;

const MINIMAL: &str = "
providers:
  p: {kind: openai, base_url: 'http://127.0.0.1:1/v1'}
model: {provider: p, model: m}
";

#[test]
fn the_embedded_example_is_valid() {
    let c = Config::load(None, []).unwrap();
    assert!(c.providers.len() >= 2);
}

#[test]
fn defaults_fill_what_the_file_omits() {
    let c = Config::from_yaml(MINIMAL, "t", []).unwrap();
    assert_eq!(c.policy.max_retries, 2);
    assert_eq!(c.database.path, PathBuf::from("switchyard.db"));
    assert_eq!(c.model.timeout, Duration::from_secs(120));
}

#[test]
fn a_bad_field_is_reported_with_its_path() {
    let text = format!("{MINIMAL}auxiliary:\n  compression:\n    timeout: soon\n");
    let err = Config::from_yaml(&text, "t.yaml", [])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("t.yaml: auxiliary.compression.timeout:"),
        "{err}"
    );
}

#[test]
fn unknown_fields_are_refused() {
    let text = format!("{MINIMAL}polcy: {{}}\n");
    let err = Config::from_yaml(&text, "t", []).unwrap_err().to_string();
    assert!(err.contains("polcy"), "{err}");
}

#[test]
fn an_unknown_provider_reference_names_the_field() {
    let text = format!(
        "{MINIMAL}auxiliary:\n  vision:\n    provider: p\n    fallback_chain: [{{provider: nope, model: x}}]\n"
    );
    let err = Config::from_yaml(&text, "t", []).unwrap_err().to_string();
    assert!(
        err.contains("auxiliary.vision.fallback_chain[0].provider"),
        "{err}"
    );
}

#[test]
fn database_url_from_the_file_or_database_url_selects_postgres() {
    use secrecy::ExposeSecret as _;
    let c = Config::from_yaml(MINIMAL, "t", []).unwrap();
    assert!(c.database.url.is_none(), "SQLite stays the default");
    let text = format!("{MINIMAL}\ndatabase: {{ url: 'postgres://file/db' }}\n");
    let c = Config::from_yaml(&text, "t", []).unwrap();
    let url = c
        .database
        .url
        .as_ref()
        .map(|u| u.expose_secret().to_owned());
    assert_eq!(url.as_deref(), Some("postgres://file/db"));
    let env = [(DATABASE_URL_ENV.to_owned(), "postgres://env/db".to_owned())];
    let c = Config::from_yaml(&text, "t", env).unwrap();
    let url = c
        .database
        .url
        .as_ref()
        .map(|u| u.expose_secret().to_owned());
    assert_eq!(
        url.as_deref(),
        Some("postgres://env/db"),
        "the environment wins"
    );
    assert!(
        !format!("{c:?}").contains("postgres://env"),
        "Debug redacts the URL"
    );
}

#[test]
fn an_env_override_matches_an_existing_provider_whatever_its_case() {
    let text = MINIMAL
        .replace("  p:", "  MyProv:")
        .replace("provider: p", "provider: MyProv");
    let env = [(
        "SWITCHYARD__PROVIDERS__MYPROV__TIMEOUT".to_owned(),
        "7s".to_owned(),
    )];
    let c = Config::from_yaml(&text, "t", env).unwrap();
    assert_eq!(c.providers.len(), 1, "{:?}", c.providers.keys());
    assert_eq!(c.providers["MyProv"].timeout, Duration::from_secs(7));
}

#[test]
fn an_env_override_matching_two_keys_by_case_is_refused() {
    let text = "
providers:
  p: {kind: openai, base_url: 'http://127.0.0.1:1/v1'}
  P: {kind: openai, base_url: 'http://127.0.0.1:2/v1'}
model: {provider: p, model: m}
";
    Config::from_yaml(text, "t", []).unwrap();
    let env = [(
        "SWITCHYARD__PROVIDERS__P__TIMEOUT".to_owned(),
        "7s".to_owned(),
    )];
    let err = Config::from_yaml(text, "t", env).unwrap_err().to_string();
    assert!(
        err.contains("env SWITCHYARD__PROVIDERS__P__TIMEOUT"),
        "{err}"
    );
    assert!(err.contains("differ only in case"), "{err}");
}

#[test]
fn a_numeric_env_segment_makes_a_list_the_file_does_not_have() {
    let env = [
        (
            "SWITCHYARD__MODEL__FALLBACK_PROVIDERS__0__PROVIDER".to_owned(),
            "p".to_owned(),
        ),
        (
            "SWITCHYARD__MODEL__FALLBACK_PROVIDERS__0__MODEL".to_owned(),
            "x".to_owned(),
        ),
    ];
    let c = Config::from_yaml(MINIMAL, "t", env).unwrap();
    assert_eq!(c.model.fallback_providers.len(), 1);
    assert_eq!(c.model.fallback_providers[0].model, "x");
    // An index past the end is a clear error, not a silent gap.
    let env = [(
        "SWITCHYARD__MODEL__FALLBACK_PROVIDERS__3__MODEL".to_owned(),
        "x".to_owned(),
    )];
    let err = Config::from_yaml(MINIMAL, "t", env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("past the end"), "{err}");
}

#[test]
fn env_overrides_win_over_the_file() {
    let env = [
        ("SWITCHYARD__MODEL__MODEL".to_owned(), "m2".to_owned()),
        ("SWITCHYARD__POLICY__MAX_RETRIES".to_owned(), "5".to_owned()),
        ("OTHER".to_owned(), "x".to_owned()),
    ];
    let c = Config::from_yaml(MINIMAL, "t", env).unwrap();
    assert_eq!(c.model.model, "m2");
    assert_eq!(c.policy.max_retries, 5);
}

#[test]
fn a_bad_env_override_names_the_variable() {
    let env = [(
        "SWITCHYARD__POLICY__MAX_RETRIES".to_owned(),
        "many".to_owned(),
    )];
    let err = Config::from_yaml(MINIMAL, "t", env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy.max_retries"), "{err}");
}

#[test]
fn otel_export_is_off_without_an_endpoint_and_reads_the_standard_variables() {
    assert_eq!(Config::from_yaml(MINIMAL, "t", []).unwrap().otel, None);
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_SERVICE_NAME", "gw"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let otel = Config::from_yaml(MINIMAL, "t", env.clone())
        .unwrap()
        .otel
        .unwrap();
    assert_eq!(otel.service_name, "gw");
    assert_eq!(otel.sampler_arg, Some(0.25));
    assert!(otel.traces && !otel.metrics);
    let mut disabled = env.to_vec();
    disabled.push(("OTEL_SDK_DISABLED".into(), "true".into()));
    assert_eq!(
        Config::from_yaml(MINIMAL, "t", disabled).unwrap().otel,
        None
    );
}

#[test]
fn outlier_settings_have_defaults_and_reach_the_policy() {
    let c = Config::from_yaml(MINIMAL, "t", []).unwrap();
    let p = c.policy();
    assert_eq!(p.max_cooldown_ms, 3_600_000);
    assert_eq!(p.refresh_skew_ms, 60_000);
    assert_eq!(p.outlier, OutlierConfig::default());
    let text = format!(
        "{MINIMAL}policy: {{max_cooldown: 2h, outlier: {{auth: 1, transport: 7, base_ejection: 5s}}}}\n"
    );
    let p = Config::from_yaml(&text, "t", []).unwrap().policy();
    assert_eq!(p.max_cooldown_ms, 7_200_000);
    assert_eq!((p.outlier.auth, p.outlier.rate_limit), (1, 3));
    assert_eq!(
        (p.outlier.transport, p.outlier.base_ejection_ms),
        (7, 5_000)
    );
    let env = [(
        "SWITCHYARD__POLICY__OUTLIER__SERVER".to_owned(),
        "9".to_owned(),
    )];
    let p = Config::from_yaml(MINIMAL, "t", env).unwrap().policy();
    assert_eq!(p.outlier.server, 9);
}

#[test]
fn nonsense_cooldown_and_outlier_settings_are_refused_with_their_path() {
    for (policy, field) in [
        ("{max_cooldown: 0s}", "policy.max_cooldown"),
        (
            "{outlier: {base_ejection: 0s}}",
            "policy.outlier.base_ejection",
        ),
        ("{outlier: {auth: 0}}", "policy.outlier.auth"),
        ("{outlier: {server: 100000}}", "policy.outlier.server"),
        ("{max_cooldown: 1m}", "policy.auth_cooldown"),
        (
            "{max_cooldown: 2h, billing_cooldown: 3h}",
            "policy.billing_cooldown",
        ),
        (
            "{outlier: {base_ejection: 2h}}",
            "policy.outlier.base_ejection",
        ),
        ("{outlier: {rate_limit: -1}}", "policy.outlier.rate_limit"),
        ("{outlier: {overlaoded: 3}}", "overlaoded"),
    ] {
        let text = format!("{MINIMAL}policy: {policy}\n");
        let err = Config::from_yaml(&text, "t", []).unwrap_err().to_string();
        assert!(err.contains(field), "{policy}: {err}");
    }
}

#[test]
fn auto_tasks_route_to_the_main_provider() {
    let text = format!("{MINIMAL}auxiliary:\n  title_generation: {{}}\n");
    let c = Config::from_yaml(&text, "t", []).unwrap();
    assert_eq!(c.routing().tasks["title_generation"].provider, None);
}
