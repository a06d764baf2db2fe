//! Skips, budgets and giving up; and the same answers for every caller.

use super::*;

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

#[test]
fn a_candidate_that_cannot_serve_what_the_request_needs_is_skipped_for_every_caller() {
    let mut r = routing();
    let text_only = Capabilities {
        images: false,
        tools: true,
    };
    r.capabilities.insert("aux-p".into(), text_only);
    r.capabilities.insert("main".into(), text_only);
    let images = Needs {
        images: true,
        tools: false,
    };
    for caller in [compression(), Caller::Primary] {
        let candidates = r.candidates(&caller, None).unwrap();
        let mut run = Run::new(
            PolicyConfig::default(),
            candidates,
            &creds(),
            NOW + BUDGET,
            7,
        )
        .needing(images);
        let (trail, finish) = drive(&mut run, Vec::new());
        assert_eq!(finish, Finish::Succeeded);
        let first = &run.steps()[0];
        assert_eq!(first.action, Action::SkipCandidate);
        assert!(
            first.reason.contains("cannot serve images"),
            "{}",
            first.reason
        );
        // The next capable candidate serves; the text-only one is never contacted.
        assert!(
            trail
                .iter()
                .all(|(p, _, a)| *a == Action::SkipCandidate || (p != "aux-p" && p != "main"))
        );
    }
    // A text request uses the same candidates as before.
    let candidates = r.candidates(&compression(), None).unwrap();
    let mut run = Run::new(
        PolicyConfig::default(),
        candidates,
        &creds(),
        NOW + BUDGET,
        7,
    )
    .needing(Needs::default());
    let (trail, _) = drive(&mut run, Vec::new());
    assert_eq!(trail, vec![step("aux-p", "aux-p-k1", Action::Succeed)]);
}
