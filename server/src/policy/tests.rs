//! Table tests of the policy, named as the rules they prove.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::classify::Classification;
use crate::domain::{Action, Caller, Origin, Target};

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

// --- candidate lists ---

#[test]
fn primary_candidates_are_the_main_model_then_its_fallbacks() {
    let list = routing().candidates(&Caller::Primary, None).unwrap();
    let names: Vec<_> = list.iter().map(|c| (&*c.provider, c.origin)).collect();
    assert_eq!(
        names,
        vec![("main", Origin::Main), ("main-fb", Origin::MainFallback(0))]
    );
}

#[test]
fn task_candidates_are_its_provider_then_its_chain_then_the_main_model() {
    let list = routing().candidates(&compression(), None).unwrap();
    let names: Vec<_> = list.iter().map(|c| (&*c.provider, c.origin)).collect();
    assert_eq!(
        names,
        vec![
            ("aux-p", Origin::Task),
            ("chain-a", Origin::TaskChain(0)),
            ("chain-b", Origin::TaskChain(1)),
            ("main", Origin::Main),
            ("main-fb", Origin::MainFallback(0)),
        ]
    );
}

#[test]
fn last_resort_can_be_turned_off_per_task() {
    let mut r = routing();
    r.tasks.get_mut("compression").unwrap().last_resort = false;
    let list = r.candidates(&compression(), None).unwrap();
    assert_eq!(list.len(), 3);
}

#[test]
fn auto_task_starts_with_the_main_provider() {
    let list = routing()
        .candidates(&Caller::Aux("vision".into()), None)
        .unwrap();
    assert_eq!(&*list[0].provider, "main");
    assert_eq!(&*list[0].model, "main-model");
    assert_eq!(list.len(), 3, "main, then last resort main and main-fb");
}

#[test]
fn unknown_task_is_refused() {
    let err = routing()
        .candidates(&Caller::Aux("nope".into()), None)
        .unwrap_err();
    assert_eq!(err, UnknownTask("nope".into()));
}

#[test]
fn model_override_applies_to_the_first_candidate_only() {
    let list = routing().candidates(&compression(), Some("other")).unwrap();
    assert_eq!(&*list[0].model, "other");
    assert_eq!(&*list[1].model, "a-model");
}

// --- the rules ---

#[test]
fn auth_terminal_walks_the_task_chain_then_the_main_model() {
    let mut run = run_for(&compression(), &creds());
    let (trail, finish) = drive(
        &mut run,
        vec![
            fail(ErrorClass::AuthTerminal, 401),
            fail(ErrorClass::AuthTerminal, 401),
            fail(ErrorClass::AuthTerminal, 401),
        ],
    );
    assert_eq!(
        trail,
        vec![
            step("aux-p", "aux-p-k1", Action::NextCandidate),
            step("chain-a", "chain-a-k1", Action::NextCandidate),
            step("chain-b", "chain-b-k1", Action::NextCandidate),
            step("main", "main-k1", Action::Succeed),
        ]
    );
    assert_eq!(finish, Finish::Succeeded);
}

#[test]
fn primary_auth_terminal_takes_the_same_path_shape() {
    let mut run = run_for(&Caller::Primary, &creds());
    let (trail, _) = drive(&mut run, vec![fail(ErrorClass::AuthTerminal, 401)]);
    assert_eq!(
        trail,
        vec![
            step("main", "main-k1", Action::NextCandidate),
            step("main-fb", "main-fb-k1", Action::Succeed),
        ]
    );
}

#[test]
fn auth_terminal_marks_the_key_dead_and_rotates_to_the_next_key() {
    let mut c = creds();
    c.insert("aux-p".into(), vec![key("k1"), key("k2")]);
    let mut run = run_for(&compression(), &c);
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    let effects = run.record(NOW, 5, &fail(ErrorClass::AuthTerminal, 401));
    assert!(
        matches!(&effects[..], [Effect::MarkDead { credential_id, .. }] if &**credential_id == "k1")
    );
    let Next::Attempt(plan) = run.next(NOW) else {
        panic!()
    };
    assert_eq!(&*plan.credential_id, "k2");
    assert_eq!(run.steps()[0].action, Action::RotateCredential);
}

