//! The floor of a gRPC door to an OpenAI-style provider: `AuxComplete` on tonic,
//! as Switchyard serves it, doing the least such a door can do. The request's
//! messages become a chat-completions body (`serde_json`, the model and
//! `max_tokens`), one reqwest call to the upstream, and the answer's first
//! choice becomes the response (its text and finish reason). No validation,
//! auth, policy, trail, metrics or tracing. Every other RPC is `UNIMPLEMENTED`.

use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};
use switchyard_client::pb;
use switchyard_client::pb::switchyard_service_server::SwitchyardService;
use tonic::{Request, Response, Status};

/// The upstream's URL, with the client Switchyard's providers are built with.
#[derive(Debug, Clone)]
pub(crate) struct Floor {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Floor {
    pub(crate) fn new(client: reqwest::Client, url: reqwest::Url) -> Self {
        Self { client, url }
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<i32>,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

/// An OpenAI-style answer's choice: its text and finish reason (also read by the
/// least gateway, [`crate::least`]).
#[derive(Deserialize)]
pub(crate) struct Choice {
    pub(crate) message: AnswerMessage,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct AnswerMessage {
    pub(crate) content: Option<String>,
}

fn role(role: i32) -> &'static str {
    match pb::Role::try_from(role) {
        Ok(pb::Role::System) => "system",
        Ok(pb::Role::Assistant) => "assistant",
        Ok(pb::Role::Tool) => "tool",
        _ => "user",
    }
}

type Events<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl SwitchyardService for Floor {
    async fn aux_complete(
        &self,
        request: Request<pb::AuxCompleteRequest>,
    ) -> Result<Response<pb::AuxCompleteResponse>, Status> {
        let request = request.into_inner();
        let body = serde_json::to_vec(&ChatRequest {
            model: request.model.as_deref().unwrap_or("bench-model"),
            messages: request
                .messages
                .iter()
                .map(|m| ChatMessage {
                    role: role(m.role),
                    content: &m.content,
                })
                .collect(),
            max_tokens: request.max_tokens,
        })
        .map_err(|e| Status::internal(e.to_string()))?;
        let answer = self
            .client
            .post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, "Bearer sk-bench-fake")
            .body(body)
            .send()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
            .bytes()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let answer: ChatResponse =
            serde_json::from_slice(&answer).map_err(|e| Status::internal(e.to_string()))?;
        let choice = answer
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| Status::internal("no choice"))?;
        Ok(Response::new(pb::AuxCompleteResponse {
            content: choice.message.content.unwrap_or_default(),
            finish_reason: choice.finish_reason.unwrap_or_default(),
            ..Default::default()
        }))
    }

    async fn complete(
        &self,
        _: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteResponse>, Status> {
        Err(Status::unimplemented("the floor serves AuxComplete only"))
    }

    async fn explain_fallback(
        &self,
        _: Request<pb::ExplainFallbackRequest>,
    ) -> Result<Response<pb::ExplainFallbackResponse>, Status> {
        Err(Status::unimplemented("the floor serves AuxComplete only"))
    }

    type CompleteStreamStream = Events<pb::CompleteStreamResponse>;

    async fn complete_stream(
        &self,
        _: Request<pb::CompleteStreamRequest>,
    ) -> Result<Response<Self::CompleteStreamStream>, Status> {
        Err(Status::unimplemented("the floor serves AuxComplete only"))
    }

    type AuxCompleteStreamStream = Events<pb::AuxCompleteStreamResponse>;

    async fn aux_complete_stream(
        &self,
        _: Request<pb::AuxCompleteStreamRequest>,
    ) -> Result<Response<Self::AuxCompleteStreamStream>, Status> {
        Err(Status::unimplemented("the floor serves AuxComplete only"))
    }
}
