"""The client layer without the switchyard binary: request building, error decoding,
trail rendering, stream event ordering, and the metadata a call sends (bearer token,
W3C traceparent) and the streams it reads, seen by an in-process gRPC server
implementing the generated servicer."""

from __future__ import annotations

import asyncio
import time
from concurrent import futures

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from harness import split_words

import switchyard_client
from switchyard.v1 import switchyard_pb2_grpc as pb_grpc
from switchyard_client import (
    AllCandidatesFailed,
    AsyncSwitchyardClient,
    ContentPolicy,
    ContextOverflow,
    CredentialNotFound,
    DeadlineExceeded,
    InternalError,
    NotRefreshable,
    PermissionDenied,
    RefreshFailed,
    StreamInterrupted,
    SwitchyardClient,
    SwitchyardError,
    Unauthenticated,
    error_reason_of,
    format_trail,
    message,
    pb,
)
from switchyard_client import _requests as build
from switchyard_client.errors import from_rpc_error, from_status
from switchyard_client.stream import _Events


def test_the_package_exposes_the_generated_code():
    import switchyard.v1.switchyard_pb2 as generated

    assert switchyard_client.pb is generated
    assert pb_grpc.SwitchyardServiceStub
    assert switchyard_client.__version__


@pytest.mark.parametrize(
    "given, role",
    [
        ({"role": "user", "content": "x"}, pb.ROLE_USER),
        ({"role": "System", "content": "x"}, pb.ROLE_SYSTEM),
        ({"role": "ROLE_ASSISTANT", "content": "x"}, pb.ROLE_ASSISTANT),
        ({"role": pb.ROLE_USER, "content": "x"}, pb.ROLE_USER),
        (pb.Message(role=pb.ROLE_SYSTEM, content="x"), pb.ROLE_SYSTEM),
    ],
)
def test_messages_from_dicts_or_generated_messages(given, role):
    assert message(given) == pb.Message(role=role, content="x")


@pytest.mark.parametrize(
    "given, error",
    [
        ({"role": "critic", "content": "x"}, ValueError),
        ({"role": "user", "content": "x", "name": "n"}, ValueError),
        ({"role": "user", "content": [{"type": "audio"}]}, ValueError),
        ({"role": "user", "content": 3}, TypeError),
        ({"role": None, "content": "x"}, TypeError),
        ("hello", TypeError),
    ],
)
def test_bad_messages_are_refused_before_the_call(given, error):
    with pytest.raises(error):
        message(given)
    with pytest.raises(TypeError):
        build.messages("a string is not a list of messages")


def test_optional_fields_are_set_only_when_given():
    bare = build.complete_request([{"role": "user", "content": "x"}], None, None, None)
    assert not bare.HasField("model")
    assert not bare.HasField("max_tokens")
    assert not bare.HasField("temperature")
    full = build.aux_complete_request("vision", [], "m", 0, 0.0)
    assert full.task == "vision"
    assert full.HasField("max_tokens") and full.max_tokens == 0
    assert full.HasField("temperature") and full.HasField("model")


def test_simulation_helpers():
    sim = switchyard_client.simulation(
        [
            switchyard_client.http_outcome(429, "{}", {"retry-after": "1"}, duration_ms=5),
            switchyard_client.transport_outcome("connection_reset"),
        ],
        task="compression",
        budget_ms=1000,
        model="m",
    )
    assert sim.caller.task == "compression"
    assert sim.outcomes[0].http.headers["retry-after"] == "1"
    assert sim.outcomes[1].transport == pb.TRANSPORT_FAILURE_CONNECTION_RESET
    assert sim.HasField("model")
    assert switchyard_client.simulation().caller.HasField("primary")
    with pytest.raises(ValueError):
        build.explain_request("id", sim)


def attempt(**fields):
    return pb.Attempt(**fields)


def test_format_trail_one_line_per_attempt():
    attempts = [
        attempt(
            candidate_index=0,
            provider="codex",
            model="mini",
            credential_id="k1",
            error_class=pb.ERROR_CLASS_AUTH_TERMINAL,
            http_status=401,
            action=pb.ACTION_NEXT_CANDIDATE,
            reason="401 token_invalidated",
        ),
        attempt(
            candidate_index=1,
            provider="cheap",
            model="flash",
            credential_id="k2",
            error_class=pb.ERROR_CLASS_NONE,
            http_status=200,
            action=pb.ACTION_SUCCEED,
            reason="answered",
        ),
        attempt(candidate_index=2, action=pb.ACTION_GIVE_UP, error_class=99, reason="done"),
    ]
    assert format_trail(attempts).splitlines() == [
        "  #0 codex/mini [k1] auth_terminal 401 -> next_candidate: 401 token_invalidated",
        "  #1 cheap/flash [k2] 200 -> succeed: answered",
        "  #2 - 99 -> give_up: done",
    ]
    response = pb.AuxCompleteResponse(attempts=attempts[:1])
    assert format_trail(response) == format_trail(attempts[:1])
    assert format_trail(pb.ExplainFallbackResponse(steps=attempts)) == format_trail(attempts)
    assert format_trail([]) == ""


