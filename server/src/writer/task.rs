//! The write-behind task: takes writes off the queues into a bounded buffer,
//! writes them in batched transactions, one at a time, and keeps taking writes
//! while one is in flight, so a store that hangs or refuses connections never
//! makes a sender wait for it. It waits on the trail queue only while it has
//! nothing else to do: a trail sent meanwhile wakes nobody, and is taken at the
//! next tick ([`TICK`]). Knows the store's write calls and [`Status`]; nothing of
//! gRPC or of the request path.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{Losses, Recent};
use crate::domain::Trail;
use crate::status::{Component, Status};
use crate::store::{HealthChange, Prune, Store, StoreError};

/// Most trails in one transaction.
const BATCH: usize = 2048;
/// Longest wait of a trail for others to share its transaction.
const LINGER: Duration = Duration::from_millis(50);
/// Most trails one prune step deletes. Each batch of writes prunes one step in its
/// transaction; a backlog (after the retention was lowered) is pruned a step at a
/// time while nothing is waiting, so writes never wait behind it.
const PRUNE_STEP: u32 = 2048;
/// While the store is degraded, a write (of what waits, or a probe when nothing
/// does) this often tells when it is back. Between two, nothing is tried: a store
/// that is down sees one connection attempt a second, not one per batch.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Most health changes held for a retry while the store fails (the newest).
const PENDING_MAX: usize = 4096;
/// While trails wait (lingering for a batch, for a retry of a degraded store, or
/// behind a write in flight), how often those queued meanwhile are taken into the
/// buffer, where they are bounded and counted: the queue holds `QUEUE` trails, so
/// this takes them long before it fills at any rate the process can serve.
pub(super) const TICK: Duration = Duration::from_millis(10);

/// The queues the request path sends to.
pub(super) struct Queues {
    pub(super) trails: mpsc::Receiver<Arc<Trail>>,
    pub(super) health: mpsc::Receiver<HealthChange>,
}

impl Queues {
    /// Takes every trail queued now into `writer`'s buffer.
    fn drain_trails(&mut self, writer: &mut Writer, now: Instant) {
        while let Ok(trail) = self.trails.try_recv() {
            writer.take_trail(trail, now);
        }
    }
}

/// One call to the store, in flight while the task keeps taking writes.
enum Op {
    /// Health changes and trails, with a prune step, in one transaction.
    Write {
        changes: Vec<HealthChange>,
        trails: Vec<Arc<Trail>>,
    },
    /// One prune step on its own.
    Prune,
    /// A one-row write: is a degraded store back?
    Probe,
}

/// What a finished [`Op`] gives back to the task.
struct Done {
    op: Op,
    /// Trails pruned, or why the store failed (naming the database, never its
    /// password).
    result: Result<u64, String>,
}

/// The task's state: the store, what waits for it, where to report.
pub(super) struct Writer {
    store: Store,
    retention: u32,
    status: Status,
    losses: Arc<Losses>,
    /// The request path's copies of the trails, forgotten once written.
    recent: Arc<Recent>,
    /// Trails not yet written, oldest first, with when they were queued; at most
    /// `buffer` of them.
    trails: VecDeque<(Instant, Arc<Trail>)>,
    buffer: usize,
    /// Health changes not yet written (new ones, and those of failed writes),
    /// oldest first.
    pending: Vec<HealthChange>,
    /// While degraded: when to try the store again.
    retry_at: Option<Instant>,
    /// A prune backlog remains.
    backlog: bool,
}

// === impl Writer ===

impl Writer {
    pub(super) fn new(
        store: Store,
        retention: u32,
        buffer: usize,
        status: Status,
        losses: Arc<Losses>,
        recent: Arc<Recent>,
    ) -> Self {
        Self {
            store,
            retention,
            status,
            losses,
            recent,
            trails: VecDeque::new(),
            buffer: buffer.max(1),
            pending: Vec::new(),
            retry_at: None,
            backlog: false,
        }
    }

    /// Takes one trail off the queue.
    fn take_trail(&mut self, trail: Arc<Trail>, now: Instant) {
        self.trails.push_back((now, trail));
        self.bound_trails();
    }

    /// Drops the oldest trails past the buffer, counted and warned about.
    fn bound_trails(&mut self) {
        let over = self.trails.len().saturating_sub(self.buffer);
        if over > 0 {
            self.trails.drain(..over);
            self.losses
                .buffer_full
                .fetch_add(over as u64, Ordering::Relaxed);
            self.losses.warn();
        }
    }

