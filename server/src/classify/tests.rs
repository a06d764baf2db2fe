use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

/// 2023-11-14T22:13:20Z (a Tuesday).
const NOW: Millis = 1_700_000_000_000;

/// A HeaderMap from `(name, value)` pairs.
fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

fn classify(status: u16, body: &str) -> Classification {
    classify_http(status, &HeaderMap::new(), body.as_bytes(), NOW)
}

fn retry_after(status: u16, pairs: &[(&str, &str)], body: &str) -> Option<u64> {
    classify_http(status, &headers(pairs), body.as_bytes(), NOW).retry_after_ms
}

/// One row: what it shows, status, body, expected class.
type Case = (&'static str, u16, &'static str, ErrorClass);

fn check(cases: &[Case]) {
    for (name, status, body, expected) in cases {
        let got = classify(*status, body);
        assert_eq!(got.class, *expected, "{name}: {status} {body}");
        assert_eq!(got.http_status, *status, "{name}");
        assert!(got.detail.chars().count() <= 200, "{name}");
    }
}

const OPENAI_TOKEN_INVALIDATED: &str = r#"{"error":{"message":"Your authentication token has been invalidated. Please try signing in again.","type":"invalid_request_error","code":"token_invalidated","param":null}}"#;
const OPENAI_INSUFFICIENT_QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;

