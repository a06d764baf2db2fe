//! A committed stream as gRPC events: `Started`, the text and tool-call deltas
//! in order, then `Finished` (with the tool calls assembled) or an error status
//! with the trail. One function for both streaming RPCs; each wraps an [`Event`]
//! in its own response type.

use switchyard_client::pb;
use tonic::Status;

use crate::domain::{AnswerBuilder, StreamEvent};
use crate::service::{CompletionStream, Events, StreamItem};

use super::convert::{tool_call_delta, tool_calls, usage};
use super::status::call_status;
use super::trail::attempts;

/// The response stream of a streaming RPC.
pub type EventStream<R> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<R, Status>> + Send>>;

/// An event of either streaming RPC, before it is wrapped in its response type.
#[derive(Debug)]
pub(crate) enum Event {
    /// The candidate answering.
    Started(pb::StreamStarted),
    /// A piece of text.
    Delta(String),
    /// A piece of a tool call.
    ToolCall(pb::ToolCallDelta),
    /// The end of a complete answer.
    Finished(pb::StreamFinished),
}

/// What the stream carries between events: the receiver, and the tool-call
/// pieces so far, assembled for `Finished`.
struct State {
    events: Events,
    calls: AnswerBuilder,
}

/// `Started`, the deltas, then `Finished` or an error status with the trail.
pub(crate) fn event_stream<R: Send + 'static>(
    s: CompletionStream,
    wrap: fn(Event) -> R,
) -> EventStream<R> {
    let started = pb::StreamStarted {
        request_id: s.request_id,
        served_by: Some(pb::ServedBy {
            provider: String::from(&*s.provider),
            model: String::from(&*s.model),
            credential_id: String::from(&*s.credential_id),
        }),
        attempts: attempts(&s.steps),
    };
    let first = futures::stream::once(std::future::ready(Ok(wrap(Event::Started(started)))));
    let state = State {
        events: s.events,
        calls: AnswerBuilder::default(),
    };
    let rest = futures::stream::unfold(Some(state), move |state| async move {
        let mut state = state?;
        let item = match state.events.recv().await? {
            StreamItem::Text(text) => (Ok(wrap(Event::Delta(text))), Some(state)),
            StreamItem::ToolCall(d) => {
                state.calls.push(&StreamEvent::ToolCall(d.clone()));
                (Ok(wrap(Event::ToolCall(tool_call_delta(d)))), Some(state))
            }
            StreamItem::Finished {
                usage: u,
                finish_reason,
                steps,
            } => {
                // A call whose pieces never carried an id and a name (a
                // provider fault) cannot be assembled: `Finished` then lists
                // no calls rather than invent one; the caller has its deltas.
                let calls = state
                    .calls
                    .build()
                    .map(|a| a.tool_calls)
                    .unwrap_or_default();
                (
                    Ok(wrap(Event::Finished(pb::StreamFinished {
                        usage: Some(usage(u)),
                        finish_reason: finish_reason.as_str().to_owned(),
                        attempts: attempts(&steps),
                        tool_calls: tool_calls(calls),
                    }))),
                    None,
                )
            }
            StreamItem::Failed(e) => (Err(call_status(e)), None),
        };
        Some(item)
    });
    Box::pin(futures::StreamExt::chain(first, rest))
}
