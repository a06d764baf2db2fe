//! The candidate builder: each caller's ordered candidate list and time budget,
//! derived from the routing table. Pure, like the rest of the policy; the same
//! builder serves the primary caller and every auxiliary task.

use foldhash::HashMap;
use std::borrow::Cow;
use std::sync::Arc;

use crate::domain::{Caller, Candidate, Capabilities, Origin, Target};

/// An auxiliary task's routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRoute {
    /// The task's explicit provider; `None` means `auto` (the main provider).
    pub provider: Option<Arc<str>>,
    /// The task's model; `None` means the main model's.
    pub model: Option<Arc<str>>,
    /// The task's own fallback chain.
    pub fallback_chain: Vec<Target>,
    /// Whether the main model and its fallbacks close the list.
    pub last_resort: bool,
    /// Time budget of one call.
    pub timeout_ms: u64,
}

/// Tasks every deployment knows, configured or not. Unconfigured ones route `auto`.
pub const BUILTIN_TASKS: [&str; 7] = [
    "compression",
    "vision",
    "web_extract",
    "title_generation",
    "approval",
    "mcp",
    "skills_hub",
];

/// Everything the candidate builder needs, derived once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The main agent model.
    pub main: Target,
    /// `model.fallback_providers`.
    pub main_fallbacks: Vec<Target>,
    /// Time budget of a primary call.
    pub main_timeout_ms: u64,
    /// Configured auxiliary tasks.
    pub tasks: HashMap<String, TaskRoute>,
    /// Budget of a built-in task that the config does not mention.
    pub default_task_timeout_ms: u64,
    /// Base URL of every provider, for the duplicate check.
    pub base_urls: HashMap<Arc<str>, Arc<str>>,
    /// Capabilities of the providers that declare some (all, for the others).
    pub capabilities: HashMap<Arc<str>, Capabilities>,
}

/// The caller named a task that is neither built in nor configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task {0:?}")]
pub struct UnknownTask(pub String);

impl Routing {
    /// The task route of an auxiliary caller (a default `auto` route for an
    /// unconfigured built-in task). Borrowed: it is read on every call.
    fn route(&self, task: &str) -> Result<Cow<'_, TaskRoute>, UnknownTask> {
        match self.tasks.get(task) {
            Some(route) => Ok(Cow::Borrowed(route)),
            None if BUILTIN_TASKS.contains(&task) => Ok(Cow::Owned(TaskRoute {
                provider: None,
                model: None,
                fallback_chain: Vec::new(),
                last_resort: true,
                timeout_ms: self.default_task_timeout_ms,
            })),
            None => Err(UnknownTask(task.to_owned())),
        }
    }

    /// Every task a caller may name: the built-in ones and the configured ones, sorted.
    pub fn task_names(&self) -> Vec<String> {
        let mut tasks: Vec<String> = BUILTIN_TASKS
            .iter()
            .map(|t| (*t).to_owned())
            .chain(self.tasks.keys().cloned())
            .collect();
        tasks.sort_unstable();
        tasks.dedup();
        tasks
    }

    /// Time budget of one call of this caller.
    pub fn budget_ms(&self, caller: &Caller) -> Result<u64, UnknownTask> {
        match caller {
            Caller::Primary => Ok(self.main_timeout_ms),
            Caller::Aux(task) => Ok(self.route(task)?.timeout_ms),
        }
    }

    fn candidate(&self, provider: &Arc<str>, model: &Arc<str>, origin: Origin) -> Candidate {
        Candidate {
            provider: provider.clone(),
            model: model.clone(),
            base_url: self
                .base_urls
                .get(provider)
                .cloned()
                .unwrap_or_else(|| "".into()),
            origin,
            capabilities: self.capabilities.get(provider).copied().unwrap_or_default(),
        }
    }

    fn main_candidates(&self, out: &mut Vec<Candidate>) {
        out.push(self.candidate(&self.main.provider, &self.main.model, Origin::Main));
        for (i, t) in self.main_fallbacks.iter().enumerate() {
            out.push(self.candidate(&t.provider, &t.model, Origin::MainFallback(i)));
        }
    }

    /// The caller's ordered candidate list, duplicates included (the [`Run`]
    /// records them as skipped). `model` overrides the first candidate's model.
    pub fn candidates(
        &self,
        caller: &Caller,
        model: Option<&str>,
    ) -> Result<Vec<Candidate>, UnknownTask> {
        let mut out = Vec::with_capacity(4);
        match caller {
            Caller::Primary => self.main_candidates(&mut out),
            Caller::Aux(task) => {
                let route = self.route(task)?;
                let provider = route.provider.as_ref().unwrap_or(&self.main.provider);
                let first_model = route.model.as_ref().unwrap_or(&self.main.model);
                let origin = if route.provider.is_some() {
                    Origin::Task
                } else {
                    Origin::Main
                };
                out.push(self.candidate(provider, first_model, origin));
                for (i, t) in route.fallback_chain.iter().enumerate() {
                    out.push(self.candidate(&t.provider, &t.model, Origin::TaskChain(i)));
                }
                if route.last_resort {
                    self.main_candidates(&mut out);
                }
            }
        }
        if let (Some(model), Some(first)) = (model, out.first_mut()) {
            first.model = model.into();
        }
        Ok(out)
    }
}
