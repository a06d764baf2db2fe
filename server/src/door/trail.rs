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

/// `x-switchyard-*` headers: request id, who answered, and the trail, one step per
/// `;`-separated entry: `index provider model error_class http_status action`.
pub(crate) fn trail_headers(
    headers: &mut HeaderMap,
    request_id: &str,
    served: Option<(&Caller, &str, &str)>,
    steps: &[Step],
) {
    let mut put = |name: &'static str, value: String| {
        let clean: String = value
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&clean) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-switchyard-request-id", request_id.to_owned());
    if let Some((caller, provider, model)) = served {
        put("x-switchyard-caller", caller.to_string());
        put("x-switchyard-provider", provider.to_owned());
        put("x-switchyard-model", model.to_owned());
    }
    let counts = crate::steps::StepCounts::of(steps);
    put("x-switchyard-attempts", counts.attempts.to_string());
    put("x-switchyard-skips", counts.skips.to_string());
    put(
        "x-switchyard-fallbacks",
        crate::steps::fallbacks(steps).to_string(),
    );
    let mut trail = String::new();
    for (i, s) in steps.iter().enumerate() {
        let or_dash = |v: &str| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.to_owned()
            }
        };
        let entry = format!(
            "{} {} {} {} {} {}",
            s.candidate_index,
            or_dash(&s.provider),
            or_dash(&s.model),
            s.error_class.as_str(),
            s.http_status,
            s.action.as_str()
        );
        if trail.len() + entry.len() + 2 > MAX_TRAIL_HEADER {
            trail.push_str(&format!("; ... {} more", steps.len() - i));
            break;
        }
        if !trail.is_empty() {
            trail.push_str("; ");
        }
        trail.push_str(&entry);
    }
    put("x-switchyard-trail", trail);
}
