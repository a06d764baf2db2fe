"""The synchronous client against the real server and fake providers."""

from __future__ import annotations

import time

import grpc
import pytest
from conftest import CHANNEL_OPTIONS
from harness import ADMIN_TOKEN, BAD_REQUEST, CLIENT_TOKEN, TOKEN_INVALIDATED, Reply, token_sha256

from switchyard_client import (
    ERROR_DOMAIN,
    AllCandidatesFailed,
    DeadlineExceeded,
    DeadlineExhausted,
    FieldViolation,
    InvalidArgument,
    RequestNotFound,
    SwitchyardClient,
    SwitchyardError,
    Unauthenticated,
    Unavailable,
    UnknownTask,
    format_trail,
    http_outcome,
    pb,
    simulation,
)

USER = [{"role": "user", "content": "compress this"}]


def shape(attempts):
    """(provider, credential, action name) of each step."""
    return [(a.provider, a.credential_id, pb.Action.Name(a.action)) for a in attempts]


def keys(attempts):
    """Everything but the free-text reason and the duration."""
    return [
        (
            a.candidate_index,
            a.provider,
            a.model,
            a.credential_id,
            a.error_class,
            a.http_status,
            a.action,
        )
        for a in attempts
    ]


def test_primary_call_succeeds(client, fakes):
    answer = client.complete(
        [{"role": "system", "content": "be brief"}, pb.Message(role=pb.ROLE_USER, content="hi")],
        max_tokens=64,
        temperature=0.5,
    )
    assert isinstance(answer, pb.CompleteResponse)
    assert answer.content == "answer from main"
    assert answer.request_id
    assert (answer.served_by.provider, answer.served_by.model) == ("main", "main-model")
    assert answer.served_by.credential_id == "main-k1"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (3, 2)
    assert shape(answer.attempts) == [("main", "main-k1", "ACTION_SUCCEED")]
    assert fakes.counts() == {"main": 1, "codex": 0, "cheap": 0}
    [call] = fakes.calls("main")
    assert call.authorization == "Bearer secret-of-main-k1"
    assert call.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert call.body["max_tokens"] == 64
    assert call.body["temperature"] == 0.5


def test_model_override_reaches_the_provider(client, fakes):
    answer = client.complete(USER, model="other-model")
    assert answer.served_by.model == "other-model"
    assert fakes.calls("main")[0].model == "other-model"


def test_aux_token_invalidated_falls_through_to_the_chain(client, fakes):
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    answer = client.aux_complete("compression", USER)
    assert answer.content == "answer from cheap"
    assert answer.served_by.provider == "cheap"
    assert shape(answer.attempts) == [
        ("codex", "codex-k1", "ACTION_NEXT_CANDIDATE"),
        ("cheap", "cheap-k1", "ACTION_SUCCEED"),
    ]
    first = answer.attempts[0]
    assert first.error_class == pb.ERROR_CLASS_AUTH_TERMINAL
    assert first.http_status == 401
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 1}
    assert fakes.calls("codex")[0].model == "codex-mini"

    trail = format_trail(answer)
    print(trail)
    lines = trail.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "  #0 codex/codex-mini [codex-k1] auth_terminal 401 -> next_candidate:"
    )
    assert lines[1].startswith("  #1 cheap/cheap-model [cheap-k1] 200 -> succeed:")

    # The dead codex key is skipped without a call from now on.
    again = client.aux_complete("compression", USER)
    assert shape(again.attempts) == [
        ("codex", "", "ACTION_SKIP_CANDIDATE"),
        ("cheap", "cheap-k1", "ACTION_SUCCEED"),
    ]
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 2}


def test_explain_fallback_simulation_matches_the_real_call_and_the_record(client, fakes):
    sim = simulation(
        [http_outcome(401, TOKEN_INVALIDATED)],
        task="compression",
        assume_all_credentials_live=True,
    )
    simulated = client.explain_fallback(simulation=sim)
    assert simulated.simulated
    assert simulated.request_id == ""
    assert simulated.caller.task == "compression"
    assert [(c.provider, c.model, c.origin) for c in simulated.candidates][:2] == [
        ("codex", "codex-mini", "task"),
        ("cheap", "cheap-model", "task_chain[0]"),
    ]
    assert simulated.outcome == pb.OUTCOME_SUCCEEDED
    assert fakes.counts() == {"main": 0, "codex": 0, "cheap": 0}, "no provider contacted"

    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    answer = client.aux_complete("compression", USER)
    assert keys(simulated.steps) == keys(answer.attempts)

    recorded = client.explain_fallback(answer.request_id)
    assert not recorded.simulated
    assert recorded.request_id == answer.request_id
    assert list(recorded.steps) == list(answer.attempts)
    assert recorded.outcome == pb.OUTCOME_SUCCEEDED

    # A simulation may also be given as a dict (proto JSON field names).
    as_dict = client.explain_fallback(
        simulation={
            "caller": {"primary": {}},
            "outcomes": [{"http": {"status": 529}}] * 3,
            "assumeAllCredentialsLive": True,
        }
    )
    assert as_dict.simulated and as_dict.caller.HasField("primary")


