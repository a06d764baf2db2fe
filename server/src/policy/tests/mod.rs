//! Table tests of the policy, named as the rules they prove.

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use super::*;
use crate::classify::Classification;
use crate::domain::{Action, Caller, Capabilities, Needs, Origin, Target};

mod budget;
mod candidates;
mod outlier;
mod recovery;
mod streams;

const NOW: Millis = 1_000_000;
const BUDGET: u64 = 60_000;

fn target(provider: &str, model: &str) -> Target {
    Target {
        provider: provider.into(),
        model: model.into(),
    }
}

/// main -> main-fb; task `compression` -> aux-p, chain [chain-a, chain-b].
fn routing() -> Routing {
    let mut tasks = HashMap::new();
    tasks.insert(
        "compression".to_owned(),
        TaskRoute {
            provider: Some("aux-p".into()),
            model: Some("aux-model".into()),
            fallback_chain: vec![target("chain-a", "a-model"), target("chain-b", "b-model")],
            last_resort: true,
            timeout_ms: BUDGET,
        },
    );
    let base_urls = ["main", "main-fb", "aux-p", "chain-a", "chain-b"]
        .into_iter()
        .map(|p| (Arc::from(p), Arc::from(format!("http://{p}.test").as_str())))
        .collect();
    Routing {
        main: target("main", "main-model"),
        main_fallbacks: vec![target("main-fb", "fb-model")],
        main_timeout_ms: BUDGET,
        tasks,
        default_task_timeout_ms: BUDGET,
        base_urls,
        capabilities: HashMap::new(),
    }
}

fn key(id: &str) -> CredentialInfo {
    CredentialInfo::new(id.into())
}

/// One static key per provider, named `<provider>-k1`.
fn creds() -> CredentialView {
    ["main", "main-fb", "aux-p", "chain-a", "chain-b"]
        .into_iter()
        .map(|p| (Arc::from(p), vec![key(&format!("{p}-k1"))]))
        .collect()
}

fn run_for(caller: &Caller, creds: &CredentialView) -> Run {
    let routing = routing();
    let candidates = routing.candidates(caller, None).unwrap();
    Run::new(PolicyConfig::default(), candidates, creds, NOW + BUDGET, 7)
}

fn fail(class: ErrorClass, status: u16) -> Observed {
    Observed::Failure(Classification {
        class,
        http_status: status,
        retry_after_ms: None,
        detail: format!("{status}"),
    })
}

fn fail_after(class: ErrorClass, status: u16, retry_after_ms: u64) -> Observed {
    Observed::Failure(Classification {
        class,
        http_status: status,
        retry_after_ms: Some(retry_after_ms),
        detail: format!("{status}"),
    })
}

fn ok() -> Observed {
    Observed::Success { http_status: 200 }
}

/// Drives a run with scripted outcomes (then successes), like a driver would.
/// Refreshes succeed. Returns the trail as (provider, credential, action) and the finish.
fn drive(run: &mut Run, outcomes: Vec<Observed>) -> (Vec<(String, String, Action)>, Finish) {
    let mut outcomes = outcomes.into_iter();
    let mut now = NOW;
    let finish = loop {
        match run.next(now) {
            Next::Attempt(plan) => {
                now += plan.delay_ms + 10;
                let observed = outcomes.next().unwrap_or_else(ok);
                run.record(now, 10, &observed);
            }
            Next::Refresh { .. } => {
                run.record_refresh(now, 1, &RefreshOutcome::Refreshed);
            }
            Next::Done(finish) => break finish,
        }
    };
    let trail = run
        .steps()
        .iter()
        .map(|s| {
            (
                s.provider.to_string(),
                s.credential_id.as_deref().unwrap_or("").to_owned(),
                s.action,
            )
        })
        .collect();
    (trail, finish)
}

fn step(provider: &str, cred: &str, action: Action) -> (String, String, Action) {
    (provider.to_owned(), cred.to_owned(), action)
}

fn compression() -> Caller {
    Caller::Aux("compression".into())
}
