"""Typed exceptions built from the gRPC status of a failed call.

The service puts a `google.rpc.Status` in the `grpc-status-details-bin` trailer. Its
details hold a `google.rpc.ErrorInfo` (whose `reason` is a `switchyard.v1.ErrorReason`
name without the `ERROR_REASON_` prefix, domain `switchyard.dev`, metadata
`request_id`), a `switchyard.v1.FailureDetail` with the attempt trail when the policy
ran, and a `google.rpc.BadRequest` when a field was invalid. `from_rpc_error` turns
that into one exception class per reason; a status without Switchyard details (the
client's own deadline, an unreachable server) maps by its gRPC code.

The reasons are not kept here as strings: the wire name is prefixed with
``ERROR_REASON_`` and looked up in the generated `pb.ErrorReason` enum
(`error_reason_of`), and `_BY_REASON` is keyed by the generated values. A reason added
to the proto reaches this client by regeneration alone: it raises the base
`SwitchyardError` with its `error_reason` set, until it gets a class of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

from switchyard.v1 import switchyard_pb2 as pb

from .trail import _enum_name

__all__ = [
    "ERROR_DOMAIN",
    "AllCandidatesFailed",
    "ContentPolicy",
    "ContextOverflow",
    "CredentialNotFound",
    "DeadlineExceeded",
    "DeadlineExhausted",
    "FieldViolation",
    "InternalError",
    "InvalidArgument",
    "NotRefreshable",
    "PermissionDenied",
    "RefreshFailed",
    "RequestNotFound",
    "StreamInterrupted",
    "SwitchyardError",
    "Unauthenticated",
    "Unavailable",
    "UnknownTask",
    "error_reason_of",
    "from_rpc_error",
]

#: `ErrorInfo.domain` of every error of the service.
ERROR_DOMAIN = "switchyard.dev"

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request (`google.rpc.BadRequest.FieldViolation`)."""

    field: str
    description: str


class SwitchyardError(Exception):
    """A failed call.

    Attributes:
        code: the gRPC status code (`grpc.StatusCode`).
        message: the status message, for a human reader.
        reason: `ErrorInfo.reason` (e.g. ``"ALL_CANDIDATES_FAILED"``), or None when
            the status carried no ErrorInfo (client-side deadline, unreachable server).
        error_reason: `reason` as the generated enum (``pb.ERROR_REASON_ALL_CANDIDATES_FAILED``...);
            ``pb.ERROR_REASON_UNSPECIFIED`` when there is none, or one newer than this build.
        domain: `ErrorInfo.domain` (``"switchyard.dev"``), or None.
        metadata: `ErrorInfo.metadata`.
        request_id: the failed request's id, for `explain_fallback`, when the policy ran.
        attempts: every step the policy took (`switchyard.v1.Attempt`), in order;
            empty when no provider was considered.
        field_violations: the invalid fields (`FieldViolation`), when the request was refused.
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        reason: str | None = None,
        domain: str | None = None,
        metadata: dict[str, str] | None = None,
        request_id: str | None = None,
        attempts: Iterable[pb.Attempt] = (),
        field_violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.error_reason: int = error_reason_of(reason)
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.request_id = request_id
        self.attempts: list[pb.Attempt] = list(attempts)
        self.field_violations: list[FieldViolation] = list(field_violations)

    def __str__(self) -> str:
        label = self.reason or self.code.name
        text = f"{label}: {self.message}" if self.message else label
        if self.request_id and self.request_id not in text:
            text += f" (request {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.name}, reason={self.reason!r}, "
            f"request_id={self.request_id!r}, attempts={len(self.attempts)}, "
            f"message={self.message!r})"
        )


class AllCandidatesFailed(SwitchyardError):
    """Every candidate was tried or skipped and none answered (gRPC UNAVAILABLE)."""


class ContextOverflow(SwitchyardError):
    """The request does not fit the model's context: shrink it. Not retried elsewhere."""


class ContentPolicy(SwitchyardError):
    """The provider refused the content. Not retried elsewhere."""


class DeadlineExceeded(SwitchyardError):
    """The call's deadline passed.

    Raised as is when the client's own deadline expired before an answer arrived (the
    status then has no request id nor trail); the server's variant is
    `DeadlineExhausted`, so ``except DeadlineExceeded`` catches both.
    """


