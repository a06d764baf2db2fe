//! What each step of a trail was ([`StepKind`]): the one definition of "attempt"
//! (a provider was contacted) that the failure message, the HTTP front door's
//! headers and the metrics count by, with refreshes, skips and give-ups apart.
//! Also the cut of a step's whole reason to [`MAX_REASON_CHARS`].
//!
//! Pure: reads and edits [`Step`] values only.

use crate::domain::{Action, ErrorClass, Step};

/// What a trail step was. One definition of "attempt" for every count Switchyard
/// shows: failure messages, the HTTP front door's headers and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// A provider was contacted (whatever it answered).
    Attempt,
    /// A credential refresh, before use or after a refused token: the token
    /// endpoint was contacted, not the provider.
    Refresh,
    /// A candidate that was not tried (a duplicate, or no usable key).
    Skip,
    /// The run stopped with nothing left to try, or no time left.
    GiveUp,
    /// A streamed answer broke off: the end of an attempt already counted.
    StopStream,
}

impl StepKind {
    /// snake_case name, as in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Attempt => "attempt",
            StepKind::Refresh => "refresh",
            StepKind::Skip => "skip",
            StepKind::GiveUp => "give_up",
            StepKind::StopStream => "stop_stream",
        }
    }
}

impl Step {
    /// What this step was. A provider's answer always has a status, or the
    /// `transport` class when there was none; a refresh step has neither (status
    /// 0 and the class `none`, `auth` or `auth_terminal`).
    pub fn kind(&self) -> StepKind {
        match (self.action, &self.credential_id) {
            (Action::StopStream, _) => StepKind::StopStream,
            (Action::SkipCandidate, _) => StepKind::Skip,
            (Action::GiveUp, None) => StepKind::GiveUp,
            (_, None) => StepKind::Skip,
            (_, Some(_))
                if self.http_status == 0
                    && matches!(
                        self.error_class,
                        ErrorClass::None | ErrorClass::Auth | ErrorClass::AuthTerminal
                    ) =>
            {
                StepKind::Refresh
            }
            (_, Some(_)) => StepKind::Attempt,
        }
    }
}

/// Longest trail reason, everything included: the provider's text, notes and the
/// policy's own words. Longer ones are cut in the middle by [`Step::cut_reason`].
pub(crate) const MAX_REASON_CHARS: usize = 200;

/// Longest tail kept whole by [`Step::cut_reason`]: the policy's decision.
const MAX_REASON_TAIL_CHARS: usize = 100;

impl Step {
    /// Cuts the reason to [`MAX_REASON_CHARS`]. The policy appends its decision
    /// after the last `; ` (`credential marked dead`, `cooling down for 3600 s`):
    /// that tail is kept and the provider's text before it is shortened, with `…`
    /// where text was cut. The provider's text was scrubbed of secrets before any
    /// cut, so a cut never leaves part of one.
    pub fn cut_reason(&mut self) {
        let chars = self.reason.chars().count();
        if chars <= MAX_REASON_CHARS {
            return;
        }
        let tail: String = match self.reason.rfind("; ") {
            Some(at) if self.reason[at..].chars().count() <= MAX_REASON_TAIL_CHARS => {
                self.reason[at..].to_owned()
            }
            _ => String::new(),
        };
        let head_chars = MAX_REASON_CHARS - 1 - tail.chars().count();
        let mut cut: String = self.reason.chars().take(head_chars).collect();
        cut.push('…');
        cut.push_str(&tail);
        self.reason = cut;
    }
}

/// Cuts every reason of a trail (see [`Step::cut_reason`]).
pub(crate) fn cut_reasons(mut steps: Vec<Step>) -> Vec<Step> {
    steps.iter_mut().for_each(Step::cut_reason);
    steps
}

/// Steps of a trail counted by [`StepKind`]: `attempts` are provider contacts only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StepCounts {
    /// Steps where a provider was contacted.
    pub attempts: usize,
    /// Credential refreshes.
    pub refreshes: usize,
    /// Candidates skipped.
    pub skips: usize,
    /// Give-up steps (0 or 1).
    pub give_ups: usize,
}

