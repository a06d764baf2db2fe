//! [`Client`], the hand-written layer over the generated stub, and its per-call
//! [`CallOptions`].

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::SwitchyardServiceClient;
use crate::error::{Error, deadline_passed};
use crate::pb;
use crate::stream::{CompletionStream, Events};

/// A client of `switchyard.v1.SwitchyardService`.
///
/// Cheap to clone (clones share the channel) and usable from many tasks at once.
/// The verbs return the generated response messages, and an [`Error`] typed by the
/// server's `ErrorInfo.reason` on failure.
///
/// ```no_run
/// # async fn example() -> Result<(), switchyard_client::Error> {
/// use switchyard_client::{CallOptions, Client, Message};
///
/// let client = Client::connect("127.0.0.1:50051").await?.with_bearer_token("my-token");
/// let answer = client
///     .aux_complete("compression", [Message::user("Summarise.")], CallOptions::new())
///     .await?;
/// print!("{}", switchyard_client::trail::format(&answer.attempts));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    rpc: SwitchyardServiceClient<Channel>,
    token: Option<String>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("rpc", &self.rpc)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `http://` is added to a target without a scheme (`127.0.0.1:50051`).
pub(crate) fn endpoint(target: String) -> Result<Endpoint, Error> {
    let uri = if target.contains("://") {
        target
    } else {
        format!("http://{target}")
    };
    Endpoint::from_shared(uri.clone())
        .map_err(|e| Error::invalid_locally("target", &format!("{uri:?}: {e}")))
}

impl Client {
    /// Connects to `target`, e.g. `127.0.0.1:50051` or `http://127.0.0.1:50051`
    /// (plaintext when no scheme is given; for TLS, build a [`Channel`] with a
    /// `tls_config` and use [`Client::new`]). Fails with [`Error::Transport`] when the
    /// server cannot be reached.
    pub async fn connect(target: impl Into<String>) -> Result<Self, Error> {
        let channel = endpoint(target.into())?
            .connect()
            .await
            .map_err(Error::connect)?;
        Ok(Self::new(channel))
    }

    /// As [`Client::connect`], but connects on the first call.
    pub fn connect_lazy(target: impl Into<String>) -> Result<Self, Error> {
        Ok(Self::new(endpoint(target.into())?.connect_lazy()))
    }

    /// A client over an existing channel.
    pub fn new(channel: Channel) -> Self {
        Self {
            rpc: SwitchyardServiceClient::new(channel),
            token: None,
            timeout: None,
        }
    }

    /// Sends `authorization: Bearer <token>` with every call, unless a call's
    /// [`CallOptions::bearer_token`] overrides it.
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the default timeout of every call, unless a call's
    /// [`CallOptions::timeout`] or [`CallOptions::deadline`] overrides it.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The generated stub, for what the verbs do not cover.
    pub fn service(&self) -> SwitchyardServiceClient<Channel> {
        self.rpc.clone()
    }

    /// Answers the primary turn of the agent's conversation.
    ///
    /// The call's deadline travels to the server, which bounds the whole fallback
    /// walk with it.
    pub async fn complete(
        &self,
        messages: impl IntoIterator<Item = pb::Message>,
        opts: CallOptions,
    ) -> Result<pb::CompleteResponse, Error> {
        let request = pb::CompleteRequest {
            messages: messages.into_iter().collect(),
            model: opts.model.clone(),
            max_tokens: opts.max_tokens,
            temperature: opts.temperature,
            options: opts.chat_options(),
        };
        self.call(
            request,
            &opts,
            |mut rpc, r| async move { rpc.complete(r).await },
        )
        .await
    }

    /// Answers an auxiliary task such as `compression`, `vision` or
    /// `title_generation`, or any task the server's config defines.
    pub async fn aux_complete(
        &self,
        task: impl Into<String>,
        messages: impl IntoIterator<Item = pb::Message>,
        opts: CallOptions,
    ) -> Result<pb::AuxCompleteResponse, Error> {
        let request = pb::AuxCompleteRequest {
            task: task.into(),
            messages: messages.into_iter().collect(),
            model: opts.model.clone(),
            max_tokens: opts.max_tokens,
            temperature: opts.temperature,
            options: opts.chat_options(),
        };
        self.call(request, &opts, |mut rpc, r| async move {
            rpc.aux_complete(r).await
        })
        .await
    }

    /// Streams the primary turn, through the same fallback policy as
    /// [`Client::complete`]. Returns once a candidate has produced its first token
    /// (failover happens only before that); a failure before it is the error
    /// `complete` would return. Read the text with [`CompletionStream::next_text`].
    ///
    /// The call's deadline bounds the whole stream, reading included.
    pub async fn complete_stream(
        &self,
        messages: impl IntoIterator<Item = pb::Message>,
        opts: CallOptions,
    ) -> Result<CompletionStream, Error> {
        let request = pb::CompleteStreamRequest {
            messages: messages.into_iter().collect(),
            model: opts.model.clone(),
            max_tokens: opts.max_tokens,
            temperature: opts.temperature,
            options: opts.chat_options(),
        };
        let deadline = self.deadline(&opts);
        let streaming = self
            .call(request, &opts, |mut rpc, r| async move {
                rpc.complete_stream(r).await
            })
            .await?;
        CompletionStream::open(Events::Primary(streaming), deadline).await
    }

