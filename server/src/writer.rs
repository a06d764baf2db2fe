//! Write-behind of credential health and request trails: the request path hands
//! them over without touching SQLite; one task writes them in batched transactions
//! and prunes old trails in the same transactions. Recent trails stay in memory so
//! `ExplainFallback` finds a request the moment its response is sent.
//!
//! The task also watches the store: a failed write marks [`Component::Store`]
//! degraded in [`Status`], with the error (which names the file); a write that
//! commits, or a write probe while idle, clears it. Health changes of a failed
//! write are written again with the next one (they are upserts of the latest
//! state, so replaying them is harmless). A trail that never reaches SQLite is
//! counted ([`Recorder::dropped`]) and warned about, at most every few seconds,
//! never silently; it stays in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::wall_ms;
use crate::domain::Trail;
use crate::status::{Component, Status};
use crate::store::{HealthChange, Prune, Store};

/// Trails (and health changes) waiting for the writer: at 10k calls/s, 3 s of a
/// stalled disk.
const QUEUE: usize = 32_768;
const BATCH: usize = 2048;
/// Longest wait of a trail for others to share its transaction.
const LINGER: Duration = Duration::from_millis(50);
/// Most trails kept in memory; fewer when the retention is smaller, so a trail
/// past retention is never answered from memory either.
const RECENT: usize = 4096;
/// Most trails one prune step deletes. Each batch of writes prunes one step in its
/// transaction; a backlog (after the retention was lowered) is pruned a step at a
/// time while the queue is empty, so writes never wait behind it.
const PRUNE_STEP: u32 = 2048;
/// While the store is degraded and nothing is written, a write probe this often
/// tells when it is back.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Shortest interval between two warnings about trails lost.
const WARN_EVERY_MS: u64 = 10_000;
/// Most health changes held for a retry while the store fails (the newest).
const PENDING_MAX: usize = 4096;

enum Write {
    Health(HealthChange),
    Trail(Arc<Trail>),
}

/// Trails that never reached SQLite, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// The write queue was full.
    pub queue_full: u64,
    /// Their transaction failed.
    pub write_failed: u64,
}

/// Hands writes to the background task and keeps recent trails.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Write>,
    shutdown: watch::Sender<bool>,
    recent: Mutex<Recent>,
    recent_cap: usize,
    losses: Arc<Losses>,
}

#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<String>,
    by_id: HashMap<String, Arc<Trail>>,
}

/// Counters of lost trails, shared with the task, and the time of the last warning.
#[derive(Debug, Default)]
struct Losses {
    queue_full: AtomicU64,
    write_failed: AtomicU64,
    last_warning_ms: AtomicU64,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Write::Health(h) => f.debug_tuple("Health").field(h).finish(),
            Write::Trail(t) => f.debug_tuple("Trail").field(&t.request_id).finish(),
        }
    }
}

// === impl Recorder ===

impl Recorder {
    /// Starts the writer task over `store`, keeping `retention` trails in SQLite
    /// (and at most that many in memory), reporting the store's state to `status`.
    pub fn spawn(store: Store, retention: u32, status: Status) -> (Arc<Self>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (shutdown, stop) = watch::channel(false);
        let losses = Arc::new(Losses::default());
        let recorder = Arc::new(Self {
            tx,
            shutdown,
            recent: Mutex::new(Recent::default()),
            recent_cap: RECENT.min(retention as usize).max(1),
            losses: losses.clone(),
        });
        let task = tokio::spawn(write_loop(
            Writer {
                store,
                retention,
                status,
                losses,
                pending: Vec::new(),
            },
            rx,
            stop,
        ));
        (recorder, task)
    }

    /// Queues a health change. Waits for room: health changes are never dropped.
    pub async fn health(&self, change: HealthChange) {
        if self.tx.send(Write::Health(change)).await.is_err() {
            tracing::error!("credential health change lost: the writer has stopped");
        }
    }

    /// Keeps a trail in memory and queues it for SQLite. Never waits: when the
    /// queue is full the SQLite copy is dropped (counted, and warned about), the
    /// memory copy stays.
    pub fn trail(&self, trail: Trail) {
        let trail = Arc::new(trail);
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            while recent.order.len() >= self.recent_cap {
                let Some(old) = recent.order.pop_front() else {
                    break;
                };
                recent.by_id.remove(&old);
            }
            recent.order.push_back(trail.request_id.clone());
            recent.by_id.insert(trail.request_id.clone(), trail.clone());
        }
        if self.tx.try_send(Write::Trail(trail)).is_err() {
            self.losses.queue_full.fetch_add(1, Ordering::Relaxed);
            self.losses.warn();
        }
    }

    /// A trail recorded since the start, if still in memory.
    pub fn recent(&self, request_id: &str) -> Option<Arc<Trail>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.by_id.get(request_id).cloned()
    }

    /// Trails that never reached SQLite since the start.
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
            write_failed,
        } = self.counts();
        tracing::warn!(
            queue_full,
            write_failed,
            "trails lost to SQLite since the start (kept in memory only); see switchyard_trails_dropped_total"
        );
    }
}