    /// The call to make now, if any. `closing`: write what waits without
    /// lingering, and no idle work.
    fn next_op(&mut self, now: Instant, closing: bool) -> Option<Op> {
        let waiting = !self.trails.is_empty() || !self.pending.is_empty();
        if let Some(at) = self.retry_at {
            // Degraded: nothing until the retry is due (at shutdown, one last try).
            if now < at && !closing {
                return None;
            }
            if !waiting {
                return (!closing).then_some(Op::Probe);
            }
        }
        if waiting {
            // Trails linger for company, unless a health change (never kept
            // waiting), a full batch, a full buffer or the shutdown is there. (A
            // full buffer lingering would drop its oldest to make room, and when
            // trails come faster than the buffer holds in a linger, it would
            // never be written.)
            let lingering = self.pending.is_empty()
                && self.trails.len() < BATCH.min(self.buffer)
                && self
                    .trails
                    .front()
                    .is_some_and(|(at, _)| *at + LINGER > now);
            if lingering && !closing && self.retry_at.is_none() {
                return None;
            }
            let n = self.trails.len().min(BATCH);
            return Some(Op::Write {
                changes: std::mem::take(&mut self.pending),
                trails: self.trails.drain(..n).map(|(_, t)| t).collect(),
            });
        }
        (self.backlog && !closing).then_some(Op::Prune)
    }

    /// When [`Writer::next_op`] may have something to do without a new write.
    fn wake_at(&self) -> Option<Instant> {
        if let Some(at) = self.retry_at {
            return Some(at);
        }
        if let Some((at, _)) = self.trails.front() {
            return Some(*at + LINGER);
        }
        self.backlog.then(Instant::now)
    }

    /// Runs `op` on a clone of the store: owned, so the task keeps taking writes
    /// while it is in flight.
    fn start(&self, op: Op) -> BoxFuture<'static, Done> {
        let store = self.store.clone();
        let prune = Prune {
            keep: self.retention,
            max_rows: PRUNE_STEP,
        };
        Box::pin(async move {
            let result = match &op {
                Op::Write { changes, trails } => {
                    store.write_and_prune(changes, trails, Some(prune)).await
                }
                Op::Prune => store.prune_trails(prune.keep, prune.max_rows).await,
                Op::Probe => store.probe_write().await.map(|()| 0),
            };
            let result = match result {
                Ok(pruned) => Ok(pruned),
                Err(e) => Err(reason(&store, e).await),
            };
            Done { op, result }
        })
    }

    /// Takes the result of a finished call. `closing`: a failed write is not
    /// tried again; its trails are counted as lost.
    fn finish(&mut self, done: Done, now: Instant, closing: bool) {
        let e = match done.result {
            Ok(pruned) => {
                self.status.clear(Component::Store);
                self.retry_at = None;
                if !matches!(done.op, Op::Probe) {
                    self.backlog = pruned >= u64::from(PRUNE_STEP);
                }
                if let Op::Write { trails, .. } = &done.op {
                    // Committed: the store answers for them now.
                    self.recent.written(trails);
                }
                return;
            }
            Err(e) => e,
        };
        self.status.set_degraded(Component::Store, e);
        self.retry_at = Some(now + RETRY_EVERY);
        let Op::Write {
            mut changes,
            trails,
        } = done.op
        else {
            return;
        };
        // Back in front of what came meanwhile: written again in their order.
        changes.append(&mut self.pending);
        if changes.len() > PENDING_MAX {
            let lost = changes.len() - PENDING_MAX;
            changes.drain(..lost);
            tracing::error!(
                lost,
                "credential health changes not persisted: too many pending (the newest are kept for a retry; memory holds the state)"
            );
        }
        if closing {
            if !changes.is_empty() {
                tracing::error!(
                    lost = changes.len(),
                    "credential health changes not persisted at shutdown: the store failed"
                );
            }
            let lost = trails.len() + self.trails.len();
            self.trails.clear();
            self.losses
                .write_failed
                .fetch_add(lost as u64, Ordering::Relaxed);
            if lost > 0 {
                self.losses.warn();
            }
            return;
        }
        self.pending = changes;
        for trail in trails.into_iter().rev() {
            self.trails.push_front((now, trail));
        }
        self.bound_trails();
    }
}

