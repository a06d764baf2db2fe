//! Candidate lists: who is tried, in which order.

use super::*;

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