impl StepCounts {
    /// Counts the steps of a trail.
    pub(crate) fn of(steps: &[Step]) -> Self {
        let mut counts = StepCounts::default();
        for step in steps {
            match step.kind() {
                StepKind::Attempt => counts.attempts += 1,
                StepKind::Refresh => counts.refreshes += 1,
                StepKind::Skip => counts.skips += 1,
                StepKind::GiveUp => counts.give_ups += 1,
                StepKind::StopStream => {}
            }
        }
        counts
    }
}

/// Steps that moved away from a failing credential or candidate.
pub fn fallbacks(steps: &[Step]) -> usize {
    steps.iter().filter(|s| s.action.is_fallback()).count()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_long_reason_is_cut_to_200_characters_keeping_the_policys_words() {
        let mut s = step(Some("k"), ErrorClass::Billing, 402, Action::NextCandidate);
        s.reason = format!("402: {}; no retry of an out-of-credit key", "x".repeat(300));
        s.cut_reason();
        assert_eq!(s.reason.chars().count(), MAX_REASON_CHARS, "{}", s.reason);
        assert!(s.reason.starts_with("402: xxx"), "{}", s.reason);
        assert!(
            s.reason.ends_with("x…; no retry of an out-of-credit key"),
            "{}",
            s.reason
        );
        // Without a short tail, the end is cut.
        s.reason = "é".repeat(500);
        s.cut_reason();
        assert_eq!(s.reason.chars().count(), MAX_REASON_CHARS);
        assert!(s.reason.ends_with('…'));
        // A short reason is left alone.
        s.reason = "answered".into();
        s.cut_reason();
        assert_eq!(s.reason, "answered");
    }

    /// A step of provider `p` (none for a give-up), model `m`, and credential `cred`.
    pub(crate) fn step(cred: Option<&str>, class: ErrorClass, status: u16, action: Action) -> Step {
        Step {
            candidate_index: 0,
            provider: if action == Action::GiveUp { "" } else { "p" }.into(),
            model: "m".into(),
            credential_id: cred.map(Into::into),
            error_class: class,
            http_status: status,
            action,
            reason: String::new(),
            duration_ms: 0,
        }
    }

    #[test]
    fn every_kind_of_step_is_told_apart() {
        let k = Some("k");
        let cases = [
            (
                step(k, ErrorClass::None, 200, Action::Succeed),
                StepKind::Attempt,
            ),
            (
                step(k, ErrorClass::Transport, 0, Action::RetrySame),
                StepKind::Attempt,
            ),
            (
                step(k, ErrorClass::Auth, 401, Action::RefreshAndRetry),
                StepKind::Attempt,
            ),
            // Refresh before use, and refreshes that failed: no provider contacted.
            (
                step(k, ErrorClass::None, 0, Action::RefreshAndRetry),
                StepKind::Refresh,
            ),
            (
                step(k, ErrorClass::AuthTerminal, 0, Action::NextCandidate),
                StepKind::Refresh,
            ),
            (
                step(k, ErrorClass::Auth, 0, Action::RotateCredential),
                StepKind::Refresh,
            ),
            (
                step(None, ErrorClass::None, 0, Action::SkipCandidate),
                StepKind::Skip,
            ),
            (
                step(None, ErrorClass::None, 0, Action::GiveUp),
                StepKind::GiveUp,
            ),
            (
                step(k, ErrorClass::Transport, 200, Action::StopStream),
                StepKind::StopStream,
            ),
        ];
        for (s, kind) in &cases {
            assert_eq!(s.kind(), *kind, "{s:?}");
        }
        let steps: Vec<Step> = cases.into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            StepCounts::of(&steps),
            StepCounts {
                attempts: 3,
                refreshes: 3,
                skips: 1,
                give_ups: 1
            }
        );
    }
}
