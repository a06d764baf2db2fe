"""Building requests: messages from dicts (text, images, tool calls and results), chat
options (tools, tool choice, response format, sampling), simulations, call metadata."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from google.protobuf import json_format

from switchyard.v1 import switchyard_pb2 as pb

try:  # W3C trace context, when the caller uses OpenTelemetry (the `otel` extra).
    from opentelemetry import propagate as _otel_propagate
except ImportError:  # pragma: no cover - depends on the environment
    _otel_propagate = None

__all__ = [
    "ChatKwargs",
    "MessageLike",
    "http_outcome",
    "image",
    "message",
    "simulation",
    "tool",
    "transport_outcome",
]

#: A chat message: a generated `switchyard.v1.Message`, or a mapping such as
#: ``{"role": "user", "content": "..."}``.
MessageLike = pb.Message | Mapping[str, Any]

_ROLES = {
    "system": pb.ROLE_SYSTEM,
    "developer": pb.ROLE_DEVELOPER,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
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
        raise ValueError(f"unknown role {value!r}: use system, developer, user, assistant or tool")
    raise TypeError(f"role must be a string or a switchyard.v1.Role, not {type(value).__name__}")


def _json_text(value: Any, what: str) -> str:
    """JSON text of an object given as a dict or as its text."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"))
    raise TypeError(f"{what} must be a dict or JSON text, not {type(value).__name__}")


def image(
    url: str | None = None,
    *,
    data: bytes | None = None,
    media_type: str | None = None,
    detail: str | None = None,
) -> pb.ContentPart:
    """An image part: by ``https://`` URL, or inline `data` with its `media_type`
    (``"image/png"``...). `detail` is ``"auto"``, ``"low"`` or ``"high"``."""
    if (url is None) == (data is None):
        raise ValueError("an image has a url or data, not both")
    level = pb.IMAGE_DETAIL_UNSPECIFIED
    if detail is not None:
        level = pb.ImageDetail.Value("IMAGE_DETAIL_" + detail.upper())
    if url is not None:
        return pb.ContentPart(image=pb.Image(url=url, detail=level))
    if not media_type:
        raise ValueError("inline image data needs its media_type")
    return pb.ContentPart(
        image=pb.Image(data=pb.ImageData(media_type=media_type, data=data), detail=level)
    )


def _part(value: Any) -> pb.ContentPart:
    """A content part: a generated `ContentPart`, a string, or an OpenAI-style dict
    (``{"type": "text", "text": ...}``, ``{"type": "image_url", "image_url": {"url": ...}}``)."""
    if isinstance(value, pb.ContentPart):
        return value
    if isinstance(value, str):
        return pb.ContentPart(text=value)
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind == "text":
            return pb.ContentPart(text=value["text"])
        if kind == "image_url":
            spec = value["image_url"]
            if isinstance(spec, str):
                return image(spec)
            return image(spec["url"], detail=spec.get("detail"))
        raise ValueError(f"unknown content part type {kind!r}: use text or image_url")
    raise TypeError(f"a content part is a str, dict or ContentPart, not {type(value).__name__}")


def _tool_call(value: Any) -> pb.ToolCall:
    """A tool call: a generated `ToolCall`, ``{"id", "name", "arguments"}``, or
    OpenAI's ``{"id", "type": "function", "function": {"name", "arguments"}}``."""
    if isinstance(value, pb.ToolCall):
        return value
    if isinstance(value, Mapping):
        function = value.get("function", value)
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            arguments = _json_text(arguments, "tool call arguments")
        return pb.ToolCall(id=value["id"], name=function["name"], arguments=arguments)
    raise TypeError(f"a tool call is a dict or ToolCall, not {type(value).__name__}")


def message(value: MessageLike) -> pb.Message:
    """Converts a message given as a dict or as a generated `Message`.

    The dict has a ``role`` (``"system"``, ``"developer"``, ``"user"``,
    ``"assistant"``, ``"tool"``, a ``ROLE_*`` name or a `Role` value) and a
    ``content``: a string, or a list of parts (strings, `image(...)` parts,
    OpenAI-style ``text`` / ``image_url`` dicts). An assistant message may carry
    ``tool_calls`` (the answer's `ToolCall`s as they are, or dicts); a tool message
    carries the ``tool_call_id`` it answers."""
    if isinstance(value, pb.Message):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"role", "content", "tool_calls", "tool_call_id"}
        if unknown:
            raise ValueError(
                f"unknown message keys {sorted(unknown)}: "
                "use role, content, tool_calls and tool_call_id"
            )
        content = value.get("content") or ""
        result = pb.Message(role=_role(value.get("role")))
        if isinstance(content, str):
            result.content = content
        elif isinstance(content, Iterable) and not isinstance(content, (bytes, Mapping)):
            result.parts.extend(_part(p) for p in content)
        else:
            raise TypeError(
                f"message content must be a string or a list of parts, not {type(content).__name__}"
            )
        result.tool_calls.extend(_tool_call(c) for c in value.get("tool_calls") or ())
        if value.get("tool_call_id") is not None:
            result.tool_call_id = value["tool_call_id"]
        return result
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


def tool(
    name: str,
    description: str | None = None,
    parameters: Mapping[str, Any] | str | None = None,
    *,
    strict: bool | None = None,
) -> pb.Tool:
    """A function the model may call; `parameters` is the JSON Schema of its
    arguments (a dict, or its JSON text), forwarded verbatim."""
    return pb.Tool(
        name=name,
        parameters="" if parameters is None else _json_text(parameters, "parameters"),
        **_optional(description=description, strict=strict),
    )


