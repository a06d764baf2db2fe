//! Reading a provider's answer body within its size limit, and the transport
//! failure a reqwest error is.

use bytes::{Bytes, BytesMut};

use crate::domain::TransportError;

use super::*;

/// Why a response body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyError {
    Transport(TransportError),
    /// Over the limit (bytes).
    TooLarge(usize),
}

impl BodyError {
    pub(super) fn outcome<A>(self, status: u16) -> CallOutcome<A> {
        match self {
            BodyError::Transport(e) => CallOutcome::Transport(e),
            BodyError::TooLarge(limit) => CallOutcome::TooLarge { status, limit },
        }
    }
}

/// Reads a body of at most `limit` bytes; a longer one (declared or sent) is
/// refused without reading the rest.
pub(super) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut buf = BytesMut::with_capacity(
        response
            .content_length()
            .map_or(8 * 1024, |n| usize::try_from(n).unwrap_or(limit))
            .min(limit),
    );
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(BodyError::Transport(transport_error(&e))),
        }
    }
}

/// Maps a reqwest failure to a transport class by walking its cause chain.
pub(super) fn transport_error(e: &reqwest::Error) -> TransportError {
    if e.is_timeout() {
        return TransportError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return TransportError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return TransportError::Timeout,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => return TransportError::ConnectionReset,
                _ => {}
            }
        }
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("dns") || text.contains("resolve") || text.contains("lookup") {
            return TransportError::Dns;
        }
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return TransportError::Tls;
        }
        source = err.source();
    }
    if e.is_connect() {
        TransportError::ConnectionRefused
    } else {
        TransportError::ConnectionReset
    }
}
