//! Trails the store does not have yet, kept in memory so `ExplainFallback` finds
//! a request the moment its response is sent: each is kept from its request's end
//! until the write-behind commits it (then the store answers), or, when it never
//! reaches the store, until newer ones push it out past the cap.
//!
//! The request path only appends: no hashing, no copy of the id. A lookup scans
//! from the newest; it serves `ExplainFallback` alone, and the list holds only
//! what a batch has not written yet (empty while idle), at most the cap.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use crate::domain::Trail;

/// The unwritten trails, oldest first, at most `cap`.
#[derive(Debug)]
pub(super) struct Recent {
    trails: Mutex<VecDeque<Arc<Trail>>>,
    cap: usize,
}

impl Recent {
    /// Keeps at most `cap` trails (at least one).
    pub(super) fn new(cap: usize) -> Self {
        Self {
            trails: Mutex::new(VecDeque::new()),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Trail>>> {
        self.trails.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `trail`; the oldest goes when the cap is reached.
    pub(super) fn keep(&self, trail: Arc<Trail>) {
        let mut trails = self.lock();
        if trails.len() >= self.cap {
            trails.pop_front();
        }
        trails.push_back(trail);
    }

    /// The trail of `request_id`, if the store does not have it yet.
    pub(super) fn get(&self, request_id: &str) -> Option<Arc<Trail>> {
        self.lock()
            .iter()
            .rev()
            .find(|t| t.request_id == request_id)
            .cloned()
    }

    /// Forgets `written`, now committed: the store answers for them. Batches are
    /// written in the order their trails were kept, so they are usually the
    /// oldest ones.
    pub(super) fn written(&self, written: &[Arc<Trail>]) {
        if written.is_empty() {
            return;
        }
        let mut trails = self.lock();
        let mut batch = written.iter().peekable();
        while let (Some(front), Some(next)) = (trails.front(), batch.peek())
            && Arc::ptr_eq(front, next)
        {
            trails.pop_front();
            batch.next();
        }
        if batch.peek().is_some() {
            // Out of order (a retried batch, or one whose oldest trails were
            // pushed out): by identity.
            let rest: HashSet<*const Trail> = batch.map(Arc::as_ptr).collect();
            trails.retain(|t| !rest.contains(&Arc::as_ptr(t)));
        }
    }

    /// How many trails are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::trail;

    fn kept(recent: &Recent, n: usize) -> Vec<Arc<Trail>> {
        (0..n)
            .map(|i| {
                let t = Arc::new(trail(&format!("r{i}"), i as u64));
                recent.keep(t.clone());
                t
            })
            .collect()
    }

    #[test]
    fn the_oldest_goes_past_the_cap() {
        let recent = Recent::new(3);
        kept(&recent, 5);
        assert_eq!(recent.len(), 3);
        assert!(recent.get("r1").is_none());
        assert_eq!(recent.get("r4").unwrap().request_id, "r4");
        assert_eq!(recent.get("r2").unwrap().request_id, "r2");
    }

    #[test]
    fn written_trails_are_forgotten_in_order_or_not() {
        let recent = Recent::new(10);
        let t = kept(&recent, 6);
        // The oldest two, in order.
        recent.written(&t[..2]);
        assert_eq!(recent.len(), 4);
        assert!(recent.get("r0").is_none() && recent.get("r1").is_none());
        // Out of order: r4 before r2, and one already gone (r0).
        recent.written(&[t[4].clone(), t[2].clone(), t[0].clone()]);
        assert_eq!(recent.len(), 2);
        assert!(recent.get("r3").is_some() && recent.get("r5").is_some());
        assert!(recent.get("r2").is_none() && recent.get("r4").is_none());
    }

    #[test]
    fn a_trail_with_the_same_id_is_not_forgotten_for_another() {
        let recent = Recent::new(10);
        let first = Arc::new(trail("same", 1));
        let second = Arc::new(trail("same", 2));
        recent.keep(first.clone());
        recent.keep(second.clone());
        recent.written(&[first]);
        assert!(Arc::ptr_eq(&recent.get("same").unwrap(), &second));
    }
}
