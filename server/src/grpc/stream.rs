//! A committed stream as gRPC events: `Started`, the deltas, then `Finished` or
//! an error status with the trail. One function for both streaming RPCs; each
//! wraps an [`Event`] in its own response type.

use switchyard_client::pb;
use tonic::Status;

use crate::service::{CompletionStream, StreamItem};

use super::convert::attempts;
use super::status::call_status;

/// The response stream of a streaming RPC.
pub type EventStream<R> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<R, Status>> + Send>>;

/// An event of either streaming RPC, before it is wrapped in its response type.
#[derive(Debug)]
pub(crate) enum Event {
    /// The candidate answering.
    Started(pb::StreamStarted),
    /// A piece of text.
    Delta(String),
    /// The end of a complete answer.
    Finished(pb::StreamFinished),
}

/// `Started`, the text deltas, then `Finished` or an error status with the trail.
pub(crate) fn event_stream<R: Send + 'static>(
    s: CompletionStream,
    wrap: fn(Event) -> R,
) -> EventStream<R> {
    let started = pb::StreamStarted {
        request_id: s.request_id,
        served_by: Some(pb::ServedBy {
            provider: s.provider.to_string(),
            model: s.model.to_string(),
            credential_id: s.credential_id.to_string(),
        }),
        attempts: attempts(&s.steps),
    };
    let first = futures::stream::once(std::future::ready(Ok(wrap(Event::Started(started)))));
    let rest = futures::stream::unfold(Some(s.events), move |events| async move {
        let mut events = events?;
        let mut next = events.recv().await?;
        // gRPC requests carry no tools yet, so no tool call can answer them.
        while let StreamItem::ToolCall(_) = next {
            next = events.recv().await?;
        }
        let item = match next {
            StreamItem::ToolCall(_) => return None,
            StreamItem::Text(text) => (Ok(wrap(Event::Delta(text))), Some(events)),
            StreamItem::Finished {
                usage,
                finish_reason,
                steps,
            } => (
                Ok(wrap(Event::Finished(pb::StreamFinished {
                    usage: Some(pb::Usage {
                        input_tokens: usage.input_tokens,
                        output_tokens: usage.output_tokens,
                    }),
                    finish_reason: finish_reason.as_str().to_owned(),
                    attempts: attempts(&steps),
                }))),
                None,
            ),
            StreamItem::Failed(e) => (Err(call_status(e)), None),
        };
        Some(item)
    });
    Box::pin(futures::StreamExt::chain(first, rest))
}
