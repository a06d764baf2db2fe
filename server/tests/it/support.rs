//! Test support: the real server (`App`) on 127.0.0.1:0 with a fresh SQLite file,
//! fake providers that are real HTTP servers, and a tonic client over TCP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use secrecy::SecretString;
use switchyard::app::{App, AppError};
use switchyard::config::Config;
use switchyard::fake::{FakeProvider, FakeReply};
use switchyard::store::{NewApiKey, Store};
use switchyard_client::SwitchyardServiceClient;
use switchyard_client::pb;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// The five providers of the standard topology.
pub(crate) struct Fakes {
    /// Main agent model.
    pub main: FakeProvider,
    /// `model.fallback_providers[0]`.
    pub main_fb: FakeProvider,
    /// Explicit provider of the `compression` task.
    pub aux: FakeProvider,
    /// `compression.fallback_chain[0]`.
    pub chain_a: FakeProvider,
    /// `compression.fallback_chain[1]`.
    pub chain_b: FakeProvider,
}

impl Fakes {
    pub(crate) async fn start() -> Self {
        let ok = |name: &str| FakeReply::ok(&format!("answer from {name}"));
        Self {
            main: FakeProvider::start("main", ok("main")).await.unwrap(),
            main_fb: FakeProvider::start("main-fb", ok("main-fb")).await.unwrap(),
            aux: FakeProvider::start("aux", ok("aux")).await.unwrap(),
            chain_a: FakeProvider::start("chain-a", ok("chain-a")).await.unwrap(),
            chain_b: FakeProvider::start("chain-b", ok("chain-b")).await.unwrap(),
        }
    }

    pub(crate) fn get(&self, name: &str) -> &FakeProvider {
        match name {
            "main" => &self.main,
            "main-fb" => &self.main_fb,
            "aux" => &self.aux,
            "chain-a" => &self.chain_a,
            "chain-b" => &self.chain_b,
            other => panic!("no fake {other}"),
        }
    }

    /// Calls received by each fake, in the order main, main-fb, aux, chain-a, chain-b.
    pub(crate) fn counts(&self) -> [usize; 5] {
        [
            self.main.call_count(),
            self.main_fb.call_count(),
            self.aux.call_count(),
            self.chain_a.call_count(),
            self.chain_b.call_count(),
        ]
    }

    /// The standard config: main -> main-fb; compression -> aux, chain [chain-a, chain-b].
    /// `tasks` is YAML appended inside `auxiliary:` (more tasks, indented by two spaces).
    pub(crate) fn config(&self, db: &std::path::Path, tasks: &str) -> Config {
        self.config_env(db, tasks, &[])
    }

    /// [`Fakes::config`] with `SWITCHYARD__...` overrides.
    pub(crate) fn config_env(
        &self,
        db: &std::path::Path,
        tasks: &str,
        env: &[(&str, &str)],
    ) -> Config {
        let yaml = format!(
            r#"
listen: 127.0.0.1:0
database: {{ path: "{db}" }}
providers:
  main:    {{ kind: anthropic, base_url: "{main}", timeout: 5s }}
  main-fb: {{ kind: openai, base_url: "{main_fb}", timeout: 5s }}
  aux:     {{ kind: openai, base_url: "{aux}", timeout: 5s }}
  chain-a: {{ kind: openai, base_url: "{chain_a}", timeout: 5s }}
  chain-b: {{ kind: openai, base_url: "{chain_b}", timeout: 5s }}
model:
  provider: main
  model: main-model
  timeout: 20s
  fallback_providers:
    - {{ provider: main-fb, model: fb-model }}
auxiliary:
  compression:
    provider: aux
    model: aux-model
    timeout: 20s
    fallback_chain:
      - {{ provider: chain-a, model: a-model }}
      - {{ provider: chain-b, model: b-model }}
{tasks}
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
"#,
            db = db.display(),
            main = self.main.anthropic_base_url(),
            main_fb = self.main_fb.openai_base_url(),
            aux = self.aux.openai_base_url(),
            chain_a = self.chain_a.openai_base_url(),
            chain_b = self.chain_b.openai_base_url(),
        );
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_yaml(&yaml, "<test>", env).unwrap()
    }
}

