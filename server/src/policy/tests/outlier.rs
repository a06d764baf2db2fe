//! Table tests of outlier detection, panic mode, cooldown caps and refresh before
//! use, each run for both caller kinds.

use super::*;

/// The first provider of each caller kind, for tests that run both.
fn callers() -> [(Caller, &'static str); 2] {
    [(Caller::Primary, "main"), (compression(), "aux-p")]
}

/// Runs one request of `caller` whose first attempt gets `outcome`, then applies its
/// effects to `view`, as the pool does between requests. Returns the run and effects.
fn one_request(
    caller: &Caller,
    view: &mut CredentialView,
    outcome: Observed,
) -> (Run, Vec<Effect>) {
    let mut run = run_for(caller, view);
    let Next::Attempt(_) = run.next(NOW) else {
        panic!("expected an attempt")
    };
    let effects = run.record(NOW, 1, &outcome);
    for effect in &effects {
        for info in view.values_mut().flatten() {
            let id = match effect {
                Effect::Cooldown { credential_id, .. }
                | Effect::MarkDead { credential_id, .. }
                | Effect::Failed { credential_id, .. }
                | Effect::Eject { credential_id, .. }
                | Effect::Recovered { credential_id } => credential_id,
            };
            if &info.id == id {
                info.apply(effect);
            }
        }
    }
    (run, effects)
}

#[test]
fn one_sporadic_401_does_not_eject_the_key() {
    for (caller, provider) in callers() {
        let mut view = creds();
        view.insert(provider.into(), vec![key("k1"), key("k2")]);
        let (mut run, effects) = one_request(&caller, &mut view, fail(ErrorClass::Auth, 401));
        assert_eq!(
            effects,
            vec![Effect::Failed {
                credential_id: "k1".into(),
                class: ErrorClass::Auth
            }],
            "{caller}"
        );
        // This request moves on to the next key...
        assert_eq!(run.steps()[0].action, Action::RotateCredential);
        assert!(
            run.steps()[0]
                .reason
                .ends_with("failure 1/3 in a row; the key stays in rotation")
        );
        let Next::Attempt(plan) = run.next(NOW) else {
            panic!()
        };
        assert_eq!(&*plan.credential_id, "k2");
        // ...but the key stays in rotation: the next request starts with it.
        assert_eq!(view[provider][0].cooldown_until, None);
        assert_eq!(view[provider][0].failures, 1);
        let mut next = run_for(&caller, &view);
        let Next::Attempt(plan) = next.next(NOW) else {
            panic!()
        };
        assert_eq!(&*plan.credential_id, "k1", "{caller}");
    }
}

#[test]
fn one_sporadic_401_on_a_single_key_moves_to_the_next_candidate_without_cooling() {
    for (caller, _) in callers() {
        let mut view = creds();
        let (run, effects) = one_request(&caller, &mut view, fail(ErrorClass::Auth, 401));
        assert_eq!(run.steps()[0].action, Action::NextCandidate);
        assert!(matches!(&effects[..], [Effect::Failed { .. }]), "{caller}");
        assert!(view.values().flatten().all(|k| k.cooldown_until.is_none()));
    }
}

#[test]
fn three_consecutive_429s_eject_the_key_and_the_ejection_doubles() {
    for (caller, provider) in callers() {
        let mut view = creds();
        let id: CredentialId = format!("{provider}-k1").into();
        for _ in 0..2 {
            let (_, effects) = one_request(&caller, &mut view, fail(ErrorClass::RateLimit, 429));
            assert!(matches!(&effects[..], [Effect::Failed { .. }]));
        }
        // The third 429 in a row ejects for the base time (rate_limit_cooldown)...
        let (run, effects) = one_request(&caller, &mut view, fail(ErrorClass::RateLimit, 429));
        assert_eq!(
            effects,
            vec![Effect::Eject {
                credential_id: id.clone(),
                until: NOW + 60_000,
                class: ErrorClass::RateLimit,
                ejections: 1
            }],
            "{caller}"
        );
        assert!(
            run.steps()[0]
                .reason
                .contains("3 failures in a row: key ejected for 60 s")
        );
        assert_eq!(
            view[provider][0].failures, 0,
            "an ejection clears the count"
        );
        // ...and the next three, once it is back, eject for twice as long.
        view.get_mut(provider).unwrap()[0].cooldown_until = None;
        for _ in 0..2 {
            one_request(&caller, &mut view, fail(ErrorClass::RateLimit, 429));
        }
        let (_, effects) = one_request(&caller, &mut view, fail(ErrorClass::RateLimit, 429));
        assert!(
            matches!(&effects[..], [Effect::Eject { until, ejections: 2, .. }] if *until == NOW + 120_000),
            "{caller}: {effects:?}"
        );
    }
}

#[test]
fn five_consecutive_server_errors_eject_the_key_within_one_request() {
    for (caller, provider) in callers() {
        let mut view = creds();
        let k = &mut view.get_mut(provider).unwrap()[0];
        k.failures = 3;
        k.failing_class = Some(ErrorClass::Server);
        let mut run = run_for(&caller, &view);
        let (trail, finish) = drive(
            &mut run,
            vec![fail(ErrorClass::Server, 500), fail(ErrorClass::Server, 500)],
        );
        assert_eq!(trail[0].2, Action::RetrySame, "{caller}");
        assert_eq!(
            trail[1].2,
            Action::NextCandidate,
            "{caller}: ejected, not retried"
        );
        assert!(
            run.steps()[1]
                .reason
                .contains("5 failures in a row: key ejected for 30 s")
        );
        assert_eq!(finish, Finish::Succeeded);
    }
}

#[test]
fn ejection_time_is_capped_by_max_cooldown() {
    let cfg = PolicyConfig::default();
    assert_eq!(cfg.ejection_ms(ErrorClass::Server, 1), 30_000);
    assert_eq!(cfg.ejection_ms(ErrorClass::Server, 3), 120_000);
    assert_eq!(cfg.ejection_ms(ErrorClass::Auth, 1), 300_000);
    assert_eq!(cfg.ejection_ms(ErrorClass::Auth, 5), 3_600_000);
    assert_eq!(cfg.ejection_ms(ErrorClass::Transport, u32::MAX), 3_600_000);
}

#[test]
fn a_success_after_failures_recovers_the_key_and_the_happy_path_emits_nothing() {
    for (caller, provider) in callers() {
        let mut view = creds();
        let (_, effects) = one_request(&caller, &mut view, ok());
        assert!(
            effects.is_empty(),
            "{caller}: nothing to reset, nothing emitted"
        );
        let k = &mut view.get_mut(provider).unwrap()[0];
        k.failures = 2;
        k.ejections = 2;
        let (_, effects) = one_request(&caller, &mut view, ok());
        assert_eq!(
            effects,
            vec![Effect::Recovered {
                credential_id: format!("{provider}-k1").into()
            }]
        );
        assert_eq!(
            (view[provider][0].failures, view[provider][0].ejections),
            (0, 1),
            "failures reset, ejections decay by one"
        );
    }
}

#[test]
fn every_candidate_ejected_still_tries_the_soonest_panic_mode() {
    for (caller, _) in callers() {
        let mut view = creds();
        let mut until = NOW + 50_000;
        for pool in view.values_mut() {
            pool[0].cooldown_until = Some(until);
            until -= 1_000;
        }
        view.get_mut("main-fb").unwrap()[0].dead = true;
        let soonest = run_for(&caller, &view)
            .candidates()
            .iter()
            .map(|c| &view[&c.provider][0])
            .filter(|k| !k.dead)
            .min_by_key(|k| k.cooldown_until)
            .map(|k| k.id.clone())
            .unwrap();
        let mut run = run_for(&caller, &view);
        let (trail, finish) = drive(&mut run, vec![]);
        assert_eq!(finish, Finish::Succeeded, "{caller}");
        let last = run.steps().last().unwrap();
        assert_eq!(last.credential_id.as_ref(), Some(&soonest), "{caller}");
        assert!(last.reason.starts_with(
            "every candidate is ejected; trying the one whose ejection ends soonest (panic mode)"
        ));
        let skips = trail
            .iter()
            .filter(|s| s.2 == Action::SkipCandidate)
            .count();
        assert_eq!(
            skips,
            run.candidates().len(),
            "every candidate was skipped first"
        );
    }
}

#[test]
fn every_candidate_dead_gives_up_without_panic_mode() {
    for (caller, _) in callers() {
        let mut view = creds();
        for pool in view.values_mut() {
            pool[0].dead = true;
        }
        let mut run = run_for(&caller, &view);
        let (trail, finish) = drive(&mut run, vec![]);
        assert_eq!(finish, Finish::Failed(FailureReason::AllCandidatesFailed));
        assert_eq!(trail.last().unwrap().2, Action::GiveUp, "{caller}");
    }
}

#[test]
fn once_live_candidates_failed_ejected_keys_are_tried_as_a_last_resort() {
    for (caller, provider) in callers() {
        let mut view = creds();
        let mut until = NOW + 50_000;
        for pool in view.values_mut() {
            pool[0].cooldown_until = Some(until);
            until += 1_000;
        }
        view.get_mut(provider).unwrap()[0].cooldown_until = None;
        let mut run = run_for(&caller, &view);
        let (trail, finish) = drive(&mut run, vec![fail(ErrorClass::InvalidRequest, 400)]);
        assert_eq!(finish, Finish::Succeeded, "{caller}");
        let last = run.steps().last().unwrap();
        assert!(last.reason.starts_with(
            "no live candidate left; trying the ejected key whose ejection ends soonest (panic mode)"
        ));
        // Each key is tried at most once: the failed one is not tried again.
        let attempts = trail.iter().filter(|s| !s.1.is_empty()).count();
        assert_eq!(attempts, 2, "{caller}");
    }
}

#[test]
fn a_panic_mode_attempt_is_retried_like_any_other() {
    for (caller, _) in callers() {
        let mut view = creds();
        for pool in view.values_mut() {
            pool[0].cooldown_until = Some(NOW + 50_000);
        }
        let mut run = run_for(&caller, &view);
        let (trail, finish) = drive(&mut run, vec![fail(ErrorClass::Server, 500)]);
        assert_eq!(finish, Finish::Succeeded, "{caller}");
        let attempts: Vec<_> = trail.iter().filter(|s| !s.1.is_empty()).collect();
        assert_eq!(attempts[0].2, Action::RetrySame, "{caller}");
        assert_eq!(attempts[1].2, Action::Succeed, "{caller}");
        assert_eq!(attempts[0].1, attempts[1].1);
    }
}

#[test]
fn panic_mode_tries_each_ejected_key_at_most_once() {
    for (caller, _) in callers() {
        let mut view = creds();
        for pool in view.values_mut() {
            pool[0].cooldown_until = Some(NOW + 50_000);
        }
        let mut run = run_for(&caller, &view);
        let n = run.candidates().len();
        let (trail, finish) = drive(&mut run, vec![fail(ErrorClass::InvalidRequest, 400); 10]);
        assert_eq!(finish, Finish::Failed(FailureReason::AllCandidatesFailed));
        let mut tried: Vec<_> = trail
            .iter()
            .filter(|s| !s.1.is_empty())
            .map(|s| s.1.clone())
            .collect();
        assert_eq!(tried.len(), n, "{caller}");
        tried.dedup();
        assert_eq!(tried.len(), n, "{caller}: no key twice");
    }
}

#[test]
fn retry_after_is_capped_by_max_cooldown() {
    for (caller, provider) in callers() {
        let mut view = creds();
        let id: CredentialId = format!("{provider}-k1").into();
        // 10^9 s of Retry-After: an hour, not 31.7 years.
        let (_, effects) = one_request(
            &caller,
            &mut view,
            fail_after(ErrorClass::RateLimit, 429, 1_000_000_000_000),
        );
        assert_eq!(
            effects,
            vec![Effect::Eject {
                credential_id: id.clone(),
                until: NOW + 3_600_000,
                class: ErrorClass::RateLimit,
                ejections: 1
            }],
            "{caller}"
        );
        let (_, effects) = one_request(
            &caller,
            &mut creds(),
            fail_after(ErrorClass::Billing, 402, u64::MAX),
        );
        assert!(
            matches!(&effects[..], [Effect::Cooldown { until, .. }] if *until == NOW + 3_600_000),
            "{caller}: {effects:?}"
        );
    }
}

#[test]
fn a_provider_retry_after_ejects_at_once_without_counting() {
    for (caller, _) in callers() {
        let (run, effects) = one_request(
            &caller,
            &mut creds(),
            fail_after(ErrorClass::RateLimit, 429, 120_000),
        );
        assert!(
            matches!(&effects[..], [Effect::Eject { until, .. }] if *until == NOW + 120_000),
            "{caller}"
        );
        assert_eq!(run.steps()[0].action, Action::NextCandidate);
    }
}

#[test]
fn expiring_token_is_refreshed_before_use() {
    for (caller, provider) in callers() {
        let mut view = creds();
        let k = &mut view.get_mut(provider).unwrap()[0];
        k.refreshable = true;
        k.expires_at = Some(NOW + 10_000);
        let id = k.id.clone();
        let mut run = run_for(&caller, &view);
        assert_eq!(
            run.next(NOW),
            Next::Refresh {
                credential_id: id.clone()
            },
            "{caller}"
        );
        let step = &run.steps()[0];
        assert_eq!(step.action, Action::RefreshAndRetry);
        assert_eq!(step.credential_id.as_ref(), Some(&id));
        assert_eq!(step.http_status, 0, "nothing was sent");
        assert_eq!(
            step.reason,
            "access token expires in 10 s; refreshing before use"
        );
        run.record_refresh(NOW, 1, &RefreshOutcome::Refreshed);
        let Next::Attempt(plan) = run.next(NOW) else {
            panic!("the refreshed key is used")
        };
        assert_eq!(plan.credential_id, id);
    }
}

#[test]
fn a_token_far_from_expiry_or_a_static_key_is_used_at_once() {
    for (refreshable, expires_at) in [(true, NOW + 61_000), (false, NOW)] {
        let mut view = creds();
        let k = &mut view.get_mut("main").unwrap()[0];
        k.refreshable = refreshable;
        k.expires_at = Some(expires_at);
        let mut run = run_for(&Caller::Primary, &view);
        assert!(matches!(run.next(NOW), Next::Attempt(_)));
    }
}
