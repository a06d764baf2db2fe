//! A committed stream as the Responses API's typed server-sent events, each with
//! its `sequence_number`: `response.created` and `response.in_progress` (with who
//! answers and why), then per output item `response.output_item.added`, its
//! `response.content_part.added` and `response.output_text.delta`s or its
//! `response.function_call_arguments.delta`s, closed by the matching `.done`
//! events, and `response.completed` (or `response.incomplete`) with the whole
//! output, usage and trail.
//!
//! A failure after content ends with `response.failed` (the output so far, the
//! error and the trail), then an `error` event that the SDKs' stream readers
//! raise. The service sends the first event only once a candidate produced
//! content, so failover before it never shows.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::{Caller, FinishReason, Step, ToolCallDelta, Usage};
use crate::door::{relay, trail_headers};
use crate::openai::convert::{attempts, fallbacks, trail};
use crate::openai::types::{ErrorDetail, Served};
use crate::service::{CallError, CompletionStream, StreamItem, failure_message};
use crate::validate;

use super::convert::{self, Echo};
use super::types::{Event, EventBody, OutItem, OutText, ResponseError};

/// One output item as the stream builds it.
#[derive(Debug)]
struct Item {
    /// `msg_...` or `fc_...`.
    id: String,
    kind: ItemKind,
    /// Whether its `.done` events were sent.
    done: bool,
}

#[derive(Debug)]
enum ItemKind {
    Text(String),
    Call {
        /// The domain's tool-call index, to route the following pieces.
        index: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl Item {
    fn out(&self, with_content: bool) -> OutItem<'_> {
        let status = if self.done {
            "completed"
        } else {
            "in_progress"
        };
        match &self.kind {
            ItemKind::Text(text) => OutItem::Message {
                id: self.id.clone(),
                status,
                role: "assistant",
                content: if with_content {
                    vec![OutText::new(text)]
                } else {
                    Vec::new()
                },
            },
            ItemKind::Call {
                call_id,
                name,
                arguments,
                ..
            } => OutItem::FunctionCall {
                id: self.id.clone(),
                call_id,
                name,
                arguments: if with_content { arguments } else { "" },
                status,
            },
        }
    }
}

/// Who answers, as `response.created` says it.
#[derive(Debug)]
struct Start {
    caller: std::borrow::Cow<'static, str>,
    provider: Arc<str>,
    credential_id: Arc<str>,
    steps: Vec<Step>,
}

/// The stream's state: what was sent, to build the `.done` events and the final
/// response object.
#[derive(Debug)]
pub(crate) struct Writer {
    request_id: String,
    id: String,
    created_at: u64,
    model: Arc<str>,
    echo: Echo,
    seq: u64,
    items: Vec<Item>,
}

impl Writer {
    /// The writer of one response.
    pub(crate) fn new(request_id: String, model: Arc<str>, echo: Echo) -> Self {
        Self {
            id: ["resp_", &request_id].concat(),
            request_id,
            created_at: crate::clock::wall_ms() / 1000,
            model,
            echo,
            seq: 0,
            items: Vec::new(),
        }
    }

    /// Appends one SSE frame: `event: <type>` and its JSON data.
    fn emit(seq: &mut u64, out: &mut Vec<u8>, kind: &'static str, body: EventBody<'_>) {
        let event = Event {
            kind,
            sequence_number: *seq,
            body,
        };
        *seq += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        // Serialising strings, numbers and checked raw JSON cannot fail.
        serde_json::to_writer(&mut *out, &event).unwrap_or_default();
        out.extend_from_slice(b"\n\n");
    }