def test_every_candidate_failing_raises_all_candidates_failed_with_the_trail(client, fakes):
    for name in ("codex", "cheap", "main"):
        fakes.script(name, Reply.error(400, BAD_REQUEST))
    with pytest.raises(AllCandidatesFailed) as caught:
        client.aux_complete("compression", USER)
    error = caught.value
    assert isinstance(error, SwitchyardError)
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.reason == "ALL_CANDIDATES_FAILED"
    assert error.domain == "switchyard.dev"
    assert error.request_id and error.metadata["request_id"] == error.request_id
    assert shape(error.attempts) == [
        ("codex", "codex-k1", "ACTION_NEXT_CANDIDATE"),
        ("cheap", "cheap-k1", "ACTION_NEXT_CANDIDATE"),
        ("main", "main-k1", "ACTION_NEXT_CANDIDATE"),
        ("", "", "ACTION_GIVE_UP"),
    ]
    assert all(a.error_class == pb.ERROR_CLASS_INVALID_REQUEST for a in error.attempts[:3])
    assert fakes.counts() == {"main": 1, "codex": 1, "cheap": 1}
    assert "secret-of" not in str(error)
    assert len(format_trail(error).splitlines()) == len(error.attempts)

    recorded = client.explain_fallback(error.request_id)
    assert list(recorded.steps) == error.attempts
    assert recorded.outcome == pb.OUTCOME_FAILED
    assert recorded.error_reason == pb.ERROR_REASON_ALL_CANDIDATES_FAILED


def test_empty_messages_raise_invalid_argument_with_field_violations(client, fakes):
    with pytest.raises(InvalidArgument) as caught:
        client.complete([])
    error = caught.value
    assert type(error) is InvalidArgument
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_ARGUMENT"
    assert [v.field for v in error.field_violations] == ["messages"]
    assert isinstance(error.field_violations[0], FieldViolation)
    assert error.field_violations[0].description
    assert error.request_id is None and error.attempts == []

    with pytest.raises(InvalidArgument) as caught:
        client.aux_complete("compression", USER, max_tokens=0, temperature=7.0)
    assert [v.field for v in caught.value.field_violations] == ["max_tokens", "temperature"]
    assert fakes.counts() == {"main": 0, "codex": 0, "cheap": 0}


def test_unknown_task_and_unknown_request_id_are_typed(client):
    with pytest.raises(UnknownTask) as caught:
        client.aux_complete("astrology", USER)
    assert isinstance(caught.value, InvalidArgument)
    assert caught.value.reason == "UNKNOWN_TASK"
    assert [v.field for v in caught.value.field_violations] == ["task"]

    with pytest.raises(RequestNotFound) as caught:
        client.explain_fallback("01900000-0000-7000-8000-000000000000")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND

    with pytest.raises(ValueError):
        client.explain_fallback()
    with pytest.raises(ValueError):
        client.complete([{"role": "critic", "content": "x"}])


def test_client_deadline_raises_deadline_exceeded(client, fakes):
    fakes.script("codex", Reply.ok("too late", delay=3.0))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        client.aux_complete("compression", USER, timeout=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"the call took {elapsed:.2f}s despite a 0.5 s deadline"
    error = caught.value
    # The server's budget is the same deadline, so three answers race: the client's
    # own timer (DEADLINE_EXCEEDED, no trail), tonic's enforcement of grpc-timeout
    # (CANCELLED "Timeout expired", mapped to DeadlineExceeded by the client), and the
    # policy's DeadlineExhausted with the trail (cheap is left but the budget is not).
    if isinstance(error, DeadlineExhausted):
        assert error.request_id and error.attempts
    else:
        assert type(error) is DeadlineExceeded
        assert error.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
        assert error.reason is None and error.attempts == []
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 0}


