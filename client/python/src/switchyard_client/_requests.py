"""Building requests: messages from dicts, optional fields, simulations, call metadata."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format

from switchyard.v1 import switchyard_pb2 as pb

try:  # W3C trace context, when the caller uses OpenTelemetry (the `otel` extra).
    from opentelemetry import propagate as _otel_propagate
except ImportError:  # pragma: no cover - depends on the environment
    _otel_propagate = None

__all__ = [
    "MessageLike",
    "http_outcome",
    "message",
    "simulation",
    "transport_outcome",
]

#: A chat message: a generated `switchyard.v1.Message`, or a mapping such as
#: ``{"role": "user", "content": "..."}``.
MessageLike = pb.Message | Mapping[str, Any]

_ROLES = {
    "system": pb.ROLE_SYSTEM,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
}


def _role(value: Any) -> Any:  # a `Role` value
    if isinstance(value, bool):
        raise TypeError(f"role must be a string or a switchyard.v1.Role, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        name = value.strip().lower().removeprefix("role_")
        if name in _ROLES:
            return _ROLES[name]
        raise ValueError(f"unknown role {value!r}: use system, user or assistant")
    raise TypeError(f"role must be a string or a switchyard.v1.Role, not {type(value).__name__}")


def message(value: MessageLike) -> pb.Message:
    """Converts a message given as a dict (``role`` is ``"system"``, ``"user"``,
    ``"assistant"``, a ``ROLE_*`` name or a `Role` value) or as a generated `Message`."""
    if isinstance(value, pb.Message):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"role", "content"}
        if unknown:
            raise ValueError(f"unknown message keys {sorted(unknown)}: use role and content")
        content = value.get("content", "")
        if not isinstance(content, str):
            raise TypeError(f"message content must be a string, not {type(content).__name__}")
        return pb.Message(role=_role(value.get("role")), content=content)
    raise TypeError(
        f"a message is a dict with role and content or a switchyard.v1.Message, "
        f"not {type(value).__name__}"
    )


def messages(values: Iterable[MessageLike]) -> list[pb.Message]:
    if isinstance(values, (str, bytes, Mapping, pb.Message)):
        raise TypeError("messages must be a list of messages")
    return [message(m) for m in values]


def _optional(**fields: Any) -> dict[str, Any]:
    """Only the fields that are set: proto3 `optional` tracks presence."""
    return {k: v for k, v in fields.items() if v is not None}


def complete_request(
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
) -> pb.CompleteRequest:
    return pb.CompleteRequest(
        messages=messages(msgs),
        **_optional(model=model, max_tokens=max_tokens, temperature=temperature),
    )


def aux_complete_request(
    task: str,
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
) -> pb.AuxCompleteRequest:
    return pb.AuxCompleteRequest(
        task=task,
        messages=messages(msgs),
        **_optional(model=model, max_tokens=max_tokens, temperature=temperature),
    )


def complete_stream_request(
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
) -> pb.CompleteStreamRequest:
    return pb.CompleteStreamRequest(
        messages=messages(msgs),
        **_optional(model=model, max_tokens=max_tokens, temperature=temperature),
    )


def aux_complete_stream_request(
    task: str,
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
) -> pb.AuxCompleteStreamRequest:
    return pb.AuxCompleteStreamRequest(
        task=task,
        messages=messages(msgs),
        **_optional(model=model, max_tokens=max_tokens, temperature=temperature),
    )


def http_outcome(
    status: int,
    body: str = "",
    headers: Mapping[str, str] | None = None,
    *,
    duration_ms: int = 0,
) -> pb.SimulatedOutcome:
    """A simulated upstream HTTP answer (2xx is a success)."""
    return pb.SimulatedOutcome(
        http=pb.HttpOutcome(status=status, body=body, headers=dict(headers or {})),
        duration_ms=duration_ms,
    )


def transport_outcome(failure: Any, *, duration_ms: int = 0) -> pb.SimulatedOutcome:
    """A simulated failure without an HTTP answer: ``"connection_refused"``,
    ``"connection_reset"``, ``"timeout"``, ``"dns"``, ``"tls"`` or a `TransportFailure`."""
    if isinstance(failure, str):
        name = failure.upper()
        if not name.startswith("TRANSPORT_FAILURE_"):
            name = "TRANSPORT_FAILURE_" + name
        failure = pb.TransportFailure.Value(name)
    return pb.SimulatedOutcome(transport=failure, duration_ms=duration_ms)


def simulation(
    outcomes: Iterable[pb.SimulatedOutcome] = (),
    *,
    task: str | None = None,
    budget_ms: int = 0,
    assume_all_credentials_live: bool = False,
    model: str | None = None,
) -> pb.Simulation:
    """A simulation of the primary caller (``task=None``) or of an auxiliary task,
    against successive upstream `outcomes` (see `http_outcome`, `transport_outcome`);
    once they run out, attempts succeed."""
    caller = pb.Caller(task=task) if task is not None else pb.Caller(primary=pb.PrimaryCaller())
    return pb.Simulation(
        caller=caller,
        outcomes=list(outcomes),
        budget_ms=budget_ms,
        assume_all_credentials_live=assume_all_credentials_live,
        **_optional(model=model),
    )


def explain_request(
    request_id: str | None, sim: pb.Simulation | Mapping[str, Any] | None
) -> pb.ExplainFallbackRequest:
    if (request_id is None) == (sim is None):
        raise ValueError("explain_fallback takes exactly one of request_id and simulation")
    if request_id is not None:
        return pb.ExplainFallbackRequest(request_id=request_id)
    if isinstance(sim, Mapping):
        sim = json_format.ParseDict(sim, pb.Simulation())
    if not isinstance(sim, pb.Simulation):
        raise TypeError(
            f"simulation must be a switchyard.v1.Simulation or a dict, not {type(sim).__name__}"
        )
    return pb.ExplainFallbackRequest(simulation=sim)


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata of one call: the bearer token, and the W3C trace context
    (`traceparent`, `tracestate`) of the caller's current OpenTelemetry span, if any."""
    metadata: list[tuple[str, str]] = []
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    if _otel_propagate is not None:
        carrier: dict[str, str] = {}
        try:
            _otel_propagate.inject(carrier)
        except Exception:  # tracing must never break a call
            carrier = {}
        metadata.extend((k.lower(), v) for k, v in carrier.items())
    return tuple(metadata)
