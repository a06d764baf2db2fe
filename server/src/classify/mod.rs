//! Classification of one upstream outcome of an LLM provider call.
//!
//! This module owns the mapping from what a provider answered (HTTP status,
//! headers and an optional body) or how the call failed (a [`TransportError`])
//! to an [`ErrorClass`], together with the wait the provider asks for and a
//! short, redacted detail for the trail. The detail is scrubbed of the exact
//! secrets a [`Scrubber`] holds (see [`crate::redact`]), then of anything that
//! looks like a key, then cut.
//!
//! It must stay pure: no I/O, no clock (time enters as a `now` value), no
//! logging, no async runtime, no HTTP client. Every function is total: any
//! status, header or body, however malformed, yields a classification and
//! never panics.
//!
//! A 3xx is a redirect, never followed: [`ErrorClass::InvalidRequest`], its detail
//! naming the location (without query string). Then rules are tried in this
//! order, the first match wins (4xx and 5xx only; 2xx is [`ErrorClass::None`],
//! anything else [`ErrorClass::Unknown`]):
//!
//! 1. `auth_terminal`: 400/401/403 with a terminal code (`token_invalidated`...).
//! 2. `billing`: 402, a billing code on any status, or an out-of-credit
//!    message on a 4xx (so OpenAI's `insufficient_quota` 429 is billing).
//! 3. `auth`: 401, or a 4xx with `authentication_error`/`invalid_api_key`.
//! 4. `context_overflow`: 413, a context code on a 4xx, or a context message on a 400.
//! 5. `content_policy`: a content code on a 4xx, or a policy message on a 400/403.
//! 6. `overloaded`: 503, 529, or an overloaded code/type on any status.
//! 7. `rate_limit`: 429, or a rate-limit code on a 4xx.
//! 8. `model_unavailable`: 404, a model code on a 4xx, or a missing-model message on a 400.
//! 9. `forbidden`: 403, or a 4xx with `permission_error`.
//! 10. `server`: any other 5xx.
//! 11. `invalid_request`: any other 4xx.
//!
//! Rooms: this file holds the entry points; [`rules`] the class rules and their
//! code and phrase lists, [`body`] the error body shapes and the trail's detail,
//! [`retry_after`] the retry hints. The pattern heuristic lives in
//! [`crate::redact::pattern`], next to the exact-secret [`Scrubber`].

use http::HeaderMap;

use crate::domain::{ErrorClass, Millis, TransportError};
use crate::redact::Scrubber;
use crate::redact::pattern::redact;

mod body;
mod retry_after;
mod rules;

use body::{ErrorInfo, MAX_DETAIL_CHARS, detail, one_line, truncate_chars};
use rules::{Signals, class_of, implied_status};

/// What the classifier reads as `class`, in words: the "from" column of the
/// README's error-class table, rendered with the policy's rules.
pub(crate) fn signals_of(class: ErrorClass) -> String {
    rules::signals_of(class)
}

/// Result of classifying one upstream outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The class of the outcome.
    pub class: ErrorClass,
    /// HTTP status, 0 for a transport failure.
    pub http_status: u16,
    /// How long the provider asks us to wait (Retry-After, retry-after-ms, provider reset headers), in ms.
    pub retry_after_ms: Option<u64>,
    /// Short human-readable summary for the trail, e.g. `401 token_invalidated: Your authentication token has been invalidated`.
    /// Redacted: never echoes a secret, at most 200 chars.
    pub detail: String,
}

/// Classifies an HTTP answer of a provider.
///
/// `body` may be empty, non-JSON, truncated or not UTF-8. `now` (Unix ms) only
/// turns absolute reset times into a delay, which saturates at 0. The retry
/// hint is filled for `rate_limit` and `billing` (Retry-After family, then
/// provider reset headers) and for `overloaded` (Retry-After family only).
///
/// Only the pattern heuristic redacts the detail: for text that holds none of
/// our secrets (simulations). Real provider answers go through
/// [`classify_http_scrubbed`].
pub(crate) fn classify_http(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Millis,
) -> Classification {
    classify_http_scrubbed(status, headers, body, now, &Scrubber::default())
}

