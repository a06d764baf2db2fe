"""Streaming (`complete_stream`, `aux_complete_stream`) against the real server and fake
providers that stream OpenAI-style events: failover only before the first text, and
STREAM_INTERRUPTED, with the trail, after it. Both clients."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
from conftest import CHANNEL_OPTIONS
from harness import (
    BAD_REQUEST,
    CLIENT_TOKEN,
    STREAM_DROP,
    STREAM_ERROR,
    TOKEN_INVALIDATED,
    Reply,
)

from switchyard_client import (
    ERROR_DOMAIN,
    AllCandidatesFailed,
    AsyncCompletionStream,
    AsyncSwitchyardClient,
    CompletionStream,
    DeadlineExceeded,
    InvalidArgument,
    RequestNotFound,
    StreamInterrupted,
    SwitchyardClient,
    Unauthenticated,
    UnknownTask,
    format_trail,
    pb,
)

USER = [{"role": "user", "content": "compress this"}]


def shape(attempts):
    """(provider, credential, action name) of each step."""
    return [(a.provider, a.credential_id, pb.Action.Name(a.action)) for a in attempts]


def wait_for(condition, timeout=10.0, what="the condition"):
    """Polls `condition()` until it returns a true value, which it returns."""
    limit = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > limit:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def recorded_trail(client, request_id):
    """The trail the server records once a stream has ended (written asynchronously)."""

    def fetch():
        try:
            return client.explain_fallback(request_id)
        except RequestNotFound:
            return None

    return wait_for(fetch, what=f"the trail of {request_id}")


def run(server, body, token=CLIENT_TOKEN):
    """Runs `body(client)` in a fresh event loop with an async client created in it."""

    async def main():
        async with AsyncSwitchyardClient(
            server.address, token=token, options=CHANNEL_OPTIONS
        ) as client:
            return await body(client)

    return asyncio.run(main())


# --- the blocking client ---------------------------------------------------------


def test_primary_stream_delivers_the_pieces_in_order_with_the_trail(client, fakes):
    fakes.script("main", Reply.stream("Hel", "lo, ", "wor", "ld"))
    with client.complete_stream(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        max_tokens=64,
        temperature=0.5,
    ) as stream:
        assert isinstance(stream, CompletionStream)
        # `started` is there as soon as the call returns.
        assert stream.request_id
        served = stream.served_by
        assert (served.provider, served.model, served.credential_id) == (
            "main",
            "main-model",
            "main-k1",
        )
        assert shape(stream.attempts) == [("main", "main-k1", "ACTION_SUCCEED")]
        assert stream.finished is None and not stream.done
        pieces = list(stream)
    assert pieces == ["Hel", "lo, ", "wor", "ld"]
    assert stream.content == "Hello, world"
    assert stream.done and stream.error is None
    finished = stream.finished
    assert isinstance(finished, pb.StreamFinished)
    assert finished.finish_reason == "stop"
    assert (finished.usage.input_tokens, finished.usage.output_tokens) == (3, 4)
    assert list(finished.attempts) == list(stream.started.attempts)
    assert stream.attempts == list(finished.attempts)
    assert list(stream) == [], "a finished stream yields nothing more"

    [call] = fakes.calls("main")
    assert call.stream and call.body["stream_options"] == {"include_usage": True}
    assert call.authorization == "Bearer secret-of-main-k1"
    assert call.body["max_tokens"] == 64 and call.body["temperature"] == 0.5
    assert call.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert fakes.counts() == {"main": 1, "codex": 0, "cheap": 0}

    recorded = client.explain_fallback(stream.request_id)
    assert recorded.outcome == pb.OUTCOME_SUCCEEDED
    assert list(recorded.steps) == list(finished.attempts)


def test_a_plain_reply_streams_word_by_word_and_the_model_override_applies(client, fakes):
    stream = client.complete_stream(USER, model="other-model")
    assert "".join(stream) == "answer from main"
    assert stream.content == "answer from main"
    assert stream.served_by.model == "other-model"
    assert fakes.calls("main")[0].model == "other-model"
    assert stream.finished is not None and stream.finished.usage.output_tokens == 3


def test_aux_stream_token_invalidated_falls_through_before_any_text(client, fakes):
    # codex (the task's explicit provider) refuses its token: 401 token_invalidated.
    # cheap (its fallback chain) first opens a stream and closes it before any text,
    # then streams. The caller sees one clean stream, from cheap.
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("cheap", Reply.stream(end=STREAM_DROP), Reply.stream("Sum", "mary ", "here"))
    with client.aux_complete_stream("compression", USER) as stream:
        assert stream.served_by.provider == "cheap"
        assert stream.served_by.model == "cheap-model"
        before_text = [
            ("codex", "codex-k1", "ACTION_NEXT_CANDIDATE"),
            ("cheap", "cheap-k1", "ACTION_RETRY_SAME"),
            ("cheap", "cheap-k1", "ACTION_SUCCEED"),
        ]
        assert shape(stream.attempts) == before_text
        pieces = list(stream)
    assert pieces == ["Sum", "mary ", "here"]
    assert stream.content == "Summary here"

    refused, dropped, answered = stream.started.attempts
    assert refused.error_class == pb.ERROR_CLASS_AUTH_TERMINAL and refused.http_status == 401
    assert dropped.error_class == pb.ERROR_CLASS_TRANSPORT
    assert answered.error_class == pb.ERROR_CLASS_NONE
    assert stream.finished is not None
    assert shape(stream.finished.attempts) == before_text

    # Exactly this sequence reached the providers: codex once, cheap twice, not main.
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 2}
    assert [(c.provider, c.model, c.stream) for c in fakes.calls()] == [
        ("codex", "codex-mini", True),
        ("cheap", "cheap-model", True),
        ("cheap", "cheap-model", True),
    ]
    assert [c.sent for c in fakes.calls()] == [0, 0, 3]

    lines = format_trail(stream).splitlines()
    assert lines[0].startswith(
        "  #0 codex/codex-mini [codex-k1] auth_terminal 401 -> next_candidate:"
    )
    assert lines[2].startswith("  #2 cheap/cheap-model [cheap-k1] 200 -> succeed:")


@pytest.mark.parametrize(
    "end, error_class, pb_class",
    [
        (STREAM_DROP, "transport", pb.ERROR_CLASS_TRANSPORT),
        (STREAM_ERROR, "overloaded", pb.ERROR_CLASS_OVERLOADED),
    ],
)
def test_a_failure_after_text_raises_stream_interrupted_without_failover(
    client, fakes, end, error_class, pb_class
):
    # codex streams two pieces, then drops the connection without [DONE] (or sends
    # an error event): cheap, its fallback, must not be called.
    fakes.script("codex", Reply.stream("Hel", "lo", end=end))
    stream = client.aux_complete_stream("compression", USER)
    received = []
    with pytest.raises(StreamInterrupted) as caught:
        for piece in stream:
            received.append(piece)
    assert received == ["Hel", "lo"]

    error = caught.value
    assert error.code == grpc.StatusCode.ABORTED
    assert error.reason == "STREAM_INTERRUPTED" and error.domain == ERROR_DOMAIN
    assert error.request_id == stream.request_id
    assert error.metadata["request_id"] == stream.request_id
    assert (error.provider, error.model, error.candidate_index) == ("codex", "codex-mini", 0)
    assert error.error_class == error_class
    assert error.content == "Hello" == stream.content
    assert shape(error.attempts) == [
        ("codex", "codex-k1", "ACTION_SUCCEED"),
        ("codex", "codex-k1", "ACTION_STOP_STREAM"),
    ]
    assert error.attempts[-1].error_class == pb_class
    assert "candidate 0 codex codex-mini" in str(error)
    assert "secret-of" not in str(error)

    # The stream itself: no `finished`, the error and its trail, nothing more to read.
    assert stream.finished is None and stream.done
    assert stream.error is error
    assert stream.attempts == error.attempts
    assert list(stream) == []

    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 0}, "no failover after text"
    recorded = recorded_trail(client, error.request_id)
    assert recorded.outcome == pb.OUTCOME_FAILED
    assert recorded.error_reason == pb.ERROR_REASON_STREAM_INTERRUPTED
    assert list(recorded.steps) == error.attempts


def test_errors_before_any_text_are_those_of_the_unary_calls(server, client, fakes):
    # Every candidate fails before any text: the call itself raises, with the trail.
    for name in ("codex", "cheap", "main"):
        fakes.script(name, Reply.error(400, BAD_REQUEST))
    with pytest.raises(AllCandidatesFailed) as caught:
        client.aux_complete_stream("compression", USER)
    error = caught.value
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.request_id
    assert shape(error.attempts) == [
        ("codex", "codex-k1", "ACTION_NEXT_CANDIDATE"),
        ("cheap", "cheap-k1", "ACTION_NEXT_CANDIDATE"),
        ("main", "main-k1", "ACTION_NEXT_CANDIDATE"),
        ("", "", "ACTION_GIVE_UP"),
    ]
    assert fakes.counts() == {"main": 1, "codex": 1, "cheap": 1}

    with pytest.raises(UnknownTask):
        client.aux_complete_stream("astrology", USER)
    with pytest.raises(InvalidArgument) as invalid:
        client.complete_stream([], max_tokens=0)
    assert [v.field for v in invalid.value.field_violations] == ["messages", "max_tokens"]
    with SwitchyardClient(server.address, options=CHANNEL_OPTIONS) as anonymous:
        with pytest.raises(Unauthenticated):
            anonymous.complete_stream(USER)
        # A per-call token works on streams too.
        assert "".join(anonymous.complete_stream(USER, token=CLIENT_TOKEN)) == "answer from main"
    assert fakes.counts() == {"main": 2, "codex": 1, "cheap": 1}


def test_closing_a_stream_cancels_it_and_the_provider_stream(client, fakes):
    # main streams 60 pieces 50 ms apart; the caller reads a few, and another thread
    # closes the stream while the loop waits for the next piece.
    fakes.script("main", Reply.stream(*["tick "] * 60, gap=0.05))
    with client.complete_stream(USER) as stream:
        timer = threading.Timer(0.3, stream.close)
        timer.start()
        received = list(stream)  # ends, without an error, once closed
        timer.join()
    assert 1 <= len(received) < 60
    assert stream.done and stream.finished is None and stream.error is None
    assert list(stream) == []

    # The server stops reading the provider: the fake sees its connection closed.
    [call] = fakes.calls("main")
    wait_for(lambda: call.disconnected, what="the provider connection to close")
    assert call.sent < 60
    recorded = recorded_trail(client, stream.request_id)
    last = recorded.steps[-1]
    assert last.action == pb.ACTION_STOP_STREAM
    assert "the caller closed the stream" in last.reason

    # Leaving a `with` block early closes the stream in the same way.
    fakes.script("main", Reply.stream(*["tock "] * 60, gap=0.05))
    with client.complete_stream(USER) as early:
        assert next(early) == "tock "
    assert early.done and early.finished is None
    second = fakes.calls("main")[1]
    wait_for(lambda: second.disconnected, what="the second provider connection to close")
    assert fakes.counts() == {"main": 2, "codex": 0, "cheap": 0}


def test_the_client_deadline_bounds_the_whole_stream(client, fakes):
    # The first piece comes at 0.6 s, the second at 1.2 s: past the 1 s deadline.
    fakes.script("main", Reply.stream("early ", "late", gap=0.6))
    started = time.monotonic()
    stream = client.complete_stream(USER, timeout=1.0)
    assert next(stream) == "early "
    # The client's own deadline, or the server's budget running out mid-stream.
    with pytest.raises((DeadlineExceeded, StreamInterrupted)) as caught:
        next(stream)
    assert time.monotonic() - started < 2.5
    assert stream.content == "early "
    if isinstance(caught.value, StreamInterrupted):
        assert caught.value.content == "early "
        assert caught.value.attempts[-1].action == pb.ACTION_STOP_STREAM
    assert fakes.counts() == {"main": 1, "codex": 0, "cheap": 0}


# --- the asyncio client ------------------------------------------------------------


def test_async_streams_primary_and_aux_concurrently(server, fakes):
    fakes.script("main", Reply.stream("one ", "two ", "three", gap=0.02))
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("cheap", Reply.stream("Sum", "mary", gap=0.02))

    async def primary(client):
        async with client.complete_stream(USER) as stream:
            assert isinstance(stream, AsyncCompletionStream)
            assert stream.served_by.provider == "main"  # started on `async with`
            pieces = [piece async for piece in stream]
        return stream, pieces

    async def aux(client):
        stream = await client.aux_complete_stream("compression", USER)
        pieces = [piece async for piece in stream]
        return stream, pieces

    async def body(client):
        return await asyncio.gather(primary(client), aux(client))

    (p_stream, p_pieces), (a_stream, a_pieces) = run(server, body)
    assert p_pieces == ["one ", "two ", "three"]
    assert p_stream.content == "one two three"
    assert p_stream.finished is not None and p_stream.finished.finish_reason == "stop"
    assert shape(p_stream.attempts) == [("main", "main-k1", "ACTION_SUCCEED")]

    assert a_pieces == ["Sum", "mary"]
    assert a_stream.served_by.provider == "cheap"
    assert shape(a_stream.attempts) == [
        ("codex", "codex-k1", "ACTION_NEXT_CANDIDATE"),
        ("cheap", "cheap-k1", "ACTION_SUCCEED"),
    ]
    assert fakes.counts() == {"main": 1, "codex": 1, "cheap": 1}


def test_async_stream_interrupted_and_errors_before_text(server, fakes):
    fakes.script("codex", Reply.stream("Hel", "lo", end=STREAM_DROP))

    async def body(client):
        received = []
        with pytest.raises(StreamInterrupted) as interrupted:
            # `async for` on a stream not yet started starts it.
            async for piece in client.aux_complete_stream("compression", USER):
                received.append(piece)
        with pytest.raises(UnknownTask):
            async with client.aux_complete_stream("astrology", USER):
                pass
        with pytest.raises(Unauthenticated):
            await client.complete_stream(USER, token="sy_wrong")
        return received, interrupted.value

    received, error = run(server, body)
    assert received == ["Hel", "lo"]
    assert error.content == "Hello"
    assert error.code == grpc.StatusCode.ABORTED
    assert (error.provider, error.model, error.candidate_index) == ("codex", "codex-mini", 0)
    assert shape(error.attempts) == [
        ("codex", "codex-k1", "ACTION_SUCCEED"),
        ("codex", "codex-k1", "ACTION_STOP_STREAM"),
    ]
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 0}


def test_async_close_cancels_the_stream(server, fakes):
    fakes.script("main", Reply.stream(*["tick "] * 60, gap=0.05))

    async def body(client):
        stream = client.complete_stream(USER)
        with pytest.raises(RuntimeError):
            stream.request_id  # noqa: B018 - not started yet
        async with stream:
            assert stream.request_id
            first = await stream.__anext__()

            async def close_soon():
                await asyncio.sleep(0.2)
                await stream.close()

            # Another task closes the stream while this one waits for a piece.
            closer = asyncio.create_task(close_soon())
            rest = [piece async for piece in stream]
            await closer
        assert [piece async for piece in stream] == []
        return stream, [first, *rest]

    stream, received = run(server, body)
    assert 1 <= len(received) < 60 and stream.finished is None and stream.error is None
    [call] = fakes.calls("main")
    wait_for(lambda: call.disconnected, what="the provider connection to close")
