//! `SwitchyardService` itself: one generic body for the whole chat RPCs
//! (`Complete`, `AuxComplete`) and one for the streamed ones (`CompleteStream`,
//! `AuxCompleteStream`). Each request type says how it reads as a [`ChatCall`],
//! each response type how it wraps an answer; the bodies never learn which RPC
//! they serve, so the four cannot drift apart.

use switchyard_client::pb;
use tonic::{Request, Response, Status};

use crate::domain::{Caller, ChatRequest};
use crate::service::Completion;
use crate::simulate::CredentialBasis;

use super::convert::{ChatCall, Reply, chat_request, reply};
use super::simulation::simulation_spec;
use super::status::{call_status, explain_status, invalid};
use super::stream::{Event, EventStream, event_stream};
use super::trail::explain_response;
use super::{GrpcService, grpc_timeout};

// === the four chat RPCs as one ===

/// A chat RPC's request.
pub(crate) trait ChatRpc {
    /// The request's fields, the same for every chat RPC.
    fn into_call(self) -> ChatCall;
}

/// A whole chat RPC's response.
pub(crate) trait WholeReply {
    /// The response carrying `c`.
    fn reply(c: Completion) -> Self;
}

/// A streamed chat RPC's response event.
pub(crate) trait StreamReply: Send + 'static {
    /// The response carrying `event`.
    fn wrap(event: Event) -> Self;
}

impl GrpcService {
    /// Validates a call into its caller and chat request: the fields, then the task.
    fn chat(&self, call: ChatCall) -> Result<(Caller, ChatRequest), Status> {
        let mut violations = Vec::new();
        let task = call.task.clone();
        if task.as_deref() == Some("") {
            violations.push(("task", "the task name is required".to_owned()));
        }
        let chat = chat_request(self.service.limits(), call, violations)?;
        let caller = match task {
            None => Caller::Primary,
            Some(task) => Caller::Aux(task),
        };
        self.service
            .check_caller(&caller)
            .map_err(|e| call_status(e.into()))?;
        Ok((caller, chat))
    }

    /// `Complete` and `AuxComplete`.
    async fn whole<Q: ChatRpc, R: WholeReply>(
        &self,
        request: Request<Q>,
    ) -> Result<Response<R>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let (caller, chat) = self.chat(request.into_inner().into_call())?;
        let c = self
            .service
            .complete(caller, chat, deadline)
            .await
            .map_err(call_status)?;
        Ok(Response::new(R::reply(c)))
    }

    /// `CompleteStream` and `AuxCompleteStream`.
    async fn streamed<Q: ChatRpc, R: StreamReply>(
        &self,
        request: Request<Q>,
    ) -> Result<Response<EventStream<R>>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let (caller, chat) = self.chat(request.into_inner().into_call())?;
        let stream = self
            .service
            .stream(caller, chat, deadline)
            .await
            .map_err(call_status)?;
        Ok(Response::new(event_stream(stream, R::wrap)))
    }
}

// === impl SwitchyardService ===

