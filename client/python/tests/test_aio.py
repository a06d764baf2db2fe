"""The asyncio client against the real server and fake providers."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from conftest import CHANNEL_OPTIONS
from harness import BAD_REQUEST, CLIENT_TOKEN, TOKEN_INVALIDATED, Reply

from switchyard_client import (
    AllCandidatesFailed,
    AsyncSwitchyardClient,
    DeadlineExceeded,
    InvalidArgument,
    Unauthenticated,
    http_outcome,
    pb,
    simulation,
)

USER = [{"role": "user", "content": "compress this"}]


def run(server, body, token=CLIENT_TOKEN):
    """Runs `body(client)` in a fresh event loop with a client created inside it,
    whose default token is `token`."""

    async def main():
        async with AsyncSwitchyardClient(
            server.address, token=token, options=CHANNEL_OPTIONS
        ) as client:
            return await body(client)

    return asyncio.run(main())


def test_async_primary_and_aux_calls(server, fakes):
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))

    async def body(client):
        return await asyncio.gather(
            client.complete(USER, token=CLIENT_TOKEN),
            client.aux_complete("compression", USER),
        )

    primary, aux = run(server, body)
    assert isinstance(primary, pb.CompleteResponse)
    assert primary.content == "answer from main"
    assert isinstance(aux, pb.AuxCompleteResponse)
    assert aux.served_by.provider == "cheap"
    assert [pb.Action.Name(a.action) for a in aux.attempts] == [
        "ACTION_NEXT_CANDIDATE",
        "ACTION_SUCCEED",
    ]
    assert fakes.counts() == {"main": 1, "codex": 1, "cheap": 1}


def test_async_explain_fallback(server, fakes):
    async def body(client):
        answer = await client.complete(USER)
        recorded = await client.explain_fallback(answer.request_id)
        simulated = await client.explain_fallback(
            simulation=simulation([http_outcome(401, TOKEN_INVALIDATED)], task="compression")
        )
        return answer, recorded, simulated

    answer, recorded, simulated = run(server, body)
    assert list(recorded.steps) == list(answer.attempts)
    assert simulated.simulated and simulated.outcome == pb.OUTCOME_SUCCEEDED


def test_async_typed_errors(server, fakes):
    for name in ("codex", "cheap", "main"):
        fakes.script(name, Reply.error(400, BAD_REQUEST))

    async def body(client):
        with pytest.raises(AllCandidatesFailed) as failed:
            await client.aux_complete("compression", USER)
        with pytest.raises(InvalidArgument) as invalid:
            await client.complete([])
        return failed.value, invalid.value

    failed, invalid = run(server, body)
    assert failed.code == grpc.StatusCode.UNAVAILABLE
    assert failed.request_id
    assert len(failed.attempts) == 4
    assert pb.Action.Name(failed.attempts[-1].action) == "ACTION_GIVE_UP"
    assert [v.field for v in invalid.field_violations] == ["messages"]


def test_async_client_deadline(server, fakes):
    fakes.script("codex", Reply.ok("too late", delay=3.0))

    async def body(client):
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as caught:
            await client.aux_complete("compression", USER, timeout=0.5)
        return caught.value, time.monotonic() - started

    error, elapsed = run(server, body)
    assert elapsed < 2.0
    # See test_client_deadline_raises_deadline_exceeded for the three racing answers.
    assert error.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)


def test_async_calls_need_the_token(server, fakes):
    async def body(client):
        with pytest.raises(Unauthenticated) as missing:
            await client.complete(USER)
        with pytest.raises(Unauthenticated) as wrong:
            await client.aux_complete("compression", USER, token="sy_wrong")
        answer = await client.complete(USER, token=CLIENT_TOKEN)
        return missing.value, wrong.value, answer

    missing, wrong, answer = run(server, body, token=None)
    for error in (missing, wrong):
        assert error.code == grpc.StatusCode.UNAUTHENTICATED
        assert error.reason == "UNAUTHENTICATED"
    assert answer.content == "answer from main"
    assert fakes.counts() == {"main": 1, "codex": 0, "cheap": 0}