#[test]
fn refreshable_credential_is_refreshed_once_then_cooled_and_rotated() {
    let mut c = creds();
    let mut k1 = key("k1");
    k1.refreshable = true;
    c.insert("main".into(), vec![k1, key("k2")]);
    let mut run = run_for(&Caller::Primary, &c);
    let (trail, _) = drive(
        &mut run,
        vec![fail(ErrorClass::Auth, 401), fail(ErrorClass::Auth, 401)],
    );
    assert_eq!(
        trail,
        vec![
            step("main", "k1", Action::RefreshAndRetry),
            step("main", "k1", Action::RotateCredential),
            step("main", "k2", Action::Succeed),
        ]
    );
}

#[test]
fn failed_terminal_refresh_marks_dead_and_moves_on() {
    let mut c = creds();
    let mut k1 = key("k1");
    k1.refreshable = true;
    c.insert("aux-p".into(), vec![k1]);
    let mut run = run_for(&compression(), &c);
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    run.record(NOW, 1, &fail(ErrorClass::AuthTerminal, 401));
    let Next::Refresh { credential_id } = run.next(NOW) else {
        panic!()
    };
    assert_eq!(&*credential_id, "k1");
    let effects = run.record_refresh(NOW, 1, &RefreshOutcome::Terminal("invalid_grant".into()));
    assert!(matches!(&effects[..], [Effect::MarkDead { .. }]));
    let Next::Attempt(plan) = run.next(NOW) else {
        panic!()
    };
    assert_eq!(&*plan.candidate.provider, "chain-a");
}

#[test]
fn a_refresh_still_running_at_the_deadline_gives_up_with_its_step_and_no_effect() {
    let mut c = creds();
    let mut k1 = key("k1");
    k1.refreshable = true;
    c.insert("aux-p".into(), vec![k1]);
    let mut run = run_for(&compression(), &c);
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    run.record(NOW, 1, &fail(ErrorClass::Auth, 401));
    let Next::Refresh { .. } = run.next(NOW) else {
        panic!()
    };
    let effects = run.record_refresh(
        NOW,
        900,
        &RefreshOutcome::StillRunning("the refresh was still running after 900 ms".into()),
    );
    assert!(
        effects.is_empty(),
        "the credential is not blamed: {effects:?}"
    );
    assert_eq!(
        run.next(NOW),
        Next::Done(Finish::Failed(FailureReason::DeadlineExhausted))
    );
    let last = run.steps().last().unwrap();
    assert_eq!(last.action, Action::GiveUp);
    assert_eq!(last.credential_id.as_deref(), Some("k1"));
    assert!(last.reason.contains("still running"), "{}", last.reason);
}

#[test]
fn billing_skips_the_key_without_retrying_it_and_cools_it_down() {
    let mut run = run_for(&Caller::Primary, &creds());
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    let effects = run.record(NOW, 1, &fail(ErrorClass::Billing, 402));
    assert_eq!(
        effects,
        vec![Effect::Cooldown {
            credential_id: "main-k1".into(),
            until: NOW + 3_600_000,
            class: ErrorClass::Billing
        }]
    );
    let Next::Attempt(plan) = run.next(NOW) else {
        panic!()
    };
    assert_eq!(&*plan.candidate.provider, "main-fb");
}

#[test]
fn billing_cooldown_uses_the_provider_reset_time() {
    let mut run = run_for(&Caller::Primary, &creds());
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    let effects = run.record(NOW, 1, &fail_after(ErrorClass::Billing, 402, 90_000));
    assert!(matches!(effects[0], Effect::Cooldown { until, .. } if until == NOW + 90_000));
}

#[test]
fn rate_limit_with_a_short_retry_after_retries_once() {
    let mut run = run_for(&Caller::Primary, &creds());
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    run.record(NOW, 1, &fail_after(ErrorClass::RateLimit, 429, 300));
    let Next::Attempt(plan) = run.next(NOW) else {
        panic!()
    };
    assert_eq!((&*plan.credential_id, plan.delay_ms), ("main-k1", 300));
    // A second 429 cools the key and moves on, even with a short Retry-After.
    let effects = run.record(NOW + 300, 1, &fail_after(ErrorClass::RateLimit, 429, 300));
    assert!(matches!(effects[0], Effect::Eject { until, .. } if until == NOW + 600));
    let Next::Attempt(plan) = run.next(NOW) else {
        panic!()
    };
    assert_eq!(&*plan.candidate.provider, "main-fb");
}

