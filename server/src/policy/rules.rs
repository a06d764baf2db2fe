//! The rule table: for each error class, what happens to the key that failed,
//! whether the same key is tried again, and where the run goes next. One table
//! for every caller; [`super::Run`] interprets it and never looks at who calls.
//!
//! The README's error-class table is rendered from this one
//! ([`error_class_table`]), and a test fails when they differ: the two cannot
//! drift. Each variant's words live next to it, so changing a rule changes the
//! rendered row.
//!
//! Pure data: no state, no I/O. The interpretation (counters, budget, jitter)
//! lives in `run/decide.rs`.

use super::PolicyConfig;
use crate::classify;
use crate::domain::{Action, ErrorClass, FailureReason};

// === The table ===

/// What the policy does after a failure of one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rule {
    /// First refresh the credential, once per request, when it is refreshable;
    /// then the same key is tried again. Only when that does not apply (a static
    /// key, or already refreshed) do the other fields apply.
    pub(super) refresh_first: bool,
    /// What happens to the key that failed.
    pub(super) key: KeyFate,
    /// Whether the same key is tried again.
    pub(super) again: Again,
    /// Where the run goes when the same key is not tried again.
    pub(super) then: Then,
}

/// The rule of each class, read as a table: (class, credential state) -> decision.
pub(super) fn rule(class: ErrorClass) -> Rule {
    use Again::{Backoff, Never, OnceAfterRetryAfter};
    use KeyFate::{
        CoolDown, CountFailure, CountFailureAndSkip, EjectAsAskedElseCount, Keep, MarkDead,
        SkipForRequest,
    };
    use Then::{NextCandidate, ReturnToCaller, RotateElseNext, Succeed};
    let row = |refresh_first, key, again, then| Rule {
        refresh_first,
        key,
        again,
        then,
    };
    match class {
        ErrorClass::None => row(false, Keep, Never, Succeed),
        ErrorClass::Auth => row(true, CountFailureAndSkip, Never, RotateElseNext),
        ErrorClass::AuthTerminal => row(true, MarkDead, Never, RotateElseNext),
        ErrorClass::Forbidden => row(false, SkipForRequest, Never, RotateElseNext),
        ErrorClass::Billing => row(false, CoolDown, Never, RotateElseNext),
        ErrorClass::RateLimit => row(
            false,
            EjectAsAskedElseCount,
            OnceAfterRetryAfter,
            RotateElseNext,
        ),
        ErrorClass::Overloaded
        | ErrorClass::Server
        | ErrorClass::Transport
        | ErrorClass::Unknown => row(false, CountFailure, Backoff, NextCandidate),
        ErrorClass::ContextOverflow => row(
            false,
            Keep,
            Never,
            ReturnToCaller(FailureReason::ContextOverflow),
        ),
        ErrorClass::ContentPolicy => row(
            false,
            Keep,
            Never,
            ReturnToCaller(FailureReason::ContentPolicy),
        ),
        ErrorClass::ModelUnavailable | ErrorClass::InvalidRequest => {
            row(false, Keep, Never, NextCandidate)
        }
    }
}

/// The rule of every class once a streamed answer's first token reached the
/// caller: no other candidate may continue a half-delivered answer.
pub(super) const AFTER_FIRST_TOKEN: Rule = Rule {
    refresh_first: false,
    key: KeyFate::Keep,
    again: Again::Never,
    then: Then::StopStream,
};

/// What happens to the key that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyFate {
    /// Nothing: the key is not at fault.
    Keep,
    /// One more failure in a row; the class's threshold ejects it.
    CountFailure,
    /// One more failure in a row, and not used again by this request.
    CountFailureAndSkip,
    /// Dead for good (persisted).
    MarkDead,
    /// Not used again by this request; no persistent cooldown.
    SkipForRequest,
    /// Cooled down at once: the provider's reset time, else the billing cooldown.
    CoolDown,
    /// Ejected at once for the provider's `Retry-After`, else one more failure
    /// in a row; not used again by this request either way.
    EjectAsAskedElseCount,
}

/// Whether the same key is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Again {
    /// No.
    Never,
    /// Once, after the provider's `Retry-After`, when it is short and fits the
    /// budget. Decided before the key's fate: waiting as asked is not a failure.
    OnceAfterRetryAfter,
    /// Up to `max_retries` times with jittered exponential backoff. Decided after
    /// the key's fate: an ejected key is not retried.
    Backoff,
}

/// Where the run goes when the same key is not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// The attempt answered.
    Succeed,
    /// The provider's next live key, else the next candidate.
    RotateElseNext,
    /// The next candidate; a key ejected by this failure rotates first.
    NextCandidate,
    /// End the run: the caller must change the request. Carries its reason.
    ReturnToCaller(FailureReason),
    /// End the run: a streamed answer broke off after text reached the caller.
    StopStream,
}

// === Decisions ===

/// What the policy decided after an outcome: the trail's action, and for a
/// decision that ends the run, the reason the caller gets. The run's finish
/// comes from here, never from reading the trail back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// The attempt answered.
    Succeed,
    /// The same candidate and key again (after the run's pending delay).
    RetrySame,
    /// Refresh the key, then try it again.
    RefreshAndRetry,
    /// The provider's next live key (already selected).
    RotateCredential,
    /// The next candidate.
    NextCandidate,
    /// End the run with this reason.
    ReturnToCaller(FailureReason),
    /// End a streamed run after its first token.
    StopStream,
}