def _tool(value: Any) -> pb.Tool:
    """A `Tool`, ``{"name", "description", "parameters", "strict"}``, or OpenAI's
    ``{"type": "function", "function": {...}}``."""
    if isinstance(value, pb.Tool):
        return value
    if isinstance(value, Mapping):
        spec = value.get("function", value)
        return tool(
            spec["name"],
            spec.get("description"),
            spec.get("parameters"),
            strict=spec.get("strict"),
        )
    raise TypeError(f"a tool is a dict or Tool, not {type(value).__name__}")


def _tool_choice(value: Any) -> pb.ToolChoice:
    """``"auto"``, ``"none"``, ``"required"``, ``{"name": fn}``, OpenAI's
    ``{"type": "function", "function": {"name": fn}}``, or a `ToolChoice`."""
    if isinstance(value, pb.ToolChoice):
        return value
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise ValueError(
                f"tool_choice {value!r}: use auto, none, required or {{'name': function}}"
            )
        return pb.ToolChoice(mode=pb.ToolChoiceMode.Value("TOOL_CHOICE_MODE_" + value.upper()))
    if isinstance(value, Mapping):
        return pb.ToolChoice(function=value.get("function", value)["name"])
    raise TypeError(f"tool_choice must be a str, dict or ToolChoice, not {type(value).__name__}")


def _response_format(value: Any) -> pb.ResponseFormat:
    """OpenAI's shapes: ``{"type": "text" | "json_object"}`` or ``{"type":
    "json_schema", "json_schema": {"name", "schema", "strict", "description"}}``,
    or a `ResponseFormat`."""
    if isinstance(value, pb.ResponseFormat):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"response_format must be a dict, not {type(value).__name__}")
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return pb.ResponseFormat(
            kind=pb.ResponseFormatKind.Value(f"RESPONSE_FORMAT_KIND_{kind.upper()}")
        )
    if kind == "json_schema":
        spec = value["json_schema"]
        return pb.ResponseFormat(
            kind=pb.RESPONSE_FORMAT_KIND_JSON_SCHEMA,
            json_schema=pb.JsonSchemaFormat(
                name=spec["name"],
                schema=_json_text(spec["schema"], "json_schema.schema"),
                **_optional(description=spec.get("description"), strict=spec.get("strict")),
            ),
        )
    raise ValueError(f"response_format type {kind!r}: use text, json_object or json_schema")


class ChatKwargs(TypedDict, total=False):
    """The chat options every chat call takes as keywords (see `chat_options`)."""

    tools: Iterable[Any]
    tool_choice: Any
    parallel_tool_calls: bool
    response_format: Any
    stop: str | Iterable[str]
    top_p: float
    seed: int
    reasoning_effort: str
    metadata: Mapping[str, str]
    user: str


def chat_options(
    *,
    tools: Iterable[Any] | None = None,
    tool_choice: Any = None,
    parallel_tool_calls: bool | None = None,
    response_format: Any = None,
    stop: str | Iterable[str] | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    reasoning_effort: str | None = None,
    metadata: Mapping[str, str] | None = None,
    user: str | None = None,
) -> pb.ChatOptions | None:
    """The `ChatOptions` of a call, or None when none is set (nothing is sent).

    `tools`: `tool(...)`s or dicts (ours or OpenAI's shape); `tool_choice`:
    ``"auto"``, ``"none"``, ``"required"`` or ``{"name": function}``;
    `response_format`: OpenAI's ``{"type": "json_schema", "json_schema": {...}}`` or
    ``{"type": "json_object"}``; `reasoning_effort`: ``"minimal"``, ``"low"``,
    ``"medium"`` or ``"high"``; `metadata` and `user` pass through."""
    options = pb.ChatOptions(
        tools=[_tool(t) for t in tools or ()],
        stop=[stop] if isinstance(stop, str) else list(stop or ()),
        metadata=dict(metadata or {}),
        **_optional(parallel_tool_calls=parallel_tool_calls, top_p=top_p, seed=seed, user=user),
    )
    if tool_choice is not None:
        options.tool_choice.CopyFrom(_tool_choice(tool_choice))
    if response_format is not None:
        options.response_format.CopyFrom(_response_format(response_format))
    if reasoning_effort is not None:
        options.reasoning_effort = pb.ReasoningEffort.Value(
            "REASONING_EFFORT_" + reasoning_effort.upper()
        )
    return options if options.ByteSize() else None


def _chat(
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
    options: pb.ChatOptions | None,
) -> dict[str, Any]:
    """The fields every chat request shares."""
    fields = _optional(model=model, max_tokens=max_tokens, temperature=temperature, options=options)
    fields["messages"] = messages(msgs)
    return fields


def complete_request(
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
    options: pb.ChatOptions | None = None,
) -> pb.CompleteRequest:
    return pb.CompleteRequest(**_chat(msgs, model, max_tokens, temperature, options))


def aux_complete_request(
    task: str,
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
    options: pb.ChatOptions | None = None,
) -> pb.AuxCompleteRequest:
    return pb.AuxCompleteRequest(task=task, **_chat(msgs, model, max_tokens, temperature, options))


def complete_stream_request(
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
    options: pb.ChatOptions | None = None,
) -> pb.CompleteStreamRequest:
    return pb.CompleteStreamRequest(**_chat(msgs, model, max_tokens, temperature, options))


def aux_complete_stream_request(
    task: str,
    msgs: Iterable[MessageLike],
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
    options: pb.ChatOptions | None = None,
) -> pb.AuxCompleteStreamRequest:
    return pb.AuxCompleteStreamRequest(
        task=task, **_chat(msgs, model, max_tokens, temperature, options)
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
