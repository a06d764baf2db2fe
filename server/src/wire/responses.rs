//! The OpenAI Responses API (`kind: openai_responses`, `POST {base_url}/responses`),
//! the wire format of ChatGPT/Codex OAuth accounts: the whole domain chat
//! translated to a request body, a whole answer parsed back, and a stream parser
//! turning its Server-Sent Events into domain [`StreamEvent`]s.
//!
//! Pure: typed serde structs, no I/O, no clock, no tracing. Nothing is dropped
//! silently: a request field or part the Responses API cannot carry is refused as
//! [`Untranslatable`], naming it. Errors the provider reports (`response.failed`,
//! `error` events, a failed whole answer) keep their raw JSON, so
//! [`crate::classify`] reads them like any other provider's.
//!
//! [`StreamEvent`]: crate::domain::chat::StreamEvent

mod answer;
mod request;
mod stream;
#[cfg(test)]
mod tests;

pub use answer::{ParseError, parse_answer};
pub use request::{Untranslatable, request_body};
pub use stream::StreamParser;

/// Path of the endpoint, appended to a provider's `base_url`.
pub const PATH: &str = "/responses";