/// [`classify_http`], with every secret of `scrubber` removed from the detail
/// before it is redacted by pattern and truncated.
pub(crate) fn classify_http_scrubbed(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Millis,
    scrubber: &Scrubber,
) -> Classification {
    if (200..300).contains(&status) {
        return Classification {
            class: ErrorClass::None,
            http_status: status,
            retry_after_ms: None,
            detail: status.to_string(),
        };
    }
    if (300..400).contains(&status) {
        return redirect(status, headers, scrubber);
    }
    let info = ErrorInfo::parse(body);
    let class = class_of(status, &Signals::new(info.as_ref()));
    Classification {
        class,
        http_status: status,
        retry_after_ms: retry_after::hint(class, headers, now),
        detail: detail(status, info.as_ref(), body.len(), scrubber),
    }
}

/// A redirect, which is never followed (it would carry the key, and on a 307 the
/// prompt, to another host): [`ErrorClass::InvalidRequest`], so the policy moves
/// to the next candidate without retrying one that will redirect again. The
/// detail names the location without its query string, fragment or user info.
fn redirect(status: u16, headers: &HeaderMap, scrubber: &Scrubber) -> Classification {
    let location = headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| {
            let l = l.split(['?', '#']).next().unwrap_or("");
            // `scheme://user:pass@host/...`: drop what precedes the `@` of the authority.
            match l.split_once("://") {
                Some((scheme, rest)) => {
                    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    let host = authority.rsplit('@').next().unwrap_or(authority);
                    format!("{scheme}://{host}{path}")
                }
                None => l.to_owned(),
            }
        });
    let detail = match location {
        Some(l) if !l.is_empty() => format!("{status} redirect to {} (not followed)", one_line(&l)),
        _ => format!("{status} redirect (not followed)"),
    };
    Classification {
        class: ErrorClass::InvalidRequest,
        http_status: status,
        retry_after_ms: None,
        detail: truncate_chars(redact(&scrubber.scrub(&detail)), MAX_DETAIL_CHARS),
    }
}

/// Classifies a call that got no HTTP answer: always [`ErrorClass::Transport`], status 0.
pub(crate) fn classify_transport(error: TransportError) -> Classification {
    Classification {
        class: ErrorClass::Transport,
        http_status: 0,
        retry_after_ms: None,
        detail: error.as_str().to_owned(),
    }
}

/// Classifies an error event received inside a 2xx stream (an OpenAI-style
/// `data: {"error": ...}` or Anthropic's `event: error`), before or after text.
///
/// Such events carry no HTTP status of their own: the status the rules see is the
/// error's numeric code when it is one (OpenRouter), else the one its type implies
/// (`overloaded_error` 529, `rate_limit_error` 429, ...), else 500. The
/// classification keeps `http_status` (the stream's own, normally 200).
///
/// Like [`classify_http`], redacts by pattern only; see [`classify_stream_error_scrubbed`].
/// The service always scrubs; the tests read the rules through this.
#[cfg(test)]
pub(crate) fn classify_stream_error(http_status: u16, payload: &[u8]) -> Classification {
    classify_stream_error_scrubbed(http_status, payload, &Scrubber::default())
}

/// [`classify_stream_error`], with every secret of `scrubber` removed from the
/// detail before it is redacted by pattern and truncated.
pub(crate) fn classify_stream_error_scrubbed(
    http_status: u16,
    payload: &[u8],
    scrubber: &Scrubber,
) -> Classification {
    let info = ErrorInfo::parse(payload);
    let implied = info.as_ref().and_then(|i| {
        i.numeric_code
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .or_else(|| {
                i.kind
                    .as_deref()
                    .or(i.code.as_deref())
                    .and_then(implied_status)
            })
    });
    let status = implied.unwrap_or(500);
    let class = class_of(status, &Signals::new(info.as_ref()));
    let detail = detail(status, info.as_ref(), payload.len(), scrubber);
    Classification {
        class,
        http_status,
        retry_after_ms: None,
        detail: truncate_chars(format!("stream error event {detail}"), MAX_DETAIL_CHARS),
    }
}

#[cfg(test)]
mod tests;
