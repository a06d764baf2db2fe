//! Body shapes and the trail's detail: code and message found whatever the
//! shape, never raw bytes, never a key, at most 200 chars.

use super::*;
use crate::redact::REDACTED;

#[test]
fn every_body_shape_yields_code_and_message() {
    let cases: &[(&str, u16, &str, &str)] = &[
        (
            "openai",
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            "400 context_length_exceeded: This model's maximum context length is 8192 tokens.",
        ),
        (
            "openai with null code shows the type",
            400,
            r#"{"error":{"message":"Bad","type":"invalid_request_error","param":null,"code":null}}"#,
            "400 invalid_request_error: Bad",
        ),
        (
            "openrouter numeric code equal to the status",
            402,
            r#"{"error":{"code":402,"message":"Insufficient credits","metadata":{"provider_name":null}}}"#,
            "402: Insufficient credits",
        ),
        (
            "openrouter numeric code that differs",
            502,
            r#"{"error":{"code":429,"message":"Upstream limited"}}"#,
            "502 429: Upstream limited",
        ),
        (
            "anthropic",
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            "529 overloaded_error: Overloaded",
        ),
        (
            "oauth",
            400,
            r#"{"error":"invalid_grant","error_description":"Refresh token has expired"}"#,
            "400 invalid_grant: Refresh token has expired",
        ),
        (
            "oauth with a sentence as error",
            400,
            r#"{"error":"Something went wrong here"}"#,
            "400: Something went wrong here",
        ),
        (
            "codex detail object",
            401,
            r#"{"detail":{"code":"token_invalidated","message":"Your authentication token has been invalidated"}}"#,
            "401 token_invalidated: Your authentication token has been invalidated",
        ),
        (
            "codex detail string",
            401,
            r#"{"detail":"Unauthorized"}"#,
            "401: Unauthorized",
        ),
        (
            "google status",
            429,
            r#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#,
            "429 RESOURCE_EXHAUSTED: Resource has been exhausted",
        ),
        (
            "array of errors",
            400,
            r#"[{"error":{"code":"bad_thing","message":"first"}},{"error":{"message":"second"}}]"#,
            "400 bad_thing: first",
        ),
        (
            "fastapi validation list",
            422,
            r#"{"detail":[{"loc":["body"],"msg":"field required","type":"value_error.missing"}]}"#,
            "422: field required",
        ),
        (
            "top-level message and code",
            400,
            r#"{"code":"bad_request","message":"nope"}"#,
            "400 bad_request: nope",
        ),
        (
            "json string",
            500,
            r#""upstream failed""#,
            "500: upstream failed",
        ),
        ("empty object", 400, "{}", "400"),
        ("json null", 400, "null", "400"),
        (
            "multi-line message is one line",
            400,
            r#"{"error":{"message":"line one\n\n  line\ttwo  "}}"#,
            "400: line one line two",
        ),
    ];
    for (name, status, body, detail) in cases {
        assert_eq!(classify(*status, body).detail, *detail, "{name}");
    }
}

#[test]
fn unparsed_bodies_are_never_echoed() {
    let html = "<html><body>Bad Gateway</body></html>";
    assert_eq!(
        classify(502, html).detail,
        format!("502 (unparsed body, {} bytes)", html.len())
    );
    let truncated = r#"{"error":{"message":"Incorrect API key provided: sk-proj-AbCdEf0123"#;
    assert_eq!(
        classify(401, truncated).detail,
        format!("401 (unparsed body, {} bytes)", truncated.len())
    );
    let binary = classify_http(500, &HeaderMap::new(), b"\xff\xfe\x00secret", NOW);
    assert_eq!(binary.detail, "500 (unparsed body, 9 bytes)");
    assert_eq!(classify(503, "").detail, "503 (empty body)");
}

#[test]
fn detail_never_echoes_a_key() {
    let key = "sk-proj-AbCdEf0123456789XYZabc";
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl";
    let filler = "x ".repeat(90);
    let bodies = [
        format!(
            r#"{{"error":{{"message":"Incorrect API key provided: {key}. Header was Authorization: Bearer {jwt}","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
        ),
        format!(r#"{{"error":{{"code":"{key}","message":"Bearer {jwt}"}}}}"#),
        format!(r#"{{"error":"invalid_grant","error_description":"token={key};jwt={jwt}"}}"#),
        format!(r#"{{"detail":"authorization: bearer {jwt} key '{key}'"}}"#),
        format!(r#"{{"error":{{"message":"{filler}{key} {jwt}"}}}}"#),
        format!(r#"{{"type":"error","error":{{"type":"x","message":"{key}{key}"}}}}"#),
    ];
    for body in &bodies {
        for status in [400, 401, 403, 429, 500] {
            let got = classify(status, body);
            for secret in [key, jwt, "sk-proj", "AbCdEf0123", "eyJhbGci"] {
                assert!(
                    !got.detail.contains(secret),
                    "{secret} leaked in {:?}",
                    got.detail
                );
            }
            assert!(got.detail.chars().count() <= 200);
        }
    }
    let got = classify(401, &bodies[0]);
    assert_eq!(
        got.detail,
        "401 invalid_api_key: Incorrect API key provided: [redacted]. Header was Authorization: Bearer [redacted]"
    );
}

#[test]
fn detail_is_at_most_200_chars_on_a_char_boundary() {
    for unit in ["a", "€", "😀", "ab ", "é\u{301}"] {
        let body = format!(r#"{{"error":{{"message":"{}"}}}}"#, unit.repeat(1_000));
        let got = classify(400, &body);
        assert_eq!(got.detail.chars().count(), 200, "{unit}");
        assert!(got.detail.ends_with('…'));
    }
    let short = classify(400, r#"{"error":{"message":"short"}}"#);
    assert_eq!(short.detail, "400: short");
}

#[test]
fn detail_keeps_model_names_readable() {
    let body = br#"{"error":{"message":"The model `claude-3-5-sonnet-20241022` does not exist","type":"invalid_request_error","code":"model_not_found"}}"#;
    let c = classify_http(404, &HeaderMap::new(), body, NOW);
    assert!(
        c.detail.contains("claude-3-5-sonnet-20241022"),
        "{}",
        c.detail
    );
    assert!(!c.detail.contains(REDACTED), "{}", c.detail);
}