const TWO_XX: &[Case] = &[
    ("ok", 200, "", ErrorClass::None),
    ("created", 201, r#"{"choices":[]}"#, ErrorClass::None),
    ("no content", 204, "", ErrorClass::None),
    (
        "error body on 200",
        200,
        OPENAI_INSUFFICIENT_QUOTA,
        ErrorClass::None,
    ),
    ("odd 2xx", 299, "\u{0}garbage", ErrorClass::None),
];

const AUTH_TERMINAL: &[Case] = &[
    (
        "openai token_invalidated",
        401,
        OPENAI_TOKEN_INVALIDATED,
        ErrorClass::AuthTerminal,
    ),
    (
        "codex detail object",
        401,
        r#"{"detail":{"code":"token_invalidated","message":"Your authentication token has been invalidated"}}"#,
        ErrorClass::AuthTerminal,
    ),
    (
        "token_revoked",
        401,
        r#"{"error":{"message":"revoked","type":"invalid_request_error","code":"token_revoked"}}"#,
        ErrorClass::AuthTerminal,
    ),
    (
        "invalid_token as a type",
        401,
        r#"{"error":{"type":"invalid_token","message":"bad token"}}"#,
        ErrorClass::AuthTerminal,
    ),
    (
        "refresh_token_reused",
        401,
        r#"{"error":{"code":"refresh_token_reused","message":"Your refresh token has already been used."}}"#,
        ErrorClass::AuthTerminal,
    ),
    (
        "oauth invalid_grant on 400",
        400,
        r#"{"error":"invalid_grant","error_description":"Refresh token has expired"}"#,
        ErrorClass::AuthTerminal,
    ),
    (
        "token_revoked on 403",
        403,
        r#"{"error":{"code":"token_revoked","message":"revoked"}}"#,
        ErrorClass::AuthTerminal,
    ),
];

const TERMINAL_CODE_ON_OTHER_STATUS: &[Case] = &[
    (
        "500 is a server error",
        500,
        r#"{"error":{"code":"invalid_token"}}"#,
        ErrorClass::Server,
    ),
    (
        "429 is a rate limit",
        429,
        r#"{"error":"invalid_grant"}"#,
        ErrorClass::RateLimit,
    ),
    (
        "404 is a missing model",
        404,
        r#"{"error":{"code":"token_revoked"}}"#,
        ErrorClass::ModelUnavailable,
    ),
];

const AUTH: &[Case] = &[
    ("bare 401", 401, "", ErrorClass::Auth),
    (
        "html 401",
        401,
        "<html>Unauthorized</html>",
        ErrorClass::Auth,
    ),
    (
        "anthropic authentication_error",
        401,
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        ErrorClass::Auth,
    ),
    (
        "openai invalid_api_key",
        401,
        r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key","param":null}}"#,
        ErrorClass::Auth,
    ),
    (
        "expired token may refresh",
        401,
        r#"{"detail":{"code":"token_expired","message":"Provided authentication token is expired."}}"#,
        ErrorClass::Auth,
    ),
    (
        "codex detail string",
        401,
        r#"{"detail":"Unauthorized"}"#,
        ErrorClass::Auth,
    ),
    (
        "authentication_error on 400",
        400,
        r#"{"type":"error","error":{"type":"authentication_error","message":"x"}}"#,
        ErrorClass::Auth,
    ),
];

const BILLING: &[Case] = &[
    ("bare 402", 402, "", ErrorClass::Billing),
    (
        "openrouter numeric code",
        402,
        r#"{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits","metadata":{}}}"#,
        ErrorClass::Billing,
    ),
    (
        "openai insufficient_quota on 429",
        429,
        OPENAI_INSUFFICIENT_QUOTA,
        ErrorClass::Billing,
    ),
    (
        "quota message without code on 429",
        429,
        r#"{"error":{"message":"You exceeded your current quota.","code":null}}"#,
        ErrorClass::Billing,
    ),
    (
        "anthropic credit balance on 400",
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#,
        ErrorClass::Billing,
    ),
    (
        "billing_hard_limit_reached on 400",
        400,
        r#"{"error":{"message":"Billing hard limit has been reached","type":"invalid_request_error","code":"billing_hard_limit_reached","param":null}}"#,
        ErrorClass::Billing,
    ),
    (
        "credit_balance_too_low code on 403",
        403,
        r#"{"error":{"code":"credit_balance_too_low","message":"x"}}"#,
        ErrorClass::Billing,
    ),
    (
        "insufficient credits message on 403",
        403,
        r#"{"error":{"message":"Insufficient credits for this request"}}"#,
        ErrorClass::Billing,
    ),
    (
        "billing code on any status",
        500,
        r#"{"error":{"code":"insufficient_quota"}}"#,
        ErrorClass::Billing,
    ),
];

const FORBIDDEN: &[Case] = &[
    ("bare 403", 403, "", ErrorClass::Forbidden),
    (
        "anthropic permission_error",
        403,
        r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#,
        ErrorClass::Forbidden,
    ),
    (
        "openai region",
        403,
        r#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","type":"request_forbidden"}}"#,
        ErrorClass::Forbidden,
    ),
    (
        "permission_error on 400",
        400,
        r#"{"type":"error","error":{"type":"permission_error","message":"no"}}"#,
        ErrorClass::Forbidden,
    ),
];

const RATE_LIMIT: &[Case] = &[
    ("bare 429", 429, "", ErrorClass::RateLimit),
    (
        "anthropic rate_limit_error",
        429,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
        ErrorClass::RateLimit,
    ),
    (
        "openai rate_limit_exceeded",
        429,
        r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
        ErrorClass::RateLimit,
    ),
    (
        "openrouter numeric code",
        429,
        r#"{"error":{"code":429,"message":"Rate limit exceeded: free-models-per-day"}}"#,
        ErrorClass::RateLimit,
    ),
    (
        "rate limit code beats 403",
        403,
        r#"{"error":{"code":"rate_limit_exceeded","message":"slow down"}}"#,
        ErrorClass::RateLimit,
    ),
];

const OVERLOADED: &[Case] = &[
    ("bare 503", 503, "", ErrorClass::Overloaded),
    (
        "html 503",
        503,
        "<h1>Service Unavailable</h1>",
        ErrorClass::Overloaded,
    ),
    (
        "anthropic 529",
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ErrorClass::Overloaded,
    ),
    (
        "overloaded_error on 500",
        500,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ErrorClass::Overloaded,
    ),
    (
        "server_is_overloaded on 429",
        429,
        r#"{"error":{"code":"server_is_overloaded","message":"Our servers are currently overloaded."}}"#,
        ErrorClass::Overloaded,
    ),
    (
        "overloaded code on 502",
        502,
        r#"{"error":{"code":"overloaded","message":"busy"}}"#,
        ErrorClass::Overloaded,
    ),
];

const SERVER: &[Case] = &[
    ("bare 500", 500, "", ErrorClass::Server),
    (
        "html 502",
        502,
        "<html>Bad Gateway</html>",
        ErrorClass::Server,
    ),
    ("bare 504", 504, "", ErrorClass::Server),
    (
        "anthropic api_error",
        500,
        r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
        ErrorClass::Server,
    ),
    (
        "openai server_error",
        500,
        r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#,
        ErrorClass::Server,
    ),
    ("last 5xx", 599, "{}", ErrorClass::Server),
    (
        "context code on 5xx stays server",
        500,
        r#"{"error":{"code":"context_length_exceeded"}}"#,
        ErrorClass::Server,
    ),
];

const CONTEXT_OVERFLOW: &[Case] = &[
    ("bare 413", 413, "", ErrorClass::ContextOverflow),
    (
        "anthropic request_too_large",
        413,
        r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}"#,
        ErrorClass::ContextOverflow,
    ),
    (
        "openai context_length_exceeded",
        400,
        r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
        ErrorClass::ContextOverflow,
    ),
    (
        "openai string_above_max_length",
        400,
        r#"{"error":{"message":"Invalid 'messages[0].content': string too long.","type":"invalid_request_error","param":"messages[0].content","code":"string_above_max_length"}}"#,
        ErrorClass::ContextOverflow,
    ),
    (
        "anthropic prompt is too long",
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
        ErrorClass::ContextOverflow,
    ),
    (
        "maximum context length message without code",
        400,
        r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":null}}"#,
        ErrorClass::ContextOverflow,
    ),
    (
        "too many tokens",
        400,
        r#"{"detail":"Too many tokens in the request"}"#,
        ErrorClass::ContextOverflow,
    ),
    (
        "openrouter upstream raw message",
        400,
        r#"{"error":{"code":400,"message":"Provider returned error","metadata":{"raw":"This model's maximum context length is 8192 tokens","provider_name":"Azure"}}}"#,
        ErrorClass::ContextOverflow,
    ),
    (
        "context code on 422",
        422,
        r#"{"error":{"code":"context_length_exceeded"}}"#,
        ErrorClass::ContextOverflow,
    ),
];

