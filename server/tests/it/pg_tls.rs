//! TLS to PostgreSQL: `sslmode` and `sslrootcert` in the URL are honoured. A
//! cluster of the test's own runs with `ssl = on` and a certificate issued by a
//! test CA (rcgen): `verify-full` with that CA opens the store over TLS; with
//! another CA it is refused with an error that names TLS and no password;
//! `require` encrypts without checking the certificate.
//!
//! Needs `SWITCHYARD_TEST_PG_CLUSTER` (set by `bash .ci/postgres`); without it the
//! test prints SKIPPED, unless `CI` is set: then it fails.

use secrecy::SecretString;
use sqlx::Connection as _;
use switchyard::store::{Database, Store};

use super::pg_outage::{Cluster, PASSWORD};
use super::support::{issue, test_ca as ca};

fn master_key() -> switchyard::crypto::MasterKey {
    let dir = tempfile::tempdir().unwrap();
    switchyard::crypto::MasterKey::load(None, &dir.path().join("k"))
        .unwrap()
        .0
}

async fn open(url: &str) -> Result<Store, String> {
    let db = Database::postgres(SecretString::from(url.to_owned())).unwrap();
    Store::open_at(&db, master_key())
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server_against_sslrootcert() {
    let Some(cluster) = Cluster::init_or_skip().await else {
        return;
    };
    let right = ca("switchyard test CA");
    let wrong = ca("some other CA");
    let (cert, key) = issue(&right, "127.0.0.1");
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (cert, key) = (
        write("server.crt", &cert.pem()),
        write("server.key", &key.serialize_pem()),
    );
    let (right, wrong) = (
        write("ca.pem", &right.pem()),
        write("wrong.pem", &wrong.pem()),
    );
    cluster.run(&["tls", &cert, &key]).await;
    cluster.run(&["start"]).await;
    let url = |mode: &str, ca: &str| {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?sslmode={mode}&sslrootcert={ca}",
            cluster.port
        )
    };

    // The right CA: the store opens (migrations, a committed write probe), over TLS.
    let store = open(&url("verify-full", &right)).await.unwrap();
    store.close().await;
    let mut conn = sqlx::postgres::PgConnection::connect(&url("verify-full", &right))
        .await
        .unwrap();
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(ssl, "the session is encrypted");
    conn.close().await.unwrap();
    let store = open(&url("verify-ca", &right)).await.unwrap();
    store.close().await;

    // Another CA: refused, and the error says it is TLS, without the password.
    for mode in ["verify-full", "verify-ca"] {
        let err = open(&url(mode, &wrong)).await.expect_err("refused");
        assert!(err.contains("TLS"), "{mode}: {err}");
        assert!(
            err.contains(&format!("postgres://127.0.0.1:{}/postgres", cluster.port)),
            "{err}"
        );
        assert!(!err.contains(PASSWORD), "{err}");
    }
    // `require` encrypts but checks no certificate, as libpq's does.
    let store = open(&url("require", &wrong)).await.unwrap();
    store.close().await;
}