    /// Streams an auxiliary task, with the rules of [`Client::complete_stream`]
    /// and the fallback policy of [`Client::aux_complete`].
    pub async fn aux_complete_stream(
        &self,
        task: impl Into<String>,
        messages: impl IntoIterator<Item = pb::Message>,
        opts: CallOptions,
    ) -> Result<CompletionStream, Error> {
        let request = pb::AuxCompleteStreamRequest {
            task: task.into(),
            messages: messages.into_iter().collect(),
            model: opts.model.clone(),
            max_tokens: opts.max_tokens,
            temperature: opts.temperature,
            options: opts.chat_options(),
        };
        let deadline = self.deadline(&opts);
        let streaming = self
            .call(request, &opts, |mut rpc, r| async move {
                rpc.aux_complete_stream(r).await
            })
            .await?;
        CompletionStream::open(Events::Aux(streaming), deadline).await
    }

    /// Returns the recorded trail of a past `complete` or `aux_complete` call, by
    /// the request id of its response or of its [`Error`]. An unknown id fails with
    /// [`Error::RequestNotFound`].
    pub async fn explain_request(
        &self,
        request_id: impl Into<String>,
    ) -> Result<pb::ExplainFallbackResponse, Error> {
        self.explain_request_with(request_id, CallOptions::new())
            .await
    }

    /// As [`Client::explain_request`], with a call's own bearer token or deadline
    /// (the other options do not apply).
    pub async fn explain_request_with(
        &self,
        request_id: impl Into<String>,
        opts: CallOptions,
    ) -> Result<pb::ExplainFallbackResponse, Error> {
        let request = pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::RequestId(
                request_id.into(),
            )),
        };
        self.call(request, &opts, |mut rpc, r| async move {
            rpc.explain_fallback(r).await
        })
        .await
    }

    /// Asks the server which steps its fallback policy would take for a caller and
    /// a sequence of upstream outcomes, with the same code as a real call and
    /// without contacting a provider. Build `simulation` with
    /// [`Simulation::task`](pb::Simulation::task) or
    /// [`Simulation::primary`](pb::Simulation::primary).
    pub async fn simulate(
        &self,
        simulation: pb::Simulation,
    ) -> Result<pb::ExplainFallbackResponse, Error> {
        self.simulate_with(simulation, CallOptions::new()).await
    }

    /// As [`Client::simulate`], with a call's own bearer token or deadline;
    /// [`CallOptions::model`] overrides the simulation's model; the other options do
    /// not apply.
    pub async fn simulate_with(
        &self,
        mut simulation: pb::Simulation,
        opts: CallOptions,
    ) -> Result<pb::ExplainFallbackResponse, Error> {
        if let Some(model) = &opts.model {
            simulation.model = Some(model.clone());
        }
        let request = pb::ExplainFallbackRequest {
            query: Some(pb::explain_fallback_request::Query::Simulation(simulation)),
        };
        self.call(request, &opts, |mut rpc, r| async move {
            rpc.explain_fallback(r).await
        })
        .await
    }

    /// The call's timeout and deadline, from its options or the client's default.
    fn deadline(&self, opts: &CallOptions) -> Option<(Duration, Instant)> {
        call_deadline(opts, self.timeout)
    }

    /// One call of the stub, with the client's defaults.
    async fn call<Req, Resp, F, Fut>(
        &self,
        message: Req,
        opts: &CallOptions,
        send: F,
    ) -> Result<Resp, Error>
    where
        F: FnOnce(SwitchyardServiceClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let token = opts.token.as_ref().or(self.token.as_ref());
        invoke(self.rpc.clone(), token, self.deadline(opts), message, send).await
    }
}

/// The call's timeout and deadline: its options', else the client's `default`.
pub(crate) fn call_deadline(
    opts: &CallOptions,
    default: Option<Duration>,
) -> Option<(Duration, Instant)> {
    let now = Instant::now();
    match opts.deadline {
        Some(Deadline::After(timeout)) => Some((timeout, now + timeout)),
        Some(Deadline::At(at)) => Some((at.saturating_duration_since(now), at)),
        None => default.map(|timeout| (timeout, now + timeout)),
    }
}

/// One call of a generated stub (`SwitchyardService` or `CredentialService`): the
/// bearer token as metadata, `grpc-timeout` and the client's own timer, typed errors.
pub(crate) async fn invoke<S, Req, Resp, F, Fut>(
    stub: S,
    token: Option<&String>,
    deadline: Option<(Duration, Instant)>,
    message: Req,
    send: F,
) -> Result<Resp, Error>
where
    F: FnOnce(S, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    let mut request = tonic::Request::new(message);
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        let mut value = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
            Error::invalid_locally(
                "authorization",
                "the bearer token must be printable ASCII without line breaks",
            )
        })?;
        value.set_sensitive(true);
        request.metadata_mut().insert("authorization", value);
    }

    let Some((timeout, at)) = deadline else {
        return match send(stub, request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(Error::from_status(status)),
        };
    };
    if timeout.is_zero() {
        return Err(Error::client_deadline(timeout));
    }
    request.set_timeout(timeout);
    match tokio::time::timeout(timeout, send(stub, request)).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(Error::decode(status, deadline_passed(Some(at)))),
        Err(_elapsed) => Err(Error::client_deadline(timeout)),
    }
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    After(Duration),
    At(Instant),
}