const CONTENT_POLICY: &[Case] = &[
    (
        "openai content_policy_violation",
        400,
        r#"{"error":{"code":"content_policy_violation","message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error"}}"#,
        ErrorClass::ContentPolicy,
    ),
    (
        "azure content_filter",
        400,
        r#"{"error":{"code":"content_filter","message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","status":400}}"#,
        ErrorClass::ContentPolicy,
    ),
    (
        "content management policy message",
        400,
        r#"{"error":{"message":"The prompt triggered the content management policy.","code":null}}"#,
        ErrorClass::ContentPolicy,
    ),
    (
        "flagged message",
        400,
        r#"{"error":{"message":"Your input was flagged as potentially violating our usage policy."}}"#,
        ErrorClass::ContentPolicy,
    ),
    (
        "safety message",
        400,
        r#"{"error":{"message":"The request was blocked for safety reasons."}}"#,
        ErrorClass::ContentPolicy,
    ),
    (
        "openrouter moderation on 403",
        403,
        r#"{"error":{"code":403,"message":"Your chosen model requires moderation and your input was flagged for \"violence\"","metadata":{"reasons":["violence"]}}}"#,
        ErrorClass::ContentPolicy,
    ),
];

const MODEL_UNAVAILABLE: &[Case] = &[
    ("bare 404", 404, "", ErrorClass::ModelUnavailable),
    (
        "anthropic not_found_error",
        404,
        r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}"#,
        ErrorClass::ModelUnavailable,
    ),
    (
        "openai model_not_found on 404",
        404,
        r#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
        ErrorClass::ModelUnavailable,
    ),
    (
        "model_not_found on 400",
        400,
        r#"{"error":{"code":"model_not_found","message":"x"}}"#,
        ErrorClass::ModelUnavailable,
    ),
    (
        "unsupported_model on 400",
        400,
        r#"{"error":{"code":"unsupported_model","message":"x"}}"#,
        ErrorClass::ModelUnavailable,
    ),
    (
        "model does not exist message",
        400,
        r#"{"error":{"message":"The model 'foo' does not exist","code":null}}"#,
        ErrorClass::ModelUnavailable,
    ),
    (
        "model not supported message",
        400,
        r#"{"detail":"The 'gpt-5-codex' model is not supported when using Codex with a ChatGPT account."}"#,
        ErrorClass::ModelUnavailable,
    ),
    (
        "openrouter invalid model id",
        400,
        r#"{"error":{"code":400,"message":"foo/bar is not a valid model ID"}}"#,
        ErrorClass::ModelUnavailable,
    ),
];

