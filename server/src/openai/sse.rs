//! The answers of success: a whole `chat.completion`, and the stream committed to
//! its candidate as `chat.completion.chunk` server-sent events.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::{Caller, Step};
use crate::door::trail_headers;
use crate::service::{CallError, CompletionStream, StreamItem, failure_message};
use crate::validate::{self};

use super::{convert, types};
use types::{Chunk, ChunkChoice, Delta, ErrorBody, ErrorDetail, Served};

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
        caller: Some(caller.to_string()),
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
    let id: Arc<str> = format!("chatcmpl-{}", stream.request_id).into();
    let created = crate::clock::wall_ms() / 1000;
    let model: Arc<str> = stream.model.clone();
    let first = Chunk {
        id: &id,
        object: "chat.completion.chunk",
        created,
        model: &model,
        choices: vec![choice(Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Delta::default()
        })],
        usage: None,
        switchyard: Some(served(
            &stream.request_id,
            caller,
            &stream.provider,
            &stream.model,
            &stream.credential_id,
            &stream.steps,
        )),
    };
    let opening = event(&first);
    let mut headers = HeaderMap::new();
    trail_headers(
        &mut headers,
        &stream.request_id,
        Some((caller, &stream.provider, &stream.model)),
        &stream.steps,
    );
    let opening = futures::stream::once(std::future::ready(Ok::<_, std::convert::Infallible>(
        Bytes::from(opening),
    )));
    let request_id: Arc<str> = stream.request_id.into();
    let rest = futures::stream::unfold(Some(stream.events), move |events| {
        let (id, model, request_id) = (id.clone(), model.clone(), request_id.clone());
        async move {
            let mut events = events?;
            let chunk = |choices, switchyard| Chunk {
                id: &id,
                object: "chat.completion.chunk",
                created,
                model: &model,
                choices,
                usage: None,
                switchyard,
            };
            let (bytes, next) = match events.recv().await? {
                StreamItem::Text(text) => {
                    let delta = Delta {
                        content: Some(&text),
                        ..Delta::default()
                    };
                    (event(&chunk(vec![choice(delta)], None)), Some(events))
                }
                StreamItem::ToolCall(piece) => {
                    let delta = Delta {
                        tool_calls: vec![convert::tool_call_piece(&piece)],
                        ..Delta::default()
                    };
                    (event(&chunk(vec![choice(delta)], None)), Some(events))
                }
                StreamItem::Finished {
                    usage,
                    finish_reason,
                    steps,
                } => {
                    let last = ChunkChoice {
                        finish_reason: Some(convert::finish_reason(finish_reason)),
                        ..choice(Delta::default())
                    };
                    let mut out = event(&chunk(
                        vec![last],
                        Some(convert::trail(&request_id, &steps)),
                    ));
                    if include_usage {
                        let mut usage_chunk = chunk(Vec::new(), None);
                        usage_chunk.usage = Some(convert::usage(usage));
                        out.extend_from_slice(&event(&usage_chunk));
                    }
                    out.extend_from_slice(b"data: [DONE]\n\n");
                    (out, None)
                }
                StreamItem::Failed(e) => (interrupted_event(e), None),
            };
            Some((Ok(Bytes::from(bytes)), next))
        }
    });
    let body = Body::from_stream(futures::StreamExt::chain(opening, rest));
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