def packed(message) -> any_pb2.Any:
    any_ = any_pb2.Any()
    any_.Pack(message)
    return any_


def status_bytes(*details) -> bytes:
    return status_pb2.Status(
        code=14, message="m", details=[packed(d) for d in details]
    ).SerializeToString()


def error_info(reason: str, request_id: str = "") -> error_details_pb2.ErrorInfo:
    metadata = {"request_id": request_id} if request_id else {}
    return error_details_pb2.ErrorInfo(reason=reason, domain="switchyard.dev", metadata=metadata)


@pytest.mark.parametrize(
    "reason, code, cls",
    [
        ("ALL_CANDIDATES_FAILED", grpc.StatusCode.UNAVAILABLE, AllCandidatesFailed),
        ("CONTEXT_OVERFLOW", grpc.StatusCode.OUT_OF_RANGE, ContextOverflow),
        ("CONTENT_POLICY", grpc.StatusCode.FAILED_PRECONDITION, ContentPolicy),
        ("INTERNAL", grpc.StatusCode.INTERNAL, InternalError),
        ("UNAUTHENTICATED", grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
        ("PERMISSION_DENIED", grpc.StatusCode.PERMISSION_DENIED, PermissionDenied),
        ("CREDENTIAL_NOT_FOUND", grpc.StatusCode.NOT_FOUND, CredentialNotFound),
        ("NOT_REFRESHABLE", grpc.StatusCode.FAILED_PRECONDITION, NotRefreshable),
        ("REFRESH_FAILED", grpc.StatusCode.UNAVAILABLE, RefreshFailed),
        ("A_REASON_FROM_THE_FUTURE", grpc.StatusCode.ABORTED, SwitchyardError),
    ],
)
def test_errors_are_typed_by_reason(reason, code, cls):
    trail = [attempt(provider="p", action=pb.ACTION_RETURN_TO_CALLER)]
    detail = pb.FailureDetail(request_id="r-1", attempts=trail)
    error = from_status(code, "failed", status_bytes(error_info(reason, "r-1"), detail))
    assert type(error) is cls
    assert (error.code, error.reason, error.request_id) == (code, reason, "r-1")
    assert error.error_reason == error_reason_of(reason)
    assert error.attempts == trail
    assert "failed" in str(error) and reason in str(error)


def test_every_generated_reason_is_found_by_its_wire_name():
    # No list kept by hand: the wire name is the generated value's name without its prefix.
    for value in pb.ErrorReason.DESCRIPTOR.values:
        wire = value.name.removeprefix("ERROR_REASON_")
        assert error_reason_of(wire) == value.number, wire
    assert error_reason_of(None) == pb.ERROR_REASON_UNSPECIFIED
    assert error_reason_of("ERROR_REASON_INTERNAL") == pb.ERROR_REASON_UNSPECIFIED
    assert error_reason_of("A_REASON_FROM_THE_FUTURE") == pb.ERROR_REASON_UNSPECIFIED
    assert error_reason_of("ALL_CANDIDATES_FAILED") == pb.ERROR_REASON_ALL_CANDIDATES_FAILED


def test_errors_without_details_are_typed_by_code():
    assert type(from_status(grpc.StatusCode.DEADLINE_EXCEEDED, "", None)) is DeadlineExceeded
    assert type(from_status(grpc.StatusCode.UNAUTHENTICATED, "no", None)) is Unauthenticated
    assert type(from_status(grpc.StatusCode.PERMISSION_DENIED, "no", None)) is PermissionDenied
    assert not issubclass(PermissionDenied, Unauthenticated)
    garbled = from_status(grpc.StatusCode.UNKNOWN, "x", b"\xff\xff not a status")
    assert type(garbled) is SwitchyardError and garbled.reason is None
    # The request id of ErrorInfo's metadata is used when FailureDetail is absent.
    only_info = from_status(
        grpc.StatusCode.UNAVAILABLE, "", status_bytes(error_info("ALL_CANDIDATES_FAILED", "r-2"))
    )
    assert only_info.request_id == "r-2" and only_info.attempts == []


class RecordingServicer(pb_grpc.SwitchyardServiceServicer):
    """Records each call's metadata; AuxComplete fails like the service does."""

    def __init__(self):
        self.metadata: list[dict[str, str]] = []

    def Complete(self, request, context):  # noqa: N802 - generated name
        self.metadata.append(dict(context.invocation_metadata()))
        return pb.CompleteResponse(request_id="r-1", content=request.messages[0].content)

    def ExplainFallback(self, request, context):  # noqa: N802 - generated name
        # Outlives any test deadline; the Python server does not enforce grpc-timeout.
        self.metadata.append(dict(context.invocation_metadata()))
        time.sleep(1.0)
        return pb.ExplainFallbackResponse()

    def AuxComplete(self, request, context):  # noqa: N802 - generated name
        self.metadata.append(dict(context.invocation_metadata()))
        detail = pb.FailureDetail(
            request_id="r-9",
            attempts=[
                attempt(
                    provider="p",
                    error_class=pb.ERROR_CLASS_CONTENT_POLICY,
                    action=pb.ACTION_RETURN_TO_CALLER,
                )
            ],
        )
        context.set_trailing_metadata(
            (
                (
                    "grpc-status-details-bin",
                    status_bytes(error_info("CONTENT_POLICY", "r-9"), detail),
                ),
            )
        )
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "content policy")


