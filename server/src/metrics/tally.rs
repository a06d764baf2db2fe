//! The per-request counts, kept by the request path itself and read by the
//! exporters when they collect.
//!
//! A synchronous OpenTelemetry counter sorts each measurement's attribute set and
//! looks it up in a SipHash map, under a lock, on every request. Here a request
//! takes one lock and adds to a few small maps keyed by the values it already
//! holds; the attribute sets are built once per series at each collection
//! (`metrics::Metrics` registers observable counters over [`Tally::read`]).

use std::sync::{Arc, Mutex, PoisonError};

use foldhash::HashMap;

use crate::domain::{Action, Caller, ErrorClass, FailureReason, Step};
use crate::steps::StepKind;

/// Finished requests: by task ("" for the primary caller), then by caller kind
/// and outcome (a handful of rows, searched in order).
type Requests = HashMap<Box<str>, Vec<(&'static str, &'static str, u64)>>;

/// The counts since start.
#[derive(Debug, Default)]
pub(super) struct Tally(Mutex<Counts>);

/// What [`Tally`] holds.
#[derive(Debug, Default, Clone)]
pub(super) struct Counts {
    /// Finished requests.
    pub(super) requests: Requests,
    /// Trail steps by kind.
    pub(super) steps: HashMap<StepKind, u64>,
    /// Provider contacts by provider, error class and action.
    pub(super) attempts: HashMap<(Arc<str>, ErrorClass, Action), u64>,
    /// Moves to another credential or candidate, by error class and action.
    pub(super) fallbacks: HashMap<(ErrorClass, Action), u64>,
}

// === impl Tally ===

impl Tally {
    /// Counts a finished request and the steps of its trail.
    pub(super) fn record(&self, caller: &Caller, failure: Option<FailureReason>, steps: &[Step]) {
        let kind = caller.kind();
        let outcome = failure.map_or("succeeded", FailureReason::as_str);
        let task = caller.task().unwrap_or("");
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let rows = match counts.requests.get_mut(task) {
            Some(rows) => rows,
            None => counts.requests.entry(task.into()).or_default(),
        };
        match rows
            .iter_mut()
            .find(|(k, o, _)| *k == kind && *o == outcome)
        {
            Some((_, _, n)) => *n += 1,
            None => rows.push((kind, outcome, 1)),
        }
        for step in steps {
            let kind = step.kind();
            *counts.steps.entry(kind).or_default() += 1;
            // Attempts are provider contacts only (`StepKind`): skips, give-ups and
            // refreshes are counted as steps, never as attempts of a provider "".
            if kind == StepKind::Attempt {
                let key = (step.provider.clone(), step.error_class, step.action);
                *counts.attempts.entry(key).or_default() += 1;
            }
            if step.action.is_fallback() {
                *counts
                    .fallbacks
                    .entry((step.error_class, step.action))
                    .or_default() += 1;
            }
        }
    }

    /// What `f` takes from the counts, under the lock: each collector copies out
    /// the one map it reports, so the request path never waits on the exporters.
    pub(super) fn read<R>(&self, f: impl FnOnce(&Counts) -> R) -> R {
        f(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attempt of provider `p` with credential `k`.
    fn attempt(class: ErrorClass, status: u16, action: Action) -> Step {
        crate::steps::tests::step(Some("k"), class, status, action)
    }

    #[test]
    fn requests_and_steps_are_counted_by_their_labels() {
        let tally = Tally::default();
        let ok = attempt(ErrorClass::None, 200, Action::Succeed);
        let rotated = attempt(ErrorClass::Auth, 401, Action::RotateCredential);
        tally.record(&Caller::Primary, None, std::slice::from_ref(&ok));
        tally.record(&Caller::Aux("vision".into()), None, &[rotated, ok.clone()]);
        tally.record(
            &Caller::Aux("vision".into()),
            Some(FailureReason::DeadlineExhausted),
            &[],
        );
        let c = tally.read(Counts::clone);
        assert_eq!(c.requests[""], vec![("primary", "succeeded", 1)]);
        assert_eq!(
            c.requests["vision"],
            vec![("aux", "succeeded", 1), ("aux", "deadline_exhausted", 1)]
        );
        assert_eq!(c.steps[&StepKind::Attempt], 3);
        assert_eq!(
            c.attempts[&("p".into(), ErrorClass::None, Action::Succeed)],
            2
        );
        assert_eq!(
            c.attempts[&("p".into(), ErrorClass::Auth, Action::RotateCredential)],
            1
        );
        assert_eq!(
            c.fallbacks,
            HashMap::from_iter([((ErrorClass::Auth, Action::RotateCredential), 1)])
        );
    }
}
