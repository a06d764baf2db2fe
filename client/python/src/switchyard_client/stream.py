"""Streamed answers of `CompleteStream` and `AuxCompleteStream`.

A stream's events are `started` (the answering candidate and the trail so far), then
`delta` text pieces and `tool_call_delta` tool-call pieces in order, then `finished`
(usage, finish reason, the tool calls assembled, whole trail). The
server fails over only before the first text; a failure after it ends the stream with
`StreamInterrupted`. `CompletionStream` (blocking) and `AsyncCompletionStream`
(asyncio) iterate over the text pieces (`pieces()` also yields the tool-call
pieces) and keep the rest; `_Events` is the order of
the events, shared by both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import grpc
import grpc.aio

from switchyard.v1 import switchyard_pb2 as pb

from .errors import StreamInterrupted, SwitchyardError, from_rpc_error

__all__ = ["AsyncCompletionStream", "CompletionStream"]


class _Events:
    """What a stream has delivered, and the order its events must come in: `started`
    once and first, `delta`s, then `finished` once and last. No I/O.

    `accept` takes each event (a `CompleteStreamResponse` or an
    `AuxCompleteStreamResponse`) and returns its text, if any; `ended` and `failed`
    make the error of an end without `finished` and of a failed call.
    """

    def __init__(self) -> None:
        self.started: pb.StreamStarted | None = None
        self.finished: pb.StreamFinished | None = None
        self.pieces: list[str] = []
        self.tool_call_deltas: list[pb.ToolCallDelta] = []

    @property
    def content(self) -> str:
        return "".join(self.pieces)

    def accept(self, event: Any) -> str | pb.ToolCallDelta | None:
        """Records `event`; returns its text when it is a non-empty delta, or its
        tool-call piece. Raises a `SwitchyardError` when the event is out of order."""
        kind = event.WhichOneof("event")
        if self.finished is not None and kind is not None:
            raise self._protocol(f"a {kind} event after finished")
        if kind == "started":
            if self.started is not None:
                raise self._protocol("a second started event")
            self.started = event.started
            return None
        if kind is None:  # an event newer than this client: nothing to show
            return None
        if self.started is None:
            raise self._protocol(f"a {kind} event before started")
        if kind == "delta":
            text: str = event.delta
            if not text:
                return None
            self.pieces.append(text)
            return text
        if kind == "tool_call_delta":
            delta: pb.ToolCallDelta = event.tool_call_delta
            self.tool_call_deltas.append(delta)
            return delta
        if kind == "finished":
            self.finished = event.finished
            return None
        return None  # a oneof member newer than this client

    def ended(self) -> SwitchyardError:
        """The error of a stream that ended without `finished`."""
        if self.started is None:
            return self._protocol("the stream ended before its started event")
        error = StreamInterrupted(
            "the stream ended without its finished event: the answer may be incomplete",
            code=grpc.StatusCode.UNKNOWN,
            request_id=self.started.request_id or None,
            attempts=self.started.attempts,
        )
        error.content = self.content
        return error

    def failed(self, error: SwitchyardError) -> SwitchyardError:
        """`error` (of the call) with the text received so far, if it is a
        `StreamInterrupted`."""
        if isinstance(error, StreamInterrupted):
            error.content = self.content
        return error

    def _protocol(self, what: str) -> SwitchyardError:
        request_id = self.started.request_id if self.started is not None else None
        return SwitchyardError(
            f"unexpected stream from the server: {what}",
            code=grpc.StatusCode.UNKNOWN,
            request_id=request_id or None,
        )


class _StreamState:
    """What both streams expose; see `CompletionStream`."""

    def __init__(self, call: Any, deadline: float | None) -> None:
        self._call = call
        self._deadline = deadline
        self._events = _Events()
        self._done = False  # no more events will be read
        self._closed = False  # closed by the caller (close(), leaving `with`)
        self._error: SwitchyardError | None = None

    @property
    def started(self) -> pb.StreamStarted:
        """The `started` event: request id, answering candidate, trail so far."""
        started = self._events.started
        if started is None:
            raise RuntimeError("the stream has not started yet: await it, enter it or iterate")
        return started

    @property
    def request_id(self) -> str:
        """The request's id, for `explain_fallback`."""
        return self.started.request_id

    @property
    def served_by(self) -> pb.ServedBy:
        """The provider, model and credential answering."""
        return self.started.served_by

    @property
    def attempts(self) -> list[pb.Attempt]:
        """The trail known so far: `started`'s (up to the answering attempt), then
        `finished`'s once the stream has finished, or the error's once it failed."""
        if self._events.finished is not None:
            return list(self._events.finished.attempts)
        if self._error is not None and self._error.attempts:
            return list(self._error.attempts)
        return list(self.started.attempts)

    @property
    def finished(self) -> pb.StreamFinished | None:
        """The `finished` event (usage, finish reason, whole trail) once the stream
        has ended normally; None before, and after an error or `close()`."""
        return self._events.finished

    @property
    def error(self) -> SwitchyardError | None:
        """The error that ended the stream, if one did."""
        return self._error

    @property
    def tool_call_deltas(self) -> list[pb.ToolCallDelta]:
        """The tool-call pieces received so far, in order."""
        return list(self._events.tool_call_deltas)

    @property
    def tool_calls(self) -> list[pb.ToolCall]:
        """The tool calls of the answer, assembled, once the stream has finished
        (empty before)."""
        if self._events.finished is None:
            return []
        return list(self._events.finished.tool_calls)

    @property
    def content(self) -> str:
        """The text received so far, all pieces joined (the whole answer once
        `finished`; incomplete after an error)."""
        return self._events.content

    @property
    def done(self) -> bool:
        """The stream has finished, failed or been closed."""
        return self._done

    def _cancel(self) -> None:
        """Stops reading, and cancels the call if it may still be running."""
        if not self._done:
            self._done = True
            self._call.cancel()

    def _close(self) -> None:
        if not self._done:
            # Before the cancel: a read it ends in another thread or task sees it.
            self._closed = True
            self._cancel()

    def _fail(self, error: SwitchyardError) -> SwitchyardError:
        """Ends the stream with `error` (cancelling the call, which may be running)."""
        self._cancel()
        self._error = self._events.failed(error)
        return self._error

    def _accept(self, event: Any) -> str | pb.ToolCallDelta | None:
        try:
            text = self._events.accept(event)
        except SwitchyardError as error:
            raise self._fail(error) from None
        if self._events.finished is not None:
            self._done = True
        return text

    def __repr__(self) -> str:
        started = self._events.started
        if started is None:
            where = "not started"
        else:
            s = started.served_by
            where = f"request_id={started.request_id!r}, served_by={s.provider}/{s.model}"
        state = (
            "finished"
            if self._events.finished is not None
            else "failed"
            if self._error is not None
            else "closed"
            if self._closed
            else "ended"
            if self._done
            else "open"
        )
        return f"{type(self).__name__}({where}, pieces={len(self._events.pieces)}, state={state})"