/// Optional fields and settings of one call, builder style:
/// `CallOptions::new().max_tokens(256).timeout(Duration::from_secs(30))`.
///
/// `model`, `max_tokens`, `temperature` and the chat options (tools, tool choice,
/// structured output, sampling: [`CallOptions::tool`], [`CallOptions::json_schema`]...)
/// apply to the four chat calls (`model` also to `simulate_with`); the bearer token
/// and the deadline apply to every call. Unset fields are not sent (proto3 `optional`).
#[derive(Clone, Default)]
pub struct CallOptions {
    model: Option<String>,
    max_tokens: Option<i32>,
    temperature: Option<f64>,
    chat: pb::ChatOptions,
    pub(crate) token: Option<String>,
    deadline: Option<Deadline>,
}

impl fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions")
            .field("model", &self.model)
            .field("max_tokens", &self.max_tokens)
            .field("temperature", &self.temperature)
            .field("chat", &self.chat)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl CallOptions {
    /// No option set: the server's defaults, the client's token and timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides the model of the first candidate (of the main agent model for
    /// `complete`, of the task for `aux_complete`, of the simulated caller for
    /// `simulate_with`).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Bounds the generated tokens; the server requires a positive value.
    pub fn max_tokens(mut self, max_tokens: i32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the sampling temperature, in [0, 2].
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Offers the model a function to call ([`Tool::function`](pb::Tool::function));
    /// call it once per tool.
    pub fn tool(mut self, tool: pb::Tool) -> Self {
        self.chat.tools.push(tool);
        self
    }

    /// Offers the model several functions.
    pub fn tools(mut self, tools: impl IntoIterator<Item = pb::Tool>) -> Self {
        self.chat.tools.extend(tools);
        self
    }

    /// Says which tool the model may or must call: [`ToolChoice::auto`](pb::ToolChoice::auto),
    /// `none`, `required` or [`ToolChoice::function`](pb::ToolChoice::function).
    pub fn tool_choice(mut self, choice: pb::ToolChoice) -> Self {
        self.chat.tool_choice = Some(choice);
        self
    }

    /// Allows or forbids several tool calls in one answer.
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.chat.parallel_tool_calls = Some(parallel);
        self
    }

    /// Asks for structured output ([`ResponseFormat::json_object`](pb::ResponseFormat::json_object),
    /// [`ResponseFormat::json_schema`](pb::ResponseFormat::json_schema)).
    pub fn response_format(mut self, format: pb::ResponseFormat) -> Self {
        self.chat.response_format = Some(format);
        self
    }

    /// Asks for JSON following `schema` (JSON text of an object), strictly.
    pub fn json_schema(self, name: impl Into<String>, schema: impl Into<String>) -> Self {
        self.response_format(pb::ResponseFormat::json_schema(name, schema))
    }

    /// Adds a stop sequence.
    pub fn stop(mut self, sequence: impl Into<String>) -> Self {
        self.chat.stop.push(sequence.into());
        self
    }

    /// Sets nucleus sampling, in (0, 1].
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.chat.top_p = Some(top_p);
        self
    }

    /// Sets the sampling seed, where the provider accepts one.
    pub fn seed(mut self, seed: i64) -> Self {
        self.chat.seed = Some(seed);
        self
    }

    /// Sets how hard a reasoning model thinks.
    pub fn reasoning_effort(mut self, effort: pb::ReasoningEffort) -> Self {
        self.chat.reasoning_effort = effort as i32;
        self
    }

    /// Adds an opaque key-value pair passed through where the provider accepts it.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.chat.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the opaque end-user id passed through where the provider accepts it.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.chat.user = Some(user.into());
        self
    }

    /// The chat options to send; none when nothing is set, as before they existed.
    fn chat_options(&self) -> Option<pb::ChatOptions> {
        (self.chat != pb::ChatOptions::default()).then(|| self.chat.clone())
    }

    /// Sends `authorization: Bearer <token>` with this call instead of the client's
    /// token; an empty token sends none.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The call's deadline, `timeout` from its start: sent as `grpc-timeout` (the
    /// server bounds its fallback walk with it) and enforced by the client, which
    /// then fails with [`Error::Deadline`] unless the server's
    /// [`Error::DeadlineExhausted`] came first.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Deadline::After(timeout));
        self
    }

    /// As [`CallOptions::timeout`], with an instant: a deadline shared by several
    /// calls. A deadline already passed fails the call without sending it.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(Deadline::At(deadline));
        self
    }
}
