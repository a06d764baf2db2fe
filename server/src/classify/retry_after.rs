//! Retry hints: how long a provider asks us to wait, from the `Retry-After`
//! family (`retry-after-ms`, `retry-after` in seconds or as an HTTP-date) and the
//! providers' rate-limit reset headers (OpenAI durations, Anthropic RFC 3339
//! timestamps, OpenRouter Unix ms).
//!
//! The clock is passed in (`now`, Unix ms): absolute times become delays that
//! saturate at 0. Dates are parsed by `httpdate` and `time`, not by hand.

use http::HeaderMap;

use crate::domain::{ErrorClass, Millis};

/// The wait a provider asks for after a failure of `class`: the `Retry-After`
/// family, then the reset headers, for `rate_limit` and `billing`; the
/// `Retry-After` family only for `overloaded`; nothing for other classes.
pub(super) fn hint(class: ErrorClass, headers: &HeaderMap, now: Millis) -> Option<u64> {
    match class {
        ErrorClass::RateLimit | ErrorClass::Billing => {
            requested_delay(headers, now).or_else(|| reset_delay(headers, now))
        }
        ErrorClass::Overloaded => requested_delay(headers, now),
        _ => None,
    }
}

/// OpenAI reset headers: Go-style durations.
const OPENAI_RESET_HEADERS: &[&str] = &["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"];
/// Anthropic reset headers: RFC 3339 timestamps.
const ANTHROPIC_RESET_HEADERS: &[&str] = &[
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
];
/// OpenRouter reset header: Unix ms timestamp.
const OPENROUTER_RESET_HEADER: &str = "x-ratelimit-reset";

/// The wait asked by `retry-after-ms`, else `retry-after` (seconds or HTTP-date).
fn requested_delay(headers: &HeaderMap, now: Millis) -> Option<u64> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(parse_decimal) {
        return Some(round_ms(ms));
    }
    let value = header(headers, "retry-after")?;
    match parse_decimal(value) {
        Some(seconds) => Some(round_ms(seconds * 1000.0)),
        None => parse_http_date(value).map(|at| delay_until(at, now)),
    }
}

/// The longest wait announced by the provider reset headers.
fn reset_delay(headers: &HeaderMap, now: Millis) -> Option<u64> {
    let openai = OPENAI_RESET_HEADERS
        .iter()
        .filter_map(|name| header(headers, name).and_then(parse_duration_ms));
    let anthropic = ANTHROPIC_RESET_HEADERS.iter().filter_map(|name| {
        header(headers, name)
            .and_then(parse_rfc3339)
            .map(|at| delay_until(at, now))
    });
    let openrouter = header(headers, OPENROUTER_RESET_HEADER)
        .and_then(parse_decimal)
        .map(|at| round_ms(at).saturating_sub(now));
    openai.chain(anthropic).chain(openrouter).max()
}

/// A header as trimmed, non-empty text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then_some(value)
}

/// Milliseconds from `now` until `at` (Unix ms), 0 when already past.
fn delay_until(at: i64, now: Millis) -> u64 {
    let delta = i128::from(at) - i128::from(now);
    u64::try_from(delta.max(0)).unwrap_or(u64::MAX)
}

/// Rounds a non-negative number of ms; saturates on overflow.
fn round_ms(ms: f64) -> u64 {
    // `as` saturates, and maps NaN to 0.
    ms.round() as u64
}

/// A non-negative decimal number: digits with at most one `.`.
pub(super) fn parse_decimal(text: &str) -> Option<f64> {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let dots = text.bytes().filter(|b| *b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != text.len() {
        return None;
    }
    text.parse().ok().filter(|v: &f64| v.is_finite())
}

/// A Go-style duration as sent by OpenAI (`1s`, `6m0s`, `120ms`, `1h2m3.5s`),
/// in ms; a bare number is seconds.
pub(super) fn parse_duration_ms(text: &str) -> Option<u64> {
    if let Some(seconds) = parse_decimal(text) {
        return Some(round_ms(seconds * 1000.0));
    }
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let value = parse_decimal(&rest[..number_len])?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            "us" | "µs" => 1e-3,
            "ns" => 1e-6,
            _ => return None,
        };
        total += value * unit_ms;
        rest = &rest[unit_len..];
    }
    Some(round_ms(total))
}

/// An HTTP-date (IMF-fixdate, RFC 850 or asctime), as Unix ms.
pub(super) fn parse_http_date(text: &str) -> Option<i64> {
    let at = httpdate::parse_http_date(text).ok()?;
    let since = at.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// An RFC 3339 timestamp (`2024-05-01T12:00:30.5Z`, `...+02:00`), as Unix ms.
pub(super) fn parse_rfc3339(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}
