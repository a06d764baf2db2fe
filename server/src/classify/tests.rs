use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

mod body;
mod cases;
mod retry_after;
mod rules;

/// 2023-11-14T22:13:20Z (a Tuesday).
pub(super) const NOW: Millis = 1_700_000_000_000;

/// A HeaderMap from `(name, value)` pairs.
pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

pub(super) fn classify(status: u16, body: &str) -> Classification {
    classify_http(status, &HeaderMap::new(), body.as_bytes(), NOW)
}

pub(super) fn retry_after(status: u16, pairs: &[(&str, &str)], body: &str) -> Option<u64> {
    classify_http(status, &headers(pairs), body.as_bytes(), NOW).retry_after_ms
}

/// One row: what it shows, status, body, expected class.
pub(super) type Case = (&'static str, u16, &'static str, ErrorClass);

pub(super) fn check(cases: &[Case]) {
    for (name, status, body, expected) in cases {
        let got = classify(*status, body);
        assert_eq!(got.class, *expected, "{name}: {status} {body}");
        assert_eq!(got.http_status, *status, "{name}");
        assert!(got.detail.chars().count() <= 200, "{name}");
    }
}

pub(super) const OPENAI_TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated. Please try signing in again.","type":"invalid_request_error","code":"token_invalidated","param":null}}"#;
pub(super) const OPENAI_INSUFFICIENT_QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;

