//! The HTTP front doors' shared plumbing: one listener (`openai_listen`), one
//! state, and what every door does the same way whatever API it imitates —
//! authentication, bounded body reads, the caller a request names, the caller's
//! own timeout, and the trail in `x-switchyard-*` headers.
//!
//! Each door ([`crate::openai`] for chat completions) owns its routes, its wire
//! shapes and its error shape; it renders a [`Rejection`] in that shape. No door
//! decides anything about fallback: they all call the same service layer. The
//! app merges the doors' routes onto one [`DoorState`].

mod json;
mod parse;
pub(crate) mod relay;
pub(crate) mod request;
pub(crate) mod rest;
#[cfg(test)]
mod tests;
mod trail;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Authenticator;
use crate::service::Switchyard;

pub(crate) use json::json;
pub(crate) use parse::parse_body;
pub use request::{AUX_MODEL_PREFIX, PRIMARY_MODEL, TASK_HEADER};
pub(crate) use request::{NoCaller, Rejection, client_timeout, resolve_caller};
#[cfg(test)]
use trail::MAX_TRAIL_HEADER;
pub(crate) use trail::{close, trail_headers};

/// What every door's handlers share.
#[derive(Debug, Clone)]
pub struct DoorState {
    /// The service layer every door calls.
    pub service: Arc<Switchyard>,
    /// Agent token check.
    pub auth: Authenticator,
    /// Largest body read, in bytes.
    pub body_limit: usize,
    /// Longest time to receive a body.
    pub body_read_timeout: Duration,
    /// Unix seconds of the start, the `created` of the models listed.
    pub started: u64,
}

impl DoorState {
    /// The state of the doors on one listener. Bodies are read only after the
    /// token and the declared `Content-Length` are checked, within
    /// `body_read_timeout`.
    pub fn new(service: Arc<Switchyard>, auth: Authenticator, body_read_timeout: Duration) -> Self {
        // Room for requests over the content limit, so they get a clear 400.
        let body_limit = service
            .limits()
            .max_request_bytes
            .saturating_mul(4)
            .saturating_add(1 << 20);
        DoorState {
            service,
            auth,
            body_limit,
            body_read_timeout,
            started: crate::clock::wall_ms() / 1000,
        }
    }
}
