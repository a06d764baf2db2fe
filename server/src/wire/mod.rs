//! Provider wire formats: pure translations between the chat domain model
//! ([`crate::domain::chat`]) and each provider's HTTP bodies and event streams.
//! No I/O here: the provider layer sends the bytes these modules build and feeds
//! back the bytes it receives.

pub mod responses;