// --- entry points ----------------------------------------------------------

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
fn garbage_bodies_never_panic() {
    let statuses = [
        0,
        100,
        200,
        302,
        400,
        401,
        402,
        403,
        404,
        413,
        422,
        429,
        500,
        503,
        529,
        599,
        600,
        u16::MAX,
    ];
    const ALPHABET: &[u8] = b"{}[]\":,error message code 0123456789\\";
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    // Pseudo-random bytes, some biased to JSON punctuation.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in 0..300 {
        let mut body = Vec::with_capacity(len);
        for _ in 0..len {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let byte = (state >> 56) as u8;
            body.push(if len % 2 == 0 {
                byte
            } else {
                ALPHABET[usize::from(byte) % ALPHABET.len()]
            });
        }
        bodies.push(body);
    }
    // Every prefix of well-formed bodies: truncated JSON.
    for valid in [
        OPENAI_TOKEN_INVALIDATED,
        OPENAI_INSUFFICIENT_QUOTA,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded €😀"}}"#,
        r#"{"detail":{"code":"token_invalidated"}}"#,
    ] {
        for end in 0..=valid.len() {
            bodies.push(valid.as_bytes()[..end].to_vec());
        }
    }
    // Wrong types, odd values, deep nesting, huge and non-UTF-8 bodies.
    for odd in [
        r#"{"error":42}"#,
        r#"{"error":null,"detail":null}"#,
        r#"{"error":{"code":{"x":1},"message":[1,2],"type":7,"metadata":"raw"}}"#,
        r#"{"error":{"code":1e308,"metadata":{"raw":{"nested":true}}}}"#,
        r#"{"error":{"code":-99999999999999999999999}}"#,
        r#"{"detail":[1,"x",null]}"#,
        "[]",
        "[1]",
        "true",
        "3.5",
        "\"\"",
        "   ",
        "\u{feff}{}",
    ] {
        bodies.push(odd.as_bytes().to_vec());
    }
    bodies.push("[".repeat(100_000).into_bytes());
    bodies.push(r#"{"error":"#.repeat(10_000).into_bytes());
    bodies.push(b"{\"error\":{\"message\":\"\xff\xfe\"}}".to_vec());
    bodies.push(format!(r#"{{"error":{{"message":"{}"}}}}"#, "k9".repeat(1 << 17)).into_bytes());
    bodies.push(vec![0xff; 1 << 18]);

    let odd_headers = headers(&[
        ("retry-after", "99999999999999999999999999999"),
        ("x-ratelimit-reset-requests", "1h1h1h1h"),
        ("x-ratelimit-reset-tokens", "..s"),
        (
            "anthropic-ratelimit-tokens-reset",
            "9999-12-31T23:59:59.999999+23:59",
        ),
        ("x-ratelimit-reset", "18446744073709551616"),
    ]);
    let empty = HeaderMap::new();
    let contexts = [
        (&empty, NOW),
        (&odd_headers, 0),
        (&odd_headers, NOW),
        (&odd_headers, u64::MAX),
    ];
    for body in &bodies {
        let json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
        for status in statuses {
            for (map, now) in contexts {
                let got = classify_http(status, map, body, now);
                assert_eq!(got.http_status, status);
                assert!(got.detail.chars().count() <= 200);
                if !json {
                    assert!(
                        got.detail.ends_with(" bytes)")
                            || got.detail.ends_with("(empty body)")
                            || (200..300).contains(&status)
                            || got.detail.ends_with("(not followed)"),
                        "{:?}",
                        got.detail
                    );
                }
            }
        }
    }
}

#[test]
fn stream_error_events_are_classified_by_their_type_or_code() {
    let cases: [(&str, ErrorClass); 6] = [
        (
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ErrorClass::Overloaded,
        ),
        (
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            ErrorClass::RateLimit,
        ),
        (
            r#"{"error":{"message":"Provider returned error","code":502}}"#,
            ErrorClass::Server,
        ),
        (
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":400}}"#,
            ErrorClass::ContextOverflow,
        ),
        (r#"{"error":{"message":"boom"}}"#, ErrorClass::Server),
        ("not json", ErrorClass::Server),
    ];
    for (payload, want) in cases {
        let c = classify_stream_error(200, payload.as_bytes());
        assert_eq!(c.class, want, "{payload}");
        assert_eq!(c.http_status, 200);
        assert!(c.detail.starts_with("stream error event "), "{}", c.detail);
    }
}

#[test]
fn redirects_are_invalid_requests_naming_the_location_without_its_query() {
    for status in [301, 302, 303, 307, 308] {
        let h = headers(&[(
            "location",
            // A made-up key, split so that secret scanners do not flag the file.
            concat!(
                "http://user:pw@127.0.0.1:9/v1/messages?key=sk",
                "-abcdefghijklmnopqrstuvwxyz#frag"
            ),
        )]);
        let c = classify_http(status, &h, b"", 0);
        assert_eq!(c.class, ErrorClass::InvalidRequest, "{status}");
        assert_eq!(c.http_status, status);
        assert_eq!(
            c.detail,
            format!("{status} redirect to http://127.0.0.1:9/v1/messages (not followed)")
        );
    }
    let c = classify_http(302, &HeaderMap::new(), b"<html>moved</html>", 0);
    assert_eq!(c.detail, "302 redirect (not followed)");
    // The body of a redirect says nothing about the provider's state.
    let c = classify_http(
        304,
        &HeaderMap::new(),
        OPENAI_INSUFFICIENT_QUOTA.as_bytes(),
        0,
    );
    assert_eq!(c.class, ErrorClass::InvalidRequest);
}

#[test]
fn responses_error_events_and_failed_responses_are_classified_by_their_code() {
    let cases: [(&str, ErrorClass); 6] = [
        // A refused Codex token mid-stream: as terminal as the same code on a 401.
        (
            r#"{"type":"error","code":"token_invalidated","message":"Your authentication token has been invalidated. Please try signing in again.","param":null}"#,
            ErrorClass::AuthTerminal,
        ),
        (
            r#"{"type":"error","code":"invalid_api_key","message":"Incorrect API key provided","param":null}"#,
            ErrorClass::Auth,
        ),
        (
            r#"{"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached","param":null}"#,
            ErrorClass::RateLimit,
        ),
        (
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"The server had an error"}}}"#,
            ErrorClass::Server,
        ),
        (
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"context_length_exceeded","message":"Your input exceeds the context window"}}}"#,
            ErrorClass::ContextOverflow,
        ),
        (
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}}"#,
            ErrorClass::Billing,
        ),
    ];
    for (payload, want) in cases {
        let c = classify_stream_error(200, payload.as_bytes());
        assert_eq!(c.class, want, "{payload}");
        assert_eq!(c.http_status, 200);
    }
    let c = classify_stream_error(200, cases[0].0.as_bytes());
    assert!(c.detail.contains("token_invalidated"), "{}", c.detail);
}

#[test]
fn a_codex_401_token_invalidated_body_is_terminal() {
    // The Responses endpoint of a ChatGPT/Codex account refuses a revoked token so.
    let c = classify_http(
        401,
        &HeaderMap::new(),
        OPENAI_TOKEN_INVALIDATED.as_bytes(),
        0,
    );
    assert_eq!(c.class, ErrorClass::AuthTerminal);
    let detail = br#"{"detail":{"code":"token_invalidated","message":"Your authentication token has been invalidated"}}"#;
    assert_eq!(
        classify_http(401, &HeaderMap::new(), detail, 0).class,
        ErrorClass::AuthTerminal
    );
}
