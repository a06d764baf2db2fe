//! The rest of a committed stream, read on the task that serves the caller: each
//! item is read from the provider when the door asks for it, with no task and no
//! queue between them. The trail is recorded when the last item is read, or when the
//! door drops the events first (the caller left): a stream always ends in a
//! trail, whoever stops reading.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::time::Sleep;

use crate::classify::Classification;
use crate::credentials::CredentialPool;
use crate::domain::{ErrorClass, FailureReason, StreamEvent};
use crate::metrics::Metrics;
use crate::policy::Run;
use crate::provider::{Buffered, OpenStream, StreamFailure};
use crate::redact::Scrubber;
use crate::writer::Recorder;

use super::{CallError, RequestMeta, StreamItem, conclude};

/// Text and tool-call pieces of a committed stream, then one final
/// [`StreamItem::Finished`] or [`StreamItem::Failed`]; nothing after it.
pub struct Events {
    /// `None` once the last item was read (or the events dropped). Boxed, so
    /// that the futures and bodies holding the events move one pointer.
    state: Option<Box<Committed>>,
}

/// A committed stream and what its trail needs.
pub(super) struct Committed {
    pub(super) open: OpenStream,
    pub(super) recorder: Arc<Recorder>,
    pub(super) metrics: Metrics,
    pub(super) meta: RequestMeta,
    pub(super) run: Run,
    pub(super) secrets: StreamSecrets,
    /// When the stream committed, for the interruption's step.
    pub(super) committed: Instant,
    /// The request's budget over the whole stream: registered at the first wait,
    /// then kept, rather than one timer per event.
    pub(super) budget: Option<Pin<Box<Sleep>>>,
    /// The request's span, kept open until the stream ends and entered while
    /// its trail is recorded.
    pub(super) span: tracing::Span,
}

/// Where the secrets to scrub from a committed stream's error event come from,
/// read only if one arrives.
#[derive(Debug)]
pub(super) struct StreamSecrets {
    pub(super) pool: Arc<CredentialPool>,
    pub(super) provider: Arc<str>,
    pub(super) presented: Option<Arc<secrecy::SecretString>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("ended", &self.state.is_none())
            .finish_non_exhaustive()
    }
}

// === impl Events ===

impl Events {
    pub(super) fn new(committed: Committed) -> Self {
        Self {
            state: Some(Box::new(committed)),
        }
    }

    /// The next item, read from the provider if none is buffered; `None` after the
    /// last one.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        let Some(committed) = self.state.as_mut() else {
            return Poll::Ready(None);
        };
        let end = match committed.poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(item)) => return Poll::Ready(Some(item)),
            Poll::Ready(Err(end)) => end,
        };
        Poll::Ready(self.finish(end))
    }

    /// [`Events::poll_recv`] as a future.
    pub async fn recv(&mut self) -> Option<StreamItem> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next item if the bytes already read hold it (the last item too, when
    /// they hold the provider's end): no read, no wait.
    pub fn try_recv(&mut self) -> Option<StreamItem> {
        let committed = self.state.as_mut()?;
        let end = match committed.open.buffered_event() {
            Ok(Buffered::Event(event)) => return content_item(event),
            Ok(Buffered::Empty) => return None,
            Ok(Buffered::End) => None,
            Err(failure) => Some(committed.classify(failure)),
        };
        self.finish(end)
    }

    /// Ends the stream: its last item.
    fn finish(&mut self, interrupted: Option<Classification>) -> Option<StreamItem> {
        self.state.take().map(|c| c.finish(interrupted))
    }
}

impl Drop for Events {
    /// The caller left before the last item: the provider's stream is closed and
    /// the trail recorded as interrupted.
    fn drop(&mut self) {
        if let Some(committed) = &self.state {
            let left = Classification {
                class: ErrorClass::None,
                http_status: committed.open.status(),
                retry_after_ms: None,
                detail: "the caller closed the stream".into(),
            };
            self.finish(Some(left));
        }
    }
}

// === impl Committed ===

impl Committed {
    /// The next content item, or how the stream ended: `None` at the provider's
    /// end, the interruption otherwise.
    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamItem, Option<Classification>>> {
        loop {
            match self.open.poll_next_event(cx) {
                // `poll_next_event` yields content only.
                Poll::Ready(Ok(Some(event))) => {
                    if let Some(item) = content_item(event) {
                        return Poll::Ready(Ok(item));
                    }
                }
                Poll::Ready(Ok(None)) => return Poll::Ready(Err(None)),
                Poll::Ready(Err(failure)) => return Poll::Ready(Err(Some(self.classify(failure)))),
                Poll::Pending => break,
            }
        }
        let end = self.meta.end;
        let budget = self
            .budget
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(end)));
        match budget.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Err(Some(Classification {
                class: ErrorClass::Transport,
                http_status: self.open.status(),
                retry_after_ms: None,
                detail: "the request's time budget ran out mid-stream".into(),
            }))),
        }
    }

    fn classify(&self, failure: StreamFailure) -> Classification {
        failure.classify(self.open.status(), &self.secrets.scrubber())
    }

    /// Closes the provider's stream, records the trail, and returns the last item.
    fn finish(self: Box<Self>, interrupted: Option<Classification>) -> StreamItem {
        let Self {
            open,
            recorder,
            metrics,
            meta,
            mut run,
            committed,
            span,
            ..
        } = *self;
        let _entered = span.enter();
        // Closes the provider connection before the bookkeeping.
        let usage = open.usage();
        let finish_reason = open.finish_reason().unwrap_or_default();
        drop(open);
        if let Some(c) = &interrupted {
            let ms = committed.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
            run.record_interrupted(ms, c);
        }
        let failure = interrupted.map(|_| FailureReason::StreamInterrupted);
        let request_id = meta.request_id.clone();
        let steps = conclude(&recorder, &metrics, meta, run, failure);
        match failure {
            None => StreamItem::Finished {
                usage,
                finish_reason,
                steps,
            },
            Some(reason) => StreamItem::Failed(CallError::Failed {
                request_id,
                reason,
                steps,
            }),
        }
    }
}

// === impl StreamSecrets ===

impl StreamSecrets {
    fn scrubber(&self) -> Scrubber {
        let mut secrets = self.pool.provider_secrets(&self.provider);
        secrets.extend(self.presented.as_deref().cloned());
        Scrubber::new(&secrets)
    }
}

/// The caller's item of a content event (text, a tool-call piece); `None` for
/// any other.
pub(super) fn content_item(event: StreamEvent) -> Option<StreamItem> {
    match event {
        StreamEvent::ToolCall(delta) => Some(StreamItem::ToolCall(delta)),
        StreamEvent::Text(text) => Some(StreamItem::Text(text)),
        _ => None,
    }
}
