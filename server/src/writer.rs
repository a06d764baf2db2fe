//! Write-behind of credential health and request trails: the request path hands
//! them over without touching the database; one task writes them in batched
//! transactions and prunes old trails in the same transactions. Trails stay in
//! memory until the store has them ([`recent`]), so `ExplainFallback` finds a
//! request the moment its response is sent.
//!
//! The request path never wakes the task: it waits on the trail queue only while
//! nothing else waits, so the first trail of a batch wakes it and the rest are
//! taken on a timer (`task::TICK`, 10 ms) until the batch is due. Health changes,
//! which are rare and never kept waiting, have a queue of their own that always
//! wakes it.
//!
//! The task also watches the store: a failed write marks [`Component::Store`]
//! degraded in [`Status`], with the error (which names the database, never its
//! password); a write that commits, or a write probe while idle, clears it.
//! While the store is down nothing waits for it: the task keeps taking writes
//! off the queue while a write is in flight, trails of failed writes stay in a
//! bounded buffer (`database.trail_buffer`) and are written again, oldest first,
//! once the store is back; health changes are written again with them (upserts
//! of the latest state, so replaying them is harmless). A trail that never
//! reaches the store is counted ([`Recorder::dropped`]) and warned about, at
//! most every few seconds, never silently; it stays in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::wall_ms;
use crate::domain::Trail;
use crate::status::Status;
use crate::store::{HealthChange, Store};

mod recent;
mod task;

use recent::Recent;

/// Trails waiting for the writer task to take them into its buffer. The task
/// takes them every `task::TICK` at the latest, even while a write is in flight,
/// so this only fills when the task itself is starved of CPU.
const QUEUE: usize = 32_768;
/// Health changes waiting for the writer task, which wakes for each.
const HEALTH_QUEUE: usize = 1024;
/// Most unwritten trails kept in memory (those the store has are not); fewer when
/// the retention is smaller, so a trail past retention is never answered from
/// memory either.
const RECENT: usize = 4096;
/// Shortest interval between two warnings about trails lost.
const WARN_EVERY_MS: u64 = 10_000;
/// Unwritten trails held while the store is down, when the config says nothing
/// (`database.trail_buffer`): at 1k calls/s, a minute.
pub const DEFAULT_BUFFER: usize = 65_536;

/// Trails that never reached the store, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// The write queue was full (the writer task was starved).
    pub queue_full: u64,
    /// The buffer of unwritten trails (`database.trail_buffer`) was full: the
    /// store was down or slower than the calls for too long. The oldest go.
    pub buffer_full: u64,
    /// Still unwritten at shutdown: the store failed the last write.
    pub write_failed: u64,
}

/// Hands writes to the background task and keeps the trails it has not written.
#[derive(Debug)]
pub struct Recorder {
    trails: mpsc::Sender<Arc<Trail>>,
    health: mpsc::Sender<HealthChange>,
    shutdown: watch::Sender<bool>,
    recent: Arc<Recent>,
    losses: Arc<Losses>,
}

/// Counters of lost trails, shared with the task, and the time of the last warning.
#[derive(Debug, Default)]
struct Losses {
    queue_full: AtomicU64,
    buffer_full: AtomicU64,
    write_failed: AtomicU64,
    last_warning_ms: AtomicU64,
}

// === impl Recorder ===

impl Recorder {
    /// Starts the writer task over `store`, keeping `retention` trails in the
    /// store (and at most that many in memory), reporting the store's state to
    /// `status`, with the default buffer of unwritten trails.
    pub fn spawn(store: Store, retention: u32, status: Status) -> (Arc<Self>, JoinHandle<()>) {
        Self::spawn_buffered(store, retention, DEFAULT_BUFFER, status)
    }

    /// As [`Recorder::spawn`], holding at most `buffer` unwritten trails (at
    /// least one) while the store is down or slow.
    pub fn spawn_buffered(
        store: Store,
        retention: u32,
        buffer: usize,
        status: Status,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let (trails, trails_rx) = mpsc::channel(QUEUE);
        let (health, health_rx) = mpsc::channel(HEALTH_QUEUE);
        let (shutdown, stop) = watch::channel(false);
        let losses = Arc::new(Losses::default());
        let recent = Arc::new(Recent::new(RECENT.min(retention as usize)));
        let recorder = Arc::new(Self {
            trails,
            health,
            shutdown,
            recent: recent.clone(),
            losses: losses.clone(),
        });
        let task = tokio::spawn(task::write_loop(
            task::Writer::new(store, retention, buffer, status, losses, recent),
            task::Queues {
                trails: trails_rx,
                health: health_rx,
            },
            stop,
        ));
        (recorder, task)
    }

    /// Queues a health change. Waits for room: health changes are never dropped.
    pub async fn health(&self, change: HealthChange) {
        if self.health.send(change).await.is_err() {
            tracing::error!("credential health change lost: the writer has stopped");
        }
    }

    /// Keeps a trail in memory and queues it for the store. Never waits: when the
    /// queue is full the stored copy is dropped (counted, and warned about), the
    /// memory copy stays.
    pub fn trail(&self, trail: Trail) {
        let trail = Arc::new(trail);
        self.recent.keep(trail.clone());
        if self.trails.try_send(trail).is_err() {
            self.losses.queue_full.fetch_add(1, Ordering::Relaxed);
            self.losses.warn();
        }
    }

    /// A trail recorded since the start that the store does not have yet.
    pub fn recent(&self, request_id: &str) -> Option<Arc<Trail>> {
        self.recent.get(request_id)
    }

    /// Trails that never reached the store since the start.
    pub fn dropped(&self) -> Dropped {
        self.losses.counts()
    }

    /// Asks the writer to flush what is queued and stop.
    pub fn close(&self) {
        let _ = self.shutdown.send(true);
    }
}

// === impl Losses ===

impl Losses {
    fn counts(&self) -> Dropped {
        Dropped {
            queue_full: self.queue_full.load(Ordering::Relaxed),
            buffer_full: self.buffer_full.load(Ordering::Relaxed),
            write_failed: self.write_failed.load(Ordering::Relaxed),
        }
    }

    /// Warns with the totals, at most once per `WARN_EVERY_MS`: a full queue at
    /// thousands of calls a second must not also flood the log.
    fn warn(&self) {
        let now = wall_ms();
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < WARN_EVERY_MS
            || self
                .last_warning_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let Dropped {
            queue_full,
            buffer_full,
            write_failed,
        } = self.counts();
        tracing::warn!(
            queue_full,
            buffer_full,
            write_failed,
            "trails lost to the store since the start (kept in memory only); see switchyard_trails_dropped_total"
        );
    }
}

#[cfg(test)]
mod tests;
