//! The answers of success: a whole `chat.completion`, and the stream committed to
//! its candidate as `chat.completion.chunk` server-sent events.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::{Caller, Step};
use crate::door::{relay, trail_headers};
use crate::service::{CallError, CompletionStream, failure_message};
use crate::validate::{self};

use super::chunks::ChunkEncoder;
use super::{convert, types};
use types::{ChunkChoice, Delta, ErrorBody, ErrorDetail, Served};

pub(super) fn served<'a>(
    request_id: &'a str,
    caller: &Caller,
    provider: &'a str,
    model: &'a str,
    credential_id: &'a str,
    steps: &'a [Step],
) -> Served<'a> {
    Served {
        request_id,
        caller: Some(caller.label()),
        provider: Some(provider),
        model: Some(model),
        credential_id: Some(credential_id),
        fallbacks: Some(convert::fallbacks(steps)),
        attempts: convert::attempts(steps),
    }
}

/// The stream committed to its candidate, as OpenAI `chat.completion.chunk` events:
/// a role chunk (with the `switchyard` start), text and `tool_calls[index]` chunks,
/// the finish chunk (with the whole trail), the usage chunk when asked, then
/// `[DONE]`. A failure after content is an `error` event, and no `[DONE]`: OpenAI
/// SDKs raise it.
pub(super) fn sse_response(
    stream: CompletionStream,
    caller: &Caller,
    include_usage: bool,
) -> Response {
    let encoder = ChunkEncoder::new(
        stream.request_id.clone(),
        stream.model.clone(),
        include_usage,
    );
    let opening = encoder.opening(served(
        &stream.request_id,
        caller,
        &stream.provider,
        &stream.model,
        &stream.credential_id,
        &stream.steps,
    ));
    let mut headers = HeaderMap::new();
    trail_headers(
        &mut headers,
        &stream.request_id,
        Some((caller, &stream.provider, &stream.model)),
        &stream.steps,
    );
    let body = relay::body(opening, stream.events, move |item, out| {
        encoder.item(item, out)
    });
    let mut response = (StatusCode::OK, body).into_response();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response.headers_mut().extend(headers);
    response
}

pub(super) fn choice(delta: Delta<'_>) -> ChunkChoice<'_> {
    ChunkChoice {
        index: 0,
        delta,
        finish_reason: None,
        logprobs: None,
    }
}

/// The `error` event that ends a stream which broke off after content.
pub(super) fn interrupted_event(e: CallError) -> Vec<u8> {
    let (message, request_id, steps) = match e {
        CallError::Failed {
            request_id,
            reason,
            steps,
        } => (
            failure_message(&request_id, reason, &steps),
            request_id,
            steps,
        ),
        CallError::UnknownTask(u) => (
            format!("unknown task {:?}", validate::echo(&u.0)),
            String::new(),
            Vec::new(),
        ),
    };
    event(&ErrorBody {
        error: ErrorDetail {
            message: &message,
            kind: "api_error",
            param: None,
            code: "stream_interrupted",
            switchyard: Some(convert::trail(&request_id, &steps)),
        },
    })
}

pub(super) fn event<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    // Serialising strings and numbers cannot fail.
    serde_json::to_writer(&mut out, value).unwrap_or_default();
    out.extend_from_slice(b"\n\n");
    out
}