/// The task: until asked to stop, then until what was queued is written (or the
/// store failed it once more).
pub(super) async fn write_loop(
    mut writer: Writer,
    mut queues: Queues,
    mut stop: watch::Receiver<bool>,
) {
    let mut in_flight: Option<BoxFuture<'static, Done>> = None;
    let mut closing = false;
    loop {
        let now = Instant::now();
        // What was sent since the last turn (at shutdown, everything queued before
        // the stop; later writes are not waited for).
        queues.drain_trails(&mut writer, now);
        if closing {
            while let Ok(change) = queues.health.try_recv() {
                writer.pending.push(change);
            }
        }
        if in_flight.is_none() {
            if let Some(op) = writer.next_op(now, closing) {
                in_flight = Some(writer.start(op));
            } else if closing {
                // At shutdown next_op writes whatever waits, so nothing does, or
                // the store failed the last try.
                break;
            }
        }
        // Only an idle task waits for the next trail; otherwise trails wait in the
        // queue until the next tick at the latest (the batch's time, a retry of a
        // degraded store and a write in flight all come later), so the queue holds
        // only a tick of them and the bounded buffer keeps the rest.
        let idle = in_flight.is_none() && writer.trails.is_empty();
        let wake = match (idle, writer.wake_at()) {
            (true, at) => at,
            (false, Some(at)) if in_flight.is_none() => Some(at.min(now + TICK)),
            (false, _) => Some(now + TICK),
        };
        tokio::select! {
            biased;
            done = async {
                match in_flight.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            } => {
                in_flight = None;
                writer.finish(done, Instant::now(), closing);
            }
            change = queues.health.recv(), if !closing => match change {
                Some(change) => writer.pending.push(change),
                // The recorder is gone: nothing more will come.
                None => closing = true,
            },
            trail = queues.trails.recv(), if idle && !closing => match trail {
                Some(trail) => writer.take_trail(trail, Instant::now()),
                None => closing = true,
            },
            _ = stop.wait_for(|s| *s), if !closing => closing = true,
            () = sleep_until(wake) => {}
        }
    }
}

/// Why the store failed: the error, and when the pool only timed out, the cause
/// of that (a refused connection...).
async fn reason(store: &Store, e: StoreError) -> String {
    if e.is_pool_timeout()
        && let Some(cause) = store.unreachable_cause().await
    {
        return format!("{e}: {cause}");
    }
    e.to_string()
}

/// Sleeps until `at`, or forever when `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{key, trail};

    async fn writer(buffer: usize) -> (Writer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), key()).await.unwrap();
        let writer = Writer::new(
            store,
            1000,
            buffer,
            Status::new(),
            Arc::new(Losses::default()),
            Arc::new(Recent::new(100)),
        );
        (writer, dir)
    }

    fn written(op: Option<Op>) -> Option<usize> {
        match op? {
            Op::Write { trails, .. } => Some(trails.len()),
            Op::Prune | Op::Probe => None,
        }
    }

    /// A buffer that fills within a linger is written at once: lingering on, the
    /// writer dropped its oldest for each new trail, and at a steady rate above
    /// `buffer` per linger it never wrote any (a five-trail buffer at 200 calls a
    /// second went through a PostgreSQL outage without one write failing).
    #[tokio::test]
    async fn a_full_buffer_is_written_without_lingering() {
        let (mut writer, _dir) = writer(5).await;
        let t0 = Instant::now();
        for i in 0..4 {
            writer.take_trail(Arc::new(trail(&format!("r{i}"), i)), t0);
        }
        assert_eq!(written(writer.next_op(t0, false)), None, "four linger");
        writer.take_trail(Arc::new(trail("r4", 4)), t0);
        assert_eq!(written(writer.next_op(t0, false)), Some(5));
        assert_eq!(writer.losses.buffer_full.load(Ordering::Relaxed), 0);
    }

    /// Below the buffer, trails still wait out the linger for company.
    #[tokio::test]
    async fn trails_below_the_buffer_linger_for_a_batch() {
        let (mut writer, _dir) = writer(super::super::DEFAULT_BUFFER).await;
        let t0 = Instant::now();
        writer.take_trail(Arc::new(trail("r0", 0)), t0);
        assert_eq!(written(writer.next_op(t0 + LINGER / 2, false)), None);
        assert_eq!(written(writer.next_op(t0 + LINGER, false)), Some(1));
    }
}
