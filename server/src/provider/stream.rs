//! A provider stream once it produced its first content event: the response, the
//! format's event parser, and the reads of the rest.

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Body as _;

use crate::domain::{FinishReason, ProviderKind, StreamEvent, Usage};
use crate::sse::{SseDecoder, SseEvent};
use crate::wire::{anthropic, responses};

use super::*;

/// A provider stream that has produced its first content event (or ended
/// cleanly). Read the rest with [`OpenStream::next_event`].
pub struct OpenStream {
    /// The response's body, read frame by frame.
    pub(super) body: reqwest::Body,
    pub(super) kind: ProviderKind,
    /// One per stream: the Anthropic and Responses parsers keep state across events.
    pub(super) parser: EventParser,
    pub(super) status: u16,
    pub(super) decoder: SseDecoder,
    pub(super) raw: VecDeque<SseEvent>,
    pub(super) parsed: Vec<StreamEvent>,
    /// Content events (text, tool-call pieces) not yet read.
    pub(super) ready: VecDeque<StreamEvent>,
    pub(super) idle: Duration,
    /// The idle timer, kept from read to read: moved on, not registered anew.
    pub(super) idle_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// When the wait for the next event times out, once that wait began.
    pub(super) wait_deadline: Option<tokio::time::Instant>,
    pub(super) done: bool,
    pub(super) finish_reason: Option<FinishReason>,
    pub(super) model: Option<String>,
    pub(super) usage: Usage,
}

impl std::fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStream")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl OpenStream {
    /// HTTP status of the stream.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Token usage reported so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Why generation stopped, once the provider said it.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish_reason
    }

    /// The model the provider says answers, once it said it.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The next content event of the bytes already read, or the provider's end,
    /// if they hold either: no read, no wait. Model, usage and finish reason are
    /// kept on the stream, as [`OpenStream::next_event`] keeps them.
    pub fn buffered_event(&mut self) -> Result<Buffered, StreamFailure> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Buffered::Event(event));
            }
            let Some(event) = self.raw.pop_front() else {
                return Ok(if self.done {
                    Buffered::End
                } else {
                    Buffered::Empty
                });
            };
            self.parser.push(&event, &mut self.parsed)?;
            for e in self.parsed.drain(..) {
                match e {
                    StreamEvent::Text(_) | StreamEvent::ToolCall(_) if e.is_content() => {
                        self.ready.push_back(e);
                    }
                    StreamEvent::Text(_) | StreamEvent::ToolCall(_) => {}
                    StreamEvent::Model(m) => {
                        self.model.get_or_insert(m);
                    }
                    StreamEvent::Usage(u) => self.usage.apply(u),
                    StreamEvent::Finish(r) => self.finish_reason = Some(r),
                    StreamEvent::Done => self.done = true,
                    StreamEvent::Error(payload) => {
                        return Err(StreamFailure::ErrorEvent(Bytes::from(payload)));
                    }
                }
            }
        }
    }

    /// The next content event: [`StreamEvent::Text`] or [`StreamEvent::ToolCall`]
    /// (model, usage and finish reason are kept on the stream); `Ok(None)` at the
    /// provider's end of stream. Each read waits at most the idle timeout.
    pub fn poll_next_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<StreamEvent>, StreamFailure>> {
        let idle = self.idle;
        self.poll_next_within(cx, Some(idle))
    }

    /// [`OpenStream::poll_next_event`] as a future.
    pub async fn next_event(&mut self) -> Result<Option<StreamEvent>, StreamFailure> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next content event, each read waiting at most `idle` (`None`: as long
    /// as the caller does).
    pub(super) async fn next_within(
        &mut self,
        idle: Option<Duration>,
    ) -> Result<Option<StreamEvent>, StreamFailure> {
        std::future::poll_fn(|cx| self.poll_next_within(cx, idle)).await
    }

    fn poll_next_within(
        &mut self,
        cx: &mut Context<'_>,
        idle: Option<Duration>,
    ) -> Poll<Result<Option<StreamEvent>, StreamFailure>> {
        let next = self.poll_read(cx, idle);
        if next.is_ready() {
            // The next wait is a new one.
            self.wait_deadline = None;
        }
        next
    }

    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        idle: Option<Duration>,
    ) -> Poll<Result<Option<StreamEvent>, StreamFailure>> {
        // Silence is counted in events, not bytes: a provider sending a byte now
        // and then, never completing an event, still times out. The deadline is
        // taken when a wait begins after an event, so the clock is read once per
        // wait, not once per event or per poll.
        loop {
            let read_events = !self.raw.is_empty();
            match self.buffered_event()? {
                Buffered::Event(event) => return Poll::Ready(Ok(Some(event))),
                Buffered::End => return Poll::Ready(Ok(None)),
                Buffered::Empty if read_events => self.wait_deadline = None,
                Buffered::Empty => {}
            }
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    let Some(idle) = idle else {
                        return Poll::Pending;
                    };
                    let at = *self
                        .wait_deadline
                        .get_or_insert_with(|| tokio::time::Instant::now() + idle);
                    let timer = self
                        .idle_timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    if timer.deadline() != at {
                        timer.as_mut().reset(at);
                    }
                    return match timer.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Err(StreamFailure::Timeout {
                            which: "idle",
                            after: idle,
                        })),
                        Poll::Pending => Poll::Pending,
                    };
                }
            };
            match frame {
                Some(Ok(frame)) => {
                    // Trailers, if a provider sends any, say nothing here.
                    if let Ok(bytes) = frame.into_data() {
                        self.decoder
                            .feed(&bytes, &mut self.raw)
                            .map_err(|m| StreamFailure::Malformed(m.0))?;
                    }
                }
                // Some OpenAI-compatible servers omit `[DONE]` after the finish reason.
                None if self.kind == ProviderKind::Openai && self.finish_reason.is_some() => {
                    self.done = true;
                }
                None => return Poll::Ready(Err(StreamFailure::Truncated)),
                Some(Err(e)) => {
                    return Poll::Ready(Err(StreamFailure::Transport(transport_error(&e))));
                }
            }
        }
    }
}

/// What the bytes already read of a stream hold next.
#[derive(Debug)]
pub enum Buffered {
    /// A content event: [`StreamEvent::Text`] or [`StreamEvent::ToolCall`].
    Event(StreamEvent),
    /// The provider's end of stream.
    End,
    /// Nothing yet: the next event needs a read.
    Empty,
}

/// The interpreter of one stream's events, by wire format.
#[derive(Debug)]
pub(super) enum EventParser {
    Openai,
    Anthropic(anthropic::StreamParser),
    Responses(responses::StreamParser),
}

impl EventParser {
    pub(super) fn new(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Openai => Self::Openai,
            ProviderKind::Anthropic => Self::Anthropic(anthropic::StreamParser::default()),
            ProviderKind::OpenaiResponses => Self::Responses(responses::StreamParser::new()),
        }
    }

    /// Appends the stream events of one SSE event to `out`.
    pub(super) fn push(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), StreamFailure> {
        match self {
            Self::Openai => openai_chat::interpret(event, out),
            Self::Anthropic(parser) => parser.push(event, out).map_err(|e| {
                StreamFailure::Malformed(match e {
                    anthropic::StreamError::Malformed(m) => m.0,
                    anthropic::StreamError::InvalidEvent(_) => {
                        "an Anthropic event without the fields its type needs"
                    }
                    anthropic::StreamError::UnknownBlock(_) => {
                        "an Anthropic input_json_delta for a block that is not a tool_use"
                    }
                })
            })?,
            Self::Responses(parser) => parser.interpret(event, out),
        }
        Ok(())
    }
}