const INVALID_REQUEST: &[Case] = &[
    ("bare 400", 400, "", ErrorClass::InvalidRequest),
    (
        "openai invalid_request_error",
        400,
        r#"{"error":{"message":"'messages' must contain the word 'json' in some form.","type":"invalid_request_error","param":"messages","code":null}}"#,
        ErrorClass::InvalidRequest,
    ),
    (
        "parameter not supported with this model is not a missing model",
        400,
        r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#,
        ErrorClass::InvalidRequest,
    ),
    (
        "a safety_settings parameter is not a refusal",
        400,
        r#"{"error":{"code":400,"message":"Invalid value at 'safety_settings[0].category'","status":"INVALID_ARGUMENT"}}"#,
        ErrorClass::InvalidRequest,
    ),
    (
        "fastapi validation list",
        422,
        r#"{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}"#,
        ErrorClass::InvalidRequest,
    ),
    ("conflict", 409, "", ErrorClass::InvalidRequest),
    ("request timeout", 408, "", ErrorClass::InvalidRequest),
    (
        "html 405",
        405,
        "<html>Method Not Allowed</html>",
        ErrorClass::InvalidRequest,
    ),
    ("last 4xx", 499, "", ErrorClass::InvalidRequest),
];

const UNKNOWN: &[Case] = &[
    ("informational", 100, "", ErrorClass::Unknown),
    ("zero", 0, "", ErrorClass::Unknown),
    ("past 5xx", 600, "", ErrorClass::Unknown),
    ("huge status", u16::MAX, "{}", ErrorClass::Unknown),
];

const ALL_TABLES: &[&[Case]] = &[
    TWO_XX,
    AUTH_TERMINAL,
    TERMINAL_CODE_ON_OTHER_STATUS,
    AUTH,
    BILLING,
    FORBIDDEN,
    RATE_LIMIT,
    OVERLOADED,
    SERVER,
    CONTEXT_OVERFLOW,
    CONTENT_POLICY,
    MODEL_UNAVAILABLE,
    INVALID_REQUEST,
    UNKNOWN,
];

// --- classes ---------------------------------------------------------------

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

// --- body shapes and detail ------------------------------------------------

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
fn redaction_keeps_ordinary_words() {
    let cases = [
        "The model gpt-4o does not exist",
        "internationalization_considerations_apply",
        "12345678901234567890123",
        "see https://platform.openai.com/account/rate-limits",
        "2024-05-01T12:00:00Z",
        "Bearer",
        "unbearer x",
    ];
    for text in cases {
        assert_eq!(redact(text), text);
    }
}