class DeadlineExhausted(DeadlineExceeded):
    """The caller's deadline or the task timeout left the policy no time for another
    attempt (reason DEADLINE_EXHAUSTED); carries the trail."""


class InvalidArgument(SwitchyardError):
    """A request field is invalid; see `field_violations`."""


class UnknownTask(InvalidArgument):
    """The task is neither built in nor defined by the server's config."""


class RequestNotFound(SwitchyardError):
    """`explain_fallback`: no trail is recorded for that request id."""


class InternalError(SwitchyardError):
    """An internal failure of the service itself."""


class Unauthenticated(SwitchyardError):
    """The call carried no bearer token, or one the server does not accept (reason
    UNAUTHENTICATED, gRPC UNAUTHENTICATED). Not retried: fix the token."""


class PermissionDenied(SwitchyardError):
    """The token is valid but does not allow this call, e.g. an agent token on the
    admin API (reason PERMISSION_DENIED, gRPC PERMISSION_DENIED)."""


class CredentialNotFound(SwitchyardError):
    """`AdminClient`: no credential has that id (reason CREDENTIAL_NOT_FOUND, gRPC NOT_FOUND)."""


class NotRefreshable(SwitchyardError):
    """`AdminClient.refresh_credential` on a static API key, which has nothing to
    refresh (reason NOT_REFRESHABLE, gRPC FAILED_PRECONDITION)."""


class RefreshFailed(SwitchyardError):
    """`AdminClient.refresh_credential`: the token endpoint refused the refresh (gRPC
    FAILED_PRECONDITION; the credential is now dead) or failed (gRPC UNAVAILABLE; try
    again). Reason REFRESH_FAILED."""


class Unavailable(SwitchyardError):
    """The service could not be reached (gRPC UNAVAILABLE without Switchyard details)."""


