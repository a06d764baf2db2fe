//! The least an OpenAI-compatible gateway can do and still keep issue 13's targets
//! (`BENCH_FLOOR_WORK=least`, in place of the relay on the HTTP port): the bearer
//! checked, the request's JSON read into typed fields and the provider's body
//! written, one call through the relay's upstream client (reqwest, or hyper's own
//! with `BENCH_FLOOR_CLIENT=hyper`), the provider's answer read and the caller's
//! written with an id of its own, and a trail row persisted to SQLite by a write-behind
//! task in batched multi-row inserts, pruned to the newest 10,000 rows. No
//! validation, policy, fallback, metrics, trail headers or tracing: what it costs
//! above the relay is the least of what Switchyard costs above it.

use std::borrow::Cow;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection};
use subtle::ConstantTimeEq as _;
use tokio::sync::mpsc;

use crate::{Answer, BoxError, Upstream, answer, empty};

/// Longest wait of a trail for others to share its transaction, as Switchyard's.
const LINGER: Duration = Duration::from_millis(50);
/// Most trails in one transaction, as Switchyard's.
const BATCH: usize = 2048;
/// Trails kept, as Switchyard's default `database.trail_retention`.
const RETENTION: i64 = 10_000;
/// Rows of the largest statement; statements of 1, 2, 4, ... rows.
const MAX_ROWS: usize = 256;
const SHAPES: usize = MAX_ROWS.trailing_zeros() as usize + 1;
/// The candidates of the one route: built once, as a gateway would per route.
const CANDIDATES: &str = r#"[{"provider":"fake","model":"bench-model","origin":"main"},{"provider":"backup","model":"bench-model","origin":"main_fallback[0]"}]"#;

static INSERT: LazyLock<[String; SHAPES]> = LazyLock::new(|| {
    std::array::from_fn(|shape| {
        let row = "(?, ?, ?, ?, ?, ?, ?, ?)";
        let rows = vec![row; 1 << shape].join(", ");
        format!(
            "INSERT INTO requests (id, caller_kind, task, created_at, outcome, failure_reason, candidates, steps) VALUES {rows} ON CONFLICT (id) DO NOTHING"
        )
    })
});

/// The HTTP door of the least gateway.
#[derive(Debug)]
pub(crate) struct Least {
    upstream: &'static Upstream,
    /// SHA-256 of the one accepted bearer token.
    digest: [u8; 32],
    provider_auth: HeaderValue,
    trails: mpsc::UnboundedSender<Row>,
}

/// A trail: what the write-behind persists for each request.
#[derive(Debug)]
struct Row {
    id: String,
    created_at: i64,
    model: String,
    status: u16,
    duration_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<Message<'a>>,
    max_tokens: Option<u32>,
}

#[derive(Serialize)]
struct ProviderRequest<'a> {
    model: &'a str,
    messages: &'a [Message<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

#[derive(Deserialize)]
struct ProviderAnswer {
    choices: Vec<crate::grpc::Choice>,
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AnswerMessage<'a>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct AnswerMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Step<'a> {
    p: &'static str,
    m: &'a str,
    s: u16,
    a: &'static str,
    d: u64,
}

impl Least {
    /// Opens (or creates) the trail database at `db` and starts its write-behind.
    pub(crate) async fn new(
        upstream: &'static Upstream,
        token: &str,
        db: &Path,
    ) -> Result<Self, BoxError> {
        // Switchyard's durability: WAL, a commit synced to disk.
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .connect()
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS requests (
                 id TEXT PRIMARY KEY NOT NULL, caller_kind TEXT NOT NULL, task TEXT,
                 created_at INTEGER NOT NULL, outcome TEXT NOT NULL, failure_reason TEXT,
                 candidates TEXT NOT NULL, steps TEXT
             ) STRICT",
        )
        .execute(&mut conn)
        .await?;
        let (trails, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_behind(conn, queue));
        Ok(Self {
            upstream,
            digest: Sha256::digest(token.as_bytes()).into(),
            provider_auth: HeaderValue::from_static("Bearer sk-bench-fake"),
            trails,
        })
    }

