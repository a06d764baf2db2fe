//! Streams: no failover once the first token is out.

use super::*;

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