#[test]
fn redaction_replaces_keys_and_bearer_tokens() {
    let cases = [
        // Split so that secret scanners do not flag a made-up key.
        (
            concat!("key sk-", "abcdefghijklmnopqrstu end"),
            "key [redacted] end",
        ),
        ("id=req_011CSHoEeqs5C35K2UUqRQ7Y;", "id=[redacted];"),
        (
            "Authorization: Bearer abc",
            "Authorization: Bearer [redacted]",
        ),
        ("bearer  short tail", "bearer  [redacted] tail"),
        ("BEARER x", "BEARER [redacted]"),
        ("t: eyJhbGciOiJIUzI1NiJ9xxxxxx", "t: [redacted]"),
        ("Bearerabcdefghijklmnopqrstuvw", "[redacted]"),
        ("€ sk-proj-AbCdEf0123456789XYZabc €", "€ [redacted] €"),
    ];
    for (text, expected) in cases {
        assert_eq!(redact(text), expected, "{text}");
    }
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

// --- retry hints -----------------------------------------------------------

#[test]
fn retry_after_ms_beats_retry_after() {
    let pairs = [("retry-after-ms", "1234"), ("retry-after", "60")];
    assert_eq!(retry_after(429, &pairs, ""), Some(1_234));
    assert_eq!(
        retry_after(429, &[("retry-after-ms", "250.4")], ""),
        Some(250)
    );
}

#[test]
fn retry_after_delta_seconds_may_be_fractional() {
    for (value, ms) in [("30", 30_000), ("1.5", 1_500), ("0", 0), (" 2 ", 2_000)] {
        assert_eq!(retry_after(429, &[("retry-after", value)], ""), Some(ms));
    }
}

#[test]
fn retry_after_http_date_becomes_a_delay() {
    for date in [
        "Tue, 14 Nov 2023 22:13:50 GMT",
        "Tuesday, 14-Nov-23 22:13:50 GMT",
        "Tue Nov 14 22:13:50 2023",
    ] {
        assert_eq!(
            retry_after(429, &[("retry-after", date)], ""),
            Some(30_000),
            "{date}"
        );
    }
}

#[test]
fn retry_after_in_the_past_saturates_at_zero() {
    let past = [("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")];
    assert_eq!(retry_after(429, &past, ""), Some(0));
    let reset = [("x-ratelimit-reset", "1000")];
    assert_eq!(retry_after(429, &reset, ""), Some(0));
    let anthropic = [("anthropic-ratelimit-tokens-reset", "2020-01-01T00:00:00Z")];
    assert_eq!(retry_after(429, &anthropic, ""), Some(0));
}

#[test]
fn openai_reset_durations_take_the_max() {
    let pairs = [
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ];
    assert_eq!(retry_after(429, &pairs, ""), Some(360_000));
    let pairs = [
        ("x-ratelimit-reset-requests", "1h2m3.5s"),
        ("x-ratelimit-reset-tokens", "120ms"),
    ];
    assert_eq!(retry_after(429, &pairs, ""), Some(3_723_500));
    let only_tokens = [("x-ratelimit-reset-tokens", "120ms")];
    assert_eq!(retry_after(429, &only_tokens, ""), Some(120));
}

#[test]
fn anthropic_reset_timestamps_become_a_delay() {
    let pairs = [
        ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:30Z"),
        (
            "anthropic-ratelimit-tokens-reset",
            "2023-11-14T23:14:20+01:00",
        ),
    ];
    assert_eq!(retry_after(429, &pairs, ""), Some(60_000));
    let fraction = [(
        "anthropic-ratelimit-requests-reset",
        "2023-11-14T22:13:21.250Z",
    )];
    assert_eq!(retry_after(429, &fraction, ""), Some(1_250));
}

#[test]
fn openrouter_reset_ms_timestamp_becomes_a_delay() {
    let at = (NOW + 4_500).to_string();
    assert_eq!(
        retry_after(429, &[("x-ratelimit-reset", at.as_str())], ""),
        Some(4_500)
    );
}

#[test]
fn retry_after_beats_reset_headers() {
    let pairs = [
        ("retry-after", "3"),
        ("x-ratelimit-reset-tokens", "6m0s"),
        ("x-ratelimit-reset", "99999999999999"),
    ];
    assert_eq!(retry_after(429, &pairs, ""), Some(3_000));
}

#[test]
fn billing_takes_reset_headers_too() {
    let pairs = [("x-ratelimit-reset-tokens", "2s")];
    assert_eq!(
        retry_after(429, &pairs, OPENAI_INSUFFICIENT_QUOTA),
        Some(2_000)
    );
    assert_eq!(retry_after(402, &[("retry-after", "60")], ""), Some(60_000));
}

#[test]
fn overloaded_takes_retry_after_but_not_reset_headers() {
    assert_eq!(retry_after(529, &[("retry-after", "10")], ""), Some(10_000));
    assert_eq!(
        retry_after(503, &[("retry-after-ms", "700")], ""),
        Some(700)
    );
    assert_eq!(
        retry_after(503, &[("x-ratelimit-reset-requests", "5s")], ""),
        None
    );
}

#[test]
fn other_classes_carry_no_retry_hint() {
    let pairs = [("retry-after", "5"), ("x-ratelimit-reset-requests", "5s")];
    for status in [400, 401, 403, 404, 413, 500, 502, 302] {
        assert_eq!(retry_after(status, &pairs, ""), None, "{status}");
    }
}

#[test]
fn unparseable_retry_headers_are_ignored() {
    assert_eq!(retry_after(429, &[("retry-after", "soon")], ""), None);
    assert_eq!(retry_after(429, &[("retry-after", "-3")], ""), None);
    assert_eq!(retry_after(429, &[("retry-after", "1e3")], ""), None);
    let fallback = [("retry-after-ms", "abc"), ("retry-after", "7")];
    assert_eq!(retry_after(429, &fallback, ""), Some(7_000));
    let to_reset = [
        ("retry-after", "later"),
        ("x-ratelimit-reset-requests", "4s"),
    ];
    assert_eq!(retry_after(429, &to_reset, ""), Some(4_000));
    let mut binary = HeaderMap::new();
    binary.insert(
        "retry-after",
        HeaderValue::from_bytes(b"\xff5").expect("opaque header value"),
    );
    assert_eq!(classify_http(429, &binary, b"", NOW).retry_after_ms, None);
    let huge = [("retry-after", "99999999999999999999999999")];
    assert_eq!(retry_after(429, &huge, ""), Some(u64::MAX));
}

// --- parsers ---------------------------------------------------------------

#[test]
fn go_durations_parse_to_ms() {
    let cases = [
        ("1s", Some(1_000)),
        ("6m0s", Some(360_000)),
        ("120ms", Some(120)),
        ("1h2m3.5s", Some(3_723_500)),
        ("2m59.56s", Some(179_560)),
        ("0.5s", Some(500)),
        ("1500us", Some(2)),
        ("5", Some(5_000)),
        ("", None),
        ("s", None),
        ("1x", None),
        ("1.2.3s", None),
        ("-1s", None),
        ("1 s", None),
    ];
    for (text, ms) in cases {
        assert_eq!(parse_duration_ms(text), ms, "{text}");
    }
}

#[test]
fn http_dates_parse_in_all_three_formats() {
    let rfc_example = Some(784_111_777_000);
    for text in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        assert_eq!(parse_http_date(text), rfc_example, "{text}");
    }
    for bad in [
        "",
        "Sun, 30 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 1994 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Nov Nov 1994 08:49:37 GMT",
        "06 Nov 1994 08:49",
        "Sun, 06 Nov 19945 08:49:37 GMT",
    ] {
        assert_eq!(parse_http_date(bad), None, "{bad}");
    }
}

