//! Caller resolution, the caller's timeout, and the trail headers.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::*;
use crate::domain::{Caller, Step};

#[test]
fn the_model_or_the_task_header_names_the_caller() {
    assert_eq!(
        resolve_caller("switchyard/primary", None),
        Ok((Caller::Primary, None))
    );
    assert_eq!(
        resolve_caller("switchyard/aux/vision", None),
        Ok((Caller::Aux("vision".into()), None))
    );
    assert_eq!(
        resolve_caller("switchyard/aux/vision", Some("vision")),
        Ok((Caller::Aux("vision".into()), None))
    );
    // With the header, another model overrides the task's first candidate.
    assert_eq!(
        resolve_caller("gpt-4o-mini", Some("compression")),
        Ok((
            Caller::Aux("compression".into()),
            Some("gpt-4o-mini".into())
        ))
    );
    assert_eq!(
        resolve_caller("switchyard/primary", Some("vision")),
        Err(NoCaller::Conflict)
    );
    assert_eq!(
        resolve_caller("switchyard/aux/a", Some("b")),
        Err(NoCaller::Conflict)
    );
    assert_eq!(resolve_caller("gpt-4o", None), Err(NoCaller::UnknownModel));
}

#[test]
fn the_sdks_timeout_header_becomes_the_deadline() {
    let mut h = HeaderMap::new();
    assert_eq!(client_timeout(&h), None);
    h.insert("x-stainless-timeout", HeaderValue::from_static("600"));
    assert_eq!(client_timeout(&h), Some(Duration::from_secs(600)));
    h.insert("x-stainless-timeout", HeaderValue::from_static("0.5"));
    assert_eq!(client_timeout(&h), Some(Duration::from_millis(500)));
    h.insert("x-stainless-timeout", HeaderValue::from_static("-1"));
    assert_eq!(client_timeout(&h), None);
    // The SDK's read timeout counts too; the shorter of the two wins.
    h.insert("x-stainless-read-timeout", HeaderValue::from_static("0.25"));
    assert_eq!(client_timeout(&h), Some(Duration::from_millis(250)));
    h.remove("x-stainless-timeout");
    h.insert("x-stainless-read-timeout", HeaderValue::from_static("30"));
    assert_eq!(client_timeout(&h), Some(Duration::from_secs(30)));
    h.insert("x-switchyard-timeout-ms", HeaderValue::from_static("250"));
    assert_eq!(client_timeout(&h), Some(Duration::from_millis(250)));
}

#[test]
fn trail_headers_are_printable_and_bounded() {
    let step = |i: u32| Step {
        candidate_index: i,
        provider: "p\u{e9}".into(),
        model: "m".repeat(100).into(),
        credential_id: Some("k".into()),
        error_class: crate::domain::ErrorClass::Server,
        http_status: 500,
        action: crate::domain::Action::RetrySame,
        reason: "x".into(),
        duration_ms: 1,
    };
    let steps: Vec<Step> = (0..100).map(step).collect();
    let mut h = HeaderMap::new();
    trail_headers(&mut h, "id", None, &steps);
    let trail = h["x-switchyard-trail"].to_str().unwrap();
    assert!(trail.len() <= MAX_TRAIL_HEADER + 32, "{}", trail.len());
    assert!(trail.starts_with("0 p? "), "{trail}");
    assert!(trail.ends_with("more"), "{trail}");
    assert_eq!(h["x-switchyard-attempts"], "100");
}