#[test]
fn rate_limit_with_a_long_retry_after_cools_the_key_and_moves_on() {
    let mut run = run_for(&Caller::Primary, &creds());
    let (trail, _) = drive(
        &mut run,
        vec![fail_after(ErrorClass::RateLimit, 429, 3_600_000)],
    );
    assert_eq!(trail[0].2, Action::NextCandidate);
}

#[test]
fn rate_limit_retry_after_beyond_the_budget_is_not_waited_for() {
    let routing = routing();
    let candidates = routing.candidates(&Caller::Primary, None).unwrap();
    let mut run = Run::new(
        PolicyConfig::default(),
        candidates,
        &creds(),
        NOW + 1_000,
        7,
    );
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    run.record(NOW, 1, &fail_after(ErrorClass::RateLimit, 429, 5_000));
    assert_eq!(run.steps()[0].action, Action::NextCandidate);
}

#[test]
fn overloaded_three_times_gives_two_retries_then_the_next_candidate() {
    let mut run = run_for(&Caller::Primary, &creds());
    let (trail, finish) = drive(
        &mut run,
        vec![
            fail(ErrorClass::Overloaded, 529),
            fail(ErrorClass::Overloaded, 529),
            fail(ErrorClass::Overloaded, 529),
        ],
    );
    assert_eq!(
        trail,
        vec![
            step("main", "main-k1", Action::RetrySame),
            step("main", "main-k1", Action::RetrySame),
            step("main", "main-k1", Action::NextCandidate),
            step("main-fb", "main-fb-k1", Action::Succeed),
        ]
    );
    assert_eq!(finish, Finish::Succeeded);
}

#[test]
fn backoff_is_exponential_jittered_and_capped() {
    let run = run_for(&Caller::Primary, &creds());
    for n in 0..10 {
        let exp = (250u64 << n).min(5_000);
        let b = run.backoff(n);
        assert!(b >= exp / 2 && b <= exp, "n={n} b={b} exp={exp}");
    }
}

#[test]
fn context_overflow_returns_to_the_caller_with_zero_fallbacks() {
    let mut run = run_for(&compression(), &creds());
    let (trail, finish) = drive(&mut run, vec![fail(ErrorClass::ContextOverflow, 400)]);
    assert_eq!(
        trail,
        vec![step("aux-p", "aux-p-k1", Action::ReturnToCaller)]
    );
    assert_eq!(finish, Finish::Failed(FailureReason::ContextOverflow));
}

#[test]
fn content_policy_returns_to_the_caller() {
    let mut run = run_for(&Caller::Primary, &creds());
    let (_, finish) = drive(&mut run, vec![fail(ErrorClass::ContentPolicy, 400)]);
    assert_eq!(finish, Finish::Failed(FailureReason::ContentPolicy));
}

#[test]
fn model_unavailable_moves_to_the_next_candidate_without_touching_the_key() {
    let mut run = run_for(&Caller::Primary, &creds());
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    let effects = run.record(NOW, 1, &fail(ErrorClass::ModelUnavailable, 404));
    assert!(effects.is_empty());
    assert_eq!(run.steps()[0].action, Action::NextCandidate);
}

#[test]
fn forbidden_rotates_without_a_persistent_cooldown() {
    let mut c = creds();
    c.insert("main".into(), vec![key("k1"), key("k2")]);
    let mut run = run_for(&Caller::Primary, &c);
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    let effects = run.record(NOW, 1, &fail(ErrorClass::Forbidden, 403));
    assert!(effects.is_empty());
    let Next::Attempt(plan) = run.next(NOW) else {
        panic!()
    };
    assert_eq!(&*plan.credential_id, "k2");
}