def test_task_timeout_raises_deadline_exhausted_with_the_trail(client, fakes):
    # The `slow` task has a 400 ms timeout; the client sets no deadline of its own.
    fakes.script("codex", Reply.ok("too late", delay=3.0))
    with pytest.raises(DeadlineExhausted) as caught:
        client.aux_complete("slow", USER)
    error = caught.value
    assert isinstance(error, DeadlineExceeded)
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.reason == "DEADLINE_EXHAUSTED"
    assert error.request_id
    assert shape(error.attempts) == [
        ("codex", "codex-k1", "ACTION_NEXT_CANDIDATE"),
        ("", "", "ACTION_GIVE_UP"),
    ]
    assert error.attempts[0].error_class == pb.ERROR_CLASS_TRANSPORT
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 0}


def every_method(client):
    """One call of each SwitchyardService method, with the client's default token."""
    return {
        "Complete": lambda: client.complete(USER),
        "AuxComplete": lambda: client.aux_complete("compression", USER),
        "ExplainFallback": lambda: client.explain_fallback(
            simulation=simulation([http_outcome(429)], task="compression")
        ),
    }


def assert_unauthenticated(error):
    assert type(error) is Unauthenticated
    assert error.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.reason == "UNAUTHENTICATED"
    assert error.domain == ERROR_DOMAIN
    assert error.request_id is None and error.attempts == []


def test_a_call_without_a_token_is_refused(server, fakes):
    with SwitchyardClient(server.address, options=CHANNEL_OPTIONS) as anonymous:
        for call in every_method(anonymous).values():
            with pytest.raises(Unauthenticated) as caught:
                call()
            assert_unauthenticated(caught.value)
    # An empty per-call token sends none, even over a client default.
    with SwitchyardClient(server.address, token=CLIENT_TOKEN, options=CHANNEL_OPTIONS) as c:
        with pytest.raises(Unauthenticated):
            c.complete(USER, token="")
    assert fakes.counts() == {"main": 0, "codex": 0, "cheap": 0}, "no provider contacted"


def test_a_call_with_a_wrong_token_is_refused(server, fakes):
    wrong = "sy_not-a-configured-token"
    with SwitchyardClient(server.address, options=CHANNEL_OPTIONS) as anonymous:
        with pytest.raises(Unauthenticated) as caught:
            anonymous.complete(USER, token=wrong)
        assert_unauthenticated(caught.value)
        assert wrong not in str(caught.value), "the server must not echo the token"
        # The hash the config lists is not a token.
        with pytest.raises(Unauthenticated):
            anonymous.complete(USER, token=token_sha256(CLIENT_TOKEN))
    with SwitchyardClient(server.address, token=wrong, options=CHANNEL_OPTIONS) as c:
        for call in every_method(c).values():
            with pytest.raises(Unauthenticated) as caught:
                call()
            assert_unauthenticated(caught.value)
    # A wrong per-call token overrides a right client default.
    with SwitchyardClient(server.address, token=CLIENT_TOKEN, options=CHANNEL_OPTIONS) as c:
        with pytest.raises(Unauthenticated):
            c.aux_complete("compression", USER, token=wrong)
    assert fakes.counts() == {"main": 0, "codex": 0, "cheap": 0}, "no provider contacted"


def test_the_right_token_per_call_or_by_default_is_accepted(server, fakes):
    # Per call, on a client without a default.
    with SwitchyardClient(server.address, options=CHANNEL_OPTIONS) as anonymous:
        answer = anonymous.complete(USER, token=CLIENT_TOKEN)
        assert answer.content == "answer from main"
        aux = anonymous.aux_complete("compression", USER, token=CLIENT_TOKEN)
        assert aux.content == "answer from codex"
        recorded = anonymous.explain_fallback(answer.request_id, token=CLIENT_TOKEN)
        assert list(recorded.steps) == list(answer.attempts)
        # An operator token is accepted on agent calls too.
        assert anonymous.complete(USER, token=ADMIN_TOKEN).content == "answer from main"
    # As the client default: every method.
    with SwitchyardClient(server.address, token=CLIENT_TOKEN, options=CHANNEL_OPTIONS) as c:
        for call in every_method(c).values():
            call()  # raises when refused
    # A right per-call token overrides a wrong client default.
    with SwitchyardClient(server.address, token="sy_wrong", options=CHANNEL_OPTIONS) as c:
        assert c.complete(USER, token=CLIENT_TOKEN).content == "answer from main"
    # The caller's token never reaches a provider: the server sends its own key.
    assert {c.authorization for c in fakes.calls()} == {
        "Bearer secret-of-main-k1",
        "Bearer secret-of-codex-k1",
    }


def test_an_unreachable_server_raises_unavailable():
    # A port nothing listens on: bind, read it, close.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with SwitchyardClient(f"127.0.0.1:{port}", options=[("grpc.enable_http_proxy", 0)]) as c:
        with pytest.raises(Unavailable) as caught:
            c.complete(USER, timeout=5)
    assert caught.value.reason is None
