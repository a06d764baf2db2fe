//! The streamed answer: Responses Server-Sent Events as domain [`StreamEvent`]s,
//! fed in whatever pieces the network delivers (SSE framing from [`crate::sse`]).

use std::collections::VecDeque;

use serde::Deserialize;

use super::answer::{Outcome, OutputItem, WireResponse, outcome};
use crate::domain::chat::{StreamEvent, ToolCallDelta};
use crate::sse::{Malformed, SseDecoder, SseEvent};

/// Turns a Responses event stream into [`StreamEvent`]s:
/// - `response.created` gives the model;
/// - `response.output_text.delta` (and `response.refusal.delta`) text;
/// - `response.output_item.added` of a `function_call` the first piece of a tool
///   call (its `call_id` as id, its name), `response.function_call_arguments.delta`
///   the next pieces; a `.done` event whose arguments go past what was streamed
///   sends the rest, so a provider that sends no deltas loses nothing;
/// - `response.completed` / `response.incomplete` usage, the finish reason and the end;
/// - `response.failed`, `error` and any event that is not JSON an
///   [`StreamEvent::Error`] holding the event's data as received.
///
/// Other events (reasoning, `*.done` echoes, `response.in_progress`) say nothing new.
#[derive(Debug, Default)]
pub struct StreamParser {
    sse: SseDecoder,
    frames: VecDeque<SseEvent>,
    calls: Vec<Call>,
    refused: bool,
}

/// A tool call of the stream, by its item id and output index.
#[derive(Debug)]
struct Call {
    item_id: Option<String>,
    output_index: Option<u64>,
    /// Arguments sent so far.
    arguments: String,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct TextDelta {
    delta: String,
}

#[derive(Deserialize)]
struct ItemEvent {
    #[serde(default)]
    output_index: Option<u64>,
    item: StreamItem,
}

#[derive(Deserialize)]
struct StreamItem {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ArgumentsEvent {
    #[serde(default)]
    item_id: Option<String>,
    #[serde(default)]
    output_index: Option<u64>,
    #[serde(default)]
    delta: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ResponseEvent {
    response: WireResponse,
}

// === impl StreamParser ===

impl StreamParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the body and appends the events they complete.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), Malformed> {
        self.sse.feed(chunk, &mut self.frames)?;
        while let Some(frame) = self.frames.pop_front() {
            self.interpret(&frame, out);
        }
        Ok(())
    }

    /// Interprets one SSE event, for a caller that does its own framing.
    pub fn interpret(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) {
        let data = event.data.trim();
        let error = || StreamEvent::Error(data.to_owned());
        let Ok(head) = serde_json::from_str::<Head>(data) else {
            out.push(error());
            return;
        };
        let Some(kind) = head.kind.as_deref().or(event.event.as_deref()) else {
            return;
        };
        // A known event that does not have its shape is a broken stream.
        let parsed = match kind {
            "response.created" => self.created(data, out),
            "response.output_text.delta" => text(data, out),
            "response.refusal.delta" => {
                self.refused = true;
                text(data, out)
            }
            "response.output_item.added" | "response.output_item.done" => self.item(data, out),
            "response.function_call_arguments.delta" | "response.function_call_arguments.done" => {
                self.arguments(data, out)
            }
            "response.completed" | "response.incomplete" => self.end(data, out),
            "response.failed" | "error" => Err(()),
            _ => Ok(()),
        };
        if parsed.is_err() {
            out.push(error());
        }
    }

    fn created(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ()> {
        let event: ResponseEvent = serde_json::from_str(data).map_err(drop)?;
        if let Some(model) = event.response.model {
            out.push(StreamEvent::Model(model));
        }
        Ok(())
    }

    /// `output_item.added` opens a call; `output_item.done` closes one, sending
    /// what was not streamed (the whole call when it was never opened).
    fn item(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ()> {
        let event: ItemEvent = serde_json::from_str(data).map_err(drop)?;
        let item = event.item;
        if item.kind != "function_call" {
            return Ok(());
        }
        let arguments = item.arguments.unwrap_or_default();
        match self.find(item.id.as_deref(), event.output_index) {
            Some(index) => {
                self.rest(index, &arguments, out);
                Ok(())
            }
            None => {
                let (Some(id), Some(name)) = (item.call_id, item.name) else {
                    return Err(());
                };
                let index = self.calls.len();
                self.calls.push(Call {
                    item_id: item.id,
                    output_index: event.output_index,
                    arguments: arguments.clone(),
                });
                out.push(StreamEvent::ToolCall(ToolCallDelta {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    id: Some(id),
                    name: Some(name),
                    arguments,
                }));
                Ok(())
            }
        }
    }

    fn arguments(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ()> {
        let event: ArgumentsEvent = serde_json::from_str(data).map_err(drop)?;
        let index = self
            .find(event.item_id.as_deref(), event.output_index)
            .ok_or(())?;
        if let Some(delta) = event.delta {
            self.calls[index].arguments.push_str(&delta);
            out.push(arguments_delta(index, delta));
        }
        if let Some(whole) = event.arguments {
            self.rest(index, &whole, out);
        }
        Ok(())
    }

    fn end(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ()> {
        let event: ResponseEvent = serde_json::from_str(data).map_err(drop)?;
        let response = event.response;
        if let Some(usage) = &response.usage {
            out.push(StreamEvent::Usage(usage.delta()));
        }
        let has_calls = !self.calls.is_empty()
            || response
                .output
                .iter()
                .any(|i| matches!(i, OutputItem::FunctionCall { .. }));
        match outcome(
            response.status.as_deref(),
            response.incomplete_details.as_ref(),
            has_calls,
            self.refused,
        ) {
            Outcome::Finished(reason) => {
                out.push(StreamEvent::Finish(reason));
                out.push(StreamEvent::Done);
                Ok(())
            }
            Outcome::Failed | Outcome::Unfinished(_) => Err(()),
        }
    }

    /// The stream index of the call of `item_id` (else of `output_index`).
    fn find(&self, item_id: Option<&str>, output_index: Option<u64>) -> Option<usize> {
        match item_id {
            Some(id) => self
                .calls
                .iter()
                .position(|c| c.item_id.as_deref() == Some(id)),
            None => self
                .calls
                .iter()
                .position(|c| output_index.is_some() && c.output_index == output_index),
        }
    }

    /// Sends the part of `whole` past the arguments already sent, when `whole`
    /// extends them (a `.done` repeating the deltas sends nothing).
    fn rest(&mut self, index: usize, whole: &str, out: &mut Vec<StreamEvent>) {
        let call = &mut self.calls[index];
        if let Some(rest) = whole.strip_prefix(call.arguments.as_str())
            && !rest.is_empty()
        {
            let rest = rest.to_owned();
            call.arguments.push_str(&rest);
            out.push(arguments_delta(index, rest));
        }
    }
}

fn arguments_delta(index: usize, arguments: String) -> StreamEvent {
    StreamEvent::ToolCall(ToolCallDelta {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        id: None,
        name: None,
        arguments,
    })
}

fn text(data: &str, out: &mut Vec<StreamEvent>) -> Result<(), ()> {
    let event: TextDelta = serde_json::from_str(data).map_err(drop)?;
    if !event.delta.is_empty() {
        out.push(StreamEvent::Text(event.delta));
    }
    Ok(())
}
