//! Degradations the service survives but must report: the store refusing writes,
//! a credential held only in memory. Whoever notices one calls
//! [`Status::set_degraded`] with a reason, and [`Status::clear`] once it is over;
//! `app.rs` turns the state into gRPC health (`switchyard.v1.Store`), `metrics.rs`
//! into a gauge, and this module logs each change once.
//!
//! Pure state plus a `watch` channel: no I/O, no knowledge of gRPC or SQLite.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

/// The gRPC health service name that reports durability: `NOT_SERVING` while any
/// component is degraded. Calls are still served from memory meanwhile, so
/// `switchyard.v1.SwitchyardService` stays `SERVING`.
pub(crate) const STORE_HEALTH_SERVICE: &str = "switchyard.v1.Store";

/// A part of the service that can be degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// The SQLite store: writes (trails, credential health) fail.
    Store,
    /// A credential whose latest secret is held only in memory (its rotation could
    /// not be persisted).
    Credentials,
}

impl Component {
    /// Every component, for gauges that report each one.
    pub const ALL: [Component; 2] = [Component::Store, Component::Credentials];

    /// Name used in logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Store => "store",
            Component::Credentials => "credentials",
        }
    }
}

/// The degraded components and why. Cheap to clone; every clone shares the state.
#[derive(Debug, Clone)]
pub struct Status {
    tx: Arc<watch::Sender<BTreeMap<Component, String>>>,
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}

// === impl Status ===

impl Status {
    /// Nothing degraded.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(BTreeMap::new())),
        }
    }

    /// Marks `component` degraded for `reason`. Logs when the state or the reason
    /// changes, not at every call: a failing store would otherwise log per batch.
    pub fn set_degraded(&self, component: Component, reason: impl Into<String>) {
        let reason = reason.into();
        let changed = self.tx.send_if_modified(|map| {
            if map.get(&component) == Some(&reason) {
                return false;
            }
            map.insert(component, reason.clone());
            true
        });
        if changed {
            tracing::error!(component = component.as_str(), %reason, "degraded");
        }
    }

    /// Marks `component` healthy again. Logs only when it was degraded.
    pub fn clear(&self, component: Component) {
        let changed = self
            .tx
            .send_if_modified(|map| map.remove(&component).is_some());
        if changed {
            tracing::info!(component = component.as_str(), "recovered");
        }
    }

    /// Why `component` is degraded, if it is.
    pub fn reason(&self, component: Component) -> Option<String> {
        self.tx.borrow().get(&component).cloned()
    }

    /// Whether any component is degraded.
    pub fn is_degraded(&self) -> bool {
        !self.tx.borrow().is_empty()
    }

    /// Every degraded component with its reason.
    pub fn degraded(&self) -> Vec<(Component, String)> {
        self.tx
            .borrow()
            .iter()
            .map(|(c, r)| (*c, r.clone()))
            .collect()
    }

    /// A receiver that sees every change.
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<Component, String>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_is_degraded_until_cleared_and_clones_share_the_state() {
        let status = Status::new();
        let other = status.clone();
        let mut rx = status.subscribe();
        assert!(!status.is_degraded());
        status.set_degraded(Component::Store, "db: disk I/O error");
        assert!(other.is_degraded());
        assert_eq!(
            other.reason(Component::Store).as_deref(),
            Some("db: disk I/O error")
        );
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        // The same reason again is no change: no log, no wake-up.
        status.set_degraded(Component::Store, "db: disk I/O error");
        assert!(!rx.has_changed().unwrap());
        other.clear(Component::Credentials);
        assert!(!rx.has_changed().unwrap());
        other.clear(Component::Store);
        assert!(rx.has_changed().unwrap());
        assert!(!status.is_degraded());
        assert_eq!(status.degraded(), vec![]);
    }
}
