//! [`CompletionStream`]: the answer of `complete_stream` and `aux_complete_stream`,
//! read as a [`futures::Stream`] of text pieces, with
//! [`CompletionStream::next_text`], or text and tool-call pieces alike with
//! [`CompletionStream::next_piece`].
//!
//! It owns the event order of either streaming RPC (`started`, `delta`s and
//! `tool_call_delta`s, `finished`)
//! and the call's deadline while reading; the call itself is made by the client.

use std::fmt;
use std::future::{Future as _, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures::Stream;

use crate::error::{Error, deadline_passed};
use crate::pb;

/// The response stream of either streaming RPC.
pub(crate) enum Events {
    Primary(tonic::Streaming<pb::CompleteStreamResponse>),
    Aux(tonic::Streaming<pb::AuxCompleteStreamResponse>),
}

/// An event of either streaming RPC.
enum Event {
    Started(pb::StreamStarted),
    Delta(String),
    ToolCall(pb::ToolCallDelta),
    Finished(pb::StreamFinished),
    /// A message without an event: the server broke the protocol.
    Empty,
}

impl Events {
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, tonic::Status>>> {
        use pb::aux_complete_stream_response::Event as A;
        use pb::complete_stream_response::Event as P;
        Poll::Ready(match self {
            Events::Primary(s) => ready!(Pin::new(s).poll_next(cx)).map(|m| {
                m.map(|m| match m.event {
                    Some(P::Started(s)) => Event::Started(s),
                    Some(P::Delta(d)) => Event::Delta(d),
                    Some(P::ToolCallDelta(d)) => Event::ToolCall(d),
                    Some(P::Finished(f)) => Event::Finished(f),
                    None => Event::Empty,
                })
            }),
            Events::Aux(s) => ready!(Pin::new(s).poll_next(cx)).map(|m| {
                m.map(|m| match m.event {
                    Some(A::Started(s)) => Event::Started(s),
                    Some(A::Delta(d)) => Event::Delta(d),
                    Some(A::ToolCallDelta(d)) => Event::ToolCall(d),
                    Some(A::Finished(f)) => Event::Finished(f),
                    None => Event::Empty,
                })
            }),
        })
    }
}

/// One piece of a streamed answer, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamPiece {
    /// A piece of text.
    Text(String),
    /// A piece of a tool call: the first piece of each `index` carries its id and
    /// name, later ones add to its arguments. [`CompletionStream::finished`] holds
    /// the calls assembled.
    ToolCall(pb::ToolCallDelta),
}

/// The call's deadline while reading: its timer, and the instant it fires.
struct Deadline {
    timeout: Duration,
    at: Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
}

/// The events of one call, read within its deadline.
struct Source {
    events: Events,
    deadline: Option<Deadline>,
}

impl Source {
    /// The next event; `Ok(None)` when the server closed the stream.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Event>, Error>> {
        if let Some(d) = &mut self.deadline
            && d.timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(Error::client_deadline(d.timeout)));
        }
        let next = ready!(self.events.poll_event(cx));
        Poll::Ready(match next {
            None => Ok(None),
            Some(Ok(event)) => Ok(Some(event)),
            Some(Err(status)) => Err(Error::decode(
                status,
                deadline_passed(self.deadline.as_ref().map(|d| d.at)),
            )),
        })
    }
}

/// A streamed answer of [`Client::complete_stream`](crate::Client::complete_stream) or
/// [`Client::aux_complete_stream`](crate::Client::aux_complete_stream), committed to
/// the candidate that produced its first token.
///
/// It is a [`Stream`] of text pieces (`Result<String, Error>`), for `StreamExt` and
/// friends; [`CompletionStream::next_text`] reads it without them.
///
/// ```no_run
/// # async fn run(client: switchyard_client::Client) -> Result<(), switchyard_client::Error> {
/// use switchyard_client::{CallOptions, Message};
/// let mut stream = client
///     .aux_complete_stream("compression", [Message::user("...")], CallOptions::new())
///     .await?;
/// while let Some(text) = stream.next_text().await? {
///     print!("{text}");
/// }
/// let finished = stream.finished().expect("complete");
/// println!("\n{} attempt(s)", finished.attempts.len());
/// # Ok(()) }
/// ```
///
/// The answer is complete only when the stream ended without an error (`next_text`
/// returned `Ok(None)`). A provider failing after text was sent ends the stream with
/// [`Error::StreamInterrupted`]; dropping the stream cancels the call.
pub struct CompletionStream {
    source: Source,
    started: pb::StreamStarted,
    finished: Option<pb::StreamFinished>,
    done: bool,
}

