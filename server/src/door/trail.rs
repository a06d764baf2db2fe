//! The attempt trail in `x-switchyard-*` response headers, the same on every door.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use axum::response::Response;

use crate::domain::{Caller, Step};

/// Longest `x-switchyard-trail` header; longer trails are cut (the body has them whole).
pub(crate) const MAX_TRAIL_HEADER: usize = 4096;

/// Marks an answer sent before the body was read whole: the connection closes
/// after it, rather than reading the rest of an unwanted body.
pub(crate) fn close(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-switchyard-request-id");
const CALLER: HeaderName = HeaderName::from_static("x-switchyard-caller");
const PROVIDER: HeaderName = HeaderName::from_static("x-switchyard-provider");
const MODEL: HeaderName = HeaderName::from_static("x-switchyard-model");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
const SKIPS: HeaderName = HeaderName::from_static("x-switchyard-skips");
const FALLBACKS: HeaderName = HeaderName::from_static("x-switchyard-fallbacks");
const TRAIL: HeaderName = HeaderName::from_static("x-switchyard-trail");

/// `x-switchyard-*` headers: request id, who answered, and the trail, one step per
/// `;`-separated entry: `index provider model error_class http_status action`.
/// Every answer carries them, so they are built without a string per header
/// (names are constants, numbers are formatted by `HeaderValue` and `itoa`, not
/// through `fmt`).
pub(crate) fn trail_headers(
    headers: &mut HeaderMap,
    request_id: &str,
    served: Option<(&Caller, &str, &str)>,
    steps: &[Step],
) {
    put(headers, REQUEST_ID, request_id);
    if let Some((caller, provider, model)) = served {
        put(headers, CALLER, &caller.label());
        put(headers, PROVIDER, provider);
        put(headers, MODEL, model);
    }
    let counts = crate::steps::StepCounts::of(steps);
    headers.insert(ATTEMPTS, HeaderValue::from(counts.attempts));
    headers.insert(SKIPS, HeaderValue::from(counts.skips));
    headers.insert(FALLBACKS, HeaderValue::from(crate::steps::fallbacks(steps)));
    let mut trail = String::with_capacity(64 * steps.len().min(8));
    let mut entry = String::with_capacity(64);
    let mut number = itoa::Buffer::new();
    for (i, s) in steps.iter().enumerate() {
        entry.clear();
        entry.push_str(number.format(s.candidate_index));
        for part in [
            or_dash(&s.provider),
            or_dash(&s.model),
            s.error_class.as_str(),
        ] {
            entry.push(' ');
            entry.push_str(part);
        }
        entry.push(' ');
        entry.push_str(number.format(s.http_status));
        entry.push(' ');
        entry.push_str(s.action.as_str());
        if trail.len() + entry.len() + 2 > MAX_TRAIL_HEADER {
            trail.push_str("; ... ");
            trail.push_str(number.format(steps.len() - i));
            trail.push_str(" more");
            break;
        }
        if !trail.is_empty() {
            trail.push_str("; ");
        }
        trail.push_str(&entry);
    }
    put(headers, TRAIL, &trail);
}

fn or_dash(v: &str) -> &str {
    if v.is_empty() { "-" } else { v }
}

/// Inserts `value`, each character other than visible ASCII and space shown as `?`
/// (names of providers and models come from the config and may be anything).
fn put(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    let printable = |b: u8| b.is_ascii_graphic() || b == b' ';
    // The usual value is checked byte by byte, not decoded: every byte of a
    // character beyond ASCII is above 0x7f, so fails the check.
    let value = if value.bytes().all(printable) {
        HeaderValue::from_str(value)
    } else {
        let clean: String = value
            .chars()
            .map(|c| match u8::try_from(c) {
                Ok(b) if printable(b) => c,
                _ => '?',
            })
            .collect();
        HeaderValue::from_str(&clean)
    };
    if let Ok(v) = value {
        headers.insert(name, v);
    }
}
