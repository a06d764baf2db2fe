"""The admin clients: `switchyard.v1.CredentialService` with the operator's token.

Puts, lists, deletes and refreshes the provider credentials of a running server. The
server accepts only a token whose SHA-256 its config lists in `auth.admin_token_sha256`.
Secrets go in and never come out: every answer is a `pb.CredentialInfo`.
`AdminClient` blocks; `AsyncAdminClient` is the same on `grpc.aio`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import grpc
import grpc.aio

from switchyard.v1 import switchyard_pb2 as pb
from switchyard.v1 import switchyard_pb2_grpc as pb_grpc

from . import _requests as build
from .errors import from_rpc_error

__all__ = ["AdminClient", "AsyncAdminClient"]

ChannelOptions = Sequence[tuple[str, Any]]


def _api_key_request(
    credential_id: str, provider: str, key: str, label: str, priority: int
) -> pb.PutCredentialRequest:
    return pb.PutCredentialRequest(
        id=credential_id,
        provider=provider,
        label=label,
        priority=priority,
        api_key=pb.ApiKey(key=key),
    )


def _oauth_request(
    credential_id: str,
    provider: str,
    label: str,
    priority: int,
    **tokens: Any,
) -> pb.PutCredentialRequest:
    return pb.PutCredentialRequest(
        id=credential_id,
        provider=provider,
        label=label,
        priority=priority,
        oauth=pb.OAuthTokens(**tokens),
    )


class AdminClient:
    """A blocking client of `switchyard.v1.CredentialService` (the admin API).

    Args:
        target: the server address, e.g. ``"127.0.0.1:50051"``. Ignored with `channel`.
        token: the admin token, sent as ``authorization: Bearer <token>``; a call's own
            `token` overrides it.
        timeout: default deadline of a call, in seconds (None: no deadline).
        credentials: TLS channel credentials; None for a plaintext channel.
        options: gRPC channel options.
        channel: an existing channel to use instead; it is not closed by `close()`.

    Failures raise `SwitchyardError` subclasses: `PermissionDenied` (a token that is
    not an admin token, or the admin API is off), `Unauthenticated` (no token),
    `CredentialNotFound`, `NotRefreshable`, `RefreshFailed`, `InvalidArgument` (with
    `field_violations`). Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        if channel is None:
            if target is None:
                raise ValueError("give the server address (target) or a channel")
            if credentials is None:
                channel = grpc.insecure_channel(target, options=options)
            else:
                channel = grpc.secure_channel(target, credentials, options=options)
            self._owns_channel = True
        else:
            self._owns_channel = False
        self._channel = channel
        self._stub = pb_grpc.CredentialServiceStub(channel)
        self._token = token
        self._timeout = timeout

    def _call(self, method: Any, request: Any, timeout: float | None, token: str | None) -> Any:
        timeout = self._timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return method(
                request,
                timeout=timeout,
                metadata=build.call_metadata(self._token if token is None else token),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, deadline=deadline) from error

    def put_api_key(
        self,
        credential_id: str,
        provider: str,
        key: str,
        *,
        label: str = "",
        priority: int = 0,
        timeout: float | None = None,
        token: str | None = None,
    ) -> pb.CredentialInfo:
        """Stores a static API key as `credential_id` of `provider` (a provider of the
        server's config), replacing any credential with that id; a replaced dead
        credential is live again. Lower `priority` is tried first in the pool."""
        request = _api_key_request(credential_id, provider, key, label, priority)
        return self._put(request, timeout, token)

    def put_oauth(
        self,
        credential_id: str,
        provider: str,
        *,
        access_token: str,
        refresh_token: str,
        token_url: str,
        client_id: str,
        client_secret: str = "",
        scope: str = "",
        expires_at_unix_ms: int = 0,
        label: str = "",
        priority: int = 0,
        timeout: float | None = None,
        token: str | None = None,
    ) -> pb.CredentialInfo:
        """Stores an OAuth token set (refreshed with the RFC 6749 refresh grant at
        `token_url`) as `credential_id` of `provider`, replacing any credential with
        that id. `expires_at_unix_ms` 0 means unknown."""
        request = _oauth_request(
            credential_id,
            provider,
            label,
            priority,
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at_unix_ms=expires_at_unix_ms,
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
        )
        return self._put(request, timeout, token)

    def _put(
        self, request: pb.PutCredentialRequest, timeout: float | None, token: str | None
    ) -> pb.CredentialInfo:
        answer = cast(
            pb.PutCredentialResponse, self._call(self._stub.PutCredential, request, timeout, token)
        )
        return answer.credential

    def list_credentials(
        self,
        provider: str | None = None,
        *,
        timeout: float | None = None,
        token: str | None = None,
    ) -> list[pb.CredentialInfo]:
        """Every credential (or only `provider`'s), by provider then priority, with
        its state (`CREDENTIAL_STATE_LIVE`, `_COOLING`, `_DEAD`) and never its secret."""
        request = pb.ListCredentialsRequest(provider=provider or "")
        answer = cast(
            pb.ListCredentialsResponse,
            self._call(self._stub.ListCredentials, request, timeout, token),
        )
        return list(answer.credentials)

    def delete_credential(
        self, credential_id: str, *, timeout: float | None = None, token: str | None = None
    ) -> None:
        """Removes a credential; `CredentialNotFound` when there is none."""
        request = pb.DeleteCredentialRequest(id=credential_id)
        self._call(self._stub.DeleteCredential, request, timeout, token)

    def refresh_credential(
        self, credential_id: str, *, timeout: float | None = None, token: str | None = None
    ) -> pb.CredentialInfo:
        """Refreshes an OAuth credential now. `NotRefreshable` for a static key;
        `RefreshFailed` when the token endpoint refused (code FAILED_PRECONDITION, the
        credential is now dead) or failed (code UNAVAILABLE, try again)."""
        request = pb.RefreshCredentialRequest(id=credential_id)
        answer = cast(
            pb.RefreshCredentialResponse,
            self._call(self._stub.RefreshCredential, request, timeout, token),
        )
        return answer.credential

    def close(self) -> None:
        """Closes the channel, unless it was given to the constructor."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncAdminClient:
    """An asyncio client of `switchyard.v1.CredentialService`, on `grpc.aio`.

    Same arguments, results and exceptions as `AdminClient`; every call is a
    coroutine. Create it inside the event loop that uses it, and ``await close()`` it
    or use ``async with``.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: ChannelOptions | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if channel is None:
            if target is None:
                raise ValueError("give the server address (target) or a channel")
            if credentials is None:
                channel = grpc.aio.insecure_channel(target, options=options)
            else:
                channel = grpc.aio.secure_channel(target, credentials, options=options)
            self._owns_channel = True
        else:
            self._owns_channel = False
        self._channel = channel
        self._stub = pb_grpc.CredentialServiceStub(channel)
        self._token = token
        self._timeout = timeout

    async def _call(
        self, method: Any, request: Any, timeout: float | None, token: str | None
    ) -> Any:
        timeout = self._timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return await method(
                request,
                timeout=timeout,
                metadata=build.call_metadata(self._token if token is None else token),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, deadline=deadline) from error

    async def put_api_key(
        self,
        credential_id: str,
        provider: str,
        key: str,
        *,
        label: str = "",
        priority: int = 0,
        timeout: float | None = None,
        token: str | None = None,
    ) -> pb.CredentialInfo:
        """See `AdminClient.put_api_key`."""
        request = _api_key_request(credential_id, provider, key, label, priority)
        answer = await self._call(self._stub.PutCredential, request, timeout, token)
        return cast(pb.PutCredentialResponse, answer).credential

    async def put_oauth(
        self,
        credential_id: str,
        provider: str,
        *,
        access_token: str,
        refresh_token: str,
        token_url: str,
        client_id: str,
        client_secret: str = "",
        scope: str = "",
        expires_at_unix_ms: int = 0,
        label: str = "",
        priority: int = 0,
        timeout: float | None = None,
        token: str | None = None,
    ) -> pb.CredentialInfo:
        """See `AdminClient.put_oauth`."""
        request = _oauth_request(
            credential_id,
            provider,
            label,
            priority,
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at_unix_ms=expires_at_unix_ms,
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
        )
        answer = await self._call(self._stub.PutCredential, request, timeout, token)
        return cast(pb.PutCredentialResponse, answer).credential

    async def list_credentials(
        self,
        provider: str | None = None,
        *,
        timeout: float | None = None,
        token: str | None = None,
    ) -> list[pb.CredentialInfo]:
        """See `AdminClient.list_credentials`."""
        request = pb.ListCredentialsRequest(provider=provider or "")
        answer = await self._call(self._stub.ListCredentials, request, timeout, token)
        return list(cast(pb.ListCredentialsResponse, answer).credentials)

    async def delete_credential(
        self, credential_id: str, *, timeout: float | None = None, token: str | None = None
    ) -> None:
        """See `AdminClient.delete_credential`."""
        request = pb.DeleteCredentialRequest(id=credential_id)
        await self._call(self._stub.DeleteCredential, request, timeout, token)

    async def refresh_credential(
        self, credential_id: str, *, timeout: float | None = None, token: str | None = None
    ) -> pb.CredentialInfo:
        """See `AdminClient.refresh_credential`."""
        request = pb.RefreshCredentialRequest(id=credential_id)
        answer = await self._call(self._stub.RefreshCredential, request, timeout, token)
        return cast(pb.RefreshCredentialResponse, answer).credential

    async def close(self) -> None:
        """Closes the channel, unless it was given to the constructor."""
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncAdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
