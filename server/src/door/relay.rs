//! The body of a committed stream, for every HTTP door. Each door's encoder turns
//! [`StreamItem`]s into the bytes of its events; this module hands hyper one body
//! frame holding every item the provider's bytes already hold, instead of one
//! frame per item, so hyper writes them with one chunk header and one system call.
//!
//! The body reads the stream itself, on the connection's task: hyper's poll for
//! the next frame reads the provider ([`Events::poll_recv`]), with no task or queue
//! between them. It never waits for more items to make a batch: a frame holds the
//! items that were there when hyper asked for it, so the first event leaves at
//! once. Items that arrive one at a time still cost a frame each. No decisions:
//! the door's encoder chooses every byte.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::Frame;

use crate::service::{Events, StreamItem};

/// The bytes one frame collects before it is handed on. The items after it wait
/// for the next poll of the body, which follows at once: a bound on the frame's
/// memory, not a delay.
pub(crate) const FRAME_BYTES: usize = 16 * 1024;

/// A stream's body: `opening` first (with whatever items are already there),
/// then the encoded items, coalesced as they arrive, until the last item
/// ([`StreamItem::Finished`] or [`StreamItem::Failed`]) or until the items
/// end. `encode` appends the bytes of one item to the frame.
pub(crate) fn body<I, E>(opening: Vec<u8>, events: I, encode: E) -> Body
where
    I: Items,
    E: FnMut(StreamItem, &mut Vec<u8>) + Send + Unpin + 'static,
{
    Body::new(Relay {
        events,
        encode,
        opening,
        ended: false,
    })
}

/// Where a body's items come from: a committed stream's [`Events`].
pub(crate) trait Items: Send + Unpin + 'static {
    /// The next item, once there; `None` after the last.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<StreamItem>>;
    /// The next item if it is there without waiting.
    fn try_recv(&mut self) -> Option<StreamItem>;
}

impl Items for Events {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        Events::poll_recv(self, cx)
    }

    fn try_recv(&mut self) -> Option<StreamItem> {
        Events::try_recv(self)
    }
}

/// One stream's body: polled by hyper for each frame, it reads the items
/// itself, with no future of its own between frames.
struct Relay<I, E> {
    events: I,
    encode: E,
    /// The opening events, until the first frame takes them.
    opening: Vec<u8>,
    /// The last item (or the end of the items) has been framed.
    ended: bool,
}

impl<I: Items, E: FnMut(StreamItem, &mut Vec<u8>) + Unpin> http_body::Body for Relay<I, E> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let mut frame = std::mem::take(&mut this.opening);
        // The opening leaves at once, items or not; later frames wait for one item.
        if frame.is_empty() {
            match this.events.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(item)) => this.push(item, &mut frame),
            }
        }
        while !this.ended && frame.len() < FRAME_BYTES {
            let Some(item) = this.events.try_recv() else {
                break;
            };
            this.push(item, &mut frame);
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(frame)))))
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }
}

impl<I, E: FnMut(StreamItem, &mut Vec<u8>)> Relay<I, E> {
    /// Encodes `item` into `frame`; the stream has ended after its last item.
    fn push(&mut self, item: StreamItem, frame: &mut Vec<u8>) {
        self.ended = !matches!(item, StreamItem::Text(_) | StreamItem::ToolCall(_));
        (self.encode)(item, frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FinishReason, Usage};
    use http_body_util::BodyExt as _;
    use tokio::sync::mpsc;

    /// Items sent by the test, as a committed stream would read them.
    impl Items for mpsc::Receiver<StreamItem> {
        fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
            mpsc::Receiver::poll_recv(self, cx)
        }

        fn try_recv(&mut self) -> Option<StreamItem> {
            mpsc::Receiver::try_recv(self).ok()
        }
    }

    fn finished() -> StreamItem {
        StreamItem::Finished {
            usage: Usage::default(),
            finish_reason: FinishReason::Stop,
            steps: Vec::new(),
        }
    }

    fn encode(item: StreamItem, out: &mut Vec<u8>) {
        match item {
            StreamItem::Text(t) => out.extend_from_slice(t.as_bytes()),
            StreamItem::ToolCall(_) => out.extend_from_slice(b"<tool>"),
            StreamItem::Finished { .. } => out.extend_from_slice(b"<end>"),
            StreamItem::Failed(_) => out.extend_from_slice(b"<failed>"),
        }
    }

    /// The frames of `body`, each as a string.
    async fn frames(mut body: Body) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            out.push(String::from_utf8(data.to_vec()).unwrap());
        }
        out
    }

    #[tokio::test]
    async fn items_already_received_leave_in_one_frame_with_the_opening() {
        let (tx, rx) = mpsc::channel(8);
        for t in ["a", "b", "c"] {
            tx.send(StreamItem::Text(t.into())).await.unwrap();
        }
        tx.send(finished()).await.unwrap();
        let body = body(b"open;".to_vec(), rx, encode);
        assert_eq!(frames(body).await, vec!["open;abc<end>"]);
    }

    #[tokio::test]
    async fn the_opening_does_not_wait_for_an_item() {
        let (tx, rx) = mpsc::channel(8);
        let mut body = body(b"open;".to_vec(), rx, encode);
        // Nothing sent yet: the first frame is the opening alone, at once.
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"open;");
        tx.send(StreamItem::Text("a".into())).await.unwrap();
        let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&second[..], b"a");
        tx.send(StreamItem::Text("b".into())).await.unwrap();
        tx.send(finished()).await.unwrap();
        assert_eq!(frames(body).await, vec!["b<end>"]);
    }

    #[tokio::test]
    async fn nothing_is_read_after_the_last_item() {
        let (tx, rx) = mpsc::channel(8);
        tx.send(StreamItem::Text("a".into())).await.unwrap();
        tx.send(finished()).await.unwrap();
        tx.send(StreamItem::Text("late".into())).await.unwrap();
        assert_eq!(frames(body(Vec::new(), rx, encode)).await, vec!["a<end>"]);
    }

    #[tokio::test]
    async fn a_sender_gone_without_a_last_item_ends_the_body() {
        let (tx, rx) = mpsc::channel(8);
        tx.send(StreamItem::Text("a".into())).await.unwrap();
        drop(tx);
        assert_eq!(frames(body(b"o;".to_vec(), rx, encode)).await, vec!["o;a"]);
    }

    #[tokio::test]
    async fn a_frame_stops_collecting_at_its_size_bound() {
        let (tx, rx) = mpsc::channel(8);
        let piece = "x".repeat(FRAME_BYTES / 2);
        for _ in 0..3 {
            tx.send(StreamItem::Text(piece.clone())).await.unwrap();
        }
        tx.send(finished()).await.unwrap();
        let got = frames(body(Vec::new(), rx, encode)).await;
        assert_eq!(got.len(), 2, "two pieces fill the first frame");
        assert_eq!(got[0].len(), FRAME_BYTES);
        assert_eq!(got[1], format!("{piece}<end>"));
    }
}