@pytest.fixture
def recording():
    servicer = RecordingServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_SwitchyardServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


OPTIONS = [("grpc.enable_http_proxy", 0)]
USER = [{"role": "user", "content": "hi"}]


def test_the_clients_own_deadline_raises_deadline_exceeded(recording):
    _, address = recording
    with SwitchyardClient(address, timeout=0.2, options=OPTIONS) as client:
        with pytest.raises(DeadlineExceeded) as caught:
            client.explain_fallback("r-1")
    assert type(caught.value) is DeadlineExceeded
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.reason is None and caught.value.request_id is None

    async def main():
        async with AsyncSwitchyardClient(address, options=OPTIONS) as client:
            with pytest.raises(DeadlineExceeded) as caught:
                await client.explain_fallback("r-1", timeout=0.2)
            return caught.value

    assert type(asyncio.run(main())) is DeadlineExceeded


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details="", trailing=()):
        self._code, self._details, self._trailing = code, details, trailing

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing


def test_a_server_side_timeout_at_the_deadline_is_a_deadline_exceeded():
    cancelled = FakeRpcError(grpc.StatusCode.CANCELLED, "Timeout expired")
    passed = from_rpc_error(cancelled, deadline=time.monotonic())
    assert type(passed) is DeadlineExceeded and passed.code == grpc.StatusCode.CANCELLED
    early = from_rpc_error(cancelled, deadline=time.monotonic() + 10)
    assert type(early) is SwitchyardError
    assert type(from_rpc_error(cancelled)) is SwitchyardError
    rich = FakeRpcError(
        grpc.StatusCode.UNAVAILABLE,
        "x",
        (("grpc-status-details-bin", status_bytes(error_info("ALL_CANDIDATES_FAILED"))),),
    )
    assert type(from_rpc_error(rich, deadline=time.monotonic())) is AllCandidatesFailed


def test_the_bearer_token_is_sent_per_client_and_per_call(recording):
    servicer, address = recording
    with SwitchyardClient(address, token="client-token", options=OPTIONS) as client:
        assert client.complete(USER).content == "hi"
        client.complete(USER, token="call-token")
    with SwitchyardClient(address, options=OPTIONS) as anonymous:
        anonymous.complete(USER)
    assert servicer.metadata[0]["authorization"] == "Bearer client-token"
    assert servicer.metadata[1]["authorization"] == "Bearer call-token"
    assert "authorization" not in servicer.metadata[2]


def test_traceparent_is_propagated_when_a_span_is_active(recording):
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    servicer, address = recording
    tracer = sdk.TracerProvider().get_tracer("switchyard-client-tests")
    with SwitchyardClient(address, options=OPTIONS) as client:
        client.complete(USER)  # no active span: nothing to propagate
        with tracer.start_as_current_span("agent-turn") as span:
            client.complete(USER)
            ctx = span.get_span_context()
    assert "traceparent" not in servicer.metadata[0]
    assert (
        servicer.metadata[1]["traceparent"]
        == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
    )


