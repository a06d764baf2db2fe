//! Write-behind of credential health and request trails: the request path hands
//! them over without touching SQLite; one task writes them in batched transactions
//! and prunes old trails. Recent trails stay in memory so `ExplainFallback` finds a
//! request the moment its response is sent.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::domain::Trail;
use crate::store::{HealthChange, Store};

const QUEUE: usize = 8192;
const BATCH: usize = 512;
/// Longest wait of a trail for others to share its transaction.
const LINGER: std::time::Duration = std::time::Duration::from_millis(50);
const RECENT: usize = 4096;

enum Write {
    Health(HealthChange),
    Trail(Arc<Trail>),
}

/// Hands writes to the background task and keeps recent trails.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Write>,
    shutdown: watch::Sender<bool>,
    recent: Mutex<Recent>,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<String>,
    by_id: HashMap<String, Arc<Trail>>,
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
    /// Starts the writer task over `store`, keeping `retention` trails in SQLite.
    pub fn spawn(store: Store, retention: u32) -> (Arc<Self>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (shutdown, stop) = watch::channel(false);
        let recorder = Arc::new(Self {
            tx,
            shutdown,
            recent: Mutex::new(Recent::default()),
            dropped: AtomicU64::new(0),
        });
        let task = tokio::spawn(write_loop(store, retention, rx, stop));
        (recorder, task)
    }

    /// Queues a health change. Waits for room: health changes are never dropped.
    pub async fn health(&self, change: HealthChange) {
        if self.tx.send(Write::Health(change)).await.is_err() {
            tracing::error!("credential health change lost: the writer has stopped");
        }
    }

    /// Keeps a trail in memory and queues it for SQLite. Never waits: when the
    /// queue is full the SQLite copy is dropped (and counted), the memory copy stays.
    pub fn trail(&self, trail: Trail) {
        let trail = Arc::new(trail);
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.order.len() >= RECENT
                && let Some(old) = recent.order.pop_front()
            {
                recent.by_id.remove(&old);
            }
            recent.order.push_back(trail.request_id.clone());
            recent.by_id.insert(trail.request_id.clone(), trail.clone());
        }
        if self.tx.try_send(Write::Trail(trail)).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped = n, "trail queue full; trail kept in memory only");
        }
    }

    /// A trail recorded since the start, if still in memory.
    pub fn recent(&self, request_id: &str) -> Option<Arc<Trail>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.by_id.get(request_id).cloned()
    }

    /// Asks the writer to flush what is queued and stop.
    pub fn close(&self) {
        let _ = self.shutdown.send(true);
    }
}

async fn write_loop(
    store: Store,
    retention: u32,
    mut rx: mpsc::Receiver<Write>,
    mut stop: watch::Receiver<bool>,
) {
    let mut since_prune = 0u32;
    let prune_every = (retention / 10).clamp(1, 1000);
    loop {
        let first = tokio::select! {
            w = rx.recv() => w,
            _ = stop.wait_for(|s| *s) => None,
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
        if let Err(e) = store.write_batch(&changes, &trails).await {
            tracing::error!(error = %e, changes = changes.len(), trails = trails.len(), "write-behind failed");
        }
        since_prune += trails.len() as u32;
        if since_prune >= prune_every {
            since_prune = 0;
            if let Err(e) = store.prune_trails(retention).await {
                tracing::warn!(error = %e, "trail pruning failed");
            }
        }
    }
}