/// One key per provider, `<provider>-k1`, plus `extra` (id, provider) pairs.
pub(crate) async fn seed_keys(db: &std::path::Path, extra: &[(&str, &str)]) {
    let key_file = switchyard::crypto::default_key_file(db);
    let (key, _) = switchyard::crypto::MasterKey::load(None, &key_file).unwrap();
    let store = Store::open(db, key).await.unwrap();
    let standard = ["main", "main-fb", "aux", "chain-a", "chain-b"].map(|p| (format!("{p}-k1"), p));
    let extra = extra.iter().map(|(id, p)| ((*id).to_owned(), *p));
    for (i, (id, provider)) in standard.into_iter().chain(extra).enumerate() {
        let key = NewApiKey {
            secret: SecretString::from(format!("secret-of-{id}")),
            id,
            provider: provider.to_owned(),
            label: String::new(),
            priority: i as i64,
        };
        store.add_api_key(&key, 1).await.unwrap();
    }
    store.close().await;
}

/// A running server.
pub(crate) struct TestApp {
    pub client: SwitchyardServiceClient<Channel>,
    /// The gRPC listener's address.
    pub addr: std::net::SocketAddr,
    /// Base URL of the OpenAI-compatible front door (`http://addr/v1`), when enabled.
    pub openai: Option<String>,
    pub channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), AppError>>>,
}

impl TestApp {
    pub(crate) async fn spawn(config: Config) -> Self {
        let app = App::build(config).await.unwrap();
        let addr = app.local_addr();
        let openai = app.openai_addr().map(|a| format!("http://{a}/v1"));
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            openai,
            addr,
            client: SwitchyardServiceClient::new(channel.clone()),
            channel,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Stops the server and waits for it (write-behind flushed, store closed).
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("server stops in time")
            .unwrap()
            .unwrap();
    }

