//! The rules of recovery: what each error class does to the key, the
//! candidate and the call.

use super::*;

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
fn adopted_tokens_that_fail_too_leave_the_request_one_refresh_of_its_own() {
    let mut c = creds();
    let mut k1 = key("k1");
    k1.refreshable = true;
    c.insert("aux-p".into(), vec![k1]);
    let mut run = run_for(&compression(), &c);
    let mut refreshes = Vec::new();
    // Adopted (another refresh's tokens), refused again; adopted once more
    // (counted as the request's refresh), refused again: marked dead.
    for outcome in [RefreshOutcome::Adopted, RefreshOutcome::Adopted] {
        let Next::Attempt(plan) = run.next(NOW) else {
            panic!()
        };
        assert_eq!(&*plan.candidate.provider, "aux-p");
        run.record(NOW, 1, &fail(ErrorClass::AuthTerminal, 401));
        let Next::Refresh { credential_id } = run.next(NOW) else {
            panic!("{:?}", run.steps())
        };
        refreshes.push(credential_id);
        assert!(run.record_refresh(NOW, 1, &outcome).is_empty());
    }
    assert_eq!(refreshes.len(), 2);
    let Next::Attempt(_) = run.next(NOW) else {
        panic!()
    };
    let effects = run.record(NOW, 1, &fail(ErrorClass::AuthTerminal, 401));
    assert!(
        matches!(&effects[..], [Effect::MarkDead { .. }]),
        "{effects:?}"
    );
    let Next::Attempt(plan) = run.next(NOW) else {
        panic!()
    };
    assert_eq!(&*plan.candidate.provider, "chain-a");
}
