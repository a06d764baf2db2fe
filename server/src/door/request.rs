//! What every door checks and reads before a request reaches the service layer:
//! the agent token, the body within its size and time bounds, the caller the
//! request names, and the caller's own timeout. Failures are [`Rejection`]s,
//! rendered by each door in its API's error shape.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName};

use super::DoorState;
use crate::domain::Caller;

/// Model id of the primary caller.
pub const PRIMARY_MODEL: &str = "switchyard/primary";
/// Prefix of an auxiliary task's model id.
pub const AUX_MODEL_PREFIX: &str = "switchyard/aux/";
/// Header naming the auxiliary task.
pub const TASK_HEADER: &str = "x-switchyard-task";

/// Why a request was refused before its body was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No valid agent token; the text says why and what to send.
    Unauthorized(String),
    /// The body is (or is declared) over this many bytes.
    TooLarge(usize),
    /// The body did not arrive within this time.
    Timeout(Duration),
    /// The body could not be read.
    Unreadable(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Unauthorized(why) => f.write_str(why),
            Rejection::TooLarge(limit) => write!(f, "the body is over the limit of {limit} bytes"),
            Rejection::Timeout(t) => {
                write!(f, "the body did not arrive within {} ms", t.as_millis())
            }
            Rejection::Unreadable(e) => write!(f, "the body could not be read: {e}"),
        }
    }
}

/// Header Anthropic SDKs send the key in.
pub(crate) const API_KEY_HEADER: &str = "x-api-key";

/// Checks the agent's token: `Authorization: Bearer <token>`, or the bare token
/// in `x-api-key` (Anthropic SDKs). Either one valid is enough: an SDK given both
/// an `api_key` and an `auth_token` sends both.
pub(crate) fn authenticate(state: &DoorState, headers: &HeaderMap) -> Result<(), Rejection> {
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let api_key = headers
        .get(API_KEY_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    let bearer = state.auth.check_agent(authorization);
    let why = match (bearer, api_key) {
        (Ok(()), _) => return Ok(()),
        (Err(why), None) => why,
        (Err(why), Some(key)) => match state.auth.check_agent_key(key) {
            Ok(()) => return Ok(()),
            // Without a bearer, what is wrong is the key.
            Err(key_why) if authorization.is_none() => key_why,
            Err(_) => why,
        },
    };
    Err(Rejection::Unauthorized(format!(
        "{why}: send `Authorization: Bearer <a Switchyard agent token>` or `x-api-key: <the token>`"
    )))
}

/// The token, then the declared `Content-Length`, then the body read whole
/// within its bounds: a client without a token, or announcing too much, holds no
/// memory.
pub(crate) async fn read_request(
    state: &DoorState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Rejection> {
    authenticate(state, headers)?;
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.body_limit as u64) {
        return Err(Rejection::TooLarge(state.body_limit));
    }
    read_body(body, state.body_limit, state.body_read_timeout).await
}

/// Reads a body of at most `limit` bytes within `timeout`.
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, Rejection> {
    use http_body_util::BodyExt as _;
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(Rejection::Timeout(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(Rejection::TooLarge(limit)),
        Ok(Err(e)) => Err(Rejection::Unreadable(e.to_string())),
    }
}

/// Why a request names no caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoCaller {
    /// Neither a Switchyard model nor a task header.
    UnknownModel,
    /// The model and the header name different callers.
    Conflict,
}

/// The caller a request names (`model` or the task header), and its model
/// override.
pub(crate) fn resolve_caller(
    model: &str,
    header: Option<&str>,
) -> Result<(Caller, Option<String>), NoCaller> {
    let named = if model == PRIMARY_MODEL {
        Some(Caller::Primary)
    } else {
        model
            .strip_prefix(AUX_MODEL_PREFIX)
            .map(|task| Caller::Aux(task.to_owned()))
    };
    match (named, header) {
        (Some(caller), None) => Ok((caller, None)),
        (Some(Caller::Aux(task)), Some(h)) if task == h => Ok((Caller::Aux(task), None)),
        (Some(_), Some(_)) => Err(NoCaller::Conflict),
        (None, Some(task)) => Ok((Caller::Aux(task.to_owned()), Some(model.to_owned()))),
        (None, None) => Err(NoCaller::UnknownModel),
    }
}

/// The task header of a request, if any.
pub(crate) fn task_header(headers: &HeaderMap) -> Option<&str> {
    const TASK: HeaderName = HeaderName::from_static(TASK_HEADER);
    headers.get(TASK).map(|v| v.to_str().unwrap_or(""))
}

/// The caller's own timeout: `x-switchyard-timeout-ms`, or the seconds the
/// OpenAI and Anthropic SDKs send as `x-stainless-timeout` or
/// `x-stainless-read-timeout` (the shorter when both come).
pub(crate) fn client_timeout(headers: &HeaderMap) -> Option<Duration> {
    // Names as constants: a lookup by `&str` parses the name first.
    const TIMEOUT_MS: HeaderName = HeaderName::from_static("x-switchyard-timeout-ms");
    const STAINLESS_TIMEOUT: HeaderName = HeaderName::from_static("x-stainless-timeout");
    const STAINLESS_READ_TIMEOUT: HeaderName = HeaderName::from_static("x-stainless-read-timeout");
    let get = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get(&TIMEOUT_MS).and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms));
    }
    let seconds = |name: &HeaderName| {
        get(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
    };
    match (
        seconds(&STAINLESS_TIMEOUT),
        seconds(&STAINLESS_READ_TIMEOUT),
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