    /// `response.created` and `response.in_progress`, with who answers and why.
    fn start(&mut self, start: &Start) -> Vec<u8> {
        let mut out = Vec::new();
        for kind in ["response.created", "response.in_progress"] {
            let mut response = self.echo.response(&self.id, self.created_at, &self.model);
            response.switchyard = Some(Served {
                request_id: &self.request_id,
                caller: Some(start.caller.clone()),
                provider: Some(&start.provider),
                model: Some(&self.model),
                credential_id: Some(&start.credential_id),
                fallbacks: Some(fallbacks(&start.steps)),
                attempts: attempts(&start.steps),
            });
            let body = EventBody::Response {
                response: Box::new(response),
            };
            Self::emit(&mut self.seq, &mut out, kind, body);
        }
        out
    }

    /// The `.done` events of the open item, if any.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(index) = self.items.iter().position(|i| !i.done) else {
            return;
        };
        self.items[index].done = true;
        let item = &self.items[index];
        match &item.kind {
            ItemKind::Text(text) => {
                let (item_id, output_index, content_index) = (item.id.as_str(), index, 0);
                let body = EventBody::TextDone {
                    item_id,
                    output_index,
                    content_index,
                    text,
                    logprobs: [],
                };
                Self::emit(&mut self.seq, out, "response.output_text.done", body);
                let body = EventBody::Part {
                    item_id,
                    output_index,
                    content_index,
                    part: OutText::new(text),
                };
                Self::emit(&mut self.seq, out, "response.content_part.done", body);
            }
            ItemKind::Call {
                name, arguments, ..
            } => {
                let body = EventBody::ArgumentsDone {
                    item_id: &item.id,
                    output_index: index,
                    name,
                    arguments,
                };
                Self::emit(
                    &mut self.seq,
                    out,
                    "response.function_call_arguments.done",
                    body,
                );
            }
        }
        let body = EventBody::Item {
            output_index: index,
            item: item.out(true),
        };
        Self::emit(&mut self.seq, out, "response.output_item.done", body);
    }

    /// Opens `kind` as a new item: `response.output_item.added` (and, for text,
    /// `response.content_part.added`).
    fn open(&mut self, kind: ItemKind, out: &mut Vec<u8>) -> usize {
        self.close(out);
        let index = self.items.len();
        let id = match kind {
            ItemKind::Text(_) => convert::message_id(&self.request_id, index),
            ItemKind::Call { .. } => convert::call_item_id(&self.request_id, index),
        };
        self.items.push(Item {
            id,
            kind,
            done: false,
        });
        let item = &self.items[index];
        let body = EventBody::Item {
            output_index: index,
            item: item.out(false),
        };
        Self::emit(&mut self.seq, out, "response.output_item.added", body);
        if matches!(item.kind, ItemKind::Text(_)) {
            let body = EventBody::Part {
                item_id: &item.id,
                output_index: index,
                content_index: 0,
                part: OutText::new(""),
            };
            Self::emit(&mut self.seq, out, "response.content_part.added", body);
        }
        index
    }

    /// A piece of text: into the open message, or a new one.
    pub(crate) fn text(&mut self, text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let open = match self.items.last() {
            Some(i) if !i.done && matches!(i.kind, ItemKind::Text(_)) => self.items.len() - 1,
            _ => self.open(ItemKind::Text(String::new()), &mut out),
        };
        let item = &mut self.items[open];
        if let ItemKind::Text(t) = &mut item.kind {
            t.push_str(text);
        }
        let body = EventBody::TextDelta {
            item_id: &item.id,
            output_index: open,
            content_index: 0,
            delta: text,
            logprobs: [],
        };
        Self::emit(&mut self.seq, &mut out, "response.output_text.delta", body);
        out
    }

    /// A piece of a tool call: into its open function call item, or a new one
    /// (the first piece of each call carries its id and name).
    pub(crate) fn tool_call(&mut self, d: &ToolCallDelta) -> Vec<u8> {
        let mut out = Vec::new();
        let open = match self.items.last() {
            Some(Item {
                kind: ItemKind::Call { index, .. },
                done: false,
                ..
            }) if *index == d.index => self.items.len() - 1,
            _ => self.open(
                ItemKind::Call {
                    index: d.index,
                    call_id: d.id.clone().unwrap_or_default(),
                    name: d.name.clone().unwrap_or_default(),
                    arguments: String::new(),
                },
                &mut out,
            ),
        };
        if d.arguments.is_empty() {
            return out;
        }
        let item = &mut self.items[open];
        if let ItemKind::Call { arguments, .. } = &mut item.kind {
            arguments.push_str(&d.arguments);
        }
        let body = EventBody::ArgumentsDelta {
            item_id: &item.id,
            output_index: open,
            delta: &d.arguments,
        };
        Self::emit(
            &mut self.seq,
            &mut out,
            "response.function_call_arguments.delta",
            body,
        );
        out
    }

    /// The end: the open item closed, then `response.completed` (or
    /// `response.incomplete`) with the whole output, usage and trail.
    pub(crate) fn finish(&mut self, usage: Usage, finish: FinishReason, steps: &[Step]) -> Vec<u8> {
        let mut out = Vec::new();
        self.close(&mut out);
        let (status, incomplete) = convert::status(finish);
        let mut response = self.echo.response(&self.id, self.created_at, &self.model);
        response.status = status;
        response.incomplete_details = incomplete;
        response.output = self.items.iter().map(|i| i.out(true)).collect();
        response.usage = Some(convert::usage(usage));
        response.switchyard = Some(trail(&self.request_id, steps));
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        let body = EventBody::Response {
            response: Box::new(response),
        };
        Self::emit(&mut self.seq, &mut out, kind, body);
        out
    }

    /// A failure after content: `response.failed` with the output so far, the
    /// error and the trail, then an `error` event the SDKs raise.
    pub(crate) fn fail(&mut self, e: CallError) -> Vec<u8> {
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
                self.request_id.clone(),
                Vec::new(),
            ),
        };
        let mut out = Vec::new();
        let mut response = self.echo.response(&self.id, self.created_at, &self.model);
        response.status = "failed";
        response.error = Some(ResponseError {
            code: "server_error",
            message: &message,
        });
        response.output = self.items.iter().map(|i| i.out(true)).collect();
        response.switchyard = Some(trail(&request_id, &steps));
        let body = EventBody::Response {
            response: Box::new(response),
        };
        Self::emit(&mut self.seq, &mut out, "response.failed", body);
        let body = EventBody::Error {
            code: "stream_interrupted",
            message: &message,
            param: None,
            error: ErrorDetail {
                message: &message,
                kind: "api_error",
                param: None,
                code: "stream_interrupted",
                switchyard: Some(trail(&request_id, &steps)),
            },
        };
        Self::emit(&mut self.seq, &mut out, "error", body);
        out
    }
}

/// The committed stream as an SSE answer, with the trail so far in
/// `x-switchyard-*` headers.
pub(crate) fn response(stream: CompletionStream, caller: &Caller, echo: Echo) -> Response {
    let mut headers = HeaderMap::new();
    trail_headers(
        &mut headers,
        &stream.request_id,
        Some((caller, &stream.provider, &stream.model)),
        &stream.steps,
    );
    let start = Start {
        caller: caller.label(),
        provider: stream.provider.clone(),
        credential_id: stream.credential_id.clone(),
        steps: stream.steps,
    };
    let mut writer = Writer::new(stream.request_id, stream.model, echo);
    let opening = writer.start(&start);
    drop(start);
    let body = relay::body(opening, stream.events, move |item, out| {
        let bytes = match item {
            StreamItem::Text(text) => writer.text(&text),
            StreamItem::ToolCall(piece) => writer.tool_call(&piece),
            StreamItem::Finished {
                usage,
                finish_reason,
                steps,
            } => writer.finish(usage, finish_reason, &steps),
            StreamItem::Failed(e) => writer.fail(e),
        };
        out.extend_from_slice(&bytes);
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

#[cfg(test)]
mod tests;