    pub(crate) async fn aux(
        &mut self,
        task: &str,
    ) -> Result<pb::AuxCompleteResponse, tonic::Status> {
        self.client
            .aux_complete(pb::AuxCompleteRequest {
                task: task.into(),
                messages: vec![user("compress this")],
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
    }

    pub(crate) async fn primary(&mut self) -> Result<pb::CompleteResponse, tonic::Status> {
        self.client
            .complete(pb::CompleteRequest {
                messages: vec![user("hello")],
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
    }

    pub(crate) async fn explain_id(&mut self, id: &str) -> pb::ExplainFallbackResponse {
        self.client
            .explain_fallback(pb::ExplainFallbackRequest {
                query: Some(pb::explain_fallback_request::Query::RequestId(id.into())),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// The trail of request `id` once it is recorded, asked every 10 ms for at
    /// most 3 s; `None` if it never is.
    pub(crate) async fn explain_id_when_recorded(
        &mut self,
        id: &str,
    ) -> Option<pb::ExplainFallbackResponse> {
        for _ in 0..300 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let query = pb::explain_fallback_request::Query::RequestId(id.into());
            if let Ok(r) = self
                .client
                .explain_fallback(pb::ExplainFallbackRequest { query: Some(query) })
                .await
            {
                return Some(r.into_inner());
            }
        }
        None
    }

    /// Simulates `caller` with the outcomes of `script` (as pushed to the fakes).
    pub(crate) async fn simulate(
        &mut self,
        caller: pb::caller::Kind,
        script: &[(&str, FakeReply)],
    ) -> pb::ExplainFallbackResponse {
        let outcomes = script.iter().map(|(_, reply)| simulated(reply)).collect();
        self.client
            .explain_fallback(pb::ExplainFallbackRequest {
                query: Some(pb::explain_fallback_request::Query::Simulation(
                    pb::Simulation {
                        caller: Some(pb::Caller { kind: Some(caller) }),
                        outcomes,
                        budget_ms: 0,
                        assume_all_credentials_live: true,
                        model: None,
                        credentials: Vec::new(),
                    },
                )),
            })
            .await
            .unwrap()
            .into_inner()
    }
}

pub(crate) fn user(text: &str) -> pb::Message {
    pb::Message::user(text)
}

/// The simulated twin of a scripted fake reply.
pub(crate) fn simulated(reply: &FakeReply) -> pb::SimulatedOutcome {
    let body = match &reply.body {
        switchyard::fake::FakeBody::Raw(b) | switchyard::fake::FakeBody::Echo(b) => b.clone(),
        switchyard::fake::FakeBody::Completion(_)
        | switchyard::fake::FakeBody::Stream(_)
        | switchyard::fake::FakeBody::ToolCalls(_) => String::new(),
    };
    pb::SimulatedOutcome {
        outcome: Some(pb::simulated_outcome::Outcome::Http(pb::HttpOutcome {
            status: u32::from(reply.status),
            body,
            headers: reply.headers.iter().cloned().collect(),
        })),
        duration_ms: 0,
    }
}

/// Pushes each reply of `script` to its fake, in order.
pub(crate) fn push_script(fakes: &Fakes, script: &[(&str, FakeReply)]) {
    for (name, reply) in script {
        fakes.get(name).push([reply.clone()]);
    }
}

/// The comparable part of a step: everything but the free-text reason and the duration.
pub(crate) type StepKey = (u32, String, String, String, pb::ErrorClass, u32, pb::Action);

pub(crate) fn keys(attempts: &[pb::Attempt]) -> Vec<StepKey> {
    attempts
        .iter()
        .map(|a| {
            (
                a.candidate_index,
                a.provider.clone(),
                a.model.clone(),
                a.credential_id.clone(),
                a.error_class(),
                a.http_status,
                a.action(),
            )
        })
        .collect()
}

/// (provider, credential, action) of each step: the shape asserted by scenarios.
pub(crate) fn shape(attempts: &[pb::Attempt]) -> Vec<(String, String, pb::Action)> {
    attempts
        .iter()
        .map(|a| (a.provider.clone(), a.credential_id.clone(), a.action()))
        .collect()
}

pub(crate) fn s(provider: &str, cred: &str, action: pb::Action) -> (String, String, pb::Action) {
    (provider.to_owned(), cred.to_owned(), action)
}

/// The `FailureDetail` and `ErrorInfo` of a failed call's status.
pub(crate) fn failure_details(
    status: &tonic::Status,
) -> (tonic_types::pb::ErrorInfo, pb::FailureDetail) {
    use prost::Message as _;
    let st = tonic_types::pb::Status::decode(status.details()).expect("status details");
    let mut info = None;
    let mut detail = None;
    for any in st.details {
        match any.type_url.as_str() {
            "type.googleapis.com/google.rpc.ErrorInfo" => {
                info = Some(tonic_types::pb::ErrorInfo::decode(&*any.value).unwrap())
            }
            "type.googleapis.com/switchyard.v1.FailureDetail" => {
                detail = Some(pb::FailureDetail::decode(&*any.value).unwrap())
            }
            _ => {}
        }
    }
    (info.expect("ErrorInfo"), detail.expect("FailureDetail"))
}

/// The real binary, serving `config`, with extra environment variables.
pub(crate) struct Server {
    pub child: Child,
    pub addr: String,
    /// Base URL of the OpenAI-compatible front door, when the config enables it.
    pub openai: Option<String>,
    /// Everything written on stderr so far (read continuously: a full pipe would
    /// block the server).
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.arg("--config")
            .arg(config)
            .arg("--log-format")
            .arg("json")
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            // A developer's DATABASE_URL would move the test's store to PostgreSQL.
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn switchyard");
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let log_reader = {
            let (logs, stderr) = (logs.clone(), child.stderr.take().unwrap());
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut l = logs.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            })
        };
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("switchyard listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let openai = std::fs::read_to_string(config)
            .unwrap_or_default()
            .contains("openai_listen:")
            .then(|| {
                let mut line = String::new();
                stdout.read_line(&mut line).unwrap();
                line.trim()
                    .strip_prefix("switchyard openai api on ")
                    .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
                    .to_owned()
            });
        Self {
            child,
            addr,
            openai,
            logs,
            log_reader: Some(log_reader),
        }
    }

    pub(crate) async fn client(&self) -> SwitchyardServiceClient<Channel> {
        SwitchyardServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    /// Everything logged on stderr so far.
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub(crate) fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit, returning the status and everything logged on stderr.
    pub(crate) async fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(reader) = self.log_reader.take() {
                    reader.join().unwrap();
                }
                let logs = self.logs.lock().unwrap().clone();
                return (status, logs);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "switchyard did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The standard config as YAML, with `extra` appended at the top level.
pub(crate) fn standard_yaml(fakes: &Fakes, db: &Path, extra: &str) -> String {
    let c = fakes.config(db, "");
    let providers: String = c
        .providers
        .iter()
        .map(|(name, p)| {
            let kind = format!("{:?}", p.kind).to_lowercase();
            format!(
                "  {name}: {{ kind: {kind}, base_url: \"{}\" }}\n",
                p.base_url
            )
        })
        .collect();
    format!(
        r#"listen: 127.0.0.1:0
database: {{ path: "{db}" }}
providers:
{providers}model:
  provider: main
  model: main-model
  fallback_providers: [ {{ provider: main-fb, model: fb-model }} ]
auxiliary:
  compression:
    provider: aux
    model: aux-model
    fallback_chain: [ {{ provider: chain-a, model: a-model }}, {{ provider: chain-b, model: b-model }} ]
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
{extra}
"#,
        db = db.display()
    )
}

/// The standard config as a file (the binary reads files), keys seeded.
pub(crate) async fn config_file(fakes: &Fakes, dir: &Path, extra: &str) -> std::path::PathBuf {
    let db = dir.join("switchyard.db");
    seed_keys(&db, &[]).await;
    let path = dir.join("switchyard.yaml");
    std::fs::write(&path, standard_yaml(fakes, &db, extra)).unwrap();
    path
}

/// Replaces `<provider>-k1` by an OAuth credential `<provider>-oauth` refreshed at
/// `endpoint`.
pub(crate) async fn seed_oauth(
    db: &Path,
    provider: &str,
    endpoint: &switchyard::fake::FakeTokenEndpoint,
    access: &str,
    refresh: &str,
    client_secret: &str,
) {
    use switchyard::domain::{Material, OAuthTokens};
    let key_file = switchyard::crypto::default_key_file(db);
    let (key, _) = switchyard::crypto::MasterKey::load(None, &key_file).unwrap();
    let store = Store::open(db, key).await.unwrap();
    store
        .remove_credential(&format!("{provider}-k1"))
        .await
        .unwrap();
    let credential = switchyard::store::NewCredential {
        id: format!("{provider}-oauth"),
        provider: provider.into(),
        label: "test".into(),
        priority: 0,
        material: Material::OAuth(OAuthTokens {
            access_token: SecretString::from(access.to_owned()),
            refresh_token: SecretString::from(refresh.to_owned()),
            expires_at: None,
            token_url: endpoint.url(),
            client_id: "switchyard-test".into(),
            client_secret: Some(SecretString::from(client_secret.to_owned())),
            scope: Some("model.request".into()),
        }),
    };
    store.put_credential(&credential, false, 1).await.unwrap();
    store.close().await;
}

/// A port free on 127.0.0.1 a moment ago, for a binary that must be told its listen
/// address before it starts.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The steps of a trail that contacted a provider (a credential was used): its attempts.
pub(crate) fn contacted(steps: &[pb::Attempt]) -> impl Iterator<Item = &pb::Attempt> {
    steps.iter().filter(|a| !a.credential_id.is_empty())
}

/// A self-signed CA for the tests' TLS.
pub(crate) fn test_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// A certificate `ca` signs for `subject` (a DNS name, or an IP address), and its key.
pub(crate) fn issue(
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    subject: &str,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![subject.to_owned()])
        .unwrap()
        .signed_by(&key, ca)
        .unwrap();
    (cert, key)
}
