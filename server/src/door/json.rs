//! JSON answers of the doors, serialised once into a buffer of their usual size.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Room for a typical answer (a chat completion with its `switchyard` trail is
/// about 800 bytes), so the buffer is not grown while serialising.
const TYPICAL_ANSWER: usize = 1024;
/// Room for an answer's headers: its content type and the `x-switchyard-*` trail
/// headers (eight), so the map is allocated once and never grown and rehashed.
const TYPICAL_HEADERS: usize = 12;

/// `value` as an `application/json` answer with `status`. `axum::Json` does the same
/// into a 128-byte buffer written through `io::Write`, growing it several times for
/// each answer. A value that cannot be serialised (never one of the doors' own
/// types) is a 500, as with `axum::Json`.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut buf = Vec::with_capacity(TYPICAL_ANSWER);
    match serde_json::to_writer(&mut buf, value) {
        Ok(()) => {
            let mut response = Response::new(Body::from(buf));
            *response.status_mut() = status;
            *response.headers_mut() = axum::http::HeaderMap::with_capacity(TYPICAL_HEADERS);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