#[test]
fn rfc3339_timestamps_parse_with_fraction_and_offset() {
    let cases = [
        ("1994-11-06T08:49:37Z", Some(784_111_777_000)),
        ("1994-11-06T09:49:37+01:00", Some(784_111_777_000)),
        ("1994-11-06T07:19:37-01:30", Some(784_111_777_000)),
        ("1994-11-06T08:49:37.25Z", Some(784_111_777_250)),
        ("1994-11-06t08:49:37.999999z", Some(784_111_777_999)),
        ("1970-01-01T00:00:00Z", Some(0)),
        ("1969-12-31T23:59:59Z", Some(-1_000)),
        ("1994-11-06T08:49:37", None),
        ("1994-11-06T08:49:37.Z", None),
        ("1994-13-06T08:49:37Z", None),
        ("1994-11-06T08:49:37+1:00", None),
        ("1994-11-06 08:49:37 UTC", None),
        ("1994-11-06T08:49:3€Z", None),
        ("", None),
    ];
    for (text, ms) in cases {
        assert_eq!(parse_rfc3339(text), ms, "{text}");
    }
}

#[test]
fn civil_days_match_known_dates() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(2023, 11, 14), 19_675);
    assert_eq!(days_from_civil(2024, 2, 29), 19_782);
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
            "http://user:pw@127.0.0.1:9/v1/messages?key=sk-abcdefghijklmnopqrstuvwxyz#frag",
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
