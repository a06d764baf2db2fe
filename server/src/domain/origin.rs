//! Where a candidate comes from in the caller's configuration, and its label
//! (`main`, `main_fallback[i]`, `task`, `task_chain[i]`) in trails and answers.

use std::borrow::Cow;
use std::fmt;

/// Where a candidate comes from in the caller's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The main agent model.
    Main,
    /// `model.fallback_providers[i]`.
    MainFallback(usize),
    /// The task's own provider.
    Task,
    /// `auxiliary.<task>.fallback_chain[i]`.
    TaskChain(usize),
}

// === impl Origin ===

impl Origin {
    /// The label, built without `fmt` (every request's trail holds its candidates'
    /// labels): static for `main` and `task`.
    pub fn label(self) -> Cow<'static, str> {
        let indexed = |prefix: &str, i: usize| {
            Cow::Owned([prefix, itoa::Buffer::new().format(i), "]"].concat())
        };
        match self {
            Origin::Main => Cow::Borrowed("main"),
            Origin::MainFallback(i) => indexed("main_fallback[", i),
            Origin::Task => Cow::Borrowed("task"),
            Origin::TaskChain(i) => indexed("task_chain[", i),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_those_display_gives() {
        for (origin, label) in [
            (Origin::Main, "main"),
            (Origin::MainFallback(0), "main_fallback[0]"),
            (Origin::MainFallback(12), "main_fallback[12]"),
            (Origin::Task, "task"),
            (Origin::TaskChain(3), "task_chain[3]"),
        ] {
            assert_eq!(origin.label(), label);
            assert_eq!(origin.to_string(), label);
        }
    }
}