#[test]
fn duplicate_candidates_are_skipped_and_recorded() {
    let mut r = routing();
    r.tasks.get_mut("compression").unwrap().fallback_chain =
        vec![target("main", "main-model"), target("chain-a", "a-model")];
    let candidates = r.candidates(&compression(), None).unwrap();
    let mut run = Run::new(
        PolicyConfig::default(),
        candidates,
        &creds(),
        NOW + BUDGET,
        7,
    );
    let all = vec![fail(ErrorClass::Server, 500); 20];
    let (trail, finish) = drive(&mut run, all);
    let skips: Vec<_> = run
        .steps()
        .iter()
        .filter(|s| s.action == Action::SkipCandidate)
        .map(|s| (s.candidate_index, s.reason.clone()))
        .collect();
    assert_eq!(
        skips,
        vec![(3, "duplicate of candidate 1 (main main-model)".to_owned())]
    );
    assert_eq!(finish, Finish::Failed(FailureReason::AllCandidatesFailed));
    assert_eq!(trail.last().unwrap().2, Action::GiveUp);
}

#[test]
fn dead_and_cooling_credentials_are_skipped_without_a_call() {
    let mut c = creds();
    c.get_mut("aux-p").unwrap()[0].dead = true;
    c.get_mut("chain-a").unwrap()[0].cooldown_until = Some(NOW + 1);
    let mut run = run_for(&compression(), &c);
    let (trail, _) = drive(&mut run, vec![]);
    assert_eq!(
        trail,
        vec![
            step("aux-p", "", Action::SkipCandidate),
            step("chain-a", "", Action::SkipCandidate),
            step("chain-b", "chain-b-k1", Action::Succeed),
        ]
    );
    assert_eq!(run.steps()[0].reason, "no live credential (1 dead)");
    assert_eq!(run.steps()[1].reason, "no live credential (1 cooling down)");
}

#[test]
fn an_expired_cooldown_makes_the_key_live_again() {
    let mut c = creds();
    c.get_mut("main").unwrap()[0].cooldown_until = Some(NOW);
    let mut run = run_for(&Caller::Primary, &c);
    let Next::Attempt(plan) = run.next(NOW) else {
        panic!()
    };
    assert_eq!(&*plan.credential_id, "main-k1");
}

#[test]
fn no_attempt_starts_that_cannot_finish() {
    let routing = routing();
    let candidates = routing.candidates(&Caller::Primary, None).unwrap();
    let cfg = PolicyConfig::default();
    let mut run = Run::new(cfg, candidates, &creds(), NOW + cfg.min_attempt_ms - 1, 7);
    assert_eq!(
        run.next(NOW),
        Next::Done(Finish::Failed(FailureReason::DeadlineExhausted))
    );
    assert_eq!(run.steps()[0].action, Action::GiveUp);
}

#[test]
fn running_out_of_time_on_the_last_candidate_is_a_deadline_failure() {
    let mut r = routing();
    r.main_fallbacks.clear();
    let candidates = r.candidates(&Caller::Primary, None).unwrap();
    let mut run = Run::new(PolicyConfig::default(), candidates, &creds(), NOW + 300, 7);
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    // A timeout that used most of the budget: no room for a backoff retry.
    run.record(NOW + 250, 250, &fail(ErrorClass::Transport, 0));
    assert_eq!(run.steps()[0].action, Action::NextCandidate);
    assert_eq!(
        run.next(NOW + 250),
        Next::Done(Finish::Failed(FailureReason::DeadlineExhausted))
    );
}

#[test]
fn attempt_budget_is_what_is_left_after_the_delay() {
    let mut run = run_for(&Caller::Primary, &creds());
    let Next::Attempt(plan) = run.next(NOW + 1_000) else {
        panic!()
    };
    assert_eq!(plan.budget_ms, BUDGET - 1_000);
}

#[test]
fn every_candidate_failing_gives_up_with_the_full_trail() {
    let mut run = run_for(&compression(), &creds());
    let (trail, finish) = drive(&mut run, vec![fail(ErrorClass::InvalidRequest, 400); 5]);
    assert_eq!(trail.len(), 6);
    assert_eq!(trail[5], step("", "", Action::GiveUp));
    assert_eq!(finish, Finish::Failed(FailureReason::AllCandidatesFailed));
}