    /// One chat call: 401 without the token, 400 for a body that is not a chat
    /// request, 502 when the provider fails.
    pub(crate) async fn serve(&self, request: Request<Incoming>) -> Answer {
        let token = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        let allowed = token.is_some_and(|t| bool::from(Sha256::digest(t).ct_eq(&self.digest)));
        if !allowed {
            return empty(StatusCode::UNAUTHORIZED);
        }
        let Ok(body) = request.into_body().collect().await.map(|b| b.to_bytes()) else {
            return empty(StatusCode::BAD_REQUEST);
        };
        let Ok(chat) = serde_json::from_slice::<ChatRequest<'_>>(&body) else {
            return empty(StatusCode::BAD_REQUEST);
        };
        match self.call(&chat).await {
            Some(answer) => answer,
            None => empty(StatusCode::BAD_GATEWAY),
        }
    }

    /// The provider call, on the relay's client: its status and whole body.
    async fn post(&self, body: Vec<u8>) -> Result<(StatusCode, Bytes), BoxError> {
        let json = HeaderValue::from_static("application/json");
        match self.upstream {
            Upstream::Reqwest(client, url) => {
                let response = client
                    .post(url.clone())
                    .header(CONTENT_TYPE, json)
                    .header(AUTHORIZATION, self.provider_auth.clone())
                    .body(body)
                    .send()
                    .await?;
                Ok((response.status(), response.bytes().await?))
            }
            Upstream::Hyper(client, uri) => {
                let request = Request::post(uri.clone())
                    .header(USER_AGENT, crate::USER_AGENT_VALUE)
                    .header(CONTENT_TYPE, json)
                    .header(AUTHORIZATION, self.provider_auth.clone())
                    .body(Full::new(Bytes::from(body)))?;
                let (parts, body) = client.request(request).await?.into_parts();
                Ok((parts.status, body.collect().await?.to_bytes()))
            }
        }
    }

    async fn call(&self, chat: &ChatRequest<'_>) -> Option<Answer> {
        let provider_body = serde_json::to_vec(&ProviderRequest {
            model: &chat.model,
            messages: &chat.messages,
            max_tokens: chat.max_tokens,
        })
        .ok()?;
        let started = Instant::now();
        let (status, bytes) = self.post(provider_body).await.ok()?;
        let provider: ProviderAnswer = serde_json::from_slice(&bytes).ok()?;
        let choice = provider.choices.into_iter().next()?;
        let id = uuid::Uuid::now_v7();
        let id = id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .to_owned();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let body = serde_json::to_vec(&Completion {
            id: &id,
            object: "chat.completion",
            created: now.as_secs(),
            model: &chat.model,
            choices: [Choice {
                index: 0,
                message: AnswerMessage {
                    role: "assistant",
                    content: choice.message.content.as_deref().unwrap_or_default(),
                },
                finish_reason: choice.finish_reason.as_deref().unwrap_or("stop"),
            }],
            usage: provider.usage,
        })
        .ok()?;
        let _ = self.trails.send(Row {
            id,
            created_at: i64::try_from(now.as_millis()).ok()?,
            model: chat.model.clone().into_owned(),
            status: status.as_u16(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).ok()?,
        });
        Some(answer(
            StatusCode::OK,
            Some(HeaderValue::from_static("application/json")),
            Either::Left(Full::new(Bytes::from(body))),
        ))
    }
}

/// Takes trails as they come, lingers up to [`LINGER`] for others, and writes each
/// batch with its prune in one transaction, as Switchyard's write-behind does.
async fn write_behind(mut conn: SqliteConnection, mut queue: mpsc::UnboundedReceiver<Row>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        if queue.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, queue.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Err(e) = write(&mut conn, &batch).await {
            #[allow(clippy::print_stderr, reason = "a benchmark tool with no logger")]
            {
                eprintln!("bench_floor: trail write failed: {e}");
            }
        }
        batch.clear();
    }
}

async fn write(conn: &mut SqliteConnection, rows: &[Row]) -> Result<(), sqlx::Error> {
    let steps: Vec<String> = rows
        .iter()
        .map(|r| {
            serde_json::to_string(&[Step {
                p: "fake",
                m: &r.model,
                s: r.status,
                a: "succeed",
                d: r.duration_ms,
            }])
            .unwrap_or_default()
        })
        .collect();
    let mut tx = conn.begin().await?;
    let (mut rest, mut rest_steps) = (rows, steps.as_slice());
    while !rest.is_empty() {
        let count = rest.len().min(MAX_ROWS);
        let shape = (usize::BITS - 1 - count.leading_zeros()) as usize;
        let (chunk, tail) = rest.split_at(1 << shape);
        let (chunk_steps, tail_steps) = rest_steps.split_at(1 << shape);
        let mut query = sqlx::query(INSERT[shape].as_str());
        for (row, steps) in chunk.iter().zip(chunk_steps) {
            query = query
                .bind(row.id.as_str())
                .bind("primary")
                .bind(None::<&str>)
                .bind(row.created_at)
                .bind("succeeded")
                .bind(None::<&str>)
                .bind(CANDIDATES)
                .bind(steps.as_str());
        }
        query.execute(&mut *tx).await?;
        (rest, rest_steps) = (tail, tail_steps);
    }
    sqlx::query(
        "DELETE FROM requests
         WHERE rowid <= (SELECT max(rowid) FROM requests) - ?
           AND rowid < (SELECT min(rowid) FROM requests) + ?",
    )
    .bind(RETENTION)
    .bind(BATCH as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
