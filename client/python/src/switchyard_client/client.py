"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import grpc

from switchyard.v1 import switchyard_pb2 as pb
from switchyard.v1 import switchyard_pb2_grpc as pb_grpc

from . import _requests as build
from ._requests import ChatKwargs, MessageLike
from .errors import from_rpc_error
from .stream import CompletionStream

if TYPE_CHECKING:  # typing.Unpack is 3.11+; only type checkers read it
    from typing_extensions import Unpack

__all__ = ["SwitchyardClient"]

ChannelOptions = Sequence[tuple[str, Any]]


class SwitchyardClient:
    """A blocking client of `switchyard.v1.SwitchyardService`.

    Args:
        target: the server address, e.g. ``"127.0.0.1:50051"``. Ignored with `channel`.
        token: default bearer token, sent as ``authorization: Bearer <token>``; a
            call's own `token` overrides it.
        timeout: default deadline of a call, in seconds (None: no deadline). The server
            also uses it as the time budget of its fallback policy.
        credentials: TLS channel credentials; None for a plaintext channel.
        options: gRPC channel options.
        channel: an existing channel to use instead; it is not closed by `close()`.

    Calls return the generated response messages (`CompleteResponse`,
    `AuxCompleteResponse`, `ExplainFallbackResponse`) and raise a `SwitchyardError`
    subclass on failure; `complete_stream` and `aux_complete_stream` return a
    `CompletionStream`. Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        if channel is None:
            if target is None:
                raise ValueError("give the server address (target) or a channel")
            if credentials is None:
                channel = grpc.insecure_channel(target, options=options)
            else:
                channel = grpc.secure_channel(target, credentials, options=options)
            self._owns_channel = True
        else:
            self._owns_channel = False
        self._channel = channel
        self._stub = pb_grpc.SwitchyardServiceStub(channel)
        self._token = token
        self._timeout = timeout

    def _call(self, method: Any, request: Any, timeout: float | None, token: str | None) -> Any:
        timeout = self._timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return method(
                request,
                timeout=timeout,
                metadata=build.call_metadata(self._token if token is None else token),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, deadline=deadline) from error

    def complete(
        self,
        messages: Iterable[MessageLike],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        token: str | None = None,
        **chat: Unpack[ChatKwargs],
    ) -> pb.CompleteResponse:
        """Answers the primary turn of the conversation."""
        request = build.complete_request(
            messages, model, max_tokens, temperature, build.chat_options(**chat)
        )
        return cast(pb.CompleteResponse, self._call(self._stub.Complete, request, timeout, token))

    def aux_complete(
        self,
        task: str,
        messages: Iterable[MessageLike],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        token: str | None = None,
        **chat: Unpack[ChatKwargs],
    ) -> pb.AuxCompleteResponse:
        """Answers an auxiliary task (compression, vision, title_generation...)."""
        request = build.aux_complete_request(
            task, messages, model, max_tokens, temperature, build.chat_options(**chat)
        )
        return cast(
            pb.AuxCompleteResponse, self._call(self._stub.AuxComplete, request, timeout, token)
        )

    def _stream(
        self, method: Any, request: Any, timeout: float | None, token: str | None
    ) -> CompletionStream:
        timeout = self._timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        call = method(
            request,
            timeout=timeout,
            metadata=build.call_metadata(self._token if token is None else token),
        )
        return CompletionStream(call, deadline=deadline)

    def complete_stream(
        self,
        messages: Iterable[MessageLike],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        token: str | None = None,
        **chat: Unpack[ChatKwargs],
    ) -> CompletionStream:
        """Streams the answer to the primary turn.

        Returns once a candidate has produced its first text (failing over before it
        exactly as `complete` does), or raises the same errors as `complete`. Iterate
        the returned `CompletionStream` for the text pieces; a failure after text
        raises `StreamInterrupted`. `timeout` bounds the whole stream."""
        request = build.complete_stream_request(
            messages, model, max_tokens, temperature, build.chat_options(**chat)
        )
        return self._stream(self._stub.CompleteStream, request, timeout, token)

    def aux_complete_stream(
        self,
        task: str,
        messages: Iterable[MessageLike],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        token: str | None = None,
        **chat: Unpack[ChatKwargs],
    ) -> CompletionStream:
        """Streams the answer to an auxiliary task; see `complete_stream`."""
        request = build.aux_complete_stream_request(
            task, messages, model, max_tokens, temperature, build.chat_options(**chat)
        )
        return self._stream(self._stub.AuxCompleteStream, request, timeout, token)

    def explain_fallback(
        self,
        request_id: str | None = None,
        *,
        simulation: pb.Simulation | Mapping[str, Any] | None = None,
        timeout: float | None = None,
        token: str | None = None,
    ) -> pb.ExplainFallbackResponse:
        """Returns the recorded trail of a past request (`request_id`), or simulates
        the policy (`simulation`, see `switchyard_client.simulation`). Exactly one."""
        request = build.explain_request(request_id, simulation)
        return cast(
            pb.ExplainFallbackResponse,
            self._call(self._stub.ExplainFallback, request, timeout, token),
        )

    def close(self) -> None:
        """Closes the channel, unless it was given to the constructor."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> SwitchyardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