#[tonic::async_trait]
impl pb::switchyard_service_server::SwitchyardService for GrpcService {
    async fn complete(
        &self,
        request: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteResponse>, Status> {
        self.whole(request).await
    }

    async fn aux_complete(
        &self,
        request: Request<pb::AuxCompleteRequest>,
    ) -> Result<Response<pb::AuxCompleteResponse>, Status> {
        self.whole(request).await
    }

    type CompleteStreamStream = EventStream<pb::CompleteStreamResponse>;

    async fn complete_stream(
        &self,
        request: Request<pb::CompleteStreamRequest>,
    ) -> Result<Response<Self::CompleteStreamStream>, Status> {
        self.streamed(request).await
    }

    type AuxCompleteStreamStream = EventStream<pb::AuxCompleteStreamResponse>;

    async fn aux_complete_stream(
        &self,
        request: Request<pb::AuxCompleteStreamRequest>,
    ) -> Result<Response<Self::AuxCompleteStreamStream>, Status> {
        self.streamed(request).await
    }

    async fn explain_fallback(
        &self,
        request: Request<pb::ExplainFallbackRequest>,
    ) -> Result<Response<pb::ExplainFallbackResponse>, Status> {
        use pb::explain_fallback_request::Query;
        let answer = match request.into_inner().query {
            None => {
                return Err(invalid(vec![(
                    "query",
                    "set request_id or simulation".to_owned(),
                )]));
            }
            Some(Query::RequestId(id)) => {
                if uuid::Uuid::try_parse(&id).is_err() {
                    return Err(invalid(vec![(
                        "request_id",
                        "not a request id (a UUID returned by Complete or AuxComplete)".to_owned(),
                    )]));
                }
                explain_response(self.service.trail(&id).await.map_err(explain_status)?)
            }
            Some(Query::Simulation(sim)) => {
                let spec = simulation_spec(sim)?;
                let simulated = self.service.simulate(spec).await.map_err(explain_status)?;
                pb::ExplainFallbackResponse {
                    credential_basis: match simulated.basis {
                        CredentialBasis::CurrentState => pb::CredentialBasis::CurrentState,
                        CredentialBasis::AllHealthy => pb::CredentialBasis::AllHealthy,
                    } as i32,
                    note: simulated.note,
                    ..explain_response(simulated.trail)
                }
            }
        };
        Ok(Response::new(answer))
    }
}

// === impl ChatRpc, WholeReply, StreamReply ===

impl ChatRpc for pb::CompleteRequest {
    fn into_call(self) -> ChatCall {
        ChatCall {
            task: None,
            messages: self.messages,
            model: self.model,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            options: self.options,
        }
    }
}

impl ChatRpc for pb::AuxCompleteRequest {
    fn into_call(self) -> ChatCall {
        ChatCall {
            task: Some(self.task),
            messages: self.messages,
            model: self.model,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            options: self.options,
        }
    }
}

impl ChatRpc for pb::CompleteStreamRequest {
    fn into_call(self) -> ChatCall {
        ChatCall {
            task: None,
            messages: self.messages,
            model: self.model,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            options: self.options,
        }
    }
}

impl ChatRpc for pb::AuxCompleteStreamRequest {
    fn into_call(self) -> ChatCall {
        ChatCall {
            task: Some(self.task),
            messages: self.messages,
            model: self.model,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            options: self.options,
        }
    }
}

impl WholeReply for pb::CompleteResponse {
    fn reply(c: Completion) -> Self {
        let Reply {
            request_id,
            content,
            usage,
            served_by,
            attempts,
            tool_calls,
            finish_reason,
        } = reply(c);
        Self {
            request_id,
            content,
            usage,
            served_by,
            attempts,
            tool_calls,
            finish_reason,
        }
    }
}

impl WholeReply for pb::AuxCompleteResponse {
    fn reply(c: Completion) -> Self {
        let Reply {
            request_id,
            content,
            usage,
            served_by,
            attempts,
            tool_calls,
            finish_reason,
        } = reply(c);
        Self {
            request_id,
            content,
            usage,
            served_by,
            attempts,
            tool_calls,
            finish_reason,
        }
    }
}

impl StreamReply for pb::CompleteStreamResponse {
    fn wrap(event: Event) -> Self {
        use pb::complete_stream_response::Event as E;
        Self {
            event: Some(match event {
                Event::Started(s) => E::Started(s),
                Event::Delta(d) => E::Delta(d),
                Event::Finished(f) => E::Finished(f),
                Event::ToolCall(d) => E::ToolCallDelta(d),
            }),
        }
    }
}

impl StreamReply for pb::AuxCompleteStreamResponse {
    fn wrap(event: Event) -> Self {
        use pb::aux_complete_stream_response::Event as E;
        Self {
            event: Some(match event {
                Event::Started(s) => E::Started(s),
                Event::Delta(d) => E::Delta(d),
                Event::Finished(f) => E::Finished(f),
                Event::ToolCall(d) => E::ToolCallDelta(d),
            }),
        }
    }
}
