"""Python client of Switchyard (`switchyard.v1.SwitchyardService`).

    from switchyard_client import SwitchyardClient, SwitchyardError, format_trail

    with SwitchyardClient("127.0.0.1:50051") as client:
        answer = client.aux_complete("compression", [{"role": "user", "content": "..."}])
        print(answer.content)
        print(format_trail(answer.attempts))

        with client.complete_stream([{"role": "user", "content": "..."}]) as stream:
            for piece in stream:
                print(piece, end="", flush=True)
        print(stream.finished.usage)

`pb` is the generated module `switchyard.v1.switchyard_pb2` (messages and enums);
results are its response messages, or a `CompletionStream` of text pieces for the
streaming calls. Failures raise `SwitchyardError` subclasses. `AdminClient` (and
`AsyncAdminClient`) is the admin API (`switchyard.v1.CredentialService`).
"""

from switchyard.v1 import switchyard_pb2 as pb

from ._requests import (
    ChatKwargs,
    MessageLike,
    http_outcome,
    image,
    message,
    simulation,
    tool,
    transport_outcome,
)
from .admin import AdminClient, AsyncAdminClient
from .aio import AsyncSwitchyardClient
from .client import SwitchyardClient
from .errors import (
    ERROR_DOMAIN,
    AllCandidatesFailed,
    ContentPolicy,
    ContextOverflow,
    CredentialNotFound,
    DeadlineExceeded,
    DeadlineExhausted,
    FieldViolation,
    InternalError,
    InvalidArgument,
    NotRefreshable,
    PermissionDenied,
    RefreshFailed,
    RequestNotFound,
    StreamInterrupted,
    SwitchyardError,
    Unauthenticated,
    Unavailable,
    UnknownTask,
    error_reason_of,
    from_rpc_error,
)
from .stream import AsyncCompletionStream, CompletionStream
from .trail import format_attempt, format_trail

__version__ = "0.1.0"

__all__ = [
    "ERROR_DOMAIN",
    "AdminClient",
    "AllCandidatesFailed",
    "AsyncAdminClient",
    "AsyncCompletionStream",
    "AsyncSwitchyardClient",
    "ChatKwargs",
    "CompletionStream",
    "ContentPolicy",
    "ContextOverflow",
    "CredentialNotFound",
    "DeadlineExceeded",
    "DeadlineExhausted",
    "FieldViolation",
    "InternalError",
    "InvalidArgument",
    "MessageLike",
    "NotRefreshable",
    "PermissionDenied",
    "RefreshFailed",
    "RequestNotFound",
    "StreamInterrupted",
    "SwitchyardClient",
    "SwitchyardError",
    "Unauthenticated",
    "Unavailable",
    "UnknownTask",
    "error_reason_of",
    "format_attempt",
    "format_trail",
    "from_rpc_error",
    "http_outcome",
    "image",
    "message",
    "pb",
    "simulation",
    "tool",
    "transport_outcome",
]
