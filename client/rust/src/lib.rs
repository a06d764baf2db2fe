//! Rust client of the Switchyard API (`switchyard.v1`), generated from `proto/`.
//!
//! [`Client`] is a thin hand-written layer over the generated stub with the verbs
//! every Switchyard client shares: [`Client::complete`], [`Client::aux_complete`],
//! [`Client::explain_request`] and [`Client::simulate`]. [`CallOptions`] sets a
//! call's model, max tokens, temperature, bearer token and deadline; a failure is an
//! [`Error`] typed by the `ErrorInfo.reason` the server sent, with the request id and
//! the attempt trail; [`trail::format`] prints a trail. The streaming verbs return a
//! [`CompletionStream`], a `futures::Stream` of text pieces. [`AdminClient`] is the
//! admin API (`switchyard.v1.CredentialService`).
//!
//! `pb` holds the messages and the tonic client; with the `server` feature it also
//! holds the server stubs and the encoded file descriptor set used for reflection.
//! Requests and responses are the generated messages, with a few constructors such
//! as [`Message::user`](pb::Message::user) and [`Simulation::task`](pb::Simulation::task).

#![warn(missing_docs)]

/// Generated messages and services of `switchyard.v1`.
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod pb {
    tonic::include_proto!("switchyard.v1");

    /// Encoded `FileDescriptorSet` of the API, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("switchyard_descriptor");
}

pub use pb::switchyard_service_client::SwitchyardServiceClient;

mod admin;
mod client;
mod error;
mod helpers;
mod stream;

pub use admin::AdminClient;
pub use client::{CallOptions, Client};
pub use error::{ERROR_DOMAIN, Error, Failure, FieldViolation, error_reason_of};
pub use pb::{
    ContentPart, Message, ReasoningEffort, ResponseFormat, Role, SimulatedOutcome, Simulation,
    Tool, ToolCall, ToolCallDelta, ToolChoice, TransportFailure,
};
pub use stream::{CompletionStream, StreamPiece};

/// The Rust code of `README.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Human-readable rendering of attempt trails.
pub mod trail {
    use crate::pb;

    /// One line per step: `#i provider/model [credential] class status -> action: reason`.
    pub fn format(attempts: &[pb::Attempt]) -> String {
        let mut out = String::new();
        for (i, a) in attempts.iter().enumerate() {
            let class = pb::ErrorClass::try_from(a.error_class)
                .map(|c| {
                    c.as_str_name()
                        .trim_start_matches("ERROR_CLASS_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_else(|_| a.error_class.to_string());
            let action = pb::Action::try_from(a.action)
                .map(|c| {
                    c.as_str_name()
                        .trim_start_matches("ACTION_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_else(|_| a.action.to_string());
            let target = if a.provider.is_empty() {
                "-".to_owned()
            } else {
                format!("{}/{}", a.provider, a.model)
            };
            let credential = if a.credential_id.is_empty() {
                String::new()
            } else {
                format!(" [{}]", a.credential_id)
            };
            let status = if a.http_status == 0 {
                String::new()
            } else {
                format!(" {}", a.http_status)
            };
            let class = if class == "none" {
                String::new()
            } else {
                format!(" {class}")
            };
            out.push_str(&format!(
                "  #{i} {target}{credential}{class}{status} -> {action}: {}\n",
                a.reason
            ));
        }
        out
    }
}
