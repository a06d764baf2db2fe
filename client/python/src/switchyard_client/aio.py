"""The asyncio client (`grpc.aio`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import grpc
import grpc.aio

from switchyard.v1 import switchyard_pb2 as pb
from switchyard.v1 import switchyard_pb2_grpc as pb_grpc

from . import _requests as build
from ._requests import ChatKwargs, MessageLike
from .errors import from_rpc_error
from .stream import AsyncCompletionStream

if TYPE_CHECKING:  # typing.Unpack is 3.11+; only type checkers read it
    from typing_extensions import Unpack

__all__ = ["AsyncSwitchyardClient"]

ChannelOptions = Sequence[tuple[str, Any]]


class AsyncSwitchyardClient:
    """An asyncio client of `switchyard.v1.SwitchyardService`, on `grpc.aio`.

    Same arguments, results and exceptions as `SwitchyardClient`; every call is a
    coroutine, except `complete_stream` and `aux_complete_stream`, which return an
    `AsyncCompletionStream` to ``await``, enter with ``async with`` or ``async for``.
    Create it inside the event loop that uses it, and ``await close()`` it or use
    ``async with``.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if channel is None:
            if target is None:
                raise ValueError("give the server address (target) or a channel")
            if credentials is None:
                channel = grpc.aio.insecure_channel(target, options=options)
            else:
                channel = grpc.aio.secure_channel(target, credentials, options=options)
            self._owns_channel = True
        else:
            self._owns_channel = False
        self._channel = channel
        self._stub = pb_grpc.SwitchyardServiceStub(channel)
        self._token = token
        self._timeout = timeout

    async def _call(
        self, method: Any, request: Any, timeout: float | None, token: str | None
    ) -> Any:
        timeout = self._timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return await method(
                request,
                timeout=timeout,
                metadata=build.call_metadata(self._token if token is None else token),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, deadline=deadline) from error

    async def complete(
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
        return cast(
            pb.CompleteResponse, await self._call(self._stub.Complete, request, timeout, token)
        )

    async def aux_complete(
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
            pb.AuxCompleteResponse,
            await self._call(self._stub.AuxComplete, request, timeout, token),
        )

    def _stream(
        self, method: Any, request: Any, timeout: float | None, token: str | None
    ) -> AsyncCompletionStream:
        timeout = self._timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        call = method(
            request,
            timeout=timeout,
            metadata=build.call_metadata(self._token if token is None else token),
        )
        return AsyncCompletionStream(call, deadline=deadline)

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
    ) -> AsyncCompletionStream:
        """Streams the answer to the primary turn (not a coroutine: the call starts
        at once). ``async with``, ``await`` or ``async for`` on the returned stream
        waits for the first text, or raises the same errors as `complete`; a failure
        after text raises `StreamInterrupted`. `timeout` bounds the whole stream."""
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
    ) -> AsyncCompletionStream:
        """Streams the answer to an auxiliary task; see `complete_stream`."""
        request = build.aux_complete_stream_request(
            task, messages, model, max_tokens, temperature, build.chat_options(**chat)
        )
        return self._stream(self._stub.AuxCompleteStream, request, timeout, token)

    async def explain_fallback(
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
            await self._call(self._stub.ExplainFallback, request, timeout, token),
        )

    async def close(self) -> None:
        """Closes the channel, unless it was given to the constructor."""
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncSwitchyardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