def test_rich_errors_are_decoded_by_both_clients(recording):
    servicer, address = recording
    with SwitchyardClient(address, options=OPTIONS) as client:
        with pytest.raises(ContentPolicy) as caught:
            client.aux_complete("vision", USER)
    assert caught.value.request_id == "r-9"
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert len(caught.value.attempts) == 1

    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    tracer = sdk.TracerProvider().get_tracer("switchyard-client-tests")

    async def main():
        async with AsyncSwitchyardClient(address, token="t", options=OPTIONS) as client:
            with tracer.start_as_current_span("async-turn"):
                assert (await client.complete(USER)).content == "hi"
            with pytest.raises(ContentPolicy) as caught:
                await client.aux_complete("vision", USER)
            return caught.value

    error = asyncio.run(main())
    assert error.request_id == "r-9" and error.reason == "CONTENT_POLICY"
    assert servicer.metadata[-2]["authorization"] == "Bearer t"
    assert "traceparent" in servicer.metadata[-2]


# --- streams ------------------------------------------------------------------------


def test_stream_requests_set_optional_fields_only_when_given():
    bare = build.complete_stream_request([{"role": "user", "content": "x"}], None, None, None)
    assert isinstance(bare, pb.CompleteStreamRequest)
    assert not bare.HasField("model") and not bare.HasField("max_tokens")
    assert not bare.HasField("temperature")
    full = build.aux_complete_stream_request("vision", USER, "m", 0, 0.0)
    assert isinstance(full, pb.AuxCompleteStreamRequest)
    assert full.task == "vision" and full.messages[0].content == "hi"
    assert full.HasField("max_tokens") and full.max_tokens == 0
    assert full.HasField("temperature") and full.model == "m"
    with pytest.raises(ValueError):
        build.complete_stream_request([{"role": "critic", "content": "x"}], None, None, None)


def started_event(request_id: str = "r-s", provider: str = "p") -> pb.StreamStarted:
    return pb.StreamStarted(
        request_id=request_id,
        served_by=pb.ServedBy(provider=provider, model="m", credential_id="k1"),
        attempts=[attempt(provider=provider, model="m", action=pb.ACTION_SUCCEED)],
    )


def test_stream_events_give_the_text_in_order():
    r = pb.CompleteStreamResponse
    events = _Events()
    assert events.accept(r(started=started_event())) is None
    assert events.started is not None and events.started.request_id == "r-s"
    assert events.accept(r(delta="Hel")) == "Hel"
    assert events.accept(r(delta="")) is None  # an empty piece is not yielded
    assert events.accept(r()) is None  # an event newer than this client is skipped
    assert events.accept(r(delta="lo")) == "lo"
    assert (events.pieces, events.content, events.finished) == (["Hel", "lo"], "Hello", None)
    assert events.accept(r(finished=pb.StreamFinished(finish_reason="length"))) is None
    assert events.finished is not None and events.finished.finish_reason == "length"
    # The auxiliary task's events have the same shape.
    aux = _Events()
    aux.accept(pb.AuxCompleteStreamResponse(started=started_event()))
    assert aux.accept(pb.AuxCompleteStreamResponse(delta="x")) == "x"


@pytest.mark.parametrize(
    "sequence, what",
    [
        ([{"delta": "x"}], "a delta event before started"),
        ([{"finished": {}}], "a finished event before started"),
        ([{"started": {}}, {"started": {}}], "a second started event"),
        ([{"started": {}}, {"finished": {}}, {"delta": "x"}], "a delta event after finished"),
    ],
)
def test_stream_events_out_of_order_are_errors(sequence, what):
    events = _Events()
    with pytest.raises(SwitchyardError) as caught:
        for fields in sequence:
            events.accept(pb.CompleteStreamResponse(**fields))
    assert type(caught.value) is SwitchyardError
    assert what in str(caught.value)
    assert caught.value.code == grpc.StatusCode.UNKNOWN


def test_a_stream_ending_without_finished_is_interrupted_with_its_text():
    assert type(_Events().ended()) is SwitchyardError  # nothing started
    events = _Events()
    events.accept(pb.CompleteStreamResponse(started=started_event()))
    events.accept(pb.CompleteStreamResponse(delta="par"))
    error = events.ended()
    assert type(error) is StreamInterrupted and error.reason is None
    assert error.content == "par" and error.request_id == "r-s"
    assert error.attempts == list(started_event().attempts)
    assert (error.provider, error.model, error.candidate_index) == ("p", "m", 0)
    # The server's own StreamInterrupted gets the text too; other errors are unchanged.
    server_side = StreamInterrupted("x", code=grpc.StatusCode.ABORTED)
    assert events.failed(server_side).content == "par"
    other = AllCandidatesFailed("x")
    assert events.failed(other) is other and not hasattr(other, "content")


