//! Provider wire formats: pure translations between the domain chat
//! ([`crate::domain::chat`]) and each provider API's JSON, both ways, whole and
//! streamed. No I/O, no clock; the HTTP calls live in [`crate::provider`].

pub mod anthropic;
pub mod responses;