impl Decision {
    /// The trail's action.
    pub(super) fn action(self) -> Action {
        match self {
            Decision::Succeed => Action::Succeed,
            Decision::RetrySame => Action::RetrySame,
            Decision::RefreshAndRetry => Action::RefreshAndRetry,
            Decision::RotateCredential => Action::RotateCredential,
            Decision::NextCandidate => Action::NextCandidate,
            Decision::ReturnToCaller(_) => Action::ReturnToCaller,
            Decision::StopStream => Action::StopStream,
        }
    }
}

// === The README's table ===

/// The rows of the README's table, in its order (`none` is not a failure).
const ROWS: [ErrorClass; 13] = [
    ErrorClass::Auth,
    ErrorClass::AuthTerminal,
    ErrorClass::Forbidden,
    ErrorClass::Billing,
    ErrorClass::RateLimit,
    ErrorClass::Overloaded,
    ErrorClass::Server,
    ErrorClass::Transport,
    ErrorClass::Unknown,
    ErrorClass::ContextOverflow,
    ErrorClass::ContentPolicy,
    ErrorClass::ModelUnavailable,
    ErrorClass::InvalidRequest,
];

/// The README's error-class table (section "The policy"), rendered from
/// [`rule`] and the classifier's own description of each class.
pub fn error_class_table() -> String {
    let mut out = String::from(
        "| class | from | refresh first | the key | same key again | then |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut line = |class: &str, from: &str, rule: Rule| {
        out.push_str(&format!(
            "| {class} | {from} | {} | {} | {} | {} |\n",
            if rule.refresh_first {
                "once per request, if refreshable; then the same key again"
            } else {
                "no"
            },
            rule.key.describe(),
            rule.again.describe(),
            rule.then.describe(rule.key),
        ));
    };
    for class in ROWS {
        let name = format!("`{}`", class.as_str());
        line(&name, &classify::signals_of(class), rule(class));
    }
    line(
        "any, after a stream's first token",
        "dropped connection, error event, idle timeout, missing end event",
        AFTER_FIRST_TOKEN,
    );
    out
}

impl KeyFate {
    fn describe(self) -> String {
        let hours = PolicyConfig::default().billing_cooldown_ms / 3_600_000;
        let text = match self {
            KeyFate::Keep => "untouched",
            KeyFate::CountFailure => "counts a failure (see *Outlier detection*)",
            KeyFate::CountFailureAndSkip => {
                "counts a failure (see *Outlier detection*); not used again in this request"
            }
            KeyFate::MarkDead => "marked **dead** (persisted, never used again until replaced)",
            KeyFate::SkipForRequest => "not used again in this request; no cooldown",
            KeyFate::CoolDown => {
                return format!(
                    "cooled down at once until the provider's reset time, else \
                     `billing_cooldown` ({hours} h), at most `max_cooldown`"
                );
            }
            KeyFate::EjectAsAskedElseCount => {
                "with a `Retry-After` or reset time, ejected at once for that long (at most \
                 `max_cooldown`); without one, counts a failure; not used again in this request"
            }
        };
        text.into()
    }
}

impl Again {
    fn describe(self) -> String {
        match self {
            Again::Never => "no".into(),
            Again::OnceAfterRetryAfter => {
                "once, after `Retry-After`, if it is at most `rate_limit_max_wait` and fits the \
                 remaining budget"
                    .into()
            }
            Again::Backoff => format!(
                "up to `max_retries` ({}) times with jittered exponential backoff, unless ejected",
                PolicyConfig::default().max_retries
            ),
        }
    }
}

impl Then {
    fn describe(self, key: KeyFate) -> String {
        match self {
            Then::Succeed => "succeed".into(),
            Then::RotateElseNext => "next live key, else next candidate".into(),
            Then::NextCandidate if key == KeyFate::CountFailure => {
                "next candidate (an ejected key: next live key, else next candidate)".into()
            }
            Then::NextCandidate => "next candidate".into(),
            Then::ReturnToCaller(reason) => format!(
                "**return to the caller** with `{}`: {}",
                reason.as_str().to_ascii_uppercase(),
                caller_must(reason)
            ),
            Then::StopStream => format!(
                "**stop the stream** (`stop_stream`) with `{}`: no other candidate may continue \
                 a half-delivered answer",
                FailureReason::StreamInterrupted
                    .as_str()
                    .to_ascii_uppercase()
            ),
        }
    }
}

/// What the caller must do about a request returned to it, for the trail and
/// the README.
pub(super) fn caller_must(reason: FailureReason) -> &'static str {
    match reason {
        FailureReason::ContextOverflow => "the caller must shrink the request",
        FailureReason::ContentPolicy => "the caller must change the request",
        FailureReason::AllCandidatesFailed
        | FailureReason::DeadlineExhausted
        | FailureReason::StreamInterrupted => "the caller may try again later",
    }
}

#[cfg(test)]
mod tests;