def interrupted_status(metadata: dict[str, str], *steps: pb.Attempt) -> bytes:
    info = error_details_pb2.ErrorInfo(
        reason="STREAM_INTERRUPTED",
        domain="switchyard.dev",
        metadata={"request_id": "r-7", **metadata},
    )
    return status_bytes(info, pb.FailureDetail(request_id="r-7", attempts=list(steps)))


def test_stream_interrupted_names_the_interrupted_candidate():
    trail = [
        attempt(candidate_index=1, provider="codex", model="mini", action=pb.ACTION_SUCCEED),
        attempt(
            candidate_index=1,
            provider="codex",
            model="mini",
            error_class=pb.ERROR_CLASS_TRANSPORT,
            action=pb.ACTION_STOP_STREAM,
        ),
    ]
    metadata = {
        "provider": "codex",
        "model": "mini",
        "candidate_index": "1",
        "error_class": "overloaded",
    }
    error = from_status(
        grpc.StatusCode.ABORTED, "stream interrupted", interrupted_status(metadata, *trail)
    )
    assert type(error) is StreamInterrupted
    assert (error.code, error.reason, error.request_id) == (
        grpc.StatusCode.ABORTED,
        "STREAM_INTERRUPTED",
        "r-7",
    )
    assert (error.provider, error.model, error.candidate_index, error.error_class) == (
        "codex",
        "mini",
        1,
        "overloaded",  # the metadata wins over the trail
    )
    assert error.attempts == trail and error.content == ""
    assert "stop_stream" in format_trail(error)
    # Without the metadata, the last step of the trail names the candidate.
    bare = from_status(
        grpc.StatusCode.ABORTED, "", interrupted_status({"candidate_index": "x"}, *trail)
    )
    assert (bare.provider, bare.model, bare.candidate_index, bare.error_class) == (
        "codex",
        "mini",
        1,
        "transport",
    )
    # Without either, nothing is made up.
    empty = from_status(grpc.StatusCode.ABORTED, "", interrupted_status({}))
    assert (empty.provider, empty.model, empty.candidate_index, empty.error_class) == (None,) * 4


def test_the_fake_providers_stream_a_plain_reply_word_by_word():
    assert split_words("answer from main") == ["answer ", "from ", "main"]
    assert split_words("a  b ") == ["a ", " ", "b "]
    assert split_words("") == []
    for text in ("answer from main", " lead", "trail  ", "one"):
        assert "".join(split_words(text)) == text


class StreamingServicer(pb_grpc.SwitchyardServiceServicer):
    """Streams scripted by the first message's content; records each call's metadata."""

    def __init__(self):
        self.metadata: list[dict[str, str]] = []

    def CompleteStream(self, request, context):  # noqa: N802 - generated name
        self.metadata.append(dict(context.invocation_metadata()))
        script = request.messages[0].content
        r = pb.CompleteStreamResponse
        if script == "delta first":
            yield r(delta="x")
            return
        yield r(started=started_event())
        yield r(delta="Hel")
        yield r(delta="lo")
        if script == "cut":  # an OK status without `finished`
            return
        if script == "slow":  # outlives the test deadline
            time.sleep(1.0)
        yield r(finished=pb.StreamFinished(finish_reason="stop", attempts=started_event().attempts))

    def AuxCompleteStream(self, request, context):  # noqa: N802 - generated name
        self.metadata.append(dict(context.invocation_metadata()))
        yield pb.AuxCompleteStreamResponse(started=started_event("r-7", "codex"))
        yield pb.AuxCompleteStreamResponse(delta="par")
        step = attempt(provider="codex", model="mini", action=pb.ACTION_STOP_STREAM)
        details = interrupted_status({"provider": "codex", "model": "mini"}, step)
        context.set_trailing_metadata((("grpc-status-details-bin", details),))
        context.abort(grpc.StatusCode.ABORTED, "stream interrupted")


@pytest.fixture
def streaming():
    servicer = StreamingServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_SwitchyardServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


