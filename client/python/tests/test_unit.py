"""The client layer without the switchyard binary: request building, error decoding,
trail rendering, and the metadata a call sends (bearer token, W3C traceparent), seen
by an in-process gRPC server implementing the generated servicer."""

from __future__ import annotations

import asyncio
import time
from concurrent import futures

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

import switchyard_client
from switchyard.v1 import switchyard_pb2_grpc as pb_grpc
from switchyard_client import (
    AllCandidatesFailed,
    AsyncSwitchyardClient,
    ContentPolicy,
    ContextOverflow,
    DeadlineExceeded,
    InternalError,
    PermissionDenied,
    SwitchyardClient,
    SwitchyardError,
    Unauthenticated,
    format_trail,
    message,
    pb,
)
from switchyard_client import _requests as build
from switchyard_client.errors import from_rpc_error, from_status


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
        ({"role": "tool", "content": "x"}, ValueError),
        ({"role": "user", "content": "x", "name": "n"}, ValueError),
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
        ("A_REASON_FROM_THE_FUTURE", grpc.StatusCode.ABORTED, SwitchyardError),
    ],
)
def test_errors_are_typed_by_reason(reason, code, cls):
    trail = [attempt(provider="p", action=pb.ACTION_RETURN_TO_CALLER)]
    detail = pb.FailureDetail(request_id="r-1", attempts=trail)
    error = from_status(code, "failed", status_bytes(error_info(reason, "r-1"), detail))
    assert type(error) is cls
    assert (error.code, error.reason, error.request_id) == (code, reason, "r-1")
    assert error.attempts == trail
    assert "failed" in str(error) and reason in str(error)


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
