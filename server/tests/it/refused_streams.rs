//! Every stream a provider sees is an attempt of the policy. reqwest replays an
//! HTTP/2 stream the server refused (`REFUSED_STREAM`, or a graceful `GOAWAY`) up
//! to twice on its own by default; `provider::Providers::new` turns that off, so a
//! refusal is one failed attempt in the trail and the metrics, and the policy
//! decides what follows. Proven against a provider over TLS and HTTP/2, as real
//! ones are, that refuses every stream, for a primary and an auxiliary caller.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use switchyard_client::pb;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::support::*;

/// An HTTP/2 provider over TLS that answers every stream with `REFUSED_STREAM`,
/// recording the path of each.
struct RefusingProvider {
    addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
    /// The CA its certificate (for 127.0.0.1) is signed by, PEM.
    ca_pem: String,
    task: JoinHandle<()>,
}

impl RefusingProvider {
    async fn start() -> Self {
        let ca = test_ca("refusing provider CA");
        let (cert, key) = issue(&ca, "127.0.0.1");
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let paths = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let paths = paths.clone();
            async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, paths) = (acceptor.clone(), paths.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let Ok(mut conn) = h2::server::handshake(tls).await else {
                            return;
                        };
                        while let Some(Ok((request, mut respond))) = conn.accept().await {
                            paths.lock().unwrap().push(request.uri().path().to_owned());
                            respond.send_reset(h2::Reason::REFUSED_STREAM);
                        }
                    });
                }
            }
        });
        Self {
            addr,
            paths,
            ca_pem: ca.pem(),
            task,
        }
    }

    /// Streams received on `path`.
    fn streams(&self, path: &str) -> usize {
        self.paths
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

impl Drop for RefusingProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Attempts of `steps` on `provider`.
fn contacts(steps: &[pb::Attempt], provider: &str) -> usize {
    contacted(steps).filter(|a| a.provider == provider).count()
}

#[tokio::test]
async fn a_refused_http2_stream_is_one_attempt_of_the_trail_never_replayed_by_the_client() {
    let refusing = RefusingProvider::start().await;
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    seed_keys(&db, &[]).await;
    // The main model's provider and the compression task's explicit provider
    // both speak HTTP/2 over TLS and refuse every stream.
    let yaml = standard_yaml(&fakes, &db, "")
        .replace(
            &format!("\"{}\"", fakes.main.anthropic_base_url()),
            &format!("\"https://{}\"", refusing.addr),
        )
        .replace(
            &format!("\"{}\"", fakes.aux.openai_base_url()),
            &format!("\"https://{}/v1\"", refusing.addr),
        );
    assert!(
        yaml.contains(&format!("https://{}/v1", refusing.addr)),
        "{yaml}"
    );
    let config = dir.path().join("switchyard.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let ca = dir.path().join("provider-ca.pem");
    std::fs::write(&ca, &refusing.ca_pem).unwrap();
    // The platform verifier reads the system's roots, which `SSL_CERT_FILE` names.
    let server = Server::start(&config, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    let mut client = server.client().await;

    let primary = client
        .complete(pb::CompleteRequest {
            messages: vec![user("hello")],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}\n{}", server.logs()))
        .into_inner();
    let aux = client
        .aux_complete(pb::AuxCompleteRequest {
            task: "compression".into(),
            messages: vec![user("compress this")],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{s:?}\n{}", server.logs()))
        .into_inner();

    // Each caller fell through to its own fallback, the same way.
    assert_eq!(primary.served_by.as_ref().unwrap().provider, "main-fb");
    assert_eq!(aux.served_by.as_ref().unwrap().provider, "chain-a");
    assert_eq!(fakes.counts(), [0, 1, 0, 1, 0]);
    // Every stream the provider refused is a step of the trail, and no step
    // reached it more than once.
    let (main_steps, aux_steps) = (
        contacts(&primary.attempts, "main"),
        contacts(&aux.attempts, "aux"),
    );
    assert!(main_steps >= 1 && aux_steps >= 1, "{primary:?}\n{aux:?}");
    assert_eq!(
        (
            refusing.streams("/v1/messages"),
            refusing.streams("/v1/chat/completions")
        ),
        (main_steps, aux_steps),
        "streams refused against attempts recorded\n{primary:#?}\n{aux:#?}"
    );
    // The refusal is a transport failure in the trail, with no HTTP status.
    for step in primary.attempts.iter().chain(&aux.attempts) {
        if step.provider == "main" || step.provider == "aux" {
            assert_eq!(step.http_status, 0, "{step:?}");
        }
    }
}
