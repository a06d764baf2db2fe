//! Switchyard: a gRPC gateway between AI agents and LLM providers that applies one
//! fallback policy to every caller, primary or auxiliary.
//!
//! Dependencies point one way: `grpc` (proto <-> domain) -> `service` -> `executor`
//! -> `policy` (pure) and `provider` / `credentials` / `writer` -> `store`.
//! `admin` (gRPC) and the CLI -> `manage` (the credential use cases, once) ->
//! `credentials` / `oauth` / `store`. On PostgreSQL, `feed` (LISTEN/NOTIFY) ->
//! `credentials` / `store` brings other replicas' changes into the pool.
//! `main.rs` is a thin CLI over [`app::App`].

pub(crate) mod admin;
pub mod app;
pub mod auth;
pub mod check;
pub(crate) mod classify;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod declared;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub(crate) mod door;
pub mod executor;
#[cfg(feature = "demo")]
pub mod fake;
#[cfg(feature = "demo")]
pub mod fake_responses;
pub mod feed;
pub mod grpc;
pub(crate) mod grpc_errors;
pub(crate) mod json_body;
pub mod listener;
pub(crate) mod live;
pub mod manage;
pub(crate) mod messages_api;
pub mod metrics;
pub mod oauth;
pub mod openai;
pub mod policy;
pub mod provider;
pub mod redact;
pub mod reload;
pub(crate) mod responses_api;
pub(crate) mod service;
pub(crate) mod simulate;
pub(crate) mod sse;
pub(crate) mod status;
pub(crate) mod steps;
pub mod store;
pub mod telemetry;
pub mod validate;
pub mod wire;
pub mod writer;