impl fmt::Debug for CompletionStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompletionStream")
            .field("request_id", &self.started.request_id)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl CompletionStream {
    /// Reads the `started` event, within the call's deadline (`timeout`, `at`).
    pub(crate) async fn open(
        events: Events,
        deadline: Option<(Duration, Instant)>,
    ) -> Result<Self, Error> {
        let mut source = Source {
            events,
            deadline: deadline.map(|(timeout, at)| Deadline {
                timeout,
                at,
                timer: Box::pin(tokio::time::sleep_until(at.into())),
            }),
        };
        let first = poll_fn(|cx| source.poll_event(cx)).await?;
        let Some(Event::Started(started)) = first else {
            return Err(Error::protocol(
                "the stream did not open with a started event",
            ));
        };
        Ok(Self {
            source,
            started,
            finished: None,
            done: false,
        })
    }

    /// The request id, for `explain_request`.
    pub fn request_id(&self) -> &str {
        &self.started.request_id
    }

    /// The provider, model and credential answering.
    pub fn served_by(&self) -> Option<&pb::ServedBy> {
        self.started.served_by.as_ref()
    }

    /// The `started` event: the steps up to the answering attempt.
    pub fn started(&self) -> &pb::StreamStarted {
        &self.started
    }

    /// Usage, finish reason and the whole trail, once the answer is complete.
    pub fn finished(&self) -> Option<&pb::StreamFinished> {
        self.finished.as_ref()
    }

    /// The next piece of text; `Ok(None)` once the answer is complete. Tool-call
    /// pieces are skipped (read them with [`CompletionStream::next_piece`], or
    /// whole in [`CompletionStream::finished`]).
    pub async fn next_text(&mut self) -> Result<Option<String>, Error> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// The next piece, text or tool call; `Ok(None)` once the answer is complete.
    pub async fn next_piece(&mut self) -> Result<Option<StreamPiece>, Error> {
        poll_fn(|cx| self.poll_piece(cx)).await.transpose()
    }

    /// The next piece; `None` once the answer is complete or after the one error
    /// that ends it.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<StreamPiece, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match ready!(self.source.poll_event(cx)) {
            Ok(Some(Event::Delta(text))) => Poll::Ready(Some(Ok(StreamPiece::Text(text)))),
            Ok(Some(Event::ToolCall(d))) => Poll::Ready(Some(Ok(StreamPiece::ToolCall(d)))),
            Ok(Some(Event::Finished(f))) => {
                self.done = true;
                self.finished = Some(f);
                Poll::Ready(None)
            }
            Ok(Some(Event::Started(_))) => self.fail(Error::protocol("a second started event")),
            Ok(Some(Event::Empty)) => self.fail(Error::protocol("an event without content")),
            Ok(None) => self.fail(Error::protocol("the stream ended without a finished event")),
            Err(e) => self.fail(e),
        }
    }

    /// Ends the stream with `error`: nothing is read after a failure.
    fn fail<T>(&mut self, error: Error) -> Poll<Option<Result<T, Error>>> {
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

/// Text pieces in order (tool-call pieces are skipped); `None` once the answer is
/// complete ([`CompletionStream::finished`] is set then, with the tool calls
/// assembled), or after the one error that ends it.
impl Stream for CompletionStream {
    type Item = Result<String, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            return Poll::Ready(match ready!(this.poll_piece(cx)) {
                Some(Ok(StreamPiece::ToolCall(_))) => continue,
                Some(Ok(StreamPiece::Text(text))) => Some(Ok(text)),
                Some(Err(e)) => Some(Err(e)),
                None => None,
            });
        }
    }
}
