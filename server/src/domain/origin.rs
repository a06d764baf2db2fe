//! Where a candidate comes from in the caller's configuration, and its label
//! (`main`, `main_fallback[i]`, `task`, `task_chain[i]`) in trails and answers.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

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

const MAIN_FALLBACK: &str = "main_fallback[";
const TASK_CHAIN: &str = "task_chain[";

// === impl Origin ===

impl Origin {
    /// The label, built without `fmt`: every request's trail is stored with its
    /// candidates' labels.
    pub fn label(self) -> Cow<'static, str> {
        let indexed = |prefix: &str, i: usize| {
            Cow::Owned([prefix, itoa::Buffer::new().format(i), "]"].concat())
        };
        match self {
            Origin::Main => Cow::Borrowed("main"),
            Origin::MainFallback(i) => indexed(MAIN_FALLBACK, i),
            Origin::Task => Cow::Borrowed("task"),
            Origin::TaskChain(i) => indexed(TASK_CHAIN, i),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// A label that names no origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown candidate origin {0:?}")]
pub struct UnknownOrigin(String);

impl FromStr for Origin {
    type Err = UnknownOrigin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let indexed = |prefix: &str| s.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok();
        match s {
            "main" => Some(Origin::Main),
            "task" => Some(Origin::Task),
            _ => indexed(MAIN_FALLBACK)
                .map(Origin::MainFallback)
                .or_else(|| indexed(TASK_CHAIN).map(Origin::TaskChain)),
        }
        .ok_or_else(|| UnknownOrigin(s.to_owned()))
    }
}

impl serde::Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.label())
    }
}

impl<'de> serde::Deserialize<'de> for Origin {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let label = Cow::<str>::deserialize(deserializer)?;
        label.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_origin_reads_back_from_its_label() {
        for origin in [
            Origin::Main,
            Origin::MainFallback(0),
            Origin::MainFallback(12),
            Origin::Task,
            Origin::TaskChain(3),
        ] {
            let label = origin.label();
            assert_eq!(label, origin.to_string());
            assert_eq!(label.parse::<Origin>(), Ok(origin), "{label}");
            let json = serde_json::to_string(&origin).unwrap();
            assert_eq!(json, format!("\"{label}\""));
            assert_eq!(serde_json::from_str::<Origin>(&json).unwrap(), origin);
        }
        assert_eq!(Origin::MainFallback(2).label(), "main_fallback[2]");
        assert_eq!(Origin::TaskChain(0).label(), "task_chain[0]");
    }

    #[test]
    fn a_label_that_names_no_origin_is_refused() {
        for bad in [
            "",
            "Main",
            "main_fallback[]",
            "main_fallback[x]",
            "task_chain[1",
            "chain[1]",
        ] {
            assert!(bad.parse::<Origin>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Origin>("\"tasks\"").is_err());
    }
}