/// The task's side: the store, what to keep, where to report.
struct Writer {
    store: Store,
    retention: u32,
    status: Status,
    losses: Arc<Losses>,
    /// Health changes of failed writes, oldest first, written with the next batch.
    pending: Vec<HealthChange>,
}

// === impl Writer ===

impl Writer {
    /// Writes one batch (after the health changes still pending) and prunes one
    /// step in its transaction. Returns whether a prune backlog remains.
    async fn write(&mut self, changes: Vec<HealthChange>, trails: &[Arc<Trail>]) -> bool {
        let prune = Prune {
            keep: self.retention,
            max_rows: PRUNE_STEP,
        };
        let mut changes = changes;
        if !self.pending.is_empty() {
            changes.splice(0..0, std::mem::take(&mut self.pending));
        }
        match self
            .store
            .write_and_prune(&changes, trails, Some(prune))
            .await
        {
            Ok(pruned) => {
                self.status.clear(Component::Store);
                pruned >= u64::from(PRUNE_STEP)
            }
            Err(e) => {
                // The error names the database file.
                self.status.set_degraded(Component::Store, e.to_string());
                if changes.len() > PENDING_MAX {
                    let lost = changes.len() - PENDING_MAX;
                    changes.drain(..lost);
                    tracing::error!(
                        lost,
                        "credential health changes not persisted: too many pending (the newest are kept for a retry; memory holds the state)"
                    );
                }
                self.pending = changes;
                self.losses
                    .write_failed
                    .fetch_add(trails.len() as u64, Ordering::Relaxed);
                if !trails.is_empty() {
                    self.losses.warn();
                }
                false
            }
        }
    }

    /// One prune step on its own, while nothing is queued. Returns whether a
    /// backlog remains.
    async fn prune_step(&self) -> bool {
        match self.store.prune_trails(self.retention, PRUNE_STEP).await {
            Ok(pruned) => pruned >= u64::from(PRUNE_STEP),
            Err(e) => {
                self.status.set_degraded(Component::Store, e.to_string());
                false
            }
        }
    }

    /// While degraded and idle: does a write commit again? The pending health
    /// changes are the probe when there are some.
    async fn probe(&mut self) {
        if !self.pending.is_empty() {
            self.write(Vec::new(), &[]).await;
            return;
        }
        match self.store.probe_write().await {
            Ok(()) => self.status.clear(Component::Store),
            Err(e) => self.status.set_degraded(Component::Store, e.to_string()),
        }
    }
}

async fn write_loop(
    mut writer: Writer,
    mut rx: mpsc::Receiver<Write>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backlog = false;
    loop {
        // Idle work, only while nothing is queued: a prune backlog at once, a
        // probe of a degraded store every PROBE_EVERY.
        let idle = if backlog {
            Some(Duration::ZERO)
        } else if writer.status.reason(Component::Store).is_some() {
            Some(PROBE_EVERY)
        } else {
            None
        };
        let first = tokio::select! {
            biased;
            w = rx.recv() => Some(w),
            _ = stop.wait_for(|s| *s) => Some(None),
            () = sleep_if(idle) => None,
        };
        let Some(first) = first else {
            if backlog {
                backlog = writer.prune_step().await;
            } else {
                writer.probe().await;
            }
            continue;
        };
        let mut batch: Vec<Write> = first.into_iter().collect();
        // Trails wait up to LINGER for company: one transaction (and one fsync) per
        // batch, not per request. Health changes, and shutdown, do not wait.
        let linger = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => {
                    let urgent = batch.iter().any(|w| matches!(w, Write::Health(_)));
                    if batch.is_empty() || urgent || *stop.borrow() {
                        break;
                    }
                    tokio::select! {
                        w = rx.recv() => match w {
                            Some(w) => batch.push(w),
                            None => break,
                        },
                        () = tokio::time::sleep_until(linger) => break,
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        let (mut changes, mut trails) = (Vec::new(), Vec::new());
        for w in batch {
            match w {
                Write::Health(h) => changes.push(h),
                Write::Trail(t) => trails.push(t),
            }
        }
        backlog = writer.write(changes, &trails).await;
    }
}

/// Sleeps for `d`, or forever when `None`.
async fn sleep_if(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