/// The heart of the project: for every error class, the primary caller and an
/// auxiliary caller whose first candidate has the same credential state take the
/// same action, produce the same effects and plan the same kind of next step.
#[test]
fn every_error_class_gets_the_same_action_for_primary_and_auxiliary_callers() {
    for (refreshable, failures) in [(false, 0), (true, 0), (false, 4), (true, 4)] {
        for pool_size in [1usize, 2] {
            for class in ErrorClass::ALL {
                for retry_after in [None, Some(100), Some(3_600_000)] {
                    let outcome = |_: ()| match class {
                        ErrorClass::None => ok(),
                        _ => Observed::Failure(Classification {
                            class,
                            http_status: 499,
                            retry_after_ms: retry_after,
                            detail: "x".into(),
                        }),
                    };
                    let mut results = Vec::new();
                    for (caller, provider) in [(Caller::Primary, "main"), (compression(), "aux-p")]
                    {
                        let mut c = creds();
                        let pool = (0..pool_size)
                            .map(|i| CredentialInfo {
                                refreshable,
                                failures,
                                failing_class: Some(class),
                                ..key(&format!("k{i}"))
                            })
                            .collect();
                        c.insert(provider.into(), pool);
                        let mut run = run_for(&caller, &c);
                        let Next::Attempt(_) = run.next(NOW) else {
                            panic!()
                        };
                        let effects = run.record(NOW, 1, &outcome(()));
                        let next = match run.next(NOW) {
                            Next::Attempt(p) if p.candidate_index == 0 => format!(
                                "attempt same candidate, cred={} delay={}",
                                p.credential_id, p.delay_ms
                            ),
                            // The next candidates differ by construction (main-fb vs chain-a).
                            Next::Attempt(p) => format!(
                                "attempt candidate {} delay={}",
                                p.candidate_index, p.delay_ms
                            ),
                            Next::Refresh { credential_id } => format!("refresh {credential_id}"),
                            Next::Done(f) => format!("done {f:?}"),
                        };
                        results.push((run.steps()[0].action, effects, next));
                    }
                    assert_eq!(
                        results[0], results[1],
                        "class {class:?} refreshable={refreshable} failures={failures} pool={pool_size} retry_after={retry_after:?}"
                    );
                }
            }
        }
    }
}

// --- streams ---

#[test]
fn a_stream_failing_after_its_first_token_stops_without_failover_for_every_caller() {
    for caller in [Caller::Primary, compression()] {
        for class in ErrorClass::ALL {
            let mut run = run_for(&caller, &creds());
            // The first candidate fails before any token, the second commits.
            let (_, finish) = drive(&mut run, vec![fail(ErrorClass::AuthTerminal, 401)]);
            assert_eq!(finish, Finish::Succeeded);
            let committed = run.steps().last().cloned().unwrap();
            run.record_interrupted(
                40,
                &Classification {
                    class,
                    http_status: 200,
                    retry_after_ms: None,
                    detail: "connection reset".into(),
                },
            );
            assert_eq!(
                run.next(NOW + 100),
                Next::Done(Finish::Failed(FailureReason::StreamInterrupted)),
                "{caller} {class:?}"
            );
            let last = run.steps().last().unwrap();
            assert_eq!(last.action, Action::StopStream);
            assert_eq!(last.candidate_index, committed.candidate_index);
            assert_eq!(last.credential_id, committed.credential_id);
            assert_eq!(last.error_class, class);
            assert!(last.reason.starts_with("connection reset;"));
        }
    }
}

#[test]
fn an_interruption_is_ignored_unless_an_attempt_succeeded() {
    let mut run = run_for(&Caller::Primary, &creds());
    let Next::Attempt(_) = run.next(NOW) else {
        panic!("expected an attempt")
    };
    let before = run.steps().len();
    run.record_interrupted(
        1,
        &Classification {
            class: ErrorClass::Transport,
            http_status: 0,
            retry_after_ms: None,
            detail: "x".into(),
        },
    );
    assert_eq!(run.steps().len(), before);
}

mod outlier;
