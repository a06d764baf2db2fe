//! Rewrites the statuses tonic's codec gives to requests it cannot decode, so that
//! they follow the README's error table: a request that is not valid protobuf
//! (tonic: `INTERNAL`) or over the transport's message limit (tonic: `OUT_OF_RANGE`,
//! which the table reserves for `CONTEXT_OVERFLOW`) gets `INVALID_ARGUMENT` with an
//! `ErrorInfo` (reason `INVALID_ARGUMENT`) and a `BadRequest` violation.
//!
//! Why a tower layer rather than a custom codec: the codec is chosen by the
//! generated server code (committed in `client/rust`, regenerated for every
//! client), and a decode error surfaces there as a trailers-only response whose
//! `grpc-status` header is all the layer needs to read. The layer matches tonic's
//! own messages only, so the service's `INTERNAL` (store failures) and
//! `OUT_OF_RANGE` (context overflow) pass through untouched.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use tonic::{Code, Status};

/// Prefix of prost's decode errors, as tonic reports them (`INTERNAL`).
const MALFORMED: &str = "failed to decode Protobuf message";
/// Prefix of tonic's over-limit error (`OUT_OF_RANGE`).
const TOO_LARGE: &str = "Error, decoded message length too large";

/// The layer: put it on the gRPC server.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DecodeErrors;

impl<S> tower::Layer<S> for DecodeErrors {
    type Service = DecodeErrorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DecodeErrorsService { inner }
    }
}

/// The service of the [`DecodeErrors`] layer.
#[derive(Debug, Clone)]
pub(crate) struct DecodeErrorsService<S> {
    inner: S,
}

impl<S, R, B> tower::Service<http::Request<R>> for DecodeErrorsService<S>
where
    S: tower::Service<http::Request<R>, Response = http::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<R>) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            rewrite(response.headers_mut());
            Ok(response)
        })
    }
}

/// Replaces a codec failure's status in trailers-only `headers`; anything else is
/// left as it is.
fn rewrite(headers: &mut HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some(replacement) = replacement(&status) else {
        return;
    };
    for name in [
        Status::GRPC_STATUS,
        Status::GRPC_MESSAGE,
        Status::GRPC_STATUS_DETAILS,
    ] {
        headers.remove(name);
    }
    if replacement.add_header(headers).is_err() {
        // Our own message is plain ASCII; keep at least the code right.
        headers.insert(Status::GRPC_STATUS, http::HeaderValue::from_static("3"));
    }
}

/// The `INVALID_ARGUMENT` that replaces a codec failure, or `None`.
fn replacement(status: &Status) -> Option<Status> {
    let message = status.message();
    let violation = match status.code() {
        Code::Internal if message.starts_with(MALFORMED) => {
            let why = message.strip_prefix(MALFORMED).unwrap_or("");
            let why = why.trim_start_matches(':').trim();
            format!(
                "not a valid protobuf encoding of the request message ({})",
                crate::validate::echo(why)
            )
        }
        Code::OutOfRange if message.starts_with(TOO_LARGE) => {
            let numbers: Vec<&str> = message
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .collect();
            match numbers.as_slice() {
                [found, limit] => format!(
                    "the message is {found} bytes, over the transport limit of {limit} bytes \
                     (4 x limits.max_request_bytes + 1 MiB)"
                ),
                _ => {
                    "the message is over the transport limit (4 x limits.max_request_bytes + 1 MiB)"
                        .to_owned()
                }
            }
        }
        _ => return None,
    };
    Some(crate::grpc::invalid(vec![("request", violation)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_failures_become_invalid_argument_and_others_pass() {
        let malformed = Status::internal(
            "failed to decode Protobuf message: AuxCompleteRequest.task: invalid wire type",
        );
        let r = replacement(&malformed).unwrap();
        assert_eq!(r.code(), Code::InvalidArgument);
        assert!(
            r.message().contains("not a valid protobuf"),
            "{}",
            r.message()
        );

        let large = Status::out_of_range(
            "Error, decoded message length too large: found 2097157 bytes, the limit is: 1052672 bytes",
        );
        let r = replacement(&large).unwrap();
        assert_eq!(r.code(), Code::InvalidArgument);
        assert!(r.message().contains("1052672"), "{}", r.message());

        // The service's own statuses are left alone.
        assert!(replacement(&Status::internal("store failure")).is_none());
        assert!(replacement(&Status::out_of_range("context overflow")).is_none());
    }
}
