"""AdminClient against the real server: put, list, delete and refresh credentials with
the admin token, and each typed error the admin API returns."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import grpc
import pytest
from conftest import CHANNEL_OPTIONS
from harness import ADMIN_TOKEN, CLIENT_TOKEN

from switchyard_client import (
    AdminClient,
    AsyncAdminClient,
    CredentialNotFound,
    InvalidArgument,
    NotRefreshable,
    PermissionDenied,
    RefreshFailed,
    SwitchyardClient,
    Unauthenticated,
    pb,
)


class TokenEndpoint:
    """An OAuth token endpoint: refresh token ``good-refresh-token`` gets a new access token, any
    other is refused with 400 ``invalid_grant``. Records the refresh tokens it saw."""

    def __init__(self) -> None:
        self.refresh_tokens: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                form = parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
                refresh = form.get("refresh_token", [""])[0]
                endpoint.refresh_tokens.append(refresh)
                if refresh == "good-refresh-token":
                    status, body = 200, {"access_token": "fresh-access", "expires_in": 3600}
                else:
                    status, body = 400, {"error": "invalid_grant"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def admin(server) -> Iterator[AdminClient]:
    with AdminClient(server.address, token=ADMIN_TOKEN, options=CHANNEL_OPTIONS) as a:
        yield a


@pytest.fixture
def token_endpoint() -> Iterator[TokenEndpoint]:
    t = TokenEndpoint()
    yield t
    t.close()


def test_put_api_key_stores_a_key_the_server_then_uses(admin, server, fakes):
    info = admin.put_api_key("main-new", "main", "secret-new-main", label="rotated", priority=-1)
    assert (info.id, info.provider, info.label, info.priority) == ("main-new", "main", "rotated", -1)
    assert info.kind == pb.CREDENTIAL_KIND_API_KEY
    assert info.state == pb.CREDENTIAL_STATE_LIVE
    assert "secret-new-main" not in str(info)
    with SwitchyardClient(server.address, token=CLIENT_TOKEN, options=CHANNEL_OPTIONS) as client:
        answer = client.complete([{"role": "user", "content": "hi"}])
    assert answer.served_by.credential_id == "main-new"
    assert fakes.calls("main")[-1].authorization == "Bearer secret-new-main"


def test_list_credentials_all_or_one_provider(admin):
    ids = [c.id for c in admin.list_credentials()]
    assert {"main-k1", "codex-k1", "cheap-k1"} <= set(ids)
    assert [c.id for c in admin.list_credentials("codex")] == ["codex-k1"]


def test_delete_credential_then_credential_not_found(admin):
    admin.put_api_key("to-delete", "cheap", "secret-to-delete")
    admin.delete_credential("to-delete")
    assert "to-delete" not in [c.id for c in admin.list_credentials()]
    with pytest.raises(CredentialNotFound) as caught:
        admin.delete_credential("to-delete")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert caught.value.reason == "CREDENTIAL_NOT_FOUND"
    assert caught.value.error_reason == pb.ERROR_REASON_CREDENTIAL_NOT_FOUND


def test_refresh_credential_calls_the_token_endpoint(admin, token_endpoint):
    put = admin.put_oauth(
        "codex-oauth",
        "codex",
        access_token="old-access",
        refresh_token="good-refresh-token",
        token_url=token_endpoint.url,
        client_id="switchyard-test",
    )
    assert put.kind == pb.CREDENTIAL_KIND_OAUTH
    info = admin.refresh_credential("codex-oauth")
    assert token_endpoint.refresh_tokens == ["good-refresh-token"]
    assert info.state == pb.CREDENTIAL_STATE_LIVE
    assert info.generation > put.generation
    assert info.expires_at_unix_ms > 0


def test_refresh_refused_is_refresh_failed_and_the_credential_dies(admin, token_endpoint):
    admin.put_oauth(
        "codex-refused",
        "codex",
        access_token="old-access",
        refresh_token="revoked-refresh-token",
        token_url=token_endpoint.url,
        client_id="switchyard-test",
    )
    with pytest.raises(RefreshFailed) as caught:
        admin.refresh_credential("codex-refused")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.error_reason == pb.ERROR_REASON_REFRESH_FAILED
    [info] = [c for c in admin.list_credentials("codex") if c.id == "codex-refused"]
    assert info.state == pb.CREDENTIAL_STATE_DEAD


def test_refresh_of_a_static_key_is_not_refreshable(admin):
    with pytest.raises(NotRefreshable) as caught:
        admin.refresh_credential("main-k1")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.error_reason == pb.ERROR_REASON_NOT_REFRESHABLE


def test_an_unknown_provider_is_an_invalid_argument(admin):
    with pytest.raises(InvalidArgument) as caught:
        admin.put_api_key("x", "no-such-provider", "secret-x")
    assert [v.field for v in caught.value.field_violations] == ["provider"]


def test_an_agent_token_is_permission_denied_and_none_unauthenticated(admin):
    with pytest.raises(PermissionDenied) as denied:
        admin.list_credentials(token=CLIENT_TOKEN)
    assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert denied.value.error_reason == pb.ERROR_REASON_PERMISSION_DENIED
    with pytest.raises(Unauthenticated):
        admin.list_credentials(token="")


def test_the_asyncio_admin_client(server, token_endpoint):
    async def main():
        async with AsyncAdminClient(
            server.address, token=ADMIN_TOKEN, options=CHANNEL_OPTIONS
        ) as admin:
            info = await admin.put_api_key("async-key", "cheap", "secret-async", priority=3)
            assert (info.id, info.priority) == ("async-key", 3)
            assert "async-key" in [c.id for c in await admin.list_credentials("cheap")]
            await admin.put_oauth(
                "async-oauth",
                "codex",
                access_token="old-access",
                refresh_token="good-refresh-token",
                token_url=token_endpoint.url,
                client_id="switchyard-test",
            )
            refreshed = await admin.refresh_credential("async-oauth")
            assert refreshed.state == pb.CREDENTIAL_STATE_LIVE
            await admin.delete_credential("async-key")
            with pytest.raises(CredentialNotFound):
                await admin.delete_credential("async-key")
            with pytest.raises(NotRefreshable):
                await admin.refresh_credential("main-k1")
            with pytest.raises(PermissionDenied):
                await admin.list_credentials(token=CLIENT_TOKEN)

    asyncio.run(main())
    assert token_endpoint.refresh_tokens == ["good-refresh-token"]
