//! The `switchyard` binary: flags, config, logging, then the library does the work.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the CLI: what its commands print is their output; the library never prints"
)]

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use switchyard::app::App;
use switchyard::clock::wall_ms;
use switchyard::config::Config;
use switchyard::domain::CredentialState;
use switchyard::domain::{Material, OAuthTokens};
use switchyard::manage::{CredentialManager, Note};
use switchyard::oauth::Refresher;
use switchyard::redact::check_secret;
use switchyard::store::{NewApiKey, NewCredential};
use switchyard::telemetry;

// A request allocates many small, short-lived buffers on several threads. jemalloc,
// with the options of `.cargo/config.toml` (one arena, freed pages returned by its
// background thread within a second), cost 9-12% less CPU per request than mimalloc
// 3 and left less resident memory (`server/benches/HISTORY.md`, "Changes measured").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Switchyard: one fallback policy for every LLM call of an agent.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Config file. When it is the default and does not exist, the embedded example is used.
    #[arg(long, global = true, default_value = "switchyard.yaml")]
    config: PathBuf,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC service.
    Serve {
        /// Overrides `listen` from the config.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Overrides `database.path` from the config.
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Manage provider credentials in the SQLite file (a server running on the
    /// same file picks changes up within about a second).
    Credentials {
        /// Overrides `database.path` from the config.
        #[arg(long, global = true)]
        db: Option<PathBuf>,
        #[command(subcommand)]
        action: Box<CredentialsCommand>,
    },
    /// Copy a SQLite store into an empty PostgreSQL database: credentials (sealed
    /// secrets unchanged: keep the same master key), their health, the refresh
    /// journal and the trails. Stop the server first.
    MigrateStore {
        /// The SQLite file to copy.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL URL (default: DATABASE_URL).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        to: String,
    },
    /// Check the config, print the candidate list of every caller, and warn about
    /// candidates without a usable key.
    CheckConfig {
        /// A caller none of whose candidates has a key is an error (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// Make secrets: caller tokens (printed with the hash the config takes) and
    /// master keys.
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// Run the real server on a temporary database with local fake providers and show
    /// an auxiliary task whose explicit provider answers 401 token_invalidated.
    #[cfg(feature = "demo")]
    Demo {
        /// Address of the demo server.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Keep the demo server running afterwards, to try a client against it.
        #[arg(long)]
        keep_running: bool,
        /// Also serve the OpenAI-compatible HTTP front door on this address.
        #[arg(long)]
        openai_listen: Option<std::net::SocketAddr>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// A new caller token and its SHA-256 hash for `auth.client_token_sha256` (or
    /// `auth.admin_token_sha256`).
    New,
    /// A new master key (base64) for SWITCHYARD_MASTER_KEY or the key file.
    MasterKey,
}

#[derive(Debug, Subcommand)]
enum CredentialsCommand {
    /// Add a static API key. The key is read from an environment variable or stdin,
    /// never from the command line.
    Add {
        /// Provider name from the config.
        #[arg(long)]
        provider: String,
        /// Credential id (unique; shown in trails).
        #[arg(long)]
        id: String,
        /// Environment variable holding the key.
        #[arg(long, conflicts_with = "api_key_stdin")]
        api_key_env: Option<String>,
        /// Read the key from standard input.
        #[arg(long)]
        api_key_stdin: bool,
        /// Free text.
        #[arg(long, default_value = "")]
        label: String,
        /// Lower is tried first within the provider's pool.
        #[arg(long, default_value_t = 0)]
        priority: i64,
    },
    /// Add an OAuth token set (RFC 6749 refresh grant). Tokens are read from
    /// environment variables, never from the command line.
    AddOauth {
        /// Provider name from the config.
        #[arg(long)]
        provider: String,
        /// Credential id.
        #[arg(long)]
        id: String,
        /// Environment variable holding the access token.
        #[arg(long)]
        access_token_env: String,
        /// Environment variable holding the refresh token.
        #[arg(long)]
        refresh_token_env: String,
        /// Token endpoint URL.
        #[arg(long)]
        token_url: String,
        /// OAuth client id.
        #[arg(long)]
        client_id: String,
        /// Environment variable holding the client secret (confidential clients).
        #[arg(long)]
        client_secret_env: Option<String>,
        /// Scope of the refresh grant.
        #[arg(long)]
        scope: Option<String>,
        /// Seconds until the access token expires (unknown when absent).
        #[arg(long)]
        expires_in: Option<u64>,
        /// Free text.
        #[arg(long, default_value = "")]
        label: String,
        /// Lower is tried first within the provider's pool.
        #[arg(long, default_value_t = 0)]
        priority: i64,
    },
    /// List credentials with their state. Never prints a secret.
    List,
    /// Refresh an OAuth credential now (RFC 6749 refresh grant); a refusal marks it dead.
    Refresh {
        /// Credential id.
        id: String,
    },
    /// Re-encrypt every stored secret under a new master key, then point
    /// SWITCHYARD_MASTER_KEY (or the key file) at the new key.
    Rekey {
        /// Environment variable holding the new key (base64, 32 bytes); see
        /// `switchyard token master-key`.
        #[arg(long)]
        new_key_env: String,
    },
    /// Remove a credential.
    Remove {
        /// Credential id.
        id: String,
    },
}

fn main() -> anyhow::Result<()> {
    // Transparent huge pages off for this process, before it allocates much: where
    // the kernel's THP mode is `always`, the allocator's arenas fault in 2 MiB at a
    // time, which nearly doubled the resident memory (after a 16-caller load: 64 MB
    // with THP, 36 MB without, measured with mimalloc). A kernel without the call
    // keeps THP: a cost, not a fault.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(run(cli))
}

impl From<LogFormat> for telemetry::LogFormat {
    fn from(f: LogFormat) -> Self {
        match f {
            LogFormat::Text => telemetry::LogFormat::Text,
            LogFormat::Json => telemetry::LogFormat::Json,
        }
    }
}

fn load_config(path: &PathBuf) -> anyhow::Result<Config> {
    Ok(Config::load(config_file(path), std::env::vars())?)
}

/// The config file to read: `path`, or none (the embedded example) when it is the
/// default and does not exist.
fn config_file(path: &PathBuf) -> Option<&std::path::Path> {
    let explicit = path != &PathBuf::from("switchyard.yaml");
    if explicit || path.exists() {
        Some(path.as_path())
    } else {
        eprintln!("no ./switchyard.yaml: using the embedded example config");
        None
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let format = telemetry::LogFormat::from(cli.log_format);
    if !matches!(cli.command, Command::Serve { .. }) {
        telemetry::init(format, None)?;
    }
    match cli.command {
        #[cfg(feature = "demo")]
        Command::Demo {
            listen,
            keep_running,
            openai_listen,
        } => switchyard::demo::run(listen, openai_listen, keep_running).await,
        Command::Serve { listen, db } => {
            // The same source, overrides included, is read again at each reload.
            let source = switchyard::reload::ConfigSource {
                path: config_file(&cli.config).map(std::path::Path::to_path_buf),
                listen,
                database: db,
            };
            let (config, hash) = source.load()?;
            let guard = telemetry::init(format, config.otel.as_ref())?;
            let app = App::build_reloading(config, hash, source).await?;
            // Installed before the address is printed: a SIGTERM sent as soon as a
            // script reads it must start the drain, not kill the process.
            let signal = switchyard::app::shutdown_signal();
            // A machine-readable first line, so scripts and tests can use port 0.
            announce(&format!("switchyard listening on {}", app.local_addr()));
            // Then, when enabled, the OpenAI-compatible front door's base URL.
            if let Some(addr) = app.openai_addr() {
                announce(&format!("switchyard openai api on http://{addr}/v1"));
            }
            // And the Prometheus endpoint, when enabled.
            if let Some(addr) = app.metrics_addr() {
                announce(&format!("switchyard metrics on http://{addr}/metrics"));
            }
            let result = app.run_until(signal).await;
            guard.shutdown(Duration::from_secs(5)).await;
            Ok(result?)
        }
        Command::Token { action } => {
            match action {
                TokenCommand::New => {
                    let token = switchyard::crypto::generate_token();
                    println!("token:  {}", token.expose_secret());
                    println!(
                        "sha256: {}",
                        switchyard::crypto::token_hash(token.expose_secret())
                    );
                }
                TokenCommand::MasterKey => {
                    let key = switchyard::crypto::MasterKey::generate_base64();
                    println!("{}", key.expose_secret());
                }
            }
            Ok(())
        }
        Command::MigrateStore { from, to } => {
            let mut config = load_config(&cli.config)?;
            let target = switchyard::store::Database::postgres(to.into())?;
            if !from.exists() {
                bail!("{}: no such SQLite file", from.display());
            }
            // The master key of the source (its key file is beside it by default).
            config.database.path = from;
            config.database.url = None;
            let source = switchyard::app::open_store(&config).await?;
            let target_key = source.master_key().clone();
            let target = switchyard::store::Store::open_at(&target, target_key).await?;
            let copied = source.copy_into(&target).await;
            source.close().await;
            target.close().await;
            let copied = copied?;
            println!(
                "copied {} credentials, {} health rows, {} refreshes in flight and {} trails from {} to {}",
                copied.credentials,
                copied.health,
                copied.journal,
                copied.trails,
                source.name(),
                target.name()
            );
            Ok(())
        }
        Command::CheckConfig { strict } => {
            let config = load_config(&cli.config)?;
            println!("config ok");
            for line in switchyard::check::candidate_lines(&config.routing())? {
                println!("{line}");
            }
            let keyless = check_keys(&config).await?;
            if strict && !keyless.is_empty() {
                bail!(
                    "--strict: no candidate has a key for {}",
                    keyless.join(", ")
                );
            }
            Ok(())
        }
        Command::Credentials { db, action } => {
            let mut config = load_config(&cli.config)?;
            let path = db.unwrap_or(config.database.path.clone());
            config.database.path = path;
            let store = switchyard::app::open_store(&config).await?;
            // Offline: the use cases over the store alone (no pool, no recorder).
            let refresher = Refresher::new(
                reqwest::Client::new(),
                store.clone(),
                switchyard::metrics::Metrics::new(None)?,
                config.oauth.timeout,
            );
            let manager = CredentialManager::offline(store.clone(), refresher);
            let result = credentials(&config, &manager, *action).await;
            store.close().await;
            result
        }
    }
}

/// Prints a warning for each candidate without a usable key (declared keys read
/// from this process's environment and files, plus the keys in the database when
/// it holds any), and returns the callers none of whose candidates has one.
async fn check_keys(config: &Config) -> anyhow::Result<Vec<String>> {
    use switchyard::declared;
    let resolved = declared::resolve(
        config,
        |var| std::env::var(var).ok(),
        declared::read_key_file,
    );
    for warning in &resolved.warnings {
        println!("warning: {warning}");
    }
    let mut keyed: std::collections::BTreeSet<String> = resolved
        .keys
        .iter()
        .map(|k| k.credential.provider.clone())
        .collect();
    // Keys added with the CLI live in the database; it is read only when it
    // exists and holds some (opening an empty one would create a master key).
    let db = switchyard::app::database(config)?;
    if switchyard::store::Store::holds_sealed_secrets_at(&db).await? {
        let store = switchyard::app::open_store(config).await?;
        let stored = store.credentials().await;
        store.close().await;
        let stored: Vec<_> = stored?
            .into_iter()
            .filter(|c| !declared::from_config(c))
            .collect();
        keyed.extend(declared::keyed_providers(&stored));
    }
    let (lines, keyless) =
        declared::missing(&config.routing(), &resolved.sources, |p| keyed.contains(p));
    for line in lines {
        println!("warning: {line}");
    }
    Ok(keyless)
}

/// Prints an address line on stdout. A reader that stopped reading (a script that
/// took the first line and closed the pipe) must not stop the server: `println!`
/// would panic on the broken pipe, so write errors are ignored.
fn announce(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

async fn credentials(
    config: &Config,
    manager: &CredentialManager,
    action: CredentialsCommand,
) -> anyhow::Result<()> {
    match action {
        CredentialsCommand::Add {
            provider,
            id,
            api_key_env,
            api_key_stdin,
            label,
            priority,
        } => {
            if !config.providers.contains_key(&provider) {
                bail!("unknown provider {provider:?}: not in the config");
            }
            let secret = match (api_key_env, api_key_stdin) {
                (Some(var), _) => std::env::var(&var)
                    .with_context(|| format!("environment variable {var} is not set"))?,
                (None, true) => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s.trim().to_owned()
                }
                (None, false) => bail!("give the key with --api-key-env VAR or --api-key-stdin"),
            };
            if let Err(e) = check_secret(&secret) {
                bail!("the key {e}; nothing was stored");
            }
            let key = NewApiKey {
                id: id.clone(),
                provider,
                label,
                priority,
                secret: SecretString::from(secret),
            };
            manager.put(&NewCredential::from(&key), false).await?;
            println!("added {id}");
        }
        CredentialsCommand::AddOauth {
            provider,
            id,
            access_token_env,
            refresh_token_env,
            token_url,
            client_id,
            client_secret_env,
            scope,
            expires_in,
            label,
            priority,
        } => {
            if !config.providers.contains_key(&provider) {
                bail!("unknown provider {provider:?}: not in the config");
            }
            let env = |var: &str| -> anyhow::Result<SecretString> {
                let v = std::env::var(var)
                    .with_context(|| format!("environment variable {var} is not set"))?;
                if v.trim().is_empty() {
                    bail!("environment variable {var} is empty");
                }
                if let Err(e) = check_secret(v.trim()) {
                    bail!("the secret in {var} {e}; nothing was stored");
                }
                Ok(SecretString::from(v.trim().to_owned()))
            };
            let credential = NewCredential {
                id: id.clone(),
                provider,
                label,
                priority,
                material: Material::OAuth(OAuthTokens {
                    access_token: env(&access_token_env)?,
                    refresh_token: env(&refresh_token_env)?,
                    expires_at: expires_in.map(|s| wall_ms() + s * 1000),
                    token_url,
                    client_id,
                    client_secret: client_secret_env.as_deref().map(env).transpose()?,
                    scope,
                }),
            };
            manager.put(&credential, false).await?;
            println!("added {id}");
        }
        CredentialsCommand::Refresh { id } => {
            let refreshed = manager.refresh(&id).await?;
            if refreshed.note == Some(Note::Unpersisted) {
                bail!(
                    "refresh of {id} succeeded but the store refused the new pair: it is lost; log in again"
                )
            }
            println!("refreshed {id} (rotation {})", refreshed.generation)
        }
        CredentialsCommand::Rekey { new_key_env } => {
            let text = std::env::var(&new_key_env)
                .with_context(|| format!("environment variable {new_key_env} is not set"))?;
            let new_key = switchyard::crypto::MasterKey::from_base64(&text)?;
            let n = manager.rekey(&new_key).await?;
            println!(
                "re-encrypted {n} credential(s) from key {} to key {}",
                manager.key_id(),
                new_key.id_hex()
            );
            println!(
                "now set SWITCHYARD_MASTER_KEY (or replace {}) with the new key before the next start",
                config.master_key_file().display()
            );
        }
        CredentialsCommand::List => {
            println!(
                "{:<24} {:<16} {:<8} {:<8} {:<10} {:<28} last error",
                "ID", "PROVIDER", "KIND", "PRIO", "STATE", "LABEL (config: SOURCE)"
            );
            let now = wall_ms();
            for c in manager.list(None).await? {
                let state = match c.state {
                    CredentialState::Dead => "dead".to_owned(),
                    CredentialState::Cooling => format!(
                        "cooling {}s",
                        c.cooldown_until.unwrap_or(now).saturating_sub(now) / 1000
                    ),
                    CredentialState::Live => "live".to_owned(),
                };
                println!(
                    "{:<24} {:<16} {:<8} {:<8} {:<10} {:<28} {}",
                    c.id,
                    c.provider,
                    c.kind.as_str(),
                    c.priority,
                    state,
                    c.label,
                    c.dead_reason.or(c.last_error_class).unwrap_or_default()
                );
            }
        }
        CredentialsCommand::Remove { id } => {
            manager.delete(&id).await?;
            println!("removed {id}");
        }
    }
    Ok(())
}
