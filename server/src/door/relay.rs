//! The body of a committed stream, for every HTTP door. Each door's encoder turns
//! [`StreamItem`]s into the bytes of its events; this module hands hyper one body
//! frame holding every item already received, instead of one frame per item, so
//! hyper writes them with one chunk header and one system call.
//!
//! It never waits for more items to make a batch: a frame holds the items that had
//! arrived when hyper asked for the next frame, so the first event leaves as soon
//! as it did before. Items that arrive one at a time still cost a frame each.
//! No I/O of its own and no decisions: the door's encoder chooses every byte.

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

use crate::service::StreamItem;

/// The bytes one frame collects before it is handed on. The items after it wait
/// for the next poll of the body, which follows at once: a bound on the frame's
/// memory, not a delay.
pub(crate) const FRAME_BYTES: usize = 16 * 1024;

/// A stream's body: `opening` first (with whatever items are already there),
/// then the encoded items, coalesced as they arrive, until the last item
/// ([`StreamItem::Finished`] or [`StreamItem::Failed`]) or until the sender is
/// gone. `encode` appends the bytes of one item to the frame.
pub(crate) fn body<E>(opening: Vec<u8>, events: mpsc::Receiver<StreamItem>, encode: E) -> Body
where
    E: FnMut(StreamItem, &mut Vec<u8>) + Send + 'static,
{
    let relay = Relay {
        events,
        encode,
        opening,
    };
    let frames = futures::stream::unfold(Some(relay), |relay| async move {
        let mut relay = relay?;
        let (frame, more) = relay.next_frame().await?;
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from(frame)),
            more.then_some(relay),
        ))
    });
    Body::from_stream(frames)
}

/// The state of one stream's body between frames.
struct Relay<E> {
    events: mpsc::Receiver<StreamItem>,
    encode: E,
    /// The opening events, until the first frame takes them.
    opening: Vec<u8>,
}

impl<E: FnMut(StreamItem, &mut Vec<u8>)> Relay<E> {
    /// The next frame, and whether more may follow; `None` once the sender is gone
    /// and nothing is left.
    async fn next_frame(&mut self) -> Option<(Vec<u8>, bool)> {
        let mut frame = std::mem::take(&mut self.opening);
        // The opening leaves at once, items or not; later frames wait for one item.
        if frame.is_empty() {
            let item = self.events.recv().await?;
            if !self.push(item, &mut frame) {
                return Some((frame, false));
            }
        }
        while frame.len() < FRAME_BYTES {
            let Ok(item) = self.events.try_recv() else {
                break;
            };
            if !self.push(item, &mut frame) {
                return Some((frame, false));
            }
        }
        Some((frame, true))
    }

    /// Encodes `item` into `frame`; false after the stream's last item.
    fn push(&mut self, item: StreamItem, frame: &mut Vec<u8>) -> bool {
        let more = matches!(item, StreamItem::Text(_) | StreamItem::ToolCall(_));
        (self.encode)(item, frame);
        more
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FinishReason, Usage};
    use http_body_util::BodyExt as _;

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
