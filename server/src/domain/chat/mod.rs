//! The whole chat an agent sends and the whole answer it gets back, in one
//! provider-neutral model: messages of ordered parts (text, images), assistant tool
//! calls and tool results, the request options (tools, tool choice, structured
//! output, sampling, reasoning effort), the answer (text, tool calls, normalised
//! finish reason, usage) and the [`StreamEvent`]s a provider stream yields.
//!
//! Every wire format (the gRPC API, the OpenAI-compatible door, and each provider
//! translation) converts to and from these types and nothing else. No proto, no
//! HTTP, no I/O; `serde` only for derives, and `serde_json::value::RawValue` so a
//! JSON Schema is carried as checked text, never re-parsed or copied per candidate.
//!
//! One file per part of the model: [`message`], [`options`], [`answer`], [`stream`].

mod answer;
mod message;
mod options;
mod stream;

pub use answer::*;
pub use message::*;
pub use options::*;
pub use stream::*;

#[cfg(test)]
mod tests;
