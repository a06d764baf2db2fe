//! The rule tables: one row per case (what it shows, status, body, expected class).

use super::*;

pub(super) const TWO_XX: &[Case] = &[
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

pub(super) const AUTH_TERMINAL: &[Case] = &[
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

pub(super) const TERMINAL_CODE_ON_OTHER_STATUS: &[Case] = &[
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

pub(super) const AUTH: &[Case] = &[
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

pub(super) const BILLING: &[Case] = &[
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

pub(super) const FORBIDDEN: &[Case] = &[
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

pub(super) const RATE_LIMIT: &[Case] = &[
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

pub(super) const OVERLOADED: &[Case] = &[
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

pub(super) const SERVER: &[Case] = &[
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

pub(super) const CONTEXT_OVERFLOW: &[Case] = &[
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

pub(super) const CONTENT_POLICY: &[Case] = &[
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

pub(super) const MODEL_UNAVAILABLE: &[Case] = &[
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

pub(super) const INVALID_REQUEST: &[Case] = &[
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

pub(super) const UNKNOWN: &[Case] = &[
    ("informational", 100, "", ErrorClass::Unknown),
    ("zero", 0, "", ErrorClass::Unknown),
    ("past 5xx", 600, "", ErrorClass::Unknown),
    ("huge status", u16::MAX, "{}", ErrorClass::Unknown),
];

pub(super) const ALL_TABLES: &[&[Case]] = &[
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
