//! Retry hints: the `Retry-After` family, the providers' reset headers, and the
//! parsers behind them.

use super::*;
use crate::classify::retry_after::{parse_duration_ms, parse_http_date, parse_rfc3339};

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

/// Days from 1970-01-01 to a date, as the RFC 3339 parser counts them.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let midnight = format!("{year:04}-{month:02}-{day:02}T00:00:00Z");
    parse_rfc3339(&midnight)
        .expect("a valid date")
        .div_euclid(86_400_000)
}

#[test]
fn civil_days_match_known_dates() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(2023, 11, 14), 19_675);
    assert_eq!(days_from_civil(2024, 2, 29), 19_782);
}