class CompletionStream(_StreamState):
    """A streamed answer, returned by `SwitchyardClient.complete_stream` and
    `aux_complete_stream` once a candidate has produced its first text.

    Iterating yields the text pieces, in order; the iteration ends after the
    `finished` event, which `finished` then holds. `request_id`, `served_by` and
    `attempts` are there from the start; `content` joins the pieces received so far.

    A failure after text raises `StreamInterrupted` (with the trail and that text)
    from the iteration; other failures raise their `SwitchyardError` subclass (e.g.
    `DeadlineExceeded` when the call's timeout, which bounds the whole stream, passes).
    `close()`, or leaving a ``with`` block, cancels the call if it is still running;
    the iteration then ends without `finished`. `close()` may be called from another
    thread to stop a loop reading the stream.
    """

    def __init__(self, call: Any, *, deadline: float | None = None) -> None:
        """Takes a started `unary_stream` call and reads its `started` event; raises
        the call's `SwitchyardError` (the same as the unary call's) if it fails first."""
        super().__init__(call, deadline)
        try:
            while self._events.started is None:
                event = self._read()
                if event is None:  # not reached: only close() ends a read with None
                    raise RuntimeError("the stream was closed before it started")
                self._accept(event)
        except BaseException:
            self._cancel()
            raise

    def _read(self) -> Any | None:
        """The next event, or None at the end of the stream (or once closed)."""
        if self._done:
            return None
        try:
            event = next(self._call)
        except StopIteration:
            if self._closed:
                return None
            raise self._fail(self._events.ended()) from None
        except grpc.RpcError as error:
            if self._closed:
                return None
            raise self._fail(from_rpc_error(error, deadline=self._deadline)) from error
        return event

    def __iter__(self) -> CompletionStream:
        return self

    def __next__(self) -> str:
        for piece in self._pieces():
            if isinstance(piece, str):
                return piece
        raise StopIteration

    def pieces(self) -> Iterator[str | pb.ToolCallDelta]:
        """The text pieces and the tool-call pieces (`ToolCallDelta`: the first of
        each call has its id and name, the next ones add to its arguments), in order;
        `tool_calls` holds the calls assembled once it ends."""
        return self._pieces()

    def _pieces(self) -> Iterator[str | pb.ToolCallDelta]:
        while True:
            event = self._read()
            if event is None:
                return
            piece = self._accept(event)
            if piece is not None:
                yield piece
            if self._done:
                return

    def close(self) -> None:
        """Cancels the call if it is still running; idempotent."""
        self._close()

    def __enter__(self) -> CompletionStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncCompletionStream(_StreamState):
    """The asyncio variant of `CompletionStream`, returned (without ``await``) by
    `AsyncSwitchyardClient.complete_stream` and `aux_complete_stream`:

        async with client.complete_stream(messages) as stream:  # waits for `started`
            async for piece in stream:
                ...

    ``await stream`` (or ``await stream.start()``) also waits for `started` and returns
    the stream, and ``async for`` on a stream not yet started starts it. A failure
    before any text raises its `SwitchyardError` there, the same as the unary call's.
    `request_id`, `served_by` and `attempts` raise `RuntimeError` before `started`.
    `await close()`, or leaving ``async with``, cancels the call if it is running.
    """

    def __init__(self, call: Any, *, deadline: float | None = None) -> None:
        super().__init__(call, deadline)

    async def _read(self) -> Any | None:
        """The next event, or None at the end of the stream (or once closed)."""
        if self._done:
            return None
        try:
            event = await self._call.read()
        except asyncio.CancelledError:
            # grpc.aio raises CancelledError from a read of a call cancelled by
            # close(); any other cancellation (of this task) goes on.
            if self._closed and not _cancelling():
                return None
            raise
        except grpc.RpcError as error:
            if self._closed:
                return None
            raise self._fail(from_rpc_error(error, deadline=self._deadline)) from error
        if event is grpc.aio.EOF:
            if self._closed:
                return None
            raise self._fail(self._events.ended())
        return event

    async def start(self) -> AsyncCompletionStream:
        """Waits for the `started` event (once a candidate has produced its first
        text) and returns the stream; raises the call's `SwitchyardError` if it fails
        first. Does nothing once started."""
        try:
            while self._events.started is None:
                event = await self._read()
                if event is None:  # closed, or failed by an earlier start()
                    if self._error is not None:
                        raise self._error
                    raise RuntimeError("the stream was closed before it started")
                self._accept(event)
        except BaseException:
            self._cancel()
            raise
        return self

    def __await__(self) -> Generator[Any, None, AsyncCompletionStream]:
        return self.start().__await__()

    def __aiter__(self) -> AsyncCompletionStream:
        return self

    async def __anext__(self) -> str:
        async for piece in self.pieces():
            if isinstance(piece, str):
                return piece
        raise StopAsyncIteration

    async def pieces(self) -> AsyncIterator[str | pb.ToolCallDelta]:
        """The text and tool-call pieces, in order; see `CompletionStream.pieces`."""
        if self._events.started is None and not self._done:
            await self.start()
        while True:
            event = await self._read()
            if event is None:
                return
            piece = self._accept(event)
            if piece is not None:
                yield piece
            if self._done:
                return

    async def close(self) -> None:
        """Cancels the call if it is still running; idempotent."""
        self._close()

    async def __aenter__(self) -> AsyncCompletionStream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _cancelling() -> bool:
    """The current task is being cancelled (Python 3.11+; False before)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False