class StreamInterrupted(SwitchyardError):
    """A streamed answer broke off after text had reached the caller (reason
    STREAM_INTERRUPTED, gRPC ABORTED): the provider dropped the connection, sent an
    error event or fell silent. The text received is incomplete, and no other
    candidate was tried after it: retry the whole request, or keep what came.

    Attributes (besides `SwitchyardError`'s):
        provider, model: the candidate whose stream broke off.
        candidate_index: its position in the candidate list, or None if unknown.
        error_class: how the failure was classified (``"transport"``,
            ``"overloaded"``...), or None.
        content: the text the stream delivered before the interruption, incomplete
            (set by `CompletionStream` / `AsyncCompletionStream`; empty otherwise).

    The first four come from `ErrorInfo.metadata`, else from the last step of the
    trail (whose action is ``ACTION_STOP_STREAM``).
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.ABORTED,
        reason: str | None = None,
        domain: str | None = None,
        metadata: dict[str, str] | None = None,
        request_id: str | None = None,
        attempts: Iterable[pb.Attempt] = (),
        field_violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(
            message,
            code=code,
            reason=reason,
            domain=domain,
            metadata=metadata,
            request_id=request_id,
            attempts=attempts,
            field_violations=field_violations,
        )
        last = self.attempts[-1] if self.attempts else None
        self.provider: str | None = self.metadata.get("provider") or (
            last.provider if last is not None and last.provider else None
        )
        self.model: str | None = self.metadata.get("model") or (
            last.model if last is not None and last.model else None
        )
        self.candidate_index: int | None = _int_or_none(self.metadata.get("candidate_index"))
        if self.candidate_index is None and last is not None:
            self.candidate_index = last.candidate_index
        self.error_class: str | None = self.metadata.get("error_class") or None
        if self.error_class is None and last is not None and last.error_class:
            self.error_class = _enum_name(pb.ErrorClass, "ERROR_CLASS_", last.error_class)
        self.content: str = ""


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


_REASON_PREFIX = "ERROR_REASON_"


def error_reason_of(reason: str | None) -> int:
    """The generated `pb.ErrorReason` value of an `ErrorInfo.reason` (sent without its
    ``ERROR_REASON_`` prefix); ``pb.ERROR_REASON_UNSPECIFIED`` when absent or unknown."""
    if not reason:
        return pb.ERROR_REASON_UNSPECIFIED
    try:
        return pb.ErrorReason.Value(_REASON_PREFIX + reason)
    except ValueError:
        return pb.ERROR_REASON_UNSPECIFIED


#: The class of each generated reason; a reason without an entry raises the base class.
_BY_REASON: dict[int, type[SwitchyardError]] = {
    pb.ERROR_REASON_ALL_CANDIDATES_FAILED: AllCandidatesFailed,
    pb.ERROR_REASON_CONTEXT_OVERFLOW: ContextOverflow,
    pb.ERROR_REASON_CONTENT_POLICY: ContentPolicy,
    pb.ERROR_REASON_DEADLINE_EXHAUSTED: DeadlineExhausted,
    pb.ERROR_REASON_UNKNOWN_TASK: UnknownTask,
    pb.ERROR_REASON_INVALID_ARGUMENT: InvalidArgument,
    pb.ERROR_REASON_REQUEST_NOT_FOUND: RequestNotFound,
    pb.ERROR_REASON_INTERNAL: InternalError,
    pb.ERROR_REASON_UNAUTHENTICATED: Unauthenticated,
    pb.ERROR_REASON_PERMISSION_DENIED: PermissionDenied,
    pb.ERROR_REASON_CREDENTIAL_NOT_FOUND: CredentialNotFound,
    pb.ERROR_REASON_NOT_REFRESHABLE: NotRefreshable,
    pb.ERROR_REASON_REFRESH_FAILED: RefreshFailed,
    pb.ERROR_REASON_STREAM_INTERRUPTED: StreamInterrupted,
}

_BY_CODE: dict[grpc.StatusCode, type[SwitchyardError]] = {
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.INTERNAL: InternalError,
}


def _status_details(trailing_metadata: Iterable[tuple[str, object]] | None) -> bytes | None:
    for key, value in trailing_metadata or ():
        if key == _DETAILS_KEY and isinstance(value, (bytes, bytearray)):
            return bytes(value)
    return None


def from_status(code: grpc.StatusCode, message: str, details: bytes | None) -> SwitchyardError:
    """Builds the typed exception of a status: its code, message and the serialized
    `google.rpc.Status` of its `grpc-status-details-bin` trailer (or None)."""
    reason = domain = request_id = None
    metadata: dict[str, str] = {}
    attempts: list[pb.Attempt] = []
    violations: list[FieldViolation] = []
    if details:
        try:
            status = status_pb2.Status.FromString(details)
        except Exception:  # an undecodable trailer must not hide the error itself
            status = status_pb2.Status()
        for any_ in status.details:
            if any_.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                any_.Unpack(info)
                reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
            elif any_.Is(pb.FailureDetail.DESCRIPTOR):
                detail = pb.FailureDetail()
                any_.Unpack(detail)
                request_id = detail.request_id or request_id
                attempts = list(detail.attempts)
            elif any_.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                any_.Unpack(bad)
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
    request_id = request_id or metadata.get("request_id") or None
    cls = _BY_REASON.get(error_reason_of(reason)) or _BY_CODE.get(code, SwitchyardError)
    return cls(
        message,
        code=code,
        reason=reason or None,
        domain=domain or None,
        metadata=metadata,
        request_id=request_id,
        attempts=attempts,
        field_violations=violations,
    )


#: How early a server-side timeout may arrive, before the client's own timer fires,
#: and still count as the call's deadline.
_DEADLINE_SLACK = 0.05


def from_rpc_error(error: grpc.RpcError, *, deadline: float | None = None) -> SwitchyardError:
    """Builds the typed exception of a failed call (a sync `grpc.RpcError` that is a
    `grpc.Call`, or a `grpc.aio.AioRpcError`).

    `deadline` is the call's deadline on the `time.monotonic()` clock, if it had one.
    A server enforces the deadline it receives (`grpc-timeout`) too, and tonic's
    transport answers a call whose deadline passed with CANCELLED "Timeout expired",
    which may arrive a moment before the client's own DEADLINE_EXCEEDED: a CANCELLED
    status without Switchyard details at the deadline is a `DeadlineExceeded`.
    """
    code = error.code() if hasattr(error, "code") else None
    code = code or grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or ""
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    details = _status_details(trailing)
    if (
        code == grpc.StatusCode.CANCELLED
        and details is None
        and deadline is not None
        and time.monotonic() >= deadline - _DEADLINE_SLACK
    ):
        return DeadlineExceeded(message or "deadline exceeded", code=code)
    return from_status(code, message, details)
