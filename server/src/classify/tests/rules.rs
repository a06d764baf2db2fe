//! One test per class rule, over the tables of [`super::cases`].

use super::cases::*;
use super::*;

#[test]
fn two_xx_is_none_whatever_the_body() {
    check(TWO_XX);
    let ok = classify_http(200, &headers(&[("retry-after", "5")]), b"{}", NOW);
    assert_eq!(ok.retry_after_ms, None);
    assert_eq!(ok.detail, "200");
}

#[test]
fn token_invalidated_401_is_terminal() {
    let got = classify(401, OPENAI_TOKEN_INVALIDATED);
    assert_eq!(got.class, ErrorClass::AuthTerminal);
    assert_eq!(
        got.detail,
        "401 token_invalidated: Your authentication token has been invalidated. Please try signing in again."
    );
}

#[test]
fn terminal_auth_codes_beat_plain_401() {
    check(AUTH_TERMINAL);
}

#[test]
fn terminal_codes_only_count_on_400_401_403() {
    check(TERMINAL_CODE_ON_OTHER_STATUS);
}

#[test]
fn other_401_is_auth() {
    check(AUTH);
}

#[test]
fn openai_insufficient_quota_on_429_is_billing_not_rate_limit() {
    let got = classify_http(
        429,
        &headers(&[("retry-after", "20")]),
        OPENAI_INSUFFICIENT_QUOTA.as_bytes(),
        NOW,
    );
    assert_eq!(got.class, ErrorClass::Billing);
    assert_eq!(got.retry_after_ms, Some(20_000));
    assert!(
        got.detail
            .starts_with("429 insufficient_quota: You exceeded your current quota"),
        "{}",
        got.detail
    );
}

#[test]
fn billing_codes_and_out_of_credit_messages_are_billing() {
    check(BILLING);
}

#[test]
fn unclassified_403_is_forbidden() {
    check(FORBIDDEN);
}

#[test]
fn status_429_and_rate_limit_codes_are_rate_limit() {
    check(RATE_LIMIT);
}

#[test]
fn status_503_529_and_overloaded_codes_are_overloaded() {
    check(OVERLOADED);
}

#[test]
fn other_5xx_is_server() {
    check(SERVER);
}

#[test]
fn context_overflow_beats_generic_400() {
    check(CONTEXT_OVERFLOW);
}

#[test]
fn content_policy_beats_generic_400() {
    check(CONTENT_POLICY);
}

#[test]
fn status_404_and_missing_model_messages_are_model_unavailable() {
    check(MODEL_UNAVAILABLE);
}

#[test]
fn other_4xx_is_invalid_request() {
    check(INVALID_REQUEST);
}

#[test]
fn other_statuses_are_unknown() {
    check(UNKNOWN);
}

#[test]
fn transport_failures_are_transport_with_status_0() {
    let cases = [
        (TransportError::ConnectionRefused, "connection refused"),
        (TransportError::ConnectionReset, "connection reset"),
        (TransportError::Timeout, "timeout"),
        (TransportError::Dns, "DNS failure"),
        (TransportError::Tls, "TLS failure"),
    ];
    for (error, detail) in cases {
        assert_eq!(
            classify_transport(error),
            Classification {
                class: ErrorClass::Transport,
                http_status: 0,
                retry_after_ms: None,
                detail: detail.to_owned(),
            }
        );
    }
}

#[test]
fn every_class_has_a_rule_test() {
    let mut seen: Vec<ErrorClass> = ALL_TABLES
        .iter()
        .flat_map(|table| table.iter().map(|case| case.3))
        .collect();
    seen.push(classify_transport(TransportError::Timeout).class);
    for class in ErrorClass::ALL {
        assert!(seen.contains(&class), "no case for {}", class.as_str());
    }
}
