//! The declared keys: sources resolved, the store synced, the missing-key report.

use super::*;

const YAML: &str = "
providers:
  a:
    kind: openai
    base_url: 'http://127.0.0.1:1/v1'
    api_key_env: A_KEY
    keys: [ {file: /run/keys/a.key, priority: 2}, {env: A_SPARE, priority: 1} ]
  b: {kind: openai, base_url: 'http://127.0.0.1:2/v1', api_key_env: B_KEY}
  local: {kind: openai, base_url: 'http://127.0.0.1:3/v1', auth: none}
model: {provider: a, model: m, fallback_providers: [{provider: b, model: n}]}
auxiliary:
  title: {provider: b, model: n}
";

fn config() -> Config {
    Config::from_yaml(YAML, "t", []).unwrap()
}

fn resolved(env: &[(&str, &str)]) -> Resolved {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    resolve(
        &config(),
        |var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()),
        |path| {
            if path == Path::new("/run/keys/a.key") {
                Ok("key-from-the-file\n".to_owned())
            } else {
                Err(std::io::Error::from(std::io::ErrorKind::NotFound))
            }
        },
    )
}

fn ids(r: &Resolved) -> Vec<(String, i64, String)> {
    r.keys
        .iter()
        .map(|k| {
            let c = &k.credential;
            (c.id.clone(), c.priority, c.label.clone())
        })
        .collect()
}

#[test]
fn every_source_gives_a_key_with_an_id_derived_from_it() {
    let r = resolved(&[("A_KEY", "key-of-a-0001"), ("A_SPARE", "key-of-a-0002")]);
    assert_eq!(
        ids(&r),
        [
            ("a-env-A_KEY".into(), 0, "config: env A_KEY".into()),
            (
                "a-file-run-keys-a-key".into(),
                2,
                "config: file /run/keys/a.key".into()
            ),
            ("a-env-A_SPARE".into(), 1, "config: env A_SPARE".into()),
            ("local-none".into(), 0, "config: auth none".into()),
        ]
    );
    let Material::ApiKey(file_key) = &r.keys[1].credential.material else {
        panic!("an api key")
    };
    assert_eq!(file_key.expose_secret(), "key-from-the-file", "trimmed");
    assert_eq!(
        r.warnings,
        ["provider b: environment variable B_KEY is not set: no key from it"]
    );
}

#[test]
fn a_malformed_secret_is_a_warning_and_no_key() {
    let r = resolved(&[("A_KEY", "has space in it"), ("A_SPARE", "short")]);
    assert_eq!(r.keys.len(), 2, "the file and the synthetic credential");
    assert!(r.warnings[0].starts_with("provider a: the key from env A_KEY "));
    assert!(r.warnings[1].starts_with("provider a: the key from env A_SPARE "));
    assert!(
        !r.warnings.iter().any(|w| w.contains("has space")),
        "never the value: {:?}",
        r.warnings
    );
}

fn stored_ids(stored: &[StoredCredential]) -> Vec<(String, String)> {
    stored
        .iter()
        .map(|c| (c.id.to_string(), c.label.clone()))
        .collect()
}

#[tokio::test]
async fn the_store_follows_the_declared_keys_and_leaves_the_cli_ones_alone() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::crypto::MasterKey::from_bytes([7; 32]);
    let store = Store::open(&dir.path().join("s.db"), key).await.unwrap();
    let cli = crate::store::NewApiKey {
        id: "b-env-B_KEY".into(),
        provider: "b".into(),
        label: "added by hand".into(),
        priority: 0,
        secret: SecretString::from("cli-key-0001".to_owned()),
    };
    store.add_api_key(&cli, 1).await.unwrap();

    let first = resolved(&[("A_KEY", "key-of-a-0001"), ("B_KEY", "key-of-b-0001")]);
    let report = sync(&store, &first, 2).await.unwrap();
    assert_eq!(report.added.len(), 3, "{report:?}");
    assert_eq!(report.conflicts, ["b-env-B_KEY"], "the CLI's row is kept");

    // Same values: nothing moves. A dead `auth: none` credential is revived.
    let dead = crate::store::HealthChange::Dead {
        id: "local-none".into(),
        incarnation: store
            .credential("local-none")
            .await
            .unwrap()
            .unwrap()
            .incarnation,
        reason: "401".into(),
        at: 3,
    };
    store.write_batch(&[dead], &[]).await.unwrap();
    let report = sync(&store, &first, 4).await.unwrap();
    assert_eq!(report.replaced, ["local-none"], "{report:?}");
    assert!(
        report.added.is_empty() && report.removed.is_empty(),
        "{report:?}"
    );

    // A changed value replaces; an unset variable removes its key.
    let second = resolved(&[("A_KEY", "key-of-a-0002")]);
    let report = sync(&store, &second, 5).await.unwrap();
    assert_eq!(report.replaced, ["a-env-A_KEY"], "{report:?}");
    assert!(report.removed.is_empty(), "{report:?}");
    let stored = store.credentials().await.unwrap();
    let Material::ApiKey(a) = &stored
        .iter()
        .find(|c| &*c.id == "a-env-A_KEY")
        .unwrap()
        .material
    else {
        panic!("an api key")
    };
    assert_eq!(a.expose_secret(), "key-of-a-0002");

    let third = resolved(&[]);
    let report = sync(&store, &third, 6).await.unwrap();
    assert_eq!(report.removed, ["a-env-A_KEY"], "{report:?}");
    assert_eq!(
        stored_ids(&store.credentials().await.unwrap()),
        [
            (
                "a-file-run-keys-a-key".to_owned(),
                "config: file /run/keys/a.key".to_owned()
            ),
            ("b-env-B_KEY".to_owned(), "added by hand".to_owned()),
            ("local-none".to_owned(), "config: auth none".to_owned()),
        ]
    );
    store.close().await;
}

#[test]
fn a_caller_with_no_keyed_candidate_is_named_and_the_variable_to_set_is_said() {
    let c = config();
    let r = resolved(&[]);
    let (lines, keyless) = missing(&c.routing(), &r.sources, |p| p == "local");
    assert!(
        lines.contains(&"provider b has no usable key: set B_KEY".to_owned()),
        "{lines:?}"
    );
    assert!(
            lines.contains(
                &"provider a has no usable key: set A_KEY or write the key to /run/keys/a.key or set A_SPARE"
                    .to_owned()
            ),
            "{lines:?}"
        );
    assert!(keyless.contains(&"primary".to_owned()), "{keyless:?}");
    assert!(keyless.contains(&"aux:title".to_owned()), "{keyless:?}");

    // With b keyed, the primary caller still has a candidate: only a warning.
    let (lines, keyless) = missing(&c.routing(), &r.sources, |p| p == "b");
    assert!(!keyless.contains(&"primary".to_owned()), "{keyless:?}");
    assert!(
        lines.contains(&"caller primary: candidates without a key are skipped: #0 a/m".to_owned()),
        "{lines:?}"
    );
}