def script(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


def test_the_blocking_stream_reads_events_and_maps_failures(streaming):
    servicer, address = streaming
    with SwitchyardClient(address, token="t", options=OPTIONS) as client:
        with client.complete_stream(script("ok")) as stream:
            assert stream.request_id == "r-s" and stream.served_by.provider == "p"
            assert list(stream) == ["Hel", "lo"]
        assert stream.finished is not None and stream.finished.finish_reason == "stop"
        assert servicer.metadata[-1]["authorization"] == "Bearer t"
        assert "finished" in repr(stream) and "r-s" in repr(stream)

        cut = client.complete_stream(script("cut"))
        with pytest.raises(StreamInterrupted) as caught:
            list(cut)
        assert caught.value.content == "Hello" and caught.value.reason is None
        assert cut.error is caught.value and cut.finished is None

        with pytest.raises(SwitchyardError, match="a delta event before started"):
            client.complete_stream(script("delta first"))

        aux = client.aux_complete_stream("compression", USER)
        assert next(aux) == "par"
        with pytest.raises(StreamInterrupted) as caught:
            next(aux)
        error = caught.value
        assert (error.code, error.request_id, error.content) == (
            grpc.StatusCode.ABORTED,
            "r-7",
            "par",
        )
        assert (error.provider, error.model) == ("codex", "mini")
        assert isinstance(error.__cause__, grpc.RpcError)

        slow = client.complete_stream(script("slow"), timeout=0.3)
        with pytest.raises(DeadlineExceeded):
            list(slow)
        assert slow.content == "Hello" and slow.done


def test_the_async_stream_reads_events_and_maps_failures(streaming):
    servicer, address = streaming

    async def main():
        async with AsyncSwitchyardClient(address, token="t", options=OPTIONS) as client:
            stream = await client.complete_stream(script("ok"))
            assert stream.request_id == "r-s"
            assert [p async for p in stream] == ["Hel", "lo"]
            assert stream.finished is not None

            with pytest.raises(StreamInterrupted) as cut:
                async for _ in client.complete_stream(script("cut")):
                    pass
            odd = client.complete_stream(script("delta first"))
            with pytest.raises(SwitchyardError, match="a delta event before started") as first:
                await odd
            with pytest.raises(SwitchyardError) as again:
                await odd.start()
            assert again.value is first.value and odd.done and odd.error is first.value
            assert [p async for p in odd] == []
            with pytest.raises(StreamInterrupted) as aux:
                async with client.aux_complete_stream("compression", USER) as s:
                    assert s.served_by.provider == "codex"
                    async for _ in s:
                        pass
            slow = client.complete_stream(script("slow"), timeout=0.3)
            with pytest.raises(DeadlineExceeded):
                async for _ in slow:
                    pass
            return cut.value, aux.value, slow

    cut, aux, slow = asyncio.run(main())
    assert cut.content == "Hello" and cut.reason is None
    assert (aux.content, aux.provider, aux.request_id) == ("par", "codex", "r-7")
    assert slow.content == "Hello"
    assert servicer.metadata[0]["authorization"] == "Bearer t"


def test_chat_options_are_sent_only_when_given():
    assert build.chat_options() is None
    assert not build.complete_request(USER, None, None, None).HasField("options")
    options = build.chat_options(
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice={"name": "f"},
        response_format={"type": "json_object"},
        stop="END",
        top_p=0.5,
        metadata={"k": "v"},
    )
    assert options is not None
    assert options.tools[0].name == "f" and options.tools[0].parameters == '{"type":"object"}'
    assert options.tool_choice.function == "f"
    assert options.response_format.kind == pb.RESPONSE_FORMAT_KIND_JSON_OBJECT
    assert list(options.stop) == ["END"] and options.top_p == 0.5
    assert dict(options.metadata) == {"k": "v"}
    assert build.chat_options(tool_choice="required").tool_choice.mode == (
        pb.TOOL_CHOICE_MODE_REQUIRED
    )
    with pytest.raises(ValueError):
        build.chat_options(tool_choice="sometimes")


def test_tool_turns_from_dicts_keep_their_calls_and_ids():
    call = pb.ToolCall(id="c1", name="f", arguments="{}")
    assistant = message({"role": "assistant", "tool_calls": [call]})
    assert assistant.role == pb.ROLE_ASSISTANT and list(assistant.tool_calls) == [call]
    openai_shape = message(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": call_fn()}],
        }
    )
    assert list(openai_shape.tool_calls) == [call]
    result = message({"role": "tool", "tool_call_id": "c1", "content": "done"})
    assert (result.role, result.tool_call_id, result.content) == (pb.ROLE_TOOL, "c1", "done")


def call_fn():
    return {"name": "f", "arguments": "{}"}
